//! A Postgres cluster of the test's own, made with the machine's `initdb` (trust auth, a
//! free loopback port, data and socket in a temporary folder), so that a scenario can stop
//! and restart Postgres without touching the shared server. Postgres refuses to run as
//! root: as root, `initdb` and `postgres` run as the `postgres` user.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use sqlx::{Connection, PgConnection};

use crate::process::{Proc, free_port};

/// A running (or stopped) cluster; it is shut down and deleted when dropped.
pub struct PgCluster {
    /// Its loopback port.
    pub port: u16,
    bin: PathBuf,
    root: tempfile::TempDir,
    owner: Option<(u32, u32)>,
    process: Option<Proc>,
}

/// Where the PostgreSQL programs are: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`, else the `PATH`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_default()
}

/// The uid and gid of the `postgres` user when we run as root.
fn owner() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "running as root needs a `postgres` user to run the test cluster"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Some((id("-u"), id("-g")))
}

impl PgCluster {
    /// Runs `initdb` and starts the cluster.
    pub async fn start() -> Self {
        let root = tempfile::Builder::new()
            .prefix("bi-faults-pg")
            .tempdir()
            .unwrap();
        let owner = owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(root.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut cluster = Self {
            port: free_port(),
            bin: bin_dir(),
            root,
            owner,
            process: None,
        };
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start_again().await;
        cluster
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = Command::new(if self.bin.as_os_str().is_empty() {
            Path::new(program)
        } else {
            &path
        });
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command.env("LC_ALL", "C");
        command
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the postmaster (after `initdb` or a stop) and waits until it answers.
    pub async fn start_again(&mut self) {
        assert!(self.process.is_none(), "the cluster already runs");
        let log = self.root.path().join("postgres.log");
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.root.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"]);
        self.process = Some(Proc::spawn("postgres", &mut command, &log));
        let url = self.url("postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(conn) = PgConnection::connect(&url).await {
                let _ = conn.close().await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster did not start: {}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An immediate shutdown (SIGQUIT), as close to a crash as Postgres allows without
    /// leaving orphaned backends: every connection is cut at once.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(libc::SIGQUIT);
            process.wait_exit(Duration::from_secs(20));
        }
    }

    /// Its log, for failure messages.
    pub fn log_tail(&self) -> String {
        crate::process::tail(&self.root.path().join("postgres.log"), 3000)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
