//! A layer on disk: where it lives, making its mirrors, reading them back.
//!
//! Owns the layer directory's layout:
//!
//! ```text
//! <cowdir>/<hash>-<ident stem>/     0700, one per config and ident
//!     lock                          flock'ed by the run that uses it
//!     trees                         the real trees, one per line (hex)
//!     <n>.manifest                  tree n as it was (manifest.rs)
//!     <n>/                          tree n's mirror: the merged view
//! ```
//!
//! A mirror is made eagerly: every directory of the real tree is made
//! again (same mode), every regular file hard-linked (copied, by reflink
//! where the filesystem can, when a link cannot be made), symlinks made
//! again with the same target, fifos made; devices and sockets are left
//! out.

use super::CowError;
use super::changes::Scanned;
use super::manifest::{Entry, Kind, Manifest};
use nix::errno::Errno;
use nix::sys::stat::{FileStat, Mode};
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A layer, opened (and locked) for one run or command.
#[derive(Debug)]
pub struct Layer {
    /// `<cowdir>/<hash>-<ident stem>`.
    pub dir: PathBuf,
    /// One per `cow` tree, in config order.
    pub trees: Vec<Tree>,
    /// Held for as long as the layer is used: another run of the same
    /// config and ident waits for none, it is refused. `None` for a layer
    /// only looked at ([`Layer::look`]).
    _lock: Option<Held>,
}

type Held = nix::fcntl::Flock<OwnedFd>;

/// One cow tree of a layer.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The real tree, canonical.
    pub real: PathBuf,
    /// Its mirror.
    pub mirror: PathBuf,
    pub manifest: Manifest,
}

fn io_error(what: &'static str, path: &Path, errno: Errno) -> CowError {
    CowError::Io {
        what,
        path: path.to_path_buf(),
        errno,
    }
}

fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

/// The layer directory's name for a config and ident.
pub fn layer_name(config: &Path, ident: &[u8]) -> String {
    let mut key = config.as_os_str().as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(ident);
    let digest = ring::digest::digest(&ring::digest::SHA256, &key);
    let hash: String = digest.as_ref()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let stem = crate::ident::Ident::new(ident)
        .map(|ident| ident.file_stem())
        .unwrap_or_default();
    format!("{hash}-{stem}")
}

