//! The adapter for `sam:spoke@0.1.0` components: converts the frozen version's generated
//! types to the current contract's ([`crate::contract`]) and back, field by field, so the
//! rest of the engine sees one set of types whatever version a spoke was built against. A
//! 0.1.0 spoke has a single `reclaim` export instead of 0.2.0's `plan-reclaim` and
//! `apply-reclaim`; the reclaim run calls it through [`super::LoadedSpoke::reclaim_legacy`]
//! and warns that such reclaims are not crash-safe.

use super::bindings::v0_1::sam::spoke::{http as old_http, log as old_log, types as old};
use crate::contract as new;

/// Converts a value of the frozen 0.1.0 types into the current ones.
pub(crate) trait Up<T> {
    fn up(self) -> T;
}

/// Converts a value of the current types into the frozen 0.1.0 ones.
pub(crate) trait Down<T> {
    fn down(self) -> T;
}

impl<A: Up<B>, B> Up<Vec<B>> for Vec<A> {
    fn up(self) -> Vec<B> {
        self.into_iter().map(Up::up).collect()
    }
}

impl<A: Down<B>, B> Down<Vec<B>> for Vec<A> {
    fn down(self) -> Vec<B> {
        self.into_iter().map(Down::down).collect()
    }
}

impl Up<new::Process> for old::Process {
    fn up(self) -> new::Process {
        match self {
            old::Process::DownloadSubscriptions => new::Process::DownloadSubscriptions,
            old::Process::DownloadActivity => new::Process::DownloadActivity,
            old::Process::Reclaim => new::Process::Reclaim,
        }
    }
}

impl Down<old::Process> for new::Process {
    fn down(self) -> old::Process {
        match self {
            new::Process::DownloadSubscriptions => old::Process::DownloadSubscriptions,
            new::Process::DownloadActivity => old::Process::DownloadActivity,
            new::Process::Reclaim => old::Process::Reclaim,
        }
    }
}

impl Up<new::Manifest> for old::Manifest {
    fn up(self) -> new::Manifest {
        new::Manifest {
            id: self.id,
            display_name: self.display_name,
            publisher: self.publisher,
            version: self.version,
            description: self.description,
            processes: self
                .processes
                .into_iter()
                .map(|p| new::ProcessPermission {
                    process: p.process.up(),
                    vendor_role: p.vendor_role,
                    scopes: p.scopes,
                })
                .collect(),
            auth: match self.auth {
                old::AuthScheme::Oauth2AuthorizationCode(o) => {
                    new::AuthScheme::Oauth2AuthorizationCode(new::Oauth2AuthorizationCode {
                        authorize_url: o.authorize_url,
                        token_url: o.token_url,
                        audience: o.audience,
                        base_scopes: o.base_scopes,
                        extra_parameters: o.extra_parameters,
                        accessible_resources_url: o.accessible_resources_url,
                    })
                }
                old::AuthScheme::BearerToken => new::AuthScheme::BearerToken,
            },
            // 0.1.0 had one scheme, the group picker as its only scoping (required, as the
            // Confluence-shaped contract assumed) and activity only from its own exports.
            auth_alternatives: Vec::new(),
            scope: Some(new::ScopeSelection {
                noun: "groups".into(),
                description: "the groups whose members hold the seats".into(),
                required: true,
            }),
            activity_from_download: false,
            connection_url_template: self.connection_url_template,
            config_fields: self
                .config_fields
                .into_iter()
                .map(|f| new::ConfigField {
                    name: f.name,
                    label: f.label,
                    description: f.description,
                    required: f.required,
                })
                .collect(),
            allowed_hosts: self.allowed_hosts,
            activity_lookback_days: self.activity_lookback_days,
            products: self
                .products
                .into_iter()
                .map(|p| new::Product {
                    identifier: p.identifier,
                    name: p.name,
                    edition: p.edition,
                })
                .collect(),
            // 0.1.0 had no second credentials.
            extra_credentials: Vec::new(),
        }
    }
}

impl Down<old::Config> for &new::Config {
    fn down(self) -> old::Config {
        old::Config {
            values: self.values.clone(),
            selected_groups: self.selected_groups.clone(),
        }
    }
}

impl Up<new::SpokeError> for old::SpokeError {
    fn up(self) -> new::SpokeError {
        match self {
            old::SpokeError::Unauthorized(m) => new::SpokeError::Unauthorized(m),
            old::SpokeError::Forbidden(f) => new::SpokeError::Forbidden(new::Forbidden {
                message: f.message,
                missing_scope: f.missing_scope,
            }),
            old::SpokeError::NotFound(m) => new::SpokeError::NotFound(m),
            old::SpokeError::RateLimited(r) => new::SpokeError::RateLimited(new::RateLimited {
                message: r.message,
                retry_after_seconds: r.retry_after_seconds,
            }),
            old::SpokeError::InvalidConfig(m) => new::SpokeError::InvalidConfig(m),
            old::SpokeError::Transient(m) => new::SpokeError::Transient(m),
            old::SpokeError::Vendor(m) => new::SpokeError::Vendor(m),
        }
    }
}

impl<T, U> Up<Result<U, new::SpokeError>> for Result<T, old::SpokeError>
where
    T: Up<U>,
{
    fn up(self) -> Result<U, new::SpokeError> {
        self.map(Up::up).map_err(Up::up)
    }
}

