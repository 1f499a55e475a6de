//! STUB (replaced by the real encoder at merge).
use crate::ct::{DecodeError, LogEntry};
pub struct LogSource {
    pub name: String,
    pub url: String,
}
#[derive(Debug)]
pub struct Encoded {
    pub lite: Vec<u8>,
    pub full: Vec<u8>,
    pub domains: Vec<u8>,
    pub all_domains: Vec<String>,
}
pub struct Encoder;
impl Encoder {
    pub fn new(_n: usize) -> Encoder {
        Encoder
    }
    pub fn encode(
        &mut self,
        _e: &LogEntry,
        _s: &LogSource,
        _l: &str,
        _seen: f64,
    ) -> Result<Encoded, DecodeError> {
        Err(DecodeError::Truncated("stub"))
    }
}
