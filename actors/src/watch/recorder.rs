//! The recorder actor: makes findings durable. The matcher hands it each batch's findings and
//! feed position; it commits them to the store in groups (one fsync per `store.commit_interval`
//! or `store.commit_batch` findings), then wakes the delivery loops.
//!
//! A finding counts as done only once committed. The feed position goes into the same commit, so
//! after a crash certhound resumes the feed from the last stored position and matches again what
//! came after it: a finding committed before the crash is then a duplicate (its dedupe entry was
//! committed with it) and one that was not committed is found anew. Each is stored exactly once.
//!
//! A position alone (a batch without findings) is committed at most once a second: losing it only
//! means matching a little more again after a crash.
//!
//! Backpressure: while a commit fails (disk full, I/O error) the recorder retries and takes no new
//! messages, so its mailbox fills and the matcher waits; findings are never dropped here.

use crate::finding::Finding;
use crate::metrics::Metrics;
use crate::store::{unix_now, Store};
use crate::watch::stage::Route;
use actix::prelude::*;
use certhound_config::StoreConfig;
use std::sync::Arc;
use std::time::Duration;

/// Findings of one batch, and the highest feed `seq` of that batch (when the feed has them).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Record {
    pub findings: Vec<Finding>,
    pub cursor: Option<u64>,
}

/// Answered once everything received before it is committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Commit;

pub struct Recorder {
    store: Store,
    /// Where new findings go: the first stage's queue (`enrich`, `scan`) or the channels'.
    route: Route,
    waiting: Vec<Finding>,
    cursor: Option<u64>,
    cursor_dirty: bool,
    commit_interval: Duration,
    commit_batch: usize,
    /// A commit is scheduled within `commit_interval` (for findings) / within a second (for a
    /// position alone).
    scheduled: bool,
    scheduled_slow: bool,
    metrics: Arc<Metrics>,
    retention: Duration,
}

/// How often delivered findings past `store.retention` are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

impl Recorder {
    /// `route` is woken after each commit that stored findings.
    pub fn new(store: Store, route: Route, cfg: &StoreConfig, metrics: Arc<Metrics>) -> Self {
        Recorder {
            store,
            route,
            waiting: Vec::new(),
            cursor: None,
            cursor_dirty: false,
            commit_interval: cfg.commit_interval,
            commit_batch: cfg.commit_batch,
            scheduled: false,
            scheduled_slow: false,
            metrics,
            retention: cfg.retention,
        }
    }

    /// Deletes findings delivered everywhere and older than the retention: the outbox does not
    /// grow without limit.
    fn purge(&mut self) {
        let before = unix_now().saturating_sub(self.retention.as_secs());
        match self.store.purge(before) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                purged = n,
                "deleted delivered findings past store.retention"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot purge old findings"),
        }
    }

    /// Commits what is waiting. On failure keeps it, blocks the mailbox for a second and tries
    /// again.
    fn commit(&mut self, ctx: &mut Context<Self>) {
        if self.waiting.is_empty() && !self.cursor_dirty {
            return;
        }
        let cursor = self.cursor_dirty.then_some(self.cursor).flatten();
        // One span per finding in its own trace, around the commit that makes it durable.
        let spans: Vec<tracing::Span> = self
            .waiting
            .iter()
            .map(|f| {
                let span = tracing::info_span!(
                    target: "certhound::trace",
                    parent: None,
                    "store commit",
                    batch = self.waiting.len(),
                    id = tracing::field::Empty,
                );
                crate::trace::attach(&span, f);
                span
            })
            .collect();
        match self.store.record_at(
            &mut self.waiting,
            self.route.next_stage,
            &self.route.channels,
            cursor,
            unix_now(),
        ) {
            Ok(stored) => {
                let n = stored as u64;
                let elsewhere = self.waiting.len() as u64 - n;
                if elsewhere > 0 {
                    // Another task sharing the store reported these domains first (their ids
                    // stay empty).
                    Metrics::add(&self.metrics.duplicates_elsewhere, elsewhere);
                    tracing::debug!(
                        count = elsewhere,
                        "findings already stored by another task; not stored again"
                    );
                }
                for (span, f) in spans.iter().zip(&self.waiting) {
                    span.record("id", f.id.as_str());
                }
                drop(spans);
                let now = crate::metrics::now_ms() as f64 / 1000.0;
                for f in self
                    .waiting
                    .iter()
                    .filter(|f| !f.id.is_empty())
                    .filter_map(|f| f.seen)
                {
                    self.metrics
                        .labelled
                        .finding_latency
                        .observe((now - f).max(0.0));
                }
                self.waiting.clear();
                self.cursor_dirty = false;
                Metrics::add(&self.metrics.stored, n);
                if n > 0 {
                    self.route.wake();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, waiting = self.waiting.len(), "cannot commit findings; retrying");
                ctx.wait(tokio::time::sleep(Duration::from_secs(1)).into_actor(self));
                self.schedule(ctx);
            }
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if !self.waiting.is_empty() {
            if !self.scheduled {
                self.scheduled = true;
                ctx.run_later(self.commit_interval, |act, ctx| {
                    act.scheduled = false;
                    act.commit(ctx)
                });
            }
        } else if self.cursor_dirty && !self.scheduled && !self.scheduled_slow {
            self.scheduled_slow = true;
            let after = self.commit_interval.max(Duration::from_secs(1));
            ctx.run_later(after, |act, ctx| {
                act.scheduled_slow = false;
                act.commit(ctx)
            });
        }
    }
}

impl Actor for Recorder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.purge();
        ctx.run_interval(PURGE_EVERY, |act, _| act.purge());
    }
}

impl Handler<Record> for Recorder {
    type Result = ();

    fn handle(&mut self, msg: Record, ctx: &mut Context<Self>) {
        if let Some(c) = msg.cursor {
            if self.cursor.is_none_or(|cur| c > cur) {
                self.cursor = Some(c);
                self.cursor_dirty = true;
            }
        }
        self.waiting.extend(msg.findings);
        if self.waiting.len() >= self.commit_batch {
            self.commit(ctx);
        } else {
            self.schedule(ctx);
        }
    }
}

impl Handler<Commit> for Recorder {
    type Result = ();

    fn handle(&mut self, _: Commit, ctx: &mut Context<Self>) {
        self.commit(ctx);
    }
}
