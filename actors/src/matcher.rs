//! The matcher actor: parses batches of certstream frames, matches every name against the rules,
//! drops allowlisted and already reported registrable domains, and hands each finding to every
//! notifier.
//!
//! Backpressure: a finding is never dropped. When a notifier's mailbox is full (or the notifier
//! is being restarted), the matcher stops taking batches until the finding is handed over
//! (`ctx.wait`). Its own mailbox then fills, and the feed sheds batches before it, where shedding
//! is counted. In normal operation findings are rare and this never happens.

use crate::certstream::{self, Message};
use crate::dedupe::Dedupe;
use crate::finding::{CertInfo, Finding, SourceInfo};
use crate::metrics::Metrics;
use crate::normalise;
use crate::notify::FindingSink;
use crate::rules::{registrable_domain, RuleSet, Scratch};
use actix::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Environment variable of the test-only fault hook: a name equal to its value makes the matcher
/// panic, so tests can check that the supervisor restarts it. Unset in production.
pub const TEST_PANIC_ENV: &str = "CERTHOUND_TEST_PANIC_DOMAIN";

/// Frames from the feed or a replay file, in arrival order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CertBatch(pub Vec<Utf8Bytes>);

/// Answered once every batch sent before it has been matched and its findings handed over.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

pub struct Matcher {
    rules: Arc<RuleSet>,
    dedupe: Dedupe,
    sinks: Vec<Box<dyn FindingSink>>,
    metrics: Arc<Metrics>,
    scratch: Scratch,
    /// Findings a sink had no room for yet, with the sink's index.
    backlog: VecDeque<(usize, Arc<Finding>)>,
    panic_name: Option<String>,
}

impl Matcher {
    pub fn new(
        rules: Arc<RuleSet>,
        dedupe: Dedupe,
        sinks: Vec<Box<dyn FindingSink>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Matcher {
            rules,
            dedupe,
            sinks,
            metrics,
            scratch: Scratch::default(),
            backlog: VecDeque::new(),
            panic_name: std::env::var(TEST_PANIC_ENV).ok().filter(|s| !s.is_empty()),
        }
    }

    /// Parses and matches one frame; returns its findings.
    pub fn process_frame(&mut self, text: &str, now: Instant, out: &mut Vec<Finding>) {
        let m = &self.metrics;
        let msg = match certstream::parse(text) {
            Ok(msg) => msg,
            Err(e) => {
                Metrics::add(&m.malformed, 1);
                tracing::debug!(error = %e, "skipped malformed frame");
                return;
            }
        };
        Metrics::add(&m.messages, 1);
        match msg {
            Message::Certificate(c) => {
                Metrics::add(&m.certificates, 1);
                self.match_names(&c.leaf_cert.all_domains, Some(&c), now, out);
            }
            Message::Domains(names) => {
                Metrics::add(&m.certificates, 1);
                self.match_names(&names, None, now, out);
            }
            Message::Heartbeat => Metrics::add(&m.heartbeats, 1),
            Message::Unknown(kind) => {
                Metrics::add(&m.unknown_type, 1);
                tracing::debug!(message_type = %kind, "skipped unknown message type");
            }
        }
    }

