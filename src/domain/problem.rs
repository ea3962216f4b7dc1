//! Why a row could not be imported, as data: a stable code, the column, the value and a
//! sentence for a sales admin. The codes are part of the API (docs/api.md, "Problem codes"):
//! never rename one, only add.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        Ref, RefOr,
        schema::{AnyOfBuilder, ObjectBuilder, Schema, Type},
    },
};

/// The kind of a row's problem. Serialised in snake_case (`invalid_date`).
///
/// The set is open: codes may be added, so the OpenAPI document declares a code as one of
/// [`KnownProblemCode`] *or any other string* — a client generated from it reads a code
/// added later as a plain string instead of failing on every job that has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// A required value is empty.
    RequiredMissing,
    /// An amount is not a number.
    InvalidAmount,
    /// An amount is a number too large, or with too many decimals, to be stored exactly.
    AmountOutOfRange,
    /// A date is in no format the import reads.
    InvalidDate,
    /// A month is in no format the import reads.
    InvalidMonth,
    /// A date or month written with a two-digit year.
    TwoDigitYear,
    /// A date or month that does not exist (`2017-02-30`, month 13).
    DateNotInCalendar,
    /// An email address that is not one.
    InvalidEmail,
    /// A contact names an Opportunity ID the tenant does not have.
    UnknownOpportunity,
    /// The row has fewer fields than the header, or more non-empty ones.
    FieldCount,
    /// The row holds bytes that cannot be read as text in the file's encoding.
    UnreadableText,
    /// Postgres refused the row for its data (say a key too long to index).
    RejectedByDatabase,
    /// A field or the whole row is longer than a file may hold (`import::limits`).
    TooLong,
    /// A revert job's row that another job (an import, a correction or a revert) changed
    /// after the job being undone: left as it is.
    ChangedSince,
}

impl ProblemCode {
    /// Every code, in the order docs/api.md documents them.
    pub const ALL: [ProblemCode; 14] = [
        Self::RequiredMissing,
        Self::InvalidAmount,
        Self::AmountOutOfRange,
        Self::InvalidDate,
        Self::InvalidMonth,
        Self::TwoDigitYear,
        Self::DateNotInCalendar,
        Self::InvalidEmail,
        Self::UnknownOpportunity,
        Self::FieldCount,
        Self::UnreadableText,
        Self::RejectedByDatabase,
        Self::TooLong,
        Self::ChangedSince,
    ];

    /// The code as JSON, the database and the `code` filter spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiredMissing => "required_missing",
            Self::InvalidAmount => "invalid_amount",
            Self::AmountOutOfRange => "amount_out_of_range",
            Self::InvalidDate => "invalid_date",
            Self::InvalidMonth => "invalid_month",
            Self::TwoDigitYear => "two_digit_year",
            Self::DateNotInCalendar => "date_not_in_calendar",
            Self::InvalidEmail => "invalid_email",
            Self::UnknownOpportunity => "unknown_opportunity",
            Self::FieldCount => "field_count",
            Self::UnreadableText => "unreadable_text",
            Self::RejectedByDatabase => "rejected_by_database",
            Self::TooLong => "too_long",
            Self::ChangedSince => "changed_since",
        }
    }
}

impl utoipa::PartialSchema for ProblemCode {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .description(Some(
                "Why a row failed: one of the known codes, or a code added after this document \
                 (codes are only ever added, never renamed)",
            ))
            .item(Ref::from_schema_name(KnownProblemCode::name()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("A code added after this document")),
            )
            .into()
    }
}

impl ToSchema for ProblemCode {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((KnownProblemCode::name().into(), KnownProblemCode::schema()));
    }
}

/// The problem codes this version knows ([`ProblemCode::ALL`]), for the OpenAPI document
/// (and for the `code` filter, which accepts only these).
pub struct KnownProblemCode;

impl utoipa::PartialSchema for KnownProblemCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A problem code this version of the API knows"))
            .enum_values(Some(ProblemCode::ALL.map(ProblemCode::as_str)))
            .into()
    }
}

impl ToSchema for KnownProblemCode {}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProblemCode {
    type Err = super::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| super::UnknownValue(s.to_owned()))
    }
}

