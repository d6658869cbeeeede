//! Processes: clones (flags that would leave the jail, `maxthreads`),
//! signals and the owners of a descriptor's signals, and pid-taking calls:
//! every target must be a jail task.

use crate::sys;
use crate::syscall::{CloneCall, OwnerCall, PriorityWhich, SignalCall};
use crate::tracer::answer::{Answer, Arg, Rewrite};
use crate::tracer::checks::signed;
use crate::tracer::scratch::Part;
use crate::tracer::stopped::{Gone, Stopped};
use log::debug;
use nix::errno::Errno;
use nix::unistd::Pid;

/// Clone flags that would take the new task out of the jail: untraced, or
/// into new namespaces.
const ESCAPING_CLONE_FLAGS: u64 = (libc::CLONE_NEWTIME as u64)
    | (libc::CLONE_UNTRACED
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET) as u64;
/// `CLONE_INTO_CGROUP` (clone3 only): the child would start in another
/// cgroup, outside the limits its parent is under.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3(struct clone_args *args, size)`: the flags live in memory,
/// so they are judged on the jail's copy, which the kernel then reads
/// (unless nothing can change the program's own).
pub(in crate::tracer) fn judge_clone3(thread: &mut dyn Stopped) -> Answer {
    let pid = thread.tid();
    let address = thread.argument(0);
    let size = thread.argument(1);
    // The kernel's own limits: CLONE_ARGS_SIZE_VER0 and a page.
    if size < 64 {
        return Answer::Refuse(Errno::EINVAL);
    }
    if size > 4096 {
        return Answer::Refuse(Errno::E2BIG);
    }
    let mut args = vec![0u8; size as usize];
    if let Err(errno) = thread.read(address, &mut args) {
        return Answer::Refuse(errno);
    }
    let mut flags = [0u8; 8];
    flags.copy_from_slice(&args[..8]);
    let flags = u64::from_ne_bytes(flags);
    if flags & CLONE_INTO_CGROUP != 0 {
        debug!("{pid}: clone3 into another cgroup refused");
        return Answer::Refuse(Errno::EPERM);
    }
    let untouchable = thread.untouchable(address, size);
    match judge_clone(thread, CloneCall::Clone3, flags) {
        Answer::Allow if untouchable => Answer::Allow,
        Answer::Allow => {
            let mut rewrite = Rewrite::default();
            rewrite.set(0, Arg::Scratch(Part::Struct, args));
            // The new task starts with the parent's registers, so its
            // first argument register points at the copy too; it gets the
            // program's value back at its first stop.
            thread.note_clone3_argument(address);
            Answer::Rewrite(rewrite)
        }
        other => other,
    }
}

