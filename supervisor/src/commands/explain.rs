//! `certhound explain DOMAIN`: the matcher's reasoning for one name, for analysts tuning rules:
//! each normalisation step, the words of each label, every term of the score, and the verdict.

use crate::exit::Exit;
use certhound_actors::rules::RuleSet;
use certhound_config::Config;

pub fn run(cfg: &Config, domain: &str, json: bool) -> Exit {
    let rules = match RuleSet::new(&cfg.matcher) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Config;
        }
    };
    let e = rules.explain(domain);
    if json {
        println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
        return Exit::Ok;
    }
    println!("input:        {}", e.input);
    println!(
        "cleaned:      {}   (wildcard, trailing dot, case)",
        e.cleaned
    );
    println!("ascii:        {}", e.ascii);
    if let Some(u) = &e.unicode {
        println!("unicode:      {u}");
    }
    if let Some(d) = &e.without_diacritics {
        println!("diacritics:   {d}   (combining marks dropped)");
    }
    println!(
        "folded:       {}   (confusables and rn/m, vv/w, 1/l, 0/o folded; brands match this)",
        e.folded
    );
    println!(
        "registrable:  {}",
        e.registrable_domain
            .as_deref()
            .unwrap_or("(none: a public suffix)")
    );
    if let Some(s) = &e.public_suffix {
        println!("suffix:       {s}");
    }
    for l in &e.labels {
        println!("label:        {} -> {}", l.label, l.words.join(" + "));
    }
    if e.terms.is_empty() {
        println!("terms:        (none)");
    }
    for t in &e.terms {
        println!("term:         {t}");
    }
    println!(
        "score:        {:.2} (threshold {:.2})",
        e.score, e.threshold
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
    Exit::Ok
}
