//! `[pipeline]`: the bounded queues between the actors of the watch role.
//!
//! The feed is never slowed down by the matcher: when the matcher's queue is full, the batch is
//! shed and counted (`shed_messages`). A finding, once matched, is never shed: the matcher waits
//! for room in the recorder's queue instead (which in turn fills its own). After the recorder
//! the findings are in the store, and each stage and channel works through its own queue there.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Certificates per batch handed from the stream actor to the matcher.
    pub batch_size: usize,
    /// A partly filled batch is handed on after this long.
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// Batches waiting for the matcher, at most. Past it, batches from the feed are shed and counted.
    pub matcher_queue: usize,
    /// Batches of findings waiting for the recorder (the store's writer), at most. Past it the
    /// matcher waits: a finding is never dropped.
    pub recorder_queue: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 256,
            batch_linger: Duration::from_millis(20),
            matcher_queue: 64,
            recorder_queue: 64,
        }
    }
}

impl PipelineConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        checks::at_least_one(&[
            ("pipeline.batch_size", self.batch_size as u64),
            ("pipeline.matcher_queue", self.matcher_queue as u64),
            ("pipeline.recorder_queue", self.recorder_queue as u64),
        ])
    }
}
