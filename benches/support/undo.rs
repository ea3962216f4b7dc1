//! What keeping before-images for an undo (issue 22) costs an import: the engine
//! (`import::run`, in this process) with `job_id: None`, the statement as it was before
//! undo existed, against `job_id: Some(job)`, which stamps the rows with the job and
//! names it to the table's trigger, which writes the before-images of the changed rows
//! (one `import_change_sets` record per statement) in the same transaction. Two paths:
//! new rows into an empty table, and updates of every stored row. The baseline runs with
//! the trigger disabled, as the table was before undo.
//!
//! Both variants run on one long-lived pool (as a worker's), alternating which goes
//! first, after an untimed warm-up pair; each timed import starts from the same state
//! (tables emptied, the update path's rows imported again and vacuumed, then a
//! `CHECKPOINT`; autovacuum off for the section's tables). The
//! rows the kept variant updates were created by a kept import (another job), as every
//! row is once undo is on; the baseline's without a job, as before undo. The figure is
//! the median of the per-round ratios.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use batch_import::{
    db::jobs::{NewJob, insert},
    domain::JobKind,
    import::{self, ImportRequest, Progress},
};
use sqlx::PgPool;
use uuid::Uuid;

use super::report::{group, median, spread};

/// The update path's target: within 15 % of the baseline.
pub const UPDATE_MAX_RATIO: f64 = 1.15;
/// The new-rows path's target: unchanged, within the noise of this machine.
pub const NEW_MAX_RATIO: f64 = 1.05;

/// How an import is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// `job_id: None`: no stamps, no before-images.
    Baseline,
    /// `job_id: Some(job)`: stamps and before-images kept.
    Kept,
}

/// The files and settings of the section.
pub struct Setup<'a> {
    pub pool: &'a PgPool,
    pub tenant_id: Uuid,
    /// The new rows.
    pub upload: &'a Path,
    /// The same keys with other values.
    pub changed: &'a Path,
    /// Rows of each file.
    pub rows: u64,
    /// Where the engine's error files go (none is expected).
    pub dir: &'a Path,
    /// Timed rounds (each times both variants on both paths).
    pub runs: usize,
    pub chunk_rows: usize,
    pub writers: usize,
}

/// What the section measured.
#[derive(Debug, Default)]
pub struct UndoResults {
    /// Seconds per round: (baseline, kept).
    pub new_rows: Vec<(f64, f64)>,
    pub updates: Vec<(f64, f64)>,
    /// CPU seconds of the local Postgres' processes per round, the same way (empty when
    /// the server is not on this machine): steadier than wall time on a shared machine.
    pub new_rows_cpu: Vec<(f64, f64)>,
    pub updates_cpu: Vec<(f64, f64)>,
    /// Rows the update path updated.
    pub updated_rows: i64,
    /// Of the kept update: records of `import_change_sets`, rows they keep, the table's
    /// total size (heap, index, TOAST) after `VACUUM ANALYZE` and the images' stored
    /// (compressed) bytes.
    pub change_sets: i64,
    pub changes_rows: i64,
    pub changes_bytes: i64,
    pub images_bytes: i64,
    /// Mean `pg_column_size` of a stored row and of the same row without the three new
    /// columns (`version`, `created_by_job`, `updated_by_job`): as the baseline writes
    /// it (no stamps), as the kept variant creates it (both stamps), and after a kept
    /// update of rows a kept import created (both stamps).
    pub row_baseline: RowSize,
    pub row_kept_new: RowSize,
    pub row_kept_updated: RowSize,
    /// `pg_table_size('opportunities')` after the new rows, per variant.
    pub table_baseline: i64,
    pub table_kept: i64,
    pub chunk_rows: usize,
    pub writers: usize,
}

/// Mean bytes of a row, with and without the three columns undo added.
#[derive(Debug, Default, Clone, Copy)]
pub struct RowSize {
    pub with: f64,
    pub without: f64,
}

impl RowSize {
    fn added(&self) -> f64 {
        self.with - self.without
    }
}

