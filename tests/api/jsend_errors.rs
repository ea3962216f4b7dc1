//! Every error answer is JSend, whoever produced it: extractors, the router, the layers.

use reqwest::{Method, Response, StatusCode, header};
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

/// Asserts a JSend error body of `status` and returns its message.
async fn jsend_error(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status, "{:?}", response.headers());
    let content_type = response.headers()[header::CONTENT_TYPE].clone();
    assert!(
        content_type
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{content_type:?}"
    );
    let body: Value = response.json().await.unwrap();
    let message = if status.is_server_error() {
        assert_eq!(body["status"], "error", "{body}");
        &body["message"]
    } else {
        assert_eq!(body["status"], "fail", "{body}");
        &body["data"]["message"]
    };
    let message = message.as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "a message in {body}");
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_huge_limit_on_any_list_is_a_jsend_400_naming_limit() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    for list in ["jobs", "opportunities", "contacts", "sales_targets"] {
        for limit in ["abc", "99999999999999999999999", "-5", "0"] {
            let response = app
                .get(&key, &format!("/api/v1/{list}?limit={limit}"))
                .await;
            let message = jsend_error(response, StatusCode::BAD_REQUEST).await;
            assert!(message.contains("limit"), "{list} {limit}: {message}");
        }
        let response = app.get(&key, &format!("/api/v1/{list}?offset=x")).await;
        let message = jsend_error(response, StatusCode::BAD_REQUEST).await;
        assert!(message.contains("offset"), "{list}: {message}");
    }
    // Other query parameters are typed too: a repeated one is a clear 400, not plain text.
    let response = app
        .get(&key, "/api/v1/contacts?opportunity_id=a&opportunity_id=b")
        .await;
    let message = jsend_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("opportunity_id"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_jsend_405_with_allow() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    let cases = [
        (Method::PUT, "/api/v1/opportunities/upload", "POST"),
        (Method::DELETE, "/api/v1/contacts/upload", "POST"),
        (Method::GET, "/api/v1/sales_targets/upload", "POST"),
        (Method::PATCH, "/api/v1/jobs", "GET"),
        (
            Method::DELETE,
            "/api/v1/jobs/00000000-0000-0000-0000-000000000000",
            "GET",
        ),
        (
            Method::GET,
            "/api/v1/jobs/00000000-0000-0000-0000-000000000000/cancel",
            "POST",
        ),
        (Method::POST, "/api/v1/healthz", "GET"),
    ];
    for (method, path, allowed) in cases {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .header("Authorization", &key)
            .send()
            .await
            .unwrap();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .unwrap_or_else(|| panic!("{method} {path} has an Allow header"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(allow.contains(allowed), "{method} {path}: Allow {allow}");
        let message = jsend_error(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert!(message.contains(method.as_str()), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_and_unknown_routes_are_jsend() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    for path in [
        "/api/v1/jobs/not-a-uuid",
        "/api/v1/jobs/not-a-uuid/errors.csv",
        "/api/v1/jobs/00000000-0000-0000-0000-000000000000",
    ] {
        let message = jsend_error(app.get(&key, path).await, StatusCode::NOT_FOUND).await;
        assert!(message.contains("job"), "{path}: {message}");
    }
    let response = app.post(&key, "/api/v1/jobs/not-a-uuid/cancel").await;
    jsend_error(response, StatusCode::NOT_FOUND).await;
    // A path parameter that is not UTF-8 once decoded.
    let message = jsend_error(
        app.get(&key, "/api/v1/jobs/%FF").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(message.contains("UTF-8"), "{message}");
    for path in ["/api/v1/nope", "/nope", "/api/v2/jobs", "/dashboard/nope"] {
        jsend_error(app.get(&key, path).await, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_outer_cap_is_a_jsend_413() {
    // The outer cap is the upload limit + 2 MB; with a 1 KB limit a 3 MB body is over it.
    let app = spawn_app_with(|s| s.max_upload_bytes = 1024, false).await;
    // Refused by the body-limit layer before routing or authentication (no key: a 413, not
    // a 401, proves it).
    // The server answers from the Content-Length alone and may close the connection
    // while the client still writes the body; the client then sees a broken pipe instead
    // of the answer. Such a send is tried again; an answer of any other kind is checked.
    let mut attempts = 0;
    let response = loop {
        attempts += 1;
        let sent = app
            .client
            .post(format!(
                "{}/api/v1/jobs/00000000-0000-0000-0000-000000000000/cancel",
                app.address
            ))
            .body(vec![b'x'; 3 * 1024 * 1024])
            .send()
            .await;
        match sent {
            Ok(response) => break response,
            Err(e) if attempts < 5 && (e.is_request() || e.is_body()) => continue,
            Err(e) => panic!("no answer after {attempts} attempts: {e:?}"),
        }
    };
    jsend_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_nosniff_and_no_store_and_the_error_csv_is_an_attachment() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = app
        .import(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name,Amount\nA,a,1\nB,b,x\n",
        )
        .await;
    let id = job["id"].as_str().unwrap();
    let responses = [
        app.get(&key, "/api/v1/jobs").await,
        app.get(&key, &format!("/api/v1/jobs/{id}")).await,
        app.get(&key, "/api/v1/opportunities").await,
        app.get(&key, "/api/v1/nope").await,
        app.get_anonymous("/api/v1/jobs").await,
        app.get_anonymous("/api/v1/healthz").await,
        app.upload(&key, "contacts", "", "c.csv", "Email\na@example.com\n")
            .await,
    ];
    for response in responses {
        let url = response.url().clone();
        let headers = response.headers();
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{url}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{url}");
    }

    let response = app
        .get(&key, &format!("/api/v1/jobs/{id}/errors.csv"))
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"errors-{id}.csv\"").as_str()
    );
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}

/// Found by Schemathesis: Postgres text cannot hold NUL, so a NUL in a filter or a column
/// mapping reached the database and came back as a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_in_a_query_value_or_a_mapping_is_a_jsend_400_naming_it() {
    let app = spawn_app_with(|_| {}, false).await;
    let key = app.admin_key().await;
    for (path, name) in [
        ("/api/v1/sales_targets?email=a%00b", "email"),
        ("/api/v1/contacts?opportunity_id=%00", "opportunity_id"),
        ("/api/v1/jobs?state=%00", "state"),
        ("/api/v1/opportunities?limit=1&x%00=1", "x"),
    ] {
        let message = jsend_error(app.get(&key, path).await, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(name), "{path}: {message}");
        assert!(message.contains("NUL"), "{path}: {message}");
    }
    let csv = "Email\nann@example.com\n";
    let response = app
        .upload(
            &key,
            "contacts",
            "mapping=%7B%22E%00%22%3A%22Email%22%7D",
            "c.csv",
            csv,
        )
        .await;
    let message = jsend_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("mapping"), "{message}");
    let form = crate::helpers::csv_form("c.csv", csv).text("mapping", "{\"E\\u0000\":\"Email\"}");
    let response = app
        .client
        .post(format!("{}/api/v1/contacts/upload", app.address))
        .header("Authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let message = jsend_error(response, StatusCode::BAD_REQUEST).await;
    assert!(
        message.contains("mapping") && message.contains("NUL"),
        "{message}"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "nothing was kept");
}
