//! The simulated site's state: users, groups and memberships (the mutable
//! [`Directory`]) and the content items searched by CQL (the immutable [`ContentStore`]),
//! both generated deterministically from the seed and sizes in [`SimConfig`]. Storage is
//! compact (vectors of small records, sorted index vectors and CSR adjacency lists) so that
//! 100 000 users and their content build in about a second with memory proportional to
//! the data.

use crate::clock::MS_PER_DAY;
use crate::config::SimConfig;
use crate::rng::SplitMix64;

/// What kind of account a user is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKind {
    /// A licensed human user (`accountType: "atlassian"`).
    Human,
    /// A bot created on behalf of an app (`accountType: "app"`).
    App,
    /// A guest / external collaborator (`accountType: "atlassian"`, `isGuest: true`).
    Guest,
}

/// One user account.
#[derive(Clone, Debug)]
pub(crate) struct UserRec {
    pub account_id: Box<str>,
    pub display_name: Box<str>,
    /// Empty when hidden by the user's privacy settings (and for bots).
    pub email: Box<str>,
    pub kind: UserKind,
    pub tz: u8,
    /// Suspended or deactivated: still a group member, but left out of member listings.
    pub suspended: bool,
}

/// A group's permission level, as filtered by `GET /group?accessType=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessType {
    /// Grants product access (`user`).
    User,
    /// Confluence administrators (`admin`).
    Admin,
    /// Site administrators (`site-admin`); members may manage group membership.
    SiteAdmin,
}

impl AccessType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            "site-admin" => Some(Self::SiteAdmin),
            _ => None,
        }
    }
}

/// One group and its members (user indices, sorted ascending).
#[derive(Clone, Debug)]
pub(crate) struct GroupRec {
    pub id: String,
    pub name: String,
    pub access: Option<AccessType>,
    pub members: Vec<u32>,
}

/// Users, groups and memberships. Groups are kept sorted by name, as the API lists them.
#[derive(Debug)]
pub(crate) struct Directory {
    pub users: Vec<UserRec>,
    /// User indices sorted by account id, for lookups without a second copy of the ids.
    by_account: Vec<u32>,
    pub groups: Vec<GroupRec>,
}

pub(crate) const TIME_ZONES: &[&str] = &[
    "Europe/Paris",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/Berlin",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "UTC",
];

const FIRST: &[&str] = &[
    "Alice", "Bruno", "Chloe", "Dmitri", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kenji", "Lea", "Mateo", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samir", "Tara", "Ulla",
    "Victor", "Wen", "Xavier", "Yara", "Zoe", "Amir", "Bianca", "Carlos", "Dana", "Elias",
    "Fatima", "Gabriel", "Hana", "Ivan", "Julia", "Karim", "Lina", "Marco", "Nora", "Olivier",
    "Paula", "Rafael", "Sofia", "Tomas", "Uma", "Vera", "William", "Yusuf", "Zara",
];
const LAST: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Smith", "Johnson", "Garcia", "Muller", "Rossi", "Tanaka",
    "Nguyen", "Kowalski", "Silva", "Ivanova", "Okafor", "Haddad", "Larsen", "Novak", "Costa",
    "Fischer", "Moreau", "Patel", "Kim", "Lopez", "Weber", "Schmidt", "Yilmaz", "Hansen", "Jensen",
    "Murphy", "Kelly", "Sato", "Chen", "Wang", "Singh", "Ali", "Khan", "Brown", "Taylor", "Wilson",
    "Lambert", "Fontaine", "Roux", "Blanc", "Girard", "Andre", "Mercier",
];
const BOTS: &[&str] = &[
    "Automation for Confluence",
    "Jira Cloud",
    "Slack",
    "Microsoft Teams for Confluence",
    "Zapier",
    "Confluence Analytics",
    "Draw.io",
    "Gliffy",
    "Scroll Viewport",
    "Comala Workflows",
];
const EXTRA_GROUPS: &[&str] = &[
    "engineering",
    "marketing",
    "sales",
    "support",
    "finance",
    "product",
    "design",
    "legal",
    "hr",
    "operations",
];

impl Directory {
    pub(crate) fn user_by_account(&self, account_id: &str) -> Option<u32> {
        self.by_account
            .binary_search_by(|&i| self.users[i as usize].account_id.as_ref().cmp(account_id))
            .ok()
            .map(|pos| self.by_account[pos])
    }

