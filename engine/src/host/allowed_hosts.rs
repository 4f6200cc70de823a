//! The host allow-list that decides where a spoke's requests may go. Entries come from the
//! spoke's manifest (`allowed-hosts`) plus any hosts the operator grants (for example a
//! loopback simulator). An entry is `host[:port]`: an exact host name or IP
//! (`api.atlassian.com`, `127.0.0.1:8443`, `[::1]:8443`) or a subdomain wildcard
//! (`*.atlassian.net`, which does not match the bare domain), allowed only below a
//! registrable domain (checked against the public-suffix list through the `psl` crate, so
//! `*`, `*.com` and `*.co.uk` are refused, as are empty entries). An entry without a port
//! means https's port 443. The connection URL's own origin (scheme, host and port, set by
//! the operator) is always reachable; any other URL must be https to an allowed host and
//! port. Plain `http` goes only to the connection URL's origin, and only when that is a
//! loopback address: a spoke talking to a loopback simulator cannot reach another loopback
//! port (sam's own daemon, say). Names are compared without case and without a trailing dot.

use std::net::IpAddr;

use url::{Host, Url};

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Lowercase host (IPv6 without brackets); for a wildcard, the domain below which it
    /// matches.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

/// A set of host patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<String>,
    patterns: Vec<Pattern>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefused {
    /// The host is in no pattern.
    #[error("host `{host}` is not in the spoke's allowed hosts ({allowed})")]
    NotAllowed { host: String, allowed: String },
    /// A scheme other than https (or http to the connection URL's loopback origin).
    #[error(
        "scheme `{0}` is not allowed: use https (plain http only to the connection URL's own loopback host and port)"
    )]
    Scheme(String),
    /// A URL without a host.
    #[error("URL `{0}` has no host")]
    NoHost(String),
    /// An allowed host on a port no entry names.
    #[error("port {port} of host `{host}` is not allowed (entries without a port mean 443)")]
    Port { host: String, port: u16 },
    /// User name or password in the URL (they would become an `Authorization` header).
    #[error("URLs may not carry a user name or password")]
    Userinfo,
}

/// Checks one allow-list entry: `host[:port]`, a concrete name or IP, or `*.` below a
/// registrable domain. The error says what is wrong.
pub fn check_pattern(entry: &str) -> Result<(), String> {
    parse_pattern(entry).map(|_| ())
}

fn parse_pattern(entry: &str) -> Result<Pattern, String> {
    let shown = super::untrusted::inert_bounded(entry, 80);
    let entry = entry.trim().to_ascii_lowercase();
    if entry.is_empty() {
        return Err("an entry is empty".into());
    }
    if entry
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '@' | '?' | '#' | '\\'))
    {
        return Err(format!("`{shown}` is not a host[:port]"));
    }
    let (host, port) = split_port(&entry).ok_or_else(|| format!("`{shown}` has a bad port"))?;
    let host = host.trim_end_matches('.');
    if host == "*" || host.is_empty() {
        return Err(format!("`{shown}` is a bare wildcard"));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') || domain.parse::<IpAddr>().is_ok() || !is_name(domain) {
            return Err(format!("`{shown}` is not a wildcard over a domain"));
        }
        if psl::domain(domain.as_bytes()).is_none() {
            return Err(format!(
                "`{shown}` covers a public suffix: a wildcard must be below a registrable domain"
            ));
        }
        return Ok(Pattern {
            host: domain.to_string(),
            wildcard: true,
            port,
        });
    }
    if host.contains('*') {
        return Err(format!("`{shown}`: `*` is allowed only as a leading `*.`"));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(Pattern {
            host: bare.to_string(),
            wildcard: false,
            port,
        });
    }
    if !is_name(host) {
        return Err(format!("`{shown}` is not a host name or IP"));
    }
    if host != "localhost" && psl::domain(host.as_bytes()).is_none() {
        return Err(format!("`{shown}` is a public suffix, not a concrete host"));
    }
    Ok(Pattern {
        host: host.to_string(),
        wildcard: false,
        port,
    })
}

