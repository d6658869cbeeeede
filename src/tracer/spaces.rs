//! Which tasks share an address space, and whether an argument buffer can
//! change while the kernel reads it.
//!
//! Handing the kernel a copy of every argument costs a second stop (the
//! registers must come back at the syscall's exit). It is needed only when
//! something could rewrite the program's buffer between the check and the
//! kernel's read: another task sharing the address space, another process
//! sharing the page (a `MAP_SHARED` mapping), or a writer of the file a
//! private mapping still reads through. When none can, the call runs on
//! the program's own arguments after a single stop.

use crate::sys::{self, Mapping};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::fs::File;

/// Whether a clone with these flags shares what a race needs with its
/// parent: the memory (`CLONE_VM`), the descriptor table (`CLONE_FILES`,
/// which lets it swap a descriptor under a check) or the working directory
/// (`CLONE_FS`, which lets it `chdir` while a relative path is in flight).
pub fn shares_with_parent(clone_flags: u64) -> bool {
    clone_flags & (libc::CLONE_VM | libc::CLONE_FILES | libc::CLONE_FS) as u64 != 0
}

/// Whether a clone with these flags makes a process (not a thread) that
/// shares its parent's working directory: a sharing no exec ends.
pub fn shares_working_directory(clone_flags: u64) -> bool {
    clone_flags & libc::CLONE_FS as u64 != 0 && clone_flags & libc::CLONE_THREAD as u64 == 0
}

/// Counts the tasks of each address space (and descriptor table).
#[derive(Debug, Default)]
pub struct AddressSpaces {
    users: super::task::IdMap<u64, usize>,
    /// Spaces with an AIO context: the kernel writes their memory whenever
    /// a submitted read completes, not only inside a syscall.
    async_writers: super::task::IdSet<u64>,
    next: u64,
}

impl AddressSpaces {
    /// A fresh address space with one user.
    pub fn create(&mut self) -> u64 {
        self.next += 1;
        self.users.insert(self.next, 1);
        self.next
    }

    pub fn join(&mut self, space: u64) {
        *self.users.entry(space).or_insert(0) += 1;
    }

    pub fn leave(&mut self, space: u64) {
        if let Some(count) = self.users.get_mut(&space) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.users.remove(&space);
                self.async_writers.remove(&space);
            }
        }
    }

    /// The kernel may write this space asynchronously from now on. An AIO
    /// context dies with its address space (exec, exit) and is not
    /// inherited by fork, so the mark belongs to the space.
    pub fn mark_async_writer(&mut self, space: u64) {
        self.async_writers.insert(space);
    }

    /// Only one task (the caller) can touch this address space, and no
    /// asynchronous kernel writer either.
    pub fn is_private(&self, space: u64) -> bool {
        self.users.get(&space) == Some(&1) && !self.async_writers.contains(&space)
    }
}

/// Whether `[address, address + len)` lies in mappings no one but the
/// task itself can change: private anonymous memory, or private mappings
/// of files the jail cannot write (`writable_file` says which it can).
/// Any doubt (no `PROCMAP_QUERY`, an unusual mapping) answers no.
pub fn buffer_is_private(
    maps: &File,
    address: u64,
    len: u64,
    writable_file: &dyn Fn(&[u8]) -> bool,
) -> Result<bool, Errno> {
    let end = address.saturating_add(len.max(1));
    let mut cursor = address;
    while cursor < end {
        let mapping = sys::procmap_query(maps, cursor)?;
        if !mapping_is_private(&mapping, writable_file) || mapping.end <= cursor {
            return Ok(false);
        }
        cursor = mapping.end;
    }
    Ok(true)
}

fn mapping_is_private(mapping: &Mapping, writable_file: &dyn Fn(&[u8]) -> bool) -> bool {
    if mapping.shared {
        return false;
    }
    if mapping.inode == 0 {
        return true;
    }
    // A file-backed private page reads through to the file until written:
    // safe only for a real file the jail cannot write (not a memfd, not a
    // deleted file, not in a `write` tree).
    let name = &mapping.name;
    name.starts_with(b"/") && !name.ends_with(b" (deleted)") && !writable_file(name)
}

/// Opens `/proc/<pid>/maps` for [`buffer_is_private`].
pub fn open_maps(pid: Pid) -> Result<File, Errno> {
    File::open(format!("/proc/{pid}/maps"))
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))
}

#[cfg(test)]
#[allow(unsafe_code)] // the test maps shared memory to check it is refused
mod tests {
    use super::*;

    #[test]
    fn address_spaces_count_their_tasks() {
        let mut spaces = AddressSpaces::default();
        let a = spaces.create();
        assert!(spaces.is_private(a));
        spaces.join(a);
        assert!(!spaces.is_private(a));
        spaces.leave(a);
        assert!(spaces.is_private(a));
        let b = spaces.create();
        assert_ne!(a, b);
        spaces.mark_async_writer(b);
        assert!(!spaces.is_private(b), "an AIO context can write it");
        assert!(spaces.is_private(a));
    }

    #[test]
    fn own_heap_is_private_and_shared_memory_is_not() {
        let Ok(maps) = open_maps(nix::unistd::getpid()) else {
            return;
        };
        let heap: Vec<u8> = std::iter::repeat_n(1u8, 64).collect();
        match buffer_is_private(&maps, heap.as_ptr() as u64, 64, &|_| false) {
            Err(Errno::ENOTTY) => return, // kernel without PROCMAP_QUERY
            other => assert_eq!(other, Ok(true)),
        }
        // SAFETY: (test) a fresh shared anonymous mapping, unmapped below.
        let shared = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(shared, libc::MAP_FAILED);
        assert_eq!(
            buffer_is_private(&maps, shared as u64, 16, &|_| false),
            Ok(false)
        );
        // SAFETY: (test) unmapping what we mapped.
        unsafe { libc::munmap(shared, 4096) };
        // A literal in this test binary: a private mapping of a file.
        let literal: &'static [u8] = b"/usr/lib/some/path";
        assert_eq!(
            buffer_is_private(&maps, literal.as_ptr() as u64, 18, &|_| false),
            Ok(true)
        );
        assert_eq!(
            buffer_is_private(&maps, literal.as_ptr() as u64, 18, &|_| true),
            Ok(false)
        );
    }
}
