//! Loading of the real-world fixtures in `tests/fixtures/` (see its README for origins and
//! licences): the CaliDog certstream message, the 30 live CT entries with the certstream messages
//! an independent server produced for them, and the labelled domain list.

use std::path::PathBuf;

/// Path of a file under `tests/fixtures/`.
pub fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// Text of a file under `tests/fixtures/`; panics with the path when it cannot be read.
pub fn read_fixture(relative: &str) -> String {
    let path = fixture_path(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// The real CaliDog `certificate_update` message (pretty-printed in the fixture), re-serialised as
/// one compact line as it is sent on the wire.
pub fn calidog_message() -> String {
    let value: serde_json::Value =
        serde_json::from_str(&read_fixture("certstream/calidog_message.json"))
            .expect("calidog_message.json is JSON");
    serde_json::to_string(&value).expect("serialise")
}

/// One of the 30 live CT entries, with the three certstream messages produced for it.
#[derive(Debug, Clone)]
pub struct LiveEntry {
    pub name: String,
    pub cert_index: u64,
    /// `certificate_update` as sent on `/` (no `as_der`, no `chain`).
    pub expected_lite: String,
    /// `certificate_update` as sent on `/full-stream` (with `as_der` and `chain`).
    pub expected_full: String,
    /// `dns_entries` as sent on `/domains-only`.
    pub expected_domains_only: String,
}

impl LiveEntry {
    /// The names the entry's messages carry (`data` of the domains-only message).
    pub fn domains(&self) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&self.expected_domains_only)
            .expect("expected_domains_only is JSON");
        v["data"]
            .as_array()
            .expect("dns_entries data is an array")
            .iter()
            .map(|d| d.as_str().expect("domain is a string").to_string())
            .collect()
    }
}

/// The 30 entries of `ct/live_entries.json`.
pub fn live_entries() -> Vec<LiveEntry> {
    let v: serde_json::Value = serde_json::from_str(&read_fixture("ct/live_entries.json"))
        .expect("live_entries.json is JSON");
    v.as_array()
        .expect("live_entries.json is an array")
        .iter()
        .map(|e| {
            let s = |k: &str| {
                e[k].as_str()
                    .unwrap_or_else(|| panic!("live entry field {k} is not a string"))
                    .to_string()
            };
            LiveEntry {
                name: s("name"),
                cert_index: e["cert_index"].as_u64().expect("cert_index"),
                expected_lite: s("expected_lite"),
                expected_full: s("expected_full"),
                expected_domains_only: s("expected_domains_only"),
            }
        })
        .collect()
}

/// `(domain, label)` pairs of `domains/labelled.tsv`; label is `phishing` or `benign`.
pub fn labelled_domains() -> Vec<(String, String)> {
    read_fixture("domains/labelled.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (d, label) = l.split_once('\t')?;
            Some((d.trim().to_string(), label.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_load() {
        let entries = live_entries();
        assert_eq!(entries.len(), 30);
        for e in &entries {
            let lite: serde_json::Value = serde_json::from_str(&e.expected_lite).unwrap();
            assert_eq!(lite["message_type"], "certificate_update");
            assert!(lite["data"]["leaf_cert"]["as_der"].is_null(), "{}", e.name);
            let full: serde_json::Value = serde_json::from_str(&e.expected_full).unwrap();
            assert!(full["data"]["chain"].is_array(), "{}", e.name);
            assert!(!e.domains().is_empty(), "{}", e.name);
        }
        let calidog: serde_json::Value = serde_json::from_str(&calidog_message()).unwrap();
        assert_eq!(
            calidog["data"]["leaf_cert"]["all_domains"][0],
            "cebit.hannover-verkehr.de"
        );
        let labelled = labelled_domains();
        assert!(labelled.iter().filter(|(_, l)| l == "benign").count() > 2000);
        assert!(labelled.iter().filter(|(_, l)| l == "phishing").count() > 2000);
    }
}
