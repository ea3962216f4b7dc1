//! Opportunities: keyed by the tenant's external Opportunity ID.

use chrono::NaiveDate;
use csv::StringRecord;
use rust_decimal::Decimal;
use sqlx::{
    Arguments, PgConnection, Postgres,
    error::BoxDynError,
    postgres::{PgArguments, PgHasArrayType, PgTypeInfo},
};
use uuid::Uuid;

use crate::domain::Problem;

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
    kind::{
        ChunkResult, ImportKind, PreparedChunk, WriteScope, key_hash, merge_changed, merge_per_key,
        newer,
    },
    row::{RowReader, Text},
    upsert::{OnConflict, Upsert, new_row_ids},
    values,
};

/// The Opportunities import.
pub struct Opportunities;

// Positions in `FIELDS`; `ColumnMap::get` is indexed by them.
const EXTERNAL_ID: usize = 0;
const NAME: usize = 1;
const AMOUNT: usize = 2;
const CLOSE_DATE: usize = 3;
const STAGE: usize = 4;
const OWNER: usize = 5;
const OWNER_EMAIL: usize = 6;
const ACCOUNT_ID: usize = 7;
const ACCOUNT_NAME: usize = 8;
const WEBSITE: usize = 9;
const TYPE: usize = 10;
const NEXT_STEP: usize = 11;

/// A validated opportunity row.
#[derive(Debug, Clone, PartialEq)]
pub struct OpportunityRow {
    pub external_opp_id: Text,
    pub name: Text,
    pub amount: Option<Decimal>,
    pub close_date: Option<NaiveDate>,
    pub stage: Option<Text>,
    pub owner_name: Option<Text>,
    pub owner_email: Option<Text>,
    pub external_account_id: Option<Text>,
    pub account: Option<Text>,
    pub website: Option<Text>,
    pub opp_type: Option<Text>,
    pub next_step: Option<Text>,
}

impl OpportunityRow {
    /// Applies a later row of the same opportunity over this one.
    fn merge(&mut self, later: &Self) {
        self.name.clone_from(&later.name);
        newer(&mut self.amount, &later.amount);
        newer(&mut self.close_date, &later.close_date);
        newer(&mut self.stage, &later.stage);
        newer(&mut self.owner_name, &later.owner_name);
        newer(&mut self.owner_email, &later.owner_email);
        newer(&mut self.external_account_id, &later.external_account_id);
        newer(&mut self.account, &later.account);
        newer(&mut self.website, &later.website);
        newer(&mut self.opp_type, &later.opp_type);
        newer(&mut self.next_step, &later.next_step);
    }
}

impl ImportKind for Opportunities {
    type Row = OpportunityRow;

    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec {
            name: "Opportunity ID",
            aliases: &[
                "Opp ID",
                "External Opportunity ID",
                "External Opp ID",
                "Opportunity External ID",
            ],
            required: true,
        },
        FieldSpec {
            name: "Opportunity Name",
            aliases: &["Opp Name", "Name", "Deal Name"],
            required: true,
        },
        FieldSpec {
            name: "Amount",
            aliases: &["Opportunity Amount", "Deal Amount"],
            required: false,
        },
        FieldSpec {
            name: "Close Date",
            aliases: &["Expected Close Date", "Opportunity Close Date"],
            required: false,
        },
        FieldSpec {
            name: "Stage",
            aliases: &["Stage Name", "Opportunity Stage", "Deal Stage"],
            required: false,
        },
        FieldSpec {
            name: "Opportunity Owner",
            aliases: &["Owner", "Owner Name", "Opportunity Owner Name"],
            required: false,
        },
        FieldSpec {
            name: "Opportunity Owner Email",
            aliases: &["Owner Email", "Owner Email Address"],
            required: false,
        },
        FieldSpec {
            name: "Account ID",
            aliases: &["External Account ID"],
            required: false,
        },
        FieldSpec {
            name: "Account Name",
            aliases: &["Account", "Company", "Company Name"],
            required: false,
        },
        FieldSpec {
            name: "Account URL/Website",
            aliases: &["Account URL", "Account Website", "Website", "URL"],
            required: false,
        },
        FieldSpec {
            name: "Opportunity Type",
            aliases: &["Type", "Deal Type"],
            required: false,
        },
        FieldSpec {
            name: "Next Step",
            aliases: &[],
            required: false,
        },
    ];

    fn partition_key(row: &Self::Row) -> u64 {
        key_hash(&row.external_opp_id)
    }

    fn parse(
        columns: &ColumnMap,
        record: &StringRecord,
        format: &CsvFormat,
    ) -> Result<OpportunityRow, Vec<Problem>> {
        let mut row = RowReader::new(columns, record, Self::FIELDS);
        let external_opp_id = row.required(EXTERNAL_ID);
        let name = row.required(NAME);
        let amount = row.parsed(AMOUNT, |raw| {
            values::parse_amount(raw, format.decimal_comma())
        });
        let close_date = row.parsed(CLOSE_DATE, |raw| {
            values::parse_date(raw, format.decimal_comma())
        });
        let owner_email = row.parsed(OWNER_EMAIL, values::parse_email).map(Text::from);
        let text = |field| row.text(field);
        let (stage, owner_name, external_account_id) = (text(STAGE), text(OWNER), text(ACCOUNT_ID));
        let (account, website, opp_type, next_step) = (
            text(ACCOUNT_NAME),
            text(WEBSITE),
            text(TYPE),
            text(NEXT_STEP),
        );
        row.finish(|| OpportunityRow {
            external_opp_id,
            name,
            amount,
            close_date,
            stage,
            owner_name,
            owner_email,
            external_account_id,
            account,
            website,
            opp_type,
            next_step,
        })
    }

    fn prepare(
        scope: WriteScope,
        columns: &ColumnMap,
        rows: &[OpportunityRow],
    ) -> Option<Result<PreparedChunk, BoxDynError>> {
        Some(encode(scope, columns, rows))
    }

    async fn write_chunk(
        conn: &mut PgConnection,
        scope: WriteScope,
        columns: &ColumnMap,
        rows: &[OpportunityRow],
    ) -> Result<ChunkResult, sqlx::Error> {
        encode(scope, columns, rows)
            .map_err(sqlx::Error::Encode)?
            .run(conn)
            .await
    }
}

