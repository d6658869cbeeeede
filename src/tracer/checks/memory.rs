//! The memory guard: no map, unmap or protection change may touch the
//! scratch region the jail hands the kernel its copies in.

use crate::arch::native::{self as arch, Regs};
use crate::syscall::MemoryGuard;
use crate::tracer::answer::Answer;
use crate::tracer::scratch::{self};
use log::debug;
use nix::unistd::Pid;

/// Refuses a memory-map change that would touch the scratch region.
pub(in crate::tracer) fn judge_memory_guard(
    pid: Pid,
    name: &str,
    guard: MemoryGuard,
    regs: &Regs,
) -> Answer {
    let arg = |index: usize| arch::argument(regs, index);
    let touches = match guard {
        MemoryGuard::Mmap => {
            arg(3) & libc::MAP_FIXED as u64 != 0 && scratch::overlaps(arg(0), arg(1))
        }
        MemoryGuard::Range => scratch::overlaps(arg(0), arg(1)),
        MemoryGuard::Mremap => {
            scratch::overlaps(arg(0), arg(1))
                || (arg(3) & libc::MREMAP_FIXED as u64 != 0 && scratch::overlaps(arg(4), arg(2)))
        }
    };
    if touches {
        debug!("{pid}: {name} would touch the jail's scratch region: EPERM");
        Answer::Refuse(libc::EPERM)
    } else {
        Answer::Allow
    }
}
