//! A loopback Certificate Transparency log: one list of entries served both as an RFC 6962 log
//! and as a static-ct-api (C2SP) log, by a real HTTP/1.1 server (hyper) on 127.0.0.1, for the
//! tests of certhound's server role. It serves
//!
//! - under [`FakeCtLog::rfc6962_url`] (`/rfc6962/`): `ct/v1/get-sth` (with a real
//!   `tree_head_signature` by the log's key) and `ct/v1/get-entries?start=&end=`, which answers
//!   at most `max_batch` entries (32 by default, like Google's logs) and 400 to bad ranges;
//! - under [`FakeCtLog::monitoring_url`] (`/static/`): `checkpoint` (a signed note with an RFC 6962
//!   note signature by a P-256 key: give certhound [`FakeCtLog::key_b64`] and
//!   [`FakeCtLog::origin`], or the whole [`FakeCtLog::log_list_json`]), `tile/data/<N>[.p/<W>]` (a full tile is 404 until complete, a partial
//!   tile is served only while its tile is incomplete, bodies optionally gzip-compressed with
//!   or without `Content-Encoding`, see [`TileEncoding`]), Merkle hash tiles `tile/<L>/<N>[.p/<W>]`
//!   (same rules, never compressed) and `issuer/<hex sha256>`.
//!
//! Entries are [`FakeEntry`]s: the 30 real fixture entries as they are ([`fixture_entries`]),
//! copies of them with a varied serial number ([`fixture_entry_with_serial`], for benchmarks),
//! or certificates generated for chosen names by a test CA ([`generated_entry`]). The tree grows
//! with [`FakeCtLog::append`]. Faults are scripted per [`PathKind`] ([`FakeCtLog::push_faults`]);
//! every request is counted per kind and per exact path, and tests wait on what the log saw with
//! [`FakeCtLog::wait_for`] (woken on each request, never polled).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use ring::digest::{digest, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::json;
use tokio::sync::watch;

pub use crate::fault::Fault;
use crate::fault::{FaultScript, Hangup};
use crate::fixtures::read_fixture;
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use crate::recorded::Recorded;

/// Entries per full data tile.
pub const TILE_WIDTH: u64 = 256;
/// Timestamps of generated entries: this plus the index (ms).
pub const GENERATED_BASE_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The CT poison extension (RFC 6962 §3.1), critical, value ASN.1 NULL.
const POISON_OID: [u64; 10] = [1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn push_u24(out: &mut Vec<u8>, data: &[u8]) {
    assert!(data.len() < 1 << 24, "too long for a u24 vector");
    out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(data);
}

fn push_u16(out: &mut Vec<u8>, data: &[u8]) {
    assert!(data.len() < 1 << 16, "too long for a u16 vector");
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// A TLS reader for the fixtures' own bytes (panics: the fixtures are known good).
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        h
    }
    fn uint(&mut self, n: usize) -> u64 {
        self.take(n).iter().fold(0, |a, b| (a << 8) | u64::from(*b))
    }
    fn vec(&mut self, n: usize) -> &'a [u8] {
        let len = self.uint(n) as usize;
        self.take(len)
    }
}

/// One log entry with everything both APIs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeEntry {
    pub precert: bool,
    pub timestamp_ms: u64,
    /// The certificate certstream describes as the leaf: the X.509 certificate, or the
    /// pre-certificate as submitted (with its poison extension).
    pub leaf: Vec<u8>,
    /// Precerts: SHA-256 of the issuer's SubjectPublicKeyInfo and the TBSCertificate without
    /// the poison (what the log signs). Zero and empty for X.509 entries.
    pub issuer_key_hash: [u8; 32],
    pub tbs: Vec<u8>,
    /// The issuing chain as DER, leaf's issuer first.
    pub chain: Vec<Vec<u8>>,
    /// RFC 6962 `MerkleTreeLeaf` and `extra_data`, as `get-entries` serves them.
    pub leaf_input: Vec<u8>,
    pub extra_data: Vec<u8>,
    /// The names the entry was generated for (empty for fixture entries).
    pub names: Vec<String>,
}

impl FakeEntry {
    /// An entry from its parts; `leaf_input` and `extra_data` are encoded from them (no
    /// extensions in the `TimestampedEntry`).
    pub fn from_parts(
        precert: bool,
        timestamp_ms: u64,
        leaf: Vec<u8>,
        issuer_key_hash: [u8; 32],
        tbs: Vec<u8>,
        chain: Vec<Vec<u8>>,
    ) -> FakeEntry {
        let mut e = FakeEntry {
            precert,
            timestamp_ms,
            leaf,
            issuer_key_hash,
            tbs,
            chain,
            leaf_input: Vec::new(),
            extra_data: Vec::new(),
            names: Vec::new(),
        };
        e.leaf_input = [&[0u8, 0][..], &e.timestamped_entry(&[])].concat();
        let mut chain = Vec::new();
        for c in &e.chain {
            push_u24(&mut chain, c);
        }
        let mut extra = Vec::new();
        if precert {
            push_u24(&mut extra, &e.leaf);
        }
        push_u24(&mut extra, &chain);
        e.extra_data = extra;
        e
    }

