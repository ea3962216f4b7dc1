//! Postgres access: the pool, migrations and one repository module per table group.

pub mod accounts;
pub(crate) mod contacts;
pub(crate) mod corrections;
pub mod job_errors;
pub mod jobs;
pub(crate) mod opportunities;
pub(crate) mod page;
pub(crate) mod reverts;
pub(crate) mod sales_targets;
pub mod schedule;
pub mod webhooks;

pub(crate) use page::{Page, PageRequest};

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    migrate::MigrateDatabase,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// Migrations embedded from `migrations/` at build time.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a request waits for a connection before it is told Postgres is unavailable.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a pool; connections are made lazily so that a process can start (and say
/// it is not ready) while Postgres is still coming up. With Postgres down, a caller
/// learns it within `ACQUIRE_TIMEOUT` (a 503 for API requests), not after minutes.
///
/// Its sessions run without JIT compilation: an import chunk's statement is planned
/// for its thousands of rows on a connection's first executions, which puts it over
/// `jit_above_cost`, and compiling it each time cost more than it saved (measured: a
/// 150,000-contact job on fresh connections, Postgres CPU 4.1 s with JIT, docs/performance.md).
pub fn pool(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(database_url)?.options([("jit", "off")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Creates the database when it does not exist, then applies pending migrations.
/// Concurrent callers are safe: sqlx serialises migrations with an advisory lock.
pub async fn migrate(database_url: &str, pool: &PgPool) -> Result<(), sqlx::Error> {
    if !sqlx::Postgres::database_exists(database_url).await? {
        // Two processes may race here; the loser's "already exists" is harmless.
        if let Err(err) = sqlx::Postgres::create_database(database_url).await
            && !sqlx::Postgres::database_exists(database_url).await?
        {
            return Err(err);
        }
    }
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether a Postgres error may pass on its own (the work is worth retrying): connection
/// trouble, deadlocks, serialization failures, shutdowns and resource limits
/// pass; anything else is a problem with the data or the statement.
pub(crate) fn is_transient_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["08", "40", "53", "57"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}
