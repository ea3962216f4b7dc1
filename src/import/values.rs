//! Parsers for cell values as exports really write them: amounts with currency signs and
//! thousands separators, US, European and ISO dates, months, e-mail addresses.
//!
//! Every error is a short sentence for a sales admin that quotes the bad value.

use std::str::FromStr;

use chrono::{Datelike, Month, NaiveDate, NaiveTime};
use email_address::{EmailAddress, Options};
use rust_decimal::Decimal;

use crate::domain::ProblemCode;

/// Why a value was refused: its problem code and a sentence that quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ValueError {
    /// The problem's code.
    pub code: ProblemCode,
    /// The sentence for the error CSV.
    pub message: String,
}

impl ValueError {
    fn new(code: ProblemCode, message: String) -> Self {
        Self { code, message }
    }
}

/// Currency signs accepted before or after an amount.
const CURRENCY: [char; 3] = ['$', '€', '£'];

/// Thousands separators besides `,` / `.`: space, no-break space, narrow no-break space
/// (French Excel) and thin space.
const SPACES: [char; 4] = [' ', '\u{a0}', '\u{202f}', '\u{2009}'];

/// Longest value quoted in full in an error message.
const QUOTE_MAX: usize = 40;

/// Parses a money amount.
///
/// Accepts `80000`, `80000.5`, `-80000`, `(1,200.00)` (negative), `$`, `€` or `£` before or
/// after the number, and thousands separators (`,` or spaces, always in groups of three).
/// With `decimal_comma` (semicolon files) the roles flip: `80.000,00`, `80000,50`, `1,5`;
/// a single `.` that cannot be a thousands separator (`80000.50`, `1.5`) is then read as
/// the decimal point, while `1.500` stays 1500. Without `decimal_comma`, `1.234.567` is
/// rejected: a dot is the decimal point there, never a thousands separator.
pub(crate) fn parse_amount(raw: &str, decimal_comma: bool) -> Result<Decimal, ValueError> {
    let not_a_number = || {
        ValueError::new(
            ProblemCode::InvalidAmount,
            format!("Amount {} is not a number", quoted(raw)),
        )
    };
    let mut s = raw.trim();
    let mut negative = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|rest| rest.strip_suffix(')')) {
        negative = true;
        s = inner.trim();
    }
    let (s, had_currency) = strip_currency(s);
    let s = match s.strip_prefix('-') {
        Some(_) if negative => return Err(not_a_number()),
        Some(rest) => {
            negative = true;
            // The sign may come before the currency sign: `-$80`.
            if had_currency {
                rest
            } else {
                strip_currency(rest).0
            }
        }
        None => s,
    };
    let number = if decimal_comma {
        plain_number(s, ',', '.').or_else(|| {
            let single_dot = !s.contains(',') && s.matches('.').count() == 1;
            single_dot.then(|| plain_number(s, '.', ' ')).flatten()
        })
    } else {
        plain_number(s, '.', ',')
    };
    let number = number.ok_or_else(not_a_number)?;
    let value = Decimal::from_str_exact(&number).map_err(|_| {
        ValueError::new(
            ProblemCode::AmountOutOfRange,
            format!(
                "Amount {} is too large or has too many decimals",
                quoted(raw)
            ),
        )
    })?;
    Ok(if negative { -value } else { value })
}

/// Removes one currency sign at the start or end, and the space next to it.
fn strip_currency(s: &str) -> (&str, bool) {
    if let Some(rest) = s.strip_prefix(CURRENCY) {
        (rest.trim_start(), true)
    } else if let Some(rest) = s.strip_suffix(CURRENCY) {
        (rest.trim_end(), true)
    } else {
        (s, false)
    }
}

