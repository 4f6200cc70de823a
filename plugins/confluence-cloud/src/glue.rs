//! The thin wit-bindgen layer (compiled for wasm only): generates the bindings for the
//! `spoke` world, implements [`Http`] over the engine's `http` and `log` imports, converts
//! the plain model types to and from the generated ones, and exports the connector.

use crate::export;
use crate::exports::sam::spoke::connector::Guest;
use crate::http::{self as plain, Http};
use crate::model;
use crate::sam::spoke::http as wit_http;
use crate::sam::spoke::log as wit_log;
use crate::sam::spoke::types as wit;
use crate::{activity, groups, manifest, reclaim, subscriptions, validate};

struct Imports;

fn to_wit_request(r: plain::Request) -> wit_http::Request {
    wit_http::Request {
        method: match r.method {
            plain::Method::Get => wit_http::Method::Get,
            plain::Method::Post => wit_http::Method::Post,
            plain::Method::Delete => wit_http::Method::Delete,
        },
        path: r.path,
        query: r.query,
        headers: r.headers,
        body: r.body,
    }
}

fn from_wit_outcome(
    o: Result<wit_http::Response, wit_http::HttpError>,
) -> Result<plain::Response, plain::HttpError> {
    match o {
        Ok(r) => Ok(plain::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }),
        Err(wit_http::HttpError::Denied(m)) => Err(plain::HttpError::Denied(m)),
        Err(wit_http::HttpError::Timeout) => Err(plain::HttpError::Timeout),
        Err(wit_http::HttpError::Connection(m)) => Err(plain::HttpError::Connection(m)),
        Err(wit_http::HttpError::BodyTooLarge(n)) => Err(plain::HttpError::BodyTooLarge(n)),
    }
}

impl Http for Imports {
    fn send(&self, request: plain::Request) -> Result<plain::Response, plain::HttpError> {
        from_wit_outcome(wit_http::send(&to_wit_request(request)))
    }

    fn send_all(
        &self,
        requests: Vec<plain::Request>,
    ) -> Vec<Result<plain::Response, plain::HttpError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let requests: Vec<wit_http::Request> = requests.into_iter().map(to_wit_request).collect();
        wit_http::send_all(&requests)
            .into_iter()
            .map(from_wit_outcome)
            .collect()
    }

    fn debug(&self, message: &str) {
        wit_log::log(wit_log::Level::Debug, message);
    }
}

fn to_wit_error(e: crate::errors::SpokeError) -> wit::SpokeError {
    use crate::errors::SpokeError as E;
    match e {
        E::Unauthorized(m) => wit::SpokeError::Unauthorized(m),
        E::Forbidden {
            message,
            missing_scope,
        } => wit::SpokeError::Forbidden(wit::Forbidden {
            message,
            missing_scope,
        }),
        E::NotFound(m) => wit::SpokeError::NotFound(m),
        E::RateLimited {
            message,
            retry_after_seconds,
        } => wit::SpokeError::RateLimited(wit::RateLimited {
            message,
            retry_after_seconds,
        }),
        E::InvalidConfig(m) => wit::SpokeError::InvalidConfig(m),
        E::Transient(m) => wit::SpokeError::Transient(m),
        E::Vendor(m) => wit::SpokeError::Vendor(m),
    }
}

fn to_wit_process(p: model::Process) -> wit::Process {
    match p {
        model::Process::DownloadSubscriptions => wit::Process::DownloadSubscriptions,
        model::Process::DownloadActivity => wit::Process::DownloadActivity,
        model::Process::Reclaim => wit::Process::Reclaim,
    }
}

fn from_wit_process(p: wit::Process) -> model::Process {
    match p {
        wit::Process::DownloadSubscriptions => model::Process::DownloadSubscriptions,
        wit::Process::DownloadActivity => model::Process::DownloadActivity,
        wit::Process::Reclaim => model::Process::Reclaim,
    }
}

fn from_wit_config(c: wit::Config) -> model::Config {
    model::Config {
        values: c.values,
        selected_groups: c.selected_groups,
    }
}

fn from_wit_ref(s: wit::SubscriptionRef) -> model::SubscriptionRef {
    model::SubscriptionRef {
        external_user_id: s.external_user_id,
        identifier: s.identifier,
        granted_by: s.granted_by,
    }
}

