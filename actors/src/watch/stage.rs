//! The shell of every stage that works a queue of the store: enrichment, urlscan and delivery
//! (one per channel). Each is an actor whose whole work is one loop over its queue; the shell
//! starts the loop, stops the actor when the loop ends (only on a store error: the supervisor
//! then starts a new incarnation, which reads the queue again), and answers [`Drain`].
//!
//! Shutdown: a [`Drain`] wakes the loop and is answered once the loop says it is idle (its
//! queue empty, nothing under way), so the pipeline can drain stage after stage in order.
//! Backpressure is the queue itself: it is in the store, so a slow stage leaves findings
//! stored, never in memory.

use actix::prelude::*;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Answered once the stage's queue is empty (everything stored so far has moved on).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Where a stage hands a finding on: the next stage's queue if there is one, else every
/// channel's; and whom that wakes (the next stage, or the channels' delivery actors).
#[derive(Clone, Debug, Default)]
pub struct Route {
    pub next_stage: Option<&'static str>,
    pub channels: Vec<&'static str>,
    pub wake: Vec<Arc<Notify>>,
}

impl Route {
    /// Straight to the channels.
    pub fn to_channels(channels: Vec<&'static str>, wake: Vec<Arc<Notify>>) -> Route {
        Route {
            next_stage: None,
            channels,
            wake,
        }
    }

    /// The same channels, reached through `stage` first (woken by `wake`).
    pub fn via(&self, stage: &'static str, wake: Arc<Notify>) -> Route {
        Route {
            next_stage: Some(stage),
            channels: self.channels.clone(),
            wake: vec![wake],
        }
    }

    /// Tells whoever is next that a finding has moved on.
    pub fn wake(&self) {
        for w in &self.wake {
            w.notify_one();
        }
    }
}

/// A stage's loop: runs until the actor should be restarted. It sends `true` on its idle
/// channel whenever its queue is empty and nothing is under way, and waits on its wake.
pub trait Work: Unpin + 'static {
    fn run(self) -> impl Future<Output = ()> + 'static;
}

/// What a loop does when its queue is empty and nothing is under way: says so on `idle` and
/// waits for `wake` (notified by the stage before it after each commit, and by [`Drain`]) or
/// `poll` ([`crate::store::Store::idle_poll`]): on redb a safety net only; on a shared
/// DynamoDB store also how soon this task finds work whose lease another task let run out.
pub async fn rest(idle: &watch::Sender<bool>, wake: &Notify, poll: Duration) {
    idle.send_replace(true);
    let _ = tokio::time::timeout(poll, wake.notified()).await;
}

/// The actor around a [`Work`] loop.
pub struct Stage<W: Work> {
    work: Option<W>,
    wake: Arc<Notify>,
    idle: watch::Sender<bool>,
}

impl<W: Work> Stage<W> {
    /// `make` builds the loop with the two ends it shares with the shell: the wake (also
    /// notified by the stage before it) and the idle sender.
    pub fn with(
        wake: Arc<Notify>,
        make: impl FnOnce(Arc<Notify>, watch::Sender<bool>) -> W,
    ) -> Self {
        let idle = watch::channel(false).0;
        Stage {
            work: Some(make(wake.clone(), idle.clone())),
            wake,
            idle,
        }
    }
}

impl<W: Work> Actor for Stage<W> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(work) = self.work.take() {
            ctx.spawn(
                work.run()
                    .into_actor(self)
                    .map(|_, _, ctx: &mut Context<Self>| ctx.stop()),
            );
        }
    }
}

impl<W: Work> Handler<Drain> for Stage<W> {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        let mut idle = self.idle.subscribe();
        self.wake.notify_one();
        Box::pin(async move {
            let _ = idle.wait_for(|i| *i).await;
        })
    }
}
