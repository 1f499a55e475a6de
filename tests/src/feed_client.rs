//! A websocket client of certhound's certstream feed, for the server role's tests: connects
//! (optionally with `?since=`), pings like a real client, and hands over each message as JSON.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct FeedClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every message received, in order.
    pub received: Vec<Value>,
}

impl FeedClient {
    /// Connects to `url` (`ws://127.0.0.1:PORT/full-stream?since=0`).
    pub async fn connect(url: &str) -> Result<FeedClient, String> {
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .map_err(|_| format!("connecting to {url} timed out"))?
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        Ok(FeedClient {
            ws,
            received: Vec::new(),
        })
    }

    /// The next text message, or `None` when the connection ended or `timeout` passed.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame.ok()? {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).expect("feed sent JSON");
                    self.received.push(v.clone());
                    return Some(v);
                }
                Message::Ping(p) => {
                    let _ = self.ws.send(Message::Pong(p)).await;
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Receives until `done` holds for everything received (on this client), or fails after
    /// `timeout` with what arrived.
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done(&self.received) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.next(left).await.is_none() {
                return Err(format!(
                    "feed ended or timed out after {} messages",
                    self.received.len()
                ));
            }
        }
        Ok(())
    }

    /// Receives until `n` messages in all have arrived.
    pub async fn collect(&mut self, n: usize, timeout: Duration) -> Result<(), String> {
        self.until(timeout, |r| r.len() >= n).await
    }
}

/// `data.cert_index` of certificate messages.
pub fn cert_indexes(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .filter(|m| m["message_type"] == "certificate_update")
        .filter_map(|m| m["data"]["cert_index"].as_u64())
        .collect()
}

/// The first path at which two JSON values differ, ignoring the object keys in `skip`.
pub fn first_difference(a: &Value, b: &Value, skip: &[&str], path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                if skip.contains(&k.as_str()) {
                    continue;
                }
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_difference(u, v, skip, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: {u:?} vs {v:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (u, v))| first_difference(u, v, skip, &format!("{path}[{i}]")))
        }
        (x, y) if x == y => None,
        (x, y) => Some(format!("{path}: {x} vs {y}")),
    }
}
