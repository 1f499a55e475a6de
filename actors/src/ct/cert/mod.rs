//! A [`LogEntry`] into the three certstream forms (lite, full, domains-only).
//!
//! The JSON is written by hand into `Vec<u8>`s (no `serde_json::Value` on the hot path). Field
//! names, order and text formats follow the certstream server (CaliDog's de-facto standard), as
//! checked against `tests/fixtures/ct/live_entries.json`:
//!
//! - `subject` / `issuer`: one key per attribute short name (`C`, `CN`, `L`, `O`, `OU`, `ST`, ...,
//!   unknown attributes by dotted OID), keys sorted, repeated attributes joined with `", "`, and
//!   `aggregated` = `/K=V` for every attribute in key order (`""` for an empty name).
//! - `extensions`: only `authorityInfoAccess`, `authorityKeyIdentifier`, `basicConstraints`,
//!   `certificatePolicies`, `extendedKeyUsage`, `keyUsage`, `subjectAltName`,
//!   `subjectKeyIdentifier` (OpenSSL-like text) and `ctlPoisonByte: true`. Other extensions
//!   (CRL distribution points, SCT lists, vendor ones) are left out, as the reference server does;
//!   a listed extension whose content does not parse is left out too.
//! - `all_domains`: the subject CN(s), then the DNS names of subjectAltName, duplicates removed,
//!   first occurrence kept.
//! - `serial_number`: upper hex of the DER integer's bytes without the sign-padding `00`.
//!
//! Every message is one complete JSON object whose first byte is `{` followed by
//! `"message_type":`; the broadcaster may splice `"seq":N,` right after that first `{`.
//!
//! This file holds the encoder (and its cache of issuer certificates); `x509.rs` reads one
//! certificate, `extensions.rs` prints its extensions, `json.rs` writes the JSON.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::num::NonZeroUsize;

use base64::Engine as _;
use lru::LruCache;
use x509_parser::nom::Parser as _;
use x509_parser::prelude::{FromDer, X509CertificateParser, X509Name};

use super::{DecodeError, LogEntry};

mod extensions;
mod json;
mod x509;

use extensions::*;
use json::*;
use x509::*;

/// The log an entry came from (certstream's `source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub name: String,
    pub url: String,
}

/// One entry in the three certstream forms.
///
/// `lite`, `full` and `domains` are each one complete JSON object text; the first byte is always
/// `{`, immediately followed by `"message_type":` (no `seq` field: the broadcaster splices
/// `"seq":N,` after the first byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// `certificate_update` without `chain` and `leaf_cert.as_der` (websocket `/`).
    pub lite: Vec<u8>,
    /// `certificate_update` with `chain` and `as_der` (`/full-stream`).
    pub full: Vec<u8>,
    /// `{"message_type":"dns_entries","data":[...]}` (`/domains-only`).
    pub domains: Vec<u8>,
    /// `leaf_cert.all_domains`.
    pub all_domains: Vec<String>,
}

struct CachedCert {
    der: Box<[u8]>,
    json: Box<[u8]>,
}

/// Encodes entries; keeps an LRU of the chain certificates' JSON (intermediates and roots repeat
/// across entries, so each is parsed once).
pub struct Encoder {
    cache: Option<LruCache<u64, CachedCert>>,
    head: Vec<u8>,
    ext: Vec<u8>,
    chain_json: Vec<u8>,
    chain_ext: Vec<u8>,
}

impl Encoder {
    /// `chain_cache_entries`: how many chain certificates to keep encoded (0 disables the cache).
    pub fn new(chain_cache_entries: usize) -> Encoder {
        Encoder {
            cache: NonZeroUsize::new(chain_cache_entries).map(LruCache::new),
            head: Vec::with_capacity(1024),
            ext: Vec::with_capacity(1024),
            chain_json: Vec::with_capacity(2048),
            chain_ext: Vec::with_capacity(1024),
        }
    }

