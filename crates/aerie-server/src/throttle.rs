//! Throttling of guesses: failed logins and failed CM registrations are counted per
//! source address and per claimed account within a window; past either limit, further
//! attempts are refused until the window ends.
//!
//! Every attempt is counted when it starts, under one lock, so attempts in flight at
//! once cannot overrun the limit; a success takes its own count back and clears its
//! account's failures (not the address's: one good login does not buy another account
//! more guesses).

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::OpError;

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(300);
/// Keys tracked at most per map (expired windows are dropped first when full).
const MAX_TRACKED: usize = 100_000;

/// What is being throttled, for the refusal and its limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// "logins", "registrations".
    pub what: &'static str,
    /// Failures allowed per source address within [`WINDOW`].
    pub per_address: u32,
    /// Failures allowed per claimed account within [`WINDOW`], from any address.
    pub per_account: u32,
}

/// Failed logins: 10 per address, 30 per user name, in five minutes.
pub const LOGINS: Limits = Limits {
    what: "logins",
    per_address: 10,
    per_account: 30,
};

/// Failed CM registrations (wrong passphrase or user): 10 per address, 30 per claimed
/// MCM user, in five minutes.
pub const REGISTRATIONS: Limits = Limits {
    what: "registrations",
    per_address: 10,
    per_account: 30,
};

/// Counts in the current window of one key.
#[derive(Clone, Copy)]
struct Window {
    count: u32,
    since: Instant,
}

#[derive(Default)]
struct Counts {
    by_address: HashMap<IpAddr, Window>,
    by_account: HashMap<String, Window>,
}

/// One throttle (a daemon has one for logins and one for registrations).
pub struct Throttle {
    limits: Limits,
    counts: Mutex<Counts>,
}

impl Default for Throttle {
    /// The registration throttle (the login one is built with [`LOGINS`]).
    fn default() -> Self {
        Throttle::new(REGISTRATIONS)
    }
}

/// A refused attempt: how long to wait.
#[derive(Debug)]
pub struct TooMany {
    pub wait: Duration,
    pub what: &'static str,
}

impl From<TooMany> for OpError {
    fn from(t: TooMany) -> Self {
        let secs = t.wait.as_secs().max(1);
        OpError::Throttled {
            message: format!(
                "too many failed {} from your address or for this account; try again in {secs} s",
                t.what
            ),
            retry_after: secs,
        }
    }
}

/// An attempt under way, already counted as a failure until [`Throttle::succeeded`].
#[derive(Debug)]
#[must_use = "a successful attempt must be reported with Throttle::succeeded"]
pub struct Attempt {
    address: IpAddr,
    account: String,
}

fn current<K: Eq + Hash>(map: &mut HashMap<K, Window>, key: K) -> &mut Window {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, w| w.since.elapsed() < WINDOW);
    }
    let w = map.entry(key).or_insert(Window {
        count: 0,
        since: Instant::now(),
    });
    if w.since.elapsed() >= WINDOW {
        *w = Window {
            count: 0,
            since: Instant::now(),
        };
    }
    w
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            limits,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Starts an attempt from `address` on `account` (as claimed; compared
    /// case-insensitively), or refuses it when either is over its limit.
    pub fn attempt(&self, address: IpAddr, account: &str) -> Result<Attempt, TooMany> {
        // Keys are bounded: no account name is longer than 64 characters.
        let account: String = account.chars().take(64).collect::<String>().to_lowercase();
        let mut counts = self.counts.lock().expect("throttle lock");
        let refused = |w: &Window| TooMany {
            wait: WINDOW.saturating_sub(w.since.elapsed()),
            what: self.limits.what,
        };
        let by_address = *current(&mut counts.by_address, address);
        if by_address.count >= self.limits.per_address {
            return Err(refused(&by_address));
        }
        let by_account = *current(&mut counts.by_account, account.clone());
        if by_account.count >= self.limits.per_account {
            return Err(refused(&by_account));
        }
        current(&mut counts.by_address, address).count += 1;
        current(&mut counts.by_account, account.clone()).count += 1;
        Ok(Attempt { address, account })
    }

    /// The attempt succeeded: its own count goes, and its account's failures with it.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut counts = self.counts.lock().expect("throttle lock");
        if let Some(w) = counts.by_address.get_mut(&attempt.address) {
            w.count = w.count.saturating_sub(1);
        }
        counts.by_account.remove(&attempt.account);
    }

    /// The attempt failed (it stays counted).
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Limits = Limits {
        what: "tests",
        per_address: 3,
        per_account: 5,
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn attempts_count_when_they_start() {
        let t = Throttle::new(TEST);
        let in_flight: Vec<Attempt> = (0..3).map(|_| t.attempt(ip(1), "a").unwrap()).collect();
        assert!(
            t.attempt(ip(1), "a").is_err(),
            "three in flight use up the address"
        );
        for a in in_flight {
            t.failed(a);
        }
        assert!(
            t.attempt(ip(2), "b").is_ok(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn a_success_clears_only_its_account() {
        let t = Throttle::new(TEST);
        t.failed(t.attempt(ip(1), "admin").unwrap());
        t.failed(t.attempt(ip(1), "admin").unwrap());
        t.succeeded(t.attempt(ip(1), "viewer").unwrap());
        t.failed(t.attempt(ip(1), "admin").unwrap());
        assert!(
            t.attempt(ip(1), "admin").is_err(),
            "the viewer's good login bought no admin guesses"
        );
    }

    #[test]
    fn accounts_are_limited_from_any_address() {
        let t = Throttle::new(TEST);
        for i in 0..5 {
            t.failed(t.attempt(ip(i), "Admin").unwrap());
        }
        let refused = t.attempt(ip(9), "admin").unwrap_err();
        assert!(refused.wait > Duration::ZERO);
        assert!(t.attempt(ip(9), "other").is_ok());
    }
}