/// Optional fields: position in `FIELDS`, table column, Postgres type.
const OPTIONAL_COLUMNS: &[(usize, &str, &str)] = &[
    (AMOUNT, "amount", "numeric"),
    (CLOSE_DATE, "close_date", "date"),
    (STAGE, "stage", "text"),
    (OWNER, "owner_name", "text"),
    (OWNER_EMAIL, "owner_email", "text"),
    (ACCOUNT_ID, "external_account_id", "text"),
    (ACCOUNT_NAME, "account", "text"),
    (WEBSITE, "website", "text"),
    (TYPE, "type", "text"),
    (NEXT_STEP, "next_step", "text"),
];

/// One row as bound: the `opportunity_import_row` type (migrations), field for field.
#[derive(sqlx::Encode)]
struct ImportRow<'a> {
    id: Uuid,
    external_opp_id: &'a str,
    name: &'a str,
    amount: Option<Decimal>,
    close_date: Option<NaiveDate>,
    stage: Option<&'a str>,
    owner_name: Option<&'a str>,
    owner_email: Option<&'a str>,
    external_account_id: Option<&'a str>,
    account: Option<&'a str>,
    website: Option<&'a str>,
    r#type: Option<&'a str>,
    next_step: Option<&'a str>,
}

impl sqlx::Type<Postgres> for ImportRow<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name(IMPORT_ROW)
    }
}

impl PgHasArrayType for ImportRow<'_> {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::array_of(IMPORT_ROW)
    }
}

const IMPORT_ROW: &str = "opportunity_import_row";

/// The chunk's upsert: one UNNEST statement over an array of rows, writing the columns
/// present in the file.
fn encode(
    scope: WriteScope,
    columns: &ColumnMap,
    rows: &[OpportunityRow],
) -> Result<PreparedChunk, BoxDynError> {
    let merged = merge_per_key(
        rows,
        |r| r.external_opp_id.as_str(),
        |into, later| merge_changed(into, later, OpportunityRow::merge),
    );
    let rows = &merged.rows;
    let present = |field: usize| columns.has(Opportunities::FIELDS[field].name);
    let mut upsert =
        Upsert::of_records("opportunities", "(tenant_id, external_opp_id)", IMPORT_ROW);
    upsert
        .column("external_opp_id", "text", OnConflict::Keep)
        .column("name", "text", OnConflict::Update);
    for &(_, column, pg_type) in OPTIONAL_COLUMNS
        .iter()
        .filter(|(field, _, _)| present(*field))
    {
        upsert.column(column, pg_type, OnConflict::Update);
    }
    if scope.job_id.is_some() {
        upsert.keep_changes(upsert.next_param());
    }
    let bound: Vec<ImportRow> = rows
        .iter()
        .zip(new_row_ids(rows.len()))
        .map(|(r, id)| ImportRow {
            id,
            external_opp_id: &r.external_opp_id,
            name: &r.name,
            amount: r.amount,
            close_date: r.close_date,
            stage: r.stage.as_deref(),
            owner_name: r.owner_name.as_deref(),
            owner_email: r.owner_email.as_deref(),
            external_account_id: r.external_account_id.as_deref(),
            account: r.account.as_deref(),
            website: r.website.as_deref(),
            r#type: r.opp_type.as_deref(),
            next_step: r.next_step.as_deref(),
        })
        .collect();
    let mut args = PgArguments::default();
    args.add(scope.tenant_id)?;
    args.add(bound)?;
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