    /// Encodes `entry` in the three forms. `seen` is the time the entry was read (seconds since
    /// the epoch); `cert_link` is the `get-entries` URL of the entry.
    ///
    /// The leaf must parse as X.509, or this is an error. A chain certificate that does not
    /// parse is left out of `chain` (the entry is still worth delivering).
    pub fn encode(
        &mut self,
        entry: &LogEntry,
        source: &LogSource,
        cert_link: &str,
        seen: f64,
    ) -> Result<Encoded, DecodeError> {
        let mut all_domains = Vec::new();
        self.head.clear();
        self.ext.clear();
        encode_cert(
            entry.leaf,
            &mut self.head,
            &mut self.ext,
            Some(&mut all_domains),
        )?;

        // Common prefix of lite and full, up to and including all_domains.
        let est = 256 + self.head.len() + self.ext.len() + cert_link.len();
        let domains_len: usize = all_domains.iter().map(|d| d.len() + 3).sum();
        let est = est + domains_len + source.name.len() + source.url.len();
        let mut lite = Vec::with_capacity(est);
        lite.extend_from_slice(
            b"{\"message_type\":\"certificate_update\",\"data\":{\"update_type\":\"",
        );
        lite.extend_from_slice(entry.kind.update_type().as_bytes());
        lite.extend_from_slice(b"\",\"leaf_cert\":{");
        lite.extend_from_slice(&self.head);
        lite.extend_from_slice(b",\"all_domains\":");
        write_str_array(&mut lite, &all_domains);
        let prefix_len = lite.len();

        let mut tail =
            Vec::with_capacity(160 + cert_link.len() + source.name.len() + source.url.len());
        tail.extend_from_slice(b",\"cert_index\":");
        let _ = write!(tail, "{}", entry.index);
        tail.extend_from_slice(b",\"cert_link\":");
        write_json_str(&mut tail, cert_link);
        tail.extend_from_slice(b",\"seen\":");
        write_f64(&mut tail, seen);
        tail.extend_from_slice(b",\"submission_timestamp\":");
        let _ = write!(
            tail,
            "{}.{:03}",
            entry.timestamp_ms / 1000,
            entry.timestamp_ms % 1000
        );
        tail.extend_from_slice(b",\"source\":{\"name\":");
        write_json_str(&mut tail, &source.name);
        tail.extend_from_slice(b",\"url\":");
        write_json_str(&mut tail, &source.url);
        tail.extend_from_slice(b"}}}");

        let b64_len = base64::encoded_len(entry.leaf.len(), true).unwrap_or(0);
        let chain_len: usize = entry.chain.iter().map(|c| c.len() + 1024).sum();
        let mut full = Vec::with_capacity(est + b64_len + chain_len);
        full.extend_from_slice(&lite[..prefix_len]);
        full.extend_from_slice(b",\"as_der\":\"");
        let start = full.len();
        full.resize(start + b64_len, 0);
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(entry.leaf, &mut full[start..])
            .unwrap_or(0);
        full.truncate(start + written);
        full.extend_from_slice(b"\",");
        full.extend_from_slice(&self.ext);
        full.extend_from_slice(b"},\"chain\":[");
        let mut first = true;
        for der in &entry.chain {
            let before = full.len();
            if !first {
                full.push(b',');
            }
            if self.write_chain_cert(der, &mut full) {
                first = false;
            } else {
                full.truncate(before);
            }
        }
        full.push(b']');
        full.extend_from_slice(&tail);

        lite.push(b',');
        lite.extend_from_slice(&self.ext);
        lite.push(b'}');
        lite.extend_from_slice(&tail);

        let mut domains = Vec::with_capacity(48 + domains_len);
        domains.extend_from_slice(b"{\"message_type\":\"dns_entries\",\"data\":");
        write_str_array(&mut domains, &all_domains);
        domains.push(b'}');

        Ok(Encoded {
            lite,
            full,
            domains,
            all_domains,
        })
    }

