//! Precision measured from the analysts' verdicts, and the alert volume per day: for the page
//! (`/precision`, `/api/precision`) and `/metrics`.
//!
//! Precision of a rule (or brand) over a window = findings judged "phishing" / findings judged
//! "phishing" or "false alarm", among the findings of that rule stored within the window;
//! "unsure" and unjudged findings do not count (their numbers are shown beside it, so a
//! precision from three verdicts reads as what it is). A rule is the kind of a finding's rule
//! terms (`keyword`, `lookalike`, `words`); a brand the name after `keyword:` or `lookalike:`.
//! A finding with two rules counts for both.
//!
//! An alert is a finding sent on at least one channel; the volume per day counts both, by the
//! UTC day it was stored, for the last 30 days.
//!
//! The figures are computed from the store's findings of the last 30 days at most every
//! `admin.page.stats_interval` (a verdict recomputes them at once): a scrape every 15 s must not
//! read the whole store each time.

use certhound_actors::store::{Delivery, Record, VerdictKind};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

/// The windows precision is measured over, in days.
pub const WINDOWS: [u64; 2] = [7, 30];
const DAY: u64 = 86_400;

/// Verdict counts of one rule or brand within one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub findings: u64,
    pub phishing: u64,
    pub false_alarm: u64,
    pub unsure: u64,
}

impl Counts {
    /// phishing / (phishing + false alarm); `None` before any of the two.
    pub fn precision(&self) -> Option<f64> {
        let judged = self.phishing + self.false_alarm;
        (judged > 0).then(|| self.phishing as f64 / judged as f64)
    }

    pub fn unjudged(&self) -> u64 {
        self.findings - self.phishing - self.false_alarm - self.unsure
    }

    fn add(&mut self, verdict: Option<VerdictKind>) {
        self.findings += 1;
        match verdict {
            Some(VerdictKind::Phishing) => self.phishing += 1,
            Some(VerdictKind::FalseAlarm) => self.false_alarm += 1,
            Some(VerdictKind::Unsure) => self.unsure += 1,
            None => {}
        }
    }
}

/// The figures of one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub days: u64,
    pub all: Counts,
    pub by_rule: BTreeMap<String, Counts>,
    pub by_brand: BTreeMap<String, Counts>,
}

/// One UTC day's volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub findings: u64,
    pub alerts: u64,
}

/// Everything the precision page shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// When they were computed (Unix seconds).
    pub computed_at: u64,
    pub windows: Vec<Window>,
    /// The last 30 days, newest first, days without findings included.
    pub days: Vec<Day>,
}

/// `YYYY-MM-DD` of a day number since the epoch.
fn day_string(day: u64) -> String {
    let (y, m, d) = certhound_actors::dates::civil_from_days(day as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The rule kinds and brands of a finding's rules, without repeats.
pub fn rules_and_brands(rules: &[String]) -> (Vec<String>, Vec<String>) {
    let mut kinds = Vec::new();
    let mut brands = Vec::new();
    for r in rules {
        let (kind, name) = r.split_once(':').unwrap_or((r.as_str(), ""));
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_string());
        }
        if matches!(kind, "keyword" | "lookalike")
            && !name.is_empty()
            && !brands.iter().any(|b| b == name)
        {
            brands.push(name.to_string());
        }
    }
    (kinds, brands)
}

/// Computes the figures from the findings stored in the last 30 days (`records` may hold more).
pub fn compute(records: &[Record], now: u64) -> Stats {
    let mut windows: Vec<Window> = WINDOWS
        .iter()
        .map(|&days| Window {
            days,
            ..Window::default()
        })
        .collect();
    let today = now / DAY;
    let mut days: Vec<Day> = (0..30)
        .map(|i| Day {
            day: day_string(today - i),
            findings: 0,
            alerts: 0,
        })
        .collect();
    for r in records {
        let verdict = r.verdict.as_ref().map(|v| v.kind);
        let (kinds, brands) = rules_and_brands(&r.finding.rules);
        for w in windows.iter_mut() {
            if r.stored_at + w.days * DAY < now {
                continue;
            }
            w.all.add(verdict);
            for k in &kinds {
                w.by_rule.entry(k.clone()).or_default().add(verdict);
            }
            for b in &brands {
                w.by_brand.entry(b.clone()).or_default().add(verdict);
            }
        }
        let ago = today.saturating_sub(r.stored_at / DAY);
        if let Some(d) = days.get_mut(ago as usize) {
            d.findings += 1;
            if r.channels
                .iter()
                .any(|c| matches!(c.state, Delivery::Sent { .. }))
            {
                d.alerts += 1;
            }
        }
    }
    Stats {
        computed_at: now,
        windows,
        days,
    }
}

/// The figures as Prometheus metrics:
/// - `certhound_rule_precision{rule, window}` and `certhound_brand_precision{brand, window}`
///   (only where there is a verdict to measure it from);
/// - `certhound_rule_verdicts{rule, window, verdict}` (verdict `phishing`, `false_alarm`,
///   `unsure`, `none`), from which the precision can be recomputed or alerted on;
/// - `certhound_findings_per_day{window}` and `certhound_alerts_per_day{window}`: the
///   average over the last 1, 7 and 30 days.
#[derive(Debug)]
pub struct StatsCollector(pub Stats);

