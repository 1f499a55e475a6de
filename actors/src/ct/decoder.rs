//! The decoder actor: turns batches of fetched CT entries into certstream messages and
//! publishes them to the feed, in each log's order.
//!
//! It runs on a thread of its own (decoding is the CPU-heavy part of the server role). Its
//! mailbox holds at most `ct.decode_queue` batches; a tailer awaits the reply to each batch
//! before sending the next, so a decoder that falls behind slows the *logs* (fetching pauses),
//! never the websocket clients, and no queue grows without bound.
//!
//! Positions: after each entry is published, the log's position (next index to read) moves past
//! it in [`Positions`], which the server role writes to the store every `ct.position_interval`.
//! A batch sent again (after the decoder was restarted in the middle of it) skips the entries
//! already published, so a restart neither repeats nor loses an entry. An entry that cannot be
//! decoded, even one that makes the decoder panic, is counted in `ct_decode_errors` and skipped.

use crate::ct::cert::{Encoder, LogSource};
use crate::ct::{leaf, DecodeError, EntryKind, LogEntry};
use crate::metrics::Metrics;
use crate::server::hub::Hub;
use actix::prelude::*;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Next index to read, per log URL: what has been published. Shared by the tailers (where to
/// start after a restart), the decoder (moves it) and the writer of the store.
#[derive(Clone, Default)]
pub struct Positions(Arc<Mutex<HashMap<String, u64>>>);

impl Positions {
    pub fn from_stored(stored: Vec<(String, u64)>) -> Positions {
        Positions(Arc::new(Mutex::new(stored.into_iter().collect())))
    }
    pub fn get(&self, log: &str) -> Option<u64> {
        self.0.lock().ok()?.get(log).copied()
    }
    /// Moves `log` forward to `next` (never back).
    pub fn advance(&self, log: &str, next: u64) {
        if let Ok(mut m) = self.0.lock() {
            match m.get_mut(log) {
                Some(p) => *p = (*p).max(next),
                None => {
                    m.insert(log.to_string(), next);
                }
            }
        }
    }
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// What the messages of one log say about it.
pub struct LogMeta {
    pub source: LogSource,
    /// The log's identity (see [`crate::ct::loglist::LogInfo::url`]).
    pub url: String,
}

/// An RFC 6962 `get-entries` item, base64 decoded.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub index: u64,
    pub leaf_input: Vec<u8>,
    pub extra_data: Vec<u8>,
}

/// A static-ct-api entry with its chain fetched.
#[derive(Debug, Clone)]
pub struct TiledEntry {
    pub index: u64,
    pub kind: EntryKind,
    pub timestamp_ms: u64,
    pub leaf: Vec<u8>,
    pub chain: Vec<Arc<[u8]>>,
    /// `cert_link`: the URL of the data tile the entry is in.
    pub link: Arc<str>,
}

#[derive(Debug)]
pub enum Entries {
    Rfc6962(Vec<RawEntry>),
    Tiled(Vec<TiledEntry>),
}

impl Entries {
    pub fn len(&self) -> usize {
        match self {
            Entries::Rfc6962(v) => v.len(),
            Entries::Tiled(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Entries of one log, consecutive, in index order. Cheap to clone (sent again after a
/// decoder restart).
#[derive(Clone)]
pub struct Batch {
    pub log: Arc<LogMeta>,
    pub entries: Arc<Entries>,
    /// The log's position after this batch.
    pub next: u64,
}

impl Message for Batch {
    type Result = ();
}

/// Returns once every batch sent before it has been published.
pub struct Drain;
impl Message for Drain {
    type Result = ();
}

pub struct Decoder {
    encoder: Encoder,
    chain_cache: usize,
    hub: Hub,
    positions: Positions,
    metrics: Arc<Metrics>,
}

impl Decoder {
    pub fn new(hub: Hub, positions: Positions, chain_cache: usize, metrics: Arc<Metrics>) -> Self {
        Decoder {
            encoder: Encoder::new(chain_cache),
            chain_cache,
            hub,
            positions,
            metrics,
        }
    }

    fn publish_one(&mut self, entry: &LogEntry, log: &LogMeta, link: &str, seen: f64) -> bool {
        let encoder = &mut self.encoder;
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            encoder.encode(entry, &log.source, link, seen)
        }));
        match r {
            Ok(Ok(e)) => {
                self.hub.publish(&e.lite, &e.full, &e.domains);
                true
            }
            Ok(Err(e)) => {
                self.skip(log, entry.index, &e);
                false
            }
            Err(_) => {
                // The encoder's caches may be mid-update: start it afresh.
                self.encoder = Encoder::new(self.chain_cache);
                self.skip(
                    log,
                    entry.index,
                    &DecodeError::Certificate("the decoder panicked on it".into()),
                );
                false
            }
        }
    }

    fn skip(&self, log: &LogMeta, index: u64, e: &DecodeError) {
        Metrics::add(&self.metrics.ct_decode_errors, 1);
        tracing::debug!(log = %log.url, index, error = %e, "CT entry skipped");
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Actor for Decoder {
    type Context = Context<Self>;
}

impl Handler<Batch> for Decoder {
    type Result = ();

    fn handle(&mut self, batch: Batch, _: &mut Context<Self>) {
        let log = &batch.log;
        let from = self.positions.get(&log.url).unwrap_or(0);
        let seen = now_secs();
        let mut decoded = 0u64;
        let mut newest: Option<u64> = None;
        match &*batch.entries {
            Entries::Rfc6962(items) => {
                let mut link = String::with_capacity(log.url.len() + 48);
                for raw in items.iter().filter(|r| r.index >= from) {
                    let parsed = std::panic::catch_unwind(|| {
                        leaf::parse_entry(&raw.leaf_input, &raw.extra_data, raw.index)
                    });
                    match parsed {
                        Ok(Ok(entry)) => {
                            newest = newest.max(Some(entry.timestamp_ms));
                            crate::ct::write_rfc6962_link(&mut link, &log.url, raw.index);
                            self.publish_one(&entry, log, &link, seen);
                        }
                        Ok(Err(e)) => self.skip(log, raw.index, &e),
                        Err(_) => self.skip(
                            log,
                            raw.index,
                            &DecodeError::Certificate("the parser panicked on it".into()),
                        ),
                    }
                    Metrics::add(&self.metrics.ct_entries, 1);
                    decoded += 1;
                    self.positions.advance(&log.url, raw.index + 1);
                }
            }
            Entries::Tiled(items) => {
                for t in items.iter().filter(|t| t.index >= from) {
                    let entry = LogEntry {
                        kind: t.kind,
                        index: t.index,
                        timestamp_ms: t.timestamp_ms,
                        leaf: &t.leaf,
                        chain: t.chain.iter().map(|c| &c[..]).collect(),
                    };
                    self.publish_one(&entry, log, &t.link, seen);
                    newest = newest.max(Some(t.timestamp_ms));
                    decoded += 1;
                    Metrics::add(&self.metrics.ct_entries, 1);
                    self.positions.advance(&log.url, t.index + 1);
                }
            }
        }
        self.positions.advance(&log.url, batch.next);
        let position = self.positions.get(&log.url).unwrap_or(batch.next);
        self.metrics
            .labelled
            .ct_batch(&log.url, decoded, position, newest);
    }
}

impl Handler<Drain> for Decoder {
    type Result = ();
    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {}
}
