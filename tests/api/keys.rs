//! `keys list` and `keys revoke` through the real binary; revoked keys answer 401 at once.

use std::process::{Command, Output};

use batch_import::domain::ApiKey;

use crate::helpers::{TestApp, process_env, spawn_app_with};

fn run(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .args(args)
        .envs(process_env(&app.settings))
        .output()
        .unwrap()
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

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
async fn keys_list_shows_every_key_but_never_the_secret_or_its_hash() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "admin@acme.com", true).await;
    let rep = app.key("acme", "rep@acme.com", false).await;
    let other = app.key("globex", "ops@globex.com", true).await;

    let all = stdout_of(&run(&app, &["keys", "list"]));
    let header: Vec<&str> = all.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "TENANT", "EMAIL", "ADMIN", "CREATED", "REVOKED"]
    );
    assert_eq!(all.lines().count(), 4, "{all}");
    let admin_row: Vec<&str> = all
        .lines()
        .find(|l| l.contains("admin@acme.com"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(admin_row[1], "acme");
    assert_eq!(admin_row[3], "yes");
    assert!(admin_row[4].ends_with('Z'), "{admin_row:?}");
    assert_eq!(admin_row[5], "-", "not revoked");
    assert!(admin_row[0].parse::<uuid::Uuid>().is_ok(), "{admin_row:?}");
    assert!(all.contains("rep@acme.com") && all.contains("ops@globex.com"));
    for key in [&admin, &rep, &other] {
        let hash = ApiKey::from_client(key).unwrap().hash();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!all.contains(key.as_str()), "the key is never shown");
        assert!(!all.contains(&key[..10]), "nor its prefix");
        assert!(!all.to_lowercase().contains(&hex[..16]), "nor its hash");
    }

    let acme = stdout_of(&run(&app, &["keys", "list", "--tenant", "acme"]));
    assert_eq!(acme.lines().count(), 3, "{acme}");
    assert!(!acme.contains("globex"));
    let nobody = stdout_of(&run(&app, &["keys", "list", "--tenant", "nobody"]));
    assert_eq!(nobody.lines().count(), 1, "only the header: {nobody}");
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
