//! `assert_counts`: the counts a job reports, checked in one assertion whose message shows
//! every count that differs and the whole job.

use serde_json::{Number, Value};

/// The counts a job must report; a count not given is not checked.
///
/// ```ignore
/// assert_counts(&job, Counts::new().original(4).imported(3).errors(1));
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct Counts {
    expected: Vec<(&'static str, Value)>,
}

impl Counts {
    /// Nothing checked yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn with(mut self, field: &'static str, value: Value) -> Self {
        self.expected.push((field, value));
        self
    }

    /// `total_original_rows`: the data rows of the file.
    pub fn original(self, rows: impl Into<Number>) -> Self {
        self.with("total_original_rows", Value::Number(rows.into()))
    }

    /// `total_imported_rows`: the rows stored (or, in a dry run, that would be).
    pub fn imported(self, rows: impl Into<Number>) -> Self {
        self.with("total_imported_rows", Value::Number(rows.into()))
    }

    /// `total_error_rows`: the rows refused, each a row of the error CSV.
    pub fn errors(self, rows: impl Into<Number>) -> Self {
        self.with("total_error_rows", Value::Number(rows.into()))
    }

    /// `created_rows`.
    pub fn created(self, rows: impl Into<Number>) -> Self {
        self.with("created_rows", Value::Number(rows.into()))
    }

    /// `updated_rows`.
    pub fn updated(self, rows: impl Into<Number>) -> Self {
        self.with("updated_rows", Value::Number(rows.into()))
    }

    /// `unchanged_rows`.
    pub fn unchanged(self, rows: impl Into<Number>) -> Self {
        self.with("unchanged_rows", Value::Number(rows.into()))
    }

    /// `error_file` is `""`: there is no error CSV.
    pub fn no_error_file(self) -> Self {
        self.with("error_file", Value::from(""))
    }
}

/// Asserts that `job` (a job's JSON, e.g. the `data` of `GET /api/v1/jobs/{id}`) reports
/// every count of `expected`.
#[track_caller]
pub fn assert_counts(job: &Value, expected: Counts) {
    let wrong: Vec<String> = expected
        .expected
        .iter()
        .filter(|(field, want)| job[*field] != *want)
        .map(|(field, want)| format!("{field} is {}, expected {want}", job[*field]))
        .collect();
    assert!(
        wrong.is_empty(),
        "the job's counts differ: {}\njob: {job:#}",
        wrong.join(", ")
    );
}

#[test]
fn assert_counts_checks_only_the_counts_given() {
    let job = serde_json::json!({
        "total_original_rows": 4,
        "total_imported_rows": 3,
        "total_error_rows": 1,
        "error_file": "",
    });
    assert_counts(&job, Counts::new().original(4).imported(3).errors(1));
    assert_counts(&job, Counts::new().imported(3_usize).no_error_file());
    assert_counts(&job, Counts::new());
}

#[test]
fn assert_counts_names_every_count_that_differs_and_shows_the_job() {
    let job = serde_json::json!({ "id": "j1", "total_imported_rows": 3, "total_error_rows": 1 });
    let panic = std::panic::catch_unwind(|| {
        assert_counts(&job, Counts::new().imported(2).errors(1).created(2));
    })
    .expect_err("the counts differ");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("total_imported_rows is 3, expected 2")
            && message.contains("created_rows is null, expected 2")
            && !message.contains("total_error_rows is")
            && message.contains("\"id\": \"j1\""),
        "{message}"
    );
}
