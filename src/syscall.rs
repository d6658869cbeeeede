//! What each syscall needs from the jail, by name, for every architecture.
//!
//! Owns the classification of syscalls into: run natively, refuse in the
//! filter, or stop for a decision, and for the last the *shape* of the
//! arguments (which argument is a path, a dirfd, flags, a pid). The
//! architecture layer maps numbers to these names; the filter, the tracer
//! and the policy read this table and nothing else. A name missing here is
//! refused with ENOSYS: the jail fails closed on what it does not know.
//!
//! This module is pure data: no I/O, no `nix`, no `libc` calls.

use libc::{EACCES, ENOSYS, ENOTTY, EPERM};

/// How the jail treats one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Runs at full speed, never stops.
    Native,
    /// Refused by the seccomp filter itself with this errno, never stops.
    Refuse(i32),
    /// Decided by one argument (its low 32 bits, as the kernel reads an
    /// `unsigned int` command): the first case whose value it equals (and
    /// whose `bits`, if any, another argument has) says what happens; any
    /// other value gets `otherwise`. `ioctl` and `fcntl` are hot, so the
    /// commands that only read or touch the descriptor itself run natively
    /// and only the few that reach further stop or are refused.
    ByArg {
        arg: u8,
        cases: &'static [ArgCase],
        /// What any value no case names gets.
        otherwise: ArgAction,
    },
    /// Stops at a seccomp stop for the tracer to decide.
    Check(Check),
    /// Runs natively when argument `arg` is 0 (all 64 bits: a null
    /// pointer), and stops for `check` otherwise (`sendto` with an
    /// address).
    CheckUnlessNull { arg: u8, check: Check },
    /// A memory-map change that runs natively unless its address could
    /// touch the jail's scratch region, in which case it stops (see
    /// `tracer::scratch`).
    Guard(MemoryGuard),
}

/// One case of a [`Class::ByArg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCase {
    pub value: u32,
    pub action: ArgAction,
    /// Only when this other argument (low 32 bits) has one of these bits
    /// set; otherwise the call runs natively.
    pub bits: Option<(u8, u32)>,
}

/// What a matching [`ArgCase`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgAction {
    /// Runs natively.
    Allow,
    /// Refused by the filter with this errno.
    Refuse(i32),
    /// Stops for the tracer to decide.
    Check(Check),
}

/// Which memory-map syscall a [`Class::Guard`] is, for the filter's
/// address test and the tracer's exact overlap check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryGuard {
    /// `mmap(addr, len, prot, flags, ...)`: only `MAP_FIXED` can replace.
    Mmap,
    /// `munmap`, `mprotect`, `pkey_mprotect`, `madvise`,
    /// `remap_file_pages`: `(addr, len, ...)`.
    Range,
    /// `mremap(old, old_len, new_len, flags, new_addr)`.
    Mremap,
}

/// The decision a stopped syscall needs, with its argument layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// One or two path operands, each judged against `see` / `write`.
    Path(PathCall),
    /// `open`, `openat`, `creat`, `openat2`: the access comes from the flags.
    Open(OpenCall),
    /// `execve`, `execveat`.
    Exec(PathOperand),
    /// Changes the file behind descriptor argument `fd` (`fchmod`,
    /// `fchown`, `fsetxattr`): judged by the path that descriptor names, so
    /// a read-only descriptor cannot change a file outside `write`.
    Descriptor { fd: u8, access: Access },
    /// Creates a thread or process: counted against `maxthreads`, flags vetted.
    Clone(CloneCall),
    /// Sends a signal: the targets must be inside the jail.
    Signal(SignalCall),
    /// Each listed argument is a pid that must be 0 (self) or inside the jail.
    Pids(&'static [u8]),
    /// `setpriority`-style `(which, who)`: `who` must be inside the jail.
    Priority(PriorityWhich),
    /// `seccomp(2)`: a program may add filters, but never a user-notification
    /// listener, which would take syscalls away from the tracer.
    Seccomp,
    /// `personality(2)`: only changes that keep the ABI.
    Personality,
    /// The magic wakeup syscall of suspended sessions.
    Wakeup,
    /// Sets the process or group that a descriptor's I/O signals go to
    /// (`SIGIO` or any signal chosen with `F_SETSIG`): the target must be
    /// inside the jail, like a `kill`'s.
    SignalOwner(OwnerCall),
    /// Starts a descriptor's signals or chooses their number: allowed while
    /// the owner is no one or inside the jail, never on a terminal.
    AsyncSignals(AsyncCall),
    /// `io_setup(2)`: from now on the kernel may write the process's memory
    /// at any moment (a pending AIO read), so no buffer of it is private.
    AsyncIo,
    /// Changes the object behind descriptor argument `fd` in place, with
    /// no path and whatever mode the descriptor was opened with (an
    /// inode's flags, a terminal's modes, a lease): judged as a write on
    /// that object.
    ObjectChange { fd: u8 },
    /// A socket call the network policy decides.
    Socket(SocketCall),
}

/// Which socket call a [`Check::Socket`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketCall {
    /// `socket(domain, type, protocol)` of an IP family: TCP or UDP only.
    Create,
    /// `connect(fd, addr, len)`.
    Connect,
    /// `bind(fd, addr, len)`.
    Bind,
    /// `listen(fd, backlog)`: an unbound socket is bound first.
    Listen,
    /// `sendto(fd, buf, len, flags, addr, addrlen)` with an address.
    SendTo,
    /// `sendmsg(fd, msghdr, flags)`: the address is in the header.
    SendMsg,
}

/// What an operation does to the file a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Looks at metadata (stat, access, readlink, chdir, statfs, getxattr).
    Stat,
    /// Reads content or lists a directory (open for reading, exec).
    Read,
    /// Changes an existing file or its metadata.
    Write,
    /// Makes a new name (mkdir, mknod, symlink, link target, rename target).
    Create,
    /// Removes a name (unlink, rmdir, rename source).
    Remove,
    /// `access`-style: `Write` when the mode argument has `W_OK`, else `Stat`.
    StatOrWriteByMode { mode_arg: u8 },
}

/// Whether the final component is followed if it is a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    Always,
    Never,
    /// Followed unless `flag` is set in argument `arg` (`AT_SYMLINK_NOFOLLOW`).
    UnlessFlag {
        arg: u8,
        flag: u64,
    },
    /// Followed only if `flag` is set in argument `arg` (`AT_SYMLINK_FOLLOW`).
    IfFlag {
        arg: u8,
        flag: u64,
    },
}

/// One path argument of a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOperand {
    /// The argument holding the directory fd relative paths start from;
    /// `None` means the current directory.
    pub dirfd: Option<u8>,
    /// The argument holding the path pointer.
    pub path: u8,
    pub access: Access,
    pub follow: Follow,
    /// When an empty path means "the dirfd itself".
    pub empty_path: EmptyPath,
    /// A NULL path means "the dirfd itself" (`utimensat`).
    pub null_means_dirfd: bool,
}

