//! Sales targets (quotas): one amount per sales rep and month.

use chrono::NaiveDate;
use csv::StringRecord;
use rust_decimal::Decimal;
use sqlx::{Arguments, PgConnection, error::BoxDynError, postgres::PgArguments};

use crate::domain::Problem;

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
    kind::{
        ChunkResult, ImportKind, PreparedChunk, WriteScope, key_hash, merge_changed, merge_per_key,
    },
    row::{RowReader, Text},
    upsert::{OnConflict, Upsert, new_row_ids},
    values,
};

/// The Sales Targets import.
pub(crate) struct SalesTargets;

const EMAIL: usize = 0;
const MONTH: usize = 1;
const AMOUNT: usize = 2;

/// A validated sales target row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SalesTargetRow {
    pub rep_email: Text,
    pub email_key: Text,
    /// The first day of the month.
    pub month: NaiveDate,
    pub amount: Decimal,
}

impl ImportKind for SalesTargets {
    type Row = SalesTargetRow;

    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec {
            name: "Email Address of Salesrep",
            aliases: &[
                "Email Address",
                "Email",
                "Salesrep Email",
                "Sales Rep Email",
                "Rep Email",
                "Salesrep",
                "Sales Rep",
            ],
            required: true,
        },
        FieldSpec {
            name: "Month",
            aliases: &["Month (date)", "Target Month", "Date", "Period"],
            required: true,
        },
        FieldSpec {
            name: "Amount",
            aliases: &["Target", "Quota", "Target Amount", "Quota Amount"],
            required: true,
        },
    ];

    fn partition_key(row: &Self::Row) -> u64 {
        key_hash((&row.email_key, row.month))
    }

    fn parse(
        columns: &ColumnMap,
        record: &StringRecord,
        format: &CsvFormat,
    ) -> Result<SalesTargetRow, Vec<Problem>> {
        let mut row = RowReader::new(columns, record, Self::FIELDS);
        let email = row
            .required_parsed(EMAIL, values::parse_email)
            .map(Text::from);
        let month = row.required_parsed(MONTH, |raw| {
            values::parse_month(raw, format.decimal_comma())
        });
        let amount = row.required_parsed(AMOUNT, |raw| {
            values::parse_amount(raw, format.decimal_comma())
        });
        row.finish(|| {
            let rep_email = email.unwrap_or_default();
            SalesTargetRow {
                email_key: values::email_key(&rep_email).into(),
                rep_email,
                month: month.unwrap_or_default(),
                amount: amount.unwrap_or_default(),
            }
        })
    }

    fn prepare(
        scope: WriteScope,
        _columns: &ColumnMap,
        rows: &[SalesTargetRow],
    ) -> Option<Result<PreparedChunk, BoxDynError>> {
        Some(encode(scope, rows))
    }

    async fn write_chunk(
        conn: &mut PgConnection,
        scope: WriteScope,
        _columns: &ColumnMap,
        rows: &[SalesTargetRow],
    ) -> Result<ChunkResult, sqlx::Error> {
        encode(scope, rows)
            .map_err(sqlx::Error::Encode)?
            .run(conn)
            .await
    }
}

/// The chunk's upsert: every column is required, so the statement never varies.
fn encode(scope: WriteScope, rows: &[SalesTargetRow]) -> Result<PreparedChunk, BoxDynError> {
    let merged = merge_per_key(
        rows,
        |r| (r.email_key.as_str(), r.month),
        |into, later| merge_changed(into, later, |into, later| into.clone_from(later)),
    );
    let rows = &merged.rows;
    let mut upsert = Upsert::new("sales_targets", "(tenant_id, lower(rep_email), month)");
    upsert
        .column("rep_email", "text", OnConflict::Update)
        .column("month", "date", OnConflict::Keep)
        .column("amount", "numeric", OnConflict::Update);
    if scope.job_id.is_some() {
        upsert.keep_changes(upsert.next_param());
    }
    let mut args = PgArguments::default();
    args.add(scope.tenant_id)?;
    args.add(new_row_ids(rows.len()))?;
    args.add(
        rows.iter()
            .map(|r| r.rep_email.as_str())
            .collect::<Vec<_>>(),
    )?;
    args.add(rows.iter().map(|r| r.month).collect::<Vec<_>>())?;
    args.add(rows.iter().map(|r| r.amount).collect::<Vec<_>>())?;
    if let Some(job_id) = scope.job_id {
        args.add(job_id)?;
    }
    Ok(PreparedChunk {
        sql: upsert.counting_statement(),
        args,
        keys: rows.len(),
        repeats: merged.repeats,
    })
}
