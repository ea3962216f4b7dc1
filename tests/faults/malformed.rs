//! Malformed requests, one of each kind: every one answers 4xx/5xx with a JSend body
//! (`fail` with `data.message`, or `error` with `message`), and the API keeps serving.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::{
    checks::Ledger,
    csv_files::opportunities,
    raw_http::{RawResponse, multipart, request, send},
    scenario::{Options, Scenario},
};

const UPLOAD: &str = "/api/v1/opportunities/upload";
const CSV: &[u8] = b"Opportunity ID,Opportunity Name\nM1,Malformed test\n";
const BOUNDARY: &str = "malformedsuiteboundary";

/// Why `response` is not an error answer in JSend, if it is not.
fn jsend_error_problem(response: &RawResponse) -> Option<String> {
    let status = response.status;
    if !(400..600).contains(&status) {
        return Some(format!("status {status} is not an error"));
    }
    let is_json = response
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    let body = response.json();
    let text = String::from_utf8_lossy(&response.body);
    let message = if status < 500 {
        (body["status"] == "fail").then(|| &body["data"]["message"])
    } else {
        (body["status"] == "error").then(|| &body["message"])
    };
    let has_message = message
        .and_then(Value::as_str)
        .is_some_and(|m| !m.is_empty());
    (!is_json || !has_message).then(|| {
        format!(
            "status {status}, content-type {:?}, body {:?} is not JSend",
            response.header("content-type"),
            text.chars().take(200).collect::<String>()
        )
    })
}

/// A multipart upload request to `target` with these parts.
fn upload(target: &str, key: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    request(
        "POST",
        target,
        &[
            &format!("Authorization: {key}"),
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}"),
        ],
        Some(&multipart(BOUNDARY, parts)),
    )
}