/// When an empty path names the dirfd itself rather than failing with ENOENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyPath {
    Never,
    /// When argument `arg` has `AT_EMPTY_PATH`.
    IfFlag(u8),
    /// Always (`readlinkat` on an `O_PATH` symlink descriptor).
    Always,
}

/// A path syscall: one operand, or two (`rename`, `link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathCall {
    pub first: PathOperand,
    pub second: Option<PathOperand>,
}

/// Where an open's flags live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFlags {
    /// In this argument.
    Arg(u8),
    /// `creat(2)`: always `O_CREAT | O_WRONLY | O_TRUNC`.
    Creat,
    /// In the `struct open_how` this argument points to (`openat2`).
    How(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenCall {
    pub dirfd: Option<u8>,
    pub path: u8,
    pub flags: OpenFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneCall {
    /// `clone(flags, ...)`: flags in argument 0.
    Clone,
    /// `clone3(struct clone_args *, size)`.
    Clone3,
    Fork,
    Vfork,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalCall {
    /// `kill(pid, sig)`: pid > 0, 0 (own group), -1 (everyone), < -1 (group).
    Kill,
    /// `tkill(tid, sig)`
    Tkill,
    /// `tgkill(tgid, tid, sig)`
    Tgkill,
    /// `rt_sigqueueinfo(tgid, sig, info)`
    Queue,
    /// `rt_tgsigqueueinfo(tgid, tid, sig, info)`
    TgQueue,
}

/// The `which` values of a `(which, who)` pair (they differ between
/// `setpriority` and `ioprio_set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityWhich {
    pub process: u64,
    pub group: u64,
}

const fn operand(dirfd: Option<u8>, path: u8, access: Access, follow: Follow) -> PathOperand {
    PathOperand {
        dirfd,
        path,
        access,
        follow,
        empty_path: EmptyPath::Never,
        null_means_dirfd: false,
    }
}

const fn with_empty_path(mut op: PathOperand, flags_arg: u8) -> PathOperand {
    op.empty_path = EmptyPath::IfFlag(flags_arg);
    op
}

const fn one(first: PathOperand) -> Class {
    Class::Check(Check::Path(PathCall {
        first,
        second: None,
    }))
}

const fn two(first: PathOperand, second: PathOperand) -> Class {
    Class::Check(Check::Path(PathCall {
        first,
        second: Some(second),
    }))
}

const NOFOLLOW_AT: u64 = libc::AT_SYMLINK_NOFOLLOW as u64;
const FOLLOW_AT: u64 = libc::AT_SYMLINK_FOLLOW as u64;
const IN_DONT_FOLLOW: u64 = libc::IN_DONT_FOLLOW as u64;

const fn unless_nofollow(arg: u8) -> Follow {
    Follow::UnlessFlag {
        arg,
        flag: NOFOLLOW_AT,
    }
}

/// How a [`Check::SignalOwner`] call names its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerCall {
    /// `fcntl(fd, F_SETOWN, pid)`: a pid, or a process group as `-pgid`.
    FcntlSetown,
    /// `fcntl(fd, F_SETOWN_EX, &struct f_owner_ex { type, pid })`.
    FcntlSetownEx,
    /// `ioctl(fd, FIOSETOWN or SIOCSPGRP, &pid)`: as `F_SETOWN`, through
    /// a pointer.
    IoctlPointer,
}

/// How a [`Check::AsyncSignals`] call starts or shapes a descriptor's
/// signals; the descriptor is always argument 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncCall {
    /// `fcntl(fd, F_SETFL, flags)` with `O_ASYNC`: starts signals to the
    /// owner (on a terminal, its foreground group, which the kernel makes
    /// the owner itself).
    FcntlSetfl,
    /// `fcntl(fd, F_SETSIG, signal)`: chooses the signal the owner gets.
    FcntlSetsig,
    /// `ioctl(fd, FIOASYNC, &on)`: `O_ASYNC` by another name.
    IoctlAsync,
}

const FIOASYNC: u32 = libc::FIOASYNC as u32;
const F_SETFL: u32 = libc::F_SETFL as u32;
const F_SETOWN: u32 = libc::F_SETOWN as u32;
const F_SETLEASE: u32 = libc::F_SETLEASE as u32;
// libc has none of these for x86_64 glibc (asm-generic/sockios.h,
// asm-generic/fcntl.h, linux/fcntl.h).
const FIOSETOWN: u32 = 0x8901;
const SIOCSPGRP: u32 = 0x8902;
const F_SETOWN_EX: u32 = 15;
const F_SETSIG: u32 = 10;
const F_SET_RW_HINT: u32 = 1036;

const fn native(value: u32) -> ArgCase {
    ArgCase {
        value,
        action: ArgAction::Allow,
        bits: None,
    }
}

/// An `ioctl` that changes the object behind its descriptor.
const fn changes_object(value: u32) -> ArgCase {
    ArgCase {
        value,
        action: ArgAction::Check(Check::ObjectChange { fd: 0 }),
        bits: None,
    }
}

