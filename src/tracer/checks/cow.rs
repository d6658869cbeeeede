//! What `cow` trees add to the tracer: a write in a tree acts on an
//! object the jail holds, copied up first when it is still an original
//! (a hard link to the real tree's file); opens in a tree; changes
//! through a descriptor of an original refused; and the names the kernel
//! would give the program from inside a mirror given as the tree's
//! (`getcwd`), so the layer's real path does not show. `paths.rs` judges
//! the paths and calls these for targets in a tree.

use crate::policy::Target;
use crate::syscall::Access;
use crate::tracer::answer::{Answer, Rewrite};
use crate::tracer::checks::paths::open_verified;
use crate::tracer::resolve::{Resolved, Start};
use crate::tracer::stopped::Stopped;
use log::debug;
use nix::errno::Errno;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// `getcwd(buf, size)`, stopped only when the config has `cow` lines: a
/// working directory in a mirror is answered with its virtual name (the
/// kernel's result: the name and its NUL, their length returned, `ERANGE`
/// when it does not fit); anywhere else the kernel answers.
pub(in crate::tracer) fn getcwd(thread: &mut dyn Stopped) -> Answer {
    let (buffer, size) = (thread.argument(0), thread.argument(1));
    let name = match thread.start_target(Start::Cwd) {
        Ok(resolved) => match resolved.target {
            Target::Path(path) if thread.in_cow_tree(&path) => path,
            _ => return Answer::Allow,
        },
        Err(_) => return Answer::Allow,
    };
    let mut bytes = name.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    if (bytes.len() as u64) > size {
        return Answer::Refuse(Errno::ERANGE);
    }
    if let Err(errno) = thread.write(buffer, &bytes) {
        return Answer::Refuse(errno);
    }
    debug!("{}: getcwd in a cow tree: {name:?}", thread.tid());
    Answer::Return(bytes.len() as u64)
}

