//! What differs between Opportunities, Contacts and Sales Targets.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, hash_map::Entry},
    future::Future,
    hash::Hash,
};

use csv::StringRecord;
use sqlx::{PgPool, error::BoxDynError, postgres::PgArguments};
use uuid::Uuid;

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
};
use crate::domain::Problem;

/// A chunk's upsert with its arguments already encoded, ready to send.
pub struct PreparedChunk {
    /// The statement.
    pub sql: String,
    /// Its bind parameters, encoded in Postgres' wire format.
    pub args: PgArguments,
}

/// The result of writing one chunk.
#[derive(Debug, Default)]
pub struct ChunkResult {
    /// Rows of the chunk (by index) that the database side refused, with the reason.
    pub rejected: Vec<(usize, Problem)>,
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
    ) -> Result<Self::Row, Vec<Problem>>;

    /// A hash of the row's upsert key. Rows with equal keys must hash alike: they go to
    /// the same writer, which applies them in file order.
    fn partition_key(row: &Self::Row) -> u64;

    /// Builds a chunk's upsert and encodes its arguments. The engine calls this on the
    /// parser thread so that encoding overlaps with Postgres executing the previous
    /// chunk. Kinds that must read the database first (contacts) return `None` and are
    /// written by `write_chunk` alone.
    fn prepare(
        _tenant_id: Uuid,
        _columns: &ColumnMap,
        _rows: &[Self::Row],
    ) -> Option<Result<PreparedChunk, BoxDynError>> {
        None
    }

    /// Upserts a chunk of rows in one set-based statement (or a few), updating only the
    /// columns present in the file.
    fn write_chunk(
        pool: &PgPool,
        tenant_id: Uuid,
        columns: &ColumnMap,
        rows: &[Self::Row],
    ) -> impl Future<Output = Result<ChunkResult, sqlx::Error>> + Send;
}

/// The rows of a chunk with one row per key, in first-seen order, later rows merged into
/// earlier ones by `merge`. `ON CONFLICT DO UPDATE` cannot touch one row twice in a
/// statement; merging gives the result of applying the rows one after another.
/// Borrows the chunk unchanged when no key repeats (the usual case).
pub fn merge_per_key<'r, R, K>(
    rows: &'r [R],
    key: impl Fn(&'r R) -> K,
    merge: impl Fn(&mut R, &R),
) -> Cow<'r, [R]>
where
    R: Clone,
    K: Hash + Eq,
{
    let mut seen = HashSet::with_capacity(rows.len());
    if rows.iter().all(|row| seen.insert(key(row))) {
        return Cow::Borrowed(rows);
    }
    let mut slots: HashMap<K, usize> = HashMap::with_capacity(rows.len());
    let mut merged: Vec<R> = Vec::with_capacity(rows.len());
    for row in rows {
        match slots.entry(key(row)) {
            Entry::Occupied(slot) => merge(&mut merged[*slot.get()], row),
            Entry::Vacant(slot) => {
                slot.insert(merged.len());
                merged.push(row.clone());
            }
        }
    }
    Cow::Owned(merged)
}

/// A stable hash of an upsert key, for `ImportKind::partition_key`.
pub fn key_hash(key: impl Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

/// Takes a later row's value unless its cell was empty.
pub fn newer<T: Clone>(into: &mut Option<T>, later: &Option<T>) {
    if later.is_some() {
        into.clone_from(later);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_merge_later_values_over_earlier_ones() {
        let rows = vec![
            ("a", Some(1), Some("x")),
            ("b", None, None),
            ("a", None, Some("y")),
            ("a", Some(3), None),
        ];
        let merged = merge_per_key(
            &rows,
            |r| r.0,
            |into, later| {
                newer(&mut into.1, &later.1);
                newer(&mut into.2, &later.2);
            },
        );
        assert_eq!(
            merged.as_ref(),
            &[("a", Some(3), Some("y")), ("b", None, None)]
        );
        let unique = vec![("a", Some(1), None::<&str>), ("b", None, None)];
        assert!(matches!(
            merge_per_key(&unique, |r| r.0, |_, _| {}),
            Cow::Borrowed(_)
        ));
    }
}