/// Runs the section: a warm-up round, then `setup.runs` timed ones.
pub async fn measure(setup: &Setup<'_>) -> anyhow::Result<UndoResults> {
    let mut r = UndoResults {
        chunk_rows: setup.chunk_rows,
        writers: setup.writers,
        ..Default::default()
    };
    let user_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE tenant_id = $1 LIMIT 1")
        .bind(setup.tenant_id)
        .fetch_one(setup.pool)
        .await
        .context("the bench tenant's user")?;
    let mut jobs = Vec::new();
    autovacuum(setup.pool, false).await?;
    for round in 0..=setup.runs {
        // Alternate which variant goes first, so that a trend of the machine's load
        // does not favour one of them.
        let order = match round % 2 {
            0 => [Variant::Baseline, Variant::Kept],
            _ => [Variant::Kept, Variant::Baseline],
        };
        let (mut new, mut update) = ((0.0, 0.0), (0.0, 0.0));
        let (mut new_cpu, mut update_cpu) = ((0.0, 0.0), (0.0, 0.0));
        for variant in order {
            // The kept variant's update path starts from rows a kept import created (as
            // every row is once undo is on, so the update does not widen them), the
            // baseline's from rows created as before undo.
            let (job, creator) = match variant {
                Variant::Baseline => (None, None),
                Variant::Kept => {
                    let (id, creator) = (
                        job_row(setup, user_id).await?,
                        job_row(setup, user_id).await?,
                    );
                    jobs.extend([id, creator]);
                    (Some(id), Some(creator))
                }
            };

            reset(setup.pool).await?;
            trigger(setup.pool, variant).await?;
            let cpu = postgres_cpu_seconds();
            let (seconds, counts) = import(setup, setup.upload, job).await?;
            set(&mut new_cpu, variant, postgres_cpu_seconds() - cpu);
            ensure!(
                counts.created_rows == setup.rows as i64 && counts.total_error_rows == 0,
                "undo, new rows ({variant:?}): {counts:?}"
            );
            if round == setup.runs {
                let (row, table) = row_size(setup).await?;
                match variant {
                    Variant::Baseline => (r.row_baseline, r.table_baseline) = (row, table),
                    Variant::Kept => (r.row_kept_new, r.table_kept) = (row, table),
                }
            }
            set(&mut new, variant, seconds);

            reset(setup.pool).await?;
            import(setup, setup.upload, creator).await?;
            sqlx::raw_sql("VACUUM ANALYZE opportunities")
                .execute(setup.pool)
                .await?;
            checkpoint(setup.pool).await?;
            trigger(setup.pool, variant).await?;
            let cpu = postgres_cpu_seconds();
            let (seconds, counts) = import(setup, setup.changed, job).await?;
            set(&mut update_cpu, variant, postgres_cpu_seconds() - cpu);
            ensure!(
                counts.created_rows == 0 && counts.updated_rows > setup.rows as i64 * 9 / 10,
                "undo, updates ({variant:?}): {counts:?}"
            );
            r.updated_rows = counts.updated_rows;
            if variant == Variant::Kept {
                let kept: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(sum(cardinality(row_ids)), 0)
                       FROM import_change_sets WHERE job_id = $1",
                )
                .bind(job)
                .fetch_one(setup.pool)
                .await?;
                ensure!(
                    kept == counts.updated_rows,
                    "undo: {kept} before-images for {} updated rows",
                    counts.updated_rows
                );
                if round == setup.runs {
                    r.row_kept_updated = row_size(setup).await?.0;
                    changes_size(setup, &mut r).await?;
                }
            }
            set(&mut update, variant, seconds);
        }
        if round == 0 {
            eprintln!(
                "  undo warm-up: new {:.3}/{:.3} s, update {:.3}/{:.3} s (baseline/kept)",
                new.0, new.1, update.0, update.1
            );
            continue;
        }
        eprintln!(
            "  undo round {round}/{}: new rows {:.3} s baseline, {:.3} s kept ({:.3}×); updates {:.3} s, {:.3} s ({:.3}×)",
            setup.runs,
            new.0,
            new.1,
            new.1 / new.0,
            update.0,
            update.1,
            update.1 / update.0
        );
        eprintln!(
            "    Postgres CPU: new rows {:.2}/{:.2} s ({:.3}×), updates {:.2}/{:.2} s ({:.3}×)",
            new_cpu.0,
            new_cpu.1,
            new_cpu.1 / new_cpu.0,
            update_cpu.0,
            update_cpu.1,
            update_cpu.1 / update_cpu.0
        );
        r.new_rows.push(new);
        r.updates.push(update);
        if new_cpu.0 > 0.0 && update_cpu.0 > 0.0 {
            r.new_rows_cpu.push(new_cpu);
            r.updates_cpu.push(update_cpu);
        }
    }
    // Leave the database as the rest of the bench expects it: the trigger on, no jobs of
    // this section (their before-images go with them), empty tables.
    trigger(setup.pool, Variant::Kept).await?;
    autovacuum(setup.pool, true).await?;
    sqlx::query("DELETE FROM import_jobs WHERE id = ANY($1)")
        .bind(&jobs)
        .execute(setup.pool)
        .await?;
    reset(setup.pool).await?;
    Ok(r)
}

