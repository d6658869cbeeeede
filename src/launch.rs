//! Launching the jailed program: fork, child setup, seize, exec.
//!
//! Owns the child between `fork` and `execve`. Everything the child needs
//! is built before forking ([`Command`]); the child then runs only
//! async-signal-safe calls: wait until the tracer has seized it, start a
//! new session, chdir, set no-new-privs, confine itself with Landlock (and
//! fork the descriptor keeper there), set rlimits, close descriptors,
//! install the seccomp filter and exec. A failing step is written to a
//! close-on-exec pipe as `(step, errno)` so the parent can say what went
//! wrong instead of seeing a silent exit.

use crate::config::Rlimit;
use crate::identity::Identity;
use crate::sys;
use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::unistd::{ForkResult, Pid};
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Everything the child needs, prepared before `fork`.
pub struct Command {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub chdir: Option<CString>,
    pub rlimits: Vec<Rlimit>,
    /// The `(soft, hard)` NOFILE limit the jail was started with, when the
    /// jail raised its own soft limit: the child sets it back before the
    /// config's `rlimit` lines, so the program starts with what it would
    /// have had.
    pub nofile: Option<(u64, u64)>,
    /// Inherited descriptors above 2 that pass to the program (`passfd`);
    /// every other one is closed.
    pub pass_fds: Vec<RawFd>,
    pub filter: Vec<libc::sock_filter>,
    /// Descriptors to become the program's stdin, stdout and stderr;
    /// `None` passes the jail's own.
    pub stdio: Option<[RawFd; 3]>,
    /// A Landlock ruleset to restrict the program to, built by the parent.
    pub landlock: Option<RawFd>,
    /// The keeper's end of its socket: fork a [`crate::keeper`] inside the
    /// Landlock domain, right after confining.
    pub keeper: Option<RawFd>,
    /// Stop every task at its exit too (`PTRACE_O_TRACEEXIT`), so that the
    /// tracer can read a process's CPU time before it is gone (`cputime`).
    pub trace_exit: bool,
    /// The user and groups the program runs as (`user`, `group`,
    /// `groups`), set after the rlimits; `None` keeps the jail's.
    pub identity: Option<Identity>,
    /// The capabilities a program started as root keeps (`caps`, bit n
    /// for capability n): its bounding, permitted, effective and
    /// inheritable sets are cut to them, its ambient set cleared.
    pub caps: u64,
}

/// The step of the child's setup that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Synchronise = 1,
    Stdio,
    NewSession,
    Chdir,
    NoNewPrivs,
    Landlock,
    Keeper,
    Rlimit,
    Capabilities,
    CloseFds,
    Seccomp,
    Exec,
    Identity,
}

impl Step {
    fn from_byte(byte: u8) -> Option<Step> {
        [
            Step::Synchronise,
            Step::Stdio,
            Step::NewSession,
            Step::Chdir,
            Step::NoNewPrivs,
            Step::Landlock,
            Step::Keeper,
            Step::Rlimit,
            Step::Capabilities,
            Step::CloseFds,
            Step::Seccomp,
            Step::Exec,
            Step::Identity,
        ]
        .into_iter()
        .find(|step| *step as u8 == byte)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Synchronise => "waiting for the tracer",
            Step::Stdio => "setting up standard input and output",
            Step::NewSession => "starting a new session",
            Step::Rlimit => "setting an rlimit",
            Step::Capabilities => "dropping capabilities",
            Step::Chdir => "changing directory",
            Step::CloseFds => "closing descriptors",
            Step::NoNewPrivs => "setting no-new-privileges",
            Step::Landlock => "confining the program with Landlock",
            Step::Keeper => "starting the descriptor keeper",
            Step::Seccomp => "installing the seccomp filter",
            Step::Exec => "executing the program",
            Step::Identity => "changing the program's user and groups",
        })
    }
}

