//! static-ct-api checkpoints: a C2SP signed note (signed-note) whose text is a tlog-checkpoint
//! (`<origin>\n<size>\n<base64 root hash>\n` and optional extension lines), verified against
//! the log's key from the log list.
//!
//! A note is its text, a blank line, then signature lines `— <name> <base64(key ID || sig)>`
//! (the dash is U+2014). static-ct-api logs sign with the RFC 6962 note signature type (0x05):
//! the key ID is the first 4 bytes of SHA-256(`name` || 0x0A || 0x05 || the 32-byte RFC 6962
//! `LogID`, itself SHA-256 of the SubjectPublicKeyInfo DER), and the
//! signature is a u64 timestamp (ms) followed by a TLS `digitally-signed` RFC 6962
//! `TreeHeadSignature` over (version 0, tree_hash 1, timestamp, tree size, root hash). Plain
//! Ed25519 note signatures (type 0x01, over the note text) are accepted too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ED25519};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The em dash starting each signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Signature types (the byte after the name in the key ID hash).
const SIG_TYPE_ED25519: u8 = 0x01;
const SIG_TYPE_RFC6962: u8 = 0x05;
/// Limits on what a verifier reads (signed-note asks for at least 16 signatures).
const MAX_NOTE_BYTES: usize = 1 << 20;
const MAX_SIGNATURES: usize = 100;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_ED25519: &str = "1.3.101.112";

/// Which algorithm a log key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    Ed25519,
}

/// A log's public key under the name (the checkpoint origin) its notes are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    origin: String,
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    /// The raw key: an uncompressed P-256 point, or 32 Ed25519 bytes.
    raw: Vec<u8>,
}

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    /// The number of entries in the log.
    pub size: u64,
    pub root_hash: [u8; 32],
    /// The signature's timestamp (RFC 6962 note signatures only).
    pub timestamp_ms: Option<u64>,
}

/// Why a key or a checkpoint was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("bad log key: {0}")]
    BadKey(String),
    #[error("bad checkpoint format: {0}")]
    Format(String),
    #[error("checkpoint origin {found:?}, expected {expected:?}")]
    OriginMismatch { expected: String, found: String },
    #[error("no signature by the log's key {0:?}")]
    NoSignature(String),
    #[error("bad signature by {0:?}")]
    BadSignature(String),
}

fn format(msg: impl Into<String>) -> CheckpointError {
    CheckpointError::Format(msg.into())
}

/// The origin a static-ct-api log's checkpoints carry: its submission prefix without the scheme
/// and the trailing slash (`https://log.example/2026h1/` → `log.example/2026h1`).
pub fn origin_from_url(submission_url: &str) -> String {
    let s = submission_url
        .strip_prefix("https://")
        .or_else(|| submission_url.strip_prefix("http://"))
        .unwrap_or(submission_url);
    s.trim_end_matches('/').to_string()
}

fn key_id(name: &str, sig_type: u8, key: &[u8]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 2 + key.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(sig_type);
    input.extend_from_slice(key);
    let h = digest(&SHA256, &input);
    let mut id = [0u8; 4];
    id.copy_from_slice(&h.as_ref()[..4]);
    id
}

impl LogKey {
    /// A key from the log list's `key` (base64 DER SubjectPublicKeyInfo), for checkpoints whose
    /// origin (and key name) is `origin`. ECDSA P-256 and Ed25519 keys are supported.
    pub fn from_spki_b64(origin: &str, key_b64: &str) -> Result<LogKey, CheckpointError> {
        let der = STANDARD
            .decode(key_b64.trim())
            .map_err(|e| CheckpointError::BadKey(format!("base64: {e}")))?;
        LogKey::from_spki_der(origin, &der)
    }

