//! The reference: what Postgres itself does with the file, driven from `psql` —
//! `\copy` into a temporary staging table, then one `INSERT … SELECT … ON CONFLICT
//! (tenant, external id) DO UPDATE`, in a single `psql` process timed as a whole.

use std::path::{Path, PathBuf};

use super::procs::{Measured, run_measured};

/// Table columns in the order of the generator's CSV columns.
const COLUMNS: [&str; 12] = [
    "external_opp_id",
    "name",
    "amount",
    "close_date",
    "stage",
    "owner_name",
    "owner_email",
    "external_account_id",
    "account",
    "website",
    "type",
    "next_step",
];

/// The psql script that imports `csv` for `tenant_id`.
pub fn script(tenant_id: &str, csv: &Path) -> String {
    let staging = COLUMNS
        .iter()
        .map(|c| format!("{c} text"))
        .collect::<Vec<_>>()
        .join(", ");
    let select = COLUMNS
        .iter()
        .map(|&c| match c {
            "amount" => "amount::numeric".to_owned(),
            "close_date" => "close_date::date".to_owned(),
            other => other.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let updates = COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let path = csv.display().to_string().replace('\'', "''");
    format!(
        "CREATE TEMP TABLE staging ({staging});\n\
         \\copy staging FROM '{path}' WITH (FORMAT csv, HEADER true)\n\
         INSERT INTO opportunities (tenant_id, {columns})\n\
         SELECT '{tenant_id}'::uuid, {select} FROM staging\n\
         ON CONFLICT (tenant_id, external_opp_id) DO UPDATE SET {updates}, updated_at = now();\n",
        columns = COLUMNS.join(", "),
    )
}

/// A reference import, ready to run.
pub struct Reference {
    psql: PathBuf,
    database_url: String,
    script: PathBuf,
}

impl Reference {
    /// Writes the script for `csv` next to `script`.
    pub fn new(
        database_url: &str,
        tenant_id: &str,
        csv: &Path,
        script_path: PathBuf,
    ) -> anyhow::Result<Self> {
        std::fs::write(&script_path, script(tenant_id, csv))?;
        Ok(Self {
            psql: PathBuf::from(std::env::var("BENCH_PSQL").unwrap_or_else(|_| "psql".into())),
            database_url: database_url.to_owned(),
            script: script_path,
        })
    }

    /// Runs it once (blocking): `psql -X -q -v ON_ERROR_STOP=1 -d URL -f SCRIPT`.
    pub fn run(&self) -> anyhow::Result<Measured> {
        let args = [
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &self.database_url,
            "-f",
            &self.script.display().to_string(),
        ]
        .map(str::to_owned);
        run_measured(&self.psql, &args, &[])
    }
}
