//! Clocks: the one a session's times are measured on, and those the engine reads itself.

/// The clock a session's times are measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Clock {
    Wall = 1,
    Cpu = 2,
}

impl Clock {
    pub const ALL: [Clock; 2] = [Clock::Wall, Clock::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Cpu => "cpu",
        }
    }

    pub fn named(name: &str) -> Option<Clock> {
        Clock::ALL.into_iter().find(|clock| clock.name() == name)
    }

    /// [`Clock::named`], with an error that says what is allowed.
    pub fn parse(name: &str) -> Result<Clock, UnknownClock> {
        Clock::named(name).ok_or_else(|| UnknownClock(name.to_owned()))
    }

    pub(crate) fn from_code(code: u8) -> Option<Clock> {
        Clock::ALL.into_iter().find(|&clock| clock as u8 == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownClock(pub String);

impl std::fmt::Display for UnknownClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "clock must be 'wall' or 'cpu', not '{}'", self.0)
    }
}

impl std::error::Error for UnknownClock {}

/// Microseconds of the monotonic clock V8 stamps its samples with (`process.hrtime`'s on
/// Linux and macOS); `None` where it cannot be read.
pub fn monotonic_us() -> Option<i64> {
    #[cfg(unix)]
    {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec for the duration of the call.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
            return None;
        }
        Some(i64::from(now.tv_sec).saturating_mul(1_000_000).saturating_add(i64::from(now.tv_nsec) / 1000))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

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