    /// As [`LogKey::from_spki_b64`], from the DER.
    pub fn from_spki_der(origin: &str, der: &[u8]) -> Result<LogKey, CheckpointError> {
        if origin.is_empty() || origin.contains(char::is_whitespace) || origin.contains('+') {
            return Err(CheckpointError::BadKey(format!("bad key name {origin:?}")));
        }
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| CheckpointError::BadKey(format!("SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(CheckpointError::BadKey(
                "trailing bytes after the key".into(),
            ));
        }
        let alg = spki.algorithm.algorithm.to_id_string();
        let raw = spki.subject_public_key.data.to_vec();
        let algorithm = match alg.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                if curve.as_deref() != Some(OID_P256) {
                    return Err(CheckpointError::BadKey(format!(
                        "unsupported EC curve {curve:?}"
                    )));
                }
                if raw.len() != 65 || raw[0] != 0x04 {
                    return Err(CheckpointError::BadKey("bad P-256 point".into()));
                }
                KeyAlgorithm::EcdsaP256
            }
            OID_ED25519 => {
                if raw.len() != 32 {
                    return Err(CheckpointError::BadKey("bad Ed25519 key".into()));
                }
                KeyAlgorithm::Ed25519
            }
            other => {
                return Err(CheckpointError::BadKey(format!(
                    "unsupported key algorithm {other}"
                )))
            }
        };
        Ok(LogKey {
            origin: origin.to_string(),
            algorithm,
            spki_der: der.to_vec(),
            raw,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The RFC 6962 log ID: SHA-256 of the SubjectPublicKeyInfo.
    pub fn log_id(&self) -> [u8; 32] {
        let mut id = [0u8; 32];
        id.copy_from_slice(digest(&SHA256, &self.spki_der).as_ref());
        id
    }

    /// The key ID of RFC 6962 note signatures (type 0x05) by this key.
    pub fn rfc6962_key_id(&self) -> [u8; 4] {
        key_id(&self.origin, SIG_TYPE_RFC6962, &self.log_id())
    }

    /// The key ID of plain Ed25519 note signatures (type 0x01), for Ed25519 keys.
    pub fn ed25519_key_id(&self) -> Option<[u8; 4]> {
        (self.algorithm == KeyAlgorithm::Ed25519)
            .then(|| key_id(&self.origin, SIG_TYPE_ED25519, &self.raw))
    }

    fn verify_raw(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn ring::signature::VerificationAlgorithm = match self.algorithm {
            KeyAlgorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::Ed25519 => &ED25519,
        };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, sig)
            .is_ok()
    }
}

/// The RFC 6962 `TreeHeadSignature` input (version v1, signature_type tree_hash).
pub fn tree_head_signature_input(timestamp_ms: u64, size: u64, root_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(50);
    m.push(0); // version v1
    m.push(1); // signature_type tree_hash
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(root_hash);
    m
}

/// The checkpoint text: origin, size, root hash (extension lines are kept but not interpreted).
struct Body {
    origin: String,
    size: u64,
    root_hash: [u8; 32],
    has_extensions: bool,
}

fn parse_body(text: &str) -> Result<Body, CheckpointError> {
    let mut lines = text
        .strip_suffix('\n')
        .ok_or_else(|| format("text does not end with a newline"))?
        .split('\n');
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err(format("empty origin"));
    }
    let size = lines.next().ok_or_else(|| format("no tree size"))?;
    if size.is_empty()
        || !size.bytes().all(|b| b.is_ascii_digit())
        || (size.len() > 1 && size.starts_with('0'))
    {
        return Err(format(format!("bad tree size {size:?}")));
    }
    let size: u64 = size
        .parse()
        .map_err(|_| format(format!("tree size {size:?} out of range")))?;
    let root = lines.next().ok_or_else(|| format("no root hash"))?;
    let root = STANDARD
        .decode(root)
        .map_err(|_| format("root hash is not base64"))?;
    let root_hash: [u8; 32] = root
        .try_into()
        .map_err(|_| format("root hash is not 32 bytes"))?;
    let mut has_extensions = false;
    for ext in lines {
        if ext.is_empty() {
            return Err(format("empty extension line"));
        }
        has_extensions = true;
    }
    Ok(Body {
        origin: origin.to_string(),
        size,
        root_hash,
        has_extensions,
    })
}