/// The `ioctl` requests the jail knows; every other one is refused with
/// `ENOTTY`, the kernel's own answer to a request a file does not take, so
/// programs that probe fall back as they would on any other file. An
/// `ioctl` needs no write access to the descriptor, so a request that can
/// change an inode, a filesystem or a device cannot run natively on a
/// descriptor of a see-only object.
///
/// Natively: requests that only read state (flags, sizes, extents, a
/// terminal's modes and window, a pty's number), that change the
/// descriptor alone (close-on-exec, non-blocking), and `FICLONE` and
/// `FICLONERANGE`, which the kernel refuses unless the descriptor was
/// opened for writing (an open the jail judged). Judged as a write on the
/// descriptor's object: inode flags and the version, a terminal's modes,
/// window, line state and foreground group, a pty's lock and packet mode,
/// its peer (opened without a path). Checked for their target:
/// `FIOSETOWN`, `SIOCSPGRP`, `FIOASYNC` (see [`Check::SignalOwner`]).
/// Refused with `EPERM`: `TIOCSTI` types into the terminal's input queue
/// (and so into the shell that started the jail), `TIOCLINUX` can copy and
/// paste on a console.
const IOCTL_CASES: &[ArgCase] = &[
    // The descriptor itself.
    native(0x5451), // FIOCLEX
    native(0x5450), // FIONCLEX
    native(0x5421), // FIONBIO
    native(0x5460), // FIOQSIZE
    native(0x541B), // FIONREAD, TIOCINQ, SIOCINQ
    native(0x5411), // TIOCOUTQ, SIOCOUTQ
    native(0x8905), // SIOCATMARK
    native(0x8903), // FIOGETOWN
    native(0x8904), // SIOCGPGRP
    // Files: reads of flags, layout and the filesystem's name.
    native(2),           // FIGETBSZ
    native(0x8008_6601), // FS_IOC_GETFLAGS
    native(0x8004_6601), // FS_IOC32_GETFLAGS
    native(0x801C_581F), // FS_IOC_FSGETXATTR
    native(0x8008_7601), // FS_IOC_GETVERSION
    native(0x8004_7601), // FS_IOC32_GETVERSION
    native(0xC020_660B), // FS_IOC_FIEMAP
    native(0x8111_1500), // FS_IOC_GETFSUUID
    native(0x8100_9431), // FS_IOC_GETFSLABEL
    native(0x4004_9409), // FICLONE: the kernel wants the target open for writing
    native(0x4020_940D), // FICLONERANGE: likewise
    native(0x8004_5200), // RNDGETENTCNT
    // Terminals: reads.
    native(0x5401),      // TCGETS
    native(0x802C_542A), // TCGETS2
    native(0x5405),      // TCGETA
    native(0x540F),      // TIOCGPGRP
    native(0x5413),      // TIOCGWINSZ
    native(0x5429),      // TIOCGSID
    native(0x5424),      // TIOCGETD
    native(0x5415),      // TIOCMGET
    native(0x5419),      // TIOCGSOFTCAR
    native(0x5456),      // TIOCGLCKTRMIOS
    native(0x8004_5430), // TIOCGPTN
    native(0x8004_5438), // TIOCGPKT
    native(0x8004_5439), // TIOCGPTLCK
    native(0x8004_5440), // TIOCGEXCL
    // It gives up the caller's own controlling terminal (the jail's
    // session has none).
    native(0x5422), // TIOCNOTTY
    // Inodes.
    changes_object(0x4008_6602), // FS_IOC_SETFLAGS
    changes_object(0x4004_6602), // FS_IOC32_SETFLAGS
    changes_object(0x401C_5820), // FS_IOC_FSSETXATTR
    changes_object(0x4008_7602), // FS_IOC_SETVERSION
    changes_object(0x4004_7602), // FS_IOC32_SETVERSION
    // Terminals: modes, window, line state, foreground group.
    changes_object(0x5402),      // TCSETS
    changes_object(0x5403),      // TCSETSW
    changes_object(0x5404),      // TCSETSF
    changes_object(0x402C_542B), // TCSETS2
    changes_object(0x402C_542C), // TCSETSW2
    changes_object(0x402C_542D), // TCSETSF2
    changes_object(0x5406),      // TCSETA
    changes_object(0x5407),      // TCSETAW
    changes_object(0x5408),      // TCSETAF
    changes_object(0x5409),      // TCSBRK
    changes_object(0x5425),      // TCSBRKP
    changes_object(0x5427),      // TIOCSBRK
    changes_object(0x5428),      // TIOCCBRK
    changes_object(0x540A),      // TCXONC
    changes_object(0x540B),      // TCFLSH
    changes_object(0x5414),      // TIOCSWINSZ
    changes_object(0x5410),      // TIOCSPGRP
    changes_object(0x540C),      // TIOCEXCL
    changes_object(0x540D),      // TIOCNXCL
    changes_object(0x5416),      // TIOCMBIS
    changes_object(0x5417),      // TIOCMBIC
    changes_object(0x5418),      // TIOCMSET
    changes_object(0x541A),      // TIOCSSOFTCAR
    // Pseudo-terminals: the master's lock and mode, and its peer.
    changes_object(0x4004_5431), // TIOCSPTLCK
    changes_object(0x5420),      // TIOCPKT
    changes_object(0x5441),      // TIOCGPTPEER
    // Who gets the descriptor's signals.
    ArgCase {
        value: FIOSETOWN,
        action: ArgAction::Check(Check::SignalOwner(OwnerCall::IoctlPointer)),
        bits: None,
    },
    ArgCase {
        value: SIOCSPGRP,
        action: ArgAction::Check(Check::SignalOwner(OwnerCall::IoctlPointer)),
        bits: None,
    },
    ArgCase {
        value: FIOASYNC,
        action: ArgAction::Check(Check::AsyncSignals(AsyncCall::IoctlAsync)),
        bits: None,
    },
    ArgCase {
        value: libc::TIOCSTI as u32,
        action: ArgAction::Refuse(EPERM),
        bits: None,
    },
    ArgCase {
        value: libc::TIOCLINUX as u32,
        action: ArgAction::Refuse(EPERM),
        bits: None,
    },
];

/// `socketpair` types refused: `SOCK_DGRAM`, with or without
/// `SOCK_NONBLOCK` and `SOCK_CLOEXEC` (the kernel reads them in the same
/// argument). Stream and seqpacket pairs ignore a destination address.
const SOCKET_CASES: &[ArgCase] = &[
    native(libc::AF_UNIX as u32),
    ArgCase {
        value: libc::AF_INET as u32,
        action: ArgAction::Check(Check::Socket(SocketCall::Create)),
        bits: None,
    },
    ArgCase {
        value: libc::AF_INET6 as u32,
        action: ArgAction::Check(Check::Socket(SocketCall::Create)),
        bits: None,
    },
];

