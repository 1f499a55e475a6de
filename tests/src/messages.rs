//! Builders of certstream JSON text messages in the shapes real servers send (modelled on the
//! fixtures' `expected_lite`, `expected_full` and `expected_domains_only`): lite
//! `certificate_update` (`/`), full-stream `certificate_update` with `as_der` and `chain`
//! (`/full-stream`), `dns_entries` (`/domains-only`) and `heartbeat`.
//!
//! The real messages themselves are in [`crate::fixtures`].

use serde_json::{json, Value};

/// Log the synthetic certificates claim to come from.
pub const SOURCE_NAME: &str = "Google 'Argon2026h2'";
pub const SOURCE_URL: &str = "https://ct.googleapis.com/logs/us1/argon2026h2/";

/// The `data` of a lite `certificate_update` for `domains` (the first is the subject CN, as in
/// real certificates), as a JSON value that tests can alter (to make malformed messages).
pub fn certificate_update_value(domains: &[&str], cert_index: u64, full: bool) -> Value {
    let cn = domains.first().copied().unwrap_or("");
    let serial = format!(
        "{:032X}",
        0x5EED_0000_0000_0000u128 ^ (cert_index as u128 * 0x9E37_79B9)
    );
    let sha1 = colon_hex(&pseudo_bytes(cert_index, 20));
    let sha256 = colon_hex(&pseudo_bytes(cert_index ^ 0xA5A5, 32));
    let not_before = 1_779_299_292u64 + cert_index % 86_400;
    let san = domains
        .iter()
        .map(|d| format!("DNS:{d}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut leaf = json!({
        "subject": {"CN": cn, "aggregated": format!("/CN={cn}")},
        "issuer": {
            "C": "US", "CN": "WR1", "O": "Google Trust Services",
            "aggregated": "/C=US/CN=WR1/O=Google Trust Services"
        },
        "serial_number": serial,
        "not_before": not_before,
        "not_after": not_before + 7_776_000,
        "fingerprint": sha1,
        "sha1": sha1,
        "sha256": sha256,
        "signature_algorithm": "sha256, rsa",
        "is_ca": false,
        "all_domains": domains,
        "extensions": {
            "authorityInfoAccess": "URI:http://o.pki.goog/s/wr1/uZc, URI:http://i.pki.goog/wr1.crt",
            "basicConstraints": "CA:FALSE",
            "certificatePolicies": "Policy: 2.23.140.1.2.1\n",
            "extendedKeyUsage": "serverAuth",
            "keyUsage": "Digital Signature, Key Encipherment",
            "subjectAltName": san,
            "ctlPoisonByte": true
        }
    });
    let mut data = json!({
        "update_type": "PrecertLogEntry",
        "leaf_cert": Value::Null,
        "cert_index": cert_index,
        "cert_link": format!("{SOURCE_URL}ct/v1/get-entries?start={cert_index}&end={cert_index}"),
        "seen": 1_700_000_000.0 + cert_index as f64 / 1000.0,
        "source": {"name": SOURCE_NAME, "url": SOURCE_URL}
    });
    if full {
        leaf["as_der"] = Value::String(base64(&pseudo_bytes(cert_index, 600)));
        data["chain"] = json!([{
            "subject": {
                "C": "US", "CN": "WR1", "O": "Google Trust Services",
                "aggregated": "/C=US/CN=WR1/O=Google Trust Services"
            },
            "issuer": {
                "C": "US", "CN": "GTS Root R1", "O": "Google Trust Services LLC",
                "aggregated": "/C=US/CN=GTS Root R1/O=Google Trust Services LLC"
            },
            "serial_number": "7FD9E2C2D2048A0474B627A26D0868A7",
            "not_before": 1_702_458_000u64,
            "not_after": 1_866_290_400u64,
            "fingerprint": "41:F0:91:69:2F:3B:70:80:3B:D1:FD:77:E9:29:63:D1:13:71:8C:D2",
            "sha1": "41:F0:91:69:2F:3B:70:80:3B:D1:FD:77:E9:29:63:D1:13:71:8C:D2",
            "signature_algorithm": "sha256, rsa",
            "is_ca": true,
            "as_der": base64(&pseudo_bytes(7, 400)),
            "extensions": {"basicConstraints": "CA:TRUE"}
        }]);
    }
    data["leaf_cert"] = leaf;
    json!({"message_type": "certificate_update", "data": data})
}

