//! The tailer of one static-ct-api (C2SP) log: reads its signed checkpoint, fetches the data
//! tiles of new entries, fetches each issuer certificate once, and hands entries to the
//! decoder in order.
//!
//! Checkpoints are verified with the log's key from the list before their size is believed; a
//! checkpoint that does not verify is counted (`ct_bad_checkpoints`) and ignored. A data tile
//! holds 256 entries; the last one of a tree is partial (`.p/<W>`). A partial tile is read once
//! per tree size: when the next checkpoint has not grown, nothing is fetched again, and when it
//! has, the wider (or full) tile is read and the entries already published are skipped.
//! Tiles may come gzip-compressed without having been asked for.
//!
//! Entries name their chain by SHA-256 fingerprints; the certificates come from
//! `issuer/<hex>`, checked against the fingerprint and kept in an LRU shared by all tiled logs
//! (`ct.issuer_cache`), so each is fetched once.

use crate::ct::checkpoint::{self, LogKey};
use crate::ct::decoder::{Batch, Entries, LogMeta, TiledEntry};
use crate::ct::fetch::{FetchError, LogHttp};
use crate::ct::rfc6962::{hand_over, Tail};
use crate::ct::tiles;
use crate::metrics::Metrics;
use actix::prelude::*;
use futures_util::stream::{FuturesOrdered, StreamExt};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

use tiles::TILE_WIDTH;

/// Issuer certificates by SHA-256, shared by the tiled logs.
#[derive(Clone)]
pub struct Issuers(Arc<Mutex<IssuerLru>>);

type IssuerLru = LruCache<[u8; 32], Arc<[u8]>>;

impl Issuers {
    pub fn new(capacity: usize) -> Issuers {
        Issuers(Arc::new(Mutex::new(LruCache::new(
            NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
        ))))
    }
    fn get(&self, fp: &[u8; 32]) -> Option<Arc<[u8]>> {
        self.0.lock().ok()?.get(fp).cloned()
    }
    fn put(&self, fp: [u8; 32], der: Arc<[u8]>) {
        if let Ok(mut c) = self.0.lock() {
            c.put(fp, der);
        }
    }
}

/// The actor; see [`crate::ct::rfc6962::Rfc6962Tailer`] for its life.
pub struct StaticCtTailer {
    tail: Option<(Tail, Issuers)>,
}

impl StaticCtTailer {
    pub fn new(tail: Tail, issuers: Issuers) -> Self {
        StaticCtTailer {
            tail: Some((tail, issuers)),
        }
    }
}

impl Actor for StaticCtTailer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some((t, issuers)) = self.tail.take() {
            ctx.spawn(async move { tail_loop(t, issuers).await }.into_actor(self));
        }
    }
}

async fn tail_loop(t: Tail, issuers: Issuers) {
    let origin = t.log.origin.clone().unwrap_or_default();
    let key = match t
        .log
        .key
        .as_deref()
        .map(|k| LogKey::from_spki_b64(&origin, k))
    {
        Some(Ok(k)) => k,
        Some(Err(e)) => {
            tracing::error!(log = %t.log.url, error = %e, "static-ct log key unusable; log not tailed");
            t.stop.cancelled().await;
            return;
        }
        None => {
            tracing::error!(log = %t.log.url, "static-ct log without a key; log not tailed");
            t.stop.cancelled().await;
            return;
        }
    };
    let meta = t.meta();
    let size_of = |note: &[u8]| match checkpoint::verify(note, &key) {
        Ok(c) => Some(c.size),
        Err(e) => {
            Metrics::add(&t.metrics.ct_bad_checkpoints, 1);
            tracing::warn!(log = %t.log.url, error = %e, "checkpoint rejected");
            None
        }
    };
    let checkpoint_url = format!("{}checkpoint", t.log.url);
    t.poll(
        &checkpoint_url,
        |e| tracing::warn!(log = %t.log.url, error = %e, "checkpoint fetch failed"),
        size_of,
        async |http, start, size| fetch_tiles(&t, http, &issuers, &meta, start, size).await,
    )
    .await;
}

/// What fetching a tile gives: the tile, `None` at shutdown, or why not.
type FetchedTile = Result<Option<Tile>, FetchError>;

/// One data tile as fetched: its number, how many entries it has, where it came from (the
/// link certstream messages carry) and its bytes, gunzipped.
struct Tile {
    n: u64,
    width: u64,
    link: Arc<str>,
    body: Vec<u8>,
}

