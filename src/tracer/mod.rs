//! The tracer: the only module that owns ptrace.
//!
//! Owns the event loop over every thread and process of one jail: a
//! blocking `waitpid(-1, __WALL)`, a decoded [`event::Event`], one handler
//! per event, one resume. It keeps the table of live tasks (for
//! `maxthreads` and for telling jail pids from others), answers seccomp
//! stops through `decide`, and when the main program ends it kills
//! everything else the jail started and reaps it.

mod answer;
mod checks;
mod copier;
mod decide;
pub mod event;
mod exec;
mod interpreters;
mod memory;
pub mod resolve;
mod rewrite;
mod scratch;
mod spaces;
mod stopped;
mod task;
pub mod template;
mod warm;

use crate::fetch::{Downloads, Fetcher, HttpOptions};
use crate::keeper::Keeper;
use crate::policy::{Denial, DenialKind, Policy};
use crate::sys;
use crate::syscall::Table;
use event::Event;
use log::{debug, trace, warn};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::cell::RefCell;
use std::fmt;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use task::{InSyscall, PendingClone, Stage, Task};

/// How the jailed program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The main program exited with this code.
    Exited(i32),
    /// The main program was killed by this signal.
    Killed(i32),
    /// The time limit ran out and the jail was killed.
    TimedOut,
    /// The main program never got to exec: its setup or exec failed.
    /// `denial` is set when the jail itself hid or refused the program;
    /// `exec_errno` when the tracer saw its exec fail (it follows the exec
    /// when `syscall` lines may keep the child from reporting it).
    NotStarted {
        denial: Option<(i32, Denial)>,
        exec_errno: Option<i32>,
    },
}

/// The tracer itself failed; the jail has been killed.
#[derive(Debug)]
pub enum TraceError {
    /// `waitpid` failed other than by running out of tracees.
    Wait(Errno),
    /// A stop this tracer does not understand (fail closed).
    UnknownStop { pid: Pid, status: i32 },
    /// The descriptor keeper ended while the jail ran (fail closed).
    KeeperEnded { status: i32 },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Wait(errno) => write!(f, "waiting for the jail failed: {}", errno.desc()),
            TraceError::UnknownStop { pid, status } => {
                write!(f, "unexpected stop of task {pid} (status {status:#x})")
            }
            TraceError::KeeperEnded { status } => write!(
                f,
                "the jail's descriptor keeper ended (status {status:#x}); the jail was stopped"
            ),
        }
    }
}

impl std::error::Error for TraceError {}

/// Limits and switches the tracer enforces besides the path policy.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Live threads and processes allowed at once.
    pub max_threads: Option<u32>,
}

