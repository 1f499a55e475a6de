//! The supervision tree's engine: runs each actor, restarts it when it stops or panics, and
//! gives up when restarts come too often.
//!
//! actix's own `Supervisor` restarts an actor that stops itself but not one that panics: a panic
//! unwinds out of the actor's task and its mailbox is gone. So each actor's context is run here
//! as a task of its own whose `JoinHandle` reports a panic; the new incarnation gets a new
//! mailbox, published in the actor's [`Slot`] for everybody who sends to it.
//!
//! Restarts wait a backoff that doubles per consecutive failure. All actors share one restart
//! budget: more than `restart_budget` restarts within `restart_window` is a persistent fault,
//! and certhound exits with [`Exit::BudgetExhausted`] so that ECS replaces the task.

use crate::exit::Exit;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use certhound_actors::metrics::Metrics;
use certhound_actors::slot::{slot, Slot};
use certhound_config::SupervisorConfig;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Restart times within the window.
struct Budget {
    times: VecDeque<Instant>,
    budget: u32,
    window: Duration,
}

impl Budget {
    /// Records one more restart; false when it would be more than the budget allows.
    fn allow(&mut self, now: Instant) -> bool {
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.times.pop_front();
        }
        if self.times.len() as u32 >= self.budget {
            return false;
        }
        self.times.push_back(now);
        true
    }
}

#[derive(Clone)]
pub struct Supervisor {
    cfg: SupervisorConfig,
    budget: Arc<Mutex<Budget>>,
    fatal: mpsc::Sender<Exit>,
    stopping: CancellationToken,
    metrics: Arc<Metrics>,
}

/// What [`Supervisor::supervise`] gives back: the actor's slot and a signal that fires when the
/// supervision loop ends (after shutdown or when giving up).
pub struct Supervised<A: Actor> {
    pub slot: Slot<A>,
    pub done: oneshot::Receiver<()>,
}

impl Supervisor {
    /// Returns the supervisor and the receiver of fatal exit codes.
    pub fn new(
        cfg: SupervisorConfig,
        metrics: Arc<Metrics>,
        stopping: CancellationToken,
    ) -> (Supervisor, mpsc::Receiver<Exit>) {
        // One exit code is enough; later ones are dropped.
        let (fatal, fatal_rx) = mpsc::channel(1);
        let budget = Budget {
            times: VecDeque::new(),
            budget: cfg.restart_budget,
            window: cfg.restart_window,
        };
        (
            Supervisor {
                cfg,
                budget: Arc::new(Mutex::new(budget)),
                fatal,
                stopping,
                metrics,
            },
            fatal_rx,
        )
    }

    /// Runs the actor made by `factory` on `arbiter` with a mailbox of `mailbox` messages and
    /// keeps it running until shutdown. `factory` runs on the arbiter's thread, once per
    /// incarnation; an `Err` counts as a failure like a panic does.
    pub fn supervise<A, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        arbiter: &ArbiterHandle,
        mailbox: usize,
        mut factory: F,
    ) -> Supervised<A>
    where
        A: Actor<Context = Context<A>>,
        F: FnMut() -> Result<A, String> + Send + 'static,
    {
        let name = name.into();
        let (writer, reader) = slot::<A>();
        let (done_tx, done) = oneshot::channel();
        let this = self.clone();
        // The loop holds the actor's context, which is not `Send`: start it on the arbiter's
        // thread and run it there as a local task.
        arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
            let mut consecutive: u32 = 0;
            // Counted in `actors_down` while waiting to restart (`/readyz` fails meanwhile).
            let mut down = false;
            loop {
                let started = Instant::now();
                let reason = match factory() {
                    Ok(actor) => {
                        let mut ctx = Context::new();
                        ctx.set_mailbox_capacity(mailbox);
                        writer.publish(ctx.address());
                        if down {
                            this.metrics.actors_down.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                            down = false;
                        }
                        match actix_rt::spawn(ctx.into_future(actor)).await {
                            Ok(()) => "stopped".to_string(),
                            Err(e) if e.is_panic() => format!("panic: {}", panic_text(e.into_panic())),
                            Err(e) => format!("task ended: {e}"),
                        }
                    }
                    Err(e) => format!("could not start: {e}"),
                };
                if this.stopping.is_cancelled() {
                    break;
                }
                if !down {
                    Metrics::add(&this.metrics.actors_down, 1);
                    down = true;
                }
                let allowed = this
                    .budget
                    .lock()
                    .map(|mut b| b.allow(Instant::now()))
                    .unwrap_or(false);
                if !allowed {
                    tracing::error!(
                        actor = %name,
                        reason = %reason,
                        budget = this.cfg.restart_budget,
                        window_s = this.cfg.restart_window.as_secs_f64(),
                        "restart budget exhausted: exiting so that the task is replaced"
                    );
                    let _ = this.fatal.try_send(Exit::BudgetExhausted);
                    break;
                }
                // Counted only now: the failure that exhausts the budget is no restart.
                Metrics::add(&this.metrics.restarts, 1);
                if started.elapsed() > this.cfg.restart_window {
                    consecutive = 0;
                }
                let delay = this
                    .cfg
                    .restart_backoff
                    .saturating_mul(1u32 << consecutive.min(16))
                    .min(this.cfg.max_restart_backoff);
                consecutive = consecutive.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = this.stopping.cancelled() => break,
                }
                tracing::warn!(actor = %name, reason = %reason, after_ms = delay.as_millis() as u64, "actor restarted");
            }
            let _ = done_tx.send(());
            });
        });
        Supervised { slot: reader, done }
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_within_the_window() {
        let mut b = Budget {
            times: VecDeque::new(),
            budget: 2,
            window: Duration::from_secs(10),
        };
        let t = Instant::now();
        assert!(b.allow(t));
        assert!(b.allow(t + Duration::from_secs(1)));
        assert!(!b.allow(t + Duration::from_secs(2)));
        assert!(
            b.allow(t + Duration::from_secs(12)),
            "old restarts leave the window"
        );
    }
}
