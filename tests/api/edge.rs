//! The API's edge (issue 18): slow clients are disconnected, open connections are capped,
//! an address that keeps failing to authenticate gets 429 before its keys are looked up
//! (its address from `X-Forwarded-For` only through trusted proxies), event streams are
//! capped per key and end when their key is revoked, and `/metrics` can be guarded.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, csv_form, spawn_app_with};

const PATH: &str = "/api/v1/jobs";

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or resets it) or `within` passes;
/// returns what was read, or `None` when the connection was still open.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut read = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(read),
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_their_headers_are_disconnected() {
    let app = spawn_app_with(|s| s.http_header_read_timeout_secs = 1, false).await;
    let addr = host(&app);
    // Slowloris: many sockets trickling a header byte now and then.
    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        socket
            .write_all(b"GET /api/v1/healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        sockets.push(socket);
    }
    let trickle = async {
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for socket in &mut sockets {
                let _ = socket.write_all(b"X").await;
            }
        }
    };
    trickle.await;
    // 1.8 s of trickling, past the 1 s timeout: every socket is closed by the server.
    let mut open = 0;
    for socket in &mut sockets {
        if read_until_closed(socket, Duration::from_secs(2))
            .await
            .is_none()
        {
            open += 1;
        }
    }
    assert_eq!(open, 0, "sockets still open after the header timeout");

    // A kept-alive connection that goes quiet is closed the same way, and a client that
    // sends its request in time is served.
    let mut socket = TcpStream::connect(&addr).await.unwrap();
    socket
        .write_all(b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let read = read_until_closed(&mut socket, Duration::from_secs(5))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(
        read.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&read)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_cut_off_but_a_slow_steady_upload_goes_through() {
    let app = spawn_app_with(|s| s.http_body_idle_timeout_secs = 1, false).await;
    let key = app.admin_key().await;

    // A body announced but never sent past its first bytes.
    let mut socket = TcpStream::connect(host(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/opportunities/upload HTTP/1.1\r\nHost: x\r\nAuthorization: {key}\r\n\
         Content-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n\
         --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nOpportunity ID,Opportunity Name\nA,a\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let read = read_until_closed(&mut socket, Duration::from_secs(10))
        .await
        .expect("the stalled request's connection is closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    let text = String::from_utf8_lossy(&read);
    assert!(
        text.starts_with("HTTP/1.1 4"),
        "answered with a client error: {text}"
    );

    // A 1 MB upload sent in pieces every 300 ms (over 4 s in all, four times the idle
    // timeout) is accepted: the timeout is between pieces, not for the whole body.
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    let mut n = 0;
    while csv.len() < 1024 * 1024 {
        csv.push_str(&format!("S-{n},\"A slow but steady deal number {n}\"\n"));
        n += 1;
    }
    let pieces: Vec<Vec<u8>> = csv
        .into_bytes()
        .chunks(80 * 1024)
        .map(<[u8]>::to_vec)
        .collect();
    let part = trickled_csv(pieces, Duration::from_millis(300), "slow.csv");
    let started = Instant::now();
    let response = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the upload was slow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(|s| s.http_max_connections = 3, false).await;
    let addr = host(&app);
    let request = b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    // Three kept-alive connections, each served once: the cap is reached.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut socket = TcpStream::connect(&addr).await.unwrap();
        socket.write_all(request).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(socket);
    }
    // A fourth connects (the kernel's backlog) but is not served while they are open.
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    waiting.write_all(request).await.unwrap();
    let mut buf = [0u8; 1024];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), waiting.read(&mut buf))
            .await
            .is_err(),
        "a connection over the cap is not served"
    );
    // One closes: the waiting one is served.
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(5), waiting.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// `GET /api/v1/jobs` with `key` and, when given, an `X-Forwarded-For`.
async fn get_from(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}{PATH}", app.address))
        .header("Authorization", key);
    if let Some(xff) = forwarded_for {
        request = request.header("X-Forwarded-For", xff);
    }
    request.send().await.unwrap()
}

fn random_key() -> String {
    format!("bik_{}", uuid::Uuid::new_v4().simple())
}

