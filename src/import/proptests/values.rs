//! The value parsers on arbitrary strings: they never panic, a refused value gets a
//! message naming the value, and values written the documented ways read back exactly.

use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::import::values::{parse_amount, parse_date, parse_email, parse_month};

/// Strings made of what amounts, dates and e-mails are written with, in any order.
fn value_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[0-9.,;:/ ()$€£+\\-TZAPMaeFbJnu@\u{a0}\u{202f}\u{3000}]{0,24}",
        "[0-9]{0,40}(\\.[0-9]{0,40})?",
    ]
}

/// An error message is a sentence about the value: it names the kind of value and does
/// not come out empty.
fn check_message(message: &str, label: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        message.starts_with(label),
        "{message:?} does not start with {label}"
    );
    prop_assert!(message.len() > label.len() + 8, "{message:?} says nothing");
    Ok(())
}

/// An amount written with thousands separators, a currency sign and a sign in the ways
/// docs/api.md lists ("Files as people export them").
fn written_amount() -> impl Strategy<Value = (Decimal, String, bool)> {
    (
        0u64..10_000_000_000,
        proptest::option::of("[0-9]{1,4}"),
        any::<bool>(),
        0usize..3,
        0usize..4,
        any::<bool>(),
    )
        .prop_map(|(int, frac, grouped, currency, sign, decimal_comma)| {
            let (point, group) = if decimal_comma {
                (',', '.')
            } else {
                ('.', ',')
            };
            let digits = int.to_string();
            let mut text = String::new();
            for (i, d) in digits.chars().enumerate() {
                if grouped && i > 0 && (digits.len() - i) % 3 == 0 {
                    text.push(group);
                }
                text.push(d);
            }
            let mut exact = digits.clone();
            if let Some(frac) = &frac {
                text.push(point);
                text.push_str(frac);
                exact = format!("{exact}.{frac}");
            }
            let value = Decimal::from_str(&exact).unwrap();
            let text = match currency {
                0 => text,
                1 => format!("${text}"),
                _ => format!("{text} €"),
            };
            let (text, value) = match sign {
                0 | 1 => (text, value),
                2 => (format!("-{text}"), -value),
                _ => (format!("({text})"), -value),
            };
            (value, text, decimal_comma)
        })
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    (1000i32..=9999, 1u32..=12, 1u32..=31).prop_filter_map("a day of the calendar", |(y, m, d)| {
        NaiveDate::from_ymd_opt(y, m, d)
    })
}

proptest! {
    #![proptest_config(super::config(512))]

    #[test]
    fn amounts_never_panic_and_refusals_say_why(raw in value_like(), comma in any::<bool>()) {
        if let Err(message) = parse_amount(&raw, comma) {
            check_message(&message.message, "Amount")?;
        }
    }

    #[test]
    fn dates_and_months_never_panic_and_refusals_say_why(
        raw in value_like(),
        day_first in any::<bool>(),
    ) {
        if let Err(message) = parse_date(&raw, day_first) {
            check_message(&message.message, "Date")?;
        }
        match parse_month(&raw, day_first) {
            Ok(month) => prop_assert_eq!(month.day(), 1),
            Err(message) => check_message(&message.message, "Month")?,
        }
    }

    #[test]
    fn emails_never_panic_and_refusals_say_why(raw in value_like()) {
        match parse_email(&raw) {
            Ok(email) => {
                prop_assert_eq!(email, raw.trim());
                prop_assert!(email.contains('@'));
            }
            Err(message) => check_message(&message.message, "Email")?,
        }
    }

    #[test]
    fn written_amounts_read_back_exactly((value, text, comma) in written_amount()) {
        prop_assert_eq!(parse_amount(&text, comma), Ok(value), "{}", text);
    }

    #[test]
    fn written_dates_read_back_exactly(date in any_date(), day_first in any::<bool>()) {
        for format in ["%Y-%m-%d", "%Y-%m-%dT10:30:00Z", "%d.%m.%Y", "%b %d, %Y", "%d-%b-%Y", "%B %d %Y"] {
            let text = date.format(format).to_string();
            prop_assert_eq!(parse_date(&text, day_first), Ok(date), "{}", text);
            prop_assert_eq!(parse_month(&text, day_first), Ok(date.with_day(1).unwrap()), "{}", text);
        }
        // Slash dates: unambiguous ones read the same either way.
        if date.day() > 12 {
            let us = date.format("%m/%d/%Y").to_string();
            let eu = date.format("%d/%m/%Y").to_string();
            prop_assert_eq!(parse_date(&us, day_first), Ok(date), "{}", us);
            prop_assert_eq!(parse_date(&eu, day_first), Ok(date), "{}", eu);
        }
        let month = date.format("%Y-%m").to_string();
        prop_assert_eq!(parse_month(&month, day_first), Ok(date.with_day(1).unwrap()), "{}", month);
    }
}
