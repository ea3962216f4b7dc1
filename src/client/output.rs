//! What the client prints: plain `name=value` lines and aligned tables for people and
//! scripts, the API's own JSON with `--json`.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};

use super::{Job, progress::Bars};

/// How output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// stdout is a terminal: progress bars on stderr, text on stdout.
    Terminal,
    /// stdout is a pipe or a file: text only, state changes as lines on stderr.
    Plain,
    /// `--json`: the API's JSON on stdout, nothing else there.
    Json,
}

impl Mode {
    /// `--json` wins; otherwise whether stdout is a terminal decides.
    pub(crate) fn detect(json: bool) -> Self {
        if json {
            Self::Json
        } else if std::io::stdout().is_terminal() {
            Self::Terminal
        } else {
            Self::Plain
        }
    }

    /// Bars only for a person watching a terminal.
    pub(crate) fn bars(self) -> Bars {
        if self == Self::Terminal {
            Bars::Shown
        } else {
            Bars::Hidden
        }
    }
}

/// Prints JSON on stdout, pretty on a terminal.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.unwrap_or_default());
}

/// The job's id and URL, as `upload --no-wait` prints them, and the jobs ahead of it
/// while it is queued.
pub(crate) fn accepted(job: &Job) -> String {
    let mut out = format!(
        "job={}\nurl={}\nstate={}\n",
        job.id,
        job.url,
        job.state.as_str()
    );
    if let Some(ahead) = job.jobs_ahead {
        out.push_str(&format!("jobs_ahead={ahead}\n"));
    }
    out
}

/// The finished job's counts as the API names them (a revert job's own counts too), then
/// where the failed rows were saved.
pub(crate) fn outcome(job: &Job, saved: Option<&std::path::Path>) -> String {
    let count = |n: Option<i64>| n.map_or_else(String::new, |n| n.to_string());
    let mut out = format!(
        "job={}\nstate={}\ntotal_original_rows={}\ntotal_imported_rows={}\ntotal_error_rows={}\nerror_file={}\n",
        job.id,
        job.state.as_str(),
        count(job.total_original_rows),
        count(job.total_imported_rows),
        count(job.total_error_rows),
        job.error_file,
    );
    out.push_str(&format!(
        "created_rows={}\nupdated_rows={}\nunchanged_rows={}\ndry_run={}\n",
        count(job.created_rows),
        count(job.updated_rows),
        count(job.unchanged_rows),
        job.dry_run,
    ));
    if let Some(reverted) = job.reverts_job_id {
        out.push_str(&format!(
            "reverts_job_id={reverted}\ndeleted_rows={}\nrestored_rows={}\nconflict_rows={}\n",
            count(job.deleted_rows),
            count(job.restored_rows),
            count(job.conflict_rows),
        ));
    }
    if let Some(error) = &job.error {
        out.push_str(&format!("error={}\n", one_line(error)));
    }
    if let Some(path) = saved {
        out.push_str(&format!("error_csv={}\n", path.display()));
    }
    out
}

/// `jobs`: one aligned row per job under a header row.
pub(crate) fn job_table(jobs: &[Job]) -> String {
    let count = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let mut rows = vec![
        [
            "ID", "KIND", "STATE", "AHEAD", "ROWS", "IMPORTED", "FAILED", "CREATED", "NAME", "FILE",
        ]
        .map(String::from),
    ];
    rows.extend(jobs.iter().map(|j| {
        [
            j.id.to_string(),
            j.kind.as_str().to_owned(),
            j.state.as_str().to_owned(),
            count(j.jobs_ahead),
            j.rows_processed.to_string(),
            count(j.total_imported_rows),
            count(j.total_error_rows),
            timestamp(j.created_at),
            j.name.as_deref().map_or_else(|| "-".to_owned(), one_line),
            one_line(&j.file_name),
        ]
    }));
    table(&rows)
}

/// `job ID`: one `name  value` line per field, aligned; a revert job's counts only on
/// revert jobs.
pub(crate) fn job_details(job: &Job) -> String {
    let count = |n: Option<i64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let time = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), timestamp);
    let id = |id: Option<uuid::Uuid>| id.map_or_else(|| "-".to_owned(), |id| id.to_string());
    let mut rows = vec![
        ["id".to_owned(), job.id.to_string()],
        ["url".to_owned(), job.url.clone()],
        ["kind".to_owned(), job.kind.as_str().to_owned()],
        ["state".to_owned(), job.state.as_str().to_owned()],
        ["jobs_ahead".to_owned(), count(job.jobs_ahead)],
        [
            "name".to_owned(),
            job.name.as_deref().map_or_else(|| "-".to_owned(), one_line),
        ],
        ["file_name".to_owned(), one_line(&job.file_name)],
        ["rows_processed".to_owned(), job.rows_processed.to_string()],
        [
            "total_original_rows".to_owned(),
            count(job.total_original_rows),
        ],
        [
            "total_imported_rows".to_owned(),
            count(job.total_imported_rows),
        ],
        ["total_error_rows".to_owned(), count(job.total_error_rows)],
        ["created_rows".to_owned(), count(job.created_rows)],
        ["updated_rows".to_owned(), count(job.updated_rows)],
        ["unchanged_rows".to_owned(), count(job.unchanged_rows)],
        ["dry_run".to_owned(), job.dry_run.to_string()],
        ["reverts_job_id".to_owned(), id(job.reverts_job_id)],
        ["reverted_by_job_id".to_owned(), id(job.reverted_by_job_id)],
    ];
    if job.reverts_job_id.is_some() {
        rows.extend([
            ["deleted_rows".to_owned(), count(job.deleted_rows)],
            ["restored_rows".to_owned(), count(job.restored_rows)],
            ["conflict_rows".to_owned(), count(job.conflict_rows)],
        ]);
    }
    rows.extend([
        [
            "error_file".to_owned(),
            if job.error_file.is_empty() {
                "-".to_owned()
            } else {
                job.error_file.clone()
            },
        ],
        [
            "error".to_owned(),
            job.error
                .as_deref()
                .map_or_else(|| "-".to_owned(), one_line),
        ],
        ["created_at".to_owned(), timestamp(job.created_at)],
        ["started_at".to_owned(), time(job.started_at)],
        ["finished_at".to_owned(), time(job.finished_at)],
    ]);
    table(&rows)
}

