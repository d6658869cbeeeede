//! Answering a seccomp stop: read the arguments once, resolve, ask the
//! policy, and say how the kernel must run the call.
//!
//! A refused call is skipped at this same stop. An allowed call that reads
//! nothing from the program's memory is resumed as it is. An allowed call
//! that does (a path, an `open_how`) is *rewritten*: the kernel gets the
//! jail's own copy of each argument in scratch memory the program cannot
//! write ([`super::scratch`]), and where a writable tree makes it possible
//! to swap a directory for a symlink after the check, a path the kernel
//! cannot walk differently: the object or its parent directory, held open
//! by the tracer and named as `/proc/<tracer>/fd/<n>`. See
//! [`super::rewrite`] for how the rewrite is applied and undone.

use super::memory::{self, read_path};
use super::resolve::{self, Resolved, Start, Thread};
use super::rewrite::{Arg, Rewrite};
use super::scratch::{self, Part};
use super::{Tracer, exec, spaces};
use crate::arch::native::{self as arch, Regs};
use crate::policy::{Asker, Target, Verdict};
use crate::sys;
use crate::syscall::{
    Access, ArgAction, AsyncCall, Check, Class, CloneCall, EmptyPath, Follow, MemoryGuard,
    OpenCall, OpenFlags, OwnerCall, PathOperand, PriorityWhich, SignalCall,
};
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The answer for one stopped syscall.
#[derive(Debug)]
pub(super) enum Answer {
    /// Run it as the program made it (nothing read from its memory).
    Allow,
    /// Skip the syscall; it returns `-errno`.
    Refuse(i32),
    /// Run it on the jail's copies of its arguments.
    Rewrite(Rewrite),
}

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

const SECCOMP_SET_MODE_STRICT: u64 = 0;
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const SECCOMP_GET_ACTION_AVAIL: u64 = 2;
const SECCOMP_GET_NOTIF_SIZES: u64 = 3;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = 1 << 3;
/// `CLONE_INTO_CGROUP` (clone3 only): the child would start in another
/// cgroup, outside the limits its parent is under.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
const ADDR_NO_RANDOMIZE: u64 = 0x0040000;

/// The flags `open`/`openat` accept (the kernel's `VALID_OPEN_FLAGS`);
/// unlike `openat2` they ignore the rest, so a rewrite must drop them.
const VALID_OPEN_FLAGS: u64 = (libc::O_RDONLY
    | libc::O_WRONLY
    | libc::O_RDWR
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_PATH
    | libc::O_TMPFILE
    | libc::O_SYNC) as u64;
const O_PATH_FLAGS: u64 =
    (libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_PATH | libc::O_CLOEXEC) as u64;

