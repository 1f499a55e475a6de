//! An RDAP domain answer, and an RDAP bootstrap file.
#![no_main]

use certhound_actors::enrich::rdap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = rdap::parse(text, "rdap fuzz");
    if let Ok(b) = rdap::Bootstrap::parse(text) {
        let _ = b.base_for("paypal-login.example.com");
    }
});
