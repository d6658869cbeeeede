//! Answering a seccomp stop: which check a syscall needs.
//!
//! The checks themselves live in [`super::checks`], one file per family,
//! over the narrow view of the stopped thread ([`super::stopped`]); they
//! return an [`Answer`]: refuse (skipped at this same stop), allow
//! (nothing read from the program's memory, or nothing that can change),
//! or rewrite (the kernel gets the jail's own copies in scratch memory the
//! program cannot write, and where a writable tree could swap a name, the
//! object or its parent held open by the jail). [`super::rewrite`] applies
//! the answer and undoes the rewrite at the syscall's exit.

use crate::syscall::{ArgAction, AsyncCall, Check, Class, CloneCall, PathCall, Refusal};
use crate::tracer::answer::{Answer, Rewrite};
use crate::tracer::checks::{cow, memory, network, paths, processes, quota, signed};
use crate::tracer::scratch::Part;
use crate::tracer::stopped::Stopped;
use log::{debug, warn};
use nix::errno::Errno;

/// Decides syscall `nr`, named `name` and sorted into `class` by the
/// syscall table, for the stopped `thread`.
pub(in crate::tracer) fn answer(
    thread: &mut dyn Stopped,
    nr: u64,
    name: &str,
    class: Class,
) -> Answer {
    let pid = thread.tid();
    // A `syscall` line refuses what the jail would let run (or judge);
    // the jail's own refusals keep their errno.
    let jail_refuses = match class {
        Class::Refuse(_) => true,
        Class::ByArg {
            arg,
            cases,
            otherwise,
        } => matches!(
            by_arg_action(thread, arg, cases, otherwise),
            ArgAction::Refuse(_)
        ),
        _ => false,
    };
    if !jail_refuses && let Some(refusal) = thread.narrowed(nr, name) {
        debug!("{pid}: {name} ({nr}): refused by a `syscall` line");
        thread.report_syscall(name, nr);
        return match refusal {
            Refusal::Errno(errno) => Answer::Refuse(Errno::from_raw(errno)),
            Refusal::Kill => Answer::Kill,
        };
    }
    if let Some(quota) = thread.quota()
        && may_give_space_back(thread, name)
    {
        quota.borrow_mut().mark_stale();
    }
    match class {
        Class::Check(check) | Class::CheckUnlessNull { check, .. } => {
            answer_check(thread, name, check)
        }
        Class::ByArg {
            arg,
            cases,
            otherwise,
        } => {
            let value = thread.argument(arg) & 0xffff_ffff;
            match by_arg_action(thread, arg, cases, otherwise) {
                ArgAction::Check(check) => answer_check(thread, name, check),
                ArgAction::Refuse(errno) => Answer::Refuse(Errno::from_raw(errno)),
                ArgAction::Allow => {
                    warn!("{pid}: unexpected stop for {name} ({value:#x}); refusing");
                    Answer::Refuse(Errno::ENOSYS)
                }
            }
        }
        Class::Guard(guard) => memory::judge_memory_guard(thread, name, guard),
        // The filter stops it only with `cow` lines.
        Class::Native if name == "getcwd" => cow::getcwd(thread),
        // The filter stops these only with `cowquota`.
        Class::Native if let Some(growth) = crate::syscall::growth_of(name) => {
            quota::judge_growth(thread, name, growth)
        }
        // Under `report` the filter stops refused syscalls for this.
        Class::Refuse(errno) => {
            debug!("{pid}: {name} ({nr}): refused with errno {errno}");
            thread.report_syscall(name, nr);
            Answer::Refuse(Errno::from_raw(errno))
        }
        // The filter stops only for the classes above; anything else
        // reaching here is refused.
        other => {
            warn!("{pid}: unexpected stop for {name} ({other:?}); refusing");
            Answer::Refuse(Errno::ENOSYS)
        }
    }
}

/// Whether call `name` may shrink or remove a file of the layer where no
/// stop sees it (a removal, a rename over a name, an open with
/// `O_TRUNC`): the `cowquota` count is then stale until counted again.
fn may_give_space_back(thread: &dyn Stopped, name: &str) -> bool {
    let trunc = libc::O_TRUNC as u64;
    match name {
        "unlink" | "unlinkat" | "rmdir" | "rename" | "renameat" | "renameat2" | "creat"
        | "openat2" => true,
        "open" => thread.argument(1) & trunc != 0,
        "openat" => thread.argument(2) & trunc != 0,
        _ => false,
    }
}

/// What the jail's table says for a [`Class::ByArg`] call's argument.
fn by_arg_action(
    thread: &dyn Stopped,
    arg: u8,
    cases: &[crate::syscall::ArgCase],
    otherwise: ArgAction,
) -> ArgAction {
    let value = thread.argument(arg) & 0xffff_ffff;
    cases
        .iter()
        .find(|case| u64::from(case.value) == value)
        .map_or(otherwise, |case| case.action)
}

