//! Hot reload of the tunable settings without a restart: the matcher rules, the rate limits,
//! the log filter.
//!
//! Triggers: SIGHUP, and a change of the config file or of `matcher.allowlist_file` (its
//! modification time, size or inode, polled every [`RELOAD_POLL`]). On a trigger the config file
//! is read again with the `CERTHOUND_*__*` overrides, the whole config is validated, and (in the
//! watch role) a new [`RuleSet`] is built on a blocking thread (a rebuild takes tens of
//! milliseconds, which the actors must not wait for). Only when all of that succeeds is anything
//! applied; an invalid file changes nothing.
//!
//! Applying it:
//! - the rules are stored into the [`SharedRules`]; the matcher loads the rules once per
//!   certificate, so every certificate is matched by either the old rules or the new ones, none
//!   is dropped or matched twice, and no actor is restarted or even told;
//! - every component holding live limits ([`Retune`]: the resolver, the urlscan stage, the
//!   Telegram notifier, the CT tailers' rates) is retuned in place: its buckets take the new
//!   quotas and wake their waiters, so a raised rate is felt at once and a lowered one from the
//!   next request (see `certhound_actors::tuning`);
//! - the log filter is swapped (unless `RUST_LOG` set it).
//!
//! What can change live is [`certhound_config::RELOADABLE`]. Every other changed key is named in
//! a warning ("changed keys need a restart to take effect") and ignored until the next start.
//! An invalid reload (bad TOML, a bad value, an unreadable allowlist file) is logged as an error
//! with the key and the message and counted (`certhound_config_reloads_total{result="refused"}`);
//! the settings in use stay. Without a config file (embedded defaults), SIGHUP rebuilds from the
//! defaults and the environment, which still re-reads the allowlist file.
//!
//! Triggers that arrive while a rebuild runs are merged into one more rebuild after it.

use certhound_actors::metrics::Metrics;
use certhound_actors::rules::{RuleSet, SharedRules};
use certhound_actors::tuning::Retune;
use certhound_config::{is_reloadable, Config, MatcherConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the config file and the allowlist file are checked for changes. Polling rather
/// than inotify: inotify misses changes on EFS/NFS mounts, and the symlink swap by which a
/// Kubernetes ConfigMap (or any atomic `..data` switch) replaces a file is not a write to the
/// watched file. Two `stat` calls every 2 s cost nothing. (A config key for it will come later.)
pub const RELOAD_POLL: Duration = Duration::from_secs(2);

/// What identifies one version of a file: a rewrite changes the modification time (and
/// usually the size), a replacement by rename or symlink swap the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    dev: u64,
    ino: u64,
}

/// The file's stamp (through symlinks); `None` when it is missing or cannot be read, so that a
/// file that disappears or comes back is a change too.
fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (dev, ino) = {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    };
    #[cfg(not(unix))]
    let (dev, ino) = (0, 0);
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        dev,
        ino,
    })
}

fn allowlist_path(m: &MatcherConfig) -> Option<PathBuf> {
    (!m.allowlist_file.trim().is_empty()).then(|| PathBuf::from(&m.allowlist_file))
}

/// The dotted keys whose values differ between `old` and `new` (sections compared key by key,
/// lists as a whole), in order.
fn changed_keys(prefix: &str, old: &toml::Value, new: &toml::Value, out: &mut Vec<String>) {
    match (old, new) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => changed_keys(&key, x, y, out),
                    _ => out.push(key),
                }
            }
        }
        _ if old != new => out.push(prefix.to_string()),
        _ => {}
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> toml::Value {
    toml::Value::try_from(v).unwrap_or_else(|_| toml::Value::Table(Default::default()))
}

/// The `[matcher]` keys that differ, as `matcher.<key>`.
fn matcher_changes(old: &MatcherConfig, new: &MatcherConfig) -> Vec<String> {
    let mut out = Vec::new();
    changed_keys("matcher", &to_value(old), &to_value(new), &mut out);
    out
}

/// The keys outside `[matcher]` that differ. Secrets serialise redacted, so a changed secret is
/// named by what is known: that one changed.
fn other_changes(old: &Config, new: &Config) -> Vec<String> {
    let (mut a, mut b) = (old.clone(), new.clone());
    a.matcher = MatcherConfig::default();
    b.matcher = MatcherConfig::default();
    a.log.filter = String::new();
    b.log.filter = String::new();
    if a == b {
        return Vec::new();
    }
    let mut out = Vec::new();
    changed_keys("", &to_value(&a), &to_value(&b), &mut out);
    if out.is_empty() {
        out.push("a secret (value redacted)".to_string());
    }
    out
}

