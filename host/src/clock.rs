//! Time, behind a trait the tests can drive.
//!
//! The breaker's trial and backoff and the call timestamps read the time through a
//! [`Clock`]; production uses [`SystemClock`], tests a [`ManualClock`] they move forward by
//! hand, so a 60-second backoff is checked in microseconds. Sleeps (webhook retries) use
//! tokio's timer, which tests pause and advance (`tokio::time::pause`).

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// A monotonic instant, for durations and deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time, Unix milliseconds (0 before 1970).
    fn unix_ms(&self) -> u64;
}

/// The process's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    state: Mutex<(Duration, u64)>,
}

impl ManualClock {
    /// A clock standing at `unix_ms`.
    pub fn new(unix_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            state: Mutex::new((Duration::ZERO, unix_ms)),
        })
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += by;
        s.1 =
            s.1.saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    fn unix_ms(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// The clock every part of the gateway shares.
pub type SharedClock = Arc<dyn Clock>;

/// The production clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(1_000);
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.now() - t0, Duration::from_secs(60));
        assert_eq!(clock.unix_ms(), 61_000);
    }
}