fn to_wit_activity(a: model::UserActivity) -> wit::UserActivity {
    wit::UserActivity {
        external_user_id: a.external_user_id,
        status: match a.status {
            model::ActivityStatus::Seen { at, source, kind } => {
                wit::ActivityStatus::Seen(wit::ActivitySeen {
                    at,
                    source,
                    kind: match kind {
                        model::ActivityKind::LastActive => wit::ActivitySource::LastActive,
                        model::ActivityKind::ContentCreated => wit::ActivitySource::ContentCreated,
                        model::ActivityKind::ContentUpdated => wit::ActivitySource::ContentUpdated,
                        model::ActivityKind::Contributor => wit::ActivitySource::Contributor,
                        model::ActivityKind::Other => wit::ActivitySource::Other,
                    },
                })
            }
            model::ActivityStatus::NoneInWindow => wit::ActivityStatus::NoneInWindow,
            model::ActivityStatus::Unknown(m) => wit::ActivityStatus::Unknown(m),
        },
    }
}

fn to_wit_changes(changes: Vec<model::SeatChange>) -> Vec<wit::SeatChange> {
    changes
        .into_iter()
        .map(|c| wit::SeatChange {
            kind: c.kind,
            target_id: c.target_id,
            target_name: c.target_name,
        })
        .collect()
}

fn from_wit_changes(changes: Vec<wit::SeatChange>) -> Vec<model::SeatChange> {
    changes
        .into_iter()
        .map(|c| model::SeatChange {
            kind: c.kind,
            target_id: c.target_id,
            target_name: c.target_name,
        })
        .collect()
}

struct Component;

impl Guest for Component {
    fn manifest() -> wit::Manifest {
        let m = manifest::manifest();
        wit::Manifest {
            id: m.id,
            display_name: m.display_name,
            publisher: m.publisher,
            version: m.version,
            description: m.description,
            processes: m
                .processes
                .into_iter()
                .map(|p| wit::ProcessPermission {
                    process: to_wit_process(p.process),
                    vendor_role: p.vendor_role,
                    scopes: p.scopes,
                })
                .collect(),
            auth: wit::AuthScheme::Oauth2AuthorizationCode(wit::Oauth2AuthorizationCode {
                authorize_url: m.auth.authorize_url,
                token_url: m.auth.token_url,
                audience: m.auth.audience,
                base_scopes: m.auth.base_scopes,
                extra_parameters: m.auth.extra_parameters,
                accessible_resources_url: m.auth.accessible_resources_url,
            }),
            auth_alternatives: Vec::new(),
            // Confluence scopes a profile by its product-access groups, and one is needed.
            scope: Some(wit::ScopeSelection {
                noun: "product-access groups".into(),
                description: "the groups whose members hold a Confluence seat".into(),
                required: true,
            }),
            activity_from_download: false,
            connection_url_template: m.connection_url_template,
            config_fields: m
                .config_fields
                .into_iter()
                .map(|f| wit::ConfigField {
                    name: f.name,
                    label: f.label,
                    description: f.description,
                    required: f.required,
                })
                .collect(),
            allowed_hosts: m.allowed_hosts,
            activity_lookback_days: m.activity_lookback_days,
            products: m
                .products
                .into_iter()
                .map(|p| wit::Product {
                    identifier: p.identifier,
                    name: p.name,
                    edition: p.edition,
                })
                .collect(),
            extra_credentials: m
                .extra_credentials
                .into_iter()
                .map(|c| wit::ExtraCredential {
                    name: c.name,
                    label: c.label,
                    description: c.description,
                    url_prefix: c.url_prefix,
                    processes: c.processes.into_iter().map(to_wit_process).collect(),
                })
                .collect(),
        }
    }

    fn validate(
        config: wit::Config,
        processes: Vec<wit::Process>,
    ) -> Result<Vec<wit::ValidationCheck>, wit::SpokeError> {
        let processes: Vec<model::Process> = processes.into_iter().map(from_wit_process).collect();
        validate::validate(&Imports, &from_wit_config(config), &processes)
            .map(|checks| {
                checks
                    .into_iter()
                    .map(|c| wit::ValidationCheck {
                        process: to_wit_process(c.process),
                        description: c.description,
                        outcome: c.outcome.map_err(to_wit_error),
                    })
                    .collect()
            })
            .map_err(to_wit_error)
    }

