//! Failed authentications per client address (GCRA, like `governor`, but it can be asked
//! whether an address is over its budget without counting a request): an address that
//! failed `burst` times in a row gets 429 before its next key is looked up, and one more
//! failure is forgiven every `refill`. Memory is bounded: at most `max_addresses` are
//! tracked, and an address whose failures are all forgiven is forgotten.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// The failures of every address that failed recently.
#[derive(Debug)]
pub(crate) struct AuthFailureLimiter {
    /// `None`: off (`auth_failure_burst = 0`).
    limits: Option<Limits>,
    /// Per address: when all its failures will have been forgiven (GCRA's theoretical
    /// arrival time).
    addresses: Mutex<HashMap<IpAddr, Instant>>,
}

/// A lookup [`AuthFailureLimiter::begin`] allowed; hand it to
/// [`AuthFailureLimiter::finish`].
#[derive(Debug)]
#[must_use]
pub(crate) struct Attempt {
    /// Whether a failure was charged in advance.
    charged: bool,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    burst: u32,
    refill: Duration,
    max_addresses: usize,
}

impl AuthFailureLimiter {
    /// `burst` failures allowed at once (0 turns the limit off), one more every `refill`,
    /// at most `max_addresses` addresses tracked.
    pub(crate) fn new(burst: u32, refill: Duration, max_addresses: usize) -> Self {
        let limits = (burst > 0).then_some(Limits {
            burst,
            refill: refill.max(Duration::from_millis(1)),
            max_addresses: max_addresses.max(1),
        });
        Self {
            limits,
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// Before a key of `address` is looked up: `Err(wait)` when the address has used up
    /// its failures (it must wait that long). An address with failures outstanding is
    /// charged one now, so that concurrent requests cannot all slip through before their
    /// failures are counted; [`Self::finish`] gives it back when the key was good.
    pub(crate) fn begin(&self, address: IpAddr) -> Result<Attempt, Duration> {
        self.begin_at(address, Instant::now())
    }

    /// After the lookup `begin` allowed: counts the failure, or refunds the charge.
    pub(crate) fn finish(&self, address: IpAddr, attempt: Attempt, failed: bool) {
        let now = Instant::now();
        match (attempt.charged, failed) {
            (false, true) => self.failed_at(address, now),
            (true, false) => self.refund_at(address, now),
            _ => {}
        }
    }

    /// Whether `address` would be refused now. Counts nothing.
    #[cfg(test)]
    pub(crate) fn check(&self, address: IpAddr) -> Result<(), Duration> {
        self.check_at(address, Instant::now())
    }

    /// Counts one failed authentication of `address`.
    #[cfg(test)]
    pub(crate) fn failed(&self, address: IpAddr) {
        self.failed_at(address, Instant::now());
    }

    fn begin_at(&self, address: IpAddr, now: Instant) -> Result<Attempt, Duration> {
        let Some(limits) = self.limits else {
            return Ok(Attempt { charged: false });
        };
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tat) = addresses.get_mut(&address).filter(|tat| **tat > now) else {
            return Ok(Attempt { charged: false });
        };
        let outstanding = tat.saturating_duration_since(now);
        let allowed = limits.refill * (limits.burst - 1);
        if outstanding > allowed {
            return Err(outstanding - allowed);
        }
        *tat += limits.refill;
        Ok(Attempt { charged: true })
    }

    fn refund_at(&self, address: IpAddr, now: Instant) {
        let Some(limits) = self.limits else {
            return;
        };
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = addresses.get_mut(&address) {
            *tat = tat.checked_sub(limits.refill).unwrap_or(now).max(now);
        }
    }

    #[cfg(test)]
    fn check_at(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let Some(limits) = self.limits else {
            return Ok(());
        };
        let addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&tat) = addresses.get(&address) else {
            return Ok(());
        };
        // Blocked while more than `burst - 1` failures are still outstanding.
        let outstanding = tat.saturating_duration_since(now);
        let allowed = limits.refill * (limits.burst - 1);
        if outstanding > allowed {
            Err(outstanding - allowed)
        } else {
            Ok(())
        }
    }

