//! A fixture spoke for the engine's own tests: a small but complete `sam:spoke` component whose
//! behaviour the tests steer through the profile config. With no `behaviour` set it is a
//! well-behaved spoke: `list-groups` GETs `path` (default `/groups`) and reads one
//! `id:name` pair per line of the body; `download-subscriptions` pages through five
//! built-in users two at a time. With `behaviour` set, every export first misbehaves on
//! purpose: `spin` loops forever, `allocate` grows memory until refused, `panic` panics,
//! `noop` returns at once without any request (to time host-guest calls), `probe-sandbox`
//! makes `list-groups` fail with a report of what the sandbox let it see (files, environment). Set
//! `authorization` to add a guest-chosen `Authorization` header to the request, and `path`
//! to an absolute URL to try a host outside the allow-list. Built for wasm32-wasip2 by
//! `tests/build.rs`.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "spoke",
});

use exports::sam::spoke::connector::Guest;
use sam::spoke::http;
use sam::spoke::log;
use sam::spoke::types::*;

struct Fixture;

std::thread_local! {
    static PROBE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

const USERS: [(&str, &str, AccountType); 5] = [
    ("u-1", "Ada", AccountType::Human),
    ("u-2", "Brendan", AccountType::Human),
    ("u-3", "Build Bot", AccountType::App),
    ("u-4", "Grace", AccountType::Guest),
    ("u-5", "Linus", AccountType::Human),
];
const PAGE: usize = 2;

fn value<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .values
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Misbehaves as the config asks; returns `Some` to short-circuit the export.
fn misbehave(config: &Config) -> Option<()> {
    match value(config, "behaviour")? {
        "spin" => {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        "allocate" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = vec![0u8; 8 * 1024 * 1024];
                block[0] = hoard.len() as u8;
                hoard.push(std::hint::black_box(block));
            }
        }
        "panic" => panic!("fixture panics on purpose"),
        "probe-sandbox" => {
            // Report what the sandbox lets through; the test asserts on it.
            let report = format!(
                "root-dir={} etc-passwd={} env-vars={} args={} dot-dir={}",
                std::fs::read_dir("/").is_ok(),
                std::fs::read("/etc/passwd").is_ok(),
                std::env::vars().count(),
                std::env::args().count(),
                std::fs::read_dir(".").is_ok(),
            );
            log::log(log::Level::Info, &report);
            println!("probe on stdout: {report}");
            eprintln!("probe on stderr");
            PROBE.with(|p| *p.borrow_mut() = Some(report));
            Some(())
        }
        "noop" => Some(()),
        _ => None,
    }
}

fn to_error(response: &http::Response) -> SpokeError {
    let text = String::from_utf8_lossy(&response.body).into_owned();
    match response.status {
        401 => SpokeError::Unauthorized(text),
        403 => SpokeError::Forbidden(Forbidden {
            message: text,
            missing_scope: None,
        }),
        404 => SpokeError::NotFound(text),
        429 => SpokeError::RateLimited(RateLimited {
            message: text,
            retry_after_seconds: response
                .headers
                .iter()
                .find(|(k, _)| k == "retry-after")
                .and_then(|(_, v)| v.parse().ok()),
        }),
        500..=599 => SpokeError::Transient(format!("status {}: {text}", response.status)),
        status => SpokeError::Vendor(format!("status {status}: {text}")),
    }
}

fn http_error(error: http::HttpError) -> SpokeError {
    match error {
        http::HttpError::Denied(reason) => SpokeError::InvalidConfig(format!("denied: {reason}")),
        http::HttpError::Timeout => SpokeError::Transient("timeout".into()),
        http::HttpError::Connection(m) => SpokeError::Transient(m),
        http::HttpError::BodyTooLarge(cap) => {
            SpokeError::Vendor(format!("body larger than {cap} bytes"))
        }
    }
}

fn get(config: &Config) -> Result<http::Response, SpokeError> {
    let mut headers = Vec::new();
    if let Some(auth) = value(config, "authorization") {
        headers.push(("Authorization".to_string(), auth.to_string()));
    }
    let request = http::Request {
        method: http::Method::Get,
        path: value(config, "path").unwrap_or("/groups").to_string(),
        query: vec![],
        headers,
        body: None,
    };
    let response = http::send(&request).map_err(http_error)?;
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(to_error(&response))
    }
}