/// Makes (0700) or checks the directory layers live in: a directory of
/// this user's that neither group nor others can write, reached through
/// no symlink.
pub fn checked_base(base: &Path) -> Result<(), CowError> {
    match fs::DirBuilder::new().mode(0o700).create(base) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error("make the layer directory", base, errno_of(&error))),
    }
    let meta = fs::symlink_metadata(base)
        .map_err(|error| io_error("look at the layer directory", base, errno_of(&error)))?;
    let uid = nix::unistd::geteuid().as_raw();
    let problem = if !meta.file_type().is_dir() {
        Some("it is not a directory (or is a symlink)".to_owned())
    } else if meta.uid() != uid {
        Some(format!(
            "it belongs to uid {}, not to you ({uid})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "group or others can write it (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(CowError::UnsafeBase {
            path: base.to_path_buf(),
            problem,
        }),
        None => Ok(()),
    }
}

/// The canonical directory layers live in, `base` (already made and
/// checked by [`checked_base`]) with every symlink on its way resolved;
/// refused when it lies in any of `roots` (the policy's canonical `see`,
/// `write` and `cow` trees, by keyword) or holds one. The config checks
/// its lines as written; a symlink on the way (`cowdir /srv/link/layers`
/// with `/srv/link -> /srv/work`, a `write` tree) would put the layer
/// where the program reaches it by its own path, its mirrors' hard links
/// to the real trees' files included, never mapped nor copied up.
pub fn canonical_base(base: &Path, roots: &[(&str, &Path)]) -> Result<PathBuf, CowError> {
    let canonical = fs::canonicalize(base)
        .map_err(|error| io_error("look at the layer directory", base, errno_of(&error)))?;
    match overlapping_root(&canonical, roots) {
        Some(problem) => Err(CowError::UnsafeBase {
            path: base.to_path_buf(),
            problem,
        }),
        None => Ok(canonical),
    }
}

/// The problem with canonical `base` among `roots`: one it lies in, or
/// one it holds.
pub fn overlapping_root(base: &Path, roots: &[(&str, &Path)]) -> Option<String> {
    use crate::policy::is_within;
    roots.iter().find_map(|(keyword, root)| {
        if is_within(base, root) || is_within(root, base) {
            Some(format!(
                "it is {} and overlaps `{keyword} {}`: the program would reach the layer by \
                 its own path",
                base.display(),
                root.display()
            ))
        } else {
            None
        }
    })
}

fn lock(dir: &Path) -> Result<Held, CowError> {
    let path = dir.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode_0600()
        .open(&path)
        .map_err(|error| io_error("open the layer's lock", &path, errno_of(&error)))?;
    nix::fcntl::Flock::lock(
        OwnedFd::from(file),
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .map_err(|(_, errno)| match errno {
        Errno::EWOULDBLOCK => CowError::Busy {
            dir: dir.to_path_buf(),
        },
        errno => io_error("lock the layer", &path, errno),
    })
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
    }
}

fn trees_text(trees: &[PathBuf]) -> String {
    trees
        .iter()
        .map(|tree| {
            let hex: String = tree
                .as_os_str()
                .as_bytes()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            hex + "\n"
        })
        .collect()
}

impl Layer {
    /// Whether a layer exists at `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join("trees").exists()
    }

    /// Opens the layer at `dir` for `trees` (canonical), making it (and
    /// the mirrors) when there is none; an existing one is reused, the
    /// run continuing on it. A layer made for other trees is refused.
    pub fn open_or_make(dir: &Path, trees: &[PathBuf]) -> Result<Layer, CowError> {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io_error("make the layer", dir, errno_of(&error))),
        }
        let lock = lock(dir)?;
        let wanted = trees_text(trees);
        let trees_file = dir.join("trees");
        match fs::read_to_string(&trees_file) {
            Ok(text) if text == wanted => return Layer::read(dir, trees, Some(lock)),
            Ok(_) => {
                return Err(CowError::OtherTrees {
                    dir: dir.to_path_buf(),
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(io_error("read the layer", &trees_file, errno_of(&error)));
            }
        }
        let mut made = Vec::new();
        for (index, real) in trees.iter().enumerate() {
            let mirror = dir.join(index.to_string());
            // Left over from a start that did not finish.
            let _ = fs::remove_dir_all(&mirror);
            let manifest = make_mirror(real, &mirror)?;
            let manifest_path = dir.join(format!("{index}.manifest"));
            write_new(&manifest_path, manifest.to_text().as_bytes())?;
            made.push(Tree {
                real: real.clone(),
                mirror,
                manifest,
            });
        }
        // Written last: a layer without it is not one yet.
        write_new(&trees_file, wanted.as_bytes())?;
        Ok(Layer {
            dir: dir.to_path_buf(),
            trees: made,
            _lock: Some(lock),
        })
    }

    /// Opens the existing layer at `dir` (for `changes`, `commit`,
    /// `discard`), with the trees it was made for.
    pub fn open(dir: &Path) -> Result<Layer, CowError> {
        if !Layer::exists(dir) {
            return Err(CowError::NoLayer {
                dir: dir.to_path_buf(),
            });
        }
        let lock = lock(dir)?;
        Layer::open_with(dir, Some(lock))
    }

    /// Opens the existing layer at `dir` to read its changes only, also
    /// while a run or a session uses it (`changes`): it must not be
    /// committed or removed.
    pub fn look(dir: &Path) -> Result<Layer, CowError> {
        if !Layer::exists(dir) {
            return Err(CowError::NoLayer {
                dir: dir.to_path_buf(),
            });
        }
        Layer::open_with(dir, None)
    }

    fn open_with(dir: &Path, lock: Option<Held>) -> Result<Layer, CowError> {
        let trees_file = dir.join("trees");
        let text = fs::read_to_string(&trees_file)
            .map_err(|error| io_error("read the layer", &trees_file, errno_of(&error)))?;
        let mut trees = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let bytes: Option<Vec<u8>> = (0..line.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(line.get(at..at + 2)?, 16).ok())
                .collect();
            let bytes = bytes.ok_or_else(|| CowError::Corrupt {
                path: trees_file.clone(),
                line: index + 1,
            })?;
            trees.push(PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)));
        }
        Layer::read(dir, &trees, lock)
    }

    fn read(dir: &Path, trees: &[PathBuf], lock: Option<Held>) -> Result<Layer, CowError> {
        let mut read = Vec::new();
        for (index, real) in trees.iter().enumerate() {
            let path = dir.join(format!("{index}.manifest"));
            let text = fs::read_to_string(&path)
                .map_err(|error| io_error("read the manifest", &path, errno_of(&error)))?;
            let manifest =
                Manifest::from_text(&text).map_err(|line| CowError::Corrupt { path, line })?;
            read.push(Tree {
                real: real.clone(),
                mirror: dir.join(index.to_string()),
                manifest,
            });
        }
        Ok(Layer {
            dir: dir.to_path_buf(),
            trees: read,
            _lock: lock,
        })
    }

    /// Removes the layer from disk (discard, or after a commit).
    pub fn remove(self) -> Result<(), CowError> {
        if self._lock.is_none() {
            // Only looked at: a run or session may be using it.
            return Err(CowError::Busy { dir: self.dir });
        }
        // The mirrors' directories may have lost their write bits.
        make_writable(&self.dir);
        fs::remove_dir_all(&self.dir)
            .map_err(|error| io_error("remove the layer", &self.dir, errno_of(&error)))
    }
}

