//! `certhound eval`: measures the detection rules on a list of names, for analysts choosing a
//! threshold or checking a rule change before it meets live traffic.
//!
//! - `eval FILE.tsv`: a labelled list (`domain<TAB>label`, `phishing`/`malicious`/`1` or
//!   `benign`/`legit`/`0`). Prints, at the threshold in force (`--threshold`, else
//!   `matcher.threshold`), the confusion counts, precision, recall, false-positive rate and F1;
//!   a sweep over thresholds; what each rule flagged; and the false positives and missed
//!   phishing names with their scores and terms.
//! - `eval --names FILE`: one name per line, no labels. Prints how many would alert and by which
//!   rules: how noisy the rules would be on that traffic.
//!
//! Each name is judged alone (no certificate context) and assessed once: its score does not
//! depend on the threshold, so the sweep reuses the one [`Assessment`] per name.
//!
//! Input is read as bytes, line by line: a line that is not UTF-8, longer than [`MAX_LINE`]
//! bytes or (labelled) without a tab or with an unknown label is counted as skipped and the first
//! few are reported; no input makes this panic. Blank lines and `#` comments are ignored.

use crate::exit::Exit;
use certhound_actors::rules::{Assessment, CertContext, RuleSet, Term};
use certhound_config::Config;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

/// Longest line read, in bytes (without its line break); longer lines are skipped.
pub const MAX_LINE: usize = 1000;
/// How many false positives, missed names or alerting names are listed.
const EXAMPLES: usize = 20;
/// How many skipped lines are described.
const SKIPPED_SHOWN: usize = 10;
/// Rules listed in the text output (the JSON has all).
const RULES_SHOWN: usize = 30;

/// What to evaluate.
pub enum Input<'a> {
    /// `domain<TAB>label` lines.
    Labelled(&'a Path),
    /// One name per line.
    Names(&'a Path),
}

pub struct Args<'a> {
    pub input: Input<'a>,
    /// Overrides `matcher.threshold`.
    pub threshold: Option<f64>,
    pub json: bool,
}

/// Parses `--threshold`: a finite number above 0, as `matcher.threshold`.
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if t.is_finite() && t > 0.0 {
        Ok(t)
    } else {
        Err(format!("`{s}` is not a positive number"))
    }
}

pub fn run(cfg: &Config, args: Args<'_>) -> Exit {
    let rules = match RuleSet::new(&cfg.matcher) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Config;
        }
    };
    let (threshold, source) = match args.threshold {
        Some(t) => (t, "--threshold"),
        None => (rules.threshold(), "matcher.threshold"),
    };
    let path = match args.input {
        Input::Labelled(p) | Input::Names(p) => p,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("certhound: cannot read {}: {e}", path.display());
            return Exit::Failure;
        }
    };
    let judge = Judge {
        rules: &rules,
        threshold,
        source,
        file: path.display().to_string(),
    };
    let out = match args.input {
        Input::Labelled(_) => judge.labelled(file, args.json),
        Input::Names(_) => judge.names(file, args.json),
    };
    match out {
        Ok(text) => {
            // A closed stdout (`| head`) is not an error worth a panic.
            let _ = io::stdout().lock().write_all(text.as_bytes());
            Exit::Ok
        }
        Err(Failure::Io(e)) => {
            eprintln!("certhound: cannot read {}: {e}", path.display());
            Exit::Failure
        }
        Err(Failure::Empty { skipped }) => {
            eprintln!(
                "certhound: {}: no usable lines ({skipped} skipped; expected {})",
                path.display(),
                match args.input {
                    Input::Labelled(_) => "`domain<TAB>phishing|benign` lines",
                    Input::Names(_) => "one name per line",
                }
            );
            Exit::Failure
        }
    }
}

