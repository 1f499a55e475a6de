//! Exponential backoff with jitter, for reconnecting and retrying.

use certhound_config::BackoffConfig;
use rand::Rng;
use std::time::Duration;

pub struct Backoff {
    cfg: BackoffConfig,
    failures: u32,
}

impl Backoff {
    pub fn new(cfg: BackoffConfig) -> Self {
        Backoff { cfg, failures: 0 }
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base =
            self.cfg.initial.as_secs_f64() * self.cfg.multiplier.powi(self.failures.min(64) as i32);
        let base = base.min(self.cfg.max.as_secs_f64());
        self.failures = self.failures.saturating_add(1);
        let spread = base * self.cfg.jitter;
        let delay = if spread > 0.0 {
            base + rand::rng().random_range(-spread..=spread)
        } else {
            base
        };
        Duration::from_secs_f64(delay.clamp(0.0, self.cfg.max.as_secs_f64()))
    }

    /// Back to the initial delay, after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_max_within_jitter() {
        let mut b = Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.2,
        });
        let d: Vec<_> = (0..8).map(|_| b.next_delay().as_secs_f64()).collect();
        assert!((0.08..=0.12).contains(&d[0]), "{d:?}");
        assert!((0.16..=0.24).contains(&d[1]), "{d:?}");
        assert!(d[7] <= 1.0 && d[7] >= 0.8, "{d:?}");
        b.reset();
        assert!(b.next_delay().as_secs_f64() <= 0.12);
    }
}
