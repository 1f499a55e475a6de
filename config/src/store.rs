//! `[store]`: where findings, their delivery state, the dedupe set and the feed position are kept
//! across restarts: the embedded database (redb, one task) or a DynamoDB table shared by two or
//! more tasks (`[store.dynamodb]`).

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What `path` says to keep nothing on disk.
pub const IN_MEMORY: &str = ":memory:";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `"redb"`: an embedded database file (`path`), one certhound at a time. `"dynamodb"`: a
    /// DynamoDB table (`[store.dynamodb]`) that several certhound tasks share without alerting
    /// twice. `certhound findings` reads either.
    pub backend: StoreBackend,
    /// The DynamoDB table and this task's place in it, with `backend = "dynamodb"`.
    pub dynamodb: DynamoDbConfig,
    /// The database file, created with its directory if missing. `":memory:"` keeps nothing
    /// across restarts (for trials and benchmarks). Only one certhound may write it at a time;
    /// `certhound findings` can read it while certhound runs.
    pub path: String,
    /// Findings are committed in groups: at most this long after they were matched...
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// ...or as soon as this many are waiting. Each commit is one fsync.
    pub commit_batch: usize,
    /// Memory the database may use to cache pages, in bytes.
    pub cache_bytes: usize,
    /// Findings delivered (or failed for good) on every channel are deleted after this long;
    /// findings still pending somewhere are kept whatever their age.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Redb,
            dynamodb: DynamoDbConfig::default(),
            path: "./data/certhound.redb".into(),
            commit_interval: Duration::from_millis(20),
            commit_batch: 512,
            cache_bytes: 4 << 20,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl StoreConfig {
    pub fn in_memory(&self) -> bool {
        self.path == IN_MEMORY
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.path.trim().is_empty() {
            return Err(ConfigError::key_error(
                "store.path",
                "must be a file path or \":memory:\"",
            ));
        }
        checks::at_least_one(&[("store.commit_batch", self.commit_batch as u64)])?;
        checks::above_zero(&[("store.commit_interval", self.commit_interval)])?;
        if self.backend == StoreBackend::DynamoDb {
            self.dynamodb.validate()?;
        }
        Ok(())
    }
}

/// Which store backend certhound uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Redb,
    #[serde(rename = "dynamodb")]
    DynamoDb,
}

/// `[store.dynamodb]`: one table shared by every task (layout in `deploy/README.md`). Region and
/// endpoint come from `[aws]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoDbConfig {
    /// The table's name.
    pub table: String,
    /// This task's name in the table: its feed and CT positions and the leases it holds are kept
    /// under it, so a task restarted on its slot resumes its own work at once. Every task that
    /// runs at the same time needs its own slot (`a`, `b`); a second process on a slot in use
    /// waits `slot_lease` for it and then refuses to start.
    pub slot: String,
    /// A claimed queue entry (a delivery, an enrichment, a scan) belongs to its task for this
    /// long, renewed while the task works on it. A task that dies holds its entries until their
    /// lease runs out; then another task takes them over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// The slot lock's lease, renewed while the task runs. At most half of `lease`, so that a
    /// task restarted on its slot gets the slot back before its own claims can be taken over.
    #[serde(with = "humantime_serde")]
    pub slot_lease: Duration,
    /// Create the table (with its TTL) when it does not exist: for local runs and tests. In AWS
    /// the CloudFormation stack creates it and the task may not.
    pub create_table: bool,
    /// Attempts per request, throttling included (exponential backoff with jitter between
    /// them). A request that still fails is retried by the stage that made it.
    pub max_attempts: u32,
}

impl Default for DynamoDbConfig {
    fn default() -> Self {
        DynamoDbConfig {
            table: "certhound".into(),
            slot: "main".into(),
            lease: Duration::from_secs(60),
            slot_lease: Duration::from_secs(10),
            create_table: false,
            max_attempts: 10,
        }
    }
}

impl DynamoDbConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("store.dynamodb.table", &self.table),
            ("store.dynamodb.slot", &self.slot),
        ] {
            if value.trim().is_empty() || value.contains('#') {
                return Err(ConfigError::key_error(
                    key,
                    "must be a non-empty name without '#'",
                ));
            }
        }
        checks::at_least_one(&[("store.dynamodb.max_attempts", self.max_attempts as u64)])?;
        checks::above_zero(&[
            ("store.dynamodb.lease", self.lease),
            ("store.dynamodb.slot_lease", self.slot_lease),
        ])?;
        checks::not_more_than(
            "store.dynamodb.slot_lease",
            self.slot_lease * 2,
            "store.dynamodb.lease / 2",
            self.lease,
        )
    }
}
