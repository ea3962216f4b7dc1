//! The S3 backend on `object_store`: uploads are streamed as multipart uploads (aborted on
//! any refusal, so no object is left behind), the engine's files go through local spool
//! files in `STORAGE_DIR/spool`.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::{
    ObjectStore, PutPayload, WriteMultipart,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    path::Path as ObjectPath,
    prefix::PrefixStore,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::{ByteStream, LocalFile, Scratch, StoreError, StoredUpload, UploadMeter, UploadOnDisk};

/// Size of one part of a multipart upload: S3's minimum for all parts but the last.
const PART_SIZE: usize = 5 * 1024 * 1024;

/// Parts uploaded at once per upload: bounds an upload's memory to a few parts.
const PARTS_IN_FLIGHT: usize = 2;

/// Spool files older than this belong to a process that died (kill -9) mid-run.
const SPOOL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A job's upload.
pub(super) fn upload_key(job_id: Uuid) -> ObjectPath {
    ObjectPath::from(format!("uploads/{job_id}.csv"))
}

/// A job's error CSV.
pub(super) fn error_key(job_id: Uuid) -> ObjectPath {
    ObjectPath::from(format!("errors/{job_id}.csv"))
}

/// A cancelled or failed job's unprocessed rows.
pub(super) fn unprocessed_key(job_id: Uuid) -> ObjectPath {
    ObjectPath::from(format!("errors/{job_id}.unprocessed.csv"))
}

/// Uploads and error files in a bucket (under a prefix).
#[derive(Clone)]
pub struct S3Store {
    objects: Arc<dyn ObjectStore>,
    /// Local folder for the engine's copies of uploads and its error CSVs.
    spool: PathBuf,
    /// `s3://bucket/prefix`, for logs.
    location: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.location)
            .field("spool", &self.spool)
            .finish()
    }
}