enum Failure {
    Io(io::Error),
    Empty { skipped: usize },
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// One line of input, as read.
enum Line {
    Text(String),
    NotUtf8,
    TooLong,
}

/// Calls `f` with the number (from 1) and content of each line of `r`, without its line break
/// (`\n` or `\r\n`). At most `MAX_LINE + 1` bytes of a line are kept, so a file without line
/// breaks costs no memory.
fn for_each_line(r: impl Read, mut f: impl FnMut(usize, Line)) -> io::Result<()> {
    let mut r = BufReader::new(r);
    let mut buf = Vec::with_capacity(MAX_LINE + 1);
    let mut number = 0;
    loop {
        buf.clear();
        let mut consumed = 0;
        let mut truncated = false;
        loop {
            let avail = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            let (content, used, end) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            let room = MAX_LINE + 1 - buf.len();
            if content.len() > room {
                truncated = true;
            }
            buf.extend_from_slice(&content[..content.len().min(room)]);
            r.consume(used);
            consumed += used;
            if end {
                break;
            }
        }
        if consumed == 0 {
            return Ok(());
        }
        number += 1;
        if !truncated && buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let line = if truncated || buf.len() > MAX_LINE {
            Line::TooLong
        } else {
            match std::str::from_utf8(&buf) {
                Ok(s) => Line::Text(s.to_string()),
                Err(_) => Line::NotUtf8,
            }
        };
        f(number, line);
    }
}

/// A line that was not used, and why.
#[derive(Debug, Serialize)]
struct Skipped {
    line: usize,
    reason: String,
}

#[derive(Default)]
struct SkipLog {
    count: usize,
    first: Vec<Skipped>,
}

impl SkipLog {
    fn skip(&mut self, line: usize, reason: impl Into<String>) {
        self.count += 1;
        if self.first.len() < SKIPPED_SHOWN {
            self.first.push(Skipped {
                line,
                reason: reason.into(),
            });
        }
    }

    /// Sorts out what is not text; `None` for skipped lines, blank lines and comments.
    fn text(&mut self, number: usize, line: Line) -> Option<String> {
        match line {
            Line::NotUtf8 => {
                self.skip(number, "not UTF-8");
                None
            }
            Line::TooLong => {
                self.skip(number, format!("longer than {MAX_LINE} bytes"));
                None
            }
            Line::Text(s) => {
                let t = s.trim();
                (!t.is_empty() && !t.starts_with('#')).then(|| t.to_string())
            }
        }
    }

    /// `skipped 3 lines: 4 (no tab), ...`, or nothing.
    fn to_text(&self) -> String {
        let mut out = String::new();
        if self.count == 0 {
            return out;
        }
        let shown: Vec<String> = self
            .first
            .iter()
            .map(|s| format!("{} ({})", s.line, s.reason))
            .collect();
        let more = if self.count > self.first.len() {
            ", ..."
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "skipped {} line{}: {}{more}",
            self.count,
            plural(self.count),
            shown.join(", ")
        );
        out
    }
}

/// The label of a labelled line: `Some(true)` for phishing.
fn label_of(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "phishing" | "malicious" | "1" => Some(true),
        "benign" | "legit" | "0" => Some(false),
        _ => None,
    }
}

/// What a rule string is an instance of: `keyword` for `keyword:paypal`.
fn rule_kind(rule: &str) -> &str {
    rule.split_once(':').map_or(rule, |(k, _)| k)
}

/// The distinct rules of an assessment (a rule may fire more than once on a name).
fn distinct_rules(a: &Assessment) -> BTreeSet<&str> {
    a.rules.iter().map(String::as_str).collect()
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `96.7 %`, or `n/a`.
fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |x| format!("{:.1} %", x * 100.0))
}

/// Quotes a value from the input for a message: at most 40 characters, control characters
/// escaped.
fn shown(s: &str) -> String {
    let mut t: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().count() > 40 {
        t.push('…');
    }
    t
}

/// A name as listed among the false positives, missed names or alerting names.
#[derive(Serialize)]
struct Example {
    name: String,
    score: f64,
    rules: Vec<String>,
    terms: Vec<Term>,
    allowlisted: bool,
}

impl Example {
    fn of(name: &str, a: &Assessment) -> Example {
        Example {
            name: name.to_string(),
            score: a.score,
            rules: a.rules.clone(),
            terms: a.terms.clone(),
            allowlisted: a.allowlisted,
        }
    }

