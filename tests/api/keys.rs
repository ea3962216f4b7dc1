//! `keys revoke` through the real binary; revoked keys answer 401 at once. (`keys list` alone,
//! which needs no API, is in `commands::keys_list`.)

use crate::{
    commands::{run, stdout_of},
    helpers::spawn_app_with,
};

/// The id `keys list` shows in the row of `email`.
fn id_of(list: &str, email: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().nth(2) == Some(email))
        .unwrap_or_else(|| panic!("{email} in {list}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_answers_401_from_its_next_request_on() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "admin@acme.com", true).await;
    let rep = app.key("acme", "rep@acme.com", false).await;
    assert_eq!(app.get(&admin, "/api/v1/jobs").await.status(), 200);
    assert_eq!(app.get(&rep, "/api/v1/jobs").await.status(), 200);

    let list = stdout_of(&run(&app, &["keys", "list"]));
    let id = id_of(&list, "admin@acme.com");
    let revoked = stdout_of(&run(&app, &["keys", "revoke", &id]));
    assert!(revoked.contains(&format!("revoked key {id}")), "{revoked}");

    let response = app.get(&admin, "/api/v1/jobs").await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "fail");
    let upload = app
        .upload(
            &admin,
            "opportunities",
            "",
            "a.csv",
            "Opportunity ID,Opportunity Name\nA,B\n",
        )
        .await;
    assert_eq!(upload.status(), 401, "a revoked admin key cannot upload");
    assert_eq!(
        app.get(&rep, "/api/v1/jobs").await.status(),
        200,
        "other keys keep working"
    );

    let list = stdout_of(&run(&app, &["keys", "list"]));
    let row: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(row[5].ends_with('Z'), "revocation time shown: {row:?}");

    let again = stdout_of(&run(&app, &["keys", "revoke", &id]));
    assert!(again.contains("already revoked"), "{again}");
    let unknown = run(&app, &["keys", "revoke", &uuid::Uuid::new_v4().to_string()]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key"));
    let malformed = run(&app, &["keys", "revoke", "not-an-id"]);
    assert!(!malformed.status.success());
}
