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
    // Read on the stack, then one allocation of the path's length (a
    // growing Vec was a malloc and a realloc per path).
    let mut buffer = [0u8; PATH_MAX];
    let mut length = 0;
    let mut cursor = address as usize;
    while length < PATH_MAX {
        // Read up to the end of the current page only: the next page may
        // be unmapped, and a read across it would fail as a whole.
        let to_page_end = PAGE - cursor % PAGE;
        let chunk_len = to_page_end.min(PATH_MAX - length);
        let chunk = &mut buffer[length..length + chunk_len];
        let remote = [RemoteIoVec {
            base: cursor,
            len: chunk_len,
        }];
        let count =
            process_vm_readv(pid, &mut [IoSliceMut::new(chunk)], &remote).map_err(|errno| {
                if errno == Errno::ESRCH {
                    errno
                } else {
                    Errno::EFAULT
                }
            })?;
        if count == 0 {
            return Err(Errno::EFAULT);
        }
        if let Some(nul) = buffer[length..length + count]
            .iter()
            .position(|&byte| byte == 0)
        {
            return Ok(buffer[..length + nul].to_vec());
        }
        length += count;
        cursor += count;
    }
    Err(Errno::ENAMETOOLONG)
}
