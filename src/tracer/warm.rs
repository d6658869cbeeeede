//! Warm copies of a template: which pages of the prepared process a run
//! touches, learned once from a rehearsal, and those pages touched in a
//! spare copy before a request takes it.
//!
//! A copy shares every page with the prepared process until it writes
//! one (a copy-on-write fault) and maps its code only as it runs it (a
//! fault per page or cluster). A python3 run faults about 300 pages
//! before its first line, over a millisecond here. The spare copy waits
//! idle anyway: the tracer makes those faults in it then, through
//! `process_vm_readv` and `process_vm_writev`, and the run finds the
//! pages already its own.
//!
//! Which pages: a rehearsal (a run of the prepared process with empty
//! input, its output dropped) is stopped at its end, and its page map
//! read: the pages it made its own (present and exclusively mapped
//! anonymous pages) and the file pages it mapped, within the prepared
//! process's private mappings. Only the rehearsal, never a real run, is
//! learned from: the set of warmed pages would otherwise tell a run
//! something of the runs before it (which pages they wrote, timed by its
//! own faults).
//!
//! Warming changes no byte: each written page gets back the byte just
//! read from it, while the copy is stopped and is the only task of its
//! process, in private mappings only (a shared mapping is another
//! process's memory too). A page the copy cannot write is only read, and
//! so is a page of a private file mapping that is still the file's in the
//! prepared process: written back, it would become the copy's snapshot of
//! a file others may write (a mix of two contents if the file changed
//! between the read and the write).

use nix::errno::Errno;
use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::Pid;
use std::io::{IoSlice, IoSliceMut};
use std::os::unix::fs::FileExt;

const PAGE: u64 = 4096;

/// Pages learned at most (16 MiB): what one spare may be given ahead.
pub const MAX_PAGES: usize = 4096;

/// Pages of the prepared process's mappings scanned at most (1 GiB of
/// address space): a page map read stays bounded.
const MAX_SCANNED: u64 = 1 << 18;

/// Pages warmed per `process_vm_*` call (`IOV_MAX`).
const BATCH: usize = 1024;

/// One mapping of `/proc/<pid>/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    pub private: bool,
    /// `[vdso]`, `[vvar]`, `[vsyscall]` and the like: the kernel's own.
    pub special: bool,
    /// A mapping of a file (its inode is not 0): a private one reads
    /// through to the file until a page of it is written.
    pub file: bool,
}

/// The mappings of a `maps` text; lines that do not parse are left out.
pub fn parse_maps(text: &str) -> Vec<Area> {
    crate::procfs::maps_lines(text.as_bytes())
        .map(|line| Area {
            start: line.start,
            end: line.end,
            readable: line.readable(),
            writable: line.writable(),
            private: line.private(),
            special: line.name.starts_with(b"[") && !matches!(line.name, b"[heap]" | b"[stack]"),
            file: line.inode != 0,
        })
        .collect()
}

/// The pages a rehearsal touched: `read` to be mapped, `write` to be
/// made the copy's own.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    pub read: Vec<u64>,
    pub write: Vec<u64>,
}

