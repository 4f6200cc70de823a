//! Validates the simulator's response bodies against the schemas of the GitHub OpenAPI
//! subset (the `2xx` `application/json` schema the spec declares for each path and method,
//! and the `basic-error` / `validation-error` schemas of its error responses), with the
//! `jsonschema` crate (draft 4 semantics, on which OpenAPI 3.0 schemas are based; `nullable`
//! is translated to a `"null"` type). Every seat of the seeded organization is checked, so
//! direct, team-granted, pending and idle seats all are. The spec is not vendored: its path
//! comes from `SAM_GITHUB_SPEC` (set by `.ci/run` to
//! `../shared/specs/github-copilot.openapi.json`); without it the test says so and does not
//! run.

use crate::common;

use common::*;
use reqwest::Method;
use serde_json::{Map, Value, json};

/// OpenAPI 3.0 schema object -> JSON Schema (draft 4): `nullable: true` becomes a `"null"`
/// type (or an `anyOf` with `{"type":"null"}` when there is no `type`).
fn convert(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(convert).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, val) in o {
                if k == "example" || k == "examples" {
                    out.insert(k.clone(), val.clone());
                } else if k != "nullable" {
                    out.insert(k.clone(), convert(val));
                }
            }
            if o.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(e)) = out.get_mut("enum") {
                        e.push(Value::Null);
                    }
                } else {
                    return json!({ "anyOf": [Value::Object(out), { "type": "null" }] });
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

struct Checker {
    spec: Value,
    components: Value,
}

impl Checker {
    /// The JSON schema of a response (`code` or the first 2xx with JSON content).
    fn response_schema(&self, path: &str, method: &str, code: Option<&str>) -> Value {
        let op = &self.spec["paths"][path][method];
        assert!(op.is_object(), "no {method} {path} in the spec");
        let codes: Vec<&str> = match code {
            Some(c) => vec![c],
            None => vec!["200", "201"],
        };
        for c in codes {
            let mut r = op["responses"][c].clone();
            if let Some(reference) = r["$ref"].as_str() {
                let name = reference.rsplit('/').next().unwrap_or("");
                r = self.spec["components"]["responses"][name].clone();
            }
            let s = &r["content"]["application/json"]["schema"];
            if s.is_object() {
                return convert(s);
            }
        }
        panic!("no JSON response schema for {method} {path} {code:?}");
    }

    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({ "allOf": [schema], "components": self.components });
        jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema does not compile: {e}"))
    }

    fn check(&self, path: &str, method: &str, code: Option<&str>, what: &str, body: &Value) {
        let v = self.validator(&self.response_schema(path, method, code));
        let errors: Vec<String> = v
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match {method} {path}:\n{}\n{body}",
            errors.join("\n")
        );
    }
}

