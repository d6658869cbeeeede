//! `cowquota`: how many bytes a layer's private files hold, and whether a
//! call may make them more.
//!
//! Owns the count (per inode of a regular file in a mirror that is not an
//! original: copies made at a first write, files the program created; each
//! inode once, by its size) and the decisions, as pure functions over plain
//! numbers: where a write ends ([`end_of_write`]), what `fallocate` does to
//! a file's size ([`fallocate_end`]), the length of an iovec array
//! ([`iovec_total`]), and whether the layer admits a growth ([`admits`]).
//! Directories, symlinks and fifos are not counted (their size is the
//! filesystem's, not the program's bytes), nor are xattrs.
//!
//! A call that grows a file reserves its growth at its entry stop
//! ([`Quota::admit`]) and settles at its exit stop with the file's real
//! size ([`Quota::settle`]): calls in flight at once are all counted, and
//! a short or failed write gives back what it did not use. The tracer
//! reads the numbers (sizes, positions, lengths) from the kernel and the
//! program's memory; this module does no I/O but [`count`], the scan of
//! the mirrors at start and after removals.

use nix::errno::Errno;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A file of the layer: (device, inode).
pub type FileKey = (u64, u64);

/// The most bytes one read or write moves (`MAX_RW_COUNT`: `INT_MAX`
/// rounded down to a page); the kernel shortens longer calls to it.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// The most entries of an iovec array (`UIO_MAXIOV`); more is `EINVAL`.
pub const MAX_IOVECS: u64 = 1024;

/// A layer's count against its `cowquota`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    limit: u64,
    /// The mirrors, to count again.
    mirrors: Vec<(PathBuf, u64)>,
    /// Each private regular file's size as last seen.
    sizes: HashMap<FileKey, u64>,
    /// Their sum, kept with them (a stop never adds them all up).
    total: u64,
    /// The growth reserved by calls between their entry and exit stops.
    in_flight: u64,
    /// A name was removed or replaced, or a file opened with `O_TRUNC`,
    /// since the last count: a refusal counts again first.
    stale: bool,
    /// The bytes calls moved, since the last count, through descriptors
    /// that were no private file of the layer when the jail looked, in
    /// tasks whose descriptor table another task shares: that task could
    /// have put a file of the layer at the number before the kernel
    /// looked, so up to this much may have landed in the layer unseen.
    unseen: u64,
    /// What a count may find before calls through descriptors another
    /// task could swap are refused: the limit, or what a kept layer
    /// already held at start when that is more.
    ceiling: u64,
}

