//! Plugin pinning: what a profile's spoke component was approved as, and whether the
//! component loaded now is that one. A pin ([`PluginPin`]) holds the sha256 of the component's
//! bytes and the permissions its manifest asked for ([`PinnedPermissions`]: hosts, processes
//! with their vendor roles and scopes, the auth scheme's endpoints and scopes, the connection
//! URL template). [`check`] compares a loaded spoke against a profile's pin: the same bytes
//! pass; other bytes (same id or not) are [`Untrusted`], which names the profile, both hashes
//! and the one command that reviews and approves them; [`diff`] says what the new manifest asks
//! for that the approved one did not (and what it dropped). A bundled spoke (part of the sam
//! binary the admin installed) that changed with the binary but asks for nothing new passes
//! and is re-pinned. Pure logic: the store keeps the pins, the CLI asks.

use crate::contract::{AuthScheme, Manifest};
use crate::model::{EpochSeconds, PinOrigin, PinnedPermissions, PluginPin};

use super::LoadedSpoke;
use super::untrusted::inert_bounded;

/// The permissions `manifest` asks for, in a stable order.
pub fn permissions_of(manifest: &Manifest) -> PinnedPermissions {
    let mut hosts = manifest.allowed_hosts.clone();
    hosts.sort();
    hosts.dedup();
    let mut processes: Vec<(String, String, Vec<String>)> = manifest
        .processes
        .iter()
        .map(|p| {
            let mut scopes = p.scopes.clone();
            scopes.sort();
            (p.process.key().to_string(), p.vendor_role.clone(), scopes)
        })
        .collect();
    processes.sort();
    let mut auth = scheme_lines(&manifest.auth);
    for alternative in &manifest.auth_alternatives {
        auth.extend(
            scheme_lines(alternative)
                .into_iter()
                .map(|l| format!("alternative {l}")),
        );
    }
    PinnedPermissions {
        spoke_id: manifest.id.clone(),
        version: manifest.version.clone(),
        hosts,
        processes,
        auth,
        connection_url_template: manifest.connection_url_template.clone(),
    }
}

/// A new pin for `profile` on `spoke`.
pub fn pin_for(
    profile: &str,
    spoke: &LoadedSpoke,
    at: EpochSeconds,
    origin: PinOrigin,
) -> PluginPin {
    PluginPin {
        profile: profile.to_string(),
        sha256: spoke.sha256().to_string(),
        permissions: permissions_of(spoke.manifest()),
        pinned_at: at,
        origin,
    }
}

/// What changed from `old` to `new`, one line per difference, `+` for what the new component
/// asks for and `-` for what it no longer does (empty when the permissions are the same).
/// Values are shown inert.
pub fn diff(old: &PinnedPermissions, new: &PinnedPermissions) -> Vec<String> {
    let shown = |s: &str| inert_bounded(s, 200);
    let mut lines = Vec::new();
    let mut changed = |what: &str, a: &str, b: &str| {
        if a != b {
            lines.push(format!("~ {what}: {} -> {}", shown(a), shown(b)));
        }
    };
    changed("spoke id", &old.spoke_id, &new.spoke_id);
    changed("version", &old.version, &new.version);
    changed(
        "connection URL template",
        &old.connection_url_template,
        &new.connection_url_template,
    );
    let mut sets = |what: &str, a: Vec<String>, b: Vec<String>| {
        for added in b.iter().filter(|x| !a.contains(x)) {
            lines.push(format!("+ {what} {}", shown(added)));
        }
        for removed in a.iter().filter(|x| !b.contains(x)) {
            lines.push(format!("- {what} {}", shown(removed)));
        }
    };
    sets("host", old.hosts.clone(), new.hosts.clone());
    let processes = |p: &PinnedPermissions| -> Vec<String> {
        p.processes
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect()
    };
    sets("process", processes(old), processes(new));
    let scopes = |p: &PinnedPermissions| -> Vec<String> {
        p.processes
            .iter()
            .flat_map(|(name, _, scopes)| scopes.iter().map(move |s| format!("{name}: {s}")))
            .collect()
    };
    sets("scope", scopes(old), scopes(new));
    let roles = |p: &PinnedPermissions| -> Vec<String> {
        p.processes
            .iter()
            .map(|(name, role, _)| format!("{name}: {role}"))
            .collect()
    };
    sets("vendor role", roles(old), roles(new));
    sets("auth", old.auth.clone(), new.auth.clone());
    lines
}

/// Whether the permissions grew: a host, process, scope, role or auth line the old ones did
/// not have, or another id or connection URL template.
pub fn asks_for_more(old: &PinnedPermissions, new: &PinnedPermissions) -> bool {
    diff(old, new)
        .iter()
        .any(|line| line.starts_with('+') || (line.starts_with('~') && !line.contains("version")))
}

