//! The operation table: one line per operation of the application layer (name, HTTP method
//! and path under `/api/v1`, the role it needs, request and answer types). From it come the
//! [`Engine`] methods the CLI calls (this process, or the daemon over HTTP), the daemon's
//! routes ([`crate::daemon::api`]) and the OpenAPI document ([`openapi`]), so a route cannot
//! exist without its documentation or its role check.
//!
//! Reads are `GET` with the request as query parameters; everything that changes state is
//! `POST` with a JSON body. Errors answer `{"error": {"kind": .., "message": ..}}` with the
//! status of [`AppError::status`].

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::connections::*;
use super::plugins::*;
use super::profiles::*;
use super::reclaim::*;
use super::tokens::{CreatedToken, TokenView};
use super::views::*;
use super::{Actor, App, AppError};
use crate::model::{AuditEntry, RemovalCandidate, Role};

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A read: the request in the query string.
    Get,
    /// A change: the request as a JSON body.
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What the table says about one operation.
#[derive(Debug, Clone, Copy)]
pub struct OperationInfo {
    /// The operation's name (its `operationId`).
    pub name: &'static str,
    /// GET or POST.
    pub method: Method,
    /// The path, under `/api/v1`.
    pub path: &'static str,
    /// The least role that may call it.
    pub role: Role,
    /// What it does.
    pub summary: &'static str,
}

/// The body of an error answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    #[schema(value_type = Object)]
    pub error: AppError,
}

/// An error as an HTTP answer.
pub fn error_response(error: AppError) -> Response {
    let status = axum::http::StatusCode::from_u16(error.status())
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(ErrorBody { error })).into_response()
}

/// A tokens list answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenList {
    /// Every token (never a secret), oldest first.
    pub tokens: Vec<TokenView>,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateToken {
    /// A name for people.
    pub name: String,
    /// viewer, approver or admin.
    pub role: Role,
}

/// `POST /api/v1/tokens/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokeToken {
    /// The token's id.
    pub id: String,
}

/// `GET /api/v1/tokens`: no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokensQuery {}

impl App {
    /// Creates an API token.
    pub async fn tokens_create(
        &self,
        _actor: &Actor,
        req: CreateToken,
    ) -> Result<CreatedToken, AppError> {
        super::tokens::create(self.store(), self.now(), &req.name, req.role)
    }

    /// Lists the API tokens.
    pub async fn tokens_list(
        &self,
        _actor: &Actor,
        _q: TokensQuery,
    ) -> Result<TokenList, AppError> {
        Ok(TokenList {
            tokens: super::tokens::list(self.store())?,
        })
    }

    /// Revokes an API token.
    pub async fn tokens_revoke(
        &self,
        _actor: &Actor,
        req: RevokeToken,
    ) -> Result<TokenView, AppError> {
        super::tokens::revoke(self.store(), self.now(), &req.id)
    }
}

/// Where the operations run: this process over the database, or the daemon that holds it.
pub enum Engine {
    /// This process, for `actor`.
    Local {
        /// The engine.
        app: App,
        /// Who asks.
        actor: Actor,
    },
    /// The daemon's API.
    Remote(Remote),
}

/// A client of a daemon's API.
#[derive(Debug, Clone)]
pub struct Remote {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Remote {
    /// A client of the daemon at `base` (`http://127.0.0.1:8977`) with bearer `token`.
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            token: token.into(),
            client: reqwest::Client::new(),
        }
    }

    /// The daemon's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Calls `path` with `request`; decodes the answer or the error.
    pub async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        request: &Q,
    ) -> Result<A, AppError> {
        let url = format!("{}{path}", self.base);
        let builder = match method {
            Method::Get => self.client.get(&url).query(request),
            Method::Post => self.client.post(&url).json(request),
        };
        let response = builder.bearer_auth(&self.token).send().await.map_err(|e| {
            AppError::Unavailable(format!("the daemon at {} did not answer: {e}", self.base))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            AppError::Unavailable(format!("the daemon at {} broke off: {e}", self.base))
        })?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| {
                AppError::Failed(format!("the daemon at {} answered oddly: {e}", self.base))
            })
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(body.error),
                Err(_) => Err(AppError::Failed(format!(
                    "the daemon at {} answered {status}: {}",
                    self.base,
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ))),
            }
        }
    }
}

/// Runs an operation in this process for `actor`: the role check, then the operation, with
/// every audit entry it writes attributed to the actor.
pub async fn local<A, F>(actor: &Actor, role: Role, name: &str, run: F) -> Result<A, AppError>
where
    F: std::future::Future<Output = Result<A, AppError>>,
{
    actor.require(role, &format!("`{name}`"))?;
    crate::store::with_actor(actor.name.clone(), run).await
}

macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $method:ident $path:literal, $role:ident, $req:ty => $resp:ty;
    )*) => {
        /// Every operation, in the table's order.
        pub const OPERATIONS: &[OperationInfo] = &[$(
            OperationInfo {
                name: stringify!($name),
                method: Method::$method,
                path: $path,
                role: Role::$role,
                summary: concat!($($doc),+),
            },
        )*];

        impl Engine {
            $(
                $(#[doc = $doc])+
                pub async fn $name(&self, request: $req) -> Result<$resp, AppError> {
                    match self {
                        Engine::Local { app, actor } => {
                            local(actor, Role::$role, stringify!($name),
                                app.$name(actor, request)).await
                        }
                        Engine::Remote(remote) => {
                            remote.call(Method::$method, concat!("/api/v1", $path), &request).await
                        }
                    }
                }
            )*
        }

        /// The operations' routes (under `/api/v1`); the caller's [`Actor`] comes from the
        /// authentication layer as a request extension.
        pub fn routes() -> axum::Router<App> {
            let router = axum::Router::new();
            $(
                let router = router.route(
                    concat!("/api/v1", $path),
                    operations!(@route $method, $name, $role, $req),
                );
            )*
            router
        }

        /// Adds every operation's path, parameters, body and answers to `builder`.
        fn document(paths: &mut Vec<PathDoc>) {
            $(
                paths.push(PathDoc {
                    info: OperationInfo {
                        name: stringify!($name),
                        method: Method::$method,
                        path: $path,
                        role: Role::$role,
                        summary: concat!($($doc),+),
                    },
                    request: schema_of::<$req>(),
                    response: schema_of::<$resp>(),
                });
            )*
        }
    };
    (@route Get, $name:ident, $role:ident, $req:ty) => {
        axum::routing::get(
            |State(state): State<App>,
             axum::Extension(actor): axum::Extension<Actor>,
             uri: axum::http::Uri| async move {
                let request: $req = match request_query(uri.query().unwrap_or_default()) {
                    Ok(r) => r,
                    Err(e) => return error_response(e),
                };
                answer(local(&actor, Role::$role, stringify!($name),
                    state.$name(&actor, request)).await)
            },
        )
    };
    (@route Post, $name:ident, $role:ident, $req:ty) => {
        axum::routing::post(
            |State(state): State<App>,
             axum::Extension(actor): axum::Extension<Actor>,
             headers: axum::http::HeaderMap,
             body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>| async move {
                let request: $req = match body
                    .map_err(|e| AppError::Invalid(e.body_text()))
                    .and_then(|bytes| request_body(&headers, &bytes))
                {
                    Ok(r) => r,
                    Err(e) => return error_response(e),
                };
                answer(local(&actor, Role::$role, stringify!($name),
                    state.$name(&actor, request)).await)
            },
        )
    };
}

/// A POST's JSON body as its request type. Strict where serde is lenient: the body must be
/// JSON (`Content-Type: application/json`), and a field the request does not have is refused
/// with its name (a misspelt `max_percent` would otherwise be dropped and the run go ahead
/// with the default).
pub fn request_body<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Result<T, AppError> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !json {
        return Err(AppError::Invalid(
            "send the request body as JSON, with `Content-Type: application/json`".into(),
        ));
    }
    let mut unknown = Vec::new();
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let request = serde_ignored::deserialize(&mut reader, |path| unknown.push(path.to_string()))
        .and_then(|request| reader.end().map(|()| request))
        .map_err(|e| AppError::Invalid(format!("the request body is not this request: {e}")))?;
    refuse_unknown(&unknown, "field")?;
    Ok(request)
}

/// A GET's query string as its request type; a parameter the request does not have is
/// refused with its name (a misspelt filter would otherwise be dropped and the answer cover
/// everything it was meant to narrow).
pub fn request_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let mut unknown = Vec::new();
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let request = serde_ignored::deserialize(pairs, |path| unknown.push(path.to_string()))
        .map_err(|e| AppError::Invalid(format!("the query is not this request's: {e}")))?;
    refuse_unknown(&unknown, "parameter")?;
    Ok(request)
}

