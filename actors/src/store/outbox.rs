//! The outbox: findings committed with their feed position, the queues (`pending`) of the
//! stages and channels they wait in, their delivery state per channel, and the purge of what
//! is delivered everywhere and past `store.retention`.

use super::*;

impl RedbStore {
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

    /// Like [`RedbStore::record`], but queued first for `stage` (e.g. `enrich`), which hands each
    /// finding on to the channels with [`RedbStore::advance`].
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
            // Numbers are never given twice: after the newest findings were purged the table's
            // last number is lower than one already handed out (and sent, as an id receivers
            // deduplicate on, and judged on the page), so the high-water mark is kept in `meta`.
            let mut meta = tx.open_table(META)?;
            let first = table
                .last()?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1)
                .max(read_u64(&meta, META_NEXT_FINDING)?.unwrap_or(1));
            meta.insert(
                META_NEXT_FINDING,
                (first + findings.len() as u64).to_le_bytes().as_slice(),
            )?;
            drop(meta);
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
            if !overwrite(&mut table, n, finding)? {
                return Ok(());
            }
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
            if !overwrite(&mut table, n, finding)? {
                return Ok(());
            }
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

    /// Deletes findings stored before `before` that no channel still has to deliver, with their
    /// delivery states, trace context and verdict. Returns how many were deleted. Findings are numbered in the order they were stored, so this stops at
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
            let mut verdicts = tx.open_table(VERDICTS)?;
            for n in doomed {
                table.remove(n)?;
                traces.remove(n)?;
                // The verdict goes with its finding: left behind it would be kept for nothing
                // (numbers are never given again, `record_at`).
                verdicts.remove(n)?;
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

    /// Stored findings, oldest first; only those stored at or after `since` when given.
    pub fn list(&self, since: Option<u64>) -> Result<Vec<Record>, StoreError> {
        list(&self.db.begin_read()?, since)
    }
}

/// Writes `finding` over stored finding `n`, keeping when it was stored; false (and nothing
/// written) when `n` is no longer stored.
fn overwrite(
    table: &mut redb::Table<u64, &[u8]>,
    n: u64,
    finding: &Finding,
) -> Result<bool, StoreError> {
    let stored_at = match table.get(n)? {
        Some(v) => codec::decode::<Stored>(v.value())?.stored_at,
        None => return Ok(false),
    };
    let stored = Stored {
        finding: finding.clone(),
        stored_at,
    };
    table.insert(n, codec::encode(&stored)?.as_slice())?;
    Ok(true)
}
