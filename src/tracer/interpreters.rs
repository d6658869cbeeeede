//! What a file names as the next thing the kernel opens when it runs it
//! (a script's `#!` interpreter, an ELF program's `PT_INTERP` loader),
//! remembered per file so that a program run 300 times is read once.
//!
//! Only a file's *contents* are remembered, never a verdict: the named
//! interpreter is resolved and judged by the policy at every exec, as
//! before. And only where the contents cannot change unseen:
//!
//! - the key is the file's identity and the moment of its last change:
//!   `(st_dev, st_ino)`, `st_size`, `st_mtime` and `st_ctime` (the kernel
//!   updates `st_ctime` on every write, truncate, link, rename and
//!   `utimensat`, and no one can set it back). An answer is stored under
//!   the `fstat` of the very descriptor it was read from; it is looked up
//!   by what the path walk's own `lstat` of the name found, which for a
//!   name the jail cannot swap is that same object;
//! - a file is remembered only if the jail cannot write it by any name
//!   it could use ([`may_remember`]): reached by a path (not a
//!   descriptor, a `/proc/<pid>/fd` link or a memfd) whose walk looked at
//!   no directory the jail can write, that path neither a `write` root
//!   nor in a `write` or `cow` tree, and no other name (`st_nlink` 1,
//!   against a hard link in a `write` tree);
//! - an answer is remembered only after the exec it was read for has
//!   run, from the file read again then ([`Pending`]): the kernel refuses
//!   to run a file anyone holds open for writing or maps shared-writable
//!   (`ETXTBSY`), so from its open on there was no writer, and none can
//!   appear without a writable name. What is read at the check alone is
//!   not enough: a writer that got its descriptor while the file had a
//!   writable name, and let go just before the kernel's open, may have
//!   changed the file through a shared mapping without moving
//!   `st_ctime` (only the first write to a clean page does).
//!
//! The check after the exec (`exec::loaded_files`) runs whatever this
//! cache says: what the kernel mapped must be what was judged.

use crate::tracer::exec::Names;
use crate::tracer::resolve::Looked;
use std::os::fd::OwnedFd;

/// How many files' answers are kept; the least recently used goes.
pub const CAPACITY: usize = 32;

/// A file as the kernel last changed it: the cache's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub device: u64,
    pub inode: u64,
    pub size: i64,
    pub modified: (i64, i64),
    pub changed: (i64, i64),
}

impl FileKey {
    pub fn of(stat: &nix::sys::stat::FileStat) -> FileKey {
        FileKey::from(&Looked::from(stat))
    }
}

impl From<&Looked> for FileKey {
    fn from(looked: &Looked) -> FileKey {
        FileKey {
            device: looked.device,
            inode: looked.inode,
            size: looked.size,
            modified: looked.modified,
            changed: looked.changed,
        }
    }
}

/// What an exec check read from a file it may remember: kept with the
/// task until its exec event, when the file is read again
/// (`checks::exec::remember_after_exec`).
#[derive(Debug)]
pub struct Pending {
    pub key: FileKey,
    pub names: Names,
    /// The jail's own descriptor of the very file read.
    pub held: OwnedFd,
}

/// What the tracer knows of a file it is about to read for an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// It is a regular file (only those are read).
    pub regular: bool,
    /// Its `st_nlink`.
    pub links: u64,
    /// It was reached by a canonical path whose walk looked at no name
    /// in a directory the jail can write: not through a descriptor, a
    /// magic link or a swappable name.
    pub named_stably: bool,
    /// That path is one the jail may write, or lies in a `write` or
    /// `cow` tree.
    pub writable_name: bool,
}

/// Whether a file's answer may be remembered (and a remembered one
/// used): only for a file the jail can neither write nor swap.
pub fn may_remember(facts: Facts) -> bool {
    facts.regular && facts.links == 1 && facts.named_stably && !facts.writable_name
}

/// The remembered answers, at most [`CAPACITY`].
#[derive(Debug, Default)]
pub struct Cache {
    /// Each entry with the tick of its last use.
    entries: Vec<(FileKey, Names, u64)>,
    tick: u64,
    /// Keys read once and not remembered, the latest [`CAPACITY`]: only
    /// a file run again is worth the second read that remembering takes
    /// (a compiler's passes run once each).
    seen: std::collections::VecDeque<FileKey>,
}

