//! The durable store: one redb file holding
//! - `findings`: every finding, by number (the outbox);
//! - `delivery`: per finding and channel, its delivery state (pending, sent, failed and why);
//! - `pending`: per channel, the findings still to deliver, in the order they were found;
//! - `dedupe` and `dedupe_by_time`: registrable domains already reported and when, so that a
//!   restart does not report them again within the window;
//! - `meta`: the format, this store's id and the feed position (`cursor`): the highest feed
//!   `seq` whose findings are all stored, committed in the same transaction as those findings;
//! - `lookups`: registration lookups by registrable domain (the enrich cache's durable half);
//! - `traces`: each finding's trace context, so a restart continues its trace;
//! - `ct_positions`: the server role's next entry per CT log (and, in `meta`, its seq reserve);
//! - `verdicts`: analysts' verdicts by finding number (deleted with their finding).
//!
//! The enrich and scan stages are queues of `pending` too (their stage name in place of a
//! channel's); a submitted scan's uuid is written into its finding.
//!
//! Writers are the recorder (findings, dedupe, cursor), the stages, the delivery loops (delivery
//! state), the server role (positions) and the admin page (verdicts);
//! redb serialises write transactions. Every commit is durable (fsync) before it returns.
//! Opened in single-writer mode, so `certhound findings` can read while certhound runs.
//!
//! That is the embedded backend (`RedbStore`, one process); `dynamo/` is the DynamoDB backend
//! that several tasks share, and `handle.rs` the [`Store`] the actors hold, one or the other.
//!
//! This file opens the store and holds its tables and types; the operations are split by what
//! they keep: `outbox.rs` (findings, queues, delivery state, purge), `dedupe.rs`, `lookups.rs`,
//! `positions.rs` (the server role's), `verdicts.rs` (with the verdict types). `codec.rs` is the one place values are encoded,
//! `migrate.rs` upgrades older formats.

pub mod codec;
mod dedupe;
pub mod dynamo;
mod handle;
mod lookups;
mod migrate;
mod outbox;
mod positions;
mod verdicts;

use crate::finding::Finding;
use certhound_config::StoreConfig;
pub use handle::{open_reader, Reader, Store};
use redb::{
    backends::InMemoryBackend, ConcurrencyMode, Database, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
pub use verdicts::{UnknownVerdict, Verdict, VerdictKind, VERDICT_BY_MAX};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const FINDINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("findings");
const PENDING: TableDefinition<(&str, u64), ()> = TableDefinition::new("pending");
const DELIVERY: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("delivery");
const DEDUPE: TableDefinition<&str, u64> = TableDefinition::new("dedupe");
const DEDUPE_BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("dedupe_by_time");

/// Registration lookups by registrable domain (`enrich::lookups`), so a restart does not ask again.
const LOOKUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("lookups");
/// The W3C `traceparent` of each finding's trace, by finding number (see `crate::trace`): kept
/// beside the finding rather than in its encoding, so that turning traces on or off changes no
/// stored format.
const TRACES: TableDefinition<u64, &str> = TableDefinition::new("traces");
/// Server role: the next entry index to read, per CT log URL.
const CT_POSITIONS: TableDefinition<&str, u64> = TableDefinition::new("ct_positions");
/// Analysts' verdicts ([`Verdict`], codec bytes) by finding number. Added after format 4 without
/// a bump: a file without it gets it at open, and an older certhound ignores it.
const VERDICTS: TableDefinition<u64, &[u8]> = TableDefinition::new("verdicts");

const META_FORMAT: &str = "format";
const META_STORE_ID: &str = "store_id";
const META_CURSOR: &str = "cursor";
/// The next finding number to give (u64, little endian); absent in stores written before it,
/// where the findings table's last number + 1 is the same thing.
const META_NEXT_FINDING: &str = "next_finding";
/// Server role: feed `seq` numbers up to this one may have been handed out (see
/// [`RedbStore::save_server_state`]).
const META_SEQ_RESERVED: &str = "server_seq_reserved";

/// A finding as listed: what was found, where it went and what an analyst said of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub finding: Finding,
    /// When it was stored (Unix seconds).
    pub stored_at: u64,
    pub channels: Vec<ChannelState>,
    pub verdict: Option<Verdict>,
}

