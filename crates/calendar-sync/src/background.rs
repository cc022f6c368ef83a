//! Calendar expansion as background work: it runs on its own thread at the
//! lowest scheduling priority, so that on a busy server the booking page's
//! requests take the CPU first, and its bound is counted in the CPU time it
//! used, so that being made to wait never cuts a calendar short.

use std::time::Duration;

/// The nice value of an expansion thread: the lowest priority an
/// unprivileged process may give itself.
#[cfg(target_os = "linux")]
const NICE: i32 = 19;

/// Runs `job` on a new thread of background priority and awaits its
/// answer; `None` when the thread could not start or `job` panicked.
pub(crate) async fn run<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_priority();
            // The receiver is gone only when the sync gave up waiting.
            let _unheard = answer.send(job());
        })
        .ok()?;
    answered.await.ok()
}

/// Lowers the calling thread's priority. On Linux a nice value belongs to a
/// thread, so the rest of the process keeps its own; elsewhere it would
/// apply to the whole process, so nothing is changed there.
fn lower_priority() {
    // A refusal costs only fairness, never correctness: the expansion then
    // runs at normal priority, still bounded by its CPU time.
    #[cfg(target_os = "linux")]
    let _refused = rustix::process::setpriority_process(None, NICE);
}

/// CPU time the calling thread has used so far (wall-clock time since the
/// first call where the platform offers no thread clock).
pub(crate) fn thread_cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        static FIRST: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        FIRST.get_or_init(std::time::Instant::now).elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn expansion_threads_run_at_background_priority_and_the_caller_keeps_its_own() {
        let caller = rustix::process::getpriority_process(None).unwrap();
        let inside = run("test-background", || {
            rustix::process::getpriority_process(None)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(inside, NICE);
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), caller);
    }

    #[tokio::test]
    async fn a_job_that_panics_answers_none_and_harms_no_one() {
        let answer: Option<()> = run("test-background", || panic!("a hostile calendar")).await;
        assert!(answer.is_none());
    }

    #[test]
    fn waiting_spends_no_cpu_time() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(300));
        let waited = thread_cpu_time().saturating_sub(before);
        assert!(waited < Duration::from_millis(100), "{waited:?}");
        // Working does: the clock reaches 50 ms of work however busy the
        // machine is (within a generous wall-clock bound).
        let spin = std::time::Instant::now();
        let mut n = 0u64;
        while thread_cpu_time().saturating_sub(before) < Duration::from_millis(150)
            && spin.elapsed() < Duration::from_secs(30)
        {
            n = std::hint::black_box(n.wrapping_add(1));
        }
        assert!(thread_cpu_time().saturating_sub(before) >= Duration::from_millis(150));
    }
}
