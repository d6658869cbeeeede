//! Copy-ups too large to make inside the tracer's loop
//! ([`crate::cow::copyup::copies_inline`]): the tracer never blocks on
//! a file the program chose, however large.
//!
//! Each such copy is made by a **copier**, a process the tracer forks
//! that copies the bytes ([`Copy::fill`], async-signal-safe) and exits
//! with 0 or the errno that stopped it. A copier is a child of the
//! tracer, so its end is one more report of the `waitpid(-1, __WALL)`
//! the loop already makes: nothing else has to wake the tracer, which
//! serves every other task meanwhile. The task that asked stays in its
//! seccomp stop, marked as waiting for that copier. When the copier
//! ends, the tracer places the copy (attributes, mode, times, rename:
//! quick) and decides the task's call again from the start, which finds
//! the name copied up; or it refuses the call with the copy's errno
//! (`ENOSPC`), the copy dropped with nothing left of it.
//!
//! A second task that needs the same original while it is copied waits
//! for the same copier. A task killed while it waits is simply no longer
//! waiting (any report of it clears the mark); the copy is still placed.
//! When the jail ends, copiers are killed and reaped with the jail's
//! tasks, and their copies dropped; a copier dies with the tracer too
//! (`PR_SET_PDEATHSIG`), and an unnamed copy (`O_TMPFILE`) is then freed
//! by the kernel.

use crate::arch::native::{self as arch, Regs};
use crate::cow::copyup::Copy;
use crate::sys;
use crate::tracer::checks::quota::reserve_beside;
use crate::tracer::{Resume, Tracer};
use log::{debug, warn};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::HashMap;

/// How many copies one call may wait for: a name swapped back to an
/// original under every copy gets `EBUSY`, as an inline copy-up does.
const ROUNDS: u8 = 2;

/// The copiers running, each with its copy.
#[derive(Default)]
pub(super) struct Copiers {
    running: HashMap<Pid, Copy>,
    /// The bytes reserved under `cowquota` for each copier's copy,
    /// released when it ends (the copy is counted by its inode once a
    /// write holds it).
    reserved: HashMap<Pid, u64>,
}

impl Copiers {
    /// The copier already copying `original`, if one is.
    pub fn copying(&self, original: (u64, u64)) -> Option<Pid> {
        self.running
            .iter()
            .find(|(_, copy)| copy.original() == original)
            .map(|(pid, _)| *pid)
    }

    pub fn is_copier(&self, pid: Pid) -> bool {
        self.running.contains_key(&pid)
    }

    /// Forks a copier for `copy`.
    pub fn start(&mut self, copy: Copy) -> Result<Pid, Errno> {
        let tracer = nix::unistd::getpid();
        #[allow(unsafe_code)]
        // SAFETY: the child runs `copier` only, which is async-signal-safe
        // (no allocation, no lock) and never returns.
        let forked = unsafe { sys::fork() }?;
        match forked {
            nix::unistd::ForkResult::Child => copier(&copy, tracer),
            nix::unistd::ForkResult::Parent { child } => {
                debug!("cow: copier {child} copies {} bytes", copy.size());
                self.running.insert(child, copy);
                Ok(child)
            }
        }
    }

    /// Copier `pid` ended with wait status `status`: its copy placed, or
    /// why not (the copy is then dropped, leaving nothing).
    pub fn ended(&mut self, pid: Pid, status: i32) -> Result<(), Errno> {
        self.reserved.remove(&pid);
        let copy = self.running.remove(&pid).ok_or(Errno::ECHILD)?;
        outcome(status)?;
        copy.place()
    }

    /// Kills every copier: the jail is ending.
    pub fn kill_all(&self) {
        for pid in self.running.keys() {
            let _ = kill(*pid, Signal::SIGKILL);
        }
    }

    /// Drops every copy, once their copiers are reaped.
    pub fn forget_all(&mut self) {
        self.running.clear();
        self.reserved.clear();
    }

    /// Copier `pid`'s copy holds `bytes` reserved (when `charged`).
    pub fn reserve(&mut self, pid: Pid, bytes: u64, charged: bool) {
        if charged {
            self.reserved.insert(pid, bytes);
        }
    }

    /// What copier `pid`'s copy holds reserved under `cowquota`.
    pub fn reserved(&self, pid: Pid) -> u64 {
        self.reserved.get(&pid).copied().unwrap_or(0)
    }
}

/// A copier's exit code: 0, or the errno that stopped its copy.
fn exit_code(result: Result<(), Errno>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(errno) => (errno as i32).clamp(1, 255),
    }
}

/// What a copier's wait status says of its copy: done, the errno it
/// exited with, or `EIO` when something killed it.
fn outcome(status: i32) -> Result<(), Errno> {
    if libc::WIFEXITED(status) {
        return match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            code => Err(Errno::from_raw(code)),
        };
    }
    Err(Errno::EIO)
}

