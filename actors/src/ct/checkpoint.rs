//! STUB
pub struct LogKey;
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root_hash: [u8; 32],
    pub timestamp_ms: Option<u64>,
}
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct CheckpointError;
impl LogKey {
    pub fn from_spki_b64(_o: &str, _k: &str) -> Result<LogKey, CheckpointError> {
        Ok(LogKey)
    }
}
pub fn verify(_n: &[u8], _k: &LogKey) -> Result<Checkpoint, CheckpointError> {
    Err(CheckpointError)
}
