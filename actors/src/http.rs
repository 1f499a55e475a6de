//! What every HTTP client of certhound's outbound calls (webhook, Telegram, urlscan, RDAP) shares:
//! one user agent, and reading a `Retry-After` answer. The CT tailers build their own client
//! (`ct.user_agent` is configurable) but read `Retry-After` here too.

use std::time::Duration;

/// A client that names itself `certhound/<version>`, with a timeout for a whole request and,
/// when given, a shorter one for connecting.
pub(crate) fn client(
    timeout: Duration,
    connect_timeout: Option<Duration>,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("certhound/", env!("CARGO_PKG_VERSION")));
    if let Some(c) = connect_timeout {
        b = b.connect_timeout(c);
    }
    b.build().map_err(|e| e.to_string())
}

/// An answer's `Retry-After` in seconds (the HTTP-date form is not used by the services called).
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