    pub(crate) fn group_by_id(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.id == id)
    }

    pub(crate) fn is_member(&self, group: usize, user: u32) -> bool {
        self.groups[group].members.binary_search(&user).is_ok()
    }

    /// Adds a member; false when already a member.
    pub(crate) fn add_member(&mut self, group: usize, user: u32) -> bool {
        let m = &mut self.groups[group].members;
        match m.binary_search(&user) {
            Ok(_) => false,
            Err(pos) => {
                m.insert(pos, user);
                true
            }
        }
    }

    /// Removes a member; false when not a member.
    pub(crate) fn remove_member(&mut self, group: usize, user: u32) -> bool {
        let m = &mut self.groups[group].members;
        match m.binary_search(&user) {
            Ok(pos) => {
                m.remove(pos);
                true
            }
            Err(_) => false,
        }
    }

    /// Indices of the user's groups, in group-name order.
    pub(crate) fn user_groups(&self, user: u32) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|&g| self.is_member(g, user))
            .collect()
    }

    /// A group's members as listings show them: suspended users are left out.
    pub(crate) fn listed_members(&self, group: usize) -> std::borrow::Cow<'_, [u32]> {
        let m = &self.groups[group].members;
        if m.iter().any(|&u| self.users[u as usize].suspended) {
            std::borrow::Cow::Owned(
                m.iter()
                    .copied()
                    .filter(|&u| !self.users[u as usize].suspended)
                    .collect(),
            )
        } else {
            std::borrow::Cow::Borrowed(m)
        }
    }

    pub(crate) fn is_site_admin(&self, user: u32) -> bool {
        self.groups
            .iter()
            .enumerate()
            .any(|(g, rec)| rec.access == Some(AccessType::SiteAdmin) && self.is_member(g, user))
    }
}

/// Content item types served by search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// `page`
    Page,
    /// `blogpost`
    BlogPost,
    /// `comment`
    Comment,
    /// `attachment`
    Attachment,
}

impl ContentType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ContentType::Page => "page",
            ContentType::BlogPost => "blogpost",
            ContentType::Comment => "comment",
            ContentType::Attachment => "attachment",
        }
    }
}

/// No user (used for the optional intermediate editor).
pub(crate) const NO_USER: u32 = u32::MAX;

/// One content item. Contributors are its creator, an optional intermediate editor and
/// its last editor (the author of the current version).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    pub id: u32,
    pub kind: ContentType,
    pub space: u16,
    pub version: u16,
    pub creator: u32,
    pub mid_editor: u32,
    pub last_editor: u32,
    pub created_ms: i64,
    pub modified_ms: i64,
}

impl Item {
    /// When the intermediate editor edited.
    pub(crate) fn mid_ms(&self) -> i64 {
        self.created_ms + (self.modified_ms - self.created_ms) / 2
    }
}

/// Compressed adjacency lists: user -> item indices (each list in item order).
#[derive(Debug, Default)]
pub(crate) struct Csr {
    offsets: Vec<u32>,
    values: Vec<u32>,
}

impl Csr {
    fn build(users: usize, pairs: impl Fn(&mut dyn FnMut(u32, u32))) -> Self {
        let mut counts = vec![0u32; users + 1];
        pairs(&mut |u, _| counts[u as usize + 1] += 1);
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut values = vec![0u32; counts[users] as usize];
        let mut fill = counts.clone();
        pairs(&mut |u, item| {
            values[fill[u as usize] as usize] = item;
            fill[u as usize] += 1;
        });
        Self {
            offsets: counts,
            values,
        }
    }