/// The state of one jail's tracer.
pub struct Tracer {
    policy: Policy,
    syscalls: Table,
    /// The tracing thread's id, for `/proc/<tid>/fd/<n>` paths: the kernel
    /// checks the program may reach that thread, whose capabilities are
    /// no more than the program's ([`crate::sys::drop_capabilities`]).
    own_tid: Pid,
    openat2_nr: u64,
    mmap_nr: u32,
    slots: scratch::Slots,
    spaces: spaces::AddressSpaces,
    /// The kernel answers `PROCMAP_QUERY` (Linux 6.11+).
    procmap_query: bool,
    limits: Limits,
    main: Pid,
    tasks: task::IdMap<Pid, Task>,
    /// Clones admitted but whose new task has not been reported yet.
    clones_in_flight: u32,
    main_execed: bool,
    /// The jail's answer to the main program's own exec, if it refused it.
    exec_denial: Option<(i32, Denial)>,
    /// The errno of the main program's own exec, when the tracer saw it
    /// fail.
    exec_errno: Option<i32>,
    timed_out: Arc<AtomicBool>,
    /// Called when the program makes the wakeup syscall; returns once the
    /// command's output has reached its client. `None`: wakeup is unknown.
    suspender: Option<Box<dyn FnMut() -> Option<crate::policy::network::NetworkPolicy>>>,
    /// URLs that read as files (`http`), when configured.
    downloads: Option<Downloads>,
    /// Directories already resolved ([`resolve::View::directories`]).
    directories: std::cell::RefCell<resolve::DirectoryCache>,
    /// The program is confined by Landlock: it cannot reach the tracer's
    /// /proc, and the kernel itself keeps writes inside the roots.
    landlock: bool,
    /// Under Landlock, who holds the objects the kernel is handed
    /// ([`crate::keeper`]); `None` there means such calls are refused.
    keeper: Option<std::rc::Rc<Keeper>>,
    /// What sockets may reach (closed unless the config has network lines).
    network: crate::policy::network::NetworkPolicy,
    /// The synthetic `/etc/hosts` of a jail with network lines: a sealed
    /// memfd the program reads in place of the host's.
    hosts: Option<OwnedFd>,
    /// The config's `syscall` lines, applied at the stops the jail makes
    /// anyway (the filter applies them everywhere else).
    narrowing: crate::syscall::Narrowing,
    /// The jail's processes, for `cputime` and `maxmemory`: the tracer
    /// tells it each process's start and end, and lets it read a process
    /// at its exit stop ([`crate::usage`]).
    usage: Option<Arc<crate::usage::Usage>>,
    /// Where the run's records go (`reportfile`, `reportfd`), if anywhere.
    reporter: Option<Rc<RefCell<crate::report::Writer>>>,
    /// Refusals of the call being decided, written once its errno is
    /// known ([`Tracer::flush_refusals`]).
    refusals: RefCell<Vec<crate::report::Refusal>>,
    /// The thread and syscall being decided, for the refusals' records.
    call: std::cell::Cell<Option<(i32, &'static str)>>,
    /// Tasks that opened their `maps`, oldest first: at most
    /// [`MAPS_OPEN`] are kept open, so the jail's descriptors do not grow
    /// with the number of tasks (see [`Tracer::make_room_for_maps`]).
    maps_open: std::collections::VecDeque<Pid>,
    /// The `/proc/<tid>/fd` directories of the last tasks whose
    /// descriptors a check named ([`resolve::DescriptorDirs`]).
    descriptor_dirs: resolve::DescriptorDirs,
    /// The (device, inode) of every original a `cow` mirror links to:
    /// never written through ([`crate::cow::copyup`]).
    cow_originals: std::collections::HashSet<(u64, u64)>,
    /// `cowquota`: the layer's count (a cell: checks see the tracer
    /// through a shared view).
    quota: Option<RefCell<crate::cow::quota::Quota>>,
    /// The (device, inode) of every placeholder of a `cow` mirror (a file
    /// the user can neither link nor read): never linked either.
    cow_placeholders: std::collections::HashSet<(u64, u64)>,
    /// In template mode: the prepared process and its runs.
    template: Option<Box<template::State>>,
    /// Copy-ups made by copier processes while their tasks wait
    /// ([`copier`]).
    copiers: copier::Copiers,
    /// A copy the check being decided asked to be made aside
    /// ([`stopped::Stopped::copy_aside`]), taken after the decision.
    copy_asked: RefCell<Option<crate::cow::copyup::Copy>>,
    /// What files the jail cannot write name as their interpreters
    /// ([`interpreters`]): read once, not at every exec.
    interpreters: interpreters::Cache,
}

/// A read-only file with `contents`, held by the jail: a memfd sealed
/// against every change.
pub(crate) fn sealed_file(name: &str, contents: &[u8]) -> Result<OwnedFd, Errno> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let file = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut writer = std::fs::File::from(file);
    std::io::Write::write_all(&mut writer, contents)
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))?;
    let file = OwnedFd::from(writer);
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SEAL;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    Ok(file)
}

/// The thread group `tid` belongs to, from `/proc/<tid>/status`.
pub(super) fn thread_group_of(tid: Pid) -> Option<Pid> {
    let status = crate::procfs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Tgid:"))?;
    let tgid: i32 = line.trim_start_matches("Tgid:").trim().parse().ok()?;
    Some(Pid::from_raw(tgid))
}

/// `/proc/<tid>/maps` files kept open at once.
const MAPS_OPEN: usize = 8;

