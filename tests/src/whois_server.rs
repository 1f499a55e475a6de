//! A loopback WHOIS server speaking the port-43 protocol (RFC 3912) on 127.0.0.1: it reads one
//! query line (`domain\r\n`), writes the answer and closes the connection. Answers come from the
//! real WHOIS texts in `tests/fixtures/whois/raw/<domain>.txt`, or from a per-domain script
//! ([`WhoisAnswer`]): a given text, garbage bytes, a "no match" text, a delay, or silence (the
//! query is read and the connection held open, never answered). Every query is recorded with its
//! arrival time (tokio `Instant`); tests wait on them with `wait_for*` (woken, never polled).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::answers::{DomainScripts, ScriptedShared};
use crate::fixtures::fixture_path;
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};

/// The saved WHOIS answer for `domain` (`tests/fixtures/whois/raw/<domain>.txt`), if there is one.
pub fn raw_fixture(domain: &str) -> Option<String> {
    let path = fixture_path(&format!("whois/raw/{}.txt", domain.to_ascii_lowercase()));
    std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// What a registry answers for a domain it does not know (Verisign's wording).
pub const NO_MATCH: &str =
    "No match for \"{domain}\".\r\n>>> Last update of whois database: 2025-01-01T00:00:00Z <<<\r\n";

/// What the server answers to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhoisAnswer {
    /// `tests/fixtures/whois/raw/<domain>.txt` for the queried domain ([`WhoisAnswer::NoMatch`]
    /// when there is none).
    Fixture,
    /// This text.
    Text(String),
    /// These bytes (garbage, binary, broken encodings).
    Bytes(Vec<u8>),
    /// [`NO_MATCH`] for the queried domain.
    NoMatch,
    /// Close the connection without a byte.
    Empty,
    /// Wait, then answer.
    Delayed(Duration, Box<WhoisAnswer>),
    /// Read the query, never answer; the connection stays open until the server is dropped.
    Silence,
}

impl WhoisAnswer {
    pub fn text(s: impl Into<String>) -> WhoisAnswer {
        WhoisAnswer::Text(s.into())
    }

    pub fn delayed(delay: Duration, then: WhoisAnswer) -> WhoisAnswer {
        WhoisAnswer::Delayed(delay, Box::new(then))
    }

    /// Random-looking bytes that no WHOIS parser can read a date from.
    pub fn garbage() -> WhoisAnswer {
        let mut b: Vec<u8> = (0u32..2048)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        b.extend_from_slice(b"\r\nCreated: not-a-date\r\nChanged: 2018-13-45T99:99:99\r\n:::\r\n");
        WhoisAnswer::Bytes(b)
    }
}

/// One query as received.
#[derive(Debug, Clone)]
pub struct Query {
    /// Order of arrival, from 0.
    pub n: usize,
    /// When the query line was complete.
    pub at: Instant,
    /// The query line without its line end (as sent: the domain, maybe with flags).
    pub line: String,
    /// The line lowercased and trimmed: the domain asked about.
    pub domain: String,
    /// Whether it was answered (`false` while delayed, and for ever for silence).
    pub answered: bool,
}

/// Everything the server received so far.
#[derive(Debug, Clone, Default)]
pub struct WhoisState {
    pub queries: Vec<Query>,
    /// TCP connections accepted (a connection that never sends a line is counted here only).
    pub connections: usize,
}

impl WhoisState {
    /// The queries for this domain, in order.
    pub fn for_domain(&self, domain: &str) -> Vec<&Query> {
        let domain = domain.to_ascii_lowercase();
        self.queries.iter().filter(|q| q.domain == domain).collect()
    }

    pub fn count_for(&self, domain: &str) -> usize {
        self.for_domain(domain).len()
    }

    /// Arrival times of all queries, in order.
    pub fn times(&self) -> Vec<Instant> {
        self.queries.iter().map(|q| q.at).collect()
    }

    /// The largest number of queries within any window of length `window`.
    pub fn max_in_window(&self, window: Duration) -> usize {
        crate::rdap_server::max_in_window(&self.times(), window)
    }
}

/// What the connection tasks share with the server's methods.
pub struct Shared {
    answers: Mutex<DomainScripts<WhoisAnswer>>,
    state: watch::Sender<WhoisState>,
}

/// The running server; stops (and closes every connection) when dropped.
pub type FakeWhois = Fake<Shared, WhoisState>;

impl FakeWhois {
    /// A server answering every domain from the fixtures ([`WhoisAnswer::Fixture`]).
    pub async fn start() -> FakeWhois {
        Fake::serve_tcp(
            FakeListener::bind().await,
            |state| Shared {
                answers: Mutex::new(DomainScripts::new(WhoisAnswer::Fixture)),
                state,
            },
            |tcp, shared| {
                // Counted as accepted, before the query is read.
                shared.state.send_modify(|s| s.connections += 1);
                serve(tcp, shared)
            },
        )
    }

    /// `127.0.0.1:PORT`, as `[enrich.whois.servers]` takes it.
    pub fn server(&self) -> String {
        self.addr().to_string()
    }

    /// Waits until at least `n` queries arrived.
    pub async fn wait_for_queries(&self, n: usize, timeout: Duration) -> Waited<WhoisState> {
        self.wait_for(timeout, |s| s.queries.len() >= n).await
    }
}

/// The longest query line read; a client sending more without a line end is cut off.
const MAX_LINE: usize = 4096;

/// The fake's script methods (`script`, `answer`, `set_default`, from [`crate::answers`]) set
/// the answers the handler below takes.
impl ScriptedShared for Shared {
    type Answer = WhoisAnswer;

    fn scripts(&self) -> &Mutex<DomainScripts<WhoisAnswer>> {
        &self.answers
    }
}

