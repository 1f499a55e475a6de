//! The matcher actor: parses batches of certstream frames, matches every name against the rules,
//! drops allowlisted and already reported registrable domains, and hands each batch's findings,
//! with the batch's feed position, to the recorder, which stores them.
//!
//! Backpressure: a finding is never dropped. When the recorder's mailbox is full (or it is being
//! restarted), the matcher stops taking batches until the findings are handed over (`ctx.wait`).
//! Its own mailbox then fills, and the feed sheds batches before it, where shedding is counted.
//! In normal operation findings are rare and this never happens.

use crate::certstream::{self, Message};
use crate::finding::{CertInfo, Finding, SourceInfo};
use crate::metrics::Metrics;
use crate::normalise;
use crate::rules::{CertContext, Scratch, SharedRules, Verdict};
use crate::slot::Slot;
use crate::store::unix_now;
use crate::watch::dedupe::Dedupe;
use crate::watch::recorder::{Record, Recorder};
use actix::dev::SendError;
use actix::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
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
    /// The rules in force; a reload swaps them (see [`crate::rules::SharedRules`]).
    rules: SharedRules,
    dedupe: Dedupe,
    recorder: Slot<Recorder>,
    metrics: Arc<Metrics>,
    scratch: Scratch,
    /// Highest feed `seq` matched so far, shared with the feed for `?since=` on reconnects.
    position: Arc<AtomicU64>,
    panic_name: Option<String>,
}

impl Matcher {
    pub fn new(
        rules: SharedRules,
        dedupe: Dedupe,
        recorder: Slot<Recorder>,
        metrics: Arc<Metrics>,
        position: Arc<AtomicU64>,
    ) -> Self {
        Matcher {
            rules,
            dedupe,
            recorder,
            metrics,
            scratch: Scratch::default(),
            position,
            panic_name: std::env::var(TEST_PANIC_ENV).ok().filter(|s| !s.is_empty()),
        }
    }

    /// Parses and matches one frame; adds its findings to `out`, returns its feed `seq`.
    pub fn process_frame(&mut self, text: &str, now: u64, out: &mut Vec<Finding>) -> Option<u64> {
        let m = &self.metrics;
        let (msg, seq) = match certstream::parse_with_seq(text) {
            Ok(parsed) => parsed,
            Err(e) => {
                Metrics::add(&m.malformed, 1);
                tracing::debug!(error = %e, "skipped malformed frame");
                return None;
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
            Message::Unknown(kind) if kind == "gap" => {
                // certhound's server could not give everything since our position (it was
                // restarted, or we were away longer than its history): say so loudly.
                Metrics::add(&m.feed_gaps, 1);
                let notice: String = text.chars().take(300).collect();
                tracing::warn!(notice = %notice, "the feed reports missed messages");
            }
            Message::Unknown(kind) => {
                Metrics::add(&m.unknown_type, 1);
                tracing::debug!(message_type = %kind, "skipped unknown message type");
            }
        }
        seq
    }

    fn match_names<S: AsRef<str>>(
        &mut self,
        names: &[S],
        cert: Option<&certstream::CertUpdate<'_>>,
        now: u64,
        out: &mut Vec<Finding>,
    ) {
        Metrics::add(&self.metrics.names, names.len() as u64);
        // One load per certificate: a reload in the middle of a certificate cannot split it.
        let rules = self.rules.load();
        let ctx = CertContext {
            issuer: cert
                .and_then(|c| c.leaf_cert.issuer.as_ref())
                .and_then(|i| i.display()),
        };
        // One finding per registrable domain of this certificate.
        let mut found: Vec<Finding> = Vec::new();
        for raw in names {
            let name = normalise::normalise(raw.as_ref());
            if let Some(p) = &self.panic_name {
                if name.ascii == p.as_str() {
                    panic!("test fault hook: poison name {p}");
                }
            }
            let hit = match rules.check(&name, ctx, &mut self.scratch) {
                Verdict::Clean => continue,
                Verdict::Allowlisted => {
                    Metrics::add(&self.metrics.allowlisted, 1);
                    continue;
                }
                Verdict::Finding(hit) => hit,
            };
            if let Some(f) = found
                .iter_mut()
                .find(|f| f.registrable_domain == hit.registrable_domain)
            {
                f.matched_names.push(name.ascii.to_string());
                for r in hit.rules {
                    if !f.rules.contains(&r) {
                        f.rules.push(r);
                    }
                }
                f.homoglyph |= hit.homoglyph;
                if hit.score > f.score {
                    f.score = hit.score;
                    f.terms = hit.terms.iter().map(ToString::to_string).collect();
                }
                continue;
            }
            found.push(Finding {
                id: String::new(),
                detected_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                domain: name.ascii.to_string(),
                domain_unicode: name.unicode.clone(),
                matched_names: vec![name.ascii.to_string()],
                rules: hit.rules,
                homoglyph: hit.homoglyph,
                score: hit.score,
                terms: hit.terms.iter().map(ToString::to_string).collect(),
                registrable_domain: hit.registrable_domain,
                cert: cert_info(cert, names),
                source: cert.and_then(|c| c.source.as_ref()).map(|s| SourceInfo {
                    name: s.name.as_deref().map(str::to_string),
                    url: s.url.as_deref().map(str::to_string),
                }),
                seen: cert.and_then(|c| c.seen),
                registration: None,
                scan: None,
                trace_parent: None,
            });
        }
        for mut f in found {
            if self.dedupe.first_report(&f.registrable_domain, now) {
                f.rules.sort_unstable();
                // The root of the finding's trace; the later stages continue it.
                let span = crate::trace::finding_root(&f);
                f.trace_parent = crate::trace::traceparent(&span);
                out.push(f);
            } else {
                Metrics::add(&self.metrics.duplicates, 1);
            }
        }
    }

    /// Hands the batch's findings and position to the recorder, waiting for room if it has
    /// none: this is where backpressure from storage reaches the matcher (see the module comment).
    fn record(&mut self, findings: Vec<Finding>, cursor: Option<u64>, ctx: &mut Context<Self>) {
        Metrics::add(&self.metrics.findings, findings.len() as u64);
        let msg = Record { findings, cursor };
        let msg = match self.recorder.current() {
            Some(addr) => match addr.try_send(msg) {
                Ok(()) => return,
                Err(SendError::Full(m)) | Err(SendError::Closed(m)) => m,
            },
            None => msg,
        };
        let mut slot = self.recorder.clone();
        ctx.wait(
            async move {
                let mut msg = msg;
                loop {
                    let Some(addr) = slot.next_live().await else {
                        tracing::error!("recorder is gone; findings not stored");
                        return;
                    };
                    // `send` waits for room; it fails only when the recorder died, and then the
                    // findings go to its successor.
                    let keep = (msg.findings.clone(), msg.cursor);
                    match addr.send(msg).await {
                        Ok(()) => return,
                        Err(_) => {
                            msg = Record {
                                findings: keep.0,
                                cursor: keep.1,
                            }
                        }
                    }
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
        let now = unix_now();
        let mut findings = Vec::new();
        let mut cursor: Option<u64> = None;
        for frame in &batch.0 {
            if let Some(seq) = self.process_frame(frame.as_str(), now, &mut findings) {
                cursor = Some(cursor.map_or(seq, |c| c.max(seq)));
            }
        }
        if let Some(c) = cursor {
            self.position.fetch_max(c, Ordering::Relaxed);
        }
        if !findings.is_empty() || cursor.is_some() {
            self.record(findings, cursor, ctx);
        }
    }
}

impl Handler<Drain> for Matcher {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {}
}
