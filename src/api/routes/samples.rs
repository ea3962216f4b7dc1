//! `GET /{kind}/sample.csv` and `GET /{kind}/sample.xlsx`: a small file of each kind that
//! imports without an error, with every supported column under its documented name (the
//! original product's "Sample CSV File"). The workbook holds the CSV's rows, with amounts as
//! numbers and dates as date cells, as a spreadsheet would (`tests/api/samples.rs` checks
//! that it matches the CSV and rewrites it with `UPDATE_SAMPLES=1`).

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

/// The media type of an .xlsx workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The sample's answer: the file as an attachment.
fn sample(content_type: &'static str, disposition: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Declares the sample handler of one kind, with its place in the OpenAPI document.
macro_rules! sample_handler {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $path:literal, $operation_id:literal) => {
        $(#[$doc])*
        #[utoipa::path(
            get,
            path = $path,
            operation_id = $operation_id,
            tag = "uploads",
            responses(
                (status = 200, description = "A CSV file that imports without an error: every supported column, under its documented name", content_type = "text/csv", body = String, headers(
                    ("Content-Disposition" = String, description = "`attachment; filename=\"<kind>-sample.csv\"`"),
                )),
            ),
        )]
        pub(crate) async fn $name() -> Response {
            sample(
                "text/csv; charset=utf-8",
                concat!("attachment; filename=\"", $kind, "-sample.csv\""),
                include_bytes!(concat!("../samples/", $kind, ".csv")),
            )
        }
    };
}

/// Declares the workbook sample handler of one kind, with its place in the OpenAPI document.
macro_rules! workbook_sample_handler {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $path:literal, $operation_id:literal) => {
        $(#[$doc])*
        #[utoipa::path(
            get,
            path = $path,
            operation_id = $operation_id,
            tag = "uploads",
            responses(
                (status = 200, description = "An .xlsx workbook with the rows of the CSV sample (amounts as numbers, dates as date cells) that imports without an error", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = inline(crate::api::openapi::Binary), headers(
                    ("Content-Disposition" = String, description = "`attachment; filename=\"<kind>-sample.xlsx\"`"),
                )),
            ),
        )]
        pub(crate) async fn $name() -> Response {
            sample(
                XLSX,
                concat!("attachment; filename=\"", $kind, "-sample.xlsx\""),
                include_bytes!(concat!("../samples/", $kind, ".xlsx")),
            )
        }
    };
}

sample_handler!(
    /// A sample opportunities file (no key needed).
    opportunities,
    "opportunities",
    "/opportunities/sample.csv",
    "sample_opportunities"
);
sample_handler!(
    /// A sample contacts file, linked to the sample opportunities (no key needed).
    contacts,
    "contacts",
    "/contacts/sample.csv",
    "sample_contacts"
);
sample_handler!(
    /// A sample sales targets file (no key needed).
    sales_targets,
    "sales_targets",
    "/sales_targets/sample.csv",
    "sample_sales_targets"
);

workbook_sample_handler!(
    /// A sample opportunities workbook (no key needed).
    opportunities_workbook,
    "opportunities",
    "/opportunities/sample.xlsx",
    "sample_opportunities_workbook"
);
workbook_sample_handler!(
    /// A sample contacts workbook, linked to the sample opportunities (no key needed).
    contacts_workbook,
    "contacts",
    "/contacts/sample.xlsx",
    "sample_contacts_workbook"
);
workbook_sample_handler!(
    /// A sample sales targets workbook (no key needed).
    sales_targets_workbook,
    "sales_targets",
    "/sales_targets/sample.xlsx",
    "sample_sales_targets_workbook"
);
