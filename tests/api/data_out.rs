//! Data back out: the filters of the opportunity, contact and sales target lists, their
//! keyset pagination (`cursor`, `Link: rel="next"`), and their CSV export, which uploads
//! again unchanged.

use serde_json::Value;

use crate::helpers::{Counts, TestApp, assert_counts, spawn_app};

/// Opportunities with every column, some of them built to trip the filters and the export:
/// `%` and `_` in names, a formula-like name and next step, a negative amount, a phone-like
/// type starting with `+`.
const OPPORTUNITIES: &str = "\
Opportunity ID,Opportunity Name,Amount,Close Date,Stage,Opportunity Owner,Opportunity Owner Email,Account ID,Account Name,Account URL/Website,Opportunity Type,Next Step
OPP-1,Acme - 50% off,48000.00,2027-03-31,Proposal,Dana Reyes,dana@acme.example.com,ACC-1,Acme Corp,https://acme.example.com,New Business,Send the quote
OPP-2,Globex renewal,12500.5,2027-01-15,Negotiation,Sam Patel,sam@acme.example.com,ACC-2,Globex,https://globex.example.com,Renewal,\"Legal review, then sign\"
OPP-3,Initech_pilot,-5,2027-02-28,proposal,Dana Reyes,DANA@acme.example.com,ACC-3,Initech,,+1 555 0100,=HYPERLINK(\"http://evil\")
OPP-4,Umbrella 50 off,,,,,,,Umbrella 50% Corp,,,@SUM(1)
OPP-5,Hooli,7200,2026-12-31,Closed Won,Sam Patel,sam@acme.example.com,ACC-5,Hooli,,-Upsell,
";

/// The external ids in a list page's body.
fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["external_opp_id"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET path` answered 200; the body's `data` ids.
async fn opportunity_ids(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let response = app.get(key, &format!("/api/v1/opportunities{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    ids(&response.json().await.unwrap())
}

/// `GET path` answered 400 with a message naming `parameter`.
async fn refused(app: &TestApp, key: &str, path: &str, parameter: &str) {
    let response = app.get(key, path).await;
    assert_eq!(response.status(), 400, "{path}");
    let body: Value = response.json().await.unwrap();
    let message = body.to_string();
    assert!(message.contains(parameter), "{path}: {message}");
}

/// The `Link` header, when there is one.
fn next_link(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("link")
        .map(|l| l.to_str().unwrap().to_owned())
}

fn link_target(link: &str) -> &str {
    link.strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("a next link: {link}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_filter_by_stage_owner_dates_update_time_and_search() {
    let app = spawn_app().await;
    let admin = app.key("acme", "admin@acme.example.com", true).await;
    let dana = app.key("acme", "Dana@Acme.example.com", false).await;
    let nobody = app.key("acme", "nobody@acme.example.com", false).await;
    let other = app.key("globex", "dana@acme.example.com", true).await;
    let job = app.import(&admin, "opportunities", "", OPPORTUNITIES).await;
    assert_counts(&job, Counts::new().imported(5).errors(0));
    // The other tenant has one of the same id and owner: never seen from acme.
    app.import(
        &other,
        "opportunities",
        "",
        "Opportunity ID,Opportunity Name,Stage,Opportunity Owner Email\nOPP-9,Other,Proposal,dana@acme.example.com\n",
    )
    .await;

    assert_eq!(
        opportunity_ids(&app, &admin, "").await,
        ["OPP-1", "OPP-2", "OPP-3", "OPP-4", "OPP-5"]
    );
    assert_eq!(
        opportunity_ids(&app, &admin, "?stage=PROPOSAL").await,
        ["OPP-1", "OPP-3"]
    );
    assert_eq!(
        opportunity_ids(&app, &admin, "?owner_email=sam%40acme.example.com").await,
        ["OPP-2", "OPP-5"]
    );
    // "Get My Opportunities": the key's user's email, case-insensitively, this tenant only.
    assert_eq!(
        opportunity_ids(&app, &dana, "?owner=me").await,
        ["OPP-1", "OPP-3"]
    );
    assert_eq!(opportunity_ids(&app, &other, "?owner=me").await, ["OPP-9"]);
    assert!(opportunity_ids(&app, &nobody, "?owner=me").await.is_empty());
    assert_eq!(
        opportunity_ids(
            &app,
            &dana,
            "?owner=me&stage=proposal&close_date_to=2027-03-01"
        )
        .await,
        ["OPP-3"]
    );
    // Inclusive days.
    assert_eq!(
        opportunity_ids(
            &app,
            &admin,
            "?close_date_from=2027-01-15&close_date_to=2027-02-28"
        )
        .await,
        ["OPP-2", "OPP-3"]
    );
    assert_eq!(
        opportunity_ids(&app, &admin, "?close_date_from=2027-03-01").await,
        ["OPP-1"]
    );
    // `%` and `_` are text, not wildcards: "50%" is not "50 off", "_" not any character.
    assert_eq!(
        opportunity_ids(&app, &admin, "?q=50%25").await,
        ["OPP-1", "OPP-4"]
    );
    assert_eq!(
        opportunity_ids(&app, &admin, "?q=50%25%20off").await,
        ["OPP-1"]
    );
    assert_eq!(
        opportunity_ids(&app, &admin, "?q=%25").await,
        ["OPP-1", "OPP-4"]
    );
    assert!(opportunity_ids(&app, &admin, "?q=glob_x").await.is_empty());
    assert_eq!(
        opportunity_ids(&app, &admin, "?q=INITECH_").await,
        ["OPP-3"]
    );
    assert_eq!(opportunity_ids(&app, &admin, "?q=globex").await, ["OPP-2"]);
    assert!(opportunity_ids(&app, &other, "?q=acme").await.is_empty());

    // updated_since: what an import changed at or after the time; unchanged rows keep theirs.
    sqlx::query("UPDATE opportunities SET updated_at = '2020-01-01T00:00:00Z'")
        .execute(&app.db)
        .await
        .unwrap();
    let job = app
        .import(
            &admin,
            "opportunities",
            "",
            "Opportunity ID,Opportunity Name,Stage\nOPP-2,Globex renewal,Closed Won\nOPP-4,Umbrella 50 off,\n",
        )
        .await;
    assert_counts(&job, Counts::new().updated(1).unchanged(1));
    assert_eq!(
        opportunity_ids(&app, &admin, "?updated_since=2021-01-01T00:00:00Z").await,
        ["OPP-2"]
    );
    assert_eq!(
        opportunity_ids(&app, &admin, "?updated_since=2019-12-31T23:00:00%2B02:00")
            .await
            .len(),
        5
    );

    // Invalid values: 400 naming the parameter.
    for (query, parameter) in [
        ("close_date_from=2027-02-30", "close_date_from"),
        ("close_date_to=31.01.2027", "close_date_to"),
        (
            "close_date_from=2027-02-01&close_date_to=2027-01-01",
            "close_date_to",
        ),
        ("updated_since=yesterday", "updated_since"),
        ("owner=you", "owner"),
        ("owner=me&owner_email=sam%40acme.example.com", "owner_email"),
    ] {
        refused(
            &app,
            &admin,
            &format!("/api/v1/opportunities?{query}"),
            parameter,
        )
        .await;
        refused(
            &app,
            &admin,
            &format!("/api/v1/opportunities.csv?{query}"),
            parameter,
        )
        .await;
    }
    let long = "x".repeat(101);
    refused(
        &app,
        &admin,
        &format!("/api/v1/opportunities?q={long}"),
        "q",
    )
    .await;
    let long = "x".repeat(321);
    refused(
        &app,
        &admin,
        &format!("/api/v1/opportunities?stage={long}"),
        "stage",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_walk_returns_every_row_once_in_order_keeping_the_filters() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let mut csv = String::from("Opportunity ID,Opportunity Name,Stage\n");
    for i in 0..53 {
        let stage = if i % 3 == 0 { "Won" } else { "Open" };
        csv.push_str(&format!("W-{i:03},Deal {i},{stage}\n"));
    }
    app.import(&key, "opportunities", "", csv).await;
    let want: Vec<String> = (0..53)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("W-{i:03}"))
        .collect();

    let mut path = "/api/v1/opportunities?stage=open&limit=7".to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = app.get(&key, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        let first = pages == 0;
        // Counted on the first page only: a count costs more than a deep page.
        assert_eq!(
            response.headers().get("x-total-count").is_some(),
            first,
            "{path}"
        );
        if first {
            assert_eq!(
                response.headers()["x-total-count"],
                want.len().to_string().as_str()
            );
        }
        let link = next_link(&response);
        let page = ids(&response.json().await.unwrap());
        seen.extend(page.clone());
        pages += 1;
        let Some(link) = link else {
            break;
        };
        assert_eq!(page.len(), 7);
        let target = link_target(&link);
        let next = target
            .strip_prefix(&app.address)
            .unwrap_or_else(|| panic!("{target} on this API"));
        assert!(
            next.starts_with("/api/v1/opportunities?stage=open&limit=7&cursor="),
            "{next}"
        );
        assert!(!next.contains("offset"), "{next}");
        path = next.to_owned();
    }
    assert_eq!(seen, want, "every row once, in order");
    assert_eq!(pages, want.len().div_ceil(7));

    // A page that ends exactly at the last row has no next link.
    let response = app
        .get(&key, "/api/v1/opportunities?stage=won&limit=18")
        .await;
    assert!(next_link(&response).is_none());
    assert_eq!(ids(&response.json().await.unwrap()).len(), 18);

    // Offset paging still works, and its next link moves on by cursor.
    let response = app
        .get(&key, "/api/v1/opportunities?limit=10&offset=50")
        .await;
    assert_eq!(response.headers()["x-total-count"], "53");
    assert!(next_link(&response).is_none());
    assert_eq!(
        ids(&response.json().await.unwrap()),
        ["W-050", "W-051", "W-052"]
    );
    let response = app
        .get(&key, "/api/v1/opportunities?limit=10&offset=40")
        .await;
    let link = next_link(&response).unwrap();
    let next = link_target(&link)
        .strip_prefix(&app.address)
        .unwrap()
        .to_owned();
    assert_eq!(
        opportunity_ids(
            &app,
            &key,
            next.strip_prefix("/api/v1/opportunities").unwrap()
        )
        .await,
        ["W-050", "W-051", "W-052"]
    );

    // A cursor edited, cut short, from another list, or with an offset: 400 naming it.
    let cursor = next.split("cursor=").nth(1).unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in [
        tampered.as_str(),
        &cursor[..cursor.len() - 1],
        "garbage",
        "00",
    ] {
        refused(
            &app,
            &key,
            &format!("/api/v1/opportunities?cursor={bad}"),
            "cursor",
        )
        .await;
    }
    refused(
        &app,
        &key,
        &format!("/api/v1/contacts?cursor={cursor}"),
        "cursor",
    )
    .await;
    refused(
        &app,
        &key,
        &format!("/api/v1/opportunities?cursor={cursor}&offset=10"),
        "offset",
    )
    .await;
    let long = "ab".repeat(3000);
    refused(
        &app,
        &key,
        &format!("/api/v1/opportunities?cursor={long}"),
        "cursor",
    )
    .await;
}

/// The `email`s of a contacts page.
async fn contact_emails(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let response = app.get(key, &format!("/api/v1/contacts{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap().to_owned())
        .collect()
}

/// `email month` of a sales targets page.
async fn targets(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let response = app.get(key, &format!("/api/v1/sales_targets{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["email"].as_str().unwrap(),
                t["month"].as_str().unwrap()
            )
        })
        .collect()
}

const CONTACTS: &str = "\
Opportunity ID,Email,Fullname,First Name,Last Name,Title,Company Name,Phone,Mobile Phone
OPP-1,jordan@acme.example.com,Jordan Lee,Jordan,Lee,=Head of Procurement,Acme Corp,+1 555 0100,+1 555 0101
OPP-2,Maria@globex.example.com,Maria Gomez,Maria,Gomez,IT Director,Globex,+1 555 0200,
,chris_100%@initech.example.com,Chris Wong,Chris,Wong,CTO,Initech,,-
,zoe@acme.example.com,Zoe Park,Zoe,Park,@CEO,ACME CORP,,
";

const TARGETS: &str = "\
Email Address of Salesrep,Month,Amount
dana@acme.example.com,2027-01,60000.00
dana@acme.example.com,2027-02,-1500.5
Sam@acme.example.com,2027-01,45000
sam@other.example.com,2026-12,1
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_and_sales_targets_filter_and_page_by_cursor() {
    let app = spawn_app().await;
    let admin = app.key("acme", "admin@acme.example.com", true).await;
    let dana = app.key("acme", "dana@acme.example.com", false).await;
    app.import(&admin, "opportunities", "", OPPORTUNITIES).await;
    let job = app.import(&admin, "contacts", "", CONTACTS).await;
    assert_counts(&job, Counts::new().imported(4).errors(0));
    let job = app.import(&admin, "sales_targets", "", TARGETS).await;
    assert_counts(&job, Counts::new().imported(4).errors(0));

    assert_eq!(
        contact_emails(&app, &admin, "").await,
        [
            "chris_100%@initech.example.com",
            "jordan@acme.example.com",
            "Maria@globex.example.com",
            "zoe@acme.example.com"
        ],
        "ordered by email, case-insensitively"
    );
    assert_eq!(
        contact_emails(&app, &admin, "?email=MARIA%40globex.example.com").await,
        ["Maria@globex.example.com"]
    );
    assert_eq!(
        contact_emails(&app, &admin, "?account=acme%20corp").await,
        ["jordan@acme.example.com", "zoe@acme.example.com"]
    );
    assert_eq!(
        contact_emails(&app, &admin, "?opportunity_id=OPP-2").await,
        ["Maria@globex.example.com"]
    );
    assert_eq!(
        contact_emails(&app, &admin, "?q=PARK").await,
        ["zoe@acme.example.com"]
    );
    assert_eq!(
        contact_emails(&app, &admin, "?q=_100%25").await,
        ["chris_100%@initech.example.com"]
    );
    assert!(
        contact_emails(&app, &admin, "?q=chri__100")
            .await
            .is_empty()
    );
    assert_eq!(
        contact_emails(&app, &admin, "?updated_since=2999-01-01T00:00:00Z")
            .await
            .len(),
        0
    );
    refused(
        &app,
        &admin,
        "/api/v1/contacts?updated_since=2027-01-01",
        "updated_since",
    )
    .await;

    // Walk the contacts two at a time.
    let first = app.get(&admin, "/api/v1/contacts?limit=2").await;
    assert_eq!(first.headers()["x-total-count"], "4");
    let link = next_link(&first).unwrap();
    let next = link_target(&link)
        .strip_prefix(&app.address)
        .unwrap()
        .to_owned();
    let second = app.get(&admin, &next).await;
    assert!(second.headers().get("x-total-count").is_none());
    assert!(next_link(&second).is_none());
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["data"][0]["email"], "Maria@globex.example.com");

    assert_eq!(
        targets(&app, &admin, "").await,
        [
            "sam@other.example.com 2026-12",
            "dana@acme.example.com 2027-01",
            "Sam@acme.example.com 2027-01",
            "dana@acme.example.com 2027-02"
        ],
        "by month, then rep"
    );
    assert_eq!(
        targets(&app, &dana, "?owner=me").await,
        [
            "dana@acme.example.com 2027-01",
            "dana@acme.example.com 2027-02"
        ]
    );
    assert_eq!(
        targets(&app, &admin, "?email=SAM%40acme.example.com").await,
        ["Sam@acme.example.com 2027-01"]
    );
    assert_eq!(
        targets(&app, &admin, "?month_from=2027-01&month_to=2027-01").await,
        [
            "dana@acme.example.com 2027-01",
            "Sam@acme.example.com 2027-01"
        ]
    );
    refused(
        &app,
        &dana,
        "/api/v1/sales_targets?owner=me&email=sam%40acme.example.com",
        "email",
    )
    .await;
    let mut walked = Vec::new();
    let mut path = "/api/v1/sales_targets?limit=1".to_owned();
    loop {
        let response = app.get(&admin, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        let link = next_link(&response);
        let body: Value = response.json().await.unwrap();
        walked.push(format!(
            "{} {}",
            body["data"][0]["email"].as_str().unwrap(),
            body["data"][0]["month"].as_str().unwrap()
        ));
        match link {
            Some(link) => {
                path = link_target(&link)
                    .strip_prefix(&app.address)
                    .unwrap()
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(walked, targets(&app, &admin, "").await);
}

/// Downloads a CSV export (200, `text/csv`, attachment `file_name`, UTF-8 BOM); its text.
async fn export(app: &TestApp, key: &str, path: &str, accept_csv: bool, file_name: &str) -> String {
    let mut request = app
        .client
        .get(format!("{}{path}", app.address))
        .header("Authorization", key);
    if accept_csv {
        request = request.header("Accept", "text/csv");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{file_name}\"").as_str()
    );
    assert!(response.headers().get("x-total-count").is_none());
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("a BOM first: {text}"))
        .to_owned()
}

/// The JSON list of a kind, every row (at most 1,000).
async fn all(app: &TestApp, key: &str, kind: &str) -> Vec<Value> {
    let body: Value = app
        .get(key, &format!("/api/v1/{kind}?limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_export_uploads_again_with_every_row_unchanged() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    for (kind, upload, rows) in [
        ("opportunities", OPPORTUNITIES, 5),
        ("contacts", CONTACTS, 4),
        ("sales_targets", TARGETS, 4),
    ] {
        let job = app.import(&key, kind, "", upload).await;
        assert_counts(&job, Counts::new().imported(rows).errors(0));
        let before = all(&app, &key, kind).await;
        let file_name = format!("{kind}.csv");
        let csv = export(
            &app,
            &key,
            &format!("/api/v1/{kind}.csv"),
            false,
            &file_name,
        )
        .await;
        // The same file by content negotiation on the list's path (paging ignored).
        assert_eq!(
            export(
                &app,
                &key,
                &format!("/api/v1/{kind}?limit=1"),
                true,
                &file_name
            )
            .await,
            csv
        );
        // The upload's own header: the sample file's.
        let sample = app
            .get_anonymous(&format!("/api/v1/{kind}/sample.csv"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(csv.lines().next(), sample.lines().next(), "{kind}");
        assert_eq!(csv.lines().count(), rows + 1, "{kind}: {csv}");

        let job = app.import(&key, kind, "", csv.clone()).await;
        assert_eq!(job["state"], "completed", "{kind}: {job}");
        assert_counts(
            &job,
            Counts::new()
                .original(rows)
                .imported(rows)
                .errors(0)
                .created(0)
                .updated(0)
                .unchanged(rows),
        );
        assert_eq!(
            all(&app, &key, kind).await,
            before,
            "{kind}: the rows are identical"
        );
    }

    // Text that a spreadsheet would run is quoted; numbers and dates are not.
    let opportunities = export(
        &app,
        &key,
        "/api/v1/opportunities.csv",
        false,
        "opportunities.csv",
    )
    .await;
    let mut reader = csv::Reader::from_reader(opportunities.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let row = |id: &str| rows.iter().find(|r| &r[0] == id).unwrap().clone();
    let initech = row("OPP-3");
    assert_eq!(&initech[2], "-5");
    assert_eq!(&initech[3], "2027-02-28");
    assert_eq!(&initech[10], "'+1 555 0100");
    assert_eq!(&initech[11], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(&row("OPP-4")[11], "'@SUM(1)");
    assert_eq!(&row("OPP-5")[10], "'-Upsell");
    assert_eq!(&row("OPP-2")[11], "Legal review, then sign");
    let contacts = export(
        &app,
        &key,
        "/api/v1/contacts.csv?q=jordan",
        false,
        "contacts.csv",
    )
    .await;
    assert_eq!(
        contacts.lines().nth(1).unwrap(),
        "OPP-1,jordan@acme.example.com,Jordan Lee,Jordan,Lee,'=Head of Procurement,Acme Corp,'+1 555 0100,'+1 555 0101"
    );
    assert_eq!(contacts.lines().count(), 2, "filtered: {contacts}");
    let targets = export(
        &app,
        &key,
        "/api/v1/sales_targets.csv?month_from=2027-02",
        false,
        "sales_targets.csv",
    )
    .await;
    assert_eq!(
        targets,
        "Email Address of Salesrep,Month,Amount\ndana@acme.example.com,2027-02,-1500.5\n"
    );

    // Another tenant's export holds none of these.
    let other = app.admin_key().await;
    for kind in ["opportunities", "contacts", "sales_targets"] {
        let csv = export(
            &app,
            &other,
            &format!("/api/v1/{kind}.csv"),
            false,
            &format!("{kind}.csv"),
        )
        .await;
        assert_eq!(csv.lines().count(), 1, "{kind}: only the header: {csv}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_of_several_opportunities_exports_one_row_per_link() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    app.import(&key, "opportunities", "", OPPORTUNITIES).await;
    app.import(
        &key,
        "contacts",
        "",
        "Opportunity ID,Email,Fullname\nOPP-2,ann@acme.example.com,Ann Lee\nOPP-1,ann@acme.example.com,Ann Lee\n",
    )
    .await;
    let csv = export(&app, &key, "/api/v1/contacts.csv", false, "contacts.csv").await;
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(
        rows,
        [
            "OPP-1,ann@acme.example.com,Ann Lee,Ann,Lee,,,,",
            "OPP-2,ann@acme.example.com,Ann Lee,Ann,Lee,,,,"
        ]
    );
    // As documented: the second row brings a link the first did not, so the import counts
    // it as a change without looking the link up; nothing is written, the links stay two.
    let before = all(&app, &key, "contacts").await;
    let job = app.import(&key, "contacts", "", csv).await;
    assert_counts(
        &job,
        Counts::new()
            .imported(2)
            .errors(0)
            .created(0)
            .updated(1)
            .unchanged(1),
    );
    assert_eq!(all(&app, &key, "contacts").await, before);
}
