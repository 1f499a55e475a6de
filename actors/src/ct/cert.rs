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

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::num::NonZeroUsize;

use base64::Engine as _;
use lru::LruCache;
use x509_parser::nom::Parser as _;
use x509_parser::prelude::{FromDer, X509CertificateParser, X509Name};

use super::{DecodeError, LogEntry};

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

// ---------------------------------------------------------------------------------------------
// One certificate.

const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KU: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BC: &[u8] = &[0x55, 0x1d, 0x13];
const OID_CP: &[u8] = &[0x55, 0x1d, 0x20];
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
const OID_EKU: &[u8] = &[0x55, 0x1d, 0x25];
const OID_AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
const OID_POISON: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];

/// Extension slots, in output order.
const EXT_NAMES: [&str; 8] = [
    "authorityInfoAccess",
    "authorityKeyIdentifier",
    "basicConstraints",
    "certificatePolicies",
    "extendedKeyUsage",
    "keyUsage",
    "subjectAltName",
    "subjectKeyIdentifier",
];

/// Writes `"subject":...,"is_ca":b` into `head` and `"extensions":{...}` into `ext`; collects
/// `all_domains` when asked.
fn encode_cert(
    der: &[u8],
    head: &mut Vec<u8>,
    ext: &mut Vec<u8>,
    domains: Option<&mut Vec<String>>,
) -> Result<(), DecodeError> {
    let (_, cert) = X509CertificateParser::new()
        .with_deep_parse_extensions(false)
        .parse(der)
        .map_err(|e| DecodeError::Certificate(e.to_string()))?;
    let tbs = &cert.tbs_certificate;

    // Extensions first: is_ca and SAN DNS names are needed earlier in the output.
    let mut slots: [Option<String>; 8] = Default::default();
    let mut poison = false;
    let mut is_ca = false;
    let mut san_dns: Vec<String> = Vec::new();
    for e in tbs.extensions() {
        let oid = e.oid.as_bytes();
        let v = e.value;
        let slot = match oid {
            OID_AIA => 0,
            OID_AKI => 1,
            OID_BC => 2,
            OID_CP => 3,
            OID_EKU => 4,
            OID_KU => 5,
            OID_SAN => 6,
            OID_SKI => 7,
            OID_POISON => {
                poison = true;
                continue;
            }
            _ => continue,
        };
        if slots[slot].is_some() {
            continue;
        }
        slots[slot] = match slot {
            0 => fmt_aia(v),
            1 => fmt_aki(v),
            2 => fmt_bc(v).map(|ca| {
                is_ca = ca;
                if ca { "CA:TRUE" } else { "CA:FALSE" }.to_string()
            }),
            3 => fmt_policies(v),
            4 => fmt_eku(v),
            5 => fmt_ku(v),
            6 => fmt_san(v, &mut san_dns),
            _ => fmt_ski(v),
        };
    }

    head.extend_from_slice(b"\"subject\":");
    let mut cns = Vec::new();
    write_name(head, &tbs.subject, Some(&mut cns));
    head.extend_from_slice(b",\"issuer\":");
    write_name(head, &tbs.issuer, None);

    head.extend_from_slice(b",\"serial_number\":\"");
    let mut serial = tbs.raw_serial();
    while serial.len() > 1 && serial[0] == 0 {
        serial = &serial[1..];
    }
    write_hex(head, serial, None, true);
    head.extend_from_slice(b"\",\"not_before\":");
    let _ = write!(head, "{}", tbs.validity.not_before.timestamp());
    head.extend_from_slice(b",\"not_after\":");
    let _ = write!(head, "{}", tbs.validity.not_after.timestamp());

    // sha1's SHA-1 uses the SHA CPU extensions when present; ring's is portable code.
    let sha1 = <sha1::Sha1 as sha1::Digest>::digest(der);
    let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
    head.extend_from_slice(b",\"fingerprint\":\"");
    write_hex(head, &sha1, Some(b':'), true);
    head.extend_from_slice(b"\",\"sha1\":\"");
    write_hex(head, &sha1, Some(b':'), true);
    head.extend_from_slice(b"\",\"sha256\":\"");
    write_hex(head, sha256.as_ref(), Some(b':'), true);
    head.extend_from_slice(b"\",\"signature_algorithm\":");
    let alg = sig_alg_name(cert.signature_algorithm.algorithm.as_bytes());
    write_json_str(head, &alg);
    head.extend_from_slice(if is_ca {
        b",\"is_ca\":true"
    } else {
        b",\"is_ca\":false"
    });

    ext.extend_from_slice(b"\"extensions\":{");
    let mut first = true;
    for (name, val) in EXT_NAMES.iter().zip(slots.iter()) {
        if let Some(val) = val {
            if !first {
                ext.push(b',');
            }
            first = false;
            write_json_str(ext, name);
            ext.push(b':');
            write_json_str(ext, val);
        }
    }
    if poison {
        if !first {
            ext.push(b',');
        }
        ext.extend_from_slice(b"\"ctlPoisonByte\":true");
    }
    ext.push(b'}');

    if let Some(domains) = domains {
        domains.clear();
        let big = cns.len() + san_dns.len() > 32;
        let mut seen = std::collections::HashSet::new();
        for d in cns.into_iter().chain(san_dns) {
            let dup = if big {
                !seen.insert(d.clone())
            } else {
                domains.contains(&d)
            };
            if !dup {
                domains.push(d);
            }
        }
    }
    Ok(())
}

