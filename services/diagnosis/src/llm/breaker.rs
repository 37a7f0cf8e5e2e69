//! A circuit breaker for the LLM endpoint: after `threshold` failed calls
//! in a row it opens and refuses at once for `cooldown`, then lets one trial
//! call through (half-open); the trial's outcome closes or reopens it.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go out now; an open breaker says for how long it
    /// stays open.
    pub fn allow(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Ok(())
            }
            State::Open { until } => Err(until - now),
            // One trial at a time.
            State::HalfOpen => Err(Duration::ZERO),
        }
    }

    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub fn failure(&self, now: Instant) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cooldown,
            },
        };
        if matches!(*state, State::Open { .. }) {
            metrics::counter!("cg_diagnosis_llm_breaker_opened_total").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_the_threshold_and_closes_after_a_good_trial() {
        let b = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        b.failure(t0);
        assert!(b.allow(t0).is_ok(), "one failure is below the threshold");
        b.failure(t0);
        assert!(b.allow(t0).is_err(), "open");
        let later = t0 + Duration::from_secs(11);
        assert!(b.allow(later).is_ok(), "half-open lets one trial through");
        assert!(b.allow(later).is_err(), "but only one");
        b.success();
        assert!(
            b.allow(later).is_ok() && b.allow(later).is_ok(),
            "closed again"
        );
    }

    #[test]
    fn a_failed_trial_reopens_the_breaker() {
        let b = Breaker::new(1, Duration::from_secs(5));
        let t0 = Instant::now();
        b.failure(t0);
        let later = t0 + Duration::from_secs(6);
        assert!(b.allow(later).is_ok());
        b.failure(later);
        assert!(b.allow(later + Duration::from_secs(1)).is_err());
    }
}
