//! Per-domain answer scripts, shared by the fakes that answer about one domain per request
//! (RDAP, WHOIS): each domain gets its answers in order, the last one repeating; domains
//! without a script get the default answer. Such a fake's shared part says where its scripts
//! are ([`ScriptedShared`]), and the fake gets `script`, `answer` and `set_default` from here.

use crate::http_fake::Fake;
use std::collections::HashMap;
use std::sync::Mutex;

/// The answers scripted per domain (lowercased) and the default for the others.
#[derive(Debug, Clone)]
pub struct DomainScripts<A> {
    scripts: HashMap<String, Vec<A>>,
    default: A,
}

impl<A: Clone> DomainScripts<A> {
    /// No scripts: every domain gets `default`.
    pub fn new(default: A) -> Self {
        DomainScripts {
            scripts: HashMap::new(),
            default,
        }
    }

    /// Answers for `domain`, one per request in order; the last one repeats.
    pub fn script(&mut self, domain: &str, answers: Vec<A>) {
        assert!(!answers.is_empty(), "a script needs at least one answer");
        self.scripts.insert(domain.to_ascii_lowercase(), answers);
    }

    /// The answer for domains without a script.
    pub fn set_default(&mut self, answer: A) {
        self.default = answer;
    }

    /// The next answer for `domain` (lowercased already), using up one step of its script.
    pub fn next(&mut self, domain: &str) -> A {
        match self.scripts.get_mut(domain) {
            Some(steps) if steps.len() > 1 => steps.remove(0),
            Some(steps) => steps[0].clone(),
            None => self.default.clone(),
        }
    }
}

/// The shared part of a fake that answers from per-domain scripts.
pub trait ScriptedShared {
    /// What the fake answers to one request (RDAP) or query (WHOIS).
    type Answer: Clone;

    /// Its scripts, which its handler takes the answers from.
    fn scripts(&self) -> &Mutex<DomainScripts<Self::Answer>>;
}

impl<Sh: ScriptedShared, St> Fake<Sh, St> {
    /// Answers for `domain`, one per request in order; the last one repeats.
    pub fn script(&self, domain: &str, answers: Vec<Sh::Answer>) -> &Self {
        self.shared
            .scripts()
            .lock()
            .unwrap()
            .script(domain, answers);
        self
    }

    /// Always `answer` for `domain`.
    pub fn answer(&self, domain: &str, answer: Sh::Answer) -> &Self {
        self.script(domain, vec![answer])
    }

    /// The answer for domains without a script (each fake says its default).
    pub fn set_default(&self, answer: Sh::Answer) -> &Self {
        self.shared.scripts().lock().unwrap().set_default(answer);
        self
    }
}
