//! `[delivery]`: how each channel works through its queue of stored findings.
//!
//! Each channel has its own delivery loop: it takes up to `batch` pending findings from the store
//! in the order they were found, delivers them one by one and marks them sent in one commit.
//! Transient failures (network, timeouts, 429, 5xx) are retried with `retry` backoff, forever:
//! a finding is never given up for a passing outage. Permanent failures (a 4xx that retrying
//! cannot fix) are recorded with their reason and shown by `certhound findings`.

use crate::{checks, BackoffConfig, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Findings taken from the store per round (and marked sent per commit).
    pub batch: usize,
    /// Backoff between attempts after a transient failure.
    pub retry: BackoffConfig,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            batch: 64,
            retry: BackoffConfig {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(300),
                multiplier: 2.0,
                jitter: 0.3,
            },
        }
    }
}

impl DeliveryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        checks::at_least_one(&[("delivery.batch", self.batch as u64)])?;
        self.retry.validate("delivery.retry")
    }
}