/// Why the jail could not start the program.
#[derive(Debug)]
pub enum LaunchError {
    /// A pipe or fork failed in the jail itself.
    Resources { what: &'static str, errno: Errno },
    /// `PTRACE_SEIZE` was refused. `traced_by` is the pid of whoever
    /// traces the jail itself, if anyone does.
    Seize {
        errno: Errno,
        traced_by: Option<u32>,
    },
    /// The child's setup failed at `step`.
    Child { step: Step, errno: Errno },
    /// The kernel refused one of the command's rlimits.
    Rlimit { limit: Rlimit, errno: Errno },
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Resources { what, errno } => {
                write!(f, "cannot {what}: {}", errno.desc())
            }
            LaunchError::Seize {
                traced_by: Some(tracer),
                ..
            } => write!(
                f,
                "cannot trace the program: the jail is itself being traced by pid {tracer} (a debugger, or another \
                 jail: jails do not nest); \
                 run it outside the debugger, or make the debugger not follow forks"
            ),
            LaunchError::Seize {
                errno: Errno::EPERM,
                ..
            } => f.write_str(
                "the kernel does not let this process trace its child (ptrace: operation not \
                 permitted); check kernel.yama.ptrace_scope (it must be below 3) and whether \
                 another sandbox or container forbids ptrace",
            ),
            LaunchError::Seize { errno, .. } => {
                write!(f, "cannot trace the program: {}", errno.desc())
            }
            LaunchError::Child {
                step: Step::Seccomp,
                errno: Errno::EINVAL,
            } => f.write_str(
                "the kernel has no seccomp filter support (CONFIG_SECCOMP_FILTER); the jail \
                 needs it",
            ),
            LaunchError::Child {
                step: Step::Seccomp,
                errno: Errno::EACCES,
            } => f.write_str("the kernel refused the seccomp filter (no-new-privileges not set?)"),
            LaunchError::Child { step, errno } => write!(f, "{step}: {}", errno.desc()),
            LaunchError::Rlimit { limit, errno } => {
                write!(f, "cannot set `{limit}`: {}", errno.desc())
            }
        }
    }
}

impl std::error::Error for LaunchError {}

/// A started child: seized by the calling thread, which must be the one
/// that runs the tracer (ptrace belongs to a thread, not a process).
pub struct Launched {
    pub pid: Pid,
    /// Read end of the child's error pipe: empty at EOF means the exec
    /// succeeded.
    pub errors: OwnedFd,
}

/// ptrace options for every tracee. `EXITKILL` ties the jail's life to the
/// tracer's: if the tracer dies, even by SIGKILL, every tracee is killed.
pub fn trace_options() -> Options {
    Options::PTRACE_O_EXITKILL
        | Options::PTRACE_O_TRACESECCOMP
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACESYSGOOD
}

fn pipe() -> Result<(OwnedFd, OwnedFd), LaunchError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| LaunchError::Resources {
        what: "create a pipe",
        errno,
    })
}