/// Short name of a name attribute (by OID content bytes).
fn attr_name(oid: &[u8]) -> Cow<'static, str> {
    let s = match oid {
        [0x55, 0x04, n] => match n {
            3 => "CN",
            4 => "SN",
            5 => "serialNumber",
            6 => "C",
            7 => "L",
            8 => "ST",
            9 => "street",
            10 => "O",
            11 => "OU",
            12 => "title",
            15 => "businessCategory",
            17 => "postalCode",
            42 => "GN",
            43 => "initials",
            44 => "generationQualifier",
            46 => "dnQualifier",
            65 => "pseudonym",
            97 => "organizationIdentifier",
            _ => return oid_string(oid).map_or(Cow::Borrowed("?"), Cow::Owned),
        },
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x01] => "jurisdictionL",
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x02] => "jurisdictionST",
        [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x03] => "jurisdictionC",
        _ => return oid_string(oid).map_or(Cow::Borrowed("?"), Cow::Owned),
    };
    Cow::Borrowed(s)
}

/// A directory string as text: BMPString and UniversalString decoded, everything else as
/// (lossy) UTF-8.
fn dir_string(tag: u32, data: &[u8]) -> Cow<'_, str> {
    match tag {
        30 => {
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            Cow::Owned(
                char::decode_utf16(units)
                    .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            )
        }
        28 => Cow::Owned(
            data.chunks_exact(4)
                .map(|c| {
                    char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect(),
        ),
        _ => String::from_utf8_lossy(data),
    }
}

fn name_attrs<'a>(name: &X509Name<'a>) -> Vec<(Cow<'static, str>, Cow<'a, str>)> {
    let mut attrs: Vec<(Cow<'static, str>, Cow<'a, str>)> = Vec::with_capacity(6);
    for rdn in name.iter() {
        for atv in rdn.iter() {
            let v = atv.attr_value();
            attrs.push((
                attr_name(atv.attr_type().as_bytes()),
                dir_string(v.tag().0, v.data),
            ));
        }
    }
    attrs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    attrs
}