    /// An entry from an RFC 6962 `leaf_input` and `extra_data`, kept byte for byte.
    pub fn from_rfc6962(leaf_input: Vec<u8>, extra_data: Vec<u8>) -> FakeEntry {
        let mut r = Tls(&leaf_input);
        assert_eq!(r.uint(2), 0, "MerkleTreeLeaf version and leaf type");
        let timestamp_ms = r.uint(8);
        let precert = r.uint(2) == 1;
        let mut issuer_key_hash = [0u8; 32];
        let (leaf, tbs, chain_bytes) = if precert {
            issuer_key_hash.copy_from_slice(r.take(32));
            let tbs = r.vec(3).to_vec();
            let mut x = Tls(&extra_data);
            let pre = x.vec(3).to_vec();
            (pre, tbs, x.vec(3))
        } else {
            let cert = r.vec(3).to_vec();
            let mut x = Tls(&extra_data);
            (cert, Vec::new(), x.vec(3))
        };
        let mut c = Tls(chain_bytes);
        let mut chain = Vec::new();
        while !c.0.is_empty() {
            chain.push(c.vec(3).to_vec());
        }
        let mut e = FakeEntry::from_parts(precert, timestamp_ms, leaf, issuer_key_hash, tbs, chain);
        e.leaf_input = leaf_input;
        e.extra_data = extra_data;
        e
    }

    /// The `TimestampedEntry` with these (already encoded) extensions.
    fn timestamped_entry(&self, extensions: &[u8]) -> Vec<u8> {
        let mut t = Vec::with_capacity(self.leaf.len() + 64);
        t.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        if self.precert {
            t.extend_from_slice(&1u16.to_be_bytes());
            t.extend_from_slice(&self.issuer_key_hash);
            push_u24(&mut t, &self.tbs);
        } else {
            t.extend_from_slice(&0u16.to_be_bytes());
            push_u24(&mut t, &self.leaf);
        }
        push_u16(&mut t, extensions);
        t
    }

    /// The static-ct-api `leaf_index` extension (type 0, uint40).
    fn leaf_index_extension(index: u64) -> Vec<u8> {
        let mut ext = vec![0u8];
        push_u16(&mut ext, &index.to_be_bytes()[3..]);
        ext
    }

    /// SHA-256 of each chain certificate: the `issuer/<hex>` names.
    pub fn chain_fingerprints(&self) -> Vec<[u8; 32]> {
        self.chain.iter().map(|c| sha256(c)).collect()
    }

    /// The static-ct-api `TileLeaf` of this entry at `index` (with the `leaf_index` extension).
    pub fn tile_leaf(&self, index: u64) -> Vec<u8> {
        let mut t = self.timestamped_entry(&FakeEntry::leaf_index_extension(index));
        if self.precert {
            push_u24(&mut t, &self.leaf);
        }
        let fps: Vec<u8> = self.chain_fingerprints().concat();
        push_u16(&mut t, &fps);
        t
    }

    /// The static-ct-api Merkle tree leaf at `index`.
    fn static_merkle_leaf(&self, index: u64) -> Vec<u8> {
        [
            &[0u8, 0][..],
            &self.timestamped_entry(&FakeEntry::leaf_index_extension(index)),
        ]
        .concat()
    }
}

/// The 30 real entries of `ct/live_entries.json`, as they are.
pub fn fixture_entries() -> Vec<FakeEntry> {
    fixture_entries_ref().to_vec()
}

/// As [`fixture_entries`], without copying (loaded once per process).
pub fn fixture_entries_ref() -> &'static [FakeEntry] {
    static CACHE: OnceLock<Vec<FakeEntry>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(&read_fixture("ct/live_entries.json"))
            .expect("live_entries.json is JSON");
        v.as_array()
            .expect("an array")
            .iter()
            .map(|e| {
                let b = |k: &str| STANDARD.decode(e[k].as_str().expect(k)).expect(k);
                FakeEntry::from_rfc6962(b("leaf_input"), b("extra_data"))
            })
            .collect()
    })
}

