//! Integration tests through the HTTP API against real Postgres, Redis and SMTP.

mod auth;
mod cli;
mod compose;
mod contacts;
mod corpus;
mod email;
mod errors;
mod fuzz;
mod health;
mod helpers;
mod idempotency;
mod job_events;
mod jobs;
mod jsend_errors;
mod keys;
mod maintenance;
mod opportunities;
mod queue_outage;
mod rate_limit;
mod real_world_csv;
mod reconciler;
mod sales_targets;
mod secrets;
mod standalone;
mod upload;
mod worker_crash;
