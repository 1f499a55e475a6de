//! The tailer of one RFC 6962 log: reads its tree head, fetches new entries in order and hands
//! them to the decoder.
//!
//! Fetching: up to `ct.per_log_concurrency` `get-entries` requests are in flight, each for up to
//! `ct.batch_size` entries. Logs answer with fewer than asked (Google 32, others 256 or 1024):
//! the rest of a short answer is asked for again, and the log's answer size is learnt so that
//! later requests ask for what it gives. Answers are reassembled in index order before they go
//! to the decoder, so positions only ever move over entries that were published.
//!
//! Backpressure: the tailer awaits the decoder's reply to each batch, so at most
//! `per_log_concurrency` answers of a log are held in memory while the decoder is behind.

use crate::ct::decoder::{Batch, Decoder, Entries, LogMeta, Positions, RawEntry};
use crate::ct::fetch::{FetchError, LogHttp};
use crate::ct::loglist::LogInfo;
use crate::metrics::Metrics;
use crate::slot::Slot;
use actix::prelude::*;
use base64::Engine;
use certhound_config::{CtConfig, StartAt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Deserialize)]
struct Sth {
    tree_size: u64,
}

#[derive(Deserialize)]
struct EntriesResponse<'a> {
    #[serde(borrow)]
    entries: Vec<EntryB64<'a>>,
}

#[derive(Deserialize)]
struct EntryB64<'a> {
    #[serde(borrow)]
    leaf_input: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    extra_data: std::borrow::Cow<'a, str>,
}

/// Everything a tailer needs; cloned into each incarnation by the supervisor's factory.
#[derive(Clone)]
pub struct Tail {
    pub log: LogInfo,
    pub cfg: CtConfig,
    pub client: reqwest::Client,
    /// Every log's request rate, shared with the reloader.
    pub rates: crate::ct::fetch::CtRates,
    pub decoder: Slot<Decoder>,
    pub positions: Positions,
    pub metrics: Arc<Metrics>,
    pub stop: CancellationToken,
}

/// The actor: its whole life is the tail loop, spawned when it starts. The loop ends only at
/// shutdown or when the log leaves the list, and the actor then stays idle (a stopped actor
/// would be restarted); a panic in it ends the actor's task, and the supervisor starts a new
/// one, which continues from the published position.
pub struct Rfc6962Tailer {
    tail: Option<Tail>,
}

impl Rfc6962Tailer {
    pub fn new(tail: Tail) -> Self {
        Rfc6962Tailer { tail: Some(tail) }
    }
}

impl Actor for Rfc6962Tailer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.tail.take() {
            ctx.spawn(async move { tail_loop(t).await }.into_actor(self));
        }
    }
}

