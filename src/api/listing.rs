//! What the data lists (opportunities, contacts, sales targets) share: the `cursor`
//! parameter of keyset paging, the parsing of filter values with a 400 that names the
//! parameter, and the choice between a JSON page and a CSV download.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    cursor::{self, CursorList},
    error::ApiError,
    pagination::PageQuery,
};
use crate::db::{self, accounts::Principal, page::contains_pattern};

/// Longest `q` (characters): a search is a few words; a longer one is a mistake or an
/// attempt to make every row's `ILIKE` expensive.
pub(crate) const MAX_SEARCH_LEN: usize = 100;
/// Longest exact-match filter value (characters), e.g. an email or a stage: longer than
/// any stored value a person would type.
pub(crate) const MAX_FILTER_LEN: usize = 320;

/// The keyset paging parameter of the data lists.
#[derive(Debug, Clone, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CursorQuery {
    /// Where the page starts: the `cursor` of the previous page's `Link: <…>; rel="next"`,
    /// passed unchanged. The way to read deep pages: each costs what the first does.
    /// Not together with `offset`. Pages read by cursor carry no `X-Total-Count`.
    #[param(max_length = 4096)]
    pub cursor: Option<String>,
}

/// Where a page of a data list starts, as asked.
pub(crate) struct Start {
    /// Rows per page.
    pub limit: i64,
    /// Rows skipped (0 with a cursor).
    pub offset: i64,
    /// The key fields of the cursor.
    pub after: Option<Vec<String>>,
}

impl Start {
    /// Reads `limit`, `offset` and `cursor`; a cursor with an offset is refused, as the
    /// two name different starts.
    pub(crate) fn parse(
        page: PageQuery,
        cursor: CursorQuery,
        list: CursorList,
        key_fields: usize,
    ) -> Result<Self, ApiError> {
        let offset_given = page.offset.as_deref().is_some_and(|o| !o.trim().is_empty());
        let page = page.validate()?;
        let after = match cursor.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if offset_given => {
                return Err(ApiError::BadRequest(
                    "cursor and offset cannot be used together: follow the Link rel=\"next\", which carries only the cursor"
                        .into(),
                ));
            }
            Some(raw) => Some(cursor::decode(list, raw, key_fields)?),
        };
        Ok(Self {
            limit: page.limit,
            offset: page.offset,
            after,
        })
    }

    /// Whether to count the list: only when not paging by cursor (the first page, or a
    /// page by offset), since a count of a large list costs more than a deep page.
    pub(crate) fn count(&self) -> bool {
        self.after.is_none()
    }
}

/// Whether the request asks for CSV (`Accept: text/csv`) rather than JSON. An `Accept`
/// that also names JSON, or anything wider (`*/*`), keeps the JSON default.
pub(crate) fn wants_csv(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let types: Vec<String> = accept
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    types.iter().any(|t| t == "text/csv")
        && !types
            .iter()
            .any(|t| t == "application/json" || t == "application/*")
}

/// An optional text filter, trimmed (empty means absent), at most `max` characters.
pub(crate) fn text(
    name: &str,
    raw: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{name} must be at most {max} characters"
        )));
    }
    Ok(Some(value))
}

/// `q`: an `ILIKE` pattern matching the text anywhere, its `%` and `_` taken literally.
pub(crate) fn search(raw: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(text("q", raw, MAX_SEARCH_LEN)?.map(|q| contains_pattern(&q)))
}

/// A day, `YYYY-MM-DD`.
pub(crate) fn day(name: &str, raw: Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(raw) = text(name, raw, 10)? else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            ApiError::BadRequest(format!("{name} must be a date, YYYY-MM-DD, not {raw:?}"))
        })
}

/// A point in time, RFC 3339 (`2027-01-31T12:00:00Z`).
pub(crate) fn instant(name: &str, raw: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = text(name, raw, 64)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{name} must be an RFC 3339 time such as 2027-01-31T12:00:00Z, not {raw:?}"
            ))
        })
}

/// A range whose end is before its start matches nothing: most likely swapped, so say so.
pub(crate) fn range<T: PartialOrd>(
    from: (&str, Option<T>),
    to: (&str, Option<T>),
) -> Result<(Option<T>, Option<T>), ApiError> {
    if let (Some(start), Some(end)) = (&from.1, &to.1)
        && end < start
    {
        return Err(ApiError::BadRequest(format!(
            "{} is before {}",
            to.0, from.0
        )));
    }
    Ok((from.1, to.1))
}

/// The owner filter: `owner=me` is the caller's own email (the email of the key's user);
/// any other value of `owner` is refused, as is `owner=me` with `owner_email` (or the
/// list's own email filter, `email_param`) naming someone.
pub(crate) async fn owner(
    pool: &sqlx::PgPool,
    caller: &Principal,
    owner: Option<String>,
    email: Option<String>,
    email_param: &str,
) -> Result<Option<String>, ApiError> {
    let email = text(email_param, email, MAX_FILTER_LEN)?;
    match text("owner", owner, 16)?.as_deref() {
        None => Ok(email),
        Some("me") => {
            if email.is_some() {
                return Err(ApiError::BadRequest(format!(
                    "owner=me and {email_param} cannot be used together"
                )));
            }
            let mine = db::accounts::user_email(pool, caller.user_id)
                .await?
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty());
            mine.map(Some).ok_or_else(|| {
                ApiError::BadRequest(
                    "owner=me needs a key whose user has an email; this key's user has none: filter by email instead"
                        .into(),
                )
            })
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "owner must be \"me\", not {other:?}: filter by {email_param} for someone else's"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_only_when_asked_for_without_json() {
        let accept = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, value.parse().unwrap());
            wants_csv(&headers)
        };
        assert!(accept("text/csv"));
        assert!(accept("text/csv; charset=utf-8"));
        assert!(accept("TEXT/CSV, text/plain;q=0.5"));
        assert!(!accept("application/json, text/csv"));
        assert!(!accept("*/*"));
        assert!(!wants_csv(&HeaderMap::new()));
    }

    #[test]
    fn filter_values_are_checked_with_the_parameter_named() {
        assert_eq!(
            day("close_date_from", Some("2027-01-31".into())).unwrap(),
            NaiveDate::from_ymd_opt(2027, 1, 31)
        );
        for bad in ["2027-02-30", "31/01/2027", "2027-1-1x"] {
            let error = day("close_date_to", Some(bad.into()))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("close_date_to"), "{error}");
        }
        assert!(instant("updated_since", Some("2027-01-31T12:00:00+01:00".into())).is_ok());
        let error = instant("updated_since", Some("yesterday".into()))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("updated_since"), "{error}");
        assert!(search(Some("x".repeat(MAX_SEARCH_LEN + 1))).is_err());
        assert_eq!(search(Some(" 5%_ ".into())).unwrap().unwrap(), "%5\\%\\_%");
        assert!(range(("from", Some(2)), ("to", Some(1))).is_err());
    }
}