/// A lite `certificate_update` (as on `/`) carrying `domains`.
pub fn lite(domains: &[&str], cert_index: u64) -> String {
    certificate_update_value(domains, cert_index, false).to_string()
}

/// A full-stream `certificate_update` (as on `/full-stream`): `as_der` and `chain` added.
pub fn full(domains: &[&str], cert_index: u64) -> String {
    certificate_update_value(domains, cert_index, true).to_string()
}

/// A `dns_entries` message (as on `/domains-only`).
pub fn domains_only(domains: &[&str]) -> String {
    json!({"message_type": "dns_entries", "data": domains}).to_string()
}

/// A `heartbeat` message (the old Python server sent one every 10 s).
pub fn heartbeat() -> String {
    json!({"message_type": "heartbeat", "timestamp": 1_700_000_000.0}).to_string()
}

/// A lite `certificate_update` for `domains`, made at least `min_len` bytes long by a long (but
/// plausible) extension value, still valid JSON.
pub fn lite_padded(domains: &[&str], cert_index: u64, min_len: usize) -> String {
    let mut v = certificate_update_value(domains, cert_index, false);
    let base = v.to_string().len();
    let pad = min_len.saturating_sub(base) + 1;
    let mut sct = base64(&pseudo_bytes(cert_index, pad));
    sct.truncate(pad);
    v["data"]["leaf_cert"]["extensions"]["ctlSignedCertificateTimestamp"] = Value::String(sct);
    let s = v.to_string();
    assert!(s.len() >= min_len);
    s
}

/// Deterministic bytes (splitmix64 of the seed).
fn pseudo_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x1234_5678);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::live_entries;
    use std::collections::BTreeSet;

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// The synthetic messages have the fields of the real ones (a superset check would let the
    /// builders drift from the real shape).
    #[test]
    fn builders_follow_the_real_shapes() {
        let real = &live_entries()[0];
        let real_lite: Value = serde_json::from_str(&real.expected_lite).unwrap();
        let real_full: Value = serde_json::from_str(&real.expected_full).unwrap();
        let ours_lite: Value =
            serde_json::from_str(&lite(&["a.example", "b.example"], 42)).unwrap();
        let ours_full: Value = serde_json::from_str(&full(&["a.example"], 42)).unwrap();

        for (real, ours) in [(&real_lite, &ours_lite), (&real_full, &ours_full)] {
            assert_eq!(keys(real), keys(ours));
            let mut real_data = keys(&real["data"]);
            real_data.remove("submission_timestamp");
            assert_eq!(real_data, keys(&ours["data"]));
            assert_eq!(
                keys(&real["data"]["leaf_cert"]),
                keys(&ours["data"]["leaf_cert"])
            );
            assert_eq!(keys(&real["data"]["source"]), keys(&ours["data"]["source"]));
            assert_eq!(
                keys(&real["data"]["leaf_cert"]["subject"]),
                keys(&ours["data"]["leaf_cert"]["subject"])
            );
            assert_eq!(
                keys(&real["data"]["leaf_cert"]["issuer"]),
                keys(&ours["data"]["leaf_cert"]["issuer"])
            );
        }
        assert_eq!(
            ours_lite["data"]["leaf_cert"]["all_domains"],
            json!(["a.example", "b.example"])
        );
        assert_eq!(ours_lite["data"]["cert_index"], 42);
        assert!(ours_full["data"]["leaf_cert"]["as_der"].is_string());

        let real_dns: Value = serde_json::from_str(&real.expected_domains_only).unwrap();
        let ours_dns: Value = serde_json::from_str(&domains_only(&["x.example"])).unwrap();
        assert_eq!(keys(&real_dns), keys(&ours_dns));
        assert_eq!(ours_dns["message_type"], "dns_entries");

        let hb: Value = serde_json::from_str(&heartbeat()).unwrap();
        assert_eq!(hb["message_type"], "heartbeat");
    }

    #[test]
    fn padded_message_is_long_valid_json() {
        let s = lite_padded(&["a.example"], 1, 10_000);
        assert!(s.len() >= 10_000 && s.len() < 10_100, "{}", s.len());
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["data"]["leaf_cert"]["all_domains"][0], "a.example");
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
