//! `[dedupe]`: a registrable domain is reported once per window.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeConfig {
    /// After a registrable domain is reported, further certificates for it stay quiet this long.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Registrable domains remembered at most; past it the oldest report is forgotten first.
    /// About 30 bytes each.
    pub capacity: usize,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            window: Duration::from_secs(24 * 3600),
            capacity: 1_000_000,
        }
    }
}

impl DedupeConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        checks::at_least_one(&[("dedupe.capacity", self.capacity as u64)])
    }
}