/// Parses the signed note `note` and verifies it carries a valid signature by `key`, whose name
/// must be the checkpoint's origin. Signatures by other keys are ignored.
pub fn verify(note: &[u8], key: &LogKey) -> Result<Checkpoint, CheckpointError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(format(format!("note larger than {MAX_NOTE_BYTES} bytes")));
    }
    let note = std::str::from_utf8(note).map_err(|_| format("not UTF-8"))?;
    if note.chars().any(|c| c.is_ascii_control() && c != '\n') {
        return Err(format("control character in the note"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| format("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    let sigs = &note[split + 2..];
    let body = parse_body(text)?;
    if body.origin != key.origin {
        return Err(CheckpointError::OriginMismatch {
            expected: key.origin.clone(),
            found: body.origin,
        });
    }
    let sigs = sigs
        .strip_suffix('\n')
        .ok_or_else(|| format("signatures do not end with a newline"))?;
    if sigs.is_empty() {
        return Err(format("no signature lines"));
    }
    if sigs.split('\n').count() > MAX_SIGNATURES {
        return Err(format(format!("more than {MAX_SIGNATURES} signatures")));
    }
    let rfc6962_id = key.rfc6962_key_id();
    let ed25519_id = key.ed25519_key_id();
    // Every signature by the key must verify (signed-note: reject the whole note otherwise).
    let mut bad = false;
    let mut verified: Option<Option<u64>> = None;
    for line in sigs.split('\n') {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| format(format!("bad signature line {line:?}")))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| format(format!("bad signature line {line:?}")))?;
        if name.is_empty() || b64.contains(' ') {
            return Err(format(format!("bad signature line {line:?}")));
        }
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| format(format!("signature of {name:?} is not base64")))?;
        if name != key.origin || blob.len() < 4 {
            continue;
        }
        let (id, sig) = blob.split_at(4);
        if id == rfc6962_id {
            // The RFC 6962 signature covers size and root only: extension lines would be
            // unauthenticated, and static-ct-api forbids them.
            if body.has_extensions {
                return Err(format("extension lines in an RFC 6962 signed checkpoint"));
            }
            match verify_rfc6962(key, &body, sig) {
                Some(ts) => verified = Some(Some(ts)),
                None => bad = true,
            }
        } else if Some(id) == ed25519_id.as_ref().map(|i| &i[..]) {
            if key.verify_raw(text.as_bytes(), sig) {
                verified = verified.or(Some(None));
            } else {
                bad = true;
            }
        }
    }
    match (bad, verified) {
        (true, _) => Err(CheckpointError::BadSignature(key.origin.clone())),
        (false, None) => Err(CheckpointError::NoSignature(key.origin.clone())),
        (false, Some(timestamp_ms)) => Ok(Checkpoint {
            origin: body.origin,
            size: body.size,
            root_hash: body.root_hash,
            timestamp_ms,
        }),
    }
}

