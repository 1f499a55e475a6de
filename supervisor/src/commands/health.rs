//! `certhound health`: asks the running certhound's admin listener whether it is ready
//! (`GET /readyz`, or `/healthz` with `--live`) and exits 0 only on a 200. It is the container
//! health check of the image: the image has no curl, and this needs nothing but the binary and
//! the config the process itself was started with (so it finds the port without being told).
//!
//! Plain HTTP/1.0 over a std `TcpStream` with short timeouts: a health check must not hang
//! longer than the orchestrator's own timeout, and needs no runtime.

use crate::exit::Exit;
use certhound_config::AdminConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Time allowed to connect, and to read the answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the check against `addr`, else admin.listen; returns the exit code (0 ready, 1 not
/// ready or unreachable, 2 no listener to ask).
pub fn run(admin: &AdminConfig, addr: Option<SocketAddr>, live: bool) -> Exit {
    let Some(addr) = addr.or_else(|| admin.listen_addr()) else {
        eprintln!("certhound: admin.listen is empty: no listener to ask");
        return Exit::Config;
    };
    let path = if live { "/healthz" } else { "/readyz" };
    match get(local(addr), path) {
        Ok((200, body)) => {
            println!("{}", body.trim());
            Exit::Ok
        }
        Ok((status, body)) => {
            println!("HTTP {status}: {}", body.trim());
            Exit::Failure
        }
        Err(e) => {
            eprintln!("certhound: cannot reach the admin listener at {addr}: {e}");
            Exit::Failure
        }
    }
}

/// A wildcard listen address is reached on loopback.
fn local(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// One GET; the status and (up to 64 KiB of) the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(64 * 1024).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Ok((status, body.to_string()))
}
