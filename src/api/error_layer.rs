//! The last resort that keeps every error response JSend: an error (status >= 400) whose
//! body is not JSON — from a layer such as the request body limit, or an extractor
//! rejection no handler maps — gets a JSend body with the same status and headers.

use axum::{
    body::{Body, to_bytes},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::error::jsend_error;

/// Plain-text bodies longer than this are not echoed as the message.
const MAX_ECHOED_BODY: usize = 512;

/// Rewrites a non-JSON error response as JSend; anything else passes unchanged.
pub(crate) async fn jsend_errors(response: Response) -> Response {
    let status = response.status();
    if status.as_u16() < 400 || is_json(response.headers().get(header::CONTENT_TYPE)) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A short plain-text body from axum or tower-http says what went wrong in words; a
    // server error's text may hold internals, so it gets the status's reason instead.
    let text = if status.is_client_error() {
        to_bytes(body, MAX_ECHOED_BODY)
            .await
            .ok()
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    } else {
        None
    };
    let message = text.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    });
    let json = (status, jsend_error(status, &message)).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::new(json.into_body()))
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
    })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::Value;

    use super::*;

    async fn json_of(response: Response) -> Value {
        let bytes = to_bytes(response.into_body(), 4096).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn plain_text_client_errors_become_jsend_fail_with_their_text() {
        let response = (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::RETRY_AFTER, "1")],
            "length limit exceeded",
        )
            .into_response();
        let response = jsend_errors(response).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let json = json_of(response).await;
        assert_eq!(json["status"], "fail");
        assert_eq!(json["data"]["message"], "length limit exceeded");
    }

    #[tokio::test]
    async fn empty_and_server_errors_get_the_reason_phrase() {
        let response = jsend_errors(StatusCode::METHOD_NOT_ALLOWED.into_response()).await;
        assert_eq!(
            json_of(response).await["data"]["message"],
            "method not allowed"
        );
        let response =
            jsend_errors((StatusCode::INTERNAL_SERVER_ERROR, "panic at foo.rs:12").into_response())
                .await;
        let json = json_of(response).await;
        assert_eq!(json["status"], "error");
        assert_eq!(json["message"], "internal server error");
    }

    #[tokio::test]
    async fn json_and_successful_responses_pass_unchanged() {
        let ok = jsend_errors("fine".into_response()).await;
        assert_eq!(to_bytes(ok.into_body(), 64).await.unwrap(), "fine");
        let api =
            jsend_errors(crate::api::error::ApiError::NotFound("no job".into()).into_response())
                .await;
        assert_eq!(json_of(api).await["data"]["message"], "no job");
    }
}