async fn assert_refused_for_failures(response: reqwest::Response) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    assert!(
        body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("too many failed authentications"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_flooding_random_keys_gets_429_before_any_key_lookup() {
    let app = spawn_app_with(
        |s| {
            s.auth_failure_burst = 5;
            s.auth_failure_refill_ms = 60_000;
        },
        false,
    )
    .await;
    let valid = app.admin_key().await;
    // Requests without a key cost no lookup and are not counted.
    for _ in 0..10 {
        assert_eq!(app.get_anonymous(PATH).await.status(), 401);
    }
    for n in 1..=5 {
        assert_eq!(
            app.get(&random_key(), PATH).await.status(),
            401,
            "failure {n}"
        );
    }
    // The flood: every further request is refused, whatever key it carries.
    let mut refused = 0;
    for _ in 0..200 {
        let response = app.get(&random_key(), PATH).await;
        if response.status() == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 200);
    assert_refused_for_failures(app.get(&random_key(), PATH).await).await;

    // Refused before the lookup: with the keys table locked any lookup would hang, yet
    // the 429s come at once — even for a valid key, which a lookup would have accepted.
    let mut lock = app.db.begin().await.unwrap();
    sqlx::query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    for key in [random_key(), valid.clone()] {
        let response = tokio::time::timeout(Duration::from_secs(3), app.get(&key, PATH))
            .await
            .expect("answered without touching the keys table");
        assert_refused_for_failures(response).await;
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    lock.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    // Untrusted peer (the default): X-Forwarded-For is ignored, every failure counts
    // against the socket's address whatever the header claims.
    let app = spawn_app_with(
        |s| {
            s.auth_failure_burst = 3;
            s.auth_failure_refill_ms = 60_000;
        },
        false,
    )
    .await;
    for n in 1..=3 {
        let xff = format!("203.0.113.{n}");
        let response = get_from(&app, &random_key(), Some(&xff)).await;
        assert_eq!(response.status(), 401);
    }
    let response = get_from(&app, &random_key(), Some("198.51.100.77")).await;
    assert_refused_for_failures(response).await;

    // Behind a trusted proxy (the test's loopback), the right-most untrusted entry is the
    // client: each client has its own budget, and a forged left part changes nothing.
    let app = spawn_app_with(
        |s| {
            s.auth_failure_burst = 3;
            s.auth_failure_refill_ms = 60_000;
            s.trusted_proxies = "10.0.0.0/8, 127.0.0.1".into();
        },
        false,
    )
    .await;
    for _ in 0..3 {
        let response = get_from(&app, &random_key(), Some("203.0.113.1, 10.1.2.3")).await;
        assert_eq!(response.status(), 401);
    }
    let response = get_from(&app, &random_key(), Some("203.0.113.1")).await;
    assert_refused_for_failures(response).await;
    // A forged first entry does not escape: 203.0.113.1 is still the right-most untrusted.
    let response = get_from(&app, &random_key(), Some("1.2.3.4, 203.0.113.1")).await;
    assert_refused_for_failures(response).await;
    // Another client behind the same proxy is not affected, nor is the proxy itself.
    assert_eq!(
        get_from(&app, &random_key(), Some("203.0.113.2"))
            .await
            .status(),
        401
    );
    assert_eq!(get_from(&app, &random_key(), None).await.status(), 401);
    let key = app.admin_key().await;
    assert_eq!(
        get_from(&app, &key, Some("203.0.113.2")).await.status(),
        200
    );
}

/// Opens the job's event stream; the response once its head has arrived.
async fn open_stream(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/jobs/{id}/events", app.address))
        .header("Authorization", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_are_capped_per_key() {
    let app = spawn_app_with(|s| s.event_streams_per_key = 2, false).await;
    let key = app.admin_key().await;
    let other = app.admin_key().await;
    // No worker: the job stays queued and its streams stay open.
    let id = app
        .upload_job(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nA,a\n",
        )
        .await;
    let first = open_stream(&app, &key, &id).await;
    let second = open_stream(&app, &key, &id).await;
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    let third = open_stream(&app, &key, &id).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");
    assert!(
        body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("2 event streams open"),
        "{body}"
    );
    // The cap is per key.
    let other_id = app
        .upload_job(
            &other,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nB,b\n",
        )
        .await;
    assert_eq!(open_stream(&app, &other, &other_id).await.status(), 200);
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_ends_when_its_key_is_revoked() {
    let app = spawn_app_with(|s| s.event_stream_key_check_secs = 1, false).await;
    let key = app.admin_key().await;
    let id = app
        .upload_job(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nA,a\n",
        )
        .await;
    let mut stream = open_stream(&app, &key, &id).await;
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: job"));

    let revoked = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(revoked.rows_affected(), 1);
    let started = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = String::new();
        while let Some(chunk) = stream.chunk().await.unwrap() {
            rest.push_str(&String::from_utf8_lossy(&chunk));
        }
        rest
    })
    .await
    .expect("the stream ends after its key is revoked");
    assert!(rest.contains("event: error"), "{rest}");
    assert!(rest.contains("revoked"), "{rest}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_when_one_is_set_and_show_no_tenant() {
    let app = spawn_app_with(|s| s.metrics_token = Some("m3trics-t0ken".into()), false).await;
    let tenant_key = app
        .key("secret-tenant-name", "a@secret.example", true)
        .await;
    let upload = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &tenant_key)
        .multipart(csv_form("x.csv", "Opportunity ID,Opportunity Name\nA,a\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 202);
    let url = format!("{}/metrics", app.address);
    for authorization in [None, Some("Bearer wrong"), Some("m3trics-t0ken")] {
        let mut request = app.client.get(&url);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "fail", "{body}");
    }
    let response = app
        .client
        .get(&url)
        .header("Authorization", "Bearer m3trics-t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("batch_import_jobs"), "{text}");
    assert!(
        !text.contains("secret-tenant-name"),
        "no tenant in the metrics: {text}"
    );
    assert!(!text.contains("tenant"), "no tenant label: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_move_off_the_public_port() {
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = spawn_app_with(|s| s.api_metrics_addr = Some(metrics_addr), false).await;
    let public = app.get_anonymous("/metrics").await;
    assert_eq!(public.status(), 404, "the public port has no /metrics");
    let response = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("batch_import_queue_depth")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_the_request_in_flight_finishes_and_new_connections_are_refused() {
    let smtp = crate::helpers::SmtpServer::start();
    let storage = tempfile::tempdir().unwrap();
    let settings = crate::helpers::test_settings(&smtp, storage.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let db = batch_import::startup::database(&settings, 2, true)
        .await
        .unwrap();
    let slug = batch_import::domain::TenantSlug::parse("acme").unwrap();
    let key = batch_import::db::accounts::create_key(&db, &slug, "a@acme.example", true)
        .await
        .unwrap()
        .expose()
        .to_owned();
    let server = batch_import::startup::ApiServer::with_listener(listener, settings, false)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    // An upload whose body takes about 2 s, and shutdown asked for in its middle.
    let pieces: Vec<Vec<u8>> = (0..8)
        .map(|n| {
            if n == 0 {
                b"Opportunity ID,Opportunity Name\n".to_vec()
            } else {
                format!("G-{n},Graceful {n}\n").into_bytes()
            }
        })
        .collect();
    let part = trickled_csv(pieces, Duration::from_millis(250), "g.csv");
    let upload = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{address}/api/v1/opportunities/upload"))
            .header("Authorization", &key)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.send(()).unwrap();

    let response = upload
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(response.status(), 202);
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the server stops once its connections are done")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("{address}/api/v1/healthz"))
            .await
            .is_err(),
        "no new connection is accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_metrics_need_the_token_too() {
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _app = spawn_app_with(
        |s| {
            s.metrics_addr = Some(metrics_addr);
            s.metrics_token = Some("w0rker".into());
        },
        true,
    )
    .await;
    let url = format!("http://{metrics_addr}/metrics");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        if let Ok(response) = client.get(&url).send().await {
            break response;
        }
        assert!(Instant::now() < deadline, "the worker serves its metrics");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused.status(), 401);
    let response = client
        .get(&url)
        .header("Authorization", "Bearer w0rker")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A CSV file part whose body sends `pieces` one at a time, `every` apart: a slow client.
fn trickled_csv(
    pieces: Vec<Vec<u8>>,
    every: Duration,
    file_name: &'static str,
) -> reqwest::multipart::Part {
    let body = futures::stream::unfold(pieces.into_iter(), move |mut pieces| async move {
        let piece = pieces.next()?;
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(piece), pieces))
    });
    reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(body))
        .file_name(file_name)
        .mime_str("text/csv")
        .unwrap()
}
