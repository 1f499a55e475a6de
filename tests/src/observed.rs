//! Waiting on what a loopback fake has seen: every fake publishes its state (requests,
//! counters) in a `tokio::sync::watch` channel after each change, and tests wait on it with a
//! timeout instead of sleeping.

use std::time::Duration;
use tokio::sync::watch;

/// Waits until the state in `rx` satisfies `pred`; `Err` with the last state after `timeout`.
pub async fn wait_for<T: Clone>(
    rx: &watch::Receiver<T>,
    timeout: Duration,
    mut pred: impl FnMut(&T) -> bool,
) -> Result<T, T> {
    let mut rx = rx.clone();
    let done = match tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
        Ok(Ok(s)) => Some(s.clone()),
        _ => None,
    };
    done.ok_or_else(|| rx.borrow().clone())
}
