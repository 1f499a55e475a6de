//! Values that must never be printed: tokens, keys, passwords in URLs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a secret prints as, everywhere.
pub const REDACTED: &str = "<redacted>";

/// A string that is never shown: `Debug`, `Display` and `Serialize` all print [`REDACTED`].
/// Read the value with [`Secret::expose`] only where it is sent to its service.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// A URL fit for logs: user, password and query string replaced by [`REDACTED`].
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if !u.username().is_empty() {
                let _ = u.set_username(REDACTED);
            }
            if u.password().is_some() {
                let _ = u.set_password(Some(REDACTED));
            }
            if u.query().is_some() {
                u.set_query(Some(REDACTED));
            }
            u.to_string()
        }
        Err(_) => REDACTED.to_string(),
    }
}

/// A secret that can be replaced while certhound runs (refreshed from Secrets Manager): readers
/// take the current value at each use.
#[derive(Clone, Debug)]
pub struct SharedSecret(std::sync::Arc<std::sync::RwLock<Secret>>);

impl SharedSecret {
    pub fn new(s: Secret) -> Self {
        SharedSecret(std::sync::Arc::new(std::sync::RwLock::new(s)))
    }
    /// The current value.
    pub fn get(&self) -> Secret {
        self.0
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
    /// Replaces the value; true when it changed.
    pub fn set(&self, s: Secret) -> bool {
        let mut cur = self.0.write().unwrap_or_else(|p| p.into_inner());
        let changed = *cur != s;
        *cur = s;
        changed
    }
}
