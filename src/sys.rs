//! The kernel seam: every raw syscall the jail makes that `nix` does not
//! wrap safely.
//!
//! Owns all of the crate's `unsafe` blocks. Each function makes one call
//! and states why it is sound. A function that is sound only where its
//! caller stands (after a fork, on descriptors no Rust object owns) is an
//! `unsafe fn` whose `# Safety` section says what the caller must hold;
//! the few callers say why they do in a `SAFETY` comment. Functions marked
//! "async-signal-safe" allocate nothing and may run in the child between
//! `fork` and `execve`.
#![allow(unsafe_code)]

use nix::errno::Errno;
use nix::unistd::Pid;
use rlimit::Resource;
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Installs a seccomp filter on the calling thread. Async-signal-safe.
pub(crate) fn install_seccomp_filter(program: &[libc::sock_filter]) -> Result<(), Errno> {
    let Ok(len) = u16::try_from(program.len()) else {
        return Err(Errno::E2BIG);
    };
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program`, which outlives the call; the
    // kernel copies the program and keeps no pointer into our memory.
    let result = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(result).map(drop)
}

/// `PTRACE_LISTEN`: leaves a tracee in group-stop but lets it be woken by
/// `SIGCONT`, as if no tracer were there. `nix` has no wrapper.
pub(crate) fn ptrace_listen(pid: Pid) -> Result<(), Errno> {
    // SAFETY: PTRACE_LISTEN takes no pointers; a bad pid is an errno.
    let result = unsafe {
        libc::ptrace(
            libc::PTRACE_LISTEN,
            pid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    Errno::result(result).map(drop)
}

/// Closes every descriptor in `first..=last`. Async-signal-safe.
///
/// # Safety
///
/// No Rust object may use or drop a descriptor of the range afterwards:
/// its number could by then name another file. The caller is a process
/// that is about to exec or exit, or a forked child in which the objects
/// that own what it inherited never run again.
pub(crate) unsafe fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes no pointers; that no object owns the
    // descriptors is the caller's promise.
    let result = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    Errno::result(result).map(drop)
}

/// `dup2(2)` onto a standard descriptor (0, 1 or 2): makes it another
/// name for `source`'s file. Any other target is refused with EBADF, since
/// replacing a descriptor that a Rust object owns would pull its file from
/// under it. Async-signal-safe.
pub(crate) fn dup2(source: RawFd, target: RawFd) -> Result<(), Errno> {
    if !(0..=2).contains(&target) {
        return Err(Errno::EBADF);
    }
    // SAFETY: dup2 takes no pointers. The standard descriptors belong to
    // the process, not to a Rust object: std only ever borrows them and
    // takes them to be open, which dup2 keeps them (it replaces one in
    // a single step).
    let result = unsafe { libc::dup2(source, target) };
    Errno::result(result).map(drop)
}

/// Sets a resource limit through the `rlimit` crate: one `setrlimit(2)`
/// and, on failure, the errno (`io::Error::last_os_error` allocates
/// nothing). Async-signal-safe: the crate's one allocating path, a resource
/// this platform lacks, is refused here first.
pub(crate) fn set_rlimit(resource: Resource, soft: u64, hard: u64) -> Result<(), Errno> {
    if !resource.is_supported() {
        return Err(Errno::EINVAL);
    }
    resource.set(soft, hard).map_err(|error| errno_of(&error))
}

/// The calling process's `(soft, hard)` limit for `resource`.
pub(crate) fn get_rlimit(resource: Resource) -> Result<(u64, u64), Errno> {
    resource.get().map_err(|error| errno_of(&error))
}

/// The errno of an error from the OS.
fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EINVAL))
}

/// `CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, `CAP_KILL` and
/// `CAP_SYS_PTRACE`: what the tracing thread keeps besides the program's
/// own capabilities when the program runs as another user or group
/// (`user`, `group`): to resolve paths through the directories the
/// program makes for itself, to write its scratch region through its
/// `/proc/<pid>/mem` (which the program's user owns), to kill it, and to
/// read its memory and `/proc` entry, which the kernel otherwise allows
/// only between processes of the same user and group. The program reaches
/// what the jail hands it through the keeper, which runs as the program
/// does, and opens it with its own rights.
pub(crate) const TRACER_FOR_ANOTHER_USER: u64 = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 19);
/// One past the highest capability number any kernel knows of yet.
const CAPABILITY_LIMIT: u32 = 64;