/// The copier's whole life: async-signal-safe (it runs in a fork of the
/// multi-threaded jail process).
fn copier(copy: &Copy, tracer: Pid) -> ! {
    // It dies with the tracer, and never outlives one that ended before
    // the line above took effect.
    let watched = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if watched.is_err() || nix::unistd::getppid() != tracer {
        sys::exit_immediately(libc::EIO);
    }
    // It holds nothing of the jail's but the two files it copies (no
    // pipe or socket whose end a reader waits for).
    let mut keep = copy.descriptors();
    keep.sort_unstable();
    let mut first = 3u32;
    for fd in keep {
        let Ok(fd) = u32::try_from(fd) else { continue };
        if fd > first {
            #[allow(unsafe_code)]
            // SAFETY: this child only copies between `keep` and exits;
            // no object that owns a closed descriptor runs again.
            let _ = unsafe { sys::close_range(first, fd - 1) };
        }
        first = first.max(fd + 1);
    }
    #[allow(unsafe_code)]
    // SAFETY: as above.
    let _ = unsafe { sys::close_range(first, u32::MAX) };
    sys::exit_immediately(exit_code(copy.fill()))
}

impl Tracer {
    /// The check of `pid`'s call asked for `copy` to be made aside: the
    /// task stays stopped until a copier of its original ends.
    pub(super) fn wait_for_copy(&mut self, pid: Pid, regs: Regs, copy: Copy) -> Resume {
        let rounds = self.tasks.get(&pid).map_or(0, |task| task.copies_waited);
        if rounds >= ROUNDS {
            debug!("{pid}: an original again after {rounds} copies (swapped): EBUSY");
            return self.refuse_stopped(pid, regs, Errno::EBUSY);
        }
        let copier = match self.copiers.copying(copy.original()) {
            // This copy is dropped: the one under way serves both.
            Some(copier) => copier,
            None => {
                // Charged as an inline copy-up is: a copy that would take
                // the layer past `cowquota` is ENOSPC, nothing copied.
                let size = copy.size();
                let tasks: Vec<Pid> = self.tasks.keys().copied().collect();
                if let Some(cell) = &self.quota
                    && let Err(errno) = reserve_beside(&self.cow_originals, &tasks, cell, size)
                {
                    debug!("{pid}: a copy-up of {size} bytes would pass cowquota: ENOSPC");
                    return self.refuse_stopped(pid, regs, errno);
                }
                match self.copiers.start(copy) {
                    Ok(copier) => {
                        self.copiers.reserve(copier, size, self.quota.is_some());
                        copier
                    }
                    Err(errno) => {
                        if let Some(cell) = &self.quota {
                            cell.borrow_mut().settle(size, None);
                        }
                        warn!("{pid}: cannot start a copier: {}", errno.desc());
                        return self.refuse_stopped(pid, regs, errno);
                    }
                }
            }
        };
        debug!("{pid}: waits for copier {copier}");
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.waits_for_copy = Some(copier);
            task.copies_waited = rounds + 1;
        }
        Resume::Nothing
    }

    /// Copier `copier` ended: its copy placed, each task still waiting
    /// for it has its call decided again, or refused with the copy's
    /// errno.
    pub(super) fn on_copy_ended(&mut self, copier: Pid, status: i32) {
        let reserved = self.copiers.reserved(copier);
        if let Some(cell) = &self.quota {
            cell.borrow_mut().settle(reserved, None);
        }
        let result = self.copiers.ended(copier, status);
        debug!("cow: copier {copier} ended: {result:?}");
        let waiting: Vec<Pid> = self
            .tasks
            .iter()
            .filter(|(_, task)| task.waits_for_copy == Some(copier))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in waiting {
            if let Some(task) = self.tasks.get_mut(&pid) {
                task.waits_for_copy = None;
            }
            let resume = match result {
                Ok(()) => self.on_seccomp_stop(pid),
                Err(errno) => match nix::sys::ptrace::getregs(pid) {
                    Ok(regs) => self.refuse_stopped(pid, regs, errno),
                    // Killed while it waited: its death is reported next.
                    Err(_) => Resume::Nothing,
                },
            };
            self.resume(pid, resume);
            if !self.refusals.get_mut().is_empty() {
                self.flush_refusals(None);
            }
        }
    }

    /// Skips `pid`'s stopped call with `errno`.
    fn refuse_stopped(&mut self, pid: Pid, mut regs: Regs, errno: Errno) -> Resume {
        arch::skip_with_errno(&mut regs, errno as i32);
        self.set_registers_or_kill(pid, regs, Resume::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copiers_status_says_how_its_copy_went() {
        assert_eq!(exit_code(Ok(())), 0);
        assert_eq!(exit_code(Err(Errno::ENOSPC)), libc::ENOSPC);
        let exited = |code: i32| code << 8;
        assert_eq!(outcome(exited(exit_code(Ok(())))), Ok(()));
        assert_eq!(
            outcome(exited(exit_code(Err(Errno::ENOSPC)))),
            Err(Errno::ENOSPC)
        );
        assert_eq!(outcome(libc::SIGKILL), Err(Errno::EIO), "killed: no copy");
    }
}
