//! Answering a seccomp stop: read the arguments once, resolve, ask the
//! policy, and make the kernel act on the answer.
//!
//! One stop per checked syscall: an allowed call is resumed as it is, a
//! refused one is skipped right here (its number set to -1 and the errno
//! placed in the return register), without waiting for a syscall-exit stop.

use super::memory::{self, read_path};
use super::resolve::{self, Start, Thread};
use super::{Resume, Tracer};
use crate::arch::native::{self as arch, Regs};
use crate::policy::{Target, Verdict};
use crate::syscall::{
    Access, Check, CloneCall, EmptyPath, Follow, OpenCall, OpenFlags, PathOperand, PriorityWhich,
    SignalCall,
};
use log::{debug, warn};
use nix::unistd::Pid;

/// The answer for one stopped syscall.
#[derive(Debug)]
enum Answer {
    Allow,
    /// Skip the syscall; it returns `-errno`.
    Refuse(i32),
}

/// Clone flags that would take the new task out of the jail: untraced, or
/// into new namespaces.
const ESCAPING_CLONE_FLAGS: u64 = (libc::CLONE_UNTRACED
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = 1 << 3;
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
const ADDR_NO_RANDOMIZE: u64 = 0x0040000;

fn signed(value: u64) -> i32 {
    value as i32
}

impl Tracer {
    pub(super) fn on_seccomp_stop(&mut self, pid: Pid) -> Resume {
        let mut regs = match nix::sys::ptrace::getregs(pid) {
            Ok(regs) => regs,
            // Killed while stopped: its death is reported next.
            Err(_) => return Resume::Nothing,
        };
        // A clone this thread made earlier has finished one way or the
        // other by the time it makes another syscall.
        self.release_clone_reservation(pid);
        let nr = arch::syscall_number(&regs);
        let (name, class) = self.syscalls.lookup(nr);
        let answer = match class {
            crate::syscall::Class::Check(check) => self.answer(pid, name, check, &regs),
            // The filter stops only for checked syscalls; anything else
            // reaching here is refused.
            other => {
                warn!("{pid}: unexpected stop for {name} ({other:?}); refusing");
                Answer::Refuse(libc::ENOSYS)
            }
        };
        match answer {
            Answer::Allow => Resume::Continue,
            Answer::Refuse(errno) => {
                arch::skip_with_errno(&mut regs, errno);
                match nix::sys::ptrace::setregs(pid, regs) {
                    Ok(()) => Resume::Continue,
                    // Without the skip the call would run: the task must
                    // not go on. It is gone or going anyway.
                    Err(_) => {
                        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
                        Resume::Nothing
                    }
                }
            }
        }
    }

    fn answer(&mut self, pid: Pid, name: &str, check: Check, regs: &Regs) -> Answer {
        let arg = |index: u8| arch::argument(regs, usize::from(index));
        match check {
            Check::Path(call) => {
                let first = self.judge_operand(pid, name, &call.first, None, regs);
                match (first, call.second) {
                    (Answer::Allow, Some(second)) => {
                        self.judge_operand(pid, name, &second, None, regs)
                    }
                    (answer, _) => answer,
                }
            }
            Check::Open(open) => self.judge_open(pid, name, open, regs),
            Check::Exec(operand) => self.judge_operand(pid, name, &operand, None, regs),
            Check::Descriptor { fd, access } => {
                let thread = self.thread(pid);
                match resolve::start_target(thread, Start::Fd(signed(arg(fd)))) {
                    Ok(target) => self.verdict(pid, name, access, &target, ""),
                    Err(errno) => Answer::Refuse(errno as i32),
                }
            }
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
                Answer::Allow
            }
            Check::Priority(which) => self.judge_priority(pid, name, which, arg(0), arg(1)),
            Check::Seccomp => {
                let op = arg(0);
                if op == u64::from(libc::SECCOMP_SET_MODE_FILTER)
                    && arg(1) & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
                {
                    debug!("{pid}: seccomp listener refused");
                    Answer::Refuse(libc::EPERM)
                } else {
                    Answer::Allow
                }
            }
            Check::Personality => {
                let persona = arg(0) & 0xffff_ffff;
                if persona == PERSONALITY_QUERY || persona & !ADDR_NO_RANDOMIZE == 0 {
                    Answer::Allow
                } else {
                    debug!("{pid}: personality {persona:#x} refused");
                    Answer::Refuse(libc::EPERM)
                }
            }
            // Sessions are not implemented yet: the call is unknown.
            Check::Wakeup => Answer::Refuse(libc::ENOSYS),
        }
    }

    fn thread(&mut self, pid: Pid) -> Thread {
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

    /// Reads, resolves and judges one path operand. `access_override`
    /// replaces the operand's own access (opens compute it from flags).
    fn judge_operand(
        &mut self,
        pid: Pid,
        name: &str,
        operand: &PathOperand,
        access_override: Option<Access>,
        regs: &Regs,
    ) -> Answer {
        let arg = |index: u8| arch::argument(regs, usize::from(index));
        let start = match operand.dirfd {
            Some(index) if signed(arg(index)) != libc::AT_FDCWD => Start::Fd(signed(arg(index))),
            _ => Start::Cwd,
        };
        let flag_set = |index: u8, flag: u64| arg(index) & flag != 0;
        let access = match access_override.unwrap_or(operand.access) {
            Access::StatOrWriteByMode { mode_arg } => {
                if arg(mode_arg) & libc::W_OK as u64 != 0 {
                    Access::Write
                } else {
                    Access::Stat
                }
            }
            access => access,
        };
        let follow = match operand.follow {
            Follow::Always => true,
            Follow::Never => false,
            Follow::UnlessFlag { arg, flag } => !flag_set(arg, flag),
            Follow::IfFlag { arg, flag } => flag_set(arg, flag),
        };
        let address = arg(operand.path);
        let thread = self.thread(pid);
        // An operation on a descriptor the thread already holds: looking
        // at it is always fine (fstat in disguise, pipes included); changing
        // it is judged by the file it names.
        let on_descriptor = |start: Start| match access {
            Access::Stat | Access::Read => Ok(Target::Held),
            _ => resolve::start_target(thread, start),
        };
        let (given, resolved) = if address == 0 && operand.null_means_dirfd {
            (Vec::new(), on_descriptor(start))
        } else {
            let path = match read_path(pid, address) {
                Ok(path) => path,
                Err(errno) => return Answer::Refuse(errno as i32),
            };
            let empty_means_dirfd = match operand.empty_path {
                EmptyPath::Never => false,
                EmptyPath::IfFlag(index) => flag_set(index, libc::AT_EMPTY_PATH as u64),
                EmptyPath::Always => true,
            };
            let resolved = if path.is_empty() && empty_means_dirfd {
                on_descriptor(start)
            } else {
                resolve::resolve(thread, start, &path, follow)
            };
            (path, resolved)
        };
        let given = String::from_utf8_lossy(&given);
        let target = match resolved {
            Ok(target) => target,
            Err(errno) => {
                debug!(
                    "{pid}: {name}({given:?}) does not resolve: {}",
                    errno.desc()
                );
                return Answer::Refuse(errno as i32);
            }
        };
        self.verdict(pid, name, access, &target, &given)
    }

    fn verdict(
        &mut self,
        pid: Pid,
        name: &str,
        access: Access,
        target: &Target,
        given: &str,
    ) -> Answer {
        let verdict = self
            .policy
            .judge(access, target, given, &|other| self.is_jail_pid(other));
        match verdict {
            Verdict::Allow => {
                debug!("{pid}: {name}({given:?} -> {target:?}) {access:?}: allow");
                Answer::Allow
            }
            Verdict::Deny { errno, denial } => {
                debug!("{pid}: {name}({given:?} -> {target:?}) {access:?}: errno {errno}");
                self.report(&denial);
                if pid == self.main && !self.main_execed && name.starts_with("execve") {
                    self.exec_denial = Some((errno, denial));
                }
                Answer::Refuse(errno)
            }
        }
    }

    fn judge_open(&mut self, pid: Pid, name: &str, open: OpenCall, regs: &Regs) -> Answer {
        let arg = |index: u8| arch::argument(regs, usize::from(index));
        let flags = match open.flags {
            OpenFlags::Arg(index) => arg(index) & 0xffff_ffff,
            OpenFlags::Creat => (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
            OpenFlags::How(index) => {
                let mut how = [0u8; 8];
                // `struct open_how` starts with the u64 flags. Read once;
                // the decision is on this copy.
                if let Err(errno) = memory::read_exact(pid, arg(index), &mut how) {
                    return Answer::Refuse(errno as i32);
                }
                u64::from_ne_bytes(how)
            }
        };
        let has = |flag: i32| flags & flag as u64 != 0;
        let access_mode = flags & libc::O_ACCMODE as u64;
        let access = if has(libc::O_PATH) {
            Access::Stat
        } else if has(libc::O_CREAT) || has(libc::O_TMPFILE & !libc::O_DIRECTORY) {
            // Writing there: O_CREAT opens an existing file (a `write` root
            // such as /dev/null included) or makes a new name; O_TMPFILE
            // makes an unnamed file in the named directory. Neither removes
            // or replaces a name, so the roots' protection does not apply.
            Access::Write
        } else if access_mode != libc::O_RDONLY as u64 || has(libc::O_TRUNC) || has(libc::O_APPEND)
        {
            Access::Write
        } else {
            Access::Read
        };
        let exclusive_create = has(libc::O_CREAT) && has(libc::O_EXCL);
        let follow = if has(libc::O_NOFOLLOW) || exclusive_create {
            Follow::Never
        } else {
            Follow::Always
        };
        let operand = PathOperand {
            dirfd: open.dirfd,
            path: open.path,
            access,
            follow,
            empty_path: EmptyPath::Never,
            null_means_dirfd: false,
        };
        self.judge_operand(pid, name, &operand, None, regs)
    }

    fn judge_clone(&mut self, pid: Pid, kind: CloneCall, flags: u64) -> Answer {
        match kind {
            CloneCall::Clone if flags & ESCAPING_CLONE_FLAGS != 0 => {
                debug!("{pid}: clone flags {flags:#x} would escape the jail: EPERM");
                return Answer::Refuse(libc::EPERM);
            }
            // clone3 keeps its flags in memory another thread can change
            // after the check; until the jail copies them somewhere the
            // program cannot write, refuse it so libc falls back to clone.
            CloneCall::Clone3 => return Answer::Refuse(libc::ENOSYS),
            _ => {}
        }
        if let Some(max) = self.limits.max_threads {
            let live = self.tasks.len() as u64 + u64::from(self.clones_in_flight);
            if live >= u64::from(max) {
                debug!("{pid}: {live} tasks live, maxthreads {max}: EAGAIN");
                return Answer::Refuse(libc::EAGAIN);
            }
        }
        self.clones_in_flight += 1;
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.clone_pending = true;
        }
        Answer::Allow
    }

    fn judge_signal(&mut self, pid: Pid, kind: SignalCall, regs: &Regs) -> Answer {
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

    fn judge_priority(
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

/// The thread-group id of `tid`, from `/proc/<tid>/status`.
fn read_tgid(tid: Pid) -> Option<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Tgid:"))?;
    let tgid = line.trim_start_matches("Tgid:").trim().parse().ok()?;
    Some(Pid::from_raw(tgid))
}