/// Sends one batch to the decoder, again after a decoder restart, until it is taken.
pub(crate) async fn hand_over(
    decoder: &Slot<Decoder>,
    batch: Batch,
    metrics: &Metrics,
    stop: &CancellationToken,
) {
    let mut slot = decoder.clone();
    Metrics::add(&metrics.ct_decode_waiting, 1);
    loop {
        let Some(addr) = slot.next_live().await else {
            break;
        };
        if addr.send(batch.clone()).await.is_ok() {
            break;
        }
        if stop.is_cancelled() && !addr.connected() {
            break;
        }
    }
    metrics
        .ct_decode_waiting
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

impl Tail {
    /// What the log's messages say about it.
    pub(crate) fn meta(&self) -> Arc<LogMeta> {
        Arc::new(LogMeta {
            source: crate::ct::cert::LogSource {
                name: self.log.name.clone(),
                url: self.log.url.clone(),
            },
            url: self.log.url.clone(),
        })
    }

    /// Where to read from in a tree of `size` entries: the published position, or for a log
    /// seen for the first time `ct.new_log_start`, recorded at once so that a restart before
    /// its first entry does not move the start.
    pub(crate) fn start_position(&self, size: u64) -> u64 {
        if let Some(p) = self.positions.get(&self.log.url) {
            return p;
        }
        let p = match self.cfg.new_log_start {
            StartAt::End => size,
            StartAt::Start => 0,
        };
        tracing::info!(log = %self.log.url, position = p, tree_size = size, "new log");
        self.positions.advance(&self.log.url, p);
        p
    }

    /// Waits `d`; false when the tailer is stopped first.
    pub(crate) async fn sleep_or_stop(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.stop.cancelled() => false,
        }
    }

    /// The loop of both kinds of log, until shutdown: every `ct.poll_interval` ask `head_url`
    /// for the tree head, read its size with `size_of` (`None`: the answer is not believed, it
    /// counts and logs that itself), and `fetch` from the start position up to that size (it
    /// answers false at shutdown). A failed request is counted, and logged by `failed` (in the
    /// caller's module, so that the event keeps its target).
    pub(crate) async fn poll(
        &self,
        head_url: &str,
        failed: impl Fn(&FetchError),
        size_of: impl Fn(&[u8]) -> Option<u64>,
        mut fetch: impl AsyncFnMut(&LogHttp, u64, u64) -> bool,
    ) {
        let http = LogHttp::new(
            self.client.clone(),
            &self.cfg,
            self.rates.bucket(&self.cfg, &self.log.url),
            self.metrics.clone(),
        );
        loop {
            let size = match http.get_retrying(head_url, &self.stop).await {
                Ok(None) => return,
                Ok(Some(body)) => size_of(&body),
                Err(e) => {
                    Metrics::add(&self.metrics.ct_request_errors, 1);
                    failed(&e);
                    None
                }
            };
            if let Some(size) = size {
                let start = self.start_position(size);
                self.metrics.labelled.ct_tree(&self.log.url, size, start);
                if start < size && !fetch(&http, start, size).await {
                    return;
                }
            }
            if !self.sleep_or_stop(self.cfg.poll_interval).await {
                return;
            }
        }
    }
}

async fn tail_loop(t: Tail) {
    let meta = t.meta();
    let mut batch_size = t.cfg.batch_size;
    let size_of = |body: &[u8]| match serde_json::from_slice::<Sth>(body) {
        Ok(s) => Some(s.tree_size),
        Err(e) => {
            Metrics::add(&t.metrics.ct_request_errors, 1);
            tracing::warn!(log = %t.log.url, error = %e, "get-sth answer is not a tree head");
            None
        }
    };
    let sth_url = format!("{}ct/v1/get-sth", t.log.url);
    t.poll(
        &sth_url,
        |e| tracing::warn!(log = %t.log.url, error = %e, "get-sth failed"),
        size_of,
        async |http, start, size| fetch_range(&t, http, &meta, start, size, &mut batch_size).await,
    )
    .await;
}

