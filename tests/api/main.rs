//! Integration tests through the HTTP API against real Postgres, Redis and SMTP.

mod auth;
mod cli;
mod compose;
mod email;
mod errors;
mod health;
mod helpers;
mod opportunities;
mod upload;
mod worker_crash;
