//! Threads that yield the CPU: blocking work run here gets whatever the
//! cores have left after everything else, because its threads run at a
//! lower scheduling priority (a higher nice value, LIST_NICENESS). Pages
//! of the directory run here, so a few clients paging cannot take the
//! cores that point reads need; with nothing else to do, they still get
//! every core.
//!
//! Knows nothing of HTTP or the database, and does not bound anything by
//! itself: queues and limits (the pool's listing share) stay where they
//! are. Priority is only lowered, never raised, so no privilege is needed.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// A blocking pool (tokio's, growing on demand up to `threads` and
/// letting idle threads go) whose threads run at `niceness`.
pub struct Yielding {
    // `Option` so that `drop` can hand the runtime to
    // `shutdown_background`: a runtime dropped in place blocks, and the
    // context may be dropped on an async worker.
    runtime: Option<Runtime>,
}

impl Yielding {
    /// `niceness` 0 leaves priority as it is (1 to 19: lower and lower).
    pub fn new(threads: usize, niceness: i32) -> std::io::Result<Self> {
        let runtime = Builder::new_current_thread()
            .max_blocking_threads(threads.max(1))
            .thread_name("portrait-yielding")
            .on_thread_start(move || lower_priority(niceness))
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on one of the pool's threads; the answer is `None` if
    /// the work panicked.
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Option<T>> {
        let handle = self
            .runtime
            .as_ref()
            .map(|runtime| runtime.handle().spawn_blocking(work));
        async move {
            match handle {
                Some(handle) => handle.await.ok(),
                None => None,
            }
        }
    }
}

impl Drop for Yielding {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's priority: on Linux the nice value belongs
/// to the thread, so only this pool's threads yield.
fn lower_priority(niceness: i32) {
    if niceness <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take plain integers and touch
        // no memory of ours.
        let failed = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, niceness) != 0
        };
        if failed {
            tracing::warn!(
                niceness,
                error = %std::io::Error::last_os_error(),
                "could not lower the priority of a listing thread; it runs at normal priority"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    fn own_niceness() -> i32 {
        // SAFETY: as above.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn work_runs_at_the_lower_priority_and_the_caller_keeps_its_own() {
        let before = own_niceness();
        let pool = Yielding::new(2, 10).expect("runtime");
        let inside = pool.run(own_niceness).await;
        assert_eq!(inside, Some((before + 10).min(19)));
        assert_eq!(own_niceness(), before);
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_none_and_the_pool_goes_on() {
        let pool = Yielding::new(1, 0).expect("runtime");
        assert_eq!(pool.run(|| -> i32 { panic!("boom") }).await, None);
        assert_eq!(pool.run(|| 7).await, Some(7));
    }
}
