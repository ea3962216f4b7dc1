//! `GET /{kind}/sample.csv`: a small file of each kind that imports without an error, with
//! every supported column under its documented name (the original product's "Sample CSV File").

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

/// The sample's answer: the CSV as an attachment.
fn sample(disposition: &'static str, csv: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        csv,
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
                concat!("attachment; filename=\"", $kind, "-sample.csv\""),
                include_str!(concat!("../samples/", $kind, ".csv")),
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
