//! `Query`, `Path` and `Json` extractors whose rejections are JSend [`ApiError`]s instead
//! of axum's plain-text bodies, so a malformed query string, path parameter or JSON body
//! gets a clear `400`.

use axum::{
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// axum's `Query`, rejecting with a JSend `400` that names the offending parameter.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        refuse_nul(parts.uri.query())?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(query_rejection)
    }
}

/// Refuses a NUL character (`%00`) in any query parameter's name or value: no parameter
/// needs one, and Postgres text cannot hold it, so a filter carrying one would fail in the
/// database as a 500 instead of a 400 that names it.
fn refuse_nul(query: Option<&str>) -> Result<(), ApiError> {
    // A raw NUL cannot be in a URI; `%00` is its only spelling.
    let Some(query) = query.filter(|q| q.contains("%00")) else {
        return Ok(());
    };
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    match pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        Some((name, _)) => Err(ApiError::BadRequest(format!(
            "invalid query string: {} must not contain a NUL character",
            name.replace('\0', "\\0")
        ))),
        None => Ok(()),
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    // The text reads "Failed to deserialize query string: <param>: <why>".
    ApiError::BadRequest(format!(
        "invalid query string: {}",
        rejection
            .body_text()
            .trim_start_matches("Failed to deserialize query string: ")
    ))
}

/// axum's `Path`, rejecting with a JSend `400` (or `500` for a routing bug).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(path_rejection)
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    if rejection.status().is_server_error() {
        ApiError::internal(rejection.body_text())
    } else {
        ApiError::BadRequest(format!("invalid path: {}", rejection.body_text()))
    }
}

/// axum's `Json` body, rejecting with a JSend `400` that says what is wrong with it (or
/// `415` when it is not declared as JSON).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| Self(value))
            .map_err(json_rejection)
    }
}

/// [`Json`] of a body of at most `LIMIT` bytes: 415 unless it is declared as JSON, 413 past
/// the limit (declared or as it streams), before a byte is parsed. The router's own cap is
/// the upload limit, far too much for a JSON body of a few fields.
pub(crate) struct BoundedJson<T, const LIMIT: usize>(pub T);

impl<T, S, const LIMIT: usize> FromRequest<S> for BoundedJson<T, LIMIT>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        use axum::{body::Body, http::header};
        use futures::StreamExt;

        let (parts, body) = request.into_parts();
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let too_large = || ApiError::BodyTooLarge {
            limit: LIMIT as u64,
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > LIMIT as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
            if bytes.len() + chunk.len() > LIMIT {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| Self(value))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        other => ApiError::BadRequest(format!("invalid JSON body: {}", other.body_text())),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Paging {
        #[allow(dead_code)]
        limit: Option<i64>,
    }

    #[test]
    fn nul_characters_are_refused_naming_the_parameter() {
        assert!(refuse_nul(None).is_ok());
        assert!(refuse_nul(Some("email=a%2500b&limit=1")).is_ok());
        let error = refuse_nul(Some("limit=1&email=a%00b")).unwrap_err();
        assert!(
            matches!(&error, ApiError::BadRequest(m) if m.contains("email") && m.contains("NUL")),
            "{error}"
        );
        let error = refuse_nul(Some("x%00y=1")).unwrap_err().to_string();
        assert!(error.contains("x\\0y"), "{error}");
    }

    #[tokio::test]
    async fn a_bad_query_value_is_a_400_naming_the_parameter() {
        let (mut parts, ()) = Request::builder()
            .uri("/x?limit=abc")
            .body(())
            .unwrap()
            .into_parts();
        let error = Query::<Paging>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ApiError::BadRequest(m) if m.contains("limit")),
            "{error}"
        );
    }
}
