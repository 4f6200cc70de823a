//! Validates a sample of every Confluence response body against the schemas of the
//! OpenAPI spec (the `200`/`201` `application/json` schema the spec declares for that path
//! and method), with the `jsonschema` crate (draft 4 semantics, which is what OpenAPI 3.0
//! schemas are based on; `nullable` is translated to a `"null"` type). The spec is not
//! vendored: its path comes from `SAM_CONFLUENCE_SPEC` (set by `.ci/run` to
//! `../shared/specs/confluence-cloud-v1.openapi.json`); without it the test says so and
//! does not run.

use crate::common;

use common::{ALL_SCOPES, get, start};
use serde_json::{Map, Value, json};

/// OpenAPI 3.0 schema object -> JSON Schema (draft 4): `nullable: true` becomes a
/// `"null"` type (or an `anyOf` with `{"type":"null"}` when there is no `type`).
fn convert(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(convert).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, val) in o {
                // `example`/`examples` are data, not schemas.
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

fn response_schema(spec: &Value, path: &str, method: &str) -> String {
    let op = &spec["paths"][path][method];
    for code in ["200", "201"] {
        if let Some(r) =
            op["responses"][code]["content"]["application/json"]["schema"]["$ref"].as_str()
        {
            return r.to_string();
        }
    }
    panic!("no JSON response schema for {method} {path}");
}

struct Checker {
    components: Value,
}

impl Checker {
    fn validator(&self, reference: &str) -> jsonschema::Validator {
        let root = json!({ "allOf": [{ "$ref": reference }], "components": self.components });
        jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema {reference} does not compile: {e}"))
    }

    fn check(&self, reference: &str, what: &str, instance: &Value) {
        let v = self.validator(reference);
        let errors: Vec<String> = v
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match {reference}:\n{}",
            errors.join("\n")
        );
    }
}