/// How a stopped task is to be resumed.
enum Resume {
    Continue,
    /// Continue and deliver this signal.
    Deliver(i32),
    /// Leave it in group-stop until `SIGCONT`.
    Listen,
    /// Continue to the syscall-exit stop of the current syscall.
    ToSyscallExit,
    /// It is gone; nothing to resume.
    Nothing,
}

impl Tracer {
    /// A tracer for the seized process `main`. `timed_out` is set by
    /// whoever enforces the time limit before it kills `main`.
    pub fn new(policy: Policy, limits: Limits, main: Pid, timed_out: Arc<AtomicBool>) -> Tracer {
        let mut spaces = spaces::AddressSpaces::default();
        let mut tasks = task::IdMap::default();
        tasks.insert(
            main,
            Task {
                tgid: Some(main),
                space: Some(spaces.create()),
                ..Task::running()
            },
        );
        Tracer {
            policy,
            syscalls: Table::native(),
            own_tid: nix::unistd::gettid(),
            openat2_nr: crate::arch::number_of("openat2").map_or(u64::MAX, u64::from),
            mmap_nr: crate::arch::number_of("mmap").unwrap_or(u32::MAX),
            slots: scratch::Slots::default(),
            spaces,
            procmap_query: true,
            limits,
            main,
            tasks,
            clones_in_flight: 0,
            main_execed: false,
            exec_denial: None,
            exec_errno: None,
            timed_out,
            suspender: None,
            downloads: None,
            directories: Default::default(),
            landlock: false,
            keeper: None,
            maps_open: Default::default(),
            descriptor_dirs: Default::default(),
            cow_originals: Default::default(),
            quota: None,
            cow_placeholders: Default::default(),
            network: Default::default(),
            hosts: None,
            narrowing: Default::default(),
            usage: None,
            reporter: None,
            refusals: RefCell::new(Vec::new()),
            call: std::cell::Cell::new(None),
            template: None,
            copiers: Default::default(),
            copy_asked: RefCell::new(None),
            interpreters: Default::default(),
        }
    }

    /// Writes the run's records (each denial, tasks, fetches) to
    /// `writer`, which the caller finishes once the run is over.
    pub fn with_report(mut self, writer: Rc<RefCell<crate::report::Writer>>) -> Tracer {
        // The main program.
        writer.borrow_mut().task_started();
        self.reporter = Some(writer);
        self
    }

    fn count_task(&self) {
        if let Some(reporter) = &self.reporter {
            reporter.borrow_mut().task_started();
        }
    }

    /// Keeps a refusal for the report until its errno is known.
    fn note_refusal(&self, syscall: Option<&str>, denial: Option<Denial>) {
        if self.reporter.is_none() {
            return;
        }
        let (pid, call) = self.call.get().unwrap_or((0, "unknown"));
        self.refusals.borrow_mut().push(crate::report::Refusal {
            pid,
            syscall: syscall.unwrap_or(call).to_owned(),
            denial,
        });
    }

    /// Writes the refusals noted, with the errno the call got (`None`:
    /// none, or not known).
    fn flush_refusals(&mut self, errno: Option<Errno>) {
        self.call.set(None);
        let refusals = std::mem::take(self.refusals.get_mut());
        if let Some(reporter) = &self.reporter {
            for refusal in refusals {
                reporter.borrow_mut().denied(refusal, errno);
            }
        }
    }

    /// Keeps `usage`'s table of the jail's processes. Exit stops
    /// (`PTRACE_O_TRACEEXIT`, set at launch) let it read a process's last
    /// CPU time before it is gone.
    pub fn with_usage(mut self, usage: Arc<crate::usage::Usage>) -> Tracer {
        usage.process_started(self.main.as_raw());
        self.usage = Some(usage);
        self
    }

    /// Applies the config's `syscall` lines at the stops (the filter,
    /// built from the same lines, applies them elsewhere).
    pub fn with_narrowing(mut self, narrowing: crate::syscall::Narrowing) -> Tracer {
        self.narrowing = narrowing;
        self
    }

    /// Makes the tracer judge sockets by `network` (by default every
    /// destination, port and socket file outside `write` trees is refused).
    pub fn with_network(mut self, network: crate::policy::network::NetworkPolicy) -> Tracer {
        self.set_network(network);
        self
    }

