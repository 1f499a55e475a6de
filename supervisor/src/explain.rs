//! `certhound explain DOMAIN`: the matcher's reasoning for one name, for analysts tuning rules.

use certhound_actors::rules::RuleSet;
use certhound_config::Config;

pub fn run(cfg: &Config, domain: &str, json: bool) -> i32 {
    let rules = match RuleSet::new(&cfg.matcher) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("certhound: config key `matcher.keywords`: {e}");
            return crate::EXIT_CONFIG;
        }
    };
    let e = rules.explain(domain);
    if json {
        println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
        return 0;
    }
    println!("input:        {}", e.input);
    println!("ascii:        {}", e.ascii);
    if let Some(u) = &e.unicode {
        println!("unicode:      {u}");
    }
    println!(
        "skeleton:     {}   (look-alike characters folded; rules match this)",
        e.skeleton
    );
    println!(
        "registrable:  {}",
        e.registrable_domain
            .as_deref()
            .unwrap_or("(none: a public suffix)")
    );
    println!(
        "rules:        {}",
        if e.rules.is_empty() {
            "(none)".to_string()
        } else {
            e.rules.join(", ")
        }
    );
    println!("homoglyph:    {}", e.homoglyph);
    println!("allowlisted:  {}", e.allowlisted);
    println!("verdict:      {}", e.verdict);
    0
}
