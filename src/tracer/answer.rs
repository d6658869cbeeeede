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
    /// Skip the syscall; it returns this value (a result the jail made:
    /// `getcwd` in a cow tree).
    Return(u64),
    /// Kill the process as the filter would (a `syscall ... kill` line):
    /// the call becomes [`crate::syscall::KILL_SYSCALL`], which the filter,
    /// run again on the changed call, answers with `SIGSYS`.
    Kill,
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
    /// Bytes for a part of the slot that no register names, only a
    /// pointer in another part (a `sendmsg`'s address, inside the jail's
    /// copy of its `msghdr`).
    pub unnamed: Vec<(Part, Vec<u8>)>,
    /// Pointers to write into a part's bytes: at `offset` in `part`, the
    /// address of part `to` in the task's slot.
    pub pointers: Vec<Pointer>,
    /// A socket call judged by the kind of socket behind this descriptor
    /// while another task could swap it: at the call's exit the
    /// descriptor must still be a socket of that kind, or the jail ends.
    pub same_socket: Option<(i32, crate::policy::network::SocketKind)>,
    /// Under `cowquota`: what the call was charged, settled at its exit.
    pub charge: Option<Charge>,
}

/// What a call that grows a private file of the layer was charged at
/// its entry (`cowquota`), settled at its exit stop
/// ([`crate::cow::quota::Quota::settle`]).
#[derive(Debug)]
pub(in crate::tracer) struct Charge {
    /// The file, held to look at its size at the exit.
    pub held: OwnedFd,
    pub file: crate::cow::quota::FileKey,
    /// The growth reserved.
    pub reserved: u64,
}

/// A pointer from one part of the slot to another ([`Rewrite::pointers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::tracer) struct Pointer {
    pub part: Part,
    pub offset: usize,
    pub to: Part,
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

    /// The bytes of every part the rewrite fills, with the pointers of
    /// [`Rewrite::pointers`] written in for a slot whose parts lie at
    /// `address(part)`. Paths end with a NUL; structs are as given.
    pub fn scratch_contents(&self, address: impl Fn(Part) -> u64) -> Vec<(Part, Vec<u8>)> {
        let named = self.args.iter().filter_map(|(_, arg)| match arg {
            Arg::Scratch(part, bytes) => Some((*part, bytes)),
            Arg::Value(_) => None,
        });
        let unnamed = self.unnamed.iter().map(|(part, bytes)| (*part, bytes));
        named
            .chain(unnamed)
            .map(|(part, bytes)| {
                let mut data = bytes.clone();
                for pointer in self.pointers.iter().filter(|pointer| pointer.part == part) {
                    let value = address(pointer.to).to_ne_bytes();
                    if let Some(at) = data.get_mut(pointer.offset..pointer.offset + value.len()) {
                        at.copy_from_slice(&value);
                    }
                }
                if part != Part::Struct {
                    data.push(0);
                }
                (part, data)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_between_parts_is_written_into_the_copy() {
        let mut rewrite = Rewrite::default();
        rewrite.set(1, Arg::Scratch(Part::Struct, vec![0xaa; 16]));
        rewrite.unnamed.push((Part::SecondPath, b"addr".to_vec()));
        rewrite.pointers.push(Pointer {
            part: Part::Struct,
            offset: 8,
            to: Part::SecondPath,
        });
        let address = |part| match part {
            Part::SecondPath => 0x1122_3344_5566_7788,
            _ => 0,
        };
        let contents = rewrite.scratch_contents(address);
        let mut want = vec![0xaa; 8];
        want.extend_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
        assert_eq!(contents[0], (Part::Struct, want));
        assert_eq!(contents[1], (Part::SecondPath, b"addr\0".to_vec()));
    }
}
