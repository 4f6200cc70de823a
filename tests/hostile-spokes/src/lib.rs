//! A hostile spoke for the engine's sandbox-limit tests, generated from the frozen
//! `sam:spoke@0.1.0` contract. Each attack is picked by the profile config's `attack` value
//! (one component, many attacks; the tests observe the effects at loopback servers):
//! `send-loop` sends `count` GETs of `path` one after another, `send-all` asks for `count`
//! GETs of `path` in one `send-all`, `send` sends one GET of `path` (with an optional
//! `header-name`/`header-value`), `log-flood` logs `count` messages of `size` bytes and a
//! forged engine line. Every attack reports what it saw as a `vendor` error
//! (`sent=… ok=… bytes=… errors=…`) so the test can check what reached the guest.
//!
//! The manifest cannot be steered by config (`manifest()` takes none), so it is chosen by
//! the bytes of [`MODE`], a marker in the component's data the tests patch in a copy of the
//! file: `normal`, `escapes` (terminal escapes and a forged line in its texts), `huge`
//! (a 16 MiB description and 50 000 config fields), `wildcard` (allowed hosts `*`, `*.com`
//! and an empty one), `spin` (never returns), `update` (a same-id "update" asking for one
//! more host and a write scope: the plugin-pinning test). Attacks Rust cannot express (extra memories) are added by the tests
//! to a copy of this component. Built for wasm32-wasip2 by `tests/build.rs`.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "spoke",
});

use exports::sam::spoke::connector::Guest;
use sam::spoke::http;
use sam::spoke::log;
use sam::spoke::types::*;

/// The manifest mode; tests overwrite `normal` (same length, padded with dots) in a copy.
#[used]
static MODE: [u8; 32] = *b"SAM-HOSTILE-MODE:normal.........";

fn mode() -> String {
    // SAFETY: reading a static through a valid pointer; volatile so the bytes stay in the
    // data segment and are read at run time (the tests patch them).
    let bytes: [u8; 32] = unsafe { core::ptr::read_volatile(&MODE) };
    String::from_utf8_lossy(&bytes[17..])
        .trim_end_matches('.')
        .to_string()
}

struct Hostile;

