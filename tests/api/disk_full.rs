//! A full disk answers 507 (JSend) and keeps nothing. Needs root to mount a small tmpfs as
//! the file store; `BI_TEST_NO_TMPFS=1` skips the test where that is impossible.

use std::{path::Path, process::Command};

use serde_json::Value;

use crate::helpers::{opportunities_csv, spawn_app_with};

/// A 1 MB tmpfs, unmounted when dropped (also when the test panics).
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    /// Mounts it, or `None` when `BI_TEST_NO_TMPFS=1` says mounting is impossible here.
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Self { dir }),
            _ if std::env::var("BI_TEST_NO_TMPFS").as_deref() == Ok("1") => None,
            other => panic!(
                "the disk-full test needs root to mount a tmpfs (set BI_TEST_NO_TMPFS=1 to \
                 skip it): {other:?}"
            ),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.dir.path()).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Still busy: detach it now, the kernel frees it when the last user goes.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_and_keeps_nothing() {
    let Some(tmpfs) = SmallTmpfs::mount() else {
        return;
    };
    let storage = tmpfs.path().to_owned();
    let app = spawn_app_with(|s| s.storage_dir = storage.clone(), false).await;
    let key = app.admin_key().await;
    let csv = opportunities_csv("FULL", 80_000);
    assert!(
        csv.len() > 2 * 1024 * 1024,
        "the file is larger than the disk"
    );

    let response = app.upload(&key, "opportunities", "", "big.csv", csv).await;
    assert_eq!(response.status(), 507);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("storage is full"), "{message}");

    let left: Vec<_> = std::fs::read_dir(storage.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "nothing kept in uploads/: {left:?}");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM import_jobs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(jobs, 0);

    // Space is back once the partial file is gone: a small upload is accepted.
    let response = app
        .upload(
            &key,
            "opportunities",
            "",
            "small.csv",
            opportunities_csv("OK", 3),
        )
        .await;
    assert_eq!(response.status(), 202);
    drop(app);
}