/// `digits[point digits]` with optional thousands separators (`group` or spaces, one kind
/// per number, groups of three) rewritten as `digits.digits`; `None` when malformed.
fn plain_number(s: &str, point: char, group: char) -> Option<String> {
    let (int, frac) = match s.split_once(point) {
        Some((int, frac)) => (int, Some(frac)),
        None => (s, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mut number = match int.chars().find(|&c| c == group || SPACES.contains(&c)) {
        None if int.is_empty() && frac.is_some() => "0".to_owned(),
        None if all_digits(int) => int.to_owned(),
        None => return None,
        Some(separator) => {
            let mut groups = int.split(separator);
            let first = groups.next()?;
            let first_ok = all_digits(first) && first.len() <= 3;
            if !first_ok || !groups.clone().all(|g| all_digits(g) && g.len() == 3) {
                return None;
            }
            int.replace(separator, "")
        }
    };
    if let Some(frac) = frac {
        if !all_digits(frac) {
            return None;
        }
        number.push('.');
        number.push_str(frac);
    }
    Some(number)
}

/// Parses a date.
///
/// Accepts ISO `2017-02-15` (also with a time: `2017-02-15T10:00:00Z`, `+01:00`,
/// `2017-02-15 10:00:00`; the date is taken as written, not converted to UTC), slash
/// dates `2/15/2017` and `15/02/2017`, dot dates `15.02.2017` (always day first), and
/// month names: `Feb 15, 2017`, `February 15, 2017`, `15-Feb-2017`, `15 Feb 2017`.
/// A slash date is day-first when its first number is above 12, month-first when its
/// second is; otherwise day-first only when `day_first` (semicolon files). Two-digit
/// years and impossible dates (`2/30/2017`) are errors.
pub(crate) fn parse_date(raw: &str, day_first: bool) -> Result<NaiveDate, ValueError> {
    date_with_time(raw.trim(), day_first).map_err(|issue| issue.message("Date", raw))
}

/// Parses a month: any date [`parse_date`] accepts, or `2017-02`, `02/2017`, `Feb 2017`,
/// `February 2017`. Returns the first day of the month.
pub(crate) fn parse_month(raw: &str, day_first: bool) -> Result<NaiveDate, ValueError> {
    let s = raw.trim();
    let date = match date_with_time(s, day_first) {
        Err(DateIssue::Unrecognised) => month_only(s),
        other => other,
    };
    date.and_then(|d| d.with_day(1).ok_or(DateIssue::NotInCalendar))
        .map_err(|issue| issue.message("Month", raw))
}

/// Why a date did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateIssue {
    Unrecognised,
    TwoDigitYear,
    NotInCalendar,
}

impl DateIssue {
    fn message(self, label: &str, raw: &str) -> ValueError {
        let value = quoted(raw);
        let month = label == "Month";
        let example = if month { "YYYY-MM" } else { "YYYY-MM-DD" };
        match self {
            DateIssue::Unrecognised => ValueError::new(
                if month {
                    ProblemCode::InvalidMonth
                } else {
                    ProblemCode::InvalidDate
                },
                format!(
                    "{label} {value} is not a recognised {}; use {example}",
                    label.to_lowercase()
                ),
            ),
            DateIssue::TwoDigitYear => ValueError::new(
                ProblemCode::TwoDigitYear,
                format!("{label} {value} has a two-digit year; write the year with four digits"),
            ),
            DateIssue::NotInCalendar => ValueError::new(
                ProblemCode::DateNotInCalendar,
                format!("{label} {value} does not exist in the calendar"),
            ),
        }
    }
}

/// A date, optionally followed by a time of day that is checked and then ignored.
fn date_with_time(s: &str, day_first: bool) -> Result<NaiveDate, DateIssue> {
    let date = match s.find(':') {
        None => s,
        Some(colon) => {
            // The time starts after the last space or `T` before its first colon.
            let start = s[..colon]
                .rfind([' ', 'T'])
                .ok_or(DateIssue::Unrecognised)?;
            if !is_time(&s[start + 1..]) {
                return Err(DateIssue::Unrecognised);
            }
            s[..start].trim_end()
        }
    };
    date_only(date, day_first)
}

/// `10:00`, `10:00:00`, `10:00:00.000`, optionally with AM/PM and a zone (`Z`, `+01:00`,
/// `+0100`, `UTC`). Salesforce sometimes writes `Z` and an offset together.
fn is_time(t: &str) -> bool {
    let parsed = NaiveTime::parse_and_remainder(t, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_and_remainder(t, "%H:%M"));
    let Ok((_, rest)) = parsed else { return false };
    let mut rest = rest.trim_start();
    if let Some(after) = ["AM", "PM", "am", "pm"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
    {
        rest = after.trim_start();
    }
    let rest = rest.strip_prefix('Z').unwrap_or(rest).trim_start();
    if rest.is_empty() || rest == "UTC" || rest == "GMT" {
        return true;
    }
    let Some(offset) = rest.strip_prefix(['+', '-']) else {
        return false;
    };
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    offset.is_ascii()
        && match offset.len() {
            2 => two_digits(offset),
            4 => two_digits(&offset[..2]) && two_digits(&offset[2..]),
            5 => two_digits(&offset[..2]) && &offset[2..3] == ":" && two_digits(&offset[3..]),
            _ => false,
        }
}

/// The date part alone: numeric with `-`, `/` or `.`, or with a month name.
fn date_only(s: &str, day_first: bool) -> Result<NaiveDate, DateIssue> {
    match numeric_parts::<3>(s) {
        Some((separator, [a, b, c])) => numeric_date(separator, a, b, c, day_first),
        None => named_month_date(s),
    }
}

/// Splits `s` on its first non-digit character into `N` non-empty runs of digits.
fn numeric_parts<const N: usize>(s: &str) -> Option<(char, [&str; N])> {
    let separator = s.chars().find(|c| !c.is_ascii_digit())?;
    if !matches!(separator, '-' | '/' | '.') {
        return None;
    }
    let parts: Vec<&str> = s.split(separator).collect();
    let parts: [&str; N] = parts.try_into().ok()?;
    parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .then_some((separator, parts))
}

fn numeric_date(
    separator: char,
    a: &str,
    b: &str,
    c: &str,
    day_first: bool,
) -> Result<NaiveDate, DateIssue> {
    let short = |part: &str| part.len() <= 2;
    let n = |part: &str| part.parse::<u32>().unwrap_or(0);
    if a.len() == 4 && short(b) && short(c) {
        return ymd(n(a) as i32, n(b), n(c));
    }
    if !short(a) || !short(b) {
        return Err(DateIssue::Unrecognised);
    }
    match c.len() {
        4 => {}
        1 | 2 => return Err(DateIssue::TwoDigitYear),
        _ => return Err(DateIssue::Unrecognised),
    }
    let (a, b, year) = (n(a), n(b), n(c) as i32);
    let day_month = separator == '.' || a > 12 || (b <= 12 && day_first);
    if day_month {
        ymd(year, b, a)
    } else {
        ymd(year, a, b)
    }
}

/// `Feb 15, 2017`, `February 15 2017`, `15-Feb-2017`, `15 Feb 2017`.
fn named_month_date(s: &str) -> Result<NaiveDate, DateIssue> {
    let tokens: Vec<&str> = words(s);
    let [first, second, year] = tokens[..] else {
        return Err(DateIssue::Unrecognised);
    };
    let (month, day) = match (month_name(first), month_name(second)) {
        (Some(month), None) => (month, second),
        (None, Some(month)) => (month, first),
        _ => return Err(DateIssue::Unrecognised),
    };
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateIssue::Unrecognised);
    }
    ymd(four_digit_year(year)?, month, day.parse().unwrap_or(0))
}

