//! The server role's place in each CT log and its reserve of feed sequence numbers, so that a
//! restart resumes where it stopped and never reuses a `seq`.

use super::*;

impl RedbStore {
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
}
