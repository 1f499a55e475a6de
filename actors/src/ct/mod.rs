//! The server role's side of Certificate Transparency: reading logs and turning their entries
//! into certstream messages.
//!
//! In the order an entry travels:
//! - [`loglist`]: which logs exist (Google's v3 log list, shipped copy as fallback);
//! - [`rfc6962`] and [`static_ct`]: one tailer per log, fetching entries in order
//!   ([`tiles`] and [`checkpoint`] are the static-ct-api formats) through [`fetch`] (each
//!   log's rate, bounded bodies, retries);
//! - [`decoder`]: the actor on its own thread that turns fetched batches into messages for the
//!   hub and keeps the positions;
//! - [`leaf`]: RFC 6962 `MerkleTreeLeaf` + `extra_data` into a [`LogEntry`];
//! - [`cert`]: a [`LogEntry`] into the three certstream forms (lite, full, domains-only).

pub mod cert;
pub mod checkpoint;
pub mod decoder;
pub mod fetch;
pub mod leaf;
pub mod loglist;
pub mod rfc6962;
pub mod static_ct;
pub mod tiles;

/// The `cert_link` of entry `index` of the RFC 6962 log at `log_url` (ending in `/`), written
/// into `out` (cleared first) so that the decoder reuses one buffer for every entry.
pub fn write_rfc6962_link(out: &mut String, log_url: &str, index: u64) {
    use std::fmt::Write;
    out.clear();
    let _ = write!(out, "{log_url}ct/v1/get-entries?start={index}&end={index}");
}

/// Which kind of entry a log holds (`update_type` in certstream messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A final certificate: `X509LogEntry`.
    X509,
    /// A precertificate: `PrecertLogEntry`.
    Precert,
}

impl EntryKind {
    /// The certstream `update_type`.
    pub fn update_type(self) -> &'static str {
        match self {
            EntryKind::X509 => "X509LogEntry",
            EntryKind::Precert => "PrecertLogEntry",
        }
    }
}

/// One log entry, decoded from either API, borrowing the bytes it came in.
///
/// `leaf` is the certificate certstream describes as `leaf_cert`: the X.509 certificate for
/// `X509`, and the *pre-certificate* as submitted (with its poison extension, from `extra_data`
/// or the tile's `pre_certificate`) for `Precert`. `chain` is the issuing chain, leaf's issuer
/// first, as DER.
#[derive(Debug, Clone)]
pub struct LogEntry<'a> {
    pub kind: EntryKind,
    /// Index of the entry in its log (`cert_index`).
    pub index: u64,
    /// The log's timestamp of the entry, milliseconds since the epoch.
    pub timestamp_ms: u64,
    pub leaf: &'a [u8],
    pub chain: Vec<&'a [u8]>,
}

/// Why an entry could not be decoded. Such entries are counted and skipped, never fatal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("bad base64 in {0}")]
    Base64(&'static str),
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: u64 },
    #[error("bad certificate: {0}")]
    Certificate(String),
}
