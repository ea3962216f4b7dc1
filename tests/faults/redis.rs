//! A `redis-server` of the test's own, without persistence, on a free loopback port: it
//! can be killed and restarted empty without touching the shared Redis.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{Proc, free_port};

/// One Redis instance; restarted instances keep the port.
pub struct RedisServer {
    /// Its loopback port.
    pub port: u16,
    dir: PathBuf,
    process: Option<Proc>,
}

impl RedisServer {
    /// Starts a fresh instance with its working files in `dir`.
    pub async fn start(dir: PathBuf) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port: free_port(),
            dir,
            process: None,
        };
        server.restart_empty().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// kill -9: everything it held is gone (there is no persistence).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Kills it if it runs, then starts an empty instance on the same port.
    pub async fn restart_empty(&mut self) {
        self.kill();
        let log = self.dir.join("redis.log");
        let process = Proc::spawn(
            "redis-server",
            Command::new("redis-server")
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .arg("--dir")
                .arg(&self.dir),
            &log,
        );
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ping().await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer: {}",
                self.process.as_ref().unwrap().log_tail(2000)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// True when the server answers PING.
    pub async fn ping(&self) -> bool {
        let Ok(Ok(mut stream)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", self.port)),
        )
        .await
        else {
            return false;
        };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut buf)).await,
            Ok(Ok(_)) if &buf == b"+PONG\r\n"
        )
    }
}
