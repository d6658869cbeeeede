//! The memory guard: no map, unmap or protection change may touch the
//! scratch region the jail hands the kernel its copies in.

use crate::syscall::MemoryGuard;
use crate::tracer::answer::Answer;
use crate::tracer::scratch;
use crate::tracer::stopped::Stopped;
use log::debug;
use nix::errno::Errno;

/// Refuses a memory-map change that would touch the scratch region.
pub(in crate::tracer) fn judge_memory_guard(
    thread: &dyn Stopped,
    name: &str,
    guard: MemoryGuard,
) -> Answer {
    let arg = |index: u8| thread.argument(index);
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
        debug!(
            "{}: {name} would touch the jail's scratch region: EPERM",
            thread.tid()
        );
        Answer::Refuse(Errno::EPERM)
    } else {
        Answer::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tracer::checks::fake::FakeThread;

    fn refused(guard: MemoryGuard, arguments: [u64; 6]) -> bool {
        let thread = FakeThread::with_arguments(arguments);
        matches!(
            judge_memory_guard(&thread, "test", guard),
            Answer::Refuse(Errno::EPERM)
        )
    }

    #[test]
    fn nothing_may_touch_the_scratch_region() {
        let inside = scratch::BASE + 4096;
        let below = 0x1000;
        let fixed = libc::MAP_FIXED as u64;
        // A fixed mapping over it, or one that reaches into it.
        assert!(refused(MemoryGuard::Mmap, [inside, 4096, 3, fixed, 0, 0]));
        assert!(refused(
            MemoryGuard::Mmap,
            [below, 0x20_0000, 3, fixed, 0, 0]
        ));
        // Without MAP_FIXED the address is a hint the kernel may ignore.
        assert!(!refused(MemoryGuard::Mmap, [inside, 4096, 3, 0, 0, 0]));
        assert!(refused(MemoryGuard::Range, [inside, 1, 0, 0, 0, 0]));
        assert!(!refused(
            MemoryGuard::Range,
            [0x7f00_0000_0000, 4096, 0, 0, 0, 0]
        ));
        // mremap: from it, or onto it with MREMAP_FIXED.
        assert!(refused(MemoryGuard::Mremap, [inside, 4096, 8192, 0, 0, 0]));
        let onto = libc::MREMAP_FIXED as u64 | libc::MREMAP_MAYMOVE as u64;
        assert!(refused(
            MemoryGuard::Mremap,
            [0x7f00_0000_0000, 4096, 4096, onto, inside, 0]
        ));
    }
}
