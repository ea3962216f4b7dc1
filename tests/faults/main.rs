//! The fault suite: real processes and real faults. Each scenario starts the project's
//! binary (`serve`, several `work`), its own `redis-server` on a free loopback port, a real
//! SMTP server and — where it restarts Postgres — its own Postgres cluster made with
//! `initdb`; then it kills, restarts or starves one of them and checks that nothing was
//! lost (see `checks`). Run only this suite with `cargo nextest run --test faults`.
//!
//! Every child process is killed (SIGKILL) and reaped when its guard drops, so nothing
//! outlives a test, even one that panics.

mod checks;
mod csv_files;
mod postgres;
mod process;
mod proxy;
mod raw_http;
mod redis;
mod scenario;
mod stack;
mod tmpfs;

mod api_killed;
mod disk_full;
mod fairness;
mod hostile;
mod malformed;
mod postgres_faults;
mod redis_faults;
mod revert;
mod s3_storage;
mod smtp_outage;
mod worker_storm;
