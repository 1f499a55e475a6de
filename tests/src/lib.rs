//! End-to-end tests of certhound: fixtures, message builders, a harness that runs the real
//! `certhound` binary, and the loopback fakes of everything it talks to: certstream feeds, CT
//! logs (RFC 6962 and static-ct-api), RDAP, WHOIS, urlscan, Telegram, a webhook receiver, an
//! OTLP trace receiver, moto (SNS, Secrets Manager, CloudFormation) and a TCP proxy that cuts
//! connections. The tests themselves are in `tests/`; `deploy/` holds the stack check script.

pub mod admin;
pub mod answers;
pub mod browser;
pub mod certstream_server;
pub mod config;
pub mod ct_log;
pub mod ct_server;
pub mod domains;
pub mod durable;
pub mod dynamo_proxy;
pub mod fault;
pub mod feed_client;
pub mod fixtures;
pub mod http_fake;
pub mod messages;
pub mod moto;
pub mod observed;
pub mod otlp_receiver;
pub mod output;
pub mod process;
pub mod rdap_server;
pub mod recorded;
pub mod seq_server;
pub mod tcp_proxy;
pub mod telegram_server;
pub mod urlscan_server;
pub mod webhook_sink;
pub mod whois_server;

pub use certstream_server::{FakeCertstream, Step};
pub use config::TestConfig;
pub use process::{Certhound, CerthoundCommand, Finished};
pub use seq_server::FakeSeqCertstream;
pub use webhook_sink::FakeWebhook;

/// Generous timeouts: the machine is slow and shared with builds.
pub mod timeouts {
    use std::time::Duration;
    /// For one thing to happen (a connection, a log event, a few findings).
    pub const EVENT: Duration = Duration::from_secs(30);
    /// For a large stream to be processed.
    pub const BULK: Duration = Duration::from_secs(120);
    /// For the process to exit after a signal or on its own (certhound allows its pipeline 25 s
    /// to drain after SIGTERM).
    pub const EXIT: Duration = Duration::from_secs(60);
}
