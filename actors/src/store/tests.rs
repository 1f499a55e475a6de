//! Tests of the store on real files.

use super::*;

use crate::finding::test_finding as finding;

fn dedupe_since(s: &RedbStore, since: u64) -> Vec<String> {
    let mut out = Vec::new();
    s.for_each_dedupe_since(since, |d, _| out.push(d.to_string()))
        .unwrap();
    out
}

fn cfg(path: &Path) -> StoreConfig {
    StoreConfig {
        path: path.display().to_string(),
        ..StoreConfig::default()
    }
}

/// A store in memory, for the tests that never reopen it.
fn in_memory() -> RedbStore {
    RedbStore::open(&StoreConfig {
        path: IN_MEMORY_PATH.into(),
        ..StoreConfig::default()
    })
    .unwrap()
}

/// The start of the reopen tests: the store at `path` opened, paypal-a.com and paypal-b.com
/// (ids 1 and 2) recorded for jsonl and webhook at cursor 41 and time 1000, the first sent by
/// jsonl at 1001.
fn open_with_two_recorded(path: &Path) -> (RedbStore, Vec<Finding>) {
    let s = RedbStore::open(&cfg(path)).unwrap();
    let mut f = vec![finding("paypal-a.com"), finding("paypal-b.com")];
    s.record(&mut f, &["jsonl", "webhook"], Some(41), 1000)
        .unwrap();
    s.mark("jsonl", &[(1, Delivery::Sent { at: 1001 })])
        .unwrap();
    (s, f)
}

/// The numbers of the findings still to deliver by `channel` (at most ten).
fn pending_numbers(s: &RedbStore, channel: &str) -> Vec<u64> {
    s.pending(channel, 10)
        .unwrap()
        .iter()
        .map(|p| p.0)
        .collect()
}

#[test]
fn outbox_round_trip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/s.redb");
    let (s, f) = open_with_two_recorded(&path);
    let id = s.id().to_string();
    assert_eq!(f[0].id, format!("{id}:1"));
    assert_eq!(f[1].id, format!("{id}:2"));
    s.mark(
        "webhook",
        &[(
            2,
            Delivery::Failed {
                at: 1001,
                reason: "400 bad".into(),
            },
        )],
    )
    .unwrap();
    drop(s);
    let s = RedbStore::open(&cfg(&path)).unwrap();
    assert_eq!(s.id(), id, "the id is kept");
    assert_eq!(s.cursor().unwrap(), Some(41));
    let jsonl = pending_numbers(&s, "jsonl");
    let webhook = pending_numbers(&s, "webhook");
    assert_eq!(jsonl, vec![2]);
    assert_eq!(webhook, vec![1]);
    let list = s.list(None).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].channels[0].state, Delivery::Sent { at: 1001 });
    assert_eq!(list[1].channels[1].state.to_string(), "failed: 400 bad");
    let mut more = vec![finding("paypal-c.com")];
    s.record(&mut more, &["jsonl"], Some(7), 1002).unwrap();
    assert_eq!(more[0].id, format!("{id}:3"), "ids keep counting");
    assert_eq!(s.cursor().unwrap(), Some(41), "the cursor never goes back");
    let sum = s.summary().unwrap();
    assert_eq!((sum.findings, sum.pending), (3, 3));
}

