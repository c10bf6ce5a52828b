//! Login rate limiting: after too many failed logins from one address, further attempts
//! from it are refused for a while, whatever the user name.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::OpError;

/// Failed logins allowed per address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(300);
/// Addresses tracked at most (oldest windows are dropped first when full).
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// A refused attempt: how long to wait.
#[derive(Debug)]
pub struct TooMany(pub Duration);

impl From<TooMany> for OpError {
    fn from(TooMany(wait): TooMany) -> Self {
        let secs = wait.as_secs().max(1);
        OpError::Throttled {
            message: format!("too many failed logins from your address; try again in {secs} s"),
            retry_after: secs,
        }
    }
}

impl LoginLimiter {
    /// Refuses when `ip` used up its failures in the current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), TooMany> {
        let map = self.failures.lock().expect("limiter lock");
        match map.get(&ip) {
            Some((n, since)) if *n >= MAX_FAILURES && since.elapsed() < WINDOW => {
                Err(TooMany(WINDOW - since.elapsed()))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, ip: IpAddr) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().expect("limiter lock").remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_forgets_on_success() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.check(ip).is_ok());
            l.failed(ip);
        }
        assert!(l.check(ip).is_err());
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok());
        l.succeeded(ip);
        assert!(l.check(ip).is_ok());
    }
}
