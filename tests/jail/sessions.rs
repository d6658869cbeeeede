//! Suspended REPL sessions: `wakeup`, resume by ident, `kill <ident>`.

use crate::support::{Jail, SANDBOX, is_gone, wait_gone};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds a REPL driver from `fixtures/repl/<name>.c`.
pub(crate) fn build_driver(name: &str) -> PathBuf {
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
            "see {{bin}}\nsee {{jail}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\n\
             program {{bin}}/c_repl\n{extra}",
            sock.display()
        ));
        fs::write(jail.config_path(), jail.config_text()).unwrap();
        Sessions { jail, sock }
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.spawn_with(args, &[])
    }

    fn spawn_with(&self, args: &[&str], env: &[(&str, String)]) -> Child {
        Command::new(SANDBOX)
            .arg(self.jail.config_path())
            .args(args)
            .envs(env.iter().map(|(key, value)| (key, value)))
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

    /// [`Sessions::send`] with `env` added to the client's environment
    /// (and so to the server's, when this client starts it).
    fn send_with(&self, ident: &str, input: &str, env: &[(&str, String)]) -> Output {
        let mut child = self.spawn_with(&[ident], env);
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
    /// Whatever a test left running from this tree ends: the session
    /// servers of every config in it (their programs die with them), then
    /// any driver still there.
    fn drop(&mut self) {
        for pid in self.sandbox_processes() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
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
         see {{bin}}\nsee {{jail}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\nclearenv\n\
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
         see {{jail}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\nclearenv\nsetenv PATH /usr/bin:/bin\n\
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
    assert_eq!(stdout(&s.send("alice", "say hi\n")), "1: hi\n");
    let sockets = s.sockets();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    assert_eq!(stdout(&s.kill("alice")), "Done\n");
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
    // A socket nobody listens on, where the session's was, as a killed
    // session leaves behind.
    let stale = s.sock.join(&sockets[0]);
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let out = s.send("alice", "say fresh\n");
    assert_eq!(stdout(&out), "1: fresh\n", "{}", stderr(&out));
    assert_eq!(s.sockets(), sockets);
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
fn idents_that_are_paths_or_empty_are_refused_with_a_message() {
    let s = Sessions::new("");
    for ident in ["", "/", "a/b", "../x", "#chan/sub"] {
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
    assert!(!s.sock.exists() || s.sockets().is_empty());
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

impl Sessions {
    /// Live `sandbox` processes started with a config of this tree:
    /// clients and session servers (a server is a fork of the client that
    /// started it, so it has the same command line).
    fn sandbox_processes(&self) -> Vec<i32> {
        use std::os::unix::ffi::OsStrExt;
        let binary = fs::canonicalize(SANDBOX).unwrap();
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let second = cmdline.split(|byte| *byte == 0).nth(1).unwrap_or(&[]);
                exe.as_deref() == Some(binary.as_path())
                    && Path::new(std::ffi::OsStr::from_bytes(second)).starts_with(&self.jail.root)
                    && !is_gone(*pid)
            })
            .collect()
    }
}

/// Kills whatever `sandbox` process of this tree a failed test left.
struct ReapServers<'a>(&'a Sessions);

impl Drop for ReapServers<'_> {
    fn drop(&mut self) {
        for pid in self.0.sandbox_processes() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

#[test]
fn a_session_keeps_no_descriptor_of_the_client_that_started_it() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let raw = write.as_raw_fd();
    let mut command = Command::new(SANDBOX);
    command
        .arg(s.jail.config_path())
        .arg("fdl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: dup2 is async-signal-safe; it leaves fd 7 inheritable.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(write);
    child.stdin.take().unwrap().write_all(b"say hi\n").unwrap();
    let out = finish(child);
    assert_eq!(stdout(&out), "1: hi\n", "{}", stderr(&out));
    // The client is gone; if nothing else holds the pipe's write end (the
    // server, its keeper, the program), the read end sees end of file.
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&read),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(
        ready, 1,
        "the session still holds the client's descriptor 7"
    );
    let mut byte = [0u8; 1];
    assert_eq!(nix::unistd::read(&read, &mut byte), Ok(0));
    // And the session still works.
    assert_eq!(stdout(&s.send("fdl", "say again\n")), "2: again\n");
}

impl Sessions {
    /// Like [`Sessions::new`], with `sockdir` at `rel` under the tree.
    fn with_sockdir(extra: &str, rel: &str) -> Sessions {
        let mut s = Sessions::new(extra);
        let sock = s.jail.path(rel);
        let text = s
            .jail
            .config_text()
            .replace(&s.sock.display().to_string(), &sock.display().to_string());
        s.jail.set_config(&text);
        fs::write(s.jail.config_path(), s.jail.config_text()).unwrap();
        s.sock = sock;
        s
    }
}

#[test]
fn concurrent_first_starts_make_exactly_one_session_per_ident() {
    let s = Sessions::new("timelimit 10\n");
    let _reap = ReapServers(&s);
    let idents: Vec<String> = (0..20).map(|i| format!("race{i}")).collect();
    let mut clients = Vec::new();
    for ident in &idents {
        for _ in 0..5 {
            let mut child = s.spawn(&[ident]);
            child.stdin.take().unwrap().write_all(b"say x\n").unwrap();
            clients.push((ident.clone(), child));
        }
    }
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (ident, child) in clients {
        let out = finish(child);
        assert_eq!(out.status.code(), Some(0), "{ident}: {}", stderr(&out));
        seen.entry(ident).or_default().push(stdout(&out));
    }
    // One interpreter per ident counted the five commands 1 to 5; a second
    // server would have answered "1: x" again.
    for (ident, outputs) in &mut seen {
        outputs.sort();
        assert_eq!(
            outputs,
            &["1: x\n", "2: x\n", "3: x\n", "4: x\n", "5: x\n"],
            "{ident}"
        );
    }
    for ident in &idents {
        assert_eq!(stdout(&s.kill(ident)), "Done\n");
    }
    let left = wait_gone(&s.sandbox_processes(), Duration::from_secs(10));
    assert!(left.is_empty(), "sandbox processes outlived kill: {left:?}");
    assert!(wait_gone(&s.drivers(), Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
}

#[test]
fn a_session_whose_socket_is_deleted_ends() {
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    assert_eq!(stdout(&s.send("alice", "say hi\n")), "1: hi\n");
    // The driver, its server and (under Landlock) the server's keeper.
    let mut pids = s.drivers();
    pids.extend(s.sandbox_processes());
    assert!(pids.len() >= 2, "a driver and a server: {pids:?}");
    fs::remove_dir_all(&s.sock).unwrap();
    assert_eq!(stdout(&s.kill("alice")), "Done\n");
    let left = wait_gone(&pids, Duration::from_secs(10));
    assert!(left.is_empty(), "an unreachable session lives on: {left:?}");
}

#[test]
fn a_socket_path_over_the_kernel_limit_still_works() {
    // 64 bytes of ident under a deep sockdir: more than the 108 bytes a
    // unix socket path may have.
    let s = Sessions::with_sockdir("", &"s".repeat(40));
    let _reap = ReapServers(&s);
    let ident = "i".repeat(64);
    assert!(s.sock.join(format!("{ident}.sock")).as_os_str().len() > 107);
    let first = s.send(&ident, "say x\n");
    assert_eq!(stdout(&first), "1: x\n", "{}", stderr(&first));
    assert_eq!(stdout(&s.send(&ident, "say y\n")), "2: y\n");
    let drivers = s.drivers();
    assert_eq!(stdout(&s.kill(&ident)), "Done\n");
    assert!(wait_gone(&drivers, Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
    // Another long ident is another session.
    let other = format!("{}j", "i".repeat(63));
    assert_eq!(stdout(&s.send(&other, "say z\n")), "1: z\n");
    assert_eq!(stdout(&s.kill(&other)), "Done\n");
}

#[test]
fn a_sockdir_too_long_for_any_socket_is_refused_with_a_message() {
    let s = Sessions::with_sockdir("", &"s".repeat(110));
    let out = s.send("alice", "say x\n");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("too long"), "{}", stderr(&out));
    assert!(s.drivers().is_empty());
}

/// VmRSS of `pid` in KiB.
fn resident_kib(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn input_the_program_does_not_read_is_not_buffered_without_bound() {
    let s = Sessions::new("timelimit 10\n");
    let _reap = ReapServers(&s);
    assert_eq!(stdout(&s.send("m1", "say warm\n")), "1: warm\n");
    let server = tracer_of(s.drivers()[0]).unwrap();
    let mut client = s.spawn(&["m1"]);
    let mut stdin = client.stdin.take().unwrap();
    std::thread::spawn(move || {
        stdin.write_all(b"sleep 3000\n")?;
        let zeros = vec![0u8; 64 * 1024];
        loop {
            stdin.write_all(&zeros)?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(2) {
        peak = peak.max(resident_kib(server));
        if peak > 64 * 1024 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if peak > 64 * 1024 {
        let _ = s.kill("m1");
    }
    assert!(peak <= 64 * 1024, "the server grew to {peak} KiB");
    let out = finish(client);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "2: slept\n");
}

#[test]
fn a_client_that_reads_slowly_gets_all_its_output_and_the_session_lives() {
    use std::io::Read;
    // The reader stalls longer than the time limit: time the program
    // spends waiting for its client is not the command's.
    let s = Sessions::new("timelimit 5\n");
    let _reap = ReapServers(&s);
    assert_eq!(stdout(&s.send("slow", "say warm\n")), "1: warm\n");
    let mut client = s.spawn(&["slow"]);
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"burst 5000000\n")
        .unwrap();
    let mut out = client.stdout.take().unwrap();
    let mut err = client.stderr.take().unwrap();
    // Reads nothing for 12 s (longer than any write timeout the server
    // might have), then everything.
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(12));
        let mut data = Vec::new();
        let _ = out.read_to_end(&mut data);
        data
    });
    let errors = std::thread::spawn(move || {
        let mut data = Vec::new();
        let _ = err.read_to_end(&mut data);
        data
    });
    let data = reader.join().unwrap();
    let errors = String::from_utf8_lossy(&errors.join().unwrap()).into_owned();
    let status = client.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{errors}");
    assert_eq!(data.len(), 5_000_001, "{errors}");
    let next = s.send("slow", "say after\n");
    assert_eq!(stdout(&next), "3: after\n", "{}", stderr(&next));
}

#[test]
fn output_of_a_background_child_reaches_the_next_clients_in_full() {
    // Between commands the jail is frozen: a child writing in the
    // background goes on when the next command starts, and what it writes
    // goes to the clients of the commands that follow, nothing lost.
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    assert_eq!(stdout(&s.send("bg", "later 900000\n")), "1: later\n");
    std::thread::sleep(Duration::from_millis(500));
    let mut received = 0;
    let mut count = 2;
    while received < 900_000 && count < 40 {
        let next = s.send("bg", "say next\n");
        let text = stdout(&next);
        assert!(
            text.contains(&format!("{count}: next\n")),
            "command {count}: {}",
            stderr(&next)
        );
        received += text.bytes().filter(|&byte| byte == b'y').count();
        count += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received, 900_000, "the child's output arrived in full");
}

#[test]
fn commands_queued_behind_a_timed_out_command_still_run() {
    let s = Sessions::new("timelimit 1\n");
    let _reap = ReapServers(&s);
    assert_eq!(stdout(&s.send("q", "say warm\n")), "1: warm\n");
    let mut spinner = s.spawn(&["q"]);
    spinner.stdin.take().unwrap().write_all(b"spin\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut queued = Vec::new();
    for name in ["one", "two"] {
        let mut child = s.spawn(&["q"]);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("say {name}\n").as_bytes())
            .unwrap();
        queued.push(child);
    }
    let spun = finish(spinner);
    assert_eq!(spun.status.code(), Some(124), "{}", stderr(&spun));
    let mut outputs: Vec<String> = queued
        .into_iter()
        .map(|child| {
            let out = finish(child);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            stdout(&out)
        })
        .collect();
    outputs.sort_by_key(|text| text.get(3..).map(str::to_string));
    // They ran, in a fresh session (its counter starts at 1 again).
    let mut counters: Vec<&str> = outputs.iter().map(|text| &text[..3]).collect();
    counters.sort();
    assert_eq!(counters, ["1: ", "2: "], "{outputs:?}");
    assert!(outputs[0].ends_with(": one\n"), "{outputs:?}");
    assert!(outputs[1].ends_with(": two\n"), "{outputs:?}");
}

#[test]
fn empty_input_ends_the_command_at_once_and_keeps_the_session() {
    let s = Sessions::new("timelimit 5\n");
    let _reap = ReapServers(&s);
    // Without a session, nothing is started.
    let out = s.send("alice", "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no input"), "{}", stderr(&out));
    assert!(s.drivers().is_empty());
    assert_eq!(stdout(&s.send("alice", "say hi\n")), "1: hi\n");
    let started = Instant::now();
    let out = s.send("alice", "");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no input"), "{}", stderr(&out));
    assert_eq!(stdout(&s.send("alice", "say again\n")), "2: again\n");
}

// ---- drop-in for existing bots (issue 11) ----

/// One message as a bot sends it: one `sandbox` process, the message
/// written to its stdin which is then closed, stdout and stderr read
/// together from one pipe. Returns the exit code and what the bot reads.
fn bot_message(config: &Path, args: &[&std::ffi::OsStr], message: &[u8]) -> (Option<i32>, String) {
    use std::io::Read;
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut child = {
        let mut command = Command::new(SANDBOX);
        command
            .arg(config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(write.try_clone().unwrap()))
            .stderr(Stdio::from(write));
        command.spawn().expect("run sandbox")
        // The command, and with it this process's write ends, goes here.
    };
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(message);
    }
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = fs::File::from(read).read_to_end(&mut text);
        let _ = done.send(text);
    });
    let text = match result.recv_timeout(Duration::from_secs(20)) {
        Ok(text) => text,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the bot's pipe never ended (a process kept it open)");
        }
    };
    let status = child.wait().unwrap();
    (status.code(), String::from_utf8_lossy(&text).into_owned())
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

#[test]
fn a_bot_deployment_with_a_plain_mkdir_sockdir_gets_answers() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    // The deployment: directories made by `mkdir -p` under umask 022, and
    // the bot's own config in it.
    let deploy = s.jail.path("evalbot");
    let made = Command::new("sh")
        .arg("-c")
        .arg("umask 022 && mkdir -p \"$1/run/sandbox\" \"$1/etc\"")
        .arg("sh")
        .arg(&deploy)
        .status()
        .unwrap();
    assert!(made.success());
    let sockdir = deploy.join("run/sandbox");
    let mode = |path: &Path| fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&sockdir), 0o755);
    let config = deploy.join("etc/c.conf");
    fs::write(
        &config,
        format!(
            "# evalbot: the C REPL\nprogram {bin}/c_repl\nsee {bin}\nwrite {jail}\nchdir {jail}\n\
             wakeup\nsockdir {sock}\ntimelimit 10\n",
            bin = s.jail.path("bin").display(),
            jail = s.jail.path("jail").display(),
            sock = sockdir.display()
        ),
    )
    .unwrap();
    let say = |nick: &str, line: &str| bot_message(&config, &[os(nick)], line.as_bytes());
    assert_eq!(say("alice", "say hi\n"), (Some(0), "1: hi\n".into()));
    assert_eq!(say("alice", "say again\n"), (Some(0), "2: again\n".into()));
    assert_eq!(say("bob", "say other\n"), (Some(0), "1: other\n".into()));
    // `kill` resets alice's interpreter, and only hers.
    assert_eq!(
        bot_message(&config, &[os("kill"), os("alice")], b""),
        (Some(0), "Done\n".into())
    );
    assert_eq!(say("alice", "say fresh\n"), (Some(0), "1: fresh\n".into()));
    assert_eq!(say("bob", "say still\n"), (Some(0), "2: still\n".into()));
    // The directory is left as the deployment made it; the sockets in it
    // are the user's alone.
    assert_eq!(mode(&sockdir), 0o755);
    let sockets: Vec<PathBuf> = fs::read_dir(&sockdir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(sockets.len(), 2, "{sockets:?}");
    for socket in &sockets {
        assert_eq!(mode(socket), 0o600, "{}", socket.display());
    }
    for nick in ["alice", "bob"] {
        assert_eq!(
            bot_message(&config, &[os("kill"), os(nick)], b""),
            (Some(0), "Done\n".into())
        );
    }
    assert!(wait_gone(&s.drivers(), Duration::from_secs(5)).is_empty());
}

#[test]
fn a_sockdir_someone_else_can_change_is_refused_with_the_fix() {
    use std::os::unix::fs::{PermissionsExt, chown, symlink};
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    let set_mode = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap()
    };
    let mut cases: Vec<(&str, PathBuf, &str)> = Vec::new();
    for (name, mode, fix) in [
        ("group-writable", 0o775, "chmod go-w"),
        ("world-writable", 0o777, "chmod go-w"),
        ("sticky-world-writable", 0o1777, "chmod go-w"),
        ("other-writable", 0o702, "chmod go-w"),
    ] {
        let dir = s.jail.path(name);
        fs::create_dir(&dir).unwrap();
        set_mode(&dir, mode);
        cases.push((name, dir, fix));
    }
    let target = s.jail.path("real");
    fs::create_dir(&target).unwrap();
    set_mode(&target, 0o700);
    let link = s.jail.path("link");
    symlink(&target, &link).unwrap();
    cases.push(("symlink", link, "name the real directory"));
    if crate::support::is_root() {
        // Root may give a directory away; nobody else can make one that
        // another user owns.
        let theirs = s.jail.path("theirs");
        fs::create_dir(&theirs).unwrap();
        set_mode(&theirs, 0o755);
        chown(&theirs, Some(65534), Some(65534)).unwrap();
        cases.push(("owned by another user", theirs, "chown it to yourself"));
    }
    let file = s.jail.path("file");
    fs::write(&file, "").unwrap();
    cases.push(("a file", file, "not a directory"));
    for (what, dir, fix) in cases {
        let config = s.jail.path(&format!("{}.conf", what.replace(' ', "-")));
        fs::write(
            &config,
            s.jail
                .config_text()
                .replace(&s.sock.display().to_string(), &dir.display().to_string()),
        )
        .unwrap();
        let (code, text) = bot_message(&config, &[os("alice")], b"say x\n");
        assert_eq!(code, Some(125), "{what}: {text}");
        assert!(
            text.starts_with(&format!("sandbox: sockdir {}: ", dir.display()))
                && text.contains(fix),
            "{what}: {text}"
        );
        let (code, text) = bot_message(&config, &[os("kill"), os("alice")], b"");
        assert_eq!(code, Some(125), "kill, {what}: {text}");
        assert!(s.drivers().is_empty(), "{what}");
    }
    // A missing one is made, 0700, and used.
    assert!(!s.sock.exists());
    assert_eq!(stdout(&s.send("alice", "say made\n")), "1: made\n");
    let mode = fs::metadata(&s.sock).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
}