impl Guest for Fixture {
    fn manifest() -> Manifest {
        let permission = |process, role: &str, scopes: &[&str]| ProcessPermission {
            process,
            vendor_role: role.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        Manifest {
            id: if cfg!(feature = "broken") {
                "broken-spoke".into()
            } else {
                "fixture-spoke".into()
            },
            display_name: "Fixture spoke".into(),
            publisher: "sam tests".into(),
            version: "0.1.0".into(),
            description: "A spoke the engine's tests steer through its config".into(),
            processes: vec![
                permission(
                    Process::DownloadSubscriptions,
                    "Member",
                    &["read:groups", "read:users"],
                ),
                permission(Process::DownloadActivity, "Member", &["read:activity"]),
                permission(Process::Reclaim, "Administrator", &["write:groups"]),
            ],
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
                identifier: "fixture".into(),
                name: "Fixture".into(),
                edition: None,
            }],
        }
    }

    fn validate(
        config: Config,
        processes: Vec<Process>,
    ) -> Result<Vec<ValidationCheck>, SpokeError> {
        if cfg!(feature = "broken") {
            // Passes validation without asking anyone, so the kit must catch it later.
            return Ok(processes
                .into_iter()
                .map(|process| ValidationCheck {
                    process,
                    description: "nothing checked".into(),
                    outcome: Ok(()),
                })
                .collect());
        }
        if misbehave(&config).is_some() {
            return Ok(vec![]);
        }
        let outcome = get(&config).map(|_| ());
        Ok(processes
            .into_iter()
            .map(|process| ValidationCheck {
                process,
                description: "GET the configured path".into(),
                outcome: outcome.clone(),
            })
            .collect())
    }

    fn list_groups(config: Config, _cursor: Option<String>) -> Result<GroupPage, SpokeError> {
        if misbehave(&config).is_some() {
            if let Some(report) = PROBE.with(|p| p.borrow_mut().take()) {
                return Err(SpokeError::Vendor(report));
            }
            return Ok(GroupPage {
                groups: vec![],
                next_cursor: None,
            });
        }
        let response = get(&config)?;
        log::log(
            log::Level::Debug,
            &format!("list-groups got {} bytes", response.body.len()),
        );
        let text = String::from_utf8(response.body)
            .map_err(|_| SpokeError::Vendor("body is not UTF-8".into()))?;
        let groups = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| match line.split_once(':') {
                Some((id, name)) => Ok(Group {
                    id: id.trim().to_string(),
                    name: name.trim().to_string(),
                }),
                None => Err(SpokeError::Vendor(format!("not an id:name line: {line}"))),
            })
            .collect::<Result<_, _>>()?;
        Ok(GroupPage {
            groups,
            next_cursor: None,
        })
    }

    fn download_subscriptions(
        config: Config,
        cursor: Option<String>,
    ) -> Result<SubscriptionPage, SpokeError> {
        misbehave(&config);
        let start: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| SpokeError::InvalidConfig(format!("bad cursor {c:?}")))?,
        };
        let end = (start + PAGE).min(USERS.len());
        // The broken build starts each page one record early: a repeat across pages.
        let first = if cfg!(feature = "broken") {
            start.saturating_sub(1)
        } else {
            start
        };
        let subscriptions = USERS[first.min(end)..end]
            .iter()
            .map(|(id, name, kind)| Subscription {
                external_user_id: id.to_string(),
                identifier: "fixture".into(),
                display_name: Some(name.to_string()),
                email: None,
                account_type: *kind,
                granted_by: config.selected_groups.clone(),
                granted_at: None,
            })
            .collect();
        Ok(SubscriptionPage {
            subscriptions,
            next_cursor: (end < USERS.len()).then(|| end.to_string()),
        })
    }

    fn download_activity(
        config: Config,
        since: EpochSeconds,
        _cursor: Option<String>,
    ) -> Result<ActivityPage, SpokeError> {
        misbehave(&config);
        Ok(ActivityPage {
            activities: vec![UserActivity {
                external_user_id: "u-1".into(),
                status: ActivityStatus::Seen(ActivitySeen {
                    at: since + 3600,
                    source: "page updated".into(),
                }),
            }],
            next_cursor: None,
        })
    }

    fn lookup_activity(
        config: Config,
        _since: EpochSeconds,
        external_user_ids: Vec<String>,
    ) -> Result<Vec<UserActivity>, SpokeError> {
        misbehave(&config);
        Ok(external_user_ids
            .into_iter()
            .map(|external_user_id| UserActivity {
                external_user_id,
                status: ActivityStatus::NoneInWindow,
            })
            .collect())
    }

    fn reclaim(
        config: Config,
        subscription: SubscriptionRef,
    ) -> Result<Vec<SeatChange>, SpokeError> {
        misbehave(&config);
        Ok(subscription
            .granted_by
            .into_iter()
            .map(|group| SeatChange {
                kind: "group-membership-removed".into(),
                target_id: group,
                target_name: None,
            })
            .collect())
    }

    fn restore(
        config: Config,
        _subscription: SubscriptionRef,
        _changes: Vec<SeatChange>,
    ) -> Result<(), SpokeError> {
        misbehave(&config);
        Ok(())
    }
}

export!(Fixture);