    fn write_text(&self, out: &mut String) {
        let terms: Vec<String> = self.terms.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  {:>6.2}  {}{}{}",
            self.score,
            self.name,
            if terms.is_empty() {
                String::new()
            } else {
                format!("   {}", terms.join(", "))
            },
            if self.allowlisted {
                "   (allowlisted)"
            } else {
                ""
            }
        );
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
struct Counts {
    tp: usize,
    fp: usize,
    #[serde(rename = "fn")]
    fn_: usize,
    tn: usize,
}

impl Counts {
    fn flagged(&self) -> usize {
        self.tp + self.fp
    }
    fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.flagged())
    }
    fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// The share of benign names flagged.
    fn fp_rate(&self) -> Option<f64> {
        ratio(self.fp, self.fp + self.tn)
    }
    /// 2·tp / (2·tp + fp + fn): the harmonic mean of precision and recall, 0 when nothing
    /// right was flagged.
    fn f1(&self) -> Option<f64> {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// A labelled name and its one assessment.
struct Judged {
    name: String,
    positive: bool,
    assessment: Assessment,
}

fn counts_at(judged: &[Judged], threshold: f64) -> Counts {
    let mut c = Counts::default();
    for j in judged {
        match (j.positive, j.assessment.alerts_at(threshold)) {
            (true, true) => c.tp += 1,
            (true, false) => c.fn_ += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
        }
    }
    c
}

/// One threshold of the sweep.
#[derive(Serialize)]
struct SweepRow {
    threshold: f64,
    precision: Option<f64>,
    recall: Option<f64>,
    fp_rate: Option<f64>,
    flagged: usize,
    /// The threshold in force (the top-level figures).
    in_force: bool,
}

/// The thresholds swept: 0.5 to 2.0 in steps of 0.1, and the one in force.
fn sweep_thresholds(in_force: f64) -> Vec<f64> {
    let mut ts: Vec<f64> = (5..=20).map(|i| f64::from(i) / 10.0).collect();
    if !ts.contains(&in_force) {
        ts.push(in_force);
        ts.sort_by(f64::total_cmp);
    }
    ts
}

/// What one rule (or rule kind) flagged at the threshold in force.
#[derive(Debug, Default, Serialize)]
struct RuleCount {
    positives: usize,
    negatives: usize,
}

#[derive(Serialize)]
struct LabelledReport {
    file: String,
    threshold: f64,
    threshold_source: &'static str,
    names: usize,
    positives: usize,
    negatives: usize,
    counts: Counts,
    precision: Option<f64>,
    recall: Option<f64>,
    fp_rate: Option<f64>,
    f1: Option<f64>,
    sweep: Vec<SweepRow>,
    by_rule: BTreeMap<String, RuleCount>,
    by_rule_kind: BTreeMap<String, RuleCount>,
    /// Highest score first, at most [`EXAMPLES`].
    false_positives: Vec<Example>,
    /// Highest score (nearest miss) first, at most [`EXAMPLES`].
    missed: Vec<Example>,
    skipped_lines: usize,
    skipped: Vec<Skipped>,
}

#[derive(Serialize)]
struct NamesReport {
    file: String,
    threshold: f64,
    threshold_source: &'static str,
    names: usize,
    alerting: usize,
    by_rule: BTreeMap<String, usize>,
    by_rule_kind: BTreeMap<String, usize>,
    /// The first alerting names, in file order, at most [`EXAMPLES`].
    examples: Vec<Example>,
    skipped_lines: usize,
    skipped: Vec<Skipped>,
}

struct Judge<'a> {
    rules: &'a RuleSet,
    threshold: f64,
    source: &'static str,
    file: String,
}

