//! Configuration of a simulator: the seeded data set ([`SimConfig`]), the OAuth app and
//! sites, the organization in front of the tenant ([`OrgConfig`]), rate limits
//! ([`RateLimitConfig`]), Atlassian's unwritten production rules ([`ProductionRules`]),
//! per-endpoint faults ([`FaultConfig`]) and the list of served endpoints ([`Endpoint`])
//! that faults, scopes and the call log refer to.

use std::time::Duration;

use crate::clock::SimClock;

/// The scopes the connector asks for.
pub const CONNECTOR_SCOPES: &[&str] = &[
    "read:confluence-groups",
    "read:confluence-user",
    "search:confluence",
    "write:confluence-groups",
    "offline_access",
];

/// A Confluence site listed by `accessible-resources`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteConfig {
    /// The cloud id (a UUID).
    pub cloud_id: String,
    /// e.g. `https://acme.atlassian.net`.
    pub url: String,
    /// Site name shown in `accessible-resources`.
    pub name: String,
}

/// Everything that shapes one simulator. `Default` gives a small realistic site.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the generated data (and of the OAuth client id/secret unless given).
    pub seed: u64,
    /// Number of user accounts (humans, bots and guests together).
    pub users: usize,
    /// Number of groups (at least 3: `confluence-users`, `confluence-admins`, `site-admins`).
    pub groups: usize,
    /// Number of content items; `None` means three per user.
    pub content_items: Option<usize>,
    /// Share of accounts that are bots (`accountType: "app"`).
    pub bot_fraction: f64,
    /// Share of accounts that are guests (external collaborators).
    pub guest_fraction: f64,
    /// Share of human users with no activity at all.
    pub never_active_fraction: f64,
    /// Share of human users whose last activity is 61..365 days old.
    pub lapsed_fraction: f64,
    /// The primary site; `None` derives a cloud id from the seed and uses
    /// `https://sam-sim.atlassian.net`.
    pub site: Option<SiteConfig>,
    /// More sites listed by `accessible-resources` (listing only: API calls with their cloud
    /// ids get the gateway's wrong-cloud-id answer, as for a site the app cannot reach).
    pub extra_sites: Vec<SiteConfig>,
    /// OAuth client id; `None` derives one from the seed.
    pub client_id: Option<String>,
    /// OAuth client secret; `None` derives one from the seed.
    pub client_secret: Option<String>,
    /// Callback URLs registered for the app (exact match, as Atlassian does).
    pub redirect_uris: Vec<String>,
    /// Index of the user who consents on `/authorize` (and for whom `mint_token` mints).
    pub consenting_user: usize,
    /// Whether the consenting user is put in `site-admins` (and `confluence-admins`).
    pub consenting_user_is_admin: bool,
    /// Lifetime of access tokens (`expires_in`).
    pub access_token_ttl: Duration,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Whether `/authorize` answers as if the user clicked "Deny".
    pub deny_consent: bool,
    /// The clock (real time by default).
    pub clock: SimClock,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Whether to keep the log of calls (counts per endpoint are always kept).
    pub log_calls: bool,
    /// Share of human users (never the consenting user) seeded as suspended or
    /// deactivated: Atlassian leaves them out of group member listings. Default 0.
    pub suspended_fraction: f64,
    /// Latency added to every response (all hosts), like a WAN. Default 0.
    pub latency: Duration,
    /// Up to this much more latency, drawn uniformly per response from a generator seeded
    /// from `seed`. Default 0.
    pub jitter: Duration,
    /// Atlassian's production rules that the REST spec does not state (each OFF by default).
    pub rules: ProductionRules,
    /// The Atlassian organization (admin API) in front of the same tenant.
    pub org: OrgConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            users: 500,
            groups: 5,
            content_items: None,
            bot_fraction: 0.03,
            guest_fraction: 0.02,
            never_active_fraction: 0.12,
            lapsed_fraction: 0.23,
            site: None,
            extra_sites: Vec::new(),
            client_id: None,
            client_secret: None,
            redirect_uris: vec!["http://localhost:8765/callback".to_string()],
            consenting_user: 0,
            consenting_user_is_admin: true,
            access_token_ttl: Duration::from_secs(3600),
            rate_limit: RateLimitConfig::default(),
            deny_consent: false,
            clock: SimClock::real(),
            port: 0,
            log_calls: true,
            suspended_fraction: 0.0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            rules: ProductionRules::default(),
            org: OrgConfig::default(),
        }
    }
}

/// Rules Atlassian applies in production that the OpenAPI file does not state
/// (`../shared/reference/atlassian-production-notes.md`). Every one is OFF by default so
/// that clients written before them keep working; switch them on to test a client against
/// production behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductionRules {
    /// `POST`/`DELETE /group/userByGroupId` without `X-Atlassian-Token: no-check` answer
    /// 403 `XSRF check failed` (baton-confluence).
    pub require_xsrf_header: bool,
    /// `POST /group/userByGroupId` without a JSON `Content-Type` answers 415.
    pub require_json_content_type: bool,
    /// The 201 of a member add declares `Content-Type: application/json` with an empty
    /// body (the answer that broke baton-confluence's JSON parser, issue #32).
    pub empty_201_declared_json: bool,
    /// Seed the organization's other admin groups (`jira-admins`, `org-admins`) and a
    /// second product-access group (`confluence-contractors`) next to the base groups.
    pub extra_groups: bool,
}

