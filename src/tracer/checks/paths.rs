//! Paths and opens: a path operand read once, resolved, judged, and
//! handed to the kernel as the jail's copy (the canonical path, or the
//! object or its parent held open where a writable tree could swap a
//! name); `open`/`openat`/`openat2` with the access their flags mean; calls
//! that change the object behind a descriptor (`fchmod`, an `ioctl` that
//! sets inode flags or terminal modes).

use crate::policy::Target;
use crate::sys;
use crate::syscall::{Access, EmptyPath, Follow, OpenCall, OpenFlags, PathOperand};
use crate::tracer::answer::{Answer, Arg, Rewrite};
use crate::tracer::checks::exec::{ToRun, judge_interpreters};
use crate::tracer::checks::lend::{descriptor_path, held_object_path};
use crate::tracer::checks::urls;
use crate::tracer::checks::{cow, signed};
use crate::tracer::resolve::{Resolved, Start};
use crate::tracer::scratch::Part;
use crate::tracer::stopped::Stopped;
use log::debug;
use nix::errno::Errno;
use std::ffi::OsStr;
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

/// Reads, resolves and judges one path operand, and adds to `rewrite`
/// what the kernel must be given instead of the program's pointer.
pub(in crate::tracer) fn judge_operand(
    thread: &mut dyn Stopped,
    name: &str,
    operand: &PathOperand,
    part: Part,
    rewrite: &mut Rewrite,
) -> Result<(), Errno> {
    judge_placed_operand(thread, name, operand, part, rewrite, &mut None)
}

/// The two operands of `rename` and `link` (and their `at` forms),
/// which must both lie in the same `cow` tree or both outside every
/// one: a name moved or linked out of a mirror would carry an original
/// (a hard link to the real tree's file, or a directory of them) to
/// where writes are not copied up; one moved in would be committed as
/// the program's. Either is `EXDEV`, as between filesystems: `mv` then
/// copies, and the copy is judged as any write.
pub(in crate::tracer) fn judge_pair(
    thread: &mut dyn Stopped,
    name: &str,
    first: &PathOperand,
    second: &PathOperand,
) -> Answer {
    let mut rewrite = Rewrite::default();
    let mut placed = [None, None];
    for (index, (operand, part)) in [(first, Part::FirstPath), (second, Part::SecondPath)]
        .into_iter()
        .enumerate()
    {
        if let Err(errno) = judge_placed_operand(
            thread,
            name,
            operand,
            part,
            &mut rewrite,
            &mut placed[index],
        ) {
            return Answer::Refuse(errno);
        }
    }
    let [first, second] = placed.map(|path| path.and_then(|path| thread.cow_tree_of(&path)));
    if first != second {
        debug!(
            "{}: {name} between {first:?} and {second:?} (cow trees): EXDEV",
            thread.tid()
        );
        return Answer::Refuse(Errno::EXDEV);
    }
    Answer::Rewrite(rewrite)
}