const SOCKETPAIR_CASES: &[ArgCase] = &[
    ArgCase {
        value: libc::SOCK_DGRAM as u32,
        action: ArgAction::Refuse(EACCES),
        bits: None,
    },
    ArgCase {
        value: (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as u32,
        action: ArgAction::Refuse(EACCES),
        bits: None,
    },
    ArgCase {
        value: (libc::SOCK_DGRAM | libc::SOCK_NONBLOCK) as u32,
        action: ArgAction::Refuse(EACCES),
        bits: None,
    },
    ArgCase {
        value: (libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32,
        action: ArgAction::Refuse(EACCES),
        bits: None,
    },
];

/// `fcntl` commands that choose who gets a descriptor's signals, or start
/// them.
const FCNTL_CASES: &[ArgCase] = &[
    ArgCase {
        value: F_SETOWN,
        action: ArgAction::Check(Check::SignalOwner(OwnerCall::FcntlSetown)),
        bits: None,
    },
    ArgCase {
        value: F_SETOWN_EX,
        action: ArgAction::Check(Check::SignalOwner(OwnerCall::FcntlSetownEx)),
        bits: None,
    },
    ArgCase {
        value: F_SETFL,
        action: ArgAction::Check(Check::AsyncSignals(AsyncCall::FcntlSetfl)),
        bits: Some((2, libc::O_ASYNC as u32)),
    },
    ArgCase {
        value: F_SETSIG,
        action: ArgAction::Check(Check::AsyncSignals(AsyncCall::FcntlSetsig)),
        bits: None,
    },
    // A lease makes every other opener of the file wait (up to the
    // machine's lease-break time) and signals the holder: a write on the
    // file in effect, though a read-only descriptor may take one.
    ArgCase {
        value: F_SETLEASE,
        action: ArgAction::Check(Check::ObjectChange { fd: 0 }),
        bits: None,
    },
    // The write-lifetime hint is kept by the inode, whatever the
    // descriptor's mode.
    ArgCase {
        value: F_SET_RW_HINT,
        action: ArgAction::Check(Check::ObjectChange { fd: 0 }),
        bits: None,
    },
];

/// How a call that can make a regular file bigger reaches it. These run
/// natively ([`Class::Native`]) unless the config has `cowquota`: then the
/// filter stops them and the tracer charges the growth to the layer.
/// `tee` and `vmsplice` only fill pipes; `truncate` is a path call,
/// charged where its path is judged; `io_submit` needs `io_setup`, which
/// `cowquota` refuses; `FICLONE` and `FICLONERANGE` are refused by the
/// filter under `cowquota` (programs fall back to copying, which is
/// charged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Writes `len` bytes to descriptor `fd`, at `at`.
    Write { fd: u8, len: Length, at: Place },
    /// `ftruncate(fd, length)`: the file's new size.
    Truncate { fd: u8, size: u8 },
    /// `fallocate(fd, mode, offset, len)`.
    Allocate,
}

/// How many bytes a [`Growth::Write`] moves, at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// This argument.
    Arg(u8),
    /// The sum of the iovec array at argument `array`, `count` entries.
    Iovec { array: u8, count: u8 },
    /// From descriptor `fd`, starting at the `loff_t` argument `offset`
    /// points to (its position when NULL), at most argument `max`: what a
    /// regular file has left there (`sendfile`, `copy_file_range`).
    FromFile { fd: u8, offset: u8, max: u8 },
    /// From the pipe at descriptor `fd`, at most argument `max` (`splice`).
    FromPipe { fd: u8, max: u8 },
}

/// Where a [`Growth::Write`] starts in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The descriptor's position.
    Position,
    /// The offset in this argument (`pwrite64`, `pwritev`).
    Offset(u8),
    /// The offset in argument `offset`, or the position when it is -1;
    /// `RWF_APPEND` in argument `flags` appends (`pwritev2`).
    OffsetOrPosition { offset: u8, flags: u8 },
    /// The `loff_t` this argument points to, or the position when NULL.
    Pointer(u8),
}

/// The growth shape of syscall `name`, if it can make a regular file
/// bigger through a descriptor.
pub fn growth_of(name: &str) -> Option<Growth> {
    use Growth::Write;
    let position = Place::Position;
    Some(match name {
        "write" => Write {
            fd: 0,
            len: Length::Arg(2),
            at: position,
        },
        "pwrite64" => Write {
            fd: 0,
            len: Length::Arg(2),
            at: Place::Offset(3),
        },
        "writev" => Write {
            fd: 0,
            len: Length::Iovec { array: 1, count: 2 },
            at: position,
        },
        "pwritev" => Write {
            fd: 0,
            len: Length::Iovec { array: 1, count: 2 },
            at: Place::Offset(3),
        },
        "pwritev2" => Write {
            fd: 0,
            len: Length::Iovec { array: 1, count: 2 },
            at: Place::OffsetOrPosition {
                offset: 3,
                flags: 5,
            },
        },
        // sendfile(out, in, *offset, count)
        "sendfile" => Write {
            fd: 0,
            len: Length::FromFile {
                fd: 1,
                offset: 2,
                max: 3,
            },
            at: position,
        },
        // copy_file_range(in, *off_in, out, *off_out, len, flags)
        "copy_file_range" => Write {
            fd: 2,
            len: Length::FromFile {
                fd: 0,
                offset: 1,
                max: 4,
            },
            at: Place::Pointer(3),
        },
        // splice(in, *off_in, out, *off_out, len, flags): into a file,
        // `in` is a pipe.
        "splice" => Write {
            fd: 2,
            len: Length::FromPipe { fd: 0, max: 4 },
            at: Place::Pointer(3),
        },
        "ftruncate" => Growth::Truncate { fd: 0, size: 1 },
        "fallocate" => Growth::Allocate,
        _ => return None,
    })
}

