//! Configuration of a simulator: the seeded organization ([`SimConfig`]), the Copilot
//! subscription's settings, the GitHub App, primary and secondary rate limits
//! ([`RateLimitConfig`], [`SecondaryLimitConfig`]), per-endpoint faults ([`FaultConfig`]) and
//! the list of served endpoints ([`Endpoint`]) with the classic scopes and fine-grained
//! permissions each one accepts (from the spec's descriptions and the reference notes §5).

use std::time::Duration;

use crate::clock::SimClock;

/// Copilot plan of the organization (`plan_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanType {
    /// Copilot Business.
    Business,
    /// Copilot Enterprise.
    Enterprise,
}

impl PlanType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanType::Business => "business",
            PlanType::Enterprise => "enterprise",
        }
    }
}

/// Everything that shapes one simulator. `Default` gives a 1 000-seat organization.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the generated organization, ids, tokens and the app key.
    pub seed: u64,
    /// Organization login (the `{org}` path segment; matched case-insensitively).
    pub org: String,
    /// Copilot seats at start (exact).
    pub seats: usize,
    /// Org members without a seat, on top of the seat holders; `None` = a quarter of `seats`.
    pub extra_members: Option<usize>,
    /// Number of teams (at least 2; about half of them have Copilot assigned).
    pub teams: usize,
    /// Share of seats granted through a team (the rest are assigned directly).
    pub team_seat_fraction: f64,
    /// Share of seats pending cancellation at start.
    pub pending_fraction: f64,
    /// Share of seats whose holder has been idle 90+ days (`last_activity_at` null).
    pub idle_fraction: f64,
    /// Share of seats whose holder never used Copilot (`last_activity_at` null).
    pub never_active_fraction: f64,
    /// Share of members that are suspended (they keep their seats, with no activity).
    pub suspended_fraction: f64,
    /// Users invited to the org (pending invitation) through a Copilot team.
    pub pending_invitations: usize,
    /// The plan (`business` / `enterprise`).
    pub plan_type: PlanType,
    /// `seat_management_setting`; writes need `assign_selected` (else 422).
    pub seat_management_setting: String,
    /// `public_code_suggestions`; writes need it configured (else 422).
    pub public_code_suggestions: String,
    /// Day of the month on which the billing cycle starts (1..=31).
    pub billing_cycle_day: u32,
    /// GitHub App id (the numeric `iss` of JWTs).
    pub app_id: u64,
    /// GitHub App client id (the recommended `iss`); `None` derives one from the seed.
    pub app_client_id: Option<String>,
    /// The app's RSA private key (PKCS#1 or PKCS#8 PEM); `None` generates a 2048-bit key
    /// from the seed (deterministic, cached per process).
    pub app_private_key_pem: Option<String>,
    /// Permissions the installation on the org was granted.
    pub installation_permissions: Vec<(String, String)>,
    /// Lifetime of installation tokens (GitHub: one hour).
    pub installation_token_ttl: Duration,
    /// Primary and secondary rate limits.
    pub rate_limit: RateLimitConfig,
    /// Every response is delayed by this much…
    pub latency: Duration,
    /// …plus a uniform random extra in `[0, jitter]`.
    pub jitter: Duration,
    /// The clock (real time by default).
    pub clock: SimClock,
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Whether to keep the per-call log (counters are always kept).
    pub log_calls: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            org: "sam-sim".to_string(),
            seats: 1000,
            extra_members: None,
            teams: 8,
            team_seat_fraction: 0.4,
            pending_fraction: 0.04,
            idle_fraction: 0.15,
            never_active_fraction: 0.08,
            suspended_fraction: 0.01,
            pending_invitations: 3,
            plan_type: PlanType::Business,
            seat_management_setting: "assign_selected".to_string(),
            public_code_suggestions: "block".to_string(),
            billing_cycle_day: 1,
            app_id: 424_242,
            app_client_id: None,
            app_private_key_pem: None,
            installation_permissions: vec![
                ("members".into(), "write".into()),
                (
                    "organization_copilot_seat_management".into(),
                    "write".into(),
                ),
                ("metadata".into(), "read".into()),
            ],
            installation_token_ttl: Duration::from_secs(3600),
            rate_limit: RateLimitConfig::default(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            clock: SimClock::real(),
            port: 0,
            log_calls: true,
        }
    }
}

/// How a rate-limited request is answered (GitHub uses both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitStatus {
    /// 403 Forbidden.
    Forbidden,
    /// 429 Too Many Requests.
    TooMany,
}

impl LimitStatus {
    pub(crate) fn code(self) -> u16 {
        match self {
            LimitStatus::Forbidden => 403,
            LimitStatus::TooMany => 429,
        }
    }
}

