//! Answering a seccomp stop: which check a syscall needs, and what every
//! check shares (the thread's ids, resolving a path for it, asking the
//! policy, whether a buffer can change under the kernel).
//!
//! The checks themselves live in [`super::checks`], one file per family;
//! they return an [`Answer`]: refuse (skipped at this same stop), allow
//! (nothing read from the program's memory, or nothing that can change),
//! or rewrite (the kernel gets the jail's own copies in scratch memory the
//! program cannot write, and where a writable tree could swap a name, the
//! object or its parent held open by the jail). [`super::rewrite`] applies
//! the answer and undoes the rewrite at the syscall's exit.

use crate::arch::native::{self as arch, Regs};
use crate::policy::{Asker, Target, Verdict};
use crate::syscall::{Access, ArgAction, AsyncCall, Check, Class, CloneCall};
use crate::tracer::answer::{Answer, Rewrite};
use crate::tracer::checks::memory::judge_memory_guard;
use crate::tracer::checks::processes::{personality_answer, seccomp_answer};
use crate::tracer::resolve::{self, Resolved, Start, Thread};
use crate::tracer::scratch::Part;
use crate::tracer::{Tracer, spaces};
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(in crate::tracer) fn signed(value: u64) -> i32 {
    value as i32
}

impl Tracer {
    /// Decides the syscall `regs` describes for task `pid`.
    pub(super) fn answer(&mut self, pid: Pid, regs: &Regs) -> Answer {
        let nr = arch::syscall_number(regs);
        let (name, class) = self.syscalls.lookup(nr);
        match class {
            Class::Check(check) => self.answer_check(pid, name, check, regs),
            Class::ByArg {
                arg,
                cases,
                otherwise,
            } => {
                let value = arch::argument(regs, usize::from(arg)) & 0xffff_ffff;
                let action = cases
                    .iter()
                    .find(|case| u64::from(case.value) == value)
                    .map_or(otherwise, |case| case.action);
                match action {
                    ArgAction::Check(check) => self.answer_check(pid, name, check, regs),
                    ArgAction::Refuse(errno) => Answer::Refuse(errno),
                    ArgAction::Allow => {
                        warn!("{pid}: unexpected stop for {name} ({value:#x}); refusing");
                        Answer::Refuse(libc::ENOSYS)
                    }
                }
            }
            Class::Guard(guard) => judge_memory_guard(pid, name, guard, regs),
            // Under `report` the filter stops refused syscalls for this.
            Class::Refuse(errno) => {
                debug!("{pid}: {name} ({nr}): refused with errno {errno}");
                self.report_syscall(name, nr);
                Answer::Refuse(errno)
            }
            // The filter stops only for the classes above; anything else
            // reaching here is refused.
            other => {
                warn!("{pid}: unexpected stop for {name} ({other:?}); refusing");
                Answer::Refuse(libc::ENOSYS)
            }
        }
    }

