//! The delivery actor: one per channel. Works through the channel's queue of stored findings in
//! the order they were found, delivers each with its notifier and marks it sent (or failed for
//! good, with the reason) in the store.
//!
//! Exactly once: a finding is marked only after its channel has it (for a file: written and
//! fsynced). A crash between the two leaves it pending; on start the notifier is asked which
//! findings it already has (a file reads its own tail) and those are marked without delivering
//! again. Channels that cannot tell (HTTP APIs) get the finding again, with the same id as
//! idempotency key: at least once, and the window is one delivery round.
//!
//! Transient failures are retried with backoff for as long as it takes; the queue waits behind
//! the finding, in order. The loop sleeps when the queue is empty and is woken by the recorder
//! after each commit.

use crate::backoff::Backoff;
use crate::finding::Finding;
use crate::metrics::{ChannelLabel, Metrics};
use crate::notify::{DeliveryError, Notifier};
use crate::store::{unix_now, Delivery, Store};
use crate::watch::stage::{rest, Stage, Work};
use certhound_config::DeliveryConfig;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// A channel's delivery actor: the [`Stage`] shell around its loop.
pub type DeliveryActor<N> = Stage<DeliveryLoop<N>>;

impl<N: Notifier> DeliveryActor<N> {
    pub fn new(
        notifier: N,
        store: Store,
        cfg: DeliveryConfig,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Stage::with(wake, |wake, idle| DeliveryLoop {
            notifier,
            store,
            cfg,
            wake,
            metrics,
            idle,
        })
    }
}

impl<N: Notifier> Work for DeliveryLoop<N> {
    fn run(self) -> impl Future<Output = ()> + 'static {
        self.work()
    }
}

pub struct DeliveryLoop<N: Notifier> {
    notifier: N,
    store: Store,
    cfg: DeliveryConfig,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    idle: watch::Sender<bool>,
}

/// Outcomes are recorded at least this often while a round goes on, so that a crash or the
/// shutdown deadline repeats at most this much of a slow channel's work.
const MARK_EVERY: Duration = Duration::from_millis(200);