#[test]
fn two_configs_with_one_sockdir_and_ident_have_separate_sessions() {
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    // A second language of the same bot: the same sockdir, another
    // policy (a time limit), another config file.
    let other = s.jail.path("other.conf");
    fs::write(&other, format!("{}timelimit 1\n", s.jail.config_text())).unwrap();
    let a = s.jail.config_path();
    let say = |config: &Path, line: &str| bot_message(config, &[os("#chan")], line.as_bytes());
    assert_eq!(say(&a, "say a1\n"), (Some(0), "1: a1\n".into()));
    assert_eq!(say(&other, "say b1\n"), (Some(0), "1: b1\n".into()));
    assert_eq!(say(&a, "say a2\n"), (Some(0), "2: a2\n".into()));
    assert_eq!(s.sockets().len(), 2, "{:?}", s.sockets());
    // `kill` through one config ends its session only.
    assert_eq!(
        bot_message(&a, &[os("kill"), os("#chan")], b""),
        (Some(0), "Done\n".into())
    );
    assert_eq!(say(&other, "say b2\n"), (Some(0), "2: b2\n".into()));
    assert_eq!(say(&a, "say a3\n"), (Some(0), "1: a3\n".into()));
    // The same file reached through another path (a symlink) is the same
    // config.
    let link = s.jail.path("link.conf");
    std::os::unix::fs::symlink(&other, &link).unwrap();
    assert_eq!(say(&link, "say b3\n"), (Some(0), "3: b3\n".into()));
    // Each session runs under its own config's policy: the time limit
    // ends the second one, and the first goes on.
    let (code, text) = say(&other, "spin\n");
    assert_eq!(code, Some(124), "{text}");
    assert_eq!(say(&a, "say a4\n"), (Some(0), "2: a4\n".into()));
    for config in [&a, &other] {
        assert_eq!(
            bot_message(config, &[os("kill"), os("#chan")], b""),
            (Some(0), "Done\n".into())
        );
    }
    assert!(wait_gone(&s.drivers(), Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
}

#[test]
fn an_edited_config_starts_a_fresh_session_and_ends_the_old_one() {
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    let config = s.jail.config_path();
    let say = |line: &str| bot_message(&config, &[os("alice")], line.as_bytes());
    assert_eq!(say("say old\n"), (Some(0), "1: old\n".into()));
    let old = s.drivers();
    assert_eq!(old.len(), 1);
    // The operator tightens the policy: a time limit.
    fs::write(&config, format!("{}timelimit 1\n", s.jail.config_text())).unwrap();
    assert_eq!(say("say new\n"), (Some(0), "1: new\n".into()));
    assert!(
        wait_gone(&old, Duration::from_secs(5)).is_empty(),
        "the session of the old config lives on"
    );
    // The new session runs under the new policy.
    let (code, text) = say("spin\n");
    assert_eq!(code, Some(124), "{text}");
    // And `kill` reaches a session of an earlier version too.
    assert_eq!(say("say again\n"), (Some(0), "1: again\n".into()));
    let running = s.drivers();
    fs::write(&config, format!("{}timelimit 2\n", s.jail.config_text())).unwrap();
    assert_eq!(
        bot_message(&config, &[os("kill"), os("alice")], b""),
        (Some(0), "Done\n".into())
    );
    assert!(wait_gone(&running, Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
}

/// Nicks and channels as IRC bots pass them.
const REAL_IDENTS: &[&str] = &[
    "Nick^",
    "[nick]",
    "nick|away",
    "#channel",
    "##linux",
    "&local",
    "a\\b",
    "{braces}",
    "`tick",
    "_-_",
    "nick-",
    "..",
    ".hidden",
    "%23channel",
    "Ñandú",
];

#[test]
fn irc_nicks_and_channels_have_their_own_sessions() {
    use std::os::unix::ffi::OsStrExt;
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    let latin1 = std::ffi::OsStr::from_bytes(b"#caf\xe9");
    let mut idents: Vec<&std::ffi::OsStr> = REAL_IDENTS.iter().map(|text| os(text)).collect();
    idents.push(latin1);
    let config = s.jail.config_path();
    for round in 1..=2 {
        for ident in &idents {
            let (code, text) = bot_message(&config, &[ident], b"say hi\n");
            assert_eq!(code, Some(0), "{ident:?}: {text}");
            assert_eq!(text, format!("{round}: hi\n"), "{ident:?}");
        }
    }
    let sockets = s.sockets();
    assert_eq!(sockets.len(), idents.len(), "{sockets:?}");
    for name in &sockets {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-%.".contains(&b)),
            "{name}"
        );
        assert!(!name.starts_with('.') || name.len() < 64, "{name}");
    }
    for ident in &idents {
        assert_eq!(
            bot_message(&config, &[os("kill"), ident], b""),
            (Some(0), "Done\n".into()),
            "{ident:?}"
        );
    }
    assert!(wait_gone(&s.drivers(), Duration::from_secs(5)).is_empty());
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
}

#[test]
fn a_program_that_cannot_start_gives_the_statuses_of_a_run_without_sessions() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sessions::new("");
    let _reap = ReapServers(&s);
    let data = s.jail.path("bin/data");
    fs::write(&data, "not a program\n").unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o644)).unwrap();
    let once = s.jail.path("once.conf");
    fs::write(&once, s.jail.config_text().replace("wakeup\n", "")).unwrap();
    let cases = [
        (s.jail.path("bin/missing"), 127),
        (s.jail.path("hidden/file"), 127),
        (data, 126),
        (s.jail.path("bin"), 126),
    ];
    for (program, status) in cases {
        let args = [os("alice"), program.as_os_str()];
        let without = bot_message(&once, &args, b"say x\n");
        assert_eq!(
            without.0,
            Some(status),
            "{}: {}",
            program.display(),
            without.1
        );
        assert!(
            without.1.starts_with("sandbox: cannot run"),
            "{}",
            without.1
        );
        let with = bot_message(&s.jail.config_path(), &args, b"say x\n");
        assert_eq!(with, without, "{} in a session", program.display());
        assert!(s.drivers().is_empty());
        assert!(s.sockets().is_empty(), "{:?}", s.sockets());
    }
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: i32) -> Duration {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name, which may hold spaces: utime and
    // stime are the 12th and 13th of them.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// A process the program forks keeps running after the wakeup: the
/// session is idle, no command's clock runs, and `timelimit` must still
/// bound what the program spends. A child that spins in the background
/// must not get more CPU than the time limits of the commands that ran.
#[test]
fn a_child_spinning_after_the_wakeup_is_bounded_by_the_time_limit() {
    let s = Sessions::new("timelimit 1\n");
    let forked = s.send("alice", "bgspin\n");
    assert_eq!(stdout(&forked), "1: forked\n", "{}", stderr(&forked));
    // The first command may use twice the limit (start-up); give more.
    std::thread::sleep(Duration::from_secs(5));
    let spent: Duration = s.drivers().into_iter().map(cpu_time).sum();
    assert!(
        spent < Duration::from_secs(3),
        "the session's processes used {spent:?} of CPU with `timelimit 1` and one command"
    );
}

/// A name that does not resolve when the session starts: status 78 with the
/// line named, as without sessions, and nothing runs.
#[test]
fn a_session_with_a_host_that_does_not_resolve_never_starts() {
    let s = Sessions::new("connect tcp nothing.invalid:80\n");
    let out = s.send("alice", "say hello\n");
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let message = format!(
        "sandbox: {}:8: `connect tcp nothing.invalid:80`: the host `nothing.invalid` does not \
         resolve (",
        s.jail.config_path().display()
    );
    assert!(stderr(&out).starts_with(&message), "{}", stderr(&out));
    assert!(s.sockets().is_empty(), "{:?}", s.sockets());
    assert!(s.drivers().is_empty(), "a driver runs");
}

/// Names are resolved again before each command a session resumes: one
/// that no longer resolves refuses that command (78, the line named, the
/// program never sees it), and the session goes on once it resolves again.
#[test]
fn a_session_resolves_its_names_again_before_each_command() {
    let moving = crate::support::MovingName::new("192.0.2.9");
    let s = Sessions::new(&format!("connect tcp {}:443\n", moving.name));
    let env = moving.env();
    let first = s.send_with("alice", "say one\n", &env);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), "1: one\n");

    moving.set("");
    let refused = s.send_with("alice", "say two\n", &env);
    assert_eq!(refused.status.code(), Some(78), "{}", stderr(&refused));
    assert_eq!(stdout(&refused), "");
    let message = stderr(&refused);
    assert!(
        message.starts_with(&format!(
            "sandbox: {}:8: `connect tcp moving.test:443`: the host `moving.test` does not \
             resolve (",
            s.jail.config_path().display()
        )) && message.ends_with(
            "expected a name that resolves when the jail starts and each time a session \
             resumes\n"
        ) && message.lines().count() == 1,
        "{message}"
    );

    // Another address: the session resumes, and the refused command never
    // reached the program (its counter says second command).
    moving.set("192.0.2.10");
    let third = s.send_with("alice", "say three\n", &env);
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert_eq!(stdout(&third), "2: three\n");
    let killed = s.kill("alice");
    assert_eq!(stdout(&killed), "Done\n");
}