    /// Appends the JSON object of one chain certificate; false if it does not parse.
    fn write_chain_cert(&mut self, der: &[u8], out: &mut Vec<u8>) -> bool {
        let key = cache_key(der);
        if let Some(cache) = self.cache.as_mut() {
            if let Some(c) = cache.get(&key) {
                if &*c.der == der {
                    out.extend_from_slice(&c.json);
                    return true;
                }
            }
        }
        self.chain_json.clear();
        self.chain_ext.clear();
        self.chain_json.push(b'{');
        if encode_cert(der, &mut self.chain_json, &mut self.chain_ext, None).is_err() {
            return false;
        }
        self.chain_json.push(b',');
        self.chain_json.extend_from_slice(&self.chain_ext);
        self.chain_json.push(b'}');
        out.extend_from_slice(&self.chain_json);
        if let Some(cache) = self.cache.as_mut() {
            cache.put(
                key,
                CachedCert {
                    der: der.into(),
                    json: self.chain_json.as_slice().into(),
                },
            );
        }
        true
    }
}

/// The full form of `entry` as a JSON value (for the CLI; not for the hot path).
pub fn describe_json(
    entry: &LogEntry,
    source: &LogSource,
    cert_link: &str,
    seen: f64,
) -> Result<serde_json::Value, DecodeError> {
    let enc = Encoder::new(0).encode(entry, source, cert_link, seen)?;
    serde_json::from_slice(&enc.full).map_err(|e| DecodeError::Certificate(e.to_string()))
}

