//! What a task keeps on DynamoDB besides the outbox: its feed position and its server role's CT
//! positions (under its slot), the shared registration lookups, and the renewal of the leases it
//! holds.

use super::*;
use serde::{de::DeserializeOwned, Serialize};

fn slot_pk(slot: &str) -> String {
    format!("T#{slot}")
}

impl Db {
    /// Moves this slot's feed position forward (never back: a late commit of an older batch
    /// leaves it).
    pub(super) async fn save_cursor(&self, cursor: u64) -> Result<(), StoreError> {
        self.count("UpdateItem");
        let moved = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(slot_pk(&self.inner.slot), "T")))
            .update_expression("SET #cursor = :c")
            .condition_expression("attribute_not_exists(#cursor) OR #cursor < :c")
            .expression_attribute_names("#cursor", "cursor")
            .expression_attribute_values(":c", num(cursor))
            .send()
            .await;
        applied("UpdateItem", moved).map(drop)
    }

    async fn cursor(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .get(key(slot_pk(&self.inner.slot), "T"))
            .await?
            .and_then(|i| get_num(&i, "cursor")))
    }

    /// Renews the lease of every held queue entry claimed or renewed more than `lease / 3` ago;
    /// an entry this slot no longer holds (done, or taken) is forgotten.
    pub(super) async fn renew_leases(&self) {
        let lease = self.inner.lease.as_millis() as u64;
        let now = now_ms();
        let due: Vec<(String, u64)> = self
            .inner
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, until)| **until < now + lease - lease / 3)
            .map(|(k, _)| k.clone())
            .collect();
        for (queue, n) in due {
            let until = now_ms() + lease;
            self.count("UpdateItem");
            let r = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(queue_pk(&queue), queue_sk(n))))
                .update_expression("SET lease_until = :until")
                .condition_expression("lease_by = :me")
                .expression_attribute_values(":me", s(self.inner.slot.clone()))
                .expression_attribute_values(":until", num(until))
                .send()
                .await;
            match applied("UpdateItem", r) {
                Ok(true) => {
                    // Only if still held: marking may have forgotten it meanwhile.
                    let mut held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(u) = held.get_mut(&(queue.clone(), n)) {
                        *u = until;
                    }
                }
                Ok(false) => self.hold(&queue, n, None),
                Err(e) => {
                    tracing::warn!(error = %e, queue, n, "cannot renew a lease; retrying")
                }
            }
        }
    }

    async fn get_lookup(&self, domain: String) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .get(key(format!("L#{domain}"), "L"))
            .await?
            .and_then(|i| get_bytes(&i, "body").map(<[u8]>::to_vec)))
    }

    async fn put_lookup(&self, domain: String, body: Vec<u8>) -> Result<(), StoreError> {
        let mut item = key(format!("L#{domain}"), "L");
        item.insert("body".into(), bytes(body));
        item.insert("ttl".into(), num(self.expiry()));
        self.put_item(item).await
    }

    async fn server_state(&self) -> Result<(Vec<(String, u64)>, u64), StoreError> {
        let Some(item) = self.get(key(slot_pk(&self.inner.slot), "CT")).await? else {
            return Ok((Vec::new(), 0));
        };
        let positions = item
            .get("positions")
            .and_then(|p| p.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(log, v)| Some((log.clone(), v.as_n().ok()?.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok((positions, get_num(&item, "seq_reserved").unwrap_or(0)))
    }

    /// The slot's server state, read and written whole: only this slot's process writes it.
    async fn save_server_state(
        &self,
        positions: Vec<(String, u64)>,
        seq_reserved: u64,
        clean: bool,
    ) -> Result<(), StoreError> {
        let (mut current, reserved) = self.server_state().await?;
        for (log, next) in positions {
            match current.iter_mut().find(|(l, _)| *l == log) {
                Some((_, at)) => *at = (*at).max(next),
                None => current.push((log, next)),
            }
        }
        let reserved = if seq_reserved > reserved || clean {
            seq_reserved
        } else {
            reserved
        };
        let mut item = key(slot_pk(&self.inner.slot), "CT");
        item.insert(
            "positions".into(),
            AttributeValue::M(current.into_iter().map(|(l, n)| (l, num(n))).collect()),
        );
        item.insert("seq_reserved".into(), num(reserved));
        self.put_item(item).await
    }

    /// Writes `item` whole, unconditionally.
    async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.count("PutItem");
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| remote("PutItem", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// This slot's feed position.
    pub fn cursor(&self) -> Result<Option<u64>, StoreError> {
        self.run(|db| async move { db.cursor().await })
    }

    pub fn get_lookup<T: DeserializeOwned>(&self, domain: &str) -> Result<Option<T>, StoreError> {
        let domain = domain.to_string();
        match self.run(move |db| async move { db.get_lookup(domain).await })? {
            Some(b) => Ok(Some(crate::store::codec::decode(&b)?)),
            None => Ok(None),
        }
    }

    pub fn put_lookup<T: Serialize>(&self, domain: &str, value: &T) -> Result<(), StoreError> {
        let (domain, body) = (domain.to_string(), crate::store::codec::encode(value)?);
        self.run(move |db| async move { db.put_lookup(domain, body).await })
    }

    pub fn server_state(&self) -> Result<(Vec<(String, u64)>, u64), StoreError> {
        self.run(|db| async move { db.server_state().await })
    }

    pub fn save_server_state(
        &self,
        positions: &[(String, u64)],
        seq_reserved: u64,
        clean: bool,
    ) -> Result<(), StoreError> {
        let positions = positions.to_vec();
        self.run(
            move |db| async move { db.save_server_state(positions, seq_reserved, clean).await },
        )
    }
}
