//! A config file with `CERTHOUND_*` overrides: the input's lines up to a line `---` are the
//! TOML, the lines after it `NAME=value` variables.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env) = text.split_once("\n---\n").unwrap_or((text, ""));
    let vars = env.lines().filter_map(|l| {
        l.split_once('=')
            .map(|(k, v)| (format!("CERTHOUND_{k}"), v.to_string()))
    });
    if let Ok(c) = certhound_config::Config::from_toml_with_env(toml, "fuzz.toml", vars) {
        let _ = c.to_redacted_toml();
    }
});