/// `body` in HTTP/1.1 chunked transfer encoding.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Every malformed request: `(what, request)`.
fn cases(key: &str, rep_key: &str) -> Vec<(String, Vec<u8>)> {
    let auth = format!("Authorization: {key}");
    let auth = auth.as_str();
    let get = |target: &str| request("GET", target, &[auth], None);
    let job = Uuid::new_v4();
    let file = [("file", Some("a.csv"), CSV)];
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        // Authentication.
        ("no key", request("GET", "/api/v1/jobs", &[], None)),
        (
            "unknown key",
            request("GET", "/api/v1/jobs", &["Authorization: not-a-key"], None),
        ),
        (
            "empty Authorization",
            request("GET", "/api/v1/jobs", &["Authorization: "], None),
        ),
        (
            "Bearer without a key",
            request("GET", "/api/v1/jobs", &["Authorization: Bearer "], None),
        ),
        (
            "non-ASCII key",
            request("GET", "/api/v1/jobs", &["Authorization: ключ-🔑"], None),
        ),
        (
            "64 KB key",
            request(
                "GET",
                "/api/v1/jobs",
                &[&format!("Authorization: {}", "A".repeat(65_536))],
                None,
            ),
        ),
        (
            "key of another tenant's subdomain",
            request(
                "GET",
                "/api/v1/jobs",
                &[auth, "Host: someone-else.example.test"],
                None,
            ),
        ),
        ("upload without a key", upload(UPLOAD, "", &file)),
        (
            "upload with a non-admin key",
            upload(UPLOAD, rep_key, &file),
        ),
        // Routing and methods.
        ("unknown API path", get("/api/v1/nope")),
        ("path outside the API", get("/nope")),
        // `/` serves the dashboard page; an unknown file beside it is a 404.
        ("unknown dashboard file", get("/dashboard/nope.js")),
        (
            "POST on the dashboard page",
            request("POST", "/", &[], Some(b"")),
        ),
        (
            "PUT on an upload",
            request("PUT", UPLOAD, &[auth], Some(CSV)),
        ),
        (
            "DELETE on an upload",
            request("DELETE", UPLOAD, &[auth], None),
        ),
        ("GET on an upload", get(UPLOAD)),
        (
            "POST on the job list",
            request("POST", "/api/v1/jobs", &[auth], Some(b"")),
        ),
        (
            "DELETE on a job",
            request("DELETE", &format!("/api/v1/jobs/{job}"), &[auth], None),
        ),
        (
            "PATCH on a list",
            request("PATCH", "/api/v1/opportunities", &[auth], Some(b"{}")),
        ),
        (
            "POST on healthz",
            request("POST", "/api/v1/healthz", &[], Some(b"")),
        ),
        // Path values.
        ("job id that is not a uuid", get("/api/v1/jobs/not-a-uuid")),
        ("unknown job", get(&format!("/api/v1/jobs/{job}"))),
        (
            "error file of an unknown job",
            get(&format!("/api/v1/jobs/{job}/errors.csv")),
        ),
        (
            "cancel of an unknown job",
            request(
                "POST",
                &format!("/api/v1/jobs/{job}/cancel"),
                &[auth],
                Some(b""),
            ),
        ),
        ("NUL in a job id", get("/api/v1/jobs/%00")),
        (
            "4000-character job id",
            get(&format!("/api/v1/jobs/{}", "x".repeat(4000))),
        ),
        // Query values.
        ("limit=abc", get("/api/v1/opportunities?limit=abc")),
        (
            "limit beyond 64 bits",
            get("/api/v1/opportunities?limit=99999999999999999999"),
        ),
        ("limit=0", get("/api/v1/opportunities?limit=0")),
        ("limit=-1", get("/api/v1/opportunities?limit=-1")),
        ("limit=1.5", get("/api/v1/jobs?limit=1.5")),
        ("limit=100000", get("/api/v1/contacts?limit=100000")),
        ("offset=-5", get("/api/v1/opportunities?offset=-5")),
        ("offset=abc", get("/api/v1/sales_targets?offset=abc")),
        ("limit=%zz", get("/api/v1/opportunities?limit=%zz")),
        ("unknown job state", get("/api/v1/jobs?state=bogus")),
        ("unknown job kind", get("/api/v1/jobs?kind=bogus")),
        (
            "month_from that is not a month",
            get("/api/v1/sales_targets?month_from=notamonth"),
        ),
        (
            "send_error_email=maybe",
            upload(&format!("{UPLOAD}?send_error_email=maybe"), key, &file),
        ),
        (
            "wait=perhaps",
            upload(&format!("{UPLOAD}?wait=perhaps"), key, &file),
        ),
        (
            "mapping that is not JSON",
            upload(&format!("{UPLOAD}?mapping=notjson"), key, &file),
        ),
        (
            "mapping that is not an object",
            upload(&format!("{UPLOAD}?mapping=%5B1%2C2%5D"), key, &file),
        ),
        (
            "mapping to an unknown field",
            upload(
                &format!("{UPLOAD}?mapping=%7B%22A%22%3A%22No%20Such%20Field%22%7D"),
                key,
                &file,
            ),
        ),
        // Upload bodies.
        (
            "CSV body, not multipart",
            request("POST", UPLOAD, &[auth, "Content-Type: text/csv"], Some(CSV)),
        ),
        (
            "no Content-Type",
            request("POST", UPLOAD, &[auth], Some(CSV)),
        ),
        (
            "multipart without a boundary",
            request(
                "POST",
                UPLOAD,
                &[auth, "Content-Type: multipart/form-data"],
                Some(CSV),
            ),
        ),
        (
            "garbage Content-Type",
            request(
                "POST",
                UPLOAD,
                &[auth, "Content-Type: ;;;===garbage/??"],
                Some(CSV),
            ),
        ),
        (
            "JSON body",
            request(
                "POST",
                UPLOAD,
                &[auth, "Content-Type: application/json"],
                Some(b"{\"file\":\"a\"}"),
            ),
        ),
        (
            "no file field",
            upload(UPLOAD, key, &[("note", None, b"hello")]),
        ),
        (
            "two files",
            upload(UPLOAD, key, &[file[0], ("file", Some("b.csv"), CSV)]),
        ),
        (
            "empty file",
            upload(UPLOAD, key, &[("file", Some("a.csv"), b"")]),
        ),
        ("empty multipart", upload(UPLOAD, key, &[])),
        (
            "mapping field that is not JSON",
            upload(UPLOAD, key, &[("mapping", None, b"{oops"), file[0]]),
        ),
        (
            "mapping field to an unknown field",
            upload(
                UPLOAD,
                key,
                &[("mapping", None, br#"{"A":"Nope"}"#), file[0]],
            ),
        ),
    ];

    let mut truncated = multipart(BOUNDARY, &file);
    truncated.truncate(truncated.len() - 20);
    cases.push((
        "truncated multipart",
        request(
            "POST",
            UPLOAD,
            &[
                auth,
                &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}"),
            ],
            Some(&truncated),
        ),
    ));
    cases.push((
        "body with another boundary",
        request(
            "POST",
            UPLOAD,
            &[
                auth,
                "Content-Type: multipart/form-data; boundary=not-the-one",
            ],
            Some(&multipart(BOUNDARY, &file)),
        ),
    ));
    let mut declared = request(
        "POST",
        UPLOAD,
        &[
            auth,
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}"),
            "Content-Length: 31457280",
        ],
        None,
    );
    declared.extend_from_slice(&multipart(BOUNDARY, &file));
    cases.push(("Content-Length of 30 MB", declared));
    let mut over = Vec::from(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
    ));
    over.resize(21 * 1024 * 1024, b'x');
    over.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let mut streamed = request(
        "POST",
        UPLOAD,
        &[
            auth,
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}"),
            "Transfer-Encoding: chunked",
        ],
        None,
    );
    streamed.extend_from_slice(&chunked(&over));
    cases.push(("21 MB streamed without a length", streamed));
    let mut broken = request(
        "POST",
        UPLOAD,
        &[
            auth,
            &format!("Content-Type: multipart/form-data; boundary={BOUNDARY}"),
            "Transfer-Encoding: chunked",
        ],
        None,
    );
    broken.extend_from_slice(b"zz\r\nnot a chunk\r\n0\r\n\r\n");
    cases.push(("broken chunked encoding", broken));

    cases.into_iter().map(|(n, r)| (n.to_owned(), r)).collect()
}

