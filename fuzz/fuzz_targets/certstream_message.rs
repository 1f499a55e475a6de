//! A websocket text frame from a certstream feed: parsed, and every name it carries normalised
//! and matched by the default rules, as the matcher does.
#![no_main]

use certhound_actors::rules::{CertContext, RuleSet, Scratch};
use certhound_actors::{certstream, normalise};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static RULES: OnceLock<RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = RULES.get_or_init(|| {
        RuleSet::new(&certhound_config::MatcherConfig::default()).expect("default rules")
    });
    if let Ok((message, _seq)) = certstream::parse_with_seq(text) {
        let names = match &message {
            certstream::Message::Certificate(c) => &c.leaf_cert.all_domains[..],
            certstream::Message::Domains(d) => &d[..],
            _ => &[],
        };
        let mut scratch = Scratch::default();
        for name in names {
            let norm = normalise::normalise(name);
            let _ = rules.check(&norm, CertContext::default(), &mut scratch);
        }
    }
});
