//! Undoes an import: deletes the rows a job created and sets the rows it changed back to
//! the values they had before it (its before-images, written by the tables' triggers in
//! the same transaction as each change, and unpacked into `import_changes` when the
//! revert starts). A row another write changed since (an
//! import, a correction, a revert) is a *conflict*: it is left as it is and reported as a
//! failed row of the revert, with the value it has now and the one it had before the
//! import. A contact's links follow the same rule: the links the job made go with it.
//!
//! Rows are taken in chunks, each in one transaction that locks its rows (`FOR UPDATE`, as
//! an import's upsert does), changes them and marks their images as reverted by this
//! revert job. A run that dies mid-way leaves whole chunks done; a new run of the same
//! revert job counts those from their marks and goes on with the rest, so it ends in the
//! same state with the same counts. A dry run rolls each chunk back instead.
//!
//! Like the import engine it knows nothing about HTTP or the jobs table: it reports
//! through [`ProgressSink`].

use std::{collections::HashMap, path::PathBuf};

use chrono::{DateTime, Duration, Utc};
use csv::StringRecord;
use sqlx::{PgPool, Row, postgres::PgRow, types::Json};
use uuid::Uuid;

use super::{
    engine::{FailedRows, ImportError, Progress, Verdict},
    error_file::{ErrorFileWriter, RejectedRow},
};
use crate::domain::{ErrorTally, JobKind, Problem, ProblemCode};

/// What to undo.
#[derive(Debug, Clone)]
pub struct RevertRequest {
    /// Whose data it is.
    pub tenant_id: Uuid,
    /// The kind of both jobs.
    pub kind: JobKind,
    /// The revert job: rows it restores carry it as their last writer.
    pub job_id: Uuid,
    /// The job undone.
    pub reverts: Uuid,
    /// When the undone job was created and when it ended: the ids it gave new rows were
    /// made in between (they are time-ordered).
    pub window: (DateTime<Utc>, DateTime<Utc>),
    /// Count what a revert would do and change nothing.
    pub dry_run: bool,
    /// Where the conflicts go as an error CSV.
    pub error_path: PathBuf,
    /// Rows per chunk (one transaction each).
    pub chunk_rows: usize,
}

/// What a revert did (or, for a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevertCounts {
    /// Rows the undone job created, deleted.
    pub deleted: i64,
    /// Rows the undone job changed, set back to their previous values.
    pub restored: i64,
    /// Rows changed since by another write, left alone.
    pub conflicts: i64,
}

/// How a revert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevertOutcome {
    /// What it did.
    pub counts: RevertCounts,
    /// A cancel request stopped it at a chunk boundary (what was done stays done).
    pub cancelled: bool,
    /// Another run has the job now: nothing may be recorded.
    pub lost_lease: bool,
    /// An error CSV of the conflicts was written.
    pub error_file: bool,
}

/// What a revert needs to know of a table.
struct Table {
    name: &'static str,
    /// Columns no import changes, shown to say which row a conflict is: (column, header).
    identity: &'static [(&'static str, &'static str)],
    /// Columns an import may change: (column, Postgres type, header).
    columns: &'static [(&'static str, &'static str, &'static str)],
    /// Whether the job's links to opportunities go with its changes (contacts).
    links: bool,
    /// Whether contacts link to these rows (opportunities): a row another job linked
    /// contacts to since is not deleted, which would take the links with it.
    linked_to: bool,
}

const OPPORTUNITIES: Table = Table {
    name: "opportunities",
    identity: &[("external_opp_id", "Opportunity ID")],
    columns: &[
        ("name", "text", "Opportunity Name"),
        ("amount", "numeric", "Amount"),
        ("close_date", "date", "Close Date"),
        ("stage", "text", "Stage"),
        ("owner_name", "text", "Opportunity Owner"),
        ("owner_email", "text", "Opportunity Owner Email"),
        ("external_account_id", "text", "Account ID"),
        ("account", "text", "Account Name"),
        ("website", "text", "Account URL/Website"),
        ("type", "text", "Opportunity Type"),
        ("next_step", "text", "Next Step"),
    ],
    links: false,
    linked_to: true,
};

