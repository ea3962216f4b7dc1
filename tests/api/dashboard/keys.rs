//! The dashboard's Setup → API keys page in a real headless Chromium: a member sees only its
//! own key; an admin creates a key, reads its secret once, revokes a key after confirming,
//! and is told (in the API's words) that the tenant's last admin key stays.

use serde_json::{Value, json};

use super::Browser;
use crate::helpers::spawn_app_with;

/// Rows of the keys table.
async fn rows(browser: &Browser) -> Value {
    browser
        .js("return document.querySelectorAll('#keys tr').length")
        .await
}

/// Waits until the keys table has `count` rows.
async fn wait_for_rows(browser: &Browser, count: u64) {
    let deadline = std::time::Instant::now() + super::PATIENCE;
    while rows(browser).await != json!(count) {
        assert!(
            std::time::Instant::now() < deadline,
            "the table never had {count} rows: {}",
            rows(browser).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn displayed(browser: &Browser, css: &str) -> bool {
    browser.find(css).await.is_displayed().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_admins_create_and_revoke_api_keys_and_members_see_their_own() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "boss@acme.com", true).await;
    let rep = app.key("acme", "rep@acme.com", false).await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.address))
        .await
        .unwrap();

    // A member: its own key only, and no form to create one.
    browser.type_into("#api-key", &rep).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("#jobs-empty", "No imports yet").await;
    browser.click("#nav-keys").await;
    browser.wait_for("#keys-intro", "This is your key").await;
    wait_for_rows(&browser, 1).await;
    browser
        .wait_for("#keys tr.current [data-field=email]", "rep@acme.com")
        .await;
    assert!(!displayed(&browser, "#key-form").await);
    assert!(
        !displayed(&browser, "#app").await,
        "the imports are another page"
    );
    browser.click("#sign-out").await;
    browser.wait_for("#sign-in-title", "Sign in").await;

    // An admin: every key of the tenant, and the form.
    browser.type_into("#api-key", &admin).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("#keys-intro", "Admin keys can").await;
    wait_for_rows(&browser, 2).await;
    assert!(displayed(&browser, "#key-form").await);

    // Checked in the page, then refused by the server in its own words.
    browser.click("#key-create").await;
    browser
        .wait_for("#key-form-message", "Give the key a label")
        .await;
    browser.type_into("#key-label", "CRM sync").await;
    browser.type_into("#key-email", "not-an-email").await;
    browser.click("#key-create").await;
    browser
        .wait_for(
            "#key-form-message",
            "The server refused the request: email must be an email address",
        )
        .await;
    browser.find("#key-email").await.clear().await.unwrap();
    browser.click("#key-create").await;
    browser
        .wait_for(
            "#key-form-message",
            "“CRM sync” was created for boss@acme.com",
        )
        .await;

    // The secret, shown once.
    assert!(displayed(&browser, "#key-secret").await);
    browser
        .wait_for("#key-secret", "you won't see it again")
        .await;
    let secret = browser
        .find("#key-secret-value")
        .await
        .text()
        .await
        .unwrap();
    assert!(secret.starts_with("bik_"), "{secret}");
    browser.click("#key-copy").await;
    browser
        .wait_for_text("#key-copy-message", |t| !t.is_empty())
        .await;

    // It works through the API, as a member key.
    assert_eq!(app.get(&secret, "/api/v1/jobs").await.status(), 200);
    let own: Value = app.get(&secret, "/api/v1/keys").await.json().await.unwrap();
    assert_eq!(own["data"].as_array().unwrap().len(), 1);
    assert_eq!(own["data"][0]["role"], "member");
    assert_eq!(own["data"][0]["label"], "CRM sync");

    // Listed first, newest first; once saved, the secret leaves the page.
    wait_for_rows(&browser, 3).await;
    browser
        .wait_for("#keys tr:first-child [data-field=label]", "CRM sync")
        .await;
    browser.click("#key-secret-done").await;
    assert!(!displayed(&browser, "#key-secret").await);
    assert_eq!(
        browser
            .js(&format!(
                "return document.body.innerHTML.includes({})",
                json!(secret)
            ))
            .await,
        json!(false)
    );

    // Revoke asks first: Keep leaves the key alone.
    let id = browser
        .js("return document.querySelector('#keys tr:first-child').dataset.keyId")
        .await;
    let row = format!("#key-{}", id.as_str().unwrap());
    browser.click(&format!("{row} [data-action=revoke]")).await;
    browser
        .wait_for(
            &format!("{row} [data-field=confirm-text]"),
            "Revoke “CRM sync”?",
        )
        .await;
    browser.click(&format!("{row} [data-action=keep]")).await;
    assert!(displayed(&browser, &format!("{row} [data-action=revoke]")).await);
    assert_eq!(app.get(&secret, "/api/v1/jobs").await.status(), 200);

    browser.click(&format!("{row} [data-action=revoke]")).await;
    browser
        .click(&format!("{row} [data-action=confirm-revoke]"))
        .await;
    browser
        .wait_for("#keys-message", "The key “CRM sync” was revoked")
        .await;
    wait_for_rows(&browser, 2).await;
    assert_eq!(app.get(&secret, "/api/v1/jobs").await.status(), 401);

    // The tenant's last admin key stays: the API's 409, and still signed in.
    browser.click("#keys tr.current [data-action=revoke]").await;
    browser
        .wait_for(
            "#keys tr.current [data-field=confirm-text]",
            "You will be signed out",
        )
        .await;
    browser
        .click("#keys tr.current [data-action=confirm-revoke]")
        .await;
    browser
        .wait_for(
            "#keys-message",
            "Not possible now: this is the tenant's last active admin key",
        )
        .await;
    assert!(displayed(&browser, "#setup-keys").await);
    assert_eq!(app.get(&admin, "/api/v1/jobs").await.status(), 200);

    // Back to the imports.
    browser.click("#nav-imports").await;
    browser.wait_for("#jobs-empty", "No imports yet").await;
    assert!(!displayed(&browser, "#setup-keys").await);

    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "console: {problems:?}");
}