impl Judge<'_> {
    fn assess(&self, name: &str) -> Assessment {
        self.rules.assess(name, CertContext::default())
    }

    fn labelled(&self, r: impl Read, json: bool) -> Result<String, Failure> {
        let mut skips = SkipLog::default();
        let mut judged = Vec::new();
        let mut seen_content = false;
        for_each_line(r, |number, line| {
            let Some(text) = skips.text(number, line) else {
                return;
            };
            let first = !seen_content;
            seen_content = true;
            let Some((domain, rest)) = text.split_once('\t') else {
                skips.skip(number, "no tab");
                return;
            };
            let label = rest.split('\t').next().unwrap_or("").trim();
            if first && label.eq_ignore_ascii_case("label") {
                return; // the header
            }
            let Some(positive) = label_of(label) else {
                skips.skip(number, format!("unknown label `{}`", shown(label)));
                return;
            };
            let domain = domain.trim();
            if domain.is_empty() {
                skips.skip(number, "no name");
                return;
            }
            judged.push(Judged {
                name: domain.to_string(),
                positive,
                assessment: self.assess(domain),
            });
        })?;
        if judged.is_empty() {
            return Err(Failure::Empty {
                skipped: skips.count,
            });
        }

        let t = self.threshold;
        let counts = counts_at(&judged, t);
        let sweep = sweep_thresholds(t)
            .into_iter()
            .map(|threshold| {
                let c = counts_at(&judged, threshold);
                SweepRow {
                    threshold,
                    precision: c.precision(),
                    recall: c.recall(),
                    fp_rate: c.fp_rate(),
                    flagged: c.flagged(),
                    in_force: threshold == t,
                }
            })
            .collect();
        let mut by_rule: BTreeMap<String, RuleCount> = BTreeMap::new();
        let mut by_rule_kind: BTreeMap<String, RuleCount> = BTreeMap::new();
        let mut false_positives = Vec::new();
        let mut missed = Vec::new();
        for j in &judged {
            let a = &j.assessment;
            let alerts = a.alerts_at(t);
            if alerts {
                let rules = distinct_rules(a);
                let kinds: BTreeSet<&str> = rules.iter().map(|r| rule_kind(r)).collect();
                for (map, keys) in [(&mut by_rule, rules), (&mut by_rule_kind, kinds)] {
                    for k in keys {
                        let c = map.entry(k.to_string()).or_default();
                        if j.positive {
                            c.positives += 1;
                        } else {
                            c.negatives += 1;
                        }
                    }
                }
            }
            match (j.positive, alerts) {
                (false, true) => false_positives.push(j),
                (true, false) => missed.push(j),
                _ => {}
            }
        }
        let worst_first = |v: &mut Vec<&Judged>| -> Vec<Example> {
            v.sort_by(|a, b| b.assessment.score.total_cmp(&a.assessment.score));
            v.iter()
                .take(EXAMPLES)
                .map(|j| Example::of(&j.name, &j.assessment))
                .collect()
        };
        let positives = judged.iter().filter(|j| j.positive).count();
        let skipped_text = skips.to_text();
        let report = LabelledReport {
            file: self.file.clone(),
            threshold: t,
            threshold_source: self.source,
            names: judged.len(),
            positives,
            negatives: judged.len() - positives,
            counts,
            precision: counts.precision(),
            recall: counts.recall(),
            fp_rate: counts.fp_rate(),
            f1: counts.f1(),
            sweep,
            by_rule,
            by_rule_kind,
            false_positives: worst_first(&mut false_positives),
            missed: worst_first(&mut missed),
            skipped_lines: skips.count,
            skipped: skips.first,
        };
        if json {
            return Ok(to_json(&report));
        }
        Ok(labelled_text(&report, &skipped_text))
    }

    fn names(&self, r: impl Read, json: bool) -> Result<String, Failure> {
        let mut skips = SkipLog::default();
        let mut names = 0;
        let mut alerting = 0;
        let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_rule_kind: BTreeMap<String, usize> = BTreeMap::new();
        let mut examples = Vec::new();
        for_each_line(r, |number, line| {
            let Some(text) = skips.text(number, line) else {
                return;
            };
            // Anything after a tab (a label, a count) is not part of the name.
            let name = text.split('\t').next().unwrap_or("").trim();
            if name.is_empty() {
                skips.skip(number, "no name");
                return;
            }
            names += 1;
            let a = self.assess(name);
            if !a.alerts_at(self.threshold) {
                return;
            }
            alerting += 1;
            let rules = distinct_rules(&a);
            let kinds: BTreeSet<&str> = rules.iter().map(|r| rule_kind(r)).collect();
            for (map, keys) in [(&mut by_rule, rules), (&mut by_rule_kind, kinds)] {
                for k in keys {
                    *map.entry(k.to_string()).or_default() += 1;
                }
            }
            if examples.len() < EXAMPLES {
                examples.push(Example::of(name, &a));
            }
        })?;
        if names == 0 {
            return Err(Failure::Empty {
                skipped: skips.count,
            });
        }
        let skipped_text = skips.to_text();
        let report = NamesReport {
            file: self.file.clone(),
            threshold: self.threshold,
            threshold_source: self.source,
            names,
            alerting,
            by_rule,
            by_rule_kind,
            examples,
            skipped_lines: skips.count,
            skipped: skips.first,
        };
        if json {
            return Ok(to_json(&report));
        }
        Ok(names_text(&report, &skipped_text))
    }
}

