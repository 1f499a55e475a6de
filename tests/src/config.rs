//! Config files for the certhound child process: the settings every test wants (JSON logs at
//! `info`, findings as JSON lines on stdout, fast reconnects) plus per-test keys, rendered as
//! TOML. The matcher lists are never set, so the shipped defaults are what the tests exercise.

/// A certhound config file being put together, section by section.
#[derive(Debug, Clone)]
pub struct TestConfig {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TestConfig {
    /// `[log] format = "json"`, `filter = "info"`; `[watch.reconnect] initial = "50ms"`,
    /// `max = "500ms"`; `[notify.jsonl] path = "-"`.
    pub fn new() -> Self {
        let mut c = TestConfig {
            sections: Vec::new(),
        };
        c.set_str("log", "format", "json");
        c.set_str("log", "filter", "info");
        c.sections.push(("watch".into(), Vec::new()));
        c.set_str("watch.reconnect", "initial", "50ms");
        c.set_str("watch.reconnect", "max", "500ms");
        c.set_str("notify.jsonl", "path", "-");
        c
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
        assert_eq!(
            s,
            "[log]\nformat = \"json\"\nfilter = \"debug\"\n\n\
             [watch]\nfeed_url = \"ws://127.0.0.1:1/\"\nping_interval = \"200ms\"\n\n\
             [watch.reconnect]\ninitial = \"50ms\"\nmax = \"500ms\"\n\n\
             [notify.jsonl]\npath = \"-\"\n\n\
             [supervisor]\nrestart_budget = 2\n\n"
        );
    }
}
