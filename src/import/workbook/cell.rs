//! A workbook cell as the text a sales admin means by it, so that the rows of a sheet can
//! go through the same header resolution and value parsers as the fields of a CSV file.

use calamine::{Data, DataRef, ExcelDateTime};
use chrono::{NaiveDateTime, NaiveTime, TimeDelta, Timelike};

/// Significant digits kept from a float: 15 is what Excel itself shows, and it hides the
/// binary noise of stored values (`0.1 + 0.2`, `80000.00000000001`).
const SIGNIFICANT_DIGITS: usize = 15;

/// A cell as text:
/// - numbers without exponent; integers without decimals; other floats rounded to 15
///   significant digits with trailing zeros removed (`0.1 + 0.2` -> `"0.3"`);
/// - date cells (whatever their number format, 1900 or 1904 date system) as `YYYY-MM-DD`,
///   or `YYYY-MM-DD HH:MM:SS` when they have a time part; a time without a date (a serial
///   below 1, in either system) as `HH:MM:SS`; durations (`[h]:mm:ss`) as `H:MM:SS`;
/// - OpenDocument dates (`Data::DateTimeIso`) in the same formats, durations as they are
///   stored (`PT1H30M0S`);
/// - text trimmed, like a CSV field; booleans `TRUE`/`FALSE`; error cells as their error
///   text (`#N/A`); empty cells `""`.
///
/// Formula cells arrive here as their cached value.
pub(crate) fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.trim().to_owned(),
        Data::Bool(b) => bool_text(*b),
        Data::DateTime(dt) => excel_datetime_text(dt),
        Data::DateTimeIso(s) => iso_datetime_text(s),
        Data::DurationIso(s) => s.trim().to_owned(),
        Data::Error(e) => e.to_string(),
        Data::Empty => String::new(),
    }
}

/// [`cell_text`] for the borrowed cells of calamine's streaming xlsx reader.
pub(crate) fn cell_ref_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.trim().to_owned(),
        DataRef::SharedString(s) => s.trim().to_owned(),
        DataRef::Bool(b) => bool_text(*b),
        DataRef::DateTime(dt) => excel_datetime_text(dt),
        DataRef::DateTimeIso(s) => iso_datetime_text(s),
        DataRef::DurationIso(s) => s.trim().to_owned(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

fn bool_text(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_owned()
}

/// A float without exponent and without float noise (see [`cell_text`]).
pub(crate) fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    // Rounding through the scientific notation keeps 15 significant digits whatever the
    // magnitude; `Display` of the rounded f64 is then the shortest text that reads back
    // as it, and never uses an exponent.
    let rounded: f64 = format!("{:.*e}", SIGNIFICANT_DIGITS - 1, f)
        .parse()
        .unwrap_or(f);
    if rounded == 0.0 {
        // No "-0".
        return "0".to_owned();
    }
    rounded.to_string()
}

fn excel_datetime_text(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        return duration_text(dt.as_f64());
    }
    let serial = dt.as_f64();
    let Some(datetime) = dt.as_datetime() else {
        // Out of chrono's range: the number is all there is.
        return number_text(serial);
    };
    let datetime = round_to_second(datetime);
    if (0.0..1.0).contains(&serial) {
        // Excel stores a time of day without a date as a fraction of day 0, in both
        // systems (day 0 of the 1904 system, 1904-01-01, is no sales date either).
        return datetime.format("%H:%M:%S").to_string();
    }
    datetime_text(datetime)
}

/// Excel keeps milliseconds; an admin sees seconds, and float noise such as 10:29:59.9996
/// means 10:30:00.
fn round_to_second(datetime: NaiveDateTime) -> NaiveDateTime {
    let rounded = datetime
        .checked_add_signed(TimeDelta::milliseconds(500))
        .unwrap_or(datetime);
    rounded.with_nanosecond(0).unwrap_or(rounded)
}

fn datetime_text(datetime: NaiveDateTime) -> String {
    if datetime.time() == NaiveTime::MIN {
        datetime.format("%Y-%m-%d").to_string()
    } else {
        datetime.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// A duration in days as `H:MM:SS` (hours may exceed 24), like Excel's `[h]:mm:ss`.
fn duration_text(days: f64) -> String {
    let total = (days * 86_400.0).round();
    if !total.is_finite() || total.abs() > i64::MAX as f64 / 2.0 {
        return number_text(days);
    }
    let total = total as i64;
    let sign = if total < 0 { "-" } else { "" };
    let total = total.unsigned_abs();
    format!(
        "{sign}{}:{:02}:{:02}",
        total / 3600,
        total / 60 % 60,
        total % 60
    )
}

/// ODS date values are ISO 8601 (`2024-03-15` or `2024-03-15T10:30:00`, maybe with
/// fractions of a second); anything unexpected is kept as it is.
fn iso_datetime_text(raw: &str) -> String {
    let raw = raw.trim();
    if let Ok(date) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return date.format("%Y-%m-%d").to_string();
    }
    match NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f") {
        Ok(datetime) => datetime_text(round_to_second(datetime)),
        Err(_) => raw.to_owned(),
    }
}
