//! `keys list` through the real binary: every key of the installation or of one tenant,
//! never a secret or its hash.

use batch_import::domain::ApiKey;

use super::{run, stdout_of};
use crate::helpers::spawn_app_with;

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
