//! Templates (`template`, docs/sessions.md "Templates"): the prepared
//! process parked at its wakeup, the runs forked from it, and each run's
//! bookkeeping in the one tracer that traces them all.
//!
//! Owns: waking the tracer for a run request (it waits in `poll` on a
//! `signalfd` for `SIGCHLD` and on the server's doorbell, then drains
//! `waitpid(WNOHANG)`), the fork injected into the parked wakeup (the
//! parked thread's syscall becomes `clone(CLONE_PARENT | SIGCHLD)`, and
//! at its exit the thread is rewound to make the wakeup again), the
//! syscalls injected into the copy to give it its stdio (pipes the tracer
//! makes), the ready copies (one is kept spare while no run goes, so a
//! request finds a copy that only has to be let go), and the runs'
//! table: which run a task belongs to, the end of a run (its root ends
//! or makes the wakeup), and the events the server hears.

use super::task::InSyscall;
use super::{Outcome, PendingClone, Resume, TraceError, Tracer, event::Event, scratch};
use crate::arch::native::{self as arch, Regs};
use crate::sys;
use log::{debug, warn};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::EventFd;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// A run asked of the tracer by the server.
pub struct RunRequest {
    /// The server's name for the run.
    pub id: u64,
    /// Where the tracer says how the run goes.
    pub replies: mpsc::Sender<RunEvent>,
    /// Rung after each reply, so the run's thread can wait in `poll`.
    pub notify: Arc<EventFd>,
}

/// The server's ends of a run's stdio, all non-blocking: the copy opened
/// its own descriptions of the pipes, with its own flags.
#[derive(Debug)]
pub struct RunPipes {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The pipes of a copy: the server's ends, the copy's (stdin's read end,
/// stdout's and stderr's write ends, named by the copy's opens and
/// dropped once it has its own), and a write end of stderr for the
/// `report` lines of its run.
struct CopyPipes {
    server: RunPipes,
    copy_ends: [OwnedFd; 3],
    report: OwnedFd,
}

impl CopyPipes {
    fn new() -> Result<CopyPipes, Errno> {
        let pipe =
            || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK);
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let report = stderr_write.try_clone().map_err(|_| Errno::EMFILE)?;
        Ok(CopyPipes {
            server: RunPipes {
                stdin: stdin_write,
                stdout: stdout_read,
                stderr: stderr_read,
            },
            copy_ends: [stdin_read, stdout_write, stderr_write],
            report,
        })
    }
}

/// A copy with its stdio, stopped where its wakeup returns: the next
/// request's run.
struct Ready {
    pid: Pid,
    pidfd: OwnedFd,
    /// The parked thread's registers at the wakeup it was forked from.
    saved: Regs,
    server: RunPipes,
    report: OwnedFd,
}

/// A copy being forked or given its stdio: its provisional run id (its
/// tasks' until a request takes it) and its pipes.
struct Making {
    id: u64,
    pipes: CopyPipes,
    saved: Regs,
    /// Made to be the rehearsal (see [`super::warm`]) if no request
    /// takes it first.
    rehearsal: bool,
}

/// What the tracer tells a run's thread.
#[derive(Debug)]
pub enum RunEvent {
    /// The copy runs, from its wakeup on, with its stdio, whose other
    /// ends are `pipes`. `pidfd` names its root, for the run's watchdog
    /// (opened before the root could be reaped). `usage` counts what its
    /// processes use, when the link asked for it.
    Started {
        pid: Pid,
        pidfd: OwnedFd,
        pipes: RunPipes,
        usage: Option<Arc<crate::usage::Usage>>,
    },
    /// The copy could not be made or given its stdio.
    NotStarted(String),
    /// The run is over: every task of it has been killed. `complete`:
    /// its root was its only task and had stopped for good (at its exit
    /// stop, its wakeup or its death), so every byte the run wrote is in
    /// its pipes already; the relay need not wait for their end of file,
    /// which comes only once the kernel has torn the copy's memory down.
    Ended { how: RunEnd, complete: bool },
}

/// How a run's root ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Exited(i32),
    Killed(i32),
    /// It made the wakeup syscall (a REPL driver's "command done").
    Done,
}

/// What connects the tracer to the template server.
pub struct Link {
    /// Run requests, each followed by a ring of `doorbell`.
    pub requests: mpsc::Receiver<RunRequest>,
    pub doorbell: Arc<EventFd>,
    /// Called once, at the first wakeup: the process is prepared.
    pub prepared: Box<dyn FnMut()>,
    /// Called once, when the prepared process has ended: no run can be
    /// forked any more.
    pub gone: Box<dyn FnMut()>,
    /// Runs whose relay still goes (the server counts them, and rings
    /// `doorbell` when one ends): a spare copy is made only when there
    /// are none, so that its fork never takes a CPU from a run.
    pub relays: Arc<std::sync::atomic::AtomicUsize>,
    /// The rehearsal's input (`rehearsal`); `None`: no rehearsal.
    pub rehearsal: Option<Vec<u8>>,
    /// The limits of a run, which the rehearsal (a run with no thread of
    /// its own to enforce them) keeps too.
    pub limits: RunLimits,
}

/// A run's own limits: `timelimit`, `cputime`, `maxmemory`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLimits {
    pub time: Option<Duration>,
    pub cpu: Option<Duration>,
    pub memory: Option<u64>,
}

impl RunLimits {
    /// Whether a run's CPU time and memory are counted (`cputime`,
    /// `maxmemory`).
    pub fn counted(&self) -> bool {
        self.cpu.is_some() || self.memory.is_some()
    }

    /// The limit `usage` is past, if any (CPU time first).
    pub fn past(&self, usage: &crate::usage::Usage) -> Option<PastLimit> {
        if self.cpu.is_some_and(|limit| usage.cpu() > limit) {
            return Some(PastLimit::Cpu);
        }
        if self.memory.is_some_and(|limit| usage.memory() > limit) {
            return Some(PastLimit::Memory);
        }
        None
    }
}

/// Which of a run's limits it went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastLimit {
    Cpu,
    Memory,
}

/// The tracer's template state.
pub(super) struct State {
    link: Link,
    signals: SignalFd,
    /// Requests waiting for a ready copy.
    pending: VecDeque<RunRequest>,
    /// Copies ready for a run: one spare at most while no run goes, more
    /// only while requests wait for them.
    ready: VecDeque<Ready>,
    /// The next provisional run id of a copy (counting down from the
    /// top, far from the server's ids).
    next_copy: u64,
    /// A copy failed to get ready with no request waiting: no spare is
    /// made again before the next request (which then hears why).
    broken: bool,
    /// Forks of a copy in a row that a pending signal interrupted (see
    /// [`MAX_INTERRUPTED_FORKS`]).
    interrupted: u32,
    /// The thread that made the first wakeup: the one every copy is of.
    thread: Option<Pid>,
    /// Its registers at the wakeup's seccomp stop, while it is parked
    /// there.
    parked: Option<Regs>,
    /// The copy being forked.
    forking: Option<Making>,
    /// Copies whose first stop has not been seen yet.
    starting: HashMap<Pid, Making>,
    /// Runs by their root.
    runs: HashMap<Pid, Run>,
    /// The prepared process has ended.
    gone: bool,
    /// A rehearsal has been started (there is one per prepared process).
    rehearsed: bool,
    /// The rehearsal going on.
    rehearsal: Option<Rehearsal>,
    /// The pages a run touches, learned from the rehearsal.
    learned: Option<super::warm::Learned>,
    /// The spare copy being warmed, and how far.
    warming: Option<(Pid, super::warm::Progress)>,
}

