//! Clocks the engine reads itself.

/// CPU time consumed by the calling thread, in nanoseconds; `None` where the OS has no such clock.
pub fn thread_cpu_time_ns() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec for the duration of the call.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        if status != 0 {
            return None;
        }
        let seconds = u64::try_from(now.tv_sec).ok()?;
        let nanos = u64::try_from(now.tv_nsec).ok()?;
        Some(seconds * 1_000_000_000 + nanos)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// CPU time consumed so far by thread `tid` of this process (a Linux thread id), in
/// nanoseconds; `None` when the thread is gone or the OS cannot tell.
///
/// The clock id is the one `pthread_getcpuclockid` builds from a thread's tid (glibc's
/// `MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`): the kernel reads that thread's scheduler
/// runtime, exactly what `CLOCK_THREAD_CPUTIME_ID` gives the thread itself.
pub fn thread_cpu_time_of(tid: i32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        if tid <= 0 {
            return None;
        }
        const CPUCLOCK_PERTHREAD: libc::clockid_t = 4;
        const CPUCLOCK_SCHED: libc::clockid_t = 2;
        let clock = ((!tid) << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED;
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec; an unknown clock id only makes the call fail.
        let status = unsafe { libc::clock_gettime(clock, &mut now) };
        if status != 0 {
            return None;
        }
        let seconds = u64::try_from(now.tv_sec).ok()?;
        let nanos = u64::try_from(now.tv_nsec).ok()?;
        Some(seconds * 1_000_000_000 + nanos)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        None
    }
}

/// The Linux thread id of the calling thread, or -1 elsewhere.
pub fn current_tid() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading from outside is bracketed by two readings of the thread itself: exact,
    /// whatever the machine's load.
    #[test]
    fn another_threads_cpu_time_is_read_by_its_tid() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            let begin = std::time::Instant::now();
            let mut x = 0u64;
            while begin.elapsed().as_millis() < 40 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            tx.send((current_tid(), thread_cpu_time_ns().unwrap())).unwrap();
            done_rx.recv().unwrap();
            thread_cpu_time_ns().unwrap()
        });
        let (tid, before) = rx.recv().unwrap();
        let from_outside = thread_cpu_time_of(tid).unwrap();
        done_tx.send(()).unwrap();
        let after = worker.join().unwrap();
        assert!(before <= from_outside && from_outside <= after, "{before} <= {from_outside} <= {after}");
        assert!(before > 5_000_000, "the worker spun: {before} ns");
        assert_eq!(thread_cpu_time_of(tid), None, "a thread that ended has no clock");
        assert_eq!(thread_cpu_time_of(-3), None);
    }

    #[test]
    fn thread_cpu_time_advances_with_work_not_with_sleep() {
        let start = thread_cpu_time_ns().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let after_sleep = thread_cpu_time_ns().unwrap();
        let begin = std::time::Instant::now();
        let mut x = 0u64;
        // Spin until the clock shows 5 ms of work: a loaded machine only makes that take longer.
        while thread_cpu_time_ns().unwrap() - after_sleep < 5_000_000 && begin.elapsed().as_secs() < 10 {
            for _ in 0..10_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        let after_work = thread_cpu_time_ns().unwrap();
        let worked_wall = begin.elapsed().as_nanos() as u64;
        assert!(after_sleep - start < 10_000_000, "sleeping used {} ns", after_sleep - start);
        let worked_cpu = after_work - after_sleep;
        assert!(worked_cpu >= 5_000_000 && worked_cpu <= worked_wall + 1_000_000, "working used {worked_cpu} ns of {worked_wall}");
    }
}
