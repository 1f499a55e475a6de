//! `[secrets]` and `[aws]`: secrets from AWS Secrets Manager, read at start, and where the AWS
//! APIs are (region; an endpoint for tests).
//!
//! A secret is named `"<secret id>#<JSON key>"`: the secret's value is a JSON object (as the
//! console stores key/value secrets) and the key picks the field. A missing secret or key stops
//! the start with an error naming both.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};

/// `"<secret id>#<JSON key>"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

impl SecretRef {
    /// (secret id, JSON key).
    pub fn parts(&self) -> Option<(&str, &str)> {
        let (id, key) = self.0.rsplit_once('#')?;
        (!id.is_empty() && !key.is_empty()).then_some((id, key))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The Telegram bot token, e.g. `"telegram/certhound#token"`.
    pub telegram_token: Option<SecretRef>,
    /// The Telegram chat id, e.g. `"telegram/certhound#chat_id"`.
    pub telegram_chat_id: Option<SecretRef>,
    /// The urlscan.io API key, e.g. `"urlscan.io/api-key#urlscan-api-key"`.
    pub urlscan_api_key: Option<SecretRef>,
    /// The analyst page's token (`admin.token`), e.g. `"certhound/admin#token"`.
    pub admin_token: Option<SecretRef>,
    /// The secrets above are read again this often, so a rotated secret is picked up.
    #[serde(with = "humantime_serde")]
    pub refresh: std::time::Duration,
}

/// Which secret a [`SecretRef`] of `[secrets]` is: code that places a secret matches on this,
/// so a new one cannot fall into another's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    TelegramToken,
    TelegramChatId,
    UrlscanApiKey,
    AdminToken,
}

impl SecretKind {
    /// Its config key.
    pub fn key(self) -> &'static str {
        match self {
            SecretKind::TelegramToken => "secrets.telegram_token",
            SecretKind::TelegramChatId => "secrets.telegram_chat_id",
            SecretKind::UrlscanApiKey => "secrets.urlscan_api_key",
            SecretKind::AdminToken => "secrets.admin_token",
        }
    }
}

impl std::fmt::Display for SecretKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            telegram_token: None,
            telegram_chat_id: None,
            urlscan_api_key: None,
            admin_token: None,
            refresh: std::time::Duration::from_secs(3600),
        }
    }
}

impl SecretsConfig {
    /// The secrets configured, each with which one it is.
    pub fn refs(&self) -> Vec<(SecretKind, &SecretRef)> {
        [
            (SecretKind::TelegramToken, &self.telegram_token),
            (SecretKind::TelegramChatId, &self.telegram_chat_id),
            (SecretKind::UrlscanApiKey, &self.urlscan_api_key),
            (SecretKind::AdminToken, &self.admin_token),
        ]
        .into_iter()
        .filter_map(|(k, r)| r.as_ref().map(|r| (k, r)))
        .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        checks::above_zero(&[("secrets.refresh", self.refresh)])?;
        for (kind, r) in self.refs() {
            if r.parts().is_none() {
                return Err(ConfigError::key_error(
                    kind.key(),
                    format!("`{}` is not \"<secret id>#<JSON key>\"", r.0),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// The region; without it, the standard chain (`AWS_REGION`, the ECS task's region).
    pub region: Option<String>,
    /// Another endpoint for SNS and Secrets Manager (tests, LocalStack); normally unset.
    pub endpoint_url: Option<String>,
}