/// Forks the child, seizes it and lets it exec `command`.
pub fn spawn(command: &Command) -> Result<Launched, LaunchError> {
    let (go_read, go_write) = pipe()?;
    let (error_read, error_write) = pipe()?;
    // Pointer arrays for execve, built before fork: the child must not
    // allocate.
    let argv: Vec<*const libc::c_char> = command
        .argv
        .iter()
        .map(|arg| arg.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = command
        .envp
        .iter()
        .map(|var| var.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();

    let mut keep: Vec<RawFd> = command.pass_fds.clone();
    keep.push(error_write.as_raw_fd());
    keep.sort_unstable();
    #[allow(unsafe_code)]
    // SAFETY: everything the child needs was built above, and `child`
    // calls only async-signal-safe functions until it execs or exits.
    let forked = unsafe { sys::fork() };
    match forked.map_err(|errno| LaunchError::Resources {
        what: "fork",
        errno,
    })? {
        ForkResult::Child => {
            drop(go_write);
            drop(error_read);
            child(command, &argv, &envp, &keep, go_read, error_write)
        }
        ForkResult::Parent { child } => {
            drop(go_read);
            drop(error_write);
            let options = if command.trace_exit {
                trace_options() | Options::PTRACE_O_TRACEEXIT
            } else {
                trace_options()
            };
            if let Err(errno) = ptrace::seize(child, options) {
                // Closing the go pipe unseized makes the child exit.
                drop(go_write);
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(LaunchError::Seize {
                    errno,
                    traced_by: own_tracer(),
                });
            }
            // One byte tells the child it is traced and may go on.
            if let Err(errno) = nix::unistd::write(&go_write, &[1]) {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::SIGKILL);
                return Err(LaunchError::Resources {
                    what: "start the child",
                    errno,
                });
            }
            Ok(Launched {
                pid: child,
                errors: error_read,
            })
        }
    }
}

/// The pid tracing this process, from `/proc/self/status`, if any.
fn own_tracer() -> Option<u32> {
    let status = crate::procfs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("TracerPid:"))?;
    let tracer: u32 = line.trim_start_matches("TracerPid:").trim().parse().ok()?;
    (tracer != 0).then_some(tracer)
}

/// A failure record: the step, its errno, and which rlimit (for
/// [`Step::Rlimit`]; 0 otherwise).
const RECORD: usize = 9;

/// Reads the child's failure report, if it wrote one before exiting.
/// `command` is the one the child was started with.
pub fn child_failure(errors: &OwnedFd, command: &Command) -> Option<LaunchError> {
    let mut record = [0u8; RECORD];
    let count = nix::unistd::read(errors, &mut record).ok()?;
    if count != record.len() {
        return None;
    }
    let step = Step::from_byte(record[0])?;
    let errno = Errno::from_raw(i32::from_ne_bytes([
        record[1], record[2], record[3], record[4],
    ]));
    let index = u32::from_ne_bytes([record[5], record[6], record[7], record[8]]);
    if step == Step::Rlimit
        && let Some(limit) = usize::try_from(index)
            .ok()
            .and_then(|index| command.rlimits.get(index))
    {
        return Some(LaunchError::Rlimit {
            limit: *limit,
            errno,
        });
    }
    Some(LaunchError::Child { step, errno })
}

