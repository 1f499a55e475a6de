//! The DynamoDB backend: one table that two or more certhound tasks share, so that a task can
//! die (a deploy, an AZ lost) while the other goes on, and nothing is alerted twice.
//!
//! The table (string keys `pk`, `sk`; TTL attribute `ttl`; sizes and costs in
//! `deploy/README.md`):
//!
//! | pk | sk | what |
//! |---|---|---|
//! | `M` | `M` / `N` | the store id / the counter that numbers findings |
//! | `F#<n>` | `F` | a finding: `body` (the codec's bytes), `stored_at`, `open` (channels not final), `trace` |
//! | `F#<n>` | `C#<channel>` | its delivery state on a channel (`state`, the codec's bytes) |
//! | `F#<n>` | `V` | its analyst's verdict: `verdict` (`phishing`, `false_alarm`, `unsure`), `at`, `by`, `ttl` |
//! | `Q#<queue>` | `<n>` (20 digits) | a queue entry (a stage's or a channel's), with `lease_by` and `lease_until` while claimed |
//! | `D#<domain>` | `D` | dedupe: a registrable domain and when it was reported |
//! | `L#<domain>` | `L` | a registration lookup (the enrich cache's durable half) |
//! | `T#<slot>` | `T` / `CT` | a task's feed position / its server role's CT positions |
//! | `S#<slot>` | `S` | the slot lock |
//!
//! Why each decision holds with several writers:
//! - A finding is stored with its dedupe entry in one `TransactWriteItems`, conditioned on the
//!   domain not having been reported within the window: only the first task to see a domain
//!   stores a finding for it; the others' transactions are cancelled and they drop theirs.
//! - Each queue entry is claimed with a conditional update that sets a lease (`lease_by`, this
//!   task's slot; `lease_until`), renewed while the task works on it. Marking it done is a
//!   transaction conditioned on still holding it. A task that dies stops renewing; when the lease
//!   runs out another task's claim succeeds and it does the work.
//! - Positions are per slot (a task's name, `store.dynamodb.slot`): each task reads its own feed
//!   (in `certhound run`, its own server role's, whose `seq` numbers are its own), so a position
//!   is only meaningful to the task that made it. A task restarted on its slot resumes there and
//!   takes back its own claims at once; the slot lock (renewed every `slot_lease / 3`) keeps two
//!   processes off one slot.
//! - Retention is DynamoDB's TTL: an item gets `ttl` once it is final (a delivery sent or failed
//!   for good; a finding once every channel is), so nothing pending ever expires. A verdict is
//!   final when given (`ttl` = then + `store.retention`).
//! - A verdict is written in a transaction with a check that its finding's item exists, so
//!   none is left for a finding that expired or never was.
//!
//! The store's API is synchronous (the recorder blocks while it commits, which is its
//! backpressure, as it blocks on redb's fsync). This backend runs its requests on a small
//! runtime of its own and the calling thread waits for the answer.

mod outbox;
mod state;
mod verdicts;

use super::StoreError;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use certhound_config::{AwsConfig, DynamoDbConfig};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An item's attributes.
type Item = HashMap<String, AttributeValue>;

/// A handle to the table; cheap to clone.
#[derive(Clone)]
pub struct DynamoStore {
    db: Db,
    runtime: Arc<Runtime>,
}

/// The table and this task's place in it: what the requests need. The background renewals hold
/// only a weak reference, so they end with the last [`DynamoStore`].
#[derive(Clone)]
pub(super) struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    table: String,
    slot: String,
    /// Tells this process's slot lock from a previous process's on the same slot.
    holder: String,
    lease: Duration,
    slot_lease: Duration,
    dedupe_window: Duration,
    retention: Duration,
    id: String,
    /// Queue entries this process holds, (queue, n) -> lease end (Unix ms), renewed in the
    /// background until marked or advanced.
    held: Mutex<HashMap<(String, u64), u64>>,
    /// Set when the slot lock was lost (this process was paused past its lease and another took
    /// the slot): every operation fails from then on, so the process stops rather than work
    /// beside the other.
    slot_lost: AtomicBool,
    /// Requests made, by operation (for the bench's per-finding count).
    requests: Mutex<BTreeMap<&'static str, u64>>,
}

/// The backend's own runtime, shut down without blocking when the last handle goes (that may
/// be on an actor's thread, where a blocking shutdown panics).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime {
    fn get(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("present until dropped")
    }
}

/// Whether to take the slot (a working task) or only read (`certhound findings`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Work,
    Read,
}

pub(super) fn remote(op: &str, e: impl ProvideErrorMetadata + std::error::Error) -> StoreError {
    // The service's code and message; else the whole chain (a timeout, a refused connection).
    // Neither holds credentials: requests are signed, and the signature is not in errors.
    let what = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    };
    StoreError::Remote(format!("DynamoDB {op}: {what}"))
}

