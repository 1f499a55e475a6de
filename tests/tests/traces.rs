//! Traces over OTLP into a loopback receiver that speaks the real protocol
//! (`src/otlp_receiver.rs`):
//!
//! - gRPC: a finding goes through RDAP, urlscan and two channels; certhound is killed while the
//!   scan is polled and started again. The finding has one trace: the `finding` root and a
//!   child per stage (store commit, registration lookup, urlscan submit, then, from the second
//!   process, urlscan poll and a delivery per channel), all in the root's trace id, so the trace
//!   continued across the restart. No span attribute holds the urlscan key.
//! - HTTP/protobuf, configured by the standard `OTEL_*` variables only, in `certhound run`: the
//!   server role's CT fetch batches have spans (log, start, count, status) and the finding its
//!   trace; the service name comes from `OTEL_SERVICE_NAME`.

use certhound_tests::ct_log::{generated_entry, FakeCtLog};
use certhound_tests::ct_server::{rfc6962_log, server_config};
use certhound_tests::messages::lite;
use certhound_tests::otlp_receiver::{FakeOtlp, ReceivedSpan};
use certhound_tests::rdap_server::days_ago;
use certhound_tests::rdap_server::{Answer, FakeRdap};
use certhound_tests::urlscan_server::{FakeUrlscan, API_KEY};
use certhound_tests::{timeouts, CerthoundCommand, FakeCertstream, FakeWebhook, Step, TestConfig};

const DOMAIN: &str = "paypal-traced-login.com";

/// The spans of the trace whose root is the `finding` span of `domain`.
fn finding_trace(
    spans: &[ReceivedSpan],
    domain: &str,
) -> Option<(ReceivedSpan, Vec<ReceivedSpan>)> {
    let root = spans
        .iter()
        .find(|s| {
            s.name == "finding" && s.attributes.get("domain").map(String::as_str) == Some(domain)
        })?
        .clone();
    let rest = spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id && s.span_id != root.span_id)
        .cloned()
        .collect();
    Some((root, rest))
}