/// `other_changes` split into the keys applied live and the keys that need a restart.
fn split_live(keys: Vec<String>) -> (Vec<String>, Vec<String>) {
    keys.into_iter().partition(|k| is_reloadable(k))
}

/// Why a reload was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Signal,
    ConfigFile,
    AllowlistFile,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::ConfigFile => "config file changed",
            Trigger::AllowlistFile => "allowlist file changed",
        }
    }
}

/// A reload that did not happen: the config key at fault (when there is one) and the message.
#[derive(Debug)]
struct Refused {
    key: Option<String>,
    message: String,
}

/// What one rebuild on the blocking pool found.
struct Attempt {
    /// The config file's stamp, taken before it was read.
    config_stamp: Option<Stamp>,
    /// The config, or why it did not load.
    loaded: Result<Loaded, Refused>,
    took: Duration,
}

/// A config that loaded and validated, and what its rules came to.
struct Loaded {
    cfg: Box<Config>,
    /// The allowlist file it names and that file's stamp, taken before the rules read it.
    allowlist: Option<PathBuf>,
    allowlist_stamp: Option<Stamp>,
    /// `None` when this process matches nothing (the server role).
    rules: Result<Option<RuleSet>, Refused>,
}

/// Reads the config and, when `with_rules`, builds its rules (blocking: file reads and the
/// rebuild).
fn attempt(path: Option<PathBuf>, with_rules: bool) -> Attempt {
    let started = Instant::now();
    let config_stamp = path.as_deref().and_then(stamp);
    let loaded = Config::load(path.as_deref())
        .map_err(|e| Refused {
            key: e.key().map(str::to_string),
            message: e.to_string(),
        })
        .and_then(|cfg| {
            // The log filter is applied live too: refuse the whole file if it is not one.
            match tracing_subscriber::EnvFilter::try_new(&cfg.log.filter) {
                Ok(_) => Ok(cfg),
                Err(e) => Err(Refused {
                    key: Some("log.filter".into()),
                    message: format!("config key `log.filter`: not a log filter: {e}"),
                }),
            }
        })
        .map(|cfg| {
            let allowlist = allowlist_path(&cfg.matcher);
            let allowlist_stamp = allowlist.as_deref().and_then(stamp);
            let rules = match with_rules {
                true => RuleSet::new(&cfg.matcher).map(Some).map_err(|e| Refused {
                    key: Some(e.key.clone()),
                    message: e.to_string(),
                }),
                false => Ok(None),
            };
            Loaded {
                cfg: Box::new(cfg),
                allowlist,
                allowlist_stamp,
                rules,
            }
        });
    Attempt {
        config_stamp,
        loaded,
        took: started.elapsed(),
    }
}

#[cfg(unix)]
type Hangup = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup() -> Option<Hangup> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot handle SIGHUP; the config reloads on file changes only");
            None
        }
    }
}
#[cfg(not(unix))]
fn hangup() -> Option<Hangup> {
    None
}

/// Returns at the next SIGHUP (never without a handler).
async fn next_hangup(h: &mut Option<Hangup>) {
    #[cfg(unix)]
    if let Some(s) = h {
        if s.recv().await.is_some() {
            return;
        }
    }
    let _ = h;
    std::future::pending().await
}

/// Watches for reload triggers and applies new settings; see the module documentation.
pub struct Reloader {
    path: Option<PathBuf>,
    /// The config this process started with, for the keys that only a restart applies (read
    /// again from the file and the environment, so that command-line overrides such as
    /// `--feed`, and secrets from Secrets Manager, are no changes).
    started: Config,
    /// The last config applied, for naming the live keys a reload changes.
    applied: Config,
    /// `[matcher]` of the rules in force.
    matcher: MatcherConfig,
    /// `log.filter` in force.
    log_filter: String,
    config_seen: Option<Stamp>,
    allowlist: Option<PathBuf>,
    allowlist_seen: Option<Stamp>,
}

