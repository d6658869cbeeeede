//! The tracer's checks, one file per family. Each is a set of `Tracer`
//! methods (or free functions) that look at one stopped thread and return
//! an [`Answer`](crate::tracer::answer::Answer); the dispatch is in
//! [`crate::tracer::decide`], applying the answer in
//! [`crate::tracer::rewrite`].

pub(super) mod exec;
pub(super) mod lend;
pub(super) mod memory;
pub(super) mod paths;
pub(super) mod processes;
pub(super) mod urls;