/// The Atlassian organization that owns the site, served at `/admin/v1/orgs...` (the
/// stand-in for `https://api.atlassian.com/admin/v1`), authenticated with an organization
/// API key as bearer token.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgConfig {
    /// Organization id; `None` derives a UUID from the seed.
    pub org_id: Option<String>,
    /// Organization name.
    pub name: String,
    /// The organization API key; `None` derives one from the seed.
    pub api_key: Option<String>,
    /// Requests per minute per organization on the admin API (about 200 in production);
    /// 0 disables the limit.
    pub requests_per_minute: u32,
    /// Data lag of `last-active-dates` (Atlassian: up to 24 h): views newer than
    /// `now - data_lag` are not reported yet. Default 0.
    pub data_lag: Duration,
    /// Share of users without recent content activity who still read Confluence (a view
    /// within the last 30 days). Default 0.4.
    pub reader_fraction: f64,
    /// `GET /admin/v1/orgs` answers an empty `data` list, as Atlassian does for some keys
    /// (ACCESS-966), so a client must accept a configured org id. Default false.
    pub list_orgs_empty: bool,
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            org_id: None,
            name: "sam-sim".to_string(),
            api_key: None,
            requests_per_minute: 200,
            data_lag: Duration::ZERO,
            reader_fraction: 0.4,
            list_orgs_empty: false,
        }
    }
}

/// Points budget and burst limits, after Atlassian's points-based quotas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Points per UTC hour for the tenant; `None` disables the quota. The default,
    /// `Some(RateLimitConfig::TIER_DEFAULT)`, is replaced at start by Atlassian's tier
    /// formula `min(100 000 + 10 × users, 500 000)`.
    pub points_per_hour: Option<u64>,
    /// Requests per second per endpoint for GET (Atlassian: 100).
    pub burst_get: u32,
    /// Requests per second per endpoint for POST (Atlassian: 100).
    pub burst_post: u32,
    /// Requests per second per endpoint for PUT/DELETE (Atlassian: 50).
    pub burst_delete: u32,
    /// Points charged per identity object (user, group) returned (Atlassian: 2).
    pub identity_object_cost: u64,
    /// Points charged per core object (content) returned (Atlassian: 1).
    pub core_object_cost: u64,
    /// Base points charged per request, reads and writes alike (Atlassian: 1).
    pub request_cost: u64,
}

impl RateLimitConfig {
    /// Marker for "use the tier formula".
    pub const TIER_DEFAULT: u64 = u64::MAX;

    /// Atlassian's hourly points budget for a tenant of `users`: `min(100 000 + 10 × users,
    /// 500 000)`.
    pub fn budget_for(users: usize) -> u64 {
        (100_000 + 10 * users as u64).min(500_000)
    }

    /// No quota and no burst limit.
    pub fn unlimited() -> Self {
        Self {
            points_per_hour: None,
            burst_get: 0,
            burst_post: 0,
            burst_delete: 0,
            ..Self::default()
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            points_per_hour: Some(Self::TIER_DEFAULT),
            burst_get: 100,
            burst_post: 100,
            burst_delete: 50,
            identity_object_cost: 2,
            core_object_cost: 1,
            request_cost: 1,
        }
    }
}

/// Faults injected on one endpoint. Rates are probabilities in `[0, 1]`, drawn from a
/// generator seeded from the config seed (so a run is repeatable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Share of requests answered with `error_status` instead of being served.
    pub error_rate: f64,
    /// The 5xx status used by `error_rate` (default 503 when 0).
    pub error_status: u16,
    /// Latency added before answering.
    pub latency: Duration,
    /// Share of successful responses whose JSON is made invalid.
    pub malformed_json_rate: f64,
    /// Share of successful responses whose JSON is cut in half (with a matching
    /// Content-Length, so the HTTP exchange itself is clean).
    pub truncated_json_rate: f64,
    /// Share of responses where the connection is dropped after half the body.
    pub drop_connection_rate: f64,
    /// The next `storm_429` requests get 429 (burst reason) with `Retry-After`.
    pub storm_429: u32,
    /// `Retry-After` seconds sent during a 429 storm (default 1 when 0).
    pub storm_retry_after_secs: u64,
}

