//! `[server]`: the certstream-compatible websocket feed of the server role.
//!
//! Paths as CaliDog's server: `/` (lite), `/full-stream`, `/domains-only`, plus `GET /example.json`
//! and `GET /latest.json`. Every message carries a top-level `seq`; a client that reconnects with
//! `?since=SEQ` first receives what it missed from the last `history` messages.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the feed listens on (`0.0.0.0:4000` in a container, as CaliDog's server).
    pub listen: String,
    /// Most websocket clients at once; further connections are refused with HTTP 503 (counted).
    pub max_connections: usize,
    /// Messages queued for one client before it counts as too slow and is cut off (counted), so
    /// that it never slows the others.
    pub client_queue: usize,
    /// Messages kept for clients that reconnect with `?since=SEQ` (and for `/latest.json`). Each
    /// costs about 7 KB (lite, full and domains-only forms are kept).
    pub history: usize,
    /// A websocket ping is sent to each client this often.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// A client that has answered nothing (no pong, no frame) for this long is cut off.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Time allowed for a client's HTTP request head and websocket handshake.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Messages in `GET /latest.json`.
    pub latest: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:4000".into(),
            max_connections: 1024,
            client_queue: 2048,
            history: 4096,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            latest: 25,
        }
    }
}

impl ServerConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::key_error(
                "server.listen",
                format!("`{}` is not an address like 127.0.0.1:4000", self.listen),
            ));
        }
        checks::at_least_one(&[
            ("server.max_connections", self.max_connections as u64),
            ("server.client_queue", self.client_queue as u64),
            ("server.history", self.history as u64),
        ])?;
        checks::not_more_than("server.latest", self.latest, "server.history", self.history)
    }
}
