//! What a check answers for one stopped syscall, as plain data: run it,
//! refuse it with an errno, or run it on the jail's copies of its
//! arguments ([`Rewrite`]). The checks build answers; [`super::rewrite`]
//! applies them.

use super::scratch::Part;
use nix::errno::Errno;
use std::os::fd::OwnedFd;

/// The answer for one stopped syscall.
#[derive(Debug)]
pub(in crate::tracer) enum Answer {
    /// Run it as the program made it (nothing read from its memory).
    Allow,
    /// Skip the syscall; it returns `-errno`.
    Refuse(Errno),
    /// Skip the syscall; it returns 0 (a syscall the jail itself
    /// implements: wakeup).
    Done,
    /// Run it on the jail's copies of its arguments.
    Rewrite(Rewrite),
}

/// A register's new value.
#[derive(Debug)]
pub(in crate::tracer) enum Arg {
    Value(u64),
    /// These bytes, written into this part of the task's slot; the register
    /// gets their address.
    Scratch(Part, Vec<u8>),
}

/// How to run an allowed call on the jail's copies of its arguments.
#[derive(Debug, Default)]
pub(in crate::tracer) struct Rewrite {
    /// A different syscall to run (`openat` becomes `openat2`).
    pub syscall: Option<u64>,
    pub args: Vec<(u8, Arg)>,
    /// Descriptors the new arguments name; closed at the syscall's exit.
    pub held: Vec<OwnedFd>,
    /// Objects lent to the keeper for the new arguments; released then.
    pub lent: Vec<crate::keeper::Lent>,
}

impl Rewrite {
    pub fn set(&mut self, index: u8, value: Arg) {
        self.args.retain(|(existing, _)| *existing != index);
        self.args.push((index, value));
    }

    pub fn hold(&mut self, fd: OwnedFd) {
        self.held.push(fd);
    }

    pub fn is_empty(&self) -> bool {
        self.syscall.is_none() && self.args.is_empty()
    }
}
