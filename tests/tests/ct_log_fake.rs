//! Tests of the loopback CT log (`certhound_tests::ct_log`): both APIs over real HTTP, batch
//! capping and bad ranges like real logs, growth, full and partial tiles (plain and gzip),
//! checkpoints that certhound's own verifier accepts, tiles that certhound's own parser reads
//! back as the same leaves as the RFC 6962 view, faults and counters.

use certhound_tests::observed::Observed;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use certhound_actors::ct::checkpoint::{
    origin_from_url, tree_head_signature_input, verify, CheckpointError, LogKey,
};
use certhound_actors::ct::tiles::{data_tile_path, maybe_gunzip, parse_data_tile, tiles_for};
use certhound_actors::ct::EntryKind;
use certhound_tests::ct_log::{
    fixture_entries, fixture_entry_with_serial, generated_entry, test_ca, FakeCtLog, FakeEntry,
    Fault, PathKind, TileEncoding,
};
use certhound_tests::timeouts;
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeouts::EVENT)
        .build()
        .unwrap()
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

async fn get_json(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// Entries `[start, end]` via `get-entries`, looping as clients must.
async fn all_entries(log: &FakeCtLog, start: u64, end: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = start;
    while next <= end {
        let v = get_json(&format!(
            "{}ct/v1/get-entries?start={next}&end={end}",
            log.rfc6962_url()
        ))
        .await;
        let entries = v["entries"].as_array().unwrap();
        assert!(!entries.is_empty());
        for e in entries {
            let b = |k: &str| STANDARD.decode(e[k].as_str().unwrap()).unwrap();
            out.push((b("leaf_input"), b("extra_data")));
        }
        next += entries.len() as u64;
    }
    out
}

fn sha256(data: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .try_into()
        .unwrap()
}

/// RFC 6962 §2.1 Merkle tree hash, independently of the fake's.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = leaves.len().next_power_of_two() / 2;
    sha256(&[&[1u8][..], &mth(&leaves[..k]), &mth(&leaves[k..])].concat())
}

