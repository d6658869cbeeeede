//! Processes: clones (flags that would leave the jail, `maxthreads`),
//! signals and the owners of a descriptor's signals, and pid-taking calls:
//! every target must be a jail task.

use crate::arch::native::{self as arch, Regs};
use crate::sys;
use crate::syscall::{CloneCall, OwnerCall, PriorityWhich, SignalCall};
use crate::tracer::answer::{Answer, Arg, Rewrite};
use crate::tracer::checks::lend::take_descriptor;
use crate::tracer::decide::signed;
use crate::tracer::memory::{self};
use crate::tracer::scratch::Part;
use crate::tracer::{Tracer, spaces};
use log::debug;
use nix::unistd::Pid;

/// Clone flags that would take the new task out of the jail: untraced, or
/// into new namespaces.
const ESCAPING_CLONE_FLAGS: u64 = (libc::CLONE_NEWTIME as u64)
    | (libc::CLONE_UNTRACED
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET) as u64;
/// `CLONE_INTO_CGROUP` (clone3 only): the child would start in another
/// cgroup, outside the limits its parent is under.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

impl Tracer {
    /// `clone3(struct clone_args *args, size)`: the flags live in memory,
    /// so they are judged on the jail's copy, which the kernel then reads
    /// (unless nothing can change the program's own).
    pub(in crate::tracer) fn judge_clone3(&mut self, pid: Pid, regs: &Regs) -> Answer {
        let address = arch::argument(regs, 0);
        let size = arch::argument(regs, 1);
        // The kernel's own limits: CLONE_ARGS_SIZE_VER0 and a page.
        if size < 64 {
            return Answer::Refuse(libc::EINVAL);
        }
        if size > 4096 {
            return Answer::Refuse(libc::E2BIG);
        }
        let mut args = vec![0u8; size as usize];
        if let Err(errno) = memory::read_exact(pid, address, &mut args) {
            return Answer::Refuse(errno as i32);
        }
        let mut flags = [0u8; 8];
        flags.copy_from_slice(&args[..8]);
        let flags = u64::from_ne_bytes(flags);
        if flags & CLONE_INTO_CGROUP != 0 {
            debug!("{pid}: clone3 into another cgroup refused");
            return Answer::Refuse(libc::EPERM);
        }
        let untouchable = self.untouchable(pid, address, size);
        match self.judge_clone(pid, CloneCall::Clone3, flags) {
            Answer::Allow if untouchable => Answer::Allow,
            Answer::Allow => {
                let mut rewrite = Rewrite::default();
                rewrite.set(0, Arg::Scratch(Part::Struct, args));
                if let Some(task) = self.tasks.get_mut(&pid) {
                    // The new task starts with the parent's registers, so
                    // its first argument register points at the copy too;
                    // it gets the program's value back at its first stop.
                    task.clone3_argument = Some(address);
                }
                Answer::Rewrite(rewrite)
            }
            other => other,
        }
    }

    pub(in crate::tracer) fn judge_clone(
        &mut self,
        pid: Pid,
        kind: CloneCall,
        flags: u64,
    ) -> Answer {
        if flags & ESCAPING_CLONE_FLAGS != 0 && matches!(kind, CloneCall::Clone | CloneCall::Clone3)
        {
            debug!("{pid}: clone flags {flags:#x} would escape the jail: EPERM");
            return Answer::Refuse(libc::EPERM);
        }
        if let Some(max) = self.limits.max_threads {
            let max = u64::from(max);
            let in_flight = u64::from(self.clones_in_flight);
            let known = self.tasks.len() as u64 + in_flight;
            // A thread wakes its joiner before the tracer hears it ended:
            // at the limit, tasks already on their way out do not count.
            if known >= max
                && self.tasks.keys().filter(|tid| !is_exiting(**tid)).count() as u64 + in_flight
                    >= max
            {
                debug!("{pid}: {known} tasks live, maxthreads {max}: EAGAIN");
                return Answer::Refuse(libc::EAGAIN);
            }
        }
        let flags = match kind {
            CloneCall::Clone | CloneCall::Clone3 => flags,
            CloneCall::Fork => 0,
            CloneCall::Vfork => (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
        };
        self.clones_in_flight += 1;
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.pending_clone = Some(flags);
            // A process sharing the working directory can chdir while this
            // task's relative path is in flight, also after either execs
            // (exec keeps the shared fs_struct): for good, nothing of this
            // task's is taken as unchangeable.
            if spaces::shares_working_directory(flags) {
                task.shares_fs = true;
            }
            // From now on the address space may have a second user, even
            // before the tracer hears of it.
            if spaces::shares_with_parent(flags)
                && let Some(space) = task.space
            {
                self.spaces.join(space);
            }
        }
        Answer::Allow
    }

    pub(in crate::tracer) fn judge_signal(
        &mut self,
        pid: Pid,
        kind: SignalCall,
        regs: &Regs,
    ) -> Answer {
        let arg = |index: usize| signed(arch::argument(regs, index));
        let targets: &[i32] = match kind {
            SignalCall::Kill => {
                let target = arg(0);
                if target == 0 {
                    // Its own process group, which lies inside the jail's
                    // session.
                    return Answer::Allow;
                }
                if target == -1 {
                    debug!("{pid}: kill(-1) refused");
                    return Answer::Refuse(libc::EPERM);
                }
                &[target.unsigned_abs() as i32]
            }
            SignalCall::Tkill | SignalCall::Queue => &[arg(0)],
            SignalCall::Tgkill | SignalCall::TgQueue => &[arg(0), arg(1)],
        };
        for target in targets {
            if *target > 0 && !self.is_jail_pid(*target as u32) {
                debug!("{pid}: signal to {target} outside the jail: ESRCH");
                return Answer::Refuse(libc::ESRCH);
            }
        }
        Answer::Allow
    }