/// A conditional request's outcome: `true` when applied, `false` when only its condition did
/// not hold (someone else's claim, an item gone, a position already further), else the error.
pub(super) fn applied<T, E, R>(
    op: &str,
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(remote(op, e)),
    }
}

/// A queue's partition key.
pub(super) fn queue_pk(queue: &str) -> String {
    format!("Q#{queue}")
}

/// Queue entries sort by finding number: zero-padded, so that string order is number order.
pub(super) fn queue_sk(n: u64) -> String {
    format!("{n:020}")
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn num(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn bytes(v: Vec<u8>) -> AttributeValue {
    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(v))
}

pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn get_num(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub(super) fn get_str<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

pub(super) fn get_bytes<'a>(item: &'a Item, name: &str) -> Option<&'a [u8]> {
    item.get(name)?.as_b().ok().map(|b| b.as_ref())
}

/// Unix milliseconds now (leases are kept to the millisecond).
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl DynamoStore {
    /// Connects to the table (creating it with `create_table`), reads or sets the store id and,
    /// in [`Mode::Work`], takes this task's slot: waits up to `slot_lease` (and a little) for a
    /// previous process's lock to run out, then refuses.
    pub fn open(
        cfg: &DynamoDbConfig,
        aws: &AwsConfig,
        dedupe_window: Duration,
        retention: Duration,
        mode: Mode,
    ) -> Result<DynamoStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("certhound-dynamodb")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Remote(format!("cannot start the DynamoDB runtime: {e}")))?;
        let (aws, max_attempts) = (aws.clone(), cfg.max_attempts);
        let client = wait_on(&runtime, async move {
            let sdk = crate::aws::sdk_config(&aws).await;
            // Throttling (ProvisionedThroughputExceeded, ThrottlingException) and 5xx are retried
            // by the SDK with exponential backoff and jitter, up to `max_attempts`.
            let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(5));
            let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
                .retry_config(retry)
                .build();
            Client::from_conf(conf)
        })?;
        let mut db = Db {
            inner: Arc::new(Inner {
                client,
                table: cfg.table.clone(),
                slot: cfg.slot.clone(),
                holder: format!("{:016x}", rand::random::<u64>()),
                lease: cfg.lease,
                slot_lease: cfg.slot_lease,
                dedupe_window,
                retention,
                id: String::new(),
                held: Mutex::new(HashMap::new()),
                slot_lost: AtomicBool::new(false),
                requests: Mutex::new(BTreeMap::new()),
            }),
        };
        let runtime = Runtime(Some(runtime));
        if cfg.create_table {
            let d = db.clone();
            wait_on(runtime.get(), async move { d.create_table().await })??;
        }
        let d = db.clone();
        let id = wait_on(runtime.get(), async move { d.store_id().await })??;
        Arc::get_mut(&mut db.inner).expect("not shared yet").id = id;
        if mode == Mode::Work {
            let d = db.clone();
            wait_on(runtime.get(), async move { d.take_slot().await })??;
            runtime
                .get()
                .spawn(Db::keep_slot_and_leases(Arc::downgrade(&db.inner)));
        }
        Ok(DynamoStore {
            db,
            runtime: Arc::new(runtime),
        })
    }

    /// This store's id, the prefix of every finding id.
    pub fn id(&self) -> &str {
        &self.db.inner.id
    }

    /// How long a claim lasts unrenewed.
    pub fn lease(&self) -> Duration {
        self.db.inner.lease
    }

    /// Requests made so far, by operation.
    pub fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        self.db
            .inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Gives up the slot at a clean stop, so that the next process on it starts at once.
    pub fn close(&self) {
        let _ = self.run(|s| async move { s.release_slot().await });
    }

    /// Runs `f` on the backend's runtime and waits for it (see the module doc).
    fn run<T, F>(&self, f: impl FnOnce(Db) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        if self.db.inner.slot_lost.load(Ordering::Relaxed) {
            return Err(slot_lost(&self.db.inner.slot));
        }
        wait_on(self.runtime.get(), f(self.db.clone()))?
    }
}

