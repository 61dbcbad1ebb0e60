//! Where a command's threads run.
//!
//! A command (`onit import`, `compliance`, `digest`, …) is one conversation
//! with the database, statement after statement. On SQLite each statement is
//! handed to the connection's own thread (sqlx runs SQLite there) and each row
//! and the answer handed back: the two threads wake each other several times
//! per statement. When they sit on different CPUs every wake-up is an
//! inter-processor interrupt, on a virtual machine an exit to the hypervisor,
//! and the conversation's pace is that, not SQLite's. Measured on this
//! project's 2-core VM (issue 17): `onit import` of 10,000 mails into SQLite took
//! 5.4–5.9 s with its threads free to move and 1.6 s kept on one CPU, the same
//! work; `perf` put 54 % of the free run's samples in futex wake-ups and the
//! context switches after them.
//!
//! So a command keeps all its threads on the CPU it started on. Not the daemon:
//! its tasks are concurrent and live for months, and a CPU chosen at start may
//! be the one another process loads later (the kernel could not move it off).

/// Keeps this thread, and every thread it creates from now on (they inherit its
/// affinity), on the CPU it runs on now. Call before any other thread exists:
/// threads already running keep theirs. Does nothing (false) when the process
/// may use one CPU only already, or off Linux.
pub fn stay_on_this_cpu() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu reads the calling thread's CPU; cpu_set_t is plain
        // data that CPU_ZERO/CPU_SET/CPU_COUNT fill and read within its size, and
        // sched_{get,set}affinity(0, …) read or change the calling thread's mask only.
        unsafe {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size, &mut allowed) != 0 || libc::CPU_COUNT(&allowed) <= 1
            {
                return false;
            }
            let cpu = libc::sched_getcpu();
            if cpu < 0 || !libc::CPU_ISSET(cpu as usize, &allowed) {
                return false;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_ZERO(&mut one);
            libc::CPU_SET(cpu as usize, &mut one);
            libc::sched_setaffinity(0, size, &one) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn allowed_cpus() -> usize {
        // SAFETY: as above, reading the calling thread's mask.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            libc::CPU_COUNT(&set) as usize
        }
    }

    #[test]
    fn a_thread_and_those_it_starts_stay_on_one_cpu() {
        // On a thread of its own: the test harness's threads keep their masks.
        std::thread::spawn(|| {
            let before = allowed_cpus();
            let pinned = stay_on_this_cpu();
            assert_eq!(
                pinned,
                before > 1,
                "pinned only when more than one CPU was allowed"
            );
            assert_eq!(allowed_cpus(), 1);
            let child = std::thread::spawn(allowed_cpus).join().unwrap();
            assert_eq!(child, 1, "a thread started afterwards inherits the one CPU");
            // Asked again, there is nothing left to narrow.
            assert!(!stay_on_this_cpu());
        })
        .join()
        .unwrap();
    }
}
