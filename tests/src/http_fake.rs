//! The loopback HTTP/1.1 server under every HTTP fake (CT log, RDAP, urlscan, Telegram, webhook,
//! OTLP/HTTP): bind, accept, one task per connection with keep-alive, and everything stopped
//! when the server is dropped. Each fake brings only its handler and its state.
//!
//! Binding comes first ([`HttpListener::bind`]) so that a fake knows its own address before it
//! builds what it serves (the RDAP bootstrap names the fake's URL).

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A listener on 127.0.0.1 with a free port, not serving yet.
pub struct HttpListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl HttpListener {
    pub async fn bind() -> HttpListener {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        HttpListener { listener, addr }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves every connection with `handle`; `on_connection` runs once per accepted connection
    /// (the fakes that count connections count there). A handler's `Err` closes the connection
    /// without an answer, as a server that hangs up does.
    pub fn serve<H, Fut, E>(
        self,
        on_connection: impl Fn() + Send + 'static,
        handle: H,
    ) -> HttpServer
    where
        H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let HttpListener { listener, addr } = self;
        let conn_tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept_task = {
            let conn_tasks = conn_tasks.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let _ = tcp.set_nodelay(true);
                    on_connection();
                    let handle = handle.clone();
                    let task = tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(tcp), service_fn(handle))
                            .await;
                    });
                    // Finished connections are let go, so that a long test holds only the
                    // open ones.
                    let mut tasks = conn_tasks.lock().unwrap();
                    tasks.retain(|t| !t.is_finished());
                    tasks.push(task);
                }
            })
        };
        HttpServer {
            addr,
            accept_task,
            conn_tasks,
        }
    }
}

/// A running server; stops accepting and closes every connection when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    accept_task: JoinHandle<()>,
    conn_tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl HttpServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.accept_task.abort();
        for t in self.conn_tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}