#[test]
fn pending_is_in_order_and_limited() {
    let s = in_memory();
    let mut f: Vec<Finding> = (0..10).map(|i| finding(&format!("d{i}.com"))).collect();
    s.record(&mut f, &["jsonl"], None, 5).unwrap();
    let p = s.pending("jsonl", 4).unwrap();
    assert_eq!(p.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(p[0].1.registrable_domain, "d0.com");
    assert!(s.pending("other", 4).unwrap().is_empty());
}

const IN_MEMORY_PATH: &str = certhound_config::IN_MEMORY;

#[test]
fn dedupe_entries_expire_and_are_bounded() {
    let s = in_memory();
    for (i, t) in [(0, 100u64), (1, 200), (2, 300), (3, 400)] {
        s.record(&mut [finding(&format!("d{i}.com"))], &[], None, t)
            .unwrap();
    }
    // Reported again later: only the newer time counts.
    s.record(&mut [finding("d0.com")], &[], None, 450).unwrap();
    let since = dedupe_since(&s, 250);
    assert_eq!(since, vec!["d2.com", "d3.com", "d0.com"]);
    assert_eq!(s.compact_dedupe(250, 100).unwrap(), 1, "d1 expired");
    assert_eq!(
        s.compact_dedupe(0, 2).unwrap(),
        1,
        "over capacity: the oldest goes"
    );
    let left = dedupe_since(&s, 0);
    assert_eq!(left, vec!["d3.com", "d0.com"]);
}

#[test]
fn open_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    // A path under a regular file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = RedbStore::open(&cfg(&file.join("s.redb")))
        .err()
        .expect("error");
    assert!(err.to_string().starts_with("cannot open store"), "{err}");
    // A corrupted file.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0xA5u8; 65536]).unwrap();
    let err = RedbStore::open(&cfg(&garbage)).err().expect("error");
    assert!(err.to_string().contains("garbage.redb"), "{err}");
    // A directory.
    let err = RedbStore::open(&cfg(dir.path())).err().expect("error");
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn read_only_view_lists_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let s = RedbStore::open(&cfg(&path)).unwrap();
    s.record(&mut [finding("paypal-x.com")], &["jsonl"], None, 10)
        .unwrap();
    let ro = open_read_only(path.to_str().unwrap()).unwrap();
    let list = ro.list(None).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].finding.registrable_domain, "paypal-x.com");
    assert!(ro.list(Some(11)).unwrap().is_empty());
}

#[test]
fn purge_keeps_young_and_undelivered_findings() {
    let s = in_memory();
    s.record(&mut [finding("old-sent.com")], &["jsonl"], None, 100)
        .unwrap();
    s.record(&mut [finding("old-pending.com")], &["jsonl"], None, 100)
        .unwrap();
    s.record(&mut [finding("young.com")], &["jsonl"], None, 500)
        .unwrap();
    s.mark(
        "jsonl",
        &[
            (1, Delivery::Sent { at: 101 }),
            (3, Delivery::Sent { at: 501 }),
        ],
    )
    .unwrap();
    assert_eq!(s.purge(200).unwrap(), 1);
    let left: Vec<String> = s
        .list(None)
        .unwrap()
        .into_iter()
        .map(|r| r.finding.registrable_domain)
        .collect();
    assert_eq!(left, vec!["old-pending.com", "young.com"]);
    let seen = dedupe_since(&s, 0);
    assert_eq!(seen.len(), 3, "dedupe is not the outbox's retention");
}

#[test]
fn server_state_moves_only_forward_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let s = RedbStore::open(&cfg(&path)).unwrap();
        assert_eq!(s.server_state().unwrap(), (vec![], 0));
        s.save_server_state(
            &[("https://a/".into(), 10), ("https://b/".into(), 5)],
            100,
            false,
        )
        .unwrap();
        // An older position or reservation (a late writer) never moves them back.
        s.save_server_state(&[("https://a/".into(), 7)], 50, false)
            .unwrap();
    }
    let s = RedbStore::open(&cfg(&path)).unwrap();
    let (positions, reserved) = s.server_state().unwrap();
    assert_eq!(
        positions,
        vec![
            ("https://a/".to_string(), 10),
            ("https://b/".to_string(), 5)
        ]
    );
    assert_eq!(reserved, 100);
    // A clean shutdown sets the reservation to the last seq used, even below.
    s.save_server_state(&[], 42, true).unwrap();
    assert_eq!(s.server_state().unwrap().1, 42);
}