/// [`judge_operand`], which also says in `placed` the path the operand
/// was judged as (the program's name, not the mirror's), when it is one.
fn judge_placed_operand(
    thread: &mut dyn Stopped,
    name: &str,
    operand: &PathOperand,
    part: Part,
    rewrite: &mut Rewrite,
    placed: &mut Option<std::path::PathBuf>,
) -> Result<(), Errno> {
    let pid = thread.tid();
    let arg = |index: u8| thread.argument(index);
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
    let empty_means_dirfd = match operand.empty_path {
        EmptyPath::Never => false,
        EmptyPath::IfFlag(index) => flag_set(index, libc::AT_EMPTY_PATH as u64),
        EmptyPath::Always => true,
    };
    let address = arg(operand.path);
    let path = if address == 0 && operand.null_means_dirfd {
        None
    } else {
        Some(thread.read_path(address)?)
    };
    if let Some(url) = path.as_deref().and_then(|path| thread.url_for(path)) {
        return urls::judge_url_operand(thread, name, &url, access, operand, part, rewrite);
    }
    let exec = matches!(name, "execve" | "execveat");
    if exec {
        // Whatever an earlier exec check of the thread noted is not this
        // exec's: an exec event after a route that judges nothing (or a
        // refusal) must find nothing judged and nothing to remember.
        thread.note_exec_judged(Vec::new(), Vec::new());
    }
    if let Some(body) = path
        .as_deref()
        .and_then(|path| thread.served_file(Path::new(OsStr::from_bytes(path))))
    {
        let body = serving(body, access, exec)?;
        return urls::body_operand(thread, body, operand, part, rewrite);
    }
    let on_descriptor = match &path {
        None => true,
        Some(path) => path.is_empty() && empty_means_dirfd,
    };
    if on_descriptor {
        // Running a descriptor the thread holds: what the kernel opens
        // next is judged as for a path.
        if exec && let Start::Fd(fd) = start {
            let program = thread.take_descriptor(pid, fd).ok();
            judge_interpreters(thread, name, ToRun::Descriptor(program))?;
        }
        // Looking at a descriptor the thread holds is always fine
        // (fstat in disguise, pipes included). The kernel must still
        // get an empty path it cannot have changed.
        if matches!(access, Access::Stat | Access::Read) {
            if path.is_some() && !thread.untouchable(address, 1) {
                rewrite.set(operand.path, Arg::Scratch(part, Vec::new()));
            }
            return Ok(());
        }
        // Changing it is judged by the file it names, and done on the
        // very object judged, whatever the descriptor table holds by
        // the time the kernel looks.
        let Start::Fd(fd) = start else {
            return Err(Errno::EINVAL);
        };
        let resolved = thread.start_target(start)?;
        thread.verdict(name, access, &resolved.target, "")?;
        if let Target::Path(path) = &resolved.target {
            *placed = Some(path.clone());
        }
        if name == "linkat" {
            // A new name for an original is made only in its own tree
            // (judge_pair), which a nameless object is in no longer.
            let in_tree = placed
                .as_deref()
                .is_some_and(|path| thread.in_cow_tree(path));
            if !in_tree {
                cow::refuse_original_descriptor(thread, fd).map_err(|_| Errno::EXDEV)?;
            }
        } else if access == Access::Write {
            cow::refuse_original_descriptor(thread, fd)?;
        }
        let Some(kernel_path) = descriptor_path(thread, fd, rewrite)? else {
            // Alone with its descriptor table: the call runs as it is.
            if path.is_some() && !thread.untouchable(address, 1) {
                rewrite.set(operand.path, Arg::Scratch(part, Vec::new()));
            }
            return Ok(());
        };
        rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
        // The magic link must be followed to reach the object.
        match operand.follow {
            Follow::UnlessFlag { arg, flag } => {
                let value = thread.argument(arg) & !flag;
                rewrite.set(arg, Arg::Value(value));
            }
            Follow::IfFlag { arg, flag } => {
                let value = thread.argument(arg) | flag;
                rewrite.set(arg, Arg::Value(value));
            }
            Follow::Always | Follow::Never => {}
        }
        return Ok(());
    }
    let path = path.unwrap_or_default();
    let given = String::from_utf8_lossy(&path);
    // A look the kernel will run as given (below) needs no walk: the
    // descriptor's name and the lone name are all the verdict needs.
    let lone_look = access == Access::Stat
        && lone_name_not_followed(start, &path, follow, thread.alone_with_descriptors());
    let as_given = lone_look && thread.untouchable(address, path.len() as u64 + 1);
    let named = match start {
        Start::Fd(fd) if as_given => thread.resolve_lone_name(fd, &path),
        _ => None,
    };
    let named_directly = named.is_some();
    let resolved = match named.map_or_else(|| thread.resolve(start, &path, follow), Ok) {
        Ok(resolved) => resolved,
        Err(errno) => {
            debug!(
                "{pid}: {name}({given:?}) does not resolve: {}",
                errno.desc()
            );
            return Err(errno);
        }
    };
    if let Target::Path(canonical) = &resolved.target
        && let Some(body) = thread.served_file(canonical)
    {
        let body = serving(body, access, exec)?;
        return urls::body_operand(thread, body, operand, part, rewrite);
    }
    thread.verdict(name, access, &resolved.target, &given)?;
    match (&resolved.target, resolved.held_via) {
        (Target::Path(path), _) => *placed = Some(path.clone()),
        // A magic link to an object with no name (`/proc/self/fd/N` of
        // a file unlinked since): linked, it must not be an original.
        (Target::Held, Some((owner, fd)))
            if matches!(name, "link" | "linkat") && !thread.cow_originals().is_empty() =>
        {
            let held = thread.take_descriptor(owner, fd)?;
            if crate::cow::copyup::fd_is_original(&held, thread.cow_originals())? {
                debug!("{pid}: {name} of an original with no name: EXDEV");
                return Err(Errno::EXDEV);
            }
        }
        _ => {}
    }
    if matches!(name, "link" | "linkat")
        && let Target::Path(virtual_path) = &resolved.target
        && cow::is_placeholder(thread, virtual_path)
    {
        // As `protected_hardlinks` refuses a link to the original.
        debug!("{pid}: {name} of {virtual_path:?}, a placeholder: EPERM");
        return Err(Errno::EPERM);
    }
    let trailing_slash = path.ends_with(b"/");
    if exec {
        judge_interpreters(thread, name, ToRun::Named(resolved.clone()))?;
    }
    if let Target::Path(virtual_path) = &resolved.target
        && access == Access::Write
        && !exec
        && crate::cow::copyup::writes_through(name)
        && thread.in_cow_tree(virtual_path)
    {
        if !resolved.exists {
            // Never let the kernel look a name up for a write in a
            // mirror: an original could be renamed there meanwhile.
            return Err(Errno::ENOENT);
        }
        let held = cow::write_object(thread, name, virtual_path, follow)?;
        if name == "truncate" {
            rewrite.charge = super::quota::charge_truncate(thread, &held)?;
        }
        let kernel_path = thread.hand_over(held, None, rewrite)?;
        rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
        if !follow {
            // The object held is no symlink: following the magic link
            // reaches it, as not following its name would have.
            match operand.follow {
                Follow::UnlessFlag { arg, flag } => {
                    let value = thread.argument(arg) & !flag;
                    rewrite.set(arg, Arg::Value(value));
                }
                Follow::Never => {
                    let sibling = match name {
                        "lchown" => "chown",
                        "lsetxattr" => "setxattr",
                        "lremovexattr" => "removexattr",
                        _ => return Err(Errno::EPERM),
                    };
                    let number = crate::arch::number_of(sibling).ok_or(Errno::ENOSYS)?;
                    rewrite.syscall = Some(u64::from(number));
                }
                Follow::Always | Follow::IfFlag { .. } => {}
            }
        }
        return Ok(());
    }
    let held = matches!(resolved.target, Target::Held);
    // In /proc a name can come to mean another process (a pid reused).
    let in_proc = matches!(&resolved.target, Target::Path(target) if under_proc(target));
    let unswappable = !resolved.touched_writable
        || (!in_proc && lone_look && kernel_meets_the_same(thread, named_directly, &resolved));
    // (A lone look already asked whether its buffer is untouchable.)
    let untouchable = if lone_look {
        as_given
    } else {
        thread.untouchable(address, path.len() as u64 + 1)
    };
    if !held && unswappable && untouchable {
        // Nothing can change the buffer or the walk: the kernel may
        // read the program's own argument, and no exit stop is needed.
        return Ok(());
    }
    let kernel_path = kernel_path(
        thread,
        &resolved,
        access,
        follow,
        exec,
        trailing_slash,
        rewrite,
    )?;
    rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
    Ok(())
}

