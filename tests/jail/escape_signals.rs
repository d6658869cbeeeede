//! Escape suite: signals to processes outside the jail, and outliving it.
//!
//! Natively (the control) every signal reaches its target; in the jail
//! each must be refused. Signal 0 is used where a mistake would hurt the
//! machine (kill(-1), the tracer); an outside sleeper gets SIGKILL and must
//! survive. When the tracer itself is killed with SIGKILL, everything in
//! the jail must die with it, while natively the same children outlive
//! their parent.

use crate::support::{Jail, Output, SANDBOX, is_gone, run_native, wait_gone, write_file};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// An outside process (its own process group) to aim signals at.
struct Outsider(Child);

impl Outsider {
    fn start() -> Outsider {
        Outsider(
            Command::new("sleep")
                .arg("60")
                .process_group(0)
                .spawn()
                .expect("spawn sleep"),
        )
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn native(t: &Jail, args: &[String]) -> Output {
    let mut argv = vec![t.escape_bin("signals")];
    argv.extend(args.iter().cloned());
    run_native(&argv, Duration::from_secs(20))
}

fn jailed(j: &Jail, args: &[String]) -> Output {
    let mut argv = vec![j.escape_bin("signals")];
    argv.extend(args.iter().cloned());
    j.cmd(&argv).timeout(Duration::from_secs(20)).run()
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[test]
fn escape_signals_kill_minus_one_and_the_tracer_are_refused() {
    let t = Jail::new();
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    for trick in [
        "kill_all 0",
        "kill_parent 0",
        "pidfd_parent 0",
        "procfd_parent 0",
    ] {
        let out = native(&t, &words(trick));
        let line = out.lines().first().copied().unwrap_or("").to_string();
        assert!(
            line == "ok" || line.ends_with("send ok"),
            "control void: natively {trick} gave {line:?}\n{}",
            out.describe()
        );
        let out = jailed(&j, &words(trick));
        let line = out.lines().first().copied().unwrap_or("").to_string();
        assert!(
            !(line == "ok" || line.ends_with("send ok")),
            "ESCAPE: {trick} reached outside the jail: {line}\n{}",
            out.describe()
        );
    }
}

#[test]
fn escape_signals_to_an_outside_process_are_refused_and_it_survives() {
    let t = Jail::new();
    let j = Jail::new();
    let outsider = Outsider::start();
    let pid = outsider.pid();
    for trick in ["kill_pid", "kill_group", "tgkill", "sigqueue", "pidfd_pid"] {
        let out = native(&t, &words(&format!("{trick} {pid} 0")));
        let line = out.lines().first().copied().unwrap_or("").to_string();
        assert!(
            line == "ok" || line == "pidfd ok send ok",
            "control void: natively {trick} {pid} 0 gave {line:?}\n{}",
            out.describe()
        );
        let out = jailed(&j, &words(&format!("{trick} {pid} 9")));
        let line = out.lines().first().copied().unwrap_or("").to_string();
        assert!(
            !(line == "ok" || line.ends_with("send ok") || is_gone(pid)),
            "ESCAPE: {trick} {pid} 9 from the jail: {line}, outsider gone: {}\n{}",
            is_gone(pid),
            out.describe()
        );
    }
}

#[test]
fn escape_signals_through_a_descriptors_owner_are_refused_and_the_target_survives() {
    // F_SETOWN and friends make the kernel itself send a chosen signal
    // (F_SETSIG) to the owner when I/O is possible: a kill in disguise.
    for trick in [
        "owner_fcntl",
        "owner_fcntl_ex",
        "owner_group",
        "owner_ioctl",
    ] {
        let t = Jail::new();
        let victim = Outsider::start();
        let out = native(&t, &words(&format!("{trick} {} 9", victim.pid())));
        assert_eq!(out.lines(), ["owner ok"], "{trick}\n{}", out.describe());
        assert!(
            wait_gone(&[victim.pid()], Duration::from_secs(3)).is_empty(),
            "control void: natively {trick} did not kill the target\n{}",
            out.describe()
        );
        for landlock in ["", "landlock off\n"] {
            let mut j = Jail::new();
            j.add_config(landlock);
            let outsider = Outsider::start();
            let pid = outsider.pid();
            let out = jailed(&j, &words(&format!("{trick} {pid} 9")));
            assert!(
                out.lines() == ["owner ESRCH"] && !is_gone(pid),
                "ESCAPE: {trick} from the jail ({landlock:?}) signalled {pid}, gone: {}\n{}",
                is_gone(pid),
                out.describe()
            );
        }
    }
    // Inside the jail the same calls work: a program may own its own I/O.
    let mut j = Jail::new();
    j.add_config("see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\n");
    let out = j
        .cmd(&[
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("{} owner_fcntl $$ 0", j.escape_bin("signals")),
        ])
        .run();
    assert_eq!(out.lines(), ["owner ok"], "{}", out.describe());
}

#[test]
fn escape_signals_sigstop_to_own_group_then_jail_still_enforces() {
    let t = Jail::new();
    let out = native(&t, &words(&format!("sigstop_group {}", t.p("hidden/file"))));
    assert_eq!(
        out.lines(),
        ["resumed ok", "ok opened"],
        "control void\n{}",
        out.describe()
    );
    let j = Jail::new();
    let out = jailed(&j, &words(&format!("sigstop_group {}", j.p("hidden/file"))));
    assert_eq!(
        out.lines(),
        ["resumed ok", "ENOENT"],
        "ESCAPE (or the stop was not survived)\n{}",
        out.describe()
    );
}

/// Reads the "pids ..." line a `sleepers` run prints first.
fn first_line(stdout: std::process::ChildStdout) -> Vec<i32> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no pids line in 10 s");
    assert!(line.starts_with("pids "), "unexpected first line {line:?}");
    line.split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) of a process this test started.
    unsafe {
        libc::kill(pid, sig);
    }
}

#[test]
fn escape_signals_everything_dies_when_the_tracer_is_killed() {
    // Control: natively the children (one a setsid double-forked daemon,
    // one with a thread ignoring SIGHUP and SIGTERM) outlive their parent.
    let t = Jail::new();
    let mut child = Command::new(t.escape_bin("signals"))
        .args(["sleepers", "6"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pids = first_line(child.stdout.take().unwrap());
    assert_eq!(pids.len(), 7, "{pids:?}");
    kill(pids[0], libc::SIGKILL);
    let _ = child.wait();
    thread::sleep(Duration::from_millis(300));
    let alive: Vec<i32> = pids[1..].iter().copied().filter(|p| !is_gone(*p)).collect();
    for p in &pids {
        kill(*p, libc::SIGKILL);
    }
    assert_eq!(
        alive,
        pids[1..],
        "control void: natively the children died with their parent"
    );

    // In the jail: SIGKILL to the jail itself (the tracer) from outside.
    let j = Jail::new();
    write_file(&j.config_path(), j.config_text());
    let mut jail = Command::new(SANDBOX)
        .arg(j.config_path())
        .arg("test")
        .arg(j.escape_bin("signals"))
        .args(["sleepers", "6"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pids = first_line(jail.stdout.take().unwrap());
    assert_eq!(pids.len(), 7, "{pids:?}");
    let _ = jail.kill();
    let _ = jail.wait();
    let left = wait_gone(&pids, Duration::from_secs(3));
    for p in &left {
        kill(*p, libc::SIGKILL);
    }
    assert!(
        left.is_empty(),
        "ESCAPE: jailed processes outlived the killed tracer: {left:?}"
    );
}

/// What the kernel answers for signals to the jail's own processes that
/// are no live task: a zombie its parent has yet to reap (0: the signal
/// changes nothing), one reaped (ESRCH), and a process group whose
/// leader is gone while a member lives (delivered). Natively first.
#[test]
fn signals_to_a_zombie_and_to_a_group_without_its_leader_answer_as_natively() {
    const LINGER: &str = r#"
import os, signal, time
def kill(call, *args):
    try:
        call(*args)
        return 'ok'
    except ProcessLookupError:
        return 'ESRCH'
pid = os.fork()
if pid == 0:
    os._exit(3)
time.sleep(0.2)
print('zombie', kill(os.kill, pid, signal.SIGTERM))
print('status', os.WEXITSTATUS(os.waitpid(pid, 0)[1]))
print('reaped', kill(os.kill, pid, signal.SIGTERM))
r, w = os.pipe()
leader = os.fork()
if leader == 0:
    os.setpgid(0, 0)
    if os.fork() == 0:
        def term(*_):
            os.write(w, b'member got TERM')
            os._exit(0)
        signal.signal(signal.SIGTERM, term)
        os.write(w, b'.')
        while True:
            signal.pause()
    os._exit(0)
os.close(w)
os.waitpid(leader, 0)
os.read(r, 1)
print('group', kill(os.killpg, leader, signal.SIGTERM))
print(os.read(r, 100).decode())
"#;
    let want = [
        "zombie ok",
        "status 3",
        "reaped ESRCH",
        "group ok",
        "member got TERM",
    ];
    let out = run_native(&["/usr/bin/python3", "-c", LINGER], Duration::from_secs(20));
    assert_eq!(out.lines(), want, "control: {}", out.describe());
    for (landlock, unprivileged) in crate::support::landlock_and_users() {
        let mut j = Jail::bare();
        j.set_config(&format!(
            "see /usr\nsee /bin\nsee /lib\nsee /lib64\nlandlock {landlock}\n"
        ));
        if unprivileged {
            crate::support::test_user_runs(&mut j);
        }
        let landlock = format!("{landlock}, unprivileged {unprivileged}");
        let out = j
            .cmd(&["/usr/bin/python3", "-c", LINGER])
            .timeout(Duration::from_secs(20))
            .run();
        out.assert_code(0);
        assert_eq!(out.lines(), want, "[{landlock}] {}", out.describe());
    }
}
