//! API key authentication and tenant subdomain checks.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};

use super::{AppState, client_addr, error::ApiError, rate_limit};
use crate::{
    db::accounts::{self, KeyLookup, Principal},
    domain::{ApiKey, KeyRole},
};

/// The authenticated caller: a user of one tenant.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub Principal);

impl Principal {
    /// Uploads, cancels, webhooks and managing keys need an admin key (403 otherwise).
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == KeyRole::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this needs an API key of an administrator".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // An address that failed too often is refused before its key reaches Postgres.
        let address = state.edge.client_ip(parts).map(client_addr::limit_key);
        let attempt = match address {
            Some(address) => Some(state.edge.auth_failures.begin(address).map_err(|wait| {
                metrics::counter!(crate::prometheus::AUTH_FAILURES_REFUSED).increment(1);
                ApiError::TooManyFailedAuthentications {
                    retry_after: rate_limit::retry_after_secs(wait),
                }
            })?),
            None => None,
        };
        // Only a key that was presented and refused counts: a request without one costs
        // no lookup (and a browser or a route listing sends many).
        let presented = parts.headers.contains_key(header::AUTHORIZATION);
        let caller = authenticate(parts, state).await;
        if let (Some(address), Some(attempt)) = (address, attempt) {
            let failed = presented && matches!(caller, Err(ApiError::Unauthorized(_)));
            state.edge.auth_failures.finish(address, attempt, failed);
        }
        caller
    }
}

/// Looks the key up and checks its rate limit and subdomain.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let key = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(ApiKey::from_client)
        .ok_or_else(|| {
            ApiError::Unauthorized("missing API key: send it in the Authorization header".into())
        })?;
    let principal = match accounts::find_principal(&state.db, &key).await? {
        KeyLookup::Active(principal) => principal,
        KeyLookup::Expired(at) => {
            return Err(ApiError::Unauthorized(format!(
                "this API key expired at {}; ask an administrator for a new one",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        KeyLookup::Unknown => return Err(ApiError::Unauthorized("invalid API key".into())),
    };
    // Only authenticated keys are counted, so unknown keys cannot fill the limiter.
    state
        .rate_limiter
        .check(principal.key_id)
        .map_err(|wait| ApiError::TooManyRequests {
            retry_after: rate_limit::retry_after_secs(wait),
        })?;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host());
    if let Some(subdomain) = host.and_then(|h| tenant_subdomain(h, &state.settings.base_domain))
        && !subdomain.eq_ignore_ascii_case(&principal.tenant_slug)
    {
        return Err(ApiError::Unauthorized(
            "this API key does not belong to this subdomain's tenant".into(),
        ));
    }
    tracing::Span::current().record("tenant", principal.tenant_slug.as_str());
    Ok(Caller(principal))
}

/// The tenant label of `acme.<base_domain>[:port]`, or `None` for any other host.
pub(crate) fn tenant_subdomain<'h>(host: &'h str, base_domain: &str) -> Option<&'h str> {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let host = host.trim_end_matches('.');
    let base = base_domain.trim_matches('.');
    if host.len() <= base.len() + 1 {
        return None;
    }
    let (label, rest) = host.split_at(host.len() - base.len() - 1);
    (rest[1..].eq_ignore_ascii_case(base)
        && rest.starts_with('.')
        && !label.is_empty()
        && !label.contains('.'))
    .then_some(label)
}

#[cfg(test)]
mod tests {
    use super::tenant_subdomain;

    #[test]
    fn subdomains_are_found_only_under_the_base_domain() {
        assert_eq!(
            tenant_subdomain("acme.example.com", "example.com"),
            Some("acme")
        );
        assert_eq!(
            tenant_subdomain("acme.example.com:8080", "example.com"),
            Some("acme")
        );
        assert_eq!(
            tenant_subdomain("ACME.Example.com", "example.com"),
            Some("ACME")
        );
        assert_eq!(tenant_subdomain("example.com", "example.com"), None);
        assert_eq!(tenant_subdomain("127.0.0.1:8080", "example.com"), None);
        assert_eq!(tenant_subdomain("a.b.example.com", "example.com"), None);
        assert_eq!(tenant_subdomain("acmeexample.com", "example.com"), None);
        assert_eq!(
            tenant_subdomain("acme.localhost:3000", "localhost"),
            Some("acme")
        );
    }
}