const CONTACTS: Table = Table {
    name: "contacts",
    identity: &[],
    columns: &[
        ("email", "text", "Email"),
        ("fullname", "text", "Fullname"),
        ("first_name", "text", "First Name"),
        ("last_name", "text", "Last Name"),
        ("title", "text", "Title"),
        ("company_name", "text", "Company Name"),
        ("phone", "text", "Phone"),
        ("mobile_phone", "text", "Mobile Phone"),
    ],
    links: true,
    linked_to: false,
};

const SALES_TARGETS: Table = Table {
    name: "sales_targets",
    identity: &[("month", "Month")],
    columns: &[
        ("rep_email", "text", "Email Address of Salesrep"),
        ("amount", "numeric", "Amount"),
    ],
    links: false,
    linked_to: false,
};

fn table(kind: JobKind) -> &'static Table {
    match kind {
        JobKind::Opportunities => &OPPORTUNITIES,
        JobKind::Contacts => &CONTACTS,
        JobKind::SalesTargets => &SALES_TARGETS,
    }
}

impl Table {
    /// The error CSV's columns: the identity, then each column's value now beside the
    /// value a revert would restore.
    fn header(&self) -> Vec<String> {
        let mut header: Vec<String> = self.identity.iter().map(|(_, h)| (*h).into()).collect();
        for (_, _, name) in self.columns {
            header.push((*name).into());
            header.push(format!("{name} before import"));
        }
        header
    }

    /// The stored rows of tenant `$1` that `filter` keeps, in id order (`limit` after),
    /// with their values as text, locked for this transaction.
    fn select_locked(&self, filter: &str, limit: &str) -> String {
        let values: Vec<String> = self
            .identity
            .iter()
            .map(|(c, _)| *c)
            .chain(self.columns.iter().map(|(c, _, _)| *c))
            .map(|c| format!("{c}::text"))
            .collect();
        let linked = if self.linked_to {
            "EXISTS (SELECT 1 FROM contact_opportunities l WHERE l.opportunity_id = t.id)"
        } else {
            "false"
        };
        format!(
            "SELECT id, version, updated_by_job, {linked} AS linked, {values} FROM {table} t
              WHERE tenant_id = $1 AND {filter}
              ORDER BY id {limit} FOR UPDATE",
            values = values.join(", "),
            table = self.name,
        )
    }

    /// Sets rows `$3` back to their before-images of job `$2`, as written by revert `$4`.
    fn restore(&self) -> String {
        let sets: Vec<String> = self
            .columns
            .iter()
            .map(|(c, ty, _)| {
                format!(
                    "{c} = CASE WHEN i.before ? '{c}' THEN (i.before->>'{c}')::{ty} ELSE t.{c} END"
                )
            })
            .collect();
        format!(
            "UPDATE {table} t SET {sets}, version = t.version + 1, updated_by_job = $4,
                    updated_at = now()
               FROM import_changes i
              WHERE t.tenant_id = $1 AND i.job_id = $2 AND i.row_id = ANY($3) AND t.id = i.row_id",
            table = self.name,
            sets = sets.join(", "),
        )
    }
}

/// A before-image's values as text, by column (`None`: the column was empty).
type Values = HashMap<String, Option<String>>;

/// A stored row as a revert reads it: its version, last writer, whether contacts link to
/// it, and its values as text.
struct Stored {
    version: i64,
    updated_by_job: Option<Uuid>,
    linked: bool,
    values: Vec<Option<String>>,
}

fn stored(row: &PgRow) -> Result<(Uuid, Stored), sqlx::Error> {
    let values = (4..row.len())
        .map(|i| row.try_get::<Option<String>, _>(i))
        .collect::<Result<_, _>>()?;
    Ok((
        row.try_get("id")?,
        Stored {
            version: row.try_get("version")?,
            updated_by_job: row.try_get("updated_by_job")?,
            linked: row.try_get("linked")?,
            values,
        },
    ))
}