impl Cache {
    /// The answer remembered for `key`, if any.
    pub fn get(&mut self, key: &FileKey) -> Option<Names> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.iter_mut().find(|entry| entry.0 == *key)?;
        entry.2 = tick;
        Some(entry.1.clone())
    }

    /// Remembers `names` for `key`, pushing out the least recently used
    /// entry when full.
    pub fn insert(&mut self, key: FileKey, names: Names) {
        self.tick += 1;
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.0 == key) {
            *entry = (key, names, self.tick);
            return;
        }
        if self.entries.len() >= CAPACITY
            && let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, entry)| entry.2)
                .map(|(index, _)| index)
        {
            self.entries.swap_remove(oldest);
        }
        self.entries.push((key, names, self.tick));
    }

    /// Notes that `key` was read and not found; whether it was read so
    /// before (then its answer is worth remembering).
    pub fn read_again(&mut self, key: &FileKey) -> bool {
        if let Some(index) = self.seen.iter().position(|seen| seen == key) {
            self.seen.remove(index);
            return true;
        }
        if self.seen.len() >= CAPACITY {
            self.seen.pop_front();
        }
        self.seen.push_back(*key);
        false
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(inode: u64) -> FileKey {
        FileKey {
            device: 1,
            inode,
            size: 100,
            modified: (5, 0),
            changed: (5, 0),
        }
    }

    const STABLE: Facts = Facts {
        regular: true,
        links: 1,
        named_stably: true,
        writable_name: false,
    };

    #[test]
    fn only_files_the_jail_can_neither_write_nor_swap_are_remembered() {
        assert!(may_remember(STABLE));
        // Another name (a hard link) could be in a write tree.
        assert!(!may_remember(Facts { links: 2, ..STABLE }));
        // Reached through a descriptor, a magic link or a swappable walk.
        assert!(!may_remember(Facts {
            named_stably: false,
            ..STABLE
        }));
        // Writable, or in a write or cow tree.
        assert!(!may_remember(Facts {
            writable_name: true,
            ..STABLE
        }));
        assert!(!may_remember(Facts {
            regular: false,
            ..STABLE
        }));
    }

    #[test]
    fn any_change_of_the_file_is_another_key() {
        let mut cache = Cache::default();
        cache.insert(key(7), Names::Loader(b"/lib/ld.so".to_vec()));
        assert_eq!(
            cache.get(&key(7)),
            Some(Names::Loader(b"/lib/ld.so".to_vec()))
        );
        for changed in [
            FileKey {
                size: 101,
                ..key(7)
            },
            FileKey {
                modified: (5, 1),
                ..key(7)
            },
            // A write that put the old st_mtime back still moves st_ctime.
            FileKey {
                changed: (5, 1),
                ..key(7)
            },
            FileKey {
                device: 2,
                ..key(7)
            },
            key(8),
        ] {
            assert_eq!(cache.get(&changed), None, "{changed:?}");
        }
    }

    #[test]
    fn a_file_is_worth_remembering_from_its_second_read_on() {
        let mut cache = Cache::default();
        assert!(!cache.read_again(&key(1)));
        assert!(cache.read_again(&key(1)));
        // Changed in between: another key, read once.
        assert!(!cache.read_again(&FileKey {
            changed: (6, 0),
            ..key(1)
        }));
        // Bounded: the oldest keys read once are forgotten.
        for inode in 100..100 + CAPACITY as u64 {
            assert!(!cache.read_again(&key(inode)));
        }
        assert_eq!(cache.seen.len(), CAPACITY);
        assert!(!cache.read_again(&key(1)));
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let mut cache = Cache::default();
        for inode in 0..CAPACITY as u64 {
            cache.insert(key(inode), Names::Nothing);
        }
        // Used: kept when the next one pushes the oldest out.
        assert!(cache.get(&key(0)).is_some());
        cache.insert(key(1000), Names::Nothing);
        assert_eq!(cache.len(), CAPACITY);
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(1)).is_none(), "the least recently used went");
        assert!(cache.get(&key(1000)).is_some());
        // Inserting a key again replaces its answer, no second entry.
        cache.insert(key(1000), Names::Script(b"/bin/sh".to_vec()));
        assert_eq!(cache.len(), CAPACITY);
        assert_eq!(
            cache.get(&key(1000)),
            Some(Names::Script(b"/bin/sh".to_vec()))
        );
    }
}