/// `sig` is timestamp u64 || hash alg || sig alg || u16 length || signature; returns the
/// timestamp if the signature is valid.
fn verify_rfc6962(key: &LogKey, body: &Body, sig: &[u8]) -> Option<u64> {
    if sig.len() < 12 {
        return None;
    }
    let timestamp_ms = u64::from_be_bytes(sig[..8].try_into().ok()?);
    let (hash_alg, sig_alg) = (sig[8], sig[9]);
    let len = usize::from(u16::from_be_bytes([sig[10], sig[11]]));
    let signature = &sig[12..];
    if signature.len() != len || hash_alg != 4 {
        return None;
    }
    let expected_sig_alg = match key.algorithm {
        KeyAlgorithm::EcdsaP256 => 3,
        KeyAlgorithm::Ed25519 => 7,
    };
    if sig_alg != expected_sig_alg {
        return None;
    }
    let message = tree_head_signature_input(timestamp_ms, body.size, &body.root_hash);
    key.verify_raw(&message, signature).then_some(timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    const ORIGIN: &str = "log.example.test/2026h1";
    /// DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte point.
    const P256_SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    const ED25519_SPKI_PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];

    fn text(origin: &str, size: u64, root: &[u8; 32]) -> String {
        format!("{origin}\n{size}\n{}\n", STANDARD.encode(root))
    }

    fn p256() -> (EcdsaKeyPair, LogKey) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(kp.public_key().as_ref());
        let key = LogKey::from_spki_b64(ORIGIN, &STANDARD.encode(&spki)).unwrap();
        (kp, key)
    }

    fn sign_p256(
        kp: &EcdsaKeyPair,
        key: &LogKey,
        name: &str,
        size: u64,
        root: &[u8; 32],
    ) -> String {
        let ts = 1_760_000_000_123u64;
        let sig = kp
            .sign(
                &SystemRandom::new(),
                &tree_head_signature_input(ts, size, root),
            )
            .unwrap();
        let mut blob = key_id(name, SIG_TYPE_RFC6962, &key.log_id()).to_vec();
        blob.extend_from_slice(&ts.to_be_bytes());
        blob.extend_from_slice(&[4, 3]);
        blob.extend_from_slice(&(sig.as_ref().len() as u16).to_be_bytes());
        blob.extend_from_slice(sig.as_ref());
        format!("\u{2014} {name} {}\n", STANDARD.encode(blob))
    }

    #[test]
    fn p256_checkpoint_verifies_and_tampering_fails() {
        let (kp, key) = p256();
        let root = [7u8; 32];
        let other = "\u{2014} witness.example AAAAAAAA\n";
        let note = format!(
            "{}\n{other}{}",
            text(ORIGIN, 1234, &root),
            sign_p256(&kp, &key, ORIGIN, 1234, &root)
        );
        let cp = verify(note.as_bytes(), &key).unwrap();
        assert_eq!(cp.origin, ORIGIN);
        assert_eq!(cp.size, 1234);
        assert_eq!(cp.root_hash, root);
        assert_eq!(cp.timestamp_ms, Some(1_760_000_000_123));

        let sig = sign_p256(&kp, &key, ORIGIN, 1234, &root);
        let tampered_size = format!("{}\n{sig}", text(ORIGIN, 1235, &root));
        assert_eq!(
            verify(tampered_size.as_bytes(), &key),
            Err(CheckpointError::BadSignature(ORIGIN.into()))
        );
        let tampered_root = format!("{}\n{sig}", text(ORIGIN, 1234, &[8u8; 32]));
        assert_eq!(
            verify(tampered_root.as_bytes(), &key),
            Err(CheckpointError::BadSignature(ORIGIN.into()))
        );
        let other_origin = format!("{}\n{sig}", text("evil.example/log", 1234, &root));
        assert!(matches!(
            verify(other_origin.as_bytes(), &key),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        let (_, other_key) = p256();
        assert_eq!(
            verify(note.as_bytes(), &other_key),
            Err(CheckpointError::NoSignature(ORIGIN.into()))
        );
        let unsigned = format!("{}\n{other}", text(ORIGIN, 1234, &root));
        assert_eq!(
            verify(unsigned.as_bytes(), &key),
            Err(CheckpointError::NoSignature(ORIGIN.into()))
        );
    }

    #[test]
    fn ed25519_note_signature_verifies() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(kp.public_key().as_ref());
        let key = LogKey::from_spki_der(ORIGIN, &spki).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
        let root = [3u8; 32];
        let body = text(ORIGIN, 99, &root);
        let mut blob = key.ed25519_key_id().unwrap().to_vec();
        blob.extend_from_slice(kp.sign(body.as_bytes()).as_ref());
        let note = format!("{body}\n\u{2014} {ORIGIN} {}\n", STANDARD.encode(&blob));
        let cp = verify(note.as_bytes(), &key).unwrap();
        assert_eq!((cp.size, cp.timestamp_ms), (99, None));
        // Extension lines are signed by an Ed25519 note signature, so they are allowed.
        let ext_body = format!("{body}ext line\n");
        let mut ext_blob = key.ed25519_key_id().unwrap().to_vec();
        ext_blob.extend_from_slice(kp.sign(ext_body.as_bytes()).as_ref());
        let ext_note = format!(
            "{ext_body}\n\u{2014} {ORIGIN} {}\n",
            STANDARD.encode(&ext_blob)
        );
        assert_eq!(verify(ext_note.as_bytes(), &key).unwrap().size, 99);
        let bad = note.replace("\n99\n", "\n98\n");
        assert_eq!(
            verify(bad.as_bytes(), &key),
            Err(CheckpointError::BadSignature(ORIGIN.into()))
        );
    }

    #[test]
    fn bad_formats_are_errors() {
        let (kp, key) = p256();
        let root = [1u8; 32];
        let sig = sign_p256(&kp, &key, ORIGIN, 5, &root);
        for note in [
            String::new(),
            "garbage".to_string(),
            format!("{}{sig}", text(ORIGIN, 5, &root)),
            format!("{ORIGIN}\n05\n{}\n\n{sig}", STANDARD.encode(root)),
            format!("{ORIGIN}\n+5\n{}\n\n{sig}", STANDARD.encode(root)),
            format!("{ORIGIN}\n5\n{}\n\n{sig}", STANDARD.encode([1u8; 31])),
            format!("{ORIGIN}\n5\n!!!\n\n{sig}"),
            format!("{}\n- {ORIGIN} AAAA\n", text(ORIGIN, 5, &root)),
            format!("{}\n{}", text(ORIGIN, 5, &root), sig.trim_end()),
        ] {
            assert!(
                matches!(
                    verify(note.as_bytes(), &key),
                    Err(CheckpointError::Format(_))
                ),
                "{note:?}"
            );
        }
        // static-ct-api: no extension lines under an RFC 6962 signature.
        let with_ext = format!(
            "{ORIGIN}\n5\n{}\nextension line\n\n{sig}",
            STANDARD.encode(root)
        );
        assert!(matches!(
            verify(with_ext.as_bytes(), &key),
            Err(CheckpointError::Format(_))
        ));
        let control = format!("{ORIGIN}\n5\n{}\n\n\r{sig}", STANDARD.encode(root));
        assert!(matches!(
            verify(control.as_bytes(), &key),
            Err(CheckpointError::Format(_))
        ));
        // A bad signature by the key rejects the note even next to a good one.
        let bad_sig = sign_p256(&kp, &key, ORIGIN, 6, &root);
        let mixed = format!("{}\n{sig}{bad_sig}", text(ORIGIN, 5, &root));
        assert_eq!(
            verify(mixed.as_bytes(), &key),
            Err(CheckpointError::BadSignature(ORIGIN.into()))
        );
    }

    #[test]
    fn real_log_list_keys_parse() {
        let list: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/ct/google_log_list_v3.json"
        ))
        .unwrap();
        let mut parsed = 0;
        for op in list["operators"].as_array().unwrap() {
            for log in op["tiled_logs"].as_array().into_iter().flatten() {
                let origin = origin_from_url(log["submission_url"].as_str().unwrap());
                let key = LogKey::from_spki_b64(&origin, log["key"].as_str().unwrap()).unwrap();
                assert_eq!(
                    STANDARD.encode(key.log_id()),
                    log["log_id"].as_str().unwrap()
                );
                parsed += 1;
            }
        }
        assert!(parsed > 0);
        assert!(LogKey::from_spki_b64(ORIGIN, "AAAA").is_err());
        assert!(LogKey::from_spki_b64(ORIGIN, "not base64!").is_err());
        assert_eq!(
            origin_from_url("https://log.sycamore.ct.letsencrypt.org/2026h1/"),
            "log.sycamore.ct.letsencrypt.org/2026h1"
        );
    }
}
