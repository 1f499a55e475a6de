//! Counters of the watch and server pipelines, shared by their actors, logged as one `metrics`
//! event and exported in the Prometheus text format on the admin listener (`/metrics`).
//!
//! Plain atomics: they are bumped on the hot path and read rarely (a scrape, a log line). The
//! labelled families and histograms of [`Labelled`] are bumped per finding, per delivery and per
//! CT batch only, never per certificate.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Whether a field of [`Metrics`] only grows (exported as `certhound_<name>_total`) or is a
/// value now (exported as `certhound_<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

macro_rules! counters {
    (@kind gauge) => { Kind::Gauge };
    (@kind) => { Kind::Counter };
    ($($(#[doc = $doc:literal])* $(@$gauge:ident)? $name:ident),* $(,)?) => {
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
            /// Labelled families and histograms (Prometheus only).
            pub labelled: Labelled,
        }

        /// A copy of every counter at one moment.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
        pub struct Snapshot { $(pub $name: u64,)* }

        impl Metrics {
            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $($name: self.$name.load(Relaxed),)* }
            }
        }

        impl Snapshot {
            /// Every field: its name, kind, help text (its doc comment) and value.
            pub fn fields(&self) -> Vec<(&'static str, Kind, &'static str, u64)> {
                vec![$((
                    stringify!($name),
                    counters!(@kind $($gauge)?),
                    concat!($($doc, )* ""),
                    self.$name,
                ),)*]
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
    /// Findings not stored because another task sharing the store (DynamoDB) stored their
    /// registrable domain within the dedupe window first.
    duplicates_elsewhere,
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
    /// Whether the watch role is connected to its feed now (1) or not (0).
    @gauge feed_connected,
    /// Findings waiting for urlscan quota now (a gauge).
    @gauge scan_waiting,
    /// Submissions left in urlscan's current window, as its last answer said (a gauge).
    @gauge scan_quota_remaining,
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
    /// Supervised actors not running now: stopped or crashed, waiting to be restarted.
    @gauge actors_down,
    /// Feed messages that said entries were lost (`gap`: the server no longer had them).
    feed_gaps,
    /// Rule sets rebuilt and swapped in while running (SIGHUP or a changed config or allowlist
    /// file; see the binary's `reload.rs`).
    rules_reloads,
    /// Reloads refused (invalid config, rules that cannot be built): the rules in use stayed.
    rules_reload_errors,

    // Server role.
    /// CT logs being tailed now (a gauge).
    @gauge ct_logs,
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
    @gauge ct_decode_waiting,
    /// Messages published to the feed.
    server_published,
    /// Websocket clients connected now (a gauge).
    @gauge server_clients,
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
    /// Adds every metric to a Prometheus registry (under the registry's prefix, `certhound`).
    /// The counters are read once per scrape, as one snapshot.
    pub fn register(self: &Arc<Self>, registry: &mut Registry) {
        registry.register_collector(Box::new(Counters(self.clone())));
        let l = &self.labelled;
        registry.register(
            "deliveries",
            "Deliveries by channel and outcome: sent, failed (for good), retried (an attempt that failed transiently)",
            l.deliveries.clone(),
        );
        registry.register_with_unit(
            "delivery_latency",
            "Time from a finding's detection to its delivery, per channel",
            Unit::Seconds,
            l.delivery_latency.clone(),
        );
        registry.register_with_unit(
            "finding_latency",
            "Time from the CT entry being seen (the certstream `seen`) to its finding being stored",
            Unit::Seconds,
            l.finding_latency.clone(),
        );
        registry.register(
            "ct_log_entries",
            "Entries fetched, per CT log",
            l.ct_log_entries.clone(),
        );
        registry.register(
            "ct_log_lag_entries",
            "Entries a CT log has and certhound has not fetched yet (tree size minus position)",
            l.ct_log_lag_entries.clone(),
        );
        registry.register(
            "ct_log_tree_size_entries",
            "Entries in each CT log, as its latest tree head or checkpoint says",
            l.ct_log_tree_size.clone(),
        );
        registry.register(
            "queue_depth",
            "Items waiting in a bounded queue now",
            l.queue_depth.clone(),
        );
        registry.register(
            "queue_capacity",
            "The bound of each queue of queue_depth",
            l.queue_capacity.clone(),
        );
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// For gauges: the value now.
    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Relaxed);
    }
}

/// Label of the per-channel metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: String,
}

/// Label of [`Labelled::deliveries`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    pub channel: String,
    /// `sent`, `failed` or `retried`.
    pub outcome: &'static str,
}

/// Label of the per-CT-log metrics: the log's URL.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LogLabel {
    pub log: String,
}

/// Label of `config_reloads`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Label of the queue metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: &'static str,
}

/// Bucket bounds of the latency histograms, in seconds: from a fast path (a finding stored
/// within milliseconds of its certificate) to a scan that waited for urlscan quota.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The metrics with labels, and histograms: bumped per finding, delivery or CT batch.
#[derive(Debug)]
pub struct Labelled {
    pub deliveries: Family<DeliveryLabel, Counter>,
    pub delivery_latency: Family<ChannelLabel, Histogram, fn() -> Histogram>,
    pub finding_latency: Histogram,
    pub ct_log_entries: Family<LogLabel, Counter>,
    pub ct_log_lag_entries: Family<LogLabel, Gauge>,
    pub ct_log_tree_size: Family<LogLabel, Gauge>,
    /// When the newest entry fetched from each log was logged (ms since the epoch, the
    /// entry's own timestamp); exported as its age at the scrape.
    ct_log_newest: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
    pub queue_depth: Family<QueueLabel, Gauge>,
    pub queue_capacity: Family<QueueLabel, Gauge>,
    /// When the feed last delivered a frame, heartbeats included (ms since the epoch; 0 before
    /// the first): what `/readyz` judges the feed by.
    pub feed_last_frame_ms: AtomicI64,
    /// When a CT log last answered a request successfully (ms since the epoch; 0 before the
    /// first): what `/readyz` judges the server role by.
    pub ct_last_success_ms: AtomicI64,
}

