//! `[notify]`: the channels findings are delivered to. A channel whose section is absent is off.

use crate::ConfigError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// One JSON object per finding, one per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<JsonlConfig>,
}

impl NotifyConfig {
    /// What applies when the file has no `[notify]` section: JSON lines on stdout.
    pub fn default_channels() -> Self {
        NotifyConfig {
            jsonl: Some(JsonlConfig { path: "-".into() }),
        }
    }

    /// Names of the channels that are on.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.jsonl.is_some() {
            v.push("jsonl");
        }
        v
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.channels().is_empty() {
            return Err(ConfigError::key_error(
                "notify",
                "no channel is configured; add e.g. [notify.jsonl] with path = \"-\"",
            ));
        }
        if let Some(j) = &self.jsonl {
            if j.path.trim().is_empty() {
                return Err(ConfigError::key_error(
                    "notify.jsonl.path",
                    "must be a file path or \"-\" for stdout",
                ));
            }
        }
        Ok(())
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self::default_channels()
    }
}

/// `[notify.jsonl]`: findings as JSON lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// File to append to, created if missing; `-` is stdout. Required.
    pub path: String,
}
