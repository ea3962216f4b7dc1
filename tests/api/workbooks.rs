//! Excel and OpenDocument workbooks uploaded as they are: real workbooks built here with
//! rust_xlsxwriter (and small LibreOffice-made fixtures, see
//! tests/fixtures/workbooks/SOURCES.md), through HTTP against the real services.

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet};
use serde_json::Value;

use crate::helpers::{Counts, TestApp, assert_counts, by_external_id, error_messages, spawn_app};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Uploads `bytes` as a workbook named `name` to `/api/v1/{kind}/upload?{query}`.
async fn upload(
    app: &TestApp,
    key: &str,
    kind: &str,
    query: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(XLSX)
        .unwrap();
    app.client
        .post(format!("{}/api/v1/{kind}/upload?{query}", app.address))
        .header("Authorization", key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

/// Uploads and waits for the job to end.
async fn import(app: &TestApp, key: &str, kind: &str, query: &str, bytes: Vec<u8>) -> Value {
    let response = upload(app, key, kind, query, "pipeline.xlsx", bytes).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    app.wait_for_job(key, &id).await
}

fn header(sheet: &mut Worksheet, names: &[&str]) {
    for (col, name) in names.iter().enumerate() {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
}

fn date(y: u16, m: u8, d: u8) -> ExcelDateTime {
    ExcelDateTime::from_ymd(y, m, d).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_imports_with_its_cells_meaning_and_its_sheet_row_numbers() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    header(
        sheet,
        &["Opportunity ID", "Opportunity Name", "Amount", "Close Date"],
    );
    let scientific = Format::new().set_num_format("0.00E+00");
    let day_first = Format::new().set_num_format("dd/mm/yyyy");
    let month_name = Format::new().set_num_format("mmm d, yyyy");
    // Row 2: text with spaces, float noise, a day-first date format.
    sheet.write_string(1, 0, "X-1").unwrap();
    sheet.write_string(1, 1, "  Padded deal  ").unwrap();
    sheet.write_number(1, 2, 80000.0 + 1e-11).unwrap();
    sheet
        .write_datetime_with_format(1, 3, date(2025, 3, 14), &day_first)
        .unwrap();
    // Row 3: a whole number shown in scientific notation, a date shown with its month's name.
    sheet.write_string(2, 0, "X-2").unwrap();
    sheet.write_string(2, 1, "Big deal").unwrap();
    sheet
        .write_number_with_format(2, 2, 100000.0, &scientific)
        .unwrap();
    sheet
        .write_datetime_with_format(2, 3, date(2026, 1, 2), &month_name)
        .unwrap();
    // Row 4 is empty: skipped, not a row. Row 5 lacks its name: an error on line 5.
    sheet.write_string(4, 0, "X-3").unwrap();
    sheet.write_number(4, 2, 5.0).unwrap();
    // Row 6: an amount computed by a formula, read as its cached value; an ID typed as a
    // number stays a plain number.
    sheet.write_number(5, 0, 4711.0).unwrap();
    sheet.write_string(5, 1, "Formula deal").unwrap();
    sheet
        .write_formula(5, 2, Formula::new("=1200*2").set_result("2400"))
        .unwrap();
    // A note in a column without a header is nobody's value: its row is empty, skipped.
    sheet.write_string(8, 6, "note beside the table").unwrap();
    let job = import(
        &app,
        &key,
        "opportunities",
        "",
        workbook.save_to_buffer().unwrap(),
    )
    .await;

    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().original(4).imported(3).errors(1));
    assert_eq!(job["progress_percent"], 100, "{job}");
    let items = app.list(&key, "opportunities").await;
    let first = by_external_id(&items, "X-1");
    assert_eq!(first["name"], "Padded deal");
    assert_eq!(first["amount"], 80000.0, "float noise is gone");
    assert_eq!(first["close_date"]["date"], "2025-03-14 00:00:00.000000");
    let second = by_external_id(&items, "X-2");
    assert_eq!(second["amount"], 100000.0);
    assert_eq!(second["close_date"]["date"], "2026-01-02 00:00:00.000000");
    assert_eq!(by_external_id(&items, "4711")["amount"], 2400.0);

    // The error CSV has the sheet's header and its row numbers.
    let errors = app.error_csv(&key, &job).await;
    let mut lines = errors.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Opportunity ID,Opportunity Name,Amount,Close Date,Line,Error"
    );
    assert!(errors.contains("X-3,,5,,5,"), "{errors}");
    assert!(
        error_messages(&errors)
            .iter()
            .any(|m| m.contains("Opportunity Name is empty")),
        "{errors}"
    );
}

/// A workbook with a hidden first sheet and two visible ones, each with one opportunity.
fn three_sheets() -> Vec<u8> {
    let mut workbook = Workbook::new();
    for (name, id, hidden) in [
        ("Notes", "N-1", true),
        ("Q3", "Q3-1", false),
        ("Q4", "Q4-1", false),
    ] {
        let sheet = workbook.add_worksheet();
        sheet.set_name(name).unwrap();
        header(sheet, &["Opportunity ID", "Opportunity Name"]);
        sheet.write_string(1, 0, id).unwrap();
        sheet.write_string(1, 1, format!("Deal of {name}")).unwrap();
        if hidden {
            sheet.set_hidden(true);
        } else if name == "Q3" {
            // Excel will not hide the active sheet: the first visible one is.
            sheet.set_active(true);
        }
    }
    workbook.save_to_buffer().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_is_the_first_visible_one_or_the_one_named_or_numbered() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let job = import(&app, &key, "opportunities", "", three_sheets()).await;
    assert_eq!(job["state"], "completed", "{job}");
    let ids = |items: Vec<Value>| -> Vec<String> {
        let mut ids: Vec<String> = items
            .iter()
            .map(|o| o["external_opp_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(app.list(&key, "opportunities").await), ["Q3-1"]);

    let job = import(&app, &key, "opportunities", "sheet=Q4", three_sheets()).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["sheet"], "Q4");
    let job = import(&app, &key, "opportunities", "sheet=1", three_sheets()).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(
        ids(app.list(&key, "opportunities").await),
        ["N-1", "Q3-1", "Q4-1"],
        "by name, then by number (the hidden sheet is number 1)"
    );

    // An unknown sheet is refused at once, naming the sheets there are; nothing is queued.
    let response = upload(
        &app,
        &key,
        "opportunities",
        "sheet=Q5",
        "q.xlsx",
        three_sheets(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["data"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Q5") && message.contains("Q3") && message.contains("Q4"),
        "{body}"
    );
    // The multipart field works as the query parameter does.
    let part = reqwest::multipart::Part::bytes(three_sheets())
        .file_name("q.xlsx")
        .mime_str(XLSX)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("sheet", "9")
        .part("file", part);
    let response = app
        .client
        .post(format!("{}/api/v1/opportunities/upload", app.address))
        .header("Authorization", &key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "sheet 9 of 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_and_sales_targets_import_from_workbooks() {
    let app = spawn_app().await;
    let key = app.admin_key().await;

    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    header(sheet, &["Email Address of Salesrep", "Month", "Amount"]);
    sheet.write_string(1, 0, "rep@example.com").unwrap();
    let month = Format::new().set_num_format("mmm yyyy");
    sheet
        .write_datetime_with_format(1, 1, date(2026, 2, 1), &month)
        .unwrap();
    sheet.write_number(1, 2, 12000.5).unwrap();
    let job = import(
        &app,
        &key,
        "sales_targets",
        "",
        workbook.save_to_buffer().unwrap(),
    )
    .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(1));
    let targets = app.list(&key, "sales_targets").await;
    assert_eq!(targets[0]["month"], "2026-02");
    assert_eq!(targets[0]["amount"], 12000.5);

    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    header(sheet, &["Email", "First Name", "Last Name"]);
    sheet.write_string(1, 0, " ann@example.com ").unwrap();
    sheet.write_string(1, 1, "Ann").unwrap();
    sheet.write_string(1, 2, "Lee").unwrap();
    sheet.write_string(2, 0, "not an email").unwrap();
    let job = import(
        &app,
        &key,
        "contacts",
        "",
        workbook.save_to_buffer().unwrap(),
    )
    .await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_counts(&job, Counts::new().imported(1).errors(1));
    let contacts = app.list(&key, "contacts").await;
    assert_eq!(contacts[0]["email"], "ann@example.com");
    assert_eq!(contacts[0]["fullname"], "Ann Lee");
    assert!(app.error_csv(&key, &job).await.contains(",3,"), "row 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_workbooks_fail_their_job_with_a_clear_message() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let failed = |job: &Value, says: &str| {
        assert_eq!(job["state"], "failed", "{job}");
        let error = job["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{says:?} in {error:?}");
    };

    // A zip that starts like a workbook but is cut short.
    let mut cut = three_sheets();
    cut.truncate(cut.len() / 2);
    let job = import(&app, &key, "opportunities", "", cut).await;
    failed(&job, "workbook");

    // A workbook whose only sheet is empty.
    let mut workbook = Workbook::new();
    workbook.add_worksheet().set_name("Empty").unwrap();
    let job = import(
        &app,
        &key,
        "opportunities",
        "",
        workbook.save_to_buffer().unwrap(),
    )
    .await;
    failed(&job, "empty");

    // A header the kind cannot use: the job fails on it, and its unprocessed rows are the
    // whole sheet, as a CSV.
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    header(sheet, &["Deal", "Value"]);
    sheet.write_string(1, 0, "D-1").unwrap();
    sheet.write_number(1, 1, 12.5).unwrap();
    let job = import(
        &app,
        &key,
        "opportunities",
        "",
        workbook.save_to_buffer().unwrap(),
    )
    .await;
    failed(&job, "header");
    let id = job["id"].as_str().unwrap();
    let response = app
        .get(&key, &format!("/api/v1/jobs/{id}/unprocessed.csv"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "Deal,Value\nD-1,12.5\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_upload_and_the_import_command_take_workbooks_and_a_sheet() {
    let app = spawn_app().await;
    let key = app.key("wbcli", "admin@wbcli.example.com", true).await;
    let path = app.storage.path().join("quarters.xlsx");
    std::fs::write(&path, three_sheets()).unwrap();
    let path = path.to_str().unwrap();

    // `upload --sheet`: the workbook goes with its media type and the sheet as a field.
    let out = app
        .client(
            &key,
            &[
                "upload",
                "--kind",
                "opportunities",
                "--sheet",
                "Q4",
                "--json",
                path,
            ],
        )
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["sheet"], "Q4", "{job}");
    assert_counts(&job, Counts::new().imported(1));

    // `import --sheet`: the engine alone, straight from the file.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
        .args([
            "import",
            "--kind",
            "opportunities",
            "--tenant",
            "wbcli",
            "--sheet",
            "2",
            path,
        ])
        .envs(crate::helpers::process_env(&app.settings))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("total_imported_rows=1"), "{stdout}");
    let ids: Vec<Value> = app.list(&key, "opportunities").await;
    let mut ids: Vec<&str> = ids
        .iter()
        .map(|o| o["external_opp_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["Q3-1", "Q4-1"], "sheet 2 is Q3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libreoffice_ods_and_xls_and_a_password_protected_workbook_over_http() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/workbooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    // The samples' header is not an opportunity's, so the job fails on it and offers the
    // whole sheet as its unprocessed rows: the cells as the import read them.
    for name in ["sample.ods", "sample.xls"] {
        let job = import(&app, &key, "opportunities", "", fixture(name)).await;
        assert_eq!(job["state"], "failed", "{name}: {job}");
        let id = job["id"].as_str().unwrap();
        let response = app
            .get(&key, &format!("/api/v1/jobs/{id}/unprocessed.csv"))
            .await;
        assert_eq!(response.status(), 200, "{name}");
        let rows = response.text().await.unwrap();
        assert!(
            rows.starts_with("Name,Amount,Closed,Won,Count\n"),
            "{name}: {rows}"
        );
        for line in [
            "Acme Corp,12345.67,2024-03-15,",
            "Globex,80000,2024-03-15 10:30:00,",
            "Initech,100000,1999-12-31,",
            "Umbrella,0.3,2023-01-02,",
        ] {
            assert!(rows.contains(line), "{name}: {line:?} in {rows}");
        }
    }

    let job = import(&app, &key, "opportunities", "", fixture("encrypted.xlsx")).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("password"), "{error}");
}

/// Edits `xl/workbook.xml` of a workbook written by rust_xlsxwriter, for what it cannot
/// write itself (the 1904 date system, a workbook of chart sheets only).
fn edit_workbook_xml(xlsx: Vec<u8>, edit: impl FnOnce(String) -> String) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut edit = Some(edit);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name == "xl/workbook.xml" {
            let edit = edit.take().unwrap();
            bytes = edit(String::from_utf8(bytes).unwrap()).into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&bytes).unwrap();
    }
    assert!(edit.is_none(), "the workbook has an xl/workbook.xml");
    out.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_of_a_1904_workbook_are_read_in_its_date_system() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    header(sheet, &["Opportunity ID", "Opportunity Name", "Close Date"]);
    sheet.write_string(1, 0, "MAC-1").unwrap();
    sheet.write_string(1, 1, "From a Mac").unwrap();
    // 43904 days after 1904-01-01 is 2024-03-15; in the 1900 system it would be 2020-03-15.
    let dmy = Format::new().set_num_format("dd/mm/yyyy");
    sheet.write_number_with_format(1, 2, 43904.0, &dmy).unwrap();
    // As Excel for Mac used to write: the date serials count from 1904-01-01.
    let bytes = edit_workbook_xml(workbook.save_to_buffer().unwrap(), |xml| {
        xml.replacen("<workbookPr ", "<workbookPr date1904=\"1\" ", 1)
    });
    let job = import(&app, &key, "opportunities", "", bytes).await;
    assert_eq!(job["state"], "completed", "{job}");
    let items = app.list(&key, "opportunities").await;
    assert_eq!(
        by_external_id(&items, "MAC-1")["close_date"]["date"],
        "2024-03-15 00:00:00.000000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workbook_of_chart_sheets_only_fails_its_job_saying_so() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // rust_xlsxwriter needs a worksheet for the chart's data: it is written, then taken
    // out of the workbook's sheet list.
    let mut workbook = Workbook::new();
    let data = workbook.add_worksheet();
    data.set_name("Data").unwrap();
    data.write_number(0, 0, 1).unwrap();
    data.write_number(1, 0, 2).unwrap();
    let mut chart = rust_xlsxwriter::Chart::new_column();
    chart.add_series().set_values("Data!$A$1:$A$2");
    let sheet = workbook.add_chartsheet();
    sheet.set_name("Chart").unwrap();
    sheet.insert_chart(0, 0, &chart).unwrap();
    let bytes = edit_workbook_xml(workbook.save_to_buffer().unwrap(), |xml| {
        let start = xml.find("<sheet name=\"Data\"").unwrap();
        let end = start + xml[start..].find("/>").unwrap() + 2;
        format!("{}{}", &xml[..start], &xml[end..])
    });
    let job = import(&app, &key, "opportunities", "", bytes).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("no worksheet"), "{error}");
}

/// The hostile workbooks of issue 18 (see `batch_import_test_support::workbook_bombs`), each uploaded without and
/// with `?sheet=Sheet1` (the API's sheet check): every job ends `failed` with a message
/// naming the limit, and the API and the in-process worker stay up (an aborted
/// allocation would end this test's process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_workbooks_fail_their_job_naming_the_limit_and_nothing_goes_down() {
    use batch_import_test_support::workbook_bombs as bombs;
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let sample_xls = std::fs::read(format!(
        "{}/tests/fixtures/workbooks/sample.xls",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let cases: [(&str, Vec<u8>, &str); 9] = [
        (
            "shared strings bomb",
            bombs::shared_strings_bomb(),
            "its shared strings table declares 1000000000000 strings, more than its",
        ),
        (
            "ods repeat bomb",
            bombs::ods_repeat_bomb(),
            "cells in memory once its repeated rows and cells are expanded (limit: 1000000 cells",
        ),
        (
            "ods spaces bomb",
            bombs::ods_spaces_bomb(),
            "of cell text once their repeated cells are expanded (limit)",
        ),
        (
            "zip bomb",
            bombs::zip_bomb_xlsx(),
            "more than the limit of 250:1",
        ),
        (
            "lying zip header",
            bombs::lying_header_xlsx(),
            "unpacks to more than the 100 bytes its zip header declares",
        ),
        (
            "oversized part",
            bombs::oversized_part_xlsx(),
            "declares 3.3 GB unpacked, more than the limit of 256.0 MB per part",
        ),
        (
            "xls corners",
            bombs::xls_corners_bomb(&sample_xls),
            "cells from their first to their last cell, more than the limit of 2000000 cells",
        ),
        (
            "huge dimension",
            bombs::huge_dimension_xlsx(),
            "beyond Excel's last cell XFD1048576",
        ),
        (
            "many zip entries",
            bombs::many_entries_xlsx(12_000),
            "its zip archive lists 12005 entries, more than the limit of 10000",
        ),
    ];
    for (what, bytes, says) in cases {
        let sheet = if what == "xls corners" {
            "sheet=Sales"
        } else {
            "sheet=Sheet1"
        };
        for query in ["", sheet] {
            let job = import(&app, &key, "opportunities", query, bytes.clone()).await;
            assert_eq!(job["state"], "failed", "{what} ({query}): {job}");
            let error = job["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("the workbook is refused: ") && error.contains(says),
                "{what} ({query}): {says:?} in {error:?}"
            );
            let alive = app.get_anonymous("/api/v1/healthz").await;
            assert_eq!(alive.status(), 200, "{what} ({query})");
        }
    }

    // A sheet the bomb does not have is still answered at upload, from the sheet list.
    let response = upload(
        &app,
        &key,
        "opportunities",
        "sheet=Other",
        "bomb.xlsx",
        bombs::shared_strings_bomb(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("\\\"Sheet1\\\""), "{body}");

    // The same small files without their bombs import.
    let rows = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Opportunity ID</t></is></c><c r="B1" t="inlineStr"><is><t>Opportunity Name</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>OK-1</t></is></c><c r="B2" t="inlineStr"><is><t>Fine</t></is></c></row>"#;
    let fine = bombs::xlsx(&bombs::sheet_xml(Some("A1:B2"), rows), None);
    let job = import(&app, &key, "opportunities", "sheet=Sheet1", fine).await;
    assert_eq!(job["state"], "completed", "{job}");
    let ods = bombs::ods(
        r#"<table:table-row><table:table-cell office:value-type="string"><text:p>Opportunity ID</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Opportunity Name</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row><table:table-cell office:value-type="string"><text:p>OK-2</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Also fine</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16382"/></table:table-row><table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#,
    );
    let job = import(&app, &key, "opportunities", "sheet=Sheet1", ods).await;
    assert_eq!(job["state"], "completed", "{job}");
}

/// The LibreOffice ods fixture ends its sheets with empty rows and cells repeated to
/// Excel's last row and column (`number-rows-repeated="1048565"`,
/// `number-columns-repeated="16384"`): the bounds let it through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_libreoffice_ods_with_trailing_repeated_empty_rows_imports() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    let ods = std::fs::read(format!(
        "{}/tests/fixtures/workbooks/sample.ods",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // Its header is not an opportunity's: the job reads the whole sheet and fails on the
    // header, not on a limit.
    let job = import(&app, &key, "opportunities", "sheet=Sales", ods).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(!error.contains("refused"), "{error}");
    assert!(error.contains("header"), "{error}");
}
