//! What the whole jailed tree uses, counted without cgroups: CPU time
//! (`cputime`) and resident memory (`maxmemory`), and which limit ended a
//! jail.
//!
//! Owns the table of the jail's live processes and the CPU time of those
//! that ended. The tracer, which sees every process start and end, keeps
//! the table (`Usage::process_started`, `Usage::process_exiting`,
//! `Usage::process_ended`); the watchdog thread polls it
//! ([`Usage::cpu`], [`Usage::memory`]). A process's CPU time comes from
//! `/proc/<pid>/stat` (`utime` + `stime`: every thread of it, those that
//! ended included, in clock ticks), its memory from `/proc/<pid>/status`
//! (`RssAnon` + `RssShmem`: the memory it allocated and touched, and the
//! shared memory it maps; not the file pages the kernel can drop and read
//! again).
//! A process's count only grows (the largest value seen is kept), and it
//! moves from the live table to the ended total in one step under the
//! lock, so a poll never counts one twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Which of the jail's own limits ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// `cputime`
    Cpu,
    /// `maxmemory`
    Memory,
    /// `outputlimit`
    Output,
}

/// The first [`LimitHit`] of a jail, set once by whoever enforces it
/// (before it kills the program).
#[derive(Debug, Default)]
pub struct Hit(AtomicU8);

impl Hit {
    /// Records `hit` unless another limit was hit first; says whether it
    /// was the first.
    pub fn set(&self, hit: LimitHit) -> bool {
        let value = match hit {
            LimitHit::Cpu => 1,
            LimitHit::Memory => 2,
            LimitHit::Output => 3,
        };
        self.0
            .compare_exchange(0, value, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    pub fn get(&self) -> Option<LimitHit> {
        match self.0.load(Ordering::SeqCst) {
            1 => Some(LimitHit::Cpu),
            2 => Some(LimitHit::Memory),
            3 => Some(LimitHit::Output),
            _ => None,
        }
    }
}

/// The live processes of one jail and the CPU time of those gone.
#[derive(Debug, Default)]
pub struct Usage {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Live processes by pid (thread-group id), with the most CPU time
    /// seen for each, in clock ticks.
    live: HashMap<i32, u64>,
    /// Clock ticks of the processes that ended.
    ended: u64,
}

/// The kernel's clock ticks per second (`USER_HZ`, 100 on every Linux
/// architecture the jail runs on), the unit of `/proc/<pid>/stat` times.
const TICKS_PER_SECOND: u64 = 100;

impl Usage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a poll panicked mid-way.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A process of the jail started (its pid is its thread-group id).
    pub(crate) fn process_started(&self, pid: i32) {
        self.lock().live.entry(pid).or_insert(0);
    }

    /// A thread of process `pid` is at its exit stop, still whole: its
    /// count is read now, as close to the end as it gets.
    pub(crate) fn process_exiting(&self, pid: i32) {
        if let Some(ticks) = cpu_ticks(pid) {
            self.seen(pid, ticks);
        }
    }

    /// Process `pid` is gone (its last thread reported dead): its last
    /// count moves to the ended total. A zombie that its parent has not
    /// reaped yet is read once more first.
    pub(crate) fn process_ended(&self, pid: i32) {
        if !self.lock().live.contains_key(&pid) {
            return;
        }
        let last = cpu_ticks(pid);
        let mut inner = self.lock();
        if let Some(seen) = inner.live.remove(&pid) {
            inner.ended = inner.ended.saturating_add(seen.max(last.unwrap_or(0)));
        }
    }

    fn seen(&self, pid: i32, ticks: u64) {
        if let Some(seen) = self.lock().live.get_mut(&pid) {
            *seen = (*seen).max(ticks);
        }
    }

    /// The CPU time of the whole tree: every live process read now, plus
    /// every process that ended.
    pub fn cpu(&self) -> Duration {
        let pids: Vec<i32> = self.lock().live.keys().copied().collect();
        for pid in pids {
            if let Some(ticks) = cpu_ticks(pid) {
                self.seen(pid, ticks);
            }
        }
        let inner = self.lock();
        let ticks = inner
            .live
            .values()
            .fold(inner.ended, |sum, ticks| sum.saturating_add(*ticks));
        ticks_to_duration(ticks)
    }

    /// The anonymous and shared memory every live process has resident,
    /// in bytes, read now (pages two processes share count in each).
    pub fn memory(&self) -> u64 {
        let pids: Vec<i32> = self.lock().live.keys().copied().collect();
        pids.into_iter()
            .filter_map(resident_bytes)
            .fold(0, u64::saturating_add)
    }

    /// How many processes are live.
    pub fn processes(&self) -> usize {
        self.lock().live.len()
    }
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_secs(ticks / TICKS_PER_SECOND)
        + Duration::from_millis((ticks % TICKS_PER_SECOND) * (1000 / TICKS_PER_SECOND))
}

/// `utime` + `stime` of process `pid` (all its threads, those that ended
/// included), from `/proc/<pid>/stat`.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = crate::procfs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

/// The command name (field 2) is in parentheses and may hold anything,
/// blanks and `)` included: fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // Field 3 (state) is the first after the name; utime and stime are
    // fields 14 and 15.
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// `RssAnon` + `RssShmem` of process `pid`, from `/proc/<pid>/status`, in
/// bytes. A zombie has neither line: nothing.
fn resident_bytes(pid: i32) -> Option<u64> {
    let status = crate::procfs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(parse_resident_bytes(&status))
}

fn parse_resident_bytes(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|line| {
            let value = line
                .strip_prefix("RssAnon:")
                .or_else(|| line.strip_prefix("RssShmem:"))?;
            let kib: u64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib.saturating_mul(1024))
        })
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let stat = "1234 (a) b) c) R 1 1234 1234 0 -1 4194304 100 0 0 0 250 31 0 0 20 0 4 0 99 \
                    1000 50 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("1 (x"), None);
        let status = "Name:\tx\nVmRSS:\t    9000 kB\nRssAnon:\t    4000 kB\nRssFile:\t    4900 kB\nRssShmem:\t     100 kB\n";
        assert_eq!(parse_resident_bytes(status), 4100 * 1024);
        assert_eq!(parse_resident_bytes("Name:\tzombie\nState:\tZ\n"), 0);
        assert_eq!(ticks_to_duration(281), Duration::from_millis(2810));
    }

    #[test]
    fn a_process_moves_from_live_to_ended_with_its_largest_count() {
        let usage = Usage::default();
        let own = std::process::id() as i32;
        usage.process_started(own);
        // Burn a little CPU so there is something to count.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let live = usage.cpu();
        assert!(live >= Duration::from_millis(10), "{live:?}");
        assert_eq!(usage.processes(), 1);
        assert!(usage.memory() > 0);
        usage.process_ended(own);
        assert_eq!(usage.processes(), 0);
        assert!(usage.cpu() >= live, "the count never shrinks");
        assert_eq!(usage.memory(), 0);
    }

    #[test]
    fn the_first_limit_hit_wins() {
        let hit = Hit::default();
        assert_eq!(hit.get(), None);
        assert!(hit.set(LimitHit::Cpu));
        assert!(!hit.set(LimitHit::Output));
        assert_eq!(hit.get(), Some(LimitHit::Cpu));
    }
}
