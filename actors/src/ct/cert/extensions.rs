//! Extension text, OpenSSL-like, as the certstream server prints it: a small DER reader
//! (tag, length, value) and one formatter per listed extension. A formatter that meets DER it
//! does not expect returns `None` and the extension is left out.

use super::*;

/// One DER TLV: (tag byte, content, rest). None on truncation or unsupported encodings.
pub(super) fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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
pub(super) fn expect(buf: &[u8], tag: u8) -> Option<&[u8]> {
    let (t, c, rest) = tlv(buf)?;
    (t == tag && rest.is_empty()).then_some(c)
}

/// Iterates the elements of a SEQUENCE's content; the iterator yields None once on bad DER.
pub(super) fn elements(mut buf: &[u8]) -> impl Iterator<Item = Option<(u8, &[u8])>> {
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

pub(super) fn oid_string(oid: &[u8]) -> Option<String> {
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

pub(super) fn hex_lower_colon(bytes: &[u8]) -> String {
    let mut v = Vec::with_capacity(bytes.len() * 3);
    write_hex(&mut v, bytes, Some(b':'), false);
    String::from_utf8(v).unwrap_or_default()
}

/// GeneralName as OpenSSL prints it; DNS names are also pushed into `dns`.
pub(super) fn fmt_general_name(tag: u8, c: &[u8], dns: Option<&mut Vec<String>>) -> String {
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

pub(super) fn fmt_general_names(seq: &[u8], mut dns: Option<&mut Vec<String>>) -> Option<String> {
    let mut parts = Vec::new();
    for el in elements(seq) {
        let (t, c) = el?;
        parts.push(fmt_general_name(t, c, dns.as_deref_mut()));
    }
    Some(parts.join(", "))
}

pub(super) fn fmt_san(v: &[u8], dns: &mut Vec<String>) -> Option<String> {
    let seq = expect(v, 0x30)?;
    let mut found = Vec::new();
    let s = fmt_general_names(seq, Some(&mut found))?;
    dns.extend(found);
    Some(s)
}

/// The elements of a SEQUENCE OF SEQUENCE { OID, ... } (AIA's access descriptions, the
/// certificate policies): each OID and what follows it, `None` for an element of another shape.
fn oid_sequences(v: &[u8]) -> Option<impl Iterator<Item = Option<(&[u8], &[u8])>>> {
    Some(elements(expect(v, 0x30)?).map(|el| {
        let (t, c) = el?;
        if t != 0x30 {
            return None;
        }
        let (t, oid, rest) = tlv(c)?;
        if t != 0x06 {
            return None;
        }
        Some((oid, rest))
    }))
}

pub(super) fn fmt_aia(v: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    for el in oid_sequences(v)? {
        let (_method, rest) = el?;
        let (t, loc, _) = tlv(rest)?;
        parts.push(fmt_general_name(t, loc, None));
    }
    Some(parts.join(", "))
}

pub(super) fn fmt_aki(v: &[u8]) -> Option<String> {
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

pub(super) fn fmt_ski(v: &[u8]) -> Option<String> {
    Some(format!("keyid:{}", hex_lower_colon(expect(v, 0x04)?)))
}

/// basicConstraints: whether it says CA.
pub(super) fn fmt_bc(v: &[u8]) -> Option<bool> {
    let seq = expect(v, 0x30)?;
    match tlv(seq) {
        None if seq.is_empty() => Some(false),
        None => None,
        Some((0x01, c, _)) => Some(c.first().is_some_and(|&b| b != 0)),
        Some((0x02, _, _)) => Some(false),
        Some(_) => None,
    }
}

pub(super) fn fmt_policies(v: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(v.len() * 2);
    for el in oid_sequences(v)? {
        let (oid, _) = el?;
        s.push_str("Policy: ");
        s.push_str(&oid_string(oid)?);
        s.push('\n');
    }
    Some(s)
}

/// extendedKeyUsage: known purposes in a fixed order (as the reference server prints them,
/// whatever the DER order), then other purposes by dotted OID in DER order.
pub(super) fn fmt_eku(v: &[u8]) -> Option<String> {
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

pub(super) fn fmt_ku(v: &[u8]) -> Option<String> {
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