/// Primary (hourly, per token owner) and secondary (anti-abuse) limits.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Requests per hour for a user's tokens (classic and fine-grained share the user's
    /// bucket); `None` = no primary limit (the headers still report 5 000).
    pub user_per_hour: Option<u64>,
    /// Requests per hour for an installation token; `None` = no primary limit.
    pub installation_per_hour: Option<u64>,
    /// Requests per hour without a token (per client, here one bucket).
    pub unauthenticated_per_hour: Option<u64>,
    /// Status of a primary-limit refusal.
    pub primary_status: LimitStatus,
    /// Secondary limits; `None` = off.
    pub secondary: Option<SecondaryLimitConfig>,
}

impl RateLimitConfig {
    /// No limit of any kind.
    pub fn unlimited() -> Self {
        Self {
            user_per_hour: None,
            installation_per_hour: None,
            unauthenticated_per_hour: None,
            primary_status: LimitStatus::Forbidden,
            secondary: None,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            user_per_hour: Some(5000),
            installation_per_hour: Some(5000),
            unauthenticated_per_hour: Some(60),
            primary_status: LimitStatus::Forbidden,
            secondary: Some(SecondaryLimitConfig::default()),
        }
    }
}

/// GitHub's documented secondary limits (reference notes §10.2).
#[derive(Clone, Debug, PartialEq)]
pub struct SecondaryLimitConfig {
    /// Requests in flight at once (GitHub: 100).
    pub max_concurrent: u32,
    /// Points per minute per endpoint, GET = 1, writes = 5 (GitHub: 900).
    pub points_per_minute_per_endpoint: u32,
    /// Writes (POST/PUT/PATCH/DELETE) per minute (GitHub: 80 content-creating requests).
    pub writes_per_minute: u32,
    /// Status of a secondary-limit refusal.
    pub status: LimitStatus,
    /// `retry-after` seconds sent; `None` = no `retry-after` (the client waits a minute).
    pub retry_after_secs: Option<u64>,
}

impl Default for SecondaryLimitConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 100,
            points_per_minute_per_endpoint: 900,
            writes_per_minute: 80,
            status: LimitStatus::Forbidden,
            retry_after_secs: Some(60),
        }
    }
}

/// Faults injected on one endpoint. Rates are probabilities in `[0, 1]`, drawn from a
/// generator seeded from the config seed (a run is repeatable).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Share of requests answered with `error_status` instead of being served.
    pub error_rate: f64,
    /// The 5xx status used by `error_rate` (500 when 0).
    pub error_status: u16,
    /// Latency added before answering.
    pub latency: Duration,
    /// Share of successful responses whose JSON is made invalid.
    pub malformed_json_rate: f64,
    /// Share of responses whose connection is dropped after half the body.
    pub drop_connection_rate: f64,
    /// The next `secondary_storm` requests get the secondary-limit answer.
    pub secondary_storm: u32,
}

/// Every endpoint the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `GET /orgs/{org}/copilot/billing`
    CopilotBilling,
    /// `GET /orgs/{org}/copilot/billing/seats`
    ListSeats,
    /// `POST /orgs/{org}/copilot/billing/selected_users`
    AddSelectedUsers,
    /// `DELETE /orgs/{org}/copilot/billing/selected_users`
    RemoveSelectedUsers,
    /// `POST /orgs/{org}/copilot/billing/selected_teams`
    AddSelectedTeams,
    /// `DELETE /orgs/{org}/copilot/billing/selected_teams`
    RemoveSelectedTeams,
    /// `GET /orgs/{org}/members/{username}/copilot`
    MemberCopilot,
    /// `GET /orgs/{org}/members`
    ListMembers,
    /// `GET /orgs/{org}/teams`
    ListTeams,
    /// `GET /orgs/{org}/teams/{team_slug}/members`
    ListTeamMembers,
    /// `PUT /orgs/{org}/teams/{team_slug}/memberships/{username}`
    PutTeamMembership,
    /// `DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}`
    DeleteTeamMembership,
    /// `GET /rate_limit`
    RateLimit,
    /// `GET /app/installations`
    ListInstallations,
    /// `GET /orgs/{org}/installation`
    OrgInstallation,
    /// `POST /app/installations/{installation_id}/access_tokens`
    CreateInstallationToken,
}

/// Who may call an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Any token, or none.
    Anyone,
    /// A GitHub App JWT only.
    AppJwt,
    /// A user or installation token holding one scope / permission of the lists, and (for
    /// user tokens) an org owner when `owner` is set.
    Token {
        scopes: &'static [&'static str],
        permissions: &'static [(&'static str, &'static str)],
        owner: bool,
    },
}

const SEAT_READ: Access = Access::Token {
    scopes: &["manage_billing:copilot", "read:org"],
    permissions: &[
        ("organization_copilot_seat_management", "read"),
        ("organization_administration", "read"),
    ],
    owner: true,
};
const SEAT_WRITE: Access = Access::Token {
    scopes: &["manage_billing:copilot", "admin:org"],
    permissions: &[
        ("organization_copilot_seat_management", "write"),
        ("organization_administration", "write"),
    ],
    owner: true,
};
const MEMBERS_READ: Access = Access::Token {
    scopes: &["read:org"],
    permissions: &[("members", "read")],
    owner: false,
};
const MEMBERS_WRITE: Access = Access::Token {
    scopes: &["admin:org", "write:org"],
    permissions: &[("members", "write")],
    owner: true,
};