/// One problem of a failed row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// What kind of problem.
    pub code: ProblemCode,
    /// The header name of the column, as the file writes it; `None` when the problem is
    /// about the whole row.
    pub column: Option<String>,
    /// The cell's value as the import read it (surrounding spaces removed); `None` when
    /// the problem is about the whole row.
    pub value: Option<String>,
    /// The problem in words for a sales admin, as the error CSV writes it.
    pub message: String,
}

impl Problem {
    /// A problem of the whole row.
    pub fn of_row(code: ProblemCode, message: impl Into<String>) -> Self {
        Self {
            code,
            column: None,
            value: None,
            message: message.into(),
        }
    }
}

/// How many failed rows had a problem of one code in one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorSummaryEntry {
    /// The problem's code.
    pub code: ProblemCode,
    /// The column (`None` for problems of the whole row).
    pub column: Option<String>,
    /// Failed rows with at least one such problem.
    pub rows: i64,
}

/// Counts failed rows per code and column while an import runs; exact however many
/// rows fail (it holds one counter per code and column, not the rows).
#[derive(Debug, Clone, Default)]
pub struct ErrorTally {
    counts: HashMap<(ProblemCode, Option<String>), i64>,
}

impl ErrorTally {
    /// Counts one failed row: once per distinct code and column among its problems.
    pub(crate) fn add(&mut self, problems: &[Problem]) {
        let mut seen: Vec<(ProblemCode, Option<&str>)> = Vec::with_capacity(problems.len());
        for problem in problems {
            let key = (problem.code, problem.column.as_deref());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            *self
                .counts
                .entry((problem.code, problem.column.clone()))
                .or_default() += 1;
        }
    }

    /// True when no row was counted.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The summary: most frequent first, then by code and column.
    pub(crate) fn summary(&self) -> Vec<ErrorSummaryEntry> {
        let mut entries: Vec<ErrorSummaryEntry> = self
            .counts
            .iter()
            .map(|((code, column), rows)| ErrorSummaryEntry {
                code: *code,
                column: column.clone(),
                rows: *rows,
            })
            .collect();
        entries.sort_by(|a, b| {
            b.rows
                .cmp(&a.rows)
                .then(a.code.as_str().cmp(b.code.as_str()))
                .then(a.column.cmp(&b.column))
        });
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_names_and_serde() {
        for code in ProblemCode::ALL {
            assert_eq!(code.as_str().parse::<ProblemCode>().unwrap(), code);
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
        assert!("Invalid_Date".parse::<ProblemCode>().is_err());
    }

    #[test]
    fn api_guide_documents_every_code() {
        let guide =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
        for code in ProblemCode::ALL {
            assert!(
                guide.contains(&format!("| `{code}` | ")),
                "docs/api.md's table of problem codes lacks {code}"
            );
        }
    }

    #[test]
    fn the_tally_counts_rows_per_code_and_column() {
        let problem = |code, column: Option<&str>| Problem {
            code,
            column: column.map(str::to_owned),
            value: None,
            message: String::new(),
        };
        let mut tally = ErrorTally::default();
        assert!(tally.is_empty());
        tally.add(&[
            problem(ProblemCode::InvalidDate, Some("Close Date")),
            problem(ProblemCode::RequiredMissing, Some("Name")),
        ]);
        tally.add(&[problem(ProblemCode::InvalidDate, Some("Close Date"))]);
        // Two problems of one code in one column count the row once.
        tally.add(&[
            problem(ProblemCode::FieldCount, None),
            problem(ProblemCode::FieldCount, None),
        ]);
        assert_eq!(
            tally.summary(),
            [
                ErrorSummaryEntry {
                    code: ProblemCode::InvalidDate,
                    column: Some("Close Date".into()),
                    rows: 2
                },
                ErrorSummaryEntry {
                    code: ProblemCode::FieldCount,
                    column: None,
                    rows: 1
                },
                ErrorSummaryEntry {
                    code: ProblemCode::RequiredMissing,
                    column: Some("Name".into()),
                    rows: 1
                },
            ]
        );
    }
}
