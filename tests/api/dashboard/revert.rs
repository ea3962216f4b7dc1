//! The dashboard's Undo import in a real headless Chromium: an admin sees what undoing an
//! import would do (a check, `validate_only`), keeps it once, then confirms; the revert job
//! is followed to its end with its counts and its conflict; the API refuses an undo in its
//! own words; a member sees no Undo button.

use serde_json::{Value, json};

use super::Browser;
use crate::helpers::{Counts, assert_counts, by_external_id, spawn_app_with};

const HEADER: &str = "Opportunity ID,Opportunity Name,Amount\n";
/// Import A: three opportunities.
const A_ROWS: &str = "U1,First,100\nU2,Second,200\nU3,Third,300\n";
/// Import B: changes U1 and U2, leaves U3 as it is, creates U4 to U6.
const B_ROWS: &str = "U1,First (B),150\nU2,Second (B),250\nU3,Third,300\n\
    U4,Fourth,400\nU5,Fifth,500\nU6,Sixth,600\n";
/// Import C, after B: changes U2 again, so undoing B must leave U2 alone (a conflict).
const C_ROWS: &str = "U2,Second (C),275\n";

/// What the confirmation says of B: three rows to delete, one (U1) to restore, one (U2)
/// changed since.
const B_UNDO: &str = "3 rows created by this import will be deleted, 1 row it changed will \
    be restored to its previous values, 1 row changed since will be left alone (conflicts).";

async fn displayed(browser: &Browser, css: &str) -> bool {
    browser.find(css).await.is_displayed().await.unwrap()
}

/// The job id of the page's `#job=<id>` fragment.
async fn linked_job(browser: &Browser) -> String {
    let url = browser.client.current_url().await.unwrap();
    url.fragment()
        .and_then(|f| f.strip_prefix("job="))
        .unwrap_or_else(|| panic!("the page links a job: {url}"))
        .to_owned()
}

