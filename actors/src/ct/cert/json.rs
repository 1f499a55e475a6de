//! Writing JSON by hand into a `Vec<u8>`: strings (escaped, with a fast path for the common
//! case of nothing to escape), arrays of strings, numbers and hex.

use super::*;

pub(super) const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
pub(super) const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

pub(super) fn write_hex(out: &mut Vec<u8>, bytes: &[u8], sep: Option<u8>, upper: bool) {
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
pub(super) const NEEDS_ESCAPE: [bool; 256] = {
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
pub(super) fn swar_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let less_than_0x20 = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
    less_than_0x20 || has_zero(w ^ (ONES * b'"' as u64)) || has_zero(w ^ (ONES * b'\\' as u64))
}

/// A JSON string literal (quotes included).
pub(super) fn write_json_str(out: &mut Vec<u8>, s: &str) {
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

pub(super) fn write_str_array(out: &mut Vec<u8>, items: &[String]) {
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
pub(super) fn write_f64(out: &mut Vec<u8>, v: f64) {
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
