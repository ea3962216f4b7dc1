//! `/api/v1/keys`: admins list, create (the secret shown once) and revoke their tenant's keys;
//! a member key sees only itself; the last admin key stays; expiry; `last_used_at` throttled.

use chrono::Timelike;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn post_json(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/keys", app.address))
        .header("Authorization", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}/api/v1/keys/{id}", app.address))
        .header("Authorization", key)
        .send()
        .await
        .unwrap()
}

/// Creates a key through the API (asserting 201); its `data`, with `secret`.
async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let response = post_json(app, key, &body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// `GET /api/v1/keys{query}`: the keys and `X-Total-Count`.
async fn keys(app: &TestApp, key: &str, query: &str) -> (Vec<Value>, i64) {
    let response = app.get(key, &format!("/api/v1/keys{query}")).await;
    assert_eq!(response.status(), 200);
    let total = response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = response.json().await.unwrap();
    (body["data"].as_array().unwrap().clone(), total)
}

/// The id of the key whose owner is `email` (the first listed).
fn id_of(keys: &[Value], email: &str) -> String {
    keys.iter()
        .find(|k| k["email"] == email)
        .unwrap_or_else(|| panic!("{email} in {keys:?}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn message(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    (status, body["data"]["message"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_list_and_revoke_keys_and_the_secret_is_shown_once() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "admin@acme.com", true).await;

    let member = create(
        &app,
        &admin,
        json!({"label": " CRM sync ", "role": "member"}),
    )
    .await;
    let secret = member["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("bik_") && secret.len() > 30, "{member}");
    assert_eq!(member["label"], "CRM sync", "trimmed");
    assert_eq!(member["role"], "member");
    assert_eq!(member["email"], "admin@acme.com", "the caller's by default");
    assert_eq!(member["created_by_email"], "admin@acme.com");
    assert!(member["created_by"].is_string(), "{member}");
    assert_eq!(member["prefix"], secret[..10]);
    assert_eq!(member["state"], "active");
    assert_eq!(member["expires_at"], Value::Null);
    assert_eq!(member["revoked_at"], Value::Null);

    // The new key works, with its own role: it reads but cannot upload or make keys.
    assert_eq!(app.get(&secret, "/api/v1/jobs").await.status(), 200);
    let upload = app
        .upload(&secret, "opportunities", "", "a.csv", "Opportunity ID\nA\n")
        .await;
    assert_eq!(upload.status(), 403);
    let (status, _) = message(post_json(&app, &secret, &json!({"label": "x"})).await).await;
    assert_eq!(status, 403);

    // An admin key for another person of the tenant: it may make keys itself.
    let ops = create(
        &app,
        &admin,
        json!({"label": "Ops", "role": "admin", "email": "ops@acme.com"}),
    )
    .await;
    let ops_secret = ops["secret"].as_str().unwrap().to_owned();
    assert_eq!(ops["email"], "ops@acme.com");
    create(&app, &ops_secret, json!({"label": "made by ops"})).await;

    // Listed newest first, never with a secret or a hash.
    let response = app.get(&admin, "/api/v1/keys").await;
    assert_eq!(response.headers()["x-total-count"], "4");
    let text = response.text().await.unwrap();
    for secret in [&secret, &ops_secret, &admin] {
        assert!(!text.contains(secret.as_str()), "no secret is listed again");
    }
    assert!(!text.contains("\"secret\""), "{text}");
    let (list, total) = keys(&app, &admin, "").await;
    assert_eq!(total, 4);
    let labels: Vec<&Value> = list.iter().map(|k| &k["label"]).collect();
    assert_eq!(
        labels,
        [
            &json!("made by ops"),
            &json!("Ops"),
            &json!("CRM sync"),
            &Value::Null
        ],
        "newest first; the operator's key has no label"
    );
    assert_eq!(list[0]["created_by_email"], "ops@acme.com");
    assert_eq!(list[3]["created_by"], Value::Null, "made by an operator");
    assert_eq!(list[3]["role"], "admin");
    // Paged like every list.
    let response = app.get(&admin, "/api/v1/keys?limit=1").await;
    assert!(
        response.headers()["link"]
            .to_str()
            .unwrap()
            .contains("offset=1")
    );

    // Revoked: 401 from the next request on; revoking again changes nothing.
    let id = member["id"].as_str().unwrap();
    let response = revoke(&app, &admin, id).await;
    assert_eq!(response.status(), 200);
    let revoked: Value = response.json().await.unwrap();
    assert_eq!(revoked["data"]["state"], "revoked");
    let revoked_at = revoked["data"]["revoked_at"].clone();
    assert!(revoked_at.is_string());
    assert_eq!(app.get(&secret, "/api/v1/jobs").await.status(), 401);
    let again: Value = revoke(&app, &admin, id).await.json().await.unwrap();
    assert_eq!(again["data"]["revoked_at"], revoked_at);

    // Revoked keys are listed only when asked for.
    assert_eq!(keys(&app, &admin, "").await.1, 3);
    let (all, total) = keys(&app, &admin, "?include_revoked=true").await;
    assert_eq!(total, 4);
    assert!(all.iter().any(|k| k["id"] == id && k["state"] == "revoked"));
    let (status, _) = message(app.get(&admin, "/api/v1/keys?include_revoked=maybe").await).await;
    assert_eq!(status, 400);

    // The CLI sees the keys made through the API, with their own roles.
    let list = crate::commands::stdout_of(&crate::commands::run(&app, &["keys", "list"]));
    let ops_row = list.lines().find(|l| l.contains("ops@acme.com")).unwrap();
    assert_eq!(ops_row.split_whitespace().nth(3), Some("yes"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_key_sees_and_revokes_only_itself() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "admin@acme.com", true).await;
    let rep = app.key("acme", "rep@acme.com", false).await;
    let (all, _) = keys(&app, &admin, "").await;
    let admin_id = id_of(&all, "admin@acme.com");
    let rep_id = id_of(&all, "rep@acme.com");

    let (own, total) = keys(&app, &rep, "?include_revoked=true").await;
    assert_eq!(total, 1);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["id"], rep_id.as_str());
    assert_eq!(own[0]["role"], "member");

    let (status, text) = message(post_json(&app, &rep, &json!({"label": "mine"})).await).await;
    assert_eq!(status, 403, "{text}");
    let (status, text) = message(revoke(&app, &rep, &admin_id).await).await;
    assert_eq!(status, 403);
    assert!(text.contains("only itself"), "{text}");
    assert_eq!(app.get(&admin, "/api/v1/jobs").await.status(), 200);

    assert_eq!(revoke(&app, &rep, &rep_id).await.status(), 200);
    assert_eq!(app.get(&rep, "/api/v1/keys").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_or_revoke_each_others_keys() {
    let app = spawn_app_with(|_| {}, false).await;
    let acme = app.key("acme", "admin@acme.com", true).await;
    let globex = app.key("globex", "admin@globex.com", true).await;
    let acme_id = id_of(&keys(&app, &acme, "").await.0, "admin@acme.com");

    let (list, total) = keys(&app, &globex, "?include_revoked=true").await;
    assert_eq!(total, 1);
    assert_eq!(list[0]["email"], "admin@globex.com");
    let (status, _) = message(revoke(&app, &globex, &acme_id).await).await;
    assert_eq!(
        status, 404,
        "another tenant's key is as absent as a missing one"
    );
    let (status, _) = message(revoke(&app, &globex, &uuid::Uuid::new_v4().to_string()).await).await;
    assert_eq!(status, 404);
    let (status, _) = message(revoke(&app, &globex, "not-an-id").await).await;
    assert_eq!(status, 404);
    assert_eq!(app.get(&acme, "/api/v1/jobs").await.status(), 200);

    // A key made by globex's admin for an acme address is still globex's.
    let made = create(
        &app,
        &globex,
        json!({"label": "x", "email": "admin@acme.com", "role": "admin"}),
    )
    .await;
    assert_eq!(keys(&app, &acme, "").await.1, 1);
    assert_eq!(keys(&app, &globex, "").await.1, 2);
    let secret = made["secret"].as_str().unwrap();
    let (list, _) = keys(&app, secret, "").await;
    assert!(
        list.iter()
            .all(|k| k["email"] != "admin@acme.com" || k["id"] == made["id"])
    );
    assert_eq!(
        app.get(secret, "/api/v1/keys").await.status(),
        200,
        "and works on globex"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_admin_key_cannot_be_revoked() {
    let app = spawn_app_with(|_| {}, false).await;
    let first = app.key("acme", "admin@acme.com", true).await;
    app.key("acme", "rep@acme.com", false).await;
    let first_id = id_of(&keys(&app, &first, "").await.0, "admin@acme.com");

    let (status, text) = message(revoke(&app, &first, &first_id).await).await;
    assert_eq!(status, 409);
    assert!(text.contains("last active admin key"), "{text}");
    assert_eq!(app.get(&first, "/api/v1/jobs").await.status(), 200);

    // With a second admin, the first can go.
    let second = create(&app, &first, json!({"label": "second", "role": "admin"})).await;
    let second_secret = second["secret"].as_str().unwrap();
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(revoke(&app, second_secret, &first_id).await.status(), 200);
    let (status, _) = message(revoke(&app, second_secret, second_id).await).await;
    assert_eq!(status, 409);

    // An expired admin key is no admin: it does not let the last live one go.
    let third = create(
        &app,
        second_secret,
        json!({"label": "third", "role": "admin"}),
    )
    .await;
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1")
        .bind(third["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let (status, _) = message(revoke(&app, second_secret, second_id).await).await;
    assert_eq!(status, 409);
    // Revoking the expired one is fine: it is not the tenant's last admin.
    assert_eq!(
        revoke(&app, second_secret, third["id"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_answers_401_saying_when_it_expired() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "admin@acme.com", true).await;
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let key = create(
        &app,
        &admin,
        json!({"label": "temp", "expires_at": in_an_hour}),
    )
    .await;
    let secret = key["secret"].as_str().unwrap();
    assert!(key["expires_at"].is_string());
    assert_eq!(app.get(secret, "/api/v1/jobs").await.status(), 200);

    sqlx::query("UPDATE api_keys SET expires_at = '2026-01-02T03:04:05Z' WHERE id = $1")
        .bind(key["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
        .execute(&app.db)
        .await
        .unwrap();
    let (status, text) = message(app.get(secret, "/api/v1/jobs").await).await;
    assert_eq!(status, 401);
    assert!(text.contains("expired at 2026-01-02T03:04:05Z"), "{text}");
    let (list, _) = keys(&app, &admin, "").await;
    let listed = list.iter().find(|k| k["id"] == key["id"]).unwrap();
    assert_eq!(listed["state"], "expired");

    // The expiry must lie ahead, and not too far.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let far = (chrono::Utc::now() + chrono::Duration::days(3700)).to_rfc3339();
    for (expires_at, expected) in [
        (past.as_str(), "in the future"),
        (far.as_str(), "ten years"),
        ("tomorrow", "RFC 3339"),
    ] {
        let body = json!({"label": "x", "expires_at": expires_at});
        let (status, text) = message(post_json(&app, &admin, &body).await).await;
        assert_eq!(status, 400, "{expires_at}");
        assert!(text.contains(expected), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_used_at_is_written_at_most_once_a_minute() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.key("acme", "admin@acme.com", true).await;
    let last_used = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
            "SELECT last_used_at FROM api_keys",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    assert_eq!(last_used().await, None, "never used yet");

    assert_eq!(app.get(&key, "/api/v1/jobs").await.status(), 200);
    let first = last_used().await.expect("recorded at the first use");
    assert_eq!(app.get(&key, "/api/v1/jobs").await.status(), 200);
    assert_eq!(app.get(&key, "/api/v1/jobs").await.status(), 200);
    assert_eq!(
        last_used().await,
        Some(first),
        "not written again within a minute"
    );

    sqlx::query("UPDATE api_keys SET last_used_at = now() - interval '2 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    let old = last_used().await.unwrap();
    assert_eq!(app.get(&key, "/api/v1/jobs").await.status(), 200);
    let renewed = last_used().await.unwrap();
    assert!(
        renewed > old,
        "an older record is renewed: {old} → {renewed}"
    );
    let (list, _) = keys(&app, &key, "").await;
    assert!(list[0]["last_used_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_requests_are_bounded() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "admin@acme.com", true).await;
    let long_email = format!("{}@acme.com", "a".repeat(250));
    for (body, expected) in [
        (json!({}), "label"),
        (json!({"label": "   "}), "label must be 1 to 100"),
        (json!({"label": "x".repeat(101)}), "label must be 1 to 100"),
        (json!({"label": "a\u{7}b"}), "control characters"),
        (
            json!({"label": "x", "email": "not-an-email"}),
            "email must be",
        ),
        (json!({"label": "x", "email": long_email}), "email must be"),
        (json!({"label": "x", "role": "owner"}), "role"),
        (json!({"label": "x", "tenant": "globex"}), "tenant"),
    ] {
        let (status, text) = message(post_json(&app, &admin, &body).await).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(expected), "{body}: {text}");
    }
    let huge = json!({"label": "x".repeat(20_000)});
    let (status, text) = message(post_json(&app, &admin, &huge).await).await;
    assert_eq!(status, 413);
    assert!(text.contains("16384 byte"), "{text}");
    let plain = app
        .client
        .post(format!("{}/api/v1/keys", app.address))
        .header("Authorization", &admin)
        .body(r#"{"label":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);

    // At most 1000 active keys per tenant: 998 more made directly, then one through the API.
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, key_hash, key_prefix, role)
         SELECT gen_random_uuid(), user_id, sha256(('k' || n)::bytea), 'bik_xxxxxx', 'member'
           FROM api_keys, generate_series(1, 998) AS n",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let last = create(&app, &admin, json!({"label": "the 1000th"})).await;
    let (status, text) =
        message(post_json(&app, &admin, &json!({"label": "one more"})).await).await;
    assert_eq!(status, 409);
    assert!(text.contains("1000 active API keys"), "{text}");
    assert_eq!(
        revoke(&app, &admin, last["id"].as_str().unwrap())
            .await
            .status(),
        200
    );
    create(&app, &admin, json!({"label": "room again"})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_operations_are_documented_as_they_answer() {
    let app = spawn_app_with(|_| {}, false).await;
    let doc: Value = app
        .get_anonymous("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let fields = |value: &Value| -> std::collections::BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };
    let admin = app.key("acme", "admin@acme.com", true).await;
    let created = create(&app, &admin, json!({"label": "doc"})).await;
    assert_eq!(
        fields(&created),
        fields(&schemas["CreatedApiKeyView"]["properties"])
    );
    let (list, _) = keys(&app, &admin, "").await;
    assert_eq!(
        fields(&list[0]),
        fields(&schemas["ApiKeyView"]["properties"])
    );
    assert!(!fields(&schemas["ApiKeyView"]["properties"]).contains("secret"));
    assert_eq!(
        schemas["ApiKeyState"]["enum"],
        json!(["active", "expired", "revoked"])
    );
    assert_eq!(schemas["KeyRole"]["enum"], json!(["admin", "member"]));

    for (path, method, statuses) in [
        ("/api/v1/keys", "get", &["200", "400", "401", "429"][..]),
        (
            "/api/v1/keys",
            "post",
            &["201", "400", "401", "403", "409", "413", "415", "429"][..],
        ),
        (
            "/api/v1/keys/{id}",
            "delete",
            &["200", "400", "401", "403", "404", "409", "429"][..],
        ),
    ] {
        let operation = &doc["paths"][path][method];
        for status in statuses {
            assert!(
                operation["responses"].get(*status).is_some(),
                "{method} {path} {status}"
            );
        }
    }
    let created_schema = &doc["paths"]["/api/v1/keys"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(created_schema, "#/components/schemas/CreatedApiKeyResponse");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_revoking_each_other_at_once_leave_one_admin() {
    let app = spawn_app_with(|_| {}, false).await;
    // Each round at most one 401 (the loser's key), well under the failed-authentication
    // burst (20) of this address.
    for round in 0..12 {
        let tenant = format!("race{round}");
        let a = app.key(&tenant, "a@race.example", true).await;
        let b = app.key(&tenant, "b@race.example", true).await;
        let (list, _) = keys(&app, &a, "").await;
        let (a_id, b_id) = (
            id_of(&list, "a@race.example"),
            id_of(&list, "b@race.example"),
        );
        let (first, second) = tokio::join!(revoke(&app, &a, &b_id), revoke(&app, &b, &a_id));
        let statuses = [first.status().as_u16(), second.status().as_u16()];
        // The loser is refused as the last admin, or (when the winner finished before it
        // authenticated) as a revoked key; never are both revoked.
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| [200, 401, 409].contains(s)),
            "round {round}: {statuses:?}"
        );
        // Counted in the database: a request with the revoked key would count as a failed
        // authentication of this address, and enough of those get 429.
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM api_keys k JOIN users u ON u.id = k.user_id
               JOIN tenants t ON t.id = u.tenant_id
              WHERE t.slug = $1 AND k.revoked_at IS NULL",
        )
        .bind(&tenant)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(active, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_labels_keys_and_the_role_is_the_keys_not_the_persons() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "boss@acme.com", true).await;
    // An operator's member key for the same person: it reads but cannot upload, although
    // its owner also holds an admin key.
    let out = crate::commands::run(
        &app,
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--email",
            "boss@acme.com",
            "--label",
            " Read only ",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let member = crate::commands::stdout_of(&out)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(app.get(&member, "/api/v1/jobs").await.status(), 200);
    let upload = app
        .upload(&member, "opportunities", "", "a.csv", "Opportunity ID\nA\n")
        .await;
    assert_eq!(upload.status(), 403);

    let (list, _) = keys(&app, &admin, "").await;
    let listed = list.iter().find(|k| k["label"] == "Read only").unwrap();
    assert_eq!(listed["role"], "member");
    assert_eq!(listed["email"], "boss@acme.com");
    assert_eq!(listed["created_by"], Value::Null, "an operator's key");
    assert_eq!(listed["prefix"], member[..10]);

    let long = "x".repeat(101);
    let refused = crate::commands::run(
        &app,
        &[
            "keys",
            "create",
            "--tenant",
            "acme",
            "--email",
            "a@acme.com",
            "--label",
            &long,
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--label"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_gives_keys_an_expiry_in_the_future_only() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "boss@acme.com", true).await;
    let create = |expires_at: String| {
        let app = &app;
        move || {
            crate::commands::run(
                app,
                &[
                    "keys",
                    "create",
                    "--tenant",
                    "acme",
                    "--email",
                    "temp@acme.com",
                    "--label",
                    "Contractor",
                    "--expires-at",
                    &expires_at,
                ],
            )
        }
    };
    let at = (chrono::Utc::now() + chrono::Duration::days(30))
        .with_nanosecond(0)
        .unwrap();
    let out = create(at.to_rfc3339())();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = crate::commands::stdout_of(&out)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(app.get(&key, "/api/v1/jobs").await.status(), 200);
    let (list, _) = keys(&app, &admin, "").await;
    let listed = list.iter().find(|k| k["label"] == "Contractor").unwrap();
    let listed_at: chrono::DateTime<chrono::Utc> =
        listed["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(listed_at, at);

    for (expires_at, expected) in [
        (
            "2001-01-01T00:00:00Z".to_owned(),
            "--expires-at must be in the future",
        ),
        (
            "next week".to_owned(),
            "--expires-at must be an RFC 3339 time",
        ),
        (
            (chrono::Utc::now() + chrono::Duration::days(4000)).to_rfc3339(),
            "--expires-at must be at most ten years ahead",
        ),
    ] {
        let refused = create(expires_at.clone())();
        assert!(!refused.status.success(), "{expires_at}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(expected), "{expires_at}: {stderr}");
    }
    let (list, _) = keys(&app, &admin, "").await;
    assert_eq!(
        list.iter().filter(|k| k["label"] == "Contractor").count(),
        1
    );
}