/// Writes a name object; pushes CN values into `cns` when asked.
fn write_name(out: &mut Vec<u8>, name: &X509Name, cns: Option<&mut Vec<String>>) {
    let attrs = name_attrs(name);
    out.push(b'{');
    let mut i = 0;
    while i < attrs.len() {
        let key = &attrs[i].0;
        let mut j = i + 1;
        while j < attrs.len() && attrs[j].0 == *key {
            j += 1;
        }
        write_json_str(out, key);
        out.push(b':');
        if j == i + 1 {
            write_json_str(out, &attrs[i].1);
        } else {
            let joined: Vec<&str> = attrs[i..j].iter().map(|a| a.1.as_ref()).collect();
            write_json_str(out, &joined.join(", "));
        }
        out.push(b',');
        i = j;
    }
    let mut agg = String::with_capacity(attrs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in &attrs {
        agg.push('/');
        agg.push_str(k);
        agg.push('=');
        agg.push_str(v);
    }
    out.extend_from_slice(b"\"aggregated\":");
    write_json_str(out, &agg);
    out.push(b'}');
    if let Some(cns) = cns {
        cns.extend(
            attrs
                .into_iter()
                .filter(|(k, _)| k == "CN")
                .map(|(_, v)| v.into_owned()),
        );
    }
}

fn sig_alg_name(oid: &[u8]) -> Cow<'static, str> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let s = if let Some(rest) = oid.strip_prefix(RSA) {
        match rest {
            [1] => "rsa",
            [4] => "md5, rsa",
            [5] => "sha1, rsa",
            [10] => "rsassaPss",
            [11] => "sha256, rsa",
            [12] => "sha384, rsa",
            [13] => "sha512, rsa",
            [14] => "sha224, rsa",
            _ => return oid_string(oid).map_or(Cow::Borrowed("unknown"), Cow::Owned),
        }
    } else if let Some(rest) = oid.strip_prefix(ECDSA) {
        match rest {
            [1] => "ecdsa, sha1",
            [3, 1] => "ecdsa, sha224",
            [3, 2] => "ecdsa, sha256",
            [3, 3] => "ecdsa, sha384",
            [3, 4] => "ecdsa, sha512",
            _ => return oid_string(oid).map_or(Cow::Borrowed("unknown"), Cow::Owned),
        }
    } else {
        match oid {
            [0x2b, 0x65, 0x70] => "ed25519",
            [0x2b, 0x65, 0x71] => "ed448",
            [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03] => "dsa, sha1",
            _ => return oid_string(oid).map_or(Cow::Borrowed("unknown"), Cow::Owned),
        }
    };
    Cow::Borrowed(s)
}

// ---------------------------------------------------------------------------------------------
// Extension text (OpenSSL-like, as the certstream server prints it).

/// One DER TLV: (tag byte, content, rest). None on truncation or unsupported encodings.
fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (l0 as usize, rest)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The content of a TLV with `tag`, which must be all of `buf`.
fn expect(buf: &[u8], tag: u8) -> Option<&[u8]> {
    let (t, c, rest) = tlv(buf)?;
    (t == tag && rest.is_empty()).then_some(c)
}

/// Iterates the elements of a SEQUENCE's content; the iterator yields None once on bad DER.
fn elements(mut buf: &[u8]) -> impl Iterator<Item = Option<(u8, &[u8])>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if buf.is_empty() || failed {
            return None;
        }
        match tlv(buf) {
            Some((t, c, rest)) => {
                buf = rest;
                Some(Some((t, c)))
            }
            None => {
                failed = true;
                Some(None)
            }
        }
    })
}

fn oid_string(oid: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(oid.len() * 3);
    let mut v: u64 = 0;
    let mut first = true;
    let mut pending = false;
    for &b in oid {
        if v > (u64::MAX >> 7) {
            return None;
        }
        v = (v << 7) | u64::from(b & 0x7f);
        pending = true;
        if b & 0x80 == 0 {
            if first {
                let (a, r) = match v {
                    0..=39 => (0, v),
                    40..=79 => (1, v - 40),
                    _ => (2, v - 80),
                };
                s.push_str(&format!("{a}.{r}"));
                first = false;
            } else {
                s.push('.');
                s.push_str(&v.to_string());
            }
            v = 0;
            pending = false;
        }
    }
    (!first && !pending).then_some(s)
}

fn hex_lower_colon(bytes: &[u8]) -> String {
    let mut v = Vec::with_capacity(bytes.len() * 3);
    write_hex(&mut v, bytes, Some(b':'), false);
    String::from_utf8(v).unwrap_or_default()
}