/// The jail's treatment of the syscall `name`. Unknown names are refused.
pub fn class_of(name: &str) -> Class {
    use Access::*;
    use Class::*;
    use Follow::{Always, Never};
    match name {
        // ---- paths: one operand ----
        "stat" => one(operand(None, 0, Stat, Always)),
        "lstat" => one(operand(None, 0, Stat, Never)),
        "newfstatat" => one(with_empty_path(
            operand(Some(0), 1, Stat, unless_nofollow(3)),
            3,
        )),
        "statx" => one(with_empty_path(
            operand(Some(0), 1, Stat, unless_nofollow(2)),
            2,
        )),
        "access" => one(operand(None, 0, StatOrWriteByMode { mode_arg: 1 }, Always)),
        "faccessat" => one(operand(
            Some(0),
            1,
            StatOrWriteByMode { mode_arg: 2 },
            Always,
        )),
        "faccessat2" => one(with_empty_path(
            operand(
                Some(0),
                1,
                StatOrWriteByMode { mode_arg: 2 },
                unless_nofollow(3),
            ),
            3,
        )),
        "readlink" => one(operand(None, 0, Stat, Never)),
        "readlinkat" => one(PathOperand {
            empty_path: EmptyPath::Always,
            ..operand(Some(0), 1, Stat, Never)
        }),
        "chdir" => one(operand(None, 0, Stat, Always)),
        "statfs" => one(operand(None, 0, Stat, Always)),
        "getxattr" | "listxattr" => one(operand(None, 0, Stat, Always)),
        "lgetxattr" | "llistxattr" => one(operand(None, 0, Stat, Never)),
        "getxattrat" | "listxattrat" => one(with_empty_path(
            operand(Some(0), 1, Stat, unless_nofollow(2)),
            2,
        )),
        "setxattr" | "removexattr" => one(operand(None, 0, Write, Always)),
        "lsetxattr" | "lremovexattr" => one(operand(None, 0, Write, Never)),
        "setxattrat" | "removexattrat" => one(with_empty_path(
            operand(Some(0), 1, Write, unless_nofollow(2)),
            2,
        )),
        "file_getattr" => one(with_empty_path(
            operand(Some(0), 1, Stat, unless_nofollow(4)),
            4,
        )),
        "file_setattr" => one(with_empty_path(
            operand(Some(0), 1, Write, unless_nofollow(4)),
            4,
        )),
        "inotify_add_watch" => one(operand(
            None,
            1,
            Stat,
            Follow::UnlessFlag {
                arg: 2,
                flag: IN_DONT_FOLLOW,
            },
        )),
        "chmod" => one(operand(None, 0, Write, Always)),
        "fchmodat" => one(operand(Some(0), 1, Write, Always)),
        "fchmodat2" => one(with_empty_path(
            operand(Some(0), 1, Write, unless_nofollow(3)),
            3,
        )),
        "chown" => one(operand(None, 0, Write, Always)),
        "lchown" => one(operand(None, 0, Write, Never)),
        "fchownat" => one(with_empty_path(
            operand(Some(0), 1, Write, unless_nofollow(4)),
            4,
        )),
        "truncate" => one(operand(None, 0, Write, Always)),
        "utime" | "utimes" => one(operand(None, 0, Write, Always)),
        "futimesat" => one(operand(Some(0), 1, Write, Always)),
        "utimensat" => one(PathOperand {
            null_means_dirfd: true,
            ..with_empty_path(operand(Some(0), 1, Write, unless_nofollow(3)), 3)
        }),
        "mkdir" => one(operand(None, 0, Create, Never)),
        "mkdirat" => one(operand(Some(0), 1, Create, Never)),
        "mknod" => one(operand(None, 0, Create, Never)),
        "mknodat" => one(operand(Some(0), 1, Create, Never)),
        "rmdir" => one(operand(None, 0, Remove, Never)),
        "unlink" => one(operand(None, 0, Remove, Never)),
        "unlinkat" => one(operand(Some(0), 1, Remove, Never)),
        "symlink" => one(operand(None, 1, Create, Never)),
        "symlinkat" => one(operand(Some(1), 2, Create, Never)),
        // ---- paths: two operands ----
        "rename" => two(
            operand(None, 0, Remove, Never),
            operand(None, 1, Create, Never),
        ),
        "renameat" | "renameat2" => two(
            operand(Some(0), 1, Remove, Never),
            operand(Some(2), 3, Create, Never),
        ),
        // A hard link is a new writable name for its source, so the source
        // must be writable too.
        "link" => two(
            operand(None, 0, Write, Never),
            operand(None, 1, Create, Never),
        ),
        "linkat" => two(
            with_empty_path(
                operand(
                    Some(0),
                    1,
                    Write,
                    Follow::IfFlag {
                        arg: 4,
                        flag: FOLLOW_AT,
                    },
                ),
                4,
            ),
            operand(Some(2), 3, Create, Never),
        ),
        // ---- opens and exec ----
        "open" => Check(self::Check::Open(OpenCall {
            dirfd: None,
            path: 0,
            flags: OpenFlags::Arg(1),
        })),
        "openat" => Check(self::Check::Open(OpenCall {
            dirfd: Some(0),
            path: 1,
            flags: OpenFlags::Arg(2),
        })),
        "openat2" => Check(self::Check::Open(OpenCall {
            dirfd: Some(0),
            path: 1,
            flags: OpenFlags::How(2),
        })),
        "creat" => Check(self::Check::Open(OpenCall {
            dirfd: None,
            path: 0,
            flags: OpenFlags::Creat,
        })),
        "execve" => Check(self::Check::Exec(operand(None, 0, Read, Always))),
        "execveat" => Check(self::Check::Exec(with_empty_path(
            operand(Some(0), 1, Read, unless_nofollow(4)),
            4,
        ))),
        // ---- processes and signals ----
        "clone" => Check(self::Check::Clone(CloneCall::Clone)),
        "clone3" => Check(self::Check::Clone(CloneCall::Clone3)),
        "fork" => Check(self::Check::Clone(CloneCall::Fork)),
        "vfork" => Check(self::Check::Clone(CloneCall::Vfork)),
        "kill" => Check(self::Check::Signal(SignalCall::Kill)),
        "tkill" => Check(self::Check::Signal(SignalCall::Tkill)),
        "tgkill" => Check(self::Check::Signal(SignalCall::Tgkill)),
        "rt_sigqueueinfo" => Check(self::Check::Signal(SignalCall::Queue)),
        "rt_tgsigqueueinfo" => Check(self::Check::Signal(SignalCall::TgQueue)),
        "pidfd_open"
        | "prlimit64"
        | "sched_setaffinity"
        | "sched_getaffinity"
        | "sched_setscheduler"
        | "sched_getscheduler"
        | "sched_setparam"
        | "sched_getparam"
        | "sched_setattr"
        | "sched_getattr"
        | "sched_rr_get_interval"
        | "get_robust_list"
        | "migrate_pages"
        | "move_pages"
        | "process_vm_readv"
        | "process_vm_writev"
        | "getpgid"
        | "getsid" => Check(self::Check::Pids(&[0])),
        "kcmp" => Check(self::Check::Pids(&[0, 1])),
        "setpriority" | "getpriority" => Check(self::Check::Priority(PriorityWhich {
            process: 0,
            group: 1,
        })),
        "ioprio_set" | "ioprio_get" => Check(self::Check::Priority(PriorityWhich {
            process: 1,
            group: 2,
        })),
        "fchmod" | "fchown" | "fsetxattr" | "fremovexattr" => Check(self::Check::Descriptor {
            fd: 0,
            access: Write,
        }),
        "seccomp" => Check(self::Check::Seccomp),
        "io_setup" => Check(self::Check::AsyncIo),
        "personality" => Check(self::Check::Personality),
        "mmap" => Guard(MemoryGuard::Mmap),
        "munmap" | "mprotect" | "pkey_mprotect" | "madvise" | "remap_file_pages" => {
            Guard(MemoryGuard::Range)
        }
        "mremap" => Guard(MemoryGuard::Mremap),
        // System V IPC objects live in one namespace per machine, named by
        // guessable ids: they would reach the segments, semaphores and
        // queues of whoever runs the jail, and of every other jail (shmat
        // of an id made outside included). Refused like other missing
        // features; shmdt, which only detaches, stays.
        "shmget" | "shmat" | "shmctl" | "semget" | "semop" | "semtimedop" | "semctl" | "msgget"
        | "msgsnd" | "msgrcv" | "msgctl" => Refuse(ENOSYS),
        "ioctl" => ByArg {
            arg: 1,
            cases: IOCTL_CASES,
            otherwise: ArgAction::Refuse(ENOTTY),
        },
        "fcntl" => ByArg {
            arg: 1,
            cases: FCNTL_CASES,
            otherwise: ArgAction::Allow,
        },

        // ---- refused: the filesystem namespace and the machine ----
        "mount" | "umount2" | "pivot_root" | "chroot" | "move_mount" | "open_tree"
        | "open_tree_attr" | "fsopen" | "fsconfig" | "fsmount" | "fspick" | "mount_setattr"
        | "statmount" | "listmount" | "name_to_handle_at" | "open_by_handle_at" | "unshare"
        | "setns" | "swapon" | "swapoff" | "acct" | "quotactl" | "quotactl_fd"
        | "fanotify_init" | "fanotify_mark" | "reboot" | "kexec_load" | "kexec_file_load"
        | "init_module" | "finit_module" | "delete_module" | "syslog" | "sethostname"
        | "setdomainname" | "settimeofday" | "clock_settime" | "adjtimex" | "clock_adjtime"
        | "iopl" | "ioperm" | "vhangup" | "modify_ldt" | "ptrace" | "bpf" | "add_key"
        | "request_key" | "keyctl" | "pidfd_getfd" | "process_madvise" | "lsm_set_self_attr"
        | "process_mrelease" => Refuse(EPERM),
        "perf_event_open" => Refuse(EACCES),
        // Unix sockets of every type; TCP and UDP over IPv4 and IPv6 are
        // judged at creation (which protocol); every other family is
        // refused. What a socket reaches is decided where it reaches:
        // binding makes a socket file, abstract name or port, connecting
        // and sending with an address reach a socket file or a host, and
        // a listen on an unbound socket binds it first.
        "socket" => ByArg {
            arg: 0,
            cases: SOCKET_CASES,
            // Refused by the tracer, which says so under `report`.
            otherwise: ArgAction::Check(self::Check::Socket(SocketCall::Create)),
        },
        "bind" => Check(self::Check::Socket(SocketCall::Bind)),
        "connect" => Check(self::Check::Socket(SocketCall::Connect)),
        "listen" => Check(self::Check::Socket(SocketCall::Listen)),
        "sendto" => CheckUnlessNull {
            arg: 4,
            check: self::Check::Socket(SocketCall::SendTo),
        },
        "sendmsg" => Check(self::Check::Socket(SocketCall::SendMsg)),
        // Its vector of addresses would need a copy of every message
        // header; the C library and libuv fall back to sendmsg or sendto.
        "sendmmsg" => Refuse(ENOSYS),
        "socketpair" => ByArg {
            arg: 1,
            cases: SOCKETPAIR_CASES,
            otherwise: ArgAction::Allow,
        },
        // Refused with ENOSYS so that programs take their fallback paths.
        "io_uring_setup" | "io_uring_enter" | "io_uring_register" | "userfaultfd" | "uselib"
        | "lookup_dcookie" | "nfsservctl" | "mq_open" | "mq_unlink" | "uretprobe" | "_sysctl"
        | "create_module" | "get_kernel_syms" | "query_module" | "getpmsg" | "putpmsg"
        | "afs_syscall" | "tuxcall" | "security" | "vserver" | "epoll_ctl_old"
        | "epoll_wait_old" | "set_thread_area" | "get_thread_area" => Refuse(ENOSYS),

        // ---- native: everything that only touches what the process holds ----
        "read"
        | "write"
        | "close"
        | "fstat"
        | "poll"
        | "lseek"
        | "brk"
        | "rt_sigaction"
        | "rt_sigprocmask"
        | "rt_sigreturn"
        | "pread64"
        | "pwrite64"
        | "readv"
        | "writev"
        | "pipe"
        | "select"
        | "sched_yield"
        | "msync"
        | "mincore"
        | "dup"
        | "dup2"
        | "pause"
        | "nanosleep"
        | "getitimer"
        | "alarm"
        | "setitimer"
        | "getpid"
        | "sendfile"
        | "accept"
        | "recvfrom"
        | "recvmsg"
        | "shutdown"
        | "getsockname"
        | "getpeername"
        | "setsockopt"
        | "getsockopt"
        | "exit"
        | "wait4"
        | "uname"
        | "shmdt"
        | "flock"
        | "fsync"
        | "fdatasync"
        | "ftruncate"
        | "getdents"
        | "getcwd"
        | "fchdir"
        | "umask"
        | "gettimeofday"
        | "getrlimit"
        | "getrusage"
        | "sysinfo"
        | "times"
        | "getuid"
        | "getgid"
        | "setuid"
        | "setgid"
        | "geteuid"
        | "getegid"
        | "setpgid"
        | "getppid"
        | "getpgrp"
        | "setsid"
        | "setreuid"
        | "setregid"
        | "getgroups"
        | "setgroups"
        | "setresuid"
        | "getresuid"
        | "setresgid"
        | "getresgid"
        | "setfsuid"
        | "setfsgid"
        | "capget"
        | "capset"
        | "rt_sigpending"
        | "rt_sigtimedwait"
        | "rt_sigsuspend"
        | "sigaltstack"
        | "ustat"
        | "fstatfs"
        | "sysfs"
        | "mlock"
        | "munlock"
        | "mlockall"
        | "munlockall"
        | "prctl"
        | "arch_prctl"
        | "setrlimit"
        | "sync"
        | "gettid"
        | "readahead"
        | "fgetxattr"
        | "flistxattr"
        | "time"
        | "futex"
        | "io_destroy"
        | "io_getevents"
        | "io_submit"
        | "io_cancel"
        | "epoll_create"
        | "getdents64"
        | "set_tid_address"
        | "restart_syscall"
        | "fadvise64"
        | "timer_create"
        | "timer_settime"
        | "timer_gettime"
        | "timer_getoverrun"
        | "timer_delete"
        | "clock_gettime"
        | "clock_getres"
        | "clock_nanosleep"
        | "exit_group"
        | "epoll_wait"
        | "epoll_ctl"
        | "mbind"
        | "set_mempolicy"
        | "get_mempolicy"
        | "mq_timedsend"
        | "mq_timedreceive"
        | "mq_notify"
        | "mq_getsetattr"
        | "waitid"
        | "inotify_init"
        | "inotify_rm_watch"
        | "pselect6"
        | "ppoll"
        | "set_robust_list"
        | "splice"
        | "tee"
        | "sync_file_range"
        | "vmsplice"
        | "epoll_pwait"
        | "signalfd"
        | "timerfd_create"
        | "eventfd"
        | "fallocate"
        | "timerfd_settime"
        | "timerfd_gettime"
        | "accept4"
        | "signalfd4"
        | "eventfd2"
        | "epoll_create1"
        | "dup3"
        | "pipe2"
        | "inotify_init1"
        | "preadv"
        | "pwritev"
        | "recvmmsg"
        | "syncfs"
        | "getcpu"
        | "getrandom"
        | "memfd_create"
        | "membarrier"
        | "mlock2"
        | "copy_file_range"
        | "preadv2"
        | "pwritev2"
        | "pkey_alloc"
        | "pkey_free"
        | "rseq"
        | "pidfd_send_signal"
        | "close_range"
        | "epoll_pwait2"
        | "landlock_create_ruleset"
        | "landlock_add_rule"
        | "landlock_restrict_self"
        | "memfd_secret"
        | "futex_waitv"
        | "set_mempolicy_home_node"
        | "cachestat"
        | "map_shadow_stack"
        | "futex_wake"
        | "futex_wait"
        | "futex_requeue"
        | "lsm_get_self_attr"
        | "lsm_list_modules"
        | "mseal"
        | "sched_get_priority_max"
        | "sched_get_priority_min"
        | "io_pgetevents" => Native,

        _ => Refuse(ENOSYS),
    }
}

