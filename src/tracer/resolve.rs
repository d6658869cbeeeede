//! Resolving a tracee's path the way the kernel will for that thread.
//!
//! Owns turning `(thread, dirfd, path, follow)` into a canonical target:
//! relative paths start at the thread's own cwd or dirfd (reached through
//! `/proc/<tid>/cwd` and `/proc/<tid>/fd/N`), `..` and symlinks are
//! followed, and `/proc/self`, `/proc/thread-self` and the `/proc` magic
//! links mean what they mean *for the thread*, never for the tracer.
//!
//! The fast path lets the kernel do the walk: one `openat2` of the parent
//! directory with `RESOLVE_NO_MAGICLINKS`, one `readlink` of the resulting
//! descriptor for its canonical name, one `fstatat` of the last component.
//! Whenever that walk passes through `/proc` (where "self" would mean the
//! tracer) or meets a magic link, the slow path walks component by
//! component and substitutes the thread's own ids.

use crate::policy::{CowMap, Target};
use crate::sys;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, SFlag};
use nix::unistd::Pid;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The kernel's limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// Where a relative path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Start {
    Cwd,
    Fd(i32),
}

/// A resolved path operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub target: Target,
    /// Whether the named object exists (a create's new name does not).
    pub exists: bool,
    /// For a `Held` object: the process and descriptor it was reached
    /// through, so the tracer can take the very same object.
    pub held_via: Option<(Pid, i32)>,
    /// The walk looked up a name in a directory the jail can write (or
    /// could not tell): the kernel's own walk might go elsewhere if that
    /// name is swapped after the check.
    pub touched_writable: bool,
    /// What the walk's own `lstat` of the object it ended on found (no
    /// symlink), where it made one: an exec check need not open and
    /// `fstat` the object again to know it.
    pub looked: Option<Looked>,
}

impl Resolved {
    fn path(path: PathBuf, exists: bool) -> Resolved {
        Resolved {
            target: Target::Path(path),
            exists,
            held_via: None,
            touched_writable: false,
            looked: None,
        }
    }

    fn held(owner: Pid, fd: i32) -> Resolved {
        Resolved {
            target: Target::Held,
            exists: true,
            held_via: Some((owner, fd)),
            touched_writable: false,
            looked: None,
        }
    }
}

/// The parts of a `stat` a check goes by: the object's identity, type,
/// links, size and the moments of its last changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Looked {
    pub device: u64,
    pub inode: u64,
    pub mode: u32,
    pub links: u64,
    pub size: i64,
    pub modified: (i64, i64),
    pub changed: (i64, i64),
}

impl From<&FileStat> for Looked {
    fn from(stat: &FileStat) -> Looked {
        Looked {
            device: stat.st_dev,
            inode: stat.st_ino,
            mode: stat.st_mode,
            links: stat.st_nlink,
            size: stat.st_size,
            modified: (stat.st_mtime, stat.st_mtime_nsec),
            changed: (stat.st_ctime, stat.st_ctime_nsec),
        }
    }
}

/// The thread a path is resolved for.
#[derive(Debug, Clone, Copy)]
pub struct Thread {
    pub tid: Pid,
    pub tgid: Pid,
}

/// What the resolver must know of the jail's view.
pub struct View<'a> {
    /// Whether the jail can change entries of a directory (it lies within
    /// a `write` root).
    pub writable: &'a dyn Fn(&Path) -> bool,
    /// Whether a pid belongs to the jail: `/proc/<pid>` of any other
    /// process (the tracer's included) does not exist for it, at any depth
    /// of a path, not just as its final target.
    pub is_jail_pid: &'a dyn Fn(u32) -> bool,
    /// Canonical names of absolute directory paths already walked, which
    /// no one in the jail can change (their walk touched no writable
    /// directory): a repeated lookup costs no syscall.
    pub directories: &'a RefCell<DirectoryCache>,
    /// The `cow` trees: a walk into one continues in its mirror, and a
    /// path the kernel names in a mirror is given its virtual name.
    pub cow: &'a CowMap,
}

/// See [`View::directories`].
#[derive(Debug, Default)]
pub struct DirectoryCache {
    entries: HashMap<Vec<u8>, PathBuf>,
}

/// Entries kept before the cache starts over.
const DIRECTORY_CACHE: usize = 4096;

impl DirectoryCache {
    fn get(&self, dir: &[u8]) -> Option<PathBuf> {
        self.entries.get(dir).cloned()
    }

    /// Whether `path` is a remembered directory whose canonical name is
    /// itself (no symlink on it), looked up without a copy.
    fn is_itself(&self, path: &[u8]) -> bool {
        self.entries
            .get(path)
            .is_some_and(|canonical| canonical.as_os_str().as_bytes() == path)
    }

    fn insert(&mut self, dir: &[u8], canonical: &Path) {
        if self.entries.len() >= DIRECTORY_CACHE {
            self.entries.clear();
        }
        self.entries.insert(dir.to_vec(), canonical.to_path_buf());
    }