    fn failed_at(&self, address: IpAddr, now: Instant) {
        let Some(limits) = self.limits else {
            return;
        };
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if !addresses.contains_key(&address) && addresses.len() >= limits.max_addresses {
            addresses.retain(|_, tat| *tat > now);
            if addresses.len() >= limits.max_addresses {
                // Full of addresses failing right now (a flood from very many
                // addresses): this one is not tracked, rather than forgetting others.
                tracing::warn!(
                    tracked = addresses.len(),
                    "too many addresses with failed authentications to track one more"
                );
                return;
            }
        }
        let tat = addresses.entry(address).or_insert(now);
        // At most `burst` failures are remembered: a blocked address that keeps trying
        // (its requests are refused before being counted anyway) waits no longer.
        let cap = now + limits.refill * limits.burst;
        *tat = ((*tat).max(now) + limits.refill).min(cap);
    }

    /// Forgets the addresses whose failures have all been forgiven; run periodically.
    pub(crate) fn retain_recent(&self) {
        let now = Instant::now();
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        addresses.retain(|_, tat| *tat > now);
        let keep = addresses.len().max(1024);
        addresses.shrink_to(keep);
    }

    /// How many addresses are tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether no address is tracked.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn an_address_gets_its_burst_then_waits_for_the_refill() {
        let limiter = AuthFailureLimiter::new(3, Duration::from_secs(1), 100);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(ip(1), now).is_ok());
            limiter.failed_at(ip(1), now);
        }
        let wait = limiter.check_at(ip(1), now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(
            limiter.check_at(ip(2), now).is_ok(),
            "others are not blocked"
        );
        // One failure is forgiven after a second: one more try, then blocked again.
        let later = now + Duration::from_secs(1);
        assert!(limiter.check_at(ip(1), later).is_ok());
        limiter.failed_at(ip(1), later);
        assert!(limiter.check_at(ip(1), later).is_err());
        // Retrying while blocked never makes the wait longer than a full refill.
        for _ in 0..100 {
            limiter.failed_at(ip(1), later);
        }
        assert_eq!(
            limiter.check_at(ip(1), later).unwrap_err(),
            Duration::from_secs(1)
        );
        assert!(
            limiter
                .check_at(ip(1), later + Duration::from_secs(3))
                .is_ok()
        );
    }

    #[test]
    fn once_an_address_has_failed_concurrent_lookups_are_charged_in_advance() {
        let limiter = AuthFailureLimiter::new(3, Duration::from_secs(60), 100);
        let now = Instant::now();
        // A fresh address is not charged: its good keys never wait on anything.
        let fresh = limiter.begin_at(ip(1), now).unwrap();
        assert!(!fresh.charged);
        limiter.failed_at(ip(1), now);
        // Now suspect: of many concurrent lookups only the remaining burst goes ahead.
        let allowed: Vec<Attempt> = (0..10)
            .filter_map(|_| limiter.begin_at(ip(1), now).ok())
            .collect();
        assert_eq!(allowed.len(), 2);
        assert!(allowed.iter().all(|a| a.charged));
        // A good key gives its charge back.
        limiter.refund_at(ip(1), now);
        assert!(limiter.begin_at(ip(1), now).is_ok());
        assert!(limiter.begin_at(ip(1), now).is_err());
    }

    #[test]
    fn zero_burst_turns_it_off() {
        let limiter = AuthFailureLimiter::new(0, Duration::from_secs(1), 100);
        for _ in 0..1000 {
            limiter.failed(ip(1));
        }
        assert!(limiter.check(ip(1)).is_ok());
        assert!(limiter.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_forgiven_addresses_are_forgotten() {
        let limiter = AuthFailureLimiter::new(2, Duration::from_secs(60), 10);
        let now = Instant::now();
        for n in 0..50 {
            limiter.failed_at(ip(n), now);
        }
        assert_eq!(limiter.len(), 10);
        // Once their failures are forgiven, room is made for new addresses.
        let later = now + Duration::from_secs(61);
        limiter.failed_at(ip(200), later);
        assert_eq!(limiter.len(), 1);

        let limiter = AuthFailureLimiter::new(2, Duration::from_millis(1), 10);
        limiter.failed(ip(1));
        std::thread::sleep(Duration::from_millis(5));
        limiter.retain_recent();
        assert!(limiter.is_empty());
    }
}
