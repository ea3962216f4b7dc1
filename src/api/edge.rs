//! What guards the API against abuse before and around the handlers: failed
//! authentications per client address, the trusted proxies that name that address,
//! concurrent event streams per API key and the token of `/metrics`.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::ConnectInfo,
    http::{HeaderMap, header, request::Parts},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{auth_failures::AuthFailureLimiter, client_addr::TrustedProxies};
use crate::config::Settings;

/// The guards, built once from the settings.
#[derive(Debug)]
pub(crate) struct Edge {
    /// Failed authentications per client address.
    pub auth_failures: AuthFailureLimiter,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Open event streams per API key.
    pub event_streams: Arc<StreamSlots>,
    /// How often an open event stream checks that its key is still active.
    pub event_stream_key_check: Duration,
    /// `Authorization: Bearer <token>` that `/metrics` requires, when set.
    pub metrics_token: Option<String>,
}

impl Edge {
    /// From the settings; `Err` names a `TRUSTED_PROXIES` entry that is not an address or
    /// network.
    pub(crate) fn new(settings: &Settings) -> Result<Self, super::client_addr::CidrError> {
        Ok(Self {
            auth_failures: AuthFailureLimiter::new(
                settings.auth_failure_burst,
                Duration::from_millis(settings.auth_failure_refill_ms),
                settings.auth_failure_max_addresses,
            ),
            trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)?,
            event_streams: Arc::new(StreamSlots::new(settings.event_streams_per_key)),
            event_stream_key_check: Duration::from_secs(
                settings.event_stream_key_check_secs.max(1),
            ),
            metrics_token: settings
                .metrics_token
                .clone()
                .filter(|token| !token.is_empty()),
        })
    }

    /// The client's address (see [`TrustedProxies::client_ip`]); `None` when the request
    /// did not come through the API's listener (a router called directly).
    pub(crate) fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(self.trusted_proxies.client_ip(peer, &parts.headers))
    }

    /// Whether `headers` carry the metrics token (always, when none is configured).
    pub(crate) fn metrics_authorized(&self, headers: &HeaderMap) -> bool {
        bearer_matches(self.metrics_token.as_deref(), headers)
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>` (always, when `token` is `None`).
pub(crate) fn bearer_matches(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Both sides hashed, so that neither the length nor a prefix of the token shows
    // in the time the comparison takes.
    constant_time_eq(
        &Sha256::digest(given.trim().as_bytes()),
        &Sha256::digest(token.as_bytes()),
    )
}

/// Equal without an early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How many event streams each API key has open, against `event_streams_per_key`.
#[derive(Debug)]
pub(crate) struct StreamSlots {
    limit: usize,
    open: Mutex<HashMap<Uuid, usize>>,
}

impl StreamSlots {
    /// At most `limit` streams per key; 0: no limit.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more stream of `key_id`, held until dropped; `None` when the key
    /// has its `limit` open already.
    pub(crate) fn acquire(self: &Arc<Self>, key_id: Uuid) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key_id).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            slots: Arc::clone(self),
            key_id,
        })
    }

    /// The limit (0: none).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Streams `key_id` has open.
    #[cfg(test)]
    pub(crate) fn open(&self, key_id: Uuid) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&key_id).copied().unwrap_or(0)
    }
}

/// One open stream; gives its slot back when dropped (the stream ended or the client left).
#[derive(Debug)]
pub(crate) struct StreamSlot {
    slots: Arc<StreamSlots>,
    key_id: Uuid,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn stream_slots_are_counted_per_key_and_given_back() {
        let slots = Arc::new(StreamSlots::new(2));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.acquire(a).unwrap();
        let _second = slots.acquire(a).unwrap();
        assert!(slots.acquire(a).is_none());
        assert!(slots.acquire(b).is_some(), "keys are independent");
        drop(first);
        assert_eq!(slots.open(a), 1);
        assert!(slots.acquire(a).is_some());
        let unlimited = Arc::new(StreamSlots::new(0));
        let held: Vec<_> = (0..100).map(|_| unlimited.acquire(a).unwrap()).collect();
        drop(held);
        assert_eq!(unlimited.open(a), 0);
        assert!(unlimited.open.lock().unwrap().is_empty(), "no key is kept");
    }

    #[test]
    fn the_metrics_token_is_compared_whole() {
        let slots = Arc::new(StreamSlots::new(0));
        let edge = |token: Option<&str>| Edge {
            auth_failures: AuthFailureLimiter::new(0, Duration::from_secs(1), 1),
            trusted_proxies: TrustedProxies::default(),
            event_streams: Arc::clone(&slots),
            event_stream_key_check: Duration::from_secs(1),
            metrics_token: token.map(str::to_owned),
        };
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        let guarded = edge(Some("s3cret"));
        assert!(guarded.metrics_authorized(&headers("Bearer s3cret")));
        assert!(!guarded.metrics_authorized(&headers("Bearer s3cre")));
        assert!(!guarded.metrics_authorized(&headers("Bearer s3cretX")));
        assert!(!guarded.metrics_authorized(&headers("s3cret")));
        assert!(!guarded.metrics_authorized(&HeaderMap::new()));
        assert!(edge(None).metrics_authorized(&HeaderMap::new()));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
