//! Rate limiting per API key (GCRA, the `governor` crate), checked by the `Caller`
//! extractor right after a key is authenticated. It is keyed by the key's database id, so
//! neither the secret nor its hash is kept here, and unknown keys never take up memory.

use std::{num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use uuid::Uuid;

/// One token bucket per API key, or none when rate limiting is off.
#[derive(Debug)]
pub(crate) struct KeyRateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<Uuid>>,
}

impl KeyRateLimiter {
    /// `rps` requests per second on average with bursts of up to `burst` (at least 1);
    /// `rps == 0` turns rate limiting off.
    pub(crate) fn new(rps: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(rps).map(|rps| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            RateLimiter::dashmap(Quota::per_second(rps).allow_burst(burst))
        });
        Self { limiter }
    }

    /// Counts one request of the key; `Err` holds how long until the next one is allowed.
    pub(crate) fn check(&self, key_id: Uuid) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&key_id)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

/// Whole seconds for a `Retry-After` header: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_keys_are_independent() {
        let limiter = KeyRateLimiter::new(1, 3);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check(b).is_ok());
    }

    #[test]
    fn zero_rps_never_limits() {
        let limiter = KeyRateLimiter::new(0, 0);
        let key = Uuid::new_v4();
        assert!((0..1000).all(|_| limiter.check(key).is_ok()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }
}