/// `2017-02`, `2017/02`, `02/2017`, `02.2017`, `Feb 2017`, `February-2017`, `2017 Feb`.
fn month_only(s: &str) -> Result<NaiveDate, DateIssue> {
    if let Some((_, [a, b])) = numeric_parts::<2>(s) {
        let (year, month) = match (a.len(), b.len()) {
            (4, 1 | 2) => (a, b),
            (1 | 2, 4) => (b, a),
            (1 | 2, 1 | 2) => return Err(DateIssue::TwoDigitYear),
            _ => return Err(DateIssue::Unrecognised),
        };
        return ymd(year.parse().unwrap_or(0), month.parse().unwrap_or(0), 1);
    }
    let tokens = words(s);
    let [first, second] = tokens[..] else {
        return Err(DateIssue::Unrecognised);
    };
    match (month_name(first), month_name(second)) {
        (Some(month), None) => ymd(four_digit_year(second)?, month, 1),
        (None, Some(month)) => ymd(four_digit_year(first)?, month, 1),
        _ => Err(DateIssue::Unrecognised),
    }
}

/// Splits on spaces, commas, dashes, dots and slashes.
fn words(s: &str) -> Vec<&str> {
    s.split([' ', ',', '-', '.', '/'])
        .filter(|w| !w.is_empty())
        .collect()
}