/// Whether `path` lies in `/proc`, where a name can come to mean another
/// process (a pid reused).
fn under_proc(path: &Path) -> bool {
    crate::policy::is_within(path, Path::new("/proc"))
}

/// Whether a look at or a read of one name (no `/`, not `.` or `..`)
/// relative to a directory descriptor, without following it, can run on
/// the program's own arguments even in a writable tree (find's
/// `newfstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)` and `openat(dirfd,
/// name, O_RDONLY | O_NOFOLLOW | O_DIRECTORY)` in a `write` or `cow`
/// tree). The kernel looks the name up once, in the very directory the
/// descriptor holds (no other task can swap the descriptor: `alone`),
/// and does not follow what it finds. A swap of that name meanwhile can
/// only put there another object of the same directory, which the same
/// trees judge alike: no hidden or see-only object can be moved or
/// linked into a writable directory (that needs the object's name and
/// write access to it), and none can be named through a symlink that is
/// not followed. The caller admits only looks and reads, never a
/// change, and nothing in `/proc` (where a name can come to mean another
/// process).
fn lone_name_not_followed(start: Start, path: &[u8], follow: bool, alone: bool) -> bool {
    matches!(start, Start::Fd(_))
        && !follow
        && alone
        && !path.is_empty()
        && !path.contains(&b'/')
        && path != b"."
        && path != b".."
}

/// Whether the kernel, handed a lone name as given, meets the object
/// judged. It does when the name was judged as the descriptor's
/// directory and the name (`resolve_lone_name`). A walk's answer in a
/// cow tree is a virtual name, which the kernel may not meet: a tree's
/// root looked up from its parent is the real tree, never to be handed
/// out (its mirror is).
fn kernel_meets_the_same(thread: &dyn Stopped, named_directly: bool, resolved: &Resolved) -> bool {
    named_directly || !matches!(&resolved.target, Target::Path(path) if thread.in_cow_tree(path))
}