/// A finding as stored in `findings`; its delivery state is kept apart so that marking a
/// delivery does not rewrite the finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stored {
    finding: Finding,
    stored_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    pub channel: String,
    pub state: Delivery,
}

/// Delivery state of one finding on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Delivery {
    Pending,
    Sent {
        at: u64,
    },
    Failed {
        at: u64,
        reason: String,
    },
    /// Not to be delivered (e.g. the domain was not registered or changed recently).
    Skipped {
        reason: String,
    },
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Pending => f.write_str("pending"),
            Delivery::Sent { .. } => f.write_str("sent"),
            Delivery::Failed { reason, .. } => write!(f, "failed: {reason}"),
            Delivery::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("store: {0}")]
    Db(#[from] redb::Error),
    #[error("store: {0}")]
    Codec(#[from] codec::CodecError),
    #[error("store: {0}")]
    Remote(String),
    #[error("store slot `{0}` was taken by another process while this one was stalled")]
    SlotLost(String),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
db_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The redb backend: one file, one process; cheap to clone and to share between threads.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    id: Arc<str>,
}

/// What is in the store, for the `store opened` log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub findings: u64,
    pub pending: u64,
    pub cursor: Option<u64>,
}

fn open_error(path: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn describe_open(e: redb::DatabaseError) -> String {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            "it is in use by another process (another certhound?)".into()
        }
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => {
            format!("the file is corrupted ({m})")
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(e)) => e.to_string(),
        other => other.to_string(),
    }
}

fn builder() -> redb::Builder {
    builder_with_cache(DEFAULT_CACHE)
}

/// redb's own default cache is 1 GiB; certhound's working set is small.
const DEFAULT_CACHE: usize = 4 << 20;

fn builder_with_cache(bytes: usize) -> redb::Builder {
    let mut b = Database::builder();
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b.set_cache_size(bytes);
    b
}

impl RedbStore {
    /// Opens (or creates) the store of `cfg`, checks its format and creates missing tables.
    pub fn open(cfg: &StoreConfig) -> Result<RedbStore, StoreError> {
        let path = cfg.path.as_str();
        let db = if cfg.in_memory() {
            // In memory there is no other process to share with: the default mode.
            Database::builder()
                .set_cache_size(cfg.cache_bytes)
                .create_with_backend(InMemoryBackend::new())
                .map_err(|e| open_error(path, describe_open(e)))?
        } else {
            let p = Path::new(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    open_error(path, format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            if p.is_dir() {
                return Err(open_error(path, "it is a directory"));
            }
            builder_with_cache(cfg.cache_bytes)
                .create(p)
                .map_err(|e| open_error(path, describe_open(e)))?
        };
        let store = RedbStore {
            db: Arc::new(db),
            id: Arc::from(""),
        };
        let id = store.init().map_err(|e| open_error(path, e))?;
        Ok(RedbStore {
            id: Arc::from(id),
            ..store
        })
    }

    /// A store on any redb backend, for tests that make the storage fail (one process: the
    /// default mode, which needs no locks from the backend).
    #[cfg(test)]
    pub(crate) fn open_with_backend(
        backend: impl redb::StorageBackend,
    ) -> Result<RedbStore, StoreError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| open_error("(test backend)", describe_open(e)))?;
        let store = RedbStore {
            db: Arc::new(db),
            id: Arc::from(""),
        };
        let id = store.init().map_err(|e| open_error("(test backend)", e))?;
        Ok(RedbStore {
            id: Arc::from(id),
            ..store
        })
    }