/// CPU time (user and system) of every process named `postgres` on this machine, in
/// seconds: the server's backends and helpers. 0 when there is none (a remote server).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let ticks: u64 = entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            // pid (comm) state ppid … utime stime: fields 14 and 15, counted after comm.
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            (comm == "postgres").then_some(())?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    // Linux counts in USER_HZ, 100 a second on every architecture it runs on.
    ticks as f64 / 100.0
}

fn set(pair: &mut (f64, f64), variant: Variant, seconds: f64) {
    match variant {
        Variant::Baseline => pair.0 = seconds,
        Variant::Kept => pair.1 = seconds,
    }
}

/// A job row for the kept variant: `import_change_sets` refers to it. It is never queued
/// (no worker runs during this section) and is deleted at the end.
async fn job_row(setup: &Setup<'_>, user_id: Uuid) -> anyhow::Result<Uuid> {
    let job = NewJob {
        id: Uuid::now_v7(),
        tenant_id: setup.tenant_id,
        user_id,
        kind: JobKind::Opportunities,
        file_name: "undo-bench.csv".into(),
        name: None,
        file_size: 0,
        column_mapping: None,
        sheet: None,
        send_error_email: false,
        dry_run: false,
        idempotency_key: None,
        file_sha256: None,
        parent_job_id: None,
        reverts_job_id: None,
    };
    Ok(insert(setup.pool, &job, Uuid::new_v4()).await?.id)
}

/// Empties the opportunities and the before-images, then a `CHECKPOINT` (as the rest of
/// the bench does before a timed step).
async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("TRUNCATE opportunities, import_changes, import_change_sets CASCADE")
        .execute(pool)
        .await?;
    checkpoint(pool).await
}

