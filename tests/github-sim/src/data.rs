//! The organization's state and its rules: members (owners, suspended members, pending
//! invitations), teams and their members, Copilot seats (assigned directly through
//! `selected_users`, or through a team that has Copilot), pending cancellations that end at
//! the next billing-cycle start, and each user's Copilot activity. Generation from a seed is
//! deterministic and linear in the number of seats (100 000 seats in well under a second);
//! the state is compact (no per-seat JSON is kept, responses are rendered per page).

use std::collections::{BTreeSet, HashMap};

use crate::clock::{MS_PER_DAY, billing_cycle, day_of};
use crate::config::SimConfig;
use crate::rng::SplitMix64;

/// Whether someone is in the org yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// A member.
    Active,
    /// Invited (through a team membership), not yet a member.
    Invited,
}

/// A seat's own facts (the assigning team is derived from the teams).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seat {
    pub created_ms: i64,
    /// Day number of `pending_cancellation_date`.
    pub pending_day: Option<i64>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub login: Box<str>,
    pub id: u64,
    pub state: MemberState,
    pub owner: bool,
    pub suspended: bool,
    /// Active team memberships (team indices, ascending).
    pub teams: Vec<u16>,
    /// Assigned through `selected_users`.
    pub direct: bool,
    pub seat: Option<Seat>,
    /// Ground truth: the latest Copilot activity (kept past 90 days; rendered null then).
    pub last_activity_ms: Option<i64>,
    pub editor: u8,
    pub last_auth_ms: Option<i64>,
}

#[derive(Clone, Debug)]
pub(crate) struct Team {
    pub id: u64,
    pub name: String,
    pub slug: String,
    pub description: String,
    /// Copilot assigned to the team (`selected_teams`).
    pub copilot: bool,
    /// Active members.
    pub members: BTreeSet<u32>,
    /// Invited (pending) members.
    pub pending: BTreeSet<u32>,
    pub maintainers: BTreeSet<u32>,
}

/// Editors reported in `last_activity_editor`.
pub(crate) const EDITORS: [&str; 5] = [
    "vscode/1.98.2/copilot-chat/0.26.1",
    "vscode/1.77.3/copilot/1.86.82",
    "JetBrains-IC/2024.3/copilot-intellij/1.5.30",
    "copilot-cli/1.0.4",
    "github.com/copilot-chat",
];

const FIRST: [&str; 16] = [
    "ada", "alan", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "edsger",
    "radia", "donald", "hedy", "john", "karen", "tim",
];
const LAST: [&str; 12] = [
    "lovelace", "turing", "hopper", "torvalds", "hamilton", "thompson", "liskov", "ritchie",
    "allen", "dijkstra", "perlman", "knuth",
];
const TEAMS: [&str; 10] = [
    "Platform",
    "Data Science",
    "Mobile",
    "Web",
    "Security",
    "Infrastructure",
    "Design",
    "Support",
    "Research",
    "Finance",
];

/// What a write did, for the response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// 422 with a message.
    Unprocessable(String),
}

pub(crate) struct Org {
    pub login: String,
    pub id: u64,
    pub users: Vec<User>,
    by_login: HashMap<Box<str>, u32>,
    pub teams: Vec<Team>,
    pub plan_type: &'static str,
    pub seat_management_setting: String,
    pub public_code_suggestions: String,
    pub cycle_day: u32,
    /// Seat holders in id order; rebuilt after writes.
    seated_cache: Option<Vec<u32>>,
    /// Earliest pending-cancellation day (for a cheap sweep check).
    earliest_pending: Option<i64>,
}

