//! `[watch]`: the certstream feed the watch role reads, and how it keeps the connection alive.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// Websocket URL of a certstream server: `/` (lite), `/full-stream` or `/domains-only`.
    /// `certhound watch --feed URL` overrides it.
    pub feed_url: String,
    /// Time allowed for TCP, TLS and websocket handshake.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A websocket ping is sent this often; servers cut clients that stay silent.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// With nothing received for this long (no message, no pong) the connection is taken as
    /// half-open and replaced.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Largest websocket message accepted, in bytes. Larger frames are counted and skipped.
    pub max_frame_bytes: usize,
    /// When the feed's messages carry a `seq` (certhound's own server does), reconnect with
    /// `?since=<last processed seq>` so that nothing is missed across drops and restarts.
    pub resume: bool,
    /// Delay between reconnection attempts.
    pub reconnect: BackoffConfig,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            feed_url: "ws://127.0.0.1:4000/".into(),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            max_frame_bytes: 1 << 20,
            resume: true,
            reconnect: BackoffConfig::default(),
        }
    }
}

impl WatchConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match url::Url::parse(&self.feed_url) {
            Ok(u) if u.scheme() == "ws" || u.scheme() == "wss" => {}
            Ok(u) => {
                return Err(ConfigError::key_error(
                    "watch.feed_url",
                    format!("scheme must be ws or wss, not `{}`", u.scheme()),
                ))
            }
            Err(e) => {
                return Err(ConfigError::key_error(
                    "watch.feed_url",
                    format!("not a URL: {e}"),
                ))
            }
        }
        checks::above_zero(&[("watch.ping_interval", self.ping_interval)])?;
        if self.idle_timeout <= self.ping_interval {
            return Err(ConfigError::key_error(
                "watch.idle_timeout",
                "must be longer than watch.ping_interval, or every quiet moment is a reconnect",
            ));
        }
        if self.max_frame_bytes < 1024 {
            return Err(ConfigError::key_error(
                "watch.max_frame_bytes",
                "must be at least 1024",
            ));
        }
        self.reconnect.validate("watch.reconnect")
    }
}

/// Exponential backoff with jitter: `initial`, then multiplied by `multiplier` per failure up to
/// `max`; each delay is moved at random by up to `jitter` (a fraction) so that many clients do not
/// reconnect in step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// First delay after a failure.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// Largest delay.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Growth per consecutive failure.
    pub multiplier: f64,
    /// Random spread, 0.0 to 1.0, as a fraction of the delay.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.3,
        }
    }
}

impl BackoffConfig {
    pub(crate) fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        checks::not_below(&format!("{prefix}.max"), self.max, "initial", self.initial)?;
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(ConfigError::key_error(
                &format!("{prefix}.multiplier"),
                "must be 1.0 or more",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::key_error(
                &format!("{prefix}.jitter"),
                "must be between 0.0 and 1.0",
            ));
        }
        Ok(())
    }
}