    fn list_groups(
        _config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::GroupPage, wit::SpokeError> {
        groups::list_groups(&Imports, cursor.as_deref())
            .map(|p| wit::GroupPage {
                groups: p
                    .groups
                    .into_iter()
                    .map(|g| wit::Group {
                        id: g.id,
                        name: g.name,
                        access: match g.access {
                            model::GroupAccess::Product => wit::GroupAccess::Product,
                            model::GroupAccess::Admin => wit::GroupAccess::Admin,
                            model::GroupAccess::SiteAdmin => wit::GroupAccess::SiteAdmin,
                            model::GroupAccess::None => wit::GroupAccess::None,
                            model::GroupAccess::Unknown => wit::GroupAccess::Unknown,
                        },
                        member_count: g.member_count,
                    })
                    .collect(),
                next_cursor: p.next_cursor,
            })
            .map_err(to_wit_error)
    }

    fn download_subscriptions(
        config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::SubscriptionPage, wit::SpokeError> {
        subscriptions::download(&Imports, &from_wit_config(config), cursor.as_deref())
            .map(|p| wit::SubscriptionPage {
                subscriptions: p
                    .subscriptions
                    .into_iter()
                    .map(|s| wit::Subscription {
                        external_user_id: s.external_user_id,
                        identifier: s.identifier,
                        display_name: s.display_name,
                        email: s.email,
                        account_type: match s.account_type {
                            model::AccountType::Human => wit::AccountType::Human,
                            model::AccountType::Guest => wit::AccountType::Guest,
                            model::AccountType::App => wit::AccountType::App,
                            model::AccountType::Other => wit::AccountType::Other,
                        },
                        granted_by: s.granted_by,
                        granted_at: s.granted_at,
                        pending_cancellation: None,
                        activity: None,
                    })
                    .collect(),
                next_cursor: p.next_cursor,
                following_cursors: p.following_cursors,
            })
            .map_err(to_wit_error)
    }

    fn download_activity(
        _config: wit::Config,
        since: wit::EpochSeconds,
        cursor: Option<String>,
    ) -> Result<wit::ActivityPage, wit::SpokeError> {
        activity::download(&Imports, since, cursor.as_deref())
            .map(|p| wit::ActivityPage {
                activities: p.activities.into_iter().map(to_wit_activity).collect(),
                next_cursor: p.next_cursor,
                slices: p.slices,
            })
            .map_err(to_wit_error)
    }

    fn lookup_activity(
        config: wit::Config,
        since: wit::EpochSeconds,
        external_user_ids: Vec<String>,
    ) -> Result<Vec<wit::UserActivity>, wit::SpokeError> {
        activity::lookup_all_sources(
            &Imports,
            &from_wit_config(config),
            since,
            &external_user_ids,
        )
        .map(|list| list.into_iter().map(to_wit_activity).collect())
        .map_err(to_wit_error)
    }

    fn plan_reclaim(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
    ) -> Result<Vec<wit::SeatChange>, wit::SpokeError> {
        reclaim::plan(
            &Imports,
            &from_wit_config(config),
            &from_wit_ref(subscription),
        )
        .map(to_wit_changes)
        .map_err(to_wit_error)
    }

    fn apply_reclaim(
        _config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<Vec<wit::SeatChange>, wit::SpokeError> {
        reclaim::apply(
            &Imports,
            &from_wit_ref(subscription),
            &from_wit_changes(changes),
        )
        .map(to_wit_changes)
        .map_err(to_wit_error)
    }

    fn restore(
        _config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<(), wit::SpokeError> {
        reclaim::restore(
            &Imports,
            &from_wit_ref(subscription),
            &from_wit_changes(changes),
        )
        .map_err(to_wit_error)
    }

    fn vendor_seat_counts(
        _config: wit::Config,
    ) -> Result<Vec<wit::VendorSeatCount>, wit::SpokeError> {
        // Confluence's APIs report no purchased or billed seat count.
        Ok(Vec::new())
    }
}

export!(Component with_types_in crate);
