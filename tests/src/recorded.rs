//! The requests an HTTP fake received: each read whole once ([`Recorded::read`]), then numbered
//! in arrival order and kept with what the fake made of it ([`Recorded::with`]: the status it
//! answered, the body as JSON, the domain asked about...), whose fields read as the record's own
//! (`r.status`).

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use std::ops::Deref;
use tokio::time::Instant;

/// One HTTP request, read whole, and `A`, what the fake made of it (nothing yet after
/// [`Recorded::read`]).
#[derive(Debug, Clone)]
pub struct Recorded<A = ()> {
    /// Order of arrival, from 0 (0 until the fake numbers it).
    pub n: usize,
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
    /// What the fake made of it.
    pub made: A,
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
            n: 0,
            at,
            method,
            path,
            query,
            headers,
            made: (),
        }
    }

    /// The request as the `n`th received, with what the fake made of it.
    pub fn with<A>(self, n: usize, made: A) -> Recorded<A> {
        Recorded {
            n,
            at: self.at,
            method: self.method,
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: self.body,
            made,
        }
    }
}

impl<A> Recorded<A> {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake made of the request reads as the record's own fields (`r.status`).
impl<A> Deref for Recorded<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.made
    }
}