    /// `F_SETOWN` and friends: the process, thread or group that is to
    /// get a descriptor's signals must lie inside the jail. The kernel
    /// keeps a reference to the target itself, so judging it now is enough;
    /// a target passed in memory is handed over as the jail's copy.
    pub(in crate::tracer) fn judge_signal_owner(
        &mut self,
        pid: Pid,
        name: &str,
        call: OwnerCall,
        regs: &Regs,
    ) -> Answer {
        let arg = |index: usize| arch::argument(regs, index);
        // A target in memory is read once into `bytes`, judged, and handed
        // to the kernel as that copy.
        let in_memory = |size: usize| -> Result<Vec<u8>, i32> {
            let mut bytes = vec![0u8; size];
            memory::read_exact(pid, arg(2), &mut bytes).map_err(|errno| errno as i32)?;
            Ok(bytes)
        };
        let (target, copy) = match call {
            // An int: a pid, or a process group as -pgid.
            OwnerCall::FcntlSetown => (signed(arg(2)), None),
            // A pointer to such an int.
            OwnerCall::IoctlPointer => match in_memory(4) {
                Ok(bytes) => (
                    i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                    Some(bytes),
                ),
                Err(errno) => return Answer::Refuse(errno),
            },
            // struct f_owner_ex { int type; pid_t pid; }: the type says
            // thread, process or group; each is judged by its id.
            OwnerCall::FcntlSetownEx => match in_memory(8) {
                Ok(bytes) => (
                    i32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                    Some(bytes),
                ),
                Err(errno) => return Answer::Refuse(errno),
            },
        };
        if target != 0 && !self.is_jail_pid(target.unsigned_abs()) {
            debug!("{pid}: {name} would send signals to {target} outside the jail: ESRCH");
            return Answer::Refuse(libc::ESRCH);
        }
        match copy {
            None => Answer::Allow,
            Some(bytes) => {
                let mut rewrite = Rewrite::default();
                rewrite.set(2, Arg::Scratch(Part::Struct, bytes));
                Answer::Rewrite(rewrite)
            }
        }
    }

    /// Turning on (or choosing) a descriptor's I/O signals: allowed while
    /// its owner is no one or inside the jail (`F_SETOWN` keeps it so). A
    /// terminal makes its foreground process group the owner by itself,
    /// which may be the shell that started the jail: refused there.
    pub(in crate::tracer) fn judge_async_signals(
        &mut self,
        pid: Pid,
        name: &str,
        fd: i32,
    ) -> Answer {
        let held = match take_descriptor(pid, fd) {
            Ok(held) => held,
            Err(errno) => return Answer::Refuse(errno),
        };
        if nix::unistd::isatty(&held).unwrap_or(false) {
            debug!("{pid}: {name}: signal-driven I/O on a terminal refused");
            return Answer::Refuse(libc::EPERM);
        }
        match sys::signal_owner(&held) {
            Ok((_, 0)) => Answer::Allow,
            Ok((_, owner)) if self.is_jail_pid(owner.unsigned_abs()) => Answer::Allow,
            Ok((_, owner)) => {
                debug!("{pid}: {name}: the descriptor's owner {owner} is outside the jail");
                Answer::Refuse(libc::EPERM)
            }
            Err(errno) => Answer::Refuse(errno as i32),
        }
    }

    pub(in crate::tracer) fn judge_priority(
        &mut self,
        pid: Pid,
        name: &str,
        which: PriorityWhich,
        kind: u64,
        who: u64,
    ) -> Answer {
        let who = signed(who);
        if kind != which.process && kind != which.group {
            debug!("{pid}: {name} on a user refused");
            return Answer::Refuse(libc::EPERM);
        }
        if who > 0 && !self.is_jail_pid(who as u32) {
            return Answer::Refuse(libc::ESRCH);
        }
        Answer::Allow
    }
}

/// Whether task `tid` has begun to exit (or is gone): its `/proc/<tid>/stat`
/// shows a zombie or dead state, or the kernel's `PF_EXITING` flag, which
/// is set before the task wakes whoever waits for it.
pub(in crate::tracer) fn is_exiting(tid: Pid) -> bool {
    const PF_EXITING: u64 = 0x4;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{tid}/stat")) else {
        return true;
    };
    // The name in parentheses may hold anything; the fields follow the
    // last closing one: state, ppid, pgrp, session, tty, tpgid, flags.
    let Some((_, fields)) = stat.rsplit_once(") ") else {
        return false;
    };
    let mut fields = fields.split(' ');
    let state = fields.next().unwrap_or("");
    let flags = fields.nth(5).and_then(|flags| flags.parse::<u64>().ok());
    matches!(state, "Z" | "X" | "x") || flags.is_some_and(|flags| flags & PF_EXITING != 0)
}