/// `Feb` or `February` (any case) as 1–12.
fn month_name(word: &str) -> Option<u32> {
    Month::from_str(word)
        .ok()
        .map(|month| month.number_from_month())
}

fn four_digit_year(word: &str) -> Result<i32, DateIssue> {
    if !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateIssue::Unrecognised);
    }
    match word.len() {
        4 => Ok(word.parse().unwrap_or(0)),
        1 | 2 => Err(DateIssue::TwoDigitYear),
        _ => Err(DateIssue::Unrecognised),
    }
}

fn ymd(year: i32, month: u32, day: u32) -> Result<NaiveDate, DateIssue> {
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateIssue::NotInCalendar)
}

/// Checks an e-mail address (with a domain that has a dot, without display name) and
/// returns it trimmed, as written. Compare addresses with [`email_key`].
pub(crate) fn parse_email(raw: &str) -> Result<&str, ValueError> {
    let email = raw.trim();
    let options = Options::default()
        .with_required_tld()
        .without_display_text()
        .without_domain_literal();
    EmailAddress::parse_with_options(email, options)
        .map(|_| email)
        .map_err(|_| {
            ValueError::new(
                ProblemCode::InvalidEmail,
                format!("Email {} is not a valid email address", quoted(raw)),
            )
        })
}

/// The key for comparing e-mail addresses case-insensitively.
pub(crate) fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The trimmed text, or `None` when nothing is left. One `'` before `=`, `+`, `-` or `@`
/// is dropped: it is the quote that this service's CSV exports and error files (and
/// spreadsheets, by hand) put before text that would otherwise run as a formula, so that
/// an exported or corrected file uploads again as the values it shows.
pub(crate) fn clean_text(raw: &str) -> Option<&str> {
    let text = raw.trim();
    let text = match text.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => text,
    };
    Some(text).filter(|text| !text.is_empty())
}

