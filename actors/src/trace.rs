//! Traces of findings: one trace per finding, across actors and restarts.
//!
//! The stages of a finding run in different actors, minutes apart, and possibly in another
//! process after a restart, so its spans cannot nest in memory. Instead the matcher opens the
//! trace's root span (`finding`), and its W3C `traceparent` travels with the finding
//! ([`Finding::trace_parent`], stored beside it by the store); each later stage opens its span
//! with that context as its remote parent ([`attach`]). A finding picked up after a restart
//! continues the same trace.
//!
//! Every span and span event here has the target [`TARGET`]: the binary exports that target
//! alone over OTLP and keeps it out of the logs. Without `[telemetry] enabled` nothing listens
//! to it, the spans are disabled at their call site and [`traceparent`] is `None`, so turning
//! traces off costs a branch per finding; certificates that match nothing never reach a span.
//!
//! Span attributes are domain names, channel names, counts and outcomes; never a URL with
//! credentials or a secret (servers are named by host).

use crate::finding::Finding;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of every span of a trace.
pub const TARGET: &str = "certhound::trace";

/// The root span of a finding's trace, opened by the matcher.
pub fn finding_root(f: &Finding) -> Span {
    tracing::info_span!(
        target: "certhound::trace",
        parent: None,
        "finding",
        domain = %f.domain,
        registrable_domain = %f.registrable_domain,
        score = f.score,
        rules = %f.rules.join(","),
        names = f.matched_names.len(),
        log = f.source.as_ref().and_then(|s| s.name.as_deref()).unwrap_or(""),
    )
}

/// The W3C `traceparent` of a span (`00-<trace id>-<span id>-<flags>`), or `None` when traces
/// are off.
pub fn traceparent(span: &Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Parses a `traceparent` (version 00) into a remote parent context.
pub fn parse_traceparent(s: &str) -> Option<Context> {
    let mut parts = s.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    let sc = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        TraceState::default(),
    );
    sc.is_valid()
        .then(|| Context::new().with_remote_span_context(sc))
}

/// Makes `span` a child of the finding's trace (call it before the span is entered). A finding
/// without a trace (traces off when it was found) leaves the span a root of its own.
pub fn attach(span: &Span, f: &Finding) {
    if span.is_disabled() {
        return;
    }
    if let Some(cx) = f.trace_parent.as_deref().and_then(parse_traceparent) {
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cx = parse_traceparent(tp).expect("valid");
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled());
        assert!(sc.is_remote());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn no_trace_without_a_subscriber() {
        let f = crate::finding::Finding {
            id: String::new(),
            detected_at: String::new(),
            domain: "paypal-login.example".into(),
            domain_unicode: None,
            registrable_domain: "paypal-login.example".into(),
            matched_names: vec![],
            rules: vec![],
            homoglyph: false,
            score: 1.0,
            terms: vec![],
            cert: Default::default(),
            source: None,
            seen: None,
            registration: None,
            scan: None,
            trace_parent: None,
        };
        assert_eq!(traceparent(&finding_root(&f)), None);
    }
}
