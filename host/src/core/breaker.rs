//! The circuit breaker of one provider: after `failure.unhealthy_after` plugin faults in a
//! row the provider is unhealthy and calls are answered `unavailable` at once, except one
//! trial call after a backoff (1 s, doubling to at most 60 s). A call that does not fault
//! closes the breaker again. Time comes from a [`Clock`](crate::clock::Clock), so the
//! schedule is tested without waiting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::SharedClock;

/// First and longest wait before a trial call to an unhealthy provider.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    consecutive_faults: u32,
    /// Set while open: no call before this instant except the one trial.
    next_trial: Option<Instant>,
    backoff: Duration,
}

/// Why a call was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Open {
    /// Faults in a row so far.
    pub(crate) consecutive_faults: u32,
    /// Time until the next trial.
    pub(crate) next_trial_in: Duration,
}

/// One provider's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    unhealthy_after: u32,
    clock: SharedClock,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker that opens after `unhealthy_after` faults in a row.
    pub(crate) fn new(unhealthy_after: u32, clock: SharedClock) -> Self {
        Self {
            unhealthy_after,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the breaker is closed (the provider is healthy).
    pub(crate) fn closed(&self) -> bool {
        self.state().next_trial.is_none()
    }

    /// Whether a call may go now. While open and before the next trial: no. At the trial
    /// time: this one call goes, and the others wait another backoff until it reports.
    pub(crate) fn admit(&self) -> Result<(), Open> {
        let mut s = self.state();
        let Some(next) = s.next_trial else {
            return Ok(());
        };
        let now = self.clock.now();
        if now >= next {
            s.next_trial = Some(now + s.backoff);
            return Ok(());
        }
        Err(Open {
            consecutive_faults: s.consecutive_faults,
            next_trial_in: next - now,
        })
    }

    /// Records a call's outcome; returns whether the breaker opened or closed.
    pub(crate) fn record(&self, faulted: bool) -> bool {
        let mut s = self.state();
        let was_closed = s.next_trial.is_none();
        if faulted {
            s.consecutive_faults = s.consecutive_faults.saturating_add(1);
            if s.consecutive_faults >= self.unhealthy_after {
                s.backoff = if was_closed {
                    FIRST_BACKOFF
                } else {
                    (s.backoff * 2).min(MAX_BACKOFF)
                };
                s.next_trial = Some(self.clock.now() + s.backoff);
            }
        } else {
            *s = State::default();
        }
        was_closed != s.next_trial.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn breaker(after: u32) -> (Breaker, std::sync::Arc<ManualClock>) {
        let clock = ManualClock::new(0);
        (Breaker::new(after, clock.clone()), clock)
    }

    #[test]
    fn opens_after_the_configured_faults_in_a_row() {
        let (b, _) = breaker(3);
        assert!(!b.record(true));
        assert!(!b.record(false), "a success resets the count");
        assert!(!b.record(true));
        assert!(!b.record(true));
        assert!(b.closed());
        assert!(b.record(true), "the third fault in a row opens it");
        assert!(!b.closed());
        let open = b.admit().expect_err("open");
        assert_eq!(open.consecutive_faults, 3);
        assert_eq!(open.next_trial_in, FIRST_BACKOFF);
    }

    #[test]
    fn one_trial_after_the_backoff_and_the_others_wait() {
        let (b, clock) = breaker(1);
        b.record(true);
        clock.advance(FIRST_BACKOFF - Duration::from_millis(1));
        assert!(b.admit().is_err(), "before the backoff: refused");
        clock.advance(Duration::from_millis(1));
        assert!(b.admit().is_ok(), "the trial goes");
        let other = b.admit().expect_err("a second caller waits for the trial");
        assert_eq!(other.next_trial_in, FIRST_BACKOFF);
    }

    #[test]
    fn a_failed_trial_doubles_the_backoff_up_to_the_cap() {
        let (b, clock) = breaker(1);
        b.record(true);
        let mut expected = FIRST_BACKOFF;
        for _ in 0..10 {
            clock.advance(expected);
            assert!(b.admit().is_ok(), "trial after {expected:?}");
            assert!(!b.record(true), "still open");
            expected = (expected * 2).min(MAX_BACKOFF);
            assert_eq!(b.admit().expect_err("open").next_trial_in, expected);
        }
        assert_eq!(expected, MAX_BACKOFF);
    }

    #[test]
    fn a_successful_trial_closes_it() {
        let (b, clock) = breaker(2);
        b.record(true);
        b.record(true);
        clock.advance(FIRST_BACKOFF);
        assert!(b.admit().is_ok());
        assert!(b.record(false), "recovery is a change");
        assert!(b.closed());
        assert!(b.admit().is_ok());
        assert!(!b.record(true), "the count starts again from zero");
    }
}
