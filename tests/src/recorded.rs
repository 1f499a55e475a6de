//! A request as an HTTP fake received it: read whole once ([`Recorded::read`]), then kept in
//! the fake's own record of it (each fake adds what it makes of the request: the API method, the
//! domain asked about, the status it answered).

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use tokio::time::Instant;

/// One HTTP request, read whole.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Arrival (before the body was read).
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// The query without its `?` (`None` without one).
    pub query: Option<String>,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text (a body that fails to arrive counts as empty).
    pub body: String,
}

impl Recorded {
    /// Reads `req` whole.
    pub async fn read(req: Request<Incoming>) -> Recorded {
        let at = Instant::now();
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().map(str::to_string);
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        // A body that fails to arrive counts as empty.
        let body = req.into_body().collect().await.map(|b| b.to_bytes());
        Recorded {
            body: String::from_utf8_lossy(&body.unwrap_or_default()).into_owned(),
            at,
            method,
            path,
            query,
            headers,
        }
    }

    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first value of a header in `headers` (names lowercased), name case-insensitive.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}
