//! [`Store`]: the operations the API and the workers need, on either backend.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use uuid::Uuid;

use super::{FileStore, S3Store, StoreError, StoredUpload, UploadOnDisk};

/// A stored file read as a stream of chunks (for a download).
pub(crate) type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// The job files, on local disk or in a bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    /// A directory shared by the API and the workers.
    File(FileStore),
    /// A bucket (S3 or S3-compatible).
    S3(S3Store),
}

/// A local file to read, e.g. a job's upload for the engine. A spool copy (S3) is
/// removed when this drops; the file backend's own file stays.
#[derive(Debug)]
pub(crate) struct LocalFile {
    path: PathBuf,
    _spool: Option<tempfile::TempPath>,
}

impl LocalFile {
    /// The store's own file (file backend): nothing to remove afterwards.
    pub(crate) fn borrowed(path: PathBuf) -> Self {
        Self { path, _spool: None }
    }

    /// A temporary copy, removed on drop.
    pub(crate) fn spooled(spool: tempfile::TempPath) -> Self {
        Self {
            path: spool.to_path_buf(),
            _spool: Some(spool),
        }
    }

    /// Where to read it.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A local file being written that the store then keeps ([`Store::keep_error_file`],
/// [`Store::keep_unprocessed`]). Dropped without being kept, a temporary one is removed.
#[derive(Debug)]
pub(crate) struct Scratch {
    path: PathBuf,
    /// Removed on drop (a temporary file, not the store's final one).
    temporary: bool,
}

impl Scratch {
    /// The final file itself (the file backend writes the error CSV in place).
    pub(crate) fn in_place(path: PathBuf) -> Self {
        Self {
            path,
            temporary: false,
        }
    }

    /// A temporary file, removed unless it is kept.
    pub(crate) fn temporary(path: PathBuf) -> Self {
        Self {
            path,
            temporary: true,
        }
    }

    /// Where to write it.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the path over (it was renamed into place): nothing to remove on drop.
    pub(crate) fn persist(mut self) -> PathBuf {
        self.temporary = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.temporary
            && let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove a scratch file");
        }
    }
}