fn make_writable(dir: &Path) {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.file_type().is_dir() {
        return;
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_writable(&entry.path());
        }
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CowError> {
    use std::io::Write;
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode_0600()
        .open(path)
        .map_err(|error| io_error("write", path, errno_of(&error)))?;
    file.write_all(bytes)
        .map_err(|error| io_error("write", path, errno_of(&error)))
}

fn stat_entry(path: PathBuf, stat: &FileStat, kind: Kind) -> Entry {
    Entry {
        path,
        kind,
        original: (stat.st_dev, stat.st_ino),
        mirror_ino: 0,
        size: stat.st_size as u64,
        mtime: (stat.st_mtime, stat.st_mtime_nsec),
        mode: stat.st_mode & 0o7777,
        target: None,
        unreadable: false,
    }
}

/// Makes `mirror` from `real`; the manifest of what it found.
pub fn make_mirror(real: &Path, mirror: &Path) -> Result<Manifest, CowError> {
    let root = nix::sys::stat::lstat(real).map_err(|errno| io_error("look at", real, errno))?;
    if Kind::of_mode(root.st_mode) != Some(Kind::Dir) {
        return Err(io_error("mirror", real, Errno::ENOTDIR));
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(mirror)
        .map_err(|error| io_error("make the mirror", mirror, errno_of(&error)))?;
    let mirror_dev = nix::sys::stat::lstat(mirror)
        .map_err(|errno| io_error("look at", mirror, errno))?
        .st_dev;
    let mut manifest = Manifest {
        tree: real.to_path_buf(),
        mirror_dev,
        entries: Vec::new(),
    };
    let mut modes = Vec::new();
    walk(
        real,
        mirror,
        Path::new(""),
        &root,
        &mut manifest,
        &mut modes,
    )?;
    // Directories get their own modes last, deepest first: a 0555 one
    // had to stay writable while it was filled.
    for (path, mode) in modes.into_iter().rev() {
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode));
    }
    Ok(manifest)
}

