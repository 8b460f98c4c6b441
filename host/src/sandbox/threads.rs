//! Where plugin steps run: the plugin threads ([`PluginThreads`]), or the caller's thread
//! while a call is alone and its plugin's steps are short.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

/// The threads plugin steps run on: a tokio runtime of their own, so a plugin that computes
/// or loops until its budget never holds the threads that accept connections, answer health
/// checks and talk to vendors. Steps yield at each epoch tick, so those waiting take turns.
///
/// Handing a step to an idle thread and back costs two thread wake-ups, which on a virtual
/// machine are tens of microseconds each (more than a step's own work): when its call is the
/// only one in progress and no step is on these threads, a step starts on the caller's thread
/// instead and is moved here at the first
/// epoch tick after it has run for a whole tick (`runtime.epoch_tick_ms`; so it holds the
/// caller's thread for two ticks at most); the plugin's next [`LONG_STEPS`] steps then come
/// here directly.
pub(crate) struct PluginThreads {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// Steps on these threads now, waiting or running.
    busy: Arc<AtomicUsize>,
}

/// Steps of a plugin sent straight to the plugin threads after one of its steps ran a whole
/// epoch tick on a caller's thread: a plugin that loops holds a caller's thread for two ticks at most
/// in this many steps.
const LONG_STEPS: u32 = 64;

/// A plugin version's record of long steps: how many of its next steps go straight to the
/// plugin threads because one of them ran a whole tick on a caller's thread.
#[derive(Debug, Default)]
pub(crate) struct LongSteps(AtomicU32);

impl LongSteps {
    /// Whether this step may start on the caller's thread; one fewer step owed to the plugin
    /// threads when not.
    pub(crate) fn may_start_here(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err()
    }

    /// Where a step ran: a move sends the next [`LONG_STEPS`] steps to the plugin threads.
    pub(crate) fn ran_on(&self, ran_on: RanOn) {
        if ran_on == RanOn::Moved {
            self.0.store(LONG_STEPS, Ordering::Relaxed);
        }
    }
}

/// Counts one of something in progress on an atomic counter, until dropped (however the work
/// ends: done, failed or cancelled).
pub(crate) struct InProgress<C: Deref<Target = AtomicUsize>>(C);

impl<C: Deref<Target = AtomicUsize>> InProgress<C> {
    pub(crate) fn enter(counter: C) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl<C: Deref<Target = AtomicUsize>> Drop for InProgress<C> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RanOn {
    /// On the caller's thread, start to end.
    Caller,
    /// Started on the caller's thread, moved to the plugin threads at its first yield.
    Moved,
    /// On the plugin threads.
    PluginThreads,
}

impl PluginThreads {
    pub(super) fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("ingest-plugin")
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            busy: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs the step `work`: on the caller's thread while `may_start_here` and no step is on
    /// the plugin threads, moved there once it has run `tick` there and yields; otherwise
    /// there. Its result and where it ran, or an error when the runtime is shutting down.
    pub(crate) async fn run<F>(
        &self,
        work: F,
        may_start_here: bool,
        tick: Duration,
    ) -> Result<(F::Output, RanOn), tokio::task::JoinError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        use std::task::Poll;
        let mut work = Box::pin(work);
        let mut ran_on = RanOn::PluginThreads;
        if may_start_here && self.busy.load(Ordering::Relaxed) == 0 {
            // A tick that lands inside a short step makes it yield too: it goes on here.
            let started = std::time::Instant::now();
            let here = std::future::poll_fn(|cx| match work.as_mut().poll(cx) {
                Poll::Ready(out) => Poll::Ready(Some(out)),
                Poll::Pending if started.elapsed() >= tick => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            })
            .await;
            match here {
                Some(out) => return Ok((out, RanOn::Caller)),
                None => ran_on = RanOn::Moved,
            }
        }
        let on_threads = InProgress::enter(self.busy.clone());
        let out = self
            .handle
            .spawn(async move {
                let _on_threads = on_threads;
                work.await
            })
            .await?;
        Ok((out, ran_on))
    }
}

impl Drop for PluginThreads {
    fn drop(&mut self) {
        // Dropped wherever the gateway is, an async context included: no blocking wait. A
        // step still running ends at its budget.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_plugin_thread() -> bool {
        std::thread::current().name() == Some("ingest-plugin")
    }

    /// Yields until it has run `for_` (as a step yields at each epoch tick), then answers
    /// whether it started and ended on a plugin thread.
    async fn step(for_: Duration) -> (bool, bool) {
        let started = std::time::Instant::now();
        let first = on_plugin_thread();
        while started.elapsed() < for_ {
            tokio::task::yield_now().await;
        }
        (first, on_plugin_thread())
    }

    #[test]
    fn a_moved_step_sends_the_next_ones_straight_to_the_plugin_threads() {
        let long = LongSteps::default();
        assert!(long.may_start_here());
        long.ran_on(RanOn::Caller);
        long.ran_on(RanOn::PluginThreads);
        assert!(long.may_start_here());
        long.ran_on(RanOn::Moved);
        for i in 0..LONG_STEPS {
            assert!(!long.may_start_here(), "step {i} after the move");
        }
        assert!(long.may_start_here());
    }

    #[tokio::test]
    async fn a_short_step_of_a_lone_call_runs_on_the_callers_thread() {
        let threads = PluginThreads::new(1).expect("threads");
        let tick = Duration::from_millis(50);
        let ((first, last), ran_on) = threads
            .run(step(Duration::ZERO), true, tick)
            .await
            .expect("ran");
        assert_eq!(ran_on, RanOn::Caller);
        assert!(!first && !last);
        // A step that yields (a tick landed in it) but ends within a tick stays too.
        let ((first, last), ran_on) = threads
            .run(step(Duration::from_millis(5)), true, tick)
            .await
            .expect("ran");
        assert_eq!(ran_on, RanOn::Caller);
        assert!(!first && !last);
    }

    #[tokio::test]
    async fn a_step_that_runs_a_whole_tick_is_moved_to_the_plugin_threads() {
        let threads = PluginThreads::new(1).expect("threads");
        let tick = Duration::from_millis(20);
        let ((first, last), ran_on) = threads
            .run(step(Duration::from_millis(100)), true, tick)
            .await
            .expect("ran");
        assert_eq!(ran_on, RanOn::Moved);
        assert!(!first, "it started on the caller's thread");
        assert!(last, "it ended on a plugin thread");
        assert_eq!(threads.busy.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn steps_go_to_the_plugin_threads_when_not_allowed_here_or_when_they_are_busy() {
        let threads = Arc::new(PluginThreads::new(1).expect("threads"));
        let tick = Duration::from_millis(50);
        let ((first, _), ran_on) = threads
            .run(step(Duration::ZERO), false, tick)
            .await
            .expect("ran");
        assert_eq!(ran_on, RanOn::PluginThreads);
        assert!(first);
        // One step on the plugin threads: the next goes there too, allowed here or not.
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let threads = threads.clone();
            tokio::spawn(async move {
                threads
                    .run(async move { hold.await.ok() }, false, tick)
                    .await
            })
        };
        while threads.busy.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        let ((first, _), ran_on) = threads
            .run(step(Duration::ZERO), true, tick)
            .await
            .expect("ran");
        assert_eq!(ran_on, RanOn::PluginThreads);
        assert!(first);
        release.send(()).expect("holder waits");
        holder.await.expect("joined").expect("ran");
        assert_eq!(threads.busy.load(Ordering::Relaxed), 0);
    }
}
