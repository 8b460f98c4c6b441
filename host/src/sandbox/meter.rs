//! The CPU time of one step: what its thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) advanced
//! while the step held it, read when the step starts, at each epoch tick and each time it gets
//! a thread back after yielding.
//!
//! A step is preempted by the kernel and kept waiting by other steps on a loaded machine; wall
//! time would count that against the plugin (a 5 ms plugin tripping a 100 ms budget), the CPU
//! clock does not. A step that moved to another thread between two readings (the clocks are
//! per thread) is counted by wall time for that stretch, which never undercounts a runaway.
//! Without a thread CPU clock (not unix) every stretch is wall time.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Where the step's current stretch began.
#[derive(Debug, Clone, Copy)]
struct Mark {
    thread: ThreadId,
    cpu: Option<Duration>,
    wall: Instant,
}

impl Mark {
    /// Where a step will begin: no clock read yet (the CPU clock is a system call, ~0.6 µs
    /// here); the code that runs the step marks its start on its own thread.
    fn unstarted() -> Self {
        Self {
            thread: std::thread::current().id(),
            cpu: None,
            wall: Instant::now(),
        }
    }

    fn now() -> Self {
        Self {
            thread: std::thread::current().id(),
            cpu: thread_cpu(),
            wall: Instant::now(),
        }
    }

    /// The time from this mark to `now`: CPU time on the same thread, else wall time.
    fn until(&self, now: &Mark) -> Duration {
        match (self.cpu, now.cpu) {
            (Some(from), Some(to)) if self.thread == now.thread => to.saturating_sub(from),
            _ => now.wall.saturating_duration_since(self.wall),
        }
    }
}

#[derive(Debug)]
struct Inner {
    mark: Mark,
    ran: Duration,
}

/// The CPU time a step has run, shared by its store's tick callback and the code that starts
/// the step. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct StepMeter(Arc<Mutex<Inner>>);

impl Default for StepMeter {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Inner {
            mark: Mark::unstarted(),
            ran: Duration::ZERO,
        })))
    }
}

impl StepMeter {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The step begins (or goes on) on this thread now; what ran before still counts.
    pub(crate) fn resume(&self) {
        let now = Mark::now();
        self.with(|m| m.mark = now);
    }

    /// A new step begins on this thread now, with nothing counted yet (an instance held
    /// across a call's steps: each step has a budget of its own).
    pub(crate) fn restart(&self) {
        let now = Mark::now();
        self.with(|m| {
            m.mark = now;
            m.ran = Duration::ZERO;
        });
    }

    /// Adds the stretch since the last mark and returns the total.
    pub(crate) fn tick(&self) -> Duration {
        let now = Mark::now();
        self.with(|m| {
            m.ran += m.mark.until(&now);
            m.mark = now;
            m.ran
        })
    }
}

/// The calling thread's CPU time, if the platform has a per-thread clock.
#[cfg(unix)]
fn thread_cpu() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

#[cfg(not(unix))]
fn thread_cpu() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(for_: Duration) {
        let t = Instant::now();
        while t.elapsed() < for_ {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    #[cfg(unix)]
    fn sleeping_is_not_counted_and_computing_is() {
        let meter = StepMeter::default();
        meter.resume();
        std::thread::sleep(Duration::from_millis(60));
        let slept = meter.tick();
        assert!(
            slept < Duration::from_millis(20),
            "60 ms asleep counted as {slept:?} of CPU"
        );
        spin(Duration::from_millis(30));
        let ran = meter.tick();
        // Spinning 30 ms of wall time is at most 30 ms of CPU, and at least some of it even
        // on a machine busy with other work.
        assert!(
            ran > slept && ran <= slept + Duration::from_millis(35),
            "30 ms spinning counted as {:?}",
            ran - slept
        );
    }

    #[test]
    fn another_thread_counts_wall_time_from_the_mark() {
        let meter = StepMeter::default();
        meter.resume();
        std::thread::sleep(Duration::from_millis(40));
        let other = meter.clone();
        let ran = std::thread::spawn(move || other.tick())
            .join()
            .expect("thread");
        assert!(ran >= Duration::from_millis(40), "{ran:?}");
    }
}