    /// Judges sockets by `network` from now on, and serves its
    /// `/etc/hosts`.
    fn set_network(&mut self, network: crate::policy::network::NetworkPolicy) {
        self.hosts = if network.is_closed() {
            None
        } else {
            match sealed_file("hosts", network.etc_hosts().as_bytes()) {
                Ok(file) => Some(file),
                Err(errno) => {
                    // Fail closed: the program then sees the host's file,
                    // or none, and resolves nothing new.
                    warn!("cannot make the jail's /etc/hosts: {}", errno.desc());
                    None
                }
            }
        };
        self.network = network;
    }

    /// Tells the tracer the program runs under Landlock, with `keeper`
    /// (forked inside its domain) to hold objects for the kernel.
    pub fn with_landlock(mut self, keeper: Option<Keeper>) -> Tracer {
        self.landlock = true;
        self.keeper = keeper.map(std::rc::Rc::new);
        self
    }

    /// The originals the policy's `cow` mirrors link to (the policy
    /// holds the mirrors).
    pub fn with_cow_originals(
        mut self,
        originals: std::collections::HashSet<(u64, u64)>,
    ) -> Tracer {
        self.cow_originals = originals;
        self
    }

    /// Counts the layer against `cowquota` (docs/cow.md).
    pub fn with_quota(mut self, quota: crate::cow::quota::Quota) -> Tracer {
        self.quota = Some(RefCell::new(quota));
        self
    }

    /// The placeholders of the policy's `cow` mirrors
    /// ([`crate::cow::manifest::Entry::unreadable`]).
    pub fn with_cow_placeholders(
        mut self,
        placeholders: std::collections::HashSet<(u64, u64)>,
    ) -> Tracer {
        self.cow_placeholders = placeholders;
        self
    }

    /// Makes paths under the `http` prefixes read as their downloads.
    pub fn with_downloads(mut self, options: HttpOptions, fetcher: Box<dyn Fetcher>) -> Tracer {
        self.downloads = Some(Downloads::new(options, fetcher));
        self
    }

    /// Makes the wakeup syscall call `suspend` (see [`Tracer`]'s field).
    pub fn with_suspender(
        mut self,
        suspend: Box<dyn FnMut() -> Option<crate::policy::network::NetworkPolicy>>,
    ) -> Tracer {
        self.suspender = Some(suspend);
        self
    }

    /// Runs the jail until the main program ends, then kills and reaps
    /// everything else in it.
    pub fn run(mut self) -> Result<Outcome, TraceError> {
        let outcome = self.trace_until_main_ends();
        self.kill_everything();
        outcome
    }

    fn trace_until_main_ends(&mut self) -> Result<Outcome, TraceError> {
        loop {
            let (pid, status) = match sys::wait_any() {
                Ok(report) => report,
                Err(errno) => return Err(TraceError::Wait(errno)),
            };
            if let Some(outcome) = self.on_event(pid, status)? {
                return Ok(outcome);
            }
        }
    }

    /// Handles one report of `waitpid`. Returns the outcome when it was
    /// the main program's end.
    fn on_event(&mut self, pid: Pid, status: i32) -> Result<Option<Outcome>, TraceError> {
        if self.is_live_keeper(pid) {
            // Not a jail task (the keeper is never traced), and the jail
            // cannot go on without it.
            warn!("{pid}: the descriptor keeper ended ({status:#x}); stopping the jail");
            if let Some(keeper) = &self.keeper {
                keeper.mark_reaped();
            }
            return Err(TraceError::KeeperEnded { status });
        }
        if self.copiers.is_copier(pid) {
            // Not a jail task either: a copy-up made aside ended.
            self.on_copy_ended(pid, status);
            return Ok(None);
        }
        let event = event::decode(status);
        trace!("{pid}: {event:?}");
        match self.tasks.get_mut(&pid) {
            // Any report of a task waiting for a copy means it left that
            // stop (killed): it waits no more.
            Some(task) => task.waits_for_copy = None,
            // Its first report may come before its parent's clone event.
            None => self.adopt(pid),
        }
        let resume = match event {
            Event::Exited { code } => {
                if let Some(outcome) = self.task_ended(pid, Outcome::Exited(code)) {
                    return Ok(Some(outcome));
                }
                Resume::Nothing
            }
            Event::Killed { signal } => {
                if let Some(outcome) = self.task_ended(pid, Outcome::Killed(signal)) {
                    return Ok(Some(outcome));
                }
                Resume::Nothing
            }
            Event::Unknown { status } => {
                warn!("{pid}: unknown stop {status:#x}; killing the jail");
                return Err(TraceError::UnknownStop { pid, status });
            }
            event if self.template.is_some() => {
                let report = self.report_target(pid);
                crate::notice::redirect(report);
                let resume = self.on_template_event(pid, event);
                crate::notice::redirect(None);
                resume
            }
            event => self.on_stop_event(pid, event),
        };
        self.resume(pid, resume);
        if !self.refusals.get_mut().is_empty() {
            self.flush_refusals(None);
        }
        Ok(None)
    }