impl Learned {
    pub fn len(&self) -> usize {
        self.read.len() + self.write.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const PRESENT: u64 = 1 << 63;
const FILE_OR_SHARED: u64 = 1 << 61;
const EXCLUSIVE: u64 = 1 << 56;

/// Whether a page of `area` with page map entry `entry` is one the
/// rehearsal touched, and how: `Some(true)` written (its own anonymous
/// page, in a mapping it may write), `Some(false)` read (a file page it
/// mapped), `None` not.
pub fn touched(area: &Area, entry: u64) -> Option<bool> {
    if entry & PRESENT == 0 || !area.readable || !area.private || area.special {
        return None;
    }
    if entry & FILE_OR_SHARED != 0 {
        return Some(false);
    }
    (entry & EXCLUSIVE != 0 && area.writable).then_some(true)
}

/// Whether a page of a writable private file mapping is already the
/// prepared process's own (it wrote it), from its page map entry: only
/// then is a copy's page anonymous too, shared with it until written.
/// Otherwise the copy's page is the file's, which others may write: a
/// byte read and written back would make it a snapshot of the file (or,
/// with the file written in between, a mix no run could see).
fn owned_by_prepared(entry: Option<&u64>) -> bool {
    entry.is_some_and(|entry| entry & PRESENT != 0 && entry & FILE_OR_SHARED == 0)
}

/// Picks the touched pages of `areas` from their page map entries
/// (`entries(area)`: the rehearsal's, one per page, in order, and for a
/// writable file mapping the prepared process's, else none), at most
/// [`MAX_PAGES`], written ones first. A written page of a file mapping
/// is written only if the prepared process had made it its own; else it
/// is only read.
pub fn select(areas: &[Area], mut entries: impl FnMut(&Area) -> (Vec<u64>, Vec<u64>)) -> Learned {
    let mut learned = Learned::default();
    for area in areas {
        let (rehearsal, prepared) = entries(area);
        for (index, entry) in rehearsal.into_iter().enumerate() {
            let page = area.start + index as u64 * PAGE;
            match touched(area, entry) {
                Some(true) if area.file && !owned_by_prepared(prepared.get(index)) => {
                    learned.read.push(page);
                }
                Some(true) => learned.write.push(page),
                Some(false) => learned.read.push(page),
                None => {}
            }
        }
    }
    learned.write.truncate(MAX_PAGES);
    learned
        .read
        .truncate(MAX_PAGES.saturating_sub(learned.write.len()));
    learned
}

/// Learns the pages rehearsal `copy` touched within the mappings of the
/// parked prepared process `prepared`. `copy` must be stopped (at its
/// exit stop or its wakeup), its memory not yet torn down.
pub fn learn(copy: Pid, prepared: Pid) -> Result<Learned, Errno> {
    let maps = crate::procfs::read_to_string(format!("/proc/{prepared}/maps"))
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))?;
    let open = |pid: Pid| {
        std::fs::File::open(format!("/proc/{pid}/pagemap"))
            .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))
    };
    let pagemap = open(copy)?;
    let prepared_pagemap = open(prepared)?;
    let mut areas = parse_maps(&maps);
    areas.retain(|area| area.readable && area.private && !area.special);
    let mut budget = MAX_SCANNED;
    Ok(select(&areas, |area| {
        let pages = ((area.end - area.start) / PAGE).min(budget);
        budget -= pages;
        let theirs = if area.file && area.writable {
            entries(&prepared_pagemap, area.start, pages)
        } else {
            Vec::new()
        };
        (entries(&pagemap, area.start, pages), theirs)
    }))
}

/// The page map entries of `pages` pages from `start` (fewer if the read
/// stops short).
fn entries(pagemap: &std::fs::File, start: u64, pages: u64) -> Vec<u64> {
    let mut bytes = vec![0u8; pages as usize * 8];
    let read = pagemap.read_at(&mut bytes, start / PAGE * 8).unwrap_or(0);
    bytes[..read - read % 8]
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])))
        .collect()
}

/// Where warming a copy stands: the next page of each list.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    read: usize,
    write: usize,
}

impl Progress {
    /// Whether every page of `learned` has been warmed.
    pub fn done(&self, learned: &Learned) -> bool {
        self.read >= learned.read.len() && self.write >= learned.write.len()
    }
}

/// Warms up to `count` more pages of stopped copy `pid`, written pages
/// first. A page that cannot be reached (unmapped, or no longer
/// writable) is skipped. Fails only when the copy is gone.
pub fn warm(
    pid: Pid,
    learned: &Learned,
    progress: &mut Progress,
    count: usize,
) -> Result<(), Errno> {
    let mut left = count;
    while left > 0 && progress.write < learned.write.len() {
        let pages = &learned.write[progress.write..];
        let batch = &pages[..pages.len().min(left).min(BATCH)];
        let consumed = rewrite_pages(pid, batch)?;
        progress.write += consumed;
        left = left.saturating_sub(consumed);
    }
    while left > 0 && progress.read < learned.read.len() {
        let pages = &learned.read[progress.read..];
        let batch = &pages[..pages.len().min(left).min(BATCH)];
        let mut bytes = vec![0u8; batch.len()];
        let consumed = read_pages(pid, batch, &mut bytes)?.consumed();
        progress.read += consumed;
        left = left.saturating_sub(consumed);
    }
    Ok(())
}

/// How a batch of one-byte transfers went: the first `done` pages made
/// it; the next one failed if `failed` (and is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transfer {
    done: usize,
    failed: bool,
}

impl Transfer {
    /// The pages to go past: those done, and the failed one.
    fn consumed(self) -> usize {
        self.done + usize::from(self.failed)
    }

    /// From a `process_vm_*` result over `wanted` one-byte pieces: it
    /// stops at the first piece it cannot transfer, and fails as a whole
    /// when that is the first.
    fn of(result: Result<usize, Errno>, wanted: usize) -> Result<Transfer, Errno> {
        match result {
            Ok(done) => Ok(Transfer {
                done: done.min(wanted),
                failed: done < wanted,
            }),
            Err(Errno::ESRCH) => Err(Errno::ESRCH),
            Err(_) => Ok(Transfer {
                done: 0,
                failed: wanted > 0,
            }),
        }
    }
}

