//! One traced thread as the tracer knows it: where it is in its life
//! ([`Stage`]), in a syscall the tracer changed ([`InSyscall`]), and in a
//! clone it made ([`PendingClone`]), each a state of its own rather than
//! a set of flags that must agree; besides these, what the tracer caches
//! about it (thread group, address space, scratch slot, `maps`).

use crate::arch::native::Regs;
use crate::tracer::exec;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Attached automatically (a clone's child), its first stop not yet
    /// seen. A child of a rewritten `clone3` gets the program's own first
    /// argument back then: it started with the parent's registers, which
    /// pointed at the jail's copy.
    Starting {
        restore_first_argument: Option<u64>,
    },
    Running,
    /// It has exec'd: its address space is its own, whatever its parent's
    /// clone event (which may come later) says of the parent's.
    Execed,
}

/// Where a task is in a syscall the tracer changed.
#[derive(Debug, Default)]
pub(super) enum InSyscall {
    /// In none (or in one running as the program made it).
    #[default]
    Free,
    /// Running the `mmap` that creates the scratch region in place of its
    /// own syscall, which is re-run at the exit stop.
    Mapping { saved: Regs },
    /// The prepared process of a template, running the fork of a copy
    /// in place of its wakeup (saved), to which it is rewound at the exit.
    Forking { saved: Regs },
    /// Running a rewritten syscall; `original` comes back at its exit,
    /// `held` stays open and `lent` stays with the keeper until then.
    Rewritten {
        original: Regs,
        held: Vec<OwnedFd>,
        lent: Vec<crate::keeper::Lent>,
        /// See [`crate::tracer::answer::Rewrite::same_socket`].
        same_socket: Option<(i32, crate::policy::network::SocketKind)>,
        /// See [`crate::tracer::answer::Rewrite::charge`].
        charge: Option<crate::tracer::answer::Charge>,
    },
}

/// A clone the task made that has not produced its task yet: it holds a
/// `maxthreads` reservation (and, for `CLONE_VM`, a place in the address
/// space) until then or until the call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingClone {
    /// The clone's effective flags (a fork's are 0).
    pub flags: u64,
    /// A rewritten `clone3`: the program's own first argument, which the
    /// new task must get back.
    pub clone3_argument: Option<u64>,
}

/// One traced thread.
#[derive(Debug)]
pub(super) struct Task {
    pub stage: Stage,
    pub in_syscall: InSyscall,
    pub clone: Option<PendingClone>,
    /// Its scratch slot, once it needed one.
    pub slot: Option<super::scratch::Slot>,
    /// Its address space has the scratch region mapped.
    pub scratch_ready: bool,
    /// Thread-group id, looked up when a path needs it (`/proc/self`).
    pub tgid: Option<Pid>,
    /// Its address space ([`super::spaces::AddressSpaces`]); `None` while
    /// unknown.
    pub space: Option<u64>,
    /// Its `/proc/<tid>/maps`, opened on first need.
    pub maps: Option<std::fs::File>,
    /// It made `io_setup` before its address space was known: the space
    /// is marked as soon as it is.
    pub async_io_pending: bool,
    /// It shares its working directory with another process (`CLONE_FS`
    /// without `CLONE_THREAD`, on either side): its paths always get copies.
    pub shares_fs: bool,
    /// The files its last exec check judged (program, interpreters,
    /// loader), by identity, for the check at the exec event.
    pub exec_judged: Vec<exec::Identity>,
    /// What that check read from files it may remember, remembered at the
    /// exec event ([`crate::tracer::interpreters::Pending`]).
    pub exec_pending: Vec<crate::tracer::interpreters::Pending>,
    /// The template run it belongs to (`None`: the prepared process, or
    /// a jail that is no template).
    pub run: Option<u64>,
    /// A copy's first stop came before its fork event: it waits.
    pub held_first_stop: bool,
    /// A copy being given its stdio.
    pub injection: Option<Box<super::template::Injection>>,
    /// It stays in its seccomp stop until this copier ends
    /// ([`super::copier`]).
    pub waits_for_copy: Option<Pid>,
    /// Copies its current call has waited for.
    pub copies_waited: u8,
}

impl Task {
    /// The task the jail starts with, or one it learns of by its parent's
    /// clone event before its first stop.
    pub fn running() -> Task {
        Task {
            stage: Stage::Running,
            in_syscall: InSyscall::Free,
            clone: None,
            slot: None,
            scratch_ready: false,
            tgid: None,
            space: None,
            maps: None,
            async_io_pending: false,
            shares_fs: false,
            exec_judged: Vec::new(),
            exec_pending: Vec::new(),
            run: None,
            held_first_stop: false,
            injection: None,
            waits_for_copy: None,
            copies_waited: 0,
        }
    }

    /// A task attached automatically, not yet seen its first stop.
    pub fn starting() -> Task {
        Task {
            stage: Stage::Starting {
                restore_first_argument: None,
            },
            ..Task::running()
        }
    }
}

/// Hashes the tracer's maps keyed by small integers (task ids, address
/// space numbers), asked several times per stop: one multiplication
/// where SipHash took a fifth of a microsecond per stop. Resistance to
/// chosen keys buys nothing here: the kernel hands out the task ids and
/// the tracer the space numbers, and a program that cycled through pids
/// to make them collide would only slow its own jail.
#[derive(Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_i32(&mut self, value: i32) {
        self.write_u64(u64::from(value as u32));
    }

    fn write_u64(&mut self, value: u64) {
        // Fibonacci hashing: every input bit reaches the high bits (the
        // table's tags), and distinct low bits stay distinct.
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by task ids or address-space numbers.
pub(super) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;
/// A set of them.
pub(super) type IdSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_spread_over_the_table() {
        let mut tasks: IdMap<Pid, u32> = IdMap::default();
        for tid in 1..5000 {
            tasks.insert(Pid::from_raw(tid), tid as u32);
        }
        assert!((1..5000).all(|tid| tasks.get(&Pid::from_raw(tid)) == Some(&(tid as u32))));
        let tags: std::collections::HashSet<u64> = (1..5000)
            .map(|tid| {
                let mut hasher = IdHasher::default();
                std::hash::Hash::hash(&Pid::from_raw(tid), &mut hasher);
                std::hash::Hasher::finish(&hasher) >> 57
            })
            .collect();
        assert_eq!(tags.len(), 128, "every 7-bit tag in use");
    }
}