/// Left-aligned columns two spaces apart, no trailing spaces.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A file name or message on one line, so that it cannot break the layout.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A UTC time to the second, as `keys list` prints it.
fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(value: serde_json::Value) -> Job {
        serde_json::from_value(value).unwrap()
    }

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "id": "6f1c1d1e-4a7b-4c1f-9d7e-0c1c2d3e4f50",
            "url": "http://localhost:8080/api/v1/jobs/6f1c1d1e-4a7b-4c1f-9d7e-0c1c2d3e4f50",
            "kind": "opportunities", "state": "completed", "file_name": "opps\n.csv",
            "rows_processed": 4, "total_original_rows": 4, "total_imported_rows": 3,
            "total_error_rows": 1, "error_file": "http://x/errors.csv", "error": null,
            "created_rows": 2, "updated_rows": 1, "unchanged_rows": 0, "dry_run": true,
            "created_at": "2026-01-02T03:04:05.678Z", "started_at": null, "finished_at": null,
            "jobs_ahead": null, "name": null, "file_size": 120, "sheet": null,
            "bytes_processed": 120, "progress_percent": 100, "unprocessed_file": "",
            "send_error_email": false, "email_sent_at": null, "email_error": null,
            "error_summary": [], "parent_job_id": null, "corrections": [],
        })
    }

    #[test]
    fn the_outcome_names_the_counts_as_the_api_does() {
        let text = outcome(
            &job(sample()),
            Some(std::path::Path::new("a.csv.errors.csv")),
        );
        assert!(text.contains("\ntotal_original_rows=4\n"), "{text}");
        assert!(text.contains("\ntotal_imported_rows=3\n"));
        assert!(text.contains("\ntotal_error_rows=1\n"));
        assert!(text.contains("\nerror_file=http://x/errors.csv\ncreated_rows=2\n"));
        assert!(text.contains("\nupdated_rows=1\nunchanged_rows=0\ndry_run=true\n"));
        assert!(text.ends_with("error_csv=a.csv.errors.csv\n"));
    }

    #[test]
    fn a_revert_job_shows_its_counts_and_other_jobs_do_not() {
        let mut revert = sample();
        revert["reverts_job_id"] = "0b5c0000-0000-4000-8000-000000000001".into();
        revert["deleted_rows"] = 2.into();
        revert["restored_rows"] = 1.into();
        revert["conflict_rows"] = 1.into();
        let revert = job(revert);
        let text = outcome(&revert, None);
        assert!(
            text.contains(
                "\nreverts_job_id=0b5c0000-0000-4000-8000-000000000001\n\
                 deleted_rows=2\nrestored_rows=1\nconflict_rows=1\n"
            ),
            "{text}"
        );
        let details = job_details(&revert);
        assert!(details.contains("\ndeleted_rows         2\n"), "{details}");
        assert!(details.contains("\nconflict_rows        1\n"), "{details}");
        assert!(details.contains("\nreverted_by_job_id   -\n"), "{details}");

        let mut reverted = sample();
        reverted["reverted_by_job_id"] = "0b5c0000-0000-4000-8000-000000000002".into();
        let reverted = job(reverted);
        assert!(!outcome(&reverted, None).contains("deleted_rows"));
        let details = job_details(&reverted);
        assert!(!details.contains("deleted_rows"), "{details}");
        assert!(
            details.contains("\nreverted_by_job_id   0b5c0000-0000-4000-8000-000000000002\n"),
            "{details}"
        );
    }

    #[test]
    fn a_queued_job_shows_the_jobs_ahead_of_it_and_others_a_dash() {
        let mut queued = sample();
        queued["state"] = "queued".into();
        queued["jobs_ahead"] = 7.into();
        let queued = job(queued);
        assert!(accepted(&queued).ends_with("\nstate=queued\njobs_ahead=7\n"));
        let table = job_table(&[queued.clone(), job(sample())]);
        let lines: Vec<&str> = table.lines().collect();
        let column = lines[0].find("AHEAD").unwrap();
        assert_eq!(&lines[1][column..column + 2], "7 ", "{table}");
        assert_eq!(&lines[2][column..column + 2], "- ", "{table}");
        assert!(job_details(&queued).contains("\njobs_ahead           7\n"));
        assert!(job_details(&job(sample())).contains("\njobs_ahead           -\n"));
        assert!(!accepted(&job(sample())).contains("jobs_ahead"));
    }

    #[test]
    fn tables_are_aligned_and_file_names_stay_on_one_line() {
        let text = job_table(&[job(sample())]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("KIND"), lines[1].find("opportunities"));
        assert!(lines[1].ends_with("opps .csv"));
        assert!(lines[1].contains("2026-01-02T03:04:05Z"));
        let details = job_details(&job(sample()));
        assert!(details.contains("\ntotal_error_rows     1\n"), "{details}");
        assert!(details.contains("\nstarted_at           -\n"));
    }
}