/// `Invalid` naming the `unknown` fields or parameters, if there are any.
fn refuse_unknown(unknown: &[String], what: &str) -> Result<(), AppError> {
    if unknown.is_empty() {
        return Ok(());
    }
    Err(AppError::Invalid(format!(
        "the request has no {what} {}: check its spelling against the OpenAPI document",
        unknown
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn answer<A: Serialize>(outcome: Result<A, AppError>) -> Response {
    match outcome {
        Ok(a) => Json(a).into_response(),
        Err(e) => error_response(e),
    }
}

/// What the OpenAPI document needs of one operation.
pub struct PathDoc {
    /// The table's line.
    pub info: OperationInfo,
    /// The request's schema (name and every schema it uses).
    pub request: SchemaOf,
    /// The answer's schema.
    pub response: SchemaOf,
}

/// A type's schema name, its schema, and the schemas it refers to.
pub struct SchemaOf {
    /// The component name.
    pub name: String,
    /// Its schema.
    pub schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    /// The schemas it refers to.
    pub nested: Vec<(
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )>,
}

fn schema_of<T: utoipa::ToSchema>() -> SchemaOf {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    SchemaOf {
        name: T::name().into_owned(),
        schema: <T as utoipa::PartialSchema>::schema(),
        nested,
    }
}

operations! {
    /// Create an API token (the secret is in this answer only).
    tokens_create: Post "/tokens", Admin, CreateToken => CreatedToken;
    /// List the API tokens (ids, names, roles; never secrets).
    tokens_list: Get "/tokens", Admin, TokensQuery => TokenList;
    /// Revoke an API token.
    tokens_revoke: Post "/tokens/revoke", Admin, RevokeToken => TokenView;
    /// Subscriptions (seats), filtered by profile, model, user, state and inactivity.
    subscriptions_list: Get "/subscriptions", Viewer, SubscriptionsQuery => SubscriptionList;
    /// Every seat one user holds, across profiles, with last activity, source and age.
    subscriptions_user: Get "/subscriptions/user", Viewer, UserSeatsQuery => UserSeats;
    /// Software models with their identifiers and active seats.
    models_list: Get "/models", Viewer, ModelsQuery => ModelList;
    /// One software model.
    models_show: Get "/models/show", Viewer, ModelQuery => ModelView;
    /// Subscription identifiers (or only the unrecognized ones).
    identifiers_list: Get "/identifiers", Viewer, IdentifiersQuery => IdentifierList;
    /// Map an identifier to a software model; its subscriptions follow.
    identifiers_map: Post "/identifiers/map", Admin, MapIdentifier => IdentifierMapped;
    /// Run a process of a profile now (after the profile's job in flight).
    runs_start: Post "/runs", Admin, super::runs::RunBody => crate::daemon::RunOutcome;
    /// A consistent copy of the database, written beside it.
    db_backup: Post "/backup", Admin, super::runs::BackupBody => crate::store::maintenance::BackupReport;
    /// The audit log, newest first, filtered by profile, actor, action and time.
    audit_list: Get "/audit", Viewer, AuditQuery => AuditList;
    /// One audit entry.
    audit_show: Get "/audit/show", Viewer, AuditEntryQuery => AuditEntry;

    // ---- profiles, groups, jobs, connections, keys (app/profiles.rs) ----
    /// Create an integration profile (Draft) for a spoke.
    profiles_create: Post "/profiles", Admin, CreateProfile => ProfileCreated;
    /// List the integration profiles.
    profiles_list: Get "/profiles", Viewer, ProfilesQuery => ProfileList;
    /// One profile: status, processes, alias and scopes, connection, groups, jobs, runs.
    profiles_show: Get "/profiles/show", Viewer, ProfileName => ProfileView;
    /// Change a profile's settings (changed processes return a published profile to Draft).
    profiles_set: Post "/profiles/set", Admin, SetProfile => ProfileUpdated;
    /// Validate a profile's connection through its spoke (download and activity, never reclaim).
    profiles_validate: Post "/profiles/validate", Admin, ProfileName => ValidationReport;
    /// Publish a validated profile: software models, reclamation rules, scheduled jobs.
    profiles_publish: Post "/profiles/publish", Admin, ProfileName => ProfilePublished;
    /// Return a published profile to Draft (its scheduled jobs keep their schedules and are held until it is published again).
    profiles_unpublish: Post "/profiles/unpublish", Admin, ProfileName => ProfileUpdated;
    /// Delete a profile: subscriptions and jobs go, candidates are closed, rules stay.
    profiles_delete: Post "/profiles/delete", Admin, ProfileName => ProfileDeleted;
    /// The groups of a profile's site (through the spoke), marked when selected.
    groups_list: Get "/groups", Viewer, GroupsQuery => GroupList;
    /// Select product-access groups of a profile (ids or names).
    groups_add: Post "/groups/add", Admin, ChangeGroups => GroupsChanged;
    /// Unselect product-access groups of a profile (ids or names).
    groups_remove: Post "/groups/remove", Admin, ChangeGroups => GroupsChanged;
    /// The scheduled jobs.
    jobs_list: Get "/jobs", Viewer, JobsQuery => JobList;
    /// One scheduled job and its recent results.
    jobs_show: Get "/jobs/show", Viewer, JobQuery => JobView;
    /// Edit a scheduled job's schedule, or pause and resume it.
    jobs_set: Post "/jobs/set", Admin, SetJob => crate::model::ScheduledJob;
    /// What a consent for a profile needs (never a stored secret).
    connections_context: Get "/connections/context", Admin, ConnectQuery => ConnectContext;
    /// Keep a started consent's state (sealed) so its code can be pasted later.
    connections_pending: Post "/connections/pending", Admin, SavePending => ConnectionSaved;
    /// Finish a consent: exchange the code, pick the site, store the tokens sealed.
    connections_complete: Post "/connections/complete", Admin, CompleteConsent => ConsentCompleted;
    /// Store second credentials a profile's spoke declares (sealed).
    connections_credentials: Post "/connections/credentials", Admin, StoreCredentials => CredentialsStored;
    /// A profile's limits: every limit, its value and its default.
    profiles_limits: Get "/profiles/limits", Viewer, ProfileName => ProfileLimitsView;
    /// Set or reset a profile's limits.
    profiles_limits_set: Post "/profiles/limits/set", Admin, SetLimits => ProfileLimitsView;
    /// Re-encrypt every stored secret with a new key.
    key_rotate: Post "/key/rotate", Admin, RotateKey => KeyRotated;
    /// How a profile's spoke component differs from the approved one.
    plugins_trust_diff: Get "/plugins/trust", Viewer, TrustQuery => TrustView;
    /// Approve the spoke component shown (by its sha256) for a profile.
    plugins_trust: Post "/plugins/trust", Admin, ApproveComponent => TrustView;

    // ---- candidates, undo, rules, exclusions, entitlements, position (app/reclaim.rs) ----
    /// Removal candidates (open ones unless `all`), filtered by profile, state and user.
    candidates_list: Get "/candidates", Viewer, CandidatesQuery => CandidateList;
    /// One removal candidate with its transition log.
    candidates_show: Get "/candidates/show", Viewer, CandidateQuery => RemovalCandidate;
    /// Record the user's answer to a notification: keep or release.
    candidates_answer: Post "/candidates/answer", Approver, AnswerCandidate => RemovalCandidate;
    /// The manager approves the reclaim (or an admin marks a problem resolved).
    candidates_approve: Post "/candidates/approve", Approver, DecideCandidate => RemovalCandidate;
    /// The manager rejects the reclaim (or an admin skips the candidate).
    candidates_reject: Post "/candidates/reject", Approver, DecideCandidate => RemovalCandidate;
    /// Reclaim the given candidates now (with the same checks and cap as a run).
    candidates_reclaim: Post "/candidates/reclaim", Admin, ReclaimCandidates => crate::reclaim::ReclaimReport;
    /// Give a reclaimed seat back.
    undo: Post "/undo", Admin, UndoRequest => crate::reclaim::UndoReport;
    /// Run a profile's reclaim subflow (dry run, cap).
    runs_reclaim: Post "/runs/reclaim", Admin, RunReclaim => crate::reclaim::ReclaimReport;
    /// Every subflow of a profile in order: download, activity, reclaim, reconcile.
    runs_all: Post "/runs/all", Admin, RunReclaim => RunAllReport;
    /// Compute the license position of every software model now.
    runs_reconcile: Post "/runs/reconcile", Admin, ReconcileBody => PositionList;
    /// The latest license position of every model, or one model's trend.
    position: Get "/position", Viewer, PositionQuery => PositionList;
    /// The reclamation rules (or one model's).
    rules_show: Get "/rules", Viewer, RulesQuery => RuleList;
    /// Change a model's reclamation rule (created with the defaults if missing).
    rules_set: Post "/rules/set", Admin, SetRule => crate::model::ReclamationRule;
    /// Add an exclusion of a user or an identifier.
    exclusions_add: Post "/exclusions", Admin, AddExclusion => crate::model::ExclusionRule;
    /// The exclusions.
    exclusions_list: Get "/exclusions", Viewer, ExclusionsQuery => ExclusionList;
    /// Turn an exclusion on or off.
    exclusions_set: Post "/exclusions/set", Admin, SetActive => crate::model::ExclusionRule;
    /// Remove an exclusion.
    exclusions_remove: Post "/exclusions/remove", Admin, RemoveById => Removed;
    /// Record an entitlement (rights, unit cost, term).
    entitlements_add: Post "/entitlements", Admin, AddEntitlement => crate::model::Entitlement;
    /// The entitlements (or one model's).
    entitlements_list: Get "/entitlements", Viewer, EntitlementsQuery => EntitlementList;
    /// Turn an entitlement on or off.
    entitlements_set: Post "/entitlements/set", Admin, SetActive => crate::model::Entitlement;
    /// Remove an entitlement.
    entitlements_remove: Post "/entitlements/remove", Admin, RemoveById => Removed;
    /// Set or clear a model's license cost override.
    entitlements_cost: Post "/entitlements/cost", Admin, SetCost => CostOverride;


    // ---- web console users (web/users.rs) ----
    /// Add a web console user with a password (or reset one's password and role).
    users_add: Post "/users", Admin, crate::app::users::AddUser => crate::app::users::UserView;
    /// The web console users (names and roles; never a hash).
    users_list: Get "/users", Admin, crate::app::users::UsersQuery => crate::app::users::UserList;
    /// Remove a web console user.
    users_remove: Post "/users/remove", Admin, crate::app::users::RemoveUser => crate::app::users::UserView;

    // ---- end of the table ----
}

/// The OpenAPI 3.1 document of the API, built from the operation table.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::response::ResponseBuilder;
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{
        ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, Paths, Ref, RefOr,
        Required, SecurityRequirement,
    };

    let mut docs = Vec::new();
    document(&mut docs);
    let mut components = ComponentsBuilder::new().security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    fn add(s: &SchemaOf, components: ComponentsBuilder) -> ComponentsBuilder {
        let mut c = components.schema(s.name.clone(), s.schema.clone());
        for (name, schema) in &s.nested {
            c = c.schema(name.clone(), schema.clone());
        }
        c
    }
    let error_schema = schema_of::<ErrorBody>();
    components = add(&error_schema, components);
    let json_of = |name: &str| {
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(Ref::from_schema_name(name))))
            .build()
    };
    let mut paths = Paths::new();
    for doc in &docs {
        components = add(&doc.request, components);
        components = add(&doc.response, components);
        let mut op = OperationBuilder::new()
            .operation_id(Some(doc.info.name))
            .summary(Some(doc.info.summary.trim()))
            .description(Some(format!("Needs the `{}` role.", doc.info.role)))
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("The answer.")
                    .content("application/json", json_of(&doc.response.name)),
            );
        for (code, text) in [
            ("401", "No valid token."),
            (
                "403",
                "The token's role does not allow it, or a foreign Host or Origin.",
            ),
            ("404", "What the request names does not exist."),
            ("422", "The request is invalid."),
            ("502", "The engine or the vendor failed."),
        ] {
            op = op.response(
                code,
                ResponseBuilder::new()
                    .description(text)
                    .content("application/json", json_of(&error_schema.name)),
            );
        }
        match doc.info.method {
            Method::Get => {
                if let RefOr::T(Schema::Object(object)) = &doc.request.schema {
                    for (name, schema) in &object.properties {
                        let required = object.required.contains(name);
                        op = op.parameter(
                            ParameterBuilder::new()
                                .name(name.clone())
                                .parameter_in(ParameterIn::Query)
                                .required(if required {
                                    Required::True
                                } else {
                                    Required::False
                                })
                                .schema(Some(schema.clone())),
                        );
                    }
                }
            }
            Method::Post => {
                op = op.request_body(Some(
                    RequestBodyBuilder::new()
                        .required(Some(Required::True))
                        .content("application/json", json_of(&doc.request.name))
                        .build(),
                ));
            }
        }
        let method = match doc.info.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
        };
        let path = format!("/api/v1{}", doc.info.path);
        paths.add_path_operation(path, vec![method], op.build());
    }
    // The routes outside the operation table.
    for (path, id, summary, content_type, open) in [
        (
            "/healthz",
            "healthz",
            "Liveness: `ok` or `stopping`, and the version (no token).",
            "application/json",
            true,
        ),
        (
            "/metrics",
            "metrics",
            "Prometheus metrics (a token unless the daemon runs with --public-metrics).",
            "text/plain",
            false,
        ),
        (
            "/api/v1/openapi.json",
            "openapi",
            "This document.",
            "application/json",
            false,
        ),
    ] {
        let mut op = OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("The answer.")
                    .content(content_type, ContentBuilder::new().build()),
            );
        if !open {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
        }
        paths.add_path_operation(path, vec![HttpMethod::Get], op.build());
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("sam engine API")
                .version("1")
                .description(Some(
                    "The API of `sam daemon`: every operation of the engine. Every request needs a bearer token (`sam tokens create`); the daemon writes an admin token to `<db>.token` for the local CLI.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}