/// The jail's scratch region in every jailed address space (see
/// `tracer::scratch`): low, below where non-PIE executables load
/// (0x400000) and above the usual `vm.mmap_min_addr`. The filter stops
/// memory-map calls whose address lies below `SCRATCH_END`.
pub const SCRATCH_BASE: u64 = 0x1_0000;
pub const SCRATCH_END: u64 = 0x40_0000;

/// The number of the magic syscall a suspended-session REPL makes
/// ("wake" in ASCII). It lies in the x32 range, so the filter must look
/// for it before refusing foreign ABIs.
pub const WAKEUP_SYSCALL: u32 = 0x7761_6b65;

/// The classes of one architecture's syscalls, indexed by number, built
/// once so a stop costs an index, not a name lookup.
#[derive(Debug, Clone)]
pub struct Table {
    entries: Vec<(&'static str, Class)>,
}

impl Table {
    /// The table for the native architecture. The wakeup syscall is a
    /// number outside it and is looked up separately.
    pub fn native() -> Table {
        let highest = crate::arch::syscalls().map(|(nr, _)| nr).max().unwrap_or(0);
        let mut entries = vec![("unknown", Class::Refuse(ENOSYS)); highest as usize + 1];
        for (nr, name) in crate::arch::syscalls() {
            entries[nr as usize] = (name, class_of(name));
        }
        Table { entries }
    }

