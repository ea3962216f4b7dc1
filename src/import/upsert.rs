//! Builds `INSERT … SELECT FROM UNNEST(…) ON CONFLICT … DO UPDATE` statements: one
//! round trip per chunk, whatever its size, updating only the columns present in the file.

/// What an existing row does with a column's new value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Keep the stored value (key columns).
    Keep,
    /// Take the file's value unless its cell was empty: like the CRM importers people
    /// know, a blank cell never wipes what is stored.
    Update,
    /// Take the new value only where the stored one is empty (values derived from
    /// other columns must not overwrite what someone entered).
    FillEmpty,
}

/// A set-based upsert under construction. `$1` is the tenant; column arrays follow in
/// the order they are added, and must be bound in that order.
pub struct Upsert {
    table: &'static str,
    conflict: &'static str,
    columns: Vec<&'static str>,
    arrays: Vec<String>,
    updates: Vec<String>,
}

impl Upsert {
    /// An upsert into `table` keyed by the `conflict` target, e.g. `(tenant_id, external_opp_id)`.
    pub fn new(table: &'static str, conflict: &'static str) -> Self {
        Self {
            table,
            conflict,
            columns: Vec::new(),
            arrays: Vec::new(),
            updates: Vec::new(),
        }
    }

    /// Adds a column bound as a `pg_type[]` array.
    pub fn column(
        &mut self,
        name: &'static str,
        pg_type: &str,
        on_conflict: OnConflict,
    ) -> &mut Self {
        self.arrays
            .push(format!("${}::{pg_type}[]", self.columns.len() + 2));
        self.columns.push(name);
        match on_conflict {
            OnConflict::Keep => {}
            OnConflict::Update => self.updates.push(format!(
                "{name} = COALESCE(EXCLUDED.{name}, {}.{name})",
                self.table
            )),
            OnConflict::FillEmpty => self.updates.push(format!(
                "{name} = COALESCE({}.{name}, EXCLUDED.{name})",
                self.table
            )),
        }
        self
    }

    /// The number of the next bind parameter after the column arrays.
    pub fn next_param(&self) -> usize {
        self.columns.len() + 2
    }

    /// The statement, with `returning` appended when given (e.g. `RETURNING id`).
    pub fn statement(&self, returning: &str) -> String {
        format!(
            "INSERT INTO {table} (tenant_id, {cols})
             SELECT $1, * FROM UNNEST({arrays})
             ON CONFLICT {conflict} DO UPDATE SET {updates}updated_at = now() {returning}",
            table = self.table,
            cols = self.columns.join(", "),
            arrays = self.arrays.join(", "),
            conflict = self.conflict,
            updates = self
                .updates
                .iter()
                .map(|u| format!("{u}, "))
                .collect::<String>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{OnConflict, Upsert};

    #[test]
    fn statement_lists_columns_arrays_and_updates_in_order() {
        let mut upsert = Upsert::new("t", "(tenant_id, k)");
        upsert
            .column("k", "text", OnConflict::Keep)
            .column("v", "numeric", OnConflict::Update)
            .column("w", "text", OnConflict::FillEmpty);
        assert_eq!(upsert.next_param(), 5);
        let sql = upsert.statement("RETURNING id");
        assert!(sql.contains("INSERT INTO t (tenant_id, k, v, w)"));
        assert!(sql.contains("UNNEST($2::text[], $3::numeric[], $4::text[])"));
        assert!(sql.contains(
            "ON CONFLICT (tenant_id, k) DO UPDATE SET v = COALESCE(EXCLUDED.v, t.v), w = COALESCE(t.w, EXCLUDED.w), updated_at = now() RETURNING id"
        ));
    }
}