    /// Forgets everything (a session's next command may find the host's
    /// files changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

type WritableDir<'a> = &'a dyn Fn(&Path) -> bool;

/// Resolves `path` for `thread`. `follow` says whether a symlink in the
/// last component is followed. A last component that does not exist
/// resolves to the name it would have (creates need that).
pub fn resolve(
    thread: Thread,
    start: Start,
    path: &[u8],
    follow: bool,
    view: &View,
) -> Result<Resolved, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    // A trailing slash asks for a directory and follows the last link.
    let follow = follow || path.ends_with(b"/");
    match fast(thread, start, path, follow, view)? {
        Some(resolved) => Ok(resolved),
        None => slow(thread, start, path, follow, view),
    }
}

/// Resolves an `openat2` path whose program asked for `RESOLVE_BENEATH` or
/// `RESOLVE_IN_ROOT`: the kernel, in the tracer, walks it with the
/// program's own restrictions from the program's own dirfd (or cwd).
pub fn resolve_scoped(
    thread: Thread,
    start: Start,
    path: &[u8],
    follow: bool,
    program_resolve: u64,
    cow: &CowMap,
) -> Result<Resolved, Errno> {
    let start_fd = open_start(thread, start)?;
    let mut flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    if !follow {
        flags |= libc::O_NOFOLLOW as u64;
    }
    let resolve = program_resolve | libc::RESOLVE_NO_MAGICLINKS;
    let (canonical, exists) =
        match sys::openat2(start_fd.as_raw_fd(), &c_string(path)?, flags, resolve) {
            Ok(fd) => (canonical_of(&fd)?, true),
            Err(Errno::ENOENT) => {
                let Some((dir, name)) = split_last(path) else {
                    return Err(Errno::ENOENT);
                };
                let dir = if dir.is_empty() { &b"."[..] } else { dir };
                let dir_fd = sys::openat2(
                    start_fd.as_raw_fd(),
                    &c_string(dir)?,
                    (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
                    resolve,
                )?;
                (canonical_of(&dir_fd)?.join(OsStr::from_bytes(name)), false)
            }
            Err(errno) => return Err(errno),
        };
    if is_under_proc(&canonical) {
        // "self" there would have meant the tracer.
        return Err(Errno::EXDEV);
    }
    // The kernel walked the real names: a walk that ended in a real cow
    // tree did not see the mirror (fail closed); one in a mirror is
    // named by its virtual path.
    if cow.in_real_tree(&canonical) {
        return Err(Errno::EXDEV);
    }
    let canonical = cow.to_virtual(&canonical);
    let mut resolved = Resolved::path(canonical, exists);
    resolved.touched_writable = true;
    Ok(resolved)
}

/// The canonical path of the object a thread's descriptor or cwd refers
/// to, or `Held` when it has no path (pipe, socket, anonymous inode).
pub fn start_target(thread: Thread, start: Start, cow: &CowMap) -> Result<Resolved, Errno> {
    let link = match start {
        Start::Cwd => format!("/proc/{}/cwd", thread.tid),
        Start::Fd(fd) => format!("/proc/{}/fd/{fd}", thread.tid),
    };
    match nix::fcntl::readlink(Path::new(&link)) {
        Ok(target) if target.as_bytes().starts_with(b"/") => {
            let mut resolved = Resolved::path(cow.to_virtual(Path::new(&target)), true);
            // In a cow tree the kernel must be handed the mirror's name.
            resolved.touched_writable = cow.in_tree(match &resolved.target {
                Target::Path(path) => path,
                Target::Held => Path::new(""),
            });
            Ok(resolved)
        }
        Ok(_) => match start {
            Start::Fd(fd) => Ok(Resolved::held(thread.tid, fd)),
            Start::Cwd => Err(Errno::ENOENT),
        },
        Err(Errno::ENOENT) => Err(Errno::EBADF),
        Err(errno) => Err(errno),
    }
}

/// A lone name (no `/`, not `.` or `..`) relative to descriptor `fd`,
/// named without opening or looking at anything: the descriptor's
/// directory, read once from `/proc/<tid>/fd`, and the name. Only for a
/// call the kernel then runs on the program's own arguments (a look or a
/// read that does not follow the name, by a thread alone with its
/// descriptor table: `checks::paths`): the kernel looks the name up once
/// in the very directory the descriptor holds, so whether it exists and
/// what it is are the kernel's to answer; `exists` is not looked at and
/// the walk counts as touching a writable directory. `None` when the
/// descriptor has no usable name (deleted, not a path, in `/proc`, a real
/// cow tree) or the name may lead into a cow tree: the full walk decides.
pub fn lone_name(
    thread: Thread,
    fd: i32,
    name: &[u8],
    cow: &CowMap,
    dirs: &mut DescriptorDirs,
) -> Option<Resolved> {
    let lone = !name.is_empty() && !name.contains(&b'/') && name != b"." && name != b"..";
    if !lone {
        return None;
    }
    let mut buffer = [0u8; libc::PATH_MAX as usize];
    let length = dirs.name_of(thread.tid, fd, &mut buffer).ok()?;
    let target = &buffer[..length];
    let dir = Path::new(OsStr::from_bytes(target));
    let unusable = !target.starts_with(b"/")
        || target.ends_with(b" (deleted)")
        || is_under_proc(dir)
        || target.len() + name.len() + 1 >= libc::PATH_MAX as usize;
    if unusable {
        return None;
    }
    let candidate = join(dir, name);
    if is_under_proc(&candidate) {
        return None;
    }
    // A real tree is never handed to the kernel, and a tree's root met
    // from its parent must be mapped to its mirror: the walk does both.
    let in_mirror = cow.in_mirror(&candidate);
    if cow.in_real_tree(dir) || cow.in_real_tree(&candidate) || (in_mirror && !cow.in_mirror(dir)) {
        return None;
    }
    let virtual_path = if in_mirror {
        cow.to_virtual(&candidate)
    } else {
        candidate
    };
    let mut resolved = Resolved::path(virtual_path, true);
    resolved.touched_writable = true;
    Some(resolved)
}

/// The `/proc/<tid>/fd` directories of the last few tasks whose
/// descriptors were named, held open: naming descriptor `n` is then a
/// `readlinkat` of the one name `n` in it, where a `readlink` of
/// `/proc/<tid>/fd/<n>` walked `/proc`, `<tid>` and `fd` first (find's
/// every look at a name in the directory it reads). What it names is
/// what the path names: such a directory belongs to the task (its
/// `struct pid`), not to the number, and the kernel looks each name up
/// in the task's descriptor table as it is at that moment. A directory
/// held past its task's end names nothing (`ENOENT`), whoever has the
/// number since.
#[derive(Default)]
pub struct DescriptorDirs {
    /// Most recently used first.
    open: VecDeque<(Pid, OwnedFd)>,
}

impl DescriptorDirs {
    /// Directories held at once: the jail's descriptors do not grow with
    /// its tasks.
    const HELD: usize = 4;

    /// The kernel's name for what descriptor `fd` of task `tid` refers
    /// to (the target of `/proc/<tid>/fd/<fd>`), written into `buffer`;
    /// its length.
    pub fn name_of(&mut self, tid: Pid, fd: i32, buffer: &mut [u8]) -> Result<usize, Errno> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        let index = match self.open.iter().position(|(held, _)| *held == tid) {
            Some(index) => index,
            None => {
                let dir = nix::fcntl::open(
                    Path::new(&format!("/proc/{tid}/fd")),
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )?;
                self.open.truncate(Self::HELD - 1);
                self.open.push_front((tid, dir));
                0
            }
        };
        if index > 0 {
            let entry = self.open.remove(index).expect("an index of the list");
            self.open.push_front(entry);
        }
        let (_, dir) = &self.open[0];
        sys::readlinkat_number(dir, fd, buffer)
    }

    /// Task `tid` is gone (or its number is about to mean another).
    pub fn forget(&mut self, tid: Pid) {
        self.open.retain(|(held, _)| *held != tid);
    }
}

