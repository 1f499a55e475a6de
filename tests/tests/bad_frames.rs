//! Garbage on the feed: invalid JSON, a binary frame, a frame over `watch.max_frame_bytes`,
//! missing fields, wrong types, an unknown message type. Certhound must skip and count them,
//! stay connected and alive, and still report the good messages that follow.

use certhound_tests::domains::Background;
use certhound_tests::messages::{
    certificate_update_value, domains_only, full, heartbeat, lite, lite_padded,
};
use certhound_tests::output::event_u64;
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};
use serde_json::json;

const MAX_FRAME: usize = 4096;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_counted_and_skipped() {
    let mut bg = Background::new(5);
    let mut n = || bg.next_name();

    let no_leaf_cert = {
        let mut v = certificate_update_value(&[&n()], 10, false);
        v["data"].as_object_mut().unwrap().remove("leaf_cert");
        v.to_string()
    };
    let no_message_type = {
        let mut v = certificate_update_value(&[&n()], 11, false);
        v.as_object_mut().unwrap().remove("message_type");
        v.to_string()
    };
    let all_domains_string = {
        let mut v = certificate_update_value(&[&n()], 12, false);
        v["data"]["leaf_cert"]["all_domains"] = json!(n());
        v.to_string()
    };
    let cert_index_string = {
        let mut v = certificate_update_value(&[&n()], 13, false);
        v["data"]["cert_index"] = json!("thirteen");
        v.to_string()
    };
    let dns_data_string = json!({"message_type": "dns_entries", "data": n()}).to_string();
    let malformed: Vec<String> = vec![
        r#"{"message_type": "certificate_update", "data": {"#.to_string(), // truncated
        "this is not json".to_string(),
        String::new(),
        "[]".to_string(),
        no_leaf_cert,
        no_message_type,
        all_domains_string,
        cert_index_string,
        dns_data_string,
    ];
    let n_malformed = malformed.len() as u64;

    // Valid-looking, a planted name, but over max_frame_bytes: must not be reported.
    let oversized = lite_padded(&["oversized-paypal-verify.com"], 20, 10_000);
    assert!(oversized.len() > MAX_FRAME);
    // Unknown message types, with `data` after and before `message_type` (key order carries no
    // meaning in JSON; the CaliDog server puts `data` first).
    let unknown_types = [
        r#"{"message_type":"certificate_revoked","data":{"cert_index":1}}"#,
        r#"{"data":{"cert_index":2},"message_type":"certificate_revoked"}"#,
    ];

    let mut script = vec![Step::Text(lite(&[&n()], 1))];
    for m in &malformed {
        script.push(Step::Text(m.clone()));
        script.push(Step::Text(lite(&[&n()], 2)));
    }
    script.push(Step::Binary(vec![0xff, 0x00, 0x01, 0x02]));
    script.push(Step::Binary(
        lite(&["binary-frame.example"], 3).into_bytes(),
    ));
    script.push(Step::Text(oversized));
    for u in unknown_types {
        script.push(Step::text(u));
    }
    script.push(Step::Text(heartbeat()));
    // The good ones.
    let good = [
        "paypal-after-garbage.com",
        "icloud-after-garbage.net",
        "secure-login-after-garbage.org",
    ];
    script.push(Step::Text(lite(&[good[0]], 30)));
    script.push(Step::Text(full(&[good[1], &n()], 31)));
    script.push(Step::Text(domains_only(&[&n(), good[2]])));
    let n_steps = script.len();

    let server = FakeCertstream::start(script).await;
    let mut config = TestConfig::with_feed(&server.url());
    config.set("watch", "max_frame_bytes", MAX_FRAME.to_string());
    let mut certhound = Certhound::watch(&config);

    certhound
        .wait_for_findings(&good, timeouts::EVENT)
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver: {:?}", server.stats()));
    assert_eq!(server.steps_sent(), n_steps);
    assert!(
        certhound.is_running(),
        "{}",
        certhound.describe("process died")
    );
    assert_eq!(
        server.connections(),
        1,
        "bad frames are skipped, not a reason to reconnect: {}",
        certhound.describe("reconnected")
    );

    let describe = certhound.stop_cleanly("after SIGTERM").await;

    let got = certhound.found_domains();
    assert_eq!(got, good, "only the good messages are reported\n{describe}");

    let last = &certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"));
    let m = |k: &str| event_u64(last, k).unwrap_or_else(|| panic!("metrics without {k}: {last}"));
    // Every expectation checked, then reported together.
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    expect(
        m("malformed") >= n_malformed,
        format!(
            "malformed = {} < {n_malformed} malformed frames sent",
            m("malformed")
        ),
    );
    expect(
        m("oversized") >= 1,
        format!("oversized = {} (1 sent)", m("oversized")),
    );
    expect(
        m("non_text") >= 2,
        format!("non_text = {} (2 binary frames sent)", m("non_text")),
    );
    expect(
        m("unknown_type") >= 2,
        format!(
            "unknown_type = {} (2 message_type \"certificate_revoked\" sent, one with data first)",
            m("unknown_type")
        ),
    );
    expect(
        m("heartbeats") >= 1,
        format!("heartbeats = {}", m("heartbeats")),
    );
    expect(
        m("findings") == 3,
        format!("findings = {} (3 good)", m("findings")),
    );
    // Bad input is not a crash: no actor restarted (not even while shutting down).
    expect(
        m("restarts") == 0,
        format!("restarts = {} (nothing crashed)", m("restarts")),
    );
    let restarted = certhound.events("actor restarted");
    expect(
        restarted.is_empty(),
        format!(
            "{} `actor restarted` events, first: {:?}",
            restarted.len(),
            restarted.first()
        ),
    );
    assert!(
        problems.is_empty(),
        "{problems:#?}\nlast metrics: {last}\n{describe}"
    );
}
