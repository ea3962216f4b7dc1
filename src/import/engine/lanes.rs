//! The writers: one lane per connection, each writing the parts of chunks it is given in
//! order; a part Postgres refuses for its data is retried row by row so that one bad row
//! never stops the good ones.

use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::mpsc;

use super::{Part, error::ImportError};
use crate::domain::{Problem, ProblemCode};
use crate::import::{
    header::ColumnMap,
    kind::{ImportKind, PreparedChunk, RowOutcomes, WriteScope},
};

/// What writing one part gave: its refused rows (by index) and what became of the others.
pub(super) type PartResult = Result<(Vec<(usize, Problem)>, RowOutcomes), ImportError>;

/// A part for a lane: which chunk it belongs to, and its rows.
pub(super) struct LaneJob<R> {
    pub(super) seq: u64,
    pub(super) part: Part<R>,
}

/// A part a lane has written (or failed to).
pub(super) struct LaneDone<R> {
    pub(super) seq: u64,
    pub(super) part: Part<R>,
    pub(super) result: PartResult,
}

/// Where a lane writes: a pooled connection per part, or the dry run's transaction.
pub(super) enum LaneConn<'a> {
    Pool(&'a PgPool),
    Transaction(&'a mut PgConnection),
}

/// One writer: writes the parts it is given, in the order given, and hands them back.
pub(super) struct Lane<'a> {
    pub(super) conn: LaneConn<'a>,
    pub(super) scope: WriteScope,
    pub(super) columns: &'a ColumnMap,
}

impl Lane<'_> {
    pub(super) async fn run<K: ImportKind>(
        mut self,
        mut parts: mpsc::Receiver<LaneJob<K::Row>>,
        done: mpsc::UnboundedSender<LaneDone<K::Row>>,
    ) {
        while let Some(LaneJob { seq, mut part }) = parts.recv().await {
            let prepared = part.prepared.take();
            let (scope, columns) = (self.scope, self.columns);
            let result = match &mut self.conn {
                LaneConn::Pool(pool) => match pool.acquire().await {
                    Ok(mut conn) => {
                        let written = write_chunk::<K>(
                            &mut conn, false, scope, columns, &part.rows, prepared,
                        )
                        .await;
                        // A connection keeps the buffers of its largest message (a part's
                        // statement is a megabyte or more): give them back before it goes
                        // idle in the pool, or every pooled connection holds its own.
                        conn.shrink_buffers();
                        written
                    }
                    Err(e) => Err(e.into()),
                },
                LaneConn::Transaction(conn) => {
                    write_chunk::<K>(conn, true, scope, columns, &part.rows, prepared).await
                }
            };
            if done.send(LaneDone { seq, part, result }).is_err() {
                return; // The coordinator stopped (a failure).
            }
        }
    }
}

/// Writes a chunk (sending its prepared upsert when there is one); when Postgres refuses
/// it for a reason tied to the data, retries row by row so that one bad row never stops
/// the good ones. Returns the refused rows and what became of the others. Inside a
/// transaction (`savepoints`), each attempt runs under a savepoint so that a refused
/// statement does not abort the transaction.
pub(super) async fn write_chunk<K: ImportKind>(
    conn: &mut PgConnection,
    savepoints: bool,
    scope: WriteScope,
    columns: &ColumnMap,
    rows: &[K::Row],
    prepared: Option<PreparedChunk>,
) -> Result<(Vec<(usize, Problem)>, RowOutcomes), ImportError> {
    savepoint(conn, savepoints, Savepoint::Set).await?;
    let written = match prepared {
        Some(p) => p.run(conn).await,
        None => K::write_chunk(conn, scope, columns, rows).await,
    };
    savepoint(conn, savepoints, Savepoint::settle(&written)).await?;
    match written {
        Ok(result) => Ok((result.rejected, result.outcomes)),
        Err(e) if crate::db::is_transient_error(&e) => Err(e.into()),
        // One row refused for its data (say a key too long to index) is an error row.
        Err(e) if rows.len() == 1 => {
            Ok((vec![(0, refused_by_database(&e))], RowOutcomes::default()))
        }
        Err(e) => {
            tracing::warn!(error = %e, rows = rows.len(), "chunk refused; writing its rows one by one");
            let mut refused = Vec::new();
            let mut outcomes = RowOutcomes::default();
            for (index, row) in rows.iter().enumerate() {
                savepoint(conn, savepoints, Savepoint::Set).await?;
                let written = K::write_chunk(conn, scope, columns, std::slice::from_ref(row)).await;
                savepoint(conn, savepoints, Savepoint::settle(&written)).await?;
                match written {
                    Ok(result) => {
                        outcomes += result.outcomes;
                        refused.extend(result.rejected.into_iter().map(|(_, m)| (index, m)))
                    }
                    Err(e) if crate::db::is_transient_error(&e) => return Err(e.into()),
                    Err(e) => refused.push((index, refused_by_database(&e))),
                }
            }
            Ok((refused, outcomes))
        }
    }
}

/// A step of a write under a savepoint.
pub(super) enum Savepoint {
    Set,
    Release,
    RollBack,
}

impl Savepoint {
    /// Keeps a write that worked, undoes one that failed.
    fn settle<T>(written: &Result<T, sqlx::Error>) -> Self {
        if written.is_ok() {
            Self::Release
        } else {
            Self::RollBack
        }
    }
}

/// Runs a savepoint step when writes are inside a transaction (`on`), else nothing.
pub(super) async fn savepoint(
    conn: &mut PgConnection,
    on: bool,
    step: Savepoint,
) -> Result<(), sqlx::Error> {
    if !on {
        return Ok(());
    }
    let sql = match step {
        Savepoint::Set => "SAVEPOINT chunk",
        Savepoint::Release => "RELEASE SAVEPOINT chunk",
        Savepoint::RollBack => "ROLLBACK TO SAVEPOINT chunk",
    };
    conn.execute(sql).await.map(|_| ())
}

/// The problem of a row Postgres refused for its data.
pub(super) fn refused_by_database(error: &sqlx::Error) -> Problem {
    Problem::of_row(
        ProblemCode::RejectedByDatabase,
        format!("the row could not be saved: {}", db_message(error)),
    )
}

pub(super) fn db_message(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}
