//! What differs between Opportunities, Contacts and Sales Targets.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, hash_map::Entry},
    future::Future,
    hash::Hash,
};

use foldhash::fast::RandomState;

use csv::StringRecord;
use sqlx::{PgConnection, error::BoxDynError, postgres::PgArguments};
use uuid::Uuid;

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
};
use crate::domain::Problem;

/// What became of imported rows. Every row that is not refused counts exactly once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowOutcomes {
    /// Rows that created a record.
    pub created: i64,
    /// Rows that changed a stored record (a value, or for contacts a new link).
    pub updated: i64,
    /// Rows whose values were all stored already; nothing was written for them.
    pub unchanged: i64,
}

impl RowOutcomes {
    /// The outcome of an upsert of `keys` distinct keys that reported `created` and
    /// `updated` of them: the others were unchanged.
    pub(crate) fn of_statement(keys: usize, created: i64, updated: i64) -> Self {
        Self {
            created,
            updated,
            unchanged: keys as i64 - created - updated,
        }
    }
}

impl std::ops::AddAssign for RowOutcomes {
    fn add_assign(&mut self, other: Self) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// Whose rows a chunk writes, and the job whose changes are kept for a revert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteScope {
    /// The tenant that owns the rows.
    pub tenant_id: Uuid,
    /// The job writing them: created rows, changed rows and their previous values are
    /// recorded under it (see `import::revert`). `None` writes as before undo existed
    /// (benchmarks compare the two).
    pub job_id: Option<Uuid>,
}

/// A chunk's upsert with its arguments already encoded, ready to send.
pub struct PreparedChunk {
    /// The statement (an `Upsert::counting_statement`): answers (created, updated).
    pub sql: String,
    /// Its bind parameters, encoded in Postgres' wire format.
    pub args: PgArguments,
    /// Distinct keys in the statement.
    pub keys: usize,
    /// The outcomes of rows that repeat a key of the chunk (merged into its first row).
    pub repeats: RowOutcomes,
}

impl PreparedChunk {
    /// Runs the upsert and counts what became of the chunk's rows.
    pub(crate) async fn run(self, conn: &mut PgConnection) -> Result<ChunkResult, sqlx::Error> {
        let (created, updated): (i64, i64) = sqlx::query_as_with(&self.sql, self.args)
            .fetch_one(conn)
            .await?;
        let mut outcomes = RowOutcomes::of_statement(self.keys, created, updated);
        outcomes += self.repeats;
        Ok(ChunkResult {
            rejected: Vec::new(),
            outcomes,
        })
    }
}

/// The result of writing one chunk.
#[derive(Debug, Default)]
pub struct ChunkResult {
    /// Rows of the chunk (by index) that the database side refused, with the reason.
    pub rejected: Vec<(usize, Problem)>,
    /// What became of the rows that were not refused.
    pub outcomes: RowOutcomes,
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
        _scope: WriteScope,
        _columns: &ColumnMap,
        _rows: &[Self::Row],
    ) -> Option<Result<PreparedChunk, BoxDynError>> {
        None
    }

    /// Upserts a chunk of rows in one set-based statement (or a few), updating only the
    /// columns present in the file, and counts what became of each row. Runs on one
    /// connection, which may be inside the transaction of a dry run.
    fn write_chunk(
        conn: &mut PgConnection,
        scope: WriteScope,
        columns: &ColumnMap,
        rows: &[Self::Row],
    ) -> impl Future<Output = Result<ChunkResult, sqlx::Error>> + Send;
}

/// A chunk's rows with one row per key, and what became of the rows merged away.
pub(crate) struct Merged<'r, R: Clone> {
    /// One row per key, in first-seen order.
    pub rows: Cow<'r, [R]>,
    /// The rows that repeated an earlier key of the chunk: each is `updated` when it
    /// changed what the earlier rows of its key gave, `unchanged` otherwise.
    pub repeats: RowOutcomes,
}

/// The rows of a chunk with one row per key, in first-seen order, later rows merged into
/// earlier ones by `merge`, which tells whether the later row changed anything.
/// `ON CONFLICT DO UPDATE` cannot touch one row twice in a statement; merging gives the
/// result of applying the rows one after another. Borrows the chunk unchanged when no key
/// repeats (the usual case).
///
/// Counting: the first row of a key gets the outcome of the key's merged values against
/// the stored data (created, updated or unchanged); each later row of the key counts as
/// updated when it changed a value, as unchanged otherwise. So created + updated +
/// unchanged is the number of rows, and a key repeated across chunks counts alike.
pub(crate) fn merge_per_key<'r, R, K>(
    rows: &'r [R],
    key: impl Fn(&'r R) -> K,
    mut merge: impl FnMut(&mut R, &R) -> bool,
) -> Merged<'r, R>
where
    R: Clone,
    K: Hash + Eq,
{
    // foldhash: several times faster than SipHash on short keys, and still seeded per map.
    let mut seen = HashSet::with_capacity_and_hasher(rows.len(), RandomState::default());
    if rows.iter().all(|row| seen.insert(key(row))) {
        return Merged {
            rows: Cow::Borrowed(rows),
            repeats: RowOutcomes::default(),
        };
    }
    let mut slots: HashMap<K, usize, _> =
        HashMap::with_capacity_and_hasher(rows.len(), RandomState::default());
    let mut merged: Vec<R> = Vec::with_capacity(rows.len());
    let mut repeats = RowOutcomes::default();
    for row in rows {
        match slots.entry(key(row)) {
            Entry::Occupied(slot) => {
                if merge(&mut merged[*slot.get()], row) {
                    repeats.updated += 1;
                } else {
                    repeats.unchanged += 1;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(merged.len());
                merged.push(row.clone());
            }
        }
    }
    Merged {
        rows: Cow::Owned(merged),
        repeats,
    }
}

/// Runs `merge` and tells whether it changed `into`: the `merge` argument of
/// `merge_per_key` for rows compared field by field.
pub(crate) fn merge_changed<R: Clone + PartialEq>(
    into: &mut R,
    later: &R,
    merge: fn(&mut R, &R),
) -> bool {
    let before = into.clone();
    merge(into, later);
    *into != before
}

/// A stable hash of an upsert key, for `ImportKind::partition_key`.
pub(crate) fn key_hash(key: impl Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(key)
}

/// Takes a later row's value unless its cell was empty.
pub(crate) fn newer<T: Clone>(into: &mut Option<T>, later: &Option<T>) {
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
                merge_changed(into, later, |into, later| {
                    newer(&mut into.1, &later.1);
                    newer(&mut into.2, &later.2);
                })
            },
        );
        assert_eq!(
            merged.rows.as_ref(),
            &[("a", Some(3), Some("y")), ("b", None, None)]
        );
        assert_eq!(
            merged.repeats,
            RowOutcomes {
                created: 0,
                updated: 2,
                unchanged: 0
            }
        );
        let same = vec![("a", Some(1), None::<&str>), ("a", Some(1), None)];
        let merged = merge_per_key(
            &same,
            |r| r.0,
            |into, later| merge_changed(into, later, |into, later| newer(&mut into.1, &later.1)),
        );
        assert_eq!(merged.repeats.unchanged, 1, "a repeat that changes nothing");
        let unique = vec![("a", Some(1), None::<&str>), ("b", None, None)];
        assert!(matches!(
            merge_per_key(&unique, |r| r.0, |_, _| false).rows,
            Cow::Borrowed(_)
        ));
    }
}
