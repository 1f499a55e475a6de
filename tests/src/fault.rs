//! Scripted faults, one vocabulary for the HTTP fakes that fail before (or instead of) their
//! real answer (CT log, Telegram, webhook, urlscan): what goes wrong ([`Fault`]) and which
//! requests it hits ([`FaultScript`]: the next k, those within a span of time, those a fake's
//! own condition picks, such as a path kind, an endpoint or a domain). Each fake says the fault
//! in its own protocol: a [`Fault::TooMany`] is a `Retry-After` header from the CT log and the
//! webhook receiver, and `parameters.retry_after` in the JSON body from Telegram (which sends no
//! header). RDAP and WHOIS script whole answers per domain instead (`crate::answers`), errors
//! among them.

use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// A scripted answer to one request, instead of (or before) the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429, asking to retry after this many seconds.
    TooMany(u64),
    /// This status (500, 503, 400...) with the fake's usual error body.
    Status(u16),
    /// Wait, then answer normally.
    Delay(Duration),
    /// Close the connection without an answer (a transport error for the client).
    Hangup,
}

impl Fault {
    /// 429, asking to retry after `secs` seconds.
    pub fn too_many(secs: u64) -> Fault {
        Fault::TooMany(secs)
    }

    /// This status with the fake's usual body.
    pub fn status(status: u16) -> Fault {
        Fault::Status(status)
    }
}

/// One scripted fault: for the requests `when` picks, `times` times (for ever with `None`),
/// until `until` (for ever with `None`).
#[derive(Debug, Clone)]
struct Scripted<W> {
    when: W,
    fault: Fault,
    times: Option<usize>,
    until: Option<Instant>,
}

/// The faults scripted on a fake, tried in order: the first that applies to a request and is
/// neither used up nor expired answers it. `W` is what a fault applies to (`()` for every
/// request).
#[derive(Debug, Clone)]
pub struct FaultScript<W> {
    scripted: Vec<Scripted<W>>,
}

impl<W> Default for FaultScript<W> {
    fn default() -> Self {
        FaultScript {
            scripted: Vec::new(),
        }
    }
}

impl<W> FaultScript<W> {
    /// `fault` for the next `times` requests `when` picks (for ever with `None`), after the
    /// faults already scripted.
    pub fn push(&mut self, when: W, times: Option<usize>, fault: Fault) {
        self.scripted.push(Scripted {
            when,
            fault,
            times,
            until: None,
        });
    }

    /// `fault` for every request `when` picks for `span` from now.
    pub fn push_for(&mut self, when: W, span: Duration, fault: Fault) {
        self.scripted.push(Scripted {
            when,
            fault,
            times: None,
            until: Some(Instant::now() + span),
        });
    }

    /// Drops the faults not used yet.
    pub fn clear(&mut self) {
        self.scripted.clear();
    }

    /// The fault for a request arriving `now` that `applies` says the `when` of a fault covers,
    /// if any (using one of a counted fault's times).
    pub fn next(&mut self, now: Instant, applies: impl Fn(&W) -> bool) -> Option<Fault> {
        self.scripted
            .retain(|s| s.times != Some(0) && s.until.is_none_or(|u| now < u));
        let s = self.scripted.iter_mut().find(|s| applies(&s.when))?;
        if let Some(t) = s.times.as_mut() {
            *t -= 1;
        }
        Some(s.fault.clone())
    }
}

impl<W: PartialEq> FaultScript<W> {
    /// `fault` for the next `times` requests `when` picks, instead of what was scripted for
    /// `when` so far.
    pub fn replace(&mut self, when: W, times: usize, fault: Fault) {
        self.scripted.retain(|s| s.when != when);
        self.push(when, Some(times), fault);
    }
}

/// The reason phrase of a status, for error bodies (`"Error"` for a status without one).
pub fn reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("Error")
}

/// The error a handler returns for [`Fault::Hangup`]: hyper closes the connection when the
/// service fails.
#[derive(Debug)]
pub struct Hangup;

impl fmt::Display for Hangup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scripted hangup")
    }
}

impl std::error::Error for Hangup {}