impl<N: Notifier> DeliveryLoop<N> {
    /// Ends only on a store error (the supervisor then starts a new actor).
    async fn work(mut self) {
        let channel = N::CHANNEL;
        let mut already = self.notifier.already_delivered();
        loop {
            let batch = match self.store.pending(channel, self.cfg.batch) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(channel, error = %e, "cannot read the delivery queue");
                    return;
                }
            };
            if batch.is_empty() {
                rest(&self.idle, &self.wake, self.store.idle_poll()).await;
                continue;
            }
            self.idle.send_replace(false);
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut last_mark = Instant::now();
            for (n, finding) in batch {
                if already.remove(&finding.id) {
                    tracing::info!(channel, id = %finding.id, "already delivered before a restart; marking sent");
                    outcomes.push((n, Delivery::Sent { at: unix_now() }));
                    continue;
                }
                let outcome = self.deliver(channel, &finding, &mut outcomes).await;
                if outcome == Delivery::Pending {
                    // Recording the round failed while it retried (logged by `mark`).
                    return;
                }
                outcomes.push((n, outcome));
                if last_mark.elapsed() >= MARK_EVERY {
                    if !self.mark(channel, &mut outcomes) {
                        return;
                    }
                    last_mark = Instant::now();
                }
            }
            if !self.mark(channel, &mut outcomes) {
                return;
            }
        }
    }

    /// Makes the deliveries durable at the channel, then records them. False when the store
    /// cannot be written (the actor then stops and is restarted).
    fn mark(&mut self, channel: &'static str, outcomes: &mut Vec<(u64, Delivery)>) -> bool {
        if outcomes.is_empty() {
            return true;
        }
        if let Err(e) = self.notifier.flush() {
            // Nothing is marked: the findings stay pending and are checked again next round
            // (a file recognises its own lines).
            tracing::warn!(channel, error = %e, "flush failed; these deliveries will be checked again");
            outcomes.clear();
            return true;
        }
        if let Err(e) = self.store.mark(channel, outcomes) {
            tracing::error!(channel, error = %e, "cannot record deliveries");
            return false;
        }
        let sent = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Delivery::Sent { .. }))
            .count() as u64;
        Metrics::add(&self.metrics.delivered, sent);
        Metrics::add(&self.metrics.delivery_failed, outcomes.len() as u64 - sent);
        let labelled = &self.metrics.labelled;
        labelled.delivery(channel, "sent", sent);
        labelled.delivery(channel, "failed", outcomes.len() as u64 - sent);
        outcomes.clear();
        true
    }

    /// Delivers one finding, in a span of its trace (retries are events of the span).
    async fn deliver(
        &mut self,
        channel: &'static str,
        finding: &Finding,
        done: &mut Vec<(u64, Delivery)>,
    ) -> Delivery {
        let span = tracing::info_span!(
            target: "certhound::trace",
            parent: None,
            "deliver",
            channel,
            domain = %finding.domain,
            attempts = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        crate::trace::attach(&span, finding);
        let (outcome, attempts) = self
            .deliver_untraced(channel, finding, done)
            .instrument(span.clone())
            .await;
        span.record("attempts", attempts);
        span.record(
            "outcome",
            match &outcome {
                Delivery::Sent { .. } => "sent",
                Delivery::Pending => "store write failed",
                _ => "failed",
            },
        );
        outcome
    }

    /// Delivers one finding, retrying transient failures until it is delivered or fails for
    /// good; returns the outcome and the attempts made. Before waiting to retry, what the round
    /// has done so far is recorded.
    async fn deliver_untraced(
        &mut self,
        channel: &'static str,
        finding: &Finding,
        done: &mut Vec<(u64, Delivery)>,
    ) -> (Delivery, u64) {
        let mut attempts = 0u64;
        let mut backoff = Backoff::new(self.cfg.retry.clone());
        loop {
            attempts += 1;
            let wait = match self.notifier.deliver(finding).await {
                Ok(()) => {
                    if let Some(detected) = detected_at(finding) {
                        let latency = SystemTime::now()
                            .duration_since(detected)
                            .unwrap_or_default();
                        self.metrics
                            .labelled
                            .delivery_latency
                            .get_or_create(&ChannelLabel {
                                channel: channel.to_string(),
                            })
                            .observe(latency.as_secs_f64());
                    }
                    return (Delivery::Sent { at: unix_now() }, attempts);
                }
                Err(DeliveryError::Permanent(reason)) => {
                    tracing::error!(channel, id = %finding.id, domain = %finding.domain, error = %reason, "delivery failed for good");
                    tracing::info!(target: "certhound::trace", attempt = attempts, error = %reason, "failed for good");
                    return (
                        Delivery::Failed {
                            at: unix_now(),
                            reason,
                        },
                        attempts,
                    );
                }
                Err(DeliveryError::RetryAfter(d, reason)) => {
                    let wait = d.max(backoff.next_delay());
                    tracing::info!(target: "certhound::trace", attempt = attempts, error = %reason, retry_in_ms = wait.as_millis() as u64, "throttled, retrying");
                    tracing::warn!(channel, id = %finding.id, error = %reason, retry_in_ms = wait.as_millis() as u64, "delivery throttled");
                    wait
                }
                Err(DeliveryError::Transient(reason)) => {
                    let wait = backoff.next_delay();
                    tracing::info!(target: "certhound::trace", attempt = attempts, error = %reason, retry_in_ms = wait.as_millis() as u64, "failed, retrying");
                    tracing::warn!(channel, id = %finding.id, error = %reason, retry_in_ms = wait.as_millis() as u64, "delivery failed, retrying");
                    wait
                }
            };
            Metrics::add(&self.metrics.delivery_retries, 1);
            self.metrics.labelled.delivery(channel, "retried", 1);
            if !self.mark(channel, done) {
                // The store cannot be written: stop retrying; the finding stays pending and
                // the caller stops the actor (restarted by the supervisor).
                return (Delivery::Pending, attempts);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// When the finding was detected, from its RFC 3339 `detected_at`.
fn detected_at(finding: &Finding) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(&finding.detected_at).ok()
}

#[cfg(test)]
mod tests {
    //! The store failing under a delivery actor: it stops (the supervisor starts another)
    //! instead of delivering on or retrying against a store it cannot write, and nothing is lost.

    use super::*;
    use crate::finding::{test_finding as finding, Finding};
    use actix::prelude::*;
    use redb::backends::FileBackend;
    use redb::StorageBackend;
    use std::io::Error as BackendIoError;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    /// A file backend whose writes fail while `fail` is set (a full or lost disk).
    #[derive(Debug)]
    struct FailingBackend {
        file: FileBackend,
        fail: Arc<AtomicBool>,
    }

    impl FailingBackend {
        fn check(&self) -> Result<(), BackendIoError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("injected write failure"));
            }
            Ok(())
        }
    }

    impl StorageBackend for FailingBackend {
        fn len(&self) -> Result<u64, BackendIoError> {
            self.file.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
            self.file.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
            self.check()?;
            self.file.set_len(len)
        }
        fn sync_data(&self) -> Result<(), BackendIoError> {
            self.check()?;
            self.file.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
            self.check()?;
            self.file.write(offset, data)
        }
    }

    /// Records every finding delivered; sets `fail` when it delivers the finding `fail_at`.
    struct Recording {
        delivered: Arc<Mutex<Vec<String>>>,
        fail: Arc<AtomicBool>,
        fail_at: Option<String>,
    }

    impl Notifier for Recording {
        const CHANNEL: &'static str = "test";

        async fn deliver(&mut self, finding: &Finding) -> Result<(), DeliveryError> {
            // As a real channel does: lets the runtime run timers (a loop that never stopped
            // would otherwise starve the test's timeout and hang instead of failing).
            tokio::task::yield_now().await;
            self.delivered.lock().unwrap().push(finding.domain.clone());
            if self.fail_at.as_deref() == Some(finding.domain.as_str()) {
                self.fail.store(true, Ordering::SeqCst);
            }
            Ok(())
        }
    }

    async fn until_stopped<A: Actor>(addr: &Addr<A>) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while addr.connected() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the delivery actor stopped");
    }

    #[actix_rt::test]
    async fn a_store_that_cannot_record_stops_the_actor_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let fail = Arc::new(AtomicBool::new(false));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        let store = Store::open_with_backend(FailingBackend {
            file: FileBackend::new(file).unwrap(),
            fail: fail.clone(),
        })
        .unwrap();
        let domains: Vec<String> = (1..=6).map(|i| format!("d{i}.example")).collect();
        let mut findings: Vec<Finding> = domains.iter().map(|d| finding(d)).collect();
        store
            .record_at(&mut findings, None, &["test"], None, unix_now())
            .unwrap();

        // Two findings a round: the first round is recorded, the store fails during the second.
        let cfg = DeliveryConfig {
            batch: 2,
            ..DeliveryConfig::default()
        };
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let notifier = Recording {
            delivered: delivered.clone(),
            fail: fail.clone(),
            fail_at: Some(domains[2].clone()),
        };
        let metrics = Arc::new(Metrics::default());
        let actor = DeliveryActor::new(
            notifier,
            store.clone(),
            cfg.clone(),
            Arc::new(Notify::new()),
            metrics.clone(),
        )
        .start();
        until_stopped(&actor).await;
        // The second round was delivered but could not be recorded; the actor went no further.
        assert_eq!(*delivered.lock().unwrap(), domains[..4]);
        drop(store);

        // The next incarnation (after the supervisor's restart, or the process's) opens the
        // store again: the unrecorded round is delivered again, then the rest, once each.
        fail.store(false, Ordering::SeqCst);
        let store = Store::redb(&certhound_config::StoreConfig {
            path: path.display().to_string(),
            ..certhound_config::StoreConfig::default()
        })
        .unwrap();
        let again = Arc::new(Mutex::new(Vec::new()));
        let notifier = Recording {
            delivered: again.clone(),
            fail: fail.clone(),
            fail_at: None,
        };
        let _actor = DeliveryActor::new(
            notifier,
            store.clone(),
            cfg,
            Arc::new(Notify::new()),
            metrics,
        )
        .start();
        tokio::time::timeout(Duration::from_secs(30), async {
            while !store.pending("test", 10).unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("every finding recorded as delivered");
        assert_eq!(*again.lock().unwrap(), domains[2..]);
        let records = store.list(None).unwrap();
        assert_eq!(records.len(), 6);
        for r in &records {
            assert!(
                matches!(r.channels[0].state, Delivery::Sent { .. }),
                "{} {:?}",
                r.finding.domain,
                r.channels
            );
        }
    }
}