/// Finishes `rewrite` as the `openat2` the kernel runs for an open:
/// the path from scratch memory and the `open_how` that `open`/`openat`
/// would have passed to the common open code (the kernel's
/// build_open_how), since openat2 rejects what they ignore.
pub(in crate::tracer) fn as_openat2(
    thread: &dyn Stopped,
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
    rewrite.syscall = Some(thread.openat2_number());
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
fn kernel_path(
    thread: &dyn Stopped,
    resolved: &Resolved,
    access: Access,
    follow: bool,
    exec: bool,
    trailing_slash: bool,
    rewrite: &mut Rewrite,
) -> Result<Vec<u8>, Errno> {
    let path = match &resolved.target {
        Target::Held => {
            let Some((owner, fd)) = resolved.held_via else {
                return Err(Errno::EBADF);
            };
            return held_object_path(thread, owner, fd, rewrite);
        }
        Target::Path(path) => path,
    };
    let plain = exec || !thread.is_inside_writable(path);
    // From here on the kernel's names: a cow tree's object in its mirror.
    let real = thread.real_path(path);
    let path = &real;
    if matches!(access, Access::Write | Access::Create | Access::Remove)
        && !thread.kernel_may_change(path)
    {
        debug!("{path:?} lies in a real cow tree: EROFS");
        return Err(Errno::EROFS);
    }
    let mut kernel_path = if plain {
        // An exec keeps its real path: the program and a script's
        // interpreter see it. Swapping a directory in a writable tree
        // could at worst run a hidden program, never write outside.
        path.as_os_str().as_bytes().to_vec()
    } else if follow && resolved.exists && access != Access::Create {
        let held = open_verified(path, false)?;
        thread.hand_over(held, None, rewrite)?
    } else if follow && access != Access::Create {
        // Following a name that does not exist fails anyway; running
        // it would let a symlink planted meanwhile be followed.
        return Err(Errno::ENOENT);
    } else {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(path.as_os_str().as_bytes().to_vec());
        };
        let held = open_verified(parent, true)?;
        thread.hand_over(held, Some(name), rewrite)?
    };
    if trailing_slash {
        kernel_path.push(b'/');
    }
    Ok(kernel_path)
}

/// What an open's flags mean: the access judged, and whether the last
/// component is followed.
fn open_access(flags: u64) -> (Access, bool) {
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
    (access, follow)
}

