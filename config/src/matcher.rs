//! `[matcher]`: which names are findings.
//!
//! Every name of a certificate is normalised first (wildcard stripped, lowercased, punycode
//! decoded, diacritics dropped, confusable characters folded to their TR39 skeleton and the
//! ASCII look-alikes `rn`/`m`, `vv`/`w`, `1`/`l`, `0`/`o` made one, so `раypal` in Cyrillic,
//! `pаypаl` and `paypa1` all read as `paypal`). Then each label below the public suffix is cut
//! into words (hyphens, digits, and a word list for glued words: `securepaypal` is `secure` +
//! `paypal`, `purchase` is one word and holds no `chase`), and the name gets one additive score
//! from the terms that apply: a brand as a whole label or as a word of one, a look-alike of a
//! brand (a typo within a small edit distance, a homoglyph), suspicious words, the brand in a
//! subdomain of someone else's domain, a fake `com` label, deep nesting, a risky TLD, a free
//! CA's certificate, hyphen and digit runs, a random-looking label. A name whose score reaches
//! `threshold` is a finding; `certhound explain DOMAIN` shows every step and term, and
//! `certhound eval` measures a threshold on a labelled list.
//!
//! Names whose registrable domain is on the `allowlist` (or in `allowlist_file`) are never
//! reported.

use crate::ConfigError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatcherConfig {
    /// Brands: matched as a whole label (`paypal.xyz`), as a word of a label (`paypal-secure`,
    /// `securepaypal`, `paypal0`) and as look-alikes (typos, homoglyphs). Case and look-alike
    /// characters do not matter. At least 3 characters each.
    pub keywords: Vec<String>,
    /// Keywords that are also ordinary words or names (`chase`, `apple`, `kraken`): they weigh
    /// less (`weights.common_keyword`), so they alert only with context such as a suspicious
    /// word, and they have no typo look-alikes. Keywords of 4 characters or fewer (`dhl`, `itau`)
    /// are always treated so. An entry that is not in `keywords` is added to it.
    pub common_keywords: Vec<String>,
    /// Words phishers put around a brand (`login`, `verify`); each distinct one adds
    /// `weights.suspicious_word`, counted only as a word of a label (`author` holds no `auth`).
    pub suspicious_words: Vec<String>,
    /// Suspicious words that ordinary business names use too (`services`, `support`): each
    /// adds `weights.weak_suspicious_word` instead. An entry not in `suspicious_words` is
    /// added to it.
    pub weak_suspicious_words: Vec<String>,
    /// The score at which a name is a finding.
    pub threshold: f64,
    /// Registrable domains (eTLD+1) never reported: the brands' own. `name.*` allows `name`
    /// under every public suffix (`amazon.*` covers amazon.de and amazon.co.uk).
    pub allowlist: Vec<String>,
    /// A file of more registrable domains never reported, one per line (`#` comments, `name.*`
    /// patterns as in `allowlist`), such as a top-sites list; read at start and on every
    /// reload. Relative to the working directory. Empty: none.
    pub allowlist_file: String,
    /// Public suffixes that phishing favours (free or very cheap registrations); a name under one
    /// adds `weights.risky_tld`.
    pub risky_tlds: Vec<String>,
    /// Substrings of the issuer (organisation or common name) of free, automated CAs; a
    /// certificate from one adds `weights.free_ca` to its names.
    pub free_ca_issuers: Vec<String>,
    /// Brands at least this long (after folding) have typo look-alikes: one edit away. Labels
    /// (or parts between hyphens) shorter than this are never look-alikes.
    pub lookalike_min_length: usize,
    /// Brands at least this long are also matched two edits away.
    pub lookalike_two_edits_length: usize,
    /// What each term of the score adds.
    pub weights: Weights,
}

