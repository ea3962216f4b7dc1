//! Webhooks: registered endpoints get a signed POST of the job when it ends, retried with
//! backoff, recorded; private URLs are refused unless allowed. The receiver is a real
//! HTTP server on loopback, hence `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true` in most tests.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
    routing::post,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, opportunities_csv, spawn_app_with};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Clone)]
struct ReceiverState {
    requests: Arc<Mutex<Vec<Received>>>,
    /// Answers 500 to this many calls first, then 200.
    fail_first: usize,
    calls: Arc<AtomicUsize>,
}

/// A webhook receiver on 127.0.0.1; stops when dropped.
struct Receiver {
    addr: SocketAddr,
    state: ReceiverState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver that answers 500 to the first `fail_first` calls, then 200.
    async fn start(fail_first: usize) -> Self {
        Self::start_on(0, fail_first).await
    }

    async fn start_on(port: u16, fail_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state = ReceiverState {
            requests: Arc::default(),
            fail_first,
            calls: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(receive))
            .route("/moved", post(moved))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { addr, state, task }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.requests.lock().unwrap().push(Received {
        path: "/hook".into(),
        headers,
        body,
    });
    if state.calls.fetch_add(1, Ordering::SeqCst) < state.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// Answers every call with a redirect to `/hook`, which a webhook must not follow.
async fn moved(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    state.requests.lock().unwrap().push(Received {
        path: "/moved".into(),
        headers,
        body,
    });
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, "/hook")],
    )
}

/// An app whose webhooks may call loopback and retry after 1 s, 3 s, … up to `attempts`.
async fn app_with_loopback_webhooks(attempts: u32) -> TestApp {
    spawn_app_with(
        |s| {
            s.webhook_allow_private_networks = true;
            s.webhook_retry_base_secs = 1;
            s.webhook_max_attempts = attempts;
        },
        true,
    )
    .await
}

async fn post_json(app: &TestApp, key: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("Authorization", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}{path}", app.address))
        .header("Authorization", key)
        .send()
        .await
        .unwrap()
}