impl Default for Labelled {
    fn default() -> Self {
        Labelled {
            deliveries: Family::default(),
            delivery_latency: Family::new_with_constructor(latency_histogram),
            finding_latency: latency_histogram(),
            ct_log_entries: Family::default(),
            ct_log_lag_entries: Family::default(),
            ct_log_tree_size: Family::default(),
            ct_log_newest: Default::default(),
            queue_depth: Family::default(),
            queue_capacity: Family::default(),
            feed_last_frame_ms: AtomicI64::new(0),
            ct_last_success_ms: AtomicI64::new(0),
        }
    }
}

impl Labelled {
    /// Counts one delivery outcome of a channel.
    pub fn delivery(&self, channel: &str, outcome: &'static str, n: u64) {
        if n > 0 {
            self.deliveries
                .get_or_create(&DeliveryLabel {
                    channel: channel.to_string(),
                    outcome,
                })
                .inc_by(n);
        }
    }

    /// A log's tree size, as its latest tree head or checkpoint says, and the position read up
    /// to then.
    pub fn ct_tree(&self, log: &str, tree_size: u64, position: u64) {
        let label = LogLabel {
            log: log.to_string(),
        };
        self.ct_log_tree_size
            .get_or_create(&label)
            .set(tree_size as i64);
        self.ct_log_lag_entries
            .get_or_create(&label)
            .set(tree_size.saturating_sub(position) as i64);
    }

    /// A batch of `entries` of a log decoded, up to `position` (the next index), the newest
    /// logged at `newest_ms`.
    pub fn ct_batch(&self, log: &str, entries: u64, position: u64, newest_ms: Option<u64>) {
        let label = LogLabel {
            log: log.to_string(),
        };
        self.ct_log_entries.get_or_create(&label).inc_by(entries);
        let size = self.ct_log_tree_size.get_or_create(&label).get();
        self.ct_log_lag_entries
            .get_or_create(&label)
            .set((size - position as i64).max(0));
        if let Some(ms) = newest_ms {
            self.ct_log_newest(log, ms as i64);
        }
    }

    /// Records the newest entry timestamp (ms since the epoch) fetched from a log.
    pub fn ct_log_newest(&self, log: &str, timestamp_ms: i64) {
        if let Ok(mut m) = self.ct_log_newest.lock() {
            let slot = m.entry(log.to_string()).or_insert(timestamp_ms);
            *slot = (*slot).max(timestamp_ms);
        }
    }

    /// Sets a queue's depth and bound.
    pub fn queue(&self, queue: &'static str, depth: usize, capacity: usize) {
        let label = QueueLabel { queue };
        self.queue_depth.get_or_create(&label).set(depth as i64);
        self.queue_capacity
            .get_or_create(&label)
            .set(capacity as i64);
    }
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The plain counters and gauges of [`Metrics`], encoded from one snapshot per scrape, and the
/// values computed at the scrape (ages).
#[derive(Debug)]
struct Counters(Arc<Metrics>);

impl Collector for Counters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, kind, help, value) in self.0.snapshot().fields() {
            let help = help.trim();
            match kind {
                Kind::Counter => {
                    let c = ConstCounter::new(value);
                    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
                }
                Kind::Gauge => {
                    let g = ConstGauge::new(value as i64);
                    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
                }
            }
        }
        // Reloads by result, as the issue of live tuning names them (the same counts as
        // rules_reloads and rules_reload_errors: a reload applies the whole file or nothing).
        {
            let snap = self.0.snapshot();
            let mut family = encoder.encode_descriptor(
                "config_reloads",
                "Config reloads while running, by result: applied, or refused (invalid; the settings in use stayed)",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (result, n) in [
                ("applied", snap.rules_reloads),
                ("refused", snap.rules_reload_errors),
            ] {
                ConstCounter::new(n).encode(family.encode_family(&ResultLabel { result })?)?;
            }
        }
        let now = now_ms();
        let newest: Vec<(String, i64)> = match self.0.labelled.ct_log_newest.lock() {
            Ok(m) => m.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(_) => Vec::new(),
        };
        if !newest.is_empty() {
            let mut family = encoder.encode_descriptor(
                "ct_log_newest_entry_age",
                "Time since the newest entry fetched from each CT log was logged",
                Some(&Unit::Seconds),
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (log, at) in newest {
                let age = ConstGauge::new((now - at).max(0) as f64 / 1000.0);
                age.encode(family.encode_family(&LogLabel { log })?)?;
            }
        }
        let last = self.0.labelled.feed_last_frame_ms.load(Relaxed);
        if last > 0 {
            let age = ConstGauge::new((now - last).max(0) as f64 / 1000.0);
            age.encode(encoder.encode_descriptor(
                "feed_last_frame_age",
                "Time since the feed last delivered a frame (heartbeats included)",
                Some(&Unit::Seconds),
                age.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// The Prometheus text exposition (format 0.0.4) of a registry.
pub fn encode_text(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would be a bug in a metric name.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, registry) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out
}

/// The registry certhound's metrics are registered in: every name starts `certhound_`.
pub fn registry() -> Registry {
    Registry::with_prefix("certhound")
}
