//! A TCP proxy on 127.0.0.1 that a test can cut: every connection is forwarded to a target
//! address byte for byte until [`TcpProxy::cut`] drops them all (no close frame, no FIN
//! handshake of the protocol above: the connection just ends, as when a load balancer or NAT
//! forgets it). New connections keep being accepted after a cut. [`TcpProxy::set_down`] makes
//! the target unreachable (each new connection is closed at once) until it is set up again.
//!
//! Used to force disconnects between certhound's watch role and its server role without either
//! of them knowing it is a test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    addr: SocketAddr,
    generation: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    down: Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (generation, gen_rx) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_down = down.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if is_down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = gen_rx.clone();
                let born = *cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut ur, mut uw) = upstream.into_split();
                    let up = tokio::io::copy(&mut cr, &mut uw);
                    let down = tokio::io::copy(&mut ur, &mut cw);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = async { while cut.changed().await.is_ok() {
                            if *cut.borrow() != born { break; }
                        } } => {}
                    }
                    // Dropping both halves of both sockets ends the connection at once.
                });
            }
        });
        TcpProxy {
            addr,
            generation,
            accepted,
            down,
            task,
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Down: cuts every connection and closes each new one at once; up: forwards again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
