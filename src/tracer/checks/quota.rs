//! `cowquota` at the stops: a call that can make a regular file bigger
//! through a descriptor (stopped only when the config has `cowquota`) is
//! charged to the layer when the descriptor names a private file of a
//! mirror, and refused with `ENOSPC`, without running, when the layer
//! cannot take its growth.
//!
//! What the call reaches is read from the kernel, never guessed: the
//! descriptor's object (taken with `pidfd_getfd`: the same open file
//! description), its size (`fstat`), its position (`lseek(fd, 0,
//! SEEK_CUR)` on that description) and `O_APPEND`; the length from the
//! arguments, an iovec array read once, or what a source file has left
//! past its offset. None of these waits on anything the program does.
//! The growth is reserved at entry and settled at the exit stop with the
//! file's real size ([`crate::cow::quota`]); a descriptor that is not the
//! layer's runs with no exit stop. See docs/cow.md for the races.

use crate::cow::quota::{self, FileKey, Quota};
use crate::syscall::{Growth, Length, Place};
use crate::tracer::answer::{Answer, Charge, Rewrite};
use crate::tracer::checks::signed;
use crate::tracer::stopped::Stopped;
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::cell::RefCell;
use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// `RWF_APPEND` (linux/fs.h): a `pwritev2` that appends.
const RWF_APPEND: u64 = 0x10;

/// `RWF_NOAPPEND` (linux/fs.h, Linux 6.9): a `pwritev2` on an `O_APPEND`
/// description that writes at its offset instead of the end.
const RWF_NOAPPEND: u64 = 0x20;

/// The file behind `held` and its size, when it is a private regular
/// file of the layer: in a mirror (by the name the kernel gives it, a
/// removed one included) and not an original.
pub(in crate::tracer) fn private_file(
    held: &OwnedFd,
    mirrors: &[(PathBuf, u64)],
    originals: &HashSet<FileKey>,
) -> Option<(FileKey, u64)> {
    let stat = nix::sys::stat::fstat(held).ok()?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let key = (stat.st_dev, stat.st_ino);
    if originals.contains(&key) || !mirrors.iter().any(|(_, dev)| *dev == stat.st_dev) {
        return None;
    }
    match std::fs::read_link(format!("/proc/self/fd/{}", held.as_raw_fd())) {
        Ok(path) => quota::in_mirrors(&path, mirrors).then_some((key, stat.st_size as u64)),
        // The kernel names no path longer than PATH_MAX (ENAMETOOLONG): a
        // file of the layer whose directories were renamed, one short
        // name at a time, under ever deeper ones has none, and would
        // otherwise grow uncounted. On a mirror's filesystem and not an
        // original, it is charged (fail closed).
        Err(_) => Some((key, stat.st_size as u64)),
    }
}

/// A call of [`Growth`] shape `growth`, named `name`.
pub(in crate::tracer) fn judge_growth(
    thread: &mut dyn Stopped,
    name: &str,
    growth: Growth,
) -> Answer {
    match judge(thread, name, growth) {
        Ok(answer) => answer,
        Err(errno) => Answer::Refuse(errno),
    }
}

fn judge(thread: &mut dyn Stopped, name: &str, growth: Growth) -> Result<Answer, Errno> {
    let pid = thread.tid();
    let Some(cell) = thread.quota() else {
        return Ok(Answer::Allow);
    };
    let fd_arg = match growth {
        Growth::Write { fd, .. } | Growth::Truncate { fd, .. } => fd,
        Growth::Allocate => 0,
    };
    let fd = signed(thread.argument(fd_arg));
    let held = match thread.take_descriptor(pid, fd) {
        Ok(held) => Some(held),
        // No such descriptor now: the kernel answers, unless another task
        // opens one meanwhile (counted below as unseen).
        Err(Errno::EBADF) => None,
        Err(errno) => {
            warn!("{pid}: {name}: cannot look at descriptor {fd}: {errno}; refusing");
            return Err(errno);
        }
    };
    let file = held
        .as_ref()
        .and_then(|held| private_file(held, cell.borrow().mirrors(), thread.cow_originals()));
    let (Some(held), Some((key, size))) = (held, file) else {
        if !thread.alone_with_descriptors() {
            // Another task could put a file of the layer at this number
            // before the kernel looks: count what such calls could add,
            // and count the layer again before it could pass the limit.
            let len = unseen_length(thread, growth);
            if cell.borrow().must_count_before_unseen(len) {
                recount(thread, cell);
            }
            cell.borrow_mut().admit_unseen(len).inspect_err(|_| {
                debug!(
                    "{pid}: {name} on descriptor {fd} while the layer is past cowquota \
                     (a race won) and another task shares the table: ENOSPC"
                );
            })?;
        }
        return Ok(Answer::Allow);
    };
    let Some((end, writes)) = end_of(thread, growth, &held, size)? else {
        // Arguments the kernel refuses by itself.
        return Ok(Answer::Allow);
    };
    let reserved = admit(thread, cell, key, size, end, writes).inspect_err(|_| {
        debug!(
            "{pid}: {name} on descriptor {fd} would take the layer past cowquota ({} of {} \
             bytes used, this file {size} -> {end}): ENOSPC",
            cell.borrow().used(),
            cell.borrow().limit()
        );
    })?;
    Ok(Answer::Rewrite(Rewrite {
        charge: Some(Charge {
            held,
            file: key,
            reserved,
        }),
        ..Rewrite::default()
    }))
}

