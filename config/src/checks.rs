//! The checks that several sections' `validate` share, each with its one error text, so that the
//! same mistake reads the same in every section (tests/tests/config_errors.rs and tests.rs assert on
//! these texts). A list of checks fails on its first bad entry, in the order given.

use crate::ConfigError;
use std::time::Duration;

/// Counts that must not be zero (queue sizes, capacities, rates): "must be at least 1". The values
/// are widened to `u64` by the caller (`usize` and `u32` fields alike).
pub(crate) fn at_least_one(counts: &[(&str, u64)]) -> Result<(), ConfigError> {
    match counts.iter().find(|(_, v)| *v == 0) {
        Some((key, _)) => Err(ConfigError::key_error(key, "must be at least 1")),
        None => Ok(()),
    }
}

/// Intervals and timeouts that must not be zero: "must be above zero".
pub(crate) fn above_zero(durations: &[(&str, Duration)]) -> Result<(), ConfigError> {
    match durations.iter().find(|(_, d)| d.is_zero()) {
        Some((key, _)) => Err(ConfigError::key_error(key, "must be above zero")),
        None => Ok(()),
    }
}

/// A rate per second that must be a finite number above zero: "must be more than 0".
pub(crate) fn positive_rate(key: &str, rate: f64) -> Result<(), ConfigError> {
    if !rate.is_finite() || rate <= 0.0 {
        return Err(ConfigError::key_error(key, "must be more than 0"));
    }
    Ok(())
}

/// `key` may be at most `other_key`'s value: "must not be more than <other_key>".
pub(crate) fn not_more_than<T: PartialOrd>(
    key: &str,
    value: T,
    other_key: &str,
    other: T,
) -> Result<(), ConfigError> {
    if value > other {
        return Err(ConfigError::key_error(
            key,
            format!("must not be more than {other_key}"),
        ));
    }
    Ok(())
}

/// `key` must be at least `other_key`'s value: "must not be below <other_key>".
pub(crate) fn not_below<T: PartialOrd>(
    key: &str,
    value: T,
    other_key: &str,
    other: T,
) -> Result<(), ConfigError> {
    if value < other {
        return Err(ConfigError::key_error(
            key,
            format!("must not be below {other_key}"),
        ));
    }
    Ok(())
}

/// A URL certhound sends HTTP requests to: "must be an http:// or https:// URL".
pub(crate) fn http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(ConfigError::key_error(
            key,
            "must be an http:// or https:// URL",
        )),
    }
}

/// A URL that may be left empty (then it is not fetched): "not a URL" when it is set and does not
/// parse.
pub(crate) fn optional_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if !url.is_empty() && url::Url::parse(url).is_err() {
        return Err(ConfigError::key_error(key, "not a URL"));
    }
    Ok(())
}