/// What each term adds to a name's score (`[matcher.weights]`). `certhound explain` prints the
/// terms of one name, `certhound eval` the effect of a threshold on a labelled list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// A brand is a whole label: the registrable domain's under another suffix (`paypal.xyz`)
    /// or a subdomain label of another domain (`paypal.com.evil.example`).
    pub brand_label: f64,
    /// A brand is a whole part of a label between hyphens (`paypal-secure`, `my-paypal-help`):
    /// spelled out on purpose, so it counts as much as a whole label by default.
    pub brand_part: f64,
    /// A brand is one word glued into a longer label (`securepaypal`, `paypal2`).
    pub brand_word: f64,
    /// Factor applied to the two above for common keywords (see `common_keywords`).
    pub common_keyword: f64,
    /// A label, or a part of it between hyphens, is one edit from a brand (`paypa1l`, `aypal`,
    /// `paypla`); two edits for long brands count 0.8 of it.
    pub lookalike: f64,
    /// Added when the brand only appears after folding non-ASCII look-alikes (homoglyphs,
    /// diacritics, mixed scripts).
    pub homoglyph: f64,
    /// Each distinct suspicious word.
    pub suspicious_word: f64,
    /// Each distinct weak suspicious word (see `weak_suspicious_words`).
    pub weak_suspicious_word: f64,
    /// Suspicious words counted at most.
    pub max_suspicious_words: usize,
    /// Added when the brand stands in a subdomain of a domain that is not the brand's.
    pub brand_in_subdomain: f64,
    /// A `com`, `net` or `org` label below the registrable domain, or such a part between
    /// hyphens (`paypal.com.evil.example`, `com-login.example`, `paypal.com-secure.example`).
    pub fake_tld_word: f64,
    /// At least 4 labels below the registrable domain.
    pub deep_nesting: f64,
    /// The public suffix is one of `risky_tlds`.
    pub risky_tld: f64,
    /// The certificate comes from one of `free_ca_issuers`.
    pub free_ca: f64,
    /// A label with 3 or more hyphens.
    pub hyphens: f64,
    /// A run of 4 or more digits.
    pub digits: f64,
    /// A long random-looking label (high character entropy, few vowels).
    pub random_label: f64,
    /// Without a brand or look-alike, the structural terms (subdomain, com/net/org word,
    /// nesting, free CA, hyphens, digits, random label) add at most this together: a
    /// suspicious word in a long generated host name (`76update.admin.34-54-1-2.sslip.io`) is
    /// no phish. The risky TLD term is not capped.
    pub unbranded_structure_cap: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            brand_label: 1.0,
            brand_part: 1.0,
            brand_word: 0.7,
            common_keyword: 0.8,
            lookalike: 1.0,
            homoglyph: 0.5,
            suspicious_word: 0.5,
            weak_suspicious_word: 0.45,
            max_suspicious_words: 3,
            brand_in_subdomain: 0.3,
            fake_tld_word: 0.35,
            deep_nesting: 0.2,
            risky_tld: 0.55,
            free_ca: 0.1,
            hyphens: 0.2,
            digits: 0.1,
            random_label: 0.15,
            unbranded_structure_cap: 0.4,
        }
    }
}

impl Default for MatcherConfig {
    fn default() -> Self {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        MatcherConfig {
            keywords: owned(DEFAULT_KEYWORDS),
            common_keywords: owned(DEFAULT_COMMON_KEYWORDS),
            suspicious_words: owned(DEFAULT_SUSPICIOUS_WORDS),
            weak_suspicious_words: owned(DEFAULT_WEAK_SUSPICIOUS_WORDS),
            threshold: 1.0,
            allowlist: owned(DEFAULT_ALLOWLIST),
            allowlist_file: String::new(),
            risky_tlds: owned(DEFAULT_RISKY_TLDS),
            free_ca_issuers: owned(DEFAULT_FREE_CA_ISSUERS),
            lookalike_min_length: 5,
            lookalike_two_edits_length: 10,
            weights: Weights::default(),
        }
    }
}