/// `host` and its port from `host[:port]` or `[v6]:port`; `None` on a bad port.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    if entry.starts_with('[') {
        let close = entry.find(']')?;
        let (host, rest) = entry.split_at(close + 1);
        return match rest.strip_prefix(':') {
            Some(p) => Some((host, Some(port(p)?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match entry.matches(':').count() {
        0 => Some((entry, None)),
        1 => {
            let (host, p) = entry.split_once(':')?;
            Some((host, Some(port(p)?)))
        }
        // A bare IPv6 address.
        _ => Some((entry, None)),
    }
}

fn is_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl AllowedHosts {
    /// Builds the list from entries; entries that are not a valid `host[:port]` (see
    /// [`check_pattern`]) match nothing.
    pub fn new<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Self::default();
        list.extend(entries);
        list
    }

    /// Adds more entries (operator grants).
    pub fn extend<I, S>(&mut self, more: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for entry in more {
            let entry = entry.as_ref().trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if let Ok(pattern) = parse_pattern(&entry) {
                self.patterns.push(pattern);
            }
            self.entries.push(entry);
        }
    }

    /// The entries, for messages and `plugin inspect`.
    pub fn patterns(&self) -> &[String] {
        &self.entries
    }

    /// Whether `host` (a bare host name or IP, no port) matches an entry on some port.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = normalise(host);
        self.patterns.iter().any(|p| p.matches_host(&host))
    }

    /// Checks the connection URL (set by the operator): https, or http to loopback; the
    /// host in an entry, on the entry's port when it names one.
    pub fn check(&self, url: &Url) -> Result<(), HostRefused> {
        let host = url
            .host()
            .ok_or_else(|| HostRefused::NoHost(url.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HostRefused::Userinfo);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            other => return Err(HostRefused::Scheme(other.to_string())),
        }
        let name = host_name(&host);
        let port = url.port_or_known_default().unwrap_or(0);
        let matching: Vec<&Pattern> = self
            .patterns
            .iter()
            .filter(|p| p.matches_host(&name))
            .collect();
        if matching.is_empty() {
            return Err(self.not_allowed(name));
        }
        if matching.iter().any(|p| p.port.is_none_or(|p| p == port)) {
            Ok(())
        } else {
            Err(HostRefused::Port { host: name, port })
        }
    }

    /// Checks a request's URL in a session whose connection URL is `connection`: the
    /// connection's own origin is reachable; anything else must be https to an allowed
    /// host on an allowed port (443 when the entry names none).
    pub fn check_request(&self, url: &Url, connection: &Url) -> Result<(), HostRefused> {
        let host = url
            .host()
            .ok_or_else(|| HostRefused::NoHost(url.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HostRefused::Userinfo);
        }
        if url.origin() == connection.origin() {
            return Ok(());
        }
        let name = host_name(&host);
        let port = url.port_or_known_default().unwrap_or(0);
        let matching: Vec<&Pattern> = self
            .patterns
            .iter()
            .filter(|p| p.matches_host(&name))
            .collect();
        if matching.is_empty() {
            return Err(self.not_allowed(name));
        }
        if url.scheme() != "https" {
            return Err(HostRefused::Scheme(url.scheme().to_string()));
        }
        if matching.iter().any(|p| p.port.unwrap_or(443) == port) {
            Ok(())
        } else {
            Err(HostRefused::Port { host: name, port })
        }
    }

    fn not_allowed(&self, host: String) -> HostRefused {
        HostRefused::NotAllowed {
            host,
            allowed: if self.entries.is_empty() {
                "none".to_string()
            } else {
                super::untrusted::inert_bounded(&self.entries.join(", "), 400)
            },
        }
    }
}

impl Pattern {
    fn matches_host(&self, host: &str) -> bool {
        if self.wildcard {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            self.host == host
        }
    }
}

fn normalise(host: &str) -> String {
    host.trim_end_matches('.')
        .to_ascii_lowercase()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

fn host_name(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => normalise(d),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn exact_and_wildcard_patterns() {
        let allowed = AllowedHosts::new(["api.atlassian.com", "*.atlassian.net", "127.0.0.1"]);
        assert!(allowed.allows_host("api.atlassian.com"));
        assert!(allowed.allows_host("API.Atlassian.com"));
        assert!(allowed.allows_host("acme.atlassian.net"));
        assert!(!allowed.allows_host("atlassian.net"));
        assert!(!allowed.allows_host("evilatlassian.net"));
        assert!(!allowed.allows_host("api.atlassian.com.evil.io"));
        assert!(allowed.allows_host("127.0.0.1"));
        assert!(!allowed.allows_host("127.0.0.2"));
    }

    #[test]
    fn scheme_rules() {
        let allowed = AllowedHosts::new(["api.atlassian.com", "127.0.0.1"]);
        assert!(allowed.check(&url("https://api.atlassian.com/x")).is_ok());
        assert_eq!(
            allowed.check(&url("http://api.atlassian.com/x")),
            Err(HostRefused::Scheme("http".into()))
        );
        assert!(allowed.check(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(matches!(
            allowed.check(&url("https://example.com/")),
            Err(HostRefused::NotAllowed { .. })
        ));
        assert!(matches!(
            allowed.check(&url("ftp://api.atlassian.com/")),
            Err(HostRefused::Scheme(_))
        ));
    }

    #[test]
    fn empty_list_allows_nothing() {
        let allowed = AllowedHosts::new(Vec::<String>::new());
        assert!(!allowed.allows_host("localhost"));
        assert!(allowed.check(&url("http://localhost/")).is_err());
    }
}
#[cfg(test)]
mod port_and_pattern_tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn declared_hosts_must_be_concrete() {
        for bad in [
            "",
            "  ",
            "*",
            "*.com",
            "*.co.uk",
            "com",
            "*.*.example.com",
            "exa*mple.com",
            "https://api.example.com",
            "user@api.example.com",
            "api.example.com/path",
            "api.example.com:0",
            "api.example.com:99999",
            "*.127.0.0.1",
            "\u{1b}[8m*.com",
        ] {
            assert!(check_pattern(bad).is_err(), "`{bad}` was accepted");
        }
        for good in [
            "api.atlassian.com",
            "*.atlassian.net",
            "*.example.co.uk",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]:8443",
            "::1",
            "localhost",
            "API.Example.com.",
        ] {
            assert!(
                check_pattern(good).is_ok(),
                "`{good}`: {:?}",
                check_pattern(good)
            );
        }
        // An invalid entry matches nothing, even where its text would.
        let allowed = AllowedHosts::new(["*", "*.com"]);
        assert!(!allowed.allows_host("evil.com"));
    }

    #[test]
    fn ports_count_and_plain_http_goes_only_to_the_connection_origin() {
        let allowed = AllowedHosts::new(["127.0.0.1", "api.example.com", "files.example.com:8443"]);
        let connection = url("http://127.0.0.1:4000/api");
        assert!(allowed.check(&connection).is_ok());
        assert!(
            allowed
                .check_request(&url("http://127.0.0.1:4000/other"), &connection)
                .is_ok()
        );
        // Another loopback port (sam's own daemon, say) is out of reach, by http or https.
        assert!(matches!(
            allowed.check_request(&url("http://127.0.0.1:4001/runs"), &connection),
            Err(HostRefused::Scheme(_))
        ));
        assert!(matches!(
            allowed.check_request(&url("https://127.0.0.1:4001/runs"), &connection),
            Err(HostRefused::Port { port: 4001, .. })
        ));
        assert!(
            allowed
                .check_request(&url("https://api.example.com/x"), &connection)
                .is_ok()
        );
        assert!(matches!(
            allowed.check_request(&url("https://api.example.com:444/x"), &connection),
            Err(HostRefused::Port { .. })
        ));
        assert!(
            allowed
                .check_request(&url("https://files.example.com:8443/x"), &connection)
                .is_ok()
        );
        assert!(
            allowed
                .check_request(&url("https://files.example.com/x"), &connection)
                .is_err()
        );
        assert_eq!(
            allowed.check_request(&url("http://u:p@127.0.0.1:4000/x"), &connection),
            Err(HostRefused::Userinfo)
        );
        assert_eq!(
            allowed.check(&url("https://u@api.example.com/")),
            Err(HostRefused::Userinfo)
        );
    }
}
