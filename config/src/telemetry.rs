//! `[telemetry]`: OpenTelemetry traces exported over OTLP (to Jaeger, an OpenTelemetry
//! collector, AWS X-Ray through the ADOT collector...).
//!
//! One trace per finding, from the match through the store, the registration lookup, the
//! urlscan scan and every channel's delivery; in the server role one trace per CT fetch batch.
//! Certificates that match nothing are never traced: the per-certificate path costs nothing.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How spans are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (port 4317).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318, path /v1/traces).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Export traces. Off by default.
    pub enabled: bool,
    /// Where to send them. Empty: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` if set, else `http://localhost:4317` (gRPC) or
    /// `http://localhost:4318` (HTTP, `/v1/traces` appended).
    pub endpoint: String,
    /// `grpc` or `http/protobuf`. `OTEL_EXPORTER_OTLP_PROTOCOL` overrides it when set.
    pub protocol: OtlpProtocol,
    /// The `service.name` of the spans; `OTEL_SERVICE_NAME` overrides it when set.
    pub service_name: String,
    /// Fraction of traces kept (0.0 to 1.0), decided per trace at its root: a finding's spans
    /// are all kept or all dropped.
    pub sample_ratio: f64,
    /// Spans queued for export at most; past it new spans are dropped (and counted by the
    /// exporter), never waited for.
    pub max_queue: usize,
    /// Longest wait for one export request.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
    /// Longest wait at exit for the spans still queued to be sent: a collector that is gone
    /// must not hold up a shutdown (ECS's stop timeout runs meanwhile).
    #[serde(with = "humantime_serde")]
    pub exit_flush_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            enabled: false,
            endpoint: String::new(),
            protocol: OtlpProtocol::Grpc,
            service_name: "certhound".into(),
            sample_ratio: 1.0,
            max_queue: 2048,
            export_timeout: Duration::from_secs(10),
            exit_flush_timeout: Duration::from_secs(2),
        }
    }
}

impl TelemetryConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError::key_error(
                "telemetry.sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        checks::at_least_one(&[("telemetry.max_queue", self.max_queue as u64)])?;
        let e = self.endpoint.trim();
        if !(e.is_empty() || e.starts_with("http://") || e.starts_with("https://")) {
            return Err(ConfigError::key_error(
                "telemetry.endpoint",
                format!("`{e}` is not an http:// or https:// URL"),
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::key_error(
                "telemetry.service_name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}
