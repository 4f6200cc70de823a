//! GitHub Copilot spoke for sam: a WebAssembly component (wasm32-wasip2) implementing the
//! `sam:spoke@0.2.0` contract against GitHub's REST API (Copilot billing and seats, teams),
//! reached through the engine's `http` import at `https://api.github.com`.
//!
//! - download: the organization's seats, 100 per page, following `Link` `rel="next"`; one
//!   subscription per seat, the plan type as identifier (`copilot-business`,
//!   `copilot-enterprise`), `granted-by` the assigning team's slug, the pending cancellation
//!   date, and the seat's `last_activity_at` (and editor) as its activity, so activity costs
//!   no extra call (the manifest says `activity-from-download`); a null is `none-or-never`.
//!   A profile may select teams (optional): then only the seats those teams grant.
//! - reclaim: a direct seat is cancelled through `DELETE selected_users`; a team-granted seat
//!   (GitHub answers 422 to a per-user cancel) by removing the user from the assigning team;
//!   restore undoes exactly that (`POST selected_users`, `PUT` the membership).
//! - vendor seat counts from `GET /orgs/{org}/copilot/billing`'s seat breakdown.
//!
//! Built on the `sam-spoke` SDK (HTTP, error table, `Link` paging, timestamps, the export
//! macro). [`wire`] holds the wire format and GitHub's reading of errors (host unit tests);
//! `glue` (wasm only) the exports.

pub mod wire;

#[cfg(target_arch = "wasm32")]
mod glue;
