//! The dashboard: its files as the API serves them, and the page itself in a real headless
//! Chromium driven through chromedriver (WebDriver), against the real API and worker.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{Counts, assert_counts, opportunities_csv, spawn_app_with};

/// The Setup → API keys page (`dashboard/keys.rs`); a child module, so it drives the same
/// `Browser`.
mod keys;

/// The Undo import button of a job (`dashboard/revert.rs`).
mod revert;

/// Where Debian's `chromium-driver` and `chromium` put them; `CHROMEDRIVER` and `CHROMIUM`
/// point elsewhere.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long the page may take to show what a step waits for. Only a bound against a hang:
/// nothing asserts how fast the page is.
const PATIENCE: Duration = Duration::from_secs(60);

/// A headless Chromium session; chromedriver runs on a free port while this lives.
struct Browser {
    client: Client,
    driver: Child,
    driver_port: u16,
    session_id: Option<String>,
    downloads: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that saves downloads in `downloads`.
    async fn start() -> Self {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
        for (what, path) in [("chromedriver", &driver_path), ("Chromium", &chromium)] {
            assert!(
                Path::new(path).exists(),
                "{what} is missing at {path}: the dashboard's browser test needs Chromium and \
                 chromedriver (apt-get install chromium chromium-driver, as .ci/run does), or \
                 CHROMIUM and CHROMEDRIVER set to where they are"
            );
        }
        let driver_port = free_port();
        let mut driver = Command::new(&driver_path)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{driver_path} does not start: {e}"));
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", driver_port)).is_err() {
            if let Some(status) = driver.try_wait().unwrap() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "chromedriver never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let downloads = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            // Keeps the console for `console_problems`.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connected =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{driver_port}"))
                .await;
        let client = match connected {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver could not start Chromium: {e}");
            }
        };
        let session_id = client.session_id().await.unwrap();
        Self {
            client,
            driver,
            driver_port,
            session_id,
            downloads,
        }
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Waits until the element's visible text passes `check`, and returns it.
    async fn wait_for_text(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut last = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if check(&text) {
                    return text;
                }
                last = Some(text);
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed what was expected; it last showed {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element shows `expected` (case-insensitive: states are upper-cased).
    async fn wait_for(&self, css: &str, expected: &str) -> String {
        let expected = expected.to_lowercase();
        self.wait_for_text(css, |text| text.to_lowercase().contains(&expected))
            .await
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// Waits for the confirm() dialog and accepts it.
    async fn accept_dialog(&self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(text) = self.client.get_alert_text().await {
                self.client.accept_alert().await.unwrap();
                return text;
            }
            assert!(Instant::now() < deadline, "no dialog opened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the download `name` is complete and returns its bytes.
    async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let partial = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .any(|entry| entry.unwrap().path().extension() == Some("crdownload".as_ref()));
            if path.exists() && !partial {
                return std::fs::read(&path).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "{name} was never downloaded; the download folder holds {:?}",
                std::fs::read_dir(self.downloads.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the page at `width`×`height`.
    async fn screenshot(&self, path: &Path, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        // From the top, so the picture shows the page as it opens.
        self.client
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Browser {
    /// The console entries (since the last call) that are not about an HTTP status: an
    /// uncaught error, a Content-Security-Policy violation. Answers such as the 401 of a
    /// wrong key are logged by Chrome as failed loads, which the page expects.
    async fn console_problems(&self) -> Vec<Value> {
        let id = self.session_id.as_deref().unwrap();
        let log: Value = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/session/{id}/se/log",
                self.driver_port
            ))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = log["value"]
            .as_array()
            .unwrap_or_else(|| panic!("chromedriver's log: {log}"));
        entries
            .iter()
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                entry["level"] != "INFO"
                    && !(entry["source"] == "network"
                        && message.contains("the server responded with a status of"))
            })
            .cloned()
            .collect()
    }
}

impl Drop for Browser {
    /// Ends the WebDriver session (so Chromium quits) with a plain blocking request, as
    /// drop cannot await, then stops chromedriver.
    fn drop(&mut self) {
        if let Some(id) = &self.session_id
            && let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.driver_port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read(&mut [0; 1024]);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where test artefacts go: the screenshot is kept at `target/dashboard.png`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_its_files_are_served_with_their_types_and_a_strict_policy() {
    let app = spawn_app_with(|_| {}, false).await;
    let page = app.get_anonymous("/").await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("dashboard/app.js") && html.contains("dashboard/style.css"));
    assert!(!html.contains("http"), "nothing is loaded from elsewhere");

    // Other methods get the JSend 405 every route gives.
    let post = app
        .client
        .post(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    let body: Value = post.json().await.unwrap();
    assert_eq!(body["status"], "fail", "{body}");

    let redirect = app.get_anonymous("/dashboard").await;
    assert_eq!(redirect.status(), 303);
    assert_eq!(redirect.headers()["location"], "./");

    for (path, content_type) in [
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/style.css", "text/css; charset=utf-8"),
    ] {
        let response = app.get_anonymous(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("://"), "{path} names no other server");
    }
}

const WITH_BAD_ROWS: &str = "Opportunity ID,Opportunity Name,Amount\n\
    G1,Good one,10\nB1,Bad one,ten\nG2,Good two,20\nB2,Bad two,lots\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_people_sign_in_upload_follow_download_and_cancel() {
    // A 1 MB limit: the long import's file (about 800 KB) fits, a 2 MB one does not.
    let app = spawn_app_with(|s| s.max_upload_bytes = 1024 * 1024, true).await;
    let admin = app.key("acme", "boss@acme.com", true).await;
    let reader = app.key("acme", "rep@acme.com", false).await;
    let files = tempfile::tempdir().unwrap();
    let small = files.path().join("deals.csv");
    std::fs::write(&small, WITH_BAD_ROWS).unwrap();
    let large = files.path().join("all-deals.csv");
    std::fs::write(&large, opportunities_csv("L", 30_000)).unwrap();

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.address))
        .await
        .unwrap();

    // A wrong key: the API's 401 message, and still signed out.
    browser.type_into("#api-key", "not-a-real-key").await;
    browser.click("#sign-in-button").await;
    let error = browser.wait_for("#sign-in-error", "invalid API key").await;
    assert!(error.starts_with("Sign-in failed"), "{error}");
    assert!(!browser.find("#app").await.is_displayed().await.unwrap());

    // A reader's key signs in, but uploading needs an administrator's: the 403's message.
    browser.type_into("#api-key", &reader).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("#jobs-empty", "No imports yet").await;
    browser
        .find("#file")
        .await
        .send_keys(small.to_str().unwrap())
        .await
        .unwrap();
    browser.click("#upload-button").await;
    browser
        .wait_for(
            "#upload-message",
            "Not allowed: this needs an API key of an administrator",
        )
        .await;
    // The key lives in this tab's sessionStorage only: no cookie, never in the URL.
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('batch-import.api-key')")
            .await,
        json!(reader)
    );
    assert_eq!(browser.js("return document.cookie").await, json!(""));
    browser.click("#sign-out").await;
    browser.wait_for("#sign-in-title", "Sign in").await;
    assert_eq!(browser.js("return sessionStorage.length").await, json!(0));

    browser.type_into("#api-key", &admin).await;
    browser.click("#sign-in-button").await;
    browser.wait_for("#jobs-empty", "No imports yet").await;

    // The mapping is checked in the page, then by the server (its 400 message shown).
    browser
        .find("#file")
        .await
        .send_keys(small.to_str().unwrap())
        .await
        .unwrap();
    browser.click("#mapping-details summary").await;
    browser.type_into("#mapping", r#"["Amount"]"#).await;
    browser.click("#upload-button").await;
    browser
        .wait_for("#upload-message", "must be a JSON object")
        .await;
    browser
        .type_into("#mapping", r#"{"Amount": "Revenue"}"#)
        .await;
    browser.click("#upload-button").await;
    browser
        .wait_for(
            "#upload-message",
            "\"Revenue\" is not a supported field; the supported fields are",
        )
        .await;

    browser.find("#mapping").await.clear().await.unwrap();

    // Over the size limit: the API's 413 message.
    let huge = files.path().join("huge.csv");
    std::fs::write(&huge, opportunities_csv("H", 120_000)).unwrap();
    assert!(std::fs::metadata(&huge).unwrap().len() > 2 * 1024 * 1024);
    browser
        .find("#file")
        .await
        .send_keys(huge.to_str().unwrap())
        .await
        .unwrap();
    browser.click("#upload-button").await;
    browser
        .wait_for(
            "#upload-message",
            "File too large: the file is larger than the 1 MB limit",
        )
        .await;

    // A file with two bad rows, followed live to the end.
    browser
        .find("#file")
        .await
        .send_keys(small.to_str().unwrap())
        .await
        .unwrap();
    browser.click("#send-error-email").await;
    browser.click("#upload-button").await;
    browser
        .wait_for("#upload-message", "“deals.csv” was uploaded")
        .await;
    let url = browser.client.current_url().await.unwrap();
    let small_id = url
        .fragment()
        .and_then(|f| f.strip_prefix("job="))
        .unwrap_or_else(|| panic!("the upload links its job in the URL: {url}"))
        .to_owned();
    assert!(!url.as_str().contains(&admin), "the key is never in a URL");
    let job = format!("#job-{small_id}");
    browser
        .wait_for(&format!("{job} [data-field=state]"), "completed")
        .await;
    let count = |name: &'static str| {
        let css = format!("{job} [data-field={name}]");
        let browser = &browser;
        async move { browser.find(&css).await.text().await.unwrap() }
    };
    assert_eq!(count("total").await, "4");
    assert_eq!(count("imported").await, "2");
    assert_eq!(count("errors").await, "2");
    assert_eq!(count("progress").await, "100%");
    // Under the counts, what failed: one line per problem code and column.
    assert_eq!(
        count("error-summary").await,
        "2 rows: invalid_amount in Amount"
    );
    let api_job = app.wait_for_job(&admin, &small_id).await;
    assert_counts(&api_job, Counts::new().errors(2));
    assert_eq!(api_job["send_error_email"], true);

    // The error CSV: fetched with the key, saved by the browser as a real download.
    browser
        .click(&format!("{job} [data-action=download]"))
        .await;
    let csv = browser.downloaded(&format!("errors-{small_id}.csv")).await;
    assert!(csv.starts_with("\u{feff}".as_bytes()), "with its BOM");
    let csv = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(
        csv.contains("B1,Bad one,ten") && csv.contains("B2,Bad two,lots"),
        "{csv}"
    );
    assert!(!csv.contains("G1"), "{csv}");
    browser
        .wait_for(
            &format!("{job} [data-field=notice]"),
            "failed rows were downloaded",
        )
        .await;

    // A long import, named: seen running (its percentage of the file and the rows so
    // far), then cancelled.
    browser
        .find("#file")
        .await
        .send_keys(large.to_str().unwrap())
        .await
        .unwrap();
    browser.type_into("#job-name", "  All deals (Q3) ").await;
    browser.click("#upload-button").await;
    browser
        .wait_for("#upload-message", "“all-deals.csv” was uploaded")
        .await;
    let url = browser.client.current_url().await.unwrap();
    let large_id = url
        .fragment()
        .unwrap()
        .strip_prefix("job=")
        .unwrap()
        .to_owned();
    let long = format!("#job-{large_id}");
    // The name is the job's title; the file's name moves to the line below it.
    browser
        .wait_for(&format!("{long} [data-field=file]"), "All deals (Q3)")
        .await;
    browser
        .wait_for(&format!("{long} [data-field=meta]"), "all-deals.csv · ")
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('job-name').value")
            .await,
        json!(""),
        "a name is for one upload"
    );
    browser
        .wait_for_text(&format!("{long} [data-field=progress]"), |text| {
            text.ends_with("rows read") && !text.contains(" 0 rows")
        })
        .await;
    // Followed through its event stream, not only by the periodic refresh.
    browser
        .wait_for(&format!("{long} [data-field=live]"), "Live")
        .await;
    // The bar is the share of the file's bytes read, as the API reports it.
    let shown = browser
        .js(&format!(
            "return document.querySelector('{long} progress').value"
        ))
        .await
        .as_f64()
        .unwrap();
    assert!((0.0..100.0).contains(&shown), "bar at {shown}");
    browser
        .screenshot(&target_dir().join("dashboard-running.png"), 1280, 1000)
        .await;
    browser.click(&format!("{long} [data-action=cancel]")).await;
    let question = browser.accept_dialog().await;
    assert!(question.contains("all-deals.csv"), "{question}");
    browser
        .wait_for(&format!("{long} [data-field=state]"), "cancelled")
        .await;
    let cancelled = app.wait_for_job(&admin, &large_id).await;
    assert_eq!(cancelled["state"], "cancelled");
    let imported = cancelled["total_imported_rows"].as_i64().unwrap();
    assert!(imported > 0 && imported < 30_000, "{cancelled}");
    let stopped_at = format!("Stopped at {}%", cancelled["progress_percent"]);
    browser
        .wait_for_text(&format!("{long} [data-field=progress]"), |text| {
            text.starts_with(&stopped_at)
        })
        .await;
    // Numbers are shown with the locale's grouping (12,345).
    browser
        .wait_for_text(&format!("{long} [data-field=imported]"), |text| {
            text.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                == imported.to_string()
        })
        .await;
    assert!(
        browser
            .find(&format!("{long} [data-action=cancel]"))
            .await
            .attr("hidden")
            .await
            .unwrap()
            .is_some(),
        "no cancel button once the job is over"
    );
    // The rows it never got to, saved as they were uploaded.
    browser
        .click(&format!("{long} [data-action=unprocessed]"))
        .await;
    let rest = browser
        .downloaded(&format!("unprocessed-{large_id}.csv"))
        .await;
    let rest = String::from_utf8(rest).unwrap();
    let read = cancelled["total_original_rows"].as_i64().unwrap() as usize;
    assert!(
        rest.starts_with(&format!("Opportunity ID,Opportunity Name\nL-{read},")),
        "{}",
        &rest[..200.min(rest.len())]
    );
    assert_eq!(rest.lines().count(), 1 + 30_000 - read);

    // A file dropped on the page (a drop event as the browser fires it) that cannot be
    // imported at all: failed, with the reason.
    browser
        .find("#kind")
        .await
        .select_by_value("contacts")
        .await
        .unwrap();
    browser
        .js(
            "const files = new DataTransfer();
             files.items.add(new File(['Name,Phone\\nAda,123\\n'], 'people.csv', {type: 'text/csv'}));
             document.getElementById('drop-zone').dispatchEvent(
                 new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true}));",
        )
        .await;
    browser.wait_for("#file-info", "people.csv").await;
    browser.click("#upload-button").await;
    browser
        .wait_for("#upload-message", "“people.csv” was uploaded")
        .await;
    let url = browser.client.current_url().await.unwrap();
    let broken_id = url
        .fragment()
        .unwrap()
        .strip_prefix("job=")
        .unwrap()
        .to_owned();
    let failed = format!("#job-{broken_id}");
    browser
        .wait_for(&format!("{failed} [data-field=state]"), "failed")
        .await;
    let reason = app.wait_for_job(&admin, &broken_id).await["error"]
        .as_str()
        .unwrap()
        .to_owned();
    browser
        .wait_for(&format!("{failed} [data-field=error]"), &reason)
        .await;
    assert_eq!(
        browser
            .find(&format!("{failed} [data-field=kind]"))
            .await
            .text()
            .await
            .unwrap(),
        "Contacts"
    );

    // The email's link: a fresh load of /#job=<id> (same tab, so still signed in) shows
    // that job highlighted.
    browser.client.goto("about:blank").await.unwrap();
    browser
        .client
        .goto(&format!("{}/#job={small_id}", app.address))
        .await
        .unwrap();
    browser
        .wait_for(&format!("{job} [data-field=state]"), "completed")
        .await;
    let deadline = Instant::now() + PATIENCE;
    while browser
        .find(&job)
        .await
        .attr("class")
        .await
        .unwrap()
        .is_none_or(|class| !class.contains("highlight"))
    {
        assert!(Instant::now() < deadline, "the linked job is highlighted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "the console shows {problems:#?}");

    let target = target_dir();
    browser
        .screenshot(&target.join("dashboard.png"), 1280, 1200)
        .await;
    browser
        .screenshot(&target.join("dashboard-phone.png"), 390, 1100)
        .await;
    // On a phone's width nothing is wider than the screen.
    assert_eq!(
        browser
            .js("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            .await,
        json!(true),
        "the page scrolls sideways at 390 px"
    );
}

/// A queued job says how many jobs are ahead of it, in the list and on the job's link, and
/// keeps the count while its event stream is open (job events do not carry it); the count
/// moves when a job ahead leaves the queue. No worker: the jobs stay queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_a_queued_job_shows_the_jobs_ahead_of_it() {
    let app = spawn_app_with(|_| {}, false).await;
    let admin = app.key("acme", "boss@acme.com", true).await;
    let other = app.key("globex", "ops@globex.com", true).await;
    let csv = "Opportunity ID,Opportunity Name\nQ1,One\n";
    // Uploaded G1, A1, A2: turn 1 is G1 then A1, turn 2 is A2.
    let g1 = app.upload_job(&other, "opportunities", "", csv).await;
    let a1 = app.upload_job(&admin, "opportunities", "", csv).await;
    let a2 = app.upload_job(&admin, "opportunities", "", csv).await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.address))
        .await
        .unwrap();
    // Every text the jobs' progress shows, from the first drawing on.
    browser
        .js("window.progressSeen = [];
             new MutationObserver(() => {
               for (const p of document.querySelectorAll('#jobs [data-field=progress]')) {
                 window.progressSeen.push(`${p.closest('.job').id}: ${p.textContent}`);
               }
             }).observe(document.getElementById('jobs'),
                        { subtree: true, childList: true, characterData: true });")
        .await;
    browser.type_into("#api-key", &admin).await;
    browser.click("#sign-in-button").await;
    let progress = |id: &str| format!("#job-{id} [data-field=progress]");
    browser
        .wait_for(&progress(&a1), "Waiting for a worker · 1 job ahead")
        .await;
    browser
        .wait_for(&progress(&a2), "Waiting for a worker · 2 jobs ahead")
        .await;
    // Both are followed live; their first event (no count) leaves the count shown.
    for id in [&a1, &a2] {
        browser
            .wait_for(&format!("#job-{id} [data-field=live]"), "Live")
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        browser.find(&progress(&a2)).await.text().await.unwrap(),
        "Waiting for a worker · 2 jobs ahead"
    );
    let seen = browser.js("return window.progressSeen").await;
    let seen: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|text| text.as_str().unwrap())
        .collect();
    assert!(!seen.is_empty());
    for text in &seen {
        assert!(text.ends_with(" ahead"), "the count was lost: {seen:#?}");
    }
    // Another tenant's job is counted, never shown.
    assert_eq!(
        browser
            .js(&format!("return document.body.innerHTML.includes('{g1}')"))
            .await,
        json!(false)
    );

    // G1 is cancelled elsewhere: at the next refresh A1 is next in line, A2 one behind.
    let cancelled = app.post(&other, &format!("/api/v1/jobs/{g1}/cancel")).await;
    assert_eq!(cancelled.status(), 200);
    browser
        .wait_for(&progress(&a1), "Waiting for a worker · next in line")
        .await;
    browser
        .wait_for(&progress(&a2), "Waiting for a worker · 1 job ahead")
        .await;

    // The email's link to the job, on a fresh load, shows the count too.
    browser.client.goto("about:blank").await.unwrap();
    browser
        .client
        .goto(&format!("{}/#job={a2}", app.address))
        .await
        .unwrap();
    browser
        .wait_for(&progress(&a2), "Waiting for a worker · 1 job ahead")
        .await;

    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "the console shows {problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_the_failed_rows_of_the_20_mb_file_are_corrected_in_place() {
    use crate::corrections::{BIG_BAD_ROWS, big_file_settings, big_file_with_bad_amounts};

    let app = spawn_app_with(big_file_settings, true).await;
    let key = app.admin_key().await;
    let (csv, rows) = big_file_with_bad_amounts(&BIG_BAD_ROWS);
    let id = app.upload_job(&key, "opportunities", "", csv).await;
    let parent = app
        .wait_for_job_within(&key, &id, Duration::from_secs(120))
        .await;
    assert_counts(&parent, Counts::new().errors(12));
    let failed = app.failed_rows(&key, &id).await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/#job={id}", app.address))
        .await
        .unwrap();
    browser.type_into("#api-key", &key).await;
    browser.click("#sign-in-button").await;
    let job = format!("#job-{id}");
    browser
        .wait_for(&format!("{job} [data-field=state]"), "completed")
        .await;

    // The failed rows as a table: line, every original value, the problem cells marked.
    browser
        .click(&format!("{job} [data-field=failed-rows] summary"))
        .await;
    browser
        .wait_for(
            &format!("{job} [data-field=failed-info]"),
            "Showing 12 of 12 failed rows",
        )
        .await;
    for row in &failed {
        let line = row["line"].as_i64().unwrap();
        let cell = format!("{job} tr[data-line=\"{line}\"] td.problem");
        let problem = browser.find(&cell).await.text().await.unwrap();
        assert!(problem.contains("is not a number"), "{problem}");
        let input = format!("{cell} input[data-column=\"Amount\"]");
        assert_eq!(
            browser.find(&input).await.prop("value").await.unwrap(),
            row["values"]["Amount"].as_str().map(str::to_owned)
        );
        browser.type_into(&input, "80000").await;
    }
    browser.click(&format!("{job} [data-action=correct]")).await;
    browser
        .wait_for(
            &format!("{job} [data-field=notice]"),
            "12 corrected rows were sent as a new import",
        )
        .await;

    // The correction is a new job of the list, followed to its end; the parent lists it.
    let parent: Value = app
        .get(&key, &format!("/api/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let child_id = parent["data"]["corrections"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let child = format!("#job-{child_id}");
    browser
        .wait_for(&format!("{child} [data-field=state]"), "completed")
        .await;
    browser
        .wait_for(
            &format!("{child} [data-field=parent]"),
            &format!("Corrects the failed rows of job {}", &id[..8]),
        )
        .await;
    browser
        .wait_for(
            &format!("{job} [data-field=corrections]"),
            &format!("Corrected by job {}", &child_id[..8]),
        )
        .await;
    let child = app.wait_for_job(&key, &child_id).await;
    assert_counts(&child, Counts::new().original(12).imported(12).errors(0));
    assert_eq!(app.opportunity_rows().await, (rows as i64, rows as i64));
    assert_eq!(browser.console_problems().await, Vec::<Value>::new());
}
