//! `[matcher]`: which names are findings.
//!
//! Every name of a certificate is normalised first (wildcard stripped, lowercased, punycode
//! decoded, confusable characters folded to their TR39 skeleton, so `раypal` in Cyrillic reads as
//! `paypal`), then two rules run on it:
//! - `keyword:<k>`: one of `keywords` occurs in the name;
//! - `words:<a>+<b>`: at least `min_suspicious_words` distinct `suspicious_words` occur in it
//!   (`secure-login-verify.example`).
//!
//! Names whose registrable domain is on the `allowlist` are never reported.

use crate::ConfigError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatcherConfig {
    /// Brand names and words that make a finding on their own, matched as substrings of the
    /// normalised name (case and look-alike characters do not matter).
    pub keywords: Vec<String>,
    /// Words that are suspicious in numbers: a name with `min_suspicious_words` distinct ones is
    /// a finding.
    pub suspicious_words: Vec<String>,
    /// How many distinct suspicious words make a finding. 0 turns the rule off.
    pub min_suspicious_words: usize,
    /// Registrable domains (eTLD+1) never reported: the brands' own. `name.*` allows `name`
    /// under every public suffix (`amazon.*` covers amazon.de and amazon.co.uk).
    pub allowlist: Vec<String>,
}

impl Default for MatcherConfig {
    fn default() -> Self {
        MatcherConfig {
            keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
            suspicious_words: DEFAULT_SUSPICIOUS_WORDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            min_suspicious_words: 2,
            allowlist: DEFAULT_ALLOWLIST.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl MatcherConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, list, min) in [
            ("matcher.keywords", &self.keywords, 3),
            ("matcher.suspicious_words", &self.suspicious_words, 3),
        ] {
            for (i, k) in list.iter().enumerate() {
                if k.trim().chars().count() < min {
                    return Err(ConfigError::key_error(
                        &format!("{key}[{i}]"),
                        format!("`{k}` is shorter than {min} characters and would match almost everything"),
                    ));
                }
            }
        }
        if self.keywords.is_empty() && self.min_suspicious_words == 0 {
            return Err(ConfigError::key_error(
                "matcher.keywords",
                "no keywords and the suspicious-words rule is off: nothing could ever match",
            ));
        }
        for (i, a) in self.allowlist.iter().enumerate() {
            if a.is_empty() || a.contains(char::is_whitespace) || a.starts_with('.') {
                return Err(ConfigError::key_error(
                    &format!("matcher.allowlist[{i}]"),
                    format!("`{a}` is not a domain or `name.*` pattern"),
                ));
            }
        }
        Ok(())
    }
}

/// Commonly phished brands and the original setup's words (`banco`, `particular`, `directa`).
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
    // crypto
    "coinbase",
    "binance",
    "metamask",
    "blockchain",
    "kraken",
    "trustwallet",
    "ledger-live",
    // banks
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
    "ing-bank",
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
    "laposte",
    "usps",
    "hmrc",
    "gov-uk",
];

/// Words phishers put around a brand; two distinct ones in a name make a finding.
pub const DEFAULT_SUSPICIOUS_WORDS: &[&str] = &[
    "login",
    "log-in",
    "signin",
    "sign-in",
    "logon",
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
    "authenticate",
    "auth",
    "billing",
    "invoice",
    "payment",
    "wallet",
    "support",
    "service",
    "webscr",
    "password",
    "credential",
    "alert",
    "limited",
    "client",
    "customer",
    "online",
    "banking",
    "refund",
    "claim",
    "bonus",
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
    "microsoftonline.com",
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
    "laposte.fr",
    "laposte.net",
    "usps.com",
    "gov.uk",
];
