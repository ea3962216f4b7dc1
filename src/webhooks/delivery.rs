//! The delivery loop every worker runs: claims due deliveries in Postgres, posts each
//! once, records what happened. A 2xx answer delivers it for good; anything else (another
//! status, a redirect — never followed —, a timeout, a refused connection, a URL the SSRF
//! rule refuses now) is retried with exponential backoff until `webhook_max_attempts`,
//! then the delivery is `failed`.
//!
//! At least once: a worker that dies between sending and recording leaves the delivery
//! claimed until its lease lapses, and another worker sends it again. Receivers dedupe
//! by the `Batch-Import-Delivery` header.
//!
//! Fair: a worker sends up to `webhook_concurrency` deliveries at once and claims more as
//! soon as one finishes (no batch waits for its slowest send); claims go round the
//! tenants and hold at most `webhook_max_in_flight_per_tenant` of one tenant's
//! deliveries in flight ([`webhooks::claim_due`]), and every send gives up after
//! [`TIMEOUT`]. A tenant whose endpoints are dead or hang therefore slows only itself.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{signature, target};
use crate::db::webhooks::{self, AttemptResult, ClaimedDelivery};

/// How long one attempt may take, resolving and connecting included: a receiver that
/// accepts and never answers holds a send this long at most.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take, within [`TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claimed delivery stays with its worker; well above [`TIMEOUT`].
const LEASE: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(6 * 60 * 60);
/// How often an idle worker looks for due deliveries.
const POLL: Duration = Duration::from_secs(1);

/// How deliveries are made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeliveryConfig {
    /// Skip the SSRF rule (tests, private installations).
    pub allow_private_networks: bool,
    /// The wait before the first retry; each next one waits three times longer.
    pub retry_base: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: u32,
    /// Deliveries one worker sends at once.
    pub concurrency: usize,
    /// Deliveries of one tenant in flight at once, across all workers.
    pub max_in_flight_per_tenant: u32,
}

impl From<&crate::config::Settings> for DeliveryConfig {
    fn from(settings: &crate::config::Settings) -> Self {
        Self {
            allow_private_networks: settings.webhook_allow_private_networks,
            retry_base: Duration::from_secs(settings.webhook_retry_base_secs),
            max_attempts: settings.webhook_max_attempts.max(1),
            concurrency: settings.webhook_concurrency.max(1),
            max_in_flight_per_tenant: settings.webhook_max_in_flight_per_tenant.max(1),
        }
    }
}

/// The wait after failed attempt number `attempts` (1-based): `base × 3^(attempts−1)`,
/// at most [`MAX_DELAY`].
pub(crate) fn retry_delay(base: Duration, attempts: u32) -> Duration {
    let factor = 3u32.saturating_pow(attempts.saturating_sub(1));
    base.saturating_mul(factor).min(MAX_DELAY)
}

/// Sends deliveries; one per worker process.
#[derive(Clone)]
pub(crate) struct Deliverer {
    db: PgPool,
    http: reqwest::Client,
    config: DeliveryConfig,
}

