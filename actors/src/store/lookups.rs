//! Registration lookups by registrable domain: the enrich cache's durable half, so that a
//! restart does not ask the registries again.

use super::*;

impl RedbStore {
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
}