/// Admits growing `key` (now `size` bytes) to `end`; a refusal when
/// something may have given space back since the last count counts the
/// layer again first.
pub(in crate::tracer) fn admit(
    thread: &dyn Stopped,
    cell: &RefCell<Quota>,
    key: FileKey,
    size: u64,
    end: u64,
    writes: bool,
) -> Result<u64, Errno> {
    let first = cell.borrow_mut().admit(key, size, end, writes);
    match first {
        Err(Errno::ENOSPC) if cell.borrow().is_stale() => {
            recount(thread, cell);
            cell.borrow_mut().admit(key, size, end, writes)
        }
        other => other,
    }
}

/// Reserves `bytes` for a copy-up, counting again first when a refusal
/// may be stale.
pub(in crate::tracer) fn reserve(
    thread: &dyn Stopped,
    cell: &RefCell<Quota>,
    bytes: u64,
) -> Result<(), Errno> {
    reserve_beside(thread.cow_originals(), &thread.jail_tasks(), cell, bytes)
}

/// [`reserve`] for the tracer itself (a copier's copy), which knows the
/// `originals` a count leaves out.
pub(in crate::tracer) fn reserve_beside(
    originals: &HashSet<FileKey>,
    tasks: &[Pid],
    cell: &RefCell<Quota>,
    bytes: u64,
) -> Result<(), Errno> {
    let first = cell.borrow_mut().reserve(bytes);
    match first {
        Err(Errno::ENOSPC) if cell.borrow().is_stale() => {
            count_again(originals, tasks, cell);
            cell.borrow_mut().reserve(bytes)
        }
        other => other,
    }
}

/// `truncate(path, length)` on `held`, the object in a mirror its path
/// names (copied up already): its growth charged, settled at the exit.
pub(in crate::tracer) fn charge_truncate(
    thread: &dyn Stopped,
    held: &OwnedFd,
) -> Result<Option<Charge>, Errno> {
    let Some(cell) = thread.quota() else {
        return Ok(None);
    };
    let new = thread.argument(1) as i64;
    let stat = nix::sys::stat::fstat(held)?;
    if new < 0 || stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    let (key, size) = ((stat.st_dev, stat.st_ino), stat.st_size as u64);
    let reserved = admit(thread, cell, key, size, new as u64, false)?;
    Ok(Some(Charge {
        held: held.try_clone().map_err(|_| Errno::EMFILE)?,
        file: key,
        reserved,
    }))
}

/// Counts the layer's private files again (a scan of the mirrors: its
/// cost grows with the tree, and only a refusal or a run of unseen
/// bytes asks for it).
fn recount(thread: &dyn Stopped, cell: &RefCell<Quota>) {
    count_again(thread.cow_originals(), &thread.jail_tasks(), cell);
}

/// [`recount`] given what it reads of the jail: the `originals` a count
/// leaves out and the `tasks` whose descriptors and mappings may hold
/// removed files.
fn count_again(originals: &HashSet<FileKey>, tasks: &[Pid], cell: &RefCell<Quota>) {
    let mirrors = cell.borrow().mirrors().to_vec();
    match quota::count(&mirrors, originals) {
        Ok(mut sizes) => {
            let held = held_removed(originals, tasks, &mirrors);
            cell.borrow().keep_held(&mut sizes, held);
            cell.borrow_mut().recount(sizes);
            debug!(
                "cowquota: counted the layer again: {} bytes",
                cell.borrow().used()
            );
        }
        Err(error) => {
            warn!("cowquota: cannot count the layer again: {error}");
            cell.borrow_mut().recount_failed();
        }
    }
}