    /// A stop of a live task: what to do with it.
    fn on_stop_event(&mut self, pid: Pid, event: Event) -> Resume {
        match event {
            Event::Seccomp => {
                if let Some(task) = self.tasks.get_mut(&pid) {
                    task.copies_waited = 0;
                }
                self.on_seccomp_stop(pid)
            }
            Event::NewTask => self.on_new_task(pid),
            Event::Exec => self.on_exec(pid),
            Event::SyscallStop => self.on_syscall_exit(pid),
            Event::Exiting => {
                if let Some(usage) = self.usage_of(pid) {
                    let tgid = self.tasks.get(&pid).and_then(|task| task.tgid);
                    usage.process_exiting(tgid.unwrap_or(pid).as_raw());
                }
                Resume::Continue
            }
            Event::VforkDone => Resume::Continue,
            Event::Stop { signal } => self.on_stop(pid, signal),
            Event::Signal { signal } => Resume::Deliver(signal),
            // Handled before: deaths and unknown stops.
            Event::Exited { .. } | Event::Killed { .. } | Event::Unknown { .. } => Resume::Nothing,
        }
    }

    fn resume(&mut self, pid: Pid, resume: Resume) {
        let result = match resume {
            Resume::Continue => sys::ptrace_cont(pid, 0),
            Resume::Deliver(signal) => sys::ptrace_cont(pid, signal),
            Resume::Listen => sys::ptrace_listen(pid),
            Resume::ToSyscallExit => sys::ptrace_syscall(pid),
            Resume::Nothing => Ok(()),
        };
        // ESRCH: the task died while stopped (killed mid-syscall); its
        // death is reported by a later wait.
        if let Err(errno) = result
            && errno != Errno::ESRCH
        {
            warn!("{pid}: cannot resume: {}", errno.desc());
        }
    }

    fn adopt(&mut self, pid: Pid) {
        debug!("{pid}: new task in the jail");
        self.count_task();
        self.tasks.insert(pid, Task::starting());
    }

    /// A task died. Returns the outcome when it was the main program.
    fn task_ended(&mut self, pid: Pid, how: Outcome) -> Option<Outcome> {
        // Its run's, looked up before a root's end forgets the run.
        let usage = self.usage_of(pid);
        self.template_task_ended(pid, &how);
        self.release_clone_reservation(pid);
        self.forget(pid);
        if let Some(usage) = usage {
            usage.process_ended(pid.as_raw());
        }
        if pid != self.main {
            return None;
        }
        if self.timed_out.load(Ordering::SeqCst) {
            return Some(Outcome::TimedOut);
        }
        if !self.main_execed {
            return Some(Outcome::NotStarted {
                denial: self.exec_denial.take(),
                exec_errno: self.exec_errno,
            });
        }
        Some(how)
    }