/// `(header length, content length)` of the DER element at the start of `der`.
fn der_header(der: &[u8]) -> (usize, usize) {
    let first = der[1];
    if first < 0x80 {
        (2, first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        (2 + n, len)
    }
}

/// Offset and length of the serial number's content in a TBSCertificate starting at `tbs`.
fn serial_in_tbs(tbs: &[u8]) -> (usize, usize) {
    let (h, _) = der_header(tbs);
    let mut pos = h;
    if tbs[pos] == 0xa0 {
        let (vh, vl) = der_header(&tbs[pos..]);
        pos += vh + vl;
    }
    assert_eq!(tbs[pos], 0x02, "serial number is an INTEGER");
    let (sh, sl) = der_header(&tbs[pos..]);
    (pos + sh, sl)
}

/// Overwrites the low bytes of the serial (keeping its first byte, so sign and length stay).
fn patch_serial_tbs(tbs: &mut [u8], serial: u64) {
    let (off, len) = serial_in_tbs(tbs);
    let n = len.saturating_sub(1).min(8);
    let bytes = serial.to_be_bytes();
    tbs[off + len - n..off + len].copy_from_slice(&bytes[8 - n..]);
}

fn patch_serial_cert(cert: &mut [u8], serial: u64) {
    let (h, _) = der_header(cert);
    patch_serial_tbs(&mut cert[h..], serial);
}

/// Fixture entry `i % 30` with its certificate's serial number (the precert's and its TBS's for
/// precerts) overwritten with `serial` in its low bytes: same length DER, unique entries (the
/// signature no longer verifies). For benchmarks.
pub fn fixture_entry_with_serial(i: usize, serial: u64) -> FakeEntry {
    let fixtures = fixture_entries_ref();
    let base = &fixtures[i % fixtures.len()];
    let mut leaf = base.leaf.clone();
    patch_serial_cert(&mut leaf, serial);
    let mut tbs = base.tbs.clone();
    if base.precert {
        patch_serial_tbs(&mut tbs, serial);
    }
    FakeEntry::from_parts(
        base.precert,
        base.timestamp_ms,
        leaf,
        base.issuer_key_hash,
        tbs,
        base.chain.clone(),
    )
}

/// The test CA that issues generated entries.
pub struct TestCa {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    /// The CA certificate, DER.
    pub der: Vec<u8>,
    /// SHA-256 of its SubjectPublicKeyInfo (a precert's `issuer_key_hash`).
    pub key_hash: [u8; 32],
}

/// The process-wide test CA ("certhound test CA").
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        use rcgen::PublicKeyData;
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "certhound tests");
        dn.push(rcgen::DnType::CommonName, "certhound test CA");
        params.distinguished_name = dn;
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let der = params.self_signed(&key).expect("CA cert").der().to_vec();
        let key_hash = sha256(&key.subject_public_key_info());
        TestCa {
            params,
            key,
            der,
            key_hash,
        }
    })
}

/// Strips the outer SEQUENCE of a certificate: its TBSCertificate.
fn tbs_of(cert: &[u8]) -> Vec<u8> {
    let (h, _) = der_header(cert);
    let (th, tl) = der_header(&cert[h..]);
    cert[h..h + th + tl].to_vec()
}

/// The DER of the certificate `params` describes, signed by `issuer`.
fn signed(
    params: &rcgen::CertificateParams,
    key: &rcgen::KeyPair,
    issuer: &rcgen::Issuer<'_, &rcgen::KeyPair>,
) -> Vec<u8> {
    params
        .signed_by(key, issuer)
        .expect("certificate")
        .der()
        .to_vec()
}

/// An entry with a real certificate for `names` (first name also the CN), issued by
/// [`test_ca`], serial `index + 1`, timestamp [`GENERATED_BASE_MS`]` + index`. A precert carries
/// the critical poison extension; its TBS (what the log signs) is the same certificate without
/// it.
pub fn generated_entry(index: u64, names: &[&str], precert: bool) -> FakeEntry {
    assert!(!names.is_empty(), "a generated entry needs a name");
    let ca = test_ca();
    let issuer = rcgen::Issuer::from_params(&ca.params, &ca.key);
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("leaf params (names must be valid SANs)");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, names[0]);
    params.distinguished_name = dn;
    params.serial_number = Some(rcgen::SerialNumber::from(index + 1));
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2026, 4, 1);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let timestamp_ms = GENERATED_BASE_MS + index;
    let mut entry = if precert {
        let tbs = tbs_of(&signed(&params, &key, &issuer));
        let mut poison = rcgen::CustomExtension::from_oid_content(&POISON_OID, vec![0x05, 0x00]);
        poison.set_criticality(true);
        params.custom_extensions.push(poison);
        FakeEntry::from_parts(
            true,
            timestamp_ms,
            signed(&params, &key, &issuer),
            ca.key_hash,
            tbs,
            vec![ca.der.clone()],
        )
    } else {
        FakeEntry::from_parts(
            false,
            timestamp_ms,
            signed(&params, &key, &issuer),
            [0u8; 32],
            Vec::new(),
            vec![ca.der.clone()],
        )
    };
    entry.names = names.iter().map(|n| n.to_string()).collect();
    entry
}