/// Registers `url` (asserting 201); returns the answer's `data`.
async fn register(app: &TestApp, key: &str, url: &str) -> Value {
    let response = post_json(
        app,
        key,
        "/api/v1/webhooks",
        &json!({ "url": url, "description": "test receiver" }),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// The endpoint's deliveries (asserting 200).
async fn deliveries(app: &TestApp, key: &str, webhook_id: &str) -> Vec<Value> {
    let response = app
        .get(key, &format!("/api/v1/webhooks/{webhook_id}/deliveries"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Polls the endpoint's deliveries until `done` holds for them (panics after 60 s).
async fn wait_for_deliveries(
    app: &TestApp,
    key: &str,
    webhook_id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = deliveries(app, key, webhook_id).await;
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never got there: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn settled(list: &[Value]) -> bool {
    !list.is_empty() && list.iter().all(|d| d["state"] != "pending")
}

/// Checks `Batch-Import-Signature` the way a receiver would: HMAC-SHA256 of `"<t>.<body>"`.
fn assert_signed(request: &Received, secret: &str) {
    let header = request.header("batch-import-signature");
    let mut timestamp = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_owned()),
            Some(("v1", s)) => v1 = Some(s.to_owned()),
            _ => {}
        }
    }
    let timestamp = timestamp.expect("t= in the signature header");
    let now = chrono::Utc::now().timestamp();
    let t: i64 = timestamp.parse().unwrap();
    assert!((now - t).abs() < 300, "timestamp {t} is recent");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1.as_deref(), Some(expected.as_str()), "{header}");
}

#[tokio::test]
async fn a_finished_job_is_posted_once_signed_to_each_endpoint() {
    let app = app_with_loopback_webhooks(3).await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(0).await;
    let created = register(&app, &key, &receiver.url()).await;
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    assert_eq!(created["url"], receiver.url());
    assert_eq!(created["description"], "test receiver");

    // The secret is shown once: never in the endpoint, the list or the deliveries.
    let one = app
        .get(&key, &format!("/api/v1/webhooks/{webhook_id}"))
        .await;
    assert_eq!(one.status(), 200);
    let one = one.text().await.unwrap();
    assert!(
        !one.contains(&secret) && !one.contains("\"secret\""),
        "{one}"
    );
    let list = app.get(&key, "/api/v1/webhooks").await;
    assert_eq!(list.status(), 200);
    assert_eq!(list.headers()["x-total-count"], "1");
    let list = list.text().await.unwrap();
    assert!(
        !list.contains(&secret) && list.contains(&webhook_id),
        "{list}"
    );

    let job = app
        .import(&key, "opportunities", "", opportunities_csv("wh", 4))
        .await;
    assert_eq!(job["state"], "completed");
    let job_id = job["id"].as_str().unwrap();

    let list = wait_for_deliveries(&app, &key, &webhook_id, settled).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let delivery = &list[0];
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["job_id"], job_id);
    assert_eq!(delivery["event"], "job.finished");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status_code"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert!(delivery["delivered_at"].is_string());
    assert!(delivery["last_duration_ms"].is_i64());

    let received = receiver.received();
    assert_eq!(received.len(), 1, "exactly one POST");
    let request = &received[0];
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("batch-import-event"), "job.finished");
    assert_eq!(request.header("batch-import-delivery"), delivery["id"]);
    assert_signed(request, &secret);
    let posted: Value = serde_json::from_slice(&request.body).unwrap();
    let shown: Value = app
        .get(&key, &format!("/api/v1/jobs/{job_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(posted, shown["data"], "the body is the job as GET shows it");

    // Delivered means never sent again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_and_one_delivery() {
    let app = app_with_loopback_webhooks(5).await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(2).await;
    let created = register(&app, &key, &receiver.url()).await;
    let webhook_id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();

    app.import(&key, "opportunities", "", opportunities_csv("retry", 2))
        .await;
    let list = wait_for_deliveries(&app, &key, webhook_id, settled).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "delivered", "{}", list[0]);
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["last_status_code"], 200);

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    let ids: Vec<&str> = received
        .iter()
        .map(|r| r.header("batch-import-delivery"))
        .collect();
    assert!(ids.iter().all(|id| *id == list[0]["id"]), "{ids:?}");
    for request in &received {
        assert_signed(request, secret);
        assert_eq!(
            request.body, received[0].body,
            "every attempt sends the same body"
        );
    }
}