fn open_start(thread: Thread, start: Start) -> Result<OwnedFd, Errno> {
    let link = match start {
        Start::Cwd => format!("/proc/{}/cwd", thread.tid),
        Start::Fd(fd) => format!("/proc/{}/fd/{fd}", thread.tid),
    };
    // Opening the magic link is the point here: it yields the very
    // directory the thread holds, even if it was renamed since.
    nix::fcntl::open(
        Path::new(&link),
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| {
        if errno == Errno::ENOENT {
            Errno::EBADF
        } else {
            errno
        }
    })
}

fn c_string(bytes: &[u8]) -> Result<CString, Errno> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// The kernel's name for what `fd` refers to.
fn canonical_of(fd: &OwnedFd) -> Result<PathBuf, Errno> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::fcntl::readlink(Path::new(&link)).map(PathBuf::from)
}

fn is_under_proc(path: &Path) -> bool {
    crate::policy::is_within(path, Path::new("/proc"))
}

/// Splits off the last component when it is an ordinary name (trailing
/// slashes aside); `None` when the path names a directory by itself (`/`,
/// `.`, `a/..`).
fn split_last(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = path.iter().rposition(|&byte| byte != b'/')? + 1;
    let path = &path[..end];
    let (dir, name) = match path.iter().rposition(|&byte| byte == b'/') {
        Some(slash) => (&path[..=slash], &path[slash + 1..]),
        None => (&b""[..], path),
    };
    if name == b"." || name == b".." {
        return None;
    }
    Some((dir, name))
}

