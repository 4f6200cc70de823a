//! Confluence's reading of errors: the `Endpoint` catalogue (what each call is, in words,
//! and which OAuth scope it needs) as a `sam_spoke::Call`, so the SDK's common mapping of
//! answers and `http-error`s to `SpokeError` applies with Confluence's refinements:
//! Atlassian's gateway answers a missing scope with 401 "scope does not match", which
//! becomes `Forbidden` naming the endpoint's scope; a 403 on a group write means the
//! consenting user is not a site admin; Confluence's error bodies carry their message in
//! `message` or `data.errors[0].message.translation`.

use sam_spoke::Call;
use sam_spoke::error::json_str;
use sam_spoke::http::{HttpError, Response};

pub use sam_spoke::SpokeError;
pub use sam_spoke::error::excerpt;

/// Scope constants (classic scopes, as in the reference guide's permissions table).
pub const SCOPE_READ_GROUPS: &str = "read:confluence-groups";
pub const SCOPE_WRITE_GROUPS: &str = "write:confluence-groups";
pub const SCOPE_READ_USER: &str = "read:confluence-user";
pub const SCOPE_SEARCH: &str = "search:confluence";

/// Message for a 403 on a group write.
pub const NOT_SITE_ADMIN: &str = "the consenting user must be a site admin";

/// The Confluence operations the spoke calls, each with the scope it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /wiki/rest/api/group`
    ListGroups,
    /// `GET /wiki/rest/api/group/{groupId}/membersByGroupId`
    GroupMembers,
    /// `GET /wiki/rest/api/user/memberof`
    UserMemberOf,
    /// `GET /wiki/rest/api/user/current`
    CurrentUser,
    /// `GET /wiki/rest/api/search`
    Search,
    /// `DELETE /wiki/rest/api/group/userByGroupId`
    RemoveMember,
    /// `POST /wiki/rest/api/group/userByGroupId`
    AddMember,
}

impl Endpoint {
    /// The classic OAuth scope the endpoint requires (per the v1 spec's security section).
    pub fn scope(self) -> &'static str {
        match self {
            Endpoint::ListGroups | Endpoint::GroupMembers => SCOPE_READ_GROUPS,
            Endpoint::UserMemberOf | Endpoint::CurrentUser => SCOPE_READ_USER,
            Endpoint::Search => SCOPE_SEARCH,
            Endpoint::RemoveMember | Endpoint::AddMember => SCOPE_WRITE_GROUPS,
        }
    }

    /// Whether the endpoint writes group membership (403 = not a site admin).
    pub fn is_group_write(self) -> bool {
        matches!(self, Endpoint::RemoveMember | Endpoint::AddMember)
    }

    /// What was called, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::ListGroups => "list groups",
            Endpoint::GroupMembers => "list members of a group",
            Endpoint::UserMemberOf => "list a user's groups",
            Endpoint::CurrentUser => "read the current user",
            Endpoint::Search => "search content with CQL",
            Endpoint::RemoveMember => "remove a user from a group",
            Endpoint::AddMember => "add a user to a group",
        }
    }
}

impl Call for Endpoint {
    fn what(&self) -> &str {
        self.describe()
    }

    /// `message`, then `data.errors[0].message.translation`, then the usual fields.
    fn message(&self, body: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        json_str(value.get("message"))
            .or_else(|| {
                json_str(
                    value
                        .get("data")
                        .and_then(|d| d.get("errors"))
                        .and_then(|e| e.get(0))
                        .and_then(|e| e.get("message"))
                        .and_then(|m| m.get("translation")),
                )
            })
            .or_else(|| sam_spoke::error::json_message(body))
    }

    fn classify(&self, response: &Response, message: &str, said: &str) -> Option<SpokeError> {
        match response.status {
            401 if said.to_ascii_lowercase().contains("scope does not match") => {
                Some(SpokeError::Forbidden {
                    message: message.to_string(),
                    missing_scope: Some(self.scope().to_string()),
                })
            }
            403 if self.is_group_write() => Some(SpokeError::Forbidden {
                message: format!("{NOT_SITE_ADMIN} ({message})"),
                missing_scope: None,
            }),
            _ => None,
        }
    }
}

/// Maps a non-2xx response from `endpoint` to a `SpokeError`.
pub fn from_status(endpoint: Endpoint, response: &Response) -> SpokeError {
    sam_spoke::error::from_status(&endpoint, response)
}

/// Checks the outcome of one call: a 2xx response passes, anything else becomes an error.
pub fn check(
    endpoint: Endpoint,
    outcome: Result<Response, HttpError>,
) -> Result<Response, SpokeError> {
    sam_spoke::error::check(&endpoint, outcome)
}

/// Parses a 2xx body as `T`, mapping failures to `Vendor`.
pub fn parse<T: serde::de::DeserializeOwned>(
    endpoint: Endpoint,
    response: &Response,
) -> Result<T, SpokeError> {
    sam_spoke::error::parse_json(&endpoint, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), "17".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn scope_mismatch_names_the_endpoint_scope() {
        let e = from_status(
            Endpoint::Search,
            &resp(
                401,
                r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
            ),
        );
        assert!(matches!(
            e,
            SpokeError::Forbidden { missing_scope: Some(ref s), .. } if s == SCOPE_SEARCH
        ));
        let e = from_status(
            Endpoint::GroupMembers,
            &resp(401, r#"{"code":401,"message":"Unauthorized"}"#),
        );
        assert!(matches!(e, SpokeError::Unauthorized(_)));
    }

    #[test]
    fn statuses_map() {
        let forbidden = r#"{"statusCode":403,"data":{"authorized":false,"valid":true,"errors":[],"successful":false},"message":"com.atlassian.confluence.api.service.exceptions.PermissionException: nope"}"#;
        match from_status(Endpoint::RemoveMember, &resp(403, forbidden)) {
            SpokeError::Forbidden {
                message,
                missing_scope: None,
            } => assert!(message.starts_with(NOT_SITE_ADMIN)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_status(Endpoint::ListGroups, &resp(403, "")),
            SpokeError::Forbidden { ref message, .. } if !message.starts_with(NOT_SITE_ADMIN)
        ));
        assert_eq!(
            from_status(Endpoint::Search, &resp(429, "")),
            SpokeError::RateLimited {
                message: "search content with CQL answered HTTP 429".into(),
                retry_after_seconds: Some(17)
            }
        );
        let e = from_status(
            Endpoint::Search,
            &resp(
                400,
                r#"{"statusCode":400,"data":{"errors":[{"message":{"translation":"Could not parse cql","args":[]}}]}}"#,
            ),
        );
        assert!(matches!(e, SpokeError::Vendor(ref m) if m.contains("Could not parse cql")));
    }
}
