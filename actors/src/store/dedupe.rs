//! The durable half of the dedupe set: registrable domains already reported and when, kept
//! within the window and the capacity, read back at each start of the matcher.

use super::*;

impl RedbStore {
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
}
