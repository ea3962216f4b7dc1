//! The job queue (apalis on Redis) and the workers that run imports.

pub(crate) mod corrections;
pub(crate) mod health;
pub mod idempotency;
pub(crate) mod lifecycle;
pub mod queue;
pub(crate) mod reconciler;
pub(crate) mod report;
pub(crate) mod revert;
pub(crate) mod runner;
pub(crate) mod submit;
pub(crate) mod unprocessed;
pub mod wake;
pub(crate) mod worker;

pub use runner::{WorkerContext, execute};