/// The object a write in a `cow` tree acts on, held by the jail: the
/// name `virtual_path` is looked up in its parent in the mirror (never
/// followed), copied up first when it is still an original, and the
/// object held must then not be an original (a name swapped meanwhile).
/// A copy too large to make here is asked of a copier process
/// ([`Stopped::copy_aside`]), and its errno returned.
/// A symlink's own metadata (`!follow`) cannot be changed: `EPERM`.
pub(in crate::tracer) fn write_object(
    thread: &dyn Stopped,
    call: &str,
    virtual_path: &Path,
    follow: bool,
) -> Result<OwnedFd, Errno> {
    use crate::cow::copyup;
    let real = thread.real_path(virtual_path);
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        // The mirror's root itself: a directory of the jail's own.
        return open_verified(&real, true);
    };
    let parent_fd = open_verified(parent, true)?;
    let originals = thread.cow_originals();
    for _ in 0..2 {
        let stat =
            nix::sys::stat::fstatat(&parent_fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let object = copyup::Object {
            regular: stat.st_mode & libc::S_IFMT == libc::S_IFREG,
            original: copyup::is_original(&stat, originals),
        };
        if copyup::needs_copy_up(call, Access::Write, object)
            && let Some(mut copy) = copyup::begin(&parent_fd, name, originals)?
        {
            if copy.reflink() || copyup::copies_inline(copy.size()) {
                make_charged(thread, copy)?;
            } else {
                debug!(
                    "{call}: {virtual_path:?} ({} bytes) is copied up aside",
                    copy.size()
                );
                // Charged when a copier starts on it (Tracer::wait_for_copy).
                return Err(thread.copy_aside(copy));
            }
        }
        let held = nix::fcntl::openat(
            &parent_fd,
            name,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        let stat = nix::sys::stat::fstat(&held)?;
        if stat.st_mode & libc::S_IFMT == libc::S_IFLNK {
            // Followed names were resolved already: a symlink here is
            // the call's own last component (lchown, utimensat with
            // AT_SYMLINK_NOFOLLOW), or one swapped in.
            debug!("{call}: the metadata of a symlink in a cow tree: EPERM (follow {follow})");
            return Err(Errno::EPERM);
        }
        if !copyup::is_original(&stat, originals) {
            if let Some(cell) = thread.quota()
                && stat.st_mode & libc::S_IFMT == libc::S_IFREG
            {
                cell.borrow_mut()
                    .seen((stat.st_dev, stat.st_ino), stat.st_size as u64);
            }
            return Ok(held);
        }
        debug!("{call}: {virtual_path:?} is an original again (swapped): once more");
    }
    Err(Errno::EBUSY)
}

/// Makes `copy` here, charged to the layer under `cowquota`: a copy that
/// would take the layer past it is `ENOSPC`, and the original stays as
/// it is. (The copy's inode is counted once the caller holds it.)
fn make_charged(thread: &dyn Stopped, copy: crate::cow::copyup::Copy) -> Result<(), Errno> {
    let Some(cell) = thread.quota() else {
        return copy.make();
    };
    let size = copy.size();
    crate::tracer::checks::quota::reserve(thread, cell, size).inspect_err(|_| {
        debug!("a copy-up of {size} bytes would take the layer past cowquota: ENOSPC");
    })?;
    let made = copy.make();
    cell.borrow_mut().settle(size, None);
    made
}

/// Whether the virtual `path` names one of the mirrors' placeholders
/// (a file of the real tree the user could neither link nor read).
pub(in crate::tracer) fn is_placeholder(thread: &dyn Stopped, virtual_path: &Path) -> bool {
    if thread.cow_placeholders().is_empty() || !thread.in_cow_tree(virtual_path) {
        return false;
    }
    let real = thread.real_path(virtual_path);
    nix::sys::stat::lstat(&real).is_ok_and(|stat| {
        thread
            .cow_placeholders()
            .contains(&(stat.st_dev, stat.st_ino))
    })
}

/// An open in a `cow` tree: what the kernel is handed (the rewrite,
/// path, flags and resolve flags of its `openat2`). A read opens the
/// mirror's name; a write an object the jail holds after any copy up;
/// a create makes a new name only (`O_EXCL`), so an original renamed
/// there meanwhile is never opened for writing.
#[allow(clippy::too_many_arguments)]
pub(in crate::tracer) fn open(
    thread: &dyn Stopped,
    name: &str,
    virtual_path: &Path,
    resolved: &Resolved,
    (access, follow): (Access, bool),
    flags: u64,
    program_resolve: u64,
    trailing_slash: bool,
) -> Result<(Rewrite, Vec<u8>, u64, u64), Errno> {
    let mut rewrite = Rewrite::default();
    let has = |flag: i32| flags & flag as u64 != 0;
    let no_links = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    if access == Access::Write && resolved.exists {
        if has(libc::O_CREAT) && has(libc::O_EXCL) {
            return Err(Errno::EEXIST);
        }
        let held = match write_object(thread, name, virtual_path, follow) {
            Err(Errno::EPERM) if !follow => return Err(Errno::ELOOP),
            other => other?,
        };
        let mut kernel_path = thread.hand_over(held, None, &mut rewrite)?;
        if trailing_slash {
            kernel_path.push(b'/');
        }
        // The magic link must be followed to reach the object.
        let flags = flags & !(libc::O_NOFOLLOW as u64);
        return Ok((rewrite, kernel_path, flags, program_resolve & !no_links));
    }
    let real = thread.real_path(virtual_path);
    if access == Access::Write && !thread.kernel_may_change(&real) {
        return Err(Errno::EROFS);
    }
    let flags = match open_of_missing_name(access, flags) {
        Some(flags) => flags,
        None => {
            // Never let the kernel look the name up again: an original
            // renamed to it meanwhile would be opened for writing.
            debug!("{name}: {virtual_path:?} does not exist, no O_CREAT: ENOENT");
            return Err(Errno::ENOENT);
        }
    };
    let mut kernel_path = real.into_os_string().into_vec();
    if trailing_slash {
        kernel_path.push(b'/');
    }
    Ok((
        rewrite,
        kernel_path,
        flags,
        libc::RESOLVE_NO_SYMLINKS | program_resolve,
    ))
}

/// The flags the kernel's open of a name in a mirror runs with when the
/// jail found no object there (or for a read): a write makes a new name
/// only (`O_EXCL` added to `O_CREAT`), and a write without `O_CREAT`
/// (`O_WRONLY`, `O_RDWR`, `O_TRUNC`, `O_APPEND` alone) is `None`: it
/// would open whatever the name holds by the time the kernel looks,
/// an original renamed there included.
pub(in crate::tracer) fn open_of_missing_name(access: Access, flags: u64) -> Option<u64> {
    if access != Access::Write {
        return Some(flags);
    }
    if flags & libc::O_CREAT as u64 != 0 {
        return Some(flags | libc::O_EXCL as u64);
    }
    // O_TMPFILE names a directory, which exists or fails anyway; the
    // unnamed file it makes is no original.
    if flags & (libc::O_TMPFILE & !libc::O_DIRECTORY) as u64 != 0 {
        return Some(flags);
    }
    None
}

/// Refuses a change through descriptor `fd` when its object is an
/// original a `cow` mirror links to (opened for reading before any copy
/// up): `EROFS`, the real tree is read-only.
pub(in crate::tracer) fn refuse_original_descriptor(
    thread: &dyn Stopped,
    fd: i32,
) -> Result<(), Errno> {
    if thread.cow_originals().is_empty() {
        return Ok(());
    }
    let held = thread.take_descriptor(thread.tid(), fd)?;
    if crate::cow::copyup::fd_is_original(&held, thread.cow_originals())? {
        debug!(
            "{}: a change through descriptor {fd}, an original: EROFS",
            thread.tid()
        );
        return Err(Errno::EROFS);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CowMap, CowRoot};
    use crate::tracer::checks::fake::FakeThread;
    use crate::tracer::resolve::Resolved;
    use std::path::PathBuf;

    fn in_tree(cwd: &str) -> FakeThread {
        let mut thread = FakeThread::new("see /\n");
        thread.policy.cow = CowMap {
            roots: vec![CowRoot {
                tree: PathBuf::from("/home/me/project"),
                mirror: Some(PathBuf::from("/tmp/layer/0")),
            }],
        };
        thread.starts.insert(
            Start::Cwd,
            Resolved {
                target: Target::Path(PathBuf::from(cwd)),
                exists: true,
                held_via: None,
                touched_writable: true,
                looked: None,
            },
        );
        thread.memory.push((0x1000, vec![0xff; 64]));
        thread
    }

    #[test]
    fn getcwd_in_a_cow_tree_gives_the_trees_name() {
        let mut thread = in_tree("/home/me/project/src");
        thread.arguments = [0x1000, 64, 0, 0, 0, 0];
        let answer = getcwd(&mut thread);
        let want = b"/home/me/project/src\0";
        assert!(
            matches!(answer, Answer::Return(n) if n == want.len() as u64),
            "{answer:?}"
        );
        assert_eq!(&thread.memory[0].1[..want.len()], want);
    }

    #[test]
    fn getcwd_too_small_a_buffer_is_erange_and_outside_a_tree_the_kernel_answers() {
        let mut thread = in_tree("/home/me/project/src");
        thread.arguments = [0x1000, 8, 0, 0, 0, 0];
        assert!(matches!(getcwd(&mut thread), Answer::Refuse(Errno::ERANGE)));
        assert_eq!(thread.memory[0].1, vec![0xff; 64], "nothing written");
        thread.arguments = [0x9000, 64, 0, 0, 0, 0];
        assert!(matches!(getcwd(&mut thread), Answer::Refuse(Errno::EFAULT)));
        let mut outside = in_tree("/home/me");
        outside.arguments = [0x1000, 64, 0, 0, 0, 0];
        assert!(matches!(getcwd(&mut outside), Answer::Allow));
    }

    #[test]
    fn a_large_original_is_copied_aside_and_a_small_one_here() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::Builder::new()
            .prefix("sbx-aside-")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (tree, mirror) = (root.join("tree"), root.join("mirror"));
        std::fs::create_dir(&tree).unwrap();
        std::fs::create_dir(&mirror).unwrap();
        let big = std::fs::File::create(tree.join("big")).unwrap();
        big.set_len(crate::cow::copyup::INLINE_BYTES + 1).unwrap();
        std::fs::write(tree.join("small"), "s").unwrap();
        let mut thread = FakeThread::new("see /\n");
        thread.policy.cow = CowMap {
            roots: vec![CowRoot {
                tree: tree.clone(),
                mirror: Some(mirror.clone()),
            }],
        };
        for name in ["big", "small"] {
            std::fs::hard_link(tree.join(name), mirror.join(name)).unwrap();
            let meta = std::fs::metadata(tree.join(name)).unwrap();
            thread.cow_originals.insert((meta.dev(), meta.ino()));
        }
        let ino = |path: PathBuf| std::fs::metadata(path).unwrap().ino();
        // Small: copied here, the object held is the copy.
        let held = write_object(&thread, "openat", &tree.join("small"), true).unwrap();
        assert_ne!(
            nix::sys::stat::fstat(&held).unwrap().st_ino,
            ino(tree.join("small"))
        );
        assert!(thread.copied_aside.borrow().is_empty());
        // Large: asked aside, nothing copied yet, the call waits.
        assert_eq!(
            write_object(&thread, "openat", &tree.join("big"), true).unwrap_err(),
            Errno::EINPROGRESS
        );
        let big = std::fs::metadata(tree.join("big")).unwrap();
        assert_eq!(*thread.copied_aside.borrow(), [(big.dev(), big.ino())]);
        assert_eq!(ino(mirror.join("big")), big.ino(), "still the original");
        let names: Vec<_> = std::fs::read_dir(&mirror)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "the dropped copy left nothing: {names:?}");
    }
}
