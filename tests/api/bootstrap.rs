//! First run: `serve` with `BOOTSTRAP_ADMIN=tenant:email` on a new installation creates
//! that admin and prints its key once in its log; never again.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::helpers::{process_env, spawn_app_with};

/// A `serve` process with `BOOTSTRAP_ADMIN`, logging JSON lines; killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(env: &[(&'static str, String)], port: u16) -> Serve {
    Serve(
        Command::new(env!("CARGO_BIN_EXE_batch-import"))
            .arg("serve")
            .envs(env.iter().cloned())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("BOOTSTRAP_ADMIN", "boot:admin@boot.example.com")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("serve starts"),
    )
}

/// Reads the process's JSON log lines until one carries a key, its output ends, or
/// 30 s pass.
fn log_lines(serve: &mut Serve) -> Vec<Value> {
    let stdout = serve.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !lines.iter().any(|l| l["fields"]["key"].is_string()) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => lines.push(serde_json::from_str(&line).unwrap_or(Value::String(line))),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    lines
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/healthz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serve did not start listening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_serve_creates_the_bootstrap_admin_and_prints_its_key_once() {
    // A migrated database with no key yet, and a worker.
    let app = spawn_app_with(|_| {}, true).await;
    let env = process_env(&app.settings);

    let port = free_port();
    let mut first = serve(&env, port);
    wait_ready(port).await;
    let lines = log_lines(&mut first);
    let keys: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["key"].as_str())
        .collect();
    assert_eq!(keys.len(), 1, "the key is printed once: {lines:?}");
    let key = keys[0].to_owned();
    let upload = app
        .upload(
            &key,
            "opportunities",
            "",
            "a.csv",
            "Opportunity ID,Opportunity Name\nA,B\n",
        )
        .await;
    assert_eq!(upload.status(), 202, "the bootstrap admin can upload");
    drop(first);

    // A restart (or a second API) finds a key and creates none.
    let port = free_port();
    let mut second = serve(&env, port);
    wait_ready(port).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = second.0.kill();
    let lines = log_lines(&mut second);
    assert!(
        lines.iter().all(|l| l["fields"]["key"].is_null()),
        "no key is printed again: {lines:?}"
    );
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 1);
}