/// A cheap key for a DER certificate: its length and its last bytes (the signature, which is as
/// good as random). Hits are checked against the stored bytes, so collisions are harmless.
fn cache_key(der: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    der.len().hash(&mut h);
    der[der.len().saturating_sub(48)..].hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::leaf::parse_entry;
    use serde_json::Value;

    const SEEN: f64 = 1_700_000_000.0;

    struct Fixture {
        name: String,
        leaf_input: Vec<u8>,
        extra_data: Vec<u8>,
        index: u64,
        source: LogSource,
        full: Value,
        lite: Value,
        domains: Value,
    }

    fn fixtures() -> Vec<Fixture> {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/ct/live_entries.json"
        ));
        let all: Vec<Value> = serde_json::from_str(text).expect("fixture JSON");
        let b64 = |v: &Value| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap()
        };
        let json = |v: &Value| serde_json::from_str::<Value>(v.as_str().unwrap()).unwrap();
        all.iter()
            .map(|f| Fixture {
                name: f["name"].as_str().unwrap().to_string(),
                leaf_input: b64(&f["leaf_input"]),
                extra_data: b64(&f["extra_data"]),
                index: f["cert_index"].as_u64().unwrap(),
                source: LogSource {
                    name: f["log_name"].as_str().unwrap().to_string(),
                    url: f["log_url"].as_str().unwrap().to_string(),
                },
                full: json(&f["expected_full"]),
                lite: json(&f["expected_lite"]),
                domains: json(&f["expected_domains_only"]),
            })
            .collect()
    }

    fn cert_link(f: &Fixture) -> String {
        format!(
            "{}ct/v1/get-entries?start={}&end={}",
            f.source.url, f.index, f.index
        )
    }

    /// The first path where `a` and `b` differ.
    fn first_diff(a: &Value, b: &Value, path: &str) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    let p = format!("{path}.{k}");
                    match y.get(k) {
                        None => return Some(format!("{p}: missing in expected")),
                        Some(w) => {
                            if let Some(d) = first_diff(v, w, &p) {
                                return Some(d);
                            }
                        }
                    }
                }
                y.keys()
                    .find(|k| !x.contains_key(*k))
                    .map(|k| format!("{path}.{k}: missing in ours"))
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    if let Some(d) = first_diff(v, w, &format!("{path}[{i}]")) {
                        return Some(d);
                    }
                }
                (x.len() != y.len()).then(|| format!("{path}: length {} vs {}", x.len(), y.len()))
            }
            _ => (a != b).then(|| format!("{path}: ours {a} vs expected {b}")),
        }
    }

    fn without_seen(mut v: Value) -> (Value, Option<Value>) {
        let seen = v
            .get_mut("data")
            .and_then(|d| d.as_object_mut())
            .and_then(|d| d.remove("seen"));
        (v, seen)
    }

    fn check(name: &str, form: &str, ours: &[u8], expected: &Value) {
        assert_eq!(ours[0], b'{', "{name} {form}: first byte");
        assert!(
            ours.starts_with(b"{\"message_type\":"),
            "{name} {form}: starts with message_type"
        );
        let ours: Value = serde_json::from_slice(ours)
            .unwrap_or_else(|e| panic!("{name} {form}: our JSON does not parse: {e}"));
        let (ours, our_seen) = without_seen(ours);
        let (expected, exp_seen) = without_seen(expected.clone());
        if exp_seen.is_some() {
            assert_eq!(our_seen, Some(Value::from(SEEN)), "{name} {form}: seen");
        }
        if let Some(d) = first_diff(&ours, &expected, "") {
            panic!("{name} {form}: first difference at {d}");
        }
    }

    #[test]
    fn all_fixtures_match_the_reference_server() {
        let mut enc = Encoder::new(64);
        // Twice: the second pass serves the chains from the cache.
        for pass in 0..2 {
            for f in fixtures() {
                let entry = parse_entry(&f.leaf_input, &f.extra_data, f.index).unwrap();
                let out = enc
                    .encode(&entry, &f.source, &cert_link(&f), SEEN)
                    .unwrap_or_else(|e| panic!("{}: {e}", f.name));
                let name = format!("{} (pass {pass})", f.name);
                check(&name, "full", &out.full, &f.full);
                check(&name, "lite", &out.lite, &f.lite);
                check(&name, "domains", &out.domains, &f.domains);
                assert_eq!(
                    Value::from(out.all_domains.clone()),
                    f.full["data"]["leaf_cert"]["all_domains"],
                    "{name}: all_domains"
                );
            }
        }
        // And without a cache.
        let mut enc = Encoder::new(0);
        for f in fixtures() {
            let entry = parse_entry(&f.leaf_input, &f.extra_data, f.index).unwrap();
            let out = enc.encode(&entry, &f.source, &cert_link(&f), SEEN).unwrap();
            check(&f.name, "full (no cache)", &out.full, &f.full);
        }
    }

    #[test]
    fn describe_json_is_the_full_form() {
        let f = &fixtures()[0];
        let entry = parse_entry(&f.leaf_input, &f.extra_data, f.index).unwrap();
        let v = describe_json(&entry, &f.source, &cert_link(f), SEEN).unwrap();
        let (v, _) = without_seen(v);
        let (e, _) = without_seen(f.full.clone());
        assert_eq!(first_diff(&v, &e, ""), None);
    }

    #[test]
    fn damaged_certificates_never_panic() {
        let mut enc = Encoder::new(16);
        let source = LogSource {
            name: "test \"log\"\n".into(),
            url: "https://example.invalid/\u{1}".into(),
        };
        let (mut ok, mut err) = (0usize, 0usize);
        for f in fixtures() {
            let entry = parse_entry(&f.leaf_input, &f.extra_data, f.index).unwrap();
            let mut certs = vec![entry.leaf.to_vec()];
            certs.extend(entry.chain.iter().map(|c| c.to_vec()));
            for der in certs.iter().take(2) {
                let mut variants: Vec<Vec<u8>> = Vec::new();
                for n in (0..der.len()).step_by(97) {
                    variants.push(der[..n].to_vec());
                }
                for i in (0..der.len()).step_by(13) {
                    let mut d = der.clone();
                    d[i] ^= 1 << (i % 8);
                    variants.push(d);
                    let mut d = der.clone();
                    d[i] = 0xff;
                    variants.push(d);
                }
                for v in &variants {
                    let mut e = entry.clone();
                    e.leaf = v;
                    match enc.encode(&e, &source, "x", f64::NAN) {
                        Ok(out) => {
                            ok += 1;
                            serde_json::from_slice::<Value>(&out.full).expect("valid JSON");
                            serde_json::from_slice::<Value>(&out.lite).expect("valid JSON");
                            serde_json::from_slice::<Value>(&out.domains).expect("valid JSON");
                        }
                        Err(DecodeError::Certificate(_)) => err += 1,
                        Err(other) => panic!("unexpected error {other:?}"),
                    }
                    // A damaged chain certificate is dropped, never fatal.
                    let mut e = entry.clone();
                    e.chain = vec![v, entry.leaf];
                    let out = enc.encode(&e, &source, "x", 1.5).unwrap();
                    serde_json::from_slice::<Value>(&out.full).expect("valid JSON");
                }
            }
        }
        assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
        let e = LogEntry {
            kind: crate::ct::EntryKind::X509,
            index: 0,
            timestamp_ms: 0,
            leaf: &[],
            chain: vec![&[0x30, 0x00]],
        };
        assert!(matches!(
            enc.encode(&e, &source, "", 0.0),
            Err(DecodeError::Certificate(_))
        ));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut v = Vec::new();
        write_json_str(&mut v, "a\"b\\c\nd\u{1}\u{7f}é\u{2028}");
        let s: String = serde_json::from_slice(&v).unwrap();
        assert_eq!(s, "a\"b\\c\nd\u{1}\u{7f}é\u{2028}");
        let mut v = Vec::new();
        write_f64(&mut v, 1.0);
        assert_eq!(v, b"1.0");
        let mut v = Vec::new();
        write_f64(&mut v, 1700000000.25);
        assert_eq!(v, b"1700000000.25");
    }

    /// A self-signed certificate made with `openssl req` for this test: no CN, two OUs, an
    /// emailAddress, IP/email/URI SANs, a repeated DNS SAN, a custom EKU, an nsComment.
    const ODD_CERT: &str = concat!(
        "MIICtTCCAlugAwIBAgIUPYWDD20NN3uNeEuXdmOXOwETDvAwCgYIKoZIzj0EAwIwVTERMA8GA1UECgwIVGVzdCBP",
        "cmcxDzANBgNVBAsMBlVuaXQgQjEPMA0GA1UECwwGVW5pdCBBMR4wHAYJKoZIhvcNAQkBFg9hZG1pbkB4LmV4YW1w",
        "bGUwHhcNMjYxMjAyMDE0NzIzWhcNMjcwMTAxMDE0NzIzWjBVMREwDwYDVQQKDAhUZXN0IE9yZzEPMA0GA1UECwwG",
        "VW5pdCBCMQ8wDQYDVQQLDAZVbml0IEExHjAcBgkqhkiG9w0BCQEWD2FkbWluQHguZXhhbXBsZTBZMBMGByqGSM49",
        "AgEGCCqGSM49AwEHA0IABIlOLYFBUK4xvlsQ4L89tekG5kc4cEfd8ay1ipsSuWAKNN2NldSmoOx6+aru8hTDsKkk",
        "iEdDGZwpNQ3NwMgotHmjggEHMIIBAzAdBgNVHQ4EFgQUdUS8eqTu3gAUjGlDl1SkpnWV8ngwHwYDVR0jBBgwFoAU",
        "dUS8eqTu3gAUjGlDl1SkpnWV8ngwYwYDVR0RBFwwWoIJeC5leGFtcGxlhwTAAAIBhxAgAQ24AAAAAAAAAAAAAAAB",
        "gQthQGIuZXhhbXBsZYYSaHR0cHM6Ly91LmV4YW1wbGUvggl4LmV4YW1wbGWCCXkuZXhhbXBsZTASBgNVHRMBAf8E",
        "CDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBhjAiBgNVHSUEGzAZBggrBgEFBQcDAgYIKwYBBQUHAwMGAyoDBDAUBglg",
        "hkgBhvhCAQ0EBxYFaGVsbG8wCgYIKoZIzj0EAwIDSAAwRQIhALdRkHKPx/dJ3YgI0cNrUtqRsLECo92LwrNDgBMU",
        "mGsLAiA9meL3hK3AHCzVxB6S3NBE0jA0nIY2pKmq/oGdT2Iy+A==",
    );

    #[test]
    fn odd_certificate() {
        let mut der = base64::engine::general_purpose::STANDARD
            .decode(ODD_CERT)
            .unwrap();
        // Make the O values (issuer and subject) invalid UTF-8 (signatures are not checked).
        while let Some(at) = der.windows(8).position(|w| w == b"Test Org") {
            der[at] = 0xff;
        }
        let entry = LogEntry {
            kind: crate::ct::EntryKind::X509,
            index: 7,
            timestamp_ms: 1_700_000_000_000,
            leaf: &der,
            chain: vec![&der],
        };
        let source = LogSource {
            name: "n".into(),
            url: "u/".into(),
        };
        let out = Encoder::new(4).encode(&entry, &source, "l", 2.0).unwrap();
        assert_eq!(out.all_domains, vec!["x.example", "y.example"]);
        let v: Value = serde_json::from_slice(&out.full).unwrap();
        let leaf = &v["data"]["leaf_cert"];
        assert_eq!(
            leaf["subject"],
            serde_json::json!({
                "O": "\u{fffd}est Org",
                "OU": "Unit B, Unit A",
                "emailAddress": "admin@x.example",
                "aggregated": "/O=\u{fffd}est Org/OU=Unit B/OU=Unit A/emailAddress=admin@x.example",
            })
        );
        let ext = &leaf["extensions"];
        assert_eq!(
            ext["subjectAltName"],
            "DNS:x.example, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1, \
             email:a@b.example, URI:https://u.example/, DNS:x.example, DNS:y.example"
        );
        assert_eq!(ext["extendedKeyUsage"], "clientAuth, codeSigning, 1.2.3.4");
        assert_eq!(
            ext["keyUsage"],
            "Digital Signature, Certificate Signing, CRL Signing"
        );
        assert_eq!(ext["basicConstraints"], "CA:TRUE");
        assert_eq!(leaf["is_ca"], true);
        assert_eq!(leaf["signature_algorithm"], "ecdsa, sha256");
        assert!(ext.get("nsComment").is_none());
        assert_eq!(ext.as_object().unwrap().len(), 6);
        assert_eq!(v["data"]["chain"][0]["subject"], leaf["subject"]);
        assert_eq!(v["data"]["submission_timestamp"], 1_700_000_000.0);
        assert_eq!(v["data"]["seen"], 2.0);
        assert_eq!(
            serde_json::from_slice::<Value>(&out.domains).unwrap(),
            serde_json::json!({"message_type": "dns_entries", "data": ["x.example", "y.example"]})
        );
    }

    #[test]
    fn odd_names_and_general_names() {
        assert_eq!(dir_string(30, &[0, b'h', 0, b'i']), "hi");
        assert_eq!(dir_string(12, &[0xff, b'a']), "\u{fffd}a");
        assert_eq!(dir_string(28, &[0, 0, 0, b'x']), "x");
        let mut dns = Vec::new();
        // SAN: DNS a.example, IP 192.0.2.1, email x@y, IPv6 ::1.
        let mut san = vec![0x82, 9];
        san.extend_from_slice(b"a.example");
        san.extend_from_slice(&[0x87, 4, 192, 0, 2, 1, 0x81, 3, b'x', b'@', b'y', 0x87, 16]);
        san.extend_from_slice(&[0; 15]);
        san.push(1);
        let mut v = vec![0x30, san.len() as u8];
        v.extend_from_slice(&san);
        assert_eq!(
            fmt_san(&v, &mut dns).unwrap(),
            "DNS:a.example, IP Address:192.0.2.1, email:x@y, IP Address:0:0:0:0:0:0:0:1"
        );
        assert_eq!(dns, vec!["a.example".to_string()]);
        assert_eq!(fmt_san(&v[..v.len() - 1], &mut dns), None);
        assert_eq!(oid_string(&[0x2a, 0x86, 0x48]).as_deref(), Some("1.2.840"));
        assert_eq!(oid_string(&[0x2a, 0x86]), None);
        assert_eq!(
            fmt_ku(&[0x03, 0x02, 0x05, 0xa0]).unwrap(),
            "Digital Signature, Key Encipherment"
        );
        assert_eq!(fmt_bc(&[0x30, 0x00]), Some(false));
        assert_eq!(fmt_bc(&[0x30, 0x03, 0x01, 0x01, 0xff]), Some(true));
    }
}