    /// Creates the tables, checks the format, returns the store id.
    fn init(&self) -> Result<String, StoreError> {
        let tx = self.db.begin_write()?;
        let id;
        {
            let mut meta = tx.open_table(META)?;
            let format = meta.get(META_FORMAT)?.map(|v| v.value().to_vec());
            match format.as_deref() {
                None => {
                    meta.insert(META_FORMAT, [codec::FORMAT].as_slice())?;
                }
                Some([f]) if *f == codec::FORMAT => {}
                Some([f]) if *f == migrate::FROM => {
                    let moved = migrate::from_3(&tx)?;
                    meta.insert(META_FORMAT, [codec::FORMAT].as_slice())?;
                    tracing::info!(
                        from = migrate::FROM,
                        to = codec::FORMAT,
                        findings = moved,
                        "store upgraded"
                    );
                }
                Some(other) => {
                    return Err(codec::CodecError::Format {
                        found: other.first().copied().unwrap_or(0),
                    }
                    .into())
                }
            }
            let existing = meta.get(META_STORE_ID)?.map(|v| v.value().to_vec());
            id = match existing {
                Some(v) => String::from_utf8_lossy(&v).into_owned(),
                None => {
                    let new = format!("{:08x}", rand::random::<u32>());
                    meta.insert(META_STORE_ID, new.as_bytes())?;
                    new
                }
            };
            tx.open_table(FINDINGS)?;
            tx.open_table(PENDING)?;
            tx.open_table(DELIVERY)?;
            tx.open_table(DEDUPE)?;
            tx.open_table(DEDUPE_BY_TIME)?;
            tx.open_table(LOOKUPS)?;
            tx.open_table(CT_POSITIONS)?;
            tx.open_table(TRACES)?;
            tx.open_table(VERDICTS)?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// This store's id, the prefix of every finding id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn summary(&self) -> Result<Summary, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(Summary {
            findings: tx.open_table(FINDINGS)?.len()?,
            pending: tx.open_table(PENDING)?.len()?,
            cursor: read_cursor(&tx.open_table(META)?)?,
        })
    }

    /// The highest feed `seq` whose findings are all stored.
    pub fn cursor(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        read_cursor(&meta)
    }
}

/// Opens a store file to read it, next to a running certhound or not.
///
/// A file left unclean by a crash can only be repaired by a writer. With a certhound running,
/// that certhound has repaired it; with none, the file is opened as a writer (which repairs it)
/// just to read it.
pub fn open_read_only(path: &str) -> Result<ReadOnlyStore, StoreError> {
    if !Path::new(path).exists() {
        return Err(open_error(path, "no such file"));
    }
    match builder().open_read_only(path) {
        Ok(db) => Ok(ReadOnlyStore::ReadOnly(db)),
        Err(redb::DatabaseError::RepairAborted) => builder()
            .open(path)
            .map(ReadOnlyStore::Repaired)
            .map_err(|e| open_error(path, describe_open(e))),
        Err(e) => Err(open_error(path, describe_open(e))),
    }
}

/// A view of a store for reading, for `certhound findings`.
pub enum ReadOnlyStore {
    ReadOnly(redb::ReadOnlyDatabase),
    /// Opened as a writer to repair it after a crash; only read.
    Repaired(Database),
}

impl ReadOnlyStore {
    pub fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        let tx = match self {
            ReadOnlyStore::ReadOnly(db) => db.begin_read()?,
            ReadOnlyStore::Repaired(db) => db.begin_read()?,
        };
        list(&tx, since)
    }
}

fn list(tx: &redb::ReadTransaction, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
    let table = tx.open_table(FINDINGS)?;
    let delivery = tx.open_table(DELIVERY)?;
    let verdicts = verdicts::open_verdicts(tx)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (n, v) = entry?;
        let stored: Stored = codec::decode(v.value())?;
        if since.is_some_and(|s| stored.stored_at < s) {
            continue;
        }
        out.push(record(n.value(), stored, &delivery, verdicts.as_ref())?);
    }
    Ok(out)
}

/// Stored finding `n` as listed: with its delivery states and its verdict.
fn record(
    n: u64,
    stored: Stored,
    delivery: &redb::ReadOnlyTable<(u64, &'static str), &'static [u8]>,
    verdicts: Option<&redb::ReadOnlyTable<u64, &'static [u8]>>,
) -> Result<Record, StoreError> {
    let mut channels = Vec::new();
    for d in delivery.range((n, "")..(n + 1, ""))? {
        let (k, v) = d?;
        channels.push(ChannelState {
            channel: k.value().1.to_string(),
            state: codec::decode(v.value())?,
        });
    }
    Ok(Record {
        finding: stored.finding,
        stored_at: stored.stored_at,
        channels,
        verdict: verdicts::read_verdict(verdicts, n)?,
    })
}

fn read_cursor(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<u64>, StoreError> {
    read_u64(meta, META_CURSOR)
}

/// A `meta` value that is a little-endian u64.
fn read_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    Ok(meta.get(key)?.and_then(|v| {
        let b: [u8; 8] = v.value().try_into().ok()?;
        Some(u64::from_le_bytes(b))
    }))
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