fn to_json(report: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// Rules by how much they flagged, most first, then by name.
fn most_first<V>(map: &BTreeMap<String, V>, n: impl Fn(&V) -> usize) -> Vec<(&str, &V)> {
    let mut v: Vec<(&str, &V)> = map.iter().map(|(k, c)| (k.as_str(), c)).collect();
    v.sort_by_key(|(_, c)| std::cmp::Reverse(n(c)));
    v
}

fn labelled_text(r: &LabelledReport, skipped: &str) -> String {
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(
        o,
        "{}: {} names ({} phishing, {} benign)",
        r.file, r.names, r.positives, r.negatives
    );
    o.push_str(skipped);
    let _ = writeln!(o, "threshold {:.2} ({})", r.threshold, r.threshold_source);
    let _ = writeln!(o);
    let _ = writeln!(o, "             flagged   not flagged");
    let _ = writeln!(o, "  phishing   tp {:<6} fn {}", c.tp, c.fn_);
    let _ = writeln!(o, "  benign     fp {:<6} tn {}", c.fp, c.tn);
    let _ = writeln!(o);
    let _ = writeln!(o, "precision  {}", pct(r.precision));
    let _ = writeln!(o, "recall     {}", pct(r.recall));
    let _ = writeln!(o, "fp rate    {}   (benign names flagged)", pct(r.fp_rate));
    let _ = writeln!(
        o,
        "f1         {}",
        r.f1.map_or_else(|| "n/a".to_string(), |f| format!("{f:.3}"))
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "  threshold  precision    recall   fp rate  flagged");
    for row in &r.sweep {
        let _ = writeln!(
            o,
            "{} {:>9.2} {:>10} {:>9} {:>9} {:>8}{}",
            if row.in_force { "*" } else { " " },
            row.threshold,
            pct(row.precision),
            pct(row.recall),
            pct(row.fp_rate),
            row.flagged,
            if row.in_force { "   (in force)" } else { "" }
        );
    }
    let _ = writeln!(o);
    write_rule_table(
        &mut o,
        "rule kind",
        &most_first(&r.by_rule_kind, |c| c.positives + c.negatives),
    );
    write_rule_table(
        &mut o,
        "rule",
        &most_first(&r.by_rule, |c| c.positives + c.negatives),
    );
    write_examples(
        &mut o,
        "false positives (benign names flagged)",
        c.fp,
        &r.false_positives,
    );
    write_examples(&mut o, "missed phishing names", c.fn_, &r.missed);
    o
}

fn write_rule_table(o: &mut String, what: &str, rows: &[(&str, &RuleCount)]) {
    if rows.is_empty() {
        let _ = writeln!(o, "no {what} flagged anything\n");
        return;
    }
    write_table(o, what, "phishing    benign", rows, |c| {
        format!("{:>8}  {:>8}", c.positives, c.negatives)
    });
}

/// One table of the text report: a header (`what`, then `columns`), the first [`RULES_SHOWN`]
/// rows (the name padded to the widest, then `cells` of its value), a line saying how many more
/// there are, and a blank line.
fn write_table<V>(
    o: &mut String,
    what: &str,
    columns: &str,
    rows: &[(&str, V)],
    cells: impl Fn(&V) -> String,
) {
    let width = rows
        .iter()
        .take(RULES_SHOWN)
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(0)
        .max(what.len());
    let _ = writeln!(o, "  {what:<width$}  {columns}");
    for (k, v) in rows.iter().take(RULES_SHOWN) {
        let _ = writeln!(o, "  {k:<width$}  {}", cells(v));
    }
    if rows.len() > RULES_SHOWN {
        let _ = writeln!(
            o,
            "  ... {} more (--json lists all)",
            rows.len() - RULES_SHOWN
        );
    }
    let _ = writeln!(o);
}

fn write_examples(o: &mut String, what: &str, total: usize, list: &[Example]) {
    if total == 0 {
        let _ = writeln!(o, "{what}: none");
        return;
    }
    let _ = writeln!(
        o,
        "{what}: {total}{}",
        if total > list.len() {
            format!(", the {} with the highest scores", list.len())
        } else {
            String::new()
        }
    );
    for e in list {
        e.write_text(o);
    }
}

fn names_text(r: &NamesReport, skipped: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}: {} names", r.file, r.names);
    o.push_str(skipped);
    let _ = writeln!(o, "threshold {:.2} ({})", r.threshold, r.threshold_source);
    let _ = writeln!(
        o,
        "alerting   {} ({})",
        r.alerting,
        pct(ratio(r.alerting, r.names))
    );
    let _ = writeln!(o);
    for (what, map) in [("rule kind", &r.by_rule_kind), ("rule", &r.by_rule)] {
        let rows = most_first(map, |n| *n);
        if rows.is_empty() {
            continue;
        }
        write_table(&mut o, what, "alerting", &rows, |n| format!("{n:>8}"));
    }
    if !r.examples.is_empty() {
        let _ = writeln!(
            o,
            "{}alerting names:",
            if r.alerting > r.examples.len() {
                format!("the first {} ", r.examples.len())
            } else {
                String::new()
            }
        );
        for e in &r.examples {
            e.write_text(&mut o);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(usize, String)> {
        let mut v = Vec::new();
        for_each_line(input, |n, l| {
            v.push((
                n,
                match l {
                    Line::Text(s) => s,
                    Line::NotUtf8 => "<not utf-8>".into(),
                    Line::TooLong => "<too long>".into(),
                },
            ))
        })
        .unwrap();
        v
    }

    #[test]
    fn lines_are_split_capped_and_checked() {
        let mut input = b"a\r\n\xff\xfe\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE));
        input.push(b'\n');
        input.extend(std::iter::repeat_n(b'y', MAX_LINE + 1));
        input.extend(b"\nlast");
        assert_eq!(
            lines(&input),
            vec![
                (1, "a".to_string()),
                (2, "<not utf-8>".to_string()),
                (3, "x".repeat(MAX_LINE)),
                (4, "<too long>".to_string()),
                (5, "last".to_string()),
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn sweep_holds_the_threshold_in_force_once() {
        let ts = sweep_thresholds(1.0);
        assert_eq!(ts.len(), 16);
        assert_eq!(ts.iter().filter(|t| **t == 1.0).count(), 1);
        let ts = sweep_thresholds(1.35);
        assert_eq!(ts.len(), 17);
        assert!(ts.windows(2).all(|w| w[0] < w[1]));
        assert!(ts.contains(&1.35));
    }

    #[test]
    fn thresholds_must_be_positive_numbers() {
        assert_eq!(parse_threshold("1.5"), Ok(1.5));
        for bad in ["abc", "-1", "0", "NaN", "inf", ""] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_flags_means_no_precision() {
        let c = Counts {
            tp: 0,
            fp: 0,
            fn_: 3,
            tn: 2,
        };
        assert_eq!(c.precision(), None);
        assert_eq!(c.recall(), Some(0.0));
        assert_eq!(c.fp_rate(), Some(0.0));
        assert_eq!(c.f1(), Some(0.0));
    }
}
