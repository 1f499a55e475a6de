//! The current address of a supervised actor.
//!
//! A panicking actor's mailbox dies with it, so a restarted actor has a new address. Actors that
//! send to it hold a [`Slot`] instead of an `Addr`: the supervisor publishes each new address in
//! it, and senders read the current one per send (an uncontended read lock) or wait for the next.

use actix::{Actor, Addr};
use tokio::sync::watch;

/// Publishing side, owned by the supervisor.
pub struct SlotWriter<A: Actor>(watch::Sender<Option<Addr<A>>>);

/// Reading side, cloned into every sender.
pub struct Slot<A: Actor>(watch::Receiver<Option<Addr<A>>>);

impl<A: Actor> Clone for Slot<A> {
    fn clone(&self) -> Self {
        Slot(self.0.clone())
    }
}

pub fn slot<A: Actor>() -> (SlotWriter<A>, Slot<A>) {
    let (tx, rx) = watch::channel(None);
    (SlotWriter(tx), Slot(rx))
}

impl<A: Actor> SlotWriter<A> {
    pub fn publish(&self, addr: Addr<A>) {
        self.0.send_replace(Some(addr));
    }
    pub fn reader(&self) -> Slot<A> {
        Slot(self.0.subscribe())
    }
}

impl<A: Actor> Slot<A> {
    /// The current address, if the actor has started.
    pub fn current(&self) -> Option<Addr<A>> {
        self.0.borrow().clone()
    }

    /// The current address if its actor is alive, else waits for the supervisor to publish a
    /// live one (after a restart). Returns `None` when the supervisor is gone.
    pub async fn next_live(&mut self) -> Option<Addr<A>> {
        loop {
            if let Some(a) = self.0.borrow_and_update().as_ref() {
                if a.connected() {
                    return Some(a.clone());
                }
            }
            if self.0.changed().await.is_err() {
                return None;
            }
        }
    }
}
