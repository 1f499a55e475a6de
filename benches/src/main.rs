//! certhound's benchmarks: a binary that measures the hot path and prints a table.
//!
//! `cargo build --release --bins && cargo run --release -p certhound-bench` (add `-- --quick` for a
//! short run). Figures are medians of several runs on whatever machine runs them; they are
//! measured here, never asserted in tests. What it measures:
//! - certstream parsing, lite and full messages (msgs/s, one core);
//! - the matcher with 10 and 1,000 keywords, normalisation included (names/s, one core);
//! - `certhound replay` end to end on 200,000 messages with 1 % phishing (msgs/s, peak RSS);
//! - peak RSS of `certhound replay` holding 1,000,000 registrable domains in the dedupe set;
//! - the server role: CT entries decoded and published per core, and `certhound server` end to
//!   end against a loopback CT log with 1 and 100 websocket clients (see `server.rs`).
//!
//! `certhound-bench sample OUT.gz` writes the sample stream shipped in `config/`.

mod gen;
mod server;

use certhound_actors::certstream;
use certhound_actors::normalise;
use certhound_actors::rules::{CertContext, RuleSet, Scratch, Verdict};
use certhound_actors::store::Store;
use certhound_config::{MatcherConfig, StoreConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    if args.first().map(String::as_str) == Some("sample") {
        let out = args
            .get(1)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("config/sample-stream.ndjson.gz"));
        let n = gen::Generator::write_sample(&root, &out).expect("write sample");
        println!("wrote {n} messages to {}", out.display());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // Any other argument selects the benchmarks whose name contains it.
    let filter = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    let wanted = |label: &str| label.contains(filter.as_str());
    let scale = if quick { 10 } else { 1 };
    let mut rows: Vec<(String, String, String)> = Vec::new();

    let g = gen::Generator::load(&root);
    // Parsing.
    for (label, full) in [
        ("parse lite messages", false),
        ("parse full messages", true),
    ] {
        if !wanted(label) {
            continue;
        }
        let msgs = g.messages(20_000, full, 0.0);
        let rate = median_rate(9, || {
            let t = Instant::now();
            let mut names = 0usize;
            for m in &msgs {
                if let Ok(certstream::Message::Certificate(c)) = certstream::parse(m) {
                    names += c.leaf_cert.all_domains.len();
                }
            }
            std::hint::black_box(names);
            (msgs.len(), t.elapsed().as_secs_f64())
        });
        rows.push((label.into(), fmt_rates(rate, "msgs/s"), "one core".into()));
    }
    // Matching, normalisation included: on the labelled set's benign names (hard: one in
    // eight holds a brand or suspicious-word substring and takes the full path) with 1 %
    // phishing, and on generated host names of the shape CT mostly carries (`h12.kadobeti.net`).
    let names = g.names(200_000 / scale);
    let plain = gen::host_names(200_000 / scale);
    for (label, cfg, names) in [
        ("match, 10 keywords", keywords(10), &names),
        ("match, default rules", MatcherConfig::default(), &names),
        ("match, 1,000 keywords", keywords(1_000), &names),
        (
            "match, default rules, generated host names",
            MatcherConfig::default(),
            &plain,
        ),
        (
            "match, 1,000 keywords, generated host names",
            keywords(1_000),
            &plain,
        ),
    ] {
        if !wanted(label) {
            continue;
        }
        let rules = RuleSet::new(&cfg).expect("rules");
        let mut scratch = Scratch::default();
        let rate = median_rate(9, || {
            let t = Instant::now();
            let mut hits = 0usize;
            for n in names {
                let norm = normalise::normalise(n);
                if !matches!(
                    rules.check(&norm, CertContext::default(), &mut scratch),
                    Verdict::Clean
                ) {
                    hits += 1;
                }
            }
            std::hint::black_box(hits);
            (names.len(), t.elapsed().as_secs_f64())
        });
        rows.push((
            label.into(),
            fmt_rates(rate, "names/s"),
            format!("{} patterns", rules.len()),
        ));
    }
    // The outbox: durable commits of findings, one fsync each.
    if wanted("outbox") {
        let dir = tempfile_dir();
        for batch in [1usize, 16, 256] {
            let store = Store::redb(&StoreConfig {
                path: dir
                    .join(format!("outbox-{batch}.redb"))
                    .display()
                    .to_string(),
                ..StoreConfig::default()
            })
            .expect("store");
            let total = if batch == 1 { 200 } else { 4096 } / scale.min(4);
            let mut findings: Vec<_> = (0..total).map(gen::finding).collect();
            let t = Instant::now();
            for chunk in findings.chunks_mut(batch) {
                store
                    .record_at(chunk, None, &["jsonl", "webhook"], None, 1)
                    .expect("record");
            }
            let secs = t.elapsed().as_secs_f64();
            rows.push((
                format!("outbox: commit {batch} finding(s) at a time"),
                fmt_rate(total as f64 / secs, "findings/s"),
                format!(
                    "{:.2} ms per commit",
                    secs * 1000.0 / (total / batch) as f64
                ),
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The DynamoDB backend on moto (the tests' venv, or MOTO_SERVER): findings committed per
    // second and the requests one finding costs over its life on two channels. moto is a
    // Python server on loopback: the rate says what the backend's own work costs, not
    // DynamoDB's latency; the request counts are what matters for capacity and cost.
    if wanted("dynamodb") {
        rows.extend(dynamodb_rows(scale));
    }
    // End to end through the real binary.
    // CERTHOUND_BENCH_BIN compares another build (an older commit's) on the same streams.
    let bin = std::env::var_os("CERTHOUND_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/certhound"));
    if !wanted("replay") {
    } else if bin.exists() {
        let dir = tempfile_dir();
        let file = dir.join("replay.ndjson");
        let n = 200_000 / scale;
        g.write_stream(&file, n, 0.01).expect("write stream");
        // Durable store against a store in memory, alternated, best of 5 each: the outbox's cost.
        let mut best = [(f64::MAX, 0u64); 2];
        for round in 0..5 {
            for (i, path) in [
                ":memory:".to_string(),
                dir.join(format!("replay-{round}.redb"))
                    .display()
                    .to_string(),
            ]
            .iter()
            .enumerate()
            {
                let cfg = dir.join("replay.toml");
                std::fs::write(
                    &cfg,
                    format!("[store]\npath = \"{path}\"\n[notify.jsonl]\npath = \"/dev/null\"\n"),
                )
                .unwrap();
                let (secs, rss) = run_replay(&bin, &file, Some(&cfg));
                if secs < best[i].0 {
                    best[i] = (secs, rss);
                }
            }
        }
        for (i, label) in ["store in memory", "durable store"].iter().enumerate() {
            rows.push((
                format!("replay {n} messages, 1 % findings, {label}"),
                fmt_rate(n as f64 / best[i].0, "msgs/s"),
                format!("peak RSS {:.1} MB, best of 5", best[i].1 as f64 / 1024.0),
            ));
        }
        rows.push((
            "durable store's cost on replay".into(),
            format!("{:>12.1} %", (best[1].0 / best[0].0 - 1.0) * 100.0),
            "time, durable against in memory".into(),
        ));
        // Telemetry on and off are configurations of this build (an older one may not know
        // the [telemetry] section).
        if std::env::var_os("CERTHOUND_BENCH_BIN").is_none() {
            telemetry_rows(&bin, &dir, &file, n, &mut rows);
        }
        let n = 1_000_000 / scale;
        let file = dir.join("dedupe.ndjson");
        g.write_distinct_findings(&file, n).expect("write stream");
        let cfg = dir.join("dedupe.toml");
        std::fs::write(
            &cfg,
            format!(
                "[dedupe]\ncapacity = {n}\n[store]\npath = \"{}\"\n[notify.jsonl]\npath = \"/dev/null\"\n",
                dir.join("dedupe.redb").display()
            ),
        )
        .unwrap();
        let (secs, rss) = run_replay(&bin, &file, Some(&cfg));
        rows.push((
            format!("replay with {n} domains in dedupe"),
            fmt_rate(n as f64 / secs, "msgs/s"),
            format!("peak RSS {:.1} MB", rss as f64 / 1024.0),
        ));
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        rows.push(skipped("replay", &bin));
    }

    // The server role.
    if wanted("ct decode") {
        let (rate, us) = server::decode_rate(60_000 / scale);
        rows.push((
            "ct decode: get-entries JSON to 3 forms, published".into(),
            fmt_rate(rate, "entries/s"),
            format!("one core, {us:.1} CPU-µs per entry, best of 5"),
        ));
    }
    if wanted("server e2e") {
        if bin.exists() {
            let dir = tempfile_dir();
            for (role, entries, clients) in [
                ("server", 60_000 / scale, 1),
                ("server", 10_000 / scale, 100),
                ("run", 60_000 / scale, 1),
            ] {
                let r = server::e2e(&bin, &dir, role, entries, clients);
                rows.push((
                    format!("{role} e2e: {} entries, {} client(s)", r.entries, r.clients),
                    fmt_rate((r.entries * r.clients) as f64 / r.secs, "msgs/s"),
                    format!(
                        "{:.0} entries/s to each; {:.1} CPU-µs per entry; peak RSS {:.1} MB",
                        r.entries as f64 / r.secs,
                        r.cpu_us_per_entry,
                        r.peak_rss_mb
                    ),
                ));
            }
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            rows.push(skipped("server e2e", &bin));
        }
    }

    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    println!(
        "{:w$}  {:>36}  note",
        "benchmark", "rate: median of 9 (best)"
    );
    for (a, b, c) in rows {
        println!("{a:w$}  {b:>36}  {c}");
    }
}

/// The row of a bench that needs the certhound binary when it is not built.
fn dynamodb_rows(scale: usize) -> Vec<(String, String, String)> {
    use certhound_actors::store::Delivery;
    use certhound_tests::moto::Moto;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let moto = match rt.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(90), Moto::start_serialised()).await
    }) {
        Ok(m) => m,
        Err(_) => {
            return vec![(
                "dynamodb".into(),
                "skipped".into(),
                "moto_server did not start".into(),
            )]
        }
    };
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
    let mut rows = Vec::new();
    let channels = ["telegram", "email"];
    for batch in [16usize, 256] {
        let mut cfg = certhound_config::Config::default();
        cfg.aws.endpoint_url = Some(moto.endpoint());
        cfg.store.backend = certhound_config::StoreBackend::DynamoDb;
        cfg.store.dynamodb.table = format!("bench-{batch}");
        cfg.store.dynamodb.create_table = true;
        let store = Store::open(&cfg).expect("dynamodb store");
        let Store::DynamoDb(dynamo) = &store else {
            unreachable!("dynamodb configured")
        };
        let before = dynamo.request_counts();
        // moto answers in milliseconds and slows as its table grows: a few hundred suffice.
        let total = 256 / scale.min(4);
        let mut findings: Vec<_> = (0..total).map(gen::finding).collect();
        let t = Instant::now();
        for chunk in findings.chunks_mut(batch) {
            store
                .record_at(chunk, None, &channels, None, 1)
                .expect("record");
        }
        let secs = t.elapsed().as_secs_f64();
        let recorded = dynamo.request_counts();
        for c in channels {
            loop {
                let claimed = store.pending(c, 64).expect("claim");
                if claimed.is_empty() {
                    break;
                }
                let outcomes: Vec<(u64, Delivery)> = claimed
                    .iter()
                    .map(|(n, _)| (*n, Delivery::Sent { at: 1 }))
                    .collect();
                store.mark(c, &outcomes).expect("mark");
            }
        }
        let after = dynamo.request_counts();
        let per = |counts: &std::collections::BTreeMap<&str, u64>| {
            let mut parts = Vec::new();
            let mut sum = 0.0;
            for (op, n) in counts {
                let d = (*n - before.get(op).copied().unwrap_or(0)) as f64 / total as f64;
                if d > 0.0 {
                    sum += d;
                    parts.push(format!("{op} {d:.2}"));
                }
            }
            format!("{sum:.2} requests per finding ({})", parts.join(", "))
        };
        rows.push((
            format!("dynamodb on moto: record {batch} at a time"),
            fmt_rate(total as f64 / secs, "findings/s"),
            per(&recorded),
        ));
        rows.push((
            format!("dynamodb on moto: a finding's life, 2 channels (batch {batch})"),
            String::new(),
            per(&after),
        ));
    }
    rows
}

fn skipped(what: &str, bin: &Path) -> (String, String, String) {
    (
        what.into(),
        "skipped".into(),
        format!("build {} first", bin.display()),
    )
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("certhound-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `f` `runs` times; each returns (items, seconds). Returns (median, best) items per
/// second: on a shared machine the best run is the one least disturbed by other work.
fn median_rate(runs: usize, mut f: impl FnMut() -> (usize, f64)) -> (f64, f64) {
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let (n, s) = f();
            n as f64 / s
        })
        .collect();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (rates[runs / 2], rates[runs - 1])
}

fn fmt_rate(r: f64, unit: &str) -> String {
    format!("{:>12} {unit}", group(r.round() as u64))
}

fn fmt_rates((median, best): (f64, f64), unit: &str) -> String {
    format!(
        "{} (best {})",
        fmt_rate(median, unit),
        group(best.round() as u64)
    )
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` keywords: the default brands first, then made-up brand-like words.
fn keywords(n: usize) -> MatcherConfig {
    let mut cfg = MatcherConfig::default();
    let mut kw: Vec<String> = cfg.keywords.iter().take(n).cloned().collect();
    let mut seed = 0x9e3779b97f4a7c15u64;
    while kw.len() < n {
        let len = 5 + (gen::next(&mut seed) % 6) as usize;
        let w: String = (0..len)
            .map(|_| (b'a' + (gen::next(&mut seed) % 26) as u8) as char)
            .collect();
        kw.push(w);
    }
    cfg.keywords = kw;
    cfg
}

/// `replay` with telemetry off, on with a loopback OTLP/gRPC receiver taking every span, and on
/// with nothing listening at the endpoint (the exporter failing every batch): what tracing
/// each finding costs the pipeline. Alternated, best of 5 each, durable store.
fn telemetry_rows(
    bin: &Path,
    dir: &Path,
    file: &Path,
    n: usize,
    rows: &mut Vec<(String, String, String)>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let receiver = rt.block_on(certhound_tests::otlp_receiver::FakeOtlp::start());
    // A port that was just free: connections to it are refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| format!("http://{a}"))
        .expect("a free port");
    let setups = [
        ("telemetry off", String::new()),
        (
            "telemetry on, OTLP/gRPC to a loopback receiver",
            format!(
                "[telemetry]\nenabled = true\nendpoint = \"{}\"\n",
                receiver.grpc_endpoint()
            ),
        ),
        (
            "telemetry on, nothing listening at the endpoint",
            format!("[telemetry]\nenabled = true\nendpoint = \"{dead}\"\n"),
        ),
    ];
    // Per setup, the best (wall time, replay time) and the longest start-up plus exit.
    let mut best = [(f64::MAX, f64::MAX); 3];
    let mut overhead = [0f64; 3];
    let mut spans = 0usize;
    for round in 0..5 {
        for (i, (_, extra)) in setups.iter().enumerate() {
            let cfg = dir.join("telemetry.toml");
            let store = dir.join(format!("telemetry-{round}-{i}.redb"));
            std::fs::write(
                &cfg,
                format!(
                    "[store]\npath = \"{}\"\n[notify.jsonl]\npath = \"/dev/null\"\n{extra}",
                    store.display()
                ),
            )
            .unwrap();
            let before = receiver.spans().len();
            let (secs, replayed, _) = run_replay_timed(bin, file, Some(&cfg));
            if i == 1 {
                spans = receiver.spans().len() - before;
            }
            best[i] = (best[i].0.min(secs), best[i].1.min(replayed));
            overhead[i] = overhead[i].max(secs - replayed);
        }
    }
    for (i, (label, _)) in setups.iter().enumerate() {
        let against = (best[i].1 / best[0].1 - 1.0) * 100.0;
        let received = match i {
            1 => format!("; {spans} spans received per run"),
            _ => String::new(),
        };
        rows.push((
            format!("replay {n} messages, 1 % findings, {label}"),
            fmt_rate(n as f64 / best[i].1, "msgs/s"),
            format!(
                "pipeline {against:+.1} % time against off; start + exit up to {:.2} s{received}",
                overhead[i]
            ),
        ));
    }
    drop(receiver);
    drop(rt);
}

/// Runs `certhound replay` and returns (seconds, peak RSS in KiB) as certhound itself reports
/// them in its last `metrics` event (the rusage of a child also counts the bench's own pages
/// from before `exec`, so it is not used).
fn run_replay(bin: &Path, file: &Path, cfg: Option<&Path>) -> (f64, u64) {
    let (secs, _, peak) = run_replay_timed(bin, file, cfg);
    (secs, peak)
}

/// [`run_replay`], with the replay's own time (its `replay finished` event: from the first line
/// read to the last finding stored) between the wall time and the peak RSS; the wall time less
/// it is start-up and exit.
fn run_replay_timed(bin: &Path, file: &Path, cfg: Option<&Path>) -> (f64, f64, u64) {
    let mut cmd = Command::new(bin);
    if let Some(c) = cfg {
        cmd.arg("--config").arg(c);
    }
    cmd.env("CERTHOUND_LOG__FORMAT", "json")
        .arg("replay")
        .arg(file);
    // The store the config names (the durable rows), not a dry run in memory. An older build
    // (CERTHOUND_BENCH_BIN) has no --store and always uses it.
    if std::env::var_os("CERTHOUND_BENCH_BIN").is_none() {
        cmd.arg("--store");
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let t = Instant::now();
    let out = cmd.output().expect("run certhound");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "certhound replay failed: {}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `field` of the last `message` event certhound logged.
    let last = |message: &str, field: &str| {
        stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .map(|v| v["fields"][field].clone())
            .next_back()
    };
    let peak = last("metrics", "peak_rss_kb")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let replayed = last("replay finished", "elapsed_s")
        .and_then(|v| v.as_f64())
        .unwrap_or(secs);
    (secs, replayed, peak)
}