type Labels = Vec<(String, String)>;

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rule_precision = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let brand_precision = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        let verdicts = Family::<Labels, Gauge>::default();
        for w in &self.0.windows {
            let window = format!("{}d", w.days);
            for (rule, c) in &w.by_rule {
                let l = |k: &str, v: &str| {
                    vec![
                        ("rule".to_string(), rule.clone()),
                        ("window".to_string(), window.clone()),
                        (k.to_string(), v.to_string()),
                    ]
                };
                if let Some(p) = c.precision() {
                    rule_precision
                        .get_or_create(&vec![
                            ("rule".into(), rule.clone()),
                            ("window".into(), window.clone()),
                        ])
                        .set(p);
                }
                for (name, n) in [
                    ("phishing", c.phishing),
                    ("false_alarm", c.false_alarm),
                    ("unsure", c.unsure),
                    ("none", c.unjudged()),
                ] {
                    verdicts.get_or_create(&l("verdict", name)).set(n as i64);
                }
            }
            for (brand, c) in &w.by_brand {
                if let Some(p) = c.precision() {
                    brand_precision
                        .get_or_create(&vec![
                            ("brand".into(), brand.clone()),
                            ("window".into(), window.clone()),
                        ])
                        .set(p);
                }
            }
        }
        let per_day = |f: fn(&Day) -> u64| {
            let fam = Family::<Labels, Gauge<f64, AtomicU64>>::default();
            for n in [1usize, 7, 30] {
                let total: u64 = self.0.days.iter().take(n).map(f).sum();
                fam.get_or_create(&vec![("window".into(), format!("{n}d"))])
                    .set(total as f64 / n as f64);
            }
            fam
        };
        let findings_per_day = per_day(|d| d.findings);
        let alerts_per_day = per_day(|d| d.alerts);
        rule_precision.encode(encoder.encode_descriptor(
            "rule_precision",
            "Findings judged phishing / judged phishing or false alarm, per rule kind, over the window",
            None,
            rule_precision.metric_type(),
        )?)?;
        brand_precision.encode(encoder.encode_descriptor(
            "brand_precision",
            "Findings judged phishing / judged phishing or false alarm, per brand, over the window",
            None,
            brand_precision.metric_type(),
        )?)?;
        verdicts.encode(encoder.encode_descriptor(
            "rule_verdicts",
            "Findings per rule kind and verdict (none: not judged yet) stored within the window",
            None,
            verdicts.metric_type(),
        )?)?;
        findings_per_day.encode(encoder.encode_descriptor(
            "findings_per_day",
            "Findings stored per day, averaged over the window (UTC days, today included)",
            None,
            findings_per_day.metric_type(),
        )?)?;
        alerts_per_day.encode(encoder.encode_descriptor(
            "alerts_per_day",
            "Findings sent on at least one channel per day, averaged over the window",
            None,
            alerts_per_day.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certhound_actors::finding::test_finding;
    use certhound_actors::store::{ChannelState, Verdict};

    fn record(
        rules: &[&str],
        days_ago: u64,
        verdict: Option<VerdictKind>,
        sent: bool,
        now: u64,
    ) -> Record {
        let mut f = test_finding("x.example");
        f.rules = rules.iter().map(|r| r.to_string()).collect();
        Record {
            finding: f,
            stored_at: now - days_ago * DAY - 10,
            channels: vec![ChannelState {
                channel: "jsonl".into(),
                state: if sent {
                    Delivery::Sent { at: now }
                } else {
                    Delivery::Skipped {
                        reason: "not recent".into(),
                    }
                },
            }],
            verdict: verdict.map(|kind| Verdict {
                kind,
                at: now,
                by: "t".into(),
            }),
        }
    }

    #[test]
    fn precision_per_rule_and_brand_over_each_window() {
        let now = 1_765_000_000;
        use VerdictKind::*;
        let records = vec![
            record(&["keyword:paypal"], 1, Some(Phishing), true, now),
            record(
                &["keyword:paypal", "words:login+verify"],
                2,
                Some(FalseAlarm),
                true,
                now,
            ),
            record(&["lookalike:paypal"], 3, Some(Phishing), true, now),
            record(&["lookalike:amazon"], 10, Some(FalseAlarm), false, now),
            record(&["lookalike:amazon"], 12, Some(Unsure), true, now),
            record(&["keyword:amazon"], 0, None, true, now),
        ];
        let s = compute(&records, now);
        let w7 = &s.windows[0];
        assert_eq!(w7.days, 7);
        assert_eq!(w7.all.findings, 4);
        assert_eq!(w7.by_rule["keyword"].precision(), Some(0.5));
        assert_eq!(w7.by_rule["keyword"].unjudged(), 1);
        assert_eq!(w7.by_rule["lookalike"].precision(), Some(1.0));
        assert_eq!(w7.by_rule["words"].precision(), Some(0.0));
        assert_eq!(w7.by_brand["paypal"].precision(), Some(2.0 / 3.0));
        assert_eq!(w7.by_brand["amazon"].precision(), None);
        let w30 = &s.windows[1];
        assert_eq!(w30.all.findings, 6);
        assert_eq!(w30.by_brand["amazon"].precision(), Some(0.0));
        assert_eq!(w30.by_brand["amazon"].unsure, 1);
        assert_eq!(s.days[0].findings, 1);
        assert_eq!(s.days[1].findings, 1);
        assert_eq!(s.days[10].findings, 1);
        assert_eq!(s.days[10].alerts, 0);
        assert_eq!(s.days.iter().map(|d| d.alerts).sum::<u64>(), 5);
    }

    #[test]
    fn rules_name_kinds_and_brands_once() {
        let (k, b) = rules_and_brands(&[
            "keyword:paypal".into(),
            "lookalike:paypal".into(),
            "words:login+secure".into(),
            "keyword:amazon".into(),
        ]);
        assert_eq!(k, ["keyword", "lookalike", "words"]);
        assert_eq!(b, ["paypal", "amazon"]);
    }
}
