//! `limit`/`offset` paging: the query parameters, and the one answer every list gives
//! ([`Paged`]: the rows, `X-Total-Count` and `Link: <…>; rel="next"`).

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, Uri},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::{
    error::ApiError,
    jsend::{self, Success},
};
use crate::db::{Page, PageRequest, page::KeysetPage};

/// Default page size.
pub(crate) const DEFAULT_LIMIT: i64 = 100;
/// Largest page size.
pub(crate) const MAX_LIMIT: i64 = 1000;

/// The paging query parameters, as sent: parsed by [`PageQuery::validate`] so that
/// `limit=abc` or a number beyond 64 bits gets a message naming the parameter.
#[derive(Debug, Clone, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page (default 100, at most 1000).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
}

impl PageQuery {
    /// Checks the bounds.
    pub(crate) fn validate(self) -> Result<PageRequest, ApiError> {
        let limit_error = || {
            ApiError::BadRequest(format!(
                "limit must be a whole number between 1 and {MAX_LIMIT}, not {:?}",
                self.limit.as_deref().unwrap_or_default()
            ))
        };
        let offset_error = || {
            ApiError::BadRequest(format!(
                "offset must be a whole number, 0 or more, not {:?}",
                self.offset.as_deref().unwrap_or_default()
            ))
        };
        let limit = number(self.limit.as_deref())
            .map_err(|()| limit_error())?
            .unwrap_or(DEFAULT_LIMIT);
        let offset = number(self.offset.as_deref())
            .map_err(|()| offset_error())?
            .unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(limit_error());
        }
        if offset < 0 {
            return Err(offset_error());
        }
        Ok(PageRequest { limit, offset })
    }
}

/// One page of a list as the API answers it: the JSend body with the page's rows,
/// `X-Total-Count`, and `Link: <…>; rel="next"` when more rows follow. Every list
/// endpoint answers with one.
pub(crate) struct Paged<T> {
    headers: HeaderMap,
    body: Json<Success<Vec<T>>>,
}

impl<T> Paged<T> {
    /// The answer to `request` (made at `uri`) with `page`; the next link keeps the
    /// request's other query parameters.
    pub(crate) fn new(request: PageRequest, page: Page<T>, public_base: &str, uri: &Uri) -> Self {
        let headers = headers(request, public_base, uri, page.rows.len(), page.total);
        Self {
            headers,
            body: jsend::success(page.rows),
        }
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        (self.headers, self.body).into_response()
    }
}

impl<T> Paged<T> {
    /// The answer with a keyset `page` of a data list (made at `uri`): `X-Total-Count` when
    /// the page was counted, and a next link carrying `next_cursor` (the last row's key),
    /// the same `limit` and the request's other query parameters, less `offset`.
    pub(crate) fn keyset(
        limit: i64,
        page: KeysetPage<T>,
        next_cursor: Option<String>,
        public_base: &str,
        uri: &Uri,
    ) -> Self {
        let mut headers = HeaderMap::new();
        if let Some(total) = page.total {
            headers.insert("x-total-count", HeaderValue::from(total));
        }
        if let Some(cursor) = next_cursor.filter(|_| page.more) {
            let mut query: Vec<(String, String)> = uri
                .query()
                .map(|q| {
                    url_pairs(q)
                        .filter(|(k, _)| !matches!(k.as_str(), "limit" | "offset" | "cursor"))
                        .collect()
                })
                .unwrap_or_default();
            query.push(("limit".into(), limit.to_string()));
            query.push(("cursor".into(), cursor));
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            let link = format!("<{public_base}{}?{query}>; rel=\"next\"", uri.path());
            if let Ok(value) = HeaderValue::from_str(&link) {
                headers.insert(axum::http::header::LINK, value);
            }
        }
        Self {
            headers,
            body: jsend::success(page.rows),
        }
    }
}

/// The headers of a page of `returned` items out of `total`.
fn headers(
    request: PageRequest,
    public_base: &str,
    uri: &Uri,
    returned: usize,
    total: i64,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(total));
    let next_offset = request.offset + returned as i64;
    if returned > 0 && next_offset < total {
        let mut query: Vec<(String, String)> = uri
            .query()
            .map(|q| {
                url_pairs(q)
                    .filter(|(k, _)| k != "limit" && k != "offset")
                    .collect()
            })
            .unwrap_or_default();
        query.push(("limit".into(), request.limit.to_string()));
        query.push(("offset".into(), next_offset.to_string()));
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        let link = format!("<{public_base}{}?{query}>; rel=\"next\"", uri.path());
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, value);
        }
    }
    headers
}

/// An optional integer parameter; absent or empty means the default.
fn number(raw: Option<&str>) -> Result<Option<i64>, ()> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| ()),
    }
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<&str>, offset: Option<&str>) -> Result<PageRequest, ApiError> {
        PageQuery {
            limit: limit.map(str::to_owned),
            offset: offset.map(str::to_owned),
        }
        .validate()
    }

    #[test]
    fn defaults_and_bounds() {
        let p = page(None, None).unwrap();
        assert_eq!((p.limit, p.offset), (DEFAULT_LIMIT, 0));
        let p = page(Some("1000"), Some("5")).unwrap();
        assert_eq!((p.limit, p.offset), (1000, 5));
        assert!(page(Some("0"), None).is_err());
        assert!(page(Some("1001"), None).is_err());
        assert!(page(None, Some("-1")).is_err());
    }

    #[test]
    fn words_and_huge_numbers_get_a_message_naming_the_parameter() {
        for bad in ["abc", "99999999999999999999999", "1.5"] {
            let error = page(Some(bad), None).unwrap_err().to_string();
            assert!(error.starts_with("limit must be a whole number"), "{error}");
            assert!(error.contains(bad), "{error}");
        }
        let error = page(None, Some("x")).unwrap_err().to_string();
        assert!(error.starts_with("offset"), "{error}");
    }
}