impl MatcherConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, list, min) in [
            ("matcher.keywords", &self.keywords, 3),
            ("matcher.common_keywords", &self.common_keywords, 3),
            ("matcher.suspicious_words", &self.suspicious_words, 3),
            (
                "matcher.weak_suspicious_words",
                &self.weak_suspicious_words,
                3,
            ),
        ] {
            for (i, k) in list.iter().enumerate() {
                if k.trim().chars().count() < min {
                    return Err(ConfigError::key_error(
                        &format!("{key}[{i}]"),
                        format!("`{k}` is shorter than {min} characters and would match almost everything"),
                    ));
                }
                if k.contains(['.', ' ', '*']) {
                    return Err(ConfigError::key_error(
                        &format!("{key}[{i}]"),
                        format!("`{k}` is not one word (no dots, spaces or wildcards)"),
                    ));
                }
            }
        }
        if self.keywords.is_empty() && self.suspicious_words.is_empty() {
            return Err(ConfigError::key_error(
                "matcher.keywords",
                "no keywords and no suspicious words: nothing could ever match",
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(ConfigError::key_error(
                "matcher.threshold",
                format!("{} is not a positive number", self.threshold),
            ));
        }
        for (i, a) in self.allowlist.iter().enumerate() {
            if let Err(why) = check_allow_entry(a) {
                return Err(ConfigError::key_error(
                    &format!("matcher.allowlist[{i}]"),
                    why,
                ));
            }
        }
        for (i, t) in self.risky_tlds.iter().enumerate() {
            if t.is_empty() || t.starts_with('.') || t.contains(char::is_whitespace) {
                return Err(ConfigError::key_error(
                    &format!("matcher.risky_tlds[{i}]"),
                    format!("`{t}` is not a public suffix (write `xyz`, not `.xyz`)"),
                ));
            }
        }
        if self.lookalike_min_length < 4 {
            return Err(ConfigError::key_error(
                "matcher.lookalike_min_length",
                "below 4 one edit turns a brand into thousands of ordinary names",
            ));
        }
        if self.lookalike_two_edits_length <= self.lookalike_min_length {
            return Err(ConfigError::key_error(
                "matcher.lookalike_two_edits_length",
                "must be greater than lookalike_min_length",
            ));
        }
        let w = &self.weights;
        for (key, v) in [
            ("brand_label", w.brand_label),
            ("brand_part", w.brand_part),
            ("brand_word", w.brand_word),
            ("common_keyword", w.common_keyword),
            ("lookalike", w.lookalike),
            ("homoglyph", w.homoglyph),
            ("suspicious_word", w.suspicious_word),
            ("weak_suspicious_word", w.weak_suspicious_word),
            ("brand_in_subdomain", w.brand_in_subdomain),
            ("fake_tld_word", w.fake_tld_word),
            ("deep_nesting", w.deep_nesting),
            ("risky_tld", w.risky_tld),
            ("free_ca", w.free_ca),
            ("hyphens", w.hyphens),
            ("digits", w.digits),
            ("random_label", w.random_label),
            ("unbranded_structure_cap", w.unbranded_structure_cap),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(ConfigError::key_error(
                    &format!("matcher.weights.{key}"),
                    format!("{v} is not a weight between 0 and 100"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks one allowlist entry (config or file): a domain or a `name.*` pattern.
pub fn check_allow_entry(a: &str) -> Result<(), String> {
    if a.is_empty()
        || a.contains(char::is_whitespace)
        || a.starts_with('.')
        || a.contains("..")
        || (a.contains('*') && !a.ends_with(".*"))
    {
        return Err(format!("`{a}` is not a domain or `name.*` pattern"));
    }
    Ok(())
}

/// Suspicious words of the defaults that many honest company names carry.
pub const DEFAULT_WEAK_SUSPICIOUS_WORDS: &[&str] = &[
    "service", "support", "security", "online", "help", "portal", "official",
];

/// Keywords of the defaults that are ordinary words or names too.
pub const DEFAULT_COMMON_KEYWORDS: &[&str] = &[
    "apple",
    "chase",
    "kraken",
    "lloyds",
    "halifax",
    "santander",
    "banco",
    "particular",
    "directa",
    "correos",
    "caixa",
    "outlook",
    "blockchain",
    "ledger",
];

/// Suffixes where most registrations are throwaway: the former Freenom TLDs and the cheap new
/// gTLDs that abuse reports (Spamhaus, Interisle) rank worst. Widely used ones (`info`,
/// `online`, `shop`) are left out on purpose: a word and a TLD should not alert together there.
pub const DEFAULT_RISKY_TLDS: &[&str] = &[
    "tk", "ml", "ga", "cf", "gq", "xyz", "top", "icu", "buzz", "rest", "cyou", "cfd", "sbs",
    "bond", "monster", "win", "loan", "zip", "mov", "gdn", "men", "bid", "xin", "qpon", "lat",
    "su",
];

/// Issuers of free, automated (ACME) certificates.
pub const DEFAULT_FREE_CA_ISSUERS: &[&str] = &[
    "Let's Encrypt",
    "ZeroSSL",
    "Buypass",
    "cPanel",
    "Google Trust Services",
    "SSL.com",
];

/// Commonly phished brands and the original setup's Spanish banking words (`banco`, `particular`,
/// `directa`, which count as common keywords).
pub const DEFAULT_KEYWORDS: &[&str] = &[
    // payments and shopping
    "paypal",
    "amazon",
    "ebay",
    "mercadolibre",
    "mercadopago",
    "alibaba",
    "aliexpress",
    "walmart",
    "americanexpress",
    "mastercard",
    // technology and mail
    "apple",
    "icloud",
    "itunes",
    "microsoft",
    "office365",
    "outlook",
    "hotmail",
    "onedrive",
    "sharepoint",
    "gmail",
    "google",
    "yahoo",
    "dropbox",
    "docusign",
    "adobe",
    "wetransfer",
    "linkedin",
    "facebook",
    "instagram",
    "whatsapp",
    "netflix",
    "spotify",
    "steamcommunity",
    "steampowered",
    "roblox",
    "verizon",
    "xfinity",
    "comcast",
    "appleid",
    "twitter",
    "tiktok",
    "snapchat",
    "discord",
    "telegram",
    "youtube",
    "godaddy",
    "zimbra",
    "rakuten",
    "amzn",
    // crypto
    "coinbase",
    "binance",
    "metamask",
    "blockchain",
    "kraken",
    "trustwallet",
    "ledger",
    // banks and payments
    "usaa",
    "venmo",
    "zelle",
    "cashapp",
    "revolut",
    "westernunion",
    "moneygram",
    "chase",
    "wellsfargo",
    "bankofamerica",
    "citibank",
    "hsbc",
    "santander",
    "bbva",
    "barclays",
    "natwest",
    "lloyds",
    "halifax",
    "caixa",
    "bradesco",
    "itau",
    "bancolombia",
    "scotiabank",
    "banorte",
    "ing",
    "unicredit",
    "intesasanpaolo",
    "postepay",
    "sparkasse",
    "commerzbank",
    // the original setup's Spanish-language banking words
    "banco",
    "bancodirecta",
    "particular",
    "directa",
    // parcels and government
    "dhl",
    "fedex",
    "royalmail",
    "correos",
    "correios",
    "laposte",
    "usps",
    "hmrc",
    "gov-uk",
];

/// Words phishers put around a brand. Matched as words of a label, with their inflections
/// (`verify` also counts in `verifying`, `account` in `accounts`).
pub const DEFAULT_SUSPICIOUS_WORDS: &[&str] = &[
    "login",
    "log-in",
    "signin",
    "sign-in",
    "logon",
    "signon",
    "verify",
    "verification",
    "validate",
    "account",
    "secure",
    "security",
    "update",
    "confirm",
    "unlock",
    "suspend",
    "recover",
    "restore",
    "authenticate",
    "auth",
    "billing",
    "invoice",
    "payment",
    "wallet",
    "support",
    "service",
    "webscr",
    "webapps",
    "password",
    "credential",
    "alert",
    "limited",
    "locked",
    "customer",
    "banking",
    "refund",
    "claim",
    "bonus",
    "helpdesk",
    "resolution",
    "statement",
    "tracking",
    "parcel",
    "delivery",
    "airdrop",
    "information",
    "activate",
    "activation",
    "unusual",
    "reactivate",
    "seguro",
    "acceso",
    "cuenta",
    "clave",
    "verificar",
    "actualizar",
    "cliente",
    "soporte",
    "banca",
];

/// The brands' own registrable domains.
pub const DEFAULT_ALLOWLIST: &[&str] = &[
    "paypal.*",
    "paypalobjects.com",
    "paypal-community.com",
    "amazon.*",
    "amazonaws.com",
    "amazontrust.com",
    "media-amazon.com",
    "ssl-images-amazon.com",
    "ebay.*",
    "ebayimg.com",
    "mercadolibre.*",
    "mercadopago.*",
    "mercadolivre.com.br",
    "alibaba.com",
    "aliexpress.*",
    "walmart.com",
    "americanexpress.*",
    "aexp.com",
    "mastercard.*",
    "apple.com",
    "apple-cloudkit.com",
    "icloud.com",
    "icloud-content.com",
    "itunes.com",
    "microsoft.com",
    "microsoftonline.*",
    "microsoft365.com",
    "office.com",
    "office.net",
    "office365.com",
    "outlook.com",
    "live.com",
    "hotmail.com",
    "onedrive.com",
    "sharepoint.com",
    "sharepointonline.com",
    "azure.com",
    "windows.net",
    "msn.com",
    "gmail.com",
    "google.*",
    "googleapis.com",
    "googleusercontent.com",
    "googlevideo.com",
    "gstatic.com",
    "yahoo.*",
    "dropbox.com",
    "dropboxusercontent.com",
    "docusign.com",
    "docusign.net",
    "adobe.com",
    "adobelogin.com",
    "adobe.io",
    "wetransfer.com",
    "linkedin.com",
    "facebook.com",
    "fbcdn.net",
    "instagram.com",
    "whatsapp.com",
    "whatsapp.net",
    "netflix.com",
    "netflix.net",
    "nflxvideo.net",
    "spotify.com",
    "steamcommunity.com",
    "steampowered.com",
    "roblox.com",
    "verizon.com",
    "verizon.net",
    "xfinity.com",
    "comcast.com",
    "comcast.net",
    "coinbase.com",
    "binance.com",
    "metamask.io",
    "blockchain.com",
    "kraken.com",
    "trustwallet.com",
    "ledger.com",
    "chase.com",
    "wellsfargo.com",
    "bankofamerica.com",
    "citibank.*",
    "citi.com",
    "hsbc.*",
    "santander.*",
    "bbva.*",
    "barclays.*",
    "natwest.com",
    "lloydsbank.com",
    "halifax.co.uk",
    "caixa.gov.br",
    "caixabank.*",
    "bradesco.com.br",
    "itau.com.br",
    "bancolombia.com",
    "scotiabank.com",
    "banorte.com",
    "ing.com",
    "unicredit.*",
    "intesasanpaolo.com",
    "poste.it",
    "postepay.it",
    "sparkasse.de",
    "commerzbank.de",
    "dhl.*",
    "fedex.com",
    "royalmail.com",
    "correos.es",
    "correios.com.br",
    "laposte.fr",
    "laposte.net",
    "usps.com",
    "gov.uk",
    "twitter.com",
    "x.com",
    "twimg.com",
    "tiktok.com",
    "tiktokcdn.com",
    "snapchat.com",
    "discord.com",
    "discord.gg",
    "discordapp.com",
    "telegram.org",
    "telegram.me",
    "telegra.ph",
    "t.me",
    "youtube.*",
    "youtu.be",
    "ytimg.com",
    "godaddy.com",
    "zimbra.com",
    "rakuten.*",
    "usaa.com",
    "venmo.com",
    "zellepay.com",
    "cash.app",
    "revolut.com",
    "westernunion.*",
    "moneygram.*",
];