fn names(spans: &[ReceivedSpan]) -> Vec<String> {
    let mut n: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_per_finding_through_every_stage_and_a_restart() {
    let otlp = FakeOtlp::start().await;
    let rdap = FakeRdap::start(&["com"]).await;
    rdap.answer(DOMAIN, Answer::dates(&days_ago(2), &days_ago(2)));
    let urlscan = FakeUrlscan::start().await;
    urlscan.ready_only_when_finished();
    let sink = FakeWebhook::start().await;
    let feed = FakeCertstream::start(vec![Step::Text(lite(&[DOMAIN], 1))]).await;

    let mut c = TestConfig::with_feed(&feed.url());
    c.enrich_with_rdap(&rdap.bootstrap_url());
    c.urlscan_at(&urlscan.base_url());
    c.set_str("urlscan", "api_key", API_KEY);
    c.set_str("urlscan", "poll_timeout", "60s");
    c.set_str("notify.webhook", "url", &sink.url());
    c.set("telemetry", "enabled", "true");
    c.set_str("telemetry", "endpoint", &otlp.grpc_endpoint());
    c.set_str("telemetry", "protocol", "grpc");
    let spawn = || {
        CerthoundCommand::new()
            .test_config(&c)
            // Export every 100 ms rather than every 5 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .arg("watch")
            .spawn()
    };

    // First process: matched, stored, looked up, submitted; killed while the scan is polled
    // (its spans up to the submission have been exported by then).
    let mut first = spawn();
    let want_first = [
        "finding",
        "registration lookup",
        "store commit",
        "urlscan submit",
    ];
    let spans = otlp
        .wait_for_spans(timeouts::EVENT, |s| {
            finding_trace(s, DOMAIN).is_some_and(|(_, rest)| {
                want_first[1..]
                    .iter()
                    .all(|w| rest.iter().any(|r| r.name == *w))
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", first.describe("first process")));
    urlscan
        .wait_for_result_polls(1, timeouts::EVENT)
        .await
        .unwrap_or_else(|_| panic!("no polling"));
    first.send_signal(libc::SIGKILL);
    first.wait_exit(timeouts::EXIT).await;
    let (root, _) = finding_trace(&spans, DOMAIN).unwrap();

    // Second process: polls the stored scan to its end and delivers, in the same trace.
    urlscan.finish_all();
    let mut second = spawn();
    second.expect_findings(&[DOMAIN], timeouts::EVENT).await;
    second.stop_cleanly("after SIGTERM").await;
    let spans = otlp
        .wait_for_spans(timeouts::EVENT, |s| {
            finding_trace(s, DOMAIN).is_some_and(|(_, rest)| {
                rest.iter().filter(|r| r.name == "deliver").count() == 2
                    && rest.iter().any(|r| {
                        r.name == "urlscan poll"
                            && r.attributes.get("finished").map(String::as_str) == Some("true")
                    })
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let finding_roots: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == "finding").collect();
    assert_eq!(
        finding_roots.len(),
        1,
        "one finding, one root: {finding_roots:#?}"
    );
    let (again, rest) = finding_trace(&spans, DOMAIN).unwrap();
    assert_eq!(again.span_id, root.span_id);
    assert_eq!(root.parent_span_id, None, "the root has no parent");
    assert_eq!(root.service_name.as_deref(), Some("certhound"));
    assert_eq!(root.attributes["registrable_domain"], DOMAIN);
    assert!(root.attributes["rules"].contains("paypal"), "{root:?}");
    // Every other span of the trace is a child of the root, across both processes.
    for s in &rest {
        assert_eq!(
            s.parent_span_id.as_deref(),
            Some(root.span_id.as_str()),
            "{s:#?}"
        );
        assert_eq!(s.transport, "grpc");
    }
    let names = names(&rest);
    for w in [
        "deliver",
        "registration lookup",
        "store commit",
        "urlscan poll",
        "urlscan submit",
    ] {
        assert!(names.iter().any(|n| n == w), "{w} missing from {names:?}");
    }
    let by = |name: &str| rest.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let lookup = by("registration lookup");
    assert_eq!(lookup[0].attributes["cache_hit"], "false");
    assert_eq!(lookup[0].attributes["outcome"], "recent");
    assert!(
        lookup[0].attributes["server"].starts_with("rdap "),
        "{:?}",
        lookup[0]
    );
    assert_eq!(by("urlscan submit")[0].attributes["outcome"], "submitted");
    let poll = by("urlscan poll")
        .into_iter()
        .find(|p| p.attributes.get("finished").map(String::as_str) == Some("true"))
        .expect("the finished poll");
    assert!(
        poll.events.iter().any(|e| e == "urlscan result polled"),
        "{poll:?}"
    );
    let mut channels: Vec<&str> = by("deliver")
        .iter()
        .map(|d| {
            assert_eq!(d.attributes["outcome"], "sent", "{d:?}");
            d.attributes["channel"].as_str()
        })
        .collect();
    channels.sort();
    assert_eq!(channels, ["jsonl", "webhook"]);
    // No secret in any attribute of any span.
    for s in &spans {
        for v in s.attributes.values() {
            assert!(!v.contains(API_KEY), "{s:#?}");
        }
    }
    // Certificates that matched nothing have no spans: everything received is this trace.
    assert!(
        spans.iter().all(|s| s.trace_id == root.trace_id),
        "{:#?}",
        names
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_export_from_the_standard_variables_with_ct_batch_spans() {
    let otlp = FakeOtlp::start().await;
    let mut entries: Vec<_> = (0..20)
        .map(|i| generated_entry(i, &[&format!("shop{i}.example.com")], false))
        .collect();
    entries.push(generated_entry(20, &["paypal-login-verify.xyz"], true));
    let log = FakeCtLog::start(entries).await;
    let mut c = server_config(&rfc6962_log(&log));
    c.set("telemetry", "enabled", "true");
    let mut run = CerthoundCommand::new()
        .test_config(&c)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.http_endpoint())
        .env("OTEL_SERVICE_NAME", "certhound-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .arg("run")
        .spawn();
    run.expect_findings(&["paypal-login-verify.xyz"], timeouts::BULK)
        .await;
    run.stop_cleanly("after SIGTERM").await;
    let spans = otlp
        .wait_for_spans(timeouts::EVENT, |s| {
            finding_trace(s, "paypal-login-verify.xyz")
                .is_some_and(|(_, rest)| rest.iter().any(|r| r.name == "deliver"))
                && s.iter().any(|r| r.name == "ct get-entries")
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(spans.iter().all(|s| s.transport == "http"));
    assert!(spans
        .iter()
        .all(|s| s.service_name.as_deref() == Some("certhound-test")));
    let fetches: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name == "ct get-entries")
        .collect();
    let fetched: u64 = fetches
        .iter()
        .filter(|f| f.attributes.get("status").map(String::as_str) == Some("ok"))
        .map(|f| f.attributes["count"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(fetched, 21, "{fetches:#?}");
    for f in &fetches {
        assert_eq!(f.parent_span_id, None, "each batch is a trace of its own");
        assert_eq!(f.attributes["log"], log.rfc6962_url());
        assert!(f.attributes.contains_key("start"));
    }
}
