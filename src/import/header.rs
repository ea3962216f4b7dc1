//! Header resolution: which column of the upload holds which supported field.
//!
//! Exports name the same column many ways (`Opportunity ID`, `opportunity_id`,
//! `OPPORTUNITY-ID`, `CloseDate`), so names are compared after [`normalise`], against
//! each field's canonical name and aliases, or through a user-given column mapping.

use std::collections::HashMap;

use csv::StringRecord;

use crate::domain::{Problem, ProblemCode};

/// A supported field of an import kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Canonical name, e.g. `"Opportunity ID"`; always matches as an alias too.
    pub name: &'static str,
    /// Other header names that mean this field.
    pub aliases: &'static [&'static str],
    /// Whether the file must have a column for this field.
    pub required: bool,
}

/// Why a header line cannot be used. Messages are meant for a sales admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeaderError {
    /// The header line has no non-empty cell.
    #[error("the header line has no column names")]
    NoColumns,
    /// An empty header cell before a non-empty one.
    #[error("column {column} of the header line has no name")]
    EmptyName {
        /// 1-based position of the column.
        column: usize,
    },
    /// The same name (after normalisation) twice in the header line.
    #[error(
        "the column \"{name}\" appears twice in the header line (columns {first} and {second})"
    )]
    Duplicate {
        /// The second occurrence as written in the file.
        name: String,
        /// 1-based position of the first occurrence.
        first: usize,
        /// 1-based position of the second occurrence.
        second: usize,
    },
    /// Two different columns resolve to the same field.
    #[error(
        "the columns \"{first}\" and \"{second}\" both stand for the field \"{field}\"; \
         remove one of them or map one explicitly"
    )]
    Conflict {
        /// The field's canonical name.
        field: &'static str,
        /// The first column's header name.
        first: String,
        /// The second column's header name.
        second: String,
    },
    /// Required fields without a column.
    #[error("missing required column(s): {}", .0.join(", "))]
    MissingRequired(Vec<&'static str>),
    /// A mapping target that is not a supported field.
    #[error("\"{target}\" is not a supported field; the supported fields are: {supported}")]
    UnknownField {
        /// The target as given in the mapping.
        target: String,
        /// The canonical names of all supported fields, comma-separated.
        supported: String,
    },
    /// Two mapping keys that name the same file column.
    #[error("the column mapping lists the column \"{column}\" more than once")]
    DuplicateMappingKey {
        /// The second key as given in the mapping.
        column: String,
    },
}

