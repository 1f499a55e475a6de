//! `certhound server` (or `run`) pointed at a loopback CT log ([`crate::ct_log::FakeCtLog`]):
//! the config that tails only that log from its first entry with short waits, and the start
//! that waits for the feed to listen and returns its address.

use crate::ct_log::FakeCtLog;
use crate::output::event_str;
use crate::{timeouts, Certhound, CerthoundCommand, TestConfig};
use std::net::SocketAddr;

/// A config tailing only `log_toml` (an inline `[[ct.logs]]` table, see [`rfc6962_log`] and
/// [`static_log`]) from its start, its feed on a free loopback port.
pub fn server_config(log_toml: &str) -> TestConfig {
    let mut c = TestConfig::new();
    c.set("ct", "use_log_list", "false");
    c.set("ct", "logs", format!("[{log_toml}]"));
    c.set_str("ct", "new_log_start", "start");
    c.set_str("ct", "poll_interval", "100ms");
    c.set_str("ct", "initial_backoff", "50ms");
    c.set_str("ct", "max_backoff", "500ms");
    c.set("ct", "per_log_per_second", "200.0");
    c.set_str("ct", "position_interval", "100ms");
    c.set_str("server", "listen", "127.0.0.1:0");
    c
}

/// `log`'s RFC 6962 view as a `[[ct.logs]]` table named "Fake RFC 6962".
pub fn rfc6962_log(log: &FakeCtLog) -> String {
    format!(
        r#"{{ name = "Fake RFC 6962", url = "{}", kind = "rfc6962" }}"#,
        log.rfc6962_url()
    )
}

/// `log`'s static-ct view (with its key and origin) as a `[[ct.logs]]` table.
pub fn static_log(log: &FakeCtLog) -> String {
    format!(
        r#"{{ name = "Fake static-ct", url = "{}", kind = "static-ct", key = "{}", origin = "{}" }}"#,
        log.monitoring_url(),
        log.key_b64(),
        log.origin()
    )
}

/// Starts `certhound <role>` and returns it once its feed listens, with the feed's address.
pub async fn start(role: &str, c: &TestConfig) -> (Certhound, SocketAddr) {
    let mut p = CerthoundCommand::new().test_config(c).arg(role).spawn();
    let ev = p
        .expect_event("certstream feed listening", timeouts::EVENT)
        .await;
    let addr = event_str(&ev, "listen")
        .and_then(|a| a.parse().ok())
        .expect("listen address");
    (p, addr)
}
