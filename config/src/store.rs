//! `[store]`: the embedded database (redb) that keeps findings, their delivery state, the dedupe
//! set and the feed position across restarts.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What `path` says to keep nothing on disk.
pub const IN_MEMORY: &str = ":memory:";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database file, created with its directory if missing. `":memory:"` keeps nothing
    /// across restarts (for trials and benchmarks). Only one certhound may write it at a time;
    /// `certhound findings` can read it while certhound runs.
    pub path: String,
    /// Findings are committed in groups: at most this long after they were matched...
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// ...or as soon as this many are waiting. Each commit is one fsync.
    pub commit_batch: usize,
    /// Memory the database may use to cache pages, in bytes.
    pub cache_bytes: usize,
    /// Findings delivered (or failed for good) on every channel are deleted after this long;
    /// findings still pending somewhere are kept whatever their age.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: "./data/certhound.redb".into(),
            commit_interval: Duration::from_millis(20),
            commit_batch: 512,
            cache_bytes: 4 << 20,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl StoreConfig {
    pub fn in_memory(&self) -> bool {
        self.path == IN_MEMORY
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.path.trim().is_empty() {
            return Err(ConfigError::key_error(
                "store.path",
                "must be a file path or \":memory:\"",
            ));
        }
        checks::at_least_one(&[("store.commit_batch", self.commit_batch as u64)])?;
        checks::above_zero(&[("store.commit_interval", self.commit_interval)])
    }
}