/// Which of a thread's capability sets [`drop_capabilities`] trims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CapabilityScope {
    /// Also the bounding and ambient sets, so no exec brings one back.
    ForGood,
    /// The effective, permitted and inheritable sets only.
    ThisThread,
}

/// Drops every capability outside `keep` from the calling thread: its
/// effective, permitted and inheritable sets and, `ForGood`, its ambient
/// set and its bounding set (which needs `CAP_SETPCAP`, which only a
/// privileged caller has: an unprivileged one has nothing to drop).
/// Async-signal-safe.
pub(crate) fn drop_capabilities(keep: u64, scope: CapabilityScope) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget writes two `Data` (the version 3 layout) into `data`
    // and reads `header`, both valid for the call.
    let result = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    Errno::result(result)?;
    let permitted = u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32);
    const CAP_SETPCAP: u64 = 8;
    if scope == CapabilityScope::ForGood && permitted & (1 << CAP_SETPCAP) != 0 {
        drop_bounding_set(keep)?;
    }
    if scope == CapabilityScope::ForGood {
        // SAFETY: prctl with integer arguments only.
        let result = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        // EINVAL: a kernel without ambient capabilities.
        if let Err(errno) = Errno::result(result)
            && errno != Errno::EINVAL
        {
            return Err(errno);
        }
    }
    for (index, word) in data.iter_mut().enumerate() {
        let kept = (keep >> (32 * index)) as u32;
        word.effective &= kept;
        word.permitted &= kept;
        word.inheritable &= kept;
    }
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    // SAFETY: capset reads `header` and two `Data`, valid for the call.
    let result = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    Errno::result(result).map(drop)
}

/// Drops every capability outside `keep` from the calling thread's
/// bounding set, so that no exec can bring it back (needs `CAP_SETPCAP`).
/// Async-signal-safe.
pub(crate) fn drop_bounding_set(keep: u64) -> Result<(), Errno> {
    for capability in 0..CAPABILITY_LIMIT {
        if keep & (1 << capability) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let result = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(capability),
                0,
                0,
                0,
            )
        };
        // EINVAL: a number this kernel does not know.
        if let Err(errno) = Errno::result(result)
            && errno != Errno::EINVAL
        {
            return Err(errno);
        }
    }
    Ok(())
}

/// Makes the calling thread's supplementary groups `groups`, its real,
/// effective and saved group `gid` and user `uid`, in that order (the
/// last step takes the privilege the others need). Raw syscalls, which
/// change the calling thread only: the C library's wrappers signal every
/// thread, and only a single-threaded process (a forked child) may call
/// this. Leaving uid 0 clears the permitted, effective and ambient
/// capabilities and makes the process non-dumpable until its exec.
/// Async-signal-safe.
pub(crate) fn set_identity(uid: u32, gid: u32, groups: &[libc::gid_t]) -> Result<(), Errno> {
    // SAFETY: setgroups reads `groups.len()` gids from `groups`, which
    // outlives the call.
    let result = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    Errno::result(result)?;
    // SAFETY: integer arguments only.
    let result = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    Errno::result(result)?;
    // SAFETY: integer arguments only.
    let result = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    Errno::result(result).map(drop)
}

/// `_exit(2)`: ends the child without running atexit handlers or
/// destructors that belong to the parent. Async-signal-safe. Sound for
/// every caller: skipping destructors only leaks, as `std::process::abort`
/// does.
pub fn exit_immediately(status: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(status) }
}

