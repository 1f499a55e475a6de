//! The delivery end of the watch pipeline: one supervised [`DeliveryActor`] per configured
//! channel (`deliver-jsonl`, `deliver-telegram`, ...), each woken when the stage before it
//! (the recorder, enrichment or urlscan) moves a finding on, and each drained at shutdown.
//!
//! Also the one way shutdown reaches any supervised stage: [`drain_fn`] asks the live
//! incarnation (waiting for a restart in progress) to finish its queue.

use crate::supervision::Supervisor;
use actix::prelude::*;
use certhound_actors::metrics::Metrics;
use certhound_actors::notify::Notifier;
use certhound_actors::slot::Slot;
use certhound_actors::store::Store;
use certhound_actors::watch::delivery::DeliveryActor;
use certhound_actors::watch::stage::Drain;
use certhound_config::DeliveryConfig;
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;
use tokio::sync::Notify;

/// How shutdown reaches a supervised actor, whatever its type.
pub type DrainFn = Box<dyn FnMut() -> LocalBoxFuture<'static, ()>>;

/// Sends `message()` to the live incarnation in `slot` and waits for the answer.
pub fn drain_fn<A, M>(slot: Slot<A>, message: fn() -> M) -> DrainFn
where
    A: Actor<Context = Context<A>> + Handler<M>,
    M: Message<Result = ()> + Send + 'static,
{
    Box::new(move || {
        let mut slot = slot.clone();
        Box::pin(async move {
            if let Some(addr) = slot.next_live().await {
                let _ = addr.send(message()).await;
            }
        })
    })
}

/// What every delivery actor is made with, besides its notifier.
pub struct ChannelDeps<'a> {
    pub supervisor: &'a Supervisor,
    pub arbiter: &'a ArbiterHandle,
    pub store: Store,
    pub delivery: DeliveryConfig,
    pub metrics: Arc<Metrics>,
}

/// The configured channels, in the order they were added.
#[derive(Default)]
pub struct Channels {
    /// Their names, as the store records deliveries under them.
    pub names: Vec<&'static str>,
    /// What wakes each one's delivery actor.
    pub wakes: Vec<Arc<Notify>>,
    drains: Vec<DrainFn>,
}

impl Channels {
    /// Supervises a delivery actor for notifier `N`; `make` builds the notifier at each
    /// (re)start of the actor, on its thread (an `Err` counts as a failure to start).
    pub fn add<N: Notifier>(
        &mut self,
        deps: &ChannelDeps<'_>,
        make: impl Fn() -> Result<N, String> + Send + 'static,
    ) {
        let wake = Arc::new(Notify::new());
        let (store, delivery, metrics, w) = (
            deps.store.clone(),
            deps.delivery.clone(),
            deps.metrics.clone(),
            wake.clone(),
        );
        let sup = deps.supervisor.supervise(
            format!("deliver-{}", N::CHANNEL),
            deps.arbiter,
            16,
            move || {
                Ok(DeliveryActor::new(
                    make()?,
                    store.clone(),
                    delivery.clone(),
                    w.clone(),
                    metrics.clone(),
                ))
            },
        );
        self.names.push(N::CHANNEL);
        self.wakes.push(wake);
        self.drains.push(drain_fn(sup.slot, || Drain));
    }

    /// Waits until every channel's queue is empty, one channel after the other.
    pub async fn drain(&mut self) {
        for drain in self.drains.iter_mut() {
            drain().await;
        }
    }
}
