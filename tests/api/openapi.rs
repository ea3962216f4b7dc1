//! The OpenAPI document at `/api/v1/openapi.json` against the running router: every route
//! of the API contract is documented with its methods, every documented operation is
//! served (and with exactly the documented methods), and the schemas match real answers.

use std::collections::{BTreeMap, BTreeSet};

use batch_import::api::{NON_API_ROUTES, openapi};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, opportunities_csv, spawn_app_with};

/// The routes of the API contract (issue 8) with their methods. The router is built from
/// the handlers' `#[utoipa::path]`s, so a route missing here or there fails the test.
const CONTRACT: &[(&str, &[&str])] = &[
    ("/api/v1/opportunities/upload", &["post"]),
    ("/api/v1/contacts/upload", &["post"]),
    ("/api/v1/sales_targets/upload", &["post"]),
    ("/api/v1/opportunities/sample.csv", &["get"]),
    ("/api/v1/contacts/sample.csv", &["get"]),
    ("/api/v1/sales_targets/sample.csv", &["get"]),
    ("/api/v1/opportunities/sample.xlsx", &["get"]),
    ("/api/v1/contacts/sample.xlsx", &["get"]),
    ("/api/v1/sales_targets/sample.xlsx", &["get"]),
    ("/api/v1/opportunities", &["get"]),
    ("/api/v1/contacts", &["get"]),
    ("/api/v1/sales_targets", &["get"]),
    ("/api/v1/opportunities.csv", &["get"]),
    ("/api/v1/contacts.csv", &["get"]),
    ("/api/v1/sales_targets.csv", &["get"]),
    ("/api/v1/jobs", &["get"]),
    ("/api/v1/jobs/{id}", &["get"]),
    ("/api/v1/jobs/{id}/cancel", &["post"]),
    ("/api/v1/jobs/{id}/events", &["get"]),
    ("/api/v1/jobs/{id}/errors.csv", &["get"]),
    ("/api/v1/webhooks", &["get", "post"]),
    ("/api/v1/webhooks/{id}", &["delete", "get"]),
    ("/api/v1/webhooks/{id}/deliveries", &["get"]),
    ("/api/v1/jobs/{id}/errors", &["get"]),
    ("/api/v1/jobs/{id}/corrections", &["post"]),
    ("/api/v1/jobs/{id}/revert", &["post"]),
    ("/api/v1/jobs/{id}/unprocessed.csv", &["get"]),
    ("/api/v1/keys", &["get", "post"]),
    ("/api/v1/keys/{id}", &["delete"]),
    ("/api/v1/healthz", &["get"]),
    ("/api/v1/readyz", &["get"]),
    ("/api/v1/openapi.json", &["get"]),
    ("/metrics", &["get"]),
];