impl Deliverer {
    /// An HTTP client that never follows redirects, ignores proxy settings (a proxy would
    /// resolve the host itself, past the SSRF rule) and gives up after [`TIMEOUT`].
    pub(crate) fn new(db: PgPool, config: DeliveryConfig) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("batch-import-webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_networks {
            builder = builder.dns_resolver(target::GuardedResolver::shared());
        }
        Ok(Self {
            db,
            http: builder.build()?,
            config,
        })
    }

    /// Delivers until the task is aborted (which aborts the sends under way too; their
    /// leases lapse and they are sent again).
    pub(crate) async fn run_forever(self) {
        let mut sending = JoinSet::new();
        loop {
            while sending.try_join_next().is_some() {}
            let free = self.config.concurrency.saturating_sub(sending.len());
            let mut full = free == 0;
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) => {
                        full = claimed.len() == free;
                        for delivery in claimed {
                            let this = self.clone();
                            sending.spawn(async move { this.attempt(delivery).await });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook deliveries not claimed; retrying");
                        // Postgres is down or struggling: no need to ask every second.
                        tokio::time::sleep(POLL * 4).await;
                        continue;
                    }
                }
            }
            if full {
                // More may be due: claim again as soon as a send finishes.
                tokio::select! {
                    _ = sending.join_next() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            } else {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Claims up to `n` due deliveries, fairly across tenants.
    async fn claim(&self, n: usize) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
        webhooks::claim_due(
            &self.db,
            LEASE,
            i64::try_from(n).unwrap_or(i64::MAX),
            i64::from(self.config.max_in_flight_per_tenant),
        )
        .await
    }

    async fn attempt(&self, delivery: ClaimedDelivery) {
        let span = tracing::info_span!(
            "webhook",
            delivery_id = %delivery.id,
            job_id = %delivery.job_id,
            attempt = delivery.attempts,
        );
        self.attempt_in_span(delivery).instrument(span).await;
    }

    async fn attempt_in_span(&self, delivery: ClaimedDelivery) {
        let started = Instant::now();
        let outcome = self.send(&delivery).await;
        let duration = started.elapsed();
        let attempts = u32::try_from(delivery.attempts).unwrap_or(u32::MAX);
        let (state, status_code, error) = match &outcome {
            Ok(status) if status.is_success() => ("delivered", Some(status.as_u16()), None),
            Ok(status) => (
                self.after_failure(attempts),
                Some(status.as_u16()),
                Some(format!("the endpoint answered {status}")),
            ),
            Err(e) => (self.after_failure(attempts), None, Some(e.clone())),
        };
        let result = AttemptResult {
            state,
            status_code,
            error: error.as_deref(),
            duration,
            retry_in: retry_delay(self.config.retry_base, attempts),
        };
        crate::prometheus::webhook_attempt(state);
        match state {
            "delivered" => tracing::info!(status = status_code, "webhook delivered"),
            "failed" => tracing::warn!(error = error.as_deref(), "webhook failed for good"),
            _ => tracing::info!(
                error = error.as_deref(),
                retry_in_secs = result.retry_in.as_secs(),
                "webhook not delivered; retrying later"
            ),
        }
        match webhooks::record_attempt(&self.db, delivery.id, delivery.lease_token, &result).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("webhook attempt not recorded: endpoint deleted or lease lost")
            }
            // The lease lapses and the delivery is tried again: at least once.
            Err(e) => tracing::warn!(error = %e, "webhook attempt not recorded"),
        }
    }

    fn after_failure(&self, attempts: u32) -> &'static str {
        if attempts >= self.config.max_attempts {
            "failed"
        } else {
            "pending"
        }
    }

    /// Posts the delivery; the status it got, or why it got none.
    async fn send(&self, delivery: &ClaimedDelivery) -> Result<reqwest::StatusCode, String> {
        let url = target::parse(&delivery.url).map_err(|e| e.to_string())?;
        if !self.config.allow_private_networks {
            target::check_literal(&url).map_err(|e| e.to_string())?;
        }
        let body = delivery.payload.clone().into_bytes();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature::header(&delivery.secret, timestamp, &body);
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("Batch-Import-Event", &delivery.event)
            .header("Batch-Import-Delivery", delivery.id.to_string())
            .header("Batch-Import-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        Ok(response.status())
    }
}

/// An error with its causes, which is where reqwest says what went wrong ("connection
/// refused", the SSRF refusal of the resolver, …).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Runs the delivery loop of a worker process until the task is aborted.
pub(crate) async fn run_forever(db: PgPool, config: DeliveryConfig) {
    match Deliverer::new(db, config) {
        Ok(deliverer) => deliverer.run_forever().await,
        Err(e) => tracing::error!(error = %e, "no webhook deliveries: the HTTP client failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_threefold_up_to_a_cap() {
        let base = Duration::from_secs(10);
        let delays: Vec<u64> = (1..=10).map(|n| retry_delay(base, n).as_secs()).collect();
        assert_eq!(
            delays,
            [10, 30, 90, 270, 810, 2430, 7290, 21600, 21600, 21600]
        );
        assert_eq!(retry_delay(base, u32::MAX), MAX_DELAY);
        assert_eq!(retry_delay(Duration::ZERO, 3), Duration::ZERO);
    }
}
