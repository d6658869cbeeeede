//! The tracer's checks, one file per family. Each is a set of functions
//! over the narrow view of one stopped thread
//! ([`Stopped`](crate::tracer::stopped::Stopped)) that return an
//! [`Answer`](crate::tracer::answer::Answer); the dispatch is in
//! [`crate::tracer::decide`], applying the answer in
//! [`crate::tracer::rewrite`]. [`fake`] is a thread with no process, for
//! their unit tests.

pub(super) mod cow;
pub(super) mod exec;
#[cfg(test)]
pub(super) mod fake;
pub(super) mod lend;
pub(super) mod memory;
pub(super) mod network;
pub(super) mod paths;
pub(super) mod processes;
pub(super) mod quota;
pub(super) mod urls;

/// A syscall argument as the kernel reads an `int` (a descriptor, a pid).
pub(in crate::tracer) fn signed(value: u64) -> i32 {
    value as i32
}
