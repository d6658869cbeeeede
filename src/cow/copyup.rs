//! Copy-up: before anything writes a file of a mirror that is still a
//! hard link to its original, the file is replaced by a private copy.
//!
//! Owns the decision (a pure function: which calls write through a name)
//! and the act, done on a directory the tracer holds: the name is opened
//! without following a symlink, its inode must be an original, the copy
//! is made under a fresh name in the same directory and renamed over the
//! name. Nothing is ever opened for writing but that fresh name, so a
//! program that swaps names meanwhile can at worst have the copy of an
//! original (which it can read anyway) put in place of its own file.

use super::layer::{copy_contents, finish_copy};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::syscall::Access;

/// What the object a write is about to reach is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    /// A regular file.
    pub regular: bool,
    /// Its (device, inode) is an original the mirror links to.
    pub original: bool,
}

/// Whether `call`, judged as `access` on an existing `object` inside a
/// mirror, must copy it up first: every call that writes a file's data
/// or metadata (opens for writing, truncate, chmod, chown, utimes,
/// xattrs, inode flags). `link` (the link count aside) and `access`
/// (which only asks) do not; renames and removals act on names.
pub fn needs_copy_up(call: &str, access: Access, object: Object) -> bool {
    object.regular && object.original && writes_through(call) && access == Access::Write
}

/// Whether a call judged a write acts on the object its path names
/// (and so, in a mirror, must act on a copy): not `link` (a new name for
/// it, judged by where that name goes), not the `access` family (which
/// only asks whether a write would be allowed).
pub fn writes_through(call: &str) -> bool {
    !matches!(
        call,
        "link" | "linkat" | "access" | "faccessat" | "faccessat2"
    )
}

/// The fresh names copies are made under.
static COPIES: AtomicU64 = AtomicU64::new(0);

/// Copies up `name` in the directory `parent` (held by the caller) when
/// it is a regular file whose inode is in `originals`. `Ok(true)`: a
/// copy now stands at `name`; `Ok(false)`: nothing to do.
pub fn copy_up(
    parent: &OwnedFd,
    name: &OsStr,
    originals: &HashSet<(u64, u64)>,
) -> Result<bool, Errno> {
    let source = match nix::fcntl::openat(
        parent.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // A symlink, or gone: not an original.
        Err(Errno::ELOOP | Errno::ENOENT) => return Ok(false),
        Err(errno) => return Err(errno),
    };
    let stat = nix::sys::stat::fstat(&source)?;
    if !is_original(&stat, originals) {
        return Ok(false);
    }
    let temp = format!(
        ".sandbox-copy-{}-{}",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    );
    let dest = nix::fcntl::openat(
        parent.as_fd(),
        temp.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    let mut source = std::fs::File::from(source);
    let mut dest = std::fs::File::from(dest);
    let made = copy_contents(&mut source, &mut dest)
        .and_then(|()| finish_copy(&dest, &stat))
        .and_then(|()| nix::fcntl::renameat(parent.as_fd(), temp.as_str(), parent.as_fd(), name));
    if let Err(errno) = made {
        let _ = nix::unistd::unlinkat(
            parent.as_fd(),
            temp.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        return Err(errno);
    }
    log::debug!("cow: copied up {}", name.to_string_lossy());
    Ok(true)
}

/// Whether `stat` is a regular file whose inode is an original.
pub fn is_original(stat: &FileStat, originals: &HashSet<(u64, u64)>) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFREG && originals.contains(&(stat.st_dev, stat.st_ino))
}

/// Whether the object `fd` refers to is an original.
pub fn fd_is_original(fd: &impl AsFd, originals: &HashSet<(u64, u64)>) -> Result<bool, Errno> {
    let stat = nix::sys::stat::fstat(fd.as_fd())?;
    Ok(is_original(&stat, originals))
}

/// Whether `name` in `parent` (not followed) is an original.
pub fn name_is_original(
    parent: &OwnedFd,
    name: &OsStr,
    originals: &HashSet<(u64, u64)>,
) -> Result<bool, Errno> {
    match nix::sys::stat::fstatat(parent.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(is_original(&stat, originals)),
        Err(Errno::ENOENT) => Ok(false),
        Err(errno) => Err(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn only_writes_to_originals_copy_up() {
        let original = Object {
            regular: true,
            original: true,
        };
        let copied = Object {
            regular: true,
            original: false,
        };
        assert!(needs_copy_up("openat", Access::Write, original));
        assert!(needs_copy_up("chmod", Access::Write, original));
        assert!(needs_copy_up("utimensat", Access::Write, original));
        assert!(!needs_copy_up("openat", Access::Read, original));
        assert!(!needs_copy_up("stat", Access::Stat, original));
        assert!(!needs_copy_up("unlink", Access::Remove, original));
        assert!(!needs_copy_up("renameat2", Access::Create, original));
        assert!(
            !needs_copy_up("linkat", Access::Write, original),
            "link count aside"
        );
        assert!(!needs_copy_up("faccessat2", Access::Write, original));
        assert!(
            !needs_copy_up("openat", Access::Write, copied),
            "already private"
        );
        let dir = Object {
            regular: false,
            original: false,
        };
        assert!(!needs_copy_up("chmod", Access::Write, dir));
    }

    #[test]
    fn a_copy_up_replaces_the_link_and_leaves_the_original() {
        let dir = tempfile::Builder::new()
            .prefix("sbx-copyup-")
            .tempdir_in("/tmp")
            .unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "original").unwrap();
        let mirror = dir.path().join("m");
        std::fs::create_dir(&mirror).unwrap();
        std::fs::hard_link(&real, mirror.join("f")).unwrap();
        std::os::unix::fs::symlink(&real, mirror.join("link")).unwrap();
        let meta = std::fs::metadata(&real).unwrap();
        let originals = HashSet::from([(meta.dev(), meta.ino())]);
        let parent: OwnedFd = std::fs::File::open(&mirror).unwrap().into();
        assert_eq!(
            copy_up(&parent, OsStr::new("link"), &originals),
            Ok(false),
            "never followed"
        );
        assert_eq!(copy_up(&parent, OsStr::new("none"), &originals), Ok(false));
        assert_eq!(
            name_is_original(&parent, OsStr::new("f"), &originals),
            Ok(true)
        );
        assert_eq!(copy_up(&parent, OsStr::new("f"), &originals), Ok(true));
        assert_eq!(
            name_is_original(&parent, OsStr::new("f"), &originals),
            Ok(false)
        );
        assert_eq!(
            copy_up(&parent, OsStr::new("f"), &originals),
            Ok(false),
            "once"
        );
        std::fs::write(mirror.join("f"), "changed").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "original");
        let names: Vec<_> = std::fs::read_dir(&mirror)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary left: {names:?}");
    }
}
