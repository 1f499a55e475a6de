//! Logging setup: `tracing` to stderr, human or JSON, with a filter from `RUST_LOG` or the config.
//! Panics are logged as events too (one JSON line, not a raw backtrace), with their location.

use certhound_actors::metrics::Snapshot;
use certhound_actors::trace::TARGET as TRACE_TARGET;
use certhound_config::{LogConfig, LogFormat, TelemetryConfig};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The trace exporter, when `[telemetry]` is on: shut down by [`shutdown`] before the process
/// exits, so that the last spans are sent.
static TELEMETRY: std::sync::Mutex<Option<crate::telemetry::Telemetry>> =
    std::sync::Mutex::new(None);

/// Logs to stderr and, with `[telemetry] enabled`, traces over OTLP. The two see different
/// things: the logs everything but the trace spans (target `certhound::trace`), the exporter
/// those spans and their events only.
pub fn init(cfg: &LogConfig, telemetry: &TelemetryConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&cfg.filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let filter = without_trace_spans(filter);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let _ = LOG_FILTER.set(handle);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match cfg.format {
        LogFormat::Json => fmt.json().flatten_event(false).boxed(),
        LogFormat::Human => fmt
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
    };
    let (otel, started) = if telemetry.enabled {
        match crate::telemetry::init(telemetry) {
            Ok(t) => {
                let layer = tracing_opentelemetry::layer()
                    .with_tracer(t.tracer.clone())
                    .with_filter(Targets::new().with_target(TRACE_TARGET, Level::TRACE));
                let description = t.description.clone();
                if let Ok(mut g) = TELEMETRY.lock() {
                    *g = Some(t);
                }
                (Some(layer), Ok(Some(description)))
            }
            Err(e) => (None, Err(e)),
        }
    } else {
        (None, Ok(None))
    };
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init();
    match started {
        Ok(Some(d)) => tracing::info!(export = %d, "traces on"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "traces off: cannot set up the exporter"),
    }
    std::panic::set_hook(Box::new(|info| {
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "non-text panic".to_string()
        };
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        tracing::error!(panic = %message, location = %location, thread = %thread, "panic");
    }));
}

/// Resident memory now and at its peak, in KiB, from /proc (0 where there is none).
pub fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Logs every counter as one `metrics` event, with the process's memory.
pub fn log_metrics(s: &Snapshot, last: bool) {
    let (rss_kb, peak_rss_kb) = rss_kb();
    tracing::info!(
        last,
        rss_kb,
        peak_rss_kb,
        frames = s.frames,
        messages = s.messages,
        certificates = s.certificates,
        names = s.names,
        malformed = s.malformed,
        oversized = s.oversized,
        non_text = s.non_text,
        heartbeats = s.heartbeats,
        unknown_type = s.unknown_type,
        shed_messages = s.shed_messages,
        findings = s.findings,
        duplicates = s.duplicates,
        allowlisted = s.allowlisted,
        stored = s.stored,
        enriched = s.enriched,
        not_recent = s.not_recent,
        scans_submitted = s.scans_submitted,
        scans_reused = s.scans_reused,
        scan_skipped = s.scan_skipped,
        scan_waiting = s.scan_waiting,
        scan_quota_remaining = s.scan_quota_remaining,
        delivered = s.delivered,
        delivery_failed = s.delivery_failed,
        delivery_retries = s.delivery_retries,
        reconnects = s.reconnects,
        connect_failures = s.connect_failures,
        idle_timeouts = s.idle_timeouts,
        restarts = s.restarts,
        feed_gaps = s.feed_gaps,
        rules_reloads = s.rules_reloads,
        rules_reload_errors = s.rules_reload_errors,
        "metrics"
    );
    // The server role's counters, as an event of their own (tracing takes 32 fields at most).
    if s.ct_logs > 0 || s.server_connections > 0 || s.server_published > 0 {
        tracing::info!(
            last,
            ct_logs = s.ct_logs,
            ct_entries = s.ct_entries,
            ct_decode_errors = s.ct_decode_errors,
            ct_requests = s.ct_requests,
            ct_request_errors = s.ct_request_errors,
            ct_bad_checkpoints = s.ct_bad_checkpoints,
            ct_decode_waiting = s.ct_decode_waiting,
            server_published = s.server_published,
            server_clients = s.server_clients,
            server_connections = s.server_connections,
            server_refused = s.server_refused,
            server_slow_clients = s.server_slow_clients,
            server_sent = s.server_sent,
            server_replayed = s.server_replayed,
            server_gaps = s.server_gaps,
            "server_metrics"
        );
    }
}

/// The live log filter: `log.filter` can change without a restart (unless `RUST_LOG` set it).
static LOG_FILTER: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>,
> = std::sync::OnceLock::new();

/// The trace spans (target `certhound::trace`) are exported, never logged.
fn without_trace_spans(filter: EnvFilter) -> EnvFilter {
    match "certhound::trace=off".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    }
}

/// Replaces the log filter by `filter` (a `log.filter` value). `Ok(false)`: left alone because
/// `RUST_LOG` chose the filter at the start; `Err`: not a filter, the old one stays.
pub fn set_filter(filter: &str) -> Result<bool, String> {
    if std::env::var_os("RUST_LOG").is_some() {
        return Ok(false);
    }
    let new = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    let Some(handle) = LOG_FILTER.get() else {
        return Ok(false);
    };
    handle
        .reload(without_trace_spans(new))
        .map(|()| true)
        .map_err(|e| e.to_string())
}

/// Sends the spans still queued and stops the exporter (a no-op without one).
pub fn shutdown() {
    let t = TELEMETRY.lock().ok().and_then(|mut g| g.take());
    if let Some(t) = t {
        t.shutdown();
    }
}