/// The tenant's jobs that revert `id`, newest first.
async fn reverts_of(app: &crate::helpers::TestApp, key: &str, id: &str) -> Vec<Value> {
    app.list(key, "jobs")
        .await
        .into_iter()
        .filter(|job| job["reverts_job_id"] == id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_an_admin_undoes_an_import_after_seeing_what_it_would_do() {
    let app = spawn_app_with(|_| {}, true).await;
    let admin = app.key("acme", "boss@acme.com", true).await;
    let rep = app.key("acme", "rep@acme.com", false).await;
    let a = app
        .import(&admin, "opportunities", "", format!("{HEADER}{A_ROWS}"))
        .await;
    let b = app
        .import(&admin, "opportunities", "", format!("{HEADER}{B_ROWS}"))
        .await;
    assert_counts(&b, Counts::new().created(3).updated(2).unchanged(1));
    let c = app
        .import(&admin, "opportunities", "", format!("{HEADER}{C_ROWS}"))
        .await;
    let [a_id, b_id, c_id] = [&a, &b, &c].map(|job| job["id"].as_str().unwrap().to_owned());

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/#job={b_id}", app.address))
        .await
        .unwrap();
    browser.type_into("#api-key", &admin).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("#session-label", "admin").await;
    let job_b = format!("#job-{b_id}");
    browser
        .wait_for(&format!("{job_b} [data-field=state]"), "completed")
        .await;

    // Undo first checks: the confirmation gives the check's counts, and nothing changed.
    browser.click(&format!("{job_b} [data-action=undo]")).await;
    browser
        .wait_for(&format!("{job_b} [data-field=undo-text]"), B_UNDO)
        .await;
    let checks = reverts_of(&app, &admin, &b_id).await;
    assert_eq!(checks.len(), 1, "{checks:#?}");
    let check = &checks[0];
    assert_eq!(check["dry_run"], true, "{check:#}");
    assert_eq!(
        [
            &check["deleted_rows"],
            &check["restored_rows"],
            &check["conflict_rows"]
        ],
        [&json!(3), &json!(1), &json!(1)],
        "{check:#}"
    );
    let stored = app.list(&admin, "opportunities").await;
    assert_eq!(stored.len(), 6, "the check changed nothing: {stored:#?}");
    assert_eq!(by_external_id(&stored, "U1")["name"], "First (B)");

    // Keep: the import stays, and the button is back.
    browser
        .click(&format!("{job_b} [data-action=keep-import]"))
        .await;
    assert!(!displayed(&browser, &format!("{job_b} [data-field=undo]")).await);
    assert!(displayed(&browser, &format!("{job_b} [data-action=undo]")).await);
    assert_eq!(app.list(&admin, "opportunities").await.len(), 6);

    // Again, and confirmed: the revert job's view opens and follows it to its end.
    browser.click(&format!("{job_b} [data-action=undo]")).await;
    browser
        .wait_for(&format!("{job_b} [data-field=undo-text]"), B_UNDO)
        .await;
    browser
        .screenshot(&super::target_dir().join("dashboard-undo.png"), 1280, 1400)
        .await;
    browser
        .click(&format!("{job_b} [data-action=confirm-undo]"))
        .await;
    browser
        .wait_for(
            &format!("{job_b} [data-field=notice]"),
            "Undoing this import",
        )
        .await;
    let revert_id = linked_job(&browser).await;
    assert_ne!(revert_id, b_id);
    let job_r = format!("#job-{revert_id}");
    browser
        .wait_for(&format!("{job_r} [data-field=state]"), "completed")
        .await;
    browser
        .wait_for(
            &format!("{job_r} [data-field=reverts]"),
            &format!("Undoes job {}", &b_id[..8]),
        )
        .await;
    for (name, expected) in [("deleted", "3"), ("restored", "1"), ("conflicts", "1")] {
        browser
            .wait_for_text(&format!("{job_r} [data-field={name}]"), |text| {
                text == expected
            })
            .await;
    }
    browser
        .wait_for(
            &format!("{job_r} [data-field=error-summary]"),
            "1 row: changed_since",
        )
        .await;
    // The conflict in the failed-rows table: U2, shown, not to be corrected.
    browser
        .click(&format!("{job_r} [data-field=failed-rows] summary"))
        .await;
    browser
        .wait_for(
            &format!("{job_r} [data-field=failed-info]"),
            "Showing 1 of 1 failed rows",
        )
        .await;
    let notes = format!("{job_r} [data-field=failed-body] [data-codes~=changed_since]");
    browser.wait_for(&notes, "changed_since").await;
    let conflict = browser
        .js(&format!(
            "return [...document.querySelectorAll('{notes}')].map(n => n.textContent).join(' | ')"
        ))
        .await;
    let conflict = conflict.as_str().unwrap();
    assert!(
        conflict.contains(r#"is now "Second (C)""#)
            && conflict.contains(r#"before this import it was "Second""#),
        "{conflict}"
    );
    assert!(!displayed(&browser, &format!("{job_r} [data-action=correct]")).await);
    assert!(!displayed(&browser, &format!("{job_r} [data-action=undo]")).await);

    // B says who undid it, and offers no second undo.
    let undone_by = format!("Undone by job {}.", &revert_id[..8]);
    browser
        .wait_for_text(&format!("{job_b} [data-field=reverted-by]"), |text| {
            text == undone_by
        })
        .await;
    assert!(!displayed(&browser, &format!("{job_b} [data-action=undo]")).await);
    browser
        .screenshot(
            &super::target_dir().join("dashboard-undone.png"),
            1280,
            1400,
        )
        .await;

    // Through the API: B's created rows are gone, U1 has A's values again, U2 keeps C's.
    let revert = app.wait_for_job(&admin, &revert_id).await;
    assert_eq!(revert["reverts_job_id"], b_id.as_str(), "{revert:#}");
    assert_eq!(revert["dry_run"], false, "{revert:#}");
    assert_counts(&revert, Counts::new().errors(1));
    let b_now: Value = app
        .get(&admin, &format!("/api/v1/jobs/{b_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b_now["data"]["reverted_by_job_id"], revert_id.as_str());
    let stored = app.list(&admin, "opportunities").await;
    let mut ids: Vec<&str> = stored
        .iter()
        .map(|o| o["external_opp_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["U1", "U2", "U3"], "{stored:#?}");
    let u1 = by_external_id(&stored, "U1");
    assert!(u1["name"] == "First" && u1["amount"] == 100.0, "{u1:#}");
    let u2 = by_external_id(&stored, "U2");
    assert!(
        u2["name"] == "Second (C)" && u2["amount"] == 275.0,
        "{u2:#}"
    );

    // A refusal in the API's own words: C kept no changes (as if imported before undo).
    sqlx::query("UPDATE import_jobs SET changes_kept = false WHERE id = $1::uuid")
        .bind(&c_id)
        .execute(&app.db)
        .await
        .unwrap();
    let refused = app
        .post(
            &admin,
            &format!("/api/v1/jobs/{c_id}/revert?validate_only=true"),
        )
        .await;
    assert_eq!(refused.status(), 409);
    let refused: Value = refused.json().await.unwrap();
    let reason = refused["data"]["message"].as_str().unwrap().to_owned();
    browser
        .js(&format!("window.location.hash = 'job={c_id}'"))
        .await;
    let job_c = format!("#job-{c_id}");
    browser
        .wait_for(
            &format!("{job_c}.highlight [data-field=state]"),
            "completed",
        )
        .await;
    browser.click(&format!("{job_c} [data-action=undo]")).await;
    browser
        .wait_for(
            &format!("{job_c} [data-field=notice]"),
            &format!("The import cannot be undone. Not possible now: {reason}"),
        )
        .await;
    assert!(!displayed(&browser, &format!("{job_c} [data-action=undo]")).await);
    assert!(!displayed(&browser, &format!("{job_c} [data-field=undo]")).await);

    // A can be undone: an admin sees its button, …
    let job_a = format!("#job-{a_id}");
    assert!(displayed(&browser, &format!("{job_a} [data-action=undo]")).await);
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "the console shows {problems:#?}");

    // … a member does not.
    browser.click("#sign-out").await;
    browser.wait_for("#sign-in-title", "Sign in").await;
    browser
        .js(&format!("window.location.hash = 'job={a_id}'"))
        .await;
    browser.type_into("#api-key", &rep).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("#session-label", "member").await;
    browser
        .wait_for(&format!("{job_a} [data-field=state]"), "completed")
        .await;
    assert!(!displayed(&browser, &format!("{job_a} [data-action=undo]")).await);
    assert_eq!(
        reverts_of(&app, &admin, &a_id).await,
        Vec::<Value>::new(),
        "nothing undid A"
    );
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "the console shows {problems:#?}");
}
