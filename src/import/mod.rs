//! The import engine: reads an uploaded CSV as people really export it, validates each
//! row, upserts good rows into Postgres in chunks and writes bad rows to an error CSV.
//! It knows nothing about HTTP or the queue.

pub mod contacts;
pub mod csv_source;
pub mod engine;
pub mod error_file;
pub mod header;
pub mod kind;
pub mod opportunities;
pub mod row;
pub mod sales_targets;
pub mod upsert;
pub mod values;

pub use engine::{ImportError, ImportOutcome, ImportRequest, Progress, run_import};
pub use kind::ImportKind;

use crate::domain::JobKind;

/// The supported columns of a kind of import.
pub fn fields_of(kind: JobKind) -> &'static [header::FieldSpec] {
    match kind {
        JobKind::Opportunities => <opportunities::Opportunities as ImportKind>::FIELDS,
        JobKind::Contacts => <contacts::Contacts as ImportKind>::FIELDS,
        JobKind::SalesTargets => <sales_targets::SalesTargets as ImportKind>::FIELDS,
    }
}

/// Runs the import of `kind`: the one entry point for workers and the `import` command.
pub async fn run(
    kind: JobKind,
    pool: &sqlx::PgPool,
    request: ImportRequest,
    progress: Progress<'_>,
) -> Result<ImportOutcome, ImportError> {
    match kind {
        JobKind::Opportunities => {
            run_import::<opportunities::Opportunities>(pool, request, progress).await
        }
        JobKind::Contacts => run_import::<contacts::Contacts>(pool, request, progress).await,
        JobKind::SalesTargets => {
            run_import::<sales_targets::SalesTargets>(pool, request, progress).await
        }
    }
}
