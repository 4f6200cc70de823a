//! The host allow-list that decides where a spoke's requests may go. Patterns come from the
//! spoke's manifest (`allowed-hosts`) plus any hosts the operator grants (for example a
//! loopback simulator); a pattern is an exact host name or IP (`api.atlassian.com`,
//! `127.0.0.1`) or a subdomain wildcard (`*.atlassian.net`, which does not match the bare
//! domain). Matching ignores case and port. Plain `http` is allowed only to loopback hosts.

use url::{Host, Url};

/// A set of host patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<String>,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefused {
    /// The host is in no pattern.
    #[error("host `{host}` is not in the spoke's allowed hosts ({allowed})")]
    NotAllowed { host: String, allowed: String },
    /// A scheme other than https (or http to loopback).
    #[error("scheme `{0}` is not allowed: use https (plain http only to loopback)")]
    Scheme(String),
    /// A URL without a host.
    #[error("URL `{0}` has no host")]
    NoHost(String),
}

impl AllowedHosts {
    /// Builds the list from patterns; blank entries are ignored.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| p.as_ref().trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        Self { patterns }
    }

    /// Adds more patterns (operator grants).
    pub fn extend<I, S>(&mut self, more: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.patterns.extend(Self::new(more).patterns);
    }

    /// The patterns, for messages and `plugin inspect`.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `host` (a bare host name or IP, no port) matches a pattern.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.patterns.iter().any(|pattern| {
            if let Some(suffix) = pattern.strip_prefix("*.") {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            } else {
                pattern.trim_start_matches('[').trim_end_matches(']') == host
            }
        })
    }

    /// Checks a full URL: scheme and host.
    pub fn check(&self, url: &Url) -> Result<(), HostRefused> {
        let host = url
            .host()
            .ok_or_else(|| HostRefused::NoHost(url.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            other => return Err(HostRefused::Scheme(other.to_string())),
        }
        let name = match &host {
            Host::Domain(d) => d.to_string(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        if self.allows_host(&name) {
            Ok(())
        } else {
            Err(HostRefused::NotAllowed {
                host: name,
                allowed: if self.patterns.is_empty() {
                    "none".to_string()
                } else {
                    self.patterns.join(", ")
                },
            })
        }
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
