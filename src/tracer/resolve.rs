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

use crate::policy::Target;
use crate::sys;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, SFlag};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The kernel's limit on symlinks followed in one lookup.
const MAX_SYMLINKS: usize = 40;

/// Where a relative path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Cwd,
    Fd(i32),
}

/// The thread a path is resolved for.
#[derive(Debug, Clone, Copy)]
pub struct Thread {
    pub tid: Pid,
    pub tgid: Pid,
}

/// Resolves `path` for `thread`. `follow` says whether a symlink in the
/// last component is followed. A last component that does not exist
/// resolves to the name it would have (creates need that).
pub fn resolve(thread: Thread, start: Start, path: &[u8], follow: bool) -> Result<Target, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    // A trailing slash asks for a directory and follows the last link.
    let follow = follow || path.ends_with(b"/");
    match fast(thread, start, path, follow) {
        Ok(Some(target)) => Ok(target),
        Ok(None) | Err(Errno::ELOOP) => slow(thread, start, path, follow),
        Err(errno) => Err(errno),
    }
}

/// The canonical path of the object a thread's descriptor or cwd refers
/// to, or `Held` when it has no path (pipe, socket, anonymous inode).
pub fn start_target(thread: Thread, start: Start) -> Result<Target, Errno> {
    let link = match start {
        Start::Cwd => format!("/proc/{}/cwd", thread.tid),
        Start::Fd(fd) => format!("/proc/{}/fd/{fd}", thread.tid),
    };
    match nix::fcntl::readlink(Path::new(&link)) {
        Ok(target) if target.as_bytes().starts_with(b"/") => Ok(Target::Path(target.into())),
        Ok(_) => Ok(Target::Held),
        Err(Errno::ENOENT) => Err(Errno::EBADF),
        Err(errno) => Err(errno),
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
    path.starts_with("/proc")
}

/// Splits off the last component when it is an ordinary name; `None` when
/// the path names a directory by itself (`/`, `.`, `a/..`, `a/`).
fn split_last(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.ends_with(b"/") {
        return None;
    }
    let (dir, name) = match path.iter().rposition(|&byte| byte == b'/') {
        Some(slash) => (&path[..=slash], &path[slash + 1..]),
        None => (&b""[..], path),
    };
    if name == b"." || name == b".." {
        return None;
    }
    Some((dir, name))
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

/// `Ok(None)` means: this path needs the slow walk.
fn fast(thread: Thread, start: Start, path: &[u8], follow: bool) -> Result<Option<Target>, Errno> {
    let mut start_fd = if path.starts_with(b"/") {
        None
    } else {
        Some(open_start(thread, start)?)
    };
    let mut path = path.to_vec();
    for _ in 0..=MAX_SYMLINKS {
        let dirfd_raw = start_fd
            .as_ref()
            .map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
        let Some((dir, name)) = split_last(&path) else {
            let fd = sys::openat2(
                dirfd_raw,
                &c_string(&path)?,
                (libc::O_PATH | libc::O_CLOEXEC) as u64,
                RESOLVE_NO_MAGICLINKS,
            )?;
            let canonical = canonical_of(&fd)?;
            return Ok((!is_under_proc(&canonical)).then_some(Target::Path(canonical)));
        };
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let dir_fd = sys::openat2(
            dirfd_raw,
            &c_string(dir)?,
            (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
            RESOLVE_NO_MAGICLINKS,
        )?;
        let dir_canonical = canonical_of(&dir_fd)?;
        if is_under_proc(&dir_canonical) {
            return Ok(None);
        }
        let name_os = OsStr::from_bytes(name);
        let candidate = dir_canonical.join(name_os);
        match nix::sys::stat::fstatat(dir_fd.as_fd(), name_os, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => return Ok(Some(Target::Path(candidate))),
            Err(errno) => return Err(errno),
            Ok(stat) if follow && is_symlink(&stat) => {
                let target = nix::fcntl::readlinkat(dir_fd.as_fd(), name_os)?;
                path = target.into_vec();
                if !path.starts_with(b"/") {
                    start_fd = Some(dir_fd);
                }
            }
            Ok(_) => return Ok(Some(Target::Path(candidate))),
        }
    }
    Err(Errno::ELOOP)
}

fn is_symlink(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK
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
fn slow(thread: Thread, start: Start, path: &[u8], follow: bool) -> Result<Target, Errno> {
    let mut current = if path.starts_with(b"/") {
        PathBuf::from("/")
    } else {
        match start_target(thread, start)? {
            Target::Path(dir) => dir,
            Target::Held => return Err(Errno::ENOTDIR),
        }
    };
    let mut queue = VecDeque::new();
    push_components_front(&mut queue, path);
    let mut links = 0usize;
    while let Some(component) = queue.pop_front() {
        let is_last = queue.iter().all(|rest| rest.is_empty());
        if component.is_empty() || component == "." {
            continue;
        }
        if component == ".." {
            current.pop();
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
        let candidate = current.join(&component);
        let stat = match nix::sys::stat::lstat(&candidate) {
            Err(Errno::ENOENT) if is_last => return Ok(Target::Path(candidate)),
            Err(errno) => return Err(errno),
            Ok(stat) => stat,
        };
        if is_symlink(&stat) && (!is_last || follow) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::ELOOP);
            }
            let target = nix::fcntl::readlink(&candidate)?.into_vec();
            if !target.starts_with(b"/") {
                if is_magic_link(&candidate) {
                    // A pipe, socket or anonymous inode: only the object
                    // itself can be named this way.
                    return if is_last {
                        Ok(Target::Held)
                    } else {
                        Err(Errno::ENOTDIR)
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
        current = candidate;
    }
    Ok(Target::Path(current))
}

#[cfg(test)]
mod tests {
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
        resolve(me(), Start::Cwd, path.as_bytes(), follow)
    }

    #[test]
    fn last_components_split_only_on_names() {
        assert_eq!(split_last(b"/a/b"), Some((&b"/a/"[..], &b"b"[..])));
        assert_eq!(split_last(b"b"), Some((&b""[..], &b"b"[..])));
        assert_eq!(split_last(b"/a/"), None);
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
