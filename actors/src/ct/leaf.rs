//! RFC 6962 `MerkleTreeLeaf` and `extra_data` into a [`LogEntry`].
//!
//! `get-entries` returns, per entry, `leaf_input` and `extra_data` as base64. Callers either
//! decode them into buffers they own and call [`parse_entry`] (the fast path: the buffers can be
//! reused across entries), or use [`parse_entry_b64`], which decodes into two caller-provided
//! `Vec<u8>`s and parses from them.
//!
//! Every length is checked: truncated or garbage input gives a [`DecodeError`], never a panic.

use base64::Engine as _;

use super::{DecodeError, EntryKind, LogEntry};

/// A cursor over TLS-encoded (RFC 5246 presentation language) bytes.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(self.what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn uint(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(self.uint(2)? as u16)
    }

    fn u24_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.uint(3)? as usize;
        self.take(n)
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Parses a list of u24-length-prefixed certificates (the body of an `ASN.1Cert<1..2^24-1>`
/// vector), appending them to `chain`.
fn parse_cert_list<'a>(
    body: &'a [u8],
    chain: &mut Vec<&'a [u8]>,
    what: &'static str,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(body, what);
    while !r.is_empty() {
        let cert = r.u24_bytes()?;
        if cert.is_empty() {
            return Err(DecodeError::Truncated(what));
        }
        chain.push(cert);
    }
    Ok(())
}

/// Parses one RFC 6962 entry (`leaf_input` and `extra_data`, already base64-decoded).
///
/// For an `X509` entry `extra_data` may be empty (no chain). For a `Precert` entry the leaf is
/// the pre-certificate from `extra_data` (`PrecertChainEntry`), so `extra_data` is required.
pub fn parse_entry<'a>(
    leaf_input: &'a [u8],
    extra_data: &'a [u8],
    index: u64,
) -> Result<LogEntry<'a>, DecodeError> {
    let mut r = Reader::new(leaf_input, "leaf_input");
    let version = r.u8()?;
    if version != 0 {
        return Err(DecodeError::Unknown {
            what: "MerkleTreeLeaf version",
            value: version.into(),
        });
    }
    let leaf_type = r.u8()?;
    if leaf_type != 0 {
        return Err(DecodeError::Unknown {
            what: "MerkleLeafType",
            value: leaf_type.into(),
        });
    }
    let timestamp_ms = r.uint(8)?;
    let entry_type = r.u16()?;
    let kind = match entry_type {
        0 => EntryKind::X509,
        1 => EntryKind::Precert,
        other => {
            return Err(DecodeError::Unknown {
                what: "LogEntryType",
                value: other.into(),
            })
        }
    };
    let signed_cert = match kind {
        EntryKind::X509 => Some(r.u24_bytes()?),
        EntryKind::Precert => {
            r.take(32)?; // issuer_key_hash
            r.u24_bytes()?; // TBSCertificate
            None
        }
    };
    let ext_len = r.u16()? as usize;
    r.take(ext_len)?;

    let mut chain = Vec::new();
    let mut x = Reader::new(extra_data, "extra_data");
    let leaf = match signed_cert {
        Some(cert) => {
            if cert.is_empty() {
                return Err(DecodeError::Truncated("leaf_input certificate"));
            }
            if !x.is_empty() {
                let list = x.u24_bytes()?;
                parse_cert_list(list, &mut chain, "extra_data certificate_chain")?;
            }
            cert
        }
        None => {
            if extra_data.is_empty() {
                return Err(DecodeError::Truncated(
                    "extra_data (a precertificate entry needs its PrecertChainEntry)",
                ));
            }
            let pre = x.u24_bytes()?;
            if pre.is_empty() {
                return Err(DecodeError::Truncated("extra_data pre_certificate"));
            }
            let list = x.u24_bytes()?;
            parse_cert_list(list, &mut chain, "extra_data precertificate_chain")?;
            pre
        }
    };
    Ok(LogEntry {
        kind,
        index,
        timestamp_ms,
        leaf,
        chain,
    })
}

