//! Config files for the certhound child process: the settings every test wants (JSON logs at
//! `info`, findings as JSON lines on stdout, fast reconnects) plus per-test keys, rendered as
//! TOML; the groups of keys several tests share (a feed, urlscan or RDAP at a loopback fake,
//! quick delivery retries) are methods. The matcher lists are never set, so the shipped defaults
//! are what the tests exercise.
//!
//! Every config owns a temporary directory (shared by its clones, removed when the last one is
//! dropped) holding its store, `[store] path = "<dir>/certhound.redb"`: no test ever uses the
//! default `./data/certhound.redb`, and a test that restarts certhound with the same config finds
//! the same store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certhound config file being put together, section by section.
#[derive(Debug, Clone)]
pub struct TestConfig {
    sections: Vec<(String, Vec<(String, String)>)>,
    dir: Arc<tempfile::TempDir>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TestConfig {
    /// `[log] format = "json"`, `filter = "info"`; `[watch.reconnect] initial = "50ms"`,
    /// `max = "500ms"`; `[notify.jsonl] path = "-"`; `[store] path = "<dir>/certhound.redb"`;
    /// `[enrich] enabled = false`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("certhound-test-")
            .tempdir()
            .expect("tempdir for the test's store");
        let mut c = TestConfig {
            sections: Vec::new(),
            dir: Arc::new(dir),
        };
        c.set_str("log", "format", "json");
        c.set_str("log", "filter", "info");
        c.sections.push(("watch".into(), Vec::new()));
        c.set_str("watch.reconnect", "initial", "50ms");
        c.set_str("watch.reconnect", "max", "500ms");
        c.set_str("notify.jsonl", "path", "-");
        let store = c.store_path();
        c.set_str("store", "path", store.to_str().expect("UTF-8 temp path"));
        // No network here: tests that want registration data turn it on with loopback servers.
        c.set("enrich", "enabled", "false");
        // Tests run side by side: no admin listener on the fixed default port unless asked
        // for ([`Self::admin`]).
        c.set_str("admin", "listen", "");
        c
    }

    /// An admin listener on an ephemeral loopback port (its address is in the `admin
    /// listener` log event: [`crate::admin::address`]).
    pub fn admin(&mut self) -> &mut Self {
        self.set_str("admin", "listen", "127.0.0.1:0");
        self
    }

    /// The config's own temporary directory (the store is in it; tests put other files there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path in [`Self::dir`].
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The default store file, `<dir>/certhound.redb` (`[store] path` unless a test changed it).
    pub fn store_path(&self) -> PathBuf {
        self.path("certhound.redb")
    }

    /// Keeps the temporary directory alive as long as the returned handle (the process harness
    /// holds one while the child runs).
    pub fn keep_alive(&self) -> Arc<tempfile::TempDir> {
        self.dir.clone()
    }

    /// Sets `key = <raw TOML value>` in `[section]` (replacing an earlier value).
    pub fn set(&mut self, section: &str, key: &str, raw_value: impl Into<String>) -> &mut Self {
        let raw_value = raw_value.into();
        let idx = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let keys = &mut self.sections[idx].1;
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = raw_value,
            None => keys.push((key.to_string(), raw_value)),
        }
        self
    }

    /// Sets a string value (quoted and escaped as TOML).
    pub fn set_str(&mut self, section: &str, key: &str, value: &str) -> &mut Self {
        let quoted = serde_json::to_string(value).expect("string"); // JSON strings are TOML basic strings
        self.set(section, key, quoted)
    }

    /// `[watch] feed_url`.
    pub fn feed(&mut self, url: &str) -> &mut Self {
        self.set_str("watch", "feed_url", url)
    }

    /// A config for `certhound watch` on this feed: [`Self::new`] and [`Self::feed`].
    pub fn with_feed(url: &str) -> Self {
        let mut c = Self::new();
        c.feed(url);
        c
    }

    /// Delivery retries within a test's patience: the first after 50 ms, none more than 500 ms
    /// after the one before.
    pub fn fast_retries(&mut self) -> &mut Self {
        self.set_str("delivery.retry", "initial", "50ms");
        self.set_str("delivery.retry", "max", "500ms")
    }

    /// urlscan at a loopback fake (`base_url`), without waiting: no search for an earlier scan,
    /// the submission 100 ms after the finding, the result polled every 100 ms. The API key (or
    /// the secret it comes from) and `poll_timeout` are each test's own.
    pub fn urlscan_at(&mut self, base_url: &str) -> &mut Self {
        self.set_str("urlscan", "base_url", base_url);
        self.set("urlscan", "search_first", "false");
        self.set_str("urlscan", "initial_delay", "100ms");
        self.set_str("urlscan", "poll_interval", "100ms")
    }

    /// Enrichment on, with RDAP from a loopback fake (its `bootstrap_url`) and WHOIS sent to
    /// the discard port, where nothing listens (refused at once); no retries.
    pub fn enrich_with_rdap(&mut self, bootstrap_url: &str) -> &mut Self {
        self.set("enrich", "enabled", "true");
        self.set_str("enrich.rdap", "bootstrap_url", bootstrap_url);
        self.set_str("enrich.whois.servers", "_", "127.0.0.1:9");
        self.set("enrich.limits", "retries", "0")
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (section, keys) in &self.sections {
            out.push_str(&format!("[{section}]\n"));
            for (k, v) in keys {
                out.push_str(&format!("{k} = {v}\n"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sections_in_order() {
        let mut c = TestConfig::new();
        c.feed("ws://127.0.0.1:1/")
            .set_str("watch", "ping_interval", "200ms");
        c.set("supervisor", "restart_budget", "2");
        c.set_str("log", "filter", "debug");
        let s = c.render();
        let store = serde_json::to_string(c.store_path().to_str().unwrap()).unwrap();
        assert_eq!(
            s,
            format!(
                "[log]\nformat = \"json\"\nfilter = \"debug\"\n\n\
                 [watch]\nfeed_url = \"ws://127.0.0.1:1/\"\nping_interval = \"200ms\"\n\n\
                 [watch.reconnect]\ninitial = \"50ms\"\nmax = \"500ms\"\n\n\
                 [notify.jsonl]\npath = \"-\"\n\n\
                 [store]\npath = {store}\n\n\
                 [enrich]\nenabled = false\n\n\
                 [admin]\nlisten = \"\"\n\n\
                 [supervisor]\nrestart_budget = 2\n\n"
            )
        );
    }

    #[test]
    fn store_is_in_the_configs_own_directory() {
        let c = TestConfig::new();
        let store = c.store_path();
        assert!(store.is_absolute(), "{}", store.display());
        assert_eq!(store.parent(), Some(c.dir()));
        assert!(c.dir().is_dir());
        let toml: toml::Table = toml::from_str(&c.render()).unwrap();
        assert_eq!(
            toml["store"]["path"].as_str(),
            Some(store.to_str().unwrap())
        );
        assert!(!c.render().contains("./data/"));
        // Clones share the directory; it goes with the last of them.
        let dir = c.dir().to_path_buf();
        let clone = c.clone();
        drop(c);
        assert!(dir.is_dir());
        drop(clone);
        assert!(!dir.exists());
    }
}