fn one_byte_each(pages: &[u64]) -> Vec<RemoteIoVec> {
    pages
        .iter()
        .map(|&page| RemoteIoVec {
            base: page as usize,
            len: 1,
        })
        .collect()
}

/// Reads the first byte of each page of `pages` into `bytes`.
fn read_pages(pid: Pid, pages: &[u64], bytes: &mut [u8]) -> Result<Transfer, Errno> {
    let remote = one_byte_each(pages);
    let mut local: Vec<IoSliceMut> = bytes.chunks_mut(1).map(IoSliceMut::new).collect();
    Transfer::of(process_vm_readv(pid, &mut local, &remote), pages.len())
}

/// Writes back to each page of `pages` its own first byte, which makes
/// the page the copy's own; the pages to go past.
fn rewrite_pages(pid: Pid, pages: &[u64]) -> Result<usize, Errno> {
    let mut bytes = vec![0u8; pages.len()];
    let read = read_pages(pid, pages, &mut bytes)?;
    // Only the pages read are written back: a failed one's byte is not
    // known.
    let remote = one_byte_each(&pages[..read.done]);
    let local: Vec<IoSlice> = bytes[..read.done].chunks(1).map(IoSlice::new).collect();
    let written = Transfer::of(process_vm_writev(pid, &local, &remote), read.done)?;
    // A page that could not be written ends the batch there.
    Ok(if written.failed {
        written.consumed()
    } else {
        read.consumed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0000000-55d0c0002000 r--p 00000000 fe:01 123 /usr/bin/python3.11
55d0c0002000-55d0c0004000 r-xp 00002000 fe:01 123 /usr/bin/python3.11
55d0c1000000-55d0c1003000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 rw-s 00000000 00:01 77 /dev/zero (deleted)
7f0000001000-7f0000002000 ---p 00000000 00:00 0
7ffd00000000-7ffd00002000 rw-p 00000000 00:00 0 [stack]
7ffd00010000-7ffd00012000 r--p 00000000 00:00 0 [vvar]
7ffd00012000-7ffd00013000 r-xp 00000000 00:00 0 [vdso]
not a line
";

    #[test]
    fn maps_lines_give_their_ranges_and_rights() {
        let areas = parse_maps(MAPS);
        assert_eq!(areas.len(), 8);
        assert_eq!(
            areas[2],
            Area {
                start: 0x55d0_c100_0000,
                end: 0x55d0_c100_3000,
                readable: true,
                writable: true,
                private: true,
                special: false,
                file: false,
            }
        );
        assert!(!areas[3].private, "a shared mapping");
        assert!(!areas[4].readable, "a guard");
        assert!(!areas[5].special, "the stack is the program's");
        assert!(areas[6].special && areas[7].special, "the kernel's own");
    }

    #[test]
    fn only_pages_a_copy_made_its_own_are_written_and_file_pages_read() {
        let areas = parse_maps(MAPS);
        let present = PRESENT;
        let own = PRESENT | EXCLUSIVE;
        let file = PRESENT | FILE_OR_SHARED;
        // Written: its own page in a private mapping it may write.
        assert_eq!(touched(&areas[2], own), Some(true));
        // Shared with the prepared process still: nothing to do.
        assert_eq!(touched(&areas[2], present), None);
        // Not there at all.
        assert_eq!(touched(&areas[2], EXCLUSIVE), None);
        // A file page it mapped: read.
        assert_eq!(touched(&areas[1], file), Some(false));
        assert_eq!(touched(&areas[0], own), None, "not writable");
        // Never: shared mappings, guards, the kernel's pages.
        assert_eq!(touched(&areas[3], own), None);
        assert_eq!(touched(&areas[3], file), None);
        assert_eq!(touched(&areas[4], own), None);
        assert_eq!(touched(&areas[6], file), None);
        assert_eq!(touched(&areas[7], file), None);
    }

    #[test]
    fn selection_walks_each_area_page_by_page_and_is_bounded() {
        let areas = parse_maps(MAPS);
        let learned = select(&areas, |area| match area.start {
            0x55d0_c000_2000 => (vec![PRESENT | FILE_OR_SHARED, 0], Vec::new()),
            0x55d0_c100_0000 => (
                vec![0, PRESENT | EXCLUSIVE, PRESENT | EXCLUSIVE],
                Vec::new(),
            ),
            _ => (Vec::new(), Vec::new()),
        });
        assert_eq!(learned.read, [0x55d0_c000_2000]);
        assert_eq!(learned.write, [0x55d0_c100_1000, 0x55d0_c100_2000]);
        let huge = Area {
            start: 0,
            end: (MAX_PAGES as u64 + 10) * PAGE,
            readable: true,
            writable: true,
            private: true,
            special: false,
            file: false,
        };
        let learned = select(&[huge.clone(), huge], |area| {
            let pages = ((area.end - area.start) / PAGE) as usize;
            (vec![PRESENT | EXCLUSIVE; pages], Vec::new())
        });
        assert_eq!(learned.len(), MAX_PAGES);
    }

    /// A written page of a private file mapping is written in a copy
    /// only where the prepared process had made it its own already;
    /// where it is still the file's (or gone to swap), it is only read.
    #[test]
    fn a_file_page_the_prepared_process_never_wrote_is_only_read() {
        let areas = parse_maps(
            "7f0000000000-7f0000003000 rw-p 00001000 fe:01 99 /tmp/data\n\
             7f0000003000-7f0000004000 rw-p 00000000 00:00 0\n",
        );
        assert!(areas[0].file && !areas[1].file);
        let own = PRESENT | EXCLUSIVE;
        let learned = select(&areas, |area| match area.start {
            0x7f00_0000_0000 => (
                vec![own, own, own],
                vec![PRESENT, PRESENT | FILE_OR_SHARED, 0],
            ),
            _ => (vec![own], Vec::new()),
        });
        assert_eq!(learned.write, [0x7f00_0000_0000, 0x7f00_0000_3000]);
        assert_eq!(learned.read, [0x7f00_0000_1000, 0x7f00_0000_2000]);
    }

    #[test]
    fn a_transfer_that_stops_skips_the_page_it_stopped_at() {
        let all = Transfer::of(Ok(5), 5).unwrap();
        assert_eq!((all.done, all.consumed()), (5, 5));
        let short = Transfer::of(Ok(2), 5).unwrap();
        assert_eq!((short.done, short.consumed()), (2, 3));
        let first = Transfer::of(Err(Errno::EFAULT), 5).unwrap();
        assert_eq!((first.done, first.consumed()), (0, 1));
        assert_eq!(Transfer::of(Err(Errno::ESRCH), 5), Err(Errno::ESRCH));
    }

    /// Warming in a real process changes no byte, and makes written pages
    /// its own: a child stopped after a fork, its heap still shared.
    #[test]
    fn warming_a_stopped_child_makes_its_pages_its_own_and_changes_nothing() {
        let data: Vec<u8> = (0..64 * PAGE as usize).map(|i| (i % 241) as u8).collect();
        let start = (data.as_ptr() as u64).div_ceil(PAGE) * PAGE;
        let pages: Vec<u64> = (0..60).map(|index| start + index * PAGE).collect();
        // SAFETY: the test harness has other threads; the child only
        // stops itself, reads memory it has and exits: no allocation, no
        // lock (async-signal-safe).
        #[allow(unsafe_code)]
        let forked = unsafe { crate::sys::fork() };
        let child = match forked.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
                let ok = data.iter().enumerate().all(|(i, &b)| b == (i % 241) as u8);
                crate::sys::exit_immediately(if ok { 0 } else { 1 })
            }
            nix::unistd::ForkResult::Parent { child } => child,
        };
        let stopped = nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WUNTRACED));
        assert!(matches!(
            stopped,
            Ok(nix::sys::wait::WaitStatus::Stopped(..))
        ));
        let exclusive = |page: u64| {
            let file = std::fs::File::open(format!("/proc/{child}/pagemap")).unwrap();
            let mut entry = [0u8; 8];
            file.read_exact_at(&mut entry, page / PAGE * 8).unwrap();
            u64::from_le_bytes(entry) & EXCLUSIVE != 0
        };
        assert!(!exclusive(pages[0]), "shared after the fork");
        let learned = Learned {
            read: Vec::new(),
            write: pages.clone(),
        };
        let mut progress = Progress::default();
        while !progress.done(&learned) {
            warm(child, &learned, &mut progress, 7).expect("warm");
        }
        assert!(pages.iter().all(|&page| exclusive(page)), "made its own");
        nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGCONT).unwrap();
        let ended = nix::sys::wait::waitpid(child, None);
        assert!(
            matches!(ended, Ok(nix::sys::wait::WaitStatus::Exited(_, 0))),
            "{ended:?}"
        );
    }
}
