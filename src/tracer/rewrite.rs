//! Applying a decision to a stopped thread, and undoing a rewrite.
//!
//! A refused call is skipped at the seccomp stop. A rewritten call gets
//! its new arguments written into the task's scratch slot and its
//! registers pointed there; the thread is resumed to the syscall-exit stop,
//! where the program's own registers come back with the kernel's result
//! (the syscall ABI promises the caller its argument registers unchanged,
//! and a restarted call must be checked again from the program's own
//! arguments). The descriptors the rewrite names stay open until then.
//!
//! The scratch region is mapped the first time an address space needs it:
//! the stopped syscall is turned into the `mmap`, and at its exit the
//! thread is rewound to run its own syscall again, which stops anew.

use super::answer::{Answer, Arg, Rewrite};
use super::scratch;
use super::stopped::TaskView;
use super::{InSyscall, Resume, Tracer, decide};
use crate::arch::native::{self as arch, Regs};
use crate::sys;
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;

impl Tracer {
    pub(super) fn on_seccomp_stop(&mut self, pid: Pid) -> Resume {
        // The number and arguments alone, unless the kernel cannot say
        // them (then the registers, which hold the same): most calls are
        // let run as they are, and need no registers at all.
        let (nr, arguments, mut regs) = match sys::ptrace_seccomp_call(pid) {
            Ok(Some(call)) if call.arch == arch::AUDIT_ARCH => (call.nr, call.args, None),
            // Killed while stopped: its death is reported next.
            Err(Errno::ESRCH) => return Resume::Nothing,
            _ => match nix::sys::ptrace::getregs(pid) {
                Ok(regs) => {
                    let arguments = std::array::from_fn(|index| arch::argument(&regs, index));
                    (arch::syscall_number(&regs), arguments, Some(regs))
                }
                Err(_) => return Resume::Nothing,
            },
        };
        // A clone this thread made earlier has finished one way or the
        // other by the time it makes another syscall.
        self.release_clone_reservation(pid);
        let (name, class) = self.syscalls.lookup(nr);
        self.call.set(Some((pid.as_raw(), name)));
        let mut view = TaskView {
            tracer: self,
            tid: pid,
            arguments,
        };
        let answer = decide::answer(&mut view, nr, name, class);
        // The registers, for an answer that changes them or keeps them.
        let mut registers = || match regs.take() {
            Some(regs) => Ok(regs),
            None => nix::sys::ptrace::getregs(pid),
        };
        if let Some(copy) = self.copy_asked.get_mut().take() {
            // The call is decided again once the copy stands: this
            // answer and its refusals are not the call's.
            drop(answer);
            self.refusals.get_mut().clear();
            self.call.set(None);
            let Ok(regs) = registers() else {
                return Resume::Nothing;
            };
            return self.wait_for_copy(pid, regs, copy);
        }
        let refused = match &answer {
            Answer::Refuse(errno) => Some(*errno),
            _ => None,
        };
        self.flush_refusals(refused);
        // The child reports a failed exec by a `write` after the filter is
        // in: when `syscall` lines may refuse that, the tracer follows the
        // main program's own exec to its end to see how it went.
        let follow_exec =
            pid == self.main && !self.main_execed && name == "execve" && !self.narrowing.is_empty();
        match answer {
            Answer::Allow if follow_exec => Resume::ToSyscallExit,
            Answer::Rewrite(rewrite) if follow_exec && rewrite.is_empty() => Resume::ToSyscallExit,
            Answer::Allow => Resume::Continue,
            Answer::Rewrite(rewrite) if rewrite.is_empty() && rewrite.charge.is_none() => {
                Resume::Continue
            }
            // Every other answer changes or keeps the registers; without
            // them (killed while stopped: its death is reported next) the
            // call does not run.
            answer => {
                let Ok(mut regs) = registers() else {
                    if let Answer::Rewrite(rewrite) = answer {
                        self.unapplied(rewrite);
                    }
                    return Resume::Nothing;
                };
                match answer {
                    Answer::Allow => Resume::Continue,
                    Answer::Refuse(errno) => {
                        arch::skip_with_errno(&mut regs, errno as i32);
                        self.set_registers_or_kill(pid, regs, Resume::Continue)
                    }
                    Answer::Done => {
                        arch::skip_with_errno(&mut regs, 0);
                        self.set_registers_or_kill(pid, regs, Resume::Continue)
                    }
                    Answer::Return(value) => {
                        arch::skip_with_value(&mut regs, value);
                        self.set_registers_or_kill(pid, regs, Resume::Continue)
                    }
                    Answer::Kill => {
                        arch::set_syscall_number(
                            &mut regs,
                            u64::from(crate::syscall::KILL_SYSCALL),
                        );
                        self.set_registers_or_kill(pid, regs, Resume::Continue)
                    }
                    // Only a charge to settle: the call runs as the
                    // program made it, and its exit stop counts what it
                    // wrote.
                    Answer::Rewrite(rewrite) if rewrite.is_empty() => {
                        if let Some(task) = self.tasks.get_mut(&pid) {
                            task.in_syscall = InSyscall::Rewritten {
                                original: regs,
                                held: rewrite.held,
                                lent: rewrite.lent,
                                same_socket: None,
                                charge: rewrite.charge,
                            };
                        }
                        Resume::ToSyscallExit
                    }
                    Answer::Rewrite(rewrite) => self.apply(pid, regs, rewrite),
                }
            }
        }
    }