impl Quota {
    /// A quota of `limit` bytes over `mirrors` (each with its device),
    /// whose private files have `sizes` now.
    pub fn new(limit: u64, mirrors: Vec<(PathBuf, u64)>, sizes: HashMap<FileKey, u64>) -> Quota {
        let total = sum(&sizes);
        let mut quota = Quota {
            limit,
            mirrors,
            sizes,
            total,
            in_flight: 0,
            stale: false,
            unseen: 0,
            ceiling: limit,
        };
        quota.ceiling = limit.max(quota.used());
        quota
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The bytes counted: every private file's size and every growth in
    /// flight.
    pub fn used(&self) -> u64 {
        self.total.saturating_add(self.in_flight)
    }

    /// Whether a removal may have given space back since the last count.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Something may have given space back that no stop saw (a removal,
    /// an `O_TRUNC` open).
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// The mirrors to count.
    pub fn mirrors(&self) -> &[(PathBuf, u64)] {
        &self.mirrors
    }

    /// Adds to a new count (from [`count`], which sees only names) the
    /// files the jail's processes still hold open or mapped with no name
    /// left: `held`, each with its size now, or `None` (a mapping only:
    /// it cannot grow) for the size last counted. Their blocks stay taken
    /// until the last holder lets go, so they still count; otherwise a
    /// program could fill the quota, remove the file keeping it open,
    /// have the next count give the space back, and do it again, holding
    /// many times the quota on disk.
    pub fn keep_held(
        &self,
        sizes: &mut HashMap<FileKey, u64>,
        held: impl IntoIterator<Item = (FileKey, Option<u64>)>,
    ) {
        for (key, size) in held {
            if let Some(size) = size.or_else(|| self.sizes.get(&key).copied()) {
                sizes.entry(key).or_insert(size);
            }
        }
    }

    /// A new count of the files (from [`count`]); growths in flight stay.
    pub fn recount(&mut self, sizes: HashMap<FileKey, u64>) {
        self.total = sum(&sizes);
        self.sizes = sizes;
        self.stale = false;
        self.unseen = 0;
    }

    /// Whether the layer must be counted again before a call of `len`
    /// bytes through a descriptor another task could swap (see
    /// `unseen`): what such calls could have added since the last count
    /// would pass the limit. So the layer never holds more than the limit
    /// and the calls in flight at a count.
    pub fn must_count_before_unseen(&self, len: u64) -> bool {
        self.used().saturating_add(self.unseen).saturating_add(len) > self.limit
    }

    /// A call of `len` bytes through a descriptor another task could
    /// swap, with the layer counted (again, if [`Quota::must_count_before_unseen`]
    /// said so): `ENOSPC` when the count found the layer past its limit
    /// (only a race gets it there), so that such a race gains at most
    /// the calls in flight when it was won; otherwise it runs.
    pub fn admit_unseen(&mut self, len: u64) -> Result<(), Errno> {
        if len > 0 && self.used() > self.ceiling {
            return Err(Errno::ENOSPC);
        }
        self.unseen = self.unseen.saturating_add(len);
        Ok(())
    }

    /// Reserves `bytes` for a copy-up (its inode is not known before it
    /// is made); `ENOSPC` when the layer cannot take them.
    pub fn reserve(&mut self, bytes: u64) -> Result<(), Errno> {
        if !admits(self.used(), self.limit, bytes, bytes > 0) {
            return Err(Errno::ENOSPC);
        }
        self.in_flight = self.in_flight.saturating_add(bytes);
        Ok(())
    }

    /// A count that failed: the old one stays, and is not counted again
    /// at every refusal.
    pub fn recount_failed(&mut self) {
        self.stale = false;
    }

    /// File `key` has `size` bytes now.
    pub fn seen(&mut self, key: FileKey, size: u64) {
        let before = self.sizes.insert(key, size).unwrap_or(0);
        // Exact while the sum fits; past u64::MAX it stays saturated
        // until the next count.
        self.total = self.total.saturating_sub(before).saturating_add(size);
    }

    /// A call is about to make file `key` (now `size` bytes) end at `end`
    /// (`writes`: it writes data, not only a size). `Ok(growth)`, reserved
    /// until [`Quota::settle`]; `ENOSPC` when the layer cannot take it.
    pub fn admit(&mut self, key: FileKey, size: u64, end: u64, writes: bool) -> Result<u64, Errno> {
        self.seen(key, size);
        let growth = end.saturating_sub(size);
        if !admits(self.used(), self.limit, growth, writes) {
            return Err(Errno::ENOSPC);
        }
        self.in_flight = self.in_flight.saturating_add(growth);
        Ok(growth)
    }

    /// A call admitted with `reserved` bytes of growth has ended; file
    /// `key`, if it could be looked at, has `size` bytes now.
    pub fn settle(&mut self, reserved: u64, file: Option<(FileKey, u64)>) {
        self.in_flight = self.in_flight.saturating_sub(reserved);
        if let Some((key, size)) = file {
            self.seen(key, size);
        }
    }
}

fn sum(sizes: &HashMap<FileKey, u64>) -> u64 {
    sizes
        .values()
        .fold(0, |total: u64, size| total.saturating_add(*size))
}

/// Whether a layer holding `used` bytes of at most `limit` takes a call
/// that grows a file by `growth` bytes. A call that grows nothing is
/// refused only when it writes data while the layer is already past the
/// limit (only a race or a smaller quota on a kept layer gets it there):
/// then nothing is written into the layer until space is given back,
/// which bounds what a race can gain. Shrinking is always allowed.
pub fn admits(used: u64, limit: u64, growth: u64, writes: bool) -> bool {
    if growth == 0 {
        return !writes || used <= limit;
    }
    used.checked_add(growth).is_some_and(|total| total <= limit)
}

/// Where a write of `len` bytes ends in a file of `size` bytes, starting
/// at `position` (ignored with `append`: `O_APPEND`, which Linux applies
/// to `pwrite` too, or `RWF_APPEND`). `len` is shortened as the kernel
/// does ([`MAX_RW_COUNT`]); a write of nothing ends nowhere new.
pub fn end_of_write(size: u64, position: u64, len: u64, append: bool) -> u64 {
    let len = len.min(MAX_RW_COUNT);
    if len == 0 {
        return size;
    }
    let start = if append { size } else { position };
    start.saturating_add(len)
}

/// What `fallocate(fd, mode, offset, len)` makes of a file of `size`
/// bytes: `Ok(Some((end, writes)))`, the size it ends with and whether
/// it allocates; `Ok(None)` for arguments the kernel refuses by itself
/// (it runs and fails); `EOPNOTSUPP` for `FALLOC_FL_KEEP_SIZE`
/// allocations, which take blocks past the end that no size shows (the
/// count could not see them).
pub fn fallocate_end(
    mode: i32,
    size: u64,
    offset: i64,
    len: i64,
) -> Result<Option<(u64, bool)>, Errno> {
    if offset < 0 || len <= 0 {
        return Ok(None);
    }
    let (offset, len) = (offset as u64, len as u64);
    let end = offset.saturating_add(len);
    const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    match mode {
        0 | libc::FALLOC_FL_ZERO_RANGE => Ok(Some((size.max(end), true))),
        PUNCH => Ok(Some((size, false))),
        libc::FALLOC_FL_COLLAPSE_RANGE => Ok(Some((size.saturating_sub(len), false))),
        libc::FALLOC_FL_INSERT_RANGE => Ok(Some((size.saturating_add(len), true))),
        libc::FALLOC_FL_UNSHARE_RANGE => Ok(Some((size, true))),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// The bytes an iovec array (`struct iovec[]`, as read from the program)
/// moves, as the kernel adds them up: `None` when it refuses the array
/// (`EINVAL`: a length below zero as `ssize_t`, or a sum past it), else
/// the sum, at most [`MAX_RW_COUNT`].
pub fn iovec_total(array: &[u8]) -> Option<u64> {
    let mut total: u64 = 0;
    for iovec in array.chunks_exact(16) {
        let len = i64::from_ne_bytes(iovec.get(8..16)?.try_into().ok()?);
        if len < 0 {
            return None;
        }
        total = total
            .checked_add(len as u64)
            .filter(|total| *total <= i64::MAX as u64)?;
    }
    Some(total.min(MAX_RW_COUNT))
}

/// Whether a path the kernel names for a descriptor (`readlink` of
/// `/proc/<pid>/fd/<n>`) lies in one of `mirrors`: a file removed while
/// open reads `<path> (deleted)` and is still the layer's.
pub fn in_mirrors(path: &Path, mirrors: &[(PathBuf, u64)]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let bytes = bytes.strip_suffix(b" (deleted)").unwrap_or(bytes);
    let path = Path::new(std::ffi::OsStr::from_bytes(bytes));
    mirrors
        .iter()
        .any(|(mirror, _)| path.starts_with(mirror) && path != mirror)
}

/// The private regular files of `mirrors` (each with its device) and
/// their sizes: every regular file whose inode is not in `originals`.
pub fn count(
    mirrors: &[(PathBuf, u64)],
    originals: &std::collections::HashSet<FileKey>,
) -> Result<HashMap<FileKey, u64>, super::CowError> {
    let mut sizes = HashMap::new();
    for (mirror, dev) in mirrors {
        for object in super::layer::scan(mirror)? {
            let key = (*dev, object.ino);
            if object.kind == super::manifest::Kind::File && !originals.contains(&key) {
                sizes.insert(key, object.size);
            }
        }
    }
    Ok(sizes)
}

/// The file of a `/proc/<pid>/maps` line when it is a private file of
/// the layer that no name leads to any more (removed while mapped): see
/// [`Quota::keep_held`].
pub fn mapped_removed(
    line: &str,
    mirrors: &[(PathBuf, u64)],
    originals: &std::collections::HashSet<FileKey>,
) -> Option<FileKey> {
    // address perms offset dev inode path
    let mut fields = line.splitn(6, ' ');
    let dev = fields.nth(3)?;
    let inode = fields.next()?;
    let path = fields.next()?.trim_start_matches(' ');
    let (major, minor) = dev.split_once(':')?;
    let dev = libc::makedev(
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let key = (dev, inode.parse().ok()?);
    let removed = path.ends_with(" (deleted)") && in_mirrors(Path::new(path), mirrors);
    (removed && !originals.contains(&key) && mirrors.iter().any(|(_, d)| *d == dev)).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growth_fits_up_to_the_limit_and_a_shrink_always_does() {
        assert!(admits(0, 10, 10, true));
        assert!(!admits(0, 10, 11, true));
        assert!(admits(5, 10, 5, true));
        assert!(!admits(5, 10, 6, true));
        assert!(!admits(1, u64::MAX, u64::MAX, true), "no overflow");
        assert!(admits(0, u64::MAX, u64::MAX, true));
        // Quota 0: nothing may grow, a rewrite in place of nothing may.
        assert!(!admits(0, 0, 1, true));
        assert!(admits(0, 0, 0, true));
        // Past the limit (a race won, a smaller quota): no data written,
        // but a shrink or a size that stays goes.
        assert!(admits(10, 10, 0, true));
        assert!(!admits(11, 10, 0, true));
        assert!(admits(11, 10, 0, false));
    }

    #[test]
    fn a_write_ends_at_its_position_or_the_end_with_append() {
        assert_eq!(end_of_write(100, 0, 10, false), 10, "inside: no growth");
        assert_eq!(end_of_write(100, 95, 10, false), 105);
        assert_eq!(end_of_write(100, 0, 10, true), 110);
        assert_eq!(end_of_write(100, 500, 10, false), 510, "past the end");
        assert_eq!(end_of_write(100, 500, 0, false), 100, "nothing written");
        assert_eq!(end_of_write(0, 0, u64::MAX, false), MAX_RW_COUNT);
        assert_eq!(end_of_write(0, u64::MAX, 5, false), u64::MAX);
    }

    #[test]
    fn fallocate_modes_grow_shrink_or_are_not_offered() {
        assert_eq!(fallocate_end(0, 10, 0, 100), Ok(Some((100, true))));
        assert_eq!(fallocate_end(0, 1000, 0, 100), Ok(Some((1000, true))));
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        assert_eq!(fallocate_end(punch, 1000, 0, 100), Ok(Some((1000, false))));
        assert_eq!(
            fallocate_end(libc::FALLOC_FL_COLLAPSE_RANGE, 8192, 0, 4096),
            Ok(Some((4096, false)))
        );
        assert_eq!(
            fallocate_end(libc::FALLOC_FL_INSERT_RANGE, 4096, 0, 4096),
            Ok(Some((8192, true)))
        );
        assert_eq!(
            fallocate_end(libc::FALLOC_FL_KEEP_SIZE, 0, 0, 100),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            fallocate_end(
                libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                0,
                1
            ),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(
            fallocate_end(0, 0, -1, 100),
            Ok(None),
            "the kernel's EINVAL"
        );
        assert_eq!(fallocate_end(0, 0, 0, 0), Ok(None));
    }

    #[test]
    fn iovecs_add_up_as_the_kernel_adds_them() {
        let array = |lens: &[i64]| -> Vec<u8> {
            lens.iter()
                .flat_map(|len| [0u64.to_ne_bytes(), len.to_ne_bytes()].concat())
                .collect()
        };
        assert_eq!(iovec_total(&array(&[])), Some(0));
        assert_eq!(iovec_total(&array(&[3, 4, 5])), Some(12));
        assert_eq!(iovec_total(&array(&[3, -1])), None);
        assert_eq!(iovec_total(&array(&[i64::MAX, 1])), None);
        assert_eq!(iovec_total(&array(&[1 << 40])), Some(MAX_RW_COUNT));
    }

    #[test]
    fn the_count_reserves_in_flight_and_settles_at_the_exit() {
        let mut quota = Quota::new(100, Vec::new(), HashMap::from([((1, 1), 40)]));
        assert_eq!(quota.used(), 40);
        assert_eq!(quota.admit((1, 2), 0, 50, true), Ok(50));
        assert_eq!(quota.used(), 90);
        // Another call at once sees the reservation.
        assert_eq!(quota.admit((1, 1), 40, 60, true), Err(Errno::ENOSPC));
        assert_eq!(quota.admit((1, 1), 40, 50, true), Ok(10));
        assert_eq!(quota.used(), 100);
        // A short write: the file holds 20, not 50.
        quota.settle(50, Some(((1, 2), 20)));
        quota.settle(10, Some(((1, 1), 50)));
        assert_eq!(quota.used(), 70);
        // A shrink is charged nothing and gives back at its exit.
        assert_eq!(quota.admit((1, 1), 50, 0, false), Ok(0));
        quota.settle(0, Some(((1, 1), 0)));
        assert_eq!(quota.used(), 20);
        // Calls through descriptors another task could swap add up
        // until a count is due.
        assert!(!quota.must_count_before_unseen(80));
        assert_eq!(quota.admit_unseen(80), Ok(()));
        assert!(quota.must_count_before_unseen(1));
        // A count that finds the layer past the limit (a race won):
        // such calls stop until space is given back.
        let mut over = quota.clone();
        over.recount(HashMap::from([((1, 9), 101)]));
        assert_eq!(over.admit_unseen(1), Err(Errno::ENOSPC));
        assert_eq!(over.admit_unseen(0), Ok(()));
        over.recount(HashMap::from([((1, 9), 100)]));
        assert_eq!(over.admit_unseen(1), Ok(()));
        assert_eq!(quota.reserve(80), Ok(()));
        assert_eq!(quota.reserve(1), Err(Errno::ENOSPC));
        quota.settle(80, None);
        quota.mark_stale();
        quota.recount(HashMap::new());
        assert!(!quota.must_count_before_unseen(100));
        assert!(!quota.is_stale());
        assert_eq!(quota.used(), 0);
        assert_eq!(quota.limit(), 100);
    }

    #[test]
    fn a_kept_layer_past_a_lowered_limit_is_the_ceiling_for_unseen_calls() {
        let mut quota = Quota::new(100, Vec::new(), HashMap::from([((1, 1), 150)]));
        assert_eq!(quota.admit_unseen(10), Ok(()));
        // Nothing the jail checks grows it further.
        assert_eq!(quota.admit((1, 1), 150, 151, true), Err(Errno::ENOSPC));
        assert_eq!(quota.admit((1, 1), 150, 150, true), Err(Errno::ENOSPC));
        assert_eq!(quota.admit((1, 1), 150, 10, false), Ok(0));
        quota.recount(HashMap::from([((1, 1), 151)]));
        assert_eq!(quota.admit_unseen(10), Err(Errno::ENOSPC));
    }

    #[test]
    fn a_removed_file_still_held_keeps_counting() {
        let mirrors = [(PathBuf::from("/l/x/m0"), libc::makedev(0xfd, 1))];
        let originals = std::collections::HashSet::from([(libc::makedev(0xfd, 1), 7)]);
        let line = |dev: &str, ino: u64, path: &str| {
            format!(
                "7f0000000000-7f0000001000 rw-s 00000000 {dev} {ino}                      {path}"
            )
        };
        let key = (libc::makedev(0xfd, 1), 42);
        let mapped = |l: String| mapped_removed(&l, &mirrors, &originals);
        assert_eq!(mapped(line("fd:01", 42, "/l/x/m0/u (deleted)")), Some(key));
        assert_eq!(
            mapped(line("fd:01", 42, "/l/x/m0/u")),
            None,
            "named: scanned"
        );
        assert_eq!(
            mapped(line("fd:01", 7, "/l/x/m0/u (deleted)")),
            None,
            "original"
        );
        assert_eq!(mapped(line("fd:02", 42, "/l/x/m0/u (deleted)")), None);
        assert_eq!(mapped(line("fd:01", 42, "/tmp/u (deleted)")), None);
        assert_eq!(mapped(line("00:00", 0, "")), None);
        // A count that no longer finds it by name keeps it, by its size
        // now or, mapped only, the size last counted.
        let quota = Quota::new(100, Vec::new(), HashMap::from([(key, 90), ((1, 1), 5)]));
        let mut sizes = HashMap::new();
        quota.keep_held(&mut sizes, [(key, None), ((1, 2), Some(3)), ((1, 3), None)]);
        assert_eq!(sizes, HashMap::from([(key, 90), ((1, 2), 3)]));
    }

    #[test]
    fn a_descriptors_path_is_the_layers_when_inside_a_mirror() {
        let mirrors = [(PathBuf::from("/l/x/m0"), 1)];
        assert!(in_mirrors(Path::new("/l/x/m0/a/b"), &mirrors));
        assert!(in_mirrors(Path::new("/l/x/m0/a (deleted)"), &mirrors));
        assert!(!in_mirrors(Path::new("/l/x/m0"), &mirrors), "the root");
        assert!(!in_mirrors(Path::new("/l/x/m00/a"), &mirrors));
        assert!(!in_mirrors(Path::new("/tmp/a"), &mirrors));
        assert!(!in_mirrors(Path::new("pipe:[123]"), &mirrors));
    }
}
