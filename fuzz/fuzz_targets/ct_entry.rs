//! One RFC 6962 entry (MerkleTreeLeaf and extra_data, the X.509 inside) as the decoder meets it,
//! then encoded in the three certstream forms. The input is split at its first 2 bytes: a
//! big-endian length of `leaf_input`, the rest `extra_data`.
#![no_main]

use certhound_actors::ct::cert::{Encoder, LogSource};
use certhound_actors::ct::leaf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = (u16::from_be_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (leaf_input, extra_data) = data[2..].split_at(n);
    if let Ok(entry) = leaf::parse_entry(leaf_input, extra_data, 7) {
        let source = LogSource {
            name: "fuzz".into(),
            url: "https://fuzz.example/".into(),
        };
        let mut encoder = Encoder::new(16);
        let _ = encoder.encode(
            &entry,
            &source,
            "https://fuzz.example/ct/v1/get-entries?start=7&end=7",
            1.0,
        );
    }
});
