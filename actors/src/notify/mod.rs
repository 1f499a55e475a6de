//! The notifier interface: what a channel (JSONL, webhook, Telegram, SNS) implements.
//!
//! A notifier only delivers one finding and says whether a failure is worth retrying. Ordering,
//! retries, durability and exactly-once bookkeeping are the delivery loop's
//! ([`crate::watch::delivery`]), the same for every channel.

pub mod format;
pub mod jsonl;
pub mod sns;
pub mod telegram;
pub mod webhook;

use crate::finding::Finding;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later (network, timeouts, 5xx).
    #[error("{0}")]
    Transient(String),
    /// The receiver asked to wait this long (429 with `Retry-After`).
    #[error("{1} (retry after {0:?})")]
    RetryAfter(Duration, String),
    /// Retrying will not help (bad request, unknown chat, bad credentials).
    #[error("{0}")]
    Permanent(String),
}

/// One notification channel.
pub trait Notifier: Unpin + 'static {
    /// Channel name for logs, metrics, the store and the supervised actor (`deliver-jsonl`):
    /// `jsonl`, `webhook`, ... Known before a notifier is made: the pipeline lists its channels
    /// before their actors start.
    const CHANNEL: &'static str;

    /// Delivers one finding.
    fn deliver(&mut self, finding: &Finding) -> impl Future<Output = Result<(), DeliveryError>>;

    /// Makes everything delivered so far durable at the receiving end (e.g. fsync a file);
    /// called before deliveries are marked sent.
    fn flush(&mut self) -> Result<(), DeliveryError> {
        Ok(())
    }

    /// Ids of findings this channel can see it already has: after a crash between delivering and
    /// marking sent, these are marked sent without delivering again. Channels that cannot look
    /// (HTTP APIs) return nothing and rely on the receiver's idempotency.
    fn already_delivered(&mut self) -> HashSet<String> {
        HashSet::new()
    }
}
