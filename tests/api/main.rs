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
mod jobs;
mod opportunities;
mod queue_outage;
mod real_world_csv;
mod sales_targets;
mod upload;
mod worker_crash;
