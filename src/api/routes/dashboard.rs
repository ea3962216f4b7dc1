//! The dashboard for the people who upload: one HTML page, its script and its style sheet,
//! embedded in the binary so the API serves them with no build step and no other server.
//! The page talks to the API with the key the person signs in with (`Authorization`
//! header); these routes need no key, as the files hold nothing of any tenant.

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Redirect},
    routing::get,
};

const INDEX_HTML: &str = include_str!("../dashboard/index.html");
const APP_JS: &str = include_str!("../dashboard/app.js");
const STYLE_CSS: &str = include_str!("../dashboard/style.css");

/// The page loads only its own script and style sheet and talks only to this API: no
/// inline code, no other origin, no framing, no form posting elsewhere. The icon is a
/// `data:` URL so that no request for `/favicon.ico` ends in a 404.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `/` (the page), `/dashboard` (sends the browser to `/`) and the page's two files.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/dashboard", get(to_page))
        .route("/dashboard/app.js", get(script))
        .route("/dashboard/style.css", get(style))
}

/// The page.
async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        INDEX_HTML,
    )
}

/// `/dashboard` answers with a redirect to the page rather than a second copy of it: the
/// page's links are relative, and one address per page keeps bookmarks alike. Relative,
/// so it also holds behind a proxy that serves the API under a path; the browser keeps a
/// `#job=…` fragment across it.
async fn to_page() -> Redirect {
    Redirect::to("./")
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
}