/// Rewrites a current store as format 3 wrote it: findings without score and terms, every
/// value's format byte 3.
fn downgrade_to_3(path: &Path) {
    let db = redb::Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut meta = tx.open_table(META).unwrap();
        meta.insert(META_FORMAT, [3u8].as_slice()).unwrap();
        let mut findings = tx.open_table(FINDINGS).unwrap();
        let rows: Vec<(u64, Vec<u8>)> = findings
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                let s: Stored = codec::decode(v.value()).unwrap();
                let old = migrate::StoredV3 {
                    finding: s.finding.into(),
                    stored_at: s.stored_at,
                };
                (k.value(), codec::encode_format(&old, 3).unwrap())
            })
            .collect();
        for (k, v) in rows {
            findings.insert(k, v.as_slice()).unwrap();
        }
        for table in [DELIVERY] {
            let mut t = tx.open_table(table).unwrap();
            let rows: Vec<((u64, String), Vec<u8>)> = t
                .iter()
                .unwrap()
                .map(|r| {
                    let (k, v) = r.unwrap();
                    let mut v = v.value().to_vec();
                    v[0] = 3;
                    ((k.value().0, k.value().1.to_string()), v)
                })
                .collect();
            for ((n, c), v) in rows {
                t.insert((n, c.as_str()), v.as_slice()).unwrap();
            }
        }
        let mut lookups = tx.open_table(LOOKUPS).unwrap();
        let rows: Vec<(String, Vec<u8>)> = lookups
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                let mut v = v.value().to_vec();
                v[0] = 3;
                (k.value().to_string(), v)
            })
            .collect();
        for (k, v) in rows {
            lookups.insert(k.as_str(), v.as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
}

#[test]
fn a_format_3_store_is_upgraded_with_its_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let (s, _) = open_with_two_recorded(&path);
    s.put_lookup("paypal-a.com", &"cached answer".to_string())
        .unwrap();
    let id = s.id().to_string();
    drop(s);
    downgrade_to_3(&path);
    // A format-3 value is not readable as format 4: the downgrade is real.
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_read().unwrap();
        let t = tx.open_table(FINDINGS).unwrap();
        let v = t.get(1).unwrap().unwrap();
        assert!(codec::decode::<Stored>(v.value()).is_err());
    }
    let s = RedbStore::open(&cfg(&path)).unwrap();
    assert_eq!(s.id(), id, "same store id");
    assert_eq!(s.cursor().unwrap(), Some(41));
    let webhook = s.pending("webhook", 10).unwrap();
    assert_eq!(webhook.len(), 2, "both still to deliver by webhook");
    assert_eq!(webhook[0].1.id, format!("{id}:1"));
    assert_eq!(webhook[0].1.registrable_domain, "paypal-a.com");
    assert_eq!(webhook[0].1.score, 0.0);
    assert!(webhook[0].1.terms.is_empty());
    let jsonl = s.pending("jsonl", 10).unwrap();
    assert_eq!(jsonl.len(), 1, "the one sent by jsonl stays sent");
    assert_eq!(jsonl[0].1.id, format!("{id}:2"));
    let cached: Option<String> = s.get_lookup("paypal-a.com").unwrap();
    assert_eq!(cached.as_deref(), Some("cached answer"));
    drop(s);
    // And it stays upgraded.
    let s = RedbStore::open(&cfg(&path)).unwrap();
    assert_eq!(s.pending("webhook", 10).unwrap().len(), 2);
}

#[test]
fn a_store_older_than_format_3_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("older.redb");
    drop(RedbStore::open(&cfg(&path)).unwrap());
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(META_FORMAT, [2u8].as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let e = RedbStore::open(&cfg(&path)).err().expect("refused");
    assert!(e.to_string().contains("format 2"), "{e}");
}