fn walk(
    real_root: &Path,
    mirror_root: &Path,
    rel: &Path,
    dir_stat: &FileStat,
    manifest: &mut Manifest,
    modes: &mut Vec<(PathBuf, u32)>,
) -> Result<(), CowError> {
    let real = real_root.join(rel);
    let mirror = mirror_root.join(rel);
    let mut entry = stat_entry(rel.to_path_buf(), dir_stat, Kind::Dir);
    entry.mirror_ino = nix::sys::stat::lstat(&mirror)
        .map_err(|errno| io_error("look at", &mirror, errno))?
        .st_ino;
    manifest.entries.push(entry);
    modes.push((mirror.clone(), dir_stat.st_mode & 0o7777));
    let listing = match fs::read_dir(&real) {
        Ok(listing) => listing,
        Err(error) => {
            // The program could not list it either.
            log::warn!(
                "cow: {} cannot be listed ({error}); its mirror is empty",
                real.display()
            );
            return Ok(());
        }
    };
    let mut names: Vec<_> = listing.flatten().map(|entry| entry.file_name()).collect();
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let from = real_root.join(&rel);
        let to = mirror_root.join(&rel);
        let Ok(stat) = nix::sys::stat::lstat(&from) else {
            continue;
        };
        let mut placeholder = false;
        let Some(kind) = Kind::of_mode(stat.st_mode) else {
            log::debug!(
                "cow: {} is a device or socket: not mirrored",
                from.display()
            );
            continue;
        };
        match kind {
            Kind::Dir => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&to)
                    .map_err(|error| io_error("make", &to, errno_of(&error)))?;
                walk(real_root, mirror_root, &rel, &stat, manifest, modes)?;
                continue;
            }
            Kind::File => placeholder = link_or_copy(&from, &to, &stat)? == Mirrored::Placeholder,
            Kind::Symlink => {
                let target = fs::read_link(&from)
                    .map_err(|error| io_error("read the link", &from, errno_of(&error)))?;
                std::os::unix::fs::symlink(&target, &to)
                    .map_err(|error| io_error("make the link", &to, errno_of(&error)))?;
            }
            Kind::Fifo => {
                nix::unistd::mkfifo(&to, Mode::from_bits_truncate(stat.st_mode & 0o7777))
                    .map_err(|errno| io_error("make the fifo", &to, errno))?;
            }
        }
        let mut entry = stat_entry(rel.clone(), &stat, kind);
        entry.unreadable = placeholder;
        entry.mirror_ino = nix::sys::stat::lstat(&to)
            .map_err(|errno| io_error("look at", &to, errno))?
            .st_ino;
        if kind == Kind::Symlink {
            entry.target = fs::read_link(&to).ok();
        }
        manifest.entries.push(entry);
    }
    Ok(())
}

/// How a file of the real tree is in its mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mirrored {
    Linked,
    Copied,
    Placeholder,
}

/// A hard link to the original where the kernel allows one (same
/// filesystem; with `protected_hardlinks`, a file one owns or can write),
/// else a copy with its mode and times, else (a file the user cannot
/// read) a placeholder: a file the user cannot read either.
fn link_or_copy(from: &Path, to: &Path, stat: &FileStat) -> Result<Mirrored, CowError> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(Mirrored::Linked);
    }
    match copy_file(from, to, stat) {
        Ok(()) => Ok(Mirrored::Copied),
        Err(CowError::Io {
            errno: Errno::EACCES,
            path,
            ..
        }) if path == from => {
            log::debug!("cow: {} cannot be read: a placeholder", from.display());
            make_placeholder(to, stat)?;
            Ok(Mirrored::Placeholder)
        }
        Err(error) => Err(error),
    }
}

/// A placeholder at `to` for the unreadable file `stat` describes: mode
/// 0000 (an open by the program fails with `EACCES`, as the original's
/// would), its size as a hole, and its times. It holds no byte of the
/// original.
fn make_placeholder(to: &Path, stat: &FileStat) -> Result<(), CowError> {
    use std::os::unix::fs::OpenOptionsExt;
    let made = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(to)
        .map_err(|error| io_error("make", to, errno_of(&error)))?;
    made.set_len(u64::try_from(stat.st_size).unwrap_or(0))
        .map_err(|error| io_error("size", to, errno_of(&error)))?;
    let atime = nix::sys::time::TimeSpec::new(stat.st_atime, stat.st_atime_nsec);
    let mtime = nix::sys::time::TimeSpec::new(stat.st_mtime, stat.st_mtime_nsec);
    nix::sys::stat::futimens(&made, &atime, &mtime).map_err(|errno| io_error("time", to, errno))?;
    nix::sys::stat::fchmod(&made, Mode::empty()).map_err(|errno| io_error("mode", to, errno))
}

