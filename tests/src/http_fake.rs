//! What every loopback fake is built on: a listener on 127.0.0.1 ([`FakeListener`]), its accept
//! loop with one task per connection, everything stopped when the server is dropped
//! ([`FakeServer`]), and the running fake itself ([`Fake`]): the state its handler shares with
//! the test's calls, the state it publishes for tests to wait on ([`Observed`]) and its server.
//! The HTTP fakes (CT log, RDAP, urlscan, Telegram, webhook, OTLP/HTTP) serve HTTP/1.1 with
//! keep-alive ([`FakeListener::serve_http`]); the certstream feeds (websocket) and WHOIS (plain
//! TCP) serve the raw connection ([`FakeListener::serve_tcp`]). Each fake brings only its
//! handler, its shared part and its published state; its type is `Fake<its Shared, its State>`
//! under its own name (`pub type FakeRdap = Fake<Shared, RdapState>`), with its own methods.
//!
//! Binding comes first ([`FakeListener::bind`]) so that a fake knows its own address before it
//! builds what it serves (the RDAP bootstrap names the fake's URL).

use crate::observed::Observed;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A listener on 127.0.0.1 with a free port, not serving yet.
pub struct FakeListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl FakeListener {
    pub async fn bind() -> FakeListener {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        FakeListener { listener, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves every accepted connection (`TCP_NODELAY` set) with the future `serve` returns
    /// for it, each in its own task. `serve` itself runs in the accept loop, so that what it
    /// does before returning its future (counting the connection) happens in accept order.
    pub fn serve_tcp<F, Fut>(self, serve: F) -> FakeServer
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let FakeListener { listener, addr } = self;
        let conn_tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept_task = {
            let conn_tasks = conn_tasks.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let _ = tcp.set_nodelay(true);
                    let task = tokio::spawn(serve(tcp));
                    // Finished connections are let go, so that a long test holds only the
                    // open ones.
                    let mut tasks = conn_tasks.lock().unwrap();
                    tasks.retain(|t| !t.is_finished());
                    tasks.push(task);
                }
            })
        };
        FakeServer {
            addr,
            accept_task,
            conn_tasks,
            on_drop: None,
        }
    }

    /// Serves every connection as HTTP/1.1 with keep-alive, each request with `handle`;
    /// `on_connection` runs once per accepted connection (the fakes that count connections
    /// count there). A handler's `Err` closes the connection without an answer, as a server
    /// that hangs up does.
    pub fn serve_http<H, Fut, E>(
        self,
        on_connection: impl Fn() + Send + 'static,
        handle: H,
    ) -> FakeServer
    where
        H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_tcp(move |tcp| {
            on_connection();
            let handle = handle.clone();
            async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tcp), service_fn(handle))
                    .await;
            }
        })
    }
}

/// A running server; stops accepting and closes every connection when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
    conn_tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl FakeServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `stop` when the server is dropped, after its tasks are stopped: for what a fake
    /// holds beyond them (connections parked open, a gate waited on).
    pub fn on_drop(mut self, stop: impl FnOnce() + Send + Sync + 'static) -> FakeServer {
        self.on_drop = Some(Box::new(stop));
        self
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.accept_task.abort();
        for t in self.conn_tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        if let Some(stop) = self.on_drop.take() {
            stop();
        }
    }
}

/// A running fake: `shared` is what its connection handlers and the test's calls share (its
/// script, its configuration, the sender of its state), `St` the state it publishes after each
/// change. It stops (and closes every connection) when dropped.
pub struct Fake<Sh, St> {
    pub(crate) shared: Arc<Sh>,
    state: watch::Receiver<St>,
    server: FakeServer,
}

impl<Sh: Send + Sync + 'static, St> Fake<Sh, St> {
    /// Starts a fake on `listener`: `shared` is built around the sender of its state (which
    /// starts as `St::default()`), then `serve` starts the server with it.
    pub fn serve(
        listener: FakeListener,
        shared: impl FnOnce(watch::Sender<St>) -> Sh,
        serve: impl FnOnce(FakeListener, &Arc<Sh>) -> FakeServer,
    ) -> Self
    where
        St: Default,
    {
        let (tx, state) = watch::channel(St::default());
        let shared = Arc::new(shared(tx));
        let server = serve(listener, &shared);
        Fake {
            shared,
            state,
            server,
        }
    }

    /// Starts an HTTP fake on `listener` ([`FakeListener::serve_http`]): `handle` answers each
    /// request with the shared part; `on_connection` runs once per accepted connection.
    pub fn serve_http<H, Fut, E>(
        listener: FakeListener,
        shared: impl FnOnce(watch::Sender<St>) -> Sh,
        on_connection: fn(&Sh),
        handle: H,
    ) -> Self
    where
        St: Default,
        H: Fn(Request<Incoming>, Arc<Sh>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Self::serve(listener, shared, |listener, shared| {
            let counting = shared.clone();
            let serving = shared.clone();
            listener.serve_http(
                move || on_connection(&counting),
                move |req| handle(req, serving.clone()),
            )
        })
    }

    /// Starts a raw TCP fake on `listener` ([`FakeListener::serve_tcp`]): `serve` gets each
    /// connection with the shared part.
    pub fn serve_tcp<F, Fut>(
        listener: FakeListener,
        shared: impl FnOnce(watch::Sender<St>) -> Sh,
        serve: F,
    ) -> Self
    where
        St: Default,
        F: Fn(TcpStream, Arc<Sh>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::serve(listener, shared, |listener, shared| {
            let shared = shared.clone();
            listener.serve_tcp(move |tcp| serve(tcp, shared.clone()))
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT/`: what an HTTP fake stands in for (the RDAP base URL,
    /// `https://urlscan.io/`).
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr())
    }
}

impl<Sh, St: Clone + Send + Sync + 'static> Observed for Fake<Sh, St> {
    type State = St;

    fn observed(&self) -> &watch::Receiver<St> {
        &self.state
    }
}
