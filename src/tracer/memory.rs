//! Reading a tracee's memory: each string or struct once, bounded.
//!
//! The tracer decides on the copy read here and never reads the same
//! argument twice, so a program cannot show one value to the check and
//! another to a second look.

use nix::errno::Errno;
use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::Pid;
use std::io::{IoSlice, IoSliceMut};

/// The kernel's `PATH_MAX`, including the terminating NUL.
pub const PATH_MAX: usize = 4096;
const PAGE: usize = 4096;

/// Reads exactly `buffer.len()` bytes at `address`.
pub fn read_exact(pid: Pid, address: u64, buffer: &mut [u8]) -> Result<(), Errno> {
    if address == 0 {
        return Err(Errno::EFAULT);
    }
    let remote = [RemoteIoVec {
        base: address as usize,
        len: buffer.len(),
    }];
    let wanted = buffer.len();
    let count = process_vm_readv(pid, &mut [IoSliceMut::new(buffer)], &remote)?;
    if count == wanted {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Writes all of `bytes` at `address`, as the kernel would write a
/// syscall's result: memory the program cannot write is `EFAULT` (unlike
/// `/proc/<pid>/mem`, which writes read-only pages too).
pub fn write_exact(pid: Pid, address: u64, bytes: &[u8]) -> Result<(), Errno> {
    if address == 0 {
        return Err(Errno::EFAULT);
    }
    let remote = [RemoteIoVec {
        base: address as usize,
        len: bytes.len(),
    }];
    let count = process_vm_writev(pid, &[IoSlice::new(bytes)], &remote)?;
    if count == bytes.len() {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Reads a NUL-terminated path at `address`, without the NUL. Fails with
/// `EFAULT` for unreadable memory and `ENAMETOOLONG` past `PATH_MAX`, as
/// the kernel would.
pub fn read_path(pid: Pid, address: u64) -> Result<Vec<u8>, Errno> {
    if address == 0 {
        return Err(Errno::EFAULT);
    }
    let mut path = Vec::with_capacity(256);
    let mut cursor = address as usize;
    while path.len() < PATH_MAX {
        // Read up to the end of the current page only: the next page may
        // be unmapped, and a read across it would fail as a whole.
        let to_page_end = PAGE - cursor % PAGE;
        let chunk_len = to_page_end.min(PATH_MAX - path.len());
        let start = path.len();
        path.resize(start + chunk_len, 0);
        let remote = [RemoteIoVec {
            base: cursor,
            len: chunk_len,
        }];
        let count = process_vm_readv(pid, &mut [IoSliceMut::new(&mut path[start..])], &remote)
            .map_err(|errno| {
                if errno == Errno::ESRCH {
                    errno
                } else {
                    Errno::EFAULT
                }
            })?;
        if count == 0 {
            return Err(Errno::EFAULT);
        }
        path.truncate(start + count);
        if let Some(nul) = path[start..].iter().position(|&byte| byte == 0) {
            path.truncate(start + nul);
            return Ok(path);
        }
        cursor += count;
    }
    Err(Errno::ENAMETOOLONG)
}