/// The trimmed value in double quotes, cut short when long (a whole JSON blob in the
/// wrong column should not flood the error file).
fn quoted(raw: &str) -> String {
    let value = raw.trim();
    match value.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("\"{}…\"", &value[..cut]),
        None => format!("\"{value}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The message tests below compare sentences; `codes_of_each_failure` the codes.
    fn parse_amount(raw: &str, decimal_comma: bool) -> Result<Decimal, String> {
        super::parse_amount(raw, decimal_comma).map_err(|e| e.message)
    }
    fn parse_date(raw: &str, day_first: bool) -> Result<NaiveDate, String> {
        super::parse_date(raw, day_first).map_err(|e| e.message)
    }
    fn parse_month(raw: &str, day_first: bool) -> Result<NaiveDate, String> {
        super::parse_month(raw, day_first).map_err(|e| e.message)
    }
    fn parse_email(raw: &str) -> Result<String, String> {
        super::parse_email(raw)
            .map(str::to_owned)
            .map_err(|e| e.message)
    }

    #[test]
    fn codes_of_each_failure() {
        let code = |result: Result<(), ValueError>| result.unwrap_err().code;
        let amount = |raw: &str| code(super::parse_amount(raw, false).map(drop));
        let date = |raw: &str| code(super::parse_date(raw, false).map(drop));
        let month = |raw: &str| code(super::parse_month(raw, false).map(drop));
        assert_eq!(amount("12abc"), ProblemCode::InvalidAmount);
        assert_eq!(amount(&"9".repeat(40)), ProblemCode::AmountOutOfRange);
        assert_eq!(
            amount("0.12345678901234567890123456789"),
            ProblemCode::AmountOutOfRange
        );
        assert_eq!(date("abc"), ProblemCode::InvalidDate);
        assert_eq!(date("2/15/17"), ProblemCode::TwoDigitYear);
        assert_eq!(date("2017-02-30"), ProblemCode::DateNotInCalendar);
        assert_eq!(month("Q1 2017"), ProblemCode::InvalidMonth);
        assert_eq!(month("Feb-17"), ProblemCode::TwoDigitYear);
        assert_eq!(month("13/2017"), ProblemCode::DateNotInCalendar);
        assert_eq!(
            code(super::parse_email("jane@").map(drop)),
            ProblemCode::InvalidEmail
        );
        // The message is the error's text.
        let error = super::parse_amount("x", false).unwrap_err();
        assert_eq!(error.to_string(), error.message);
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn amounts_with_decimal_point() {
        let cases = [
            ("80000", "80000"),
            ("80000.5", "80000.5"),
            ("80000.50", "80000.50"),
            ("$80,000.00", "80000.00"),
            ("80 000", "80000"),
            ("80\u{a0}000", "80000"),
            ("1\u{202f}234\u{202f}567", "1234567"),
            ("-80000", "-80000"),
            ("(1,200.00)", "-1200.00"),
            ("($1,200.00)", "-1200.00"),
            ("-$80", "-80"),
            ("$-80", "-80"),
            ("$ 80", "80"),
            ("80 €", "80"),
            ("€80", "80"),
            ("£1,234,567.89", "1234567.89"),
            ("1,200.50", "1200.50"),
            ("  42  ", "42"),
            ("0.5", "0.5"),
            (".5", "0.5"),
            ("500000.0", "500000.0"),
            ("1124741.15", "1124741.15"),
            ("0", "0"),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_amount(raw, false), Ok(dec(expected)), "{raw}");
        }
    }

    #[test]
    fn amounts_with_decimal_comma() {
        let cases = [
            ("80.000,00", "80000.00"),
            ("80000,50", "80000.50"),
            ("1.200,50", "1200.50"),
            ("1,5", "1.5"),
            ("80 000,00 €", "80000.00"),
            ("80\u{202f}000,00", "80000.00"),
            ("-1.234.567,89", "-1234567.89"),
            ("(1.200,00)", "-1200.00"),
            ("80000", "80000"),
            ("1.500", "1500"),
            ("200.000.000", "200000000"),
            ("80000.50", "80000.50"),
            ("1.5", "1.5"),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_amount(raw, true), Ok(dec(expected)), "{raw}");
        }
    }

    #[test]
    fn rejected_amounts() {
        let point = [
            "12abc",
            "1.2.3",
            "1.234.567",
            "--5",
            "-",
            "$",
            "",
            "  ",
            "(-5)",
            "(5",
            "5)",
            "1,23",
            "1,2345",
            ",123",
            "12,34,567",
            "80.",
            "1,000 000",
            "5-",
            "- 5",
            "1e5",
            "0x10",
            "$$5",
            "5$€",
            "abc",
        ];
        for raw in point {
            let err = parse_amount(raw, false).unwrap_err();
            assert_eq!(
                err,
                format!("Amount \"{}\" is not a number", raw.trim()),
                "{raw}"
            );
        }
        for raw in [
            "1,200.50", "1,5,3", "1.2.3", "12abc", "1.50,5.5", "1.5.", "1.23,5",
        ] {
            assert!(parse_amount(raw, true).is_err(), "{raw}");
        }
    }

    #[test]
    fn amount_error_messages() {
        assert_eq!(
            parse_amount("12abc", false).unwrap_err(),
            "Amount \"12abc\" is not a number"
        );
        let huge = "9".repeat(40);
        assert!(
            parse_amount(&huge, false)
                .unwrap_err()
                .contains("too large")
        );
        let long = "x".repeat(100);
        let err = parse_amount(&long, false).unwrap_err();
        assert!(err.len() < 70, "{err}");
        assert!(err.contains('…'));
    }

    #[test]
    fn iso_dates_and_timestamps() {
        let cases = [
            "2017-02-15",
            "2017-2-15",
            "2017/02/15",
            "2017-02-15T10:00:00Z",
            "2017-02-15T10:00:00.000Z",
            "2017-02-15T10:00:00+01:00",
            "2017-02-15T23:30:00-05:00",
            "2017-02-15T10:00:00.000+0000",
            "2017-02-15T10:00:00.000Z-0300",
            "2017-02-15 10:00:00",
            "2017-02-15 10:00",
            "2017-02-15T10:00",
            " 2017-02-15 ",
        ];
        for raw in cases {
            assert_eq!(parse_date(raw, false), Ok(date(2017, 2, 15)), "{raw}");
        }
    }

    #[test]
    fn us_and_european_dates() {
        let month_first = [
            "2/15/2017",
            "02/15/2017",
            "Feb 15, 2017",
            "February 15, 2017",
            "feb 15 2017",
        ];
        let day_first = [
            "15.02.2017",
            "15/02/2017",
            "15-Feb-2017",
            "15 Feb 2017",
            "15 February 2017",
        ];
        for raw in month_first.iter().chain(&day_first) {
            assert_eq!(parse_date(raw, false), Ok(date(2017, 2, 15)), "{raw}");
            assert_eq!(
                parse_date(raw, true),
                Ok(date(2017, 2, 15)),
                "{raw} day_first"
            );
        }
        assert_eq!(
            parse_date("07/15/2009 02:14:45+0800", false),
            Ok(date(2009, 7, 15))
        );
        assert_eq!(
            parse_date("2/15/2017 10:00 AM", false),
            Ok(date(2017, 2, 15))
        );
        assert_eq!(
            parse_date("09.07.2013 12:00:00", false),
            Ok(date(2013, 7, 9))
        );
        assert_eq!(parse_date("24 October 2011", false), Ok(date(2011, 10, 24)));
    }

    #[test]
    fn ambiguous_slash_dates() {
        assert_eq!(parse_date("02/01/2014", false), Ok(date(2014, 2, 1)));
        assert_eq!(parse_date("02/01/2014", true), Ok(date(2014, 1, 2)));
        assert_eq!(parse_date("31/12/2012", false), Ok(date(2012, 12, 31)));
        assert_eq!(parse_date("12/31/2012", true), Ok(date(2012, 12, 31)));
        // Dots are always day first.
        assert_eq!(parse_date("02.01.2014", false), Ok(date(2014, 1, 2)));
    }

    #[test]
    fn rejected_dates() {
        let unrecognised = [
            "",
            "abc",
            "2017",
            "15022017",
            "2017-02-15 foo",
            "2017-02-15Tnoon",
            "2017-02-15T25:00",
            "2017\\7\\14",
            "2017-07/14",
            "Feb 2017",
            "Foo 15, 2017",
            "2017-02-15T10:00:00+1",
            "1/2/3/2017",
            "123/1/2017",
            "2/15/20177",
            "15 Feb Mar",
        ];
        for raw in unrecognised {
            let err = parse_date(raw, false).unwrap_err();
            assert!(
                err.ends_with("is not a recognised date; use YYYY-MM-DD"),
                "{raw}: {err}"
            );
            assert!(
                err.starts_with(&format!("Date \"{}\"", raw.trim())),
                "{raw}: {err}"
            );
        }
        for raw in ["2/15/17", "15.02.17", "Feb 15, 17", "15-Feb-17"] {
            let err = parse_date(raw, false).unwrap_err();
            assert_eq!(
                err,
                format!("Date \"{raw}\" has a two-digit year; write the year with four digits")
            );
        }
        for raw in [
            "2/30/2017",
            "2017-02-29",
            "31.04.2017",
            "Feb 30, 2017",
            "13/13/2017",
            "2017-13-01",
        ] {
            let err = parse_date(raw, false).unwrap_err();
            assert_eq!(
                err,
                format!("Date \"{raw}\" does not exist in the calendar")
            );
        }
        assert_eq!(parse_date("2016-02-29", false), Ok(date(2016, 2, 29)));
    }

    #[test]
    fn months() {
        let cases = [
            "2017-02",
            "2017/02",
            "2017-2",
            "02/2017",
            "2/2017",
            "02.2017",
            "Feb 2017",
            "February 2017",
            "feb-2017",
            "2017 Feb",
            "2017-02-15",
            "2/15/2017",
            "15.02.2017",
            "Feb 15, 2017",
            "2017-02-15T10:00:00Z",
        ];
        for raw in cases {
            assert_eq!(parse_month(raw, false), Ok(date(2017, 2, 1)), "{raw}");
        }
        assert_eq!(parse_month("03/02/2017", true), Ok(date(2017, 2, 1)));
        assert_eq!(parse_month("03/02/2017", false), Ok(date(2017, 3, 1)));
    }

    #[test]
    fn rejected_months() {
        assert_eq!(
            parse_month("Feb-17", false).unwrap_err(),
            "Month \"Feb-17\" has a two-digit year; write the year with four digits"
        );
        assert_eq!(
            parse_month("02/17", false).unwrap_err(),
            "Month \"02/17\" has a two-digit year; write the year with four digits"
        );
        assert_eq!(
            parse_month("13/2017", false).unwrap_err(),
            "Month \"13/2017\" does not exist in the calendar"
        );
        assert_eq!(
            parse_month("2/30/2017", false).unwrap_err(),
            "Month \"2/30/2017\" does not exist in the calendar"
        );
        for raw in ["", "Q1 2017", "2017", "abc 2017", "2017-02-03-04"] {
            let err = parse_month(raw, false).unwrap_err();
            assert!(
                err.ends_with("is not a recognised month; use YYYY-MM"),
                "{raw}: {err}"
            );
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            parse_email("  Jane.Doe@Example.com "),
            Ok("Jane.Doe@Example.com".to_owned())
        );
        assert_eq!(
            parse_email("a+tag@sub.example.co.uk"),
            Ok("a+tag@sub.example.co.uk".to_owned())
        );
        // Salesforce pads with IDEOGRAPHIC SPACE.
        assert_eq!(
            parse_email("\u{3000}jane@example.com\u{3000}"),
            Ok("jane@example.com".to_owned())
        );
        for raw in [
            "jane",
            "jane@",
            "@example.com",
            "jane@localhost",
            "Jane <jane@example.com>",
            "jane@@example.com",
            "jane doe@example.com",
            "jane@[127.0.0.1]",
        ] {
            assert_eq!(
                parse_email(raw),
                Err(format!("Email \"{raw}\" is not a valid email address")),
                "{raw}"
            );
        }
        assert_eq!(email_key(" Jane.Doe@Example.COM "), "jane.doe@example.com");
    }

    #[test]
    fn text() {
        assert_eq!(clean_text("  Acme  "), Some("Acme"));
        assert_eq!(clean_text("\u{3000}Acme\u{a0}"), Some("Acme"));
        assert_eq!(clean_text("   "), None);
        assert_eq!(clean_text(""), None);
        // The formula quote of an export is dropped; any other quote is text.
        assert_eq!(clean_text(" '=1+1 "), Some("=1+1"));
        assert_eq!(clean_text("'+1 555 0100"), Some("+1 555 0100"));
        assert_eq!(clean_text("'@home"), Some("@home"));
        assert_eq!(clean_text("'-x"), Some("-x"));
        assert_eq!(clean_text("O'Brien"), Some("O'Brien"));
        assert_eq!(clean_text("'quoted'"), Some("'quoted'"));
        assert_eq!(clean_text("''=x"), Some("''=x"));
    }
}