impl S3Store {
    /// `s3://bucket/prefix`: endpoint, region and credentials come from the `AWS_*`
    /// variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...); query parameters named like them
    /// (`?endpoint=...&allow_http=true`) override them. Requests use path-style
    /// addressing unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`. Local copies go to
    /// `spool`, where copies older than a day (of a process killed mid-run) are removed.
    pub(crate) async fn open(url: &url::Url, spool: &Path) -> Result<Self, StoreError> {
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| StoreError::Config("s3:// needs a bucket: s3://bucket/prefix".into()))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in url.query_pairs() {
            let key = AmazonS3ConfigKey::from_str(&key.to_ascii_lowercase())
                .map_err(|e| StoreError::Config(e.to_string()))?;
            builder = builder.with_config(key, value);
        }
        let s3 = builder.build()?;
        let prefix = url.path().trim_matches('/');
        let objects: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        tokio::fs::create_dir_all(spool).await?;
        sweep_spool(spool).await;
        Ok(Self {
            objects,
            spool: spool.to_owned(),
            location: format!("s3://{bucket}/{prefix}"),
        })
    }

    /// See [`super::Store::save_upload`]: a multipart upload of [`PART_SIZE`] parts.
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
        let key = upload_key(job_id);
        let upload = self.objects.put_multipart(&key).await?;
        let mut upload = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        let writer = upload.0.as_mut().expect("set above");
        let mut meter = UploadMeter::new(limit);
        let received = async {
            while let Some(chunk) = body.next().await {
                let chunk = meter.take(chunk)?;
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        let writer = upload.0.take().expect("still set");
        if let Err(e) = received {
            // Nothing of it may stay: S3 keeps the parts of an unfinished upload.
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%job_id, error = %abort, "could not abort a refused upload");
            }
            return Err(e);
        }
        let stored = meter.finish();
        if stored.size == 0 {
            // S3 completes no multipart upload without a part.
            writer.abort().await?;
            self.objects.put(&key, PutPayload::default()).await?;
        } else {
            writer.finish().await?;
        }
        Ok(stored)
    }

    /// Deletes a job's upload (logging failures; a missing one is fine).
    pub(crate) async fn remove_upload(&self, job_id: Uuid) {
        match self.objects.delete(&upload_key(job_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(%job_id, error = %e, "could not delete an upload"),
        }
    }

    /// Streams the job's upload into a spool file, a chunk at a time.
    pub(crate) async fn local_upload(&self, job_id: Uuid) -> Result<LocalFile, StoreError> {
        let object = self.objects.get(&upload_key(job_id)).await?;
        let (file, path) = self.spool_file(job_id, "upload")?.into_parts();
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
        let mut chunks = object.into_stream();
        while let Some(chunk) = chunks.next().await {
            file.write_all(&chunk?).await?;
        }
        file.flush().await?;
        Ok(LocalFile::spooled(path))
    }

    /// A temporary local file for `what` of the job (not created yet: the engine creates
    /// the error CSV only when a row fails), removed unless kept.
    pub(crate) fn scratch(&self, job_id: Uuid, what: &str) -> Result<Scratch, StoreError> {
        let name = format!("{job_id}.{what}.{}.csv", Uuid::new_v4().simple());
        Ok(Scratch::temporary(self.spool.join(name)))
    }

    fn spool_file(&self, job_id: Uuid, what: &str) -> Result<tempfile::NamedTempFile, StoreError> {
        Ok(tempfile::Builder::new()
            .prefix(&format!("{job_id}.{what}."))
            .suffix(".csv")
            .tempfile_in(&self.spool)?)
    }

    /// Stores the scratch file at `key` (a whole object, never a partial one); when the
    /// scratch file does not exist, deletes `key` instead.
    pub(crate) async fn keep(&self, key: &ObjectPath, scratch: Scratch) -> Result<(), StoreError> {
        let mut file = match tokio::fs::File::open(scratch.path()).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return match self.objects.delete(key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        if size <= PART_SIZE as u64 {
            let mut content = Vec::with_capacity(size as usize);
            file.read_to_end(&mut content).await?;
            self.objects.put(key, content.into()).await?;
            return Ok(());
        }
        let upload = self.objects.put_multipart(key).await?;
        let mut upload = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        let writer = upload.0.as_mut().expect("set above");
        let copied = async {
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut buffer).await?;
                if n == 0 {
                    return Ok::<_, StoreError>(());
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buffer[..n]);
            }
        }
        .await;
        let writer = upload.0.take().expect("still set");
        match copied {
            Ok(()) => {
                writer.finish().await?;
                Ok(())
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%key, error = %abort, "could not abort an upload");
                }
                Err(e)
            }
        }
    }

    /// The object at `key` as a stream, `None` when it does not exist.
    pub(crate) async fn stream(&self, key: &ObjectPath) -> Result<Option<ByteStream>, StoreError> {
        match self.objects.get(key).await {
            Ok(object) => Ok(Some(
                object.into_stream().map_err(std::io::Error::other).boxed(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The object at `key` in memory, `None` when missing or over `max` bytes.
    pub(crate) async fn read_small(
        &self,
        key: &ObjectPath,
        max: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let object = match self.objects.get(key).await {
            Ok(object) => object,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if object.meta.size > max as u64 {
            return Ok(None);
        }
        Ok(Some(object.bytes().await?.to_vec()))
    }

    /// Whether an object exists at `key`.
    pub(crate) async fn exists(&self, key: &ObjectPath) -> Result<bool, StoreError> {
        match self.objects.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The uploads in the bucket, idle since their last write.
    pub(crate) async fn stored_uploads(&self) -> Result<Vec<UploadOnDisk>, StoreError> {
        let prefix = ObjectPath::from("uploads");
        let objects: Vec<_> = self.objects.list(Some(&prefix)).try_collect().await?;
        let now = chrono::Utc::now();
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?;
                let job_id = name.strip_suffix(".csv")?.parse().ok()?;
                let idle = (now - meta.last_modified).to_std().unwrap_or_default();
                Some(UploadOnDisk { job_id, idle })
            })
            .collect())
    }
}

/// A multipart upload aborted in the background if its request is dropped midway (the
/// client went away): no part stays on the server for the lifecycle rule to find.
struct AbortOnDrop(Option<WriteMultipart>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, "could not abort an interrupted upload");
                }
            });
        }
    }
}

/// Removes spool files not written for [`SPOOL_MAX_AGE`]: left by a process killed
/// mid-run (a live run's files are younger than any import takes).
async fn sweep_spool(spool: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(spool).await else {
        return;
    };
    let now = SystemTime::now();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age >= SPOOL_MAX_AGE);
        if old {
            super::remove_if_exists(&entry.path()).await;
        }
    }
}