/// Whether a walk that starts in `start` and follows the components of
/// `dir_part` (no symlinks among them) looks a name up in a writable
/// directory.
fn lexical_walk_touches(start: &Path, dir_part: &[u8], writable: WritableDir) -> bool {
    let mut current = start.to_path_buf();
    for component in dir_part.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                // `..` asks a directory for its parent: if the jail can
                // rename that directory, the kernel's walk may climb from
                // somewhere else by the time it runs.
                if is_movable(&current, writable) {
                    return true;
                }
                current.pop();
            }
            name => {
                if writable(&current) {
                    return true;
                }
                current.push(OsStr::from_bytes(name));
            }
        }
    }
    false
}

/// Whether the jail can rename directory `dir`: its name lies in a
/// writable directory. (A `write` root itself cannot be renamed or
/// replaced: its parent is not writable.)
fn is_movable(dir: &Path, writable: WritableDir) -> bool {
    dir.parent().is_some_and(writable)
}

/// A relative `path` as an absolute one, when the directory it starts from
/// has a name nothing in the jail can change (no directory above it is
/// writable, so no rename can move it): then its name, read once from
/// `/proc/<tid>`, stands for it, and the walk needs no descriptor of it
/// (and can use the directory cache). `None`: resolve from the
/// descriptor.
fn absolute_from_stable_start(
    thread: Thread,
    start: Start,
    path: &[u8],
    view: &View,
) -> Option<Vec<u8>> {
    let (writable, cow) = (view.writable, view.cow);
    if path.starts_with(b"/") {
        return None;
    }
    let link = match start {
        Start::Cwd => format!("/proc/{}/cwd", thread.tid),
        Start::Fd(fd) => format!("/proc/{}/fd/{fd}", thread.tid),
    };
    let target = nix::fcntl::readlink(Path::new(&link)).ok()?;
    let name = target.as_bytes();
    let unusable = !name.starts_with(b"/")
        || name.ends_with(b" (deleted)")
        || is_under_proc(Path::new(&target))
        || cow.in_mirror(Path::new(&target))
        || cow.in_real_tree(Path::new(&target))
        || name.len() + path.len() + 1 >= libc::PATH_MAX as usize;
    if unusable || lexical_walk_touches(Path::new("/"), name, writable) {
        return None;
    }
    // Only a directory's name can stand for it: a descriptor of a symlink
    // (O_PATH | O_NOFOLLOW) is named by the link's own path, which the
    // walk would follow. Anything else takes the descriptor route, where
    // the kernel answers ENOTDIR as it would. (Checked last: the cheap
    // tests above send writable starts to that route without a stat.)
    // A name the directory cache holds as its own canonical name is a
    // directory no one in the jail can change (find's dirfd, again and
    // again): no stat needed.
    let cached = view.directories.borrow().get(name) == Some(PathBuf::from(&target));
    let is_directory = cached
        || nix::sys::stat::stat(Path::new(&link))
            .is_ok_and(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR);
    if !is_directory {
        return None;
    }
    if !cached {
        // Canonical (the kernel's name of the object), a directory, and
        // with nothing writable above it: what the cache holds.
        view.directories
            .borrow_mut()
            .insert(name, Path::new(&target));
    }
    let mut absolute = name.to_vec();
    if !absolute.ends_with(b"/") {
        absolute.push(b'/');
    }
    absolute.extend_from_slice(path);
    Some(absolute)
}

/// The canonical name of the absolute directory path `dir`, walked
/// component by component, when that walk met no writable directory and
/// does not lead into `/proc`: a name no one in the jail can change.
fn unchangeable_directory(thread: Thread, dir: &[u8], view: &View) -> Option<PathBuf> {
    let resolved = slow(thread, Start::Cwd, dir, true, view).ok()?;
    match resolved.target {
        Target::Path(canonical)
            if resolved.exists && !resolved.touched_writable && !is_under_proc(&canonical) =>
        {
            Some(canonical)
        }
        _ => None,
    }
}