/// Fetches [start, end) and hands it over in order. False at shutdown.
async fn fetch_range(
    t: &Tail,
    http: &LogHttp,
    meta: &Arc<LogMeta>,
    start: u64,
    end: u64,
    batch_size: &mut u64,
) -> bool {
    let mut next_request = start;
    let mut next_publish = start;
    // Answers that arrived ahead of an earlier one still in flight, by first index.
    let mut ready: BTreeMap<u64, Vec<RawEntry>> = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    // Ranges to ask for again (the rest of a short answer) before any new one.
    let mut again: Vec<(u64, u64)> = Vec::new();
    while next_publish < end {
        while in_flight.len() < t.cfg.per_log_concurrency.max(1) {
            let (s, e) = if let Some(r) = again.pop() {
                r
            } else if next_request < end {
                let e = (next_request + *batch_size).min(end);
                let r = (next_request, e);
                next_request = e;
                r
            } else {
                break;
            };
            in_flight.push(get_entries(t, http, s, e));
        }
        let Some((s, e, result)) = in_flight.next().await else {
            break;
        };
        let entries = match result {
            Ok(Some(v)) => v,
            Ok(None) => return false,
            Err(err) => {
                // A final error for this range (e.g. 400: the log no longer serves it, or the
                // tree head was ahead of its entries). Wait and ask again: the range is
                // needed, skipping it would lose entries.
                Metrics::add(&t.metrics.ct_request_errors, 1);
                tracing::warn!(log = %t.log.url, start = s, end = e, error = %err, "get-entries failed");
                tokio::select! {
                    _ = tokio::time::sleep(t.cfg.max_backoff.min(t.cfg.poll_interval * 2)) => {}
                    _ = t.stop.cancelled() => return false,
                }
                again.push((s, e));
                continue;
            }
        };
        let n = entries.len() as u64;
        if n == 0 {
            // Nothing yet (the log answered before its tree caught up): later.
            tokio::select! {
                _ = tokio::time::sleep(t.cfg.poll_interval) => {}
                _ = t.stop.cancelled() => return false,
            }
            again.push((s, e));
            continue;
        }
        let n = n.min(e - s);
        if n < e - s {
            // A short answer: the log's page size. Ask for the rest, and no more than that
            // per request from now on.
            *batch_size = (*batch_size).min(n).max(1);
            again.push((s + n, e));
        }
        ready.insert(s, entries.into_iter().take(n as usize).collect());
        while let Some(chunk) = ready.remove(&next_publish) {
            let len = chunk.len() as u64;
            let batch = Batch {
                log: meta.clone(),
                entries: Arc::new(Entries::Rfc6962(chunk)),
                next: next_publish + len,
            };
            next_publish += len;
            hand_over(&t.decoder, batch, &t.metrics, &t.stop).await;
        }
    }
    true
}

type Fetched = (u64, u64, Result<Option<Vec<RawEntry>>, FetchError>);

/// [`get_entries_untraced`] in a span of its own trace (one per fetch batch: log, start, count,
/// status). Sampled like every trace (`telemetry.sample_ratio`).
async fn get_entries(t: &Tail, http: &LogHttp, s: u64, e: u64) -> Fetched {
    let span = tracing::info_span!(
        target: "certhound::trace",
        parent: None,
        "ct get-entries",
        log = %t.log.url,
        start = s,
        asked = e - s,
        count = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let r = get_entries_untraced(t, http, s, e)
        .instrument(span.clone())
        .await;
    match &r.2 {
        Ok(Some(v)) => {
            span.record("count", v.len() as u64);
            span.record("status", "ok");
        }
        Ok(None) => {
            span.record("status", "stopped");
        }
        Err(err) => {
            span.record("status", tracing::field::display(format!("error: {err}")));
        }
    }
    r
}

async fn get_entries_untraced(t: &Tail, http: &LogHttp, s: u64, e: u64) -> Fetched {
    let url = format!(
        "{}ct/v1/get-entries?start={s}&end={}",
        t.log.url,
        e.saturating_sub(1)
    );
    let r = match http.get_retrying(&url, &t.stop).await {
        Ok(Some(body)) => match decode_entries(&body, s) {
            Ok(v) => Ok(Some(v)),
            Err(msg) => {
                tracing::warn!(log = %t.log.url, start = s, error = %msg, "get-entries answer unusable");
                Err(FetchError::Transport(msg))
            }
        },
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    (s, e, r)
}

/// The entries of a `get-entries` answer, base64 decoded, numbered from `start`. An item
/// whose base64 is broken is kept empty, so that the decoder counts and skips it rather than
/// the whole answer being asked for again forever.
pub fn decode_entries(body: &[u8], start: u64) -> Result<Vec<RawEntry>, String> {
    let r: EntriesResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(r.entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (leaf_input, extra_data) = match (
                b64.decode(e.leaf_input.as_bytes()),
                b64.decode(e.extra_data.as_bytes()),
            ) {
                (Ok(l), Ok(x)) => (l, x),
                _ => (Vec::new(), Vec::new()),
            };
            RawEntry {
                index: start + i as u64,
                leaf_input,
                extra_data,
            }
        })
        .collect())
}
