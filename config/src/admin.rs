//! `[admin]`: the admin HTTP listener: Prometheus metrics and the health checks an ECS container
//! health check (or a load balancer) calls.

use crate::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin listener: `GET /metrics` (Prometheus text format), `/healthz` (the
    /// process runs) and `/readyz` (it does its job). Empty: no listener. Loopback by default:
    /// in a container set `0.0.0.0:9464` and keep the port off the public network.
    pub listen: String,
    /// `/readyz` answers 503 when the watch role's feed has delivered nothing (heartbeats
    /// count) for this long, or when the server role has read no CT log successfully for this
    /// long.
    #[serde(with = "humantime_serde")]
    pub ready_staleness: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9464".into(),
            ready_staleness: Duration::from_secs(120),
        }
    }
}

impl AdminConfig {
    /// The address to listen on, if any.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.trim().parse().ok()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.listen.trim().is_empty() && self.listen_addr().is_none() {
            return Err(ConfigError::key_error(
                "admin.listen",
                format!(
                    "`{}` is not an address and port (such as 127.0.0.1:9464), nor empty",
                    self.listen
                ),
            ));
        }
        if self.ready_staleness.is_zero() {
            return Err(ConfigError::key_error(
                "admin.ready_staleness",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}