/// The kernel walks the directory part in one `openat2` that refuses
/// symlinks; `Ok(None)` hands the path to the slow walk: it has symlinks
/// in its directories (which may lead into `/proc`, where "self" would
/// mean the tracer) or it lies in `/proc`.
fn fast(
    thread: Thread,
    start: Start,
    path: &[u8],
    follow: bool,
    view: &View,
) -> Result<Option<Resolved>, Errno> {
    let (writable, directories) = (view.writable, view.directories);
    // `/proc/<pid>` of a process outside the jail must not exist at any
    // depth, also on the way to `..`: the slow walk checks every pid.
    if path
        .split(|&byte| byte == b'/')
        .any(|component| component == b"proc" || view.cow.is_tree_name(component))
    {
        return Ok(None);
    }
    let mut path = match absolute_from_stable_start(thread, start, path, view) {
        Some(absolute) => absolute,
        None => path.to_vec(),
    };
    let mut start_fd = if path.starts_with(b"/") {
        None
    } else {
        Some(open_start(thread, start)?)
    };
    let mut touched = false;
    for _ in 0..=MAX_SYMLINKS {
        let absolute = path.starts_with(b"/");
        let dirfd_raw = match &start_fd {
            Some(fd) if !absolute => fd.as_raw_fd(),
            _ => libc::AT_FDCWD,
        };
        let start_dir: Cow<Path> = match &start_fd {
            Some(fd) if !absolute => Cow::Owned(canonical_of(fd)?),
            _ => Cow::Borrowed(Path::new("/")),
        };
        // A lone name in a mirror's directory (find's `newfstatat(dirfd,
        // "name")` in a cow tree) is looked up in that directory, held,
        // and named by its tree's name; any other walk from inside a tree
        // (`..` may leave the mirror) takes the slow walk, which maps it.
        let name_in_mirror = !absolute
            && view.cow.in_mirror(&start_dir)
            && !path.is_empty()
            && !path.contains(&b'/')
            && path != b"."
            && path != b"..";
        if is_under_proc(&start_dir) || (in_cow(view.cow, &start_dir) && !name_in_mirror) {
            return Ok(None);
        }
        // A symlink's target may name a cow tree: the slow walk maps it.
        // (Without cow trees nothing can: no scan on every path.)
        if !view.cow.roots.is_empty()
            && path
                .split(|&byte| byte == b'/')
                .any(|component| view.cow.is_tree_name(component))
        {
            return Ok(None);
        }
        let (dir, name) = match split_last(&path) {
            Some((dir, name)) => (dir, Some(name)),
            None => (&path[..], None),
        };
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let cached = if absolute {
            directories.borrow().get(dir)
        } else {
            None
        };
        // A directory is cached only after this same walk from `/`, by
        // the same unchanging policy, touched nothing writable (below):
        // walked again, it would touch nothing again.
        if cached.is_none() {
            touched |= lexical_walk_touches(&start_dir, dir, writable);
        }
        let single_relative_name = !absolute && dir == b"." && start_fd.is_some();
        let (dir_fd, dir_canonical) = match cached {
            Some(canonical) => (None, canonical),
            // A lone name relative to a directory the thread holds (find's
            // `newfstatat(dirfd, "name")`): that directory is the parent,
            // already open and named; walking "." would only reopen it.
            None if single_relative_name => (start_fd.take(), start_dir.into_owned()),
            None => match sys::openat2(
                dirfd_raw,
                &c_string(dir)?,
                (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
                libc::RESOLVE_NO_SYMLINKS,
            ) {
                Ok(fd) => {
                    let canonical = canonical_of(&fd)?;
                    if is_under_proc(&canonical) || in_cow(view.cow, &canonical) {
                        return Ok(None);
                    }
                    if absolute && !touched {
                        directories.borrow_mut().insert(dir, &canonical);
                    }
                    (Some(fd), canonical)
                }
                // Symlinks among the directories (`/bin -> usr/bin` on a
                // merged-/usr system): walk them once, component by
                // component, and remember the result like any other
                // directory no one in the jail can change.
                Err(Errno::ELOOP) if absolute && !touched => {
                    match unchangeable_directory(thread, dir, view) {
                        Some(canonical) => {
                            directories.borrow_mut().insert(dir, &canonical);
                            (None, canonical)
                        }
                        None => return Ok(None),
                    }
                }
                Err(Errno::ELOOP) => return Ok(None),
                Err(errno) => return Err(errno),
            },
        };
        let Some(name) = name else {
            let mut resolved = Resolved::path(dir_canonical, true);
            resolved.touched_writable = touched;
            return Ok(Some(resolved));
        };
        // Swapping the last name for a symlink only matters to a call that
        // follows it; one that does not acts on the name itself, inside
        // the writable directory it was judged in.
        if follow {
            touched |= writable(&dir_canonical);
        }
        let name_os = OsStr::from_bytes(name);
        let mut candidate = join(&dir_canonical, name);
        if name_in_mirror && dir_fd.is_some() {
            // Looked up below through the directory held, never by name;
            // the kernel is handed the mirror's name or the object.
            candidate = view.cow.to_virtual(&candidate);
            touched = true;
        } else if in_cow(view.cow, &candidate) {
            // A mirror's own root (or a real tree's) named from outside
            // it: the slow walk gives it its virtual name.
            return Ok(None);
        }
        let found = |candidate: PathBuf, exists: bool| {
            let mut resolved = Resolved::path(candidate, exists);
            resolved.touched_writable = touched;
            Ok(Some(resolved))
        };
        // A name that is itself a directory walked before (python stats
        // its package directories over and over): cached only after a
        // walk from `/` that touched nothing the jail can write, and no
        // symlink when its canonical name is itself. No lookup needed.
        if absolute
            && directories
                .borrow()
                .is_itself(candidate.as_os_str().as_bytes())
        {
            return found(candidate, true);
        }
        // Without a descriptor (a cached directory) the full path is looked
        // up again: nothing on it can have been swapped by the jail.
        let looked_up = match &dir_fd {
            Some(fd) => nix::sys::stat::fstatat(fd.as_fd(), name_os, AtFlags::AT_SYMLINK_NOFOLLOW),
            None => nix::sys::stat::lstat(&candidate),
        };
        match looked_up {
            Err(Errno::ENOENT) => return found(candidate, false),
            Err(errno) => return Err(errno),
            Ok(stat) if follow && is_symlink(&stat) => {
                let target = match &dir_fd {
                    Some(fd) => nix::fcntl::readlinkat(fd.as_fd(), name_os)?,
                    None => nix::fcntl::readlink(&candidate)?,
                };
                let target = target.into_vec();
                path = if target.starts_with(b"/") {
                    target
                } else {
                    match dir_fd {
                        Some(fd) => {
                            start_fd = Some(fd);
                            target
                        }
                        None => {
                            let mut joined = dir_canonical.into_os_string().into_vec();
                            joined.push(b'/');
                            joined.extend_from_slice(&target);
                            joined
                        }
                    }
                };
            }
            Ok(stat) => {
                // A directory named by its canonical path, in a directory
                // the jail cannot change, reached by a walk that touched
                // nothing writable: remembered like a walked directory,
                // so that the next lookup of it, or of a name in it, costs
                // no syscall.
                if absolute
                    && !touched
                    && is_directory(&stat)
                    && without_trailing_slashes(dir) == dir_canonical.as_os_str().as_bytes()
                    && !writable(&dir_canonical)
                {
                    directories
                        .borrow_mut()
                        .insert(candidate.as_os_str().as_bytes(), &candidate);
                }
                return found(candidate, true).map(|resolved| {
                    resolved.map(|mut resolved| {
                        resolved.looked = Some(Looked::from(&stat));
                        resolved
                    })
                });
            }
        }
    }
    Err(Errno::ELOOP)
}

/// `dir.join(name)` for a lone name, in one allocation.
fn join(dir: &Path, name: &[u8]) -> PathBuf {
    let dir = dir.as_os_str().as_bytes();
    let mut joined = Vec::with_capacity(dir.len() + 1 + name.len());
    joined.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        joined.push(b'/');
    }
    joined.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(joined))
}

