//! Decoding a raw wait status into what happened to a tracee.
//!
//! Stops are told apart by ptrace's own event code (status >> 16), which a
//! program cannot forge, never by the signal number or its siginfo (any
//! process can send itself SIGTRAP).

/// What a `waitpid(-1, __WALL)` report means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The thread exited with this code.
    Exited { code: i32 },
    /// The thread was killed by this signal.
    Killed { signal: i32 },
    /// `PTRACE_EVENT_SECCOMP`: a syscall the filter sent to us.
    Seccomp,
    /// `PTRACE_EVENT_FORK`/`VFORK`/`CLONE` in the parent; the new tid is
    /// in the event message.
    NewTask,
    /// `PTRACE_EVENT_VFORK_DONE` (not requested, tolerated).
    VforkDone,
    /// `PTRACE_EVENT_EXEC`; the former tid is in the event message.
    Exec,
    /// `PTRACE_EVENT_EXIT` (not requested, tolerated).
    Exiting,
    /// `PTRACE_EVENT_STOP`: a group-stop (with a stop signal) or the first
    /// stop of a newly attached task.
    Stop { signal: i32 },
    /// A syscall-entry/exit stop (`SIGTRAP | 0x80`).
    SyscallStop,
    /// A signal is about to be delivered; it must be passed on unchanged.
    Signal { signal: i32 },
    /// A status this decoder does not know; the tracer fails closed.
    Unknown { status: i32 },
}

const SYSCALL_TRAP: i32 = libc::SIGTRAP | 0x80;

/// Decodes `status` as returned by `waitpid`.
pub fn decode(status: i32) -> Event {
    if libc::WIFEXITED(status) {
        return Event::Exited {
            code: libc::WEXITSTATUS(status),
        };
    }
    if libc::WIFSIGNALED(status) {
        return Event::Killed {
            signal: libc::WTERMSIG(status),
        };
    }
    if !libc::WIFSTOPPED(status) {
        return Event::Unknown { status };
    }
    let signal = libc::WSTOPSIG(status);
    let event = (status >> 16) & 0xff;
    match event {
        0 if signal == SYSCALL_TRAP => Event::SyscallStop,
        0 => Event::Signal { signal },
        libc::PTRACE_EVENT_SECCOMP if signal == libc::SIGTRAP => Event::Seccomp,
        libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE
            if signal == libc::SIGTRAP =>
        {
            Event::NewTask
        }
        libc::PTRACE_EVENT_VFORK_DONE if signal == libc::SIGTRAP => Event::VforkDone,
        libc::PTRACE_EVENT_EXEC if signal == libc::SIGTRAP => Event::Exec,
        libc::PTRACE_EVENT_EXIT if signal == libc::SIGTRAP => Event::Exiting,
        libc::PTRACE_EVENT_STOP => Event::Stop { signal },
        _ => Event::Unknown { status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(signal: i32, event: i32) -> i32 {
        (event << 16) | (signal << 8) | 0x7f
    }

    #[test]
    fn statuses_decode_by_event_code() {
        let cases = [
            (0x0300, Event::Exited { code: 3 }),
            (libc::SIGKILL, Event::Killed { signal: 9 }),
            (
                stopped(libc::SIGTRAP, libc::PTRACE_EVENT_SECCOMP),
                Event::Seccomp,
            ),
            (
                stopped(libc::SIGTRAP, libc::PTRACE_EVENT_CLONE),
                Event::NewTask,
            ),
            (
                stopped(libc::SIGTRAP, libc::PTRACE_EVENT_FORK),
                Event::NewTask,
            ),
            (stopped(libc::SIGTRAP, libc::PTRACE_EVENT_EXEC), Event::Exec),
            (
                stopped(libc::SIGSTOP, libc::PTRACE_EVENT_STOP),
                Event::Stop {
                    signal: libc::SIGSTOP,
                },
            ),
            (stopped(libc::SIGTRAP | 0x80, 0), Event::SyscallStop),
            // A SIGTRAP the program sent itself is just a signal.
            (
                stopped(libc::SIGTRAP, 0),
                Event::Signal {
                    signal: libc::SIGTRAP,
                },
            ),
            // Real-time signals survive decoding.
            (stopped(40, 0), Event::Signal { signal: 40 }),
            (
                stopped(libc::SIGSTOP, 0),
                Event::Signal {
                    signal: libc::SIGSTOP,
                },
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(decode(status), expected, "{status:#x}");
        }
    }

    #[test]
    fn an_event_code_with_a_forged_signal_is_unknown() {
        let forged = stopped(libc::SIGUSR1, libc::PTRACE_EVENT_SECCOMP);
        assert!(matches!(decode(forged), Event::Unknown { .. }));
    }
}
