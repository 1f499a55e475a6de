//! The head of an HTTP request to the certstream feed (the websocket upgrade, `?since=`).
#![no_main]

use certhound_actors::server::listener;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let listener::HeadParse::Complete(head, _) = listener::parse_head(data) {
        let _ = listener::since_of(head.query());
    }
});
