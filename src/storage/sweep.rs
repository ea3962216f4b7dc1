//! Finding files nobody will use any more: partial uploads of a request that died (the
//! API killed mid-upload) and uploads whose job has ended. Deciding which may go is the
//! caller's business (it knows the jobs); this module only lists and removes.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime},
};

use uuid::Uuid;

use super::{FileStore, remove_if_exists};

/// A stored upload and how long it has not been written to.
#[derive(Debug, Clone)]
pub(crate) struct UploadOnDisk {
    /// The job it belongs to.
    pub job_id: Uuid,
    /// Time since its last write.
    pub idle: Duration,
}

impl FileStore {
    /// Removes partial uploads (`uploads/*.part`) not written to for `max_idle`: a live
    /// upload writes continuously, so such a file belongs to a request that died.
    /// Returns how many were removed.
    pub(crate) async fn sweep_partial_uploads(&self, max_idle: Duration) -> std::io::Result<usize> {
        let mut removed = 0;
        for (path, idle) in self.uploads_with_extension("part").await? {
            if idle >= max_idle {
                tracing::info!(path = %path.display(), idle_secs = idle.as_secs(), "removing an abandoned partial upload");
                remove_if_exists(&path).await;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The complete uploads in the store.
    pub(crate) async fn stored_uploads(&self) -> std::io::Result<Vec<UploadOnDisk>> {
        Ok(self
            .uploads_with_extension("csv")
            .await?
            .into_iter()
            .filter_map(|(path, idle)| {
                let job_id = path.file_stem()?.to_str()?.parse().ok()?;
                Some(UploadOnDisk { job_id, idle })
            })
            .collect())
    }

    async fn uploads_with_extension(
        &self,
        extension: &str,
    ) -> std::io::Result<Vec<(PathBuf, Duration)>> {
        let mut found = Vec::new();
        let mut entries = tokio::fs::read_dir(self.root.join("uploads")).await?;
        let now = SystemTime::now();
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(extension) {
                continue;
            }
            // Gone in the meantime (its job ended): nothing to do.
            let Ok(metadata) = entry.metadata().await else {
                continue;
            };
            let idle = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .unwrap_or_default();
            found.push((path, idle));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_idle_partial_uploads_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).await.unwrap();
        let old = dir
            .path()
            .join("uploads")
            .join(format!("{}.part", Uuid::new_v4()));
        let fresh = dir
            .path()
            .join("uploads")
            .join(format!("{}.part", Uuid::new_v4()));
        let complete = store.upload_path(Uuid::new_v4());
        for path in [&old, &fresh, &complete] {
            std::fs::write(path, b"a,b\n").unwrap();
        }
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();

        let removed = store
            .sweep_partial_uploads(Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert!(!old.exists());
        assert!(fresh.exists(), "a partial upload still being written stays");
        assert!(complete.exists(), "complete uploads are not partial ones");
        let stored = store.stored_uploads().await.unwrap();
        assert_eq!(stored.len(), 1);
    }
}
