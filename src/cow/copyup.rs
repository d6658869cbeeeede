//! Copy-up: before anything writes a file of a mirror that is still a
//! hard link to its original, the file is replaced by a private copy.
//!
//! Owns the decisions (pure functions: which calls write through a name,
//! which copies are small enough to make inside the tracer's loop) and
//! the act, done on a directory the tracer holds: the name is opened
//! without following a symlink, its inode must be an original, the copy
//! is made under a fresh name in the same directory (unnamed,
//! `O_TMPFILE`, while a copier fills it, where the filesystem can),
//! then given the original's
//! extended attributes, mode and times, and renamed over the name.
//! Nothing is ever opened for writing but that new file, so a program
//! that swaps names meanwhile can at worst have the copy of an original
//! (which it can read anyway) put in place of its own file.
//!
//! [`Copy`](struct@Copy) is a copy under way, in three steps so that the bytes of a
//! large file can be copied by another process ([`Copy::fill`] is
//! async-signal-safe) while the tracer serves the rest of the jail.

use super::layer::{copy_bytes, finish_copy};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
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

/// The largest copy made inside the tracer's loop. Copying 1 MiB takes
/// about 0.1-0.3 ms (page cache to page cache); a copier process costs
/// about as much to start and reap, so below this a copy aside would
/// only slow the write down, and above it the tracer would hold every
/// other task of the jail for longer than a fork takes.
pub const INLINE_BYTES: u64 = 1 << 20;

/// Whether a copy of `size` bytes is made inside the tracer's loop
/// rather than by a copier process while the task waits.
pub fn copies_inline(size: u64) -> bool {
    size <= INLINE_BYTES
}

/// The fresh names copies are made under.
static COPIES: AtomicU64 = AtomicU64::new(0);

fn fresh_name() -> String {
    format!(
        ".sandbox-copy-{}-{}",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    )
}

/// A copy up under way: the original open for reading, the copy open
/// for writing in the same directory of the mirror. Dropped before it is
/// placed, it leaves nothing (an unnamed file is freed with its last
/// descriptor; a named one is removed).
#[derive(Debug)]
pub struct Copy {
    parent: OwnedFd,
    name: OsString,
    source: std::fs::File,
    dest: std::fs::File,
    /// The copy's name in `parent` once it has one (at once where the
    /// filesystem makes no unnamed files).
    temp: Option<String>,
    stat: FileStat,
    /// Its bytes are in (a reflink).
    filled: bool,
    /// It stands at `name`.
    placed: bool,
}

/// Starts a copy up of `name` in the directory `parent` (held by the
/// caller) when it is a regular file whose inode is in `originals`;
/// `None`: nothing to do (not an original, a symlink, gone).
pub fn begin(
    parent: &OwnedFd,
    name: &OsStr,
    originals: &HashSet<(u64, u64)>,
) -> Result<Option<Copy>, Errno> {
    let source = match nix::fcntl::openat(
        parent.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // A symlink, or gone: not an original.
        Err(Errno::ELOOP | Errno::ENOENT) => return Ok(None),
        Err(errno) => return Err(errno),
    };
    let stat = nix::sys::stat::fstat(&source)?;
    if !is_original(&stat, originals) {
        return Ok(None);
    }
    let parent = parent
        .try_clone()
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EMFILE)))?;
    let mode = Mode::from_bits_truncate(0o600);
    // A copy made aside is unnamed until complete: one cut short (the
    // jail ended, the tracer killed) leaves nothing. One made here and
    // now takes a fresh name at once, which saves a link.
    let unnamed = if copies_inline(u64::try_from(stat.st_size).unwrap_or(0)) {
        Err(Errno::EOPNOTSUPP)
    } else {
        nix::fcntl::openat(
            parent.as_fd(),
            ".",
            OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            mode,
        )
    };
    let (dest, temp) = match unnamed {
        Ok(fd) => (fd, None),
        // Inline, or no unnamed files on this filesystem.
        Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {
            let temp = fresh_name();
            let fd = nix::fcntl::openat(
                parent.as_fd(),
                temp.as_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                mode,
            )?;
            (fd, Some(temp))
        }
        Err(errno) => return Err(errno),
    };
    Ok(Some(Copy {
        parent,
        name: name.to_os_string(),
        source: source.into(),
        dest: dest.into(),
        temp,
        stat,
        filled: false,
        placed: false,
    }))
}

impl Copy {
    /// The (device, inode) of the original copied.
    pub fn original(&self) -> (u64, u64) {
        (self.stat.st_dev, self.stat.st_ino)
    }

    /// The original's size in bytes.
    pub fn size(&self) -> u64 {
        u64::try_from(self.stat.st_size).unwrap_or(0)
    }

    /// Shares the original's extents where the filesystem can
    /// (`FICLONE`): the bytes are then in whatever the size. Whether they
    /// are.
    pub fn reflink(&mut self) -> bool {
        if !self.filled && crate::sys::ficlone(&self.dest, &self.source).is_ok() {
            self.filled = true;
        }
        self.filled
    }

    /// Copies the bytes. Async-signal-safe: a copier process forked by
    /// the tracer runs it.
    pub fn fill(&self) -> Result<(), Errno> {
        copy_bytes(&self.source, &self.dest)
    }