/// Runs a revert.
pub async fn run_revert(
    pool: &PgPool,
    request: RevertRequest,
    progress: Progress<'_>,
) -> Result<RevertOutcome, ImportError> {
    let mut run = Run {
        table: table(request.kind),
        errors: ErrorFileWriter::new(&request.error_path, table(request.kind).header()),
        header: table(request.kind).header(),
        tally: ErrorTally::default(),
        counts: RevertCounts::default(),
        line: 1,
        progress,
        request,
    };
    run.unpack(pool).await?;
    if !run.request.dry_run {
        run.counts = run.done_before(pool).await?;
    }
    let mut verdict = run.created_rows(pool).await?;
    if verdict == Verdict::Continue {
        verdict = run.changed_rows(pool).await?;
    }
    let Run { counts, errors, .. } = run;
    let error_file = errors.finish()?;
    Ok(RevertOutcome {
        counts,
        cancelled: verdict == Verdict::Cancel,
        lost_lease: verdict == Verdict::LostLease,
        error_file,
    })
}

struct Run<'a> {
    table: &'static Table,
    request: RevertRequest,
    errors: ErrorFileWriter,
    header: Vec<String>,
    tally: ErrorTally,
    counts: RevertCounts,
    /// The last line given to a conflict (the header is line 1).
    line: u64,
    progress: Progress<'a>,
}

/// How far around the undone job's lifetime new row ids are looked for: the ids come
/// from the workers' clocks, which may be off from Postgres'.
const CLOCK_MARGIN_HOURS: i64 = 24;