    /// The name and class of syscall number `nr`.
    pub fn lookup(&self, nr: u64) -> (&'static str, Class) {
        if nr == u64::from(WAKEUP_SYSCALL) {
            return ("wakeup", Class::Check(Check::Wakeup));
        }
        usize::try_from(nr)
            .ok()
            .and_then(|index| self.entries.get(index))
            .copied()
            .unwrap_or(("unknown", Class::Refuse(ENOSYS)))
    }

    /// Every number in the table with its class, in order.
    pub fn classes(&self) -> impl Iterator<Item = Class> + '_ {
        self.entries.iter().map(|(_, class)| *class)
    }
}

/// The number the tracer turns a call into when a `syscall ... kill` line
/// refuses it at a stop: the filter (which the kernel runs again on the
/// changed call) answers it with `SECCOMP_RET_KILL_PROCESS`, so the
/// program dies of `SIGSYS` as it would had the filter refused the call
/// itself ("kill" in ASCII; like the wakeup number, in the x32 range).
pub const KILL_SYSCALL: u32 = 0x6b69_6c6c;

/// How a `syscall allow` or `syscall deny` line refuses a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The call fails with this errno.
    Errno(i32),
    /// The process is killed by `SIGSYS` (`SECCOMP_RET_KILL_PROCESS`).
    Kill,
}

impl Refusal {
    /// The refusal as a config line writes it (`EPERM`, `kill`).
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Kill => "kill",
            Refusal::Errno(errno) => ERRNO_NAMES
                .iter()
                .find(|(_, number)| *number == errno)
                .map_or("an errno", |(name, _)| name),
        }
    }
}

/// The errno names a config may give, with their Linux numbers (the
/// generic table every architecture but alpha, mips, parisc and sparc
/// shares), aliases after the name they stand for.
pub const ERRNO_NAMES: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("EWOULDBLOCK", libc::EWOULDBLOCK),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("ENOTBLK", libc::ENOTBLK),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("EXDEV", libc::EXDEV),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("ETXTBSY", libc::ETXTBSY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("ESPIPE", libc::ESPIPE),
    ("EROFS", libc::EROFS),
    ("EMLINK", libc::EMLINK),
    ("EPIPE", libc::EPIPE),
    ("EDOM", libc::EDOM),
    ("ERANGE", libc::ERANGE),
    ("EDEADLK", libc::EDEADLK),
    ("EDEADLOCK", libc::EDEADLOCK),
    ("ENAMETOOLONG", libc::ENAMETOOLONG),
    ("ENOLCK", libc::ENOLCK),
    ("ENOSYS", libc::ENOSYS),
    ("ENOTEMPTY", libc::ENOTEMPTY),
    ("ELOOP", libc::ELOOP),
    ("ENOMSG", libc::ENOMSG),
    ("EIDRM", libc::EIDRM),
    ("ECHRNG", libc::ECHRNG),
    ("EL2NSYNC", libc::EL2NSYNC),
    ("EL3HLT", libc::EL3HLT),
    ("EL3RST", libc::EL3RST),
    ("ELNRNG", libc::ELNRNG),
    ("EUNATCH", libc::EUNATCH),
    ("ENOCSI", libc::ENOCSI),
    ("EL2HLT", libc::EL2HLT),
    ("EBADE", libc::EBADE),
    ("EBADR", libc::EBADR),
    ("EXFULL", libc::EXFULL),
    ("ENOANO", libc::ENOANO),
    ("EBADRQC", libc::EBADRQC),
    ("EBADSLT", libc::EBADSLT),
    ("EBFONT", libc::EBFONT),
    ("ENOSTR", libc::ENOSTR),
    ("ENODATA", libc::ENODATA),
    ("ETIME", libc::ETIME),
    ("ENOSR", libc::ENOSR),
    ("ENONET", libc::ENONET),
    ("ENOPKG", libc::ENOPKG),
    ("EREMOTE", libc::EREMOTE),
    ("ENOLINK", libc::ENOLINK),
    ("EADV", libc::EADV),
    ("ESRMNT", libc::ESRMNT),
    ("ECOMM", libc::ECOMM),
    ("EPROTO", libc::EPROTO),
    ("EMULTIHOP", libc::EMULTIHOP),
    ("EDOTDOT", libc::EDOTDOT),
    ("EBADMSG", libc::EBADMSG),
    ("EOVERFLOW", libc::EOVERFLOW),
    ("ENOTUNIQ", libc::ENOTUNIQ),
    ("EBADFD", libc::EBADFD),
    ("EREMCHG", libc::EREMCHG),
    ("ELIBACC", libc::ELIBACC),
    ("ELIBBAD", libc::ELIBBAD),
    ("ELIBSCN", libc::ELIBSCN),
    ("ELIBMAX", libc::ELIBMAX),
    ("ELIBEXEC", libc::ELIBEXEC),
    ("EILSEQ", libc::EILSEQ),
    ("ERESTART", libc::ERESTART),
    ("ESTRPIPE", libc::ESTRPIPE),
    ("EUSERS", libc::EUSERS),
    ("ENOTSOCK", libc::ENOTSOCK),
    ("EDESTADDRREQ", libc::EDESTADDRREQ),
    ("EMSGSIZE", libc::EMSGSIZE),
    ("EPROTOTYPE", libc::EPROTOTYPE),
    ("ENOPROTOOPT", libc::ENOPROTOOPT),
    ("EPROTONOSUPPORT", libc::EPROTONOSUPPORT),
    ("ESOCKTNOSUPPORT", libc::ESOCKTNOSUPPORT),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("ENOTSUP", libc::ENOTSUP),
    ("EPFNOSUPPORT", libc::EPFNOSUPPORT),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
    ("EADDRINUSE", libc::EADDRINUSE),
    ("EADDRNOTAVAIL", libc::EADDRNOTAVAIL),
    ("ENETDOWN", libc::ENETDOWN),
    ("ENETUNREACH", libc::ENETUNREACH),
    ("ENETRESET", libc::ENETRESET),
    ("ECONNABORTED", libc::ECONNABORTED),
    ("ECONNRESET", libc::ECONNRESET),
    ("ENOBUFS", libc::ENOBUFS),
    ("EISCONN", libc::EISCONN),
    ("ENOTCONN", libc::ENOTCONN),
    ("ESHUTDOWN", libc::ESHUTDOWN),
    ("ETOOMANYREFS", libc::ETOOMANYREFS),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("EHOSTDOWN", libc::EHOSTDOWN),
    ("EHOSTUNREACH", libc::EHOSTUNREACH),
    ("EALREADY", libc::EALREADY),
    ("EINPROGRESS", libc::EINPROGRESS),
    ("ESTALE", libc::ESTALE),
    ("EUCLEAN", libc::EUCLEAN),
    ("ENOTNAM", libc::ENOTNAM),
    ("ENAVAIL", libc::ENAVAIL),
    ("EISNAM", libc::EISNAM),
    ("EREMOTEIO", libc::EREMOTEIO),
    ("EDQUOT", libc::EDQUOT),
    ("ENOMEDIUM", libc::ENOMEDIUM),
    ("EMEDIUMTYPE", libc::EMEDIUMTYPE),
    ("ECANCELED", libc::ECANCELED),
    ("ENOKEY", libc::ENOKEY),
    ("EKEYEXPIRED", libc::EKEYEXPIRED),
    ("EKEYREVOKED", libc::EKEYREVOKED),
    ("EKEYREJECTED", libc::EKEYREJECTED),
    ("EOWNERDEAD", libc::EOWNERDEAD),
    ("ENOTRECOVERABLE", libc::ENOTRECOVERABLE),
    ("ERFKILL", libc::ERFKILL),
    ("EHWPOISON", libc::EHWPOISON),
];

