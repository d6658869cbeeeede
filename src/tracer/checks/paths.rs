//! Paths and opens: a path operand read once, resolved, judged, and
//! handed to the kernel as the jail's copy (the canonical path, or the
//! object or its parent held open where a writable tree could swap a
//! name); `open`/`openat`/`openat2` with the access their flags mean; calls
//! that change the object behind a descriptor (`fchmod`, an `ioctl` that
//! sets inode flags or terminal modes).

use crate::arch::native::{self as arch, Regs};
use crate::policy::Target;
use crate::sys;
use crate::syscall::{Access, EmptyPath, Follow, OpenCall, OpenFlags, PathOperand};
use crate::tracer::Tracer;
use crate::tracer::answer::{Answer, Arg, Rewrite};
use crate::tracer::checks::exec::held_copy;
use crate::tracer::checks::lend::take_descriptor;
use crate::tracer::decide::signed;
use crate::tracer::memory::{self, read_path};
use crate::tracer::resolve::{self, Resolved, Start};
use crate::tracer::scratch::Part;
use log::debug;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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

impl Tracer {
    /// Reads, resolves and judges one path operand, and adds to `rewrite`
    /// what the kernel must be given instead of the program's pointer.
    pub(in crate::tracer) fn judge_operand(
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

    /// Finishes `rewrite` as the `openat2` the kernel runs for an open:
    /// the path from scratch memory and the `open_how` that `open`/`openat`
    /// would have passed to the common open code (the kernel's
    /// build_open_how), since openat2 rejects what they ignore.
    pub(in crate::tracer) fn as_openat2(
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

    /// The path the kernel is handed for a judged operand. Outside the
    /// writable trees nothing can move once judged, so the canonical path
    /// is enough. Inside them, a directory could be swapped for a symlink
    /// after the check; there the kernel gets the object (or, when the last
    /// component is not followed, its parent directory) held open by the
    /// tracer, so no component is looked up again.
    pub(in crate::tracer) fn kernel_path(
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

    pub(in crate::tracer) fn judge_open(
        &mut self,
        pid: Pid,
        name: &str,
        open: OpenCall,
        regs: &Regs,
    ) -> Answer {
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
    pub(in crate::tracer) fn judge_descriptor(
        &mut self,
        pid: Pid,
        name: &str,
        fd: u64,
        access: Access,
    ) -> Answer {
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
    pub(in crate::tracer) fn judge_object_change(
        &mut self,
        pid: Pid,
        name: &str,
        fd: i32,
    ) -> Answer {
        let alone = self.alone_with_descriptors(pid);
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
}

/// Opens a judged canonical path for the tracer, refusing any symlink on
/// the way: the canonical path has none, so one means a swap.
pub(in crate::tracer) fn open_verified(path: &Path, directory: bool) -> Result<OwnedFd, i32> {
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

/// `regs`' argument `index` with `flag` cleared.
pub(in crate::tracer) fn arg_without(regs: &Regs, index: u8, flag: u64) -> u64 {
    arch::argument(regs, usize::from(index)) & !flag
}