    fn match_names<S: AsRef<str>>(
        &mut self,
        names: &[S],
        cert: Option<&certstream::CertUpdate<'_>>,
        now: Instant,
        out: &mut Vec<Finding>,
    ) {
        Metrics::add(&self.metrics.names, names.len() as u64);
        // One finding per registrable domain of this certificate.
        let mut found: Vec<Finding> = Vec::new();
        for raw in names {
            let name = normalise::normalise(raw.as_ref());
            if let Some(p) = &self.panic_name {
                if name.ascii == p.as_str() {
                    panic!("test fault hook: poison name {p}");
                }
            }
            let Some(hit) = self.rules.match_name(&name, &mut self.scratch) else {
                continue;
            };
            let Some(registrable) = registrable_domain(&name.ascii) else {
                continue;
            };
            if let Some(f) = found
                .iter_mut()
                .find(|f| f.registrable_domain == registrable)
            {
                f.matched_names.push(name.ascii.to_string());
                for r in hit.rules {
                    if !f.rules.contains(&r) {
                        f.rules.push(r);
                    }
                }
                f.homoglyph |= hit.homoglyph;
                continue;
            }
            if self.rules.is_allowlisted(registrable) {
                Metrics::add(&self.metrics.allowlisted, 1);
                continue;
            }
            found.push(Finding {
                detected_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                domain: name.ascii.to_string(),
                domain_unicode: name.unicode.clone(),
                registrable_domain: registrable.to_string(),
                matched_names: vec![name.ascii.to_string()],
                rules: hit.rules,
                homoglyph: hit.homoglyph,
                cert: cert_info(cert, names),
                source: cert.and_then(|c| c.source.as_ref()).map(|s| SourceInfo {
                    name: s.name.as_deref().map(str::to_string),
                    url: s.url.as_deref().map(str::to_string),
                }),
                seen: cert.and_then(|c| c.seen),
            });
        }
        for mut f in found {
            if self.dedupe.first_report(&f.registrable_domain, now) {
                f.rules.sort_unstable();
                out.push(f);
            } else {
                Metrics::add(&self.metrics.duplicates, 1);
            }
        }
    }

    /// Hands findings to every sink; what does not fit now goes to the backlog.
    fn dispatch(&mut self, findings: Vec<Finding>) {
        for f in findings {
            Metrics::add(&self.metrics.findings, 1);
            let f = Arc::new(f);
            for (i, sink) in self.sinks.iter().enumerate() {
                // Keep order per sink: once a backlog exists, later findings queue behind it.
                if !self.backlog.is_empty() {
                    self.backlog.push_back((i, f.clone()));
                } else if let Err(f) = sink.try_deliver(f.clone()) {
                    self.backlog.push_back((i, f));
                }
            }
        }
    }

    /// Blocks the mailbox until the backlog has been handed over. This is where backpressure
    /// from slow notifiers reaches the matcher (see the module comment).
    fn wait_for_backlog(&mut self, ctx: &mut Context<Self>) {
        if self.backlog.is_empty() {
            return;
        }
        let backlog = std::mem::take(&mut self.backlog);
        let mut sinks: Vec<Box<dyn FindingSink>> =
            self.sinks.iter().map(|s| s.boxed_clone()).collect();
        ctx.wait(
            async move {
                for (i, f) in backlog {
                    sinks[i].deliver(f).await;
                }
            }
            .into_actor(self),
        );
    }
}

fn cert_info<S: AsRef<str>>(cert: Option<&certstream::CertUpdate<'_>>, names: &[S]) -> CertInfo {
    let all_domains = names.iter().map(|n| n.as_ref().to_string()).collect();
    let Some(c) = cert else {
        return CertInfo {
            all_domains,
            ..CertInfo::default()
        };
    };
    let leaf = &c.leaf_cert;
    CertInfo {
        cn: leaf
            .subject
            .as_ref()
            .and_then(|s| s.cn.as_deref())
            .map(str::to_string),
        all_domains,
        issuer: leaf
            .issuer
            .as_ref()
            .and_then(|i| i.display())
            .map(str::to_string),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        serial_number: leaf.serial_number.as_deref().map(str::to_string),
        fingerprint: leaf.fingerprint.as_deref().map(str::to_string),
        update_type: c.update_type.as_deref().map(str::to_string),
        cert_index: c.cert_index,
        cert_link: c.cert_link.as_deref().map(str::to_string),
    }
}

impl Actor for Matcher {
    type Context = Context<Self>;
}

impl Handler<CertBatch> for Matcher {
    type Result = ();

    fn handle(&mut self, batch: CertBatch, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let mut findings = Vec::new();
        for frame in &batch.0 {
            self.process_frame(frame.as_str(), now, &mut findings);
        }
        if !findings.is_empty() {
            self.dispatch(findings);
            self.wait_for_backlog(ctx);
        }
    }
}

impl Handler<Drain> for Matcher {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {}
}
