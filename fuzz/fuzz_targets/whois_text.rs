//! A WHOIS answer (port 43 text, any encoding: read lossily as the resolver does).
#![no_main]

use certhound_actors::enrich::whois_parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = whois_parse::looks_like_no_match(&text);
    let _ = whois_parse::looks_rate_limited(&text);
    let _ = whois_parse::parse(&text);
});
