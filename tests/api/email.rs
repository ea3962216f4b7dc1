use std::time::Duration;

use mail_parser::MimeHeaders;

use crate::helpers::{Counts, assert_counts, spawn_app};

const MIXED: &str = "Opportunity ID,Opportunity Name,Amount\nG1,Good,10\nB1,Bad,ten\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_are_emailed_with_the_error_csv_when_asked() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    let job = app
        .import(&key, "opportunities", "send_error_email=true", MIXED)
        .await;
    assert_counts(&job, Counts::new().errors(1));

    let messages = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert_eq!(mail.to, ["boss@acme.com"]);
    assert!(mail.from.contains("no-reply@"), "{}", mail.from);
    let parsed = mail.parsed();
    assert!(
        parsed.subject().unwrap().contains("1 row"),
        "{:?}",
        parsed.subject()
    );
    let body = parsed.body_text(0).unwrap();
    assert!(
        body.contains("Rows imported:      1") && body.contains("Rows with errors:   1"),
        "{body}"
    );
    // The same report as HTML beside the text: counts, the failed rows, the job's link.
    let html = parsed.body_html(0).expect("an HTML part").to_string();
    let id = job["id"].as_str().unwrap();
    assert!(html.contains("Rows with errors"), "{html}");
    assert!(
        html.contains("<td align=\"right\">3</td>"),
        "line 3 failed: {html}"
    );
    assert!(html.contains("ten"), "the reason names the value: {html}");
    // Both parts link the job on the dashboard, a page anyone with the email can open.
    let dashboard_link = format!("{}/#job={id}", app.address);
    assert!(
        html.contains(&format!("href=\"{dashboard_link}\"")),
        "links the job on the dashboard: {html}"
    );
    assert!(body.contains(&dashboard_link), "{body}");
    let page = app.client.get(&dashboard_link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        page.headers()
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<title>Batch import</title>")
    );
    let attachment = parsed
        .attachments()
        .next()
        .expect("the error CSV is attached");
    assert!(attachment.attachment_name().unwrap().ends_with(".csv"));
    let content = String::from_utf8_lossy(attachment.contents()).to_string();
    assert!(content.contains("B1,Bad,ten,3,"), "{content}");

    // The job records the send; a later poll shows it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let job = app.wait_for_job(&key, id).await;
        if job["email_sent_at"].is_string() {
            assert!(job["email_error"].is_null());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "email_sent_at recorded: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // At most once: nothing else arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_email_without_the_flag_or_without_errors() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    app.import(&key, "opportunities", "", MIXED).await;
    app.import(&key, "opportunities", "send_error_email=false", MIXED)
        .await;
    app.import(
        &key,
        "opportunities",
        "send_error_email=true",
        "Opportunity ID,Opportunity Name\nG1,Good\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_emailed_with_its_reason() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    let job = app
        .import(
            &key,
            "opportunities",
            "send_error_email=true",
            "Foo,Bar\n1,2\n",
        )
        .await;
    assert_eq!(job["state"], "failed");
    let messages = app.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1);
    let body = messages[0].parsed().body_text(0).unwrap().to_string();
    assert!(body.contains("Opportunity ID"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_smtp_server_does_not_fail_the_import() {
    let app =
        crate::helpers::spawn_app_with(|s| s.smtp_url = "smtp://127.0.0.1:1".into(), true).await;
    let key = app.admin_key().await;
    let id = app
        .upload_job(&key, "opportunities", "send_error_email=true", MIXED)
        .await;
    let job = app.wait_for_job(&key, &id).await;
    assert_eq!(job["state"], "completed");
    assert_counts(&job, Counts::new().imported(1));
    // The send is retried with backoff, then the error is recorded on the job.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job = app.wait_for_job(&key, &id).await;
        if job["email_error"].is_string() {
            assert!(job["email_sent_at"].is_null());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "email error recorded: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_body_names_the_job_and_a_failed_job_links_its_unprocessed_rows() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    let job = app
        .import(
            &key,
            "opportunities",
            "send_error_email=true&name=Weekly+CRM+sync",
            MIXED,
        )
        .await;
    assert_eq!(job["name"], "Weekly CRM sync");
    let failed = app
        .import(
            &key,
            "contacts",
            "send_error_email=true",
            "Name,Phone\nAda,1\n",
        )
        .await;
    assert_eq!(failed["state"], "failed");

    let messages = app.smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 2);
    let mut named = None;
    let mut broken = None;
    for mail in &messages {
        let parsed = mail.parsed();
        let subject = parsed.subject().unwrap().to_owned();
        let body = parsed.body_text(0).unwrap().to_string();
        if body.contains(job["id"].as_str().unwrap()) {
            named = Some((subject, body));
        } else {
            broken = Some(body);
        }
    }
    let (subject, body) = named.expect("the named job's email");
    // The subject stays as it was; the body shows the name.
    assert_eq!(
        subject,
        "Import of upload.csv: 1 row(s) could not be imported"
    );
    assert!(
        body.lines()
            .any(|l| l.trim_end() == "Name: Weekly CRM sync"),
        "{body}"
    );
    assert!(
        !body.contains("unprocessed.csv"),
        "a completed job has none: {body}"
    );
    let broken = broken.expect("the failed job's email");
    assert!(!broken.contains("Name: "), "{broken}");
    let link = format!(
        "{}/api/v1/jobs/{}/unprocessed.csv",
        app.address,
        failed["id"].as_str().unwrap()
    );
    assert!(broken.contains(&link), "{broken}");
}