#[tokio::test]
async fn responses_match_the_spec_schemas() {
    let Ok(path) = std::env::var("SAM_CONFLUENCE_SPEC") else {
        println!("SKIPPED: SAM_CONFLUENCE_SPEC unset, schema validation did not run");
        return;
    };
    // A relative path is taken from the working directory, else from the workspace root
    // (`.ci/run` passes `../shared/...` relative to the repository).
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
    let checker = Checker {
        components: json!({ "schemas": convert(&spec["components"]["schemas"]) }),
    };

    // The validator really validates: a group without its required id is rejected.
    let group_ref = response_schema(&spec, "/wiki/rest/api/group/by-id", "get");
    assert!(
        !checker
            .validator(&group_ref)
            .is_valid(&json!({"type": "group", "name": "x"}))
    );

    let sim = start().await;
    let tok = sim.mint_token(ALL_SCOPES);
    let gid = sim.group_id("confluence-users").unwrap();
    let me = sim.consenting_account_id();
    let users = sim.users();
    let some: Vec<&str> = users
        .iter()
        .take(20)
        .map(|u| u.account_id.as_str())
        .collect();
    // One member is suspended: left out of the member pages, still served by /user.
    let suspended = sim
        .memberships(&gid)
        .unwrap()
        .into_iter()
        .find(|a| *a != me)
        .unwrap();
    assert!(sim.set_suspended(&suspended, true));
    let cql = "type%20in%20(page%2Cblogpost%2Ccomment%2Cattachment)%20and%20lastmodified%20%3E%3D%20%222025-04-01%22%20order%20by%20lastmodified%20desc";
    let samples: Vec<(&str, String)> = vec![
        (
            "/wiki/rest/api/group",
            "/wiki/rest/api/group?limit=2".into(),
        ),
        (
            "/wiki/rest/api/group",
            "/wiki/rest/api/group?accessType=user".into(),
        ),
        (
            "/wiki/rest/api/group/by-id",
            format!("/wiki/rest/api/group/by-id?id={gid}"),
        ),
        (
            "/wiki/rest/api/group/picker",
            "/wiki/rest/api/group/picker?query=conf&shouldReturnTotalSize=true".into(),
        ),
        (
            "/wiki/rest/api/group/{groupId}/membersByGroupId",
            format!("/wiki/rest/api/group/{gid}/membersByGroupId?limit=200"),
        ),
        (
            "/wiki/rest/api/group/{groupId}/membersByGroupId",
            format!(
                "/wiki/rest/api/group/{gid}/membersByGroupId?limit=50&start=100&shouldReturnTotalSize=true&expand=operations&expand=personalSpace&expand=isExternalCollaborator"
            ),
        ),
        (
            "/wiki/rest/api/user",
            format!("/wiki/rest/api/user?accountId={me}"),
        ),
        (
            "/wiki/rest/api/user",
            format!("/wiki/rest/api/user?accountId={me}&expand=operations,personalSpace"),
        ),
        (
            "/wiki/rest/api/user/current",
            "/wiki/rest/api/user/current".to_string(),
        ),
        (
            "/wiki/rest/api/user/bulk",
            format!("/wiki/rest/api/user/bulk?accountId={}", some.join(",")),
        ),
        (
            "/wiki/rest/api/user/memberof",
            format!("/wiki/rest/api/user/memberof?accountId={me}"),
        ),
        (
            "/wiki/rest/api/search",
            format!("/wiki/rest/api/search?cql={cql}&limit=50&excerpt=none&expand=content.version"),
        ),
        (
            "/wiki/rest/api/search",
            format!(
                "/wiki/rest/api/search?cql={cql}&limit=25&expand=content.history,content.history.lastUpdated,content.history.contributors.publishers,content.space"
            ),
        ),
        (
            "/wiki/rest/api/search",
            format!("/wiki/rest/api/search?cql=contributor%20%3D%20%22{me}%22&limit=3"),
        ),
        // Every contributor: creator, previous version's author, publishers.
        (
            "/wiki/rest/api/search",
            format!(
                "/wiki/rest/api/search?cql={cql}&limit=100&excerpt=none&expand=content.version,content.history.previousVersion,content.history.contributors.publishers"
            ),
        ),
        // A suspended user: findable, with an empty operations list.
        (
            "/wiki/rest/api/user",
            format!("/wiki/rest/api/user?accountId={suspended}&expand=operations"),
        ),
        (
            "/wiki/rest/api/group/{groupId}/membersByGroupId",
            format!(
                "/wiki/rest/api/group/{gid}/membersByGroupId?limit=200&shouldReturnTotalSize=true"
            ),
        ),
    ];
    // Bots and guests are in the sample too.
    for u in users
        .iter()
        .filter(|u| u.kind != confluence_sim::UserKind::Human)
        .take(4)
    {
        let (s, body) = get(
            &sim,
            &tok,
            &format!("/wiki/rest/api/user?accountId={}", u.account_id),
        )
        .await;
        assert_eq!(s, 200);
        checker.check(
            &response_schema(&spec, "/wiki/rest/api/user", "get"),
            &u.account_id,
            &body,
        );
    }
    let mut checked = 0;
    for (template, url) in &samples {
        let (s, body) = get(&sim, &tok, url).await;
        assert_eq!(s, 200, "{url}: {body}");
        checker.check(&response_schema(&spec, template, "get"), url, &body);
        checked += 1;
        // Follow one next link too.
        if let Some(next) = body["_links"]["next"].as_str() {
            let (s, body) = get(&sim, &tok, &format!("/wiki{next}")).await;
            assert_eq!(s, 200);
            checker.check(&response_schema(&spec, template, "get"), next, &body);
            checked += 1;
        }
    }
    // Nested refs are followed: a search result without its required `entityType`, or a
    // member whose `accountType` is outside the enum, is rejected.
    let search_ref = response_schema(&spec, "/wiki/rest/api/search", "get");
    let (_, mut body) = get(&sim, &tok, &samples[10].1).await;
    body["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("entityType");
    assert!(!checker.validator(&search_ref).is_valid(&body));
    let members_ref = response_schema(
        &spec,
        "/wiki/rest/api/group/{groupId}/membersByGroupId",
        "get",
    );
    let (_, mut body) = get(&sim, &tok, &samples[4].1).await;
    body["results"][0]["accountType"] = json!("robot");
    assert!(!checker.validator(&members_ref).is_valid(&body));
    println!("schema validation: {checked} response bodies matched the spec at {path}");
}