/// Copies regular file `from` to the new name `to` (reflink first), with
/// `stat`'s mode and modification time.
pub(super) fn copy_file(from: &Path, to: &Path, stat: &FileStat) -> Result<(), CowError> {
    use std::os::unix::fs::OpenOptionsExt;
    let source = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(from)
        .map_err(|error| io_error("read", from, errno_of(&error)))?;
    let dest = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(to)
        .map_err(|error| io_error("write", to, errno_of(&error)))?;
    copy_contents(&source, &dest).map_err(|errno| io_error("copy", from, errno))?;
    finish_copy(&source, &dest, stat).map_err(|errno| io_error("copy", to, errno))
}

/// Copies the bytes of `source` into the empty `dest`: a reflink where
/// the filesystem shares extents, else [`copy_bytes`].
pub(super) fn copy_contents(source: &fs::File, dest: &fs::File) -> Result<(), Errno> {
    if crate::sys::ficlone(dest, source).is_ok() {
        return Ok(());
    }
    copy_bytes(source, dest)
}

/// Copies `source` into the empty `dest`. Holes stay holes: only the data
/// is copied (`copy_file_range` in the kernel, else through a buffer on
/// the stack), and the size set at the end. A sparse file costs its
/// data, not its size: one of 16 TiB (which a won race can leave in a
/// layer, docs/cow.md) commits in no time and takes no room, where
/// writing its zeros would fill the disk. A file with no size to go by
/// (of /proc or /sys) is read to its end. Async-signal-safe (nothing is
/// allocated): the tracer's copier process runs it after `fork`.
pub(crate) fn copy_bytes(source: &fs::File, dest: &fs::File) -> Result<(), Errno> {
    use nix::unistd::{Whence, lseek};
    let size = u64::try_from(nix::sys::stat::fstat(source)?.st_size).unwrap_or(0);
    let mut buffer = [0u8; 1 << 16];
    if size == 0 {
        // Streamed: such a file may hold bytes that neither its size nor
        // copy_file_range would show.
        loop {
            let read = match nix::unistd::read(source, &mut buffer) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            };
            let mut written = 0;
            while written < read {
                match nix::unistd::write(dest, &buffer[written..read]) {
                    Ok(0) => return Err(Errno::EIO),
                    Ok(count) => written += count,
                    Err(Errno::EINTR) => {}
                    Err(errno) => return Err(errno),
                }
            }
        }
    }
    let mut at: u64 = 0;
    loop {
        let data = match lseek(source, at as i64, Whence::SeekData) {
            Ok(data) => data as u64,
            // Only a hole is left.
            Err(Errno::ENXIO) => break,
            // No SEEK_DATA here: all of it is data.
            Err(_) => at,
        };
        let hole = lseek(source, data as i64, Whence::SeekHole).map_or(u64::MAX, |h| h as u64);
        let mut position = data;
        while position < hole {
            let copied = copy_range(source, dest, position, hole - position, &mut buffer)?;
            if copied == 0 {
                break;
            }
            position += copied;
        }
        if position == data {
            // The end of the file.
            break;
        }
        at = position;
    }
    let written = u64::try_from(nix::sys::stat::fstat(dest)?.st_size).unwrap_or(0);
    if written < size {
        nix::unistd::ftruncate(dest, size as i64)?;
    }
    Ok(())
}