/// The rehearsal going on (see [`super::warm`]): a run of its own, in
/// [`State::runs`] too, which no client hears.
struct Rehearsal {
    root: Pid,
    /// When it is cut short.
    deadline: Instant,
    /// When its CPU time and memory were last looked at (at most every
    /// [`crate::watchdog::POLL_MIN`]: each look reads `/proc` files of all
    /// its processes).
    looked: Instant,
    /// Its stdout and stderr, held open and never read (a write to a pipe
    /// with no reader would kill it).
    _output: [OwnedFd; 2],
}

struct Run {
    id: u64,
    replies: mpsc::Sender<RunEvent>,
    notify: Arc<EventFd>,
    report: Option<Rc<OwnedFd>>,
    /// What the run's processes use, for its `cputime` and `maxmemory`
    /// (kept only with one of them).
    usage: Option<Arc<crate::usage::Usage>>,
}

/// The syscalls injected into a fresh copy, one at a time.
pub(super) struct Injection {
    /// The parked thread's registers at its wakeup.
    saved: Regs,
    steps: VecDeque<Injected>,
    current: Option<Injected>,
    /// The next syscall stop is the injected call's entry.
    awaiting_entry: bool,
    /// The copy's provisional run id, and its pipes.
    id: u64,
    pipes: CopyPipes,
    rehearsal: bool,
    pidfd: OwnedFd,
    /// Under Landlock, the pipes lent to the keeper until the opens are
    /// done (without it the tracer's own descriptors are named).
    lent: Option<crate::keeper::Lent>,
}

impl std::fmt::Debug for Injection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injection")
            .field("current", &self.current)
            .field("steps left", &self.steps.len())
            .field("copy", &self.id)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
struct Injected {
    what: &'static str,
    nr: u64,
    args: [u64; 6],
    /// The value it must return (`None`: any non-negative one).
    expect: Option<i64>,
}

impl Injected {
    fn succeeded(&self, result: i64) -> bool {
        match self.expect {
            Some(value) => result == value,
            None => result >= 0,
        }
    }
}

/// The flags of the injected fork: the copy is the server's child, as
/// the prepared process is (the server reaps it), with `SIGCHLD` at its
/// end.
pub const FORK_FLAGS: u64 = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;

/// Forks of a copy in a row a signal may interrupt before the copy is
/// given up: a prepared process with a signal always pending (an
/// interval timer of a few microseconds) would otherwise have the
/// tracer fork it again forever, spinning, and no run would ever start.
const MAX_INTERRUPTED_FORKS: u32 = 64;

/// How long a rehearsal may take before it is cut short (and nothing
/// learned), at most: a run's own time limit when shorter. A rehearsal is
/// expected to end at once.
const REHEARSAL_LIMIT: Duration = Duration::from_secs(2);

/// Pages of a spare warmed between two looks for news: a copy-on-write
/// fault costs 1 to 5 µs here, so a request that comes meanwhile waits
/// for at most about 0.1 ms of them.
const WARM_CHUNK: usize = 16;

/// The room of each of the copy's three paths in its scratch slot.
const PATH_ROOM: u64 = 256;

/// The three paths, each NUL-terminated at the start of its
/// [`PATH_ROOM`], as one write; `None` if one does not fit.
fn laid_out(paths: &[String; 3]) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; 3 * PATH_ROOM as usize];
    for (index, path) in paths.iter().enumerate() {
        if path.len() >= PATH_ROOM as usize || path.as_bytes().contains(&0) {
            return None;
        }
        let start = index * PATH_ROOM as usize;
        bytes[start..start + path.len()].copy_from_slice(path.as_bytes());
    }
    Some(bytes)
}

/// The syscalls that give a copy the run's stdio: its own session, 0 to
/// 2 closed, and three opens that land on 0, 1 and 2 (the lowest free
/// numbers). `paths` are the addresses of the three paths; `pid` is the
/// copy's.
fn stdio_steps(pid: Pid, paths: [u64; 3]) -> Option<VecDeque<Injected>> {
    let number = |name: &str| crate::arch::number_of(name).map(u64::from);
    let at_fdcwd = libc::AT_FDCWD as i64 as u64;
    let open = |what, path, flags: i32, expect| Injected {
        what,
        nr: 0,
        args: [at_fdcwd, path, flags as u64, 0, 0, 0],
        expect: Some(expect),
    };
    let openat = number("openat")?;
    let mut steps = VecDeque::from([
        // It must return the copy's own pid, the new session's id: a
        // template's own seccomp filter can make it return 0 (or any
        // errno) without running, and a copy left in the prepared
        // process's group would reach every such run and the prepared
        // process with `kill(0)`, which the jail allows as its own group.
        Injected {
            what: "setsid",
            nr: number("setsid")?,
            args: [0; 6],
            expect: Some(i64::from(pid.as_raw())),
        },
        Injected {
            what: "close_range",
            nr: number("close_range")?,
            args: [0, 2, 0, 0, 0, 0],
            expect: Some(0),
        },
        open("open stdin", paths[0], libc::O_RDONLY, 0),
        open("open stdout", paths[1], libc::O_WRONLY, 1),
        open("open stderr", paths[2], libc::O_WRONLY, 2),
    ]);
    for step in steps.iter_mut().skip(2) {
        step.nr = openat;
    }
    Some(steps)
}

/// The registers that make a thread stopped anywhere run `step` at the
/// `syscall` instruction of the wakeup saved in `saved`.
fn registers_for(saved: &Regs, step: &Injected) -> Regs {
    let mut regs = arch::to_run_again(saved);
    regs.rax = step.nr;
    arch::set_syscall_number(&mut regs, step.nr);
    for (index, value) in step.args.into_iter().enumerate() {
        arch::set_argument(&mut regs, index, value);
    }
    regs
}

/// Whether descriptors 0, 1 and 2 of copy `pid` are the run's pipes, and
/// it leads a session and process group of its own.
/// The opens named them by paths in the copy's private, read-only slot
/// of the scratch region, which nothing else can write; checked all the
/// same, as a second wall (a copy's 0 to 2 must never be another run's).
/// So is the session, whose `setsid` the copy's own filter could fake.
fn lands_on_its_pipes(pid: Pid, stdio: &[OwnedFd; 3]) -> Result<(), String> {
    let session = nix::unistd::getsid(Some(pid));
    let group = nix::unistd::getpgid(Some(pid));
    if session != Ok(pid) || group != Ok(pid) {
        return Err(format!(
            "cannot give the run a session of its own: setsid left it in {session:?}, group {group:?}"
        ));
    }
    for (fd, pipe) in stdio.iter().enumerate() {
        let expected = nix::sys::stat::fstat(pipe).map_err(|errno| errno.desc().to_string())?;
        let opened = nix::sys::stat::stat(format!("/proc/{pid}/fd/{fd}").as_str());
        if !opened.is_ok_and(|got| (got.st_dev, got.st_ino) == (expected.st_dev, expected.st_ino)) {
            return Err(format!(
                "cannot give the run its stdin, stdout and stderr: descriptor {fd} is not its pipe"
            ));
        }
    }
    Ok(())
}

