//! The notifier interface and the actor that runs any notifier.
//!
//! A channel (JSONL now; Telegram, SNS and webhooks later) implements [`Notifier`]: deliver one
//! finding, say whether a failure is worth retrying. [`NotifierActor`] runs one notifier under
//! the supervisor with its own bounded mailbox and retries; the matcher reaches it through a
//! [`FindingSink`], which survives the actor's restarts.

pub mod jsonl;

use crate::finding::Finding;
use crate::metrics::Metrics;
use crate::slot::Slot;
use actix::dev::SendError;
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later (network, 5xx, throttling).
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help (bad request, unknown chat, bad credentials).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// One notification channel.
pub trait Notifier: Unpin + 'static {
    /// Channel name for logs and metrics: `jsonl`, `telegram`, ...
    fn channel(&self) -> &'static str;
    /// Delivers one finding.
    fn deliver(&mut self, finding: &Finding) -> impl Future<Output = Result<(), DeliveryError>>;
    /// Makes everything delivered so far durable (flush buffers).
    fn flush(&mut self) -> Result<(), DeliveryError> {
        Ok(())
    }
}

/// Delivers a finding to the notifier.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<Finding>);

/// Answered once every finding sent before it is delivered (or has failed for good), and the
/// notifier flushed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

/// How often a transient failure is retried before the finding counts as failed.
const MAX_ATTEMPTS: u32 = 5;

pub struct NotifierActor<N: Notifier> {
    notifier: Option<N>,
    metrics: Arc<Metrics>,
}

impl<N: Notifier> NotifierActor<N> {
    pub fn new(notifier: N, metrics: Arc<Metrics>) -> Self {
        NotifierActor {
            notifier: Some(notifier),
            metrics,
        }
    }
}

impl<N: Notifier> Actor for NotifierActor<N> {
    type Context = Context<Self>;
}

impl<N: Notifier> Handler<Deliver> for NotifierActor<N> {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        // The notifier moves into the future and back, so deliveries run one at a time, in order.
        let mut notifier = self
            .notifier
            .take()
            .expect("notifier is back after each delivery");
        let metrics = self.metrics.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let channel = notifier.channel();
                let mut delay = Duration::from_millis(200);
                for attempt in 1..=MAX_ATTEMPTS {
                    match notifier.deliver(&msg.0).await {
                        Ok(()) => break,
                        Err(DeliveryError::Transient(e)) if attempt < MAX_ATTEMPTS => {
                            tracing::warn!(channel, attempt, error = %e, domain = %msg.0.domain, "delivery failed, retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(30));
                        }
                        Err(e) => {
                            Metrics::add(&metrics.notify_failed, 1);
                            tracing::error!(channel, error = %e, domain = %msg.0.domain, "delivery failed for good");
                            break;
                        }
                    }
                }
                notifier
            }
            .into_actor(self)
            .map(|notifier, act, _| act.notifier = Some(notifier)),
        ))
    }
}

impl<N: Notifier> Handler<Flush> for NotifierActor<N> {
    type Result = ();

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) {
        if let Some(n) = self.notifier.as_mut() {
            if let Err(e) = n.flush() {
                tracing::error!(channel = n.channel(), error = %e, "flush failed");
            }
        }
    }
}

/// How the matcher reaches a notifier, whatever its type, across its restarts.
pub trait FindingSink: Send {
    fn channel(&self) -> &'static str;
    /// Hands the finding over if there is room now; gives it back if not.
    fn try_deliver(&self, f: Arc<Finding>) -> Result<(), Arc<Finding>>;
    /// Hands the finding over, waiting for room or for a restarted notifier.
    fn deliver(&mut self, f: Arc<Finding>) -> LocalBoxFuture<'_, ()>;
    /// Waits until everything handed over so far is delivered and flushed.
    fn flush(&mut self) -> LocalBoxFuture<'_, ()>;
    fn boxed_clone(&self) -> Box<dyn FindingSink>;
}

/// A [`FindingSink`] for a supervised [`NotifierActor`].
pub struct NotifierSink<N: Notifier> {
    channel: &'static str,
    slot: Slot<NotifierActor<N>>,
}

impl<N: Notifier> NotifierSink<N> {
    pub fn new(channel: &'static str, slot: Slot<NotifierActor<N>>) -> Self {
        NotifierSink { channel, slot }
    }
}

impl<N: Notifier> FindingSink for NotifierSink<N> {
    fn channel(&self) -> &'static str {
        self.channel
    }

    fn try_deliver(&self, f: Arc<Finding>) -> Result<(), Arc<Finding>> {
        match self.slot.current() {
            Some(addr) => addr.try_send(Deliver(f)).map_err(|e| match e {
                SendError::Full(d) | SendError::Closed(d) => d.0,
            }),
            None => Err(f),
        }
    }

    fn deliver(&mut self, f: Arc<Finding>) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            let mut msg = Deliver(f);
            loop {
                let Some(addr) = self.slot.next_live().await else {
                    tracing::error!(
                        channel = self.channel,
                        "notifier is gone; finding not delivered"
                    );
                    return;
                };
                // `send` waits for room in the mailbox; it fails only if the actor died, in which
                // case the finding is handed to its successor.
                let keep = msg.0.clone();
                match addr.send(msg).await {
                    Ok(()) => return,
                    Err(_) => msg = Deliver(keep),
                }
            }
        })
    }

    fn flush(&mut self) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(addr) = self.slot.next_live().await {
                let _ = addr.send(Flush).await;
            }
        })
    }

    fn boxed_clone(&self) -> Box<dyn FindingSink> {
        Box::new(NotifierSink {
            channel: self.channel,
            slot: self.slot.clone(),
        })
    }
}
