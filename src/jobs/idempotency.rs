//! Idempotent uploads: an upload that repeats an `Idempotency-Key` of its tenant within
//! 24 hours answers with the job the key first made instead of importing the file again.
//!
//! The unique index `import_jobs_idempotency_key_idx` on `(tenant_id, idempotency_key)`
//! is what makes this safe under concurrency: of two uploads racing with one key, exactly
//! one job row is inserted; the loser sees the unique violation, discards its file and
//! answers with the winner's job.

use sqlx::PgPool;

use super::{
    queue::JobQueue,
    submit::{self, SubmitError},
};
use crate::{
    db::{
        self,
        jobs::{JobRecord, KeyedJob, NewJob},
        schedule::QueueFull,
    },
    storage::Store,
};

/// How long a key stays bound to its first job.
pub(crate) const WINDOW_SECS: i64 = 24 * 60 * 60;

/// The unique index that holds one job per tenant and key.
pub(crate) const UNIQUE_INDEX: &str = "import_jobs_idempotency_key_idx";

/// The longest key accepted.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// A validated `Idempotency-Key` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyKey(String);

/// Why an `Idempotency-Key` header value was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters (no spaces)"
)]
pub(crate) struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// Accepts 1 to 255 visible ASCII characters (`!` to `~`).
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, InvalidIdempotencyKey> {
        let valid = (1..=MAX_KEY_LEN).contains(&raw.len()) && raw.iter().all(u8::is_ascii_graphic);
        if !valid {
            return Err(InvalidIdempotencyKey);
        }
        // All bytes are ASCII, so this cannot fail.
        String::from_utf8(raw.to_vec())
            .map(Self)
            .map_err(|_| InvalidIdempotencyKey)
    }

    /// The key as sent.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Into the string stored with the job.
    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

/// What an upload became.
#[derive(Debug)]
pub(crate) enum Submitted {
    /// A new job was created and queued.
    New(JobRecord),
    /// The key was used before by the same file: its first job, nothing new created.
    Replayed(JobRecord),
}

/// Why an upload with an idempotency key did not become (or find) a job.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdempotencyError {
    /// The key was used in the last 24 hours for another file (or another kind, or with
    /// `validate_only` set otherwise).
    #[error("this Idempotency-Key was already used for another file in the last 24 hours")]
    KeyReused,
    /// The tenant has `tenant_max_queued` jobs queued; nothing was recorded.
    #[error("the tenant's queue is full ({} jobs)", .0.limit)]
    QueueFull(QueueFull),
    /// Recording the job or looking the key up failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Submits `job`, unless its idempotency key already names a job of the last 24 hours.
/// Whenever no new job is made, the new upload's file is removed. A replay is answered
/// whatever the tenant's queue holds; a new job only within `max_queued` (0: no limit).
pub(crate) async fn submit_once(
    db: &PgPool,
    queue: &JobQueue,
    store: &Store,
    job: &NewJob,
    max_queued: u32,
) -> Result<Submitted, IdempotencyError> {
    let outcome = submit_or_replay(db, queue, job, max_queued).await;
    if !matches!(outcome, Ok(Submitted::New(_))) {
        store.remove_upload(job.id).await;
    }
    outcome
}

async fn submit_or_replay(
    db: &PgPool,
    queue: &JobQueue,
    job: &NewJob,
    max_queued: u32,
) -> Result<Submitted, IdempotencyError> {
    let Some(key) = job.idempotency_key.as_deref() else {
        return Ok(Submitted::New(
            submit::submit(db, queue, job, max_queued).await?,
        ));
    };
    // Also releases the key when its job is older than the window.
    if let Some(first) =
        db::jobs::find_by_idempotency_key(db, job.tenant_id, key, WINDOW_SECS).await?
    {
        return replay(first, job);
    }
    match submit::submit(db, queue, job, max_queued).await {
        Ok(record) => Ok(Submitted::New(record)),
        // A concurrent upload with this key inserted its job first.
        Err(SubmitError::Database(e)) if is_key_conflict(&e) => {
            tracing::info!(job_id = %job.id, "a concurrent upload took this Idempotency-Key first");
            match db::jobs::find_by_idempotency_key(db, job.tenant_id, key, WINDOW_SECS).await? {
                Some(first) => replay(first, job),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The first job when the new upload is the same file of the same kind, and a dry run
/// again or a real import again (a check must never stand in for the import).
fn replay(first: KeyedJob, job: &NewJob) -> Result<Submitted, IdempotencyError> {
    if first.job.kind() == job.kind
        && first.file_sha256 == job.file_sha256
        && first.job.dry_run == job.dry_run
    {
        tracing::info!(job_id = %first.job.id, "idempotent upload answered with its first job");
        Ok(Submitted::Replayed(first.job))
    } else {
        Err(IdempotencyError::KeyReused)
    }
}

impl From<SubmitError> for IdempotencyError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::QueueFull(full) => Self::QueueFull(full),
            SubmitError::Database(e) => Self::Database(e),
        }
    }
}

/// Whether inserting a job failed on the idempotency key's unique index.
pub fn is_key_conflict(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation() && e.constraint() == Some(UNIQUE_INDEX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert_eq!(
            IdempotencyKey::parse(b"order-42_\x21~").unwrap().as_str(),
            "order-42_!~"
        );
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 256]).is_err());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"two words").is_err());
        assert!(IdempotencyKey::parse(b"tab\there").is_err());
        assert!(IdempotencyKey::parse("caf\u{e9}".as_bytes()).is_err());
        assert!(IdempotencyKey::parse(b"del\x7f").is_err());
    }
}