/// The errno a config names (`EPERM`, any case).
pub fn errno_by_name(name: &str) -> Option<i32> {
    ERRNO_NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, number)| *number)
}

/// The config's `syscall allow` and `syscall deny` lines, per syscall
/// number: what refuses a call the jail itself would let run. They only
/// narrow: a call the jail refuses keeps the jail's errno, and a call the
/// jail stops for is refused by the tracer at that stop (no stop is
/// added).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Indexed by syscall number; empty when no line narrows anything.
    by_number: Vec<Option<Refusal>>,
}

impl Narrowing {
    /// `deny` names with their refusal (a later entry for the same name
    /// wins), and an allow list with the refusal every other syscall
    /// gets. Names not in the native table are ignored (the config
    /// layer refuses them).
    pub fn new(deny: &[(&str, Refusal)], allow: Option<(&[&str], Refusal)>) -> Narrowing {
        if deny.is_empty() && allow.is_none() {
            return Narrowing::default();
        }
        let highest = crate::arch::syscalls().map(|(nr, _)| nr).max().unwrap_or(0);
        let mut by_number = vec![None; highest as usize + 1];
        for (nr, name) in crate::arch::syscalls() {
            let denied = deny.iter().rev().find(|(denied, _)| *denied == name);
            by_number[nr as usize] = match (denied, allow) {
                (Some((_, refusal)), _) => Some(*refusal),
                (None, Some((allowed, refusal))) if !allowed.contains(&name) => Some(refusal),
                _ => None,
            };
        }
        Narrowing { by_number }
    }

    /// What refuses syscall `nr`, if a line does.
    pub fn refusal(&self, nr: u64) -> Option<Refusal> {
        usize::try_from(nr)
            .ok()
            .and_then(|index| self.by_number.get(index))
            .copied()
            .flatten()
    }

    /// No line narrows anything.
    pub fn is_empty(&self) -> bool {
        self.by_number.iter().all(Option::is_none)
    }

    /// Some line kills: the filter must know [`KILL_SYSCALL`].
    pub fn kills(&self) -> bool {
        self.by_number.contains(&Some(Refusal::Kill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_native_syscall_is_classified_deliberately() {
        // A name that falls through to the default is refused; list the
        // ones that do so the table's gaps are visible in review.
        let unclassified: Vec<&str> = crate::arch::syscalls()
            .map(|(_, name)| name)
            .filter(|name| class_of(name) == Class::Refuse(ENOSYS))
            .collect();
        for name in &unclassified {
            assert!(
                [
                    "io_uring_setup",
                    "io_uring_enter",
                    "io_uring_register",
                    "userfaultfd",
                    "uselib",
                    "lookup_dcookie",
                    "nfsservctl",
                    "mq_open",
                    "mq_unlink",
                    "uretprobe",
                    "uprobe",
                    "sendmmsg",
                    "_sysctl",
                    "create_module",
                    "get_kernel_syms",
                    "query_module",
                    "getpmsg",
                    "putpmsg",
                    "afs_syscall",
                    "tuxcall",
                    "security",
                    "vserver",
                    "epoll_ctl_old",
                    "epoll_wait_old",
                    "set_thread_area",
                    "get_thread_area",
                    "shmget",
                    "shmat",
                    "shmctl",
                    "semget",
                    "semop",
                    "semtimedop",
                    "semctl",
                    "msgget",
                    "msgsnd",
                    "msgrcv",
                    "msgctl",
                ]
                .contains(name),
                "{name} is not classified"
            );
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        assert_eq!(class_of("frobnicate"), Class::Refuse(ENOSYS));
    }

    #[test]
    fn path_syscalls_stop_for_a_decision() {
        for name in [
            "open",
            "openat",
            "openat2",
            "stat",
            "statx",
            "execve",
            "rename",
            "linkat",
            "mkdir",
            "unlink",
            "truncate",
            "symlinkat",
            "fchmodat2",
            "setxattrat",
        ] {
            assert!(matches!(class_of(name), Class::Check(_)), "{name}");
        }
    }
}
