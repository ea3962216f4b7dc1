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

/// The psql script that imports the opportunities of `csv` for `tenant_id` into `table`:
/// `opportunities`, or the foreign-key-free copy [`NO_FK_TABLE`].
pub fn script(table: &str, tenant_id: &str, csv: &Path) -> String {
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
    let path = quoted_path(csv);
    format!(
        "CREATE TEMP TABLE staging ({staging});\n\
         \\copy staging FROM '{path}' WITH (FORMAT csv, HEADER true)\n\
         INSERT INTO {table} (tenant_id, {columns})\n\
         SELECT '{tenant_id}'::uuid, {select} FROM staging\n\
         ON CONFLICT (tenant_id, external_opp_id) DO UPDATE SET {updates}, updated_at = now();\n",
        columns = COLUMNS.join(", "),
    )
}

/// A table like `opportunities` (same columns, uuid primary key, unique (tenant,
/// external id)) without the tenant foreign key: the independent reference.
pub const NO_FK_TABLE: &str = "reference_opportunities_no_fk";

/// Creates [`NO_FK_TABLE`].
pub const NO_FK_DDL: &str = "CREATE TABLE IF NOT EXISTS reference_opportunities_no_fk (
    LIKE opportunities INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)";

fn quoted_path(csv: &Path) -> String {
    csv.display().to_string().replace('\'', "''")
}

/// The contacts reference: `\copy` into a temp table, one upsert into `contacts`, one
/// insert of the links into `contact_opportunities` (both with their foreign keys).
pub fn contacts_script(tenant_id: &str, csv: &Path) -> String {
    let path = quoted_path(csv);
    format!(
        "CREATE TEMP TABLE staging (opp_id text, email text, fullname text, first_name text, \
         last_name text, title text, company_name text, phone text, mobile_phone text);\n\
         \\copy staging FROM '{path}' WITH (FORMAT csv, HEADER true)\n\
         INSERT INTO contacts (tenant_id, email, fullname, first_name, last_name, title, \
         company_name, phone, mobile_phone)\n\
         SELECT '{tenant_id}'::uuid, email, fullname, first_name, last_name, title, company_name, \
         phone, mobile_phone FROM staging\n\
         ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET email = EXCLUDED.email, \
         fullname = EXCLUDED.fullname, first_name = EXCLUDED.first_name, \
         last_name = EXCLUDED.last_name, title = EXCLUDED.title, \
         company_name = EXCLUDED.company_name, phone = EXCLUDED.phone, \
         mobile_phone = EXCLUDED.mobile_phone, updated_at = now();\n\
         INSERT INTO contact_opportunities (contact_id, opportunity_id)\n\
         SELECT c.id, o.id FROM staging s\n\
         JOIN contacts c ON c.tenant_id = '{tenant_id}'::uuid AND lower(c.email) = lower(s.email)\n\
         JOIN opportunities o ON o.tenant_id = '{tenant_id}'::uuid AND o.external_opp_id = s.opp_id\n\
         ON CONFLICT DO NOTHING;\n"
    )
}

/// The sales targets reference: `\copy` into a temp table, one upsert.
pub fn targets_script(tenant_id: &str, csv: &Path) -> String {
    let path = quoted_path(csv);
    format!(
        "CREATE TEMP TABLE staging (rep_email text, month text, amount text);\n\
         \\copy staging FROM '{path}' WITH (FORMAT csv, HEADER true)\n\
         INSERT INTO sales_targets (tenant_id, rep_email, month, amount)\n\
         SELECT '{tenant_id}'::uuid, rep_email, month::date, amount::numeric FROM staging\n\
         ON CONFLICT (tenant_id, lower(rep_email), month) DO UPDATE SET \
         rep_email = EXCLUDED.rep_email, amount = EXCLUDED.amount, updated_at = now();\n"
    )
}

/// A reference import, ready to run.
pub struct Reference {
    psql: PathBuf,
    database_url: String,
    script: PathBuf,
}

impl Reference {
    /// Writes `script` to `script_path`.
    pub fn new(database_url: &str, script: &str, script_path: PathBuf) -> anyhow::Result<Self> {
        std::fs::write(&script_path, script)?;
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
