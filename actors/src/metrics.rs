//! Counters of the watch pipeline, shared by its actors and logged as one `metrics` event.
//!
//! Plain atomics: they are bumped on the hot path and read rarely. A later issue exports them.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        pub struct Metrics { $($(#[$doc])* pub $name: AtomicU64,)* }

        /// A copy of every counter at one moment.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
        pub struct Snapshot { $(pub $name: u64,)* }

        impl Metrics {
            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $($name: self.$name.load(Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Websocket frames or replay lines received.
    frames,
    /// Frames that parsed as certstream messages.
    messages,
    /// Certificates (certificate_update and dns_entries messages).
    certificates,
    /// Names matched against the rules.
    names,
    /// Frames that are not valid certstream JSON, or miss fields, or have wrong types.
    malformed,
    /// Frames over `watch.max_frame_bytes`.
    oversized,
    /// Binary frames (certstream is text only).
    non_text,
    heartbeats,
    /// Messages with a `message_type` certhound does not know.
    unknown_type,
    /// Messages shed because the matcher's queue was full (or the matcher was restarting).
    shed_messages,
    /// Findings handed to the notifiers.
    findings,
    /// Matches suppressed because the registrable domain was reported within the dedupe window.
    duplicates,
    /// Matches suppressed by the allowlist.
    allowlisted,
    /// Findings stored durably (the outbox).
    stored,
    /// Findings whose registration data was looked up (or found unknown).
    enriched,
    /// Findings not notified: not registered or changed recently (or unknown, with drop).
    not_recent,
    /// Scans submitted to urlscan.io.
    scans_submitted,
    /// Recent scans found by search and reused instead of a new submission.
    scans_reused,
    /// Findings handed on without a scan because the quota stayed exhausted past max_wait.
    scan_skipped,
    /// Findings waiting for urlscan quota now (a gauge).
    scan_waiting,
    /// Submissions left in urlscan's current window, as its last answer said (a gauge).
    scan_quota_remaining,
    /// Deliveries marked sent, over all channels.
    delivered,
    /// Deliveries that failed for good (recorded with their reason).
    delivery_failed,
    /// Delivery attempts that failed transiently and were retried.
    delivery_retries,
    /// Successful connections to the feed after the first one.
    reconnects,
    /// Failed connection attempts.
    connect_failures,
    /// Connections replaced because nothing arrived within the idle timeout.
    idle_timeouts,
    /// Actor restarts by the supervisor.
    restarts,
    /// Feed messages that said entries were lost (`gap`: the server no longer had them).
    feed_gaps,
    /// Rule sets rebuilt and swapped in while running (SIGHUP or a changed config or allowlist
    /// file; see the binary's `reload.rs`).
    rules_reloads,
    /// Reloads refused (invalid config, rules that cannot be built): the rules in use stayed.
    rules_reload_errors,

    // Server role.
    /// CT logs being tailed now (a gauge).
    ct_logs,
    /// Entries fetched from CT logs.
    ct_entries,
    /// Entries that could not be decoded (counted and skipped).
    ct_decode_errors,
    /// Requests to CT logs.
    ct_requests,
    /// Requests to CT logs that failed (429, 5xx, timeouts, bad answers) and were retried.
    ct_request_errors,
    /// Checkpoints of tiled logs whose signature did not verify (not used).
    ct_bad_checkpoints,
    /// Batches waiting to be decoded (a gauge, bounded by ct.decode_queue).
    ct_decode_waiting,
    /// Messages published to the feed.
    server_published,
    /// Websocket clients connected now (a gauge).
    server_clients,
    /// Websocket connections accepted, in all.
    server_connections,
    /// Connections refused at server.max_connections.
    server_refused,
    /// Clients cut off because their queue (server.client_queue) was full.
    server_slow_clients,
    /// Messages written to clients, all clients together.
    server_sent,
    /// Messages sent again to clients that reconnected with ?since=.
    server_replayed,
    /// Clients told of a gap: their ?since= was older than the history.
    server_gaps,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// For gauges: the value now.
    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Relaxed);
    }
}
