//! The admin listener's HTTP/1.1: one request per connection, read with limits, answered, closed.
//!
//! The callers are a scraper every few seconds, a health check, and an analyst's browser; none
//! gains from keep-alive, and a request that is too large or too slow is answered 400/408/413
//! and closed, so a port scanner or a stuck client cannot hold the listener. A browser opening a
//! page with fifty thumbnails opens connections in parallel, each served on its own task.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Largest request body read: a verdict form is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;
/// Time a client has to send its whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed request.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The query's pairs, decoded (`application/x-www-form-urlencoded`).
    pub query: Vec<(String, String)>,
    /// Header names in lowercase; a repeated header keeps its first value.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The first value of query parameter `name`, when not empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The body's pairs, for a form POST (`application/x-www-form-urlencoded`).
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// The first non-empty value of `name` among `pairs`.
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    pub fn html(body: String) -> Response {
        Response::new(200, "text/html; charset=utf-8", body)
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status, "application/json", value.to_string())
    }

    /// `303 See Other` to `location` (after a form POST, so a reload does not post again).
    pub fn see_other(location: String) -> Response {
        Response::text(303, "see other\n").with("Location", location)
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// Reads one request; `Err` is the answer to give instead (400, 408, 413), `Ok(None)` a
/// connection closed before it sent anything.
pub async fn read_request(
    conn: &mut TcpStream,
) -> std::io::Result<Result<Option<Request>, Response>> {
    match tokio::time::timeout(REQUEST_TIMEOUT, read_inner(conn)).await {
        Err(_) => Ok(Err(Response::text(408, "request not received in time\n"))),
        Ok(r) => r,
    }
}

async fn read_inner(conn: &mut TcpStream) -> std::io::Result<Result<Option<Request>, Response>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(Err(Response::text(400, "request head too large\n")));
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(Ok(None));
            }
            return Ok(Err(Response::text(400, "request head incomplete\n")));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut req = match parse_head(&buf[..head_end]) {
        Some(r) => r,
        None => return Ok(Err(Response::text(400, "bad request\n"))),
    };
    if req.header("transfer-encoding").is_some() {
        return Ok(Err(Response::text(
            411,
            "send a Content-Length, not chunks\n",
        )));
    }
    let len = match req
        .header("content-length")
        .map(|v| v.trim().parse::<usize>())
    {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Ok(Err(Response::text(400, "bad Content-Length\n"))),
    };
    if len > MAX_BODY {
        return Ok(Err(Response::text(413, "request body too large\n")));
    }
    let mut body = buf.split_off(head_end);
    while body.len() < len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Err(Response::text(400, "request body incomplete\n")));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    req.body = body;
    Ok(Ok(Some(req)))
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut parsed = httparse::Request::new(&mut headers);
    if !matches!(parsed.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let target = parsed.path?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path)?;
    let mut req = Request {
        method: parsed.method?.to_string(),
        path,
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        ..Request::default()
    };
    for h in parsed.headers.iter() {
        let value = String::from_utf8_lossy(h.value).into_owned();
        req.headers
            .entry(h.name.to_ascii_lowercase())
            .or_insert(value);
    }
    Some(req)
}

/// `%XX` decoding of a path; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Writes `resp` (without its body for HEAD) and closes the connection. Every answer carries
/// the headers that keep a browser from running or framing anything: the page has no scripts
/// at all, and attacker-controlled text is only ever text.
pub async fn write_response(
    conn: &mut TcpStream,
    resp: Response,
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    for (name, value) in &resp.headers {
        // Values are ours (a redirect to a checked local path, a realm); never a newline.
        let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    if !head_only {
        out.extend_from_slice(&resp.body);
    }
    conn.write_all(&out).await?;
    conn.shutdown().await
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_decoded() {
        let r = parse_head(
            b"GET /findings/ab12%3A7?q=pay%20pal&rule=lookalike&q=second HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.path, "/findings/ab12:7");
        assert_eq!(r.param("q"), Some("pay pal"));
        assert_eq!(r.param("rule"), Some("lookalike"));
        assert_eq!(r.header("x-a"), Some("1"));
        assert_eq!(percent_decode("/a%2"), Some("/a%2".into()));
        assert_eq!(percent_decode("/%ff"), None);
    }
}
