//! The JSONL notifier: one JSON object per finding per line, on stdout or appended to a file.
//!
//! Each line is one `write` and is flushed at once, so a reader (`tail -f`, a log shipper) sees
//! it immediately; before the delivery loop marks lines sent the file is fsynced. After a crash
//! the file's tail tells which findings are already in it, so none is written twice; a torn last
//! line (a crash inside a write) is cut off when the file is opened.

use super::{DeliveryError, Notifier};
use crate::finding::Finding;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// How much of the file's end is read back to find findings already written. Covers far more
/// than one delivery round (`delivery.batch` lines).
const TAIL_BYTES: u64 = 4 << 20;

enum Out {
    Stdout(io::Stdout),
    File(File),
    /// A device or pipe (`/dev/null`, a FIFO): written like a file, nothing to sync or read back.
    Stream(File),
}

pub struct JsonlNotifier {
    out: Out,
    buf: Vec<u8>,
}

impl JsonlNotifier {
    /// `-` is stdout; anything else a file, created if missing and appended to.
    pub fn open(path: &str) -> io::Result<Self> {
        let out = if path == "-" {
            Out::Stdout(io::stdout())
        } else {
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(path)?;
            if f.metadata()?.is_file() {
                cut_torn_line(&mut f)?;
                Out::File(f)
            } else {
                Out::Stream(f)
            }
        };
        Ok(JsonlNotifier {
            out,
            buf: Vec::with_capacity(1024),
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match &mut self.out {
            Out::Stdout(s) => s,
            Out::File(f) | Out::Stream(f) => f,
        }
    }
}

/// Truncates a last line without its newline: it can only be a write cut short by a crash.
fn cut_torn_line(f: &mut File) -> io::Result<()> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => start + i as u64 + 1,
        None if start == 0 => 0,
        None => return Ok(()), // one line longer than the tail: leave it
    };
    tracing::warn!(
        bytes = len - keep,
        "cutting a torn last line off the JSONL file"
    );
    f.set_len(keep)
}

impl Notifier for JsonlNotifier {
    const CHANNEL: &'static str = "jsonl";

    async fn deliver(&mut self, finding: &Finding) -> Result<(), DeliveryError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, finding)
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        self.buf.push(b'\n');
        let buf = std::mem::take(&mut self.buf);
        let w = self.writer();
        let result = w.write_all(&buf).and_then(|_| w.flush());
        self.buf = buf;
        result.map_err(|e| DeliveryError::Transient(e.to_string()))
    }

    fn flush(&mut self) -> Result<(), DeliveryError> {
        match &mut self.out {
            Out::Stdout(s) => s.flush(),
            Out::File(f) => f.sync_data(),
            Out::Stream(f) => f.flush(),
        }
        .map_err(|e| DeliveryError::Transient(e.to_string()))
    }

    fn already_delivered(&mut self) -> HashSet<String> {
        let Out::File(f) = &mut self.out else {
            return HashSet::new();
        };
        let mut ids = HashSet::new();
        let Ok(len) = f.metadata().map(|m| m.len()) else {
            return ids;
        };
        let mut tail = Vec::new();
        let read = f
            .seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))
            .and_then(|_| f.read_to_end(&mut tail));
        if read.is_err() {
            return ids;
        }
        #[derive(serde::Deserialize)]
        struct IdOnly {
            id: String,
        }
        for line in tail.split(|b| *b == b'\n') {
            if let Ok(x) = serde_json::from_slice::<IdOnly>(line) {
                ids.insert(x.id);
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_line_is_cut_and_ids_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        std::fs::write(&path, b"{\"id\":\"s:1\"}\n{\"id\":\"s:2\"}\n{\"id\":\"s:").unwrap();
        let mut n = JsonlNotifier::open(path.to_str().unwrap()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":\"s:1\"}\n{\"id\":\"s:2\"}\n"
        );
        let ids = n.already_delivered();
        assert!(ids.contains("s:1") && ids.contains("s:2") && ids.len() == 2);
    }
}