/// A clone, fork or vfork: no flag that leaves the jail, and a place
/// under `maxthreads`, held until the new task appears.
pub(in crate::tracer) fn judge_clone(
    thread: &mut dyn Stopped,
    kind: CloneCall,
    flags: u64,
) -> Answer {
    let pid = thread.tid();
    if flags & ESCAPING_CLONE_FLAGS != 0 && matches!(kind, CloneCall::Clone | CloneCall::Clone3) {
        debug!("{pid}: clone flags {flags:#x} would escape the jail: EPERM");
        return Answer::Refuse(Errno::EPERM);
    }
    if let Some(max) = thread.max_threads() {
        let max = u64::from(max);
        let known = thread.task_count(true);
        // A thread wakes its joiner before the tracer hears it ended:
        // at the limit, tasks already on their way out do not count.
        if known >= max && thread.task_count(false) >= max {
            debug!("{pid}: {known} tasks live, maxthreads {max}: EAGAIN");
            return Answer::Refuse(Errno::EAGAIN);
        }
    }
    let flags = match kind {
        CloneCall::Clone | CloneCall::Clone3 => flags,
        CloneCall::Fork => 0,
        CloneCall::Vfork => (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
    };
    thread.note_clone(flags);
    Answer::Allow
}

/// `kill` and friends: every target a jail task.
pub(in crate::tracer) fn judge_signal(thread: &mut dyn Stopped, kind: SignalCall) -> Answer {
    let args = [signed(thread.argument(0)), signed(thread.argument(1))];
    let answer = signal_answer(
        kind,
        args,
        &|target| thread.is_jail_pid(target),
        &|target| thread.gone_target(target),
    );
    if let Answer::Refuse(errno) = answer {
        debug!("{}: {kind:?} to {args:?}: {errno}", thread.tid());
    }
    answer
}

/// Calls that name processes by pid (`process_vm_readv`, `kcmp`, ...):
/// each pid a jail task, and memory written only into the caller's own.
pub(in crate::tracer) fn judge_pids(thread: &mut dyn Stopped, name: &str, args: &[u8]) -> Answer {
    let pid = thread.tid();
    for index in args {
        let target = signed(thread.argument(*index));
        if target > 0 && !thread.is_jail_pid(target as u32) {
            debug!("{pid}: {name} on pid {target} outside the jail: ESRCH");
            return Answer::Refuse(Errno::ESRCH);
        }
    }
    if name == "process_vm_writev" && signed(thread.argument(0)) != thread.ids().tgid.as_raw() {
        // Writing another process's memory could change an argument
        // between the check and the kernel's read.
        debug!("{pid}: process_vm_writev into another process refused");
        return Answer::Refuse(Errno::EPERM);
    }
    Answer::Allow
}

/// `F_SETOWN` and friends: the process, thread or group that is to
/// get a descriptor's signals must lie inside the jail. The kernel
/// keeps a reference to the target itself, so judging it now is enough;
/// a target passed in memory is handed over as the jail's copy.
pub(in crate::tracer) fn judge_signal_owner(
    thread: &mut dyn Stopped,
    name: &str,
    call: OwnerCall,
) -> Answer {
    let pid = thread.tid();
    let address = thread.argument(2);
    // A target in memory is read once into `bytes`, judged, and handed
    // to the kernel as that copy.
    let in_memory = |size: usize| -> Result<Vec<u8>, Errno> {
        let mut bytes = vec![0u8; size];
        thread.read(address, &mut bytes)?;
        Ok(bytes)
    };
    let (target, copy) = match call {
        // An int: a pid, or a process group as -pgid.
        OwnerCall::FcntlSetown => (signed(address), None),
        // A pointer to such an int.
        OwnerCall::IoctlPointer => match in_memory(4) {
            Ok(bytes) => (
                i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                Some(bytes),
            ),
            Err(errno) => return Answer::Refuse(errno),
        },
        // struct f_owner_ex { int type; pid_t pid; }: the type says
        // thread, process or group; each is judged by its id.
        OwnerCall::FcntlSetownEx => match in_memory(8) {
            Ok(bytes) => (
                i32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                Some(bytes),
            ),
            Err(errno) => return Answer::Refuse(errno),
        },
    };
    if target != 0 && !thread.is_jail_pid(target.unsigned_abs()) {
        debug!("{pid}: {name} would send signals to {target} outside the jail: ESRCH");
        return Answer::Refuse(Errno::ESRCH);
    }
    match copy {
        None => Answer::Allow,
        Some(bytes) => {
            let mut rewrite = Rewrite::default();
            rewrite.set(2, Arg::Scratch(Part::Struct, bytes));
            Answer::Rewrite(rewrite)
        }
    }
}

/// Turning on (or choosing) a descriptor's I/O signals: allowed while
/// its owner is no one or inside the jail (`F_SETOWN` keeps it so). A
/// terminal makes its foreground process group the owner by itself,
/// which may be the shell that started the jail: refused there.
pub(in crate::tracer) fn judge_async_signals(
    thread: &mut dyn Stopped,
    name: &str,
    fd: i32,
) -> Answer {
    let pid = thread.tid();
    let held = match thread.take_descriptor(pid, fd) {
        Ok(held) => held,
        Err(errno) => return Answer::Refuse(errno),
    };
    if nix::unistd::isatty(&held).unwrap_or(false) {
        debug!("{pid}: {name}: signal-driven I/O on a terminal refused");
        return Answer::Refuse(Errno::EPERM);
    }
    match sys::signal_owner(&held) {
        Ok((_, 0)) => Answer::Allow,
        Ok((_, owner)) if thread.is_jail_pid(owner.unsigned_abs()) => Answer::Allow,
        Ok((_, owner)) => {
            debug!("{pid}: {name}: the descriptor's owner {owner} is outside the jail");
            Answer::Refuse(Errno::EPERM)
        }
        Err(errno) => Answer::Refuse(errno),
    }
}

/// `setpriority` and friends: a process or group of the jail.
pub(in crate::tracer) fn judge_priority(
    thread: &mut dyn Stopped,
    name: &str,
    which: PriorityWhich,
) -> Answer {
    let (kind, who) = (thread.argument(0), thread.argument(1));
    let answer = priority_answer(which, kind, signed(who), &|target| {
        thread.is_jail_pid(target)
    });
    if let Answer::Refuse(errno) = answer {
        debug!("{}: {name}({kind}, {who}): {errno}", thread.tid());
    }
    answer
}

/// A signal syscall's answer from its first two arguments (as the kernel
/// reads them, `int`s): every target must be a jail task; `kill(0)` is the
/// caller's own group (inside the jail's session), `kill(-1)` everyone.
///
/// A `kill` whose target is no live jail task may still be the jail's
/// (`gone`): a zombie not yet reaped, which the signal would not change
/// (answered 0 without running, as the kernel would answer), or a group
/// whose leader is gone while members live (let through).
fn signal_answer(
    kind: SignalCall,
    args: [i32; 2],
    is_jail_pid: &dyn Fn(u32) -> bool,
    gone: &dyn Fn(i32) -> Gone,
) -> Answer {
    let targets: &[i32] = match kind {
        SignalCall::Kill => match args[0] {
            0 => return Answer::Allow,
            -1 => return Answer::Refuse(Errno::EPERM),
            target if target != i32::MIN && is_jail_pid(target.unsigned_abs()) => {
                return Answer::Allow;
            }
            target if target != i32::MIN => {
                return match (target > 0, gone(target)) {
                    (true, Gone::Zombie) => Answer::Done,
                    (false, Gone::LiveGroup) => Answer::Allow,
                    _ => Answer::Refuse(Errno::ESRCH),
                };
            }
            // A process group is named by its leader's pid.
            target => &[target.unsigned_abs() as i32],
        },
        SignalCall::Tkill | SignalCall::Queue => &args[..1],
        SignalCall::Tgkill | SignalCall::TgQueue => &args[..],
    };
    if targets
        .iter()
        .any(|&target| target > 0 && !is_jail_pid(target as u32))
    {
        return Answer::Refuse(Errno::ESRCH);
    }
    Answer::Allow
}

/// A `setpriority`-style call's answer: a process or group inside the
/// jail (0 is the caller's own), never a whole user.
fn priority_answer(
    which: PriorityWhich,
    kind: u64,
    who: i32,
    is_jail_pid: &dyn Fn(u32) -> bool,
) -> Answer {
    if kind != which.process && kind != which.group {
        return Answer::Refuse(Errno::EPERM);
    }
    if who > 0 && !is_jail_pid(who as u32) {
        return Answer::Refuse(Errno::ESRCH);
    }
    Answer::Allow
}

const SECCOMP_SET_MODE_STRICT: u64 = libc::SECCOMP_SET_MODE_STRICT as u64;
const SECCOMP_SET_MODE_FILTER: u64 = libc::SECCOMP_SET_MODE_FILTER as u64;
const SECCOMP_GET_ACTION_AVAIL: u64 = libc::SECCOMP_GET_ACTION_AVAIL as u64;
const SECCOMP_GET_NOTIF_SIZES: u64 = libc::SECCOMP_GET_NOTIF_SIZES as u64;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
/// `personality(0xffffffff)` changes nothing and returns the persona.
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
const ADDR_NO_RANDOMIZE: u64 = libc::ADDR_NO_RANDOMIZE as u64;

/// `seccomp(op, flags, ...)`: a program may add filters, but never a
/// user-notification listener, which would take syscalls from the tracer.
/// The kernel reads `op` and `flags` as 32-bit values: judged so, or high
/// bits would hide a listener. Operations the jail does not know are
/// refused.
pub(in crate::tracer) fn seccomp_answer(op: u64, flags: u64) -> Answer {
    let (op, flags) = (op & 0xffff_ffff, flags & 0xffff_ffff);
    match op {
        SECCOMP_SET_MODE_FILTER if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 => {
            Answer::Refuse(Errno::EPERM)
        }
        SECCOMP_SET_MODE_STRICT
        | SECCOMP_SET_MODE_FILTER
        | SECCOMP_GET_ACTION_AVAIL
        | SECCOMP_GET_NOTIF_SIZES => Answer::Allow,
        _ => Answer::Refuse(Errno::EINVAL),
    }
}

/// `personality(persona)`: a query, or no change but `ADDR_NO_RANDOMIZE`
/// (another execution domain would change the syscall ABI under the
/// filter). Judged on the 32 bits the kernel reads.
pub(in crate::tracer) fn personality_answer(persona: u64) -> Answer {
    let persona = persona & 0xffff_ffff;
    if persona == PERSONALITY_QUERY || persona & !ADDR_NO_RANDOMIZE == 0 {
        Answer::Allow
    } else {
        Answer::Refuse(Errno::EPERM)
    }
}

/// Whether task `tid` has begun to exit (or is gone): its `/proc/<tid>/stat`
/// shows a zombie or dead state, or the kernel's `PF_EXITING` flag, which
/// is set before the task wakes whoever waits for it.
pub(in crate::tracer) fn is_exiting(tid: Pid) -> bool {
    const PF_EXITING: u64 = 0x4;
    let Ok(stat) = crate::procfs::read_to_string(format!("/proc/{tid}/stat")) else {
        return true;
    };
    // The name in parentheses may hold anything; the fields follow the
    // last closing one: state, ppid, pgrp, session, tty, tpgid, flags.
    let Some((_, fields)) = stat.rsplit_once(") ") else {
        return false;
    };
    let mut fields = fields.split(' ');
    let state = fields.next().unwrap_or("");
    let flags = fields.nth(5).and_then(|flags| flags.parse::<u64>().ok());
    matches!(state, "Z" | "X" | "x") || flags.is_some_and(|flags| flags & PF_EXITING != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The jail holds tasks 10 and 11; everything else is outside.
    fn jail(pid: u32) -> bool {
        pid == 10 || pid == 11
    }

    fn errno(answer: Answer) -> i32 {
        match answer {
            Answer::Allow => 0,
            Answer::Refuse(errno) => errno as i32,
            Answer::Done | Answer::Kill | Answer::Return(_) => -2,
            Answer::Rewrite(_) => -1,
        }
    }

    #[test]
    fn signals_reach_only_jail_tasks() {
        use SignalCall::*;
        let cases: &[(SignalCall, [i32; 2], i32)] = &[
            (Kill, [0, 9], 0),
            (Kill, [-1, 9], libc::EPERM),
            (Kill, [10, 9], 0),
            (Kill, [-10, 9], 0),
            (Kill, [1, 9], libc::ESRCH),
            (Kill, [-1234, 9], libc::ESRCH),
            (Tkill, [11, 9], 0),
            (Tkill, [12, 9], libc::ESRCH),
            (Tgkill, [10, 11], 0),
            (Tgkill, [10, 12], libc::ESRCH),
            (Tgkill, [1, 11], libc::ESRCH),
            (Queue, [12, 0], libc::ESRCH),
            (TgQueue, [10, 10], 0),
        ];
        for (kind, args, want) in cases {
            assert_eq!(
                errno(signal_answer(*kind, *args, &jail, &|_| Gone::Elsewhere)),
                *want,
                "{kind:?} {args:?}"
            );
        }
    }

    #[test]
    fn a_kill_of_a_jail_zombie_or_of_a_group_whose_leader_is_gone_is_the_jails() {
        // 20 is a zombie of the jail, group 30 lives on without its leader.
        let gone = |target: i32| match target {
            20 => Gone::Zombie,
            -30 => Gone::LiveGroup,
            _ => Gone::Elsewhere,
        };
        let kill = |target: i32| signal_answer(SignalCall::Kill, [target, 9], &jail, &gone);
        assert!(matches!(kill(20), Answer::Done), "answered 0, not run");
        assert!(matches!(kill(-30), Answer::Allow));
        // A zombie is no group, and a group is no zombie.
        assert_eq!(errno(kill(-20)), libc::ESRCH);
        assert_eq!(errno(kill(30)), libc::ESRCH);
        assert_eq!(errno(kill(40)), libc::ESRCH);
        // Other calls name threads, which never linger so.
        let tkill = signal_answer(SignalCall::Tkill, [20, 9], &jail, &gone);
        assert_eq!(errno(tkill), libc::ESRCH);
    }

    #[test]
    fn seccomp_filters_but_never_a_listener() {
        let listener = SECCOMP_FILTER_FLAG_NEW_LISTENER;
        assert_eq!(errno(seccomp_answer(SECCOMP_SET_MODE_FILTER, 0)), 0);
        assert_eq!(errno(seccomp_answer(SECCOMP_SET_MODE_STRICT, 0)), 0);
        assert_eq!(
            errno(seccomp_answer(SECCOMP_SET_MODE_FILTER, listener)),
            libc::EPERM
        );
        // High bits hide nothing: the kernel reads 32 of them.
        assert_eq!(
            errno(seccomp_answer(
                1 << 32 | SECCOMP_SET_MODE_FILTER,
                1 << 40 | listener
            )),
            libc::EPERM
        );
        assert_eq!(errno(seccomp_answer(7, 0)), libc::EINVAL);
    }

    #[test]
    fn personality_keeps_the_abi() {
        assert_eq!(errno(personality_answer(0xffff_ffff)), 0);
        assert_eq!(errno(personality_answer(ADDR_NO_RANDOMIZE)), 0);
        assert_eq!(errno(personality_answer(0)), 0);
        // PER_LINUX32 and READ_IMPLIES_EXEC change what the program is.
        assert_eq!(errno(personality_answer(0x0008)), libc::EPERM);
        assert_eq!(errno(personality_answer(0x0400_0000)), libc::EPERM);
    }

    #[test]
    fn priorities_change_only_jail_processes_and_groups() {
        let which = PriorityWhich {
            process: 0,
            group: 1,
        };
        assert_eq!(errno(priority_answer(which, 0, 0, &jail)), 0);
        assert_eq!(errno(priority_answer(which, 1, 10, &jail)), 0);
        assert_eq!(errno(priority_answer(which, 0, 1, &jail)), libc::ESRCH);
        // PRIO_USER: every process of a user, the jail's included.
        assert_eq!(errno(priority_answer(which, 2, 0, &jail)), libc::EPERM);
    }

    use crate::tracer::checks::fake::{FakeThread, TID, refused_with, scratch_of};

    const ARGS: u64 = 0x5000;

    /// `struct clone_args` of `size` bytes with these flags.
    fn clone_args(flags: u64, size: usize) -> Vec<u8> {
        let mut args = vec![0u8; size];
        args[..8].copy_from_slice(&flags.to_ne_bytes());
        args
    }

    #[test]
    fn a_clone_never_leaves_the_jail() {
        let mut thread = FakeThread::new("");
        let new_user = libc::CLONE_NEWUSER as u64;
        assert_eq!(
            refused_with(&thread.call("clone", [new_user, 0, 0, 0, 0, 0])),
            libc::EPERM
        );
        let untraced = libc::CLONE_UNTRACED as u64;
        assert_eq!(
            refused_with(&thread.call("clone", [untraced, 0, 0, 0, 0, 0])),
            libc::EPERM
        );
        assert!(
            thread.clones.is_empty(),
            "no place held for a refused clone"
        );
        let thread_flags = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert!(matches!(
            thread.call("clone", [thread_flags, 0, 0, 0, 0, 0]),
            Answer::Allow
        ));
        assert!(matches!(thread.call("fork", [0; 6]), Answer::Allow));
        assert!(matches!(thread.call("vfork", [0; 6]), Answer::Allow));
        let vfork = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
        assert_eq!(thread.clones, [thread_flags, 0, vfork]);
    }

    #[test]
    fn maxthreads_counts_clones_in_flight_but_not_tasks_on_their_way_out() {
        let mut thread = FakeThread::new("");
        thread.max_threads = Some(3);
        thread.tasks = (2, 0);
        assert!(matches!(thread.call("fork", [0; 6]), Answer::Allow));
        // Two tasks and one clone in flight: the limit is reached.
        assert_eq!(refused_with(&thread.call("fork", [0; 6])), libc::EAGAIN);
        // One of the two is exiting: it no longer counts.
        thread.tasks = (2, 1);
        assert!(matches!(thread.call("fork", [0; 6]), Answer::Allow));
        assert_eq!(thread.clones.len(), 2);
    }

    #[test]
    fn clone3_is_judged_and_run_on_one_copy_of_its_arguments() {
        let mut thread = FakeThread::new("");
        thread.poke(ARGS, &clone_args(0, 88));
        let answer = thread.call("clone3", [ARGS, 88, 0, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 0), Some(clone_args(0, 88)));
        assert_eq!(thread.clone3_argument, Some(ARGS), "restored in the child");
        thread.untouchable = true;
        assert!(matches!(
            thread.call("clone3", [ARGS, 88, 0, 0, 0, 0]),
            Answer::Allow
        ));
        thread.poke(ARGS, &clone_args(libc::CLONE_NEWNET as u64, 88));
        assert_eq!(
            refused_with(&thread.call("clone3", [ARGS, 88, 0, 0, 0, 0])),
            libc::EPERM
        );
        thread.poke(ARGS, &clone_args(CLONE_INTO_CGROUP, 88));
        assert_eq!(
            refused_with(&thread.call("clone3", [ARGS, 88, 0, 0, 0, 0])),
            libc::EPERM
        );
        assert_eq!(
            refused_with(&thread.call("clone3", [ARGS, 63, 0, 0, 0, 0])),
            libc::EINVAL
        );
        assert_eq!(
            refused_with(&thread.call("clone3", [ARGS, 4097, 0, 0, 0, 0])),
            libc::E2BIG
        );
        assert_eq!(
            refused_with(&thread.call("clone3", [ARGS, 4096, 0, 0, 0, 0])),
            libc::EFAULT
        );
    }

    #[test]
    fn pid_taking_calls_reach_only_jail_tasks() {
        let mut thread = FakeThread::new("");
        thread.jail_pids.push(200);
        let inside = 200;
        assert!(matches!(
            thread.call("getpgid", [inside, 0, 0, 0, 0, 0]),
            Answer::Allow
        ));
        assert_eq!(
            refused_with(&thread.call("getpgid", [1, 0, 0, 0, 0, 0])),
            libc::ESRCH
        );
        assert_eq!(
            refused_with(&thread.call("kcmp", [inside, 1, 0, 0, 0, 0])),
            libc::ESRCH
        );
        let own = TID as u64;
        assert!(matches!(
            thread.call("process_vm_writev", [own, 0, 0, 0, 0, 0]),
            Answer::Allow
        ));
        assert_eq!(
            refused_with(&thread.call("process_vm_writev", [inside, 0, 0, 0, 0, 0])),
            libc::EPERM,
            "another jail process's memory could change a checked argument"
        );
    }

    #[test]
    fn a_descriptors_signals_go_only_to_jail_tasks_named_by_one_copy() {
        let mut thread = FakeThread::new("");
        let outside = 1i32;
        let inside = TID;
        let setown = libc::F_SETOWN as u64;
        let answer = thread.call("fcntl", [3, setown, outside as u64, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ESRCH);
        let answer = thread.call("fcntl", [3, setown, (-outside) as u64, 0, 0, 0]);
        assert_eq!(
            refused_with(&answer),
            libc::ESRCH,
            "a process group outside"
        );
        assert!(matches!(
            thread.call("fcntl", [3, setown, inside as u64, 0, 0, 0]),
            Answer::Allow
        ));
        // struct f_owner_ex, read once and handed to the kernel as read.
        let mut owner = Vec::new();
        owner.extend_from_slice(&0i32.to_ne_bytes()); // F_OWNER_TID
        owner.extend_from_slice(&inside.to_ne_bytes());
        thread.poke(ARGS, &owner);
        let setown_ex = 15; // F_SETOWN_EX
        let answer = thread.call("fcntl", [3, setown_ex, ARGS, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 2), Some(owner));
        let mut owner = Vec::new();
        owner.extend_from_slice(&1i32.to_ne_bytes()); // F_OWNER_PID
        owner.extend_from_slice(&outside.to_ne_bytes());
        thread.poke(ARGS, &owner);
        let answer = thread.call("fcntl", [3, setown_ex, ARGS, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ESRCH);
    }
}
