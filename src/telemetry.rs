//! Log setup: `RUST_LOG` filters (default `info`), `log_format` picks pretty or JSON lines.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber; later calls are ignored (tests call it many times).
pub fn init(log_format: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if log_format.eq_ignore_ascii_case("json") {
        registry
            .with(fmt::layer().json().with_current_span(true))
            .try_init()
    } else {
        registry.with(fmt::layer()).try_init()
    };
}
