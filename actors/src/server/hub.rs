//! STUB
use crate::metrics::Metrics;
use certhound_config::ServerConfig;
use std::sync::Arc;
#[derive(Clone)]
pub struct Hub;
impl Hub {
    pub fn new(_c: &ServerConfig, _f: u64, _m: Arc<Metrics>) -> Hub {
        Hub
    }
    pub fn publish(&self, _l: &[u8], _f: &[u8], _d: &[u8]) -> u64 {
        0
    }
    pub fn last_seq(&self) -> u64 {
        0
    }
}
