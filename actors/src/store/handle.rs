//! The store the actors hold: the embedded redb file (one task) or the DynamoDB table (two or
//! more tasks), chosen by `store.backend`. Both keep the same promises (module doc of
//! `store`); the operations only the redb backend needs (the dedupe set's compaction and
//! warm-up, purging) are no-ops on DynamoDB, where the conditional writes and the TTL do that
//! work.

use super::dynamo::{DynamoStore, Mode};
use super::{Delivery, ReadOnlyStore, Record, RedbStore, StoreError, Summary, Verdict};
use crate::finding::Finding;
use certhound_config::{Config, StoreBackend, StoreConfig};
use serde::{de::DeserializeOwned, Serialize};

/// A handle to the store; cheap to clone and to share between threads.
#[derive(Clone)]
pub enum Store {
    Redb(RedbStore),
    DynamoDb(DynamoStore),
}

/// Calls the same method on whichever backend.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Redb($s) => $e,
            Store::DynamoDb($s) => $e,
        }
    };
}

impl Store {
    /// Opens the store `cfg` names, to work in it (the DynamoDB backend takes this task's slot).
    pub fn open(cfg: &Config) -> Result<Store, StoreError> {
        match cfg.store.backend {
            StoreBackend::Redb => RedbStore::open(&cfg.store).map(Store::Redb),
            StoreBackend::DynamoDb => DynamoStore::open(
                &cfg.store.dynamodb,
                &cfg.aws,
                cfg.dedupe.window,
                cfg.store.retention,
                Mode::Work,
            )
            .map(Store::DynamoDb),
        }
    }

    /// An embedded store (benchmarks, tests).
    pub fn redb(cfg: &StoreConfig) -> Result<Store, StoreError> {
        RedbStore::open(cfg).map(Store::Redb)
    }

    /// A redb store on any backend, for tests that make the storage fail.
    #[cfg(test)]
    pub(crate) fn open_with_backend(
        backend: impl redb::StorageBackend,
    ) -> Result<Store, StoreError> {
        RedbStore::open_with_backend(backend).map(Store::Redb)
    }

    /// This store's id, the prefix of every finding id.
    pub fn id(&self) -> &str {
        each!(self, s => s.id())
    }

    /// Where the store is, for logs: the file, or the table and slot.
    pub fn describe(cfg: &StoreConfig) -> String {
        match cfg.backend {
            StoreBackend::Redb => cfg.path.clone(),
            StoreBackend::DynamoDb => format!(
                "dynamodb:{} (slot {})",
                cfg.dynamodb.table, cfg.dynamodb.slot
            ),
        }
    }

    pub fn summary(&self) -> Result<Summary, StoreError> {
        match self {
            Store::Redb(s) => s.summary(),
            Store::DynamoDb(s) => {
                let (findings, pending) = s.counts()?;
                Ok(Summary {
                    findings,
                    pending,
                    cursor: s.cursor()?,
                })
            }
        }
    }

    /// The highest feed `seq` whose findings are all stored (on DynamoDB: this slot's).
    pub fn cursor(&self) -> Result<Option<u64>, StoreError> {
        each!(self, s => s.cursor())
    }

    /// Stores `findings` and queues them (see `RedbStore::record_at`); returns how many were
    /// stored. On DynamoDB one whose registrable domain another task stored within the window
    /// is not stored and keeps an empty id.
    pub fn record_at(
        &self,
        findings: &mut [Finding],
        stage: Option<&str>,
        channels: &[&str],
        cursor: Option<u64>,
        now: u64,
    ) -> Result<usize, StoreError> {
        match self {
            Store::Redb(s) => s
                .record_at(findings, stage, channels, cursor, now)
                .map(|()| findings.len()),
            Store::DynamoDb(s) => s.record_at(findings, stage, channels, cursor, now),
        }
    }

    /// Up to `limit` findings waiting in `queue`, oldest first; on DynamoDB, claimed for this
    /// task under a lease.
    pub fn pending(&self, queue: &str, limit: usize) -> Result<Vec<(u64, Finding)>, StoreError> {
        each!(self, s => s.pending(queue, limit))
    }

    pub fn advance(
        &self,
        stage: &str,
        n: u64,
        finding: &Finding,
        next_stage: Option<&str>,
        channels: &[&str],
        skip: Option<&str>,
    ) -> Result<(), StoreError> {
        each!(self, s => s.advance(stage, n, finding, next_stage, channels, skip))
    }