    fn answer_check(&mut self, pid: Pid, name: &str, check: Check, regs: &Regs) -> Answer {
        let arg = |index: u8| arch::argument(regs, usize::from(index));
        match check {
            Check::Path(call) => {
                let mut rewrite = Rewrite::default();
                let operands = [(call.first, Part::FirstPath)]
                    .into_iter()
                    .chain(call.second.map(|second| (second, Part::SecondPath)));
                for (operand, part) in operands {
                    if let Err(errno) =
                        self.judge_operand(pid, name, &operand, part, regs, &mut rewrite)
                    {
                        return Answer::Refuse(errno);
                    }
                }
                Answer::Rewrite(rewrite)
            }
            Check::Open(open) => self.judge_open(pid, name, open, regs),
            Check::Exec(operand) => {
                let mut rewrite = Rewrite::default();
                match self.judge_operand(pid, name, &operand, Part::FirstPath, regs, &mut rewrite) {
                    Ok(()) => Answer::Rewrite(rewrite),
                    Err(errno) => Answer::Refuse(errno),
                }
            }
            Check::Descriptor { fd, access } => self.judge_descriptor(pid, name, arg(fd), access),
            Check::Clone(CloneCall::Clone3) => self.judge_clone3(pid, regs),
            Check::Clone(kind) => self.judge_clone(pid, kind, arg(0)),
            Check::Signal(kind) => self.judge_signal(pid, kind, regs),
            Check::Pids(args) => {
                for index in args {
                    let target = signed(arg(*index));
                    if target > 0 && !self.is_jail_pid(target as u32) {
                        debug!("{pid}: {name} on pid {target} outside the jail: ESRCH");
                        return Answer::Refuse(libc::ESRCH);
                    }
                }
                if name == "process_vm_writev" && signed(arg(0)) != self.thread(pid).tgid.as_raw() {
                    // Writing another process's memory could change an
                    // argument between the check and the kernel's read.
                    debug!("{pid}: process_vm_writev into another process refused");
                    return Answer::Refuse(libc::EPERM);
                }
                Answer::Allow
            }
            Check::Priority(which) => self.judge_priority(pid, name, which, arg(0), arg(1)),
            Check::Seccomp => {
                let answer = seccomp_answer(arg(0), arg(1));
                if let Answer::Refuse(errno) = answer {
                    debug!(
                        "{pid}: seccomp({:#x}, {:#x}): errno {errno}",
                        arg(0),
                        arg(1)
                    );
                }
                answer
            }
            Check::SignalOwner(call) => self.judge_signal_owner(pid, name, call, regs),
            // The filter stops F_SETFL only with O_ASYNC; judged again here.
            Check::AsyncSignals(AsyncCall::FcntlSetfl) if arg(2) & libc::O_ASYNC as u64 == 0 => {
                Answer::Allow
            }
            Check::AsyncSignals(_) => self.judge_async_signals(pid, name, signed(arg(0))),
            Check::AsyncIo => {
                if let Some(task) = self.tasks.get_mut(&pid) {
                    match task.space {
                        Some(space) => self.spaces.mark_async_writer(space),
                        None => task.async_io_pending = true,
                    }
                }
                Answer::Allow
            }
            Check::ObjectChange { fd } => self.judge_object_change(pid, name, signed(arg(fd))),
            Check::Personality => {
                let answer = personality_answer(arg(0));
                if let Answer::Refuse(errno) = answer {
                    debug!("{pid}: personality {:#x}: errno {errno}", arg(0));
                }
                answer
            }
            Check::Wakeup => match self.suspender.as_mut() {
                Some(suspend) => {
                    debug!("{pid}: wakeup: the command is done");
                    // Between commands nothing in the jail runs: a child or
                    // thread left spinning would use the machine with no
                    // time limit counting. Every other task stops at its
                    // next chance (its stop waits, unanswered, in the
                    // tracer's queue) and goes on when the next command
                    // starts and this returns.
                    for other in self.tasks.keys().filter(|other| **other != pid) {
                        let _ = nix::sys::ptrace::interrupt(*other);
                    }
                    suspend();
                    // The next command must see what the server and the
                    // host have then.
                    if let Some(downloads) = self.downloads.as_mut() {
                        downloads.forget();
                    }
                    self.directories.borrow_mut().clear();
                    // The syscall itself does nothing and returns 0.
                    Answer::Refuse(0)
                }
                None => Answer::Refuse(libc::ENOSYS),
            },
        }
    }

    /// Whether no other task can change `pid`'s descriptor table (or its
    /// memory) before the kernel acts: its address space, which a
    /// `CLONE_FILES` sibling joins too, has no other user. A descriptor
    /// judged now is then the one the kernel looks up.
    pub(in crate::tracer) fn alone_with_descriptors(&self, pid: Pid) -> bool {
        self.tasks
            .get(&pid)
            .and_then(|task| task.space)
            .is_some_and(|space| self.spaces.is_private(space))
    }