fn value<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .values
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn number(config: &Config, name: &str, default: u64) -> u64 {
    value(config, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn request(config: &Config) -> http::Request {
    let mut headers = Vec::new();
    if let (Some(name), Some(value)) = (value(config, "header-name"), value(config, "header-value"))
    {
        headers.push((name.to_string(), value.to_string()));
    }
    http::Request {
        method: http::Method::Get,
        path: value(config, "path").unwrap_or("/ping").to_string(),
        query: vec![],
        headers,
        body: None,
    }
}

fn error_kind(error: &http::HttpError) -> String {
    match error {
        http::HttpError::Denied(reason) => format!("denied({reason})"),
        http::HttpError::Timeout => "timeout".into(),
        http::HttpError::Connection(m) => format!("connection({m})"),
        http::HttpError::BodyTooLarge(cap) => format!("too-large({cap})"),
    }
}

/// Tallies answers into the report the tests read.
#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    bytes: u64,
    errors: Vec<String>,
    statuses: Vec<u16>,
}

impl Tally {
    fn add(&mut self, answer: Result<http::Response, http::HttpError>) {
        self.sent += 1;
        match answer {
            Ok(response) => {
                self.ok += 1;
                self.bytes += response.body.len() as u64;
                if !self.statuses.contains(&response.status) {
                    self.statuses.push(response.status);
                }
            }
            Err(error) => {
                let kind = error_kind(&error);
                if !self.errors.contains(&kind) {
                    self.errors.push(kind);
                }
            }
        }
    }

    fn report(&self) -> SpokeError {
        SpokeError::Vendor(format!(
            "sent={} ok={} bytes={} statuses={:?} errors={}",
            self.sent,
            self.ok,
            self.bytes,
            self.statuses,
            self.errors.join("|")
        ))
    }
}

/// Runs the attack the config names; `None` when there is none.
fn attack(config: &Config) -> Option<SpokeError> {
    let mut tally = Tally::default();
    match value(config, "attack")? {
        "send-loop" => {
            for _ in 0..number(config, "count", 100_000) {
                tally.add(http::send(&request(config)));
            }
        }
        "send-all" => {
            let requests: Vec<_> = (0..number(config, "count", 48))
                .map(|_| request(config))
                .collect();
            for answer in http::send_all(&requests) {
                tally.add(answer);
            }
        }
        "send" => tally.add(http::send(&request(config))),
        "log-flood" => {
            let size = number(config, "size", 1024 * 1024) as usize;
            let message = "x".repeat(size);
            log::log(
                log::Level::Info,
                "harmless\n2026-01-01T00:00:00.000000Z  INFO sam: profile `prod` approved \
                 by the administrator\x1b[2K",
            );
            for _ in 0..number(config, "count", 528) {
                log::log(log::Level::Info, &message);
            }
        }
        _ => return None,
    }
    Some(tally.report())
}

fn no_permissions() -> Vec<ProcessPermission> {
    vec![ProcessPermission {
        process: Process::DownloadSubscriptions,
        vendor_role: "Member".into(),
        scopes: vec!["read:users".into()],
    }]
}

impl Guest for Hostile {
    fn manifest() -> Manifest {
        let mut manifest = Manifest {
            id: "hostile-spoke".into(),
            display_name: "Hostile spoke".into(),
            publisher: "sam tests".into(),
            version: "0.1.0".into(),
            description: "A spoke that attacks the sandbox".into(),
            processes: no_permissions(),
            auth: AuthScheme::BearerToken,
            connection_url_template: "http://127.0.0.1:{port}/api".into(),
            config_fields: vec![ConfigField {
                name: "port".into(),
                label: "Port".into(),
                description: "The loopback port of the test server".into(),
                required: true,
            }],
            allowed_hosts: vec!["127.0.0.1".into()],
            activity_lookback_days: 30,
            products: vec![Product {
                identifier: "hostile".into(),
                name: "Hostile".into(),
                edition: None,
            }],
        };
        match mode().as_str() {
            "escapes" => {
                manifest.display_name = "Hostile\x1b]0;sam: all clear\x07\x1b[2J\x1b[H".into();
                manifest.publisher = "Atlassian \x1b[32m(verified)\x1b[0m\r\nsam tests".into();
                manifest.description = "fine\u{202e}txt.exe\n\x1b[8m*.com\x1b[0m".into();
            }
            "huge" => {
                manifest.description = "x".repeat(16 * 1024 * 1024);
                manifest.config_fields = (0..50_000)
                    .map(|i| ConfigField {
                        name: format!("field-{i}"),
                        label: "A field".into(),
                        description: "One of many".into(),
                        required: false,
                    })
                    .collect();
            }
            "spin" => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "update" => {
                // A same-id "update" that wants more: another host and a write scope.
                manifest.version = "0.1.1".into();
                manifest.allowed_hosts.push("updates.example.com".into());
                manifest.processes[0].scopes.push("write:users".into());
            }
            "wildcard" => {
                manifest.allowed_hosts =
                    vec!["127.0.0.1".into(), "*".into(), "*.com".into(), "".into()];
            }
            _ => {}
        }
        manifest
    }

    fn validate(
        config: Config,
        processes: Vec<Process>,
    ) -> Result<Vec<ValidationCheck>, SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(processes
            .into_iter()
            .map(|process| ValidationCheck {
                process,
                description: "nothing checked".into(),
                outcome: Ok(()),
            })
            .collect())
    }

    fn list_groups(config: Config, _cursor: Option<String>) -> Result<GroupPage, SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(GroupPage {
            groups: vec![Group {
                id: "g-1".into(),
                name: "Group".into(),
            }],
            next_cursor: None,
        })
    }

    fn download_subscriptions(
        config: Config,
        _cursor: Option<String>,
    ) -> Result<SubscriptionPage, SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(SubscriptionPage {
            subscriptions: vec![],
            next_cursor: None,
        })
    }

    fn download_activity(
        config: Config,
        _since: EpochSeconds,
        _cursor: Option<String>,
    ) -> Result<ActivityPage, SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(ActivityPage {
            activities: vec![],
            next_cursor: None,
        })
    }

    fn lookup_activity(
        config: Config,
        _since: EpochSeconds,
        _external_user_ids: Vec<String>,
    ) -> Result<Vec<UserActivity>, SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(vec![])
    }

    fn reclaim(
        config: Config,
        _subscription: SubscriptionRef,
    ) -> Result<Vec<SeatChange>, SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(vec![])
    }

    fn restore(
        config: Config,
        _subscription: SubscriptionRef,
        _changes: Vec<SeatChange>,
    ) -> Result<(), SpokeError> {
        if let Some(report) = attack(&config) {
            return Err(report);
        }
        Ok(())
    }
}

export!(Hostile);
