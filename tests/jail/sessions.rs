//! Suspended REPL sessions: `wakeup`, resume by ident, `kill <ident>`.

use crate::support::{Jail, SANDBOX, is_gone, wait_gone};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds a REPL driver from `fixtures/repl/<name>.c`.
fn build_driver(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/repl/{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-fixtures");
    fs::create_dir_all(&out).unwrap();
    let tmp = out.join(format!(".{name}.{}", std::process::id()));
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&tmp)
        .arg(&src)
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc failed for {}", src.display());
    let bin = out.join(name);
    fs::rename(&tmp, &bin).unwrap();
    bin
}

/// The C REPL driver, built once per run.
fn c_repl() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_driver("c_repl"))
}

/// A jail tree whose config runs the C driver as a session.
struct Sessions {
    jail: Jail,
    sock: PathBuf,
}

impl Sessions {
    fn new(extra: &str) -> Sessions {
        let mut jail = Jail::bare();
        fs::copy(c_repl(), jail.path("bin/c_repl")).unwrap();
        let sock = jail.path("sock");
        jail.set_config(&format!(
            "see {{bin}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\n\
             program {{bin}}/c_repl\n{extra}",
            sock.display()
        ));
        fs::write(jail.config_path(), jail.config_text()).unwrap();
        Sessions { jail, sock }
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new(SANDBOX)
            .arg(self.jail.config_path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sandbox")
    }

    /// Sends `input` as one command to session `ident`.
    fn send(&self, ident: &str, input: &str) -> Output {
        let mut child = self.spawn(&[ident]);
        // The jail may refuse (a bad ident) before reading its input.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        finish(child)
    }

    fn kill(&self, ident: &str) -> Output {
        let child = self.spawn(&["kill", ident]);
        finish(child)
    }

    fn sockets(&self) -> Vec<String> {
        match fs::read_dir(&self.sock) {
            Ok(entries) => entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Pids of drivers started from this tree.
    fn drivers(&self) -> Vec<i32> {
        crate::support::processes_running_from(&self.jail.path("bin"))
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        for socket in self.sockets() {
            if let Some(ident) = socket.strip_suffix(".sock") {
                let _ = self.kill(ident);
            }
        }
        for pid in self.drivers() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// Waits for a client with a hard limit, so a hung session fails the test.
/// Its output is read meanwhile (a full pipe would stall it).
fn finish(child: Child) -> Output {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match result.recv_timeout(Duration::from_secs(20)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
            let output = result.recv().unwrap().unwrap();
            panic!(
                "client hung; {} bytes of stdout, stderr {:?}",
                output.stdout.len(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn state_is_kept_across_invocations() {
    let s = Sessions::new("");
    let first = s.send("alice", "say hello\n");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), "1: hello\n");
    let second = s.send("alice", "say again\n");
    assert_eq!(stdout(&second), "2: again\n", "{}", stderr(&second));
    // Another ident is another program.
    let other = s.send("bob", "say other\n");
    assert_eq!(stdout(&other), "1: other\n");
}

#[test]
fn python_session_keeps_its_variables() {
    let mut jail = Jail::bare();
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repl/python_repl.py");
    fs::copy(&driver, jail.path("bin/python_repl.py")).unwrap();
    jail.set_config(&format!(
        "see /usr\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\nsee /etc/python3.11\n\
         see {{bin}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\nclearenv\n\
         program /usr/bin/python3\narg python3\narg {{bin}}/python_repl.py\ntimelimit 20\nreport\n",
        jail.path("sock").display()
    ));
    fs::write(jail.config_path(), jail.config_text()).unwrap();
    let s = Sessions {
        sock: jail.path("sock"),
        jail,
    };
    let first = s.send("py", "x = 41\n");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), "");
    let second = s.send("py", "print(x + 1)\n");
    assert_eq!(stdout(&second), "42\n", "{}", stderr(&second));
    let hidden = s.send("py", "open('/etc/passwd')\n");
    assert!(
        stderr(&hidden).contains("FileNotFoundError"),
        "{}",
        stderr(&hidden)
    );
    // The jail's report reaches the client of the command that caused it.
    assert!(
        stderr(&hidden).contains("[See /etc/passwd=/etc/passwd]"),
        "{}",
        stderr(&hidden)
    );
}

#[test]
fn shell_session_keeps_variables_and_directory() {
    let mut jail = Jail::bare();
    fs::copy(build_driver("sh_repl"), jail.path("bin/sh_repl")).unwrap();
    jail.set_config(&format!(
        "see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\nsee {{bin}}\n\
         write {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\nclearenv\nsetenv PATH /usr/bin:/bin\n\
         program {{bin}}/sh_repl\ntimelimit 20\n",
        jail.path("sock").display()
    ));
    fs::write(jail.config_path(), jail.config_text()).unwrap();
    let s = Sessions {
        sock: jail.path("sock"),
        jail,
    };
    assert_eq!(stdout(&s.send("sh", "x=5; mkdir -p d; cd d\n")), "");
    let out = s.send("sh", "echo $x; pwd\n");
    assert_eq!(
        stdout(&out),
        format!("5\n{}\n", s.jail.path("jail/d").display()),
        "{}",
        stderr(&out)
    );
    let hidden = s.send("sh", "cat /etc/passwd\n");
    assert!(
        stderr(&hidden).contains("No such file"),
        "{}",
        stderr(&hidden)
    );
}

#[test]
fn kill_ends_the_session_and_its_processes() {
    let s = Sessions::new("");
    s.send("alice", "say hi\n");
    let drivers = s.drivers();
    assert_eq!(drivers.len(), 1, "one driver runs");
    let killed = s.kill("alice");
    assert_eq!(killed.status.code(), Some(0));
    assert_eq!(stdout(&killed), "Done\n");
    assert!(wait_gone(&drivers, Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty(), "socket left: {:?}", s.sockets());
    // The next command starts afresh.
    assert_eq!(stdout(&s.send("alice", "say new\n")), "1: new\n");
}

#[test]
fn kill_of_a_missing_ident_says_done() {
    let s = Sessions::new("");
    let killed = s.kill("nobody");
    assert_eq!(killed.status.code(), Some(0), "{}", stderr(&killed));
    assert_eq!(stdout(&killed), "Done\n");
}

#[test]
fn a_command_over_the_time_limit_ends_the_session() {
    let s = Sessions::new("timelimit 1\n");
    assert_eq!(stdout(&s.send("alice", "say warm\n")), "1: warm\n");
    let started = Instant::now();
    let spun = s.send("alice", "spin\n");
    assert_eq!(spun.status.code(), Some(124), "{}", stderr(&spun));
    assert!(stderr(&spun).contains("[Timed out]"));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(wait_gone(&s.drivers(), Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty());
}

/// The session arms twice the limit for its first command: a huge limit
/// must not overflow the clock (it used to panic the server).
#[test]
fn a_huge_time_limit_keeps_the_session_working() {
    let s = Sessions::new("timelimit 5000000000000000000\n");
    for round in 1..=2 {
        let out = s.send("alice", "say hi\n");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("{round}: hi\n"), "{}", stderr(&out));
    }
}

#[test]
fn the_time_limit_counts_per_command() {
    let s = Sessions::new("timelimit 1\n");
    // Three commands of 0.6 s each: 1.8 s in all, but each under 1 s.
    for round in 1..=3 {
        let out = s.send("alice", "sleep 600\n");
        assert_eq!(
            stdout(&out),
            format!("{round}: slept\n"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_program_that_exits_reports_its_status_and_leaves_no_session() {
    let s = Sessions::new("");
    s.send("alice", "say hi\n");
    let exited = s.send("alice", "exit 7\n");
    assert_eq!(exited.status.code(), Some(7), "{}", stderr(&exited));
    assert!(wait_gone(&s.drivers(), Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty());
}

#[test]
fn a_stale_socket_is_replaced_not_trusted() {
    let s = Sessions::new("");
    fs::create_dir_all(&s.sock).unwrap();
    fs::set_permissions(&s.sock, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // A socket nobody listens on, as a killed session leaves behind.
    let stale = s.sock.join("alice.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let out = s.send("alice", "say fresh\n");
    assert_eq!(stdout(&out), "1: fresh\n", "{}", stderr(&out));
}

#[test]
fn a_killed_server_leaves_nothing_running() {
    let s = Sessions::new("");
    s.send("alice", "say hi\n");
    let drivers = s.drivers();
    // The server is the driver's tracer: its parent.
    let status = fs::read_to_string(format!("/proc/{}/status", drivers[0])).unwrap();
    let tracer: i32 = status
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(tracer > 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tracer),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_gone(&drivers, Duration::from_secs(5)).is_empty());
    let out = s.send("alice", "say again\n");
    assert_eq!(stdout(&out), "1: again\n", "{}", stderr(&out));
}

#[test]
fn hostile_idents_are_refused_with_a_message() {
    let s = Sessions::new("");
    let long = "a".repeat(65);
    for ident in [
        "",
        "..",
        "../x",
        "a/b",
        ".hidden",
        "a\nb",
        "a b",
        long.as_str(),
    ] {
        let out = s.send(ident, "say x\n");
        assert_eq!(out.status.code(), Some(2), "{ident:?}");
        assert!(
            stderr(&out).contains("bad ident"),
            "{ident:?}: {}",
            stderr(&out)
        );
        let killed = s.kill(ident);
        assert_eq!(killed.status.code(), Some(2), "kill {ident:?}");
    }
    assert!(s.sockets().is_empty());
    assert!(s.drivers().is_empty());
}

#[test]
fn a_sockdir_others_can_enter_is_refused() {
    let s = Sessions::new("");
    fs::create_dir_all(&s.sock).unwrap();
    fs::set_permissions(&s.sock, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = s.send("alice", "say x\n");
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("lets others in"), "{}", stderr(&out));
    assert!(s.drivers().is_empty());
}

#[test]
fn two_clients_at_once_take_turns() {
    let s = Sessions::new("");
    s.send("alice", "say warm\n");
    let mut slow = s.spawn(&["alice"]);
    slow.stdin
        .take()
        .unwrap()
        .write_all(b"sleep 500\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let quick = s.send("alice", "say quick\n");
    let slow = finish(slow);
    // Each client gets exactly its own command's output.
    assert_eq!(stdout(&slow), "2: slept\n", "{}", stderr(&slow));
    assert_eq!(stdout(&quick), "3: quick\n", "{}", stderr(&quick));
}

#[test]
fn a_client_killed_mid_command_does_not_hang_the_next() {
    let s = Sessions::new("");
    s.send("alice", "say warm\n");
    let mut doomed = s.spawn(&["alice"]);
    doomed
        .stdin
        .take()
        .unwrap()
        .write_all(b"sleep 300\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    doomed.kill().unwrap();
    let _ = doomed.wait();
    let next = s.send("alice", "say next\n");
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    // The dead client's output ("2: slept") is not handed to the next one.
    assert_eq!(stdout(&next), "3: next\n");
}

#[test]
fn output_written_just_before_the_wakeup_reaches_its_own_client() {
    let s = Sessions::new("");
    // More than a pipe holds, written right before the wakeup.
    let big = s.send("alice", "burst 300000\n");
    assert_eq!(big.stdout.len(), 300_001, "{}", stderr(&big));
    let next = s.send("alice", "say after\n");
    assert_eq!(stdout(&next), "2: after\n");
}

#[test]
fn a_hundred_sessions_start_answer_and_end_cleanly() {
    let s = Sessions::new("");
    let idents: Vec<String> = (0..100).map(|i| format!("user{i}")).collect();
    for ident in &idents {
        let out = s.send(ident, "say hi\n");
        assert_eq!(stdout(&out), "1: hi\n", "{ident}: {}", stderr(&out));
    }
    assert_eq!(s.sockets().len(), 100);
    let drivers = s.drivers();
    assert_eq!(drivers.len(), 100);
    // Memory of one suspended session's tracer, for the record.
    if let Some(server) = tracer_of(drivers[0]) {
        let rss = fs::read_to_string(format!("/proc/{server}/status"))
            .unwrap()
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .map(str::to_string)
            .unwrap_or_default();
        println!("session server {rss}");
    }
    for ident in &idents {
        assert_eq!(stdout(&s.send(ident, "say again\n")), "2: again\n");
    }
    // Under Landlock each session also has its descriptor keeper.
    let keepers: Vec<i32> = drivers
        .iter()
        .filter_map(|driver| tracer_of(*driver))
        .flat_map(untraced_children)
        .collect();
    if sandbox::landlock::abi_version().is_ok() {
        assert_eq!(keepers.len(), 100, "{keepers:?}");
    }
    for ident in &idents {
        assert_eq!(stdout(&s.kill(ident)), "Done\n");
    }
    assert!(wait_gone(&drivers, Duration::from_secs(10)).is_empty());
    assert!(
        wait_gone(&keepers, Duration::from_secs(10)).is_empty(),
        "keepers outlived their sessions"
    );
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
    assert!(drivers.iter().all(|pid| is_gone(*pid)));
}

fn tracer_of(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("TracerPid:"))?
        .trim()
        .parse()
        .ok()
}

/// The untraced children of `server`: its descriptor keeper.
fn untraced_children(server: i32) -> Vec<i32> {
    let field = |pid: i32, name: &str| -> Option<i32> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| field(*pid, "PPid:") == Some(server) && field(*pid, "TracerPid:") == Some(0))
        .collect()
}
