//! `STORAGE_DIR` on a 2 MB tmpfs: an upload that does not fit answers `507` (JSend) and
//! keeps nothing; the next one that fits works. Mounting needs root (`.ci/run` is root).

use std::{collections::BTreeSet, path::Path, process::Command, time::Duration};

use crate::{
    checks::{self, Expected},
    csv_files::opportunities,
    process::{eventually, serial},
    redis::RedisServer,
    smtp::SmtpServer,
    stack::{Services, Stack, file_names, shared_database_url},
};

const BOUND: Duration = Duration::from_secs(45);

/// A small tmpfs, unmounted when dropped (after the processes that use it are gone).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bi-faults-tmpfs")
            .tempdir()
            .unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (as in .ci/run): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy: detach it now; the kernel frees it when the last user goes.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_and_keeps_nothing() {
    let _serial = serial().await;
    let smtp = SmtpServer::start();
    let scratch = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(scratch.path().join("redis")).await;
    let disk = Tmpfs::mount("2m");
    let mut stack = Stack::new(
        Services {
            database_url: shared_database_url(),
            redis_url: redis.url(),
            smtp_url: smtp.url(),
            storage_dir: Some(disk.path().to_owned()),
        },
        &[],
    )
    .await;
    stack.start_api().await;
    stack.start_worker();
    let key = stack.admin_key();

    // About 3 MB: under the upload limit, over the free space.
    let big = opportunities("BIG", 60_000, None, None);
    assert!(big.csv.len() > 2 * 1024 * 1024);
    let (status, body) = stack
        .upload(&key, "opportunities", "", big.csv.clone())
        .await;
    assert_eq!(status, 507, "an upload the disk cannot hold: {body}");
    assert_eq!(body["status"], "error", "JSend error: {body}");
    let message = body["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        ["storage", "space", "full"]
            .iter()
            .any(|w| message.contains(w)),
        "the message says storage is full: {body}"
    );
    let uploads = stack.uploads();
    assert!(
        eventually(Duration::from_secs(5), || {
            let empty = file_names(&uploads).is_empty();
            async move { empty }
        })
        .await,
        "nothing of the refused upload is kept: {:?}",
        file_names(&uploads)
    );
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM import_jobs WHERE state IN ('queued', 'running')")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    assert_eq!(open, 0, "no job waits for a file that was not stored");

    // The space is free again: a file that fits imports.
    let small = opportunities("SMALL", 200, Some(50), None);
    let job = stack
        .upload_job(&key, "opportunities", "send_error_email=true", small.csv)
        .await;
    let expected = [Expected {
        job,
        rows: small.rows,
        errors: small.errors,
    }];
    let stored: BTreeSet<String> = small.ids;
    checks::nothing_lost(&mut stack, &smtp, &expected, &stored, BOUND).await;
    drop(stack); // The processes go before the mount does.
}
