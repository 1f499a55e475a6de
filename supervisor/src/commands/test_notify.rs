//! `certhound test-notify`: one clearly marked test alert through every configured channel, and
//! per channel whether it arrived or why not. Nothing is stored; the dedupe set is not touched.

use crate::exit::Exit;
use certhound_actors::finding::{CertInfo, Finding};
use certhound_actors::notify::jsonl::JsonlNotifier;
use certhound_actors::notify::sns::SnsNotifier;
use certhound_actors::notify::telegram::TelegramNotifier;
use certhound_actors::notify::webhook::WebhookNotifier;
use certhound_actors::notify::Notifier;
use certhound_config::Config;

/// The test alert: obviously a test in every field a person reads.
pub fn test_finding() -> Finding {
    Finding {
        id: format!("test:{}", certhound_actors::store::unix_now()),
        detected_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        domain: "certhound-test-alert.example".into(),
        domain_unicode: None,
        registrable_domain: "certhound-test-alert.example".into(),
        matched_names: vec!["certhound-test-alert.example".into()],
        rules: vec!["test:this is a test alert, not a finding".into()],
        score: 0.0,
        terms: Vec::new(),
        homoglyph: false,
        cert: CertInfo {
            issuer: Some("certhound test-notify".into()),
            ..CertInfo::default()
        },
        source: None,
        seen: None,
        registration: None,
        scan: None,
        trace_parent: None,
    }
}

async fn send<N: Notifier>(mut n: N, f: &Finding) -> Result<(), String> {
    n.deliver(f).await.map_err(|e| e.to_string())?;
    n.flush().map_err(|e| e.to_string())
}

/// Sends the test alert; the exit code is 0 only when every channel took it.
pub fn run(cfg: &Config, sdk: Option<aws_config::SdkConfig>) -> Exit {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Failure;
        }
    };
    let f = test_finding();
    let enrich = cfg.enrich.enabled;
    let scan = cfg.urlscan.enabled();
    let results: Vec<(&str, Result<(), String>)> = rt.block_on(async {
        let mut out = Vec::new();
        if let Some(j) = &cfg.notify.jsonl {
            let r = match JsonlNotifier::open(&j.path) {
                Ok(n) => send(n, &f).await,
                Err(e) => Err(e.to_string()),
            };
            out.push(("jsonl", r));
        }
        if let Some(w) = &cfg.notify.webhook {
            let r = match WebhookNotifier::new(w) {
                Ok(n) => send(n, &f).await,
                Err(e) => Err(e),
            };
            out.push(("webhook", r));
        }
        if let Some(t) = &cfg.notify.telegram {
            let r = match TelegramNotifier::new(t, enrich, scan) {
                Ok(n) => send(n, &f).await,
                Err(e) => Err(e),
            };
            out.push(("telegram", r));
        }
        if let (Some(s), Some(sdk)) = (&cfg.notify.sns, &sdk) {
            out.push((
                "sns",
                send(SnsNotifier::new(sdk, &s.topic_arn, enrich, scan), &f).await,
            ));
        }
        out
    });
    let mut ok = true;
    for (channel, r) in &results {
        match r {
            Ok(()) => eprintln!("{channel}: sent"),
            Err(e) => {
                ok = false;
                eprintln!("{channel}: FAILED: {e}");
            }
        }
    }
    if ok {
        Exit::Ok
    } else {
        Exit::Failure
    }
}
