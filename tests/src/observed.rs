//! Waiting on what a loopback fake has seen: every fake publishes its state (requests,
//! counters) in a `tokio::sync::watch` channel after each change, and tests wait on it with a
//! timeout instead of sleeping; what must not happen is checked by a wait that runs out
//! ([`assert_times_out`], [`still_pending`]).

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a wait returns: the state that satisfied it, or the last state at the timeout.
pub type Waited<T> = Result<T, T>;

/// Waits until the state in `rx` satisfies `pred`; `Err` with the last state after `timeout`.
pub async fn wait_for<T: Clone>(
    rx: &watch::Receiver<T>,
    timeout: Duration,
    mut pred: impl FnMut(&T) -> bool,
) -> Waited<T> {
    let mut rx = rx.clone();
    let done = match tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await {
        Ok(Ok(s)) => Some(s.clone()),
        _ => None,
    };
    done.ok_or_else(|| rx.borrow().clone())
}

/// A fake whose state tests read and wait on. Bring it into scope (`use
/// certhound_tests::observed::Observed;`) to call [`Observed::state`] and [`Observed::wait_for`]
/// on any fake.
pub trait Observed {
    /// What the fake publishes after each change.
    type State: Clone + Send + Sync + 'static;

    /// The channel the fake publishes its state in.
    fn observed(&self) -> &watch::Receiver<Self::State>;

    /// A snapshot of the state now.
    fn state(&self) -> Self::State {
        self.observed().borrow().clone()
    }

    /// Waits until the state satisfies `pred`; `Err` with the last state after `timeout`.
    fn wait_for(
        &self,
        timeout: Duration,
        pred: impl FnMut(&Self::State) -> bool,
    ) -> impl std::future::Future<Output = Waited<Self::State>> {
        wait_for(self.observed(), timeout, pred)
    }
}

/// Asserts that `wait` runs out (`Err`): what it waits for did not happen within its timeout
/// (nothing more arrived). Fails with the state that satisfied it otherwise.
pub async fn assert_times_out<T: Debug>(wait: impl Future<Output = Waited<T>>) {
    let waited = wait.await;
    assert!(waited.is_err(), "the wait was satisfied: {waited:?}");
}

/// Whether `task` is still running after `wait`: a client's request not answered yet.
pub async fn still_pending<T>(task: &mut JoinHandle<T>, wait: Duration) -> bool {
    tokio::time::timeout(wait, task).await.is_err()
}
