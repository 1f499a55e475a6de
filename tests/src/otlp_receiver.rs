//! A loopback OTLP trace receiver: the stand-in for an OpenTelemetry collector (or Jaeger, which
//! cannot be installed on these machines) in the end-to-end tests of certhound's trace export.
//!
//! It speaks the real protocol on two listeners on 127.0.0.1, both on ephemeral ports:
//! - OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, served by tonic
//!   with the service generated in `opentelemetry-proto` (gzip-compressed requests accepted);
//! - OTLP/HTTP with protobuf bodies: `POST /v1/traces`, `Content-Type: application/x-protobuf`,
//!   an `ExportTraceServiceRequest` (optionally `Content-Encoding: gzip`), answered 200 with an
//!   empty `ExportTraceServiceResponse`. Other paths get 404, other methods 405, other content
//!   types 415 (OTLP/JSON is not supported), undecodable bodies 400; those requests are kept as
//!   [`Rejected`] so that a test waiting in vain can say why.
//!
//! Every span received, by either transport, is flattened into a [`ReceivedSpan`] (hex ids,
//! attributes rendered as strings, the resource's `service.name`). Tests wait for what they
//! expect with [`FakeOtlp::wait_for_spans`], woken by each export, never polling.
//!
//! Note for exporters configured in code: `opentelemetry-otlp`'s HTTP exporter appends
//! `/v1/traces` only to an endpoint taken from `OTEL_EXPORTER_OTLP_ENDPOINT`; an endpoint given
//! with `with_endpoint` is used as is, so give it [`FakeOtlp::http_traces_url`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::http_fake::{FakeListener, FakeServer};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// One span as received, flattened.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// Lowercase hex, 32 characters.
    pub trace_id: String,
    /// Lowercase hex, 16 characters.
    pub span_id: String,
    /// `None` for a root span (empty `parent_span_id`).
    pub parent_span_id: Option<String>,
    pub name: String,
    /// The resource attribute `service.name`.
    pub service_name: Option<String>,
    /// Every span attribute, its value rendered as a string: strings as they are, ints, bools and
    /// doubles by `Display`, arrays joined with `,`, key-value lists as `k=v` joined with `,`,
    /// bytes as lowercase hex.
    pub attributes: BTreeMap<String, String>,
    /// The names of the span's events, in order.
    pub events: Vec<String>,
    /// The status code is ERROR.
    pub status_error: bool,
    /// `"grpc"` or `"http"`.
    pub transport: &'static str,
}

/// An OTLP/HTTP request that was not accepted as a trace export.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    /// The status answered.
    pub status: u16,
    pub reason: String,
}

/// Everything received so far.
#[derive(Debug, Clone, Default)]
struct State {
    spans: Vec<ReceivedSpan>,
    /// Export requests accepted, per transport.
    grpc_exports: usize,
    http_exports: usize,
    /// Per accepted export: transport and content encoding (`identity` when uncompressed).
    encodings: Vec<(&'static str, String)>,
    rejected: Vec<Rejected>,
}

impl State {
    fn describe(&self) -> String {
        let mut s = format!(
            "{} span(s) in {} gRPC and {} HTTP export(s)",
            self.spans.len(),
            self.grpc_exports,
            self.http_exports
        );
        for sp in &self.spans {
            let _ = write!(
                s,
                "\n  [{}] {:?} trace {} span {} parent {:?} service {:?} attributes {:?} \
                 events {:?} error {}",
                sp.transport,
                sp.name,
                sp.trace_id,
                sp.span_id,
                sp.parent_span_id,
                sp.service_name,
                sp.attributes,
                sp.events,
                sp.status_error
            );
        }
        for r in &self.rejected {
            let _ = write!(
                s,
                "\n  rejected HTTP {} {} (content-type {:?}): {} {}",
                r.method, r.path, r.content_type, r.status, r.reason
            );
        }
        s
    }
}

/// The running receiver; both listeners stop when it is dropped.
pub struct FakeOtlp {
    grpc_addr: SocketAddr,
    state: watch::Receiver<State>,
    grpc_shutdown: Option<oneshot::Sender<()>>,
    /// The OTLP/HTTP server.
    http: FakeServer,
}

impl FakeOtlp {
    /// Starts both listeners (gRPC and HTTP) on 127.0.0.1, ephemeral ports.
    pub async fn start() -> FakeOtlp {
        let (tx, rx) = watch::channel(State::default());
        let tx = Arc::new(tx);

        let grpc_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 (OTLP/gRPC)");
        let grpc_addr = grpc_listener.local_addr().unwrap();
        let (grpc_shutdown, shutdown_rx) = oneshot::channel::<()>();
        let service = TraceServiceServer::new(GrpcTraces { state: tx.clone() })
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            // Large batches must not be refused by tonic's 4 MiB default.
            .max_decoding_message_size(64 << 20);
        let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(service, incoming, async {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("otlp_receiver: gRPC server failed: {e}");
            }
        });

