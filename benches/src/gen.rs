//! Deterministic generators of certstream traffic for the benchmarks and the shipped sample,
//! built from the real messages in `tests/fixtures/ct/live_entries.json` (their shape, issuers and
//! sizes) and the labelled names in `tests/fixtures/domains/labelled.tsv`.

use serde_json::Value;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A small xorshift PRNG: reproducible runs without a dependency.
/// `n` host names of consonant-vowel syllables (`h12.kadobeti.net`, `www.sorufa.io`): the
/// shape of most CT names, which hold no brand.
pub fn host_names(n: usize) -> Vec<String> {
    const C: &[u8] = b"bdfgklnprstvz";
    const V: &[u8] = b"aeiou";
    const TLDS: &[&str] = &["com", "net", "org", "de", "io", "co.uk", "com.br"];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let label = |seed: &mut u64, syllables: u64| -> String {
        let k = 2 + next(seed) % syllables;
        (0..k)
            .flat_map(|_| {
                [
                    C[(next(seed) % C.len() as u64) as usize] as char,
                    V[(next(seed) % V.len() as u64) as usize] as char,
                ]
            })
            .collect()
    };
    (0..n)
        .map(|i| {
            let base = label(&mut seed, 4);
            let tld = TLDS[(next(&mut seed) % TLDS.len() as u64) as usize];
            match i % 3 {
                0 => format!("www.{base}.{tld}"),
                1 => format!("h{i}.{}.{base}.{tld}", label(&mut seed, 2)),
                _ => format!("{base}.{tld}"),
            }
        })
        .collect()
}

pub fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

pub struct Generator {
    lite: Vec<Value>,
    full: Vec<Value>,
    phishing: Vec<String>,
    benign: Vec<String>,
}

