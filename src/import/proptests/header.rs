//! The header resolver on arbitrary header lines and mappings, with the real field lists
//! of the three kinds: it never panics, a refused header gets a message, and a resolved
//! one is consistent (required fields present, one column per field, columns inside the
//! header).

use std::collections::HashMap;

use csv::StringRecord;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::domain::JobKind;
use crate::import::{
    fields_of,
    header::{self, FieldSpec, normalise},
};

const KINDS: [JobKind; 3] = [
    JobKind::Opportunities,
    JobKind::Contacts,
    JobKind::SalesTargets,
];

/// Every name a kind's fields are known by: canonical names and aliases.
fn known_names(specs: &[FieldSpec]) -> Vec<&'static str> {
    specs
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
        .collect()
}

/// `name` respelled the ways exports do: any letter case, and spaces, `_`, `-` or `.`
/// between words or letters. Normalises to the same name.
fn respell(name: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        let choice = choices.get(i).copied().unwrap_or(0);
        if c == ' ' {
            // Any separator, or none at all.
            out.push_str([" ", "_", "-", ".", ""][usize::from(choice % 5)]);
            continue;
        }
        match choice % 4 {
            0 => out.extend(c.to_uppercase()),
            1 => out.extend(c.to_lowercase()),
            2 if choice % 16 == 2 => {
                out.push(c);
                out.push('_');
            }
            _ => out.push(c),
        }
    }
    if choices.first().is_some_and(|c| c % 7 == 0) {
        out = format!(" {out}\u{a0}");
    }
    out
}

/// A header cell: a known name of any kind respelled, blank, a BOM, or anything.
fn cell() -> impl Strategy<Value = String> {
    let all: Vec<&'static str> = KINDS
        .iter()
        .flat_map(|&k| known_names(fields_of(k)))
        .collect();
    prop_oneof![
        4 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 0..32))
            .prop_map(move |(i, choices)| respell(i.get::<&str>(&all), &choices)),
        1 => Just(String::new()),
        1 => "[ \t\u{a0}\u{3000}]{1,3}",
        1 => Just("\u{feff}Opportunity ID".to_owned()),
        2 => "\\PC{0,12}",
    ]
}

fn header_line() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(cell(), 0..12)
}

/// A mapping from some header cells (or other names) to known names or nonsense.
fn mapping(
    header: Vec<String>,
) -> impl Strategy<Value = (Vec<String>, Option<HashMap<String, String>>)> {
    let all: Vec<&'static str> = KINDS
        .iter()
        .flat_map(|&k| known_names(fields_of(k)))
        .collect();
    let keys = if header.is_empty() {
        vec![String::from("x")]
    } else {
        header.clone()
    };
    let entry = (
        prop_oneof![3 => any::<Index>().prop_map(move |i| i.get(&keys).clone()), 1 => "\\PC{0,8}"],
        prop_oneof![3 => any::<Index>().prop_map(move |i| i.get::<&str>(&all).to_string()), 1 => "\\PC{0,8}"],
    );
    proptest::option::of(proptest::collection::hash_map(entry.0, entry.1, 0..4))
        .prop_map(move |m| (header.clone(), m))
}

/// A resolved header is consistent with the header line and the specs.
fn check_resolved(
    kind: JobKind,
    cells: &[String],
    mapping: Option<&HashMap<String, String>>,
    row: &[String],
) -> Result<(), TestCaseError> {
    let specs = fields_of(kind);
    let columns = match header::resolve(&StringRecord::from(cells.to_vec()), specs, mapping) {
        Ok(columns) => columns,
        Err(e) => {
            prop_assert!(e.to_string().len() > 10, "{e:?} says nothing");
            return Ok(());
        }
    };
    let width = cells
        .iter()
        .rposition(|c| !normalise(c).is_empty())
        .map_or(0, |i| i + 1);
    prop_assert!(width > 0);
    prop_assert_eq!(columns.width(), width);
    prop_assert_eq!(columns.header_names().count(), width);
    let mut used = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let column = columns.index(spec.name);
        prop_assert!(
            !spec.required || column.is_some(),
            "{} is required",
            spec.name
        );
        if let Some(column) = column {
            prop_assert!(column < width);
            prop_assert!(
                !used.contains(&column),
                "column {} serves two fields",
                column
            );
            used.push(column);
        }
        // Reading any record through the map never panics.
        let record = StringRecord::from(row.to_vec());
        let value = columns.get(index, &record);
        prop_assert_eq!(value, column.and_then(|c| row.get(c)).map(|v| v.trim()));
    }
    let record = StringRecord::from(row.to_vec());
    if let Err(problem) = columns.check_width(&record) {
        let message = problem.message;
        prop_assert!(message.starts_with("expected "), "{}", message);
    }
    Ok(())
}

proptest! {
    #![proptest_config(super::config(512))]

    #[test]
    fn any_header_resolves_consistently_or_is_refused_with_a_message(
        kind in proptest::sample::select(KINDS.to_vec()),
        (cells, mapping) in header_line().prop_flat_map(mapping),
        row in proptest::collection::vec("\\PC{0,6}", 0..14),
    ) {
        if let Some(mapping) = &mapping
            && let Err(e) = header::validate_mapping(mapping, fields_of(kind))
        {
            prop_assert!(e.to_string().len() > 10, "{e:?} says nothing");
        }
        check_resolved(kind, &cells, mapping.as_ref(), &row)?;
    }

    #[test]
    fn every_field_is_found_under_any_spelling_in_any_order(
        kind in proptest::sample::select(KINDS.to_vec()),
        order in any::<u64>(),
        spellings in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 16),
        unknown in 0usize..3,
    ) {
        let specs = fields_of(kind);
        // Canonical names respelled, plus columns the kind does not know, shuffled.
        let mut cells: Vec<String> = specs
            .iter()
            .zip(&spellings)
            .map(|(spec, choices)| respell(spec.name, choices))
            .chain((0..unknown).map(|i| format!("Notes {i}")))
            .collect();
        let n = cells.len();
        for i in (1..n).rev() {
            cells.swap(i, (order.rotate_left(i as u32) % (i as u64 + 1)) as usize);
        }
        let columns = header::resolve(&StringRecord::from(cells.clone()), specs, None)
            .map_err(|e| TestCaseError::fail(format!("{cells:?}: {e}")))?;
        for spec in specs {
            let column = columns.index(spec.name).unwrap();
            prop_assert_eq!(normalise(&cells[column]), normalise(spec.name));
        }
    }
}
