//! The JSONL notifier: one JSON object per finding per line, on stdout or appended to a file.
//! Each line is flushed at once, so a reader (`tail -f`, a log shipper) sees it immediately.

use super::{DeliveryError, Notifier};
use crate::finding::Finding;
use std::fs::OpenOptions;
use std::io::{self, Write};

pub struct JsonlNotifier {
    out: Box<dyn Write>,
    buf: Vec<u8>,
}

impl JsonlNotifier {
    /// `-` is stdout; anything else a file, created if missing and appended to.
    pub fn open(path: &str) -> io::Result<Self> {
        let out: Box<dyn Write> = if path == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        };
        Ok(JsonlNotifier {
            out,
            buf: Vec::with_capacity(1024),
        })
    }

    pub fn from_writer(out: Box<dyn Write>) -> Self {
        JsonlNotifier {
            out,
            buf: Vec::new(),
        }
    }
}

impl Notifier for JsonlNotifier {
    fn channel(&self) -> &'static str {
        "jsonl"
    }

    async fn deliver(&mut self, finding: &Finding) -> Result<(), DeliveryError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, finding)
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        self.buf.push(b'\n');
        // One write per line, so concurrent writers to the same file never interleave a line.
        self.out
            .write_all(&self.buf)
            .and_then(|_| self.out.flush())
            .map_err(|e| DeliveryError::Transient(e.to_string()))
    }

    fn flush(&mut self) -> Result<(), DeliveryError> {
        self.out
            .flush()
            .map_err(|e| DeliveryError::Transient(e.to_string()))
    }
}
