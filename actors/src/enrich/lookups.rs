//! Lookups with a cache: one answer per registrable domain, reused for `cache.ttl` (failures for
//! `cache.negative_ttl`), kept in a bounded LRU in memory and in the store (so a restart does not
//! ask the registries again), and concurrent requests for one domain coalesced into one lookup.

use super::rdap::Registration;
use super::resolver::Resolver;
use crate::store::{unix_now, Store};
use certhound_config::CacheConfig;
use lru::LruCache;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A lookup's answer as cached: the registration or why there is none, and until when it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cached {
    pub result: Result<Registration, String>,
    /// Unix seconds.
    pub valid_until: u64,
}

/// What [`Lookups::get`] answers.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupOutcome {
    pub result: Result<Registration, String>,
    /// Answered from the cache (memory or store), without asking a server.
    pub cached: bool,
}

/// Counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub lookups: AtomicU64,
    pub cache_hits: AtomicU64,
    pub coalesced: AtomicU64,
    pub failures: AtomicU64,
}

type Waiter = watch::Receiver<Option<Result<Registration, String>>>;

pub struct Lookups {
    resolver: Arc<Resolver>,
    cfg: CacheConfig,
    store: Option<Store>,
    memory: Mutex<LruCache<String, Cached>>,
    in_flight: Mutex<HashMap<String, Waiter>>,
    stats: Stats,
}

impl Lookups {
    pub fn new(resolver: Arc<Resolver>, cfg: CacheConfig, store: Option<Store>) -> Lookups {
        let cap = NonZeroUsize::new(cfg.capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Lookups {
            resolver,
            cfg,
            store,
            memory: Mutex::new(LruCache::new(cap)),
            in_flight: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    fn cached(&self, domain: &str, now: u64) -> Option<Cached> {
        if let Some(c) = self
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(domain)
            .filter(|c| c.valid_until > now)
        {
            return Some(c.clone());
        }
        let stored: Cached = self
            .store
            .as_ref()?
            .get_lookup(domain)
            .ok()
            .flatten()
            .filter(|c: &Cached| c.valid_until > now)?;
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(domain.to_string(), stored.clone());
        Some(stored)
    }

    /// The registration data of `domain`, from the cache or one lookup shared by all who ask.
    pub async fn get(&self, domain: &str) -> LookupOutcome {
        if let Some(c) = self.cached(domain, unix_now()) {
            self.stats.cache_hits.fetch_add(1, Relaxed);
            return LookupOutcome {
                result: c.result,
                cached: true,
            };
        }
        // Join a lookup under way, or start one.
        let (tx, mut waiter) = {
            let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(domain) {
                Some(w) => (None, w.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(domain.to_string(), rx.clone());
                    (Some(tx), rx)
                }
            }
        };
        let Some(tx) = tx else {
            self.stats.coalesced.fetch_add(1, Relaxed);
            let result = match waiter.wait_for(|r| r.is_some()).await {
                Ok(r) => r.clone().unwrap_or_else(|| Err("lookup lost".into())),
                Err(_) => Err("lookup abandoned".into()),
            };
            return LookupOutcome {
                result,
                cached: false,
            };
        };
        // Whatever happens to this future (even a drop mid-lookup), the domain leaves `in_flight`
        // and waiters are released.
        let _done = Leave {
            map: &self.in_flight,
            domain,
        };
        self.stats.lookups.fetch_add(1, Relaxed);
        let result = self
            .resolver
            .lookup(domain)
            .await
            .map_err(|e| e.to_string());
        if result.is_err() {
            self.stats.failures.fetch_add(1, Relaxed);
        }
        let ttl = if result.is_ok() {
            self.cfg.ttl
        } else {
            self.cfg.negative_ttl
        };
        let cached = Cached {
            result: result.clone(),
            valid_until: unix_now() + ttl.as_secs(),
        };
        self.memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(domain.to_string(), cached.clone());
        if let Some(store) = &self.store {
            if let Err(e) = store.put_lookup(domain, &cached) {
                tracing::warn!(domain, error = %e, "cannot store a lookup result");
            }
        }
        let _ = tx.send(Some(result.clone()));
        LookupOutcome {
            result,
            cached: false,
        }
    }
}

struct Leave<'a> {
    map: &'a Mutex<HashMap<String, Waiter>>,
    domain: &'a str,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(self.domain);
    }
}