        let http_listener = FakeListener::bind().await;
        let http = http_listener.serve_http(|| {}, move |req| handle_http(req, tx.clone()));

        FakeOtlp {
            grpc_addr,
            state: rx,
            grpc_shutdown: Some(grpc_shutdown),
            http,
        }
    }

    /// The OTLP/gRPC endpoint, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The OTLP/HTTP base endpoint, `http://127.0.0.1:PORT`, as `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// would be set (the exporter appends `/v1/traces` to that variable's value).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http.addr())
    }

    /// The full OTLP/HTTP traces URL, `http://127.0.0.1:PORT/v1/traces`: what an exporter
    /// configured in code (`with_endpoint`) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` needs.
    pub fn http_traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.http.addr())
    }

    /// Every span received so far, by both transports, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.state.borrow().spans.clone()
    }

    /// The OTLP/HTTP requests refused so far (wrong path, method, content type or body).
    pub fn rejected(&self) -> Vec<Rejected> {
        self.state.borrow().rejected.clone()
    }

    /// Per accepted export, in order: its transport and content encoding (`grpc-encoding` or
    /// `Content-Encoding`; `identity` when uncompressed).
    pub fn encodings(&self) -> Vec<(&'static str, String)> {
        self.state.borrow().encodings.clone()
    }

    /// Export requests accepted so far: (gRPC, HTTP).
    pub fn exports(&self) -> (usize, usize) {
        let s = self.state.borrow();
        (s.grpc_exports, s.http_exports)
    }

    /// Waits until the spans received so far satisfy `pred` (checked now and after each export
    /// or refused request); `Err` describing everything received after `timeout`.
    pub async fn wait_for_spans(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[ReceivedSpan]) -> bool,
    ) -> Result<Vec<ReceivedSpan>, String> {
        match crate::observed::wait_for(&self.state, timeout, |s| pred(&s.spans)).await {
            Ok(s) => Ok(s.spans),
            Err(s) => Err(format!(
                "no match within {timeout:?}; received {}",
                s.describe()
            )),
        }
    }
}

impl Drop for FakeOtlp {
    fn drop(&mut self) {
        // gRPC: stop accepting and let tonic close its connections gracefully (GOAWAY).
        if let Some(tx) = self.grpc_shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Spans grouped by trace id (each group in arrival order).
pub fn traces(spans: &[ReceivedSpan]) -> BTreeMap<String, Vec<ReceivedSpan>> {
    let mut m: BTreeMap<String, Vec<ReceivedSpan>> = BTreeMap::new();
    for s in spans {
        m.entry(s.trace_id.clone()).or_default().push(s.clone());
    }
    m
}

/// The direct children of `parent` (same trace, parent span id = its span id).
pub fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.trace_id == parent.trace_id
                && s.parent_span_id.as_deref() == Some(parent.span_id.as_str())
        })
        .collect()
}

/// Records an accepted export request.
fn record(
    state: &watch::Sender<State>,
    req: ExportTraceServiceRequest,
    transport: &'static str,
    encoding: Option<&str>,
) {
    let spans = flatten(req, transport);
    let encoding = encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "identity".to_string());
    state.send_modify(|s| {
        s.encodings.push((transport, encoding));
        match transport {
            "grpc" => s.grpc_exports += 1,
            _ => s.http_exports += 1,
        }
        s.spans.extend(spans);
    });
}