    pub(crate) fn get(&self, user: u32) -> &[u32] {
        let u = user as usize;
        if u + 1 >= self.offsets.len() {
            return &[];
        }
        &self.values[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }
}

/// The searchable content: items sorted by `modified_ms` descending, plus indexes.
#[derive(Debug)]
pub(crate) struct ContentStore {
    pub items: Vec<Item>,
    pub spaces: Vec<(String, String)>,
    pub by_contributor: Csr,
    pub by_creator: Csr,
}

impl ContentStore {
    /// Latest instant at which the user created or edited anything.
    pub(crate) fn last_activity(&self, user: u32) -> Option<i64> {
        self.by_contributor
            .get(user)
            .iter()
            .map(|&i| {
                let it = &self.items[i as usize];
                if it.last_editor == user {
                    it.modified_ms
                } else if it.mid_editor == user {
                    it.mid_ms()
                } else {
                    it.created_ms
                }
            })
            .max()
    }
}

/// Generated state plus the facts tests need about it.
pub(crate) struct Generated {
    pub directory: Directory,
    pub content: ContentStore,
}

/// Builds the directory and content for `cfg`, with dates relative to `now_ms`.
pub(crate) fn generate(cfg: &SimConfig, now_ms: i64) -> Generated {
    let n = cfg.users.max(1);
    let seed = cfg.seed;
    let mut rng = SplitMix64::derive(seed, 1);

    // --- users ---
    let consenting = cfg.consenting_user.min(n - 1);
    let mut users = Vec::with_capacity(n);
    let mut bot_no = 0usize;
    for i in 0..n {
        let r = rng.unit();
        let kind = if i == consenting {
            UserKind::Human
        } else if r < cfg.bot_fraction {
            UserKind::App
        } else if r < cfg.bot_fraction + cfg.guest_fraction {
            UserKind::Guest
        } else {
            UserKind::Human
        };
        let tz = rng.below(TIME_ZONES.len() as u64) as u8;
        let rec = match kind {
            UserKind::App => {
                let base = BOTS[bot_no % BOTS.len()];
                let name = if bot_no < BOTS.len() {
                    base.to_string()
                } else {
                    format!("{base} {}", bot_no / BOTS.len() + 1)
                };
                bot_no += 1;
                UserRec {
                    account_id: format!("557058:{}", rng.uuid()).into(),
                    display_name: name.into(),
                    email: "".into(),
                    kind,
                    tz,
                    suspended: false,
                }
            }
            UserKind::Human | UserKind::Guest => {
                let first = FIRST[rng.below(FIRST.len() as u64) as usize];
                let last = LAST[rng.below(LAST.len() as u64) as usize];
                let account_id = if rng.chance(0.3) {
                    rng.hex(24)
                } else {
                    format!("712020:{}", rng.uuid())
                };
                let domain = if kind == UserKind::Guest {
                    "partner.example"
                } else {
                    "acme.example"
                };
                let email = if rng.chance(0.03) && i != consenting {
                    String::new()
                } else {
                    format!(
                        "{}.{}{}@{}",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        i,
                        domain
                    )
                };
                UserRec {
                    account_id: account_id.into(),
                    display_name: format!("{first} {last}").into(),
                    email: email.into(),
                    kind,
                    tz,
                    suspended: false,
                }
            }
        };
        users.push(rec);
    }
    // Suspended users come from their own stream, so the rest of the data set does not
    // depend on the setting.
    if cfg.suspended_fraction > 0.0 {
        let mut srng = SplitMix64::derive(seed, 7);
        for (i, u) in users.iter_mut().enumerate() {
            let roll = srng.unit();
            if i != consenting && u.kind == UserKind::Human && roll < cfg.suspended_fraction {
                u.suspended = true;
            }
        }
    }
    let mut by_account: Vec<u32> = (0..n as u32).collect();
    by_account.sort_unstable_by(|&a, &b| {
        users[a as usize]
            .account_id
            .cmp(&users[b as usize].account_id)
    });
    // Account ids come from a 64-bit generator; a duplicate would be astronomically rare,
    // but keep lookups unambiguous anyway.
    by_account.dedup_by(|a, b| users[*a as usize].account_id == users[*b as usize].account_id);

    // --- groups ---
    let group_count = cfg.groups.max(3);
    let mut grng = SplitMix64::derive(seed, 2);
    let mut groups: Vec<GroupRec> = Vec::with_capacity(group_count);
    let base = [
        ("confluence-users", Some(AccessType::User)),
        ("confluence-admins", Some(AccessType::Admin)),
        ("site-admins", Some(AccessType::SiteAdmin)),
    ];
    for (name, access) in base {
        groups.push(GroupRec {
            id: grng.uuid(),
            name: name.to_string(),
            access,
            members: Vec::new(),
        });
    }
    for k in 0..group_count - 3 {
        let name = if let Some(n) = EXTRA_GROUPS.get(k) {
            n.to_string()
        } else {
            format!("team-{:03}", k - EXTRA_GROUPS.len() + 1)
        };
        groups.push(GroupRec {
            id: grng.uuid(),
            name,
            access: None,
            members: Vec::new(),
        });
    }
    let extra = group_count - 3;
    for (i, u) in users.iter().enumerate() {
        let i32_ = i as u32;
        if i == consenting {
            groups[0].members.push(i32_);
            if cfg.consenting_user_is_admin {
                groups[1].members.push(i32_);
                groups[2].members.push(i32_);
            }
            if extra > 0 {
                groups[3].members.push(i32_);
            }
            continue;
        }
        match u.kind {
            UserKind::App | UserKind::Guest => groups[0].members.push(i32_),
            UserKind::Human => {
                if grng.chance(0.93) {
                    groups[0].members.push(i32_);
                }
                if grng.chance(0.01) {
                    groups[1].members.push(i32_);
                }
                if grng.chance(0.003) {
                    groups[2].members.push(i32_);
                }
                if extra > 0 && grng.chance(0.7) {
                    let first = grng.below(extra as u64) as usize;
                    groups[3 + first].members.push(i32_);
                    if extra > 1 && grng.chance(0.15) {
                        let second = (first + 1 + grng.below(extra as u64 - 1) as usize) % extra;
                        groups[3 + second].members.push(i32_);
                    }
                }
            }
        }
    }
    if cfg.rules.extra_groups {
        // Their own stream again: the base groups keep their ids and members.
        let mut xrng = SplitMix64::derive(seed, 8);
        let extra_groups = [
            ("confluence-contractors", Some(AccessType::User), 0.02),
            ("jira-admins", None, 0.01),
            ("org-admins", Some(AccessType::Admin), 0.005),
        ];
        for (name, access, share) in extra_groups {
            let mut members = vec![consenting as u32];
            for (i, u) in users.iter().enumerate() {
                if u.kind == UserKind::Human && xrng.chance(share) {
                    members.push(i as u32);
                }
            }
            groups.push(GroupRec {
                id: xrng.uuid(),
                name: name.to_string(),
                access,
                members,
            });
        }
    }
    for g in &mut groups {
        g.members.sort_unstable();
        g.members.dedup();
        g.members.shrink_to_fit();
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));