fn answer_check(thread: &mut dyn Stopped, name: &str, check: Check) -> Answer {
    let pid = thread.tid();
    let arg = |thread: &dyn Stopped, index: u8| thread.argument(index);
    match check {
        Check::Path(PathCall {
            first,
            second: Some(second),
        }) => paths::judge_pair(thread, name, &first, &second),
        Check::Path(call) => {
            let mut rewrite = Rewrite::default();
            let operands = [(call.first, Part::FirstPath)]
                .into_iter()
                .chain(call.second.map(|second| (second, Part::SecondPath)));
            for (operand, part) in operands {
                if let Err(errno) = paths::judge_operand(thread, name, &operand, part, &mut rewrite)
                {
                    return Answer::Refuse(errno);
                }
            }
            Answer::Rewrite(rewrite)
        }
        Check::Open(open) => paths::judge_open(thread, name, open),
        Check::Exec(operand) => {
            let mut rewrite = Rewrite::default();
            match paths::judge_operand(thread, name, &operand, Part::FirstPath, &mut rewrite) {
                Ok(()) => Answer::Rewrite(rewrite),
                Err(errno) => Answer::Refuse(errno),
            }
        }
        Check::Descriptor { fd, access } => {
            let fd = signed(arg(thread, fd));
            paths::judge_descriptor(thread, name, fd, access)
        }
        Check::Clone(CloneCall::Clone3) => processes::judge_clone3(thread),
        Check::Clone(kind) => {
            let flags = arg(thread, 0);
            processes::judge_clone(thread, kind, flags)
        }
        Check::Signal(kind) => processes::judge_signal(thread, kind),
        Check::Pids(args) => processes::judge_pids(thread, name, args),
        Check::Priority(which) => processes::judge_priority(thread, name, which),
        Check::Seccomp => {
            let answer = processes::seccomp_answer(arg(thread, 0), arg(thread, 1));
            if let Answer::Refuse(errno) = answer {
                debug!(
                    "{pid}: seccomp({:#x}, {:#x}): {errno}",
                    arg(thread, 0),
                    arg(thread, 1)
                );
            }
            answer
        }
        Check::SignalOwner(call) => processes::judge_signal_owner(thread, name, call),
        // The filter stops F_SETFL only with O_ASYNC; judged again here.
        Check::AsyncSignals(AsyncCall::FcntlSetfl)
            if arg(thread, 2) & libc::O_ASYNC as u64 == 0 =>
        {
            Answer::Allow
        }
        Check::AsyncSignals(_) => {
            let fd = signed(arg(thread, 0));
            processes::judge_async_signals(thread, name, fd)
        }
        // Under `cowquota`, `io_submit` could write a file of the layer
        // with no stop: without `io_setup` it has no context to do it
        // with (the C library's POSIX AIO uses threads and `pwrite`).
        Check::AsyncIo if thread.quota().is_some() => {
            debug!("{pid}: io_setup under cowquota: ENOSYS");
            Answer::Refuse(Errno::ENOSYS)
        }
        Check::AsyncIo => {
            thread.note_async_io();
            Answer::Allow
        }
        Check::ObjectChange { fd } => {
            let fd = signed(arg(thread, fd));
            paths::judge_object_change(thread, name, fd)
        }
        Check::Personality => {
            let answer = processes::personality_answer(arg(thread, 0));
            if let Answer::Refuse(errno) = answer {
                debug!("{pid}: personality {:#x}: {errno}", arg(thread, 0));
            }
            answer
        }
        Check::Socket(call) => network::judge_socket(thread, name, call),
        Check::Wakeup => {
            if thread.suspend() {
                debug!("{pid}: wakeup returns: the next command starts");
                Answer::Done
            } else {
                Answer::Refuse(Errno::ENOSYS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tracer::answer::Answer;
    use crate::tracer::checks::fake::{FakeThread, refused_with};

    #[test]
    fn wakeup_suspends_a_session_and_is_unknown_elsewhere() {
        let mut thread = FakeThread::new("");
        let wakeup = u64::from(crate::syscall::WAKEUP_SYSCALL);
        let (name, class) = crate::syscall::Table::native().lookup(wakeup);
        let answer = super::answer(&mut thread, wakeup, name, class);
        assert_eq!(refused_with(&answer), libc::ENOSYS);
        thread.session = true;
        let answer = super::answer(&mut thread, wakeup, name, class);
        assert!(matches!(answer, Answer::Done), "{answer:?}");
        assert_eq!(thread.suspended, 1);
    }

    #[test]
    fn syscall_lines_refuse_at_the_stop_before_any_check() {
        let mut thread = FakeThread::new(
            "report\nsyscall deny openat EACCES\nsyscall deny clone kill\nsyscall deny mount ENOSPC\n",
        );
        let answer = thread.call("openat", [libc::AT_FDCWD as u64, 0x1000, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        assert!(thread.verdicts.is_empty(), "no path was judged");
        assert!(matches!(thread.call("clone", [0; 6]), Answer::Kill));
        // The jail's own refusal keeps its errno.
        assert_eq!(refused_with(&thread.call("mount", [0; 6])), libc::EPERM);
        assert_eq!(
            *thread.reports.borrow(),
            ["[Syscall openat]", "[Syscall clone]", "[Syscall mount]"]
        );
    }

    #[test]
    fn the_main_programs_first_exec_passes_an_allow_list_without_execve() {
        let mut thread = FakeThread::new("syscall allow read,write\n");
        thread.first_exec = true;
        let answer = thread.call("execve", [0x1000, 0, 0, 0, 0, 0]);
        // Judged as usual (no path in memory: the check's own answer).
        assert_ne!(refused_with(&answer), libc::EPERM, "{answer:?}");
        thread.first_exec = false;
        let answer = thread.call("execve", [0x1000, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EPERM);
    }

    #[test]
    fn asynchronous_io_marks_the_address_space() {
        let mut thread = FakeThread::new("");
        assert!(matches!(
            thread.call("io_setup", [1, 0x1000, 0, 0, 0, 0]),
            Answer::Allow
        ));
        assert!(thread.async_io);
    }

    #[test]
    fn o_async_is_judged_only_when_set() {
        let mut thread = FakeThread::new("");
        let setfl = libc::F_SETFL as u64;
        assert!(matches!(
            thread.call("fcntl", [3, setfl, 0, 0, 0, 0]),
            Answer::Allow
        ));
        let o_async = libc::O_ASYNC as u64;
        // No descriptor 3: the check looked, and the kernel's own answer.
        let answer = thread.call("fcntl", [3, setfl, o_async, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EBADF);
    }
}
