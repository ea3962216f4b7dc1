//! Opportunities: keyed by the tenant's external Opportunity ID.

use std::collections::HashMap;

use chrono::NaiveDate;
use csv::StringRecord;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    csv_source::CsvFormat,
    header::{ColumnMap, FieldSpec},
    kind::{ChunkResult, ImportKind},
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
    pub external_opp_id: String,
    pub name: String,
    pub amount: Option<Decimal>,
    pub close_date: Option<NaiveDate>,
    pub stage: Option<String>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub external_account_id: Option<String>,
    pub account: Option<String>,
    pub website: Option<String>,
    pub opp_type: Option<String>,
    pub next_step: Option<String>,
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

    fn parse(
        columns: &ColumnMap,
        record: &StringRecord,
        format: &CsvFormat,
    ) -> Result<OpportunityRow, Vec<String>> {
        let mut problems = Vec::new();
        let text = |field: usize| {
            columns
                .get(field, record)
                .and_then(values::clean_text)
                .map(str::to_owned)
        };
        let mut required = |field: usize| {
            let value = text(field);
            if value.is_none() {
                problems.push(format!("{} is empty", Self::FIELDS[field].name));
            }
            value.unwrap_or_default()
        };
        let external_opp_id = required(EXTERNAL_ID);
        let name = required(NAME);
        let amount = optional(columns, record, AMOUNT, &mut problems, |raw| {
            values::parse_amount(raw, format.decimal_comma())
        });
        let close_date = optional(columns, record, CLOSE_DATE, &mut problems, |raw| {
            values::parse_date(raw, format.decimal_comma())
        });
        let owner_email = optional(
            columns,
            record,
            OWNER_EMAIL,
            &mut problems,
            values::parse_email,
        );
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(OpportunityRow {
            external_opp_id,
            name,
            amount,
            close_date,
            stage: text(STAGE),
            owner_name: text(OWNER),
            owner_email,
            external_account_id: text(ACCOUNT_ID),
            account: text(ACCOUNT_NAME),
            website: text(WEBSITE),
            opp_type: text(TYPE),
            next_step: text(NEXT_STEP),
        })
    }

    async fn write_chunk(
        pool: &PgPool,
        tenant_id: Uuid,
        columns: &ColumnMap,
        rows: &[OpportunityRow],
    ) -> Result<ChunkResult, sqlx::Error> {
        // ON CONFLICT cannot touch one row twice in a statement: the last occurrence wins,
        // as it would had the rows been applied one after the other.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            last.insert(&row.external_opp_id, i);
        }
        let rows: Vec<&OpportunityRow> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| last[r.external_opp_id.as_str()] == *i)
            .map(|(_, r)| r)
            .collect();

        let present = |field: usize| columns.index(Self::FIELDS[field].name).is_some();
        let mut sql = Sql::default();
        sql.column("external_opp_id", "text", false);
        sql.column("name", "text", true);
        let optional_columns: [(usize, &str, &str); 10] = [
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
        for &(field, column, pg_type) in &optional_columns {
            if present(field) {
                sql.column(column, pg_type, true);
            }
        }
        let statement = sql.statement();
        let mut query = sqlx::query(&statement)
            .bind(tenant_id)
            .bind(
                rows.iter()
                    .map(|r| r.external_opp_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>());
        for &(field, _, _) in &optional_columns {
            if !present(field) {
                continue;
            }
            query = match field {
                AMOUNT => query.bind(rows.iter().map(|r| r.amount).collect::<Vec<_>>()),
                CLOSE_DATE => query.bind(rows.iter().map(|r| r.close_date).collect::<Vec<_>>()),
                _ => query.bind(
                    rows.iter()
                        .map(|r| text_field(r, field))
                        .collect::<Vec<_>>(),
                ),
            };
        }
        query.execute(pool).await?;
        Ok(ChunkResult::default())
    }
}

fn text_field(row: &OpportunityRow, field: usize) -> Option<&str> {
    match field {
        STAGE => row.stage.as_deref(),
        OWNER => row.owner_name.as_deref(),
        OWNER_EMAIL => row.owner_email.as_deref(),
        ACCOUNT_ID => row.external_account_id.as_deref(),
        ACCOUNT_NAME => row.account.as_deref(),
        WEBSITE => row.website.as_deref(),
        TYPE => row.opp_type.as_deref(),
        NEXT_STEP => row.next_step.as_deref(),
        _ => None,
    }
}

/// Parses an optional column; an empty cell is `None`, a bad value a problem.
fn optional<T>(
    columns: &ColumnMap,
    record: &StringRecord,
    field: usize,
    problems: &mut Vec<String>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let raw = columns.get(field, record).and_then(values::clean_text)?;
    parse(raw).map_err(|problem| problems.push(problem)).ok()
}

/// Builds `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO UPDATE` for the present columns.
#[derive(Default)]
struct Sql {
    columns: Vec<&'static str>,
    unnest: Vec<String>,
    updates: Vec<String>,
}

impl Sql {
    fn column(&mut self, name: &'static str, pg_type: &str, update: bool) {
        // $1 is the tenant; arrays start at $2.
        self.unnest
            .push(format!("${}::{pg_type}[]", self.columns.len() + 2));
        self.columns.push(name);
        if update {
            self.updates.push(format!("{name} = EXCLUDED.{name}"));
        }
    }

    fn statement(&self) -> String {
        format!(
            "INSERT INTO opportunities (tenant_id, {cols})
             SELECT $1, * FROM UNNEST({unnest})
             ON CONFLICT (tenant_id, external_opp_id) DO UPDATE SET {updates}, updated_at = now()",
            cols = self.columns.join(", "),
            unnest = self.unnest.join(", "),
            updates = self.updates.join(", "),
        )
    }
}
