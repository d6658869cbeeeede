//! Escape suite: descriptors inherited from whoever started the jail, and
//! typing into the terminal the jail was started from.

use crate::support::{Jail, Output, SANDBOX, run_native, write_file};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn escape_fds_inherited_descriptor_to_hidden_file_with_closefds() {
    // Control: a program started with a descriptor on a hidden file at 7
    // reads it.
    let t = Jail::new();
    let file = std::fs::File::open(t.path("hidden/file")).unwrap();
    let raw = file.as_raw_fd();
    let mut cmd = Command::new(t.escape_bin("fdtty"));
    cmd.args(["readfd", "7"]);
    // SAFETY: only dup2 (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok secret\n",
        "control void: natively fd 7 was not readable"
    );

    // The jail started with the same descriptor at 7 (not close-on-exec).
    for (name, config) in [("closefds", "closefds\n"), ("no closefds", "")] {
        let mut j = Jail::new();
        j.add_config(config);
        let out = j
            .cmd(&[j.escape_bin("fdtty"), "readfd".into(), "7".into()])
            .extra_fd(7, &j.path("hidden/file"))
            .run();
        assert_eq!(
            out.stdout,
            "EBADF\n",
            "ESCAPE [{name}]: the inherited descriptor reached the program\n{}",
            out.describe()
        );
    }
}

/// A pty pair; the slave in raw mode, so one typed byte is readable at once.
fn raw_pty() -> (OwnedFd, OwnedFd) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut term = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
    nix::sys::termios::cfmakeraw(&mut term);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &term).unwrap();
    (pty.master, pty.slave)
}

/// Whatever is waiting in the slave's input queue (typed, or injected).
fn pending_input(slave: &OwnedFd) -> String {
    let fd = slave.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let mut file = std::fs::File::from(slave.try_clone().unwrap());
    let mut buf = [0u8; 64];
    match file.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

fn output_of(child: std::process::Output) -> Output {
    Output {
        status: child.status,
        stdout: String::from_utf8_lossy(&child.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&child.stderr).into_owned(),
        elapsed: Duration::ZERO,
        pipes_held: false,
    }
}

/// Runs escape fixture `fixture` with `args` and `stdin`, natively or in
/// a fresh jail with the standard config.
fn fixture_with_stdin(fixture: &str, args: &[&str], stdin: Stdio, jailed: bool) -> Output {
    let j = Jail::new();
    let mut command = if jailed {
        write_file(&j.config_path(), j.config_text());
        let mut command = Command::new(SANDBOX);
        command
            .arg(j.config_path())
            .arg("test")
            .arg(j.escape_bin(fixture));
        command
    } else {
        Command::new(j.escape_bin(fixture))
    };
    output_of(command.args(args).stdin(stdin).output().unwrap())
}

#[test]
fn escape_fds_tiocsti_types_into_the_terminal_outside() {
    // Control: natively (as root) TIOCSTI on a pty slave queues the byte.
    let t = Jail::new();
    let (_master, slave) = raw_pty();
    let stdin = Stdio::from(slave.try_clone().unwrap());
    let out = fixture_with_stdin("fdtty", &["tiocsti", "tiocsti_hi"], stdin, false);
    let typed = pending_input(&slave);
    if out.lines() != ["ok", "ok"] {
        // Without CAP_SYS_ADMIN and with dev.tty.legacy_tiocsti=0 the
        // kernel itself refuses it; nothing for the jail to add.
        eprintln!(
            "SKIPPED control: TIOCSTI refused natively here:\n{}",
            out.describe()
        );
    } else {
        assert_eq!(
            typed,
            "xy",
            "control void: nothing was typed\n{}",
            out.describe()
        );
    }
    // A pipe as stdin is not a terminal at all: the errno must not be "ok".
    let r = run_native(
        &[t.escape_bin("fdtty"), "tiocsti".into()],
        Duration::from_secs(10),
    );
    assert_eq!(r.lines(), ["ENOTTY"], "{}", r.describe());

    // In the jail, with stdin the same pty slave.
    let (_master, slave) = raw_pty();
    let stdin = Stdio::from(slave.try_clone().unwrap());
    let out = fixture_with_stdin("fdtty", &["tiocsti", "tiocsti_hi"], stdin, true);
    let typed = pending_input(&slave);
    assert!(
        out.lines().len() == 2 && out.lines().iter().all(|l| *l != "ok") && typed.is_empty(),
        "ESCAPE: TIOCSTI from the jail (typed {typed:?})\n{}",
        out.describe()
    );
}

#[test]
fn escape_fds_signal_driven_io_on_the_terminal_outside_is_refused() {
    // Turning on O_ASYNC on a terminal makes the kernel set the terminal's
    // foreground process group as the owner: when the jail runs on the
    // caller's terminal, that is the caller's shell job, tracer included,
    // and F_SETSIG picks the signal (SIGKILL). Natively both work.
    let (_master, slave) = raw_pty();
    for (jailed, want) in [
        (false, "setsig ok async ok fioasync ok"),
        (true, "setsig EPERM async EPERM fioasync EPERM"),
    ] {
        let stdin = Stdio::from(slave.try_clone().unwrap());
        let out = fixture_with_stdin("signals", &["async_stdin", "9"], stdin, jailed);
        let what = if jailed {
            "ESCAPE: signal-driven I/O on the outside terminal"
        } else {
            "control void"
        };
        assert_eq!(out.lines(), [want], "{what}\n{}", out.describe());
    }
}

#[test]
fn escape_fds_signals_to_an_owner_set_outside_the_jail_are_refused() {
    // A descriptor the jail inherits may already have an owner outside it
    // (a bot that asked for SIGIO on its socket): F_SETSIG would choose
    // the signal that process gets, O_ASYNC would start them.
    let start_sleeper = || {
        Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .expect("spawn sleep")
    };
    let run = |jailed: bool, owner: u32| {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        // SAFETY: F_SETOWN on a socket this test owns.
        assert_eq!(
            unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_SETOWN, owner as i32) },
            0
        );
        let stdin = Stdio::from(OwnedFd::from(theirs));
        let out = fixture_with_stdin("signals", &["async_stdin", "0"], stdin, jailed);
        drop(ours);
        out
    };
    let mut control = start_sleeper();
    let out = run(false, control.id());
    let _ = control.kill();
    let _ = control.wait();
    assert_eq!(
        out.lines(),
        ["setsig ok async ok fioasync ok"],
        "control void\n{}",
        out.describe()
    );
    let mut outsider = start_sleeper();
    let out = run(true, outsider.id());
    let alive = outsider.try_wait().unwrap().is_none();
    let _ = outsider.kill();
    let _ = outsider.wait();
    assert_eq!(
        out.lines(),
        ["setsig EPERM async EPERM fioasync EPERM"],
        "ESCAPE: signals to an owner outside the jail\n{}",
        out.describe()
    );
    assert!(alive);
}