    /// The two descriptors [`Copy::fill`] uses (original, copy).
    pub fn descriptors(&self) -> [RawFd; 2] {
        [self.source.as_raw_fd(), self.dest.as_raw_fd()]
    }

    /// Gives the filled copy the original's extended attributes, mode
    /// and times and renames it over the name.
    pub fn place(mut self) -> Result<(), Errno> {
        finish_copy(&self.source, &self.dest, &self.stat)?;
        let temp = match &self.temp {
            Some(temp) => temp.clone(),
            None => {
                // An unnamed file gets a name through its magic link
                // (`AT_EMPTY_PATH` would need CAP_DAC_READ_SEARCH).
                let temp = fresh_name();
                let own = format!("/proc/self/fd/{}", self.dest.as_raw_fd());
                nix::unistd::linkat(
                    nix::fcntl::AT_FDCWD,
                    own.as_str(),
                    self.parent.as_fd(),
                    temp.as_str(),
                    AtFlags::AT_SYMLINK_FOLLOW,
                )?;
                self.temp = Some(temp.clone());
                temp
            }
        };
        nix::fcntl::renameat(
            self.parent.as_fd(),
            temp.as_str(),
            self.parent.as_fd(),
            self.name.as_os_str(),
        )?;
        self.placed = true;
        log::debug!("cow: copied up {}", self.name.to_string_lossy());
        Ok(())
    }

    /// Fills the copy here (unless a reflink did) and places it.
    pub fn make(self) -> Result<(), Errno> {
        if !self.filled {
            self.fill()?;
        }
        self.place()
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        if !self.placed
            && let Some(temp) = &self.temp
        {
            let _ = nix::unistd::unlinkat(
                self.parent.as_fd(),
                temp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// Copies up `name` in the directory `parent` (held by the caller) when
/// it is a regular file whose inode is in `originals`, here and now.
/// `Ok(true)`: a copy now stands at `name`; `Ok(false)`: nothing to do.
pub fn copy_up(
    parent: &OwnedFd,
    name: &OsStr,
    originals: &HashSet<(u64, u64)>,
) -> Result<bool, Errno> {
    let Some(mut copy) = begin(parent, name, originals)? else {
        return Ok(false);
    };
    copy.reflink();
    copy.make()?;
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

    #[test]
    fn a_copy_made_in_steps_keeps_xattrs_and_one_dropped_leaves_nothing() {
        let dir = tempfile::Builder::new()
            .prefix("sbx-copyup-")
            .tempdir_in("/tmp")
            .unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "original").unwrap();
        let file = std::fs::File::open(&real).unwrap();
        let xattrs = crate::sys::set_xattr(&file, c"user.tag", b"kept").is_ok();
        let mirror = dir.path().join("m");
        std::fs::create_dir(&mirror).unwrap();
        std::fs::hard_link(&real, mirror.join("f")).unwrap();
        let meta = std::fs::metadata(&real).unwrap();
        let originals = HashSet::from([(meta.dev(), meta.ino())]);
        let parent: OwnedFd = std::fs::File::open(&mirror).unwrap().into();
        let listing = || {
            let mut names: Vec<_> = std::fs::read_dir(&mirror)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            names
        };
        let copy = begin(&parent, OsStr::new("f"), &originals)
            .unwrap()
            .unwrap();
        assert_eq!(copy.original(), (meta.dev(), meta.ino()));
        assert_eq!(copy.size(), 8);
        copy.fill().unwrap();
        drop(copy);
        assert_eq!(listing(), ["f"], "a dropped copy leaves nothing");
        assert!(name_is_original(&parent, OsStr::new("f"), &originals).unwrap());
        let copy = begin(&parent, OsStr::new("f"), &originals)
            .unwrap()
            .unwrap();
        copy.fill().unwrap();
        copy.place().unwrap();
        assert_eq!(listing(), ["f"]);
        assert!(!name_is_original(&parent, OsStr::new("f"), &originals).unwrap());
        assert_eq!(
            std::fs::read_to_string(mirror.join("f")).unwrap(),
            "original"
        );
        let copied = std::fs::metadata(mirror.join("f")).unwrap();
        assert_eq!(copied.mtime_nsec(), meta.mtime_nsec());
        assert_eq!(copied.mode(), meta.mode());
        if xattrs {
            let copied = std::fs::File::open(mirror.join("f")).unwrap();
            assert_eq!(
                crate::sys::get_xattr(&copied, c"user.tag").unwrap(),
                b"kept"
            );
        }
        // A copy too large for the loop is unnamed while it is filled.
        let large = dir.path().join("large");
        std::fs::File::create(&large)
            .unwrap()
            .set_len(INLINE_BYTES + 1)
            .unwrap();
        std::fs::hard_link(&large, mirror.join("g")).unwrap();
        let meta = std::fs::metadata(&large).unwrap();
        let originals = HashSet::from([(meta.dev(), meta.ino())]);
        let copy = begin(&parent, OsStr::new("g"), &originals)
            .unwrap()
            .unwrap();
        copy.fill().unwrap();
        assert_eq!(listing(), ["f", "g"], "nothing named while it is filled");
        copy.place().unwrap();
        assert_eq!(listing(), ["f", "g"]);
        assert!(!name_is_original(&parent, OsStr::new("g"), &originals).unwrap());
        assert_eq!(
            std::fs::metadata(mirror.join("g")).unwrap().len(),
            INLINE_BYTES + 1
        );
    }
}