    pub(super) fn set_registers_or_kill(&mut self, pid: Pid, regs: Regs, then: Resume) -> Resume {
        match nix::sys::ptrace::setregs(pid, regs) {
            Ok(()) => then,
            // Without its new registers the call would run as the program
            // made it: the task must not go on. It is gone or going anyway.
            Err(_) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
                Resume::Nothing
            }
        }
    }

    fn apply(&mut self, pid: Pid, regs: Regs, mut rewrite: Rewrite) -> Resume {
        let task_ready = self.tasks.get(&pid).is_some_and(|task| task.scratch_ready);
        if !task_ready {
            // The call runs again after the mapping and is charged again.
            self.unapplied(rewrite);
            return self.map_scratch(pid, regs);
        }
        let Some(slot) = self.slot_of(pid) else {
            self.unapplied(rewrite);
            warn!("{pid}: no scratch slot left; refusing the call");
            let mut regs = regs;
            arch::skip_with_errno(&mut regs, libc::EAGAIN);
            return self.set_registers_or_kill(pid, regs, Resume::Continue);
        };
        let mut new = regs;
        if let Some(nr) = rewrite.syscall {
            arch::set_syscall_number(&mut new, nr);
        }
        for (part, data) in rewrite.scratch_contents(|part| scratch::address(slot, part)) {
            if let Err(errno) = scratch::write(pid, scratch::address(slot, part), &data) {
                debug!("{pid}: cannot write scratch: {}", errno.desc());
                self.unapplied(rewrite);
                let mut regs = regs;
                arch::skip_with_errno(&mut regs, libc::EFAULT);
                return self.set_registers_or_kill(pid, regs, Resume::Continue);
            }
        }
        for (index, value) in &rewrite.args {
            let value = match value {
                Arg::Value(value) => *value,
                Arg::Scratch(part, _) => scratch::address(slot, *part),
            };
            arch::set_argument(&mut new, usize::from(*index), value);
        }
        let resume = self.set_registers_or_kill(pid, new, Resume::ToSyscallExit);
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.in_syscall = InSyscall::Rewritten {
                original: regs,
                held: std::mem::take(&mut rewrite.held),
                lent: std::mem::take(&mut rewrite.lent),
                same_socket: rewrite.same_socket,
                charge: rewrite.charge.take(),
            };
        }
        resume
    }

    /// Whether `pid`'s descriptor `fd` is still a socket of kind `judged`.
    fn still_socket_of_kind(
        &self,
        pid: Pid,
        fd: i32,
        judged: crate::policy::network::SocketKind,
    ) -> bool {
        let Ok(pidfd) = crate::sys::pidfd_open(pid) else {
            return false;
        };
        let Ok(held) = crate::sys::pidfd_getfd(&pidfd, fd) else {
            return false;
        };
        crate::sys::socket_kind(&held)
            .ok()
            .and_then(|(domain, kind, protocol)| {
                crate::policy::network::SocketKind::from_raw(domain, kind, protocol).ok()
            })
            == Some(judged)
    }

    /// A rewrite that will not run: what it reserved under `cowquota` is
    /// given back (its held objects are dropped with it).
    fn unapplied(&mut self, mut rewrite: Rewrite) {
        if let Some(charge) = rewrite.charge.take() {
            self.settle(charge);
        }
    }

    /// The exit of a call charged under `cowquota`: the file's size now
    /// replaces the growth reserved at its entry (a short or failed write
    /// gives back what it did not use).
    pub(super) fn settle(&mut self, charge: super::answer::Charge) {
        let Some(quota) = &self.quota else {
            return;
        };
        let size_now = nix::sys::stat::fstat(&charge.held)
            .ok()
            .map(|stat| (charge.file, stat.st_size as u64));
        quota.borrow_mut().settle(charge.reserved, size_now);
    }

    pub(super) fn slot_of(&mut self, pid: Pid) -> Option<usize> {
        let task = self.tasks.get_mut(&pid)?;
        if task.slot.is_none() {
            task.slot = self.slots.take(task.space);
        }
        task.slot.map(|slot| slot.index)
    }

    /// Turns the stopped syscall into the `mmap` that creates the region;
    /// the thread is rewound at its exit ([`Tracer::on_syscall_exit`]).
    pub(super) fn map_scratch(&mut self, pid: Pid, regs: Regs) -> Resume {
        let mut mmap = regs;
        arch::set_syscall_number(&mut mmap, u64::from(self.mmap_nr));
        for (index, value) in scratch::mmap_arguments().into_iter().enumerate() {
            arch::set_argument(&mut mmap, index, value);
        }
        debug!("{pid}: mapping the scratch region");
        let resume = self.set_registers_or_kill(pid, mmap, Resume::ToSyscallExit);
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.in_syscall = InSyscall::Mapping { saved: regs };
        }
        resume
    }

    /// A syscall-exit stop: the end of a rewritten call or of the mapping.
    pub(super) fn on_syscall_exit(&mut self, pid: Pid) -> Resume {
        let Some(task) = self.tasks.get_mut(&pid) else {
            return Resume::Continue;
        };
        let state = std::mem::replace(&mut task.in_syscall, InSyscall::Free);
        let Ok(now) = nix::sys::ptrace::getregs(pid) else {
            return Resume::Nothing;
        };
        // Still the jail's child: the main program's own exec failed.
        if pid == self.main && !self.main_execed && arch::return_value(&now) < 0 {
            self.exec_errno = i32::try_from(-arch::return_value(&now)).ok();
        }
        match state {
            InSyscall::Free => Resume::Continue,
            InSyscall::Rewritten {
                original,
                held,
                lent,
                same_socket,
                charge,
            } => {
                if let Some(charge) = charge {
                    self.settle(charge);
                }
                if let Some((fd, judged)) = same_socket
                    && !self.still_socket_of_kind(pid, fd, judged)
                {
                    // The verdict was for another protocol: what the call
                    // sent cannot be undone, but nothing more will be.
                    warn!(
                        "{pid}: descriptor {fd} was swapped during a socket call; ending the jail"
                    );
                    for task in self.tasks.keys() {
                        let _ = nix::sys::signal::kill(*task, nix::sys::signal::SIGKILL);
                    }
                    return Resume::Nothing;
                }
                let mut restored = original;
                arch::set_return_value(&mut restored, arch::return_value(&now) as u64);
                let resume = self.set_registers_or_kill(pid, restored, Resume::Continue);
                drop(held);
                drop(lent);
                resume
            }
            InSyscall::Forking { saved } => self.forked(pid, saved, arch::return_value(&now)),
            InSyscall::Mapping { saved } => {
                let result = arch::return_value(&now);
                let ready = result == scratch::BASE as i64
                    || (result == -(Errno::EEXIST as i64) && scratch::is_ours_in(pid));
                if ready {
                    if let Some(task) = self.tasks.get_mut(&pid) {
                        task.scratch_ready = true;
                    }
                } else {
                    warn!("{pid}: cannot map the scratch region (mmap returned {result})");
                }
                // Run the thread's own syscall again.
                let mut again = arch::to_run_again(&saved);
                if !ready {
                    // Without the region no argument can be handed over
                    // safely: the call fails instead.
                    again = saved;
                    arch::set_return_value(&mut again, (-(libc::ENOMEM as i64)) as u64);
                }
                self.set_registers_or_kill(pid, again, Resume::Continue)
            }
        }
    }
}