async fn serve(mut tcp: TcpStream, shared: Arc<Shared>) {
    // One line, up to "\n" (clients send "\r\n"; a bare "\n" is accepted too).
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if line.contains(&b'\n') || line.len() > MAX_LINE {
                    break;
                }
            }
        }
    }
    let at = Instant::now();
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let text = String::from_utf8_lossy(&line[..end])
        .trim_end_matches('\r')
        .to_string();
    if text.is_empty() && line.is_empty() {
        return; // connected and went away without a query
    }
    let domain = text.trim().to_ascii_lowercase();
    let mut answer = shared.answers.lock().unwrap().next(&domain);
    let n = {
        let mut n = 0;
        shared.state.send_modify(|s| {
            n = s.queries.len();
            s.queries.push(Query {
                n,
                at,
                line: text.clone(),
                domain: domain.clone(),
                answered: false,
            });
        });
        n
    };
    while let WhoisAnswer::Delayed(d, then) = answer {
        tokio::time::sleep(d).await;
        answer = *then;
    }
    let bytes: Vec<u8> = match answer {
        WhoisAnswer::Delayed(..) => unreachable!("unwrapped above"),
        WhoisAnswer::Silence => {
            // Hold the connection (and keep reading, so the client's writes never block) until
            // the server is dropped or the client goes away.
            let mut sink = [0u8; 512];
            while let Ok(k) = tcp.read(&mut sink).await {
                if k == 0 {
                    // The client closed its side: keep ours open, silent, until dropped.
                    std::future::pending::<()>().await;
                }
            }
            return;
        }
        WhoisAnswer::Fixture => match raw_fixture(&domain) {
            Some(t) => t.into_bytes(),
            None => NO_MATCH
                .replace("{domain}", &domain.to_ascii_uppercase())
                .into_bytes(),
        },
        WhoisAnswer::NoMatch => NO_MATCH
            .replace("{domain}", &domain.to_ascii_uppercase())
            .into_bytes(),
        WhoisAnswer::Text(t) => t.into_bytes(),
        WhoisAnswer::Bytes(b) => b,
        WhoisAnswer::Empty => Vec::new(),
    };
    let _ = tcp.write_all(&bytes).await;
    let _ = tcp.flush().await;
    let _ = tcp.shutdown().await;
    shared.state.send_modify(|s| s.queries[n].answered = true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::still_pending;
    use std::net::SocketAddr;

    const T: Duration = Duration::from_secs(10);

    /// A port-43 client: sends `query\r\n`, reads until the server closes.
    async fn ask(addr: SocketAddr, query: &str) -> Vec<u8> {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(format!("{query}\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out).await;
        out
    }

    #[tokio::test]
    async fn answers_from_the_fixtures_and_records_queries() {
        let whois = FakeWhois::start().await;
        let out = String::from_utf8(ask(whois.addr(), "google.de").await).unwrap();
        assert_eq!(Some(out.clone()), raw_fixture("google.de"));
        assert!(out.contains("Changed: 2018-03-12T21:44:25+01:00"), "{out}");
        let out = String::from_utf8(ask(whois.addr(), "NOPE-NOT-THERE.DE").await).unwrap();
        assert!(
            out.starts_with("No match for \"NOPE-NOT-THERE.DE\""),
            "{out}"
        );
        let s = whois
            .wait_for(T, |s| {
                s.queries.iter().all(|q| q.answered) && s.queries.len() == 2
            })
            .await
            .unwrap();
        assert_eq!(s.queries[0].line, "google.de");
        assert_eq!(s.queries[1].domain, "nope-not-there.de");
        assert_eq!(s.connections, 2);
        assert!(s.queries[0].at <= s.queries[1].at);
    }

    #[tokio::test]
    async fn scripted_texts_garbage_and_empty() {
        let whois = FakeWhois::start().await;
        whois.script(
            "x.com",
            vec![
                WhoisAnswer::text("Domain Name: X.COM\r\n"),
                WhoisAnswer::garbage(),
                WhoisAnswer::Empty,
                WhoisAnswer::NoMatch,
            ],
        );
        assert_eq!(ask(whois.addr(), "x.com").await, b"Domain Name: X.COM\r\n");
        let g = ask(whois.addr(), "x.com").await;
        assert!(g.len() > 2048 && std::str::from_utf8(&g).is_err());
        assert_eq!(ask(whois.addr(), "x.com").await, b"");
        let nm = ask(whois.addr(), "x.com").await;
        assert!(nm.starts_with(b"No match for \"X.COM\""));
        assert!(ask(whois.addr(), "x.com").await.starts_with(b"No match"));
        assert_eq!(whois.state().count_for("x.com"), 5);
    }

    #[tokio::test]
    async fn delay_and_silence() {
        let whois = FakeWhois::start().await;
        whois.answer(
            "slow.de",
            WhoisAnswer::delayed(Duration::from_millis(300), WhoisAnswer::Fixture),
        );
        whois.answer("dead.de", WhoisAnswer::Silence);
        let addr = whois.addr();
        let mut slow = tokio::spawn(async move { ask(addr, "slow.de").await });
        let mut dead = tokio::spawn(async move { ask(addr, "dead.de").await });
        let s = whois.wait_for_queries(2, T).await.unwrap();
        assert!(s.queries.iter().all(|q| !q.answered));
        assert!(
            still_pending(&mut slow, Duration::from_millis(50)).await,
            "answered before the delay"
        );
        assert!(slow.await.unwrap().starts_with(b"No match"));
        assert!(
            still_pending(&mut dead, Duration::from_millis(200)).await,
            "silence was answered"
        );
        assert!(!whois.state().for_domain("dead.de")[0].answered);
        drop(whois);
        assert_eq!(tokio::time::timeout(T, dead).await.unwrap().unwrap(), b"");
    }
}