#[tokio::test]
async fn responses_match_the_spec_schemas() {
    let Ok(path) = std::env::var("SAM_GITHUB_SPEC") else {
        println!("SKIPPED: SAM_GITHUB_SPEC unset, schema validation did not run");
        return;
    };
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = [
        std::path::PathBuf::from(&path),
        manifest.join("../..").join(&path),
        manifest.join(&path),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .map(|p| p.display().to_string())
    .unwrap_or(path);
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")),
    )
    .expect("spec is JSON");
    let c = Checker {
        components: json!({ "schemas": convert(&spec["components"]["schemas"]) }),
        spec,
    };
    let seats_path = "/orgs/{org}/copilot/billing/seats";
    let member_path = "/orgs/{org}/members/{username}/copilot";

    let sim = start().await;
    let org = sim.org().to_string();
    let tok = sim.mint_classic_token(OWNER_SCOPES).unwrap();
    let mut checked = 0;

    // Every seat, over every page.
    let first = format!("/orgs/{org}/copilot/billing/seats?per_page=100");
    let mut url = first.clone();
    loop {
        let a = get(&sim, &tok, &url).await;
        assert_eq!(a.status, 200);
        c.check(seats_path, "get", None, &url, &a.body);
        checked += 1;
        match link(&a, "next") {
            Some(n) => url = n,
            None => break,
        }
    }
    let seats = sim.seats();
    let team_seat = seats.iter().find(|u| u.assigning_team.is_some()).unwrap();
    let direct = seats
        .iter()
        .find(|u| u.direct && u.assigning_team.is_none() && u.pending_cancellation_date.is_none())
        .unwrap();
    let mut samples: Vec<(&str, &str, String)> = vec![
        (
            "/orgs/{org}/copilot/billing",
            "get",
            format!("/orgs/{org}/copilot/billing"),
        ),
        (
            member_path,
            "get",
            format!("/orgs/{org}/members/{}/copilot", team_seat.login),
        ),
        (
            member_path,
            "get",
            format!("/orgs/{org}/members/{}/copilot", direct.login),
        ),
        (
            "/orgs/{org}/members",
            "get",
            format!("/orgs/{org}/members?per_page=100"),
        ),
        ("/orgs/{org}/teams", "get", format!("/orgs/{org}/teams")),
        ("/rate_limit", "get", "/rate_limit".to_string()),
    ];
    for t in sim.teams().iter().take(2) {
        samples.push((
            "/orgs/{org}/teams/{team_slug}/members",
            "get",
            format!("/orgs/{org}/teams/{}/members?per_page=100", t.slug),
        ));
    }
    for (template, method, url) in &samples {
        let a = get(&sim, &tok, url).await;
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        c.check(template, method, None, url, &a.body);
        checked += 1;
    }

    // Writes.
    let users = "/orgs/{org}/copilot/billing/selected_users";
    let teams = "/orgs/{org}/copilot/billing/selected_teams";
    let body = json!({ "selected_usernames": [direct.login] });
    let wpath = format!("/orgs/{org}/copilot/billing/selected_users");
    let a = call(&sim, Method::DELETE, Some(&tok), &wpath, Some(body.clone())).await;
    c.check(users, "delete", None, "DELETE selected_users", &a.body);
    let a = call(&sim, Method::POST, Some(&tok), &wpath, Some(body)).await;
    c.check(users, "post", None, "POST selected_users", &a.body);
    let slug = sim.teams()[1].slug.clone();
    let tpath = format!("/orgs/{org}/copilot/billing/selected_teams");
    let a = call(
        &sim,
        Method::POST,
        Some(&tok),
        &tpath,
        Some(json!({ "selected_teams": [slug] })),
    )
    .await;
    c.check(teams, "post", None, "POST selected_teams", &a.body);
    let a = call(
        &sim,
        Method::DELETE,
        Some(&tok),
        &tpath,
        Some(json!({ "selected_teams": [slug] })),
    )
    .await;
    c.check(teams, "delete", None, "DELETE selected_teams", &a.body);
    let a = call(
        &sim,
        Method::PUT,
        Some(&tok),
        &format!("/orgs/{org}/teams/{slug}/memberships/{}", direct.login),
        Some(json!({ "role": "maintainer" })),
    )
    .await;
    assert_eq!(a.status, 200);
    c.check(
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "put",
        None,
        "PUT membership",
        &a.body,
    );
    checked += 5;

    // GitHub App.
    let jwt = app_jwt(&sim);
    let a = get(&sim, &jwt, "/app/installations").await;
    c.check("/app/installations", "get", None, "installations", &a.body);
    let tokb = installation_token(&sim).await;
    c.check(
        "/app/installations/{installation_id}/access_tokens",
        "post",
        None,
        "installation token",
        &tokb,
    );
    checked += 2;

    // Error bodies.
    let a = get(
        &sim,
        &tok,
        &format!("/orgs/{org}/members/ghost-user/copilot"),
    )
    .await;
    assert_eq!(a.status, 404);
    c.check(member_path, "get", Some("404"), "404", &a.body);
    let a = get(
        &sim,
        "ghp_unknown",
        &format!("/orgs/{org}/copilot/billing/seats"),
    )
    .await;
    c.check(seats_path, "get", Some("401"), "401", &a.body);
    let weak = sim.mint_classic_token(&["repo"]).unwrap();
    let a = get(&sim, &weak, &format!("/orgs/{org}/copilot/billing/seats")).await;
    c.check(seats_path, "get", Some("403"), "403", &a.body);
    let a = call(
        &sim,
        Method::POST,
        Some(&jwt),
        "/app/installations/1/access_tokens",
        None,
    )
    .await;
    c.check(
        "/app/installations/{installation_id}/access_tokens",
        "post",
        Some("404"),
        "404",
        &a.body,
    );
    let a = call(
        &sim,
        Method::POST,
        Some(&jwt),
        &format!("/app/installations/{}/access_tokens", sim.installation_id()),
        Some(json!({ "permissions": { "organization_administration": "write" } })),
    )
    .await;
    assert_eq!(a.status, 422);
    c.check(
        "/app/installations/{installation_id}/access_tokens",
        "post",
        Some("422"),
        "422",
        &a.body,
    );
    checked += 5;

    // The validator really validates: a seat with an unknown property, an assignee without
    // its login, or a plan outside the enum is rejected.
    let seat_schema = c.response_schema(member_path, "get", None);
    let v = c.validator(&seat_schema);
    let good = get(&sim, &tok, &samples[1].2).await.body;
    assert!(v.is_valid(&good));
    let mut bad = good.clone();
    bad["seat_id"] = json!(1);
    assert!(!v.is_valid(&bad));
    let mut bad = good.clone();
    bad["assignee"].as_object_mut().unwrap().remove("login");
    assert!(!v.is_valid(&bad));
    let mut bad = good.clone();
    bad["plan_type"] = json!("free");
    assert!(!v.is_valid(&bad));
    let mut bad = good;
    bad["pending_cancellation_date"] = json!("next month");
    assert!(!v.is_valid(&bad));
    println!("schema validation: {checked} response bodies matched the spec at {path}");
}