/// A profile's spoke is not the component that was approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    /// The profile.
    pub profile: String,
    /// Where the component came from (path or bundled name).
    pub origin: String,
    /// The approved hash.
    pub approved: String,
    /// The hash of the component loaded now.
    pub found: String,
    /// Whether its manifest asks for more than the approved one.
    pub asks_for_more: bool,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "profile `{p}`: spoke {} is not the component this profile was approved with (sha256 {} approved, {} now){}: review and approve it with `sam plugin trust {p}`",
            self.origin,
            short(&self.approved),
            short(&self.found),
            if self.asks_for_more {
                "; it asks for new permissions"
            } else {
                ""
            },
            p = self.profile,
        )
    }
}

impl std::error::Error for Untrusted {}

fn short(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The approved component.
    Pinned,
    /// No pin yet (a profile from before pinning): this pin should be recorded.
    FirstUse(PluginPin),
    /// A bundled spoke that changed with the sam binary and asks for nothing new: this pin
    /// replaces the old one.
    Repinned(PluginPin),
}

/// Checks `spoke` (loaded from `origin`, `bundled` when it is part of the sam binary) against
/// `profile`'s pin.
pub fn check(
    profile: &str,
    pin: Option<&PluginPin>,
    spoke: &LoadedSpoke,
    origin: &str,
    bundled: bool,
    now: EpochSeconds,
) -> Result<Verdict, Untrusted> {
    let Some(pin) = pin else {
        return Ok(Verdict::FirstUse(pin_for(
            profile,
            spoke,
            now,
            PinOrigin::FirstUse,
        )));
    };
    if pin.sha256 == spoke.sha256() {
        return Ok(Verdict::Pinned);
    }
    let now_asks = permissions_of(spoke.manifest());
    let more = asks_for_more(&pin.permissions, &now_asks);
    if bundled && !more {
        return Ok(Verdict::Repinned(pin_for(
            profile,
            spoke,
            now,
            PinOrigin::Bundled,
        )));
    }
    Err(Untrusted {
        profile: profile.to_string(),
        origin: inert_bounded(origin, 200),
        approved: pin.sha256.clone(),
        found: spoke.sha256().to_string(),
        asks_for_more: more,
    })
}

/// A scheme's pinned lines: what it sends the admin's credential to.
fn scheme_lines(scheme: &AuthScheme) -> Vec<String> {
    match scheme {
        AuthScheme::BearerToken => vec!["bearer-token".to_string()],
        AuthScheme::AppInstallation(app) => vec![format!("app-installation {}", app.token_path)],
        AuthScheme::Oauth2AuthorizationCode(oauth) => {
            let mut lines = vec![
                format!("authorize-url {}", oauth.authorize_url),
                format!("token-url {}", oauth.token_url),
            ];
            if let Some(audience) = &oauth.audience {
                lines.push(format!("audience {audience}"));
            }
            if let Some(url) = &oauth.accessible_resources_url {
                lines.push(format!("accessible-resources-url {url}"));
            }
            let mut scopes = oauth.base_scopes.clone();
            scopes.sort();
            lines.extend(scopes.into_iter().map(|s| format!("base-scope {s}")));
            lines
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(hosts: &[&str], scopes: &[&str]) -> PinnedPermissions {
        PinnedPermissions {
            spoke_id: "s".into(),
            version: "1.0.0".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            processes: vec![(
                "download-subscriptions".into(),
                "Admin".into(),
                scopes.iter().map(|s| s.to_string()).collect(),
            )],
            auth: vec!["bearer-token".into()],
            connection_url_template: "https://x/{a}".into(),
        }
    }

    #[test]
    fn diff_names_added_and_removed_hosts_and_scopes() {
        let old = perms(&["a.example.com"], &["read"]);
        let new = perms(&["a.example.com", "evil.example.net"], &["read", "write"]);
        let lines = diff(&old, &new);
        assert!(
            lines.contains(&"+ host evil.example.net".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"+ scope download-subscriptions: write".to_string()),
            "{lines:?}"
        );
        assert!(asks_for_more(&old, &new));
        let fewer = diff(&new, &old);
        assert!(fewer.iter().all(|l| l.starts_with('-')), "{fewer:?}");
        assert!(!asks_for_more(&new, &old));
        assert!(diff(&old, &old).is_empty());
        let mut bumped = old.clone();
        bumped.version = "1.0.1".into();
        assert!(!asks_for_more(&old, &bumped));
        assert_eq!(diff(&old, &bumped), vec!["~ version: 1.0.0 -> 1.0.1"]);
    }

    #[test]
    fn diff_shows_escapes_inert() {
        let old = perms(&["a"], &[]);
        let new = perms(&["a", "b\x1b[2Jc"], &[]);
        let lines = diff(&old, &new);
        assert!(lines.iter().all(|l| !l.contains('\x1b')), "{lines:?}");
    }
}