/// The layer's files the jail's processes hold open or mapped though no
/// name in a mirror leads to them any more (removed meanwhile): each with
/// its size, or `None` for a mapping (see [`Quota::keep_held`]). A
/// descriptor in flight in a unix socket's queue is held by no process
/// and is not found (docs/cow.md).
fn held_removed(
    originals: &HashSet<FileKey>,
    tasks: &[Pid],
    mirrors: &[(PathBuf, u64)],
) -> Vec<(FileKey, Option<u64>)> {
    let mut held = Vec::new();
    for tid in tasks {
        let fds = format!("/proc/{tid}/fd");
        for entry in std::fs::read_dir(&fds).into_iter().flatten().flatten() {
            let path = entry.path();
            // A name the kernel cannot give (past PATH_MAX) may be one
            // of the layer's too: judged by its object, as in
            // `private_file`. One still named is not counted twice.
            let removed = std::fs::read_link(&path).map_or(true, |target| {
                target
                    .as_os_str()
                    .as_encoded_bytes()
                    .ends_with(b" (deleted)")
                    && quota::in_mirrors(&target, mirrors)
            });
            if !removed {
                continue;
            }
            // stat follows the magic link to the object itself.
            let Ok(stat) = nix::sys::stat::stat(&path) else {
                continue;
            };
            let key = (stat.st_dev, stat.st_ino);
            if stat.st_mode & libc::S_IFMT == libc::S_IFREG
                && !originals.contains(&key)
                && mirrors.iter().any(|(_, dev)| *dev == stat.st_dev)
            {
                held.push((key, Some(stat.st_size as u64)));
            }
        }
        if let Ok(maps) = crate::procfs::read_to_string(format!("/proc/{tid}/maps")) {
            held.extend(
                maps.lines()
                    .filter_map(|line| quota::mapped_removed(line, mirrors, originals))
                    .map(|key| (key, None)),
            );
        }
    }
    held
}

/// Where the call leaves the file (`size` bytes now, `held` on the
/// program's own open file description) and whether it writes data;
/// `None` for arguments the kernel refuses itself.
fn end_of(
    thread: &dyn Stopped,
    growth: Growth,
    held: &OwnedFd,
    size: u64,
) -> Result<Option<(u64, bool)>, Errno> {
    let arg = |index: u8| thread.argument(index);
    match growth {
        Growth::Truncate { size: new, .. } => {
            let new = arg(new) as i64;
            Ok((new >= 0).then_some((new as u64, false)))
        }
        Growth::Allocate => quota::fallocate_end(arg(1) as i32, size, arg(2) as i64, arg(3) as i64),
        Growth::Write { len, at, .. } => {
            let Some(len) = length(thread, len)? else {
                return Ok(None);
            };
            let append = flags_of(held)? & libc::O_APPEND != 0;
            let (position, append) = match at {
                Place::Position => (position_of(held)?, append),
                Place::Offset(index) => match arg(index) as i64 {
                    offset if offset < 0 => return Ok(None),
                    offset => (offset as u64, append),
                },
                Place::OffsetOrPosition { offset, flags } => {
                    let flags = arg(flags);
                    let position = match arg(offset) as i64 {
                        -1 => position_of(held)?,
                        offset if offset < 0 => return Ok(None),
                        offset => offset as u64,
                    };
                    if flags & RWF_NOAPPEND != 0 && flags & RWF_APPEND == 0 {
                        // It writes at `position` even on an O_APPEND
                        // description (where the kernel knows the flag;
                        // elsewhere it is EOPNOTSUPP): charged the
                        // farther of the two ends, never the end alone,
                        // which would let a huge offset through.
                        let at = quota::end_of_write(size, position, len, false);
                        let appended = quota::end_of_write(size, position, len, append);
                        return Ok(Some((at.max(appended), len > 0)));
                    }
                    (position, append || flags & RWF_APPEND != 0)
                }
                Place::Pointer(index) => match pointed_offset(thread, arg(index))? {
                    None => (position_of(held)?, append),
                    Some(offset) if offset < 0 => return Ok(None),
                    Some(offset) => (offset as u64, append),
                },
            };
            Ok(Some((
                quota::end_of_write(size, position, len, append),
                len > 0,
            )))
        }
    }
}