impl Reloader {
    /// `cfg` is the config the rules in force were built from, loaded from `path` (`None`: the
    /// embedded defaults). Call it before the config is read again or changed in memory: the
    /// files' stamps now are the baseline of the first change.
    pub fn new(path: Option<PathBuf>, cfg: &Config) -> Reloader {
        let config_seen = path.as_deref().and_then(stamp);
        let allowlist = allowlist_path(&cfg.matcher);
        let allowlist_seen = allowlist.as_deref().and_then(stamp);
        let mut started = Config::load(path.as_deref()).unwrap_or_else(|_| cfg.clone());
        started.matcher = cfg.matcher.clone();
        Reloader {
            path,
            applied: started.clone(),
            started,
            matcher: cfg.matcher.clone(),
            log_filter: cfg.log.filter.clone(),
            config_seen,
            allowlist,
            allowlist_seen,
        }
    }

    /// Runs until `stopping` is cancelled, applying each valid reload to `rules` (the watch
    /// role's; `None` in the server role) and to every component of `tuned`. A rebuild still
    /// running then is abandoned: nothing of it is applied.
    pub async fn run(
        mut self,
        rules: Option<SharedRules>,
        tuned: Vec<Arc<dyn Retune>>,
        metrics: Arc<Metrics>,
        stopping: CancellationToken,
    ) {
        let mut hup = hangup();
        if rules.is_none() {
            // Nothing reads [matcher] here: its changes are neither applied nor restart keys.
            self.allowlist = None;
            self.allowlist_seen = None;
        }
        tracing::info!(
            config = %self.path.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded defaults".into()),
            allowlist_file = %self.allowlist.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            poll_s = RELOAD_POLL.as_secs_f64(),
            tuned = tuned.len(),
            "config reloads on SIGHUP and on file changes"
        );
        let mut tick = tokio::time::interval(RELOAD_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Vec<Trigger> = Vec::new();
        let mut running: Option<(tokio::task::JoinHandle<Attempt>, Vec<Trigger>)> = None;
        loop {
            if running.is_none() && !pending.is_empty() {
                let (path, with_rules) = (self.path.clone(), rules.is_some());
                let job = tokio::task::spawn_blocking(move || attempt(path, with_rules));
                running = Some((job, std::mem::take(&mut pending)));
            }
            let add = |pending: &mut Vec<Trigger>, t: Trigger| {
                if !pending.contains(&t) {
                    pending.push(t);
                }
            };
            tokio::select! {
                _ = stopping.cancelled() => break,
                _ = next_hangup(&mut hup) => add(&mut pending, Trigger::Signal),
                _ = tick.tick() => {
                    if let Some(p) = &self.path {
                        let now = stamp(p);
                        if now != self.config_seen {
                            self.config_seen = now;
                            add(&mut pending, Trigger::ConfigFile);
                        }
                    }
                    if let Some(p) = self.allowlist.as_ref().filter(|_| rules.is_some()) {
                        let now = stamp(p);
                        if now != self.allowlist_seen {
                            self.allowlist_seen = now;
                            add(&mut pending, Trigger::AllowlistFile);
                        }
                    }
                }
                done = async { (&mut running.as_mut().expect("guarded").0).await }, if running.is_some() => {
                    let (_, triggers) = running.take().expect("guarded");
                    match done {
                        Ok(a) => self.apply(a, &triggers, pending.is_empty(), rules.as_ref(), &tuned, &metrics),
                        Err(e) => {
                            Metrics::add(&metrics.rules_reload_errors, 1);
                            tracing::error!(error = %e, "config not reloaded: the rebuild failed; keeping the settings in use");
                        }
                    }
                }
            }
        }
        tracing::debug!("config reload stopped");
    }

    /// Applies a loaded config (or says why not). `settled`: no trigger came during the
    /// rebuild, so the stamps it took are the versions seen.
    fn apply(
        &mut self,
        a: Attempt,
        triggers: &[Trigger],
        settled: bool,
        rules: Option<&SharedRules>,
        tuned: &[Arc<dyn Retune>],
        metrics: &Metrics,
    ) {
        let trigger = triggers
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ");
        if settled {
            self.config_seen = a.config_stamp;
        }
        let loaded = match a.loaded {
            Ok(l) => l,
            Err(r) => return refused(&trigger, r, metrics),
        };
        if rules.is_some() {
            if settled || loaded.allowlist != self.allowlist {
                self.allowlist_seen = loaded.allowlist_stamp;
            }
            self.allowlist = loaded.allowlist;
        }
        // Validated: from here on everything applies.
        let new_rules = match loaded.rules {
            Ok(r) => r,
            Err(r) => return refused(&trigger, r, metrics),
        };
        let cfg = *loaded.cfg;
        let (_, restart) = split_live(other_changes(&self.started, &cfg));
        if !restart.is_empty() {
            tracing::warn!(
                trigger = %trigger,
                keys = %restart.join(", "),
                "changed keys need a restart to take effect"
            );
        }
        let (live, _) = split_live(other_changes(&self.applied, &cfg));
        for t in tuned {
            t.retune(&cfg);
        }
        if !live.is_empty() {
            tracing::info!(trigger = %trigger, keys = %live.join(", "), "limits reloaded");
        }
        if cfg.log.filter != self.log_filter {
            match crate::logging::set_filter(&cfg.log.filter) {
                Ok(true) => tracing::info!(filter = %cfg.log.filter, "log filter changed"),
                Ok(false) => {
                    tracing::info!("log.filter changed but RUST_LOG chose the filter: left alone")
                }
                Err(e) => tracing::error!(key = "log.filter", error = %e, "log filter not changed"),
            }
            self.log_filter = cfg.log.filter.clone();
        }
        Metrics::add(&metrics.rules_reloads, 1);
        match (rules, new_rules) {
            (Some(rules), Some(new_rules)) => {
                let changed = matcher_changes(&self.matcher, &cfg.matcher);
                rules.store(Arc::new(new_rules));
                self.matcher = cfg.matcher.clone();
                tracing::info!(
                    trigger = %trigger,
                    keywords = self.matcher.keywords.len(),
                    threshold = self.matcher.threshold,
                    changed = %if changed.is_empty() { "none".to_string() } else { changed.join(", ") },
                    build_ms = a.took.as_secs_f64() * 1000.0,
                    "rules reloaded"
                );
            }
            _ => tracing::info!(
                trigger = %trigger,
                changed = %if live.is_empty() { "none".to_string() } else { live.join(", ") },
                "config reloaded"
            ),
        }
        self.applied = cfg;
    }
}

fn refused(trigger: &str, r: Refused, metrics: &Metrics) {
    Metrics::add(&metrics.rules_reload_errors, 1);
    tracing::error!(
        trigger = %trigger,
        key = %r.key.as_deref().unwrap_or(""),
        error = %r.message,
        "config not reloaded: keeping the settings in use"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_named() {
        let mut old = Config::default();
        let mut new = old.clone();
        assert!(matcher_changes(&old.matcher, &new.matcher).is_empty());
        assert!(other_changes(&old, &new).is_empty());
        new.matcher.keywords.push("zzqbrand".into());
        new.matcher.threshold += 1.0;
        assert_eq!(
            matcher_changes(&old.matcher, &new.matcher),
            ["matcher.keywords", "matcher.threshold"]
        );
        assert!(
            other_changes(&old, &new).is_empty(),
            "[matcher] is not a restart key"
        );
        new.dedupe.window *= 2;
        new.log.filter = "debug".into();
        assert_eq!(
            other_changes(&old, &new),
            ["dedupe.window"],
            "log.filter is applied live, so it is not a restart key"
        );
        // Rate limits are changes too, applied live.
        new.urlscan.per_minute = 1;
        new.enrich
            .limits
            .per_server
            .insert("rdap.example".into(), 50);
        new.enrich.limits.read_timeout *= 2;
        let (live, restart) = split_live(other_changes(&old, &new));
        assert_eq!(
            live,
            [
                "enrich.limits.per_server.rdap.example",
                "urlscan.per_minute"
            ]
        );
        assert_eq!(restart, ["dedupe.window", "enrich.limits.read_timeout"]);
        // A changed secret is noticed though it serialises redacted.
        old.urlscan.api_key = Some(certhound_config::Secret::new("one"));
        let mut same = old.clone();
        same.urlscan.api_key = Some(certhound_config::Secret::new("two"));
        assert_eq!(other_changes(&old, &same), ["a secret (value redacted)"]);
    }

    #[test]
    fn a_replaced_or_rewritten_file_has_a_new_stamp() {
        let dir = tempfile_dir();
        let p = dir.join("f.toml");
        assert_eq!(stamp(&p), None);
        std::fs::write(&p, "a = 1\n").unwrap();
        let first = stamp(&p).expect("exists");
        std::fs::write(dir.join("g.toml"), "a = 22\n").unwrap();
        std::fs::rename(dir.join("g.toml"), &p).unwrap();
        assert_ne!(stamp(&p), Some(first));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "certhound-reload-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
