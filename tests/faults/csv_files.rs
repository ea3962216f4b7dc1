//! Upload files with known expected outcomes, and holding an import mid-file by locking
//! one of its keys.

use std::collections::BTreeSet;

use sqlx::{PgPool, Postgres, Transaction};

/// An opportunities CSV and what importing it must give.
pub struct OppFile {
    /// The file.
    pub csv: String,
    /// Data rows.
    pub rows: i64,
    /// Rows that must be error rows (an amount that is not a number).
    pub errors: i64,
    /// The Opportunity IDs of the good rows.
    pub ids: BTreeSet<String>,
}

/// `rows` rows with ids `<prefix>-<n>`; every `bad_every`th row (if any) has a bad amount;
/// `hold` puts that id at row `rows / 2` (an existing opportunity the test can lock).
pub fn opportunities(
    prefix: &str,
    rows: usize,
    bad_every: Option<usize>,
    hold: Option<&str>,
) -> OppFile {
    let mut csv = String::from("Opportunity ID,Opportunity Name,Amount,Close Date\n");
    let mut ids = BTreeSet::new();
    let mut errors = 0;
    for i in 0..rows {
        let id = match hold {
            Some(hold) if i == rows / 2 => hold.to_owned(),
            _ => format!("{prefix}-{i}"),
        };
        if bad_every.is_some_and(|n| i % n == 1) && Some(id.as_str()) != hold {
            csv.push_str(&format!("{id},\"Deal {i}, bad\",not-a-number,2017-02-15\n"));
            errors += 1;
        } else {
            csv.push_str(&format!("{id},\"Deal {i}, {prefix}\",{i}.50,2017-02-15\n"));
            ids.insert(id);
        }
    }
    OppFile {
        csv,
        rows: rows as i64,
        errors,
        ids,
    }
}

/// A file of the opportunities `ids` and nothing else: the keys a scenario then holds.
pub fn held(ids: &[&str]) -> OppFile {
    let rows: Vec<String> = ids.iter().map(|h| format!("{h},held")).collect();
    OppFile {
        csv: format!("Opportunity ID,Opportunity Name\n{}\n", rows.join("\n")),
        rows: ids.len() as i64,
        errors: 0,
        ids: ids.iter().map(|h| (*h).to_owned()).collect(),
    }
}

/// Locks the opportunities `ids` (they must exist) in a transaction the caller keeps open:
/// an import that upserts one of them waits at that chunk until the transaction ends.
pub async fn hold(db: &PgPool, ids: &[&str]) -> Transaction<'static, Postgres> {
    let mut tx = db.begin().await.unwrap();
    let locked: Vec<(String,)> = sqlx::query_as(
        "SELECT external_opp_id FROM opportunities WHERE external_opp_id = ANY($1) FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(locked.len(), ids.len(), "every held key exists");
    tx
}