/// A finding's trace context is stored with it and read back with it, also after the store is
/// opened again (a restart), and goes when the finding is purged.
#[test]
fn trace_context_is_kept_with_the_finding_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        path: dir.path().join("s.redb").display().to_string(),
        ..StoreConfig::default()
    };
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    {
        let s = RedbStore::open(&cfg).unwrap();
        let mut traced = finding("paypal-traced.com");
        traced.trace_parent = Some(parent.into());
        let mut found = vec![traced, finding("paypal-untraced.com")];
        s.record(&mut found, &["jsonl"], None, 100).unwrap();
    }
    let s = RedbStore::open(&cfg).unwrap();
    let pending = s.pending("jsonl", 10).unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].1.trace_parent.as_deref(), Some(parent));
    assert_eq!(pending[1].1.trace_parent, None);
    // Not part of the finding's own JSON.
    let json = serde_json::to_value(&pending[0].1).unwrap();
    assert!(json.get("trace_parent").is_none(), "{json}");
    let outcomes: Vec<(u64, Delivery)> = pending
        .iter()
        .map(|(n, _)| (*n, Delivery::Sent { at: 101 }))
        .collect();
    s.mark("jsonl", &outcomes).unwrap();
    assert_eq!(s.purge(u64::MAX).unwrap(), 2);
    let mut again = finding("paypal-later.com");
    s.record(std::slice::from_mut(&mut again), &["jsonl"], None, 200)
        .unwrap();
    assert_eq!(s.pending("jsonl", 10).unwrap()[0].1.trace_parent, None);
}

fn verdict(kind: VerdictKind, at: u64, by: &str) -> Verdict {
    Verdict {
        kind,
        at,
        by: by.into(),
    }
}

/// A verdict is set on a finding by its id, read back by `get` and `list` (and by the read-only
/// view `certhound findings` uses), replaced by a second one, and kept when the store is opened
/// again; `by` is cut to 64 chars.
#[test]
fn verdicts_are_set_replaced_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (s, f) = open_with_two_recorded(&path);
    assert_eq!(s.get(&f[0].id).unwrap().unwrap().verdict, None);
    let first = verdict(VerdictKind::Phishing, 2000, "page");
    assert!(s.set_verdict(&f[0].id, &first).unwrap());
    let got = s.get(&f[0].id).unwrap().expect("finding 1");
    assert_eq!(got.finding.registrable_domain, "paypal-a.com");
    assert_eq!(got.verdict.as_ref(), Some(&first));
    assert_eq!(got.channels.len(), 2, "with its delivery states");
    let list = s.list(None).unwrap();
    assert_eq!(list[0].verdict.as_ref(), Some(&first));
    assert_eq!(list[1].verdict, None, "the other finding has none");

    let long_name = "ä".repeat(100);
    let second = verdict(VerdictKind::FalseAlarm, 2001, &long_name);
    assert!(s.set_verdict(&f[0].id, &second).unwrap());
    let replaced = s.get(&f[0].id).unwrap().unwrap().verdict.unwrap();
    assert_eq!(replaced.kind, VerdictKind::FalseAlarm);
    assert_eq!(replaced.at, 2001);
    assert_eq!(replaced.by, "ä".repeat(VERDICT_BY_MAX), "cut to 64 chars");
    assert!(s
        .set_verdict(&f[1].id, &verdict(VerdictKind::Unsure, 2002, "alice"))
        .unwrap());
    drop(s);

    let s = RedbStore::open(&cfg(&path)).unwrap();
    let kinds: Vec<Option<VerdictKind>> = s
        .list(None)
        .unwrap()
        .iter()
        .map(|r| r.verdict.as_ref().map(|v| v.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![Some(VerdictKind::FalseAlarm), Some(VerdictKind::Unsure)]
    );
    let ro = open_read_only(path.to_str().unwrap()).unwrap();
    assert_eq!(
        ro.list(None).unwrap()[1].verdict.as_ref().unwrap().by,
        "alice"
    );
}

