//! `limit`/`offset` paging with `X-Total-Count` and `Link: <…>; rel="next"` headers.

use axum::http::{HeaderMap, HeaderValue, Uri};
use serde::Deserialize;

use super::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page size.
pub const MAX_LIMIT: i64 = 1000;

/// The paging query parameters.
#[derive(Debug, Clone, Copy, Deserialize, Default)]
pub struct PageQuery {
    /// Items per page (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
}

/// Validated paging values.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Items per page.
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
}

impl PageQuery {
    /// Checks the bounds.
    pub fn validate(self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        if offset < 0 {
            return Err(ApiError::BadRequest("offset must not be negative".into()));
        }
        Ok(Page { limit, offset })
    }
}

impl Page {
    /// The headers of a page of `returned` items out of `total`; the next link keeps the
    /// request's other query parameters.
    pub fn headers(&self, public_base: &str, uri: &Uri, returned: usize, total: i64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-total-count", HeaderValue::from(total));
        let next_offset = self.offset + returned as i64;
        if returned > 0 && next_offset < total {
            let mut query: Vec<(String, String)> = uri
                .query()
                .map(|q| {
                    url_pairs(q)
                        .filter(|(k, _)| k != "limit" && k != "offset")
                        .collect()
                })
                .unwrap_or_default();
            query.push(("limit".into(), self.limit.to_string()));
            query.push(("offset".into(), next_offset.to_string()));
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            let link = format!("<{public_base}{}?{query}>; rel=\"next\"", uri.path());
            if let Ok(value) = HeaderValue::from_str(&link) {
                headers.insert(axum::http::header::LINK, value);
            }
        }
        headers
    }
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}
