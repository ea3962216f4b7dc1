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

    #[test]
    fn conflicts_are_saved_under_the_reverted_jobs_name() {
        let id = Uuid::nil();
        assert_eq!(
            default_errors_path(id),
            PathBuf::from("revert-00000000-0000-0000-0000-000000000000.errors.csv")
        );
    }
}
