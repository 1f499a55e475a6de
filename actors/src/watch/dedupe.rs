//! The dedupe set: a registrable domain is reported once per window.
//!
//! Bounded and compact, because it holds up to a million domains in a 60 MB process: each entry is
//! a 64-bit keyed hash of the domain (SipHash with a per-process random key, so nobody can craft
//! collisions) in a hash set, plus the same hash and its report time in a ring ordered by time.
//! Reports arrive in time order, so the ring's front is always the oldest: expired entries and,
//! when full, the least recently reported entry are dropped from there. About 30 bytes per entry (12 in the rings, the rest in the set).
//! A hash collision (probability ~n/2^64 per new domain) would silence one domain for one window.

use std::collections::hash_map::RandomState;
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::Duration;

/// Keys are already random hashes: hash them again with the identity.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub struct Dedupe {
    keys: RandomState,
    set: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    /// Hashes and report times (Unix seconds, less `base`), oldest first; two rings rather
    /// than one of pairs, which alignment would pad to 16 bytes.
    hashes: VecDeque<u64>,
    times: VecDeque<u32>,
    base: u64,
    window: Duration,
    capacity: usize,
}

impl Dedupe {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Dedupe {
            keys: RandomState::new(),
            set: HashSet::default(),
            hashes: VecDeque::new(),
            times: VecDeque::new(),
            base: 0,
            window,
            capacity: capacity.max(1),
        }
    }

    /// True when `domain` was not reported within the window before `now` (Unix seconds): it is
    /// recorded now and should be reported. False for a repeat.
    pub fn first_report(&mut self, domain: &str, now: u64) -> bool {
        if self.base == 0 {
            self.base = now.saturating_sub(1);
        }
        self.expire(now);
        let h = self.keys.hash_one(domain);
        if !self.set.insert(h) {
            return false;
        }
        // Times only go forward in the ring, so that its front is always the oldest.
        let t = now.saturating_sub(self.base).min(u64::from(u32::MAX)) as u32;
        let t = t.max(self.times.back().copied().unwrap_or(0));
        self.hashes.push_back(h);
        self.times.push_back(t);
        if self.hashes.len() > self.capacity {
            self.pop_oldest();
        }
        true
    }

    /// Loads a report from the store (oldest first), as if it had just been made at `at`.
    pub fn remember(&mut self, domain: &str, at: u64) {
        self.first_report(domain, at);
    }

    fn pop_oldest(&mut self) {
        if let Some(old) = self.hashes.pop_front() {
            self.times.pop_front();
            self.set.remove(&old);
        }
    }

    fn expire(&mut self, now: u64) {
        let window = self.window.as_secs();
        while let Some(&t) = self.times.front() {
            if now.saturating_sub(self.base + u64::from(t)) < window {
                break;
            }
            self.pop_oldest();
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_window() {
        let t0 = 1_800_000_000;
        let mut d = Dedupe::new(Duration::from_secs(60), 10);
        assert!(d.first_report("a.example", t0));
        assert!(!d.first_report("a.example", t0 + 30));
        assert!(d.first_report("b.example", t0 + 30));
        assert!(d.first_report("a.example", t0 + 61));
        assert!(!d.first_report("b.example", t0 + 61));
    }

    #[test]
    fn remembered_reports_count() {
        let mut d = Dedupe::new(Duration::from_secs(60), 10);
        d.remember("a.example", 1000);
        assert!(!d.first_report("a.example", 1030));
        assert!(d.first_report("a.example", 1061));
    }

    #[test]
    fn bounded_oldest_goes_first() {
        let t0 = 1_800_000_000;
        let mut d = Dedupe::new(Duration::from_secs(3600), 3);
        for n in ["a", "b", "c", "d"] {
            assert!(d.first_report(n, t0));
        }
        assert_eq!(d.len(), 3);
        assert!(d.first_report("a", t0), "oldest was forgotten");
        assert!(!d.first_report("d", t0));
    }
}
