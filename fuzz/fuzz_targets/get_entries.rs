//! A `get-entries` response body: the JSON, the base64 of each item, each entry parsed.
#![no_main]

use certhound_actors::ct::{leaf, rfc6962};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = rfc6962::decode_entries(data, 0) {
        for r in &raw {
            let _ = leaf::parse_entry(&r.leaf_input, &r.extra_data, r.index);
        }
    }
});