/// `open`, `openat`, `openat2`, `creat`: judged with the access their
/// flags mean, and run as the `openat2` of the jail's copy.
pub(in crate::tracer) fn judge_open(
    thread: &mut dyn Stopped,
    name: &str,
    open: OpenCall,
) -> Answer {
    let pid = thread.tid();
    let arg = |index: u8| thread.argument(index);
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
                return Answer::Refuse(Errno::EINVAL);
            }
            if let Err(errno) = thread.read(arg(index), &mut how) {
                return Answer::Refuse(errno);
            }
            let field = |i: usize| {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&how[i * 8..i * 8 + 8]);
                u64::from_ne_bytes(bytes)
            };
            (field(0), field(1), field(2))
        }
    };
    let path_address = arg(open.path);
    let start = match open.dirfd {
        Some(index) if signed(arg(index)) != libc::AT_FDCWD => Start::Fd(signed(arg(index))),
        _ => Start::Cwd,
    };
    let (access, follow) = open_access(flags);
    let path = match thread.read_path(path_address) {
        Ok(path) => path,
        Err(errno) => return Answer::Refuse(errno),
    };
    if let Some(url) = thread.url_for(&path) {
        return urls::judge_url_open(thread, name, &url, access, flags);
    }
    if let Some(body) = thread.served_file(Path::new(OsStr::from_bytes(&path))) {
        return match serving(body, access, false) {
            Ok(body) => urls::body_open(thread, body, flags),
            Err(errno) => Answer::Refuse(errno),
        };
    }
    let given = String::from_utf8_lossy(&path);
    let scoped = program_resolve & (libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT) != 0;
    // A read the kernel will run as given (below) needs no walk: the
    // descriptor's name and the lone name are all the verdicts need.
    let as_given = matches!(open.flags, OpenFlags::Arg(_))
        && access == Access::Read
        && lone_name_not_followed(start, &path, follow, thread.alone_with_descriptors())
        && thread.untouchable(path_address, path.len() as u64 + 1);
    let named = match start {
        Start::Fd(fd) if as_given && !scoped => thread.resolve_lone_name(fd, &path),
        _ => None,
    };
    let named_directly = named.is_some();
    let resolved = if let Some(named) = named {
        Ok(named)
    } else if scoped {
        // The program's own scope decides what the path means; the
        // kernel call below then gets the plain canonical result.
        thread.resolve_scoped(start, &path, follow, program_resolve)
    } else {
        thread.resolve(start, &path, follow)
    };
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(errno) => {
            debug!(
                "{pid}: {name}({given:?}) does not resolve: {}",
                errno.desc()
            );
            return Answer::Refuse(errno);
        }
    };
    if let Target::Path(canonical) = &resolved.target
        && let Some(body) = thread.served_file(canonical)
    {
        return match serving(body, access, false) {
            Ok(body) => urls::body_open(thread, body, flags),
            Err(errno) => Answer::Refuse(errno),
        };
    }
    let program_resolve = program_resolve & !(libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT);
    if let Err(errno) = thread.verdict(name, access, &resolved.target, &given) {
        return Answer::Refuse(errno);
    }
    // A descriptor that can read (O_RDWR, or O_RDONLY with O_CREAT,
    // O_TRUNC or O_APPEND) needs the file visible too: `write` alone
    // lets a program write, never read.
    let access_mode = flags & libc::O_ACCMODE as u64;
    let reads = flags & libc::O_PATH as u64 == 0 && access_mode != libc::O_WRONLY as u64;
    if access == Access::Write
        && reads
        && let Err(errno) = thread.verdict(name, Access::Read, &resolved.target, &given)
    {
        return Answer::Refuse(errno);
    }
    let in_proc = matches!(&resolved.target, Target::Path(target) if under_proc(target));
    if as_given && !in_proc && kernel_meets_the_same(thread, named_directly, &resolved) {
        debug!("{pid}: {name}({given:?}): a lone name read without following: as given");
        return Answer::Allow;
    }
    if let Target::Path(virtual_path) = &resolved.target
        && thread.in_cow_tree(virtual_path)
    {
        let trailing_slash = path.ends_with(b"/");
        return match cow::open(
            thread,
            name,
            virtual_path,
            &resolved,
            (access, follow),
            flags,
            program_resolve,
            trailing_slash,
        ) {
            Ok((rewrite, kernel_path, flags, resolve)) => {
                as_openat2(thread, rewrite, kernel_path, flags, mode, resolve)
            }
            Err(errno) => Answer::Refuse(errno),
        };
    }
    let program_args_safe = match open.flags {
        OpenFlags::How(_) => false,
        _ => {
            !matches!(resolved.target, Target::Held)
                && !resolved.touched_writable
                && thread.untouchable(path_address, path.len() as u64 + 1)
        }
    };
    if program_args_safe {
        return Answer::Allow;
    }
    let mut rewrite = Rewrite::default();
    let (mut kernel_path, resolve_flags) = match &resolved.target {
        Target::Held => {
            let Some((owner, fd)) = resolved.held_via else {
                return Answer::Refuse(Errno::EBADF);
            };
            match held_object_path(thread, owner, fd, &mut rewrite) {
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
    as_openat2(
        thread,
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
    thread: &mut dyn Stopped,
    name: &str,
    fd: i32,
    access: Access,
) -> Answer {
    let resolved = match thread.start_target(Start::Fd(fd)) {
        Ok(resolved) => resolved,
        Err(errno) => return Answer::Refuse(errno),
    };
    if let Err(errno) = thread.verdict(name, access, &resolved.target, "") {
        return Answer::Refuse(errno);
    }
    if let Err(errno) = cow::refuse_original_descriptor(thread, fd) {
        return Answer::Refuse(errno);
    }
    let sibling = match name {
        "fchmod" => "chmod",
        "fchown" => "chown",
        "fsetxattr" => "setxattr",
        "fremovexattr" => "removexattr",
        _ => return Answer::Refuse(Errno::ENOSYS),
    };
    let Some(sibling_nr) = crate::arch::number_of(sibling) else {
        return Answer::Refuse(Errno::ENOSYS);
    };
    let mut rewrite = Rewrite {
        syscall: Some(u64::from(sibling_nr)),
        ..Rewrite::default()
    };
    match descriptor_path(thread, fd, &mut rewrite) {
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
    thread: &mut dyn Stopped,
    name: &str,
    fd: i32,
) -> Answer {
    let pid = thread.tid();
    if !thread.alone_with_descriptors() {
        debug!("{pid}: {name} on descriptor {fd} with a shared descriptor table: EPERM");
        return Answer::Refuse(Errno::EPERM);
    }
    let held = match thread.take_descriptor(pid, fd) {
        Ok(held) => held,
        Err(errno) => return Answer::Refuse(errno),
    };
    let flags = match nix::fcntl::fcntl(&held, nix::fcntl::FcntlArg::F_GETFL) {
        Ok(flags) => flags,
        Err(errno) => return Answer::Refuse(errno),
    };
    if flags & libc::O_PATH != 0 {
        return Answer::Refuse(Errno::EBADF);
    }
    if let Ok(true) = crate::cow::copyup::fd_is_original(&held, thread.cow_originals()) {
        debug!("{pid}: {name} on descriptor {fd}, an original of a cow tree: EROFS");
        return Answer::Refuse(Errno::EROFS);
    }
    if flags & libc::O_ACCMODE != libc::O_RDONLY {
        debug!("{pid}: {name} on descriptor {fd}, open for writing: allow");
        return Answer::Allow;
    }
    let resolved = match thread.start_target(Start::Fd(fd)) {
        Ok(resolved) => resolved,
        Err(errno) => return Answer::Refuse(errno),
    };
    match thread.verdict(name, Access::Write, &resolved.target, "") {
        Ok(()) => Answer::Allow,
        Err(errno) => Answer::Refuse(errno),
    }
}

/// A served file is read-only and never runs.
fn serving(body: OwnedFd, access: Access, exec: bool) -> Result<OwnedFd, Errno> {
    if exec {
        Err(Errno::EACCES)
    } else if matches!(access, Access::Stat | Access::Read) {
        Ok(body)
    } else {
        Err(Errno::EROFS)
    }
}

/// Opens a judged canonical path for the tracer, refusing any symlink on
/// the way: the canonical path has none, so one means a swap.
pub(in crate::tracer) fn open_verified(path: &Path, directory: bool) -> Result<OwnedFd, Errno> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_name_looked_at_without_following_by_a_thread_alone_runs_as_given() {
        let fd = Start::Fd(3);
        assert!(lone_name_not_followed(fd, b"name", false, true));
        // Followed, a symlink swapped in could lead anywhere.
        assert!(!lone_name_not_followed(fd, b"name", true, true));
        // Another task could swap the descriptor.
        assert!(!lone_name_not_followed(fd, b"name", false, false));
        // Only one name, in the descriptor's directory.
        for path in [&b"a/b"[..], b"..", b".", b"", b"name/"] {
            assert!(!lone_name_not_followed(fd, path, false, true), "{path:?}");
        }
        // From the working directory, which another task sharing it can move.
        assert!(!lone_name_not_followed(Start::Cwd, b"name", false, true));
    }
    use crate::tracer::checks::fake::{FakeThread, TempDir, refused_with, scratch_of};

    const PATH: u64 = 0x1000;
    const HOW: u64 = 0x2000;
    const O_WRONLY: u64 = libc::O_WRONLY as u64;
    const O_RDWR: u64 = libc::O_RDWR as u64;
    const AT_FDCWD: u64 = libc::AT_FDCWD as u64;

    /// A thread whose policy sees /usr and writes `dir`, with `given` at
    /// `PATH` resolving to `canonical`.
    fn thread_at(dir: &TempDir, given: &str, canonical: &str, exists: bool) -> FakeThread {
        let mut thread = FakeThread::new(&format!("see /usr\nwrite {}\n", dir.0.display()));
        thread.poke_path(PATH, given);
        thread.lays_out(given, canonical, exists);
        thread
    }

    #[test]
    fn a_hidden_path_does_not_exist_and_is_never_handed_over() {
        let dir = TempDir::new("hidden");
        let mut thread = thread_at(&dir, "/etc/passwd", "/etc/passwd", true);
        let answer = thread.call("stat", [PATH, 0x3000, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENOENT);
        assert_eq!(
            thread.denied(),
            [(
                "stat".to_owned(),
                Access::Stat,
                Target::Path("/etc/passwd".into())
            )]
        );
    }

    #[test]
    fn the_kernel_reads_the_jails_copy_unless_nothing_can_change_the_programs() {
        let dir = TempDir::new("copy");
        let mut thread = thread_at(&dir, "/usr/./bin/../bin", "/usr/bin", true);
        let answer = thread.call("stat", [PATH, 0x3000, 0, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 0).as_deref(), Some(&b"/usr/bin"[..]));
        thread.untouchable = true;
        let answer = thread.call("stat", [PATH, 0x3000, 0, 0, 0, 0]);
        assert!(
            matches!(&answer, Answer::Rewrite(rewrite) if rewrite.is_empty()),
            "{answer:?}"
        );
    }

    #[test]
    fn an_unreadable_path_buffer_fails_as_the_kernel_would() {
        let mut thread = FakeThread::new("see /usr\n");
        let answer = thread.call("stat", [0xdead_0000, 0x3000, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EFAULT);
        assert!(thread.verdicts.is_empty(), "nothing was judged");
    }

    #[test]
    fn opening_a_see_only_file_for_writing_is_refused() {
        let dir = TempDir::new("seeonly");
        let mut thread = thread_at(&dir, "/usr/lib/os-release", "/usr/lib/os-release", true);
        let answer = thread.call("openat", [AT_FDCWD, PATH, O_WRONLY, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        assert_eq!(thread.denied()[0].1, Access::Write);
        let answer = thread.call("openat", [AT_FDCWD, PATH, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "reading it is fine");
    }

    #[test]
    fn a_write_only_tree_gives_no_descriptor_that_reads() {
        let dir = TempDir::new("writeonly");
        let file = dir.join("out");
        std::fs::write(&file, "x").expect("a file");
        let mut thread = FakeThread::new(&format!("write {}\n", dir.0.display()));
        thread.poke_path(PATH, &file);
        thread.lays_out(&file, &file, true);
        let answer = thread.call("openat", [AT_FDCWD, PATH, O_RDWR, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        assert_eq!(thread.denied()[0].1, Access::Read);
        let answer = thread.call("openat", [AT_FDCWD, PATH, O_WRONLY, 0, 0, 0]);
        assert!(matches!(answer, Answer::Rewrite(_)), "{answer:?}");
    }

    #[test]
    fn an_open_runs_as_openat2_of_the_canonical_path_with_no_symlink_on_the_way() {
        let dir = TempDir::new("open");
        let file = dir.join("data");
        std::fs::write(&file, "x").expect("a file");
        let given = format!(
            "{}/../{}/data",
            dir.0.display(),
            dir.0.file_name().unwrap().to_string_lossy()
        );
        let mut thread = thread_at(&dir, &given, &file, true);
        let answer = thread.call(
            "openat",
            [AT_FDCWD, PATH, O_WRONLY | (1 << 40), 0o644, 0, 0],
        );
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(rewrite.syscall, Some(thread.openat2_number()));
        assert_eq!(scratch_of(&answer, 1), Some(file.as_bytes().to_vec()));
        let how = scratch_of(&answer, 2).expect("an open_how");
        let field = |i: usize| u64::from_ne_bytes(how[i * 8..i * 8 + 8].try_into().unwrap());
        // openat ignores unknown high flags; openat2 would refuse them.
        assert_eq!(field(0), O_WRONLY);
        assert_eq!(field(1), 0, "a mode only when creating");
        assert_eq!(field(2), libc::RESOLVE_NO_SYMLINKS);
        // Nothing can change the buffer or the walk: the program's own.
        thread.untouchable = true;
        let answer = thread.call("openat", [AT_FDCWD, PATH, O_WRONLY, 0, 0, 0]);
        assert!(matches!(answer, Answer::Allow), "{answer:?}");
    }

    #[test]
    fn a_create_in_a_writable_tree_names_the_child_of_the_parent_the_jail_holds() {
        let dir = TempDir::new("mkdir");
        let new = dir.join("new");
        let mut thread = thread_at(&dir, &new, &new, false);
        let answer = thread.call("mkdir", [PATH, 0o700, 0, 0, 0, 0]);
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(rewrite.held.len(), 1, "the parent, held open by the jail");
        let path = scratch_of(&answer, 0).expect("a path");
        assert!(
            path.starts_with(b"/proc/1/fd/") && path.ends_with(b"/new"),
            "{path:?}"
        );
        // A write root itself cannot be made or removed.
        let root = dir.join("");
        let root = root.trim_end_matches('/');
        thread.poke_path(PATH, root);
        thread.lays_out(root, root, true);
        let answer = thread.call("rmdir", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EPERM);
    }

    #[test]
    fn openat2_takes_its_flags_from_one_copy_of_open_how() {
        let dir = TempDir::new("openat2");
        let mut thread = thread_at(&dir, "/usr/lib/os-release", "/usr/lib/os-release", true);
        let mut how = Vec::new();
        for field in [O_WRONLY, 0, 0] {
            how.extend_from_slice(&field.to_ne_bytes());
        }
        thread.poke(HOW, &how);
        let answer = thread.call("openat2", [AT_FDCWD, PATH, HOW, 24, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES, "judged as a write");
        let answer = thread.call("openat2", [AT_FDCWD, PATH, HOW, 23, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EINVAL, "too small an open_how");
        let answer = thread.call("openat2", [AT_FDCWD, PATH, 0xdead_0000, 24, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EFAULT);
    }

    #[test]
    fn a_change_through_a_descriptor_is_judged_by_what_it_names() {
        let dir = TempDir::new("fchmod");
        let mut thread = FakeThread::new(&format!("see /usr\nwrite {}\n", dir.0.display()));
        let seen = std::fs::File::open("/usr").expect("/usr");
        thread.holds(3, seen.into(), "/usr");
        let answer = thread.call("fchmod", [3, 0o777, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        let mine = std::fs::File::open(&dir.0).expect("the dir");
        thread.holds(4, mine.into(), &dir.join(""));
        let answer = thread.call("fchmod", [4, 0o700, 0, 0, 0, 0]);
        assert!(matches!(answer, Answer::Allow), "alone: runs as it is");
        // Shared descriptor table: run as chmod on the object judged.
        thread.alone = false;
        let answer = thread.call("fchmod", [4, 0o700, 0, 0, 0, 0]);
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(
            rewrite.syscall,
            crate::arch::number_of("chmod").map(u64::from)
        );
        assert_eq!(rewrite.held.len(), 1);
    }

    #[test]
    fn an_object_change_needs_a_writable_object_and_a_private_table() {
        let dir = TempDir::new("ioctl");
        let mut thread = FakeThread::new(&format!("see /usr\nwrite {}\n", dir.0.display()));
        let seen = std::fs::File::open("/usr/lib/os-release").expect("a file");
        thread.holds(3, seen.into(), "/usr/lib/os-release");
        let flags_set = u64::from(libc::FS_IOC_SETFLAGS as u32);
        let answer = thread.call("ioctl", [3, flags_set, 0x4000, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        let file = dir.join("mine");
        std::fs::write(&file, "x").expect("a file");
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("open for writing");
        thread.holds(4, writer.into(), &file);
        let answer = thread.call("ioctl", [4, flags_set, 0x4000, 0, 0, 0]);
        assert!(matches!(answer, Answer::Allow), "{answer:?}");
        thread.alone = false;
        let answer = thread.call("ioctl", [4, flags_set, 0x4000, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EPERM);
    }

    #[test]
    fn a_write_open_of_a_missing_name_in_a_mirror_never_opens_what_comes_there() {
        let creat = libc::O_CREAT as u64;
        let excl = libc::O_EXCL as u64;
        assert_eq!(
            cow::open_of_missing_name(Access::Write, O_WRONLY | creat),
            Some(O_WRONLY | creat | excl)
        );
        for flags in [
            O_WRONLY,
            O_RDWR,
            O_WRONLY | libc::O_APPEND as u64,
            libc::O_TRUNC as u64,
        ] {
            assert_eq!(
                cow::open_of_missing_name(Access::Write, flags),
                None,
                "{flags:o}"
            );
        }
        assert_eq!(cow::open_of_missing_name(Access::Read, 0), Some(0));
        let tmpfile = libc::O_TMPFILE as u64 | O_RDWR;
        assert_eq!(
            cow::open_of_missing_name(Access::Write, tmpfile),
            Some(tmpfile)
        );
    }

    #[test]
    fn looking_at_a_held_descriptor_is_always_fine() {
        let mut thread = FakeThread::new("");
        thread.poke_path(PATH, "");
        let empty_path = libc::AT_EMPTY_PATH as u64;
        let answer = thread.call("newfstatat", [5, PATH, 0x3000, empty_path, 0, 0]);
        assert_eq!(scratch_of(&answer, 1).as_deref(), Some(&b""[..]));
        assert!(thread.verdicts.is_empty());
    }
}

#[cfg(test)]
mod served_tests {
    use crate::tracer::checks::fake::{FakeThread, TempDir, refused_with, scratch_of};

    #[test]
    fn the_jails_etc_hosts_is_read_whatever_the_policy_and_never_written() {
        let dir = TempDir::new("hosts");
        let body = dir.join("hosts");
        std::fs::write(&body, "192.0.2.7 api.example\n").expect("a body");
        let mut thread = FakeThread::new("see /usr\n");
        thread.served = Some(("/etc/hosts".to_owned(), body.into()));
        thread.poke_path(0x1000, "/etc/hosts");
        let at = libc::AT_FDCWD as u64;
        let answer = thread.call("openat", [at, 0x1000, 0, 0, 0, 0]);
        let path = scratch_of(&answer, 1).expect("the served file");
        assert!(path.starts_with(b"/proc/1/fd/"), "{path:?}");
        let write = libc::O_WRONLY as u64;
        let answer = thread.call("openat", [at, 0x1000, write, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EROFS);
        // Reached by another spelling: judged after resolving.
        thread.poke_path(0x1000, "/etc/./hosts");
        thread.lays_out("/etc/./hosts", "/etc/hosts", true);
        let answer = thread.call("stat", [0x1000, 0x3000, 0, 0, 0, 0]);
        assert!(scratch_of(&answer, 0).is_some_and(|path| path.starts_with(b"/proc/1/fd/")));
        assert!(
            thread.verdicts.is_empty(),
            "no policy asked: /etc is hidden"
        );
    }
}
