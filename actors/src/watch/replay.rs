//! The replay source: feeds the matcher from a file of newline-delimited certstream messages
//! (gzip-compressed or plain, told apart by the gzip magic bytes), the offline way to run the
//! pipeline and to measure it.
//!
//! Unlike the live feed, replay never sheds: it waits for the matcher. A reader thread
//! decompresses and splits lines into batches ahead of the matcher, through a bounded channel.

use crate::metrics::Metrics;
use crate::slot::Slot;
use crate::watch::matcher::{CertBatch, Matcher};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Batches read ahead of the matcher, at most.
const READ_AHEAD: usize = 8;

/// Opens `path`, decompressing when it starts with the gzip magic bytes.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let chained = head.chain(file);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(chained),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, chained)))
    }
}

/// Feeds every line of `input` to the matcher; returns the number of lines read.
/// Lines longer than `max_frame_bytes` or not UTF-8 are counted and skipped, like frames.
pub async fn replay(
    input: Box<dyn BufRead + Send>,
    batch_size: usize,
    max_frame_bytes: usize,
    mut matcher: Slot<Matcher>,
    metrics: Arc<Metrics>,
) -> io::Result<u64> {
    let (tx, mut rx) = mpsc::channel::<Vec<Utf8Bytes>>(READ_AHEAD);
    let reader_metrics = metrics.clone();
    let reader = std::thread::Builder::new()
        .name("replay-reader".into())
        .spawn(move || read_lines(input, batch_size, max_frame_bytes, tx, reader_metrics))?;
    while let Some(batch) = rx.recv().await {
        let n = batch.len();
        let Some(addr) = matcher.next_live().await else {
            break;
        };
        if addr.send(CertBatch(batch)).await.is_err() {
            // The matcher died while on this batch (a panic); the supervisor restarts it. The
            // batch is not sent again: it may be what killed it.
            Metrics::add(&metrics.shed_messages, n as u64);
            tracing::warn!(
                messages = n,
                "matcher failed on a batch; its messages are skipped"
            );
        }
    }
    reader
        .join()
        .map_err(|_| io::Error::other("replay reader panicked"))?
}

fn read_lines(
    mut input: Box<dyn BufRead + Send>,
    batch_size: usize,
    max: usize,
    tx: mpsc::Sender<Vec<Utf8Bytes>>,
    metrics: Arc<Metrics>,
) -> io::Result<u64> {
    let mut lines = 0u64;
    let mut batch = Vec::with_capacity(batch_size);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        lines += 1;
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        Metrics::add(&metrics.frames, 1);
        if buf.len() > max {
            Metrics::add(&metrics.oversized, 1);
            continue;
        }
        match String::from_utf8(std::mem::take(&mut buf)) {
            Ok(s) => batch.push(Utf8Bytes::from(s)),
            Err(_) => {
                Metrics::add(&metrics.malformed, 1);
                continue;
            }
        }
        if batch.len() >= batch_size {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            if tx.blocking_send(full).is_err() {
                return Ok(lines);
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(lines)
}