/// RFC 6962 Merkle tree hash of leaf hashes.
fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let l = merkle_root(&leaves[..k]);
            let r = merkle_root(&leaves[k..]);
            sha256(&[&[1u8][..], &l, &r].concat())
        }
    }
}

fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    sha256(&[&[0u8][..], leaf].concat())
}

/// The kinds of path the fake serves, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathKind {
    GetSth,
    GetEntries,
    Checkpoint,
    /// A full data tile.
    DataTile,
    /// A partial data tile (`.p/<W>`).
    PartialTile,
    Issuer,
    /// A Merkle tree hash tile, `tile/<L>/<N>[.p/<W>]`, full or partial.
    HashTile,
    /// `/log_list.json`, once a list is set with [`FakeCtLog::serve_log_list`].
    LogList,
    /// Anything else (404).
    Other,
}

/// How data tiles are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileEncoding {
    /// Plain bytes.
    Identity,
    /// gzip with `Content-Encoding: gzip`, without negotiation (static-ct-api allows it).
    Gzip,
    /// gzip bytes without any `Content-Encoding` (a misconfigured bucket or CDN).
    GzipNoHeader,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct CtRequest {
    pub kind: PathKind,
    /// Path and query, as requested.
    pub path: String,
    pub status: u16,
}

/// Everything the log served so far.
#[derive(Debug, Clone, Default)]
pub struct CtLogState {
    pub requests: Vec<CtRequest>,
    pub by_kind: HashMap<PathKind, usize>,
    /// Per exact path (without the query).
    pub by_path: HashMap<String, usize>,
    /// The tree size currently served.
    pub size: u64,
}

impl CtLogState {
    pub fn count(&self, kind: PathKind) -> usize {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// Requests for this exact path (e.g. `/static/tile/data/000`).
    pub fn count_path(&self, path: &str) -> usize {
        self.by_path.get(path).copied().unwrap_or(0)
    }

    /// The largest number of requests for any one path of this kind (1 when nothing was
    /// refetched).
    pub fn max_per_path(&self, kind: PathKind) -> usize {
        let mut per: HashMap<&str, usize> = HashMap::new();
        for r in self.requests.iter().filter(|r| r.kind == kind) {
            *per.entry(r.path.split('?').next().unwrap_or(""))
                .or_default() += 1;
        }
        per.values().copied().max().unwrap_or(0)
    }
}

struct Log {
    entries: Vec<FakeEntry>,
    hashes_rfc6962: Vec<[u8; 32]>,
    hashes_static: Vec<[u8; 32]>,
    issuers: HashMap<String, Vec<u8>>,
    /// (size, rfc6962 root, static root) of the last computation.
    roots: Option<(u64, [u8; 32], [u8; 32])>,
}

impl Log {
    fn roots(&mut self) -> ([u8; 32], [u8; 32]) {
        let size = self.entries.len() as u64;
        match self.roots {
            Some((s, a, b)) if s == size => (a, b),
            _ => {
                let a = merkle_root(&self.hashes_rfc6962);
                let b = merkle_root(&self.hashes_static);
                self.roots = Some((size, a, b));
                (a, b)
            }
        }
    }

    fn timestamp(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.timestamp_ms)
            .max()
            .unwrap_or(GENERATED_BASE_MS)
            + 1
    }
}

/// What the handler shares with the log's methods.
pub struct Shared {
    origin: String,
    key: EcdsaKeyPair,
    spki: Vec<u8>,
    log: Mutex<Log>,
    max_batch: Mutex<u64>,
    tile_encoding: Mutex<TileEncoding>,
    faults: Mutex<FaultScript<PathKind>>,
    state: watch::Sender<CtLogState>,
    log_list: Mutex<Option<String>>,
}