impl Db {
    fn count(&self, op: &'static str) {
        *self
            .inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(op)
            .or_default() += 1;
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    fn table(&self) -> &str {
        &self.inner.table
    }

    async fn create_table(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        self.count("DescribeTable");
        match self
            .client()
            .describe_table()
            .table_name(self.table())
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(remote("DescribeTable", e)),
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type set")
        };
        let key_part = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("name and type set")
        };
        self.count("CreateTable");
        let created = self
            .client()
            .create_table()
            .table_name(self.table())
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key_part("pk", KeyType::Hash))
            .key_schema(key_part("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another task created it at the same time.
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(remote("CreateTable", e)),
        }
        self.client()
            .wait_until_table_exists()
            .table_name(self.table())
            .wait(Duration::from_secs(60))
            .await
            .map_err(|e| StoreError::Remote(format!("DynamoDB table did not become ready: {e}")))?;
        self.count("UpdateTimeToLive");
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("ttl")
            .enabled(true)
            .build()
            .expect("name and flag set");
        match self
            .client()
            .update_time_to_live()
            .table_name(self.table())
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ValidationException") => Ok(()), // already on
            Err(e) => Err(remote("UpdateTimeToLive", e)),
        }
    }

    /// The table's store id, set by the first task that opens it.
    async fn store_id(&self) -> Result<String, StoreError> {
        let new = format!("{:08x}", rand::random::<u32>());
        self.count("PutItem");
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(key("M", "M")))
            .item("id", s(new.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if applied("PutItem", put)? {
            return Ok(new);
        }
        let item = self.get(key("M", "M")).await?.unwrap_or_default();
        get_str(&item, "id")
            .map(str::to_string)
            .ok_or_else(|| StoreError::Remote("DynamoDB: the store id item has no id".into()))
    }

    /// One item by key, read strongly consistent.
    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        self.count("GetItem");
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| remote("GetItem", e))?;
        Ok(out.item)
    }

    fn slot_key(&self) -> Item {
        key(format!("S#{}", self.inner.slot), "S")
    }

    /// Takes the slot lock: free, run out, or this process's. A lock held by another process is
    /// waited for up to its lease (a process killed on this slot holds it that long at most);
    /// one still renewed after that belongs to a live process on the same slot.
    async fn take_slot(&self) -> Result<(), StoreError> {
        let give_up = now_ms() + self.inner.slot_lease.as_millis() as u64 * 2 + 1000;
        let mut told = false;
        loop {
            let now = now_ms();
            let until = now + self.inner.slot_lease.as_millis() as u64;
            self.count("PutItem");
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(self.slot_key()))
                .item("holder", s(self.inner.holder.clone()))
                .item("until", num(until))
                .condition_expression("attribute_not_exists(pk) OR #until < :now OR holder = :me")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":now", num(now))
                .expression_attribute_values(":me", s(self.inner.holder.clone()))
                .send()
                .await;
            if applied("PutItem", put)? {
                tracing::info!(slot = %self.inner.slot, table = %self.table(), "store slot taken");
                return Ok(());
            }
            if now >= give_up {
                return Err(StoreError::Remote(format!(
                    "store.dynamodb.slot `{}` is in use by another running certhound; every task needs its own slot",
                    self.inner.slot
                )));
            }
            if !told {
                told = true;
                tracing::warn!(slot = %self.inner.slot, "store slot held by an earlier process; waiting for its lease to run out");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn release_slot(&self) -> Result<(), StoreError> {
        self.count("DeleteItem");
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(self.slot_key()))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(self.inner.holder.clone()))
            .send()
            .await
            .map_err(|e| remote("DeleteItem", e))?;
        Ok(())
    }

    /// Background: renews the slot lock every `slot_lease / 3` and the leases of held queue
    /// entries every `lease / 3`. Ends when the store is dropped.
    async fn keep_slot_and_leases(weak: std::sync::Weak<Inner>) {
        let mut last_leases = 0u64;
        loop {
            let Some(inner) = weak.upgrade() else { return };
            let store = Db { inner };
            let tick = store.inner.slot_lease / 3;
            if let Err(e) = store.renew_slot().await {
                if matches!(e, StoreError::SlotLost(_)) {
                    tracing::error!(slot = %store.inner.slot, "store slot lost to another process: stopping work");
                    store.inner.slot_lost.store(true, Ordering::Relaxed);
                    return;
                }
                tracing::warn!(error = %e, "cannot renew the store slot; retrying");
            }
            let now = now_ms();
            if now.saturating_sub(last_leases) >= store.inner.lease.as_millis() as u64 / 3 {
                last_leases = now;
                store.renew_leases().await;
            }
            drop(store);
            tokio::time::sleep(tick).await;
        }
    }

    async fn renew_slot(&self) -> Result<(), StoreError> {
        self.count("UpdateItem");
        let until = now_ms() + self.inner.slot_lease.as_millis() as u64;
        let renewed = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(self.slot_key()))
            .update_expression("SET #until = :until")
            .condition_expression("holder = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":until", num(until))
            .expression_attribute_values(":me", s(self.inner.holder.clone()))
            .send()
            .await;
        match applied("UpdateItem", renewed)? {
            true => Ok(()),
            false => Err(slot_lost(&self.inner.slot)),
        }
    }
}

fn slot_lost(slot: &str) -> StoreError {
    StoreError::SlotLost(slot.to_string())
}

/// Runs `fut` on `rt` and blocks this thread until it is done. Works from any thread, an actor's
/// included (a runtime's own `block_on` refuses to run inside another runtime).
fn wait_on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Remote("the DynamoDB runtime stopped".into()))
}