/// `openat2(2)` with `O_PATH`-style resolution flags; the tracer uses it to
/// resolve a path the way the kernel will, in one call.
pub(crate) fn openat2(
    dirfd: RawFd,
    path: &CStr,
    flags: u64,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    // `struct open_how` as the kernel lays it out (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` is NUL-terminated and `how` is a valid open_how; both
    // outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `fork(2)`.
///
/// # Safety
///
/// As for [`nix::unistd::fork`]: either the calling process has no other
/// thread (a new session server, forked before it starts any), and the
/// child is an ordinary program; or, until it execs or exits, the child
/// calls only async-signal-safe functions (no allocation, no lock another
/// thread may have held at the fork), as `launch`'s child does.
pub(crate) unsafe fn fork() -> Result<nix::unistd::ForkResult, Errno> {
    // SAFETY: what the child may do is the caller's promise.
    unsafe { nix::unistd::fork() }
}

/// `execve(2)` with argument and environment arrays prepared before fork.
/// Returns only on failure. Async-signal-safe.
///
/// # Safety
///
/// `argv` and `envp` must each end with a null pointer, and every other
/// pointer in them must point at a NUL-terminated string that lives
/// through the call.
pub(crate) unsafe fn execve(
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Errno {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: `path` is NUL-terminated; the arrays are as the caller
    // promises.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// Gives the child default signal handling: an ignored signal (Rust's
/// runtime ignores SIGPIPE) stays ignored across exec, and the jailed
/// program must not inherit the tracer's choices. Async-signal-safe.
pub(crate) fn reset_signal_handling() {
    // SAFETY: setting SIG_DFL installs no Rust handler; sigprocmask with a
    // valid empty set is always sound.
    unsafe {
        for signal in 1..libc::SIGRTMIN() {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// `waitpid(-1, __WALL)` returning the raw status, so that real-time
/// signals (which `nix`'s `Signal` cannot represent) survive decoding.
pub(crate) fn wait_any() -> Result<(Pid, i32), Errno> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        match Errno::result(pid) {
            Ok(pid) => return Ok((Pid::from_raw(pid), status)),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// [`wait_any`] without waiting: `Ok(None)` when no task has anything
/// to report now.
pub(crate) fn wait_any_now() -> Result<Option<(Pid, i32)>, Errno> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::WNOHANG) };
        match Errno::result(pid) {
            Ok(0) => return Ok(None),
            Ok(pid) => return Ok(Some((Pid::from_raw(pid), status))),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// Resumes a stopped tracee, delivering `signal` (0 for none). Takes a raw
/// number so real-time signals pass through unchanged.
pub(crate) fn ptrace_cont(pid: Pid, signal: i32) -> Result<(), Errno> {
    // SAFETY: PTRACE_CONT takes no pointers; the data argument is the
    // signal number.
    let result = unsafe {
        libc::ptrace(
            libc::PTRACE_CONT,
            pid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            signal as libc::c_long,
        )
    };
    Errno::result(result).map(drop)
}

/// What `PTRACE_GET_SYSCALL_INFO` says of a thread at a seccomp stop:
/// its syscall's number and arguments, and the ABI they are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeccompCall {
    pub(crate) arch: u32,
    pub(crate) nr: u64,
    pub(crate) args: [u64; 6],
}

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3+) of a thread at a seccomp stop:
/// the number and arguments the kernel will run, read from the same
/// saved registers `PTRACE_GETREGS` copies whole (which costs more: a
/// regset copied through a kernel buffer). `Ok(None)` when the thread is
/// not at a seccomp stop or the kernel says less than that.
pub(crate) fn ptrace_seccomp_call(pid: Pid) -> Result<Option<SeccompCall>, Errno> {
    /// `struct ptrace_syscall_info` with its `seccomp` member.
    #[repr(C)]
    #[derive(Default)]
    struct Info {
        op: u8,
        reserved: u8,
        flags: u16,
        arch: u32,
        instruction_pointer: u64,
        stack_pointer: u64,
        nr: u64,
        args: [u64; 6],
        ret_data: u32,
        padding: u32,
    }
    const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;
    const PTRACE_SYSCALL_INFO_SECCOMP: u8 = 3;
    // Up to the end of `args`.
    const WANTED: usize = 24 + 8 + 6 * 8;
    let mut info = Info::default();
    // SAFETY: the kernel writes at most `size_of::<Info>()` bytes (the
    // size passed) into `info`, which is that large and lives past the
    // call.
    let written = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO,
            pid.as_raw(),
            std::mem::size_of::<Info>(),
            &mut info as *mut Info,
        )
    };
    let written = Errno::result(written)? as usize;
    if info.op != PTRACE_SYSCALL_INFO_SECCOMP || written < WANTED {
        return Ok(None);
    }
    Ok(Some(SeccompCall {
        arch: info.arch,
        nr: info.nr,
        args: info.args,
    }))
}

/// `pidfd_open(2)`: a handle on a process that cannot be confused with a
/// later process reusing its pid.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd)?;
    // SAFETY: a fresh descriptor the kernel just handed us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_getfd(2)`: a duplicate of another process's descriptor (the
/// tracer may take its tracees').
pub(crate) fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> Result<OwnedFd, Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: no pointers.
    let result = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    let fd = Errno::result(result)?;
    // SAFETY: a fresh descriptor the kernel just handed us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Resumes a stopped tracee up to its next syscall stop (`PTRACE_SYSCALL`).
pub(crate) fn ptrace_syscall(pid: Pid) -> Result<(), Errno> {
    // SAFETY: no pointers; signal 0.
    let result = unsafe {
        libc::ptrace(
            libc::PTRACE_SYSCALL,
            pid.as_raw(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_long,
        )
    };
    Errno::result(result).map(drop)
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: a NULL siginfo asks the kernel to fill it as kill(2) would.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(result).map(drop)
}

/// `strsignal(3)`: the C library's description of a signal, as the
/// original jail prints it (`Killed`, `Segmentation fault`).
pub fn signal_description(signal: i32) -> String {
    // SAFETY: strsignal returns a pointer to a NUL-terminated string that
    // stays valid until the next strsignal call on this thread; we copy it
    // at once.
    let text = unsafe { libc::strsignal(signal) };
    if text.is_null() {
        return format!("Signal {signal}");
    }
    // SAFETY: non-null and NUL-terminated per strsignal's contract.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// `readlinkat(dir, "<fd>")`: the target of entry `fd` of a
/// `/proc/<tid>/fd` directory held open, written into `buffer`; its
/// length. `ENAMETOOLONG` for a target that fills the buffer, which may
/// have been cut.
pub(crate) fn readlinkat_number(dir: &OwnedFd, fd: i32, buffer: &mut [u8]) -> Result<usize, Errno> {
    use std::os::fd::AsRawFd;
    let mut name = [0u8; 12];
    let mut digits = [0u8; 10];
    let mut rest = fd.unsigned_abs();
    let mut count = 0;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (slot, digit) in name.iter_mut().zip(digits[..count].iter().rev()) {
        *slot = *digit;
    }
    // SAFETY: `name` is NUL-terminated (at most 10 digits in 12 bytes,
    // zeroed), `buffer` is writable for the length given, and `dir` is
    // an open descriptor.
    let length = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr().cast(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    let length = Errno::result(length)? as usize;
    if length >= buffer.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(length)
}

/// One memory mapping, as `PROCMAP_QUERY` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// `MAP_SHARED` (other processes may write it).
    pub(crate) shared: bool,
    /// The backing file's inode; 0 for anonymous memory.
    pub(crate) inode: u64,
    /// The backing file's path as the kernel names it (or a pseudo-name
    /// such as `[heap]`); empty unless asked for.
    pub(crate) name: Vec<u8>,
}

/// `ioctl(PROCMAP_QUERY)` (Linux 6.11+) on an open `/proc/<pid>/maps`:
/// the mapping that contains `address`, without reading the whole file.
/// ENOTTY on older kernels.
pub(crate) fn procmap_query(maps: &std::fs::File, address: u64) -> Result<Mapping, Errno> {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    #[derive(Default)]
    struct ProcmapQuery {
        size: u64,
        query_flags: u64,
        query_addr: u64,
        vma_start: u64,
        vma_end: u64,
        vma_flags: u64,
        vma_page_size: u64,
        vma_offset: u64,
        inode: u64,
        dev_major: u32,
        dev_minor: u32,
        vma_name_size: u32,
        build_id_size: u32,
        vma_name_addr: u64,
        build_id_addr: u64,
    }
    // _IOWR('f', 17, struct procmap_query)
    const PROCMAP_QUERY: libc::c_ulong = 0xC000_0000
        | ((std::mem::size_of::<ProcmapQuery>() as libc::c_ulong) << 16)
        | (0x66 << 8)
        | 17;
    const PROCMAP_QUERY_VMA_SHARED: u64 = 0x08;
    // On the stack: a heap buffer of a page, zeroed, was a `calloc` and
    // a `free` per stop. (Asking the name only of file mappings, in a
    // second query, cost more than it saved: every literal path in a
    // program's read-only data is in one.)
    let mut buffer = [0u8; libc::PATH_MAX as usize];
    let mut query = ProcmapQuery {
        size: std::mem::size_of::<ProcmapQuery>() as u64,
        query_addr: address,
        vma_name_size: buffer.len() as u32,
        vma_name_addr: buffer.as_mut_ptr() as u64,
        ..ProcmapQuery::default()
    };
    // SAFETY: `query` is a valid procmap_query of the size it declares, and
    // its name buffer points at `buffer`, which outlives the call and is as
    // large as `vma_name_size` says.
    let result = unsafe { libc::ioctl(maps.as_raw_fd(), PROCMAP_QUERY, &mut query) };
    Errno::result(result)?;
    let name = if query.inode == 0 {
        Vec::new()
    } else {
        let name = &buffer[..(query.vma_name_size as usize).min(buffer.len())];
        let end = name
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(name.len());
        name[..end].to_vec()
    };
    Ok(Mapping {
        start: query.vma_start,
        end: query.vma_end,
        shared: query.vma_flags & PROCMAP_QUERY_VMA_SHARED != 0,
        inode: query.inode,
        name,
    })
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the
/// Landlock ABI version, or an errno when the kernel has none.
pub(crate) fn landlock_abi_version() -> Result<u32, Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attribute and size 0 the kernel reads nothing.
    let result = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    Errno::result(result).map(|version| version as u32)
}

/// `landlock_create_ruleset` handling these rights. The attribute is cut to
/// the size the kernel of ABI `abi` knows (8, 16 or 24 bytes), since older
/// kernels reject unknown trailing fields.
pub(crate) fn landlock_create_ruleset(
    handled_fs: u64,
    handled_net: u64,
    scoped: u64,
    abi: u32,
) -> Result<OwnedFd, Errno> {
    let attribute: [u64; 3] = [handled_fs, handled_net, scoped];
    let size = match abi {
        0..=3 => 8,
        4 | 5 => 16,
        _ => 24,
    };
    // SAFETY: `attribute` is a valid landlock_ruleset_attr prefix of
    // `size` bytes that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            attribute.as_ptr(),
            size as usize,
            0u32,
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: a fresh (close-on-exec) descriptor the kernel just handed us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH)`: `allowed` beneath the
/// file or directory `parent` refers to.
pub(crate) fn landlock_add_path_rule(
    ruleset: &OwnedFd,
    allowed: u64,
    parent: &OwnedFd,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // struct landlock_path_beneath_attr is packed: u64 then s32.
    #[repr(C, packed)]
    struct PathBeneath {
        allowed_access: u64,
        parent_fd: i32,
    }
    const LANDLOCK_RULE_PATH_BENEATH: libc::c_uint = 1;
    let rule = PathBeneath {
        allowed_access: allowed,
        parent_fd: parent.as_raw_fd(),
    };
    // SAFETY: `rule` is a valid landlock_path_beneath_attr for the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &rule as *const PathBeneath,
            0u32,
        )
    };
    Errno::result(result).map(drop)
}

/// `landlock_add_rule(LANDLOCK_RULE_NET_PORT)`: `allowed` TCP accesses
/// (bind, connect) to `port`.
pub(crate) fn landlock_add_net_port_rule(
    ruleset: &OwnedFd,
    allowed: u64,
    port: u16,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    /// `struct landlock_net_port_attr` (not packed: two `__u64`).
    #[repr(C)]
    struct NetPort {
        allowed_access: u64,
        port: u64,
    }
    const LANDLOCK_RULE_NET_PORT: libc::c_uint = 2;
    let rule = NetPort {
        allowed_access: allowed,
        port: u64::from(port),
    };
    // SAFETY: `rule` is a valid landlock_net_port_attr that outlives the
    // call; the kernel only reads it.
    let result = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_NET_PORT,
            &rule as *const NetPort,
            0u32,
        )
    };
    Errno::result(result).map(drop)
}

/// `landlock_restrict_self`: confines the calling thread (and what it
/// execs and forks) to the ruleset. Needs no-new-privileges first.
/// Async-signal-safe.
pub fn landlock_restrict_self(ruleset: RawFd) -> Result<(), Errno> {
    // SAFETY: no pointers; a bad descriptor is an errno.
    let result = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) };
    Errno::result(result).map(drop)
}

/// `clone(CLONE_PARENT | CLONE_UNTRACED)`: a copy of the calling process
/// that is its sibling (a child of its parent) and is not traced even
/// though the caller is. Returns `None` in the new process, its pid in the
/// caller. Async-signal-safe.
///
/// # Safety
///
/// As for [`fork`]: the new process runs only async-signal-safe code
/// until it execs or exits, unless the caller has no other thread.
pub(crate) unsafe fn clone_untraced_sibling() -> Result<Option<Pid>, Errno> {
    let flags = (libc::CLONE_PARENT | libc::CLONE_UNTRACED) as libc::c_ulong;
    // SAFETY: without CLONE_VM and with a null stack this is fork(2): the
    // new process runs on its own copy of the caller's memory; what it
    // may do there is the caller's promise.
    let result = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match Errno::result(result)? {
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// The most descriptors one keeper message carries.
pub(crate) const MAX_PASSED: usize = 3;

/// Receives one message of at most `buffer.len()` bytes and the
/// descriptors passed with it (`SCM_RIGHTS`), at most [`MAX_PASSED`]
/// (the kernel closes any beyond the control buffer's room). Returns the
/// byte count, the descriptors and how many of them there are.
/// Async-signal-safe: the control buffer lives on the stack.
pub(crate) fn receive_with_descriptors(
    socket: RawFd,
    buffer: &mut [u8],
) -> Result<(usize, [RawFd; MAX_PASSED], usize), Errno> {
    // Room for one cmsghdr (16 bytes) carrying MAX_PASSED ints, 8-byte
    // aligned: CMSG_SPACE(12) = 32 bytes.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no iov, no control).
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `header` points at a live local of the
    // size given; the kernel writes only within them.
    let count = unsafe { libc::recvmsg(socket, &mut header, libc::MSG_CMSG_CLOEXEC) };
    let count = Errno::result(count)? as usize;
    let mut descriptors = [-1; MAX_PASSED];
    let mut received = 0;
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR walk the control buffer the kernel
    // filled, bounded by msg_controllen; CMSG_DATA points inside it, and
    // the ints read lie within the header's cmsg_len.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let header_len = data.cast::<u8>().offset_from(cmsg.cast::<u8>()) as usize;
                let ints = ((*cmsg).cmsg_len as usize).saturating_sub(header_len)
                    / std::mem::size_of::<RawFd>();
                for index in 0..ints {
                    let fd = std::ptr::read_unaligned(data.add(index));
                    if received < MAX_PASSED {
                        descriptors[received] = fd;
                        received += 1;
                    } else {
                        libc::close(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&header, cmsg);
        }
    }
    Ok((count, descriptors, received))
}

/// `send(2)` without `SIGPIPE`, optionally without blocking.
/// Async-signal-safe.
pub(crate) fn send_bytes(socket: RawFd, bytes: &[u8], nonblocking: bool) -> Result<usize, Errno> {
    let flags = libc::MSG_NOSIGNAL | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    // SAFETY: `bytes` is valid for its length; the kernel only reads it.
    let count = unsafe { libc::send(socket, bytes.as_ptr().cast(), bytes.len(), flags) };
    Errno::result(count).map(|count| count as usize)
}

/// `close(2)` of a descriptor held as a plain number. Async-signal-safe.
///
/// # Safety
///
/// No Rust object may own `fd` or use it afterwards: the caller owns it as
/// a number (the keeper, which received it itself).
pub(crate) unsafe fn close_raw(fd: RawFd) {
    // SAFETY: that nothing else refers to `fd` is the caller's promise.
    unsafe { libc::close(fd) };
}

/// `fcntl(fd, F_GETOWN_EX)`: the owner of the descriptor's signals, as
/// `(type, id)` (`F_OWNER_TID` 0, `F_OWNER_PID` 1, `F_OWNER_PGRP` 2; id 0:
/// none).
pub(crate) fn signal_owner(fd: &OwnedFd) -> Result<(i32, i32), Errno> {
    const F_GETOWN_EX: libc::c_int = 16;
    // struct f_owner_ex { int type; pid_t pid; }
    let mut owner = [0i32; 2];
    // SAFETY: F_GETOWN_EX writes one struct f_owner_ex (two ints) into
    // `owner`, a live local of that size.
    let result = unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            F_GETOWN_EX,
            owner.as_mut_ptr(),
        )
    };
    Errno::result(result)?;
    Ok((owner[0], owner[1]))
}

/// A socket's `(domain, type, protocol)`, from `SO_DOMAIN`, `SO_TYPE` and
/// `SO_PROTOCOL`. `ENOTSOCK` for any other descriptor.
pub(crate) fn socket_kind(fd: &OwnedFd) -> Result<(i32, i32, i32), Errno> {
    let option = |name: libc::c_int| -> Result<i32, Errno> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: each option is one int, written into `value`, a live
        // local of that size whose size `len` gives.
        let result = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::SOL_SOCKET,
                name,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        Errno::result(result)?;
        Ok(value)
    };
    Ok((
        option(libc::SO_DOMAIN)?,
        option(libc::SO_TYPE)?,
        option(libc::SO_PROTOCOL)?,
    ))
}

/// A socket's own address as the kernel reports it (`getsockname`), as
/// raw bytes: at most a `sockaddr_storage`.
pub(crate) fn socket_name(fd: &OwnedFd) -> Result<Vec<u8>, Errno> {
    let mut storage = [0u8; std::mem::size_of::<libc::sockaddr_storage>()];
    let mut len = storage.len() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `storage`, a
    // live local of that size, and the length it has into `len`.
    let result = unsafe {
        libc::getsockname(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            storage.as_mut_ptr().cast(),
            &mut len,
        )
    };
    Errno::result(result)?;
    let len = (len as usize).min(storage.len());
    Ok(storage[..len].to_vec())
}

/// Descriptors a [`std::process::Command`]'s child keeps across its exec
/// although they are close-on-exec here, so that no other child the host
/// process starts meanwhile (from any thread) inherits them.
#[derive(Debug, Clone)]
pub struct Inherited {
    /// Kept at their own numbers.
    pub keep: Vec<std::sync::Arc<OwnedFd>>,
    /// A number kept for a descriptor chosen at each spawn: it holds what
    /// `source` names when a spawn starts (`dup2` in the child), or its
    /// own file when `source` is negative.
    pub slot: Option<(
        std::sync::Arc<OwnedFd>,
        std::sync::Arc<std::sync::atomic::AtomicI32>,
    )>,
}

/// Makes `command`'s child, between fork and exec, clear close-on-exec on
/// the descriptors of `inherited` (and fill its slot). Runs before any
/// hook added later with `CommandExt::pre_exec`.
pub fn inherit_across_exec(command: &mut std::process::Command, inherited: Inherited) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let clear_cloexec = |fd: RawFd| -> std::io::Result<()> {
        // SAFETY: F_SETFD takes an int; a bad descriptor is an errno.
        let result = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        if result < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    let hook = move || -> std::io::Result<()> {
        for fd in &inherited.keep {
            clear_cloexec(fd.as_raw_fd())?;
        }
        if let Some((slot, source)) = &inherited.slot {
            let source = source.load(std::sync::atomic::Ordering::SeqCst);
            if source < 0 {
                clear_cloexec(slot.as_raw_fd())?;
            } else {
                // SAFETY: dup2 takes no pointers. The slot's number is
                // owned by an `OwnedFd` whose copy in this child never
                // runs again (the child execs or exits next), so nothing
                // here uses it for its old file; dup2 clears close-on-exec
                // on the copy.
                let result = unsafe { libc::dup2(source, slot.as_raw_fd()) };
                if result < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the child between fork and exec, where
    // only async-signal-safe code may run: it makes fcntl and dup2 calls
    // and an atomic load, allocates nothing, takes no lock, and builds its
    // io::Error from the errno alone. The descriptors it touches are
    // owned by the Arcs it holds, which keep them open as long as
    // `command` lives.
    unsafe {
        command.pre_exec(hook);
    }
}

/// Makes `command`'s child, between fork and exec and after the hooks
/// added before this one, put `source` at number `slot` (`dup2`, which
/// leaves the copy open across the exec). `slot` must be a number that
/// `command`'s earlier hooks keep open (an [`Inherited::slot`]), so that
/// no other object of this process is ever named by it in the child; the
/// hook holds `source` open as long as `command` lives.
pub fn place_across_exec(
    command: &mut std::process::Command,
    source: std::sync::Arc<OwnedFd>,
    slot: RawFd,
) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let hook = move || -> std::io::Result<()> {
        // SAFETY: dup2 takes no pointers; `source` is open (the Arc this
        // hook holds), and `slot` is the caller's reserved number, which
        // nothing in this child uses for its old file (it execs or exits
        // next).
        let result = unsafe { libc::dup2(source.as_raw_fd(), slot) };
        if result < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook runs in the child between fork and exec, where only
    // async-signal-safe code may run: one dup2, no allocation, no lock;
    // its io::Error is built from the errno alone.
    unsafe {
        command.pre_exec(hook);
    }
}

/// A close-on-exec duplicate (at 3 or above) of descriptor `fd`, which the
/// caller owns: for a descriptor inherited from whoever started the
/// process (`reportfd`), used without taking the number from any object
/// that may own it. EBADF when `fd` is not open.
pub fn duplicate_inherited(fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int; a descriptor that is not open
    // is EBADF. The original stays with whoever owns it.
    let result = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    let copy = Errno::result(result)?;
    // SAFETY: a fresh descriptor the kernel just handed us.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// `listen(fd, backlog)` on a socket the jail holds, with the program's
/// own backlog, whatever int it is (the kernel clamps it to `somaxconn`).
pub(crate) fn listen(fd: &OwnedFd, backlog: i32) -> Result<(), Errno> {
    // SAFETY: listen reads no memory: a descriptor the caller owns and
    // an int.
    let result = unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(fd), backlog) };
    Errno::result(result).map(drop)
}

/// `ioctl(dest, FICLONE, src)`: makes `dest` share `src`'s extents
/// (a reflink), where the filesystem can (btrfs, XFS); `EOPNOTSUPP`,
/// `EXDEV` or `EINVAL` where it cannot.
pub fn ficlone(dest: &impl std::os::fd::AsFd, src: &impl std::os::fd::AsFd) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: FICLONE reads only its integer argument (a descriptor);
    // both descriptors are borrowed for the call.
    let result = unsafe {
        libc::ioctl(
            dest.as_fd().as_raw_fd(),
            libc::FICLONE as _,
            src.as_fd().as_raw_fd(),
        )
    };
    Errno::result(result).map(drop)
}

/// `pidfd_open(tid, PIDFD_THREAD)`: a handle on one thread (Linux 6.9),
/// whose descriptor table `pidfd_getfd` then reads even when the thread
/// unshared it; where the kernel lacks the flag, a thread group leader's
/// plain pidfd (`EINVAL` for any other thread).
pub fn pidfd_open_thread(tid: Pid) -> Result<OwnedFd, Errno> {
    // PIDFD_THREAD is O_EXCL (include/uapi/linux/pidfd.h).
    const PIDFD_THREAD: libc::c_long = libc::O_EXCL as libc::c_long;
    // SAFETY: no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid.as_raw(), PIDFD_THREAD) };
    match Errno::result(fd) {
        // SAFETY: a fresh descriptor the kernel just handed us.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(Errno::EINVAL) => pidfd_open(tid),
        Err(errno) => Err(errno),
    }
}

/// `ioctl(fd, FIONREAD)`: the bytes waiting in a pipe or socket.
pub fn bytes_waiting(fd: &impl std::os::fd::AsFd) -> Result<u64, Errno> {
    use std::os::fd::AsRawFd;
    let mut count: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, which `count` is; the descriptor
    // is borrowed for the call.
    let result = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::FIONREAD as _, &mut count) };
    Errno::result(result)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// `flistxattr(fd)`: the names of the extended attributes of `fd`'s
/// object, each ending with a NUL (empty where the filesystem has none).
pub fn list_xattrs(fd: &impl std::os::fd::AsFd) -> Result<Vec<u8>, Errno> {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    loop {
        // SAFETY: a null buffer of size 0 asks for the size only.
        let size = unsafe { libc::flistxattr(fd, std::ptr::null_mut(), 0) };
        let size = Errno::result(size)? as usize;
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut names = vec![0u8; size];
        // SAFETY: the kernel writes at most `names.len()` bytes there.
        let got = unsafe { libc::flistxattr(fd, names.as_mut_ptr().cast(), names.len()) };
        match Errno::result(got) {
            Ok(got) => {
                names.truncate(got as usize);
                return Ok(names);
            }
            // The list grew between the two calls: ask again.
            Err(Errno::ERANGE) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// `fgetxattr(fd, name)`: the value of one extended attribute.
pub fn get_xattr(fd: &impl std::os::fd::AsFd, name: &CStr) -> Result<Vec<u8>, Errno> {
    use std::os::fd::AsRawFd;
    let fd = fd.as_fd().as_raw_fd();
    loop {
        // SAFETY: `name` is NUL-terminated; a null buffer of size 0 asks
        // for the size only.
        let size = unsafe { libc::fgetxattr(fd, name.as_ptr(), std::ptr::null_mut(), 0) };
        let size = Errno::result(size)? as usize;
        let mut value = vec![0u8; size];
        // SAFETY: as above; the kernel writes at most `value.len()` bytes.
        let got =
            unsafe { libc::fgetxattr(fd, name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        match Errno::result(got) {
            Ok(got) => {
                value.truncate(got as usize);
                return Ok(value);
            }
            Err(Errno::ERANGE) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// `fsetxattr(fd, name, value, 0)`.
pub fn set_xattr(fd: &impl std::os::fd::AsFd, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: `name` is NUL-terminated; the kernel reads `value.len()`
    // bytes of `value`.
    let result = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(result).map(drop)
}
