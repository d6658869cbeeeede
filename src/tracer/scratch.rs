//! Scratch memory: where the kernel reads the arguments the jail checked.
//!
//! A tracer decides on its own copy of a path while the program keeps
//! running; if the kernel then read the program's buffer, another thread
//! could change it in between. So every allowed argument the kernel reads
//! from memory is written into a region of the program's address space that
//! the program cannot write (mapped read-only; the tracer writes through
//! `/proc/<pid>/mem`, which may), and the syscall's register is pointed
//! there. The seccomp filter stops every `mmap`, `munmap`, `mprotect`,
//! `mremap` and `madvise` that could touch the region, and the
//! tracer refuses those that do, so the program can neither unmap it nor
//! make it writable.
//!
//! The region is mapped lazily, once per address space, by making the
//! stopped thread run an `mmap` in place of its syscall and then re-run its
//! own. Each task owns one slot of the region for as long as it lives, so
//! two threads sharing memory never write over each other's arguments.

use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::unix::fs::FileExt;

pub use crate::syscall::{SCRATCH_BASE as BASE, SCRATCH_END as END};
const PAGE: u64 = 4096;
/// Per slot: two paths of `PATH_MAX` and one page for a struct.
pub const SLOT_SIZE: u64 = 3 * PAGE;
const SLOTS: usize = ((END - BASE) / SLOT_SIZE) as usize;

/// Where in a slot an argument goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    FirstPath,
    SecondPath,
    Struct,
}

/// The address of `part` of `slot`.
pub fn address(slot: usize, part: Part) -> u64 {
    let offset = match part {
        Part::FirstPath => 0,
        Part::SecondPath => PAGE,
        Part::Struct => 2 * PAGE,
    };
    BASE + slot as u64 * SLOT_SIZE + offset
}

/// Whether `[start, start + len)` overlaps the region (with wrap-around
/// treated as overlapping: the kernel would reject such a range anyway).
pub fn overlaps(start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len.max(1)) else {
        return true;
    };
    start < END && end > BASE
}

/// Slots for tasks whose address space the tracer does not know
/// (unique across every task); the others are per address space.
const SHARED_SLOTS: usize = 32;

/// A slot held by a task: its index, and the address space whose pool it
/// came from (`None`: the shared pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    space: Option<u64>,
}

/// Hands out slots; a slot belongs to one task from first use to death
/// (or exec, which leaves its address space).
///
/// A slot only has to be unique among the tasks that share an address
/// space: each process has a region of its own. So each address space
/// has the slots past [`SHARED_SLOTS`] to itself, and a process's threads
/// take none of another process's. With one pool for all, one program's
/// (or, under `template`, one run's) few hundred threads left no slot for
/// anyone else: every other caller's copy failed to start. A task whose
/// space is not known takes from the first [`SHARED_SLOTS`], which no
/// space hands out, so it never meets a slot of a task it may share
/// memory with.
#[derive(Debug)]
pub struct Slots {
    shared: Vec<usize>,
    /// The slots each address space has handed out.
    used: std::collections::HashMap<u64, std::collections::BTreeSet<usize>>,
}

impl Default for Slots {
    fn default() -> Slots {
        Slots {
            shared: (0..SHARED_SLOTS).rev().collect(),
            used: std::collections::HashMap::new(),
        }
    }
}

impl Slots {
    /// A free slot for a task of address space `space`.
    pub fn take(&mut self, space: Option<u64>) -> Option<Slot> {
        let Some(space) = space else {
            let index = self.shared.pop()?;
            return Some(Slot { index, space: None });
        };
        let used = self.used.entry(space).or_default();
        let index = (SHARED_SLOTS..SLOTS).find(|index| !used.contains(index));
        let Some(index) = index else {
            if used.is_empty() {
                self.used.remove(&space);
            }
            return None;
        };
        used.insert(index);
        Some(Slot {
            index,
            space: Some(space),
        })
    }

    pub fn give_back(&mut self, slot: Slot) {
        match slot.space {
            None => self.shared.push(slot.index),
            Some(space) => {
                if let Some(used) = self.used.get_mut(&space) {
                    used.remove(&slot.index);
                    if used.is_empty() {
                        self.used.remove(&space);
                    }
                }
            }
        }
    }
}

/// The `mmap` arguments that create the region.
pub fn mmap_arguments() -> [u64; 6] {
    [
        BASE,
        END - BASE,
        libc::PROT_READ as u64,
        (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64,
        u64::MAX, // fd -1
        0,
    ]
}

/// Whether the region already in `pid`'s address space (the mmap failed
/// with EEXIST) is ours: a private read-only anonymous mapping of exactly
/// the region. A program's own mapping there would be writable by it.
pub fn is_ours_in(pid: Pid) -> bool {
    let Ok(maps) = crate::procfs::read_to_string(format!("/proc/{pid}/maps")) else {
        return false;
    };
    let expected = format!("{BASE:08x}-{END:08x} r--p 00000000 00:00 0");
    maps.lines().any(|line| line.trim_end() == expected)
}

/// Writes `bytes` at `address` in `pid`'s memory, read-only pages
/// included (`/proc/<pid>/mem` writes as a debugger does).
pub fn write(pid: Pid, address: u64, bytes: &[u8]) -> Result<(), Errno> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))?;
    file.write_all_at(bytes, address)
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fit_the_region() {
        let last = address(SLOTS - 1, Part::Struct) + PAGE;
        assert!(last <= END);
        const { assert!(SLOTS >= 256) };
    }

    #[test]
    fn slots_are_unique_per_address_space_and_the_shared_ones_everywhere() {
        let mut slots = Slots::default();
        let one: Vec<Slot> = (0..SLOTS - SHARED_SLOTS)
            .map(|_| slots.take(Some(1)).expect("a space has its own slots"))
            .collect();
        assert!(slots.take(Some(1)).is_none(), "space 1 is full");
        // Another process is not held up by the first one's threads.
        let other = slots.take(Some(2)).expect("space 2 has its own");
        let unknown = slots.take(None).expect("the shared pool");
        assert!(unknown.index < SHARED_SLOTS);
        assert!(one.iter().all(|slot| slot.index >= SHARED_SLOTS));
        let mut indexes: Vec<usize> = one.iter().map(|slot| slot.index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), SLOTS - SHARED_SLOTS);
        slots.give_back(one[5]);
        assert_eq!(slots.take(Some(1)), Some(one[5]));
        for slot in one.into_iter().chain([other]) {
            slots.give_back(slot);
        }
        assert!(
            slots.used.is_empty(),
            "an address space with no slot is forgotten"
        );
        let shared: Vec<Slot> = std::iter::from_fn(|| slots.take(None)).collect();
        assert_eq!(shared.len(), SHARED_SLOTS - 1);
    }

    #[test]
    fn overlap_is_exact() {
        assert!(overlaps(BASE, 1));
        assert!(overlaps(0, BASE + 1));
        assert!(!overlaps(0, BASE));
        assert!(!overlaps(END, 4096));
        assert!(overlaps(END - 1, 1));
        assert!(overlaps(u64::MAX - 10, 100));
    }
}
