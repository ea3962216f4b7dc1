//! batch-import: asynchronous CSV imports of sales data into Postgres.
//!
//! The API (`api`) stores uploads (`storage`), records jobs (`db`) and enqueues them
//! (`jobs::queue`); workers (`jobs::worker`) run the import engine (`import`) and send
//! error reports (`mail`). `startup` wires the pieces for the binary and the tests;
//! `client` is the command-line client of the HTTP API (`upload`, `jobs`, `job`).
//! `views` holds the public JSON shapes; `webhooks` signs and delivers the calls a tenant's
//! endpoints get when a job ends.

pub mod alloc;
pub mod api;
pub mod client;
pub mod config;
pub mod db;
pub mod domain;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod prometheus;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod views;
pub mod webhooks;
