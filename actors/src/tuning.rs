//! Limits that change while they are in use: a token bucket ([`Bucket`]) and a count of places
//! ([`Places`]), both retuned in place by a config reload, and the [`Retune`] trait by which the
//! reloader reaches every component that holds them.
//!
//! Why not build new limiters and hand them to the actors: a request already waiting on the old
//! limiter would keep the old pace (a raised rate would only show once the backlog had drained
//! at the old one), and an actor restarted by the supervisor would get the limits it was built
//! with. So the components create these once, outside their actors, and the reloader changes
//! them under everybody's feet:
//!
//! - a [`Bucket`] swaps its governor limiter and wakes every waiter, which waits again on the
//!   new one. The cells already used carry over (a per-day quota lowered from 1,000 to 500 after
//!   400 scans has 100 left, not 500), so lowering a rate is felt at once, not after a fresh
//!   burst;
//! - [`Places`] adds permits to its semaphore at once when raised; when lowered it forgets the
//!   free permits and takes back the rest as the requests holding them finish (their [`Place`]
//!   is not returned to the semaphore).

use certhound_config::Config;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// A component whose limits follow the config: the reloader calls [`Retune::retune`] with each
/// new config that validated (after the first), on the reloader's task.
pub trait Retune: Send + Sync {
    /// Applies this component's live keys of `cfg` (see `certhound_config::RELOADABLE`).
    fn retune(&self, cfg: &Config);
}