impl Org {
    pub(crate) fn generate(cfg: &SimConfig, now_ms: i64) -> Org {
        let mut rng = SplitMix64::derive(cfg.seed, 1);
        let seats = cfg.seats;
        let members = seats + cfg.extra_members.unwrap_or(seats / 4) + 2;
        let n_teams = cfg.teams.clamp(2, u16::MAX as usize);
        let (_, next_cycle) = billing_cycle(now_ms, cfg.billing_cycle_day);
        let mut teams: Vec<Team> = (0..n_teams)
            .map(|i| {
                let name = if i < TEAMS.len() {
                    TEAMS[i].to_string()
                } else {
                    format!("Team {i}")
                };
                Team {
                    id: 100_000 + (i as u64) * 17 + rng.below(17),
                    slug: name.to_lowercase().replace(' ', "-"),
                    description: format!("The {name} team."),
                    name,
                    copilot: i % 2 == 0,
                    members: BTreeSet::new(),
                    pending: BTreeSet::new(),
                    maintainers: BTreeSet::new(),
                }
            })
            .collect();
        let copilot_teams: Vec<u16> = (0..n_teams as u16).filter(|t| t % 2 == 0).collect();
        let plain_teams: Vec<u16> = (0..n_teams as u16).filter(|t| t % 2 == 1).collect();
        let mut users = Vec::with_capacity(members + cfg.pending_invitations);
        let mut id = 1_000_000u64;
        let mut need = seats;
        for idx in 0..members + cfg.pending_invitations {
            id += 1 + rng.below(12);
            let invited = idx >= members;
            let login: Box<str> = if idx == 0 {
                format!("{}-admin", cfg.org).into()
            } else {
                format!(
                    "{}-{}-{}",
                    FIRST[rng.below(FIRST.len() as u64) as usize],
                    LAST[rng.below(LAST.len() as u64) as usize],
                    idx
                )
                .into()
            };
            let mut u = User {
                login,
                id,
                state: if invited {
                    MemberState::Invited
                } else {
                    MemberState::Active
                },
                owner: idx < 2,
                suspended: false,
                teams: Vec::new(),
                direct: false,
                seat: None,
                last_activity_ms: None,
                editor: rng.below(EDITORS.len() as u64) as u8,
                last_auth_ms: None,
            };
            if invited {
                let t = copilot_teams[rng.below(copilot_teams.len() as u64) as usize];
                teams[t as usize].pending.insert(idx as u32);
                users.push(u);
                continue;
            }
            // Selection sampling: exactly `seats` holders among the members.
            let left = (members - idx) as u64;
            let holder = (rng.below(left) as usize) < need;
            u.suspended = idx >= 2 && rng.chance(cfg.suspended_fraction);
            if holder {
                need -= 1;
                if rng.chance(cfg.team_seat_fraction) {
                    let t = copilot_teams[rng.below(copilot_teams.len() as u64) as usize];
                    u.teams.push(t);
                    // A few hold the seat both ways (a per-user cancel then gives 422).
                    u.direct = rng.chance(0.05);
                } else {
                    u.direct = true;
                }
                if rng.chance(0.3) {
                    u.teams
                        .push(plain_teams[rng.below(plain_teams.len() as u64) as usize]);
                }
                let created = now_ms - (1 + rng.below(700) as i64) * MS_PER_DAY;
                let r = rng.unit();
                let activity = if u.suspended || r < cfg.never_active_fraction {
                    None
                } else if r < cfg.never_active_fraction + cfg.idle_fraction {
                    Some(
                        now_ms
                            - (90 + rng.below(300) as i64) * MS_PER_DAY
                            - rng.below(86_400_000) as i64,
                    )
                } else if rng.chance(0.2) {
                    Some(now_ms - (30 + rng.below(60) as i64) * MS_PER_DAY)
                } else {
                    Some(now_ms - rng.below(30 * 86_400_000) as i64)
                };
                u.last_activity_ms = activity;
                u.last_auth_ms = activity.map(|a| a - rng.below(3_600_000) as i64);
                let created = match activity {
                    Some(a) if a < created => a - MS_PER_DAY,
                    _ => created,
                };
                let mut seat = Seat {
                    created_ms: created,
                    pending_day: None,
                };
                if rng.chance(cfg.pending_fraction) {
                    // Cancelled this cycle: directly, or by leaving the granting team.
                    u.direct = false;
                    u.teams.retain(|t| !teams[*t as usize].copilot);
                    seat.pending_day = Some(next_cycle);
                }
                u.seat = Some(seat);
            } else if rng.chance(0.4) {
                u.teams
                    .push(plain_teams[rng.below(plain_teams.len() as u64) as usize]);
            }
            u.teams.sort_unstable();
            u.teams.dedup();
            for t in &u.teams {
                teams[*t as usize].members.insert(idx as u32);
            }
            users.push(u);
        }
        for t in &mut teams {
            if let Some(first) = t.members.iter().next().copied() {
                t.maintainers.insert(first);
            }
        }
        let by_login = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.login.to_ascii_lowercase().into_boxed_str(), i as u32))
            .collect();
        let mut org = Org {
            login: cfg.org.clone(),
            id: 9_000_000 + SplitMix64::derive(cfg.seed, 2).below(1_000_000),
            users,
            by_login,
            teams,
            plan_type: cfg.plan_type.as_str(),
            seat_management_setting: cfg.seat_management_setting.clone(),
            public_code_suggestions: cfg.public_code_suggestions.clone(),
            cycle_day: cfg.billing_cycle_day,
            seated_cache: None,
            earliest_pending: None,
        };
        org.recompute_pending();
        org
    }

    fn recompute_pending(&mut self) {
        self.earliest_pending = self
            .users
            .iter()
            .filter_map(|u| u.seat.and_then(|s| s.pending_day))
            .min();
    }

    /// A user index by login (case-insensitive).
    pub(crate) fn user(&self, login: &str) -> Option<u32> {
        self.by_login
            .get(login.to_ascii_lowercase().as_str())
            .copied()
    }

    /// A team index by slug or name (case-insensitive).
    pub(crate) fn team(&self, slug_or_name: &str) -> Option<u16> {
        self.teams
            .iter()
            .position(|t| {
                t.slug.eq_ignore_ascii_case(slug_or_name)
                    || t.name.eq_ignore_ascii_case(slug_or_name)
            })
            .map(|i| i as u16)
    }

    /// The Copilot team that grants this user's seat (lowest team index), if any.
    pub(crate) fn assigning_team(&self, u: u32) -> Option<u16> {
        self.users[u as usize]
            .teams
            .iter()
            .copied()
            .find(|t| self.teams[*t as usize].copilot)
    }

    fn covered(&self, u: u32) -> bool {
        self.users[u as usize].direct || self.assigning_team(u).is_some()
    }

    /// Removes the seats whose cancellation date has come. Cheap when nothing is due.
    pub(crate) fn settle(&mut self, now_ms: i64) {
        let today = day_of(now_ms);
        if self.earliest_pending.is_none_or(|d| d > today) {
            return;
        }
        for u in &mut self.users {
            if u.seat
                .and_then(|s| s.pending_day)
                .is_some_and(|d| d <= today)
            {
                u.seat = None;
            }
        }
        self.seated_cache = None;
        self.recompute_pending();
    }

    /// Whether settle has work to do (checked under a read lock first).
    pub(crate) fn needs_settle(&self, now_ms: i64) -> bool {
        self.earliest_pending.is_some_and(|d| d <= day_of(now_ms))
    }

    /// Seat holders in id order.
    pub(crate) fn seated(&mut self) -> &[u32] {
        if self.seated_cache.is_none() {
            let v = (0..self.users.len() as u32)
                .filter(|&u| self.users[u as usize].seat.is_some())
                .collect();
            self.seated_cache = Some(v);
        }
        self.seated_cache.as_deref().unwrap_or(&[])
    }

    /// Seat holders in id order, if the cache is fresh (read-lock path).
    pub(crate) fn seated_if_cached(&self) -> Option<&[u32]> {
        self.seated_cache.as_deref()
    }

    fn next_cycle_day(&self, now_ms: i64) -> i64 {
        billing_cycle(now_ms, self.cycle_day).1
    }

    /// Gives the user a seat, or clears its pending cancellation.
    fn grant(&mut self, u: u32, now_ms: i64) {
        let user = &mut self.users[u as usize];
        match &mut user.seat {
            Some(s) => s.pending_day = None,
            None => {
                user.seat = Some(Seat {
                    created_ms: now_ms,
                    pending_day: None,
                });
                self.seated_cache = None;
            }
        }
    }

    /// Marks the seat pending cancellation if nothing covers it any more.
    fn uncover(&mut self, u: u32, now_ms: i64) -> bool {
        if self.covered(u) {
            return false;
        }
        let next = self.next_cycle_day(now_ms);
        match &mut self.users[u as usize].seat {
            Some(s) if s.pending_day.is_none() => {
                s.pending_day = Some(next);
                self.earliest_pending = Some(self.earliest_pending.map_or(next, |d| d.min(next)));
                true
            }
            _ => false,
        }
    }

    fn writable(&self) -> Result<(), WriteError> {
        if self.seat_management_setting != "assign_selected" {
            return Err(WriteError::Unprocessable(format!(
                "Copilot seat management is set to '{}' for this organization; seats can only be assigned or cancelled when it is 'assign_selected'.",
                self.seat_management_setting
            )));
        }
        if self.public_code_suggestions == "unconfigured" {
            return Err(WriteError::Unprocessable(
                "A public code suggestions policy has not been set for this organization."
                    .to_string(),
            ));
        }
        Ok(())
    }

    fn members_of(&self, logins: &[String]) -> Result<Vec<u32>, WriteError> {
        let mut out = Vec::with_capacity(logins.len());
        for l in logins {
            match self.user(l) {
                Some(u) if self.users[u as usize].state == MemberState::Active => out.push(u),
                _ => {
                    return Err(WriteError::Unprocessable(format!(
                        "'{l}' is not a member of the {} organization.",
                        self.login
                    )));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn teams_of(&self, names: &[String]) -> Result<Vec<u16>, WriteError> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match self.team(n) {
                Some(t) => out.push(t),
                None => {
                    return Err(WriteError::Unprocessable(format!(
                        "Team '{n}' does not exist in the {} organization.",
                        self.login
                    )));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// `POST selected_users`: seats created or refreshed.
    pub(crate) fn add_users(&mut self, logins: &[String], now_ms: i64) -> Result<u64, WriteError> {
        self.writable()?;
        let users = self.members_of(logins)?;
        for &u in &users {
            self.users[u as usize].direct = true;
            self.grant(u, now_ms);
        }
        Ok(users.len() as u64)
    }

    /// `DELETE selected_users`: all or nothing; 422 when a seat comes from a team.
    pub(crate) fn remove_users(
        &mut self,
        logins: &[String],
        now_ms: i64,
    ) -> Result<u64, WriteError> {
        self.writable()?;
        let users = self.members_of(logins)?;
        for &u in &users {
            if let Some(t) = self.assigning_team(u) {
                return Err(WriteError::Unprocessable(format!(
                    "The seat for '{}' cannot be cancelled because it was assigned to them via a team ('{}'). Remove them from the team instead.",
                    self.users[u as usize].login, self.teams[t as usize].slug
                )));
            }
        }
        let mut n = 0;
        for &u in &users {
            self.users[u as usize].direct = false;
            if self.uncover(u, now_ms) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// `POST selected_teams`: seats created or refreshed for every member.
    pub(crate) fn add_teams(&mut self, names: &[String], now_ms: i64) -> Result<u64, WriteError> {
        self.writable()?;
        let teams = self.teams_of(names)?;
        let mut members = BTreeSet::new();
        for &t in &teams {
            self.teams[t as usize].copilot = true;
            members.extend(self.teams[t as usize].members.iter().copied());
        }
        for &u in &members {
            self.grant(u, now_ms);
        }
        Ok(members.len() as u64)
    }

    /// `DELETE selected_teams`: members not covered otherwise go pending.
    pub(crate) fn remove_teams(
        &mut self,
        names: &[String],
        now_ms: i64,
    ) -> Result<u64, WriteError> {
        self.writable()?;
        let teams = self.teams_of(names)?;
        let mut members = BTreeSet::new();
        for &t in &teams {
            self.teams[t as usize].copilot = false;
            members.extend(self.teams[t as usize].members.iter().copied());
        }
        let mut n = 0;
        for &u in &members {
            if self.uncover(u, now_ms) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// `PUT …/memberships/{username}`: (state, role).
    pub(crate) fn put_membership(
        &mut self,
        team: u16,
        u: u32,
        maintainer: bool,
        now_ms: i64,
    ) -> (&'static str, &'static str) {
        let role = if maintainer { "maintainer" } else { "member" };
        let t = &mut self.teams[team as usize];
        if maintainer {
            t.maintainers.insert(u);
        } else {
            t.maintainers.remove(&u);
        }
        if self.users[u as usize].state == MemberState::Invited {
            t.pending.insert(u);
            return ("pending", role);
        }
        t.members.insert(u);
        let copilot = t.copilot;
        let user = &mut self.users[u as usize];
        if let Err(pos) = user.teams.binary_search(&team) {
            user.teams.insert(pos, team);
        }
        if copilot {
            self.grant(u, now_ms);
        }
        ("active", role)
    }

    /// `DELETE …/memberships/{username}`: false when not a member of the team.
    pub(crate) fn delete_membership(&mut self, team: u16, u: u32, now_ms: i64) -> bool {
        let t = &mut self.teams[team as usize];
        let was = t.members.remove(&u) | t.pending.remove(&u);
        t.maintainers.remove(&u);
        self.users[u as usize].teams.retain(|x| *x != team);
        self.uncover(u, now_ms);
        was
    }

    /// Records Copilot activity for a user now (inspection API).
    pub(crate) fn record_activity(&mut self, u: u32, editor: u8, at_ms: i64) {
        let user = &mut self.users[u as usize];
        user.last_activity_ms = Some(at_ms);
        user.last_auth_ms = Some(at_ms);
        user.editor = editor;
    }

    /// `(total, added_this_cycle, pending_cancellation, pending_invitation, active_this_cycle)`.
    pub(crate) fn breakdown(&self, now_ms: i64) -> [u64; 5] {
        let (start, _) = billing_cycle(now_ms, self.cycle_day);
        let start_ms = start * MS_PER_DAY;
        let mut b = [0u64; 5];
        for u in &self.users {
            if let Some(s) = u.seat {
                b[0] += 1;
                if s.created_ms >= start_ms {
                    b[1] += 1;
                }
                if s.pending_day.is_some() {
                    b[2] += 1;
                }
                if u.last_activity_ms.is_some_and(|a| a >= start_ms) {
                    b[4] += 1;
                }
            }
        }
        b[3] = self
            .teams
            .iter()
            .filter(|t| t.copilot)
            .flat_map(|t| t.pending.iter())
            .collect::<BTreeSet<_>>()
            .len() as u64;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::date_string;

    const T0: i64 = 1_749_988_800_000; // 2025-06-15T12:00:00Z

    fn org(seats: usize) -> Org {
        let cfg = SimConfig {
            seats,
            ..SimConfig::default()
        };
        Org::generate(&cfg, T0)
    }

    #[test]
    fn exact_seats_and_deterministic() {
        let mut a = org(1000);
        assert_eq!(a.seated().len(), 1000);
        let b = org(1000);
        assert!(
            a.users
                .iter()
                .zip(&b.users)
                .all(|(x, y)| x.login == y.login && x.seat == y.seat && x.teams == y.teams)
        );
        let seated = a.seated().to_vec();
        let team = seated
            .iter()
            .filter(|&&u| a.assigning_team(u).is_some())
            .count();
        let pending = a
            .users
            .iter()
            .filter(|u| u.seat.is_some_and(|s| s.pending_day.is_some()))
            .count();
        let suspended = a
            .users
            .iter()
            .filter(|u| u.suspended && u.seat.is_some())
            .count();
        assert!(team > 250 && team < 550, "{team}");
        assert!(pending > 10 && pending < 100, "{pending}");
        assert!(suspended > 0);
        // Logins are unique (case-insensitively).
        assert_eq!(a.by_login.len(), a.users.len());
    }

    #[test]
    fn edge_sizes_generate() {
        let mut o = Org::generate(
            &SimConfig {
                seats: 0,
                teams: 2,
                extra_members: Some(0),
                ..SimConfig::default()
            },
            T0,
        );
        assert!(o.seated().is_empty());
        assert_eq!(o.users.iter().filter(|u| u.owner).count(), 2);
        let mut o = org(1);
        assert_eq!(o.seated().len(), 1);
    }

    #[test]
    fn cancel_direct_then_sweep_at_cycle_start() {
        let mut o = org(200);
        let seated = o.seated().to_vec();
        let u = *seated
            .iter()
            .find(|&&u| {
                let x = &o.users[u as usize];
                x.direct && x.teams.is_empty() && x.seat.unwrap().pending_day.is_none()
            })
            .unwrap();
        let login = o.users[u as usize].login.to_string();
        assert_eq!(o.remove_users(std::slice::from_ref(&login), T0), Ok(1));
        let day = o.users[u as usize].seat.unwrap().pending_day.unwrap();
        assert_eq!(date_string(day), "2025-07-01");
        // Still a seat the day before, gone on the day.
        o.settle(day * MS_PER_DAY - 1);
        assert!(o.users[u as usize].seat.is_some());
        o.settle(day * MS_PER_DAY);
        assert!(o.users[u as usize].seat.is_none());
    }

    #[test]
    fn team_seat_cannot_be_cancelled_per_user_and_nothing_changes() {
        let mut o = org(300);
        let seated = o.seated().to_vec();
        let via_team = *seated
            .iter()
            .find(|&&u| o.assigning_team(u).is_some())
            .unwrap();
        let direct = *seated
            .iter()
            .find(|&&u| {
                let x = &o.users[u as usize];
                x.direct && o.assigning_team(u).is_none() && x.seat.unwrap().pending_day.is_none()
            })
            .unwrap();
        let names = vec![
            o.users[direct as usize].login.to_string(),
            o.users[via_team as usize].login.to_string(),
        ];
        assert!(matches!(
            o.remove_users(&names, T0),
            Err(WriteError::Unprocessable(_))
        ));
        // All or nothing: the direct seat in the same batch is untouched.
        assert!(o.users[direct as usize].direct);
        assert!(o.users[direct as usize].seat.unwrap().pending_day.is_none());
        // Removing the user from the granting team(s) makes the seat pending (unless direct).
        let t = o.assigning_team(via_team).unwrap();
        o.delete_membership(t, via_team, T0);
        let still = o.assigning_team(via_team).is_some() || o.users[via_team as usize].direct;
        assert_eq!(
            o.users[via_team as usize]
                .seat
                .unwrap()
                .pending_day
                .is_some(),
            !still
        );
        // Putting them back clears it.
        o.put_membership(t, via_team, false, T0);
        assert!(
            o.users[via_team as usize]
                .seat
                .unwrap()
                .pending_day
                .is_none()
        );
    }
}