/// The table's before-image trigger off for the baseline (the table as before undo: not
/// even the transition tables are collected), on for the kept variant.
async fn trigger(pool: &PgPool, variant: Variant) -> anyhow::Result<()> {
    let state = match variant {
        Variant::Baseline => "DISABLE",
        Variant::Kept => "ENABLE",
    };
    sqlx::raw_sql(&format!(
        "ALTER TABLE opportunities {state} TRIGGER keep_changes"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

/// Autovacuum of the tables the section writes, off while it measures: a vacuum or an
/// analyze that starts during a timed import (94,000 rows inserted or updated set it
/// off) takes a core from whichever variant it lands on. The setup vacuums instead.
async fn autovacuum(pool: &PgPool, on: bool) -> anyhow::Result<()> {
    sqlx::raw_sql(&format!(
        "ALTER TABLE opportunities SET (autovacuum_enabled = {on});
         ALTER TABLE import_change_sets SET (autovacuum_enabled = {on});"
    ))
    .execute(pool)
    .await?;
    Ok(())
}

async fn checkpoint(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// One import of `file` through the engine; its wall time and counts.
async fn import(
    setup: &Setup<'_>,
    file: &Path,
    job_id: Option<Uuid>,
) -> anyhow::Result<(f64, batch_import::domain::ImportCounts)> {
    let request = ImportRequest {
        tenant_id: setup.tenant_id,
        job_id,
        path: file.to_owned(),
        error_path: error_path(setup.dir),
        mapping: None,
        sheet: None,
        chunk_rows: setup.chunk_rows,
        writers: setup.writers,
        dry_run: false,
    };
    let started = Instant::now();
    let outcome = import::run(JobKind::Opportunities, setup.pool, request, Progress::None).await?;
    Ok((started.elapsed().as_secs_f64(), outcome.counts))
}

fn error_path(dir: &Path) -> PathBuf {
    dir.join("undo-bench.errors.csv")
}

/// The mean size of a stored row, with and without the three columns undo added (the
/// same values as a row of every other column), and the table's size.
async fn row_size(setup: &Setup<'_>) -> anyhow::Result<(RowSize, i64)> {
    sqlx::raw_sql("VACUUM ANALYZE opportunities")
        .execute(setup.pool)
        .await?;
    let columns: String = sqlx::query_scalar(
        "SELECT string_agg('o.' || quote_ident(column_name), ', ' ORDER BY ordinal_position)
           FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = 'opportunities'
            AND column_name NOT IN ('version', 'created_by_job', 'updated_by_job')",
    )
    .fetch_one(setup.pool)
    .await?;
    let (with, without, table) = sqlx::query_as(&format!(
        "SELECT avg(pg_column_size(o.*))::float8, avg(pg_column_size(ROW({columns})))::float8,
                pg_table_size('opportunities')
           FROM opportunities o WHERE tenant_id = $1"
    ))
    .bind(setup.tenant_id)
    .fetch_one(setup.pool)
    .await?;
    Ok((RowSize { with, without }, table))
}

/// The before-images' disk, after the kept update.
async fn changes_size(setup: &Setup<'_>, r: &mut UndoResults) -> anyhow::Result<()> {
    sqlx::raw_sql("VACUUM ANALYZE import_change_sets")
        .execute(setup.pool)
        .await?;
    (
        r.change_sets,
        r.changes_rows,
        r.changes_bytes,
        r.images_bytes,
    ) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(cardinality(row_ids)), 0),
                pg_total_relation_size('import_change_sets'),
                COALESCE(sum(pg_column_size(befores)), 0)::int8
           FROM import_change_sets",
    )
    .fetch_one(setup.pool)
    .await?;
    Ok(())
}

impl UndoResults {
    /// The Markdown table and the disk figures.
    pub fn print(&self, rows: u64, upload: &str, changed: &str) {
        println!(
            "\n## Undo: the cost of keeping before-images (engine in process, {} rows, chunks of {}, {} writers, {} rounds)\n",
            group(rows),
            self.chunk_rows,
            self.writers,
            self.new_rows.len()
        );
        println!(
            "| path | file | baseline s (`job_id: None`) | kept s (`job_id: Some`) | kept / baseline, per round | target | met |"
        );
        println!("|---|---|---:|---:|---|---|---|");
        for (path, file, samples, max) in [
            ("new rows", upload, &self.new_rows, NEW_MAX_RATIO),
            ("updates", changed, &self.updates, UPDATE_MAX_RATIO),
            (
                "new rows, Postgres CPU",
                upload,
                &self.new_rows_cpu,
                NEW_MAX_RATIO,
            ),
            (
                "updates, Postgres CPU",
                changed,
                &self.updates_cpu,
                UPDATE_MAX_RATIO,
            ),
        ] {
            if samples.is_empty() {
                continue;
            }
            let baseline: Vec<f64> = samples.iter().map(|s| s.0).collect();
            let kept: Vec<f64> = samples.iter().map(|s| s.1).collect();
            let ratios: Vec<f64> = samples.iter().map(|s| s.1 / s.0).collect();
            let ratio = median(&ratios);
            println!(
                "| {path} | {file} | {} | {} | {} | ≤ {max:.2} | {} |",
                spread(&baseline, 3),
                spread(&kept, 3),
                spread(&ratios, 3),
                if ratio <= max { "✓" } else { "✗" }
            );
        }
        let per_row = self.changes_bytes as f64 / self.updated_rows.max(1) as f64;
        println!(
            "\nimport_change_sets after the kept update: {} records keeping {} rows for {} updated, \
             {:.2} MB in all (heap, indexes, TOAST; after VACUUM ANALYZE) = {per_row:.0} bytes per \
             updated row, of which the images (lz4) {:.0}",
            group(self.change_sets as u64),
            group(self.changes_rows as u64),
            group(self.updated_rows as u64),
            self.changes_bytes as f64 / 1_048_576.0,
            self.images_bytes as f64 / self.updated_rows.max(1) as f64,
        );
        let row = |size: RowSize| {
            format!(
                "{:.1} bytes (+{:.1} over {:.1} without the three columns)",
                size.with,
                size.added(),
                size.without
            )
        };
        println!(
            "row of opportunities (mean pg_column_size): as the baseline writes it (version, NULL stamps) {}; \
             created by a kept import (both stamps) {}; after a kept update of rows a kept import created \
             (both stamps) {}",
            row(self.row_baseline),
            row(self.row_kept_new),
            row(self.row_kept_updated)
        );
        println!(
            "pg_table_size('opportunities') after the new rows: baseline {:.1} MB, kept {:.1} MB (+{:.1} %)",
            self.table_baseline as f64 / 1_048_576.0,
            self.table_kept as f64 / 1_048_576.0,
            (self.table_kept as f64 / self.table_baseline as f64 - 1.0) * 100.0
        );
    }
}
