//! One certificate into the certstream `leaf_cert` object: subject and issuer by attribute,
//! the listed extensions, the names (`all_domains`), serial, fingerprints and validity.

use super::*;

pub(super) const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
pub(super) const OID_KU: &[u8] = &[0x55, 0x1d, 0x0f];
pub(super) const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
pub(super) const OID_BC: &[u8] = &[0x55, 0x1d, 0x13];
pub(super) const OID_CP: &[u8] = &[0x55, 0x1d, 0x20];
pub(super) const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
pub(super) const OID_EKU: &[u8] = &[0x55, 0x1d, 0x25];
pub(super) const OID_AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
pub(super) const OID_POISON: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];

/// Extension slots, in output order.
pub(super) const EXT_NAMES: [&str; 8] = [
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
pub(super) fn encode_cert(
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
pub(super) fn attr_name(oid: &[u8]) -> Cow<'static, str> {
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
pub(super) fn dir_string(tag: u32, data: &[u8]) -> Cow<'_, str> {
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

pub(super) fn name_attrs<'a>(name: &X509Name<'a>) -> Vec<(Cow<'static, str>, Cow<'a, str>)> {
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
pub(super) fn write_name(out: &mut Vec<u8>, name: &X509Name, cns: Option<&mut Vec<String>>) {
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

pub(super) fn sig_alg_name(oid: &[u8]) -> Cow<'static, str> {
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