/// Reads the tiles covering [start, size) and hands them over in order. False at shutdown.
///
/// Up to `per_log_concurrency` tile bodies are fetched at once; their entries' issuers are then
/// resolved one tile after the other, so that two tiles never fetch the same new issuer twice.
async fn fetch_tiles(
    t: &Tail,
    http: &LogHttp,
    issuers: &Issuers,
    meta: &Arc<LogMeta>,
    start: u64,
    size: u64,
) -> bool {
    let mut pos = start;
    while pos < size {
        let wanted: Vec<(u64, u64)> = tiles::tiles_for(pos, size)
            .take(t.cfg.per_log_concurrency.max(1))
            .map(|(n, partial)| (n, partial.map_or(TILE_WIDTH, u64::from)))
            .collect();
        let mut fetches: FuturesOrdered<_> = wanted
            .iter()
            .map(|&(n, width)| fetch_tile(t, http, n, width))
            .collect();
        while let Some(r) = fetches.next().await {
            let r = match r {
                Ok(Some(tile)) => tile_entries(t, http, issuers, &tile, pos).await,
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            match r {
                Ok(Some(entries)) => {
                    let Some(last) = entries.last().map(|e| e.index) else {
                        continue;
                    };
                    let batch = Batch {
                        log: meta.clone(),
                        entries: Arc::new(Entries::Tiled(entries)),
                        next: last + 1,
                    };
                    pos = last + 1;
                    hand_over(&t.decoder, batch, &t.metrics, &t.stop).await;
                }
                Ok(None) => return false,
                Err(e) => {
                    // Not there (yet), or a broken tile: read the checkpoint again later rather
                    // than loop on the tile.
                    Metrics::add(&t.metrics.ct_request_errors, 1);
                    tracing::warn!(log = %t.log.url, position = pos, error = %e, "data tile unusable");
                    return t.sleep_or_stop(t.cfg.poll_interval).await;
                }
            }
        }
    }
    true
}

/// [`fetch_tile_untraced`] in a span of its own trace (one per tile: log, start, count, status).
async fn fetch_tile(t: &Tail, http: &LogHttp, n: u64, width: u64) -> FetchedTile {
    let span = tracing::info_span!(
        target: "certhound::trace",
        parent: None,
        "ct tile",
        log = %t.log.url,
        start = n * TILE_WIDTH,
        count = width,
        status = tracing::field::Empty,
    );
    let r = fetch_tile_untraced(t, http, n, width)
        .instrument(span.clone())
        .await;
    match &r {
        Ok(Some(_)) => span.record("status", "ok"),
        Ok(None) => span.record("status", "stopped"),
        Err(err) => span.record("status", tracing::field::display(format!("error: {err}"))),
    };
    r
}

async fn fetch_tile_untraced(t: &Tail, http: &LogHttp, n: u64, width: u64) -> FetchedTile {
    let partial = (width < TILE_WIDTH).then_some(width as u16);
    let link: Arc<str> = format!("{}{}", t.log.url, tiles::data_tile_path(n, partial)).into();
    let Some(body) = http.get_retrying(&link, &t.stop).await? else {
        return Ok(None);
    };
    let body = tiles::maybe_gunzip(body, t.cfg.max_response_bytes)
        .map_err(|e| FetchError::Transport(format!("tile gzip: {e}")))?;
    Ok(Some(Tile {
        n,
        width,
        link,
        body,
    }))
}

/// The entries of `tile` from index `from` on, with their issuers.
async fn tile_entries(
    t: &Tail,
    http: &LogHttp,
    issuers: &Issuers,
    tile: &Tile,
    from: u64,
) -> Result<Option<Vec<TiledEntry>>, FetchError> {
    let Tile {
        n,
        width,
        ref link,
        ref body,
    } = *tile;
    let leaves =
        tiles::parse_data_tile(body).map_err(|e| FetchError::Transport(format!("tile: {e}")))?;
    if (leaves.len() as u64) < width {
        return Err(FetchError::Transport(format!(
            "tile has {} entries, expected {width}",
            leaves.len()
        )));
    }
    let mut out = Vec::with_capacity(leaves.len());
    for (i, leaf) in leaves.iter().enumerate().take(width as usize) {
        let index = n * TILE_WIDTH + i as u64;
        if index < from {
            continue;
        }
        let mut chain = Vec::with_capacity(leaf.chain_fingerprints.len());
        for fp in &leaf.chain_fingerprints {
            match issuer(t, http, issuers, fp).await? {
                Some(der) => chain.push(der),
                None => return Ok(None),
            }
        }
        out.push(TiledEntry {
            index,
            kind: leaf.kind,
            timestamp_ms: leaf.timestamp_ms,
            leaf: leaf.leaf.to_vec(),
            chain,
            link: link.clone(),
        });
    }
    Ok(Some(out))
}

/// The issuer certificate with SHA-256 `fp`: from the cache, or fetched once and checked.
async fn issuer(
    t: &Tail,
    http: &LogHttp,
    issuers: &Issuers,
    fp: &[u8; 32],
) -> Result<Option<Arc<[u8]>>, FetchError> {
    if let Some(der) = issuers.get(fp) {
        return Ok(Some(der));
    }
    let hex: String = fp.iter().map(|b| format!("{b:02x}")).collect();
    let url = format!("{}issuer/{hex}", t.log.url);
    let Some(body) = http.get_retrying(&url, &t.stop).await? else {
        return Ok(None);
    };
    let got = ring::digest::digest(&ring::digest::SHA256, &body);
    if got.as_ref() != fp {
        return Err(FetchError::Transport(format!(
            "issuer {hex}: the certificate served has another hash"
        )));
    }
    let der: Arc<[u8]> = body.into();
    issuers.put(*fp, der.clone());
    Ok(Some(der))
}