    fn on_new_task(&mut self, parent: Pid) -> Resume {
        // A new process counts where its parent does (its run's, in
        // template mode: the child's run is set after this).
        let usage = self.usage_of(parent);
        // Threads share the parent's address space and forked children get
        // a copy of it: either way the scratch region is there if it was.
        let (inherited, clone, parent_space, parent_tgid) = match self.tasks.get_mut(&parent) {
            Some(task) => (task.scratch_ready, task.clone.take(), task.space, task.tgid),
            None => (false, None, None, None),
        };
        let flags = clone.map(|clone| clone.flags);
        let clone3_argument = clone.and_then(|clone| clone.clone3_argument);
        if flags.is_some() {
            self.clones_in_flight = self.clones_in_flight.saturating_sub(1);
        }
        // A CLONE_VM child takes the place reserved for it in the parent's
        // address space; any other child has a copy of its own.
        let space = match flags {
            Some(flags) if spaces::shares_with_parent(flags) => parent_space,
            Some(_) => Some(self.spaces.create()),
            None => None,
        };
        match nix::sys::ptrace::getevent(parent) {
            Ok(child) => {
                let child = Pid::from_raw(child as i32);
                if !self.tasks.contains_key(&child) {
                    self.count_task();
                }
                let task = self.tasks.entry(child).or_insert_with(Task::starting);
                if flags.is_some_and(spaces::shares_working_directory) {
                    task.shares_fs = true;
                }
                // Its thread group, known from the flags: no need to read
                // /proc/<tid>/status when a path names /proc/self.
                if task.tgid.is_none() {
                    task.tgid = match flags {
                        Some(flags) if flags & libc::CLONE_THREAD as u64 != 0 => parent_tgid,
                        Some(_) => Some(child),
                        None => None,
                    };
                }
                if let Some(usage) = &usage {
                    let new_process = match task.tgid {
                        Some(tgid) => tgid == child,
                        // Flags unknown: the kernel says.
                        None => thread_group_of(child) == Some(child),
                    };
                    if new_process {
                        usage.process_started(child.as_raw());
                    }
                }
                if task.stage == Stage::Execed {
                    // The child's exec was reported before this event: the
                    // parent's space and scratch region are not its own.
                    if let Some(space) = space {
                        self.spaces.leave(space);
                    }
                } else {
                    task.scratch_ready |= inherited;
                    task.space = space;
                    if let Some(space) = space
                        && std::mem::take(&mut task.async_io_pending)
                    {
                        self.spaces.mark_async_writer(space);
                    }
                }
                if let Stage::Starting {
                    restore_first_argument,
                } = &mut task.stage
                {
                    *restore_first_argument = clone3_argument;
                }
                debug!("{parent}: started task {child}");
            }
            Err(errno) => {
                if let Some(space) = space {
                    self.spaces.leave(space);
                }
                debug!("{parent}: no event message: {}", errno.desc());
            }
        }
        Resume::Continue
    }

