//! Progress bars on stderr: bytes sent while uploading, then the share of the file the
//! job has imported.
//! Hidden unless stdout is a terminal, so pipes and logs get plain lines only.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Job;
use crate::domain::JobState;

const TICK: Duration = Duration::from_millis(120);

/// Whether bars are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bars {
    /// Draw them (stdout is a terminal and no `--json`).
    Shown,
    /// Draw nothing.
    Hidden,
}

impl Bars {
    fn bar(self, length: Option<u64>) -> ProgressBar {
        match (self, length) {
            (Self::Hidden, _) => ProgressBar::hidden(),
            (Self::Shown, Some(length)) => ProgressBar::new(length),
            (Self::Shown, None) => ProgressBar::new_spinner(),
        }
    }

    /// A bar of the upload's bytes; advance it with [`ProgressBar::inc`] as the body is read.
    pub fn upload(self, bytes: u64) -> ProgressBar {
        let bar = self.bar(Some(bytes));
        bar.set_style(style(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        ));
        bar.set_message("uploading");
        bar
    }

    /// The job's progress: a bar of the file's bytes read (percent), with the rows so far.
    pub(crate) fn job(self) -> JobProgress {
        let bar = self.bar(Some(100));
        bar.set_style(style("{msg} [{bar:30}] {pos}% ({elapsed})"));
        if self == Self::Shown {
            bar.enable_steady_tick(TICK);
        }
        JobProgress { bar, ahead: None }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The second bar: the job's state, its percentage and rows.
#[derive(Debug)]
pub(crate) struct JobProgress {
    bar: ProgressBar,
    /// The last count of jobs ahead the API gave while the job was queued (its job events
    /// carry none).
    ahead: Option<i64>,
}

impl JobProgress {
    /// Shows what a new snapshot of the job says.
    pub(crate) fn update(&mut self, job: &Job) {
        let percent = match job.state {
            JobState::Completed => 100,
            _ => job.progress_percent.min(100),
        };
        self.bar.set_position(u64::from(percent));
        if job.state != JobState::Queued {
            self.ahead = None;
        } else if job.jobs_ahead.is_some() {
            self.ahead = job.jobs_ahead;
        }
        let message = match job.state {
            JobState::Queued => queued_message(self.ahead),
            JobState::Running => format!("running: {} rows", job.rows_processed),
            state => state.as_str().to_owned(),
        };
        self.bar.set_message(message);
    }

    /// Removes the bar (the summary is printed after it).
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What the bar says while the job is queued, with the jobs ahead of it when known.
fn queued_message(ahead: Option<i64>) -> String {
    match ahead {
        Some(1) => "queued, 1 job ahead".to_owned(),
        Some(n) => format!("queued, {n} jobs ahead"),
        None => "queued, waiting for a worker".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_queued_job_says_how_many_jobs_are_ahead_when_known() {
        assert_eq!(super::queued_message(Some(0)), "queued, 0 jobs ahead");
        assert_eq!(super::queued_message(Some(1)), "queued, 1 job ahead");
        assert_eq!(super::queued_message(Some(12)), "queued, 12 jobs ahead");
        assert_eq!(super::queued_message(None), "queued, waiting for a worker");
    }
}