impl Shared {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(&SystemRandom::new(), message)
            .expect("sign")
            .as_ref()
            .to_vec()
    }

    /// The tree head served now: size, (RFC 6962 root, static-ct-api root), timestamp.
    fn tree_head(&self) -> (u64, ([u8; 32], [u8; 32]), u64) {
        let mut log = self.log.lock().unwrap();
        let size = log.entries.len() as u64;
        (size, log.roots(), log.timestamp())
    }

    /// TLS `digitally-signed` (sha256, ecdsa) over an RFC 6962 TreeHeadSignature.
    fn tree_head_signature(&self, timestamp: u64, size: u64, root: &[u8; 32]) -> Vec<u8> {
        let mut m = vec![0u8, 1];
        m.extend_from_slice(&timestamp.to_be_bytes());
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(root);
        let sig = self.sign(&m);
        let mut out = vec![4u8, 3];
        push_u16(&mut out, &sig);
        out
    }
}

/// The running log; stops (and closes every connection) when dropped.
pub type FakeCtLog = Fake<Shared, CtLogState>;

impl FakeCtLog {
    /// A log serving `entries` (indexes from 0); `max_batch` 32, no gzip, no faults.
    pub async fn start(entries: Vec<FakeEntry>) -> FakeCtLog {
        let listener = FakeListener::bind().await;
        let addr = listener.addr();
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("log key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("log key");
        let spki = [&P256_SPKI_PREFIX[..], key.public_key().as_ref()].concat();
        let log = Fake::serve_http(
            listener,
            |state| Shared {
                origin: format!("{addr}/rfc6962"),
                key,
                spki,
                log: Mutex::new(Log {
                    entries: Vec::new(),
                    hashes_rfc6962: Vec::new(),
                    hashes_static: Vec::new(),
                    issuers: HashMap::new(),
                    roots: None,
                }),
                max_batch: Mutex::new(32),
                log_list: Mutex::new(None),
                tile_encoding: Mutex::new(TileEncoding::Identity),
                faults: Mutex::new(FaultScript::default()),
                state,
            },
            |_| {},
            handle,
        );
        log.append(entries);
        log
    }

    /// The RFC 6962 log URL (`log_url` in the log list): `http://127.0.0.1:PORT/rfc6962/`.
    pub fn rfc6962_url(&self) -> String {
        format!("http://{}/rfc6962/", self.addr())
    }

    /// The static-ct-api monitoring prefix: `http://127.0.0.1:PORT/static/`.
    pub fn monitoring_url(&self) -> String {
        format!("http://{}/static/", self.addr())
    }

    /// The static-ct-api submission prefix: the RFC 6962 URL, which serves the submission side's
    /// read APIs here (`get-sth`, `get-entries`).
    pub fn submission_url(&self) -> String {
        self.rfc6962_url()
    }

    /// The checkpoint origin and key name: the submission prefix without scheme and trailing
    /// slash, `127.0.0.1:PORT/rfc6962`, as static-ct-api requires.
    pub fn origin(&self) -> String {
        self.shared.origin.clone()
    }

    /// The log's public key as the log list gives it: base64 DER SubjectPublicKeyInfo (P-256).
    pub fn key_b64(&self) -> String {
        STANDARD.encode(&self.shared.spki)
    }

    /// The log ID: base64 SHA-256 of the key.
    pub fn log_id_b64(&self) -> String {
        STANDARD.encode(sha256(&self.shared.spki))
    }

    /// A Google v3 log list with one operator whose `logs` hold this log's RFC 6962 view (if
    /// `rfc6962`) and whose `tiled_logs` hold its static-ct view (if `tiled`), state usable.
    pub fn log_list_json(&self, rfc6962: bool, tiled: bool) -> String {
        let common = |description: &str| {
            json!({
                "description": description,
                "log_id": self.log_id_b64(),
                "key": self.key_b64(),
                "mmd": 60,
                "state": {"usable": {"timestamp": "2025-01-01T00:00:00Z"}},
                "temporal_interval": {
                    "start_inclusive": "2025-01-01T00:00:00Z",
                    "end_exclusive": "2030-01-01T00:00:00Z"
                }
            })
        };
        let mut logs = Vec::new();
        if rfc6962 {
            let mut l = common("certhound fake RFC 6962 log");
            l["url"] = json!(self.rfc6962_url());
            logs.push(l);
        }
        let mut tiled_logs = Vec::new();
        if tiled {
            let mut l = common("certhound fake static-ct log");
            l["submission_url"] = json!(self.submission_url());
            l["monitoring_url"] = json!(self.monitoring_url());
            tiled_logs.push(l);
        }
        json!({
            "version": "1.0",
            "log_list_timestamp": "2026-01-01T00:00:00Z",
            "operators": [{
                "name": "certhound tests",
                "email": ["tests@certhound.invalid"],
                "logs": logs,
                "tiled_logs": tiled_logs
            }]
        })
        .to_string()
    }

    /// Adds entries at the end of the tree (their issuers become servable).
    pub fn append(&self, entries: Vec<FakeEntry>) {
        let size = {
            let mut log = self.shared.log.lock().unwrap();
            for e in entries {
                let index = log.entries.len() as u64;
                log.hashes_rfc6962.push(leaf_hash(&e.leaf_input));
                log.hashes_static
                    .push(leaf_hash(&e.static_merkle_leaf(index)));
                for c in &e.chain {
                    log.issuers.insert(hex(&sha256(c)), c.clone());
                }
                log.entries.push(e);
            }
            log.entries.len() as u64
        };
        self.shared.state.send_modify(|s| s.size = size);
    }

    /// The tree size served.
    pub fn size(&self) -> u64 {
        self.shared.log.lock().unwrap().entries.len() as u64
    }

    /// The entries served, in order.
    pub fn entries(&self) -> Vec<FakeEntry> {
        self.shared.log.lock().unwrap().entries.clone()
    }

    /// Serves [`Self::log_list_json`]`(rfc6962, tiled)` at [`Self::log_list_url`].
    pub fn serve_log_list(&self, rfc6962: bool, tiled: bool) -> &Self {
        *self.shared.log_list.lock().unwrap() = Some(self.log_list_json(rfc6962, tiled));
        self
    }

    /// Where [`Self::serve_log_list`] serves the list (404 before).
    pub fn log_list_url(&self) -> String {
        format!("http://{}/log_list.json", self.addr())
    }

    /// Most entries one `get-entries` answers.
    pub fn set_max_batch(&self, n: u64) -> &Self {
        assert!(n > 0);
        *self.shared.max_batch.lock().unwrap() = n;
        self
    }

    /// How data tiles are served from now on.
    pub fn set_tile_encoding(&self, encoding: TileEncoding) -> &Self {
        *self.shared.tile_encoding.lock().unwrap() = encoding;
        self
    }

    /// Data tiles gzip-compressed with `Content-Encoding: gzip` whatever the request asked (as
    /// static-ct-api allows), or plain.
    pub fn set_gzip(&self, on: bool) -> &Self {
        self.set_tile_encoding(if on {
            TileEncoding::Gzip
        } else {
            TileEncoding::Identity
        })
    }

    /// The next `n` requests of `kind` get `fault` (after any already scripted).
    pub fn push_faults(&self, kind: PathKind, n: usize, fault: Fault) -> &Self {
        self.shared
            .faults
            .lock()
            .unwrap()
            .push(kind, Some(n), fault);
        self
    }

    /// Drops every scripted fault not yet used.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    /// Waits until at least `n` requests of `kind` were answered.
    pub async fn wait_for_requests(
        &self,
        kind: PathKind,
        n: usize,
        timeout: Duration,
    ) -> Waited<CtLogState> {
        self.wait_for(timeout, |s| s.count(kind) >= n).await
    }
}

type Resp = Response<Full<Bytes>>;

fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn text(status: u16, body: &str) -> Resp {
    response(status, "text/plain; charset=utf-8", body.to_string())
}

/// Parses `x001/x234/067[.p/<W>]` into (index, width).
fn parse_tile_path(p: &str) -> Option<(u64, Option<u16>)> {
    let segs: Vec<&str> = p.split('/').collect();
    let (index_segs, width) = match segs.iter().position(|s| s.ends_with(".p")) {
        Some(i) if i + 2 == segs.len() => {
            let w: u16 = segs[i + 1].parse().ok()?;
            if !(1..=255).contains(&w) || segs[i + 1] != w.to_string() {
                return None;
            }
            let mut v: Vec<&str> = segs[..=i].to_vec();
            let last = v.pop()?.strip_suffix(".p")?;
            v.push(last);
            (v, Some(w))
        }
        Some(_) => return None,
        None => (segs, None),
    };
    let mut n: u64 = 0;
    let last = index_segs.len().checked_sub(1)?;
    for (i, s) in index_segs.iter().enumerate() {
        let digits = if i == last { *s } else { s.strip_prefix('x')? };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
    }
    Some((n, width))
}

fn classify(path: &str) -> PathKind {
    if path == "/log_list.json" {
        PathKind::LogList
    } else if path == "/rfc6962/ct/v1/get-sth" {
        PathKind::GetSth
    } else if path == "/rfc6962/ct/v1/get-entries" {
        PathKind::GetEntries
    } else if path == "/static/checkpoint" {
        PathKind::Checkpoint
    } else if let Some(t) = path.strip_prefix("/static/tile/data/") {
        if t.contains(".p/") {
            PathKind::PartialTile
        } else {
            PathKind::DataTile
        }
    } else if path
        .strip_prefix("/static/tile/")
        .and_then(|t| t.split_once('/'))
        .is_some_and(|(l, _)| l.len() == 1 && (b'0'..=b'5').contains(&l.as_bytes()[0]))
    {
        PathKind::HashTile
    } else if path.starts_with("/static/issuer/") {
        PathKind::Issuer
    } else {
        PathKind::Other
    }
}

fn query_u64(query: &str, key: &str) -> Option<Result<u64, ()>> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse::<u64>().map_err(|_| ()))
    })
}

