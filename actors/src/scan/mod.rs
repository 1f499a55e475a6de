//! urlscan.io: submitting findings for a scan, polling for the result, and keeping to the
//! quotas the API announces.

pub mod client;
pub mod stage;