/// Ids that name no finding of this store give `false` and `None`, and write nothing.
#[test]
fn a_verdict_for_an_unknown_finding_is_refused() {
    let s = in_memory();
    let mut f = vec![finding("paypal-known.com")];
    s.record(&mut f, &["jsonl"], None, 10).unwrap();
    let id = s.id().to_string();
    let other_store = if id == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let v = verdict(VerdictKind::Phishing, 11, "page");
    for unknown in [
        format!("{id}:2"),
        format!("{other_store}:1"),
        format!("{id}:+1"),
        format!("{id}:01"),
        format!("{id}:"),
        "1".to_string(),
        String::new(),
        format!("{id}:1:1"),
    ] {
        assert!(!s.set_verdict(&unknown, &v).unwrap(), "{unknown}");
        assert_eq!(s.get(&unknown).unwrap(), None, "{unknown}");
    }
    assert_eq!(s.list(None).unwrap()[0].verdict, None, "nothing written");
    assert!(s.set_verdict(&f[0].id, &v).unwrap(), "the real id works");
}

/// Purging a finding deletes its verdict, and its number is never given again: ids are what
/// receivers deduplicate on and what the page's verdicts are given to.
#[test]
fn purge_deletes_the_verdict_with_its_finding() {
    let s = in_memory();
    let mut f = vec![finding("paypal-old.com"), finding("paypal-kept.com")];
    s.record(&mut f, &["jsonl"], None, 100).unwrap();
    s.mark("jsonl", &[(1, Delivery::Sent { at: 101 })]).unwrap();
    s.mark("jsonl", &[(2, Delivery::Sent { at: 101 })]).unwrap();
    let v = verdict(VerdictKind::Phishing, 150, "page");
    assert!(s.set_verdict(&f[0].id, &v).unwrap());
    assert!(s.set_verdict(&f[1].id, &v).unwrap());
    assert_eq!(s.purge(200).unwrap(), 2);
    assert_eq!(s.get(&f[0].id).unwrap(), None);
    assert!(
        !s.set_verdict(&f[0].id, &v).unwrap(),
        "gone with its finding"
    );
    let mut later = vec![finding("paypal-later.com"), finding("paypal-later2.com")];
    s.record(&mut later, &["jsonl"], None, 300).unwrap();
    assert_eq!(
        later[0].id,
        format!("{}:3", s.id()),
        "a purged number is not given again"
    );
    let list = s.list(None).unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter().all(|r| r.verdict.is_none()),
        "no verdict inherited: {list:?}"
    );
}

/// A store file written before verdicts existed (no `verdicts` table) lists through the
/// read-only view without one, and gets the table when a writer opens it.
#[test]
fn a_file_without_the_verdicts_table_reads_and_gains_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (s, f) = open_with_two_recorded(&path);
    drop(s);
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        assert!(tx.delete_table(VERDICTS).unwrap());
        tx.commit().unwrap();
    }
    let ro = open_read_only(path.to_str().unwrap()).unwrap();
    let list = ro.list(None).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|r| r.verdict.is_none()));
    drop(ro);
    let s = RedbStore::open(&cfg(&path)).unwrap();
    assert!(s
        .set_verdict(&f[1].id, &verdict(VerdictKind::Unsure, 5, "page"))
        .unwrap());
    assert_eq!(
        s.get(&f[1].id).unwrap().unwrap().verdict.unwrap().kind,
        VerdictKind::Unsure
    );
}

#[test]
fn verdict_kinds_parse_and_print() {
    for k in VerdictKind::ALL {
        assert_eq!(k.as_str().parse::<VerdictKind>(), Ok(k));
        assert_eq!(k.to_string(), k.as_str());
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", k.as_str()));
    }
    assert_eq!("false-alarm".parse(), Ok(VerdictKind::FalseAlarm));
    assert_eq!(VerdictKind::FalseAlarm.label(), "false alarm");
    let e = "spam".parse::<VerdictKind>().unwrap_err();
    assert!(e.to_string().contains("`spam`"), "{e}");
    assert!("Phishing".parse::<VerdictKind>().is_err());
}