impl Up<()> for () {
    fn up(self) {}
}

impl Up<new::ValidationCheck> for old::ValidationCheck {
    fn up(self) -> new::ValidationCheck {
        new::ValidationCheck {
            process: self.process.up(),
            description: self.description,
            outcome: self.outcome.up(),
        }
    }
}

impl Up<new::GroupPage> for old::GroupPage {
    fn up(self) -> new::GroupPage {
        new::GroupPage {
            groups: self
                .groups
                .into_iter()
                .map(|g| new::Group {
                    id: g.id,
                    name: g.name,
                    // 0.1.0 groups say nothing of what they grant or how many they hold.
                    access: new::GroupAccess::Unknown,
                    member_count: None,
                })
                .collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl Up<new::SubscriptionPage> for old::SubscriptionPage {
    fn up(self) -> new::SubscriptionPage {
        new::SubscriptionPage {
            subscriptions: self
                .subscriptions
                .into_iter()
                .map(|s| new::Subscription {
                    external_user_id: s.external_user_id,
                    identifier: s.identifier,
                    display_name: s.display_name,
                    email: s.email,
                    account_type: match s.account_type {
                        old::AccountType::Human => new::AccountType::Human,
                        old::AccountType::Guest => new::AccountType::Guest,
                        old::AccountType::App => new::AccountType::App,
                        old::AccountType::Other => new::AccountType::Other,
                    },
                    granted_by: s.granted_by,
                    granted_at: s.granted_at,
                    pending_cancellation: None,
                    activity: None,
                })
                .collect(),
            next_cursor: self.next_cursor,
            // A 0.1.0 page tells no cursors ahead: the engine follows them one by one.
            following_cursors: Vec::new(),
        }
    }
}

impl Up<new::UserActivity> for old::UserActivity {
    fn up(self) -> new::UserActivity {
        new::UserActivity {
            external_user_id: self.external_user_id,
            status: match self.status {
                old::ActivityStatus::Seen(s) => new::ActivityStatus::Seen(new::ActivitySeen {
                    at: s.at,
                    kind: new::ActivitySource::Other,
                    source: s.source,
                }),
                old::ActivityStatus::NoneInWindow => new::ActivityStatus::NoneInWindow,
                old::ActivityStatus::Unknown(m) => new::ActivityStatus::Unknown(m),
            },
        }
    }
}

impl Up<new::ActivityPage> for old::ActivityPage {
    fn up(self) -> new::ActivityPage {
        new::ActivityPage {
            activities: self.activities.up(),
            next_cursor: self.next_cursor,
            slices: Vec::new(),
        }
    }
}

impl Up<new::SeatChange> for old::SeatChange {
    fn up(self) -> new::SeatChange {
        new::SeatChange {
            kind: self.kind,
            target_id: self.target_id,
            target_name: self.target_name,
        }
    }
}

impl Down<old::SeatChange> for &new::SeatChange {
    fn down(self) -> old::SeatChange {
        old::SeatChange {
            kind: self.kind.clone(),
            target_id: self.target_id.clone(),
            target_name: self.target_name.clone(),
        }
    }
}

impl Down<old::SubscriptionRef> for &new::SubscriptionRef {
    fn down(self) -> old::SubscriptionRef {
        old::SubscriptionRef {
            external_user_id: self.external_user_id.clone(),
            identifier: self.identifier.clone(),
            granted_by: self.granted_by.clone(),
        }
    }
}

// The imports: a 0.1.0 guest's requests become the current types for the gate, and the
// gate's answers go back in the old ones.

impl Up<new::Request> for old_http::Request {
    fn up(self) -> new::Request {
        new::Request {
            method: match self.method {
                old_http::Method::Get => new::Method::Get,
                old_http::Method::Head => new::Method::Head,
                old_http::Method::Post => new::Method::Post,
                old_http::Method::Put => new::Method::Put,
                old_http::Method::Patch => new::Method::Patch,
                old_http::Method::Delete => new::Method::Delete,
            },
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: self.body,
        }
    }
}

impl Down<Result<old_http::Response, old_http::HttpError>>
    for Result<new::Response, new::HttpError>
{
    fn down(self) -> Result<old_http::Response, old_http::HttpError> {
        match self {
            Ok(r) => Ok(old_http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(new::HttpError::Denied(m)) => Err(old_http::HttpError::Denied(m)),
            Err(new::HttpError::Timeout) => Err(old_http::HttpError::Timeout),
            Err(new::HttpError::Connection(m)) => Err(old_http::HttpError::Connection(m)),
            Err(new::HttpError::BodyTooLarge(n)) => Err(old_http::HttpError::BodyTooLarge(n)),
        }
    }
}

impl Up<new::LogLevel> for old_log::Level {
    fn up(self) -> new::LogLevel {
        match self {
            old_log::Level::Trace => new::LogLevel::Trace,
            old_log::Level::Debug => new::LogLevel::Debug,
            old_log::Level::Info => new::LogLevel::Info,
            old_log::Level::Warn => new::LogLevel::Warn,
            old_log::Level::Error => new::LogLevel::Error,
        }
    }
}