/// The name used to compare headers, aliases and mapping entries: trimmed, without a
/// leading BOM, lowercase, and without whitespace, `_`, `-` and `.`.
pub fn normalise(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Checks a user-given column mapping (file header → supported field) before the file
/// is read: every target must be a supported field, every key a distinct column.
pub(crate) fn validate_mapping(
    mapping: &HashMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), HeaderError> {
    let lookup = alias_lookup(specs);
    let mut seen = HashMap::new();
    for (key, target) in sorted(mapping) {
        if !lookup.contains_key(&normalise(target)) {
            let supported = specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
            return Err(HeaderError::UnknownField {
                target: target.clone(),
                supported,
            });
        }
        if seen.insert(normalise(key), ()).is_some() {
            return Err(HeaderError::DuplicateMappingKey {
                column: key.clone(),
            });
        }
    }
    Ok(())
}

/// Maps the columns of `header` to `specs`, using `mapping` (file header → supported
/// field) first and aliases for the remaining columns. Unknown columns are ignored;
/// trailing empty header cells are dropped.
pub(crate) fn resolve(
    header: &StringRecord,
    specs: &[FieldSpec],
    mapping: Option<&HashMap<String, String>>,
) -> Result<ColumnMap, HeaderError> {
    let names: Vec<String> = header
        .iter()
        .map(|cell| cell.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let normalised: Vec<String> = names.iter().map(|n| normalise(n)).collect();
    let width = normalised
        .iter()
        .rposition(|n| !n.is_empty())
        .map_or(0, |last| last + 1);
    if width == 0 {
        return Err(HeaderError::NoColumns);
    }
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (column, name) in normalised[..width].iter().enumerate() {
        if name.is_empty() {
            return Err(HeaderError::EmptyName { column: column + 1 });
        }
        if let Some(&first) = by_name.get(name.as_str()) {
            let name = names[column].trim().to_owned();
            return Err(HeaderError::Duplicate {
                name,
                first: first + 1,
                second: column + 1,
            });
        }
        by_name.insert(name, column);
    }

    let lookup = alias_lookup(specs);
    let mut columns: Vec<Option<usize>> = vec![None; specs.len()];
    let mut claimed = vec![false; width];
    let conflict = |field: usize, a: usize, b: usize| HeaderError::Conflict {
        field: specs[field].name,
        first: names[a.min(b)].trim().to_owned(),
        second: names[a.max(b)].trim().to_owned(),
    };
    if let Some(mapping) = mapping {
        validate_mapping(mapping, specs)?;
        for (key, target) in sorted(mapping) {
            // Keys not in this file are skipped: a saved mapping may cover several exports.
            let Some(&column) = by_name.get(normalise(key).as_str()) else {
                continue;
            };
            let field = lookup[&normalise(target)];
            if let Some(other) = columns[field] {
                return Err(conflict(field, other, column));
            }
            columns[field] = Some(column);
            claimed[column] = true;
        }
    }
    let mapped: Vec<bool> = columns.iter().map(Option::is_some).collect();
    for (column, name) in normalised[..width].iter().enumerate() {
        let Some(&field) = lookup.get(name.as_str()) else {
            continue;
        };
        if claimed[column] || mapped[field] {
            continue;
        }
        if let Some(other) = columns[field] {
            return Err(conflict(field, other, column));
        }
        columns[field] = Some(column);
    }

    let missing: Vec<&'static str> = specs
        .iter()
        .zip(&columns)
        .filter(|(spec, column)| spec.required && column.is_none())
        .map(|(spec, _)| spec.name)
        .collect();
    if !missing.is_empty() {
        return Err(HeaderError::MissingRequired(missing));
    }
    let mut names = names;
    names.truncate(width);
    Ok(ColumnMap {
        fields: specs.iter().map(|s| s.name).collect(),
        columns,
        names,
    })
}

/// Normalised canonical names and aliases → position of the spec. The first spec wins
/// when two share an alias.
fn alias_lookup(specs: &[FieldSpec]) -> HashMap<String, usize> {
    let mut lookup = HashMap::new();
    for (index, spec) in specs.iter().enumerate() {
        for alias in std::iter::once(&spec.name).chain(spec.aliases) {
            lookup.entry(normalise(alias)).or_insert(index);
        }
    }
    lookup
}

/// Mapping entries in key order, so that errors do not depend on hash order.
fn sorted(mapping: &HashMap<String, String>) -> Vec<(&String, &String)> {
    let mut entries: Vec<_> = mapping.iter().collect();
    entries.sort();
    entries
}

/// Where each supported field sits in the upload's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    /// Canonical names, by spec position.
    fields: Vec<&'static str>,
    /// 0-based column of each spec, by spec position.
    columns: Vec<Option<usize>>,
    /// Header cells as written (BOM removed), up to the effective width.
    names: Vec<String>,
}

impl ColumnMap {
    /// The trimmed value of the field at `spec_index` (its position in the specs given to
    /// [`resolve`]), or `None` when the file has no such column or the row is too short.
    pub(crate) fn get<'r>(&self, spec_index: usize, record: &'r StringRecord) -> Option<&'r str> {
        let column = (*self.columns.get(spec_index)?)?;
        record.get(column).map(str::trim)
    }

    /// The 0-based column of the field with this canonical name, if the file has it.
    pub(crate) fn index(&self, field: &str) -> Option<usize> {
        let spec = self
            .fields
            .iter()
            .position(|&name| name == field)
            .or_else(|| {
                let wanted = normalise(field);
                self.fields
                    .iter()
                    .position(|name| normalise(name) == wanted)
            })?;
        self.columns[spec]
    }

    /// Whether the file has a column for the field with this canonical name.
    pub(crate) fn has(&self, field: &str) -> bool {
        self.index(field).is_some()
    }

    /// The number of header cells, without trailing empty ones.
    pub(crate) fn width(&self) -> usize {
        self.names.len()
    }

    /// The header cells as written in the file (up to [`width`](Self::width)), e.g. for
    /// the header of an error file.
    pub(crate) fn header_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The header cells, as [`ColumnMap::header_names`] gives them.
    pub(crate) fn header_cells(&self) -> &[String] {
        &self.names
    }

    /// The header cell (as written, BOM removed) of the field at `spec_index`, when the
    /// file has a column for it: the name a user sees for that column.
    pub(crate) fn header_of(&self, spec_index: usize) -> Option<&str> {
        let column = (*self.columns.get(spec_index)?)?;
        self.names.get(column).map(String::as_str)
    }

    /// Checks a record's field count against the header: fewer fields is an error, more
    /// only when an extra field is not empty (Excel adds trailing empty columns).
    pub(crate) fn check_width(&self, record: &StringRecord) -> Result<(), Problem> {
        let expected = self.width();
        let problem = |found: usize| {
            Problem::of_row(
                ProblemCode::FieldCount,
                format!("expected {expected} fields but found {found}"),
            )
        };
        if record.len() < expected {
            return Err(problem(record.len()));
        }
        let found = record
            .iter()
            .rev()
            .skip_while(|f| f.trim().is_empty())
            .count();
        if found > expected {
            return Err(problem(found));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[FieldSpec] = &[
        FieldSpec {
            name: "Opportunity ID",
            aliases: &["Opp ID", "External Opportunity ID"],
            required: true,
        },
        FieldSpec {
            name: "Opportunity Name",
            aliases: &["Opp Name", "Name"],
            required: true,
        },
        FieldSpec {
            name: "Amount",
            aliases: &["Opportunity Amount"],
            required: false,
        },
        FieldSpec {
            name: "Close Date",
            aliases: &["Expected Close Date"],
            required: false,
        },
        FieldSpec {
            name: "Email",
            aliases: &["Owner Email"],
            required: false,
        },
        FieldSpec {
            name: "Account ID",
            aliases: &[],
            required: false,
        },
        FieldSpec {
            name: "Account Name",
            aliases: &["Account"],
            required: false,
        },
    ];
    const ID: usize = 0;
    const NAME: usize = 1;
    const AMOUNT: usize = 2;
    const CLOSE: usize = 3;

    fn rec(cells: &[&str]) -> StringRecord {
        StringRecord::from(cells.to_vec())
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ok(cells: &[&str]) -> ColumnMap {
        resolve(&rec(cells), FIELDS, None).unwrap()
    }

    #[test]
    fn normalisation() {
        for name in [
            "Opportunity ID",
            "opportunity_id",
            "OPPORTUNITY-ID",
            " Opportunity Id ",
            "\u{feff}opportunity.id",
        ] {
            assert_eq!(normalise(name), "opportunityid", "{name}");
        }
        assert_eq!(normalise("E-mail"), normalise("Email"));
        assert_eq!(normalise("CloseDate"), normalise("Close Date"));
        assert_eq!(normalise("Straße\u{3000}Nr"), "straßenr");
    }

    #[test]
    fn canonical_names_and_aliases_match_in_any_spelling() {
        let columns = ok(&[
            "\u{feff}opportunity_id",
            "NAME",
            "CloseDate",
            "E-mail",
            "Opp Amount?",
        ]);
        assert_eq!(columns.index("Opportunity ID"), Some(0));
        assert_eq!(columns.index("Opportunity Name"), Some(1));
        assert_eq!(columns.index("Close Date"), Some(2));
        assert_eq!(columns.index("Email"), Some(3));
        assert_eq!(columns.index("Amount"), None);
        assert!(columns.has("Close Date"));
        assert!(!columns.has("Amount"));
        assert_eq!(columns.index("close date"), Some(2));
        assert_eq!(columns.index("No Such Field"), None);
    }

    #[test]
    fn unknown_columns_are_ignored_and_kept_in_header_names() {
        let columns = ok(&["Opp ID", "Notes", "Opp Name"]);
        assert_eq!(columns.index("Opportunity Name"), Some(2));
        assert_eq!(
            columns.header_names().collect::<Vec<_>>(),
            ["Opp ID", "Notes", "Opp Name"]
        );
    }

    #[test]
    fn get_returns_trimmed_values_by_spec_position() {
        let columns = ok(&["Name", "Amount", "ID?", "Opportunity ID"]);
        let record = rec(&["  Acme deal ", "", "x", "\u{3000}OPP-1\u{3000}"]);
        assert_eq!(columns.get(NAME, &record), Some("Acme deal"));
        assert_eq!(columns.get(AMOUNT, &record), Some(""));
        assert_eq!(columns.get(ID, &record), Some("OPP-1"));
        assert_eq!(columns.get(CLOSE, &record), None);
        assert_eq!(columns.get(99, &record), None);
        assert_eq!(columns.get(ID, &rec(&["a"])), None);
    }

    #[test]
    fn bom_is_removed_from_header_names() {
        let columns = ok(&["\u{feff}Opportunity ID", "Name"]);
        assert_eq!(columns.header_names().next(), Some("Opportunity ID"));
    }

    #[test]
    fn trailing_empty_header_cells_are_dropped() {
        let columns = ok(&["Opportunity ID", "Name", "Amount", "", " "]);
        assert_eq!(columns.width(), 3);
        assert_eq!(columns.header_names().count(), 3);
    }

    #[test]
    fn empty_name_between_columns() {
        let err = resolve(&rec(&["Opportunity ID", "", "Name"]), FIELDS, None).unwrap_err();
        assert_eq!(err, HeaderError::EmptyName { column: 2 });
        assert_eq!(err.to_string(), "column 2 of the header line has no name");
    }

    #[test]
    fn all_empty_header() {
        let err = resolve(&rec(&["", " "]), FIELDS, None).unwrap_err();
        assert_eq!(err, HeaderError::NoColumns);
    }

    #[test]
    fn duplicate_names_after_normalisation() {
        let err = resolve(
            &rec(&["Opportunity ID", "Name", "opportunity_id"]),
            FIELDS,
            None,
        )
        .unwrap_err();
        assert_eq!(
            err,
            HeaderError::Duplicate {
                name: "opportunity_id".into(),
                first: 1,
                second: 3
            }
        );
        assert!(err.to_string().contains("\"opportunity_id\" appears twice"));
        // Also for columns that are not supported fields.
        let err = resolve(&rec(&["Opp ID", "Name", "Notes", "NOTES"]), FIELDS, None).unwrap_err();
        assert!(matches!(err, HeaderError::Duplicate { .. }));
    }

    #[test]
    fn two_columns_for_one_field() {
        let err = resolve(&rec(&["Opp ID", "Name", "Opportunity ID"]), FIELDS, None).unwrap_err();
        assert_eq!(
            err,
            HeaderError::Conflict {
                field: "Opportunity ID",
                first: "Opp ID".into(),
                second: "Opportunity ID".into()
            }
        );
        assert!(
            err.to_string()
                .contains("\"Opp ID\" and \"Opportunity ID\"")
        );
    }

    #[test]
    fn missing_required_fields() {
        let err = resolve(&rec(&["Amount", "Notes"]), FIELDS, None).unwrap_err();
        assert_eq!(
            err,
            HeaderError::MissingRequired(vec!["Opportunity ID", "Opportunity Name"])
        );
        assert_eq!(
            err.to_string(),
            "missing required column(s): Opportunity ID, Opportunity Name"
        );
    }

    #[test]
    fn mapping_maps_file_headers_to_fields() {
        let header = rec(&["ID", "NAME", "ORACLE_ID__C", "CLOSEDATE", "AMOUNT"]);
        let mapping = map(&[
            ("name", "Opportunity Name"),
            ("ORACLE_ID__C", "opportunity id"),
            ("CLOSEDATE", "Close Date"),
            ("Unused In This File", "Amount"),
        ]);
        let columns = resolve(&header, FIELDS, Some(&mapping)).unwrap();
        assert_eq!(columns.index("Opportunity ID"), Some(2));
        assert_eq!(columns.index("Opportunity Name"), Some(1));
        assert_eq!(columns.index("Close Date"), Some(3));
        assert_eq!(columns.index("Amount"), Some(4));
    }

    #[test]
    fn mapping_target_may_be_an_alias() {
        let header = rec(&["Deal Key", "Title"]);
        let mapping = map(&[("Deal Key", "Opp ID"), ("Title", "NAME")]);
        let columns = resolve(&header, FIELDS, Some(&mapping)).unwrap();
        assert_eq!(
            (
                columns.index("Opportunity ID"),
                columns.index("Opportunity Name")
            ),
            (Some(0), Some(1))
        );
    }

    #[test]
    fn mapped_column_takes_precedence_over_aliases() {
        // "Opportunity ID" matches by name, but the mapping says the ID is "Ext Key".
        let header = rec(&["Opportunity ID", "Ext Key", "Name"]);
        let mapping = map(&[("Ext Key", "Opportunity ID")]);
        let columns = resolve(&header, FIELDS, Some(&mapping)).unwrap();
        assert_eq!(columns.index("Opportunity ID"), Some(1));
        // A mapped column is not also matched by its own name to another field.
        let header = rec(&["Opp ID", "Account", "Name"]);
        let mapping = map(&[("Account", "Opportunity Name"), ("Name", "Account Name")]);
        let columns = resolve(&header, FIELDS, Some(&mapping)).unwrap();
        assert_eq!(columns.index("Opportunity Name"), Some(1));
        assert_eq!(columns.index("Account Name"), Some(2));
    }

    #[test]
    fn two_mapped_columns_for_one_field() {
        let header = rec(&["A", "B", "Name"]);
        let mapping = map(&[("A", "Opportunity ID"), ("B", "Opp ID")]);
        let err = resolve(&header, FIELDS, Some(&mapping)).unwrap_err();
        assert_eq!(
            err,
            HeaderError::Conflict {
                field: "Opportunity ID",
                first: "A".into(),
                second: "B".into()
            }
        );
    }

    #[test]
    fn validate_mapping_rejects_unknown_targets() {
        assert_eq!(
            validate_mapping(&map(&[("X", "close_date")]), FIELDS),
            Ok(())
        );
        let err = validate_mapping(&map(&[("X", "Revenue")]), FIELDS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"Revenue\" is not a supported field; the supported fields are: Opportunity ID, \
             Opportunity Name, Amount, Close Date, Email, Account ID, Account Name"
        );
        let err = resolve(&rec(&["X"]), FIELDS, Some(&map(&[("X", "Revenue")]))).unwrap_err();
        assert!(matches!(err, HeaderError::UnknownField { .. }));
    }

    #[test]
    fn validate_mapping_rejects_the_same_column_twice() {
        let err = validate_mapping(
            &map(&[("NAME", "Opportunity Name"), ("name", "Account Name")]),
            FIELDS,
        )
        .unwrap_err();
        assert!(matches!(err, HeaderError::DuplicateMappingKey { .. }));
    }

    #[test]
    fn check_width() {
        let columns = ok(&["Opportunity ID", "Name", "Amount", "", ""]);
        let problem = columns.check_width(&rec(&["1"])).unwrap_err();
        assert_eq!(
            (problem.code, problem.column, problem.value),
            (ProblemCode::FieldCount, None, None)
        );
        let columns = CheckMessages(columns);
        assert_eq!(columns.check_width(&rec(&["1", "a", "3"])), Ok(()));
        assert_eq!(columns.check_width(&rec(&["1", "a", ""])), Ok(()));
        assert_eq!(columns.check_width(&rec(&["1", "a", "3", "", " "])), Ok(()));
        assert_eq!(
            columns.check_width(&rec(&["1", "a"])),
            Err("expected 3 fields but found 2".to_owned())
        );
        assert_eq!(
            columns.check_width(&rec(&["1", "a", "3", "4", ""])),
            Err("expected 3 fields but found 4".to_owned())
        );
        assert_eq!(
            columns.check_width(&rec(&["1", "a", "3", "", "5"])),
            Err("expected 3 fields but found 5".to_owned())
        );
    }

    /// `check_width` with the problem's message only.
    struct CheckMessages(ColumnMap);
    impl CheckMessages {
        fn check_width(&self, record: &StringRecord) -> Result<(), String> {
            self.0.check_width(record).map_err(|p| p.message)
        }
    }

    #[test]
    fn header_of_names_the_column_as_the_file_writes_it() {
        let columns = ok(&["\u{feff}opp id", "NAME", "Notes"]);
        assert_eq!(columns.header_of(ID), Some("opp id"));
        assert_eq!(columns.header_of(NAME), Some("NAME"));
        assert_eq!(columns.header_of(AMOUNT), None);
        assert_eq!(columns.header_of(99), None);
    }

    /// The header line of a corpus file, read through csv_source.
    fn corpus_header(rel: &str) -> StringRecord {
        use super::super::csv_source;
        let path =
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")).join(rel);
        let format = csv_source::sniff(&path).unwrap();
        let mut reader = csv_source::open(&path, &format).unwrap();
        let mut header = StringRecord::new();
        assert!(csv_source::read_record(&mut reader, &mut header).unwrap());
        header
    }

    #[test]
    fn corpus_salesforce_headers() {
        // Data Loader export: ALL-CAPS API names; the external id needs a mapping.
        let header = corpus_header("salesforce-dataloader/opportunityData.csv");
        let err = resolve(&header, FIELDS, None).unwrap_err();
        assert_eq!(err, HeaderError::MissingRequired(vec!["Opportunity ID"]));
        let mapping = map(&[
            ("ORACLE_ID__C", "Opportunity ID"),
            ("NAME", "Opportunity Name"),
            ("CLOSEDATE", "Close Date"),
        ]);
        let columns = resolve(&header, FIELDS, Some(&mapping)).unwrap();
        assert_eq!(columns.width(), 31);
        assert!(columns.has("Amount") && columns.has("Close Date"));
        assert_eq!(
            header.get(columns.index("Opportunity ID").unwrap()),
            Some("ORACLE_ID__C")
        );

        // Data Cloud export with a BOM: "CloseDate", "AccountId".
        let header = corpus_header("salesforce-data-cloud-workshop/Opportunity.csv");
        let mapping = map(&[("External_id__c", "Opportunity ID")]);
        let columns = resolve(&header, FIELDS, Some(&mapping)).unwrap();
        assert!(columns.has("Close Date") && columns.has("Account ID") && columns.has("Amount"));
        assert!(
            !columns
                .header_names()
                .next()
                .unwrap()
                .starts_with('\u{feff}')
        );
    }

    #[test]
    fn corpus_frictionless_headers() {
        let specs = &[FieldSpec {
            name: "id",
            aliases: &[],
            required: true,
        }];
        let err = resolve(
            &corpus_header("frictionless-py/blank-headers.csv"),
            specs,
            None,
        )
        .unwrap_err();
        assert_eq!(err, HeaderError::EmptyName { column: 2 });
        let err = resolve(
            &corpus_header("frictionless-py/duplicate-headers.csv"),
            specs,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, HeaderError::Duplicate { .. }));
        // Trailing ";" on every line: the empty last header cell is dropped.
        let header = corpus_header("frictionless-py/issue-1138.csv");
        let any = &[FieldSpec {
            name: "unused",
            aliases: &[],
            required: false,
        }];
        assert_eq!(
            resolve(&header, any, None).unwrap().width(),
            header.len() - 1
        );
    }
}