    fn on_exec(&mut self, pid: Pid) -> Resume {
        let mut judged = Vec::new();
        let mut pending = Vec::new();
        // After an exec by a non-leader thread, that thread carries on
        // under the leader's tid; its old tid is gone without a report.
        if let Ok(former) = nix::sys::ptrace::getevent(pid) {
            let former = Pid::from_raw(former as i32);
            if former != pid {
                let carried = self.tasks.remove(&former);
                if let Some(task) = self.tasks.get_mut(&pid)
                    && let Some(mut carried) = carried
                {
                    // The leader's entry stands for the thread that exec'd.
                    std::mem::swap(&mut task.slot, &mut carried.slot);
                    judged = std::mem::take(&mut carried.exec_judged);
                    pending = std::mem::take(&mut carried.exec_pending);
                    self.slots_back(carried);
                }
            } else if let Some(task) = self.tasks.get_mut(&pid) {
                judged = std::mem::take(&mut task.exec_judged);
                pending = std::mem::take(&mut task.exec_pending);
            }
        }
        // The kernel read the program again after the check: what it
        // loaded must be what was judged (or visible by name), before the
        // new program runs an instruction.
        // Opened now, it is the new address space's: read for the check,
        // then kept as the task's `maps` for its next path's
        // `PROCMAP_QUERY` (one open and close fewer per exec).
        let maps = spaces::open_maps(pid);
        let mut view = stopped::TaskView {
            tracer: self,
            tid: pid,
            arguments: [0; 6],
        };
        if !checks::exec::exec_loaded_only_judged(
            &mut view,
            &judged,
            maps.as_ref().map_err(|errno| *errno),
        ) {
            warn!("{pid}: the exec loaded a file the jail did not judge; killing it");
            let _ = kill(pid, Signal::SIGKILL);
            return Resume::Continue;
        }
        checks::exec::remember_after_exec(&mut self.interpreters, pending);
        let maps = maps.ok().filter(|_| self.procmap_query);
        if maps.is_some() && self.tasks.contains_key(&pid) {
            self.make_room_for_maps(pid);
        }
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.tgid = Some(pid);
            task.stage = Stage::Execed;
            // A new address space: no scratch region, and a rewritten exec
            // has nothing to restore (its registers are the new program's).
            task.scratch_ready = false;
            task.in_syscall = InSyscall::Free;
            task.maps = maps;
            let old = task.space.replace(self.spaces.create());
            if let Some(old) = old {
                self.spaces.leave(old);
            }
            // Its slot was of the old address space's pool (slots are per
            // space): given back there, and one of the new space's taken
            // at its next rewrite.
            if let Some(slot) = task.slot.take() {
                self.slots.give_back(slot);
            }
        }
        if pid == self.main {
            self.main_execed = true;
        }
        debug!("{pid}: exec");
        Resume::Continue
    }

    fn on_stop(&mut self, pid: Pid, signal: i32) -> Resume {
        if let Some(task) = self.tasks.get_mut(&pid)
            && let Stage::Starting {
                restore_first_argument,
            } = std::mem::replace(&mut task.stage, Stage::Running)
        {
            if let Some(value) = restore_first_argument
                && let Ok(mut regs) = nix::sys::ptrace::getregs(pid)
            {
                crate::arch::native::set_argument(&mut regs, 0, value);
                let _ = nix::sys::ptrace::setregs(pid, regs);
            }
            return Resume::Continue;
        }
        match Signal::try_from(signal) {
            Ok(Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) => {
                Resume::Listen
            }
            _ => Resume::Continue,
        }
    }

    /// Drops the `maxthreads` reservation `pid` holds for a clone, once the
    /// clone has produced its task or the thread has moved on (it failed).
    fn release_clone_reservation(&mut self, pid: Pid) {
        let Some(task) = self.tasks.get_mut(&pid) else {
            return;
        };
        let Some(PendingClone { flags, .. }) = task.clone.take() else {
            return;
        };
        self.clones_in_flight = self.clones_in_flight.saturating_sub(1);
        if spaces::shares_with_parent(flags)
            && let Some(space) = task.space
        {
            self.spaces.leave(space);
        }
    }

    /// Removes a task, returning its scratch slot to the pool (what a
    /// rewritten call in flight held is released with it).
    fn forget(&mut self, pid: Pid) {
        self.descriptor_dirs.forget(pid);
        if let Some(task) = self.tasks.remove(&pid) {
            self.slots_back(task);
        }
    }

    fn slots_back(&mut self, mut task: Task) {
        // A charged call that never reached its exit (the task died in
        // it, or exec'd from another thread) gives its reservation back.
        if let InSyscall::Rewritten {
            charge: Some(charge),
            ..
        } = std::mem::take(&mut task.in_syscall)
        {
            self.settle(charge);
        }
        if let Some(slot) = task.slot {
            self.slots.give_back(slot);
        }
        if let Some(space) = task.space {
            self.spaces.leave(space);
        }
    }

    /// `pid` is about to open its `maps`: closes the oldest others' so
    /// that at most [`MAPS_OPEN`] stay open. Under a low `NOFILE` one file
    /// per task made the jail's own opens (and so the program's) fail
    /// with EMFILE; a closed one is reopened when next needed.
    fn make_room_for_maps(&mut self, pid: Pid) {
        // Entries of tasks gone, or whose file an exec closed, hold
        // nothing: dropped first, so they neither count nor push out a
        // task's open file.
        let tasks = &self.tasks;
        self.maps_open
            .retain(|open| *open != pid && tasks.get(open).is_some_and(|task| task.maps.is_some()));
        while self.maps_open.len() >= MAPS_OPEN {
            let Some(oldest) = self.maps_open.pop_front() else {
                break;
            };
            if let Some(task) = self.tasks.get_mut(&oldest) {
                task.maps = None;
            }
        }
        self.maps_open.push_back(pid);
    }

    /// Whether `pid` is the keeper, not yet reaped (once reaped, its pid
    /// may belong to anyone, a jail task included).
    fn is_live_keeper(&self, pid: Pid) -> bool {
        self.keeper
            .as_ref()
            .is_some_and(|keeper| keeper.pid() == pid && !keeper.is_reaped())
    }

    /// The inodes of every socket a jail process holds, from its
    /// descriptors' `socket:[<inode>]` links.
    fn socket_inodes(&self, from: Pid) -> std::collections::HashSet<u64> {
        // A template's runs are jails of their own: only the sockets of
        // `from`'s run count as the jail's.
        let groups: std::collections::HashSet<Pid> = self
            .tasks
            .iter()
            .filter(|(tid, _)| self.template.is_none() || self.same_run(from, **tid))
            .map(|(tid, task)| task.tgid.unwrap_or(*tid))
            .collect();
        let mut inodes = std::collections::HashSet::new();
        for group in groups {
            let Ok(entries) = std::fs::read_dir(format!("/proc/{group}/fd")) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(link) = std::fs::read_link(entry.path()) else {
                    continue;
                };
                let link = link.to_string_lossy();
                if let Some(inode) = link
                    .strip_prefix("socket:[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|inode| inode.parse().ok())
                {
                    inodes.insert(inode);
                }
            }
        }
        inodes
    }

    /// Whether `pid` is a task of the jail task `from` is in: in template
    /// mode, of the same run.
    fn is_jail_pid_from(&self, from: Pid, pid: u32) -> bool {
        match i32::try_from(pid) {
            Ok(pid) if self.template.is_some() => self.same_run(from, Pid::from_raw(pid)),
            Ok(pid) => self.tasks.contains_key(&Pid::from_raw(pid)),
            Err(_) => false,
        }
    }

    fn report(&self, denial: &Denial) {
        // Every dynamically linked program's loader looks for this file;
        // its absence is no news.
        if denial.kind == DenialKind::See && denial.canonical == "/etc/ld.so.preload" {
            return;
        }
        if self.policy.report {
            // Not a log line: the report is output the user asked for. A
            // closed stderr must not stop the jail, so errors are ignored.
            crate::notice::line(&denial.to_string());
        }
        self.note_refusal(None, Some(denial.clone()));
    }

    /// `[Syscall <name>]` for a syscall refused whatever its arguments
    /// (`[Syscall <number>]` for one the table has no name for).
    fn report_syscall(&self, name: &str, nr: u64) {
        let shown = match name {
            "unknown" => nr.to_string(),
            name => name.to_owned(),
        };
        self.note_refusal(Some(&shown), None);
        if self.policy.report {
            let line = match name {
                "unknown" => format!("[Syscall {nr}]"),
                name => format!("[Syscall {name}]"),
            };
            crate::notice::line(&line);
        }
    }

    /// Kills every task still in the jail and reaps until none is left,
    /// including tasks that appear while this runs (a fork in flight).
    fn kill_everything(&mut self) {
        for pid in self.tasks.keys() {
            let _ = kill(*pid, Signal::SIGKILL);
        }
        self.copiers.kill_all();
        if let Some(keeper) = &self.keeper {
            keeper.end();
        }
        loop {
            match sys::wait_any() {
                Ok((pid, _)) if self.is_live_keeper(pid) => {
                    if let Some(keeper) = &self.keeper {
                        keeper.mark_reaped();
                    }
                }
                Ok((pid, status)) => match event::decode(status) {
                    Event::Exited { .. } | Event::Killed { .. } => {
                        self.tasks.remove(&pid);
                    }
                    _ => {
                        let _ = kill(pid, Signal::SIGKILL);
                        let _ = sys::ptrace_cont(pid, 0);
                    }
                },
                Err(Errno::ECHILD) => break,
                Err(errno) => {
                    warn!("reaping the jail: {}", errno.desc());
                    break;
                }
            }
        }
        // Their copiers reaped, half-made copies go.
        self.copiers.forget_all();
    }
}
