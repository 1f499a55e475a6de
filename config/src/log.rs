//! `[log]`: how certhound writes its own logs (to stderr; findings go to the notifiers).

use serde::{Deserialize, Serialize};

/// Output format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, for terminals.
    Human,
    /// One JSON object per event, for CloudWatch Logs and other collectors.
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,certhound_actors=debug`. `RUST_LOG`, when set,
    /// takes precedence.
    pub filter: String,
    /// How often the pipeline's counters are written as one `metrics` log event.
    #[serde(with = "humantime_serde")]
    pub metrics_interval: std::time::Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            filter: "info".into(),
            metrics_interval: std::time::Duration::from_secs(60),
        }
    }
}