fn signed(value: u64) -> i32 {
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
                // The kernel reads `op` and `flags` as 32-bit values: judge
                // them so, or high bits would hide a listener.
                let op = arg(0) & 0xffff_ffff;
                let flags = arg(1) & 0xffff_ffff;
                match op {
                    SECCOMP_SET_MODE_FILTER if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 => {
                        debug!("{pid}: seccomp listener refused");
                        Answer::Refuse(libc::EPERM)
                    }
                    SECCOMP_SET_MODE_STRICT
                    | SECCOMP_SET_MODE_FILTER
                    | SECCOMP_GET_ACTION_AVAIL
                    | SECCOMP_GET_NOTIF_SIZES => Answer::Allow,
                    _ => {
                        debug!("{pid}: seccomp operation {op} unknown to the jail");
                        Answer::Refuse(libc::EINVAL)
                    }
                }
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
                let persona = arg(0) & 0xffff_ffff;
                if persona == PERSONALITY_QUERY || persona & !ADDR_NO_RANDOMIZE == 0 {
                    Answer::Allow
                } else {
                    debug!("{pid}: personality {persona:#x} refused");
                    Answer::Refuse(libc::EPERM)
                }
            }
            Check::Wakeup => match self.suspender.as_mut() {
                Some(suspend) => {
                    debug!("{pid}: wakeup: the command is done");
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

    /// Reads, resolves and judges one path operand, and adds to `rewrite`
    /// what the kernel must be given instead of the program's pointer.
    fn judge_operand(
        &mut self,
        pid: Pid,
        name: &str,
        operand: &PathOperand,
        part: Part,
        regs: &Regs,
        rewrite: &mut Rewrite,
    ) -> Result<(), i32> {
        let arg = |index: u8| arch::argument(regs, usize::from(index));
        let start = match operand.dirfd {
            Some(index) if signed(arg(index)) != libc::AT_FDCWD => Start::Fd(signed(arg(index))),
            _ => Start::Cwd,
        };
        let flag_set = |index: u8, flag: u64| arg(index) & flag != 0;
        let access = match operand.access {
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
        let path = if address == 0 && operand.null_means_dirfd {
            None
        } else {
            Some(read_path(pid, address).map_err(|errno| errno as i32)?)
        };
        if let Some(url) = path.as_deref().and_then(|path| self.url_for(path)) {
            return self.judge_url_operand(pid, name, &url, access, operand, part, regs, rewrite);
        }
        let empty_means_dirfd = match operand.empty_path {
            EmptyPath::Never => false,
            EmptyPath::IfFlag(index) => flag_set(index, libc::AT_EMPTY_PATH as u64),
            EmptyPath::Always => true,
        };
        let on_descriptor = match &path {
            None => true,
            Some(path) => path.is_empty() && empty_means_dirfd,
        };
        let exec = matches!(name, "execve" | "execveat");
        if on_descriptor {
            // Running a descriptor the thread holds: what the kernel opens
            // next is judged as for a path.
            if exec && let Start::Fd(fd) = start {
                let program = take_descriptor(pid, fd).ok();
                self.judge_interpreters(pid, name, thread, program)?;
            }
            // Looking at a descriptor the thread holds is always fine
            // (fstat in disguise, pipes included). The kernel must still
            // get an empty path it cannot have changed.
            if matches!(access, Access::Stat | Access::Read) {
                if path.is_some() && !self.untouchable(pid, address, 1) {
                    rewrite.set(operand.path, Arg::Scratch(part, Vec::new()));
                }
                return Ok(());
            }
            // Changing it is judged by the file it names, and done on the
            // very object judged, whatever the descriptor table holds by
            // the time the kernel looks.
            let Start::Fd(fd) = start else {
                return Err(libc::EINVAL);
            };
            let resolved = resolve::start_target(thread, start).map_err(|errno| errno as i32)?;
            self.verdict(pid, name, access, &resolved.target, "")?;
            let Some(kernel_path) = self.descriptor_path(pid, fd, rewrite)? else {
                // Alone with its descriptor table: the call runs as it is.
                if path.is_some() && !self.untouchable(pid, address, 1) {
                    rewrite.set(operand.path, Arg::Scratch(part, Vec::new()));
                }
                return Ok(());
            };
            rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
            // The magic link must be followed to reach the object.
            match operand.follow {
                Follow::UnlessFlag { arg, flag } => {
                    rewrite.set(arg, Arg::Value(self::arg_without(regs, arg, flag)));
                }
                Follow::IfFlag { arg, flag } => {
                    rewrite.set(
                        arg,
                        Arg::Value(arch::argument(regs, usize::from(arg)) | flag),
                    );
                }
                Follow::Always | Follow::Never => {}
            }
            return Ok(());
        }
        let path = path.unwrap_or_default();
        let given = String::from_utf8_lossy(&path).into_owned();
        let resolved = match self.resolve(thread, start, &path, follow) {
            Ok(resolved) => resolved,
            Err(errno) => {
                debug!(
                    "{pid}: {name}({given:?}) does not resolve: {}",
                    errno.desc()
                );
                return Err(errno as i32);
            }
        };
        self.verdict(pid, name, access, &resolved.target, &given)?;
        let trailing_slash = path.ends_with(b"/");
        if exec {
            let program = held_copy(&resolved);
            self.judge_interpreters(pid, name, thread, program)?;
        }
        let held = matches!(resolved.target, Target::Held);
        if !held
            && !resolved.touched_writable
            && self.untouchable(pid, address, path.len() as u64 + 1)
        {
            // Nothing can change the buffer or the walk: the kernel may
            // read the program's own argument, and no exit stop is needed.
            return Ok(());
        }
        let kernel_path =
            self.kernel_path(&resolved, access, follow, exec, trailing_slash, rewrite)?;
        rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
        Ok(())
    }

    /// A path operand that names a URL under an `http` prefix: looking at
    /// it describes the downloaded body; anything else is refused.
    #[allow(clippy::too_many_arguments)]
    fn judge_url_operand(
        &mut self,
        pid: Pid,
        name: &str,
        url: &str,
        access: Access,
        operand: &PathOperand,
        part: Part,
        regs: &Regs,
        rewrite: &mut Rewrite,
    ) -> Result<(), i32> {
        let exec = matches!(name, "execve" | "execveat");
        if exec || !matches!(access, Access::Stat | Access::Read) {
            debug!("{pid}: {name}({url}) {access:?}: a URL is read-only");
            if self.policy.report {
                crate::notice::line(&format!(
                    "[Http {}: read-only]",
                    crate::notice::printable(url)
                ));
            }
            return Err(if exec { libc::EACCES } else { libc::EROFS });
        }
        let body = self.download(url)?;
        debug!("{pid}: {name}({url}): the downloaded body");
        let kernel_path = self.body_path(body, rewrite)?;
        rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
        if let Follow::UnlessFlag { arg, flag } = operand.follow {
            // lstat and friends describe the body, not the link to it.
            rewrite.set(arg, Arg::Value(self::arg_without(regs, arg, flag)));
        }
        Ok(())
    }

    /// Opening a URL: read-only opens get a fresh read-only descriptor on
    /// the downloaded body; every other open fails with EROFS.
    fn judge_url_open(
        &mut self,
        pid: Pid,
        name: &str,
        url: &str,
        access: Access,
        flags: u64,
    ) -> Answer {
        if !matches!(access, Access::Read | Access::Stat) {
            debug!("{pid}: {name}({url}) {access:?}: a URL is read-only");
            if self.policy.report {
                crate::notice::line(&format!(
                    "[Http {}: read-only]",
                    crate::notice::printable(url)
                ));
            }
            return Answer::Refuse(libc::EROFS);
        }
        let body = match self.download(url) {
            Ok(body) => body,
            Err(errno) => return Answer::Refuse(errno),
        };
        debug!("{pid}: {name}({url}): the downloaded body");
        let mut rewrite = Rewrite::default();
        let kernel_path = match self.body_path(body, &mut rewrite) {
            Ok(path) => path,
            Err(errno) => return Answer::Refuse(errno),
        };
        self.as_openat2(rewrite, kernel_path, flags, 0, 0)
    }

    /// Finishes `rewrite` as the `openat2` the kernel runs for an open:
    /// the path from scratch memory and the `open_how` that `open`/`openat`
    /// would have passed to the common open code (the kernel's
    /// build_open_how), since openat2 rejects what they ignore.
    fn as_openat2(
        &self,
        mut rewrite: Rewrite,
        kernel_path: Vec<u8>,
        flags: u64,
        mode: u64,
        resolve: u64,
    ) -> Answer {
        let mut how_flags = flags & VALID_OPEN_FLAGS;
        if how_flags & libc::O_PATH as u64 != 0 {
            how_flags &= O_PATH_FLAGS;
        }
        let creates = flags & (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u64 != 0;
        let how_mode = if creates { mode & 0o7777 } else { 0 };
        let mut how = Vec::with_capacity(24);
        how.extend_from_slice(&how_flags.to_ne_bytes());
        how.extend_from_slice(&how_mode.to_ne_bytes());
        how.extend_from_slice(&resolve.to_ne_bytes());
        rewrite.syscall = Some(self.openat2_nr);
        rewrite.set(0, Arg::Value(libc::AT_FDCWD as u64));
        rewrite.set(1, Arg::Scratch(Part::FirstPath, kernel_path));
        rewrite.set(2, Arg::Scratch(Part::Struct, how));
        rewrite.set(3, Arg::Value(24));
        Answer::Rewrite(rewrite)
    }

    /// Resolves a path for `thread` with the jail's view of the system.
    fn resolve(
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
    fn untouchable(&mut self, pid: Pid, address: u64, len: u64) -> bool {
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

    /// Judges what the kernel itself opens to run `program` (the tracer's
    /// own descriptor of the file to be run): a script's `#!` interpreter
    /// (and its own, nested) and an ELF program's loader. Each file judged
    /// is remembered by identity for the check after the exec
    /// ([`exec::loaded_files`]), which holds whatever this one could not
    /// read.
    fn judge_interpreters(
        &mut self,
        pid: Pid,
        name: &str,
        thread: Thread,
        program: Option<OwnedFd>,
    ) -> Result<(), i32> {
        let mut judged = Vec::new();
        let mut current = program;
        // The scripts, the ELF program and its loader.
        for _ in 0..exec::MAX_INTERPRETER_DEPTH + 2 {
            let Some(held) = current.take() else {
                break;
            };
            judged.extend(exec::identity(&held));
            let file = match exec::open_for_inspection(&held) {
                Ok(Some(file)) => file,
                Ok(None) => break,
                // A file the tracer's user may not read but may run (mode
                // --x): the kernel reads its first bytes anyway, and the
                // check after the exec sees what it mapped.
                Err(Errno::EACCES) => break,
                // Anything else (a lease taken to blind this look) would
                // let the kernel follow a `#!` no one judged.
                Err(errno) => {
                    debug!(
                        "{pid}: {name}: cannot look into the program: {}",
                        errno.desc()
                    );
                    return Err(libc::EACCES);
                }
            };
            let Some(interpreter) = exec::interpreter_of(&file) else {
                break;
            };
            let given = String::from_utf8_lossy(&interpreter).into_owned();
            let resolved = self
                .resolve(thread, Start::Cwd, &interpreter, true)
                .map_err(|errno| errno as i32)?;
            self.verdict(pid, name, Access::Read, &resolved.target, &given)?;
            current = held_copy(&resolved);
        }
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.exec_judged = judged;
        }
        Ok(())
    }

    /// Checks, at the exec event of `pid` (before the new program runs),
    /// that every file the kernel mapped was judged before the exec or is
    /// visible by its name. `false`: it is not; the caller kills the task.
    pub(super) fn exec_loaded_only_judged(&mut self, pid: Pid, judged: &[exec::Identity]) -> bool {
        let files = match exec::loaded_files(pid) {
            Ok(files) => files,
            // Gone already: nothing of it runs.
            Err(Errno::ENOENT | Errno::ESRCH) => return true,
            Err(errno) => {
                warn!("{pid}: cannot list what the exec loaded: {}", errno.desc());
                return false;
            }
        };
        for file in files {
            if judged.contains(&file.identity) {
                continue;
            }
            let Some(path) = file.path else {
                debug!(
                    "{pid}: exec loaded an unnamed file never judged {:?}",
                    file.identity
                );
                return false;
            };
            let given = path.to_string_lossy().into_owned();
            if self
                .verdict(pid, "execve", Access::Read, &Target::Path(path), &given)
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// The path the kernel is handed for a judged operand. Outside the
    /// writable trees nothing can move once judged, so the canonical path
    /// is enough. Inside them, a directory could be swapped for a symlink
    /// after the check; there the kernel gets the object (or, when the last
    /// component is not followed, its parent directory) held open by the
    /// tracer, so no component is looked up again.
    fn kernel_path(
        &mut self,
        resolved: &Resolved,
        access: Access,
        follow: bool,
        exec: bool,
        trailing_slash: bool,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, i32> {
        let path = match &resolved.target {
            Target::Held => {
                let Some((owner, fd)) = resolved.held_via else {
                    return Err(libc::EBADF);
                };
                return self.held_object_path(owner, fd, rewrite);
            }
            Target::Path(path) => path,
        };
        let plain = exec || !self.policy.is_inside_writable(path);
        let mut kernel_path = if plain {
            // An exec keeps its real path: the program and a script's
            // interpreter see it. Swapping a directory in a writable tree
            // could at worst run a hidden program, never write outside.
            path.as_os_str().as_bytes().to_vec()
        } else if follow && resolved.exists && access != Access::Create {
            let held = open_verified(path, false)?;
            self.fd_path(held, None, rewrite)?
        } else if follow && access != Access::Create {
            // Following a name that does not exist fails anyway; running
            // it would let a symlink planted meanwhile be followed.
            return Err(libc::ENOENT);
        } else {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                return Ok(path.as_os_str().as_bytes().to_vec());
            };
            let held = open_verified(parent, true)?;
            self.fd_path(held, Some(name), rewrite)?
        };
        if trailing_slash {
            kernel_path.push(b'/');
        }
        Ok(kernel_path)
    }

    /// How the kernel is to reach descriptor `fd` of task `owner`, an
    /// object with no path (a pipe, a socket) reached through
    /// `/proc/<owner>/fd/<fd>`: the jail's own copy of it, so that a
    /// `dup2` meanwhile cannot swap it.
    fn held_object_path(&self, owner: Pid, fd: i32, rewrite: &mut Rewrite) -> Result<Vec<u8>, i32> {
        let held = take_descriptor(owner, fd)?;
        self.fd_path(held, None, rewrite)
    }

    /// How a call that changes the file behind the task's descriptor `fd`
    /// reaches the very object judged. `None`: the task is alone with its
    /// descriptor table, so nothing can swap it; the call runs as it is.
    fn descriptor_path(
        &mut self,
        pid: Pid,
        fd: i32,
        rewrite: &mut Rewrite,
    ) -> Result<Option<Vec<u8>>, i32> {
        let alone = self
            .tasks
            .get(&pid)
            .and_then(|task| task.space)
            .is_some_and(|space| self.spaces.is_private(space));
        if alone {
            return Ok(None);
        }
        let held = take_descriptor(pid, fd)?;
        // The kernel refuses fchmod, fchown and fsetxattr on an O_PATH
        // descriptor; reached through /proc/<holder>/fd/<n> it would not.
        let flags = nix::fcntl::fcntl(&held, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(|errno| errno as i32)?;
        if flags & libc::O_PATH != 0 {
            return Err(libc::EBADF);
        }
        self.fd_path(held, None, rewrite).map(Some)
    }

    /// How the kernel is to reach a downloaded body: a descriptor of the
    /// jail's, so the program gets its own read-only one on the same file.
    fn body_path(&mut self, body: OwnedFd, rewrite: &mut Rewrite) -> Result<Vec<u8>, i32> {
        self.fd_path(body, None, rewrite)
    }

    /// `/proc/<holder>/fd/<n>[/<name>]`: how a jailed thread names an
    /// object the jail holds for the time of one call. The holder is the
    /// tracer, or under Landlock (which keeps the program out of the
    /// tracer's /proc) the keeper. The program cannot use such a path
    /// itself: the `/proc` entries of both are hidden from it.
    fn fd_path(
        &self,
        held: OwnedFd,
        name: Option<&OsStr>,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, i32> {
        let mut path = if self.landlock {
            let Some(keeper) = &self.keeper else {
                debug!("no descriptor keeper under Landlock: refusing");
                return Err(libc::EPERM);
            };
            let lent = crate::keeper::Lent::new(keeper, &held).map_err(|errno| {
                // Said once: the program could make it fail at will.
                if !keeper.has_failed() {
                    warn!("the descriptor keeper failed: {}; refusing", errno.desc());
                }
                keeper.note_failure();
                libc::EPERM
            })?;
            let path = lent.path().into_bytes();
            rewrite.lent.push(lent);
            path
        } else {
            let path = format!("/proc/{}/fd/{}", self.own_tid, held.as_raw_fd()).into_bytes();
            rewrite.hold(held);
            path
        };
        if let Some(name) = name {
            path.push(b'/');
            path.extend_from_slice(name.as_bytes());
        }
        Ok(path)
    }

    /// Asks the policy; a denial is reported and becomes the errno.
    fn verdict(
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

    fn judge_open(&mut self, pid: Pid, name: &str, open: OpenCall, regs: &Regs) -> Answer {
        let arg = |index: u8| arch::argument(regs, usize::from(index));
        let (flags, mode, program_resolve) = match open.flags {
            OpenFlags::Arg(index) => (arg(index) & 0xffff_ffff, arg(index + 1), 0),
            OpenFlags::Creat => (
                (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
                arg(1),
                0,
            ),
            OpenFlags::How(index) => {
                // `struct open_how { u64 flags, mode, resolve; }`, read once;
                // the decision and the kernel both use this copy.
                let mut how = [0u8; 24];
                let size = arg(index + 1);
                if size < 24 {
                    return Answer::Refuse(libc::EINVAL);
                }
                if let Err(errno) = memory::read_exact(pid, arg(index), &mut how) {
                    return Answer::Refuse(errno as i32);
                }
                let field = |i: usize| {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(&how[i * 8..i * 8 + 8]);
                    u64::from_ne_bytes(bytes)
                };
                (field(0), field(1), field(2))
            }
        };
        let has = |flag: i32| flags & flag as u64 != 0;
        let access_mode = flags & libc::O_ACCMODE as u64;
        let access = if has(libc::O_PATH) {
            Access::Stat
        } else if has(libc::O_CREAT)
            || has(libc::O_TMPFILE & !libc::O_DIRECTORY)
            || access_mode != libc::O_RDONLY as u64
            || has(libc::O_TRUNC)
            || has(libc::O_APPEND)
        {
            // O_CREAT opens an existing file (a `write` root such as
            // /dev/null included) or makes a new name; O_TMPFILE makes an
            // unnamed file in the named directory. Neither removes or
            // replaces a name, so the roots' protection does not apply.
            Access::Write
        } else {
            Access::Read
        };
        let exclusive_create = has(libc::O_CREAT) && has(libc::O_EXCL);
        let follow = !(has(libc::O_NOFOLLOW) || exclusive_create);
        let thread = self.thread(pid);
        let path = match read_path(pid, arg(open.path)) {
            Ok(path) => path,
            Err(errno) => return Answer::Refuse(errno as i32),
        };
        if let Some(url) = self.url_for(&path) {
            return self.judge_url_open(pid, name, &url, access, flags);
        }
        let given = String::from_utf8_lossy(&path).into_owned();
        let start = match open.dirfd {
            Some(index) if signed(arg(index)) != libc::AT_FDCWD => Start::Fd(signed(arg(index))),
            _ => Start::Cwd,
        };
        let scoped = program_resolve & (libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT) != 0;
        let resolved = if scoped {
            // The program's own scope decides what the path means; the
            // kernel call below then gets the plain canonical result.
            resolve::resolve_scoped(thread, start, &path, follow, program_resolve)
        } else {
            self.resolve(thread, start, &path, follow)
        };
        let resolved = match resolved {
            Ok(resolved) => resolved,
            Err(errno) => {
                debug!(
                    "{pid}: {name}({given:?}) does not resolve: {}",
                    errno.desc()
                );
                return Answer::Refuse(errno as i32);
            }
        };
        let program_resolve = program_resolve & !(libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT);
        if let Err(errno) = self.verdict(pid, name, access, &resolved.target, &given) {
            return Answer::Refuse(errno);
        }
        // A descriptor that can read (O_RDWR, or O_RDONLY with O_CREAT,
        // O_TRUNC or O_APPEND) needs the file visible too: `write` alone
        // lets a program write, never read.
        let reads = !has(libc::O_PATH) && access_mode != libc::O_WRONLY as u64;
        if access == Access::Write
            && reads
            && let Err(errno) = self.verdict(pid, name, Access::Read, &resolved.target, &given)
        {
            return Answer::Refuse(errno);
        }
        let program_args_safe = match open.flags {
            OpenFlags::How(_) => false,
            _ => {
                !matches!(resolved.target, Target::Held)
                    && !resolved.touched_writable
                    && self.untouchable(pid, arg(open.path), path.len() as u64 + 1)
            }
        };
        if program_args_safe {
            return Answer::Allow;
        }
        let mut rewrite = Rewrite::default();
        let (mut kernel_path, resolve_flags) = match &resolved.target {
            Target::Held => {
                let Some((owner, fd)) = resolved.held_via else {
                    return Answer::Refuse(libc::EBADF);
                };
                match self.held_object_path(owner, fd, &mut rewrite) {
                    Ok(kernel_path) => (kernel_path, 0),
                    Err(errno) => return Answer::Refuse(errno),
                }
            }
            // /proc cannot be written, so nothing there can be swapped;
            // its magic links (already resolved) must not be followed.
            Target::Path(canonical) if canonical.starts_with("/proc") => (
                canonical.as_os_str().as_bytes().to_vec(),
                libc::RESOLVE_NO_MAGICLINKS,
            ),
            // The canonical path has no symlinks; meeting one means a
            // component was swapped after the check.
            Target::Path(canonical) => (
                canonical.as_os_str().as_bytes().to_vec(),
                libc::RESOLVE_NO_SYMLINKS,
            ),
        };
        if path.ends_with(b"/") {
            kernel_path.push(b'/');
        }
        self.as_openat2(
            rewrite,
            kernel_path,
            flags,
            mode,
            resolve_flags | program_resolve,
        )
    }

    /// `fchmod`, `fchown`, `fsetxattr`, `fremovexattr`: judged by the path
    /// the descriptor names, and run on the very object judged through the
    /// path-taking sibling syscall.
    fn judge_descriptor(&mut self, pid: Pid, name: &str, fd: u64, access: Access) -> Answer {
        let thread = self.thread(pid);
        let fd = signed(fd);
        let resolved = match resolve::start_target(thread, Start::Fd(fd)) {
            Ok(resolved) => resolved,
            Err(errno) => return Answer::Refuse(errno as i32),
        };
        if let Err(errno) = self.verdict(pid, name, access, &resolved.target, "") {
            return Answer::Refuse(errno);
        }
        let sibling = match name {
            "fchmod" => "chmod",
            "fchown" => "chown",
            "fsetxattr" => "setxattr",
            "fremovexattr" => "removexattr",
            _ => return Answer::Refuse(libc::ENOSYS),
        };
        let Some(sibling_nr) = crate::arch::number_of(sibling) else {
            return Answer::Refuse(libc::ENOSYS);
        };
        let mut rewrite = Rewrite {
            syscall: Some(u64::from(sibling_nr)),
            ..Rewrite::default()
        };
        match self.descriptor_path(pid, fd, &mut rewrite) {
            Ok(Some(kernel_path)) => {
                rewrite.set(0, Arg::Scratch(Part::FirstPath, kernel_path));
                Answer::Rewrite(rewrite)
            }
            Ok(None) => Answer::Allow,
            Err(errno) => Answer::Refuse(errno),
        }
    }

    /// An `ioctl` or `fcntl` that changes the object behind descriptor
    /// `fd` in place. A descriptor open for writing was judged a write when
    /// it was opened (or handed to the jail on purpose); any other is
    /// judged as a write on the object it names. The kernel looks the
    /// number up again when the call runs, so while another task shares
    /// the descriptor table (and could `dup2` a see-only file over it
    /// meanwhile) the call is refused.
    fn judge_object_change(&mut self, pid: Pid, name: &str, fd: i32) -> Answer {
        let alone = self
            .tasks
            .get(&pid)
            .and_then(|task| task.space)
            .is_some_and(|space| self.spaces.is_private(space));
        if !alone {
            debug!("{pid}: {name} on descriptor {fd} with a shared descriptor table: EPERM");
            return Answer::Refuse(libc::EPERM);
        }
        let held = match take_descriptor(pid, fd) {
            Ok(held) => held,
            Err(errno) => return Answer::Refuse(errno),
        };
        let flags = match nix::fcntl::fcntl(&held, nix::fcntl::FcntlArg::F_GETFL) {
            Ok(flags) => flags,
            Err(errno) => return Answer::Refuse(errno as i32),
        };
        if flags & libc::O_PATH != 0 {
            return Answer::Refuse(libc::EBADF);
        }
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            debug!("{pid}: {name} on descriptor {fd}, open for writing: allow");
            return Answer::Allow;
        }
        let thread = self.thread(pid);
        let resolved = match resolve::start_target(thread, Start::Fd(fd)) {
            Ok(resolved) => resolved,
            Err(errno) => return Answer::Refuse(errno as i32),
        };
        match self.verdict(pid, name, Access::Write, &resolved.target, "") {
            Ok(()) => Answer::Allow,
            Err(errno) => Answer::Refuse(errno),
        }
    }

    /// `clone3(struct clone_args *args, size)`: the flags live in memory,
    /// so they are judged on the jail's copy, which the kernel then reads
    /// (unless nothing can change the program's own).
    fn judge_clone3(&mut self, pid: Pid, regs: &Regs) -> Answer {
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

    fn judge_clone(&mut self, pid: Pid, kind: CloneCall, flags: u64) -> Answer {
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

    /// `F_SETOWN` and friends: the process, thread or group that is to
    /// get a descriptor's signals must lie inside the jail. The kernel
    /// keeps a reference to the target itself, so judging it now is enough;
    /// a target passed in memory is handed over as the jail's copy.
    fn judge_signal_owner(&mut self, pid: Pid, name: &str, call: OwnerCall, regs: &Regs) -> Answer {
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
    fn judge_async_signals(&mut self, pid: Pid, name: &str, fd: i32) -> Answer {
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

/// Refuses a memory-map change that would touch the scratch region.
fn judge_memory_guard(pid: Pid, name: &str, guard: MemoryGuard, regs: &Regs) -> Answer {
    let arg = |index: usize| arch::argument(regs, index);
    let touches = match guard {
        MemoryGuard::Mmap => {
            arg(3) & libc::MAP_FIXED as u64 != 0 && scratch::overlaps(arg(0), arg(1))
        }
        MemoryGuard::Range => scratch::overlaps(arg(0), arg(1)),
        MemoryGuard::Mremap => {
            scratch::overlaps(arg(0), arg(1))
                || (arg(3) & libc::MREMAP_FIXED as u64 != 0 && scratch::overlaps(arg(4), arg(2)))
        }
    };
    if touches {
        debug!("{pid}: {name} would touch the jail's scratch region: EPERM");
        Answer::Refuse(libc::EPERM)
    } else {
        Answer::Allow
    }
}

/// `regs`' argument `index` with `flag` cleared.
fn arg_without(regs: &Regs, index: u8, flag: u64) -> u64 {
    arch::argument(regs, usize::from(index)) & !flag
}

/// The tracer's own descriptor of a judged operand's object, for reading
/// it. `None`: it cannot be had (gone, or swapped: the canonical path has
/// no symlink, so a swap makes it fail).
fn held_copy(resolved: &Resolved) -> Option<OwnedFd> {
    match &resolved.target {
        Target::Path(path) => open_verified(path, false).ok(),
        Target::Held => {
            let (owner, fd) = resolved.held_via?;
            take_descriptor(owner, fd).ok()
        }
    }
}

/// The tracer's own copy of descriptor `fd` of task `owner`: the exact
/// open file the check looked at, whatever the task's table holds later.
fn take_descriptor(owner: Pid, fd: i32) -> Result<OwnedFd, i32> {
    let pidfd = sys::pidfd_open(owner).map_err(|errno| errno as i32)?;
    sys::pidfd_getfd(&pidfd, fd).map_err(|errno| match errno {
        Errno::EBADF => libc::EBADF,
        errno => errno as i32,
    })
}

/// Opens a judged canonical path for the tracer, refusing any symlink on
/// the way: the canonical path has none, so one means a swap.
fn open_verified(path: &Path, directory: bool) -> Result<OwnedFd, i32> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if directory {
        flags |= libc::O_DIRECTORY;
    } else {
        flags |= libc::O_NOFOLLOW;
    }
    sys::openat2(
        libc::AT_FDCWD,
        &c_path,
        flags as u64,
        libc::RESOLVE_NO_SYMLINKS,
    )
    .map_err(|errno| errno as i32)
}

/// Whether task `tid` has begun to exit (or is gone): its `/proc/<tid>/stat`
/// shows a zombie or dead state, or the kernel's `PF_EXITING` flag, which
/// is set before the task wakes whoever waits for it.
fn is_exiting(tid: Pid) -> bool {
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

/// The thread-group id of `tid`, from `/proc/<tid>/status`.
fn read_tgid(tid: Pid) -> Option<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Tgid:"))?;
    let tgid = line.trim_start_matches("Tgid:").trim().parse().ok()?;
    Some(Pid::from_raw(tgid))
}
