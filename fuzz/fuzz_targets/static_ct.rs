//! static-ct-api input: a data tile (gzip or not, within a size limit) and a checkpoint note
//! checked against a log key. The first byte chooses which.
#![no_main]

use certhound_actors::ct::checkpoint::{self, LogKey};
use certhound_actors::ct::tiles;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// An Ed25519 key of the loopback test log's shape (any valid key: the note is the input).
const KEY_B64: &str = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";

static KEY: OnceLock<LogKey> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        if let Ok(bytes) = tiles::maybe_gunzip(rest.to_vec(), 1 << 20) {
            let _ = tiles::parse_data_tile(&bytes);
        }
    } else {
        let key = KEY.get_or_init(|| {
            LogKey::from_spki_b64("fuzz.example/log", KEY_B64).expect("a valid key")
        });
        let _ = checkpoint::verify(rest, key);
    }
});
