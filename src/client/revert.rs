//! `batch-import revert JOB_ID [--dry-run]`: undo an import (`POST
//! /api/v1/jobs/{id}/revert`) and follow the revert job like an upload; its counts say
//! how many rows were deleted, restored, and left alone because they changed since.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use uuid::Uuid;

use super::{ApiClient, ClientError, Job, RevertArgs, output::Mode, upload::follow_to_the_end};
use crate::domain::JobState;

/// Runs `revert`; the exit code says how the revert ended (see [`super::exit_code`]): its
/// conflicts are its failed rows.
pub async fn revert(args: RevertArgs) -> Result<ExitCode, ClientError> {
    let client = ApiClient::new(&args.server)?;
    let mode = Mode::detect(args.json);
    let job = client.revert(args.id, args.dry_run).await?;
    if mode == Mode::Plain {
        let what = if args.dry_run {
            "checking the revert of"
        } else {
            "reverting"
        };
        eprintln!("{what} job {} as job {}", args.id, job.id);
    }
    let errors = args.errors.unwrap_or_else(|| default_errors_path(args.id));
    follow_to_the_end(&client, job, mode, &errors).await
}

/// Where the conflicts are saved without `--errors`: named after the reverted job, in the
/// current directory (a revert has no file of its own to put them beside).
fn default_errors_path(reverted: Uuid) -> PathBuf {
    PathBuf::from(format!("revert-{reverted}.errors.csv"))
}

/// One sentence for people about a finished revert job of `reverted`, on stderr.
pub(crate) fn summary(job: &Job, reverted: Uuid, saved: Option<&Path>) -> String {
    let deleted = job.deleted_rows.unwrap_or(0);
    let restored = job.restored_rows.unwrap_or(0);
    let conflicts = job.conflict_rows.unwrap_or(0);
    let saved = saved.map_or_else(String::new, |p| format!(" (listed in {})", p.display()));
    match job.state {
        JobState::Completed if job.dry_run => format!(
            "checked the revert of job {reverted}, nothing changed: {deleted} rows would be \
             deleted, {restored} restored, {conflicts} changed since would be left alone{saved}"
        ),
        JobState::Completed => format!(
            "reverted job {reverted}: {deleted} rows deleted, {restored} restored, \
             {conflicts} changed since left alone{saved}"
        ),
        JobState::Failed => format!(
            "the revert failed: {}",
            job.error.as_deref().unwrap_or("no reason given")
        ),
        state => format!(
            "the revert of job {reverted} ended {} after {} rows",
            state.as_str(),
            job.rows_processed
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revert_job(state: &str, dry_run: bool) -> Job {
        serde_json::from_value(serde_json::json!({
            "id": "6f1c1d1e-4a7b-4c1f-9d7e-0c1c2d3e4f50",
            "url": "http://localhost:8080/api/v1/jobs/6f1c1d1e-4a7b-4c1f-9d7e-0c1c2d3e4f50",
            "kind": "opportunities", "state": state, "file_name": "opps.csv",
            "rows_processed": 6, "total_original_rows": 6, "total_imported_rows": 5,
            "total_error_rows": 1, "error_file": "", "error": null,
            "created_rows": null, "updated_rows": null, "unchanged_rows": null,
            "dry_run": dry_run, "created_at": "2026-01-02T03:04:05Z", "started_at": null,
            "finished_at": null, "jobs_ahead": null, "name": null, "file_size": 0,
            "sheet": null, "bytes_processed": 0, "progress_percent": 100,
            "unprocessed_file": "", "send_error_email": false, "email_sent_at": null,
            "email_error": null, "error_summary": [], "parent_job_id": null,
            "corrections": [], "reverts_job_id": Uuid::nil(), "reverted_by_job_id": null,
            "deleted_rows": 3, "restored_rows": 2, "conflict_rows": 1,
        }))
        .unwrap()
    }

    #[test]
    fn the_summary_tells_a_check_from_a_revert_and_names_the_reverted_job() {
        let saved = Path::new("revert.errors.csv");
        let checked = summary(&revert_job("completed", true), Uuid::nil(), Some(saved));
        assert_eq!(
            checked,
            "checked the revert of job 00000000-0000-0000-0000-000000000000, nothing \
             changed: 3 rows would be deleted, 2 restored, 1 changed since would be left \
             alone (listed in revert.errors.csv)"
        );
        let done = summary(&revert_job("completed", false), Uuid::nil(), None);
        assert!(
            done.ends_with(": 3 rows deleted, 2 restored, 1 changed since left alone"),
            "{done}"
        );
        let cancelled = summary(&revert_job("cancelled", false), Uuid::nil(), None);
        assert!(
            cancelled.ends_with("ended cancelled after 6 rows"),
            "{cancelled}"
        );
    }

    #[test]
    fn conflicts_are_saved_under_the_reverted_jobs_name() {
        assert_eq!(
            default_errors_path(Uuid::nil()),
            PathBuf::from("revert-00000000-0000-0000-0000-000000000000.errors.csv")
        );
    }
}