/// Decodes base64 `leaf_input` and `extra_data` (standard alphabet, as `get-entries` sends them)
/// into `leaf_buf` and `extra_buf` (cleared first; reuse them across entries) and parses the
/// entry from those buffers.
pub fn parse_entry_b64<'a>(
    leaf_input_b64: &str,
    extra_data_b64: &str,
    index: u64,
    leaf_buf: &'a mut Vec<u8>,
    extra_buf: &'a mut Vec<u8>,
) -> Result<LogEntry<'a>, DecodeError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    leaf_buf.clear();
    extra_buf.clear();
    b64.decode_vec(leaf_input_b64.trim(), leaf_buf)
        .map_err(|_| DecodeError::Base64("leaf_input"))?;
    b64.decode_vec(extra_data_b64.trim(), extra_buf)
        .map_err(|_| DecodeError::Base64("extra_data"))?;
    parse_entry(leaf_buf, extra_buf, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Vec<serde_json::Value> {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/ct/live_entries.json"
        ));
        serde_json::from_str(text).expect("fixture JSON")
    }

    fn b64(v: &serde_json::Value, k: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(v[k].as_str().unwrap())
            .unwrap()
    }

    #[test]
    fn parses_all_fixtures() {
        for f in fixtures() {
            let li = b64(&f, "leaf_input");
            let ex = b64(&f, "extra_data");
            let idx = f["cert_index"].as_u64().unwrap();
            let e = parse_entry(&li, &ex, idx).unwrap();
            let full: serde_json::Value =
                serde_json::from_str(f["expected_full"].as_str().unwrap()).unwrap();
            let d = &full["data"];
            assert_eq!(e.kind.update_type(), d["update_type"].as_str().unwrap());
            assert_eq!(e.index, idx);
            assert_eq!(e.chain.len(), d["chain"].as_array().unwrap().len());
            let as_der = base64::engine::general_purpose::STANDARD
                .decode(d["leaf_cert"]["as_der"].as_str().unwrap())
                .unwrap();
            assert_eq!(e.leaf, &as_der[..]);
            let ts = d["submission_timestamp"].as_f64().unwrap();
            assert!((e.timestamp_ms as f64 / 1000.0 - ts).abs() < 1e-6);

            let (mut a, mut b) = (Vec::new(), Vec::new());
            let e2 = parse_entry_b64(
                f["leaf_input"].as_str().unwrap(),
                f["extra_data"].as_str().unwrap(),
                idx,
                &mut a,
                &mut b,
            )
            .unwrap();
            assert_eq!(e2.leaf, e.leaf);
        }
    }

    #[test]
    fn truncations_are_errors() {
        for f in fixtures() {
            let li = b64(&f, "leaf_input");
            let ex = b64(&f, "extra_data");
            for n in 0..li.len() {
                assert!(
                    parse_entry(&li[..n], &ex, 0).is_err(),
                    "leaf_input cut at {n}"
                );
            }
            for n in 0..ex.len() {
                // Cutting extra_data to nothing is allowed for X509 entries.
                let r = parse_entry(&li, &ex[..n], 0);
                if n == 0 && li[11] == 0 {
                    assert!(r.unwrap().chain.is_empty());
                } else {
                    assert!(r.is_err(), "extra_data cut at {n}");
                }
            }
        }
    }

    #[test]
    fn precert_without_extra_data_is_an_error() {
        let f = fixtures()
            .into_iter()
            .find(|f| b64(f, "leaf_input")[11] == 1)
            .unwrap();
        let li = b64(&f, "leaf_input");
        assert!(matches!(
            parse_entry(&li, &[], 0),
            Err(DecodeError::Truncated(_))
        ));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_entry(&[1, 0], &[], 0).is_err());
        assert!(parse_entry(&[0, 1], &[], 0).is_err());
        let mut li = vec![0u8; 10];
        li.extend_from_slice(&[0, 7]);
        assert!(matches!(
            parse_entry(&li, &[], 0),
            Err(DecodeError::Unknown { .. })
        ));
        // Huge declared lengths.
        let mut li = vec![0u8; 12];
        li.extend_from_slice(&[0xff, 0xff, 0xff, 1, 2]);
        assert!(parse_entry(&li, &[], 0).is_err());
        let mut x = 0u64;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bytes: Vec<u8> = (0..(x % 64) as usize)
                .map(|i| (x >> (i % 56)) as u8)
                .collect();
            let _ = parse_entry(&bytes, &bytes, 0);
        }
        assert_eq!(
            parse_entry_b64("!!", "", 0, &mut Vec::new(), &mut Vec::new()).unwrap_err(),
            DecodeError::Base64("leaf_input")
        );
    }
}
