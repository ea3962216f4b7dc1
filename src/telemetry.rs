//! Log setup: `RUST_LOG` filters (default `info,sqlx=warn`), `log_format` picks pretty or
//! JSON lines.

use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter, prelude::*};

/// Installs the global subscriber writing to stdout; later calls are ignored.
pub fn init(log_format: &str) {
    init_with_writer(log_format, std::io::stdout);
}

/// Installs the global subscriber writing to `writer`; later calls are ignored (tests call
/// it many times). Tests pass `std::io::sink` to stay quiet while every log line is still
/// formatted, so a broken `Debug` or `Display` behind a log line still shows up.
pub fn init_with_writer<W>(log_format: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if log_format.eq_ignore_ascii_case("json") {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(writer),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().with_writer(writer)).try_init()
    };
}
