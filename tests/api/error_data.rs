//! `GET /jobs/{id}/errors` and `error_summary`: failed rows as data, with their line,
//! their values under the header's names and a stable code per problem.

use serde_json::{Value, json};

use crate::helpers::{Counts, TestApp, assert_counts, error_messages, spawn_app, spawn_app_with};

/// A problem as the API shows it.
fn problem(code: &str, column: Option<&str>, value: Option<&str>, message: &str) -> Value {
    json!({"code": code, "column": column, "value": value, "message": message})
}

/// `GET {path}`: status, `X-Total-Count`, `Link` and body.
async fn get_page(app: &TestApp, key: &str, path: &str) -> (u16, i64, Option<String>, Value) {
    let response = app.get(key, path).await;
    let status = response.status().as_u16();
    let total = response
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().parse().unwrap())
        .unwrap_or(-1);
    let link = response
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, total, link, response.json().await.unwrap())
}

/// The job's failed rows, all on one page.
async fn all_errors(app: &TestApp, key: &str, job: &Value) -> Vec<Value> {
    let path = format!(
        "/api/v1/jobs/{}/errors?limit=1000",
        job["id"].as_str().unwrap()
    );
    let (status, _, link, body) = get_page(app, key, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(link, None);
    body["data"].as_array().unwrap().clone()
}

/// The `Line` and `Error` cells of the error CSV.
fn csv_lines_and_errors(error_csv: &str) -> Vec<(i64, String)> {
    let mut reader = csv::Reader::from_reader(error_csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(Into::into).collect();
    let line = header.iter().rposition(|h| h == "Line").unwrap();
    let lines: Vec<i64> = reader
        .records()
        .map(|r| r.unwrap()[line].parse().unwrap())
        .collect();
    lines.into_iter().zip(error_messages(error_csv)).collect()
}

/// The error CSV and the error data tell the same rows with the same messages.
async fn assert_error_csv_matches(app: &TestApp, key: &str, job: &Value, errors: &[Value]) {
    let csv = app.error_csv(key, job).await;
    let expected: Vec<(i64, String)> = errors
        .iter()
        .map(|e| {
            let messages: Vec<&str> = e["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["message"].as_str().unwrap())
                .collect();
            (e["line"].as_i64().unwrap(), messages.join("; "))
        })
        .collect();
    assert_eq!(csv_lines_and_errors(&csv), expected);
}

/// 3,000 pseudo-random letters: more than a Postgres index entry may hold.
fn unindexable_id() -> String {
    let mut state: u64 = 7;
    (0..3000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (b'a' + (state % 26) as u8) as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_failed_rows_are_data_with_line_values_and_codes() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let huge = "9".repeat(40);
    let long_id = unindexable_id();
    let csv = format!(
        "Opp ID,Name,Amount,Close Date,Owner Email,Notes\n\
OK1,Good,100,2017-02-15,rep@example.com,first\n\
,Missing id,100,,,\n\
B2,Bad amount,12abc,,,\n\
B3,Huge,{huge},,,\n\
B4,Bad day,5,2017-02-30,,\n\
B5,Short year,5,2/15/17,,\n\
B6,Words,5,someday,,\n\
B7,Bad email,5,,not-an-email,\n\
B8,Too few\n\
B9,Too many,5,,,note,extra,,\n \
,  ,x,y,z,\n\
OK2,\"Two\nlines\",1,,,\n\
B10,After,abc,,,\n\
{long_id},Too long to index,,,,\n"
    );
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(14).imported(2).errors(12));

    let errors = all_errors(&app, &key, &job).await;
    let values = |id: &str, name: &str, amount: &str, date: &str, email: &str, notes: &str| {
        json!({"Opp ID": id, "Name": name, "Amount": amount, "Close Date": date,
               "Owner Email": email, "Notes": notes})
    };
    let expected_head = vec![
        json!({"line": 3, "values": values("", "Missing id", "100", "", "", ""), "extra_values": [],
               "problems": [problem("required_missing", Some("Opp ID"), Some(""), "Opportunity ID is empty")]}),
        json!({"line": 4, "values": values("B2", "Bad amount", "12abc", "", "", ""), "extra_values": [],
               "problems": [problem("invalid_amount", Some("Amount"), Some("12abc"), "Amount \"12abc\" is not a number")]}),
        json!({"line": 5, "values": values("B3", "Huge", &huge, "", "", ""), "extra_values": [],
               "problems": [problem("amount_out_of_range", Some("Amount"), Some(&huge),
                   &format!("Amount \"{huge}\" is too large or has too many decimals"))]}),
        json!({"line": 6, "values": values("B4", "Bad day", "5", "2017-02-30", "", ""), "extra_values": [],
               "problems": [problem("date_not_in_calendar", Some("Close Date"), Some("2017-02-30"),
                   "Date \"2017-02-30\" does not exist in the calendar")]}),
        json!({"line": 7, "values": values("B5", "Short year", "5", "2/15/17", "", ""), "extra_values": [],
               "problems": [problem("two_digit_year", Some("Close Date"), Some("2/15/17"),
                   "Date \"2/15/17\" has a two-digit year; write the year with four digits")]}),
        json!({"line": 8, "values": values("B6", "Words", "5", "someday", "", ""), "extra_values": [],
               "problems": [problem("invalid_date", Some("Close Date"), Some("someday"),
                   "Date \"someday\" is not a recognised date; use YYYY-MM-DD")]}),
        json!({"line": 9, "values": values("B7", "Bad email", "5", "", "not-an-email", ""), "extra_values": [],
               "problems": [problem("invalid_email", Some("Owner Email"), Some("not-an-email"),
                   "Email \"not-an-email\" is not a valid email address")]}),
        json!({"line": 10,
               "values": {"Opp ID": "B8", "Name": "Too few", "Amount": null, "Close Date": null,
                          "Owner Email": null, "Notes": null},
               "extra_values": [],
               "problems": [problem("field_count", None, None, "expected 6 fields but found 2")]}),
        json!({"line": 11, "values": values("B9", "Too many", "5", "", "", "note"), "extra_values": ["extra"],
               "problems": [problem("field_count", None, None, "expected 6 fields but found 7")]}),
        json!({"line": 12, "values": values(" ", "  ", "x", "y", "z", ""), "extra_values": [],
        "problems": [
            problem("required_missing", Some("Opp ID"), Some(""), "Opportunity ID is empty"),
            problem("required_missing", Some("Name"), Some(""), "Opportunity Name is empty"),
            problem("invalid_amount", Some("Amount"), Some("x"), "Amount \"x\" is not a number"),
            problem("invalid_date", Some("Close Date"), Some("y"),
                "Date \"y\" is not a recognised date; use YYYY-MM-DD"),
            problem("invalid_email", Some("Owner Email"), Some("z"),
                "Email \"z\" is not a valid email address"),
        ]}),
        // After a row spanning lines 13 and 14.
        json!({"line": 15, "values": values("B10", "After", "abc", "", "", ""), "extra_values": [],
               "problems": [problem("invalid_amount", Some("Amount"), Some("abc"), "Amount \"abc\" is not a number")]}),
    ];
    assert_eq!(errors.len(), 12);
    assert_eq!(&errors[..11], &expected_head[..]);
    // Postgres words its refusal itself; the code and the row are ours.
    let refused = &errors[11];
    assert_eq!(refused["line"], 16);
    assert_eq!(
        refused["values"],
        values(&long_id, "Too long to index", "", "", "", "")
    );
    let problems = refused["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{refused}");
    assert_eq!(
        (
            &problems[0]["code"],
            &problems[0]["column"],
            &problems[0]["value"]
        ),
        (&json!("rejected_by_database"), &Value::Null, &Value::Null)
    );
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the row could not be saved: "),
        "{message}"
    );

    // The values keep the header's order on the wire.
    let raw = app
        .get(
            &key,
            &format!(
                "/api/v1/jobs/{}/errors?limit=1",
                job["id"].as_str().unwrap()
            ),
        )
        .await
        .text()
        .await
        .unwrap();
    let order: Vec<usize> = [
        "\"Opp ID\"",
        "\"Name\"",
        "\"Amount\"",
        "\"Close Date\"",
        "\"Owner Email\"",
        "\"Notes\"",
    ]
    .iter()
    .map(|k| raw.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");

    // The summary counts rows per code and column, most frequent first.
    let summary = |code: &str, column: Option<&str>, rows: i64| json!({"code": code, "column": column, "rows": rows});
    assert_eq!(
        job["error_summary"],
        json!([
            summary("invalid_amount", Some("Amount"), 3),
            summary("field_count", None, 2),
            summary("invalid_date", Some("Close Date"), 2),
            summary("invalid_email", Some("Owner Email"), 2),
            summary("required_missing", Some("Opp ID"), 2),
            summary("amount_out_of_range", Some("Amount"), 1),
            summary("date_not_in_calendar", Some("Close Date"), 1),
            summary("rejected_by_database", None, 1),
            summary("required_missing", Some("Name"), 1),
            summary("two_digit_year", Some("Close Date"), 1),
        ])
    );
    // The list shows it too.
    let (_, _, _, list) = get_page(&app, &key, "/api/v1/jobs").await;
    assert_eq!(list["data"][0]["error_summary"], job["error_summary"]);

    // The error CSV keeps its shape: the upload's columns, then Line and Error.
    let csv = app.error_csv(&key, &job).await;
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "Opp ID,Name,Amount,Close Date,Owner Email,Notes,Line,Error"
    );
    assert_error_csv_matches(&app, &key, &job, &errors).await;

    // Paging like every list.
    let id = job["id"].as_str().unwrap();
    let (status, total, link, page) =
        get_page(&app, &key, &format!("/api/v1/jobs/{id}/errors?limit=5")).await;
    assert_eq!((status, total), (200, 12));
    assert_eq!(page["data"].as_array().unwrap(), &errors[..5]);
    let link = link.expect("a next link");
    let next = link
        .strip_prefix(&format!("<{}", app.address))
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap();
    assert_eq!(next, format!("/api/v1/jobs/{id}/errors?limit=5&offset=5"));
    let (_, _, _, page) = get_page(&app, &key, next).await;
    assert_eq!(page["data"].as_array().unwrap(), &errors[5..10]);
    let (_, _, link, page) = get_page(
        &app,
        &key,
        &format!("/api/v1/jobs/{id}/errors?limit=5&offset=10"),
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap(), &errors[10..]);
    assert_eq!(link, None);

    // Filtered by code; the next link keeps the filter.
    let (status, total, _, page) = get_page(
        &app,
        &key,
        &format!("/api/v1/jobs/{id}/errors?code=invalid_amount"),
    )
    .await;
    assert_eq!((status, total), (200, 3));
    let lines: Vec<&Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["line"])
        .collect();
    assert_eq!(lines, [&json!(4), &json!(12), &json!(15)]);
    let (_, total, link, page) = get_page(
        &app,
        &key,
        &format!("/api/v1/jobs/{id}/errors?code=field_count&limit=1"),
    )
    .await;
    assert_eq!(total, 2);
    assert_eq!(page["data"][0]["line"], 10);
    assert!(link.unwrap().ends_with(&format!(
        "/api/v1/jobs/{id}/errors?code=field_count&limit=1&offset=1>; rel=\"next\""
    )),);
    let (status, _, _, body) =
        get_page(&app, &key, &format!("/api/v1/jobs/{id}/errors?code=bogus")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "fail");
    let message = body["data"]["message"].as_str().unwrap();
    assert!(message.starts_with("code: "), "{message}");
    assert!(message.contains("invalid_date"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_failed_rows_include_unknown_opportunities() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let opportunities = app
        .import(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nOPP-1,One\n",
        )
        .await;
    assert_counts(&opportunities, Counts::new().imported(1));
    let csv = "Email,Opp ID,Full Name\n\
ann@example.com,OPP-1,Ann\n\
,OPP-1,No Email\n\
not-an-email,,Bad\n\
bob@example.com, OPP-404 ,Bob\n\
carl@example.com\n";
    let job = app.import(&key, "contacts", "", csv).await;
    assert_counts(&job, Counts::new().errors(4));
    let errors = all_errors(&app, &key, &job).await;
    let values = |email: &str, opp: &str, name: &str| json!({"Email": email, "Opp ID": opp, "Full Name": name});
    assert_eq!(
        errors,
        [
            json!({"line": 3, "values": values("", "OPP-1", "No Email"), "extra_values": [],
                   "problems": [problem("required_missing", Some("Email"), Some(""), "Email is empty")]}),
            json!({"line": 4, "values": values("not-an-email", "", "Bad"), "extra_values": [],
                   "problems": [problem("invalid_email", Some("Email"), Some("not-an-email"),
                       "Email \"not-an-email\" is not a valid email address")]}),
            json!({"line": 5, "values": values("bob@example.com", " OPP-404 ", "Bob"), "extra_values": [],
                   "problems": [problem("unknown_opportunity", Some("Opp ID"), Some("OPP-404"),
                       "unknown Opportunity ID \"OPP-404\": upload that opportunity first")]}),
            json!({"line": 6,
                   "values": {"Email": "carl@example.com", "Opp ID": null, "Full Name": null},
                   "extra_values": [],
                   "problems": [problem("field_count", None, None, "expected 3 fields but found 1")]}),
        ]
    );
    assert_eq!(
        job["error_summary"],
        json!([
            {"code": "field_count", "column": null, "rows": 1},
            {"code": "invalid_email", "column": "Email", "rows": 1},
            {"code": "required_missing", "column": "Email", "rows": 1},
            {"code": "unknown_opportunity", "column": "Opp ID", "rows": 1},
        ])
    );
    assert_error_csv_matches(&app, &key, &job, &errors).await;
    let id = job["id"].as_str().unwrap();
    // The event stream of a finished job: one event, with the summary.
    let events = app
        .get(&key, &format!("/api/v1/jobs/{id}/events"))
        .await
        .text()
        .await
        .unwrap();
    let data: Vec<Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect();
    assert_eq!(data.len(), 1, "{events}");
    assert_eq!(data[0]["error_summary"], job["error_summary"]);
    let (_, total, _, page) = get_page(
        &app,
        &key,
        &format!("/api/v1/jobs/{id}/errors?code=unknown_opportunity"),
    )
    .await;
    assert_eq!(total, 1);
    assert_eq!(page["data"][0]["line"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_targets_failed_rows_cover_months_amounts_and_unreadable_text() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // A UTF-8 BOM, then one byte that is not UTF-8 in line 9.
    let mut csv = b"\xEF\xBB\xBFRep Email,Month,Quota\n\
rep@example.com,2017-02,100\n\
,2017-02,100\n\
rep@example.com,Q1 2017,100\n\
rep@example.com,Feb-17,100\n\
rep@example.com,13/2017,100\n\
rep@example.com,2017-03,lots\n\
rep@example.com,2017-04,\n"
        .to_vec();
    csv.extend_from_slice(b"M\xFCller@example.com,2017-05,1\nbad-email,2017-02,5\n");
    let job = app.import(&key, "sales_targets", "", csv).await;
    assert_counts(&job, Counts::new().errors(8));
    let errors = all_errors(&app, &key, &job).await;
    let values = |email: &str, month: &str, quota: &str| json!({"Rep Email": email, "Month": month, "Quota": quota});
    let row = |line: i64, values: Value, problem: Value| json!({"line": line, "values": values, "extra_values": [], "problems": [problem]});
    assert_eq!(
        errors,
        [
            row(
                3,
                values("", "2017-02", "100"),
                problem(
                    "required_missing",
                    Some("Rep Email"),
                    Some(""),
                    "Email Address of Salesrep is empty"
                )
            ),
            row(
                4,
                values("rep@example.com", "Q1 2017", "100"),
                problem(
                    "invalid_month",
                    Some("Month"),
                    Some("Q1 2017"),
                    "Month \"Q1 2017\" is not a recognised month; use YYYY-MM"
                )
            ),
            row(
                5,
                values("rep@example.com", "Feb-17", "100"),
                problem(
                    "two_digit_year",
                    Some("Month"),
                    Some("Feb-17"),
                    "Month \"Feb-17\" has a two-digit year; write the year with four digits"
                )
            ),
            row(
                6,
                values("rep@example.com", "13/2017", "100"),
                problem(
                    "date_not_in_calendar",
                    Some("Month"),
                    Some("13/2017"),
                    "Month \"13/2017\" does not exist in the calendar"
                )
            ),
            row(
                7,
                values("rep@example.com", "2017-03", "lots"),
                problem(
                    "invalid_amount",
                    Some("Quota"),
                    Some("lots"),
                    "Amount \"lots\" is not a number"
                )
            ),
            row(
                8,
                values("rep@example.com", "2017-04", ""),
                problem(
                    "required_missing",
                    Some("Quota"),
                    Some(""),
                    "Amount is empty"
                )
            ),
            // An unreadable row has no cells to show.
            row(
                9,
                json!({"Rep Email": null, "Month": null, "Quota": null}),
                problem(
                    "unreadable_text",
                    None,
                    None,
                    "the row contains characters that cannot be read"
                )
            ),
            row(
                10,
                values("bad-email", "2017-02", "5"),
                problem(
                    "invalid_email",
                    Some("Rep Email"),
                    Some("bad-email"),
                    "Email \"bad-email\" is not a valid email address"
                )
            ),
        ]
    );
    assert_eq!(
        job["error_summary"],
        json!([
            {"code": "date_not_in_calendar", "column": "Month", "rows": 1},
            {"code": "invalid_amount", "column": "Quota", "rows": 1},
            {"code": "invalid_email", "column": "Rep Email", "rows": 1},
            {"code": "invalid_month", "column": "Month", "rows": 1},
            {"code": "required_missing", "column": "Quota", "rows": 1},
            {"code": "required_missing", "column": "Rep Email", "rows": 1},
            {"code": "two_digit_year", "column": "Month", "rows": 1},
            {"code": "unreadable_text", "column": null, "rows": 1},
        ])
    );
    assert_error_csv_matches(&app, &key, &job, &errors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_another_tenant_are_404_and_a_clean_job_has_none() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let clean = app
        .import(
            &key,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name\nA,One\n",
        )
        .await;
    assert_eq!(clean["error_summary"], json!([]));
    let id = clean["id"].as_str().unwrap();
    let (status, total, link, body) =
        get_page(&app, &key, &format!("/api/v1/jobs/{id}/errors")).await;
    assert_eq!((status, total, link), (200, 0, None));
    assert_eq!(body, json!({"status": "success", "data": []}));

    let other = app
        .key("other-tenant", "admin@other.example.com", true)
        .await;
    let (status, _, _, body) = get_page(&app, &other, &format!("/api/v1/jobs/{id}/errors")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["status"], "fail");
    assert_eq!(body["data"]["message"], format!("no job {id}"));
    let (status, _, _, body) = get_page(&app, &key, "/api/v1/jobs/not-a-uuid/errors").await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _, _) = get_page(&app, "wrong-key", &format!("/api/v1/jobs/{id}/errors")).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_rows_stop_at_the_cap_while_the_summary_and_csv_stay_exact() {
    let app = spawn_app_with(|s| s.error_rows_stored_max = 4, true).await;
    let key = app.admin_key().await;
    let mut csv = String::from("Opportunity ID,Opportunity Name,Amount\n");
    for i in 0..7 {
        csv.push_str(&format!("B{i},Bad,x{i}\nG{i},Good,{i}\n"));
    }
    let job = app.import(&key, "opportunities", "", csv).await;
    assert_counts(&job, Counts::new().errors(7));
    assert_eq!(
        job["error_summary"],
        json!([{"code": "invalid_amount", "column": "Amount", "rows": 7}])
    );
    let errors = all_errors(&app, &key, &job).await;
    let lines: Vec<i64> = errors.iter().map(|e| e["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, [2, 4, 6, 8]);
    let csv = app.error_csv(&key, &job).await;
    assert_eq!(error_messages(&csv).len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_email_lists_the_summary_one_line_per_code() {
    let app = spawn_app().await;
    let key = app.key("acme", "boss@acme.com", true).await;
    // A mapped column whose name would be markup in HTML.
    let query = serde_urlencoded::to_string([
        ("send_error_email", "true"),
        ("mapping", r#"{"Amt & <Net>":"Amount"}"#),
    ])
    .unwrap();
    let csv = "Opportunity ID,Opportunity Name,Amt & <Net>\nG1,Good,1\nB1,Bad,ten\nB2,,eleven\n";
    let job = app.import(&key, "opportunities", &query, csv).await;
    assert_eq!(
        job["error_summary"],
        json!([
            {"code": "invalid_amount", "column": "Amt & <Net>", "rows": 2},
            {"code": "required_missing", "column": "Opportunity Name", "rows": 1},
        ])
    );
    let messages = app
        .smtp
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    let parsed = messages[0].parsed();
    // Mail bodies travel with CRLF line ends.
    let text = parsed.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(
        text.contains(
            "Problems found:\n  2 rows: invalid_amount in Amt & <Net>\n  \
             1 row: required_missing in Opportunity Name\n"
        ),
        "{text}"
    );
    let html = parsed.body_html(0).unwrap();
    assert!(
        html.contains(
            "<h3>Problems found</h3><ul><li>2 rows: invalid_amount in Amt &amp; &lt;Net&gt;</li>\
             <li>1 row: required_missing in Opportunity Name</li></ul>"
        ),
        "{html}"
    );
}

/// Only the run that holds a job writes its failed rows: a run that lost the job (here:
/// the job has ended) can neither add rows nor clear those of the run that finished it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_the_jobs_lease_writes_and_clears_nothing() {
    use batch_import::{
        db::{self, jobs::Lease},
        domain::{ErrorSummaryEntry, Problem, ProblemCode},
        import::{FailedRows, error_file::RejectedRow},
    };
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = "Opportunity ID,Opportunity Name,Amount\nB1,Bad,x\n";
    let job = app.import(&key, "opportunities", "", csv).await;
    let before = all_errors(&app, &key, &job).await;
    assert_eq!(before.len(), 1);
    let id: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let stale = Lease {
        owner: "a-run-that-lost-the-job".into(),
        duration: std::time::Duration::from_secs(10),
    };
    let header = vec!["Opportunity ID".to_owned()];
    let rows = [RejectedRow {
        record: csv::StringRecord::from(vec!["LATE"]),
        line: 99,
        problems: vec![Problem::of_row(ProblemCode::FieldCount, "late")],
    }];
    let summary = [ErrorSummaryEntry {
        code: ProblemCode::FieldCount,
        column: None,
        rows: 1,
    }];
    let failed = FailedRows {
        header: &header,
        rows: &rows,
        summary: &summary,
    };
    let stored = db::job_errors::record(&app.db, id, &stale, failed, 10)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    db::job_errors::clear(&app.db, id, &stale).await.unwrap();
    assert_eq!(all_errors(&app, &key, &job).await, before);
    let (_, _, _, now) = get_page(&app, &key, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(now["data"]["error_summary"], job["error_summary"]);
}

/// The OpenAPI document describes the failed rows as they are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_failed_rows_as_served() {
    use batch_import::domain::ProblemCode;
    use std::collections::BTreeSet;
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let csv = "Opportunity ID,Opportunity Name,Amount\nB1,,x\n";
    let job = app.import(&key, "opportunities", "", csv).await;
    let errors = all_errors(&app, &key, &job).await;
    let doc: Value = app
        .get_anonymous("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let properties = |name: &str| -> BTreeSet<String> {
        schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"))
            .keys()
            .cloned()
            .collect()
    };
    let keys = |value: &Value| -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&errors[0]), properties("JobErrorView"));
    assert_eq!(keys(&errors[0]["problems"][0]), properties("Problem"));
    assert_eq!(
        keys(&job["error_summary"][0]),
        properties("ErrorSummaryEntry")
    );
    let codes: Vec<&str> = ProblemCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(schemas["KnownProblemCode"]["enum"], json!(codes));
    // The set is open: a code is a known one or any other string (codes are only added).
    assert_eq!(
        schemas["ProblemCode"]["anyOf"],
        json!([{"$ref": "#/components/schemas/KnownProblemCode"}, {"type": "string", "description": "A code added after this document"}])
    );
    let operation = &doc["paths"]["/api/v1/jobs/{id}/errors"]["get"];
    assert_eq!(operation["operationId"], "list_job_errors");
    for status in ["200", "400", "404"] {
        assert!(operation["responses"].get(status).is_some(), "{status}");
    }
    let parameters: BTreeSet<&str> = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(parameters, ["code", "id", "limit", "offset"].into());
}