fn answer(shared: &Shared, kind: PathKind, path: &str, query: &str) -> Resp {
    match kind {
        PathKind::GetSth => {
            let (size, (root, _), timestamp) = shared.tree_head();
            let sig = shared.tree_head_signature(timestamp, size, &root);
            response(
                200,
                "application/json",
                json!({
                    "tree_size": size,
                    "timestamp": timestamp,
                    "sha256_root_hash": STANDARD.encode(root),
                    "tree_head_signature": STANDARD.encode(sig),
                })
                .to_string(),
            )
        }
        PathKind::GetEntries => {
            let (Some(Ok(start)), Some(Ok(end))) =
                (query_u64(query, "start"), query_u64(query, "end"))
            else {
                return text(400, "need start and end");
            };
            let log = shared.log.lock().unwrap();
            let size = log.entries.len() as u64;
            if end < start || start >= size {
                return text(400, "bad range");
            }
            let max_batch = *shared.max_batch.lock().unwrap();
            let last = end.min(size - 1).min(start + max_batch - 1);
            let entries: Vec<_> = log.entries[start as usize..=last as usize]
                .iter()
                .map(|e| {
                    json!({
                        "leaf_input": STANDARD.encode(&e.leaf_input),
                        "extra_data": STANDARD.encode(&e.extra_data),
                    })
                })
                .collect();
            response(
                200,
                "application/json",
                json!({ "entries": entries }).to_string(),
            )
        }
        PathKind::Checkpoint => {
            let (size, (_, root), timestamp) = shared.tree_head();
            let body = format!("{}\n{size}\n{}\n", shared.origin, STANDARD.encode(root));
            let mut key_id_input = shared.origin.as_bytes().to_vec();
            key_id_input.extend_from_slice(&[b'\n', 0x05]);
            key_id_input.extend_from_slice(&sha256(&shared.spki));
            let mut blob = sha256(&key_id_input)[..4].to_vec();
            blob.extend_from_slice(&timestamp.to_be_bytes());
            blob.extend_from_slice(&shared.tree_head_signature(timestamp, size, &root));
            let note = format!(
                "{body}\n\u{2014} {} {}\n",
                shared.origin,
                STANDARD.encode(blob)
            );
            response(200, "text/plain; charset=utf-8", note)
        }
        PathKind::DataTile | PathKind::PartialTile => {
            let Some((n, width)) = parse_tile_path(&path["/static/tile/data/".len()..]) else {
                return text(404, "not found");
            };
            let log = shared.log.lock().unwrap();
            let size = log.entries.len() as u64;
            let Some(start) = n.checked_mul(TILE_WIDTH) else {
                return text(404, "not found");
            };
            let count = match width {
                None if start + TILE_WIDTH <= size => TILE_WIDTH,
                Some(w) if start + u64::from(w) <= size && size < start + TILE_WIDTH => {
                    u64::from(w)
                }
                _ => return text(404, "not found"),
            };
            let mut body = Vec::new();
            for i in start..start + count {
                body.extend_from_slice(&log.entries[i as usize].tile_leaf(i));
            }
            drop(log);
            let encoding = *shared.tile_encoding.lock().unwrap();
            if encoding != TileEncoding::Identity {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&body).expect("gzip");
                body = enc.finish().expect("gzip");
            }
            let mut r = response(200, "application/octet-stream", body);
            if encoding == TileEncoding::Gzip {
                r.headers_mut()
                    .insert("content-encoding", "gzip".parse().unwrap());
            }
            r
        }
        PathKind::Issuer => {
            let h = path["/static/issuer/".len()..].to_ascii_lowercase();
            match shared.log.lock().unwrap().issuers.get(&h) {
                Some(der) => response(200, "application/pkix-cert", der.clone()),
                None => text(404, "not found"),
            }
        }
        PathKind::HashTile => {
            let rest = &path["/static/tile/".len()..];
            let (level, tile) = rest.split_once('/').unwrap_or_default();
            let level: u32 = level.parse().unwrap_or(0);
            let Some((n, width)) = parse_tile_path(tile) else {
                return text(404, "not found");
            };
            let log = shared.log.lock().unwrap();
            let size = log.hashes_static.len() as u64;
            // Each hash of a level-L tile covers 256^L leaves.
            let span = TILE_WIDTH.pow(level);
            let hashes_at_level = size / span;
            let Some(start) = n.checked_mul(TILE_WIDTH) else {
                return text(404, "not found");
            };
            let count = match width {
                None if start + TILE_WIDTH <= hashes_at_level => TILE_WIDTH,
                Some(w)
                    if start + u64::from(w) <= hashes_at_level
                        && hashes_at_level < start + TILE_WIDTH =>
                {
                    u64::from(w)
                }
                _ => return text(404, "not found"),
            };
            let mut body = Vec::with_capacity(count as usize * 32);
            for i in start..start + count {
                let from = (i * span) as usize;
                body.extend_from_slice(&merkle_root(
                    &log.hashes_static[from..from + span as usize],
                ));
            }
            response(200, "application/octet-stream", body)
        }
        PathKind::LogList => match shared.log_list.lock().unwrap().clone() {
            Some(list) => response(200, "application/json", list.into_bytes()),
            None => text(404, "not found"),
        },
        PathKind::Other => text(404, "not found"),
    }
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Resp, Hangup> {
    let Recorded {
        at, path, query, ..
    } = Recorded::read(req).await;
    let query = query.unwrap_or_default();
    let kind = classify(&path);
    let fault = shared.faults.lock().unwrap().next(at, |k| *k == kind);
    if fault == Some(Fault::Hangup) {
        return Err(Hangup);
    }
    let resp = match fault {
        Some(Fault::TooMany(secs)) => {
            let mut r = text(429, "too many requests");
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            r
        }
        Some(Fault::Status(s)) => text(s, "scripted failure"),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            answer(&shared, kind, &path, &query)
        }
        Some(Fault::Hangup) | None => answer(&shared, kind, &path, &query),
    };
    let status = resp.status().as_u16();
    let full = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    shared.state.send_modify(|s| {
        s.requests.push(CtRequest {
            kind,
            path: full,
            status,
        });
        *s.by_kind.entry(kind).or_default() += 1;
        *s.by_path.entry(path).or_default() += 1;
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_entries_round_trip_their_encoding() {
        let entries = fixture_entries();
        assert_eq!(entries.len(), 30);
        assert!(entries.iter().any(|e| e.precert));
        assert!(entries.iter().any(|e| !e.precert));
        for e in &entries {
            let rebuilt = FakeEntry::from_parts(
                e.precert,
                e.timestamp_ms,
                e.leaf.clone(),
                e.issuer_key_hash,
                e.tbs.clone(),
                e.chain.clone(),
            );
            assert_eq!(rebuilt.leaf_input, e.leaf_input);
            assert_eq!(rebuilt.extra_data, e.extra_data);
            assert!(!e.chain.is_empty());
        }
    }

    #[test]
    fn serial_variants_are_unique_and_same_length() {
        let a = fixture_entry_with_serial(0, 1);
        let b = fixture_entry_with_serial(0, 2);
        let base = &fixture_entries()[0];
        assert_eq!(a.leaf.len(), base.leaf.len());
        assert_ne!(a.leaf, b.leaf);
        assert_ne!(a.leaf_input, b.leaf_input);
        let p = fixture_entries().iter().position(|e| e.precert).unwrap();
        let (c, d) = (
            fixture_entry_with_serial(p, 7),
            fixture_entry_with_serial(p, 8),
        );
        assert_ne!(c.tbs, d.tbs);
        assert_ne!(c.leaf, d.leaf);
        assert_eq!(c.tbs.len(), fixture_entries()[p].tbs.len());
    }

    #[test]
    fn tile_paths_parse() {
        assert_eq!(parse_tile_path("x001/x234/067"), Some((1234067, None)));
        assert_eq!(parse_tile_path("000.p/5"), Some((0, Some(5))));
        assert_eq!(parse_tile_path("x001/000.p/255"), Some((1000, Some(255))));
        assert_eq!(parse_tile_path("000.p/256"), None);
        assert_eq!(parse_tile_path("000.p/0"), None);
        assert_eq!(parse_tile_path("1"), None);
        assert_eq!(parse_tile_path("001/002"), None);
    }

    #[test]
    fn merkle_root_small_trees() {
        let l: Vec<[u8; 32]> = (0u8..3).map(|i| leaf_hash(&[i])).collect();
        let n01 = sha256(&[&[1u8][..], &l[0], &l[1]].concat());
        let root = sha256(&[&[1u8][..], &n01, &l[2]].concat());
        assert_eq!(merkle_root(&l), root);
    }
}