    pub(super) fn thread(&mut self, pid: Pid) -> Thread {
        let tgid = match self.tasks.get(&pid).and_then(|task| task.tgid) {
            Some(tgid) => tgid,
            None => {
                let tgid = read_tgid(pid).unwrap_or(pid);
                if let Some(task) = self.tasks.get_mut(&pid) {
                    task.tgid = Some(tgid);
                }
                tgid
            }
        };
        Thread { tid: pid, tgid }
    }

    /// Resolves a path for `thread` with the jail's view of the system.
    pub(in crate::tracer) fn resolve(
        &self,
        thread: Thread,
        start: Start,
        path: &[u8],
        follow: bool,
    ) -> Result<Resolved, Errno> {
        let view = resolve::View {
            writable: &|dir| self.policy.is_writable_dir(dir),
            is_jail_pid: &|pid| self.is_jail_pid(pid),
            directories: &self.directories,
        };
        resolve::resolve(thread, start, path, follow, &view)
    }

    /// Whether nothing but the stopped task itself can change the `len`
    /// bytes at `address` before the kernel reads them: the task is alone
    /// in its address space and the bytes lie in private memory no other
    /// process or file writer reaches.
    pub(in crate::tracer) fn untouchable(&mut self, pid: Pid, address: u64, len: u64) -> bool {
        if !self.procmap_query {
            return false;
        }
        if self.tasks.get(&pid).is_some_and(|task| task.maps.is_none()) {
            self.make_room_for_maps(pid);
        }
        let Some(task) = self.tasks.get_mut(&pid) else {
            return false;
        };
        if task.shares_fs {
            return false;
        }
        let Some(space) = task.space else {
            return false;
        };
        if !self.spaces.is_private(space) {
            return false;
        }
        if task.maps.is_none() {
            task.maps = spaces::open_maps(pid);
        }
        let Some(maps) = &task.maps else {
            return false;
        };
        let policy = &self.policy;
        let writable_file =
            |name: &[u8]| policy.is_writable_dir(Path::new(OsStr::from_bytes(name)));
        match spaces::buffer_is_private(maps, address, len, &writable_file) {
            Ok(private) => private,
            Err(Errno::ENOTTY | Errno::EINVAL) => {
                debug!("no PROCMAP_QUERY on this kernel: every argument is copied");
                self.procmap_query = false;
                false
            }
            Err(_) => false,
        }
    }

    /// Asks the policy; a denial is reported and becomes the errno.
    pub(in crate::tracer) fn verdict(
        &mut self,
        pid: Pid,
        name: &str,
        access: Access,
        target: &Target,
        given: &str,
    ) -> Result<(), i32> {
        let thread = self.thread(pid);
        let asker = Asker {
            tgid: thread.tgid.as_raw() as u32,
            tid: pid.as_raw() as u32,
        };
        let verdict = self.policy.judge(
            access,
            target,
            given,
            &|other| self.is_jail_pid(other),
            Some(asker),
        );
        match verdict {
            Verdict::Allow => {
                debug!("{pid}: {name}({given:?} -> {target:?}) {access:?}: allow");
                Ok(())
            }
            Verdict::Deny { errno, denial } => {
                debug!("{pid}: {name}({given:?} -> {target:?}) {access:?}: errno {errno}");
                self.report(&denial);
                if pid == self.main && !self.main_execed && name.starts_with("execve") {
                    self.exec_denial = Some((errno, denial));
                }
                Err(errno)
            }
        }
    }
}

/// The thread-group id of `tid`, from `/proc/<tid>/status`.
pub(in crate::tracer) fn read_tgid(tid: Pid) -> Option<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Tgid:"))?;
    let tgid = line.trim_start_matches("Tgid:").trim().parse().ok()?;
    Some(Pid::from_raw(tgid))
}
