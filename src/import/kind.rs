//! What differs between Opportunities, Contacts and Sales Targets.

use std::future::Future;

use csv::StringRecord;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
};

/// The result of writing one chunk.
#[derive(Debug, Default)]
pub struct ChunkResult {
    /// Rows of the chunk (by index) that the database side refused, with the reason.
    pub rejected: Vec<(usize, String)>,
}

/// One kind of import: its columns, how a row is validated and how a chunk is written.
pub trait ImportKind: Send + Sync + 'static {
    /// A validated row, ready for the database.
    type Row: Send + 'static;

    /// The supported columns, required ones marked.
    const FIELDS: &'static [FieldSpec];

    /// Validates one record; on failure returns every problem of the row.
    fn parse(
        columns: &ColumnMap,
        record: &StringRecord,
        format: &CsvFormat,
    ) -> Result<Self::Row, Vec<String>>;

    /// Upserts a chunk of rows in one set-based statement (or a few), updating only the
    /// columns present in the file.
    fn write_chunk(
        pool: &PgPool,
        tenant_id: Uuid,
        columns: &ColumnMap,
        rows: &[Self::Row],
    ) -> impl Future<Output = Result<ChunkResult, sqlx::Error>> + Send;
}