fn bench_entries(n: usize) -> Vec<FakeEntry> {
    (0..n)
        .map(|i| fixture_entry_with_serial(i, i as u64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_sth_batches_ranges_and_growth() {
    let log = FakeCtLog::start(fixture_entries()).await;
    let sth = get_json(&format!("{}ct/v1/get-sth", log.rfc6962_url())).await;
    assert_eq!(sth["tree_size"], 30);
    assert!(sth["timestamp"].as_u64().unwrap() > 0);
    assert_eq!(
        STANDARD
            .decode(sth["sha256_root_hash"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    // The STH is signed like a real log's: digitally-signed (sha256, ecdsa) TreeHeadSignature.
    let sig = STANDARD
        .decode(sth["tree_head_signature"].as_str().unwrap())
        .unwrap();
    assert_eq!(&sig[..2], &[4, 3]);
    assert_eq!(
        usize::from(u16::from_be_bytes([sig[2], sig[3]])),
        sig.len() - 4
    );
    let root: [u8; 32] = STANDARD
        .decode(sth["sha256_root_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let spki = STANDARD.decode(log.key_b64()).unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        &spki[spki.len() - 65..],
    )
    .verify(
        &tree_head_signature_input(sth["timestamp"].as_u64().unwrap(), 30, &root),
        &sig[4..],
    )
    .expect("tree_head_signature verifies");
    // The root is the RFC 6962 Merkle tree hash of the leaves (`leaf_input`s).
    let leaf_hashes: Vec<[u8; 32]> = fixture_entries()
        .iter()
        .map(|e| sha256(&[&[0u8][..], &e.leaf_input].concat()))
        .collect();
    assert_eq!(root, mth(&leaf_hashes));

    // The fixture entries are served as they are.
    let served = all_entries(&log, 0, 29).await;
    for (e, (li, ed)) in fixture_entries().iter().zip(&served) {
        assert_eq!(&e.leaf_input, li);
        assert_eq!(&e.extra_data, ed);
    }

    log.set_max_batch(8);
    let v = get_json(&format!(
        "{}ct/v1/get-entries?start=0&end=29",
        log.rfc6962_url()
    ))
    .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 8);
    // Past the end: clamped to the tree.
    let v = get_json(&format!(
        "{}ct/v1/get-entries?start=28&end=1000",
        log.rfc6962_url()
    ))
    .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    for q in [
        "start=30&end=31",
        "start=5&end=4",
        "start=-1&end=3",
        "start=0",
        "",
    ] {
        let (status, _) = get(&format!("{}ct/v1/get-entries?{q}", log.rfc6962_url())).await;
        assert_eq!(status, 400, "{q}");
    }

    let root_before = sth["sha256_root_hash"].clone();
    log.append(vec![generated_entry(
        30,
        &["paypal-login.example.com"],
        false,
    )]);
    assert_eq!(log.state().size, 31);
    let sth = get_json(&format!("{}ct/v1/get-sth", log.rfc6962_url())).await;
    assert_eq!(sth["tree_size"], 31);
    assert_ne!(sth["sha256_root_hash"], root_before);
    let new = all_entries(&log, 30, 30).await;
    assert_eq!(new[0].0, log.entries()[30].leaf_input);
    let s = log.state();
    assert_eq!(s.count(PathKind::GetSth), 2);
    // One loop of 30 (max_batch 32), two capped, five bad ranges, one for the new entry.
    assert_eq!(s.count(PathKind::GetEntries), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_verifies_with_certhounds_verifier() {
    let log = FakeCtLog::start(fixture_entries()).await;
    // What certhound reads from a log list: origin from the submission URL, the key.
    let list: Value = serde_json::from_str(&log.log_list_json(true, true)).unwrap();
    let tiled = &list["operators"][0]["tiled_logs"][0];
    let origin = origin_from_url(tiled["submission_url"].as_str().unwrap());
    assert_eq!(origin, log.origin());
    assert_eq!(tiled["monitoring_url"], log.monitoring_url());
    assert_eq!(list["operators"][0]["logs"][0]["url"], log.rfc6962_url());
    let key = LogKey::from_spki_b64(&origin, tiled["key"].as_str().unwrap()).unwrap();
    assert_eq!(STANDARD.encode(key.log_id()), log.log_id_b64());
    let (status, note) = get(&format!("{}checkpoint", log.monitoring_url())).await;
    assert_eq!(status, 200);
    let cp = verify(&note, &key).unwrap();
    assert_eq!(cp.origin, log.origin());
    assert_eq!(cp.size, 30);
    assert!(cp.timestamp_ms.is_some());

    // The checkpoint's root is the Merkle tree hash of the static view's leaves: `0x00 0x00 ||
    // TimestampedEntry` of each TileLeaf (the entry as a static-ct client rebuilds it).
    let (_, tile) = get(&format!(
        "{}{}",
        log.monitoring_url(),
        data_tile_path(0, Some(30))
    ))
    .await;
    let mut rest = &tile[..];
    let mut hashes = Vec::new();
    let be = |b: &[u8]| b.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x));
    while !rest.is_empty() {
        let precert = be(&rest[8..10]) == 1;
        let mut len = 10;
        if precert {
            len += 32;
        }
        len += 3 + be(&rest[len..len + 3]);
        len += 2 + be(&rest[len..len + 2]);
        hashes.push(sha256(&[&[0u8, 0, 0][..], &rest[..len]].concat()));
        let mut end = len;
        if precert {
            end += 3 + be(&rest[end..end + 3]);
        }
        end += 2 + be(&rest[end..end + 2]);
        rest = &rest[end..];
    }
    assert_eq!(hashes.len(), 30);
    assert_eq!(cp.root_hash, mth(&hashes));
    // The level-0 hash tile holds the same leaf hashes.
    let (status, level0) = get(&format!("{}tile/0/000.p/30", log.monitoring_url())).await;
    assert_eq!(status, 200);
    assert_eq!(level0, hashes.concat());
    assert_eq!(
        get(&format!("{}tile/0/000", log.monitoring_url())).await.0,
        404
    );
    assert_eq!(
        get(&format!("{}tile/1/000.p/1", log.monitoring_url()))
            .await
            .0,
        404,
        "no full level-0 tile yet"
    );
    assert_eq!(log.state().count(PathKind::HashTile), 3);

    log.append(bench_entries(5));
    let (_, note2) = get(&format!("{}checkpoint", log.monitoring_url())).await;
    let cp2 = verify(&note2, &key).unwrap();
    assert_eq!(cp2.size, 35);
    assert_ne!(cp2.root_hash, cp.root_hash);

    // Another log's key, or a tampered size, is refused.
    let other = FakeCtLog::start(Vec::new()).await;
    let other_key = LogKey::from_spki_b64(&log.origin(), &other.key_b64()).unwrap();
    assert!(matches!(
        verify(&note, &other_key),
        Err(CheckpointError::NoSignature(_))
    ));
    let tampered = String::from_utf8(note)
        .unwrap()
        .replacen("\n30\n", "\n31\n", 1);
    assert!(matches!(
        verify(tampered.as_bytes(), &key),
        Err(CheckpointError::BadSignature(_))
    ));
    let (_, empty) = get(&format!("{}checkpoint", other.monitoring_url())).await;
    let empty_key = LogKey::from_spki_b64(&other.origin(), &other.key_b64()).unwrap();
    assert_eq!(verify(&empty, &empty_key).unwrap().size, 0);
}

/// Fetches the tiles for `[start, size)` and decodes them with certhound's parser.
async fn tile_leaves(
    log: &FakeCtLog,
    start: u64,
    size: u64,
) -> Vec<(EntryKind, u64, Vec<u8>, Vec<[u8; 32]>)> {
    let mut out = Vec::new();
    for (n, w) in tiles_for(start, size) {
        let (status, body) =
            get(&format!("{}{}", log.monitoring_url(), data_tile_path(n, w))).await;
        assert_eq!(status, 200, "tile {n} {w:?}");
        let body = maybe_gunzip(body, 1 << 24).unwrap();
        let leaves = parse_data_tile(&body).unwrap();
        assert_eq!(leaves.len() as u64, w.map_or(256, u64::from));
        for l in leaves {
            out.push((
                l.kind,
                l.timestamp_ms,
                l.leaf.to_vec(),
                l.chain_fingerprints,
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_round_trip_the_rfc6962_view() {
    let mut entries = fixture_entries();
    entries.extend(bench_entries(270));
    let log = FakeCtLog::start(entries.clone()).await; // 300 entries: tile 0 full, tile 1 of 44
    let leaves = tile_leaves(&log, 0, 300).await;
    assert_eq!(leaves.len(), 300);
    let mut seen = std::collections::HashSet::new();
    for (i, (e, (kind, ts, leaf, fps))) in entries.iter().zip(&leaves).enumerate() {
        assert_eq!(*kind == EntryKind::Precert, e.precert, "{i}");
        assert_eq!(*ts, e.timestamp_ms, "{i}");
        assert_eq!(leaf, &e.leaf, "{i}");
        assert_eq!(fps, &e.chain_fingerprints(), "{i}");
        // Each fingerprint is a servable issuer, the same DER as extra_data's chain.
        for (fp, der) in fps.iter().zip(&e.chain) {
            if !seen.insert(*fp) {
                continue;
            }
            let hex: String = fp.iter().map(|b| format!("{b:02x}")).collect();
            let (status, body) = get(&format!("{}issuer/{hex}", log.monitoring_url())).await;
            assert_eq!(status, 200);
            assert_eq!(&body, der);
        }
    }
    // The RFC 6962 view's leaves are the same bytes.
    let served = all_entries(&log, 0, 299).await;
    for (i, ((li, ed), e)) in served.iter().zip(&entries).enumerate() {
        let again = FakeEntry::from_rfc6962(li.clone(), ed.clone());
        assert_eq!(again.leaf, leaves[i].2, "{i}");
        assert_eq!(again.chain_fingerprints(), leaves[i].3, "{i}");
        assert_eq!(&again, e);
    }

    let url = |n, w| format!("{}{}", log.monitoring_url(), data_tile_path(n, w));
    // Tile 1 is incomplete: 404 as a full tile, its partial widths up to the size are served.
    assert_eq!(get(&url(1, None)).await.0, 404);
    assert_eq!(get(&url(1, Some(45))).await.0, 404);
    assert_eq!(get(&url(1, Some(10))).await.0, 200);
    assert_eq!(get(&url(0, Some(10))).await.0, 404, "tile 0 is complete");
    assert_eq!(
        get(&format!("{}tile/data/1", log.monitoring_url())).await.0,
        404
    );
    assert_eq!(
        get(&format!("{}issuer/00", log.monitoring_url())).await.0,
        404
    );

    // Growth completes tile 1: the full tile appears, its partials go.
    log.append(bench_entries(212));
    assert_eq!(log.size(), 512);
    assert_eq!(get(&url(1, None)).await.0, 200);
    assert_eq!(get(&url(1, Some(44))).await.0, 404);
    // Hash tiles: level 1 hashes are the Merkle tree hashes of the full level-0 tiles.
    let hashes = |b: Vec<u8>| -> Vec<[u8; 32]> {
        b.chunks_exact(32).map(|c| c.try_into().unwrap()).collect()
    };
    let mon = log.monitoring_url();
    let (_, t0) = get(&format!("{mon}tile/0/000")).await;
    let (_, t1) = get(&format!("{mon}tile/0/001")).await;
    let (status, l1) = get(&format!("{mon}tile/1/000.p/2")).await;
    assert_eq!(status, 200);
    assert_eq!(
        hashes(l1),
        vec![mth(&hashes(t0.clone())), mth(&hashes(t1.clone()))]
    );
    let (_, note) = get(&format!("{mon}checkpoint")).await;
    let key = LogKey::from_spki_b64(&log.origin(), &log.key_b64()).unwrap();
    let all: Vec<[u8; 32]> = hashes([t0, t1].concat());
    assert_eq!(verify(&note, &key).unwrap().root_hash, mth(&all));

    // Gzip with and without Content-Encoding (the client here does not decompress):
    // certhound's maybe_gunzip reads both.
    for (encoding, header) in [
        (TileEncoding::Gzip, Some("gzip")),
        (TileEncoding::GzipNoHeader, None),
    ] {
        log.set_tile_encoding(encoding);
        let r = client().get(url(0, None)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            header
        );
        let body = r.bytes().await.unwrap().to_vec();
        assert_eq!(&body[..2], &[0x1f, 0x8b]);
        let plain = maybe_gunzip(body, 1 << 24).unwrap();
        assert_eq!(parse_data_tile(&plain).unwrap().len(), 256);
    }
    assert_eq!(tile_leaves(&log, 0, 512).await.len(), 512);

    let s = log.state();
    assert_eq!(s.count_path("/static/tile/data/001"), 3);
    assert!(s.count(PathKind::PartialTile) >= 5);
    // Each issuer was fetched once (and `issuer/00` once).
    assert_eq!(s.count(PathKind::Issuer), seen.len() + 1);
    assert_eq!(s.max_per_path(PathKind::Issuer), 1);
    assert_eq!(s.count_path("/static/tile/data/000"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_entries_carry_names_chain_and_poison() {
    use x509_parser::prelude::*;
    let x509 = generated_entry(
        0,
        &["login.paypal.com.evil.example", "www.evil.example"],
        false,
    );
    let pre = generated_entry(1, &["secure-bank.example"], true);
    let log = FakeCtLog::start(vec![x509.clone(), pre.clone()]).await;
    let ca = test_ca();
    for e in [&x509, &pre] {
        assert_eq!(e.chain, vec![ca.der.clone()]);
        let (_, cert) = X509Certificate::from_der(&e.leaf).unwrap();
        let (_, ca_cert) = X509Certificate::from_der(&ca.der).unwrap();
        assert_eq!(cert.issuer(), ca_cert.subject());
        let sans: Vec<String> = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => d.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sans, e.names);
        let poison = cert
            .extensions()
            .iter()
            .find(|x| x.oid.to_id_string() == "1.3.6.1.4.1.11129.2.4.3");
        if e.precert {
            let poison = poison.expect("precert has the poison");
            assert!(poison.critical);
            assert_eq!(poison.value, &[0x05, 0x00]);
            // The signed TBS is the precert's without the poison.
            let (_, tbs) = TbsCertificate::from_der(&e.tbs).unwrap();
            assert_eq!(tbs.serial, cert.tbs_certificate.serial);
            assert!(tbs
                .extensions()
                .iter()
                .all(|x| x.oid.to_id_string() != "1.3.6.1.4.1.11129.2.4.3"));
            assert_eq!(tbs.extensions().len() + 1, cert.extensions().len());
        } else {
            assert!(poison.is_none());
        }
    }
    let leaves = tile_leaves(&log, 0, 2).await;
    assert_eq!(leaves[0].0, EntryKind::X509);
    assert_eq!(leaves[1].0, EntryKind::Precert);
    assert_eq!(leaves[1].2, pre.leaf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_counters() {
    let log = FakeCtLog::start(fixture_entries()).await;
    log.push_faults(PathKind::GetSth, 2, Fault::TooMany(7))
        .push_faults(PathKind::GetSth, 1, Fault::Status(503))
        .push_faults(PathKind::Checkpoint, 1, Fault::Status(500))
        .push_faults(
            PathKind::PartialTile,
            1,
            Fault::Delay(Duration::from_millis(50)),
        );
    let sth = format!("{}ct/v1/get-sth", log.rfc6962_url());
    let r = client().get(&sth).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(get(&sth).await.0, 429);
    assert_eq!(get(&sth).await.0, 503);
    assert_eq!(get(&sth).await.0, 200);
    let cp = format!("{}checkpoint", log.monitoring_url());
    assert_eq!(get(&cp).await.0, 500);
    assert_eq!(get(&cp).await.0, 200);
    let tile = format!("{}{}", log.monitoring_url(), data_tile_path(0, Some(30)));
    let started = std::time::Instant::now();
    assert_eq!(get(&tile).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(get(&tile).await.0, 200);

    let s = log
        .wait_for_requests(PathKind::PartialTile, 2, timeouts::EVENT)
        .await
        .unwrap();
    assert_eq!(s.count(PathKind::GetSth), 4);
    assert_eq!(s.count(PathKind::Checkpoint), 2);
    assert_eq!(s.count_path("/static/tile/data/000.p/30"), 2);
    assert_eq!(s.max_per_path(PathKind::PartialTile), 2);
    assert_eq!(
        s.requests
            .iter()
            .filter(|r| r.kind == PathKind::GetSth)
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        vec![429, 429, 503, 200]
    );
    assert_eq!(s.size, 30);
    assert_eq!(get(&format!("http://{}/nothing", log.addr())).await.0, 404);
    let s = log
        .wait_for_requests(PathKind::Other, 1, timeouts::EVENT)
        .await
        .unwrap();
    assert_eq!(s.count(PathKind::Other), 1);
}
