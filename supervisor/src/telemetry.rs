//! Trace export (`[telemetry]`): the spans of target `certhound::trace` (see
//! `certhound_actors::trace`) go through `tracing-opentelemetry` to a batch span processor and
//! an OTLP exporter, gRPC (tonic) or HTTP/protobuf.
//!
//! The batch processor runs on a thread of its own with a bounded queue
//! (`telemetry.max_queue`): a span ends without waiting for the network, and when the collector
//! is slow or gone spans are dropped, never the pipeline held up. The gRPC exporter needs a
//! tokio reactor for its connection: it gets a one-thread runtime of its own, so that it does
//! not depend on which actor's runtime happens to be current. At exit [`Telemetry::shutdown`]
//! sends what is queued, for at most `telemetry.exit_flush_timeout`: with the collector down the
//! SDK's own bound (5 s of failing exports) would otherwise be added to every shutdown.
//!
//! The standard variables are honoured: `OTEL_EXPORTER_OTLP_ENDPOINT` (and `..._TRACES_...`)
//! when `telemetry.endpoint` is empty, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`.

use certhound_config::{OtlpProtocol, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use opentelemetry_sdk::Resource;

/// The exporter in use; keep it until the process exits.
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// The gRPC exporter's runtime (dropped after the provider shut down).
    runtime: Option<tokio::runtime::Runtime>,
    pub tracer: opentelemetry_sdk::trace::Tracer,
    pub description: String,
    exit_flush_timeout: std::time::Duration,
}

/// The protocol: `OTEL_EXPORTER_OTLP_PROTOCOL` when it names one we speak, else the config's.
fn protocol(cfg: &TelemetryConfig) -> OtlpProtocol {
    match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok().as_deref() {
        Some("grpc") => OtlpProtocol::Grpc,
        Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
        _ => cfg.protocol,
    }
}

/// Builds the exporter; `Err` says why (the process then runs without traces and logs it).
pub fn init(cfg: &TelemetryConfig) -> Result<Telemetry, String> {
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| cfg.service_name.clone());
    let endpoint = cfg.endpoint.trim().trim_end_matches('/').to_string();
    let protocol = protocol(cfg);
    let (exporter, runtime) = match protocol {
        OtlpProtocol::Grpc => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otlp")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the OTLP runtime: {e}"))?;
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_protocol(Protocol::Grpc)
                .with_timeout(cfg.export_timeout);
            if !endpoint.is_empty() {
                b = b.with_endpoint(endpoint.clone());
            }
            let _entered = rt.enter();
            let exporter = b.build().map_err(|e| format!("OTLP/gRPC exporter: {e}"))?;
            drop(_entered);
            (exporter, Some(rt))
        }
        OtlpProtocol::HttpProtobuf => {
            // A blocking client, named rather than left to the exporter's choice (which
            // prefers an async client when any crate of the build enables one, and an async
            // client has no runtime on the span processor's thread). Built here, before any
            // runtime exists: a blocking client must not be created inside one.
            let client = reqwest::blocking::Client::builder()
                .timeout(cfg.export_timeout)
                .build()
                .map_err(|e| format!("OTLP/HTTP client: {e}"))?;
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_protocol(Protocol::HttpBinary)
                .with_timeout(cfg.export_timeout);
            if !endpoint.is_empty() {
                b = b.with_endpoint(format!("{endpoint}/v1/traces"));
            }
            let exporter = b.build().map_err(|e| format!("OTLP/HTTP exporter: {e}"))?;
            (exporter, None)
        }
    };
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(cfg.max_queue)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            cfg.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("certhound");
    let description = format!(
        "{} to {} as {service}, sampling {}",
        match protocol {
            OtlpProtocol::Grpc => "OTLP/gRPC",
            OtlpProtocol::HttpProtobuf => "OTLP/HTTP",
        },
        if endpoint.is_empty() {
            "the OTEL_EXPORTER_OTLP_ENDPOINT or default endpoint".to_string()
        } else {
            endpoint
        },
        cfg.sample_ratio
    );
    Ok(Telemetry {
        provider,
        runtime,
        tracer,
        description,
        exit_flush_timeout: cfg.exit_flush_timeout,
    })
}

impl Telemetry {
    /// Exports what is queued (within `exit_flush_timeout`) and stops the exporter.
    pub fn shutdown(mut self) {
        if let Err(e) = self.provider.shutdown_with_timeout(self.exit_flush_timeout) {
            eprintln!("certhound: trace export at exit: {e}");
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