    let directory = Directory {
        users,
        by_account,
        groups,
    };
    let content = generate_content(cfg, &directory, consenting as u32, now_ms);
    Generated { directory, content }
}

fn generate_content(
    cfg: &SimConfig,
    dir: &Directory,
    consenting: u32,
    now_ms: i64,
) -> ContentStore {
    let n = dir.users.len();
    let total = cfg.content_items.unwrap_or(n.saturating_mul(3));
    let mut rng = SplitMix64::derive(cfg.seed, 3);
    let year = 365 * MS_PER_DAY;

    // Activity class per user: the latest instant they may act at (i64::MIN: never).
    let mut cutoff = vec![i64::MIN; n];
    let mut active = Vec::new();
    let mut lapsed = Vec::new();
    for (i, u) in dir.users.iter().enumerate() {
        let c = if i as u32 == consenting {
            now_ms
        } else {
            let r = rng.unit();
            match u.kind {
                UserKind::App | UserKind::Guest => {
                    if r < 0.5 {
                        now_ms
                    } else {
                        i64::MIN
                    }
                }
                UserKind::Human => {
                    if r < cfg.never_active_fraction {
                        i64::MIN
                    } else if r < cfg.never_active_fraction + cfg.lapsed_fraction {
                        now_ms - rng.range_i64(61 * MS_PER_DAY, year)
                    } else {
                        now_ms
                    }
                }
            }
        };
        cutoff[i] = c;
        if c == now_ms {
            active.push(i as u32);
        } else if c != i64::MIN {
            lapsed.push(i as u32);
        }
    }
    let authors: Vec<u32> = active.iter().chain(lapsed.iter()).copied().collect();

    let spaces: Vec<(String, String)> = [
        ("ENG", "Engineering"),
        ("MKT", "Marketing"),
        ("HR", "People"),
        ("OPS", "Operations"),
        ("PROD", "Product"),
        ("SALES", "Sales"),
        ("KB", "Knowledge Base"),
        ("TEAM", "Team Space"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    let pick = |rng: &mut SplitMix64, at: i64| -> u32 {
        for _ in 0..8 {
            if authors.is_empty() {
                break;
            }
            let u = authors[rng.below(authors.len() as u64) as usize];
            if cutoff[u as usize] >= at {
                return u;
            }
        }
        if active.is_empty() {
            consenting
        } else {
            active[rng.below(active.len() as u64) as usize]
        }
    };

    let mut items: Vec<Item> = Vec::with_capacity(total);
    let push = |rng: &mut SplitMix64, items: &mut Vec<Item>, last: u32, modified: i64| {
        let idx = items.len() as u32;
        let kind = match rng.below(100) {
            0..45 => ContentType::Page,
            45..55 => ContentType::BlogPost,
            55..90 => ContentType::Comment,
            _ => ContentType::Attachment,
        };
        let (created, creator, version, mid) = if rng.chance(0.35) {
            (modified, last, 1u16, NO_USER)
        } else {
            let created =
                (modified - rng.range_i64(3_600_000, 200 * MS_PER_DAY)).max(now_ms - 2 * year);
            let creator = pick(rng, created);
            let version = 2 + rng.below(12) as u16;
            let mid_at = created + (modified - created) / 2;
            let mid = if version > 2 && rng.chance(0.6) {
                pick(rng, mid_at)
            } else {
                NO_USER
            };
            (created, creator, version, mid)
        };
        items.push(Item {
            id: 98_305 + idx * 3 + rng.below(3) as u32,
            kind,
            space: rng.below(spaces.len() as u64) as u16,
            version,
            creator,
            mid_editor: mid,
            last_editor: last,
            created_ms: created,
            modified_ms: modified,
        });
    };

    for &u in &active {
        if items.len() >= total {
            break;
        }
        let modified = now_ms - rng.range_i64(60_000, 59 * MS_PER_DAY);
        push(&mut rng, &mut items, u, modified);
    }
    for &u in &lapsed {
        if items.len() >= total {
            break;
        }
        push(&mut rng, &mut items, u, cutoff[u as usize]);
    }
    while items.len() < total {
        let modified = now_ms - rng.range_i64(60_000, year);
        let last = pick(&mut rng, modified);
        push(&mut rng, &mut items, last, modified);
    }
    items.sort_by(|a, b| b.modified_ms.cmp(&a.modified_ms).then(b.id.cmp(&a.id)));

    let by_contributor = Csr::build(n, |f| {
        for (i, it) in items.iter().enumerate() {
            let i = i as u32;
            f(it.creator, i);
            if it.mid_editor != NO_USER && it.mid_editor != it.creator {
                f(it.mid_editor, i);
            }
            if it.last_editor != it.creator && it.last_editor != it.mid_editor {
                f(it.last_editor, i);
            }
        }
    });
    let by_creator = Csr::build(n, |f| {
        for (i, it) in items.iter().enumerate() {
            f(it.creator, i as u32);
        }
    });
    ContentStore {
        items,
        spaces,
        by_contributor,
        by_creator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let cfg = SimConfig {
            users: 2000,
            ..SimConfig::default()
        };
        let now = 1_750_000_000_000;
        let a = generate(&cfg, now);
        let b = generate(&cfg, now);
        assert_eq!(a.directory.users.len(), 2000);
        assert_eq!(
            a.directory.users[5].account_id,
            b.directory.users[5].account_id
        );
        assert_eq!(a.directory.groups.len(), 5);
        let names: Vec<_> = a.directory.groups.iter().map(|g| g.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.contains(&"confluence-users"));
        assert!(a.directory.is_site_admin(0));
        let bots = a
            .directory
            .users
            .iter()
            .filter(|u| u.kind == UserKind::App)
            .count();
        assert!(bots > 20 && bots < 120, "bots {bots}");
        assert_eq!(a.content.items.len(), 6000);
        assert!(
            a.content
                .items
                .windows(2)
                .all(|w| w[0].modified_ms >= w[1].modified_ms)
        );
        // A realistic share of users have no activity in the last 60 days.
        let cutoff = now - 60 * MS_PER_DAY;
        let inactive = (0..2000u32)
            .filter(|&u| a.content.last_activity(u).is_none_or(|t| t < cutoff))
            .count();
        assert!(inactive > 300 && inactive < 1200, "inactive {inactive}");
        // Every user can be found by account id.
        for (i, u) in a.directory.users.iter().enumerate() {
            assert_eq!(a.directory.user_by_account(&u.account_id), Some(i as u32));
        }
    }
}
