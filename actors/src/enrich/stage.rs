//! The enrichment stage: between the store and the channels. Takes stored findings from the
//! `enrich` queue, looks up their registrable domain (cached, coalesced, rate limited), writes
//! the registration data into the finding and hands it to the channels, or records it as skipped
//! when the domain was neither registered nor changed within `enrich.recent_days` (the original
//! setup's filter) or, with `on_unknown = "drop"`, when that is unknown.
//!
//! Lookups run concurrently (up to `enrich.limits.max_concurrent`), so a slow registry delays only
//! its own findings. Each finding advances in one transaction; a crash leaves it queued here.
//! This never touches the ingest path: the matcher and recorder do not wait for lookups.

use super::lookups::Lookups;
use super::verdict::{self, Verdict};
use crate::finding::{Finding, RegistrationInfo};
use crate::metrics::Metrics;
use crate::store::{unix_now, Store};
use crate::watch::stage::{rest, Route, Stage, Work};
use certhound_config::{EnrichConfig, OnUnknown};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// The queue name of this stage in the store.
pub const STAGE: &str = "enrich";

/// The enrichment stage: the [`Stage`] shell around its loop.
pub type EnrichStage = Stage<EnrichLoop>;

impl EnrichStage {
    /// `route` says where findings go next (the urlscan stage or the channels).
    pub fn new(
        lookups: Arc<Lookups>,
        store: Store,
        cfg: EnrichConfig,
        route: Route,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Stage::with(wake, |wake, idle| EnrichLoop {
            lookups,
            store,
            cfg,
            route,
            wake,
            metrics,
            idle,
        })
    }
}

impl Work for EnrichLoop {
    fn run(self) -> impl Future<Output = ()> + 'static {
        self.work()
    }
}

pub struct EnrichLoop {
    lookups: Arc<Lookups>,
    store: Store,
    cfg: EnrichConfig,
    route: Route,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    idle: watch::Sender<bool>,
}

impl EnrichLoop {
    /// Ends only on a store error (the supervisor then starts a new actor).
    async fn work(self) {
        let mut busy = std::collections::HashSet::new();
        let mut running = FuturesUnordered::new();
        loop {
            // Read each turn: a reload can change it (the resolver holds the limits in force).
            let width = self.lookups.resolver().max_concurrent();
            // Top up the lookups under way from the queue, oldest first.
            if running.len() < width {
                match self.store.pending(STAGE, width * 4) {
                    Ok(queue) => {
                        for (n, f) in queue {
                            if running.len() >= width {
                                break;
                            }
                            if busy.insert(n) {
                                running.push(self.enrich(n, f));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the enrichment queue");
                        return;
                    }
                }
            }
            if running.is_empty() {
                rest(&self.idle, &self.wake, self.store.idle_poll()).await;
                continue;
            }
            self.idle.send_replace(false);
            tokio::select! {
                done = running.next() => {
                    if let Some(n) = done {
                        busy.remove(&n);
                    }
                }
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Looks up one finding's domain and hands it on; returns its number.
    async fn enrich(&self, n: u64, mut finding: Finding) -> u64 {
        let span = tracing::info_span!(
            target: "certhound::trace",
            parent: None,
            "registration lookup",
            domain = %finding.registrable_domain,
            cache_hit = tracing::field::Empty,
            server = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        crate::trace::attach(&span, &finding);
        let outcome = self
            .lookups
            .get(&finding.registrable_domain)
            .instrument(span.clone())
            .await;
        span.record("cache_hit", outcome.cached);
        let now = unix_now() as i64;
        let v = verdict::decide(outcome.result.as_ref().ok(), &self.cfg, now);
        finding.registration = Some(info(&outcome.result, &v));
        let skip = match (v.recent, self.cfg.on_unknown) {
            (Some(true), _) | (None, OnUnknown::Notify) => None,
            (Some(false), _) => Some(format!(
                "not registered or changed within {} days (last change {}, {} days ago)",
                self.cfg.recent_days,
                finding
                    .registration
                    .as_ref()
                    .and_then(|r| r.cdu.clone())
                    .unwrap_or_default(),
                v.delta_days.unwrap_or_default()
            )),
            (None, OnUnknown::Drop) => Some("registration date unknown".to_string()),
        };
        if let Some(source) = finding
            .registration
            .as_ref()
            .and_then(|r| r.source.as_deref())
        {
            span.record("server", source);
        }
        span.record(
            "outcome",
            match (&outcome.result, skip.is_some()) {
                (Err(_), false) => "unknown, notified",
                (Err(_), true) => "unknown, dropped",
                (Ok(_), false) => "recent",
                (Ok(_), true) => "not recent",
            },
        );
        drop(span);
        match self.store.advance(
            STAGE,
            n,
            &finding,
            self.route.next_stage,
            &self.route.channels,
            skip.as_deref(),
        ) {
            Ok(()) => {
                if skip.is_some() {
                    Metrics::add(&self.metrics.not_recent, 1);
                } else {
                    self.route.wake();
                }
                Metrics::add(&self.metrics.enriched, 1);
            }
            Err(e) => tracing::error!(id = %finding.id, error = %e, "cannot record enrichment"),
        }
        n
    }
}

fn rfc3339(t: Option<i64>) -> Option<String> {
    t.map(|t| {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
        humantime::format_rfc3339_seconds(t).to_string()
    })
}

/// The registration part of a finding.
pub fn info(result: &Result<super::rdap::Registration, String>, v: &Verdict) -> RegistrationInfo {
    match result {
        Ok(r) => RegistrationInfo {
            created: rfc3339(r.created),
            updated: rfc3339(r.updated),
            expires: rfc3339(r.expires),
            registrar: r.registrar.clone(),
            source: Some(r.source.clone()),
            cdu: rfc3339(v.cdu),
            delta_days: v.delta_days,
            recent: v.recent,
            note: None,
        },
        Err(e) => RegistrationInfo {
            note: Some(format!("registration date unknown: {e}")),
            ..RegistrationInfo::default()
        },
    }
}