/// GeneralName as OpenSSL prints it; DNS names are also pushed into `dns`.
fn fmt_general_name(tag: u8, c: &[u8], dns: Option<&mut Vec<String>>) -> String {
    let text = |c: &[u8]| String::from_utf8_lossy(c).into_owned();
    match tag {
        0xa0 => "othername:<unsupported>".to_string(),
        0x81 => format!("email:{}", text(c)),
        0x82 => {
            let name = text(c);
            if let Some(dns) = dns {
                dns.push(name.clone());
            }
            format!("DNS:{name}")
        }
        0xa3 => "X400Name:<unsupported>".to_string(),
        0xa4 => match X509Name::from_der(c) {
            Ok((_, name)) => {
                let mut agg = String::from("DirName:");
                for (k, v) in name_attrs(&name) {
                    agg.push('/');
                    agg.push_str(&k);
                    agg.push('=');
                    agg.push_str(&v);
                }
                agg
            }
            Err(_) => "DirName:<invalid>".to_string(),
        },
        0xa5 => "EdiPartyName:<unsupported>".to_string(),
        0x86 => format!("URI:{}", text(c)),
        0x87 => match c.len() {
            4 => format!("IP Address:{}.{}.{}.{}", c[0], c[1], c[2], c[3]),
            16 => {
                let groups: Vec<String> = c
                    .chunks_exact(2)
                    .map(|g| format!("{:X}", u16::from_be_bytes([g[0], g[1]])))
                    .collect();
                format!("IP Address:{}", groups.join(":"))
            }
            _ => "IP Address:<invalid>".to_string(),
        },
        0x88 => format!(
            "Registered ID:{}",
            oid_string(c).unwrap_or_else(|| "<invalid>".into())
        ),
        _ => "<unsupported>".to_string(),
    }
}

fn fmt_general_names(seq: &[u8], mut dns: Option<&mut Vec<String>>) -> Option<String> {
    let mut parts = Vec::new();
    for el in elements(seq) {
        let (t, c) = el?;
        parts.push(fmt_general_name(t, c, dns.as_deref_mut()));
    }
    Some(parts.join(", "))
}

fn fmt_san(v: &[u8], dns: &mut Vec<String>) -> Option<String> {
    let seq = expect(v, 0x30)?;
    let mut found = Vec::new();
    let s = fmt_general_names(seq, Some(&mut found))?;
    dns.extend(found);
    Some(s)
}

fn fmt_aia(v: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    for el in elements(expect(v, 0x30)?) {
        let (t, c) = el?;
        if t != 0x30 {
            return None;
        }
        let (t, _method, rest) = tlv(c)?;
        if t != 0x06 {
            return None;
        }
        let (t, loc, _) = tlv(rest)?;
        parts.push(fmt_general_name(t, loc, None));
    }
    Some(parts.join(", "))
}

fn fmt_aki(v: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    for el in elements(expect(v, 0x30)?) {
        let (t, c) = el?;
        match t {
            0x80 => parts.push(format!("keyid:{}", hex_lower_colon(c))),
            0xa1 => parts.push(fmt_general_names(c, None)?),
            0x82 => parts.push(format!("serial:{}", hex_lower_colon(c))),
            _ => return None,
        }
    }
    Some(parts.join(", "))
}

fn fmt_ski(v: &[u8]) -> Option<String> {
    Some(format!("keyid:{}", hex_lower_colon(expect(v, 0x04)?)))
}

/// basicConstraints: whether it says CA.
fn fmt_bc(v: &[u8]) -> Option<bool> {
    let seq = expect(v, 0x30)?;
    match tlv(seq) {
        None if seq.is_empty() => Some(false),
        None => None,
        Some((0x01, c, _)) => Some(c.first().is_some_and(|&b| b != 0)),
        Some((0x02, _, _)) => Some(false),
        Some(_) => None,
    }
}