fn flatten(req: ExportTraceServiceRequest, transport: &'static str) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let service_name = rs.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .map(|kv| render_opt(kv.value.as_ref()))
        });
        for ss in rs.scope_spans {
            for span in ss.spans {
                let status_error = span
                    .status
                    .as_ref()
                    .is_some_and(|st| st.code == OtlpStatusCode::Error as i32);
                out.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    service_name: service_name.clone(),
                    attributes: attributes(&span.attributes),
                    events: span.events.into_iter().map(|e| e.name).collect(),
                    status_error,
                    transport,
                });
            }
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), render_opt(kv.value.as_ref())))
        .collect()
}

fn render_opt(v: Option<&AnyValue>) -> String {
    v.map(render).unwrap_or_default()
}

fn render(v: &AnyValue) -> String {
    match &v.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::ArrayValue(a)) => a.values.iter().map(render).collect::<Vec<_>>().join(","),
        Some(Value::KvlistValue(l)) => l
            .values
            .iter()
            .map(|kv| format!("{}={}", kv.key, render_opt(kv.value.as_ref())))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::BytesValue(b)) => hex(b),
        Some(Value::StringValueStrindex(i)) => format!("strindex:{i}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The gRPC `TraceService`.
struct GrpcTraces {
    state: Arc<watch::Sender<State>>,
}

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        record(
            &self.state,
            request.into_inner(),
            "grpc",
            encoding.as_deref(),
        );
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// One OTLP/HTTP request.
async fn handle_http(
    req: Request<Incoming>,
    state: Arc<watch::Sender<State>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    let reject = |status: StatusCode, reason: String| {
        state.send_modify(|s| {
            s.rejected.push(Rejected {
                method: method.to_string(),
                path: path.clone(),
                content_type: content_type.clone(),
                status: status.as_u16(),
                reason: reason.clone(),
            })
        });
        Ok(Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(reason)))
            .unwrap())
    };

    if path != "/v1/traces" {
        return reject(StatusCode::NOT_FOUND, format!("no OTLP endpoint at {path}"));
    }
    if method != Method::POST {
        return reject(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not POST"),
        );
    }
    // `application/x-protobuf`, parameters (`; charset=...`) tolerated.
    let media_type = content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    if media_type.as_deref() != Some("application/x-protobuf") {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "only application/x-protobuf is supported".to_string(),
        );
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return reject(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
    };
    let body: Vec<u8> = match content_encoding.as_deref().map(str::trim) {
        None | Some("") | Some("identity") => body.to_vec(),
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
                return reject(StatusCode::BAD_REQUEST, format!("gunzip: {e}"));
            }
            out
        }
        Some(enc) => {
            return reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content-encoding {enc} is not supported"),
            )
        }
    };
    let export = match ExportTraceServiceRequest::decode(&body[..]) {
        Ok(r) => r,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                format!("not an ExportTraceServiceRequest: {e}"),
            )
        }
    };
    record(&state, export, "http", content_encoding.as_deref());
    let answer = ExportTraceServiceResponse {
        partial_success: None,
    }
    .encode_to_vec();
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::from(answer)))
        .unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Status, TraceContextExt as _, Tracer as _};
    use opentelemetry::{Context, KeyValue as OtelKeyValue};
    use opentelemetry_otlp::{
        Protocol, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
    };
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;

    const WAIT: Duration = Duration::from_secs(30);

    /// A parent span with an attribute and a child with an event and an error status, ended and
    /// flushed by shutting the provider down.
    fn emit_parent_and_child(provider: SdkTracerProvider) {
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "otlp-receiver-test");
        let parent = tracer
            .span_builder("parent-op")
            .with_attributes(vec![
                OtelKeyValue::new("cert.domain", "example.com"),
                OtelKeyValue::new("cert.index", 42_i64),
                OtelKeyValue::new("cert.precert", true),
            ])
            .start(&tracer);
        let cx = Context::new().with_span(parent);
        let mut child = tracer.start_with_context("child-op", &cx);
        child.add_event("matched", vec![OtelKeyValue::new("keyword", "paypal")]);
        child.set_status(Status::error("boom"));
        child.end();
        cx.span().end();
        provider.shutdown().expect("provider shutdown (flush)");
    }

    async fn assert_parent_and_child(rx: &FakeOtlp, transport: &str, service: &str) {
        let spans = rx
            .wait_for_spans(WAIT, |s| {
                s.iter().any(|s| s.name == "parent-op") && s.iter().any(|s| s.name == "child-op")
            })
            .await
            .unwrap();
        let parent = spans.iter().find(|s| s.name == "parent-op").unwrap();
        let child = spans.iter().find(|s| s.name == "child-op").unwrap();
        assert_eq!(parent.transport, transport);
        assert_eq!(child.transport, transport);
        assert_eq!(parent.trace_id.len(), 32);
        assert_eq!(parent.span_id.len(), 16);
        assert!(parent
            .trace_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(parent.parent_span_id, None);
        assert_eq!(
            child.parent_span_id.as_deref(),
            Some(parent.span_id.as_str())
        );
        assert_eq!(parent.attributes.get("cert.domain").unwrap(), "example.com");
        assert_eq!(parent.attributes.get("cert.index").unwrap(), "42");
        assert_eq!(parent.attributes.get("cert.precert").unwrap(), "true");
        assert_eq!(child.events, vec!["matched".to_string()]);
        assert!(child.status_error);
        assert!(!parent.status_error);
        assert_eq!(parent.service_name.as_deref(), Some(service));
        assert_eq!(child.service_name.as_deref(), Some(service));

        let by_trace = traces(&spans);
        assert_eq!(by_trace[&parent.trace_id].len(), 2);
        let kids = children(&spans, parent);
        assert_eq!(kids.len(), 1);
        assert_eq!(kids[0].span_id, child.span_id);
        assert!(children(&spans, child).is_empty());
        assert!(rx.rejected().is_empty(), "{:?}", rx.rejected());
    }

    fn resource(service: &str) -> Resource {
        Resource::builder()
            .with_service_name(service.to_string())
            .build()
    }

    /// Exports a parent and a child span of `service` over OTLP/gRPC through the SDK's batch
    /// span processor (its own thread), as an application would set it up; the tonic exporter
    /// is built inside the runtime.
    async fn grpc_export(
        rx: &FakeOtlp,
        compression: Option<opentelemetry_otlp::Compression>,
        timeout: Option<Duration>,
        service: &str,
    ) {
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(rx.grpc_endpoint());
        if let Some(c) = compression {
            builder = builder.with_compression(c);
        }
        if let Some(t) = timeout {
            builder = builder.with_timeout(t);
        }
        let exporter = builder.build().expect("tonic span exporter");
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource(service))
            .build();
        // Shutdown blocks until the batch processor's thread has exported.
        tokio::task::spawn_blocking(move || emit_parent_and_child(provider))
            .await
            .unwrap();
    }

    /// OTLP/gRPC, uncompressed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_export_from_the_real_exporter() {
        let rx = FakeOtlp::start().await;
        grpc_export(
            &rx,
            None,
            Some(Duration::from_secs(10)),
            "certhound-grpc-test",
        )
        .await;
        assert_parent_and_child(&rx, "grpc", "certhound-grpc-test").await;
        assert!(rx.exports().0 >= 1);
        assert!(rx
            .encodings()
            .iter()
            .all(|(t, e)| *t == "grpc" && e == "identity"));
    }

    /// OTLP/gRPC with gzip-compressed requests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_gzip_export_from_the_real_exporter() {
        let rx = FakeOtlp::start().await;
        grpc_export(
            &rx,
            Some(opentelemetry_otlp::Compression::Gzip),
            None,
            "certhound-grpc-gzip-test",
        )
        .await;
        assert_parent_and_child(&rx, "grpc", "certhound-grpc-gzip-test").await;
        assert!(rx
            .encodings()
            .iter()
            .all(|(t, e)| *t == "grpc" && e == "gzip"));
    }

    /// The HTTP exporter with the async reqwest client needs a Tokio runtime on the exporting
    /// thread: the simple span processor exports on the thread that ends the span, here a
    /// blocking thread of the test's runtime.
    async fn http_export(
        compression: Option<opentelemetry_otlp::Compression>,
        service: &str,
        encoding: &str,
    ) {
        let rx = FakeOtlp::start().await;
        let url = rx.http_traces_url();
        let svc = service.to_string();
        tokio::task::spawn_blocking(move || {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(url);
            if let Some(c) = compression {
                builder = builder.with_compression(c);
            }
            let exporter = builder.build().expect("HTTP span exporter");
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter)
                .with_resource(resource(&svc))
                .build();
            emit_parent_and_child(provider);
        })
        .await
        .unwrap();
        assert_parent_and_child(&rx, "http", service).await;
        assert_eq!(rx.exports().0, 0);
        assert!(rx.exports().1 >= 1);
        assert!(rx
            .encodings()
            .iter()
            .all(|(t, e)| *t == "http" && e == encoding));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_protobuf_export_from_the_real_exporter() {
        http_export(None, "certhound-http-test", "identity").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_gzip_export_from_the_real_exporter() {
        http_export(
            Some(opentelemetry_otlp::Compression::Gzip),
            "certhound-http-gzip-test",
            "gzip",
        )
        .await;
    }

    /// POSTs `body` with this content type.
    async fn post(
        client: &reqwest::Client,
        url: String,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        client
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Wrong path, wrong content type and a garbage body are refused (and recorded), a correct
    /// hand-made request is answered with an empty protobuf response; a failed wait describes
    /// what was received.
    #[tokio::test]
    async fn http_refusals_and_a_hand_made_export() {
        let rx = FakeOtlp::start().await;
        let client = reqwest::Client::new();
        let base = rx.http_endpoint();

        let r = post(
            &client,
            format!("{base}/"),
            "application/x-protobuf",
            Vec::new(),
        )
        .await;
        assert_eq!(r.status().as_u16(), 404);
        let r = post(&client, rx.http_traces_url(), "application/json", "{}").await;
        assert_eq!(r.status().as_u16(), 415);
        let r = post(
            &client,
            rx.http_traces_url(),
            "application/x-protobuf",
            vec![0xff, 0xff, 0xff],
        )
        .await;
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(rx.rejected().len(), 3);

        let err = rx
            .wait_for_spans(Duration::from_millis(200), |s| !s.is_empty())
            .await
            .unwrap_err();
        assert!(err.contains("0 span(s)"), "{err}");
        assert!(err.contains("rejected HTTP POST / "), "{err}");

        use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as PbSpan};
        let kv = |k: &str, v: Value| KeyValue {
            key: k.to_string(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(PbResource {
                    attributes: vec![kv("service.name", Value::StringValue("hand".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![PbSpan {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: "hand-made".into(),
                        attributes: vec![
                            kv("d", Value::DoubleValue(1.5)),
                            kv(
                                "a",
                                Value::ArrayValue(
                                    opentelemetry_proto::tonic::common::v1::ArrayValue {
                                        values: vec![
                                            AnyValue {
                                                value: Some(Value::IntValue(1)),
                                            },
                                            AnyValue {
                                                value: Some(Value::StringValue("x".into())),
                                            },
                                        ],
                                    },
                                ),
                            ),
                        ],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let r = post(
            &client,
            rx.http_traces_url(),
            "application/x-protobuf",
            req.encode_to_vec(),
        )
        .await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers().get("content-type").unwrap(),
            "application/x-protobuf"
        );
        let answer = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
        assert!(answer.partial_success.is_none());

        let spans = rx.wait_for_spans(WAIT, |s| !s.is_empty()).await.unwrap();
        assert_eq!(spans[0].trace_id, "ab".repeat(16));
        assert_eq!(spans[0].span_id, "01".repeat(8));
        assert_eq!(spans[0].parent_span_id, None);
        assert_eq!(spans[0].service_name.as_deref(), Some("hand"));
        assert_eq!(spans[0].attributes["d"], "1.5");
        assert_eq!(spans[0].attributes["a"], "1,x");
        assert_eq!(spans[0].transport, "http");
    }
}