impl Store {
    /// Opens the store `storage_url` names: `file:///path` or `s3://bucket/prefix` (see
    /// [`S3Store::open`]); without one, the directory `storage_dir`. With S3,
    /// `storage_dir` holds only this process's local spool files.
    pub(crate) async fn open(
        storage_url: Option<&str>,
        storage_dir: &Path,
    ) -> Result<Self, StoreError> {
        let Some(raw) = storage_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::File(FileStore::open(storage_dir).await?));
        };
        let url = url::Url::parse(raw).map_err(|e| {
            StoreError::Config(format!("{e}; use file:///path or s3://bucket/prefix"))
        })?;
        match url.scheme() {
            "file" => {
                let dir = url.to_file_path().map_err(|()| {
                    StoreError::Config("a file URL needs an absolute path: file:///path".into())
                })?;
                Ok(Self::File(FileStore::open(dir).await?))
            }
            "s3" => Ok(Self::S3(
                S3Store::open(&url, &storage_dir.join("spool")).await?,
            )),
            other => Err(StoreError::Config(format!(
                "unknown scheme {other:?}; use file:///path or s3://bucket/prefix"
            ))),
        }
    }

    /// Which backend, for logs: `file` or `s3`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            Self::S3(_) => "s3",
        }
    }

    /// Streams an upload into the store, never holding more than a chunk (file) or a part
    /// (S3) in memory, and hashes it on the way. Over `limit` bytes, or when the body
    /// breaks off, nothing is kept and the error is returned.
    pub(crate) async fn save_upload<S, E>(
        &self,
        job_id: Uuid,
        body: S,
        limit: u64,
    ) -> Result<StoredUpload, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match self {
            Self::File(store) => store.save_upload(job_id, body, limit).await,
            Self::S3(store) => store.save_upload(job_id, body, limit).await,
        }
    }

    /// Removes a job's upload once it is no longer needed (logging failures).
    pub(crate) async fn remove_upload(&self, job_id: Uuid) {
        match self {
            Self::File(store) => store.remove_upload(job_id).await,
            Self::S3(store) => store.remove_upload(job_id).await,
        }
    }

    /// The job's upload as a local file: the stored file itself, or (S3) a spool copy
    /// removed when the returned value drops. A missing upload is an error for which
    /// [`StoreError::is_not_found`] holds — on the file backend only once it is opened.
    pub(crate) async fn local_upload(&self, job_id: Uuid) -> Result<LocalFile, StoreError> {
        match self {
            Self::File(store) => Ok(LocalFile::borrowed(store.upload_path(job_id))),
            Self::S3(store) => store.local_upload(job_id).await,
        }
    }

    /// Where the engine writes the job's error CSV; hand it to [`Self::keep_error_file`]
    /// when the run ends.
    pub(crate) fn error_scratch(&self, job_id: Uuid) -> Result<Scratch, StoreError> {
        match self {
            Self::File(store) => Ok(Scratch::in_place(store.error_file_path(job_id))),
            Self::S3(store) => store.scratch(job_id, "errors"),
        }
    }

    /// Keeps the error CSV a run wrote, or, when the run wrote none (no row failed),
    /// removes one an earlier run of the job left.
    pub(crate) async fn keep_error_file(
        &self,
        job_id: Uuid,
        scratch: Scratch,
    ) -> Result<(), StoreError> {
        match self {
            // The engine wrote (or removed) the final file itself.
            Self::File(_) => Ok(()),
            Self::S3(store) => store.keep(&super::s3::error_key(job_id), scratch).await,
        }
    }

    /// The job's error CSV as a stream, or `None` when there is none.
    pub(crate) async fn error_file(&self, job_id: Uuid) -> Result<Option<ByteStream>, StoreError> {
        match self {
            Self::File(store) => open_stream(&store.error_file_path(job_id)).await,
            Self::S3(store) => store.stream(&super::s3::error_key(job_id)).await,
        }
    }

    /// The job's error CSV in memory, or `None` when there is none or it is larger than
    /// `max` bytes (an email attachment).
    pub(crate) async fn read_error_file(
        &self,
        job_id: Uuid,
        max: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::File(store) => {
                let path = store.error_file_path(job_id);
                match tokio::fs::metadata(&path).await {
                    Ok(meta) if meta.len() > max as u64 => return Ok(None),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
                match tokio::fs::read(&path).await {
                    Ok(content) if content.len() <= max => Ok(Some(content)),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Self::S3(store) => store.read_small(&super::s3::error_key(job_id), max).await,
        }
    }

    /// Whether the job's unprocessed rows are kept already.
    pub(crate) async fn unprocessed_exists(&self, job_id: Uuid) -> Result<bool, StoreError> {
        match self {
            Self::File(store) => Ok(tokio::fs::try_exists(store.unprocessed_path(job_id)).await?),
            Self::S3(store) => store.exists(&super::s3::unprocessed_key(job_id)).await,
        }
    }

    /// A private file for one writer of the job's unprocessed rows; hand it to
    /// [`Self::keep_unprocessed`] when complete. Two writers (a worker ending the job,
    /// the API answering early) never see each other's half-written file.
    pub(crate) fn unprocessed_scratch(&self, job_id: Uuid) -> Result<Scratch, StoreError> {
        match self {
            Self::File(store) => Ok(Scratch::temporary(store.unprocessed_part_path(job_id))),
            Self::S3(store) => store.scratch(job_id, "unprocessed"),
        }
    }

    /// Keeps the unprocessed rows written to `scratch`, atomically: a reader sees no
    /// file or a whole one, and a second writer's identical file replaces it.
    pub(crate) async fn keep_unprocessed(
        &self,
        job_id: Uuid,
        scratch: Scratch,
    ) -> Result<(), StoreError> {
        match self {
            Self::File(store) => {
                let target = store.unprocessed_path(job_id);
                if let Err(e) = tokio::fs::rename(scratch.path(), &target).await {
                    return Err(e.into()); // `scratch` drops: the part file goes.
                }
                scratch.persist();
                Ok(())
            }
            // A PUT (or a completed multipart upload) appears whole or not at all.
            Self::S3(store) => {
                store
                    .keep(&super::s3::unprocessed_key(job_id), scratch)
                    .await
            }
        }
    }

    /// The job's unprocessed rows as a stream, or `None` when they are not kept.
    pub(crate) async fn unprocessed_file(
        &self,
        job_id: Uuid,
    ) -> Result<Option<ByteStream>, StoreError> {
        match self {
            Self::File(store) => open_stream(&store.unprocessed_path(job_id)).await,
            Self::S3(store) => store.stream(&super::s3::unprocessed_key(job_id)).await,
        }
    }

    /// Removes partial uploads not written to for `max_idle` (a request that died).
    /// Returns how many were removed. On S3 an unfinished upload is an incomplete
    /// multipart upload, not an object: a bucket lifecycle rule removes those
    /// (docs/operations.md, "Storage").
    pub(crate) async fn sweep_partial_uploads(
        &self,
        max_idle: Duration,
    ) -> Result<usize, StoreError> {
        match self {
            Self::File(store) => Ok(store.sweep_partial_uploads(max_idle).await?),
            Self::S3(_) => Ok(0),
        }
    }

    /// The complete uploads in the store, with how long ago each was written.
    pub(crate) async fn stored_uploads(&self) -> Result<Vec<UploadOnDisk>, StoreError> {
        match self {
            Self::File(store) => Ok(store.stored_uploads().await?),
            Self::S3(store) => store.stored_uploads().await,
        }
    }
}

/// A local file as a stream, `None` when it does not exist.
async fn open_stream(path: &Path) -> Result<Option<ByteStream>, StoreError> {
    match tokio::fs::File::open(path).await {
        Ok(file) => Ok(Some(tokio_util::io::ReaderStream::new(file).boxed())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn storage_url_names_the_backend_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fallback = dir.path().join("fallback");
        let store = Store::open(None, &fallback).await.unwrap();
        assert!(matches!(&store, Store::File(_)));
        assert!(fallback.join("uploads").is_dir(), "STORAGE_DIR when unset");

        let named = dir.path().join("named");
        let url = url::Url::from_directory_path(&named).unwrap();
        let store = Store::open(Some(url.as_str()), &fallback).await.unwrap();
        assert_eq!(store.kind(), "file");
        assert!(named.join("errors").is_dir(), "the file URL's directory");

        for bad in ["ftp://host/x", "s3:///prefix", "not a url"] {
            let error = Store::open(Some(bad), &fallback).await.unwrap_err();
            assert!(matches!(error, StoreError::Config(_)), "{bad}: {error:?}");
        }
        let error = Store::open(Some("s3://bucket/p?no_such_option=1"), &fallback)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("no_such_option"), "{error}");
    }

    #[tokio::test]
    async fn a_scratch_file_goes_unless_it_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(None, dir.path()).await.unwrap();
        let job = Uuid::new_v4();

        let dropped = store.unprocessed_scratch(job).unwrap();
        std::fs::write(dropped.path(), b"a\n").unwrap();
        let path = dropped.path().to_owned();
        drop(dropped);
        assert!(!path.exists(), "a scratch file dropped unkept is removed");

        let kept = store.unprocessed_scratch(job).unwrap();
        std::fs::write(kept.path(), b"a\n1\n").unwrap();
        store.keep_unprocessed(job, kept).await.unwrap();
        assert!(store.unprocessed_exists(job).await.unwrap());
        let mut stream = store.unprocessed_file(job).await.unwrap().unwrap();
        let mut content = Vec::new();
        while let Some(chunk) = stream.next().await {
            content.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(content, b"a\n1\n");

        // The error CSV is written in place on disk: its scratch is the final file.
        let errors = store.error_scratch(job).unwrap();
        std::fs::write(errors.path(), b"e\n").unwrap();
        store.keep_error_file(job, errors).await.unwrap();
        assert_eq!(
            store.read_error_file(job, 10).await.unwrap().as_deref(),
            Some(&b"e\n"[..])
        );
        assert_eq!(
            store.read_error_file(job, 1).await.unwrap(),
            None,
            "too big"
        );
        assert!(store.error_file(Uuid::new_v4()).await.unwrap().is_none());
    }
}