impl Endpoint {
    /// All endpoints.
    pub const ALL: [Endpoint; 16] = [
        Endpoint::CopilotBilling,
        Endpoint::ListSeats,
        Endpoint::AddSelectedUsers,
        Endpoint::RemoveSelectedUsers,
        Endpoint::AddSelectedTeams,
        Endpoint::RemoveSelectedTeams,
        Endpoint::MemberCopilot,
        Endpoint::ListMembers,
        Endpoint::ListTeams,
        Endpoint::ListTeamMembers,
        Endpoint::PutTeamMembership,
        Endpoint::DeleteTeamMembership,
        Endpoint::RateLimit,
        Endpoint::ListInstallations,
        Endpoint::OrgInstallation,
        Endpoint::CreateInstallationToken,
    ];

    /// `METHOD path-template`, as in the spec.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::CopilotBilling => "GET /orgs/{org}/copilot/billing",
            Endpoint::ListSeats => "GET /orgs/{org}/copilot/billing/seats",
            Endpoint::AddSelectedUsers => "POST /orgs/{org}/copilot/billing/selected_users",
            Endpoint::RemoveSelectedUsers => "DELETE /orgs/{org}/copilot/billing/selected_users",
            Endpoint::AddSelectedTeams => "POST /orgs/{org}/copilot/billing/selected_teams",
            Endpoint::RemoveSelectedTeams => "DELETE /orgs/{org}/copilot/billing/selected_teams",
            Endpoint::MemberCopilot => "GET /orgs/{org}/members/{username}/copilot",
            Endpoint::ListMembers => "GET /orgs/{org}/members",
            Endpoint::ListTeams => "GET /orgs/{org}/teams",
            Endpoint::ListTeamMembers => "GET /orgs/{org}/teams/{team_slug}/members",
            Endpoint::PutTeamMembership => {
                "PUT /orgs/{org}/teams/{team_slug}/memberships/{username}"
            }
            Endpoint::DeleteTeamMembership => {
                "DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}"
            }
            Endpoint::RateLimit => "GET /rate_limit",
            Endpoint::ListInstallations => "GET /app/installations",
            Endpoint::OrgInstallation => "GET /orgs/{org}/installation",
            Endpoint::CreateInstallationToken => {
                "POST /app/installations/{installation_id}/access_tokens"
            }
        }
    }

    /// Matches a method and axum route template.
    pub(crate) fn from_route(method: &str, route: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| {
            let (m, p) = e.name().split_once(' ').unwrap_or(("", ""));
            m == method && p == route
        })
    }

    pub(crate) fn access(self) -> Access {
        match self {
            Endpoint::CopilotBilling | Endpoint::ListSeats | Endpoint::MemberCopilot => SEAT_READ,
            Endpoint::AddSelectedUsers
            | Endpoint::RemoveSelectedUsers
            | Endpoint::AddSelectedTeams
            | Endpoint::RemoveSelectedTeams => SEAT_WRITE,
            Endpoint::ListMembers | Endpoint::ListTeams | Endpoint::ListTeamMembers => MEMBERS_READ,
            Endpoint::PutTeamMembership | Endpoint::DeleteTeamMembership => MEMBERS_WRITE,
            Endpoint::RateLimit => Access::Anyone,
            Endpoint::ListInstallations
            | Endpoint::OrgInstallation
            | Endpoint::CreateInstallationToken => Access::AppJwt,
        }
    }

    /// Whether the endpoint writes (5 secondary-limit points, counts as a write).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Endpoint::AddSelectedUsers
                | Endpoint::RemoveSelectedUsers
                | Endpoint::AddSelectedTeams
                | Endpoint::RemoveSelectedTeams
                | Endpoint::PutTeamMembership
                | Endpoint::DeleteTeamMembership
                | Endpoint::CreateInstallationToken
        )
    }
}

/// The classic scopes a scope implies (GitHub's scope hierarchy for the org scopes).
pub(crate) fn scope_implies(held: &str, wanted: &str) -> bool {
    held == wanted
        || matches!(
            (held, wanted),
            ("admin:org", "write:org" | "read:org") | ("write:org", "read:org")
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        for e in Endpoint::ALL {
            let (m, p) = e.name().split_once(' ').unwrap();
            assert_eq!(Endpoint::from_route(m, p), Some(e));
        }
        assert_eq!(Endpoint::from_route("PATCH", "/rate_limit"), None);
        assert!(scope_implies("admin:org", "read:org"));
        assert!(!scope_implies("read:org", "admin:org"));
    }
}