/// Whether a real path the kernel named lies in a cow tree or a mirror:
/// then only the slow walk, which maps them, may go on.
fn in_cow(cow: &CowMap, path: &Path) -> bool {
    !cow.roots.is_empty() && (cow.in_real_tree(path) || cow.in_mirror(path))
}

fn is_symlink(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
}

/// `dir` as given, without the slashes that end it (`/` stays `/`).
fn without_trailing_slashes(dir: &[u8]) -> &[u8] {
    let end = dir
        .iter()
        .rposition(|&byte| byte != b'/')
        .map_or(1, |last| last + 1);
    &dir[..end.min(dir.len())]
}

fn is_directory(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// Whether `path` is a /proc magic link: `/proc/<pid>[/task/<tid>]/{cwd,
/// root,exe}` or an entry of `fd/` or `map_files/` there. Its "target" is
/// an object the kernel jumps to directly, which may have no name at all.
fn is_magic_link(path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix("/proc") else {
        return false;
    };
    let parts: Vec<&OsStr> = rest.iter().collect();
    let numeric = |part: &OsStr| part.as_bytes().iter().all(u8::is_ascii_digit);
    let tail = match parts.as_slice() {
        [pid, tail @ ..] if numeric(pid) => tail,
        _ => return false,
    };
    let tail = match tail {
        [task, tid, tail @ ..] if *task == "task" && numeric(tid) => tail,
        tail => tail,
    };
    match tail {
        [name] => *name == "cwd" || *name == "root" || *name == "exe",
        [dir, _] => *dir == "fd" || *dir == "map_files",
        _ => false,
    }
}

fn push_components_front(queue: &mut VecDeque<OsString>, path: &[u8]) {
    for part in path.split(|&byte| byte == b'/').rev() {
        queue.push_front(OsString::from_vec(part.to_vec()));
    }
}

/// Component-by-component walk with `/proc/self` meaning the thread.
fn slow(
    thread: Thread,
    start: Start,
    path: &[u8],
    follow: bool,
    view: &View,
) -> Result<Resolved, Errno> {
    let writable = view.writable;
    let cow = view.cow;
    let mut current = if path.starts_with(b"/") {
        PathBuf::from("/")
    } else {
        match start_target(thread, start, cow)?.target {
            // The start's name must name a directory itself, not a
            // symlink the walk below would follow (a descriptor opened
            // with O_PATH | O_NOFOLLOW on a link): the kernel walks from
            // the object and answers ENOTDIR.
            Target::Path(dir)
                if nix::sys::stat::lstat(&cow.to_real(&dir))
                    .is_ok_and(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR) =>
            {
                dir
            }
            Target::Path(_) | Target::Held => return Err(Errno::ENOTDIR),
        }
    };
    let mut queue = VecDeque::new();
    push_components_front(&mut queue, path);
    let mut links = 0usize;
    let mut touched = false;
    // The lstat of the object the walk ends on, if its last step made one.
    let mut last = None;
    let done = |target: Resolved, touched: bool| {
        let mut target = target;
        target.touched_writable = touched;
        Ok(target)
    };
    while let Some(component) = queue.pop_front() {
        let is_last = queue.iter().all(|rest| rest.is_empty());
        if component.is_empty() || component == "." {
            continue;
        }
        if component == ".." {
            // See lexical_walk_touches: a renamable directory's parent can
            // change under the kernel's own walk.
            touched |= is_movable(&current, writable);
            current.pop();
            last = None;
            continue;
        }
        if current == Path::new("/proc") && component == "self" {
            queue.push_front(OsString::from(thread.tgid.to_string()));
            continue;
        }
        if current == Path::new("/proc") && component == "thread-self" {
            let own = format!("{}/task/{}", thread.tgid, thread.tid);
            push_components_front(&mut queue, own.as_bytes());
            continue;
        }
        if current == Path::new("/proc")
            && let Some(pid) = component.to_str().and_then(|name| name.parse::<u32>().ok())
            && !(view.is_jail_pid)(pid)
        {
            return Err(Errno::ENOENT);
        }
        // A name looked up in a writable directory could be swapped; one
        // looked up in /proc (a magic link, `self`) depends on the state of
        // tasks that may share it: either way the kernel must be handed the
        // canonical result, and no cache may keep it.
        touched |= writable(&current) || is_under_proc(&current);
        // A mirror named by its real path (a cwd or symlink target the
        // program was shown, a script the kernel hands its interpreter)
        // is its tree: the same merged view, judged by the same name.
        let candidate = cow.to_virtual(&current.join(&component));
        // `current` and `candidate` are virtual names: in a cow tree the
        // walk looks in its mirror, and the kernel must be handed the
        // mirror's name, never the program's.
        let real = cow.to_real(&candidate);
        touched |= cow.in_tree(&candidate);
        let stat = match nix::sys::stat::lstat(&real) {
            Err(Errno::ENOENT) if is_last => {
                return done(Resolved::path(candidate, false), touched);
            }
            Err(errno) => return Err(errno),
            Ok(stat) => stat,
        };
        if is_symlink(&stat) && (!is_last || follow) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::ELOOP);
            }
            let mut target = nix::fcntl::readlink(&real)?.into_vec();
            if is_magic_link(&candidate) && target.starts_with(b"/") {
                // The kernel names a mirror's object by its real path.
                let named = cow.to_virtual(Path::new(OsStr::from_bytes(&target)));
                target = named.into_os_string().into_vec();
            }
            if !target.starts_with(b"/") {
                if is_magic_link(&candidate) {
                    // A pipe, socket or anonymous inode: only the object
                    // itself can be named this way.
                    return match (is_last, fd_link_owner(&candidate)) {
                        (true, Some((owner, fd))) => done(Resolved::held(owner, fd), touched),
                        (true, None) => Err(Errno::EACCES),
                        _ => Err(Errno::ENOTDIR),
                    };
                }
            } else {
                current = PathBuf::from("/");
            }
            push_components_front(&mut queue, &target);
            continue;
        }
        if !is_last && !is_directory(&stat) {
            return Err(Errno::ENOTDIR);
        }
        last = is_last.then(|| Looked::from(&stat));
        current = candidate;
    }
    touched |= cow.in_tree(&current);
    let mut resolved = Resolved::path(current, true);
    resolved.looked = last;
    done(resolved, touched)
}

