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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_time_advances_with_work_not_with_sleep() {
        let start = thread_cpu_time_ns().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let after_sleep = thread_cpu_time_ns().unwrap();
        let begin = std::time::Instant::now();
        let mut x = 0u64;
        while begin.elapsed().as_millis() < 30 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let after_work = thread_cpu_time_ns().unwrap();
        let worked_wall = begin.elapsed().as_nanos() as u64;
        assert!(after_sleep - start < 10_000_000, "sleeping used {} ns", after_sleep - start);
        // Other tests share the cores, so this thread gets some, not all, of the wall time.
        let worked_cpu = after_work - after_sleep;
        assert!(worked_cpu > 2_000_000 && worked_cpu <= worked_wall + 1_000_000, "working used {worked_cpu} ns of {worked_wall}");
    }
}