fn fmt_policies(v: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(v.len() * 2);
    for el in elements(expect(v, 0x30)?) {
        let (t, c) = el?;
        if t != 0x30 {
            return None;
        }
        let (t, oid, _) = tlv(c)?;
        if t != 0x06 {
            return None;
        }
        s.push_str("Policy: ");
        s.push_str(&oid_string(oid)?);
        s.push('\n');
    }
    Some(s)
}

/// extendedKeyUsage: known purposes in a fixed order (as the reference server prints them,
/// whatever the DER order), then other purposes by dotted OID in DER order.
fn fmt_eku(v: &[u8]) -> Option<String> {
    const KP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03];
    const KNOWN: [(u8, &str); 6] = [
        (1, "serverAuth"),
        (2, "clientAuth"),
        (3, "codeSigning"),
        (4, "emailProtection"),
        (8, "timeStamping"),
        (9, "OCSPSigning"),
    ];
    let mut flags = [false; 6];
    let mut any = false;
    let mut other = Vec::new();
    for el in elements(expect(v, 0x30)?) {
        let (t, c) = el?;
        if t != 0x06 {
            return None;
        }
        match c.strip_prefix(KP) {
            Some([n]) if KNOWN.iter().any(|k| k.0 == *n) => {
                if let Some(i) = KNOWN.iter().position(|k| k.0 == *n) {
                    flags[i] = true;
                }
            }
            _ if c == [0x55, 0x1d, 0x25, 0x00] => any = true,
            _ => other.push(oid_string(c)?),
        }
    }
    let mut parts: Vec<&str> = KNOWN
        .iter()
        .zip(flags)
        .filter(|(_, f)| *f)
        .map(|(k, _)| k.1)
        .collect();
    if any {
        parts.push("anyExtendedKeyUsage");
    }
    parts.extend(other.iter().map(String::as_str));
    Some(parts.join(", "))
}

fn fmt_ku(v: &[u8]) -> Option<String> {
    const NAMES: [&str; 9] = [
        "Digital Signature",
        "Non Repudiation",
        "Key Encipherment",
        "Data Encipherment",
        "Key Agreement",
        "Certificate Signing",
        "CRL Signing",
        "Encipher Only",
        "Decipher Only",
    ];
    let bits = expect(v, 0x03)?;
    let (_unused, bits) = bits.split_first()?;
    let mut parts = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        if bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) {
            parts.push(*name);
        }
    }
    Some(parts.join(", "))
}

// ---------------------------------------------------------------------------------------------
// JSON writing.

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

fn write_hex(out: &mut Vec<u8>, bytes: &[u8], sep: Option<u8>, upper: bool) {
    let table = if upper { HEX_UPPER } else { HEX_LOWER };
    out.reserve(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            if let Some(sep) = sep {
                out.push(sep);
            }
        }
        out.push(table[(b >> 4) as usize]);
        out.push(table[(b & 15) as usize]);
    }
}

/// Bytes that need escaping in a JSON string.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of the 8 bytes of `w` is < 0x20, `"` or `\\` (exact, no false positives).
fn swar_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let less_than_0x20 = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
    less_than_0x20 || has_zero(w ^ (ONES * b'"' as u64)) || has_zero(w ^ (ONES * b'\\' as u64))
}

/// A JSON string literal (quotes included).
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Fast path: most strings need no escaping; check 8 bytes at a time.
    let mut clean = 0;
    while clean + 8 <= bytes.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[clean..clean + 8]);
        if swar_needs_escape(u64::from_le_bytes(w)) {
            break;
        }
        clean += 8;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX_LOWER[(b >> 4) as usize]);
                out.push(HEX_LOWER[(b & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_str_array(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, s);
    }
    out.push(b']');
}

/// A float that always reads back as a float (`1.0`, not `1`); non-finite values as `0.0`.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"0.0");
        return;
    }
    let start = out.len();
    let _ = write!(out, "{v}");
    if !out[start..].iter().any(|&b| b == b'.' || b == b'e') {
        out.extend_from_slice(b".0");
    }
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