impl Run<'_> {
    /// Unpacks the undone job's before-images (`import_change_sets`: one record per
    /// statement the job ran, written by the tables' triggers) into `import_changes`, one
    /// row per row the job changed, where the revert marks what it did. Record by record in
    /// the order they were written (each small, so nothing spills to disk): a row the job
    /// changed in several statements gets the version of the last and the values before
    /// the first. Rows a run reverted already stay as they are; unpacking again (a retried
    /// run, a dry run before) changes nothing else.
    async fn unpack(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let records = sqlx::query_scalar!(
            "SELECT id FROM import_change_sets WHERE job_id = $1 ORDER BY id",
            self.request.reverts,
        )
        .fetch_all(pool)
        .await?;
        for record in records {
            sqlx::query!(
                r#"INSERT INTO import_changes (job_id, row_id, version, before)
                   SELECT s.job_id, u.row_id, u.version, jsonb_object_agg(v.col, v.value)
                     FROM import_change_sets s
                    CROSS JOIN LATERAL unnest(s.row_ids, s.versions)
                          WITH ORDINALITY AS u(row_id, version, i)
                     -- befores is [row][column], unnested in that order.
                     JOIN (SELECT (v.k - 1) / cardinality(s.columns) + 1 AS i,
                                  s.columns[(v.k - 1) % cardinality(s.columns) + 1] AS col,
                                  v.value
                             FROM import_change_sets s,
                                  unnest(s.befores) WITH ORDINALITY AS v(value, k)
                            WHERE s.id = $1) v ON v.i = u.i
                    WHERE s.id = $1
                    GROUP BY s.job_id, u.row_id, u.version
                   ON CONFLICT (job_id, row_id) DO UPDATE
                      SET version = greatest(import_changes.version, EXCLUDED.version),
                          before = EXCLUDED.before || import_changes.before
                    WHERE import_changes.reverted_by IS NULL"#,
                record,
            )
            .execute(pool)
            .await?;
        }
        Ok(())
    }

    /// What earlier runs of this revert job did (their chunks committed with their marks).
    async fn done_before(&self, pool: &PgPool) -> Result<RevertCounts, sqlx::Error> {
        let (deleted, restored): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created)
               FROM import_changes WHERE job_id = $1 AND reverted_by = $2",
        )
        .bind(self.request.reverts)
        .bind(self.request.job_id)
        .fetch_one(pool)
        .await?;
        Ok(RevertCounts {
            deleted,
            restored,
            conflicts: 0,
        })
    }

    /// Deletes the rows the job created that nobody changed since, chunk by chunk in id
    /// order within the ids the job could have made.
    async fn created_rows(&mut self, pool: &PgPool) -> Result<Verdict, ImportError> {
        let (from, to) = self.request.window;
        let margin = Duration::hours(CLOCK_MARGIN_HOURS);
        let mut after = time_ordered_id(from - margin);
        let below = time_ordered_id(to + margin);
        let statement = self
            .table
            .select_locked("created_by_job = $2 AND id > $3 AND id < $4", "LIMIT $5");
        loop {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query(&statement)
                .bind(self.request.tenant_id)
                .bind(self.request.reverts)
                .bind(after)
                .bind(below)
                .bind(self.request.chunk_rows.max(1) as i64)
                .fetch_all(&mut *tx)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(Verdict::Continue);
            };
            after = last.try_get("id")?;
            let mut deletable = Vec::new();
            let mut conflicts = Vec::new();
            for row in &rows {
                let (id, stored) = stored(row)?;
                if stored.updated_by_job == Some(self.request.reverts) && !stored.linked {
                    deletable.push(id);
                } else {
                    conflicts.push(self.created_conflict(stored));
                }
            }
            if !deletable.is_empty() {
                sqlx::query(&format!(
                    "DELETE FROM {} WHERE tenant_id = $1 AND id = ANY($2)",
                    self.table.name
                ))
                .bind(self.request.tenant_id)
                .bind(&deletable)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO import_changes (job_id, row_id, created, version, reverted_by)
                     SELECT $1, id, true, 0, $2 FROM UNNEST($3::uuid[]) AS d(id)
                     ON CONFLICT (job_id, row_id) DO UPDATE
                        SET created = true, reverted_by = EXCLUDED.reverted_by",
                )
                .bind(self.request.reverts)
                .bind(self.request.job_id)
                .bind(&deletable)
                .execute(&mut *tx)
                .await?;
            }
            self.settle(tx).await?;
            self.counts.deleted += deletable.len() as i64;
            let verdict = self.record(conflicts).await?;
            if verdict != Verdict::Continue {
                return Ok(verdict);
            }
        }
    }

    /// Sets the rows the job changed back to their before-images where the job is still
    /// their last writer, chunk by chunk in id order.
    async fn changed_rows(&mut self, pool: &PgPool) -> Result<Verdict, ImportError> {
        let select = self.table.select_locked("id = ANY($2)", "");
        let restore = self.table.restore();
        let mut after = Uuid::nil();
        loop {
            let mut tx = pool.begin().await?;
            let images: Vec<(Uuid, i64, Option<Json<Values>>)> =
                sqlx::query_as(
                    // The previous values as text, as they are written back.
                    "SELECT row_id, version,
                            CASE WHEN before IS NOT NULL THEN COALESCE(
                                (SELECT jsonb_object_agg(key, value #>> '{}') FROM jsonb_each(before)),
                                '{}') END AS before
                       FROM import_changes
                      WHERE job_id = $1 AND NOT created AND reverted_by IS NULL AND row_id > $2
                      ORDER BY row_id LIMIT $3",
                )
                .bind(self.request.reverts)
                .bind(after)
                .bind(self.request.chunk_rows.max(1) as i64)
                .fetch_all(&mut *tx)
                .await?;
            let Some(last) = images.last() else {
                return Ok(Verdict::Continue);
            };
            after = last.0;
            let ids: Vec<Uuid> = images.iter().map(|image| image.0).collect();
            let current: HashMap<Uuid, Stored> = sqlx::query(&select)
                .bind(self.request.tenant_id)
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(stored)
                .collect::<Result<_, _>>()?;
            let mut restorable = Vec::new();
            let mut conflicts = Vec::new();
            for (id, version, before) in images {
                let now = current.get(&id);
                match (now, before) {
                    (Some(now), Some(_)) if now.version == version => restorable.push(id),
                    (now, before) => {
                        conflicts.push(self.changed_conflict(now, before.map(|b| b.0).as_ref()))
                    }
                }
            }
            if !restorable.is_empty() {
                sqlx::query(&restore)
                    .bind(self.request.tenant_id)
                    .bind(self.request.reverts)
                    .bind(&restorable)
                    .bind(self.request.job_id)
                    .execute(&mut *tx)
                    .await?;
                if self.table.links {
                    sqlx::query(
                        "DELETE FROM contact_opportunities
                          WHERE job_id = $1 AND contact_id = ANY($2)",
                    )
                    .bind(self.request.reverts)
                    .bind(&restorable)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE import_changes SET reverted_by = $3
                      WHERE job_id = $1 AND row_id = ANY($2)",
                )
                .bind(self.request.reverts)
                .bind(&restorable)
                .bind(self.request.job_id)
                .execute(&mut *tx)
                .await?;
            }
            self.settle(tx).await?;
            self.counts.restored += restorable.len() as i64;
            let verdict = self.record(conflicts).await?;
            if verdict != Verdict::Continue {
                return Ok(verdict);
            }
        }
    }

    /// Commits a chunk, or rolls it back in a dry run.
    async fn settle(&self, tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), sqlx::Error> {
        if self.request.dry_run {
            tx.rollback().await
        } else {
            tx.commit().await
        }
    }

    /// Writes a chunk's conflicts (error CSV, failed rows) and reports progress.
    async fn record(
        &mut self,
        conflicts: Vec<(StringRecord, Vec<Problem>)>,
    ) -> Result<Verdict, ImportError> {
        let rows: Vec<RejectedRow> = conflicts
            .into_iter()
            .map(|(record, problems)| {
                self.line += 1;
                RejectedRow {
                    record,
                    line: self.line,
                    problems,
                }
            })
            .collect();
        self.counts.conflicts += rows.len() as i64;
        for row in &rows {
            self.errors.write(row)?;
            self.tally.add(&row.problems);
        }
        let Progress::Report(sink) = self.progress else {
            return Ok(Verdict::Continue);
        };
        if !rows.is_empty() {
            let summary = self.tally.summary();
            sink.rows_rejected(FailedRows {
                header: &self.header,
                rows: &rows,
                summary: &summary,
            })
            .await?;
        }
        let done = self.counts.deleted + self.counts.restored + self.counts.conflicts;
        sink.chunk_committed(done, done).await
    }

    /// The conflict of a row the job created that another write changed since.
    fn created_conflict(&self, now: Stored) -> (StringRecord, Vec<Problem>) {
        let record = self.record_of(Some(&now), None);
        let message = if now.updated_by_job == Some(self.request.reverts) {
            "created by this import and linked to contacts since: not deleted, which would \
             remove those links"
                .to_owned()
        } else {
            format!(
                "created by this import and changed since by {}: not deleted",
                writer(now.updated_by_job)
            )
        };
        let problem = Problem::of_row(ProblemCode::ChangedSince, message);
        (record, vec![problem])
    }

    /// The conflict of a row the job changed that is gone, changed since, or whose
    /// previous values are unknown (a NULL image: kept row by row by jobs that ran before
    /// the triggers, when another write came in between).
    fn changed_conflict(
        &self,
        now: Option<&Stored>,
        before: Option<&Values>,
    ) -> (StringRecord, Vec<Problem>) {
        let record = self.record_of(now, before);
        let Some(now) = now else {
            let problem = Problem::of_row(
                ProblemCode::ChangedSince,
                "deleted since this import: nothing to restore",
            );
            return (record, vec![problem]);
        };
        let by = writer(now.updated_by_job);
        let Some(before) = before else {
            let problem = Problem::of_row(
                ProblemCode::ChangedSince,
                format!(
                    "another write reached this row while the import changed it, so its \
                     earlier values are not known; left as it is (last changed by {by})"
                ),
            );
            return (record, vec![problem]);
        };
        // The columns whose value now is not the one before the import (what the import
        // changed, and what was changed since).
        let identity = self.table.identity.len();
        let mut problems: Vec<Problem> = self
            .table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, (column, _, header))| {
                let restore = before.get(*column)?;
                let current = now.values[identity + i].clone();
                (current != *restore).then(|| Problem {
                    code: ProblemCode::ChangedSince,
                    column: Some((*header).to_owned()),
                    message: format!(
                        "{header} is now {} after a change by {by}; before this import it was {}",
                        shown(current.as_deref()),
                        shown(restore.as_deref())
                    ),
                    value: current,
                })
            })
            .collect();
        if problems.is_empty() {
            let message = if self.table.links {
                format!("changed since by {by}: the links this import made stay")
            } else {
                format!("changed since by {by}, back to its values from before this import")
            };
            problems.push(Problem::of_row(ProblemCode::ChangedSince, message));
        }
        (record, problems)
    }

    /// A conflict's cells: the identity and each column's value now, beside its value
    /// before the import (empty where that is not known: images kept row by row before the
    /// triggers held only the columns a job changed).
    fn record_of(&self, now: Option<&Stored>, before: Option<&Values>) -> StringRecord {
        let value = |i: usize| {
            now.and_then(|n| n.values.get(i).cloned().flatten())
                .unwrap_or_default()
        };
        let mut record = StringRecord::new();
        let identity = self.table.identity.len();
        for i in 0..identity {
            record.push_field(&value(i));
        }
        for (i, (column, _, _)) in self.table.columns.iter().enumerate() {
            record.push_field(&value(identity + i));
            let restore = before
                .and_then(|b| b.get(*column).cloned().flatten())
                .unwrap_or_default();
            record.push_field(&restore);
        }
        record
    }
}