impl Generator {
    pub fn load(root: &Path) -> Generator {
        let entries: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(root.join("tests/fixtures/ct/live_entries.json"))
                .expect("tests/fixtures/ct/live_entries.json"),
        )
        .expect("live entries parse");
        let parse = |k: &str| -> Vec<Value> {
            entries
                .iter()
                .map(|e| serde_json::from_str(e[k].as_str().unwrap()).unwrap())
                .collect()
        };
        let labelled = std::fs::read_to_string(root.join("tests/fixtures/domains/labelled.tsv"))
            .expect("tests/fixtures/domains/labelled.tsv");
        let mut phishing = Vec::new();
        let mut benign = Vec::new();
        for line in labelled.lines().skip(1) {
            match line.split_once('\t') {
                Some((d, "phishing")) => phishing.push(d.to_string()),
                Some((d, "benign")) => benign.push(d.to_string()),
                _ => {}
            }
        }
        Generator {
            lite: parse("expected_lite"),
            full: parse("expected_full"),
            phishing,
            benign,
        }
    }

    /// Background names: real benign names with a varying first label, so that they are
    /// distinct like the names of a live stream.
    fn benign_name(&self, i: usize) -> String {
        let b = &self.benign[i % self.benign.len()];
        format!("h{i}.{b}")
    }

    /// One message for `names`, in the shape of real entry `i`.
    fn message(&self, i: usize, full: bool, names: &[String], index: u64) -> String {
        let src = if full { &self.full } else { &self.lite };
        let mut v = src[i % src.len()].clone();
        let data = &mut v["data"];
        data["leaf_cert"]["all_domains"] = names.iter().map(|n| Value::String(n.clone())).collect();
        data["leaf_cert"]["subject"]["CN"] = Value::String(names[0].clone());
        data["cert_index"] = Value::from(index);
        v.to_string()
    }

    /// `n` messages; a fraction `phish` of them carries a phishing name from the labelled set.
    pub fn messages(&self, n: usize, full: bool, phish: f64) -> Vec<String> {
        self.messages_from(0, n, full, phish)
    }

    /// Messages `start..start + n` of the same sequence.
    pub fn messages_from(&self, start: usize, n: usize, full: bool, phish: f64) -> Vec<String> {
        let every = if phish > 0.0 {
            (1.0 / phish).round() as usize
        } else {
            usize::MAX
        };
        (start..start + n)
            .map(|i| {
                let name = if every != usize::MAX && i % every == 0 {
                    self.phishing[(i / every) % self.phishing.len()].clone()
                } else {
                    self.benign_name(i)
                };
                self.message(i, full, &[name], i as u64)
            })
            .collect()
    }

    /// `n` names as a live stream has them: mostly benign, 1 % phishing.
    pub fn names(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                if i.is_multiple_of(100) {
                    self.phishing[(i / 100) % self.phishing.len()].clone()
                } else {
                    self.benign_name(i)
                }
            })
            .collect()
    }

    pub fn write_stream(&self, path: &Path, n: usize, phish: f64) -> io::Result<()> {
        let mut w = BufWriter::new(std::fs::File::create(path)?);
        for chunk_start in (0..n).step_by(10_000) {
            let len = 10_000.min(n - chunk_start);
            for m in self.messages_from(chunk_start, len, false, phish) {
                writeln!(w, "{m}")?;
            }
        }
        w.flush()
    }

    /// `n` domains-only messages, each a distinct registrable domain that matches a keyword:
    /// fills the dedupe set.
    pub fn write_distinct_findings(&self, path: &Path, n: usize) -> io::Result<()> {
        let mut w = BufWriter::new(std::fs::File::create(path)?);
        for i in 0..n {
            writeln!(
                w,
                "{{\"message_type\":\"dns_entries\",\"data\":[\"paypal-{i}-verify.com\"]}}"
            )?;
        }
        w.flush()
    }

    /// The sample stream shipped in `config/`: every labelled name once, in lite messages, in a
    /// fixed shuffled order, gzip-compressed. Returns the number of messages.
    pub fn write_sample(root: &Path, out: &Path) -> io::Result<usize> {
        let g = Generator::load(root);
        let mut names: Vec<&String> = g.phishing.iter().chain(g.benign.iter()).collect();
        let mut seed = 42u64;
        for i in (1..names.len()).rev() {
            let j = (next(&mut seed) % (i as u64 + 1)) as usize;
            names.swap(i, j);
        }
        let file = std::fs::File::create(out)?;
        let mut w =
            flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::best());
        for (i, n) in names.iter().enumerate() {
            writeln!(
                w,
                "{}",
                g.message(i, false, &[n.to_string()], 1_000_000 + i as u64)
            )?;
        }
        w.finish()?.flush()?;
        Ok(names.len())
    }
}

/// A finding like the matcher makes, for the outbox benchmark.
pub fn finding(i: usize) -> certhound_actors::finding::Finding {
    let d = format!("paypal-{i}-verify.com");
    certhound_actors::finding::Finding {
        id: String::new(),
        detected_at: "2026-11-28T12:00:00.000Z".into(),
        domain: d.clone(),
        domain_unicode: None,
        registrable_domain: d.clone(),
        matched_names: vec![d.clone()],
        rules: vec!["keyword:paypal".into(), "words:verify".into()],
        score: 1.45,
        terms: vec![
            "brand_word paypal +0.70".into(),
            "suspicious_word verify +0.45".into(),
        ],
        homoglyph: false,
        cert: certhound_actors::finding::CertInfo {
            cn: Some(d.clone()),
            all_domains: vec![d.clone(), format!("www.{d}")],
            issuer: Some("/C=US/CN=R3/O=Let's Encrypt".into()),
            not_before: Some(1_779_299_292),
            not_after: Some(1_787_078_880),
            serial_number: Some("B99764012EA87DB00E6A7788EBE7C44B".into()),
            fingerprint: Some("30:AF:23:FE:9B:E0:77:2E:FF:5C:05:26:70:0B:79:FF:56:6B:BE:3A".into()),
            update_type: Some("PrecertLogEntry".into()),
            cert_index: Some(i as u64),
            cert_link: Some(format!(
                "https://ct.example/ct/v1/get-entries?start={i}&end={i}"
            )),
        },
        source: None,
        seen: Some(1_700_000_000.0),
        registration: None,
        scan: None,
        trace_parent: None,
    }
}
