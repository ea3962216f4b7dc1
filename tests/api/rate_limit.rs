//! Rate limits per API key: 429 JSend with `Retry-After` over the limit.

use serde_json::Value;

use crate::helpers::spawn_app_with;

const PATH: &str = "/api/v1/jobs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_burst_gets_429_with_retry_after_and_other_keys_do_not() {
    let app = spawn_app_with(
        |s| {
            s.rate_limit_rps = 1;
            s.rate_limit_burst = 3;
        },
        false,
    )
    .await;
    let busy = app.key("acme", "busy@acme.com", false).await;
    let calm = app.key("acme", "calm@acme.com", false).await;

    for n in 1..=3 {
        assert_eq!(app.get(&busy, PATH).await.status(), 200, "request {n}");
    }
    // The 4th quick request is over the limit. One token comes back per second, so a
    // machine slow enough to space the requests a second apart gets a few more tries.
    let mut limited = None;
    for _ in 0..5 {
        let response = app.get(&busy, PATH).await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let limited = limited.expect("a request over the burst is refused");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    assert!(
        body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{body}"
    );

    // Another key of the same tenant has its own budget.
    for n in 1..=3 {
        assert_eq!(
            app.get(&calm, PATH).await.status(),
            200,
            "other key, request {n}"
        );
    }
    // Requests without a valid key are not counted against anyone: still 401.
    for _ in 0..5 {
        assert_eq!(app.get("bik_unknown", PATH).await.status(), 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_rps_turns_rate_limiting_off() {
    let app = spawn_app_with(
        |s| {
            s.rate_limit_rps = 0;
            s.rate_limit_burst = 1;
        },
        false,
    )
    .await;
    let key = app.key("acme", "ops@acme.com", false).await;
    for n in 1..=20 {
        assert_eq!(app.get(&key, PATH).await.status(), 200, "request {n}");
    }
}