    pub fn update(&self, n: u64, finding: &Finding) -> Result<(), StoreError> {
        each!(self, s => s.update(n, finding))
    }

    pub fn mark(&self, channel: &str, outcomes: &[(u64, Delivery)]) -> Result<(), StoreError> {
        each!(self, s => s.mark(channel, outcomes))
    }

    /// Deletes what is delivered everywhere and older than `before`; DynamoDB's TTL does this
    /// on its own.
    pub fn purge(&self, before: u64) -> Result<u64, StoreError> {
        match self {
            Store::Redb(s) => s.purge(before),
            Store::DynamoDb(_) => Ok(0),
        }
    }

    pub fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        each!(self, s => s.list(since))
    }

    /// Sets (or replaces) the verdict of the finding with this id (`<store id>:<n>`).
    /// `Ok(false)` when there is no such finding in this store. `by` is cut to
    /// [`super::VERDICT_BY_MAX`] chars.
    pub fn set_verdict(&self, id: &str, verdict: &Verdict) -> Result<bool, StoreError> {
        each!(self, s => s.set_verdict(id, verdict))
    }

    /// One finding by id, with its delivery states and verdict.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        each!(self, s => s.get(id))
    }

    pub fn get_lookup<T: DeserializeOwned>(&self, domain: &str) -> Result<Option<T>, StoreError> {
        each!(self, s => s.get_lookup(domain))
    }

    pub fn put_lookup<T: Serialize>(&self, domain: &str, value: &T) -> Result<(), StoreError> {
        each!(self, s => s.put_lookup(domain, value))
    }

    pub fn server_state(&self) -> Result<(Vec<(String, u64)>, u64), StoreError> {
        each!(self, s => s.server_state())
    }

    pub fn save_server_state(
        &self,
        positions: &[(String, u64)],
        seq_reserved: u64,
        clean: bool,
    ) -> Result<(), StoreError> {
        each!(self, s => s.save_server_state(positions, seq_reserved, clean))
    }

    /// Forgets old dedupe entries (redb). On DynamoDB the entries expire by TTL, and the
    /// decision is the conditional write, not this set.
    pub fn compact_dedupe(&self, before: u64, capacity: usize) -> Result<u64, StoreError> {
        match self {
            Store::Redb(s) => s.compact_dedupe(before, capacity),
            Store::DynamoDb(_) => Ok(0),
        }
    }

    /// The dedupe entries since `since`, to warm the matcher's set (redb). On DynamoDB the
    /// matcher starts empty: a domain another task or an earlier run reported is turned away
    /// by the conditional write when it is recorded.
    pub fn for_each_dedupe_since(
        &self,
        since: u64,
        f: impl FnMut(&str, u64),
    ) -> Result<(), StoreError> {
        match self {
            Store::Redb(s) => s.for_each_dedupe_since(since, f),
            Store::DynamoDb(_) => Ok(()),
        }
    }

    /// How long an idle stage waits before it looks at its queue again unwoken. On redb only
    /// this process fills the queues and wakes the stages: 30 s is a safety net. On DynamoDB
    /// another task's claims run out unannounced: a quarter of the lease, so that work a dead
    /// task held is taken over within 1.25 leases.
    pub fn idle_poll(&self) -> std::time::Duration {
        match self {
            Store::Redb(_) => std::time::Duration::from_secs(30),
            Store::DynamoDb(s) => s.lease() / 4,
        }
    }

    /// At a clean stop: on DynamoDB gives up this task's slot so its next start need not wait.
    pub fn close(&self) {
        if let Store::DynamoDb(s) = self {
            s.close();
        }
    }
}

/// Opens the store of `cfg` to read it, next to a running certhound or not (`certhound
/// findings`).
pub fn open_reader(cfg: &Config) -> Result<Reader, StoreError> {
    match cfg.store.backend {
        StoreBackend::Redb => super::open_read_only(&cfg.store.path).map(Reader::Redb),
        StoreBackend::DynamoDb => DynamoStore::open(
            &cfg.store.dynamodb,
            &cfg.aws,
            cfg.dedupe.window,
            cfg.store.retention,
            Mode::Read,
        )
        .map(Reader::DynamoDb),
    }
}

/// A store opened for reading.
pub enum Reader {
    Redb(ReadOnlyStore),
    DynamoDb(DynamoStore),
}

impl Reader {
    /// Stored findings, oldest first, with their delivery states and verdicts.
    pub fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        match self {
            Reader::Redb(s) => s.list(since),
            Reader::DynamoDb(s) => s.list(since),
        }
    }
}