/// Who last wrote a row, in words.
fn writer(job: Option<Uuid>) -> String {
    match job {
        Some(job) => format!("job {job}"),
        None => "a write outside imports".to_owned(),
    }
}

/// A value for a message: quoted, or "empty".
fn shown(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => format!("{v:?}"),
        _ => "empty".to_owned(),
    }
}

/// The smallest version 7 UUID of instant `at`: ids made at or after it sort after it.
fn time_ordered_id(at: DateTime<Utc>) -> Uuid {
    let millis = at.timestamp_millis().max(0) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables' triggers (the latest migration that defines them) keep the values of
    /// the columns a revert restores, named and in the same order: a column added to one
    /// and not the other fails here.
    #[test]
    fn the_tables_triggers_keep_the_columns_a_revert_restores() {
        let migration = include_str!("../../migrations/20261207000007_change_sets.sql");
        for (function, table) in [
            ("keep_opportunity_changes", &OPPORTUNITIES),
            ("keep_contact_changes", &CONTACTS),
            ("keep_sales_target_changes", &SALES_TARGETS),
        ] {
            let start = migration
                .find(&format!("FUNCTION {function}()"))
                .unwrap_or_else(|| panic!("{function} is defined"));
            let body = &migration[start..];
            let body = &body[..body.find("\n$$;").unwrap()];
            let columns: Vec<&str> = table.columns.iter().map(|(c, _, _)| *c).collect();
            assert!(
                body.contains(&format!("'{{{}}}'", columns.join(","))),
                "{function} names {columns:?}"
            );
            let image = &body[body.find("ARRAY[").unwrap()..];
            let image: Vec<&str> = image[6..image.find(']').unwrap()]
                .split(',')
                .map(|value| {
                    value
                        .trim()
                        .trim_start_matches("o.")
                        .trim_end_matches("::text")
                })
                .collect();
            assert_eq!(
                image, columns,
                "{function} keeps each column's value in order"
            );
        }
    }

    #[test]
    fn ids_made_inside_the_window_sort_inside_it() {
        let start = Utc::now();
        let id = Uuid::now_v7();
        let end = Utc::now() + Duration::milliseconds(1);
        assert!(time_ordered_id(start) <= id);
        assert!(id < time_ordered_id(end));
    }

    #[test]
    fn conflicts_show_each_value_now_beside_the_one_a_revert_restores() {
        assert_eq!(
            OPPORTUNITIES.header()[..5],
            [
                "Opportunity ID",
                "Opportunity Name",
                "Opportunity Name before import",
                "Amount",
                "Amount before import"
            ]
        );
        assert!(OPPORTUNITIES.restore().contains(
            "amount = CASE WHEN i.before ? 'amount' THEN (i.before->>'amount')::numeric ELSE t.amount END"
        ));
    }
}
