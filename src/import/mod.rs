//! The import engine: reads an uploaded CSV as people really export it, validates each
//! row, upserts good rows into Postgres in chunks and writes bad rows to an error CSV.
//! It knows nothing about HTTP or the queue.

pub(crate) mod contacts;
pub mod csv_source;
pub(crate) mod engine;
pub mod error_file;
pub mod header;
pub(crate) mod kind;
pub(crate) mod limits;
pub mod opportunities;
pub(crate) mod records;
pub mod revert;
pub(crate) mod row;
pub(crate) mod sales_targets;
pub(crate) mod sources;
pub(crate) mod unprocessed;
pub(crate) mod upsert;
pub(crate) mod values;
pub mod workbook;

pub use engine::{
    FailedRows, ImportError, ImportOutcome, ImportRequest, Progress, ProgressSink, Verdict,
    run_import,
};
pub(crate) use kind::ImportKind;
pub use revert::{RevertCounts, RevertOutcome, RevertRequest, run_revert};

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

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The alias table in docs/api.md, rendered from the field specs.
    fn alias_table() -> String {
        let mut table = String::from("| kind | field | also accepted as |\n|---|---|---|\n");
        for kind in [
            JobKind::Opportunities,
            JobKind::Contacts,
            JobKind::SalesTargets,
        ] {
            for field in fields_of(kind) {
                let aliases = field
                    .aliases
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                table.push_str(&format!(
                    "| {} | {}{} | {aliases} |\n",
                    kind.as_str(),
                    field.name,
                    if field.required { "\\*" } else { "" }
                ));
            }
        }
        table
    }

    #[test]
    fn api_guide_documents_every_supported_column_and_alias() {
        let guide =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
        let table = alias_table();
        assert!(
            guide.contains(&table),
            "docs/api.md must contain this alias table:\n{table}"
        );
    }
}
