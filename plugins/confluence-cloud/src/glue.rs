//! The thin layer over the SDK (compiled for wasm only): implements `sam_spoke::Spoke` by
//! running the plain modules over the SDK's `Engine` (the engine's `http` and `log`
//! imports), converts the plain model types to and from the contract's, and exports it.

use sam_spoke::{Engine as Imports, Spoke, SpokeError, wit};

use crate::model;
use crate::{activity, groups, manifest, reclaim, subscriptions, validate};

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

impl Spoke for Component {
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
    ) -> Result<Vec<wit::ValidationCheck>, SpokeError> {
        let processes: Vec<model::Process> = processes.into_iter().map(from_wit_process).collect();
        validate::validate(&Imports, &from_wit_config(config), &processes).map(|checks| {
            checks
                .into_iter()
                .map(|c| wit::ValidationCheck {
                    process: to_wit_process(c.process),
                    description: c.description,
                    outcome: c.outcome.map_err(Into::into),
                })
                .collect()
        })
    }

    fn list_groups(
        _config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::GroupPage, SpokeError> {
        groups::list_groups(&Imports, cursor.as_deref()).map(|p| wit::GroupPage {
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
    }

    fn download_subscriptions(
        config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::SubscriptionPage, SpokeError> {
        subscriptions::download(&Imports, &from_wit_config(config), cursor.as_deref()).map(|p| {
            wit::SubscriptionPage {
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
            }
        })
    }

    fn download_activity(
        _config: wit::Config,
        since: wit::EpochSeconds,
        cursor: Option<String>,
    ) -> Result<wit::ActivityPage, SpokeError> {
        activity::download(&Imports, since, cursor.as_deref()).map(|p| wit::ActivityPage {
            activities: p.activities.into_iter().map(to_wit_activity).collect(),
            next_cursor: p.next_cursor,
            slices: p.slices,
        })
    }

    fn lookup_activity(
        config: wit::Config,
        since: wit::EpochSeconds,
        external_user_ids: Vec<String>,
    ) -> Result<Vec<wit::UserActivity>, SpokeError> {
        activity::lookup_all_sources(
            &Imports,
            &from_wit_config(config),
            since,
            &external_user_ids,
        )
        .map(|list| list.into_iter().map(to_wit_activity).collect())
    }

    fn plan_reclaim(
        config: wit::Config,
        subscription: wit::SubscriptionRef,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        reclaim::plan(
            &Imports,
            &from_wit_config(config),
            &from_wit_ref(subscription),
        )
        .map(to_wit_changes)
    }

    fn apply_reclaim(
        _config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        reclaim::apply(
            &Imports,
            &from_wit_ref(subscription),
            &from_wit_changes(changes),
        )
        .map(to_wit_changes)
    }

    fn restore(
        _config: wit::Config,
        subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<(), SpokeError> {
        reclaim::restore(
            &Imports,
            &from_wit_ref(subscription),
            &from_wit_changes(changes),
        )
    }

    // vendor-seat-counts: the default (none): Confluence's APIs report no purchased or
    // billed seat count.
}

sam_spoke::export!(Component);