/// The bytes a write moves, at most; `None` when the kernel refuses the
/// arguments (a bad iovec array).
fn length(thread: &dyn Stopped, len: Length) -> Result<Option<u64>, Errno> {
    let arg = |index: u8| thread.argument(index);
    match len {
        Length::Arg(index) => Ok(Some(arg(index).min(quota::MAX_RW_COUNT))),
        Length::Iovec { array, count } => {
            let count = arg(count) as i32;
            if count < 0 || count as u64 > quota::MAX_IOVECS {
                return Ok(None);
            }
            // Read once: another thread may change the array after, and
            // what that can add is bounded as the position race is
            // (docs/cow.md).
            let mut bytes = vec![0u8; count as usize * 16];
            thread.read(arg(array), &mut bytes)?;
            Ok(quota::iovec_total(&bytes))
        }
        Length::FromFile { fd, offset, max } => {
            let max = arg(max).min(quota::MAX_RW_COUNT);
            let source = match thread.take_descriptor(thread.tid(), signed(arg(fd))) {
                Ok(source) => source,
                Err(_) => return Ok(None),
            };
            let stat = nix::sys::stat::fstat(&source)?;
            match stat.st_mode & libc::S_IFMT {
                libc::S_IFREG => {
                    let from = match pointed_offset(thread, arg(offset))? {
                        None => position_of(&source)?,
                        Some(offset) if offset < 0 => return Ok(None),
                        Some(offset) => offset as u64,
                    };
                    Ok(Some(max.min((stat.st_size as u64).saturating_sub(from))))
                }
                libc::S_IFIFO => Ok(Some(max.min(crate::sys::bytes_waiting(&source)?))),
                _ => Ok(Some(max)),
            }
        }
        Length::FromPipe { fd, max } => {
            let max = arg(max).min(quota::MAX_RW_COUNT);
            match thread.take_descriptor(thread.tid(), signed(arg(fd))) {
                Ok(source) => match crate::sys::bytes_waiting(&source) {
                    Ok(waiting) => Ok(Some(max.min(waiting))),
                    Err(_) => Ok(Some(max)),
                },
                Err(_) => Ok(None),
            }
        }
    }
}

/// What a call through a descriptor that is not the layer's could add
/// to the layer had another task swapped a file of it in: where it can
/// leave that file's end, at most. A positioned call (a truncation, an
/// allocation, a write at an offset) can leave it at its offset plus its
/// length, whatever it held: counting only the length let one won race
/// of `ftruncate(fd, 1 TiB)`, which counted nothing, leave a 1 TiB file,
/// and let the race be run again on every file of the layer. A write at
/// the description's position counts its length: the position of a
/// description swapped in is not known (docs/cow.md).
fn unseen_length(thread: &dyn Stopped, growth: Growth) -> u64 {
    let arg = |index: u8| thread.argument(index);
    let past = |offset: i64, len: u64| (offset.max(0) as u64).saturating_add(len);
    match growth {
        Growth::Truncate { size, .. } => (arg(size) as i64).max(0) as u64,
        Growth::Allocate => past(arg(2) as i64, (arg(3) as i64).max(0) as u64),
        Growth::Write { len, at, .. } => {
            let len = match length(thread, len) {
                Ok(Some(len)) => len,
                _ => quota::MAX_RW_COUNT,
            };
            match at {
                Place::Position => len,
                Place::Offset(index) | Place::OffsetOrPosition { offset: index, .. } => {
                    past(arg(index) as i64, len)
                }
                Place::Pointer(index) => match pointed_offset(thread, arg(index)) {
                    Ok(Some(offset)) => past(offset, len),
                    Ok(None) => len,
                    Err(_) => u64::MAX,
                },
            }
        }
    }
}

/// The `loff_t` at `address` in the program's memory (`None` for NULL).
fn pointed_offset(thread: &dyn Stopped, address: u64) -> Result<Option<i64>, Errno> {
    if address == 0 {
        return Ok(None);
    }
    let mut bytes = [0u8; 8];
    thread.read(address, &mut bytes)?;
    Ok(Some(i64::from_ne_bytes(bytes)))
}

fn position_of(held: &OwnedFd) -> Result<u64, Errno> {
    let position = nix::unistd::lseek(held, 0, nix::unistd::Whence::SeekCur)?;
    Ok(u64::try_from(position).unwrap_or(0))
}

fn flags_of(held: &OwnedFd) -> Result<i32, Errno> {
    nix::fcntl::fcntl(held, nix::fcntl::FcntlArg::F_GETFL)
}
