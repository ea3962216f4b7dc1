//! The sample files: served without a key, and each imports without a failed row.

use crate::helpers::{Counts, TestApp, assert_counts, by_external_id, spawn_app};

#[tokio::test]
async fn each_sample_is_served_without_a_key_and_imports_every_row() {
    let app = spawn_app().await;
    let key = app.admin_key().await;
    // Opportunities first: the contacts sample links to them.
    for kind in ["opportunities", "contacts", "sales_targets"] {
        let response = app
            .get_anonymous(&format!("/api/v1/{kind}/sample.csv"))
            .await;
        assert_eq!(response.status(), 200, "{kind}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{headers:?}"
        );
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"{kind}-sample.csv\"").as_str()
        );
        let csv = response.text().await.unwrap();
        let rows = csv.lines().count() - 1;
        assert!(rows >= 3, "{kind}: {csv}");
        let job = app.import(&key, kind, "", csv.clone()).await;
        assert_eq!(job["state"], "completed", "{kind}: {job}");
        assert_counts(
            &job,
            Counts::new()
                .original(rows as i64)
                .imported(rows as i64)
                .errors(0)
                .no_error_file(),
        );
        // Every supported column is in the sample, under its documented name.
        let header = csv.lines().next().unwrap();
        let documented = batch_import::import::fields_of(kind.parse().unwrap());
        for field in documented {
            assert!(
                header.split(',').any(|c| c == field.name),
                "{kind}: {} missing from {header}",
                field.name
            );
        }
    }
    let contacts = app.list(&key, "contacts").await;
    assert_eq!(contacts.len(), 3);
    let linked = contacts
        .iter()
        .find(|c| c["email"] == "jordan.lee@acme.example.com")
        .unwrap();
    assert_eq!(linked["opportunity_ids"], serde_json::json!(["OPP-1001"]));
    // The dashboard's upload form links every sample.
    let page = app.get_anonymous("/").await.text().await.unwrap();
    for kind in ["opportunities", "contacts", "sales_targets"] {
        assert!(
            page.contains(&format!("href=\"api/v1/{kind}/sample.csv\"")),
            "{kind}"
        );
    }
    let opportunities = app.list(&key, "opportunities").await;
    assert_eq!(
        by_external_id(&opportunities, "OPP-1001")["amount"],
        48000.0
    );
}

/// The workbook of a CSV sample, as a spreadsheet holds such a file: amounts as numbers,
/// dates as date cells, everything else as text.
fn workbook_of(csv: &str) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv.as_bytes());
    let mut header = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.unwrap();
        if row == 0 {
            header = record.iter().map(str::to_owned).collect();
        }
        for (col, value) in record.iter().enumerate() {
            let (r, c) = (row as u32, col as u16);
            match header[col].as_str() {
                _ if row == 0 || value.is_empty() => sheet.write_string(r, c, value),
                "Amount" => sheet.write_number(r, c, value.parse::<f64>().unwrap()),
                "Close Date" => {
                    let date = ExcelDateTime::parse_from_str(value).unwrap();
                    sheet.write_datetime_with_format(r, c, &date, &date_format)
                }
                _ => sheet.write_string(r, c, value),
            }
            .unwrap();
        }
    }
    workbook.save_to_buffer().unwrap()
}

/// A workbook's first sheet as values.
fn cells(workbook: &[u8]) -> Vec<Vec<calamine::Data>> {
    use calamine::Reader;
    let mut workbook =
        calamine::open_workbook_auto_from_rs(std::io::Cursor::new(workbook)).unwrap();
    let sheet = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&sheet).unwrap();
    range.rows().map(<[calamine::Data]>::to_vec).collect()
}

/// The committed `.xlsx` samples hold the CSV samples' rows (an .xlsx file holds times of
/// its making, so the cells are compared, not the bytes). `UPDATE_SAMPLES=1` rewrites them.
#[test]
fn each_workbook_sample_holds_its_csv_sample() {
    for kind in ["opportunities", "contacts", "sales_targets"] {
        let dir = batch_import_test_support::repo_root().join("src/api/samples");
        let csv = std::fs::read_to_string(dir.join(format!("{kind}.csv"))).unwrap();
        let expected = workbook_of(&csv);
        let path = dir.join(format!("{kind}.xlsx"));
        if std::env::var_os("UPDATE_SAMPLES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let committed = std::fs::read(&path).unwrap();
        assert_eq!(
            cells(&committed),
            cells(&expected),
            "{} does not hold the rows of {kind}.csv: run this test with UPDATE_SAMPLES=1",
            path.display()
        );
        assert_eq!(cells(&expected).len(), csv.lines().count(), "{kind}");
    }
}

#[tokio::test]
async fn each_workbook_sample_is_served_without_a_key_and_stores_what_the_csv_does() {
    let app = spawn_app().await;
    let from_workbook = app.admin_key().await;
    let from_csv = app.admin_key().await;
    for kind in ["opportunities", "contacts", "sales_targets"] {
        let response = app
            .get_anonymous(&format!("/api/v1/{kind}/sample.xlsx"))
            .await;
        assert_eq!(response.status(), 200, "{kind}");
        let headers = response.headers().clone();
        assert_eq!(
            headers["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"{kind}-sample.xlsx\"").as_str()
        );
        let workbook = response.bytes().await.unwrap().to_vec();
        let rows = cells(&workbook).len() as i64 - 1;
        assert!(rows >= 3, "{kind}");
        let job = app.import(&from_workbook, kind, "", workbook).await;
        assert_eq!(job["state"], "completed", "{kind}: {job}");
        assert_counts(
            &job,
            Counts::new()
                .original(rows)
                .imported(rows)
                .errors(0)
                .no_error_file(),
        );
        let csv = app
            .get_anonymous(&format!("/api/v1/{kind}/sample.csv"))
            .await
            .text()
            .await
            .unwrap();
        app.import(&from_csv, kind, "", csv).await;
        assert_eq!(
            records(&app, &from_workbook, kind).await,
            records(&app, &from_csv, kind).await,
            "{kind}"
        );
    }
}

/// The records of a list but for their ids, in a fixed order.
async fn records(app: &TestApp, key: &str, kind: &str) -> Vec<serde_json::Value> {
    let mut list = app.list(key, kind).await;
    for record in &mut list {
        record.as_object_mut().unwrap().remove("id");
    }
    list.sort_by_key(|r| r.to_string());
    list
}
