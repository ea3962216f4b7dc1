//! Child processes: the `batch-import` services, one-shot commands timed with their
//! peak memory, and `/proc/<pid>/status` readings.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// A value of `/proc/<pid>/status` in KiB, e.g. `VmHWM` (peak resident memory) or `VmRSS`.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Resets the process' `VmHWM` to its current resident size (Linux ≥ 4.0), so that the
/// peak of what comes next can be read.
pub fn reset_peak(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak memory of process {pid}"))
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A long-running `batch-import` process (`serve` or `work`), killed when dropped.
pub struct Service {
    /// What it is, for messages.
    pub name: String,
    child: tokio::process::Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Service {
    /// Starts `bin args…` with `env`, logging to `log`.
    pub fn spawn(
        name: &str,
        bin: &Path,
        args: &[&str],
        env: &[(String, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let out = File::create(&log)?;
        let child = tokio::process::Command::new(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); its log ends with:\n{}",
                self.name,
                log_tail(&self.log, 20)
            );
        }
        Ok(())
    }

    /// SIGTERM (it finishes what it holds), then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// A finished one-shot command.
pub struct Measured {
    /// Its standard output.
    pub stdout: String,
    /// Wall time from spawn to exit.
    pub seconds: f64,
    /// The highest `VmHWM` seen while it ran (KiB; sampled every 5 ms).
    pub peak_kib: u64,
}

/// Runs `program args…` to completion, timing it and sampling its peak memory; fails
/// when it exits non-zero. Blocking: call it from `spawn_blocking`.
pub fn run_measured(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
) -> anyhow::Result<Measured> {
    let (measured, ended) = run_measured_to_end(program, args, env)?;
    if let Err(stderr) = ended {
        bail!(
            "`{} {}` failed:\n{}{stderr}",
            program.display(),
            args.join(" "),
            measured.stdout,
        );
    }
    Ok(measured)
}

/// [`run_measured`], also when the command fails: then with `Err(its status and stderr)`.
pub fn run_measured_to_end(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
) -> anyhow::Result<(Measured, Result<(), String>)> {
    let dir = tempfile::tempdir()?;
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let started = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id();
    let mut peak_kib = 0;
    let status = loop {
        // VmHWM only grows while the process lives, and vanishes when it exits.
        if let Some(kib) = status_kib(pid, "VmHWM") {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(&out_path)?;
    let ended = match status.success() {
        true => Ok(()),
        false => Err(format!("{status}: {}", std::fs::read_to_string(&err_path)?)),
    };
    Ok((
        Measured {
            stdout,
            seconds,
            peak_kib,
        },
        ended,
    ))
}