/// The child's side, from fork to exec. Async-signal-safe only.
fn child(
    command: &Command,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    keep: &[RawFd],
    go: OwnedFd,
    errors: OwnedFd,
) -> ! {
    let fail_at = |step: Step, errno: Errno, index: u32| -> ! {
        let errno = (errno as i32).to_ne_bytes();
        let index = index.to_ne_bytes();
        let record: [u8; RECORD] = [
            step as u8, errno[0], errno[1], errno[2], errno[3], index[0], index[1], index[2],
            index[3],
        ];
        let _ = nix::unistd::write(&errors, &record);
        sys::exit_immediately(127)
    };
    let fail = |step: Step, errno: Errno| -> ! { fail_at(step, errno, 0) };

    sys::reset_signal_handling();
    // Wait until the tracer has seized us; EOF means it gave up.
    let mut byte = [0u8; 1];
    match nix::unistd::read(&go, &mut byte) {
        Ok(1) => {}
        Ok(_) => sys::exit_immediately(127),
        Err(errno) => fail(Step::Synchronise, errno),
    }
    drop(go);
    if let Some(stdio) = command.stdio {
        for (target, source) in stdio.into_iter().enumerate() {
            // The sources are close-on-exec pipe ends; dup2 clears that
            // flag on the copies at 0, 1 and 2.
            if let Err(errno) = sys::dup2(source, target as RawFd) {
                fail(Step::Stdio, errno);
            }
        }
    }
    // A session of its own: the jail can then signal its own process
    // groups without reaching the shell or bot that started it, and no
    // terminal is its controlling terminal (so TIOCSTI cannot type into it).
    if let Err(errno) = nix::unistd::setsid() {
        fail(Step::NewSession, errno);
    }
    if let Some(dir) = &command.chdir
        && let Err(errno) = nix::unistd::chdir(dir.as_c_str())
    {
        fail(Step::Chdir, errno);
    }
    // No-new-privileges first: Landlock needs it, and it also keeps a
    // setuid program from gaining rights in the jail.
    if let Err(errno) = nix::sys::prctl::set_no_new_privs() {
        fail(Step::NoNewPrivs, errno);
    }
    if let Some(ruleset) = command.landlock
        && let Err(errno) = sys::landlock_restrict_self(ruleset)
    {
        fail(Step::Landlock, errno);
    }
    // The keeper shares the Landlock domain (so the program may reach its
    // /proc) but not the program's limits, which come next.
    if let Some(keeper_end) = command.keeper
        && let Err(errno) =
            crate::keeper::spawn_from_child(keeper_end, command.identity.as_ref(), command.caps)
    {
        fail(Step::Keeper, errno);
    }
    // (Not one of the config's lines: no index names it.)
    if let Some((soft, hard)) = command.nofile
        && let Err(errno) = sys::set_rlimit(rlimit::Resource::NOFILE, soft, hard)
    {
        fail_at(Step::Rlimit, errno, u32::MAX);
    }
    for (index, limit) in command.rlimits.iter().enumerate() {
        if let Err(errno) = sys::set_rlimit(limit.resource, limit.soft, limit.hard) {
            fail_at(Step::Rlimit, errno, index as u32);
        }
    }
    // After the limits (raising one may need CAP_SYS_RESOURCE). The
    // bounding set goes while the child is still root; leaving root then
    // takes every other capability with it. (A jail without CAP_SETPCAP
    // cannot drop it, and needs not: no_new_privs keeps an exec from
    // granting what the bounding set holds.)
    if let Some(identity) = &command.identity {
        match sys::drop_bounding_set(command.caps) {
            Ok(()) | Err(Errno::EPERM) => {}
            Err(errno) => fail(Step::Capabilities, errno),
        }
        if let Err(errno) = sys::set_identity(identity.uid, identity.gid, &identity.groups) {
            fail(Step::Identity, errno);
        }
    }
    // A program started as root keeps only `caps` (none by default), so
    // it cannot raise the limits back nor reach past the tracer.
    if let Err(errno) = sys::drop_capabilities(command.caps, sys::CapabilityScope::ForGood) {
        fail(Step::Capabilities, errno);
    }
    // Nothing of the jail's or of whoever started it reaches the program
    // but stdio and the descriptors passed on purpose. `keep` was sorted
    // before fork; the error pipe closes itself at exec.
    #[allow(unsafe_code)]
    // SAFETY: the child execs or exits next. The objects that own its
    // descriptors are copies of the parent's that never run here; the one
    // it still uses, the error pipe, is in `keep`.
    let close = |first, last| unsafe { sys::close_range(first, last) };
    // In u32: `passfd 2147483647` must not wrap `fd + 1`.
    let mut next: u32 = 3;
    for &fd in keep.iter() {
        let Ok(fd) = u32::try_from(fd) else {
            continue;
        };
        if fd < next {
            continue;
        }
        if fd > next
            && let Err(errno) = close(next, fd - 1)
        {
            fail(Step::CloseFds, errno);
        }
        next = fd + 1;
    }
    if let Err(errno) = close(next, u32::MAX) {
        fail(Step::CloseFds, errno);
    }
    if let Err(errno) = sys::install_seccomp_filter(&command.filter) {
        fail(Step::Seccomp, errno);
    }
    #[allow(unsafe_code)]
    // SAFETY: `spawn` built `argv` and `envp` from `command`'s strings,
    // which outlive the call, each ending with a null pointer.
    let errno = unsafe { sys::execve(&command.path, argv, envp) };
    fail(Step::Exec, errno)
}
