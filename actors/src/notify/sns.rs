//! Email (and anything else subscribed) through an AWS SNS topic: `Publish` with a short subject
//! and the finding's message as plain text, plus `domain` and `rule` message attributes for
//! subscription filters.
//!
//! Credentials come from the standard AWS chain (the ECS task role in production). Throttling
//! and server errors are retried; `InvalidParameter`, `NotFound` and `AuthorizationError` fail
//! for good with SNS's message.

use super::format;
use super::{DeliveryError, Notifier};
use crate::finding::Finding;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::MessageAttributeValue;

/// SNS refuses subjects of 100 characters or more, and any with line breaks or control
/// characters.
pub const MAX_SUBJECT: usize = 99;

pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    enrich_on: bool,
    scan_on: bool,
}

impl SnsNotifier {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        topic_arn: &str,
        enrich_on: bool,
        scan_on: bool,
    ) -> Self {
        SnsNotifier {
            client: aws_sdk_sns::Client::new(sdk),
            topic_arn: topic_arn.to_string(),
            enrich_on,
            scan_on,
        }
    }
}

/// A subject SNS accepts: control characters (line breaks included) become spaces, runs of
/// spaces fold, and it is cut to [`MAX_SUBJECT`] characters.
pub fn subject(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    let out = out.trim();
    if out.chars().count() <= MAX_SUBJECT {
        return out.to_string();
    }
    let cut: String = out.chars().take(MAX_SUBJECT - 1).collect();
    format!("{}…", cut.trim_end())
}

fn attribute(v: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .ok()
}

impl Notifier for SnsNotifier {
    const CHANNEL: &'static str = "sns";

    async fn deliver(&mut self, finding: &Finding) -> Result<(), DeliveryError> {
        let message = format::message(finding, self.enrich_on, self.scan_on).to_text();
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(&format!(
                "certhound: phishing candidate {}",
                finding.domain
            )))
            .message(message);
        if let Some(a) = attribute(&finding.registrable_domain) {
            req = req.message_attributes("domain", a);
        }
        if let Some(a) = finding.rules.first().and_then(|r| attribute(r)) {
            req = req.message_attributes("rule", a);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default().to_string();
                let text = e
                    .message()
                    .map(|m| format!("{code}: {m}"))
                    .unwrap_or_else(|| {
                        if code.is_empty() {
                            "SNS request failed".into()
                        } else {
                            code.clone()
                        }
                    });
                match code.as_str() {
                    "InvalidParameter"
                    | "InvalidParameterValue"
                    | "NotFound"
                    | "AuthorizationError"
                    | "InvalidSecurity"
                    | "KMSAccessDenied" => Err(DeliveryError::Permanent(text)),
                    _ => Err(DeliveryError::Transient(text)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_short_and_single_line() {
        assert_eq!(subject("a\r\nb\tc"), "a b c");
        let long = subject(&format!("certhound: {}", "x".repeat(300)));
        assert!(long.chars().count() <= MAX_SUBJECT, "{}", long.len());
        assert!(!long.chars().any(char::is_control));
    }
}
