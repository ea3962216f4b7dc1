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

/// The rows of a chunk with only the last occurrence of each key kept, in order.
/// `ON CONFLICT DO UPDATE` cannot touch one row twice in a statement, and applying
/// only the last occurrence gives the same result as applying them one after another.
pub fn last_per_key<'r, R, K>(rows: &'r [R], key: impl Fn(&'r R) -> K) -> Vec<&'r R>
where
    K: std::hash::Hash + Eq,
{
    let mut last = std::collections::HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        last.insert(key(row), i);
    }
    rows.iter()
        .enumerate()
        .filter(|(i, row)| last[&key(row)] == *i)
        .map(|(_, row)| row)
        .collect()
}
