//! `[supervisor]`: how failed actors are restarted, and when certhound gives up.
//!
//! An actor that stops or panics is restarted after a backoff. More than `restart_budget`
//! restarts within `restart_window` means something is persistently wrong: certhound then exits
//! with code 70 so that ECS (or systemd) replaces the task.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// Restarts allowed within `restart_window`, over all actors.
    pub restart_budget: u32,
    /// The sliding window the budget counts in.
    #[serde(with = "humantime_serde")]
    pub restart_window: Duration,
    /// Delay before the first restart of an actor; doubles per consecutive restart.
    #[serde(with = "humantime_serde")]
    pub restart_backoff: Duration,
    /// Largest delay before a restart.
    #[serde(with = "humantime_serde")]
    pub max_restart_backoff: Duration,
    /// On SIGTERM or SIGINT, time allowed to finish in-flight work before exiting. Keep it
    /// below ECS's `stopTimeout` (30 s by default), which ends with SIGKILL.
    #[serde(with = "humantime_serde")]
    pub shutdown_deadline: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            restart_budget: 10,
            restart_window: Duration::from_secs(60),
            restart_backoff: Duration::from_millis(100),
            max_restart_backoff: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(25),
        }
    }
}

impl SupervisorConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        checks::above_zero(&[("supervisor.restart_window", self.restart_window)])?;
        checks::not_below(
            "supervisor.max_restart_backoff",
            self.max_restart_backoff,
            "supervisor.restart_backoff",
            self.restart_backoff,
        )
    }
}
