//! The hub: numbering, history and fan-out of the messages the server role publishes.
//!
//! [`Hub::publish`] takes one message in its three forms (lite, full, domains-only), each a JSON
//! object text without a `seq`. It gives the message the next seq and splices `"seq":N,` right
//! after the opening `{` of every form, keeps it in a ring of the last `server.history` messages
//! and offers it to every subscribed client's queue.
//!
//! Backpressure: `publish` never blocks or awaits. Each client has a bounded queue
//! (`server.client_queue` messages); a client whose queue is full is cut off on the spot (removed
//! from the hub, its [`Subscription::cut_off`] token cancelled, counted in `server_slow_clients`),
//! so that one slow reader never slows the others. The lock is held only to assign the seq, push
//! into the ring and `try_send` an `Arc` to each queue; the splicing is done before taking it.
//!
//! Resume: [`Hub::subscribe`] with `since = Some(S)` takes the replay (every kept message with
//! seq > S) and registers the live queue under the same lock, so nothing is lost or sent twice at
//! the switch from replay to live. When that is not possible the client is first sent one gap
//! notice (a message without a top-level `seq`, so that it never moves a client's position):
//!
//! ```json
//! {"message_type":"gap","data":{"reason":"expired","since":S,"first_available":F,"last_seq":L,"missed":M}}
//! ```
//!
//! `since=0` asks for everything kept and gets it without a notice (a client's first start).
//!
//! - `reason: "expired"`: S is older than the history. `first_available` F is the oldest seq
//!   still kept (or the next seq if none is kept); `missed` = F - S - 1 messages are lost; the
//!   kept messages F..=L follow, then live ones.
//! - `reason: "ahead"`: S is past the last seq L (the server restarted and its numbering does not
//!   go that far). `first_available` is L + 1, the next live seq, and `missed` is `null` (unknown);
//!   live messages follow.
//!
//! Both are counted in `server_gaps`; replayed messages in `server_replayed`.

use crate::metrics::Metrics;
use certhound_config::ServerConfig;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

/// Which form of the messages a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `/`: no `chain`, no `as_der`.
    Lite,
    /// `/full-stream`.
    Full,
    /// `/domains-only`: `{"message_type":"dns_entries","data":[...]}`.
    Domains,
}

/// One published message in its three forms, each with its `seq` spliced in.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub lite: Utf8Bytes,
    pub full: Utf8Bytes,
    pub domains: Utf8Bytes,
}

impl Published {
    pub fn form(&self, form: Form) -> &Utf8Bytes {
        match form {
            Form::Lite => &self.lite,
            Form::Full => &self.full,
            Form::Domains => &self.domains,
        }
    }
}

/// A client's place in the hub: what to send first, then its live queue.
///
/// Dropping it unsubscribes the client.
pub struct Subscription {
    /// The gap notice to send before anything else, if any.
    pub gap: Option<Utf8Bytes>,
    /// Messages to send before the live ones, in seq order.
    pub replay: Vec<Arc<Published>>,
    /// Live messages; ends (`None`) when the client is cut off or the hub is gone.
    pub live: mpsc::Receiver<Arc<Published>>,
    /// Cancelled when the hub cuts this client off because its queue was full.
    pub cut_off: CancellationToken,
    id: u64,
    hub: Arc<Shared>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.hub.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = inner.clients.iter().position(|c| c.id == self.id) {
            inner.clients.swap_remove(i);
        }
    }
}

struct Client {
    id: u64,
    tx: mpsc::Sender<Arc<Published>>,
    cut_off: CancellationToken,
}

struct Inner {
    /// Seq the next message gets.
    next_seq: u64,
    ring: VecDeque<Arc<Published>>,
    clients: Vec<Client>,
}

struct Shared {
    inner: Mutex<Inner>,
    history: usize,
    client_queue: usize,
    next_client: AtomicU64,
    metrics: Arc<Metrics>,
}

/// See the module comment. Cheap to clone; all clones are the same hub.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

/// `{"seq":N,` + the rest of `json` after its first `{` (valid UTF-8 guaranteed).
fn splice(json: &[u8], seq: u64) -> Utf8Bytes {
    // The encoder's output is UTF-8 already: checking it is a fast pass over the bytes, and
    // only invalid input (never expected) takes the slow lossy path.
    let text: std::borrow::Cow<str> = match std::str::from_utf8(json) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(json),
    };
    let (head, rest) = match text.find('{') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => ("", text.as_ref()),
    };
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str(head);
    out.push_str("{\"seq\":");
    {
        use std::fmt::Write;
        let _ = write!(out, "{seq}");
    }
    if !rest.trim_start().starts_with('}') {
        out.push(',');
    }
    out.push_str(rest);
    Utf8Bytes::from(out)
}