/// Copies up to `len` bytes at `position` of `source` to the same place
/// of `dest`; how many (0 at the end of `source`).
fn copy_range(
    source: &fs::File,
    dest: &fs::File,
    position: u64,
    len: u64,
    buffer: &mut [u8],
) -> Result<u64, Errno> {
    let chunk = len.min(1 << 30) as usize;
    loop {
        let (mut from, mut to) = (position as i64, position as i64);
        match nix::fcntl::copy_file_range(source, Some(&mut from), dest, Some(&mut to), chunk) {
            Ok(copied) => return Ok(copied as u64),
            Err(Errno::EINTR) => continue,
            // Not between these files: through the buffer below.
            Err(Errno::EXDEV | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => break,
            Err(errno) => return Err(errno),
        }
    }
    let want = chunk.min(buffer.len());
    let read = loop {
        match nix::sys::uio::pread(source, &mut buffer[..want], position as i64) {
            Ok(read) => break read,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    };
    let mut written = 0;
    while written < read {
        match nix::sys::uio::pwrite(
            dest,
            &buffer[written..read],
            (position + written as u64) as i64,
        ) {
            Ok(0) => return Err(Errno::EIO),
            Ok(count) => written += count,
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(read as u64)
}

/// Gives a copy the original's extended attributes (those the kernel
/// lets the jail's user set), mode and access and modification times.
pub(super) fn finish_copy(
    source: &fs::File,
    dest: &fs::File,
    stat: &FileStat,
) -> Result<(), Errno> {
    copy_xattrs(source, dest)?;
    nix::sys::stat::fchmod(dest, Mode::from_bits_truncate(stat.st_mode & 0o7777))?;
    let atime = nix::sys::time::TimeSpec::new(stat.st_atime, stat.st_atime_nsec);
    let mtime = nix::sys::time::TimeSpec::new(stat.st_mtime, stat.st_mtime_nsec);
    nix::sys::stat::futimens(dest, &atime, &mtime)
}

/// Copies every extended attribute of `source` to `dest`: `user.*`, and
/// `security.*`, `trusted.*` and `system.*` (ACLs) as far as the kernel
/// lets the jail's user set them. One it refuses (`EPERM`, `ENOTSUP`:
/// a capability set, a label the user may not give) is left out, as
/// `cp --preserve=xattr` does; no room (`ENOSPC`, `EDQUOT`) fails the
/// copy as the data's would.
pub(super) fn copy_xattrs(source: &fs::File, dest: &fs::File) -> Result<(), Errno> {
    let names = match crate::sys::list_xattrs(source) {
        Ok(names) => names,
        // A filesystem without extended attributes.
        Err(Errno::ENOTSUP) => return Ok(()),
        Err(errno) => return Err(errno),
    };
    for name in names.split_inclusive(|byte| *byte == 0) {
        let Ok(name) = std::ffi::CStr::from_bytes_with_nul(name) else {
            continue;
        };
        let set = crate::sys::get_xattr(source, name)
            .and_then(|value| crate::sys::set_xattr(dest, name, &value));
        match set {
            Ok(()) => {}
            Err(errno @ (Errno::ENOSPC | Errno::EDQUOT)) => return Err(errno),
            Err(errno) => log::debug!("cow: extended attribute {name:?} not copied: {errno}"),
        }
    }
    Ok(())
}

/// Every object of a mirror, parents before children.
pub fn scan(mirror: &Path) -> Result<Vec<Scanned>, CowError> {
    let mut out = Vec::new();
    let root = nix::fcntl::open(
        mirror,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| io_error("look at", mirror, errno))?;
    scan_dir(&root, mirror, Path::new(""), &mut out)?;
    Ok(out)
}

/// Scans `rel` (held as `object`, an `O_PATH` descriptor that does not
/// follow it) and what it holds. Walked by descriptors, never by paths
/// (`root` and `rel` only name things in messages): a program can nest
/// its directories past PATH_MAX, renaming short names under ever deeper
/// ones, where a path names nothing; a scan by paths failed there, and
/// the layer could then be neither counted, listed, discarded nor used
/// by the next run.
fn scan_dir(
    object: &OwnedFd,
    root: &Path,
    rel: &Path,
    out: &mut Vec<Scanned>,
) -> Result<(), CowError> {
    use nix::fcntl::OFlag;
    use std::os::fd::{AsFd, AsRawFd};
    let path = root.join(rel);
    let stat = nix::sys::stat::fstat(object).map_err(|errno| io_error("look at", &path, errno))?;
    let Some(kind) = Kind::of_mode(stat.st_mode) else {
        return Ok(());
    };
    out.push(Scanned {
        path: rel.to_path_buf(),
        kind,
        ino: stat.st_ino,
        size: stat.st_size as u64,
        mtime: (stat.st_mtime, stat.st_mtime_nsec),
        mode: stat.st_mode & 0o7777,
        target: if kind == Kind::Symlink {
            nix::fcntl::readlinkat(object.as_fd(), "")
                .ok()
                .map(PathBuf::from)
        } else {
            None
        },
    });
    if kind != Kind::Dir {
        return Ok(());
    }
    // The directory itself, through its magic link: reading it needs
    // read permission on it alone, and a chmod reaches exactly it.
    let itself = format!("/proc/self/fd/{}", object.as_raw_fd());
    let open_listing = || fs::read_dir(&itself).map_err(|error| errno_of(&error));
    let chmod = |mode: u32| {
        let _ = fs::set_permissions(&itself, fs::Permissions::from_mode(mode));
    };
    let listing = match open_listing() {
        Ok(listing) => listing,
        // A directory the program made unreadable: make it readable to
        // look (it is the layer's own).
        Err(_) => {
            chmod((stat.st_mode & 0o7777) | 0o700);
            let listing = open_listing().map_err(|errno| io_error("list", &path, errno));
            chmod(stat.st_mode & 0o7777);
            listing?
        }
    };
    let mut names: Vec<std::ffi::OsString> =
        listing.flatten().map(|entry| entry.file_name()).collect();
    names.sort();
    for name in names {
        let child = nix::fcntl::openat(
            object.as_fd(),
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| io_error("look at", &path.join(&name), errno))?;
        scan_dir(&child, root, &rel.join(&name), out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cow::changes::{changes, summary};

    #[test]
    fn a_sparse_file_is_copied_as_sparse_and_a_sizeless_one_to_its_end() {
        use std::os::unix::fs::FileExt;
        let dir = temp();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        let source = fs::File::create(&from).unwrap();
        source.write_all_at(b"head", 0).unwrap();
        source.write_all_at(b"middle", 1 << 30).unwrap();
        source.set_len(1 << 40).unwrap();
        let source = fs::File::open(&from).unwrap();
        let dest = fs::File::create(&to).unwrap();
        copy_contents(&source, &dest).unwrap();
        let meta = fs::metadata(&to).unwrap();
        assert_eq!(meta.len(), 1 << 40);
        assert!(meta.blocks() * 512 < 1 << 20, "{} blocks", meta.blocks());
        let copy = fs::File::open(&to).unwrap();
        let mut bytes = [0u8; 6];
        copy.read_exact_at(&mut bytes[..4], 0).unwrap();
        assert_eq!(&bytes[..4], b"head");
        copy.read_exact_at(&mut bytes, 1 << 30).unwrap();
        assert_eq!(&bytes, b"middle");
        // A file of /proc has no size: read to its end.
        let source = fs::File::open("/proc/self/status").unwrap();
        let to = dir.path().join("status");
        let dest = fs::File::create(&to).unwrap();
        copy_contents(&source, &dest).unwrap();
        assert!(fs::read_to_string(&to).unwrap().contains("Pid:"));
    }

    fn temp() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("sbx-cow-")
            .tempdir_in("/tmp")
            .expect("a temp dir")
    }

    #[test]
    fn a_mirror_links_files_and_remakes_the_rest() {
        let dir = temp();
        let real = dir.path().join("real");
        fs::create_dir_all(real.join("sub/deeper")).unwrap();
        fs::write(real.join("a"), "alpha").unwrap();
        fs::write(real.join("sub/b"), "beta").unwrap();
        std::os::unix::fs::symlink("../a", real.join("sub/link")).unwrap();
        nix::unistd::mkfifo(&real.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
        fs::set_permissions(real.join("sub/deeper"), fs::Permissions::from_mode(0o555)).unwrap();
        let mirror = dir.path().join("mirror");
        let manifest = make_mirror(&real, &mirror).expect("a mirror");
        let ino = |path: &Path| fs::symlink_metadata(path).unwrap().ino();
        assert_eq!(ino(&mirror.join("a")), ino(&real.join("a")), "a hard link");
        assert_eq!(
            fs::read_link(mirror.join("sub/link")).unwrap(),
            Path::new("../a")
        );
        assert!(
            fs::symlink_metadata(mirror.join("fifo"))
                .unwrap()
                .file_type()
                .is_fifo_like()
        );
        assert_eq!(
            fs::symlink_metadata(mirror.join("sub/deeper"))
                .unwrap()
                .mode()
                & 0o7777,
            0o555
        );
        assert_eq!(manifest.entries.len(), 7);
        assert_eq!(manifest.originals().len(), 2);
        let scanned = scan(&mirror).unwrap();
        assert!(
            changes(&manifest, &scanned).is_empty(),
            "nothing changed yet"
        );
        // A change, seen by a scan.
        fs::remove_file(mirror.join("a")).unwrap();
        fs::write(mirror.join("a"), "new alpha").unwrap();
        let found = changes(&manifest, &scan(&mirror).unwrap());
        assert_eq!(
            summary(&real, &found),
            [format!("M {}/a (5 -> 9 bytes)", real.display())]
        );
        assert_eq!(
            fs::read_to_string(real.join("a")).unwrap(),
            "alpha",
            "untouched"
        );
        fs::set_permissions(real.join("sub/deeper"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_layer_directory_reached_through_a_symlink_into_a_tree_is_refused() {
        let dir = temp();
        let work = dir.path().join("work");
        fs::create_dir(&work).unwrap();
        std::os::unix::fs::symlink(&work, dir.path().join("link")).unwrap();
        let base = dir.path().join("link/layers");
        checked_base(&base).expect("made 0700, owned by us");
        let tree = dir.path().join("tree");
        let roots = [("cow", tree.as_path()), ("write", work.as_path())];
        let refused = canonical_base(&base, &roots).unwrap_err().to_string();
        assert!(refused.contains("overlaps `write "), "{refused}");
        // A base holding a tree is refused too; one apart from them is
        // canonical.
        let apart = dir.path().join("layers");
        checked_base(&apart).unwrap();
        assert_eq!(canonical_base(&apart, &roots).unwrap(), apart);
        assert!(overlapping_root(dir.path(), &roots).is_some());
        assert!(
            overlapping_root(Path::new("/srv/layers"), &[("see", Path::new("/srv/lay"))]).is_none()
        );
    }

    trait FifoLike {
        fn is_fifo_like(&self) -> bool;
    }
    impl FifoLike for fs::FileType {
        fn is_fifo_like(&self) -> bool {
            use std::os::unix::fs::FileTypeExt;
            self.is_fifo()
        }
    }

    #[test]
    fn a_layer_is_reused_and_refused_for_other_trees() {
        let dir = temp();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::write(real.join("a"), "alpha").unwrap();
        let base = dir.path().join("layers");
        checked_base(&base).expect("made 0700");
        let layer_dir = base.join(layer_name(Path::new("/x.conf"), b"alice"));
        let layer = Layer::open_or_make(&layer_dir, std::slice::from_ref(&real)).unwrap();
        assert!(matches!(
            Layer::open(&layer_dir),
            Err(CowError::Busy { .. })
        ));
        fs::write(layer.trees[0].mirror.join("new"), "n").unwrap();
        drop(layer);
        let again = Layer::open_or_make(&layer_dir, std::slice::from_ref(&real)).unwrap();
        assert!(
            again.trees[0].mirror.join("new").exists(),
            "the run continues on it"
        );
        drop(again);
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        assert!(matches!(
            Layer::open_or_make(&layer_dir, &[other]),
            Err(CowError::OtherTrees { .. })
        ));
        Layer::open(&layer_dir).unwrap().remove().unwrap();
        assert!(!layer_dir.exists());
        // A directory others can write is refused.
        fs::set_permissions(&base, fs::Permissions::from_mode(0o777)).unwrap();
        let refused = checked_base(&base).unwrap_err().to_string();
        assert!(
            refused.contains("group or others can write it"),
            "{refused}"
        );
    }
}