#[tokio::test]
async fn a_receiver_that_always_fails_ends_failed_after_the_bounded_attempts() {
    let app = app_with_loopback_webhooks(3).await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(usize::MAX).await;
    let webhook_id = register(&app, &key, &receiver.url()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.import(&key, "opportunities", "", opportunities_csv("fail", 2))
        .await;
    let list = wait_for_deliveries(&app, &key, &webhook_id, settled).await;
    assert_eq!(list[0]["state"], "failed", "{}", list[0]);
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["last_status_code"], 500);
    assert!(
        list[0]["last_error"].as_str().unwrap().contains("500"),
        "{}",
        list[0]
    );
    assert_eq!(list[0]["delivered_at"], Value::Null);
    assert_eq!(list[0]["next_attempt_at"], Value::Null);
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_delivery_waits_for_a_receiver_that_is_down() {
    let app = app_with_loopback_webhooks(10).await;
    let key = app.admin_key().await;
    // A port nobody listens on yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let webhook_id = register(&app, &key, &url).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let job = app
        .import(&key, "opportunities", "", opportunities_csv("down", 2))
        .await;
    // Owed from the moment the job ended: the delivery commits with the end.
    let list = deliveries(&app, &key, &webhook_id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["job_id"], job["id"]);

    let list = wait_for_deliveries(&app, &key, &webhook_id, |l| {
        l[0]["attempts"].as_i64() >= Some(1) && l[0]["last_error"].is_string()
    })
    .await;
    assert_eq!(list[0]["state"], "pending", "{}", list[0]);
    assert_eq!(list[0]["last_status_code"], Value::Null);
    assert!(list[0]["next_attempt_at"].is_string());

    let receiver = Receiver::start_on(port, 0).await;
    let list = wait_for_deliveries(&app, &key, &webhook_id, settled).await;
    assert_eq!(list[0]["state"], "delivered", "{}", list[0]);
    assert!(list[0]["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn deleting_an_endpoint_stops_its_pending_deliveries() {
    let app = app_with_loopback_webhooks(10).await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(usize::MAX).await;
    let webhook_id = register(&app, &key, &receiver.url()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.import(&key, "opportunities", "", opportunities_csv("del", 2))
        .await;
    wait_for_deliveries(&app, &key, &webhook_id, |l| {
        l.first()
            .is_some_and(|d| d["attempts"] == 1 && d["last_status_code"] == 500)
    })
    .await;

    let response = delete(&app, &key, &format!("/api/v1/webhooks/{webhook_id}")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "status": "success", "data": null }));
    let after_delete = receiver.received().len();
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 0, "the pending delivery went with its endpoint");
    assert_eq!(
        app.get(&key, &format!("/api/v1/webhooks/{webhook_id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&key, &format!("/api/v1/webhooks/{webhook_id}/deliveries"))
            .await
            .status(),
        404
    );
    // Its retries (due after 1 s, 3 s) never come, and a new job owes it nothing.
    app.import(&key, "opportunities", "", opportunities_csv("del2", 2))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(receiver.received().len(), after_delete);
}

#[tokio::test]
async fn private_urls_are_refused_unless_the_setting_allows_them() {
    let strict = spawn_app_with(|_| {}, false).await;
    assert!(
        !strict.settings.webhook_allow_private_networks,
        "off by default"
    );
    let key = strict.admin_key().await;
    for url in [
        "http://127.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://192.0.0.8/",
        "http://192.0.2.1/",
        "http://198.18.0.1/",
        "http://198.51.100.7/",
        "http://203.0.113.9/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[64:ff9b:1::1]/",
        "http://[100::1]/",
        "http://[2001::1]/",
        "http://[2001:db8::1]/",
        "http://[2002:7f00:1::1]/",
        "http://[3fff::1]/",
        "http://[5f00::1]/",
        "http://[ff02::1]/",
    ] {
        let response = post_json(&strict, &key, "/api/v1/webhooks", &json!({ "url": url })).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["status"], "fail");
        let message = body["data"]["message"].as_str().unwrap();
        assert!(
            message.contains("WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
            "{url}: {message}"
        );
        // The user wrote the address: the refusal may name it, and its range.
        let host = reqwest::Url::parse(url)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains(&format!("host {host} is ")),
            "{url}: {message}"
        );
    }
    // A name: the refusal says what kind of address it resolves to, never which address.
    let response = post_json(
        &strict,
        &key,
        "/api/v1/webhooks",
        &json!({ "url": "http://localhost:9/hook" }),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["data"]["message"].as_str().unwrap();
    assert!(
        message.contains("host localhost resolves to a loopback address")
            && message.contains("WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
        "{message}"
    );
    assert!(
        !message.contains("127.0.0.1") && !message.contains("::1"),
        "{message}"
    );
    for (url, says) in [
        ("ftp://example.com/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("not a url", "not a valid URL"),
    ] {
        let response = post_json(&strict, &key, "/api/v1/webhooks", &json!({ "url": url })).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body["data"]["message"].as_str().unwrap().contains(says),
            "{url}: {body}"
        );
    }
    for body in [
        json!({}),
        json!({ "url": 5 }),
        json!({ "url": "http://x", "extra": 1 }),
    ] {
        let response = post_json(&strict, &key, "/api/v1/webhooks", &body).await;
        assert_eq!(response.status(), 400, "{body}");
    }
    let not_json = strict
        .client
        .post(format!("{}/api/v1/webhooks", strict.address))
        .header("Authorization", &key)
        .body("url=http://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let empty: Value = strict
        .get(&key, "/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["data"], json!([]), "nothing refused was stored");

    let relaxed = spawn_app_with(|s| s.webhook_allow_private_networks = true, false).await;
    let key = relaxed.admin_key().await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[::1]/",
        "http://localhost:9/hook",
    ] {
        register(&relaxed, &key, url).await;
    }
    for (description, says) in [
        ("a\u{0}b".to_owned(), "control characters"),
        ("x".repeat(501), "at most 500"),
    ] {
        let body = json!({ "url": "http://127.0.0.1:9/", "description": description });
        let response = post_json(&relaxed, &key, "/api/v1/webhooks", &body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert!(
            body["data"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
}

#[tokio::test]
async fn webhooks_need_an_admin_key_and_stay_within_their_tenant() {
    let app = spawn_app_with(|s| s.webhook_allow_private_networks = true, false).await;
    let admin = app.admin_key().await;
    let created = register(&app, &admin, "http://127.0.0.1:9/hook").await;
    let id = created["id"].as_str().unwrap();
    let paths = [
        format!("/api/v1/webhooks/{id}"),
        format!("/api/v1/webhooks/{id}/deliveries"),
    ];

    let tenant = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let member = app.key(&tenant, "member@example.com", false).await;
    let response = post_json(
        &app,
        &member,
        "/api/v1/webhooks",
        &json!({ "url": "http://127.0.0.1:9/x" }),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.get(&member, "/api/v1/webhooks").await.status(), 403);
    for path in &paths {
        assert_eq!(app.get(&member, path).await.status(), 403, "{path}");
    }
    assert_eq!(delete(&app, &member, &paths[0]).await.status(), 403);

    let other_admin = app.key(&tenant, "admin@example.com", true).await;
    for path in &paths {
        let response = app.get(&other_admin, path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "fail");
    }
    assert_eq!(delete(&app, &other_admin, &paths[0]).await.status(), 404);
    let theirs: Value = app
        .get(&other_admin, "/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));
    assert_eq!(
        app.get(&admin, "/api/v1/webhooks/not-a-uuid")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&admin, &paths[0]).await.status(),
        200,
        "still there"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = app_with_loopback_webhooks(2).await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(0).await;
    let url = receiver.url().replace("/hook", "/moved");
    let webhook_id = register(&app, &key, &url).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.import(&key, "opportunities", "", opportunities_csv("moved", 2))
        .await;
    let list = wait_for_deliveries(&app, &key, &webhook_id, settled).await;
    assert_eq!(list[0]["state"], "failed", "{}", list[0]);
    assert_eq!(list[0]["attempts"], 2);
    assert_eq!(list[0]["last_status_code"], 307);
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/moved", "/moved"],
        "the redirect was never followed"
    );
}

#[tokio::test]
async fn the_ssrf_rule_is_checked_again_when_delivering() {
    // Endpoints registered while their hosts were public, whose addresses are now private
    // (a DNS change): written to the table directly, as registration would refuse them.
    let app = spawn_app_with(|s| s.webhook_max_attempts = 1, true).await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(0).await;
    let port = receiver.addr.port();
    let tenant_id: uuid::Uuid =
        sqlx::query_scalar("SELECT t.id FROM tenants t ORDER BY t.created_at DESC LIMIT 1")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let mut ids = Vec::new();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
    ] {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ($1, $2, $3, 'whsec_x')",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(&url)
        .execute(&app.db)
        .await
        .unwrap();
        ids.push(id.to_string());
    }
    app.import(&key, "opportunities", "", opportunities_csv("ssrf", 2))
        .await;
    for id in &ids {
        let list = wait_for_deliveries(&app, &key, id, settled).await;
        assert_eq!(list[0]["state"], "failed", "{}", list[0]);
        assert_eq!(list[0]["last_status_code"], Value::Null);
        let error = list[0]["last_error"].as_str().unwrap();
        assert!(error.contains("loopback"), "{error}");
    }
    // The name's refusal, recorded for the tenant to read, does not say where it points.
    let error = deliveries(&app, &key, &ids[1]).await[0]["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("resolves to a loopback address") && !error.contains("127.0.0.1"),
        "{error}"
    );
    assert!(receiver.received().is_empty(), "nothing reached loopback");
}

#[tokio::test]
async fn a_job_cancelled_before_it_ran_owes_its_deliveries_too() {
    // No worker: the job stays queued until the cancel ends it in the API.
    let app = spawn_app_with(|s| s.webhook_allow_private_networks = true, false).await;
    let key = app.admin_key().await;
    let webhook_id = register(&app, &key, "http://127.0.0.1:9/hook").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job_id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("cancel", 2))
        .await;
    assert!(deliveries(&app, &key, &webhook_id).await.is_empty());
    let response = app
        .post(&key, &format!("/api/v1/jobs/{job_id}/cancel"))
        .await;
    assert_eq!(response.status(), 200);
    let list = deliveries(&app, &key, &webhook_id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["job_id"], job_id.as_str());
    assert_eq!(list[0]["state"], "pending");
    let payload: String = sqlx::query_scalar("SELECT payload FROM webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["state"], "cancelled");
    assert_eq!(payload["id"], job_id.as_str());
}

#[tokio::test]
async fn a_delivery_claimed_by_a_worker_that_died_is_sent_by_another() {
    let app = spawn_app_with(
        |s| {
            s.webhook_allow_private_networks = true;
            s.webhook_retry_base_secs = 1;
        },
        false,
    )
    .await;
    let key = app.admin_key().await;
    let receiver = Receiver::start(0).await;
    let webhook_id = register(&app, &key, &receiver.url()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // No worker yet: cancelling the queued job ends it and owes the delivery.
    let job_id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("dead", 2))
        .await;
    let response = app
        .post(&key, &format!("/api/v1/jobs/{job_id}/cancel"))
        .await;
    assert_eq!(response.status(), 200);

    // A worker claims it (a short lease, for the test) and dies before sending or recording.
    let claimed = batch_import::db::webhooks::claim_due(&app.db, Duration::from_secs(1), 10, 4)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let (a, b) = tokio::join!(
        batch_import::db::webhooks::claim_due(&app.db, Duration::from_secs(60), 10, 4),
        batch_import::db::webhooks::claim_due(&app.db, Duration::from_secs(60), 10, 4),
    );
    assert!(
        a.unwrap().is_empty() && b.unwrap().is_empty(),
        "nobody else gets a claimed delivery while its lease holds"
    );
    let list = deliveries(&app, &key, &webhook_id).await;
    assert_eq!(list[0]["state"], "pending");
    assert_eq!(list[0]["attempts"], 1);

    let settings = app.settings.clone();
    let worker = tokio::spawn(async move {
        batch_import::startup::run_worker(settings, false, std::future::pending())
            .await
            .unwrap();
    });
    let list = wait_for_deliveries(&app, &key, &webhook_id, settled).await;
    worker.abort();
    assert_eq!(list[0]["state"], "delivered", "{}", list[0]);
    assert_eq!(list[0]["attempts"], 2, "the dead worker's attempt counts");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn the_openapi_document_describes_the_webhook_answers() {
    let app = spawn_app_with(|s| s.webhook_allow_private_networks = true, false).await;
    let doc: Value = app
        .get_anonymous("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> Vec<String> {
        let mut keys: Vec<String> = schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let keys = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };

    let key = app.admin_key().await;
    let response = post_json(
        &app,
        &key,
        "/api/v1/webhooks",
        &json!({ "url": "http://127.0.0.1:9/hook" }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(keys(&created), properties("CreatedWebhookResponse"));
    assert_eq!(keys(&created["data"]), properties("CreatedWebhookView"));
    let id = created["data"]["id"].as_str().unwrap();

    let one: Value = app
        .get(&key, &format!("/api/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&one["data"]), properties("WebhookView"));
    assert!(!properties("WebhookView").contains(&"secret".to_owned()));

    let job_id = app
        .upload_job(&key, "opportunities", "", opportunities_csv("doc", 1))
        .await;
    app.post(&key, &format!("/api/v1/jobs/{job_id}/cancel"))
        .await;
    let list = deliveries(&app, &key, id).await;
    assert_eq!(keys(&list[0]), properties("WebhookDeliveryView"));
    assert_eq!(
        schemas["WebhookDeliveryState"]["enum"],
        json!(["pending", "delivered", "failed"])
    );

    let deleted = delete(&app, &key, &format!("/api/v1/webhooks/{id}")).await;
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(keys(&deleted), properties("DeletedResponse"));

    // The cap on endpoints per tenant is a declared answer.
    let over_cap = &doc["paths"]["/api/v1/webhooks"]["post"]["responses"]["409"];
    assert!(
        over_cap["description"]
            .as_str()
            .is_some_and(|d| d.contains("WEBHOOK_MAX_ENDPOINTS")),
        "{over_cap}"
    );

    // Registering links to what can be done with the new endpoint.
    let links = doc["paths"]["/api/v1/webhooks"]["post"]["responses"]["201"]["links"]
        .as_object()
        .unwrap();
    let mut targets: Vec<&str> = links
        .values()
        .map(|l| l["operationId"].as_str().unwrap())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        ["delete_webhook", "get_webhook", "list_webhook_deliveries"]
    );

    // The call itself, in the document's `webhooks`.
    let call = &doc["webhooks"]["jobFinished"]["post"];
    assert_eq!(
        call["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/JobView"
    );
    let headers: Vec<&str> = call["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        headers,
        [
            "Batch-Import-Event",
            "Batch-Import-Delivery",
            "Batch-Import-Signature"
        ]
    );
}

#[tokio::test]
async fn a_tenant_may_register_only_so_many_endpoints() {
    let app = spawn_app_with(
        |s| {
            s.webhook_allow_private_networks = true;
            s.webhook_max_endpoints = 3;
        },
        false,
    )
    .await;
    assert_eq!(
        spawn_app_with(|_| {}, false)
            .await
            .settings
            .webhook_max_endpoints,
        20,
        "20 by default"
    );
    let key = app.admin_key().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let created = register(&app, &key, &format!("http://127.0.0.1:9/hook/{i}")).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let response = post_json(
        &app,
        &key,
        "/api/v1/webhooks",
        &json!({ "url": "http://127.0.0.1:9/hook/3" }),
    )
    .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    let message = body["data"]["message"].as_str().unwrap();
    assert!(
        message.contains("the limit is 3") && message.contains("WEBHOOK_MAX_ENDPOINTS"),
        "{message}"
    );
    let listed = app.get(&key, "/api/v1/webhooks").await;
    assert_eq!(listed.headers()["x-total-count"], "3");

    // Another tenant has its own allowance.
    let other = app.admin_key().await;
    register(&app, &other, "http://127.0.0.1:9/other").await;

    // Deleting one makes room for one.
    let response = delete(&app, &key, &format!("/api/v1/webhooks/{}", ids[0])).await;
    assert_eq!(response.status(), 200);
    register(&app, &key, "http://127.0.0.1:9/hook/4").await;

    // Concurrent registrations cannot both take the last place: the count and the insert
    // hold the tenant's row.
    let third = app.admin_key().await;
    let attempts = (0..12).map(|i| {
        let app = &app;
        let third = &third;
        async move {
            post_json(
                app,
                third,
                "/api/v1/webhooks",
                &json!({ "url": format!("http://127.0.0.1:9/race/{i}") }),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let mut statuses = futures::future::join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 201, 201, 409, 409, 409, 409, 409, 409, 409, 409, 409]
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE url LIKE '%/race/%'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 3);
}

/// A black hole on 127.0.0.1: accepts connections and never answers, so every delivery to
/// it lasts until the client's timeout. Stops when dropped.
struct BlackHole {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { addr, task }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_tenant_with_dead_endpoints_does_not_hold_up_another_tenants_delivery() {
    let app = app_with_loopback_webhooks(10).await;
    // Tenant A: 20 endpoints that never answer, and 5 jobs: 100 deliveries, each lasting
    // the whole delivery timeout, all due before B's.
    let a = app.admin_key().await;
    let hole = BlackHole::start().await;
    for i in 0..20 {
        register(&app, &a, &format!("http://{}/hook/{i}", hole.addr)).await;
    }
    for i in 0..5 {
        app.import(
            &a,
            "opportunities",
            "",
            opportunities_csv(&format!("a{i}"), 1),
        )
        .await;
    }
    let owed_to_a: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(owed_to_a, 100);

    // Tenant B: one live receiver.
    let b = app.admin_key().await;
    let receiver = Receiver::start(0).await;
    let webhook_id = register(&app, &b, &receiver.url()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.import(&b, "opportunities", "", opportunities_csv("b", 1))
        .await;
    let owed = Instant::now();
    let list = wait_for_deliveries(&app, &b, &webhook_id, settled).await;
    let latency = owed.elapsed();
    eprintln!("B's delivery arrived {latency:?} after its job ended");
    assert_eq!(list[0]["state"], "delivered", "{}", list[0]);
    assert_eq!(receiver.received().len(), 1);
    assert!(
        latency < Duration::from_secs(5),
        "B waited {latency:?} behind A's dead endpoints"
    );
    let a_in_flight: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries
          WHERE state = 'pending' AND lease_token IS NOT NULL AND next_attempt_at > now()",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(
        (1..=4).contains(&a_in_flight),
        "A holds {a_in_flight} sends, at most WEBHOOK_MAX_IN_FLIGHT_PER_TENANT (4)"
    );
}

#[tokio::test]
async fn claims_go_round_the_tenants_and_hold_few_of_each_in_flight() {
    use batch_import::db::webhooks::claim_due;
    // No worker: the test claims by hand. Cancelling a queued job ends it and owes its
    // deliveries.
    let app = spawn_app_with(|s| s.webhook_allow_private_networks = true, false).await;
    let owe = |key: String, endpoints: usize, prefix: &'static str| {
        let app = &app;
        async move {
            let mut urls = Vec::new();
            for i in 0..endpoints {
                let url = format!("http://127.0.0.1:9/{prefix}/{i}");
                register(app, &key, &url).await;
                urls.push(url);
            }
            let job_id = app
                .upload_job(&key, "opportunities", "", opportunities_csv(prefix, 1))
                .await;
            let response = app
                .post(&key, &format!("/api/v1/jobs/{job_id}/cancel"))
                .await;
            assert_eq!(response.status(), 200);
        }
    };
    // A owes 10 deliveries, all due before B's one.
    owe(app.admin_key().await, 10, "a").await;
    owe(app.admin_key().await, 1, "b").await;
    let tenant_of = |url: &str| url.split('/').nth(3).unwrap().to_owned();
    let lease = Duration::from_secs(60);

    // Two places: A's oldest and B's, not A's two oldest.
    let first = claim_due(&app.db, lease, 2, 4).await.unwrap();
    let mut tenants: Vec<String> = first.iter().map(|d| tenant_of(&d.url)).collect();
    tenants.sort();
    assert_eq!(tenants, ["a", "b"]);
    // A may have 4 in flight: 3 more, however many places there are.
    let second = claim_due(&app.db, lease, 16, 4).await.unwrap();
    assert_eq!(second.len(), 3);
    assert!(second.iter().all(|d| tenant_of(&d.url) == "a"));
    assert!(claim_due(&app.db, lease, 16, 4).await.unwrap().is_empty());
    // Once a send is recorded, A gets that place back.
    let done = batch_import::db::webhooks::AttemptResult {
        state: "pending",
        status_code: None,
        error: Some("timed out"),
        duration: Duration::from_secs(10),
        retry_in: Duration::from_secs(600),
    };
    let recorded = batch_import::db::webhooks::record_attempt(
        &app.db,
        second[0].id,
        second[0].lease_token,
        &done,
    )
    .await
    .unwrap();
    assert!(recorded);
    let third = claim_due(&app.db, lease, 16, 4).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(tenant_of(&third[0].url), "a");
}
