use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_are_paged_with_total_and_next_link() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let mut csv = String::from("Opportunity ID,Opportunity Name\n");
    for i in 0..25 {
        csv.push_str(&format!("OPP-{i:03},Deal {i}\n"));
    }
    app.import(&key, "opportunities", "", csv).await;

    let page = app
        .get(&key, "/api/v1/opportunities?limit=10&offset=10")
        .await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-total-count"], "25");
    // The next link moves on by cursor (the way to deep pages), keeping the limit.
    let link = page.headers()["link"].to_str().unwrap().to_owned();
    let prefix = format!("<{}/api/v1/opportunities?limit=10&cursor=", app.address);
    assert!(
        link.starts_with(&prefix) && link.ends_with(">; rel=\"next\""),
        "{link}"
    );
    let next = &link[1..link.len() - ">; rel=\"next\"".len()];
    let next = app
        .get(&key, next.strip_prefix(&app.address).unwrap())
        .await;
    let body: Value = next.json().await.unwrap();
    assert_eq!(body["data"][0]["external_opp_id"], "OPP-020");
    let body: Value = page.json().await.unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["external_opp_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.first(), Some(&"OPP-010"));
    assert_eq!(ids.len(), 10);

    let last = app
        .get(&key, "/api/v1/opportunities?limit=10&offset=20")
        .await;
    assert!(last.headers().get("link").is_none());
    let body: Value = last.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 5);

    let default = app.get(&key, "/api/v1/opportunities").await;
    let body: Value = default.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 25);

    assert_eq!(
        app.get(&key, "/api/v1/opportunities?limit=1001")
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get(&key, "/api/v1/opportunities?limit=0")
            .await
            .status(),
        400
    );
    assert_eq!(
        app.get(&key, "/api/v1/opportunities?offset=-1")
            .await
            .status(),
        400
    );
}