/// Operations anyone may call; all others need a key.
const OPEN: &[&str] = &[
    "/api/v1/opportunities/sample.csv",
    "/api/v1/contacts/sample.csv",
    "/api/v1/sales_targets/sample.csv",
    "/api/v1/opportunities/sample.xlsx",
    "/api/v1/contacts/sample.xlsx",
    "/api/v1/sales_targets/sample.xlsx",
    "/api/v1/healthz",
    "/api/v1/readyz",
    "/api/v1/openapi.json",
    "/metrics",
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    let response = app.get_anonymous("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// Path → documented methods (lower case).
fn operations(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// `/jobs/{id}` with a real-looking id.
fn concrete(path: &str) -> String {
    path.replace("{id}", &Uuid::new_v4().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_with_its_methods_and_every_documented_one_is_served() {
    let app = spawn_app_with(|_| {}, false).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    // What is served is what the code builds.
    assert_eq!(doc, serde_json::from_str::<Value>(openapi::json()).unwrap());

    let documented = operations(&doc);
    let contract: BTreeMap<String, BTreeSet<String>> = CONTRACT
        .iter()
        .map(|(path, methods)| {
            let methods = methods.iter().map(|m| m.to_string()).collect();
            (path.to_string(), methods)
        })
        .collect();
    assert_eq!(documented, contract, "the document's operations");
    for path in NON_API_ROUTES {
        assert!(!documented.contains_key(*path), "{path} is not API");
    }

    for (path, methods) in &documented {
        for method in methods {
            // Without a key: a route that exists answers 401 (or 200 when open), never
            // the fallback's 404.
            let response = app
                .client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{}", app.address, concrete(path)),
                )
                .send()
                .await
                .unwrap();
            let expected = if OPEN.contains(&path.as_str()) {
                200
            } else {
                401
            };
            assert_eq!(response.status(), expected, "{method} {path}");
        }
        // A method no route serves: 405, and Allow lists exactly the documented methods
        // (axum answers HEAD wherever it answers GET), so no undocumented method hides on
        // a documented path.
        let response = app
            .client
            .put(format!("{}{}", app.address, concrete(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "PUT {path}");
        let allowed: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| m != "head")
            .collect();
        assert_eq!(&allowed, methods, "Allow of {path}");
    }

    // Routes outside the contract are served, just not documented.
    for path in NON_API_ROUTES {
        let response = app.get_anonymous(path).await;
        assert_ne!(response.status(), 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schemas_match_real_answers_and_every_reference_resolves() {
    let app = spawn_app_with(|_| {}, false).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> BTreeSet<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"))
            .keys()
            .cloned()
            .collect()
    };

    // A job, as the upload answers it (no worker: it stays queued).
    let key = app.admin_key().await;
    let response = app
        .upload(
            &key,
            "opportunities",
            "",
            "o.csv",
            opportunities_csv("oa", 2),
        )
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let keys = |value: &Value| -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&body), properties("JobResponse"));
    assert_eq!(keys(&body["data"]), properties("JobView"));
    let job_view: BTreeSet<String> = [
        "id",
        "url",
        "kind",
        "state",
        "jobs_ahead",
        "name",
        "file_name",
        "file_size",
        "sheet",
        "rows_processed",
        "bytes_processed",
        "progress_percent",
        "total_original_rows",
        "total_imported_rows",
        "total_error_rows",
        "created_rows",
        "updated_rows",
        "unchanged_rows",
        "dry_run",
        "error_file",
        "unprocessed_file",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "send_error_email",
        "email_sent_at",
        "email_error",
        "error_summary",
        "parent_job_id",
        "corrections",
        "reverts_job_id",
        "reverted_by_job_id",
        "deleted_rows",
        "restored_rows",
        "conflict_rows",
    ]
    .map(String::from)
    .into();
    assert_eq!(properties("JobView"), job_view);
    // Every field is always there (`null` when unknown).
    let required: BTreeSet<String> = schemas["JobView"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(required, job_view);
    // The only queued job: none ahead. A count of at least 0, `null` when not queued.
    assert_eq!(body["data"]["jobs_ahead"], 0, "{body}");
    let jobs_ahead = &schemas["JobView"]["properties"]["jobs_ahead"];
    assert_eq!(
        jobs_ahead["type"],
        serde_json::json!(["integer", "null"]),
        "{jobs_ahead}"
    );
    assert_eq!(jobs_ahead["minimum"], 0, "{jobs_ahead}");
    assert_eq!(
        schemas["JobState"]["enum"],
        serde_json::json!(["queued", "running", "completed", "failed", "cancelled"])
    );
    // The original API's field names, `type` included.
    for field in [
        "external_opp_id",
        "close_date",
        "type",
        "owner_email",
        "active",
    ] {
        assert!(properties("OpportunityView").contains(field), "{field}");
    }

    // JSend fail and error bodies.
    let missing = app
        .get(&key, &format!("/api/v1/jobs/{}", Uuid::new_v4()))
        .await;
    assert_eq!(missing.status(), 404);
    let fail: Value = missing.json().await.unwrap();
    assert_eq!(keys(&fail), properties("JSendFail"));
    assert_eq!(keys(&fail["data"]), properties("FailData"));
    assert_eq!(schemas["FailStatus"]["enum"], serde_json::json!(["fail"]));
    assert_eq!(
        properties("JSendError"),
        ["message", "status"].map(String::from).into()
    );

    // The key scheme, and which operations use it.
    assert_eq!(
        doc["components"]["securitySchemes"][openapi::API_KEY_SCHEME]["in"],
        "header"
    );
    assert_eq!(
        doc["components"]["securitySchemes"][openapi::API_KEY_SCHEME]["name"],
        "Authorization"
    );
    for (path, methods) in operations(&doc) {
        for method in methods {
            let operation = &doc["paths"][&path][&method];
            let secured = operation["security"].is_array();
            assert_eq!(secured, !OPEN.contains(&path.as_str()), "{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            if secured {
                assert!(
                    operation["security"][0]
                        .get(openapi::API_KEY_SCHEME)
                        .is_some(),
                    "{method} {path} uses the key scheme"
                );
                for status in ["401", "429", "500", "503"] {
                    assert!(responses.contains_key(status), "{method} {path} {status}");
                }
            }
        }
    }
    let upload = &doc["paths"]["/api/v1/contacts/upload"]["post"];
    for status in ["200", "202", "400", "403", "409", "413", "507"] {
        assert!(upload["responses"].get(status).is_some(), "upload {status}");
    }
    let names: BTreeSet<&str> = upload["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "send_error_email",
            "wait",
            "mapping",
            "validate_only",
            "name",
            "sheet",
            "Idempotency-Key"
        ]
        .into()
    );

    // Every `$ref` points at a schema that is there.
    let mut stack = vec![&doc];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let name = target.strip_prefix("#/components/schemas/").unwrap();
                    assert!(schemas.get(name).is_some(), "dangling {target}");
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
}
