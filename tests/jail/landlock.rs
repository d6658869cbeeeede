//! The Landlock wall: on its own (the library's ruleset applied in a forked
//! child, no tracer), and under the jail with `landlock require`.

use crate::support::{Jail, Want};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use sandbox::config::LandlockMode;
use sandbox::landlock;
use std::fs;
use std::path::Path;

fn abi() -> Option<u32> {
    match landlock::abi_version() {
        Ok(abi) => Some(abi),
        Err(errno) => {
            println!("skipped: this kernel has no Landlock ({errno})");
            None
        }
    }
}

/// Runs `check` in a forked child confined by a ruleset of `see` and
/// `write`; the child's exit code is the number of failed expectations.
fn in_confined_child(see: &[&Path], write: &[&Path], check: impl Fn() -> i32) -> i32 {
    let ruleset = landlock::build(LandlockMode::Require, see, write)
        .expect("build")
        .expect("landlock available");
    // SAFETY (test): the child only makes syscalls and exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let failures = if nix::sys::prctl::set_no_new_privs().is_err()
                || sandbox::sys::landlock_restrict_self(ruleset.raw_fd()).is_err()
            {
                100
            } else {
                check()
            };
            sandbox::sys::exit_immediately(failures)
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("wait") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        },
    }
}

#[test]
fn the_ruleset_alone_confines_reads_and_writes_to_the_roots() {
    if abi().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for sub in ["see", "write", "outside"] {
        fs::create_dir(root.join(sub)).unwrap();
        fs::write(root.join(sub).join("file"), sub).unwrap();
    }
    let (see, write, outside) = (root.join("see"), root.join("write"), root.join("outside"));
    // Every expectation is checked; the exit code counts the wrong ones.
    let failures = in_confined_child(&[&see], &[&write], || {
        let expectations = [
            fs::read(see.join("file")).is_ok(),
            fs::read(write.join("file")).is_ok(),
            fs::read(outside.join("file")).is_err(),
            fs::OpenOptions::new()
                .append(true)
                .open(see.join("file"))
                .is_err(),
            fs::write(write.join("new"), "x").is_ok(),
            fs::write(outside.join("new"), "x").is_err(),
            fs::remove_file(see.join("file")).is_err(),
            fs::create_dir(outside.join("d")).is_err(),
        ];
        expectations.iter().filter(|ok| !**ok).count() as i32
    });
    assert_eq!(failures, 0, "expectations failed in the confined child");
    // Natively (the control) the same writes work.
    fs::write(outside.join("new"), "x").unwrap();
}

#[test]
fn the_ruleset_refuses_tcp_connect_where_the_kernel_can() {
    let Some(abi) = abi() else { return };
    if abi < 4 {
        println!("skipped: Landlock ABI {abi} has no network rights");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Control: connecting works unconfined.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let failures = in_confined_child(&[], &[], || {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Err(error) if error.raw_os_error() == Some(libc::EACCES) => 0,
            _ => 1,
        }
    });
    assert_eq!(failures, 0, "a confined child could connect");
}

#[test]
fn the_ruleset_scopes_signals_where_the_kernel_can() {
    let Some(abi) = abi() else { return };
    if abi < 6 {
        println!("skipped: Landlock ABI {abi} has no signal scoping");
        return;
    }
    let outside = nix::unistd::getpid();
    let failures = in_confined_child(&[], &[], || match nix::sys::signal::kill(outside, None) {
        Err(nix::errno::Errno::EPERM) => 0,
        _ => 1,
    });
    assert_eq!(
        failures, 0,
        "a confined child could signal outside its domain"
    );
}

#[test]
fn landlock_require_runs_on_this_kernel_and_denials_hold() {
    if abi().is_none() {
        return;
    }
    let mut j = Jail::new();
    j.add_config("landlock require\n");
    j.check(&[
        ("open {jail}/file rdonly", Want::Ok),
        ("open {jail}/new wronly creat", Want::Ok),
        ("open {ro}/file rdonly", Want::Ok),
        ("open {ro}/file wronly", Want::Denied),
        ("open {hidden}/file rdonly", Want::Hidden),
        ("mkdir {jail}/made", Want::Ok),
        ("unlink {jail}/new", Want::Ok),
    ]);
}

#[test]
fn landlock_off_is_accepted_and_the_jail_still_enforces() {
    let mut j = Jail::new();
    j.add_config("landlock off\n");
    j.check(&[
        ("open {jail}/file rdonly", Want::Ok),
        ("open {hidden}/file rdonly", Want::Hidden),
    ]);
}
