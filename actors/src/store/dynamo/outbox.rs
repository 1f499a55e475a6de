//! The outbox on DynamoDB: findings stored with their dedupe entry (first writer wins), queue
//! entries claimed under a lease, and delivery states marked by the lease's holder only.

use super::*;
use crate::finding::Finding;
use crate::store::{codec, ChannelState, Delivery, Record, Verdict};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use futures_util::stream::{self, StreamExt};

/// Findings stored (or queue entries claimed, marked) at once: requests in flight per call.
const IN_FLIGHT: usize = 16;

pub(super) fn finding_pk(n: u64) -> String {
    format!("F#{n}")
}

fn channel_sk(channel: &str) -> String {
    format!("C#{channel}")
}

/// What became of one finding offered to the table.
enum Offered {
    Stored(u64),
    /// Another task stored this registrable domain within the window first.
    Duplicate,
}

/// Whether a cancelled transaction failed on its first item's condition (the dedupe entry, the
/// queue entry's lease), and only on that.
fn cancelled_by_first_condition(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        impl std::fmt::Debug,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match e.as_service_error() {
        Some(E::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .first()
            .and_then(|r| r.code())
            .is_some_and(|c| c == "ConditionalCheckFailed"),
        _ => false,
    }
}

impl Db {
    /// A plain put of `item` in a transaction.
    pub(super) fn put(&self, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .build()
            .expect("table and item");
        TransactWriteItem::builder().put(put).build()
    }

    /// Reserves `count` finding numbers; returns the first.
    async fn reserve_numbers(&self, count: u64) -> Result<u64, StoreError> {
        self.count("UpdateItem");
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key("M", "N")))
            .update_expression("ADD #next :k")
            .expression_attribute_names("#next", "next")
            .expression_attribute_values(":k", num(count))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| remote("UpdateItem", e))?;
        let last = out
            .attributes
            .as_ref()
            .and_then(|a| get_num(a, "next"))
            .ok_or_else(|| StoreError::Remote("DynamoDB: the counter came back empty".into()))?;
        Ok(last + 1 - count)
    }

    /// Stores finding `n` with its dedupe entry, its delivery states and its first queue entry,
    /// in one transaction conditioned on the dedupe entry.
    async fn offer(
        &self,
        n: u64,
        mut finding: Finding,
        stage: Option<String>,
        channels: Vec<String>,
        now: u64,
    ) -> Result<Offered, StoreError> {
        finding.id = format!("{}:{n}", self.inner.id);
        let window = self.inner.dedupe_window.as_secs();
        let dedupe = Put::builder()
            .table_name(self.table())
            .set_item(Some(key(format!("D#{}", finding.registrable_domain), "D")))
            .item("reported_at", num(now))
            // A day past the window: the condition, not the TTL's timing, decides.
            .item("ttl", num(now + window + 86_400))
            .condition_expression("attribute_not_exists(pk) OR reported_at < :window_start")
            .expression_attribute_values(":window_start", num(now.saturating_sub(window)))
            .build()
            .expect("table and item");
        let mut f = key(finding_pk(n), "F");
        f.insert("body".into(), bytes(codec::encode(&finding)?));
        f.insert("stored_at".into(), num(now));
        f.insert("open".into(), num(channels.len() as u64));
        if let Some(t) = &finding.trace_parent {
            f.insert("trace".into(), s(t.clone()));
        }
        let mut items = vec![
            TransactWriteItem::builder().put(dedupe).build(),
            self.put(f),
        ];
        let pending = codec::encode(&Delivery::Pending)?;
        for c in &channels {
            let mut d = key(finding_pk(n), channel_sk(c));
            d.insert("state".into(), bytes(pending.clone()));
            items.push(self.put(d));
        }
        let queues: Vec<&String> = match &stage {
            Some(stage) => vec![stage],
            None => channels.iter().collect(),
        };
        for q in queues {
            let mut e = key(queue_pk(q), queue_sk(n));
            e.insert("n".into(), num(n));
            items.push(self.put(e));
        }
        self.count("TransactWriteItems");
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            // The SDK retries a transaction whose answer was lost; with the same token
            // DynamoDB answers the retry as the first (stored), where the dedupe condition
            // alone would call the finding a duplicate of itself.
            .client_request_token(format!("{}-{n}", self.inner.id))
            .send()
            .await
        {
            Ok(_) => Ok(Offered::Stored(n)),
            Err(e) if cancelled_by_first_condition(&e) => Ok(Offered::Duplicate),
            Err(e) => Err(remote("TransactWriteItems", e)),
        }
    }

    /// See [`DynamoStore::record_at`]: the ids given (empty for a duplicate), in order.
    async fn record_at(
        &self,
        findings: Vec<Finding>,
        stage: Option<String>,
        channels: Vec<String>,
        cursor: Option<u64>,
        now: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut ids = vec![String::new(); findings.len()];
        if !findings.is_empty() {
            let first = self.reserve_numbers(findings.len() as u64).await?;
            let offers = findings.into_iter().enumerate().map(|(i, f)| {
                let (stage, channels) = (stage.clone(), channels.clone());
                async move {
                    (
                        i,
                        self.offer(first + i as u64, f, stage, channels, now).await,
                    )
                }
            });
            let mut results = stream::iter(offers).buffer_unordered(IN_FLIGHT);
            let mut failed = None;
            while let Some((i, r)) = results.next().await {
                match r {
                    Ok(Offered::Stored(n)) => ids[i] = format!("{}:{n}", self.inner.id),
                    Ok(Offered::Duplicate) => {}
                    Err(e) => failed = Some(e),
                }
            }
            // Some of the batch may be stored: offered again, those are duplicates of
            // themselves (their dedupe entry is in), so a retry stores the rest only.
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if let Some(c) = cursor {
            self.save_cursor(c).await?;
        }
        Ok(ids)
    }

    /// Claims up to `limit` entries of `queue`, oldest first: free ones, ones whose lease ran
    /// out, and this slot's own (a restarted task takes back its work at once).
    async fn pending(
        &self,
        queue: String,
        limit: usize,
    ) -> Result<Vec<(u64, Finding)>, StoreError> {
        let me = self.inner.slot.clone();
        let now = now_ms();
        let lease_ms = self.inner.lease.as_millis() as u64;
        let mut candidates = Vec::new();
        let mut start = None;
        'pages: loop {
            self.count("Query");
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :q")
                .expression_attribute_values(":q", s(queue_pk(&queue)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .limit(100)
                .send()
                .await
                .map_err(|e| remote("Query", e))?;
            for item in out.items() {
                let Some(n) = get_num(item, "n") else {
                    continue;
                };
                let until = get_num(item, "lease_until").unwrap_or(0);
                let mine = get_str(item, "lease_by") == Some(me.as_str());
                if until < now || mine {
                    candidates.push((n, mine && until > now + lease_ms / 3));
                    if candidates.len() >= limit {
                        break 'pages;
                    }
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let claims = candidates.into_iter().map(|(n, fresh)| {
            let queue = queue.clone();
            async move {
                if fresh {
                    return Ok(Some(n));
                }
                self.claim(&queue, n).await.map(|won| won.then_some(n))
            }
        });
        let mut claimed: Vec<u64> = stream::iter(claims)
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        claimed.sort_unstable();
        let mut findings = self.findings(&claimed).await?;
        findings.sort_by_key(|(n, _)| *n);
        Ok(findings)
    }

    /// One conditional claim; false when another task holds the entry or it is gone.
    async fn claim(&self, queue: &str, n: u64) -> Result<bool, StoreError> {
        let now = now_ms();
        let until = now + self.inner.lease.as_millis() as u64;
        self.count("UpdateItem");
        let r = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(queue_pk(queue), queue_sk(n))))
            .update_expression("SET lease_by = :me, lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_by = :me)",
            )
            .expression_attribute_values(":me", s(self.inner.slot.clone()))
            .expression_attribute_values(":until", num(until))
            .expression_attribute_values(":now", num(now))
            .send()
            .await;
        let won = applied("UpdateItem", r)?;
        if won {
            self.hold(queue, n, Some(until));
        }
        Ok(won)
    }

    /// Notes (or with `None` forgets) a held queue entry for the renewals.
    pub(super) fn hold(&self, queue: &str, n: u64, until: Option<u64>) {
        let mut held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        match until {
            Some(u) => held.insert((queue.to_string(), n), u),
            None => held.remove(&(queue.to_string(), n)),
        };
    }

    /// The stored findings of numbers `ns` (those still stored), with their trace context.
    async fn findings(&self, ns: &[u64]) -> Result<Vec<(u64, Finding)>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut out = Vec::with_capacity(ns.len());
        for chunk in ns.chunks(100) {
            let keys = chunk
                .iter()
                .map(|n| key(finding_pk(*n), "F"))
                .collect::<Vec<_>>();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .expect("keys set"),
            );
            while let Some(r) = request.take() {
                self.count("BatchGetItem");
                let got = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), r)
                    .send()
                    .await
                    .map_err(|e| remote("BatchGetItem", e))?;
                for item in got
                    .responses()
                    .and_then(|r| r.get(self.table()))
                    .into_iter()
                    .flatten()
                {
                    out.push(decode_finding(item)?);
                }
                // What DynamoDB did not get to this time (size or throughput): asked again.
                request = got
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table()))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(out)
    }

    /// Updates the finding's body in place (the condition keeps a purged finding purged).
    fn update_finding(&self, n: u64, finding: &Finding) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(finding_pk(n), "F")))
            .update_expression("SET body = :b")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":b", bytes(codec::encode(finding)?))
            .build()
            .expect("table, key and expression");
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Deletes this slot's claimed queue entry `n` of `queue`, conditioned on still holding it.
    fn release(&self, queue: &str, n: u64) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(queue_pk(queue), queue_sk(n))))
            .condition_expression("lease_by = :me")
            .expression_attribute_values(":me", s(self.inner.slot.clone()))
            .build()
            .expect("table and key");
        TransactWriteItem::builder().delete(delete).build()
    }

    fn queue_entry(&self, queue: &str, n: u64) -> TransactWriteItem {
        let mut e = key(queue_pk(queue), queue_sk(n));
        e.insert("n".into(), num(n));
        self.put(e)
    }

    /// A delivery state written as final: it expires `store.retention` from now.
    fn final_state(
        &self,
        n: u64,
        channel: &str,
        state: &Delivery,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut d = key(finding_pk(n), channel_sk(channel));
        d.insert("state".into(), bytes(codec::encode(state)?));
        d.insert("ttl".into(), num(self.expiry()));
        Ok(self.put(d))
    }

    /// Runs one transaction of a holder; false when its first item's condition failed (the
    /// entry is no longer this slot's: already done, or taken over after the lease ran out).
    pub(super) async fn transact_held(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        self.count("TransactWriteItems");
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if cancelled_by_first_condition(&e) => Ok(false),
            Err(e) => Err(remote("TransactWriteItems", e)),
        }
    }

    async fn advance(
        &self,
        stage: String,
        n: u64,
        finding: Finding,
        next_stage: Option<String>,
        channels: Vec<String>,
        skip: Option<String>,
    ) -> Result<(), StoreError> {
        let mut items = vec![self.release(&stage, n)];
        match (&next_stage, &skip) {
            (_, Some(reason)) => {
                // Skipped everywhere: the finding is final at once.
                let done = Update::builder()
                    .table_name(self.table())
                    .set_key(Some(key(finding_pk(n), "F")))
                    .update_expression("SET body = :b, #open = :zero, #ttl = :ttl")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#open", "open")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":b", bytes(codec::encode(&finding)?))
                    .expression_attribute_values(":zero", num(0))
                    .expression_attribute_values(":ttl", num(self.expiry()))
                    .build()
                    .expect("table, key and expression");
                items.push(TransactWriteItem::builder().update(done).build());
                let state = Delivery::Skipped {
                    reason: reason.clone(),
                };
                for c in &channels {
                    items.push(self.final_state(n, c, &state)?);
                }
            }
            (Some(next), None) => {
                items.push(self.update_finding(n, &finding)?);
                items.push(self.queue_entry(next, n));
            }
            (None, None) => {
                items.push(self.update_finding(n, &finding)?);
                for c in &channels {
                    items.push(self.queue_entry(c, n));
                }
            }
        }
        if !self.transact_held(items).await? {
            tracing::warn!(
                stage,
                n,
                "queue entry no longer held (done, or taken over after its lease)"
            );
        }
        self.hold(&stage, n, None);
        Ok(())
    }

    /// When something final now expires.
    pub(super) fn expiry(&self) -> u64 {
        super::super::unix_now() + self.inner.retention.as_secs()
    }

    async fn update(&self, n: u64, finding: Finding) -> Result<(), StoreError> {
        self.count("UpdateItem");
        let updated = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(finding_pk(n), "F")))
            .update_expression("SET body = :b")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":b", bytes(codec::encode(&finding)?))
            .send()
            .await;
        // Not applied: the finding is gone (purged), as in the redb store.
        applied("UpdateItem", updated).map(drop)
    }

    /// Records one channel's outcome for finding `n`: off the queue (if still held), the state
    /// final, one channel fewer open; the finding gets its expiry when none is left.
    async fn mark_one(&self, channel: &str, n: u64, outcome: &Delivery) -> Result<(), StoreError> {
        let open = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(finding_pk(n), "F")))
            .update_expression("ADD #open :minus_one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()))
            .build()
            .expect("table, key and expression");
        let items = vec![
            self.release(channel, n),
            self.final_state(n, channel, outcome)?,
            TransactWriteItem::builder().update(open).build(),
        ];
        self.hold(channel, n, None);
        if !self.transact_held(items).await? {
            tracing::warn!(
                channel,
                n,
                "delivery no longer held when marked (taken over after its lease ran out?)"
            );
            return Ok(());
        }
        self.count("UpdateItem");
        let expiring = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(finding_pk(n), "F")))
            .update_expression("SET #ttl = :ttl")
            .condition_expression("#open <= :zero")
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ttl", num(self.expiry()))
            .expression_attribute_values(":zero", num(0))
            .send()
            .await;
        // Not applied: another channel is still open; its mark sets the expiry.
        applied("UpdateItem", expiring).map(drop)
    }

    async fn mark(
        &self,
        channel: String,
        outcomes: Vec<(u64, Delivery)>,
    ) -> Result<(), StoreError> {
        let marks = outcomes.into_iter().map(|(n, outcome)| {
            let channel = channel.clone();
            async move { self.mark_one(&channel, n, &outcome).await }
        });
        stream::iter(marks)
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<()>, _>>()?;
        Ok(())
    }

    /// Every finding item with its delivery states and verdict, by a scan of the table (for
    /// `certhound findings`; its cost is the table's size, which the TTL bounds).
    async fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        let mut gathered = Gathered::default();
        let mut start = None;
        loop {
            self.count("Scan");
            let out = self
                .client()
                .scan()
                .table_name(self.table())
                .filter_expression("begins_with(pk, :f)")
                .expression_attribute_values(":f", s("F#"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| remote("Scan", e))?;
            for item in out.items() {
                gathered.add(item)?;
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(gathered.records(since))
    }

    /// Finding `n` with its delivery states and verdict: one query of its partition.
    pub(super) async fn record(&self, n: u64) -> Result<Option<Record>, StoreError> {
        let mut gathered = Gathered::default();
        let mut start = None;
        loop {
            self.count("Query");
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :f")
                .expression_attribute_values(":f", s(finding_pk(n)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| remote("Query", e))?;
            for item in out.items() {
                gathered.add(item)?;
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(gathered.records(None).pop())
    }

    /// Counts of finding items and queue entries (a scan: at start only).
    async fn summary(&self) -> Result<(u64, u64), StoreError> {
        let (mut findings, mut pending) = (0, 0);
        let mut start = None;
        loop {
            self.count("Scan");
            let out = self
                .client()
                .scan()
                .table_name(self.table())
                .projection_expression("pk, sk")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| remote("Scan", e))?;
            for item in out.items() {
                let pk = get_str(item, "pk").unwrap_or("");
                if pk.starts_with("Q#") {
                    pending += 1;
                } else if pk.starts_with("F#") && get_str(item, "sk") == Some("F") {
                    findings += 1;
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok((findings, pending))
    }
}

/// The items of findings' partitions (`F#<n>`: the finding, its delivery states, its verdict)
/// as a scan or a query returns them, in any order, made into records.
#[derive(Default)]
struct Gathered {
    findings: BTreeMap<u64, (Finding, u64)>,
    channels: BTreeMap<u64, Vec<ChannelState>>,
    verdicts: BTreeMap<u64, Verdict>,
}

impl Gathered {
    /// Takes one item; items of other partitions and kinds are passed over.
    fn add(&mut self, item: &Item) -> Result<(), StoreError> {
        let Some(n) = get_str(item, "pk")
            .and_then(|p| p.strip_prefix("F#"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return Ok(());
        };
        match get_str(item, "sk") {
            Some("F") => {
                let (_, f) = decode_finding(item)?;
                self.findings
                    .insert(n, (f, get_num(item, "stored_at").unwrap_or(0)));
            }
            Some(c) if c.starts_with("C#") => {
                let state = get_bytes(item, "state").ok_or_else(|| {
                    StoreError::Remote(format!("DynamoDB: delivery state {n}/{c} has no state"))
                })?;
                self.channels.entry(n).or_default().push(ChannelState {
                    channel: c[2..].to_string(),
                    state: codec::decode(state)?,
                });
            }
            Some("V") => {
                self.verdicts.insert(n, super::verdicts::decode(n, item)?);
            }
            _ => {}
        }
        Ok(())
    }

    /// The findings gathered (stored at or after `since` when given), by number; delivery
    /// states and verdicts whose finding is gone (expired first) are left out.
    fn records(mut self, since: Option<u64>) -> Vec<Record> {
        self.findings
            .into_iter()
            .filter(|(_, (_, at))| since.is_none_or(|s| *at >= s))
            .map(|(n, (finding, stored_at))| {
                let mut channels = self.channels.remove(&n).unwrap_or_default();
                channels.sort_by(|a, b| a.channel.cmp(&b.channel));
                Record {
                    finding,
                    stored_at,
                    channels,
                    verdict: self.verdicts.remove(&n),
                }
            })
            .collect()
    }
}

fn decode_finding(item: &Item) -> Result<(u64, Finding), StoreError> {
    let n = get_str(item, "pk")
        .and_then(|p| p.strip_prefix("F#"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Remote("DynamoDB: a finding item without its number".into()))?;
    let body = get_bytes(item, "body")
        .ok_or_else(|| StoreError::Remote(format!("DynamoDB: finding {n} has no body")))?;
    let mut finding: Finding = codec::decode(body)?;
    finding.trace_parent = get_str(item, "trace").map(str::to_string);
    Ok((n, finding))
}

impl DynamoStore {
    /// Stores `findings` (giving each its id), each in one transaction with its dedupe entry,
    /// its delivery states and its first queue entry; then moves this slot's cursor. A finding
    /// whose registrable domain another task stored within the window is not stored: its id
    /// stays empty. Returns how many were stored.
    pub fn record_at(
        &self,
        findings: &mut [Finding],
        stage: Option<&str>,
        channels: &[&str],
        cursor: Option<u64>,
        now: u64,
    ) -> Result<usize, StoreError> {
        let batch = findings.to_vec();
        let stage = stage.map(str::to_string);
        let channels = channels.iter().map(|c| c.to_string()).collect();
        let ids =
            self.run(
                move |db| async move { db.record_at(batch, stage, channels, cursor, now).await },
            )?;
        let mut stored = 0;
        for (f, id) in findings.iter_mut().zip(ids) {
            stored += usize::from(!id.is_empty());
            f.id = id;
        }
        Ok(stored)
    }

    /// Claims and returns up to `limit` entries of `queue` (see the module doc).
    pub fn pending(&self, queue: &str, limit: usize) -> Result<Vec<(u64, Finding)>, StoreError> {
        let queue = queue.to_string();
        self.run(move |db| async move { db.pending(queue, limit).await })
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
        let (stage, finding) = (stage.to_string(), finding.clone());
        let next_stage = next_stage.map(str::to_string);
        let channels = channels.iter().map(|c| c.to_string()).collect();
        let skip = skip.map(str::to_string);
        self.run(move |db| async move {
            db.advance(stage, n, finding, next_stage, channels, skip)
                .await
        })
    }

    pub fn update(&self, n: u64, finding: &Finding) -> Result<(), StoreError> {
        let finding = finding.clone();
        self.run(move |db| async move { db.update(n, finding).await })
    }

    pub fn mark(&self, channel: &str, outcomes: &[(u64, Delivery)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (channel, outcomes) = (channel.to_string(), outcomes.to_vec());
        self.run(move |db| async move { db.mark(channel, outcomes).await })
    }

    pub fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        self.run(move |db| async move { db.list(since).await })
    }

    /// (findings, queue entries) in the table.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        self.run(|db| async move { db.summary().await })
    }
}