/// Whether process `pid` has a signal pending, for itself or its thread
/// group (`/proc/<pid>/status`: `SigPnd`, `ShdPnd`); unreadable counts as
/// pending.
fn has_pending_signal(pid: Pid) -> bool {
    let Ok(text) = crate::procfs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    text.lines()
        .filter_map(|line| {
            line.strip_prefix("SigPnd:")
                .or_else(|| line.strip_prefix("ShdPnd:"))
        })
        .any(|mask| u64::from_str_radix(mask.trim(), 16) != Ok(0))
}

/// Whether thread `tid` is inside a clone, fork or vfork (its
/// `/proc/<tid>/syscall` names one): a thread that has left it holds a
/// reservation only until its next syscall.
fn is_in_clone(tid: Pid) -> bool {
    let Ok(text) = crate::procfs::read_to_string(format!("/proc/{tid}/syscall")) else {
        return false;
    };
    let Some(nr) = text
        .split_whitespace()
        .next()
        .and_then(|nr| nr.parse::<u32>().ok())
    else {
        return false;
    };
    ["clone", "clone3", "fork", "vfork"]
        .iter()
        .any(|name| crate::arch::number_of(name) == Some(nr))
}

impl Tracer {
    /// Traces the template program and every run forked from it until the
    /// prepared process has ended and no run is left (see [`Link`]).
    /// The calling thread must have `SIGCHLD` blocked, as must every other
    /// thread of the process (the server blocks it before starting any).
    pub fn run_template(mut self, link: Link) -> Result<Outcome, TraceError> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(TraceError::Wait)?;
        let rehearsed = link.rehearsal.is_none();
        self.template = Some(Box::new(State {
            link,
            signals,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            next_copy: u64::MAX,
            broken: false,
            interrupted: 0,
            thread: None,
            parked: None,
            forking: None,
            starting: HashMap::new(),
            runs: HashMap::new(),
            gone: false,
            rehearsed,
            rehearsal: None,
            learned: None,
            warming: None,
        }));
        let outcome = self.serve_runs();
        self.end_every_run();
        self.kill_everything();
        outcome
    }

    fn serve_runs(&mut self) -> Result<Outcome, TraceError> {
        let mut ended: Option<Outcome> = None;
        loop {
            match sys::wait_any_now() {
                Ok(Some((pid, status))) => {
                    if let Some(outcome) = self.on_event(pid, status)? {
                        self.template_gone();
                        ended = Some(outcome);
                    }
                }
                Ok(None) => self.wait_for_news()?,
                Err(Errno::ECHILD) => {
                    return Ok(ended.unwrap_or(Outcome::Killed(libc::SIGKILL)));
                }
                Err(errno) => return Err(TraceError::Wait(errno)),
            }
            if let Some(outcome) = &ended
                && self.template.as_ref().is_some_and(|state| {
                    state.runs.is_empty() && state.starting.is_empty() && state.forking.is_none()
                })
                && !self.tasks.values().any(|task| task.run.is_some())
            {
                return Ok(outcome.clone());
            }
            self.sweep_orphans();
            self.take_requests();
        }
    }

    /// Waits until a task has something to report or the server rings.
    fn wait_for_news(&mut self) -> Result<(), TraceError> {
        let Some(state) = self.template.as_mut() else {
            return Ok(());
        };
        let mut fds = [
            PollFd::new(state.signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(state.link.doorbell.as_fd(), PollFlags::POLLIN),
        ];
        // A spare to warm: only a look. A rehearsal going: until it is
        // due to be cut short.
        let timeout = if state.warming.is_some() {
            PollTimeout::ZERO
        } else if let Some(rehearsal) = &state.rehearsal {
            let mut left = rehearsal.deadline.saturating_duration_since(Instant::now());
            // Its CPU time and memory are looked at as a run's relay does.
            if state.link.limits.counted() {
                left = left.min(crate::watchdog::POLL_MIN);
            }
            PollTimeout::try_from(left.as_millis().saturating_add(1)).unwrap_or(PollTimeout::MAX)
        } else {
            PollTimeout::NONE
        };
        let news = match poll(&mut fds, timeout) {
            Ok(count) => count > 0,
            Err(Errno::EINTR) => true,
            Err(errno) => return Err(TraceError::Wait(errno)),
        };
        // Both are non-blocking: what is there is taken, nothing waits.
        while let Ok(Some(_)) = state.signals.read_signal() {}
        let _ = nix::unistd::read(state.link.doorbell.as_fd(), &mut [0u8; 8]);
        if let Some(rehearsal) = &mut state.rehearsal {
            let root = rehearsal.root;
            let usage = state.runs.get(&root).and_then(|run| run.usage.as_ref());
            let due = rehearsal.looked.elapsed() >= crate::watchdog::POLL_MIN;
            let past = match usage {
                Some(usage) if due => {
                    rehearsal.looked = Instant::now();
                    state.link.limits.past(usage).is_some()
                }
                _ => false,
            };
            if past || Instant::now() >= rehearsal.deadline {
                debug!(
                    "{root}: the rehearsal took too long or too much: cut short, nothing learned"
                );
                self.end_run(root, RunEnd::Killed(libc::SIGKILL));
            }
        }
        if !news {
            self.warm_spare();
        }
        Ok(())
    }

    /// Warms the next [`WARM_CHUNK`] pages of the spare being warmed.
    fn warm_spare(&mut self) {
        let Some(state) = self.template.as_mut() else {
            return;
        };
        let (Some((pid, mut progress)), Some(learned)) = (state.warming, state.learned.as_ref())
        else {
            return;
        };
        // Only a copy still waiting among the ready ones: one that died
        // left them when it was reaped, and its pid may since be another
        // process's (a run's, running).
        if !state.ready.iter().any(|ready| ready.pid == pid) {
            state.warming = None;
            return;
        }
        let warmed = super::warm::warm(pid, learned, &mut progress, WARM_CHUNK);
        state.warming = match warmed {
            Ok(()) if !progress.done(learned) => Some((pid, progress)),
            Ok(()) => {
                debug!("{pid}: spare warmed ({} pages)", learned.len());
                None
            }
            Err(_) => None,
        };
    }

    /// Lets ready copy `ready` go as the rehearsal: a run of its own with
    /// the `rehearsal` input, its output held unread, learned from at its
    /// end (see [`super::warm`]). One is tried per prepared process.
    fn start_rehearsal(&mut self, ready: Ready) {
        let Ready {
            pid,
            saved,
            server,
            report,
            ..
        } = ready;
        if let Some(state) = self.template.as_mut() {
            state.rehearsed = true;
        }
        let id = self.tasks.get(&pid).and_then(|task| task.run);
        let notify = EventFd::from_flags(
            nix::sys::eventfd::EfdFlags::EFD_NONBLOCK | nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
        );
        let (Some(id), Ok(notify)) = (id, notify) else {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            return;
        };
        if !self.let_go(pid, saved) {
            return;
        }
        let usage = self.new_usage(pid);
        let Some(state) = self.template.as_mut() else {
            return;
        };
        let RunPipes {
            stdin,
            stdout,
            stderr,
        } = server;
        // Its input, as much as the pipe takes without waiting (64 KiB),
        // then its end.
        if let Some(input) = &state.link.rehearsal {
            let _ = nix::unistd::write(&stdin, input);
        }
        drop(stdin);
        // Nobody hears how it goes. Its limits are a run's, its time
        // [`REHEARSAL_LIMIT`] at most.
        let (replies, _) = mpsc::channel();
        state.runs.insert(
            pid,
            Run {
                id,
                replies,
                notify: Arc::new(notify),
                report: Some(Rc::new(report)),
                usage,
            },
        );
        let time = state
            .link
            .limits
            .time
            .map_or(REHEARSAL_LIMIT, |time| time.min(REHEARSAL_LIMIT));
        state.rehearsal = Some(Rehearsal {
            root: pid,
            deadline: Instant::now() + time,
            looked: Instant::now(),
            _output: [stdout, stderr],
        });
        debug!("{pid}: the rehearsal starts");
        self.resume(pid, Resume::Continue);
    }

    /// Gets ready copy `pid` to go on from its wakeup, which returns 0;
    /// the caller resumes it. A copy that cannot go on cleanly is killed
    /// (false): one with a signal pending (sent from outside while it
    /// waited, as no run can reach it, and delivered once it ran: the run
    /// that took it would be ended or stopped by it), or one no longer
    /// stopped (killed from outside, its death not yet seen: the run would
    /// be reported killed before it ran).
    fn let_go(&mut self, pid: Pid, saved: Regs) -> bool {
        if let Some(state) = self.template.as_mut()
            && state.warming.is_some_and(|(warmed, _)| warmed == pid)
        {
            state.warming = None;
        }
        let mut regs = saved;
        arch::set_return_value(&mut regs, 0);
        if has_pending_signal(pid) || nix::sys::ptrace::setregs(pid, regs).is_err() {
            debug!("{pid}: a ready copy had a signal pending or was gone: killed");
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            return false;
        }
        true
    }

    /// A count of what the processes of a run rooted at `pid` use, when
    /// `cputime` or `maxmemory` asks for one.
    fn new_usage(&self, pid: Pid) -> Option<Arc<crate::usage::Usage>> {
        let counted = self
            .template
            .as_ref()
            .is_some_and(|state| state.link.limits.counted());
        counted.then(|| {
            let usage = Arc::new(crate::usage::Usage::default());
            usage.process_started(pid.as_raw());
            usage
        })
    }

    /// Learns from run root `root` if it is the rehearsal, stopped at its
    /// end with its memory still there.
    fn learn_if_rehearsal(&mut self, root: Pid) {
        let Some(state) = self.template.as_mut() else {
            return;
        };
        let Some(prepared) = state.thread else {
            return;
        };
        if state
            .rehearsal
            .as_ref()
            .is_none_or(|rehearsal| rehearsal.root != root)
        {
            return;
        }
        match super::warm::learn(root, prepared) {
            Ok(learned) => {
                debug!(
                    "{root}: the rehearsal touched {} pages, {} of them written",
                    learned.len(),
                    learned.write.len()
                );
                state.learned = (!learned.is_empty()).then_some(learned);
            }
            Err(errno) => debug!(
                "{root}: nothing learned from the rehearsal: {}",
                errno.desc()
            ),
        }
    }

    /// Takes the requests the server sent, gives them ready copies, and
    /// forks another copy if one is wanted and the prepared process is
    /// parked.
    fn take_requests(&mut self) {
        let Some(state) = self.template.as_mut() else {
            return;
        };
        while let Ok(request) = state.link.requests.try_recv() {
            if state.gone {
                // Dropped: its thread hears the sender go and tells its
                // client the run never started.
                continue;
            }
            state.broken = false;
            state.pending.push_back(request);
        }
        loop {
            let Some(state) = self.template.as_mut() else {
                return;
            };
            if state.pending.is_empty() || state.ready.is_empty() {
                break;
            }
            let (Some(request), Some(ready)) = (state.pending.pop_front(), state.ready.pop_front())
            else {
                break;
            };
            if let Err(request) = self.start_run(ready, request)
                && let Some(state) = self.template.as_mut()
            {
                // That copy is thrown away; the request waits for another.
                state.pending.push_front(request);
            }
        }
        if let Some(state) = self.template.as_ref()
            && let Some(thread) = state.thread
            && state.parked.is_some()
        {
            let resume = self.next_fork(thread);
            self.resume(thread, resume);
        }
    }

    /// Whether another copy is wanted: one for each waiting request not
    /// yet covered by a copy on its way, and one spare while nothing else
    /// goes (no run, no relay: its fork would take a CPU from them).
    fn copy_wanted(&self) -> bool {
        let Some(state) = self.template.as_ref() else {
            return false;
        };
        if state.gone || state.forking.is_some() {
            return false;
        }
        let idle = state.runs.is_empty()
            && state.link.relays.load(std::sync::atomic::Ordering::SeqCst) == 0;
        let demand = state.pending.len() + usize::from(idle && !state.broken);
        let ready = state.ready.len() + state.starting.len();
        // Asked after every stop of a template's tracer: the copies being
        // given their stdio are counted (a walk of the task table) only
        // when the cheap count leaves the answer open, never while a run
        // goes with no request waiting.
        if ready >= demand {
            return false;
        }
        let injecting = self
            .tasks
            .values()
            .filter(|task| task.injection.is_some())
            .count();
        ready + injecting < demand
    }

    /// Forks a copy from the parked thread `pid` if one is wanted.
    fn next_fork(&mut self, pid: Pid) -> Resume {
        if !self.copy_wanted() {
            return Resume::Nothing;
        }
        match CopyPipes::new() {
            Ok(pipes) => self.fork_template(pid, pipes),
            Err(errno) => {
                self.copy_failed(&format!("cannot make the run's pipes: {}", errno.desc()));
                Resume::Nothing
            }
        }
    }

    /// A copy could not be made ready: the oldest waiting request hears
    /// why; with none waiting, no spare is tried again before the next
    /// request.
    fn copy_failed(&mut self, why: &str) {
        let Some(state) = self.template.as_mut() else {
            return;
        };
        match state.pending.pop_front() {
            Some(request) => {
                let _ = request.replies.send(RunEvent::NotStarted(why.to_string()));
                let _ = request.notify.write(1);
            }
            None => {
                warn!("a spare copy failed: {why}");
                state.broken = true;
            }
        }
    }

    /// Lets ready copy `ready` go as `request`'s run, with its stdio in
    /// place. A copy that cannot go on cleanly ([`Tracer::let_go`]) is
    /// killed, and the request given back.
    fn start_run(&mut self, ready: Ready, request: RunRequest) -> Result<(), RunRequest> {
        let Ready {
            pid,
            pidfd,
            saved,
            server,
            report,
        } = ready;
        if !self.let_go(pid, saved) {
            return Err(request);
        }
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.run = Some(request.id);
        }
        let RunRequest {
            id,
            replies,
            notify,
        } = request;
        let usage = self.new_usage(pid);
        let _ = replies.send(RunEvent::Started {
            pid,
            pidfd,
            pipes: server,
            usage: usage.clone(),
        });
        let _ = notify.write(1);
        debug!("{pid}: run {id} starts");
        if let Some(state) = self.template.as_mut() {
            state.runs.insert(
                pid,
                Run {
                    id,
                    replies,
                    notify,
                    report: Some(Rc::new(report)),
                    usage,
                },
            );
        }
        self.resume(pid, Resume::Continue);
        Ok(())
    }

    /// Where the processes `pid` makes or ends count: its run's usage in
    /// template mode, the jail's otherwise.
    pub(super) fn usage_of(&self, pid: Pid) -> Option<Arc<crate::usage::Usage>> {
        let Some(state) = self.template.as_ref() else {
            return self.usage.clone();
        };
        let run = self.tasks.get(&pid)?.run?;
        state
            .runs
            .values()
            .find(|candidate| candidate.id == run)
            .and_then(|run| run.usage.clone())
    }

    /// The report lines of `pid`'s run go to that run's stderr.
    pub(super) fn report_target(&self, pid: Pid) -> Option<Rc<OwnedFd>> {
        let state = self.template.as_ref()?;
        let run = self.tasks.get(&pid)?.run?;
        state
            .runs
            .values()
            .find(|candidate| candidate.id == run)
            .and_then(|run| run.report.clone())
    }

    /// A stop of a live task in template mode.
    pub(super) fn on_template_event(&mut self, pid: Pid, event: Event) -> Resume {
        if matches!(event, Event::Exiting) {
            // Every task's exit stop is answered at once, the prepared
            // process's included: it is dying whatever is decided here.
            self.end_run_at_exit(pid);
            return self.on_stop_event(pid, event);
        }
        if self
            .tasks
            .get(&pid)
            .is_some_and(|task| task.injection.is_some())
        {
            return self.on_injection_event(pid, event);
        }
        if let Some(state) = self.template.as_mut()
            && let Some(index) = state.ready.iter().position(|ready| ready.pid == pid)
        {
            // A ready copy waits stopped; any stop of it but its death
            // (a signal from outside, a group stop) would let it run with
            // no run of its own, or change it: it is thrown away.
            debug!("{pid}: a ready copy was stopped again ({event:?}): killed");
            state.ready.remove(index);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            return Resume::Nothing;
        }
        let (thread, prepared) = match self.template.as_ref() {
            Some(state) => (state.thread, state.thread.is_some()),
            None => (None, false),
        };
        let run = self.tasks.get(&pid).and_then(|task| task.run);
        // Once prepared, the prepared process's other tasks never run
        // again: their stops are left unanswered. So is the first stop of
        // a task whose creator's clone event has not come yet (a copy, or
        // a run's child): it is held, and resumed once that event says
        // which run it is of (see `sweep_orphans` for an event that never
        // comes).
        if prepared && run.is_none() && Some(pid) != thread {
            if matches!(event, Event::Stop { .. })
                && let Some(task) = self.tasks.get_mut(&pid)
                && matches!(task.stage, super::Stage::Starting { .. })
            {
                task.held_first_stop = true;
                debug!("{pid}: a first stop before its clone event: held");
            }
            return Resume::Nothing;
        }
        if prepared && run.is_none() && matches!(event, Event::Signal { .. }) {
            // The prepared thread runs only to fork and to make its wakeup
            // again: a signal (one a run caused through a descriptor the
            // prepared process shares, O_ASYNC to itself) would run its
            // handler there, and every later run would see what it did.
            debug!("{pid}: a signal to the prepared process: dropped");
            return Resume::Continue;
        }
        match event {
            Event::Seccomp => {
                let Ok(regs) = nix::sys::ptrace::getregs(pid) else {
                    return Resume::Nothing;
                };
                // The kernel and the filter read the low 32 bits only, as
                // the stop's read does elsewhere.
                if arch::syscall_number(&regs) & u64::from(u32::MAX)
                    == u64::from(crate::syscall::WAKEUP_SYSCALL)
                {
                    self.release_clone_reservation(pid);
                    return match run {
                        Some(run) => self.end_run_at_wakeup(pid, run),
                        None => self.park(pid, regs),
                    };
                }
                self.on_seccomp_stop(pid)
            }
            Event::Stop { .. } => {
                if let Some(state) = self.template.as_mut()
                    && let Some(making) = state.starting.remove(&pid)
                {
                    if let Some(task) = self.tasks.get_mut(&pid) {
                        task.stage = super::Stage::Running;
                    }
                    return self.start_injection(pid, making);
                }
                self.on_stop_event(pid, event)
            }
            Event::NewTask => self.on_template_new_task(pid),
            event => self.on_stop_event(pid, event),
        }
    }

    /// The prepared thread made the wakeup: it parks there, and is forked
    /// from at once if a run waits.
    fn park(&mut self, pid: Pid, regs: Regs) -> Resume {
        let scratch_ready = self.tasks.get(&pid).is_some_and(|task| task.scratch_ready);
        let Some(state) = self.template.as_mut() else {
            return Resume::Nothing;
        };
        if state.thread.is_none() && !scratch_ready {
            // Every copy writes its stdio's paths into its slot of the
            // scratch region: mapped here once, inherited by each fork.
            // The thread makes its wakeup again once it is there.
            return self.map_scratch(pid, regs);
        }
        match state.thread {
            None => {
                state.thread = Some(pid);
                debug!("{pid}: prepared; parked at its wakeup");
                // Everything else of the prepared process stops for good.
                for (other, task) in &self.tasks {
                    if *other != pid && task.run.is_none() {
                        let _ = nix::sys::ptrace::interrupt(*other);
                    }
                }
                (state.link.prepared)();
            }
            // Another of its threads: it never runs again.
            Some(thread) if thread != pid => return Resume::Nothing,
            Some(_) => {}
        }
        state.parked = Some(regs);
        self.next_fork(pid)
    }

    /// Turns the parked wakeup into the fork of a copy, with `pipes` for
    /// its stdio.
    fn fork_template(&mut self, pid: Pid, pipes: CopyPipes) -> Resume {
        let Some(state) = self.template.as_mut() else {
            return Resume::Nothing;
        };
        let Some(saved) = state.parked.take() else {
            return Resume::Nothing;
        };
        let Some(clone) = crate::arch::number_of("clone") else {
            state.parked = Some(saved);
            self.copy_failed("no clone syscall here");
            return Resume::Nothing;
        };
        let mut regs = saved;
        arch::set_syscall_number(&mut regs, u64::from(clone));
        for (index, value) in [FORK_FLAGS, 0, 0, 0, 0, 0].into_iter().enumerate() {
            arch::set_argument(&mut regs, index, value);
        }
        if nix::sys::ptrace::setregs(pid, regs).is_err() {
            // It died while parked: its end is reported next.
            return Resume::Nothing;
        }
        let id = state.next_copy;
        state.next_copy -= 1;
        // The first spare is the rehearsal.
        let rehearsal = !state.rehearsed && state.pending.is_empty();
        state.forking = Some(Making {
            id,
            pipes,
            saved,
            rehearsal,
        });
        self.clones_in_flight += 1;
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.clone = Some(PendingClone {
                flags: FORK_FLAGS,
                clone3_argument: None,
            });
            task.in_syscall = InSyscall::Forking { saved };
        }
        debug!("{pid}: forking a copy");
        Resume::ToSyscallExit
    }

    /// A fork event. The prepared thread's names a new run's root; any
    /// other's child joins its parent's run.
    fn on_template_new_task(&mut self, parent: Pid) -> Resume {
        let forking = self
            .tasks
            .get(&parent)
            .is_some_and(|task| matches!(task.in_syscall, InSyscall::Forking { .. }));
        let parent_run = self.tasks.get(&parent).and_then(|task| task.run);
        let child = nix::sys::ptrace::getevent(parent)
            .ok()
            .map(|child| Pid::from_raw(child as i32));
        let resume = self.on_new_task(parent);
        let Some(child) = child else {
            return resume;
        };
        if !forking {
            let held = match self.tasks.get_mut(&child) {
                Some(task) => {
                    task.run = parent_run;
                    std::mem::take(&mut task.held_first_stop)
                }
                None => false,
            };
            if held && parent_run.is_some() {
                // Its first stop came first and was held: it runs now,
                // as a task of its parent's run.
                let first = self.on_stop(child, libc::SIGSTOP);
                self.resume(child, first);
            }
            return resume;
        }
        let Some(state) = self.template.as_mut() else {
            return resume;
        };
        let Some(making) = state.forking.take() else {
            return Resume::ToSyscallExit;
        };
        state.interrupted = 0;
        let held = match self.tasks.get_mut(&child) {
            Some(task) => {
                task.run = Some(making.id);
                let held = std::mem::take(&mut task.held_first_stop);
                if held {
                    task.stage = super::Stage::Running;
                }
                held
            }
            None => false,
        };
        if held {
            let resume = self.start_injection(child, making);
            self.resume(child, resume);
        } else if let Some(state) = self.template.as_mut() {
            state.starting.insert(child, making);
        }
        // The prepared thread goes on to the fork's exit, where it is
        // rewound to its wakeup.
        Resume::ToSyscallExit
    }

    /// The fork's exit in the prepared thread: back to its wakeup, which
    /// it makes again (and parks at).
    pub(super) fn forked(&mut self, pid: Pid, saved: Regs, result: i64) -> Resume {
        // A signal pending at the fork makes the kernel restart it; the
        // signal is dropped on the way back to the wakeup, and the
        // request forked again from there.
        const ERESTARTNOINTR: i64 = 513;
        if result == -ERESTARTNOINTR
            && let Some(state) = self.template.as_mut()
            && state.forking.take().is_some()
        {
            // Forked again from the wakeup, if still wanted, a bounded
            // number of times.
            debug!("{pid}: the fork of a copy was interrupted: again");
            state.interrupted += 1;
            if state.interrupted >= MAX_INTERRUPTED_FORKS {
                state.interrupted = 0;
                self.copy_failed(&format!(
                    "the prepared process cannot be forked: a signal interrupted \
                     {MAX_INTERRUPTED_FORKS} forks in a row"
                ));
            }
        } else if result < 0 {
            warn!("{pid}: the fork of a copy failed: {result}");
            if let Some(state) = self.template.as_mut()
                && state.forking.take().is_some()
            {
                state.interrupted = 0;
                self.copy_failed(&format!(
                    "the prepared process cannot be forked: {}",
                    Errno::from_raw(i32::try_from(-result).unwrap_or(libc::EIO)).desc()
                ));
            }
        } else if let Some(state) = self.template.as_mut()
            && state.forking.take().is_some()
        {
            // A fork that made a task reports it (its event takes
            // `forking`) before it returns. This one returned without
            // one: the program's own seccomp filter answered the clone
            // (`SECCOMP_RET_ERRNO` with 0, a user notification). Left
            // waiting, the template would never give a copy again.
            warn!("{pid}: the fork of a copy returned {result} without making one");
            self.clones_in_flight = self.clones_in_flight.saturating_sub(1);
            if let Some(task) = self.tasks.get_mut(&pid) {
                task.clone = None;
            }
            self.copy_failed(
                "the prepared process cannot be forked: its fork returned without making a copy \
                 (does the template's program filter clone?)",
            );
        }
        self.set_registers_or_kill(pid, arch::to_run_again(&saved), Resume::Continue)
    }

    /// Gives copy `pid` its stdio, one injected syscall after the other.
    fn start_injection(&mut self, pid: Pid, making: Making) -> Resume {
        let fail = |tracer: &mut Tracer, why: String| {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            tracer.copy_failed(&why);
            Resume::Nothing
        };
        let Making {
            id,
            pipes,
            saved,
            rehearsal,
        } = making;
        let pidfd = match sys::pidfd_open(pid) {
            Ok(pidfd) => pidfd,
            Err(errno) => return fail(self, format!("cannot watch the run: {}", errno.desc())),
        };
        // The three paths go into the copy's slot of the scratch region
        // (mapped in the prepared process before it parked, so in every
        // copy): private to the copy, which the program cannot write.
        let scratch_ready = self.tasks.get(&pid).is_some_and(|task| task.scratch_ready);
        let slot = if scratch_ready {
            self.slot_of(pid)
        } else {
            None
        };
        let Some(slot) = slot else {
            return fail(self, "the copy has no scratch slot".into());
        };
        let (paths, lent) = if self.landlock {
            let Some(keeper) = &self.keeper else {
                return fail(self, "no descriptor keeper under Landlock".into());
            };
            let stdio: Vec<&OwnedFd> = pipes.copy_ends.iter().collect();
            match crate::keeper::Lent::all(keeper, &stdio) {
                Ok(lent) => ([0, 1, 2].map(|index| lent.path_of(index)), Some(lent)),
                Err(errno) => {
                    return fail(
                        self,
                        format!("the descriptor keeper failed: {}", errno.desc()),
                    );
                }
            }
        } else {
            // The tracer holds the pipes until the opens are done.
            let paths = [0, 1, 2].map(|index| {
                format!(
                    "/proc/{}/fd/{}",
                    self.own_tid,
                    pipes.copy_ends[index].as_raw_fd()
                )
            });
            (paths, None)
        };
        let base = scratch::address(slot, scratch::Part::FirstPath);
        let Some(bytes) = laid_out(&paths) else {
            return fail(self, "a descriptor's path is too long".into());
        };
        if let Err(errno) = scratch::write(pid, base, &bytes) {
            return fail(
                self,
                format!("cannot write the copy's memory: {}", errno.desc()),
            );
        }
        let addresses = [0, 1, 2].map(|index| base + index as u64 * PATH_ROOM);
        let Some(steps) = stdio_steps(pid, addresses) else {
            return fail(self, "syscalls missing on this architecture".into());
        };
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.injection = Some(Box::new(Injection {
                saved,
                steps,
                current: None,
                awaiting_entry: false,
                id,
                pipes,
                rehearsal,
                pidfd,
                lent,
            }));
        }
        self.inject_next(pid)
    }

    /// Makes the copy run its next injected syscall, or, after the last,
    /// return from its wakeup with 0: the run starts.
    fn inject_next(&mut self, pid: Pid) -> Resume {
        let Some(task) = self.tasks.get_mut(&pid) else {
            return Resume::Nothing;
        };
        let Some(injection) = task.injection.as_mut() else {
            return Resume::Continue;
        };
        if let Some(step) = injection.steps.pop_front() {
            let regs = registers_for(&injection.saved, &step);
            injection.current = Some(step);
            injection.awaiting_entry = true;
            return self.set_registers_or_kill(pid, regs, Resume::ToSyscallExit);
        }
        let Some(injection) = task.injection.take() else {
            return Resume::Continue;
        };
        if let Err(why) = lands_on_its_pipes(pid, &injection.pipes.copy_ends) {
            warn!("{pid}: {why}");
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            self.copy_failed(&why);
            return Resume::Nothing;
        }
        let Injection {
            saved,
            id,
            pipes,
            rehearsal,
            pidfd,
            lent,
            ..
        } = *injection;
        drop(lent);
        let CopyPipes {
            server,
            copy_ends,
            report,
        } = pipes;
        drop(copy_ends);
        debug!("{pid}: copy {id} is ready");
        let ready = Ready {
            pid,
            pidfd,
            saved,
            server,
            report,
        };
        let Some(state) = self.template.as_mut() else {
            return Resume::Nothing;
        };
        if rehearsal && state.pending.is_empty() {
            self.start_rehearsal(ready);
            return Resume::Nothing;
        }
        if state.pending.is_empty() && state.learned.is_some() {
            // A spare: warmed while nothing else goes.
            state.warming = Some((pid, super::warm::Progress::default()));
        }
        // It stays stopped here until a request takes it.
        state.ready.push_back(ready);
        Resume::Nothing
    }

    /// A stop of a copy being given its stdio.
    fn on_injection_event(&mut self, pid: Pid, event: Event) -> Resume {
        let Some(injection) = self
            .tasks
            .get_mut(&pid)
            .and_then(|task| task.injection.as_mut())
        else {
            return Resume::Continue;
        };
        match event {
            Event::SyscallStop if injection.awaiting_entry => {
                injection.awaiting_entry = false;
                Resume::ToSyscallExit
            }
            Event::SyscallStop => {
                let Ok(regs) = nix::sys::ptrace::getregs(pid) else {
                    return Resume::Nothing;
                };
                let result = arch::return_value(&regs);
                let Some(step) = injection.current.take() else {
                    return self.inject_next(pid);
                };
                if step.succeeded(result) {
                    return self.inject_next(pid);
                }
                let why = format!(
                    "cannot give the run its stdin, stdout and stderr: {} returned {result}",
                    step.what
                );
                warn!("{pid}: {why}");
                if let Some(task) = self.tasks.get_mut(&pid) {
                    task.injection = None;
                }
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                self.copy_failed(&why);
                Resume::Nothing
            }
            // The jail's own call (an open): it runs as set.
            Event::Seccomp => Resume::ToSyscallExit,
            // Signals wait: none is delivered before the run starts.
            _ => Resume::ToSyscallExit,
        }
    }

    /// A run's task made the wakeup: the run is done (a REPL driver used
    /// as a template ends each run so).
    fn end_run_at_wakeup(&mut self, pid: Pid, run: u64) -> Resume {
        let root = self.template.as_ref().and_then(|state| {
            state
                .runs
                .iter()
                .find(|(_, candidate)| candidate.id == run)
                .map(|(root, _)| *root)
        });
        if let Some(root) = root {
            // Learned from only when the root itself stopped there and is
            // the run's only task: another one still running in its memory
            // (a thread, a `CLONE_VM` child) could hold the memory map's
            // lock (a long munmap, again and again) and keep the tracer's
            // page map read waiting.
            let alone = pid == root
                && !self
                    .tasks
                    .iter()
                    .any(|(tid, task)| *tid != root && task.run == Some(run));
            if alone {
                self.learn_if_rehearsal(root);
            }
            self.end_run(root, RunEnd::Done);
        }
        Resume::Continue
    }

    /// Ends the run rooted at `root` if it is one: its tasks are killed,
    /// its thread told how it ended.
    pub(super) fn end_run(&mut self, root: Pid, how: RunEnd) {
        let Some(state) = self.template.as_mut() else {
            return;
        };
        let Some(run) = state.runs.remove(&root) else {
            return;
        };
        if state
            .rehearsal
            .as_ref()
            .is_some_and(|rehearsal| rehearsal.root == root)
        {
            state.rehearsal = None;
        }
        let mut complete = true;
        for (tid, task) in &self.tasks {
            if task.run == Some(run.id) {
                let _ = nix::sys::signal::kill(*tid, Signal::SIGKILL);
                complete &= *tid == root;
            }
        }
        debug!("run {} ended: {how:?}", run.id);
        let _ = run.replies.send(RunEvent::Ended { how, complete });
        let _ = run.notify.write(1);
    }

    /// The exit stop of a task: if it is a run's root and the only thread
    /// of its process, the run is over now, with the status the stop
    /// carries. Its pipes are still open (the kernel closes a dying
    /// task's files only after tearing down its memory, about 0.4 ms
    /// for a python3 copy), but all it wrote is in them. A root with
    /// threads is left to its death: its own exit may not be its
    /// process's.
    pub(super) fn end_run_at_exit(&mut self, pid: Pid) {
        let Some(run) = self
            .template
            .as_ref()
            .and_then(|state| state.runs.get(&pid))
            .map(|run| run.id)
        else {
            return;
        };
        let threaded = self.tasks.iter().any(|(tid, task)| {
            *tid != pid
                && (task.tgid == Some(pid) || (task.tgid.is_none() && task.run == Some(run)))
        });
        if threaded {
            return;
        }
        let Ok(status) = nix::sys::ptrace::getevent(pid) else {
            return;
        };
        let Ok(status) = i32::try_from(status) else {
            return;
        };
        let how = if libc::WIFEXITED(status) {
            RunEnd::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            RunEnd::Killed(libc::WTERMSIG(status))
        } else {
            return;
        };
        self.learn_if_rehearsal(pid);
        self.end_run(pid, how);
    }

    /// A task ended: if it was a run's root, the run is over.
    pub(super) fn template_task_ended(&mut self, pid: Pid, how: &Outcome) {
        if self.template.is_none() {
            return;
        }
        let how = match how {
            Outcome::Exited(code) => RunEnd::Exited(*code),
            Outcome::Killed(signal) => RunEnd::Killed(*signal),
            _ => RunEnd::Killed(libc::SIGKILL),
        };
        self.end_run(pid, how);
        // A copy that died before a run took it.
        let injecting = self
            .tasks
            .get_mut(&pid)
            .and_then(|task| task.injection.take())
            .is_some();
        let Some(state) = self.template.as_mut() else {
            return;
        };
        let starting = state.starting.remove(&pid).is_some();
        let ready = state.ready.len();
        state.ready.retain(|ready| ready.pid != pid);
        if starting || injecting {
            self.copy_failed("the copy died before it started");
        } else if ready != state.ready.len() {
            debug!("{pid}: a ready copy died");
        }
    }

    /// The prepared process has ended: no run is forked any more, and its
    /// other tasks go.
    fn template_gone(&mut self) {
        let Some(state) = self.template.as_mut() else {
            return;
        };
        if state.gone {
            return;
        }
        state.gone = true;
        // Their threads hear the senders go: the runs never started.
        state.pending.clear();
        state.parked = None;
        state.forking = None;
        (state.link.gone)();
        // The prepared process's tasks, and the copies no run has taken.
        let runs: Vec<u64> = state.runs.values().map(|run| run.id).collect();
        for (tid, task) in &self.tasks {
            if task.run.is_none_or(|run| !runs.contains(&run)) {
                let _ = nix::sys::signal::kill(*tid, Signal::SIGKILL);
            }
        }
    }

    /// Kills the tasks a run made whose clone event will never come: their
    /// creator was killed in that event's stop, which the kernel then
    /// does not report, so the tracer cannot tell which run they are of.
    /// Held at their first stop, they would outlive their run (uncounted
    /// by its `maxthreads`, unreached by its end). A task's event can only
    /// still come while a run's thread is inside a clone (or a copy is
    /// being forked): while none is, every such held task is an orphan.
    /// A thread of the prepared process is left held (a signal to it would
    /// end the prepared process); it never runs.
    fn sweep_orphans(&mut self) {
        let Some(state) = self.template.as_ref() else {
            return;
        };
        if state.thread.is_none() || state.forking.is_some() {
            return;
        }
        let held: Vec<Pid> = self
            .tasks
            .iter()
            .filter(|(tid, task)| {
                task.held_first_stop
                    && task.run.is_none()
                    && Some(**tid) != state.thread
                    && !state.starting.contains_key(tid)
            })
            .map(|(tid, _)| *tid)
            .collect();
        if held.is_empty() {
            return;
        }
        let in_flight = self
            .tasks
            .iter()
            .any(|(tid, task)| task.run.is_some() && task.clone.is_some() && is_in_clone(*tid));
        if in_flight {
            return;
        }
        for tid in held {
            let group = super::thread_group_of(tid);
            let of_prepared = group.is_some_and(|group| {
                group != tid
                    && self
                        .tasks
                        .get(&group)
                        .is_some_and(|task| task.run.is_none())
            });
            if of_prepared {
                continue;
            }
            if let Some(task) = self.tasks.get_mut(&tid) {
                task.held_first_stop = false;
            }
            debug!("{tid}: its clone event never came: killed");
            let _ = nix::sys::signal::kill(tid, Signal::SIGKILL);
        }
    }

    /// At the end: every run still going is told it was killed.
    fn end_every_run(&mut self) {
        let roots: Vec<Pid> = self
            .template
            .as_ref()
            .map(|state| state.runs.keys().copied().collect())
            .unwrap_or_default();
        for root in roots {
            self.end_run(root, RunEnd::Killed(libc::SIGKILL));
        }
    }

    /// Whether tasks `from` and `pid` are in the same jail: in template
    /// mode, the same run (the prepared process being none).
    pub(super) fn same_run(&self, from: Pid, pid: Pid) -> bool {
        let run_of = |tid: &Pid| self.tasks.get(tid).map(|task| task.run);
        match (run_of(&from), run_of(&pid)) {
            (Some(one), Some(other)) => one == other,
            (None, Some(_)) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_lands_on_0_1_2_after_its_own_session() {
        let pid = Pid::from_raw(4242);
        let steps = stdio_steps(pid, [0x1000, 0x1100, 0x1200]).expect("x86_64 has them");
        let names: Vec<&str> = steps.iter().map(|step| step.what).collect();
        assert_eq!(
            names,
            [
                "setsid",
                "close_range",
                "open stdin",
                "open stdout",
                "open stderr"
            ]
        );
        assert_eq!(steps[1].args[..3], [0, 2, 0]);
        for (index, step) in steps.iter().skip(2).enumerate() {
            assert_eq!(step.args[1], 0x1000 + 0x100 * index as u64);
            assert_eq!(step.expect, Some(index as i64));
            assert!(step.succeeded(index as i64) && !step.succeeded(-13));
        }
        // setsid: the copy's own pid, never 0 (a filter's RET_ERRNO | 0).
        assert!(steps[0].succeeded(4242) && !steps[0].succeeded(-1));
        assert!(!steps[0].succeeded(0) && !steps[0].succeeded(4243));
        assert_eq!(steps[2].args[2], libc::O_RDONLY as u64);
        assert_eq!(steps[3].args[2], libc::O_WRONLY as u64);
    }

    #[test]
    fn the_paths_lie_in_their_rooms_of_one_write() {
        let paths = ["/proc/1/fd/0", "/proc/22/fd/1", "/proc/333/fd/2"].map(String::from);
        let bytes = laid_out(&paths).expect("short paths fit");
        assert_eq!(bytes.len(), 3 * PATH_ROOM as usize);
        for (index, path) in paths.iter().enumerate() {
            let room = &bytes[index * PATH_ROOM as usize..][..PATH_ROOM as usize];
            assert_eq!(&room[..path.len()], path.as_bytes());
            assert_eq!(room[path.len()], 0);
        }
        let long = ["x".repeat(PATH_ROOM as usize), String::new(), String::new()];
        assert!(laid_out(&long).is_none());
        let nul = ["a\0b".to_string(), String::new(), String::new()];
        assert!(laid_out(&nul).is_none());
    }

    #[test]
    fn an_injected_call_runs_at_the_wakeups_syscall_instruction() {
        let mut saved = arch::stopped_at(u64::from(crate::syscall::WAKEUP_SYSCALL), [7; 6]);
        saved.rip = 0x4000_0002;
        let step = Injected {
            what: "setsid",
            nr: 112,
            args: [1, 2, 3, 4, 5, 6],
            expect: None,
        };
        let regs = registers_for(&saved, &step);
        assert_eq!(regs.rip, 0x4000_0000);
        assert_eq!((regs.rax, regs.orig_rax), (112, 112));
        assert_eq!(
            (0..6).map(|i| arch::argument(&regs, i)).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
    }
}