/// For `/proc/<pid>[/task/<tid>]/fd/<n>`: the task and descriptor.
fn fd_link_owner(path: &Path) -> Option<(Pid, i32)> {
    let rest = path.strip_prefix("/proc").ok()?;
    let parts: Vec<&str> = rest
        .iter()
        .map(|part| part.to_str())
        .collect::<Option<_>>()?;
    let (owner, fd) = match parts.as_slice() {
        [pid, "fd", fd] => (pid, fd),
        [_, "task", tid, "fd", fd] => (tid, fd),
        _ => return None,
    };
    Some((Pid::from_raw(owner.parse().ok()?), fd.parse().ok()?))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_given_directory_loses_only_its_ending_slashes() {
        assert_eq!(without_trailing_slashes(b"/usr/lib/"), b"/usr/lib");
        assert_eq!(without_trailing_slashes(b"/usr/lib//"), b"/usr/lib");
        assert_eq!(without_trailing_slashes(b"/usr//lib"), b"/usr//lib");
        assert_eq!(without_trailing_slashes(b"/"), b"/");
        assert_eq!(without_trailing_slashes(b"///"), b"/");
        assert_eq!(without_trailing_slashes(b""), b"");
    }

    use super::*;
    use std::os::unix::fs::symlink;

    fn me() -> Thread {
        let pid = nix::unistd::getpid();
        Thread {
            tid: nix::unistd::gettid(),
            tgid: pid,
        }
    }

    fn resolved(path: &str, follow: bool) -> Result<Target, Errno> {
        let directories = RefCell::new(DirectoryCache::default());
        let view = View {
            writable: &|_| false,
            is_jail_pid: &|_| true,
            directories: &directories,
            cow: &CowMap::default(),
        };
        resolve(me(), Start::Cwd, path.as_bytes(), follow, &view).map(|resolved| resolved.target)
    }

    #[test]
    fn a_lone_name_is_named_by_its_descriptors_directory_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let held = std::fs::File::open(&root).unwrap();
        let fd = held.as_raw_fd();
        let none = CowMap::default();
        let mut dirs = DescriptorDirs::default();
        let named = lone_name(me(), fd, b"x", &none, &mut dirs).expect("named");
        assert_eq!(named.target, Target::Path(root.join("x")));
        assert!(named.touched_writable, "never taken as unchangeable");
        for not_lone in [&b"a/b"[..], b".", b"..", b""] {
            assert_eq!(
                lone_name(me(), fd, not_lone, &none, &mut dirs),
                None,
                "{not_lone:?}"
            );
        }
        let proc_dir = std::fs::File::open("/proc").unwrap();
        assert_eq!(
            lone_name(me(), proc_dir.as_raw_fd(), b"1", &none, &mut dirs),
            None
        );
        let top = std::fs::File::open("/").unwrap();
        assert_eq!(
            lone_name(me(), top.as_raw_fd(), b"proc", &none, &mut dirs),
            None
        );
        // A descriptor of a directory removed since has no usable name.
        std::fs::create_dir(root.join("gone")).unwrap();
        let gone = std::fs::File::open(root.join("gone")).unwrap();
        std::fs::remove_dir(root.join("gone")).unwrap();
        assert_eq!(
            lone_name(me(), gone.as_raw_fd(), b"x", &none, &mut dirs),
            None
        );
        assert_eq!(
            lone_name(me(), 9999, b"x", &none, &mut dirs),
            None,
            "no such descriptor"
        );

        // A cow tree's name seen from its parent is the real tree; one of
        // its mirror's directories names the tree's objects.
        for sub in ["tree", "mirror", "mirror/d"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let cow = CowMap {
            roots: vec![crate::policy::CowRoot {
                tree: root.join("tree"),
                mirror: Some(root.join("mirror")),
            }],
        };
        assert_eq!(lone_name(me(), fd, b"tree", &cow, &mut dirs), None);
        assert_eq!(lone_name(me(), fd, b"mirror", &cow, &mut dirs), None);
        let real_tree = std::fs::File::open(root.join("tree")).unwrap();
        assert_eq!(
            lone_name(me(), real_tree.as_raw_fd(), b"x", &cow, &mut dirs),
            None
        );
        let mirror_dir = std::fs::File::open(root.join("mirror/d")).unwrap();
        let named = lone_name(me(), mirror_dir.as_raw_fd(), b"x", &cow, &mut dirs).expect("named");
        assert_eq!(named.target, Target::Path(root.join("tree/d/x")));
    }

    #[test]
    fn last_components_split_only_on_names() {
        assert_eq!(split_last(b"/a/b"), Some((&b"/a/"[..], &b"b"[..])));
        assert_eq!(split_last(b"b"), Some((&b""[..], &b"b"[..])));
        assert_eq!(split_last(b"/a/"), Some((&b"/"[..], &b"a"[..])));
        assert_eq!(split_last(b"a//"), Some((&b""[..], &b"a"[..])));
        assert_eq!(split_last(b"/a/.."), None);
        assert_eq!(split_last(b"/"), None);
    }

    #[test]
    fn symlinks_and_dotdot_resolve_to_targets() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        symlink(root.join("real"), root.join("link")).unwrap();
        symlink("/etc/passwd", root.join("real/out")).unwrap();
        symlink("nowhere/file", root.join("dangling")).unwrap();
        let path = |p: &str| format!("{}/{p}", root.display());
        assert_eq!(
            resolved(&path("link/../real/x"), true),
            Ok(Target::Path(root.join("real/x")))
        );
        assert_eq!(
            resolved(&path("link/out"), true),
            Ok(Target::Path("/etc/passwd".into()))
        );
        assert_eq!(
            resolved(&path("link/out"), false),
            Ok(Target::Path(root.join("real/out")))
        );
        // A create through a dangling link lands where the link points.
        assert_eq!(resolved(&path("dangling"), true), Err(Errno::ENOENT));
    }

    #[test]
    fn proc_self_means_the_thread_not_the_tracer() {
        // Resolved for ourselves the answer must name our own pid.
        let target = resolved("/proc/self/status", true).unwrap();
        assert_eq!(
            target,
            Target::Path(format!("/proc/{}/status", nix::unistd::getpid()).into())
        );
    }

    #[test]
    fn magic_links_are_recognised() {
        assert!(is_magic_link(Path::new("/proc/12/fd/3")));
        assert!(is_magic_link(Path::new("/proc/12/cwd")));
        assert!(is_magic_link(Path::new("/proc/12/task/13/root")));
        assert!(!is_magic_link(Path::new("/proc/12/status")));
        assert!(!is_magic_link(Path::new("/proc/self/fd/3")));
    }
}
