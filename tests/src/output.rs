//! Parsing of what certhound writes: findings (JSON lines on stdout) and log events (one
//! tracing-subscriber JSON object per line on stderr, matched on `fields.message`).

use serde_json::Value;

/// A finding line of stdout, parsed.
pub fn parse_finding(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
}

/// `registrable_domain` of a finding.
pub fn registrable_domain(finding: &Value) -> &str {
    finding["registrable_domain"]
        .as_str()
        .unwrap_or_else(|| panic!("finding without registrable_domain: {finding}"))
}

/// `rules` of a finding.
pub fn rules(finding: &Value) -> Vec<String> {
    finding["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A log line of stderr, parsed; `None` for lines that are not JSON objects.
pub fn parse_event(line: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    v.is_object().then_some(v)
}

/// The message of a log event: `fields.message` (tracing-subscriber's JSON layout), or a
/// top-level `message` (flattened layout).
pub fn event_message(event: &Value) -> Option<&str> {
    event["fields"]["message"]
        .as_str()
        .or_else(|| event["message"].as_str())
}

/// A field of a log event: `fields.<name>`, or top-level `<name>` (flattened layout).
pub fn event_field<'a>(event: &'a Value, name: &str) -> Option<&'a Value> {
    event["fields"]
        .get(name)
        .or_else(|| event.get(name))
        .filter(|v| !v.is_null())
}

/// A field of a log event as an unsigned number (numbers, or strings holding one).
pub fn event_u64(event: &Value, name: &str) -> Option<u64> {
    let v = event_field(event, name)?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A field of a log event as a string (strings as they are, other values as JSON text).
pub fn event_str(event: &Value, name: &str) -> Option<String> {
    let v = event_field(event, name)?;
    Some(
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
    )
}

/// Whether a log message is `message`, or `message` followed by `": details"` (e.g.
/// `restart budget exhausted: exiting so that the task is replaced`).
pub fn message_is(actual: &str, message: &str) -> bool {
    actual == message
        || actual
            .strip_prefix(message)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// Whether the stderr line is a log event with this message (see [`message_is`]).
pub fn is_event(line: &str, message: &str) -> bool {
    parse_event(line)
        .as_ref()
        .and_then(event_message)
        .is_some_and(|m| message_is(m, message))
}

/// All log events of `lines` with this message, parsed.
pub fn events<'a>(lines: impl IntoIterator<Item = &'a String>, message: &str) -> Vec<Value> {
    lines
        .into_iter()
        .filter_map(|l| parse_event(l))
        .filter(|e| event_message(e).is_some_and(|m| message_is(m, message)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tracing_json_events() {
        let line = r#"{"timestamp":"2026-11-28T12:00:00Z","level":"INFO","fields":{"message":"metrics","malformed":3,"reconnects":"2"},"target":"certhound"}"#;
        let e = parse_event(line).unwrap();
        assert_eq!(event_message(&e), Some("metrics"));
        assert_eq!(event_u64(&e, "malformed"), Some(3));
        assert_eq!(event_u64(&e, "reconnects"), Some(2));
        assert_eq!(event_u64(&e, "missing"), None);
        assert!(is_event(line, "metrics"));
        assert!(!is_event("not json", "metrics"));
        assert!(!is_event(line, "metric"));
        let long = r#"{"level":"ERROR","fields":{"message":"restart budget exhausted: exiting"}}"#;
        assert!(is_event(long, "restart budget exhausted"));
        assert!(!is_event(long, "restart budget"));
        let flat = r#"{"level":"INFO","message":"actor restarted","actor":"matcher"}"#;
        let e = parse_event(flat).unwrap();
        assert_eq!(event_message(&e), Some("actor restarted"));
        assert_eq!(event_str(&e, "actor").as_deref(), Some("matcher"));
    }
}