impl Hub {
    /// `first_seq` is the seq of the first message published (at least 1): a server that restarts
    /// should start past what it sent before (for example from the clock) so that clients'
    /// positions stay meaningful.
    pub fn new(cfg: &ServerConfig, first_seq: u64, metrics: Arc<Metrics>) -> Hub {
        Hub {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    next_seq: first_seq.max(1),
                    ring: VecDeque::with_capacity(cfg.history.max(1)),
                    clients: Vec::new(),
                }),
                history: cfg.history.max(1),
                client_queue: cfg.client_queue.max(1),
                next_client: AtomicU64::new(1),
                metrics,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Publishes one message (each form a JSON object text without `seq`) and returns its seq.
    /// Never blocks: clients with a full queue are cut off (see the module comment).
    pub fn publish(&self, lite: &[u8], full: &[u8], domains: &[u8]) -> u64 {
        // The seq is only known under the lock, but splicing (copying ~7 KB) should not be done
        // there: splice with the seq expected and redo it in the rare case that another publish
        // took that seq meanwhile.
        let mut guess = self.last_seq() + 1;
        loop {
            let msg = Arc::new(Published {
                seq: guess,
                lite: splice(lite, guess),
                full: splice(full, guess),
                domains: splice(domains, guess),
            });
            let mut inner = self.lock();
            if inner.next_seq != guess {
                guess = inner.next_seq;
                continue;
            }
            inner.next_seq += 1;
            if inner.ring.len() == self.shared.history {
                inner.ring.pop_front();
            }
            inner.ring.push_back(msg.clone());
            let mut slow = 0;
            inner.clients.retain(|c| match c.tx.try_send(msg.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    c.cut_off.cancel();
                    slow += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            let clients = inner.clients.len();
            drop(inner);
            let m = &self.shared.metrics;
            Metrics::add(&m.server_published, 1);
            if slow > 0 {
                Metrics::add(&m.server_slow_clients, slow);
                tracing::warn!(
                    slow,
                    clients,
                    "server: cut off clients whose queue was full"
                );
            }
            return guess;
        }
    }

    /// Seq of the last message published (`first_seq - 1` before the first).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// The latest message, for `GET /example.json`.
    pub fn example(&self) -> Option<Arc<Published>> {
        self.lock().ring.back().cloned()
    }

    /// The last `n` messages, oldest first, for `GET /latest.json`.
    pub fn latest(&self, n: usize) -> Vec<Arc<Published>> {
        let inner = self.lock();
        let skip = inner.ring.len().saturating_sub(n);
        inner.ring.iter().skip(skip).cloned().collect()
    }

    /// Subscribes a client: live messages only without `since`; with `since = Some(S)` the
    /// messages after S first (see the module comment).
    pub fn subscribe(&self, since: Option<u64>) -> Subscription {
        let (tx, live) = mpsc::channel(self.shared.client_queue);
        let cut_off = CancellationToken::new();
        let id = self.shared.next_client.fetch_add(1, Ordering::Relaxed);
        let mut gap = None;
        let mut replay = Vec::new();
        {
            let mut inner = self.lock();
            let last = inner.next_seq - 1;
            if let Some(s) = since {
                let first_available = inner.ring.front().map_or(inner.next_seq, |m| m.seq);
                if s > last {
                    gap = Some(gap_notice("ahead", s, last + 1, last, None));
                } else if s + 1 < first_available && s > 0 {
                    let missed = first_available - s - 1;
                    gap = Some(gap_notice(
                        "expired",
                        s,
                        first_available,
                        last,
                        Some(missed),
                    ));
                    replay.extend(inner.ring.iter().cloned());
                } else {
                    let skip = (s + 1).saturating_sub(first_available) as usize;
                    replay.extend(inner.ring.iter().skip(skip).cloned());
                }
            }
            inner.clients.push(Client {
                id,
                tx,
                cut_off: cut_off.clone(),
            });
        }
        let m = &self.shared.metrics;
        if gap.is_some() {
            Metrics::add(&m.server_gaps, 1);
        }
        Metrics::add(&m.server_replayed, replay.len() as u64);
        Subscription {
            gap,
            replay,
            live,
            cut_off,
            id,
            hub: self.shared.clone(),
        }
    }

    /// Clients subscribed now.
    pub fn clients(&self) -> usize {
        self.lock().clients.len()
    }
}

fn gap_notice(
    reason: &str,
    since: u64,
    first_available: u64,
    last_seq: u64,
    missed: Option<u64>,
) -> Utf8Bytes {
    let v = serde_json::json!({
        "message_type": "gap",
        "data": {
            "reason": reason,
            "since": since,
            "first_available": first_available,
            "last_seq": last_seq,
            "missed": missed,
        }
    });
    Utf8Bytes::from(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn cfg(history: usize, queue: usize) -> ServerConfig {
        ServerConfig {
            history,
            client_queue: queue,
            ..ServerConfig::default()
        }
    }

    fn publish(hub: &Hub, name: &str) -> u64 {
        let lite = format!(r#"{{"message_type":"certificate_update","data":{{"n":"{name}"}}}}"#);
        let doms = format!(r#"{{"message_type":"dns_entries","data":["{name}"]}}"#);
        hub.publish(lite.as_bytes(), lite.as_bytes(), doms.as_bytes())
    }

    #[test]
    fn seq_is_spliced_into_every_form() {
        let hub = Hub::new(&cfg(4, 4), 10, Arc::default());
        assert_eq!(hub.last_seq(), 9);
        assert_eq!(publish(&hub, "a.example"), 10);
        let m = hub.example().unwrap();
        for form in [Form::Lite, Form::Full, Form::Domains] {
            let v: Value = serde_json::from_str(m.form(form).as_str()).unwrap();
            assert_eq!(v["seq"], 10);
        }
        assert!(m.lite.as_str().starts_with(r#"{"seq":10,"message_type""#));
        assert_eq!(splice(b"{}", 3).as_str(), r#"{"seq":3}"#);
        assert_eq!(splice(b" { }", 3).as_str(), r#" {"seq":3 }"#);
    }

    #[test]
    fn ring_replay_and_gaps() {
        let metrics = Arc::new(Metrics::default());
        let hub = Hub::new(&cfg(3, 8), 1, metrics.clone());
        for i in 0..5 {
            publish(&hub, &format!("{i}.example"));
        }
        // Ring holds 3, 4, 5.
        let s = hub.subscribe(Some(3));
        assert!(s.gap.is_none());
        assert_eq!(s.replay.iter().map(|m| m.seq).collect::<Vec<_>>(), [4, 5]);
        let s = hub.subscribe(Some(2));
        assert!(s.gap.is_none());
        assert_eq!(s.replay.len(), 3);
        let s = hub.subscribe(Some(5));
        assert!(s.gap.is_none() && s.replay.is_empty());
        let s = hub.subscribe(Some(1));
        let gap: Value = serde_json::from_str(s.gap.as_ref().unwrap().as_str()).unwrap();
        assert_eq!(gap["message_type"], "gap");
        assert_eq!(gap["data"]["reason"], "expired");
        assert_eq!(gap["data"]["first_available"], 3);
        assert_eq!(gap["data"]["missed"], 1);
        assert!(gap.get("seq").is_none());
        assert_eq!(s.replay.len(), 3);
        // since=0 is "everything you have": the ring, no notice.
        let s = hub.subscribe(Some(0));
        assert!(s.gap.is_none());
        assert_eq!(s.replay.len(), 3);
        let s = hub.subscribe(Some(99));
        let gap: Value = serde_json::from_str(s.gap.as_ref().unwrap().as_str()).unwrap();
        assert_eq!(gap["data"]["reason"], "ahead");
        assert_eq!(gap["data"]["first_available"], 6);
        assert!(gap["data"]["missed"].is_null());
        assert!(s.replay.is_empty());
        assert_eq!(metrics.snapshot().server_gaps, 2);
        assert_eq!(metrics.snapshot().server_replayed, 2 + 3 + 3 + 3);
        assert_eq!(
            hub.latest(2).iter().map(|m| m.seq).collect::<Vec<_>>(),
            [4, 5]
        );
    }

    #[test]
    fn full_queue_cuts_the_client_off_without_blocking() {
        let metrics = Arc::new(Metrics::default());
        let hub = Hub::new(&cfg(8, 2), 1, metrics.clone());
        let slow = hub.subscribe(None);
        let mut fast = hub.subscribe(None);
        for i in 0..5 {
            publish(&hub, &format!("{i}.example"));
            while fast.live.try_recv().is_ok() {}
        }
        assert!(slow.cut_off.is_cancelled());
        assert!(!fast.cut_off.is_cancelled());
        assert_eq!(hub.clients(), 1);
        assert_eq!(metrics.snapshot().server_slow_clients, 1);
        drop(fast);
        assert_eq!(hub.clients(), 0);
    }
}