/// Every endpoint the simulator serves, for faults, scopes and call counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `GET /authorize`
    Authorize,
    /// `POST /oauth/token`
    Token,
    /// `GET /oauth/token/accessible-resources`
    AccessibleResources,
    /// `GET /wiki/rest/api/group`
    GetGroups,
    /// `GET /wiki/rest/api/group/by-id`
    GetGroupById,
    /// `GET /wiki/rest/api/group/picker`
    GroupPicker,
    /// `GET /wiki/rest/api/group/{groupId}/membersByGroupId`
    GroupMembers,
    /// `POST /wiki/rest/api/group/userByGroupId`
    AddMember,
    /// `DELETE /wiki/rest/api/group/userByGroupId`
    RemoveMember,
    /// `GET /wiki/rest/api/user`
    GetUser,
    /// `GET /wiki/rest/api/user/current`
    CurrentUser,
    /// `GET /wiki/rest/api/user/bulk`
    BulkUsers,
    /// `GET /wiki/rest/api/user/memberof`
    UserMemberOf,
    /// `GET /wiki/rest/api/search`
    Search,
    /// `GET /admin/v1/orgs` (organization API)
    Orgs,
    /// `GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates`
    OrgLastActive,
}

impl Endpoint {
    /// All endpoints.
    pub const ALL: [Endpoint; 16] = [
        Endpoint::Authorize,
        Endpoint::Token,
        Endpoint::AccessibleResources,
        Endpoint::GetGroups,
        Endpoint::GetGroupById,
        Endpoint::GroupPicker,
        Endpoint::GroupMembers,
        Endpoint::AddMember,
        Endpoint::RemoveMember,
        Endpoint::GetUser,
        Endpoint::CurrentUser,
        Endpoint::BulkUsers,
        Endpoint::UserMemberOf,
        Endpoint::Search,
        Endpoint::Orgs,
        Endpoint::OrgLastActive,
    ];

    /// `METHOD path-template`, e.g. `GET /wiki/rest/api/group/{groupId}/membersByGroupId`.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Authorize => "GET /authorize",
            Endpoint::Token => "POST /oauth/token",
            Endpoint::AccessibleResources => "GET /oauth/token/accessible-resources",
            Endpoint::GetGroups => "GET /wiki/rest/api/group",
            Endpoint::GetGroupById => "GET /wiki/rest/api/group/by-id",
            Endpoint::GroupPicker => "GET /wiki/rest/api/group/picker",
            Endpoint::GroupMembers => "GET /wiki/rest/api/group/{groupId}/membersByGroupId",
            Endpoint::AddMember => "POST /wiki/rest/api/group/userByGroupId",
            Endpoint::RemoveMember => "DELETE /wiki/rest/api/group/userByGroupId",
            Endpoint::GetUser => "GET /wiki/rest/api/user",
            Endpoint::CurrentUser => "GET /wiki/rest/api/user/current",
            Endpoint::BulkUsers => "GET /wiki/rest/api/user/bulk",
            Endpoint::UserMemberOf => "GET /wiki/rest/api/user/memberof",
            Endpoint::Search => "GET /wiki/rest/api/search",
            Endpoint::Orgs => "GET /admin/v1/orgs",
            Endpoint::OrgLastActive => {
                "GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates"
            }
        }
    }

    /// The scope sets the spec declares (`x-atlassian-oauth2-scopes`): the token must hold
    /// every scope of at least one set (classic "Current" set, or the granular "Beta" set).
    /// Empty for the OAuth and organization endpoints.
    pub fn scope_sets(self) -> &'static [&'static [&'static str]] {
        match self {
            Endpoint::Authorize
            | Endpoint::Token
            | Endpoint::AccessibleResources
            | Endpoint::Orgs
            | Endpoint::OrgLastActive => &[],
            Endpoint::GetGroups | Endpoint::GetGroupById | Endpoint::GroupPicker => {
                &[&["read:confluence-groups"], &["read:group:confluence"]]
            }
            Endpoint::GroupMembers => &[
                &["read:confluence-groups"],
                &["read:group:confluence", "read:user:confluence"],
            ],
            Endpoint::AddMember | Endpoint::RemoveMember => {
                &[&["write:confluence-groups"], &["write:group:confluence"]]
            }
            Endpoint::GetUser | Endpoint::CurrentUser | Endpoint::BulkUsers => &[
                &["read:confluence-user"],
                &["read:content-details:confluence"],
            ],
            Endpoint::UserMemberOf => &[
                &["read:confluence-user"],
                &["read:user:confluence", "read:group:confluence"],
            ],
            Endpoint::Search => &[&["search:confluence"], &["read:content-details:confluence"]],
        }
    }

    /// Whether the endpoint sits behind the api.atlassian.com Confluence gateway
    /// (token, cloud id, scope and rate-limit checks).
    pub fn is_confluence_api(self) -> bool {
        !matches!(
            self,
            Endpoint::Authorize
                | Endpoint::Token
                | Endpoint::AccessibleResources
                | Endpoint::Orgs
                | Endpoint::OrgLastActive
        )
    }

    /// Whether the endpoint writes (site-admin only, costs the base point only).
    pub fn is_write(self) -> bool {
        matches!(self, Endpoint::AddMember | Endpoint::RemoveMember)
    }
}