/// A quota from a rate per second (fractions allowed: 0.5 is one request every 2 s), with a
/// burst of one: requests are spread, not bunched.
pub fn per_second(rate: f64) -> Quota {
    if rate >= 1.0 {
        Quota::per_second(nonzero(rate.min(u32::MAX as f64) as u32))
    } else {
        // governor counts whole cells: a rate under 1/s is one cell per 1/rate seconds.
        Quota::with_period(Duration::from_secs_f64(1.0 / rate.max(1e-6)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
    }
    .allow_burst(NonZeroU32::MIN)
}

/// `n`, or 1 for 0.
pub fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

struct Limiter {
    quota: Quota,
    cells: DefaultDirectRateLimiter,
}

impl Limiter {
    fn new(quota: Quota) -> Arc<Limiter> {
        Arc::new(Limiter {
            quota,
            cells: RateLimiter::direct(quota),
        })
    }
}

/// A token bucket (governor's GCRA) whose quota can be changed while requests wait on it.
pub struct Bucket {
    current: watch::Sender<Arc<Limiter>>,
}

impl Bucket {
    pub fn new(quota: Quota) -> Bucket {
        Bucket {
            current: watch::channel(Limiter::new(quota)).0,
        }
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        self.current.borrow().quota
    }

    /// Waits for a cell of the quota in force, whichever that is by then.
    pub async fn until_ready(&self) {
        let mut changes = self.current.subscribe();
        loop {
            let limiter = changes.borrow_and_update().clone();
            tokio::select! {
                _ = limiter.cells.until_ready() => return,
                // A new quota: wait again, on it. (The sender lives as long as `self`.)
                _ = changes.changed() => {}
            }
        }
    }

    /// Takes a cell if one is free now.
    pub fn check(&self) -> bool {
        self.current.borrow().cells.check().is_ok()
    }

    /// Puts `quota` in force, keeping the cells used of the old one; `false` when it is the
    /// quota in force already (the bucket is left alone).
    pub fn set(&self, quota: Quota) -> bool {
        let old = self.current.borrow().clone();
        if old.quota == quota {
            return false;
        }
        let used = old.quota.burst_size().get() - drain(&old.cells, old.quota.burst_size());
        let new = Limiter::new(quota);
        let used = used.min(quota.burst_size().get());
        if let Some(used) = NonZeroU32::new(used) {
            let _ = new.cells.check_n(used);
        }
        self.current.send_replace(new);
        true
    }
}

/// Takes every free cell of `cells` and says how many there were: governor has no call that
/// reads the level, but `check_n` takes all or nothing, so taking halving chunks finds it.
fn drain(cells: &DefaultDirectRateLimiter, burst: NonZeroU32) -> u32 {
    let mut taken = 0u32;
    let mut chunk = burst.get().next_power_of_two();
    while chunk > 0 {
        if let Some(n) = NonZeroU32::new(chunk.min(burst.get() - taken)) {
            if matches!(cells.check_n(n), Ok(Ok(()))) {
                taken += n.get();
                continue;
            }
        }
        chunk /= 2;
    }
    taken
}

/// A bound on requests in flight that can be raised or lowered while they run.
pub struct Places {
    inner: Arc<PlacesInner>,
}

struct PlacesInner {
    permits: Arc<Semaphore>,
    count: Mutex<Count>,
}

/// The size in force, and how many places still in use are to be taken back as they come free
/// (after a lowering below the places in use).
struct Count {
    size: usize,
    owed: usize,
}

/// A place held for one request; given back (or, after a lowering, taken back) when dropped.
pub struct Place {
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<PlacesInner>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut count = self.inner.count.lock().unwrap_or_else(|p| p.into_inner());
        if count.owed > 0 {
            count.owed -= 1;
            if let Some(p) = self.permit.take() {
                p.forget();
            }
        }
        // Otherwise the permit goes back to the semaphore as `permit` drops.
    }
}

impl Places {
    pub fn new(size: usize) -> Places {
        let size = size.max(1);
        Places {
            inner: Arc::new(PlacesInner {
                permits: Arc::new(Semaphore::new(size)),
                count: Mutex::new(Count { size, owed: 0 }),
            }),
        }
    }

    /// Waits for a place; hold it for the request.
    pub async fn acquire(&self) -> Option<Place> {
        let permit = self.inner.permits.clone().acquire_owned().await.ok()?;
        Some(Place {
            permit: Some(permit),
            inner: self.inner.clone(),
        })
    }

    /// The size in force.
    pub fn size(&self) -> usize {
        self.inner
            .count
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .size
    }

    /// Changes the number of places (at least 1): more are free at once; fewer are the free
    /// ones forgotten now and the rest taken back as the requests holding them finish.
    pub fn resize(&self, size: usize) {
        let size = size.max(1);
        let mut count = self.inner.count.lock().unwrap_or_else(|p| p.into_inner());
        if size > count.size {
            let more = size - count.size;
            let forgiven = more.min(count.owed);
            count.owed -= forgiven;
            self.inner.permits.add_permits(more - forgiven);
        } else if size < count.size {
            let fewer = count.size - size;
            count.owed += fewer - self.inner.permits.forget_permits(fewer);
        }
        count.size = size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_finds_the_free_cells() {
        for burst in [1u32, 2, 3, 7, 60, 1000] {
            for used in [0, 1, burst / 2, burst] {
                let cells = RateLimiter::direct(Quota::per_hour(nonzero(burst)));
                if let Some(u) = NonZeroU32::new(used) {
                    assert!(matches!(cells.check_n(u), Ok(Ok(()))));
                }
                assert_eq!(
                    drain(&cells, nonzero(burst)),
                    burst - used,
                    "{burst} {used}"
                );
                assert!(cells.check().is_err(), "all taken");
            }
        }
    }

    #[test]
    fn a_new_quota_keeps_the_cells_used() {
        let b = Bucket::new(Quota::per_hour(nonzero(10)));
        for _ in 0..4 {
            assert!(b.check());
        }
        // Lowered to 5 an hour with 4 used: 1 left.
        assert!(b.set(Quota::per_hour(nonzero(5))));
        assert!(b.check());
        assert!(!b.check());
        // Raised to 20 with 5 used: 15 left.
        assert!(b.set(Quota::per_hour(nonzero(20))));
        assert_eq!((0..30).filter(|_| b.check()).count(), 15);
        assert!(!b.set(Quota::per_hour(nonzero(20))), "the same quota");
    }

    #[tokio::test]
    async fn a_raised_rate_frees_the_waiters_at_once() {
        let b = Arc::new(Bucket::new(Quota::per_hour(NonZeroU32::MIN)));
        assert!(b.check());
        // The next cell of 1 an hour is an hour away.
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.until_ready().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        b.set(per_second(1000.0));
        tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("woken by the new quota")
            .unwrap();
    }

    #[test]
    fn fractional_rates() {
        assert_eq!(per_second(0.5).replenish_interval(), Duration::from_secs(2));
        assert_eq!(
            per_second(4.0).replenish_interval(),
            Duration::from_millis(250)
        );
        assert_eq!(per_second(0.0).burst_size().get(), 1);
    }

    #[tokio::test]
    async fn places_grow_and_shrink_while_held() {
        let p = Places::new(2);
        let free = |p: &Places| p.inner.permits.available_permits();
        let a = p.acquire().await.unwrap();
        let b = p.acquire().await.unwrap();
        assert_eq!(free(&p), 0);
        p.resize(3);
        let c = p.acquire().await.expect("a third place");
        // Down to 1 with 3 held: the places come back only as the holders finish.
        p.resize(1);
        drop((a, b));
        assert_eq!(free(&p), 0, "c holds the one place");
        drop(c);
        assert_eq!(free(&p), 1);
        // Down to 1 with 1 held, then up to 2 before it comes back: nothing is owed any more.
        let d = p.acquire().await.unwrap();
        p.resize(0);
        assert_eq!(p.size(), 1, "at least one");
        p.resize(2);
        assert_eq!(free(&p), 1);
        drop(d);
        assert_eq!(free(&p), 2);
        assert_eq!(p.size(), 2);
    }

    #[test]
    fn lowered_then_raised_before_the_holders_finish() {
        let p = Places::new(4);
        let held: Vec<Place> = (0..4)
            .map(|_| {
                let permit = p.inner.permits.clone().try_acquire_owned().unwrap();
                Place {
                    permit: Some(permit),
                    inner: p.inner.clone(),
                }
            })
            .collect();
        p.resize(1);
        p.resize(3);
        drop(held);
        assert_eq!(p.inner.permits.available_permits(), 3);
    }
}
