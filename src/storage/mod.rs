//! The store shared by the API and the workers: uploads waiting to be imported, the
//! error CSVs of finished jobs and the unprocessed rows of cancelled or failed ones.
//!
//! [`Store`] is one of two backends with the same layout (`uploads/<job>.csv`,
//! `errors/<job>.csv`, `errors/<job>.unprocessed.csv`):
//! - [`FileStore`]: a directory on a volume the API and every worker can reach;
//! - [`S3Store`]: a bucket (and prefix) on S3 or an S3-compatible server, so that the API
//!   and the workers need no shared disk. The engine reads and writes local files, so a
//!   worker copies the upload into a local spool file for a run and stores the error CSV
//!   when the run ends.
//!
//! Only `uploads/` is ever swept; the files of an ended job stay with the job.

mod s3;
mod store;
mod sweep;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

pub(crate) use s3::S3Store;
pub(crate) use store::{ByteStream, LocalFile, Scratch, Store};
pub(crate) use sweep::UploadOnDisk;

/// Why a file could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The upload passed the size limit; nothing was kept.
    #[error("the file is larger than the {limit} byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The client's body stream broke off.
    #[error("the upload was interrupted: {0}")]
    Body(String),
    /// The disk (or the quota) is full; nothing was kept.
    #[error("file storage is full: {0}")]
    Full(std::io::Error),
    /// The disk said no.
    #[error("file storage error: {0}")]
    Io(std::io::Error),
    /// The object store (S3) failed or could not be reached.
    #[error("object storage error: {0}")]
    Remote(#[from] object_store::Error),
    /// `STORAGE_URL` is not a URL this service can use.
    #[error("STORAGE_URL: {0}")]
    Config(String),
}

impl StoreError {
    /// True when the file asked for is not there (a missing upload, for instance).
    pub(crate) fn is_not_found(&self) -> bool {
        match self {
            Self::Io(e) => e.kind() == std::io::ErrorKind::NotFound,
            Self::Remote(object_store::Error::NotFound { .. }) => true,
            _ => false,
        }
    }
}

impl From<StoreError> for std::io::Error {
    /// For callers that speak `io::Error` (the engine): a missing file stays `NotFound`.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Io(e) | StoreError::Full(e) => e,
            other if other.is_not_found() => {
                std::io::Error::new(std::io::ErrorKind::NotFound, other.to_string())
            }
            other => std::io::Error::other(other),
        }
    }
}

impl From<std::io::Error> for StoreError {
    /// Sorts out "no space left" (ENOSPC, EDQUOT, EFBIG) so callers can say so.
    fn from(error: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                Self::Full(error)
            }
            _ => Self::Io(error),
        }
    }
}

/// What `save_upload` stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredUpload {
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of those bytes (idempotent uploads compare it).
    pub sha256: [u8; 32],
}

/// Counts and hashes an upload's body as both backends store it, and refuses it once it
/// passes the size limit: one place for the limit, whatever the body is written to.
struct UploadMeter {
    limit: u64,
    written: u64,
    hasher: Sha256,
}

impl UploadMeter {
    fn new(limit: u64) -> Self {
        Self {
            limit,
            written: 0,
            hasher: Sha256::new(),
        }
    }

    /// The next piece of the body, counted and hashed, or why the upload stops here.
    fn take<E: std::fmt::Display>(&mut self, chunk: Result<Bytes, E>) -> Result<Bytes, StoreError> {
        let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(StoreError::TooLarge { limit: self.limit });
        }
        self.hasher.update(&chunk);
        Ok(chunk)
    }

    fn finish(self) -> StoredUpload {
        StoredUpload {
            size: self.written,
            sha256: self.hasher.finalize().into(),
        }
    }
}

/// Uploads and error files on local (or mounted) disk: `STORAGE_DIR`, or `file:///path`.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// Uses `root`, creating its sub-directories when missing.
    pub(crate) async fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("uploads")).await?;
        tokio::fs::create_dir_all(root.join("errors")).await?;
        Ok(Self { root })
    }

    /// Where a job's uploaded CSV lives.
    pub(crate) fn upload_path(&self, job_id: Uuid) -> PathBuf {
        self.root.join("uploads").join(format!("{job_id}.csv"))
    }

    /// Where a job's error CSV lives.
    pub(crate) fn error_file_path(&self, job_id: Uuid) -> PathBuf {
        self.root.join("errors").join(format!("{job_id}.csv"))
    }

    /// Where the rows a cancelled or failed job never got to are kept (header + rows, as
    /// uploaded), next to its error CSV.
    pub(crate) fn unprocessed_path(&self, job_id: Uuid) -> PathBuf {
        self.root
            .join("errors")
            .join(format!("{job_id}.unprocessed.csv"))
    }

    /// A private file for one writer of [`Self::unprocessed_path`], renamed over it when
    /// complete: two writers (a worker ending the job, the API answering early) never
    /// see each other's half-written file.
    pub(crate) fn unprocessed_part_path(&self, job_id: Uuid) -> PathBuf {
        self.root.join("errors").join(format!(
            "{job_id}.unprocessed.{}.part",
            Uuid::new_v4().simple()
        ))
    }

    /// Streams an upload to disk, never holding more than one body chunk in memory, and
    /// hashes it on the way. Over `limit` bytes the partial file is removed and `TooLarge`
    /// returned.
    pub(crate) async fn save_upload<S, E>(
        &self,
        job_id: Uuid,
        mut body: S,
        limit: u64,
    ) -> Result<StoredUpload, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let final_path = self.upload_path(job_id);
        let part_path = final_path.with_extension("part");
        let result = async {
            let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(&part_path).await?);
            let mut meter = UploadMeter::new(limit);
            while let Some(chunk) = body.next().await {
                file.write_all(&meter.take(chunk)?).await?;
            }
            file.flush().await?;
            file.into_inner().sync_all().await?;
            Ok(meter.finish())
        }
        .await;
        match result {
            Ok(stored) => {
                tokio::fs::rename(&part_path, &final_path).await?;
                Ok(stored)
            }
            Err(err) => {
                remove_if_exists(&part_path).await;
                Err(err)
            }
        }
    }

    /// Removes a job's upload once it is no longer needed.
    pub(crate) async fn remove_upload(&self, job_id: Uuid) {
        remove_if_exists(&self.upload_path(job_id)).await;
    }
}

/// Removes `path` if it is there (logging any other failure).
pub(crate) async fn remove_if_exists(path: &Path) {
    if let Err(err) = tokio::fs::remove_file(path).await
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %err, "could not remove file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn uploads_are_hashed_while_they_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).await.unwrap();
        let job_id = Uuid::new_v4();
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"a,b\n")),
            Ok(Bytes::from_static(b"1,2\n")),
        ];
        let stored = store
            .save_upload(job_id, futures::stream::iter(chunks), 1024)
            .await
            .unwrap();
        assert_eq!(stored.size, 8);
        assert_eq!(
            stored.sha256,
            <[u8; 32]>::from(Sha256::digest(b"a,b\n1,2\n"))
        );
        assert_eq!(
            std::fs::read(store.upload_path(job_id)).unwrap(),
            b"a,b\n1,2\n"
        );
    }
}