/// Requests so broken that the HTTP parser refuses them before any route runs (no
/// JSend is possible there): each must get a 4xx or a closed connection.
fn protocol_garbage() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("not HTTP at all", b"GARBAGE\r\n\r\n".to_vec()),
        (
            "header line without a colon",
            b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
        ),
        (
            "1 MB of headers",
            request(
                "GET",
                "/api/v1/healthz",
                &[&format!("X-Junk: {}", "j".repeat(1 << 20))],
                None,
            ),
        ),
        (
            "Content-Length that is not a number",
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
        ),
        (
            "HTTP/9.9",
            b"GET /api/v1/healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "control character in a header",
            b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\nContent-Type: a\x01b\r\n\r\n".to_vec(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_jsend_errors_and_the_api_keeps_serving() {
    let mut s = Scenario::start(Options::default()).await;
    let rep_key = {
        let out = s.stack.cli(&[
            "keys",
            "create",
            "--tenant",
            "malformed-rep",
            "--email",
            "rep@example.com",
        ]);
        out.lines().last().unwrap().trim().to_owned()
    };
    let port = s.stack.port();

    let cases = cases(&s.key, &rep_key);
    assert!(cases.len() >= 50, "{} kinds", cases.len());
    let mut problems = Vec::new();
    for (what, bytes) in cases {
        let response = send(port, bytes, Duration::from_secs(30)).await;
        if let Some(problem) = jsend_error_problem(&response) {
            problems.push(format!("{what}: {problem}"));
        }
    }
    for (what, bytes) in protocol_garbage() {
        let response = send(port, bytes, Duration::from_secs(30)).await;
        if response.status != 0 && !(400..500).contains(&response.status) {
            problems.push(format!("{what}: status {}", response.status));
        }
    }

    // Still serving: a good upload imports.
    let (status, _) = s.stack.get("", "/api/v1/healthz").await;
    assert_eq!(status, 200, "the API answers after the malformed requests");
    let mut ledger = Ledger::default();
    s.import(&mut ledger, opportunities("GOOD", 30, Some(10), None))
        .await;
    s.nothing_lost(&ledger, Duration::from_secs(30)).await;
    assert!(
        problems.is_empty(),
        "{} malformed requests were not answered with a JSend error:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
