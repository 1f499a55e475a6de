//! Benchmarks of the server role.
//!
//! - `ct decode`: one core turning `get-entries` answers into the three certstream forms and
//!   publishing them to the hub (no clients): base64, MerkleTreeLeaf, X.509, SHA-1/SHA-256 and
//!   JSON encoding, per entry;
//! - `server e2e`: the real `certhound server` tails a loopback RFC 6962 log (the bench's own
//!   `FakeCtLog`, serving fixture entries with the serial number varied per index, so each is
//!   unique) as fast as it is asked, and 1 or 100 websocket clients read `/` (lite). Reported:
//!   entries/s delivered to every client, messages/s over all clients, the certhound process's
//!   own CPU time per entry (from /proc/PID/stat, so the fake log and the clients in this
//!   process do not count) and its peak RSS (VmHWM).

use base64::Engine;
use certhound_actors::ct::cert::{Encoder, LogSource};
use certhound_actors::ct::rfc6962::decode_entries;
use certhound_actors::ct::{leaf, write_rfc6962_link};
use certhound_actors::metrics::Metrics;
use certhound_actors::server::hub::Hub;
use certhound_config::ServerConfig;
use certhound_tests::ct_log::{fixture_entry_with_serial, FakeCtLog, FakeEntry};
use futures_util::StreamExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One `get-entries` answer of `entries`.
fn get_entries_body(entries: &[FakeEntry]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "leaf_input": b64.encode(&e.leaf_input),
                "extra_data": b64.encode(&e.extra_data),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "entries": items })).unwrap()
}

/// (entries per second on one core, CPU-µs per entry) of decoding and publishing.
pub fn decode_rate(n: usize) -> (f64, f64) {
    let entries: Vec<FakeEntry> = (0..1024)
        .map(|i| fixture_entry_with_serial(i % 30, i as u64 + 1))
        .collect();
    let body = get_entries_body(&entries);
    let metrics = Arc::new(Metrics::default());
    let hub = Hub::new(&ServerConfig::default(), 1, metrics);
    let mut encoder = Encoder::new(4096);
    let source = LogSource {
        name: "bench".into(),
        url: "https://bench.example/".into(),
    };
    let mut best = f64::MAX;
    for _ in 0..5 {
        let cpu0 = thread_cpu();
        let mut done = 0usize;
        let mut link = String::new();
        while done < n {
            let raw = decode_entries(&body, done as u64).expect("entries");
            for r in &raw {
                let entry = leaf::parse_entry(&r.leaf_input, &r.extra_data, r.index).unwrap();
                write_rfc6962_link(&mut link, &source.url, r.index);
                let e = encoder.encode(&entry, &source, &link, 1.0).unwrap();
                hub.publish(&e.lite, &e.full, &e.domains);
            }
            done += raw.len();
        }
        let secs = thread_cpu() - cpu0;
        best = best.min(secs / done as f64);
    }
    (1.0 / best, best * 1e6)
}

/// CPU time of the calling thread, seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime with a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// utime + stime of a process, seconds.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What one end-to-end run measured.
pub struct E2e {
    pub entries: usize,
    pub clients: usize,
    pub secs: f64,
    pub cpu_us_per_entry: f64,
    pub peak_rss_mb: f64,
}

/// Runs `certhound <role>` (`server`, or `run`: the watch role matches every entry too)
/// against a fake log of `entries` unique entries with `clients` lite clients; returns the
/// figures.
pub fn e2e(bin: &Path, dir: &Path, role: &str, entries: usize, clients: usize) -> E2e {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let log = FakeCtLog::start(Vec::new()).await;
        log.set_max_batch(1024);
        let cfg = dir.join(format!("{role}-{clients}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[log]\nformat = \"json\"\n[store]\npath = \"{}\"\n\
                 [ct]\nuse_log_list = false\nnew_log_start = \"start\"\npoll_interval = \"20ms\"\n\
                 per_log_per_second = 1000.0\n\
                 logs = [{{ name = \"bench\", url = \"{}\", kind = \"rfc6962\" }}]\n\
                 [server]\nlisten = \"127.0.0.1:0\"\nclient_queue = 65536\n\
                 [notify.jsonl]\npath = \"/dev/null\"\n",
                dir.join(format!("{role}-{clients}.redb")).display(),
                log.rfc6962_url()
            ),
        )
        .unwrap();
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .arg(role)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start certhound server");
        let pid = child.id();
        // The listening address, from the first events.
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut sent = false;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if !sent {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        if v["fields"]["message"] == "certstream feed listening" {
                            let _ = addr_tx
                                .send(v["fields"]["listen"].as_str().unwrap_or("").to_string());
                            sent = true;
                        }
                    }
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server listening");
        let mut tasks = Vec::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients);
        for _ in 0..clients {
            let url = format!("ws://{addr}/");
            let ready = ready_tx.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(url)
                    .await
                    .expect("connect");
                let _ = ready.send(()).await;
                let mut n = 0usize;
                while n < entries {
                    match ws.next().await {
                        Some(Ok(m)) if m.is_text() => n += 1,
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
                n
            }));
        }
        for _ in 0..clients {
            ready_rx.recv().await;
        }
        let all: Vec<FakeEntry> = (0..entries)
            .map(|i| fixture_entry_with_serial(i % 30, i as u64 + 1))
            .collect();
        let cpu0 = process_cpu(pid);
        let t = Instant::now();
        log.append(all);
        let mut delivered = 0;
        for task in tasks {
            delivered += task.await.unwrap_or(0);
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = process_cpu(pid) - cpu0;
        let rss = peak_rss_kb(pid);
        // SAFETY: kill(2) with our child's pid.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let _ = child.wait();
        assert_eq!(delivered, entries * clients, "every client got every entry");
        E2e {
            entries,
            clients,
            secs,
            cpu_us_per_entry: cpu * 1e6 / entries as f64,
            peak_rss_mb: rss as f64 / 1024.0,
        }
    })
}
