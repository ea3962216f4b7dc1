//! The job queue (apalis on Redis) and the workers that run imports.

pub mod health;
pub mod idempotency;
pub mod lifecycle;
pub mod queue;
pub mod reconciler;
pub mod report;
pub mod runner;
pub mod submit;
pub mod unprocessed;
pub mod wake;
pub mod worker;

pub use runner::{WorkerContext, execute};
