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
//! - `ct_positions`: the server role's next entry per CT log (and, in `meta`, its seq reserve).
//!
//! The enrich and scan stages are queues of `pending` too (their stage name in place of a
//! channel's); a submitted scan's uuid is written into its finding.
//!
//! Writers are the recorder (findings, dedupe, cursor), the stages, the delivery loops (delivery
//! state) and the server role (positions);
//! redb serialises write transactions. Every commit is durable (fsync) before it returns.
//! Opened in single-writer mode, so `certhound findings` can read while certhound runs.

pub mod codec;
mod migrate;

use crate::finding::Finding;
use certhound_config::StoreConfig;
use redb::{
    backends::InMemoryBackend, ConcurrencyMode, Database, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

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

const META_FORMAT: &str = "format";
const META_STORE_ID: &str = "store_id";
const META_CURSOR: &str = "cursor";
/// Server role: feed `seq` numbers up to this one may have been handed out (see
/// [`Store::save_server_state`]).
const META_SEQ_RESERVED: &str = "server_seq_reserved";

/// A finding as listed: what was found and where it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub finding: Finding,
    /// When it was stored (Unix seconds).
    pub stored_at: u64,
    pub channels: Vec<ChannelState>,
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

/// A handle to the store; cheap to clone and to share between threads.
#[derive(Clone)]
pub struct Store {
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

impl Store {
    /// Opens (or creates) the store of `cfg`, checks its format and creates missing tables.
    pub fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
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
        let store = Store {
            db: Arc::new(db),
            id: Arc::from(""),
        };
        let id = store.init().map_err(|e| open_error(path, e))?;
        Ok(Store {
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

    /// Stores `findings` (giving each its id), queues each for every channel, records their
    /// registrable domains for dedupe at `now` (Unix seconds) and moves the cursor, in one
    /// durable transaction.
    pub fn record(
        &self,
        findings: &mut [Finding],
        channels: &[&str],
        cursor: Option<u64>,
        now: u64,
    ) -> Result<(), StoreError> {
        self.record_at(findings, None, channels, cursor, now)
    }

    /// Like [`Store::record`], but queued first for `stage` (e.g. `enrich`), which hands each
    /// finding on to the channels with [`Store::advance`].
    pub fn record_at(
        &self,
        findings: &mut [Finding],
        stage: Option<&str>,
        channels: &[&str],
        cursor: Option<u64>,
        now: u64,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(FINDINGS)?;
            let mut pending = tx.open_table(PENDING)?;
            let mut delivery = tx.open_table(DELIVERY)?;
            let mut dedupe = tx.open_table(DEDUPE)?;
            let mut by_time = tx.open_table(DEDUPE_BY_TIME)?;
            let mut traces = tx.open_table(TRACES)?;
            let first = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
            let pending_state = codec::encode(&Delivery::Pending)?;
            for (next, f) in (first..).zip(findings.iter_mut()) {
                f.id = format!("{}:{next}", self.id);
                let stored = Stored {
                    finding: f.clone(),
                    stored_at: now,
                };
                table.insert(next, codec::encode(&stored)?.as_slice())?;
                if let Some(t) = &f.trace_parent {
                    traces.insert(next, t.as_str())?;
                }
                if let Some(stage) = stage {
                    pending.insert((stage, next), ())?;
                }
                for c in channels {
                    if stage.is_none() {
                        pending.insert((*c, next), ())?;
                    }
                    delivery.insert((next, *c), pending_state.as_slice())?;
                }
                let old = dedupe
                    .insert(f.registrable_domain.as_str(), now)?
                    .map(|v| v.value());
                if let Some(old) = old {
                    by_time.remove((old, f.registrable_domain.as_str()))?;
                }
                by_time.insert((now, f.registrable_domain.as_str()), ())?;
            }
            if let Some(c) = cursor {
                let mut meta = tx.open_table(META)?;
                let current = read_cursor(&meta)?;
                if current.is_none_or(|cur| c > cur) {
                    meta.insert(META_CURSOR, c.to_le_bytes().as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` findings still to deliver on `channel`, oldest first.
    pub fn pending(&self, channel: &str, limit: usize) -> Result<Vec<(u64, Finding)>, StoreError> {
        let tx = self.db.begin_read()?;
        let pending = tx.open_table(PENDING)?;
        let table = tx.open_table(FINDINGS)?;
        let traces = tx.open_table(TRACES)?;
        let mut out = Vec::new();
        for entry in pending.range((channel, 0u64)..=(channel, u64::MAX))? {
            let (key, _) = entry?;
            let (_, n) = key.value();
            if let Some(v) = table.get(n)? {
                let mut stored: Stored = codec::decode(v.value())?;
                stored.finding.trace_parent = traces.get(n)?.map(|t| t.value().to_string());
                out.push((n, stored.finding));
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Hands finding `n` from `stage` on: stores its updated form and queues it for the next
    /// stage, or else for `channels`; with `skip`, records every channel as skipped with that
    /// reason instead. One transaction.
    pub fn advance(
        &self,
        stage: &str,
        n: u64,
        finding: &Finding,
        next_stage: Option<&str>,
        channels: &[&str],
        skip: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(FINDINGS)?;
            let mut pending = tx.open_table(PENDING)?;
            let mut delivery = tx.open_table(DELIVERY)?;
            if pending.remove((stage, n))?.is_none() {
                return Ok(()); // already advanced
            }
            let stored_at = match table.get(n)? {
                Some(v) => codec::decode::<Stored>(v.value())?.stored_at,
                None => return Ok(()),
            };
            let stored = Stored {
                finding: finding.clone(),
                stored_at,
            };
            table.insert(n, codec::encode(&stored)?.as_slice())?;
            if let (Some(next), None) = (next_stage, skip) {
                pending.insert((next, n), ())?;
            }
            for c in channels
                .iter()
                .filter(|_| next_stage.is_none() || skip.is_some())
            {
                match skip {
                    None => {
                        pending.insert((*c, n), ())?;
                    }
                    Some(reason) => {
                        let state = Delivery::Skipped {
                            reason: reason.to_string(),
                        };
                        delivery.insert((n, *c), codec::encode(&state)?.as_slice())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rewrites finding `n` in place (a stage's progress, e.g. a submitted scan), keeping its
    /// place in every queue.
    pub fn update(&self, n: u64, finding: &Finding) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(FINDINGS)?;
            let stored_at = match table.get(n)? {
                Some(v) => codec::decode::<Stored>(v.value())?.stored_at,
                None => return Ok(()),
            };
            let stored = Stored {
                finding: finding.clone(),
                stored_at,
            };
            table.insert(n, codec::encode(&stored)?.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records how deliveries on `channel` ended and takes them off its queue, in one commit.
    pub fn mark(&self, channel: &str, outcomes: &[(u64, Delivery)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut pending = tx.open_table(PENDING)?;
            let mut delivery = tx.open_table(DELIVERY)?;
            for (n, outcome) in outcomes {
                pending.remove((channel, *n))?;
                delivery.insert((*n, channel), codec::encode(outcome)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets dedupe entries older than `before` and, past `capacity`, the oldest ones.
    /// Returns how many were removed.
    pub fn compact_dedupe(&self, before: u64, capacity: usize) -> Result<u64, StoreError> {
        let tx = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut dedupe = tx.open_table(DEDUPE)?;
            let mut by_time = tx.open_table(DEDUPE_BY_TIME)?;
            let excess = by_time.len()?.saturating_sub(capacity as u64);
            let mut doomed = Vec::new();
            for entry in by_time.iter()? {
                let (key, _) = entry?;
                let (t, d) = key.value();
                if t >= before && (doomed.len() as u64) >= excess {
                    break;
                }
                doomed.push((t, d.to_string()));
            }
            for (t, d) in doomed {
                by_time.remove((t, d.as_str()))?;
                dedupe.remove(d.as_str())?;
                removed += 1;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Deletes findings stored before `before` that no channel still has to deliver. Returns how
    /// many were deleted. Findings are numbered in the order they were stored, so this stops at
    /// the first one that is young enough.
    pub fn purge(&self, before: u64) -> Result<u64, StoreError> {
        let tx = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut table = tx.open_table(FINDINGS)?;
            let mut delivery = tx.open_table(DELIVERY)?;
            let mut doomed = Vec::new();
            for entry in table.iter()? {
                let (n, v) = entry?;
                let stored: Stored = codec::decode(v.value())?;
                if stored.stored_at >= before {
                    break;
                }
                let n = n.value();
                let mut done = true;
                for d in delivery.range((n, "")..(n + 1, ""))? {
                    let (_, v) = d?;
                    done &= !matches!(codec::decode::<Delivery>(v.value())?, Delivery::Pending);
                }
                if done {
                    doomed.push(n);
                }
            }
            let mut traces = tx.open_table(TRACES)?;
            for n in doomed {
                table.remove(n)?;
                traces.remove(n)?;
                let channels: Vec<String> = delivery
                    .range((n, "")..(n + 1, ""))?
                    .map(|d| d.map(|(k, _)| k.value().1.to_string()))
                    .collect::<Result<_, _>>()?;
                for c in channels {
                    delivery.remove((n, c.as_str()))?;
                }
                removed += 1;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// A stored lookup result (encoded by the caller's type).
    pub fn get_lookup<T: serde::de::DeserializeOwned>(
        &self,
        domain: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(LOOKUPS)?;
        let v = t.get(domain)?;
        Ok(match v {
            Some(v) => Some(codec::decode(v.value())?),
            None => None,
        })
    }

    /// Stores a lookup result.
    pub fn put_lookup<T: Serialize>(&self, domain: &str, value: &T) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(LOOKUPS)?
            .insert(domain, codec::encode(value)?.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Calls `f` with each registrable domain reported at or after `since` (Unix seconds),
    /// oldest first, without collecting them (there can be a million).
    pub fn for_each_dedupe_since(
        &self,
        since: u64,
        mut f: impl FnMut(&str, u64),
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_read()?;
        let by_time = tx.open_table(DEDUPE_BY_TIME)?;
        for entry in by_time.range((since, "")..)? {
            let (key, _) = entry?;
            let (t, d) = key.value();
            f(d, t);
        }
        Ok(())
    }

    /// Server role: the stored position (next index to read) of every CT log, and the highest
    /// feed `seq` that may have been used.
    pub fn server_state(&self) -> Result<(Vec<(String, u64)>, u64), StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CT_POSITIONS)?;
        let positions = t
            .iter()?
            .map(|e| e.map(|(k, v)| (k.value().to_string(), v.value())))
            .collect::<Result<Vec<_>, _>>()?;
        let meta = tx.open_table(META)?;
        let reserved = meta
            .get(META_SEQ_RESERVED)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0);
        Ok((positions, reserved))
    }

    /// Server role: stores log positions (next index to read, only ever forward) and the seq
    /// reservation in one durable transaction. Seqs are reserved ahead of use, so that after a
    /// crash the numbering continues above anything a client may have seen, never reusing one.
    /// `clean`: this is the last write of a clean shutdown, and `seq_reserved` is exactly the
    /// last seq used, so the reservation may move back to it and the numbering goes on without
    /// a jump after the restart.
    pub fn save_server_state(
        &self,
        positions: &[(String, u64)],
        seq_reserved: u64,
        clean: bool,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(CT_POSITIONS)?;
            for (log, next) in positions {
                let current = t.get(log.as_str())?.map(|v| v.value());
                if current.is_none_or(|c| *next > c) {
                    t.insert(log.as_str(), *next)?;
                }
            }
            let mut meta = tx.open_table(META)?;
            let current = meta
                .get(META_SEQ_RESERVED)?
                .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
                .unwrap_or(0);
            if seq_reserved > current || clean {
                meta.insert(META_SEQ_RESERVED, seq_reserved.to_le_bytes().as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Stored findings, oldest first; only those stored at or after `since` when given.
    pub fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        list(&self.db.begin_read()?, since)
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
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (n, v) = entry?;
        let n = n.value();
        let stored: Stored = codec::decode(v.value())?;
        if since.is_some_and(|s| stored.stored_at < s) {
            continue;
        }
        let mut channels = Vec::new();
        for d in delivery.range((n, "")..(n + 1, ""))? {
            let (k, v) = d?;
            channels.push(ChannelState {
                channel: k.value().1.to_string(),
                state: codec::decode(v.value())?,
            });
        }
        out.push(Record {
            finding: stored.finding,
            stored_at: stored.stored_at,
            channels,
        });
    }
    Ok(out)
}

fn read_cursor(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<u64>, StoreError> {
    Ok(meta.get(META_CURSOR)?.and_then(|v| {
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
