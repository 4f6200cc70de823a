//! The spoke's manifest: identity, the reference guide's "minimal user permissions" table
//! (one row per process, with the vendor role and the classic OAuth scopes), Atlassian's
//! OAuth 2.0 (3LO) settings, the connection URL template with its `cloud-id` field, the
//! host allow-list, the 60-day activity look-back and the one product reported.

use crate::errors::{SCOPE_READ_GROUPS, SCOPE_READ_USER, SCOPE_SEARCH, SCOPE_WRITE_GROUPS};
use crate::model::{
    ConfigField, ExtraCredential, Manifest, OAuth2AuthorizationCode, Process, ProcessPermission,
    Product,
};

/// The config field holding the Atlassian cloud id.
pub const CLOUD_ID: &str = "cloud-id";
/// The one subscription identifier the spoke reports.
pub const PRODUCT_ID: &str = "confluence";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The manifest; makes no requests.
pub fn manifest() -> Manifest {
    Manifest {
        id: "confluence-cloud".into(),
        display_name: "Confluence Cloud".into(),
        publisher: "Atlassian".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Confluence Cloud seats through product-access groups, activity through CQL search, reclaim through group membership".into(),
        processes: vec![
            ProcessPermission {
                process: Process::DownloadSubscriptions,
                vendor_role: "User role for the Confluence product".into(),
                scopes: strings(&[SCOPE_READ_GROUPS, SCOPE_READ_USER]),
            },
            ProcessPermission {
                process: Process::DownloadActivity,
                vendor_role: "User role for the Confluence product".into(),
                scopes: strings(&[SCOPE_SEARCH]),
            },
            ProcessPermission {
                process: Process::Reclaim,
                vendor_role: "Site admin".into(),
                scopes: strings(&[SCOPE_READ_GROUPS, SCOPE_WRITE_GROUPS]),
            },
        ],
        auth: OAuth2AuthorizationCode {
            authorize_url: "https://auth.atlassian.com/authorize".into(),
            token_url: "https://auth.atlassian.com/oauth/token".into(),
            audience: Some("api.atlassian.com".into()),
            base_scopes: strings(&["offline_access"]),
            extra_parameters: vec![("prompt".into(), "consent".into())],
            accessible_resources_url: Some(
                "https://api.atlassian.com/oauth/token/accessible-resources".into(),
            ),
        },
        connection_url_template: format!("https://api.atlassian.com/ex/confluence/{{{CLOUD_ID}}}"),
        config_fields: vec![ConfigField {
            name: CLOUD_ID.into(),
            label: "Cloud ID".into(),
            description: "The Confluence site's cloud id: in Atlassian Administration, Products, \
                          Manage product on the Confluence row; the URL ends with \
                          /products/conf/<cloud-id>."
                .into(),
            required: true,
        },
        ConfigField {
            name: crate::org::ORG_ID.into(),
            label: "Organization ID".into(),
            description: "Optional, with an organization API key: the Atlassian organization \
                          whose last-active dates count as activity. Left empty, the first \
                          organization the key lists (GET /admin/v1/orgs) is used."
                .into(),
            required: false,
        },
        ConfigField {
            name: crate::reclaim::RECLAIM_ADMIN_GROUPS.into(),
            label: "Admin groups a reclaim may touch".into(),
            description: "Optional, comma-separated group ids or names. A reclaim never removes \
                          anyone from site-admins or a *-admins group unless it is named here."
                .into(),
            required: false,
        }],
        allowed_hosts: strings(&["api.atlassian.com"]),
        activity_lookback_days: 60,
        products: vec![Product {
            identifier: PRODUCT_ID.into(),
            name: "Confluence".into(),
            edition: None,
        }],
        extra_credentials: vec![ExtraCredential {
            name: crate::org::ORG_CREDENTIAL.into(),
            label: "Organization API key".into(),
            description: "Optional. An Atlassian organization API key (admin.atlassian.com, \
                          Settings, API keys), used only for the organization API's \
                          last-active dates: they count reading, so readers who never edit are \
                          not taken for unused seats. Needs no Confluence scope."
                .into(),
            url_prefix: crate::org::ORG_API_PREFIX.into(),
            processes: vec![Process::DownloadActivity],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_table_matches_the_guide() {
        let m = manifest();
        assert_eq!(m.id, "confluence-cloud");
        assert_eq!(m.publisher, "Atlassian");
        let rows: Vec<_> = m
            .processes
            .iter()
            .map(|p| (p.process, p.vendor_role.as_str(), p.scopes.clone()))
            .collect();
        assert_eq!(
            rows[0].2,
            ["read:confluence-groups", "read:confluence-user"]
        );
        assert_eq!(rows[1].2, ["search:confluence"]);
        assert_eq!(rows[2].1, "Site admin");
        assert_eq!(
            rows[2].2,
            ["read:confluence-groups", "write:confluence-groups"]
        );
        assert_eq!(
            m.connection_url_template,
            "https://api.atlassian.com/ex/confluence/{cloud-id}"
        );
        assert_eq!(m.config_fields[0].name, "cloud-id");
        assert_eq!(m.auth.audience.as_deref(), Some("api.atlassian.com"));
        assert_eq!(m.auth.base_scopes, ["offline_access"]);
        assert_eq!(m.activity_lookback_days, 60);
        assert_eq!(m.products[0].identifier, "confluence");
    }
}
