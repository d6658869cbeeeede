//! Templates (`template`): a program prepared once, every run a fresh
//! fork of it. The driver is `fixtures/repl/c_template.c`; each test
//! asserts what the run's own output and status say, and ends every
//! server and process it started.

use crate::support::{Jail, SANDBOX, copy_executable, is_gone, is_root};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Builds `fixtures/repl/<name>.c` (static) into the tests' fixtures.
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

/// The C template driver, built once per run.
fn c_template() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_driver("c_template"))
}

/// The hostile template driver of the attack tests, built once per run.
fn attack_template() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_driver("attack_template"))
}

/// A jail tree whose config runs the C driver as a template.
struct Templates {
    jail: Jail,
    sock: PathBuf,
    /// Prefix command (setpriv) for every invocation.
    wrapper: Vec<String>,
    sandbox: PathBuf,
}

impl Templates {
    fn new(extra: &str) -> Templates {
        Templates::with_driver(c_template(), extra)
    }

    /// A tree whose template program (still named `c_template` in it) is
    /// `driver`.
    fn with_driver(driver: &Path, extra: &str) -> Templates {
        let mut jail = Jail::bare();
        copy_executable(driver, jail.path("bin/c_template"));
        let sock = jail.path("sock");
        jail.set_config(&format!(
            "see {{bin}}\nsee {{jail}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\ntemplate\n\
             sockdir {}\nprogram {{bin}}/c_template\narg c_template\n{extra}",
            sock.display()
        ));
        fs::write(jail.config_path(), jail.config_text()).unwrap();
        Templates {
            jail,
            sock,
            wrapper: Vec::new(),
            sandbox: PathBuf::from(SANDBOX),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(&self.sandbox);
                command
            }
            None => Command::new(&self.sandbox),
        };
        command
            .arg(self.jail.config_path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("run sandbox")
    }

    /// Sends `input` (all of it, then end of file) to a run for `ident`.
    fn run(&self, ident: &str, input: &str) -> Output {
        let mut child = self.spawn(&[ident]);
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        finish(child)
    }

    fn kill(&self, ident: &str) -> Output {
        finish(self.spawn(&["kill", ident]))
    }

    fn kill_template(&self) -> Output {
        let mut command = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(&self.sandbox);
                command
            }
            None => Command::new(&self.sandbox),
        };
        let child = command
            .arg("--kill-template")
            .arg(self.jail.config_path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child)
    }

    /// Live drivers started from this tree: the prepared process and runs.
    fn drivers(&self) -> Vec<i32> {
        crate::support::processes_running_from(&self.jail.path("bin"))
    }

    fn sockets(&self) -> Vec<String> {
        match fs::read_dir(&self.sock) {
            Ok(entries) => entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `sandbox` processes whose config lies in this tree (the server).
    fn servers(&self) -> Vec<i32> {
        use std::os::unix::ffi::OsStrExt;
        let binary = fs::canonicalize(&self.sandbox).unwrap();
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

    /// Waits until exactly `count` drivers of this tree are alive.
    fn wait_drivers(&self, count: usize) -> Vec<i32> {
        let start = Instant::now();
        loop {
            let drivers = self.drivers();
            if drivers.len() == count || start.elapsed() > Duration::from_secs(5) {
                return drivers;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The live drivers other than a spare copy, oldest first (the
    /// prepared process), and the spares: copies the server keeps ready
    /// while no run goes, each stopped before its wakeup returns, in a
    /// session of its own. A run's processes are not spares: a run's root
    /// ends with its run, and the others are in its session.
    fn drivers_and_spares(&self) -> (Vec<i32>, Vec<i32>) {
        let mut drivers: Vec<(u64, i32)> = self
            .drivers()
            .into_iter()
            .filter_map(|pid| Some((stat_of(pid)?.start, pid)))
            .collect();
        drivers.sort();
        let mut live = Vec::new();
        let mut spares = Vec::new();
        for (index, (_, pid)) in drivers.into_iter().enumerate() {
            let spare = index > 0
                && stat_of(pid).is_some_and(|stat| stat.state == 't' && stat.session == pid);
            if spare {
                spares.push(pid);
            } else {
                live.push(pid);
            }
        }
        (live, spares)
    }

    /// A run of `input` for `ident` prints `expected` on stdout.
    fn answers(&self, ident: &str, input: &str, expected: impl AsRef<str>) {
        let out = self.run(ident, input);
        assert_eq!(stdout(&out), expected.as_ref(), "{}", stderr(&out));
    }

    /// `--kill-template`: it says `Done`, and no driver of this tree is
    /// left.
    fn end_and_leave_nothing(&self) {
        let out = self.kill_template();
        assert_eq!(stdout(&out), "Done\n", "{}", stderr(&out));
        assert!(self.wait_drivers(0).is_empty());
    }

    /// Runs every later command as the unprivileged test user (we are
    /// root): the jail a copy of the binary in the tree, the tree, config
    /// and socket directory the user's.
    fn as_test_user(&mut self) {
        crate::support::test_user_runs(&mut self.jail);
        self.sandbox = self.jail.sandbox.clone();
        self.wrapper = self.jail.wrapper.clone();
        fs::create_dir_all(&self.sock).unwrap();
        crate::support::chown_to_test_user(&[
            &self.jail.path("jail"),
            &self.jail.config_path(),
            &self.sock,
        ]);
    }

    /// Waits until exactly `count` drivers besides at most one spare
    /// copy are alive; returns them, oldest (the prepared process) first.
    fn wait_live(&self, count: usize) -> Vec<i32> {
        let start = Instant::now();
        loop {
            let (live, spares) = self.drivers_and_spares();
            if (live.len() == count && spares.len() <= 1)
                || start.elapsed() > Duration::from_secs(5)
            {
                return live;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Templates {
    /// Whatever a test left running from this tree ends.
    fn drop(&mut self) {
        let _ = self.kill_template();
        for pid in self.servers().into_iter().chain(self.drivers()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

/// What the tests read of `/proc/<pid>/stat`.
struct Stat {
    state: char,
    session: i32,
    /// Start time, in clock ticks after boot.
    start: u64,
    /// User and system time so far, in clock ticks.
    cpu: u64,
}

fn stat_of(pid: i32) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state (3), ppid, pgrp, session (6),
    // ... utime (14), stime (15), ... starttime (22).
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        session: fields.get(3)?.parse().ok()?,
        start: ticks(19)?,
        cpu: ticks(11)? + ticks(12)?,
    })
}

/// Waits for a client with a hard limit, so a hung server fails the test.
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
                "client hung; stdout {:?}, stderr {:?}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_run_starts_from_the_prepared_state_and_leaves_nothing_behind() {
    let t = Templates::new("timelimit 5\n");
    // The first run changes a global, its heap, and leaves a child
    // spinning; none of it reaches the second.
    let out = t.run("alice", "incr\npoke\npeek\nbgspin\nsay done\n");
    assert_eq!(
        stdout(&out),
        "counter 101\nheap r\nheap r\nforked\ndone\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Only the prepared process is left: the spinning child went with
    // its run.
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
    for ident in ["alice", "bob"] {
        let out = t.run(ident, "peek\nincr\n");
        assert_eq!(stdout(&out), "heap p\ncounter 101\n", "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
    }
    // Its exit status is the run's.
    let out = t.run("alice", "say bye\nexit 7\n");
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("bye\n", Some(7))
    );
    assert_eq!(t.sockets().len(), 1, "one server for every ident");
}

/// A run ends at its root's exit stop, before the kernel has closed the
/// copy's pipes; what it wrote must all reach its client all the same,
/// whether it ends by exit, by the wakeup or by its end of input, and
/// with output more than a pipe holds.
#[test]
fn a_run_that_ends_gives_its_client_every_byte_it_wrote() {
    let t = Templates::new("timelimit 10\n");
    let line = format!("{}\n", "x".repeat(1023));
    for round in 0..20 {
        let kib = [1, 63, 64, 65, 300][round % 5];
        let (ending, code) = match round % 3 {
            0 => ("exit 9\n", Some(9)),
            1 => ("wakeup\n", Some(0)),
            _ => ("", Some(0)),
        };
        let out = t.run("alice", &format!("flood {kib}\nsay end {round}\n{ending}"));
        let expected = format!("{}end {round}\n", line.repeat(kib));
        assert!(
            stdout(&out) == expected,
            "round {round}: {} bytes of stdout, expected {}; {}",
            out.stdout.len(),
            expected.len(),
            stderr(&out)
        );
        assert_eq!(out.status.code(), code, "round {round}: {}", stderr(&out));
    }
}

/// Waits until the tree has exactly one spare copy; returns it.
fn wait_spare(t: &Templates) -> i32 {
    let start = Instant::now();
    // The same one over 100 ms: the rehearsal (the first spare once
    // prepared, given an empty input and ended at once) looks like a
    // spare while it is given its stdio.
    let mut seen: Option<(i32, u32)> = None;
    loop {
        let (_, spares) = t.drivers_and_spares();
        seen = match (spares.as_slice(), seen) {
            ([spare], Some((pid, count))) if *spare == pid => Some((pid, count + 1)),
            ([spare], _) => Some((*spare, 1)),
            _ => None,
        };
        if let Some((spare, 5..)) = seen {
            return spare;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no spare copy: {:?}",
            t.drivers_and_spares()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Between runs the server keeps one copy ready (stopped before its
/// wakeup returns, its stdio in place); the next run is that copy, and a
/// new one is made once that run is over. A spare killed from outside is
/// replaced, and the runs go on.
#[test]
fn a_spare_copy_is_the_next_run_and_is_replaced_when_it_dies() {
    let t = Templates::new("timelimit 5\n");
    t.answers("pia", "say warm\n", "warm\n");
    let spare = wait_spare(&t);
    let out = t.run("pia", "pid\nincr\n");
    assert_eq!(
        stdout(&out),
        format!("pid {spare}\ncounter 101\n"),
        "{}",
        stderr(&out)
    );
    let next = wait_spare(&t);
    assert_ne!(next, spare, "a run's copy is never a spare again");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(next), nix::sys::signal::SIGKILL).unwrap();
    for _ in 0..3 {
        let out = t.run("pia", "incr\n");
        assert_eq!(stdout(&out), "counter 101\n", "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
    }
    let last = wait_spare(&t);
    // Stopped from outside (SIGSTOP, then SIGCONT), a spare never runs
    // without a run: the next run still starts from the prepared state.
    for signal in [nix::sys::signal::SIGSTOP, nix::sys::signal::SIGCONT] {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(last), signal);
    }
    t.answers("pia", "incr\npeek\n", "counter 101\nheap p\n");
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
}

/// The spare copy becomes the next caller's run: another run, started
/// while that one goes, cannot signal it (a spare is made only while no
/// run goes, so a run never sees one unassigned).
#[test]
fn a_run_cannot_signal_the_run_that_took_the_spare_copy() {
    let t = Templates::with_driver(attack_template(), "timelimit 5\n");
    t.answers("quin", "say warm\n", "warm\n");
    let spare = wait_spare(&t);
    let mut holder = t.spawn(&["quin"]);
    let _ = holder
        .stdin
        .take()
        .unwrap()
        .write_all(b"sleep 1500\nsay held\n");
    // The holder's run took `spare`; another run starts from a copy
    // forked for it, and tries the holder's process.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!is_gone(spare), "the holder's run is not the spare seen");
    let out = t.run("rue", &format!("kill {spare} 0\nkill {spare} 9\n"));
    assert_eq!(
        stdout(&out),
        "kill errno 3\nkill errno 3\n",
        "{}",
        stderr(&out)
    );
    let holder = finish(holder);
    assert_eq!(stdout(&holder), "slept\nheld\n", "{}", stderr(&holder));
    assert_eq!(holder.status.code(), Some(0));
}

/// `outputlimit` counts per run, stdout and stderr together: exactly
/// the limit's bytes come out, then the run is killed and its client
/// says `[Output limit]` with status 122; the template serves the next
/// run, and a run that writes exactly the limit is not cut.
#[test]
fn outputlimit_counts_per_run_and_ends_only_the_run_past_it() {
    let t = Templates::new("timelimit 10\noutputlimit 2058\n");
    // 12 bytes on stdout and 5 on stderr, read (the pause lets the
    // relay take them: the limit counts in the order the jail reads),
    // then 2 KiB more: cut at 2058.
    let out = t.run(
        "ana",
        "say 12345\nerr 6789\nsleep 200\nflood 2\nsay never\n",
    );
    let line = format!("{}\n", "x".repeat(1023));
    let kept = 2058 - 12 - 5;
    assert_eq!(
        stdout(&out),
        format!("12345\nslept\n{}", &line.repeat(2)[..kept]),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out), "6789\n[Output limit]\n");
    assert_eq!(out.status.code(), Some(122));
    // Exactly the limit, and the next run is fresh and whole.
    let out = t.run("ana", "say 1234\nerr 6789\nflood 2\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout.len() + out.stderr.len(), 2058);
    t.answers("ben", "incr\n", "counter 101\n");
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
    // A run that spins writing is ended at the limit, long before its
    // time limit.
    let start = Instant::now();
    let out = t.run("cy", "flood 100000\n");
    assert_eq!(out.status.code(), Some(122), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 2058);
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// `cputime` and `maxmemory` count per run too: what the run's own
/// processes use (children included, the prepared process not), polled by
/// its relay; a run past one is killed with `[CPU time limit]` (123) or
/// `[Memory limit]` (121), and the template serves the next run.
#[test]
fn cputime_and_maxmemory_count_per_run() {
    let t = Templates::new("timelimit 20\ncputime 1\nmaxmemory 33554432\n");
    let out = t.run("dan", "alloc 8\nsay small\n");
    assert_eq!(stdout(&out), "allocated\nsmall\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // A child and the run itself spin: 1 s of CPU in about half that on
    // two CPUs, long before the time limit.
    let start = Instant::now();
    let out = t.run("dan", "bgspin\nspin\n");
    assert_eq!(stdout(&out), "forked\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(123), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with("[CPU time limit]\n"),
        "{}",
        stderr(&out)
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    // Killed while it touches the 64 MiB or once it has (polled).
    let out = t.run("eve", "alloc 64\nsleep 2000\nsay survived\n");
    assert!(
        ["", "allocated\n"].contains(&stdout(&out).as_str()),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(121), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with("[Memory limit]\n"),
        "{}",
        stderr(&out)
    );
    // Each run starts from nothing used: the earlier runs' CPU time and
    // memory are not the next one's.
    let out = t.run("fay", "incr\nsleep 300\nsay fine\n");
    assert_eq!(
        stdout(&out),
        "counter 101\nslept\nfine\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
}

#[test]
fn a_run_inherits_no_descriptor_of_a_caller() {
    let t = Templates::new("timelimit 5\n");
    // The caller holds descriptor 7 (and 8) open without close-on-exec.
    for _ in 0..2 {
        let child = Command::new("sh")
            .arg("-c")
            .arg("exec 7</dev/null 8>/dev/null; printf 'fds\\n' | \"$0\" \"$1\" carol")
            .arg(&t.sandbox)
            .arg(t.jail.config_path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = finish(child);
        assert_eq!(stdout(&out), "fds\n", "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn an_empty_stdin_is_a_run_that_reads_end_of_file() {
    let t = Templates::new("timelimit 5\n");
    let out = t.run("dave", "");
    assert_eq!((stdout(&out).as_str(), out.status.code()), ("", Some(0)));
    t.answers("dave", "say still here\n", "still here\n");
}

#[test]
fn a_run_past_its_time_limit_is_killed_and_the_template_survives() {
    let t = Templates::new("timelimit 1\n");
    t.answers("erin", "say ready\n", "ready\n");
    let prepared = t.wait_live(1);
    let start = Instant::now();
    let out = t.run("erin", "say spinning\nspin\n");
    assert_eq!(stdout(&out), "spinning\n");
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("[Timed out]"), "{}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(4));
    // The next run is as fast and fresh as ever, from the same process.
    t.answers("erin", "incr\n", "counter 101\n");
    assert_eq!(t.wait_live(1), prepared);
}

#[test]
fn each_run_has_its_own_thread_limit() {
    let t = Templates::new("timelimit 5\nmaxthreads 3\n");
    // Two runs at once: each may have 3 tasks, itself included.
    let children: Vec<Child> = ["f1", "f2"]
        .iter()
        .map(|ident| {
            let mut child = t.spawn(&[ident]);
            let _ = child.stdin.take().unwrap().write_all(b"forks 4\n");
            child
        })
        .collect();
    for child in children {
        let out = finish(child);
        assert_eq!(stdout(&out), "forked 2 of 4\n", "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn a_run_that_makes_the_wakeup_is_done() {
    let t = Templates::new("timelimit 5\n");
    let out = t.run("gina", "say before\nwakeup\nsay after\n");
    assert_eq!(stdout(&out), "before\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn concurrent_runs_each_get_exactly_their_own_output() {
    let t = Templates::new("timelimit 10\n");
    let children: Vec<(usize, Child)> = (0..30)
        .map(|n| {
            let mut child = t.spawn(&[&format!("user{}", n % 7)]);
            let input = format!(
                "say {n} start\nincr\nsleep 100\nsay {n} end\nexit {}\n",
                n % 5
            );
            let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
            (n, child)
        })
        .collect();
    for (n, child) in children {
        let out = finish(child);
        assert_eq!(
            stdout(&out),
            format!("{n} start\ncounter 101\nslept\n{n} end\n"),
            "run {n}: {}",
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some((n % 5) as i32), "run {n}");
    }
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
}

#[test]
fn a_template_that_never_reaches_its_wakeup_fails_within_the_time_limit() {
    let t = Templates::new("arg noprep\ntimelimit 1\n");
    let start = Instant::now();
    let out = t.run("hal", "say hi\n");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was not prepared within the time limit (1s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(t.wait_drivers(0).is_empty(), "{:?}", t.drivers());
    assert!(t.sockets().is_empty(), "{:?}", t.sockets());
}

#[test]
fn a_template_that_exits_while_preparing_says_so_and_the_next_run_works() {
    let mut t = Templates::new("");
    let marker = t.jail.path("jail/fail");
    fs::write(&marker, "").unwrap();
    let text = format!(
        "{}arg exitprep\narg {}\n",
        t.jail.config_text(),
        marker.display()
    );
    t.jail.set_config(&text);
    fs::write(t.jail.config_path(), t.jail.config_text()).unwrap();
    let out = t.run("ivy", "say hi\n");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("preparation failed\n"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("exited with status 3 while it prepared"),
        "{}",
        stderr(&out)
    );
    assert!(t.wait_drivers(0).is_empty());
    assert!(t.sockets().is_empty(), "{:?}", t.sockets());
    fs::remove_file(&marker).unwrap();
    let out = t.run("ivy", "say hi\n");
    assert_eq!(stdout(&out), "hi\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_killed_prepared_process_is_prepared_again_on_the_next_run() {
    let t = Templates::new("timelimit 5\n");
    t.answers("jay", "say one\n", "one\n");
    let prepared = t.wait_live(1);
    assert_eq!(prepared.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(prepared[0]),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    // A run that comes before the server has seen the death may still
    // be the dead process's spare copy (a fresh copy all the same); the
    // run after it is the new prepared process's.
    for _ in 0..2 {
        let out = t.run("jay", "incr\n");
        assert_eq!(stdout(&out), "counter 101\n", "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
    }
    let again = t.wait_live(1);
    assert_eq!(again.len(), 1);
    assert_ne!(again, prepared);
}

#[test]
fn kill_ends_the_idents_runs_and_leaves_the_prepared_process() {
    let t = Templates::new("timelimit 10\n");
    let out = t.run("kim", "say warm\n");
    assert_eq!(stdout(&out), "warm\n");
    let prepared = t.wait_live(1);
    let mut kim = t.spawn(&["kim"]);
    let mut lee = t.spawn(&["lee"]);
    kim.stdin
        .take()
        .unwrap()
        .write_all(b"say kim\nspin\n")
        .unwrap();
    lee.stdin
        .take()
        .unwrap()
        .write_all(b"say lee\nsleep 1500\nsay lee done\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = t.kill("kim");
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("Done\n", Some(0))
    );
    let kim = finish(kim);
    assert_eq!(stdout(&kim), "kim\n");
    assert_eq!(kim.status.code(), Some(125));
    assert!(
        stderr(&kim).contains("the run was ended by `kill`"),
        "{}",
        stderr(&kim)
    );
    let lee = finish(lee);
    assert_eq!(stdout(&lee), "lee\nslept\nlee done\n", "{}", stderr(&lee));
    assert_eq!(lee.status.code(), Some(0));
    assert_eq!(t.wait_live(1), prepared);
    // Nothing to end is fine.
    let out = t.kill("nobody");
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("Done\n", Some(0))
    );
}

#[test]
fn kill_template_ends_the_prepared_process_and_its_server() {
    let t = Templates::new("timelimit 10\n");
    let out = t.run("max", "say warm\n");
    assert_eq!(stdout(&out), "warm\n");
    let mut running = t.spawn(&["ned"]);
    running
        .stdin
        .take()
        .unwrap()
        .write_all(b"say ned\nspin\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = t.kill_template();
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("Done\n", Some(0))
    );
    let running = finish(running);
    assert_eq!(stdout(&running), "ned\n");
    assert_ne!(running.status.code(), Some(0), "{}", stderr(&running));
    assert!(t.wait_drivers(0).is_empty(), "{:?}", t.drivers());
    assert!(t.sockets().is_empty(), "{:?}", t.sockets());
    let start = Instant::now();
    while !t.servers().is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(t.servers().is_empty());
}

#[test]
fn a_client_killed_mid_run_ends_its_run() {
    let t = Templates::new("timelimit 30\n");
    let out = t.run("oli", "say warm\n");
    assert_eq!(stdout(&out), "warm\n");
    let mut child = t.spawn(&["oli"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"say spinning\nbgspin\nspin\n").unwrap();
    assert_eq!(t.wait_live(3).len(), 3, "the run and its child spin");
    child.kill().unwrap();
    let _ = child.wait();
    drop(stdin);
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
    t.answers("oli", "incr\n", "counter 101\n");
}

/// A frame of the wire protocol (docs/sessions.md): type, length, bytes.
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

#[test]
fn a_client_that_never_reads_is_let_go_after_its_runs_time_limit() {
    // A client that stops reading once its socket is full held its relay
    // in the server in a blocking write (the run itself ended at its time
    // limit), and the run's watchdog, never stopped, then took the tracer
    // for stuck and ended the whole server. Now its run ends at the time
    // limit; the client has that long again to take its output, and the
    // server lets it go: its end of the socket sees the hang-up while its
    // output is still unread, and the server goes on.
    use std::os::fd::AsFd;
    let t = Templates::new("timelimit 1\n");
    t.answers("una", "say warm\n", "warm\n");
    // The server and its descriptor keeper.
    let servers = t.servers();
    assert!(!servers.is_empty());
    let socket = t
        .sockets()
        .into_iter()
        .find(|name| name.starts_with(".template."))
        .expect("the template's socket");
    let mut client = std::os::unix::net::UnixStream::connect(t.sock.join(socket)).unwrap();
    let mut request = frame(b'A', b"una");
    request.extend(frame(b'I', b"flood 8192\n"));
    request.extend(frame(b'E', b""));
    client.write_all(&request).unwrap();
    let start = Instant::now();
    let hung_up = loop {
        // POLLHUP is reported whatever is asked: the server closed its end.
        let mut fds = [nix::poll::PollFd::new(
            client.as_fd(),
            nix::poll::PollFlags::empty(),
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
        let events = fds[0].revents().unwrap_or(nix::poll::PollFlags::empty());
        if events.contains(nix::poll::PollFlags::POLLHUP) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(15) {
            break false;
        }
    };
    assert!(hung_up, "the server still holds a client that never reads");
    // 1 s for the run, 1 s for its client, the tracer's and drain graces.
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    // Unread output is there, and the same server (it used to end
    // itself, its tracer taken for stuck) serves the next run.
    let mut first = [0u8; 5];
    std::io::Read::read_exact(&mut client, &mut first).unwrap();
    assert_eq!(first[0], b'G');
    drop(client);
    t.answers("una", "incr\n", "counter 101\n");
    assert_eq!(t.servers(), servers);
}

#[test]
fn template_without_wakeup_is_a_config_error_naming_its_line() {
    let mut jail = Jail::bare();
    jail.set_config("see {bin}\nprogram {bin}/c_template\n\ntemplate\n");
    fs::write(jail.config_path(), jail.config_text()).unwrap();
    let out = Command::new(SANDBOX)
        .arg(jail.config_path())
        .arg("pat")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let expected = format!(
        "sandbox: {}:4:1: `template` needs `wakeup`",
        jail.config_path().display()
    );
    assert!(stderr(&out).starts_with(&expected), "{}", stderr(&out));
}

#[test]
fn templates_work_for_an_unprivileged_user() {
    if !is_root() {
        crate::support::skip("only root can run the jail as another user");
        return;
    }
    let mut t = Templates::new("timelimit 5\n");
    t.as_test_user();
    for _ in 0..2 {
        let out = t.run("pam", "incr\npoke\nfds\n");
        assert_eq!(
            stdout(&out),
            "counter 101\nheap r\nfds\n",
            "{}",
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(0));
    }
    t.end_and_leave_nothing();
}

/// The shipped `conf/python-template.conf`, its server's socket in `dir`.
fn python_template_config(dir: &Path) -> PathBuf {
    let shipped = include_str!("../../conf/python-template.conf");
    let text: String = shipped
        .lines()
        .filter(|line| !line.starts_with("cpu "))
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        + &format!("sockdir {}\n", dir.join("sock").display());
    let config = dir.join("python-template.conf");
    fs::write(&config, text).unwrap();
    config
}

/// Under `net loopback` a run is a jail of its own: it reaches a loopback
/// server of its own processes, never one another run listens on (the
/// tracer judged a loopback connect by the sockets of every task it
/// traced, every run's included).
#[test]
fn net_loopback_keeps_each_run_to_its_own_servers() {
    // The tracer keeps loopback to the run with Landlock on and off alike
    // (Landlock leaves TCP connect to it under `net loopback`).
    for landlock in ["", "landlock off\n"] {
        let Some(py) = PythonTemplate::new("sbx-pynet-", &format!("net loopback\n{landlock}"))
        else {
            return;
        };
        let connect = |port: &str| {
            format!(
                "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), 2)\n    print('connected')\nexcept OSError as error:\n    print('refused', error.errno)\n"
            )
        };
        // Control: one run reaches its own server.
        let own = finish(py.spawn(
            "import socket\nserver = socket.socket()\nserver.bind(('127.0.0.1', 0))\nserver.listen()\n\
             port = server.getsockname()[1]\nsocket.create_connection(('127.0.0.1', port), 2)\nprint('connected')\n",
        ));
        assert_eq!(stdout(&own), "connected\n", "{}", stderr(&own));
        // A run that listens and waits; another tries its port.
        let (listener, port) = py.spawn_until_line(
            "import socket, time\nserver = socket.socket()\nserver.bind(('127.0.0.1', 0))\nserver.listen()\n\
             print(server.getsockname()[1], flush=True)\ntime.sleep(3)\nprint('listened')\n",
        );
        let port = port.trim().to_string();
        assert!(port.parse::<u16>().is_ok(), "{port:?}");
        let other = finish(py.spawn(&connect(&port)));
        assert_eq!(
            stdout(&other),
            format!("refused {}\n", libc::ECONNREFUSED),
            "{}",
            stderr(&other)
        );
        let listener = finish(listener);
        assert_eq!(stdout(&listener), "listened\n", "{}", stderr(&listener));
    }
}

/// The shipped Python template config in a temporary directory, with
/// `extra` lines; ended when dropped.
struct PythonTemplate {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

impl PythonTemplate {
    /// `None` (the test skipped) without /usr/bin/python3.
    fn new(prefix: &str, extra: &str) -> Option<PythonTemplate> {
        if !Path::new("/usr/bin/python3").exists() {
            crate::support::skip("no /usr/bin/python3");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in("/tmp")
            .unwrap();
        let config = python_template_config(dir.path());
        fs::write(&config, fs::read_to_string(&config).unwrap() + extra).unwrap();
        Some(PythonTemplate { _dir: dir, config })
    }

    /// A run of `program`, its stdin written and closed.
    fn spawn(&self, program: &str) -> Child {
        let mut child = Command::new(SANDBOX)
            .arg(&self.config)
            .arg("py")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(program.as_bytes())
            .unwrap();
        child
    }

    /// A run of `program` and the first line it prints (it goes on).
    fn spawn_until_line(&self, program: &str) -> (Child, String) {
        let mut child = self.spawn(program);
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        (child, line)
    }
}

impl Drop for PythonTemplate {
    fn drop(&mut self) {
        let _ = Command::new(SANDBOX)
            .arg("--kill-template")
            .arg(&self.config)
            .output();
    }
}

/// An abstract unix socket is a run's own too: Landlock scopes abstract
/// names to a domain, and every run of a template shares the prepared
/// process's, so the tracer keeps a connect or a send to an abstract
/// name to the caller's run.
#[test]
fn abstract_unix_sockets_are_reached_only_from_their_own_run() {
    // Without Landlock's scoping (ABI 6, or `landlock off`) the jail
    // refuses abstract names altogether (tests/jail/escape_network.rs).
    if !sandbox::landlock::abi_version().is_ok_and(|abi| abi >= 6) {
        crate::support::skip("no Landlock ABI 6: abstract names are refused");
        return;
    }
    let Some(py) = PythonTemplate::new("sbx-pyabs-", "") else {
        return;
    };
    let name = format!("sbx-test-{}", std::process::id());
    let try_both = format!(
        "import socket\nfor kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):\n    peer = socket.socket(socket.AF_UNIX, kind)\n    try:\n        if kind == socket.SOCK_STREAM:\n            peer.connect('\\0{name}')\n        else:\n            peer.sendto(b'x', '\\0{name}-d')\n        print('reached')\n    except OSError as error:\n        print('refused', error.errno)\n"
    );
    let bind = format!(
        "import socket, time\nserver = socket.socket(socket.AF_UNIX)\nserver.bind('\\0{name}')\nserver.listen()\n\
         box = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\nbox.bind('\\0{name}-d')\n"
    );
    // Control: a run reaches its own abstract sockets.
    let own = finish(py.spawn(&format!("{bind}{try_both}")));
    assert_eq!(stdout(&own), "reached\nreached\n", "{}", stderr(&own));
    let (holder, line) = py.spawn_until_line(&format!(
        "{bind}print('bound', flush=True)\ntime.sleep(3)\nprint('held')\n"
    ));
    assert_eq!(line, "bound\n");
    let other = finish(py.spawn(&try_both));
    assert_eq!(
        stdout(&other),
        format!("refused {0}\nrefused {0}\n", libc::ECONNREFUSED),
        "{}",
        stderr(&other)
    );
    let holder = finish(holder);
    assert_eq!(stdout(&holder), "held\n", "{}", stderr(&holder));
}

#[test]
fn the_python_template_driver_prepares_its_imports_and_forgets_each_run() {
    if !Path::new("/usr/bin/python3").exists() {
        crate::support::skip("no /usr/bin/python3");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("sbx-pytpl-")
        .tempdir_in("/tmp")
        .unwrap();
    let config = python_template_config(dir.path());
    let run = |input: &str| {
        let mut child = Command::new(SANDBOX)
            .arg(&config)
            .arg("py")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        finish(child)
    };
    let end = || {
        let _ = Command::new(SANDBOX)
            .arg("--kill-template")
            .arg(&config)
            .output();
    };
    let out = run("x = 41\nprint(json.dumps({'x': x + 1}), decimal.Decimal('0.1') * 3)\n");
    let first = (stdout(&out), out.status.code(), stderr(&out));
    let out = run("print(x)\n");
    let second = (stdout(&out), out.status.code(), stderr(&out));
    let out = run("import sys; print('bye'); sys.exit(5)\n");
    let third = (stdout(&out), out.status.code());
    end();
    assert_eq!(first.0, "{\"x\": 42} 0.3\n", "{}", first.2);
    assert_eq!(first.1, Some(0));
    assert_eq!((second.0.as_str(), second.1), ("", Some(1)));
    assert!(
        second.2.contains("NameError: name 'x' is not defined"),
        "{}",
        second.2
    );
    assert_eq!((third.0.as_str(), third.1), ("bye\n", Some(5)));
}

#[test]
fn the_shell_template_driver_gives_each_run_a_new_shell() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repl/sh_template.c");
    let t = Templates::new(
        "timelimit 5\nsee /bin\nsee /usr\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\n",
    );
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(t.jail.path("bin/c_template"))
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let out = t.run("sh", "X=1; echo \"x=$X\"; exit 3\n");
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("x=1\n", Some(3)),
        "{}",
        stderr(&out)
    );
    let out = t.run("sh", "echo \"x=${X:-unset}\"\n");
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("x=unset\n", Some(0)),
        "{}",
        stderr(&out)
    );
}

#[test]
fn report_lines_go_to_the_stderr_of_the_run_that_caused_them() {
    let t = Templates::new("timelimit 5\nreport\n");
    let secret = t.jail.path("hidden/file");
    let out = t.run("quin", &format!("open {}\n", secret.display()));
    assert_eq!(stdout(&out), "open errno 2\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&secret.display().to_string()),
        "the denial is reported to this run: {}",
        stderr(&out)
    );
    // A run that is refused nothing reads no report line.
    let out = t.run("quin", "say clean\n");
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("clean\n", "")
    );
}

// ---- Attacks: a run's code (and sometimes its template) against the
// prepared process, the other runs and the runs to come. The driver is
// fixtures/repl/attack_template.c.

/// Processes of this tree in a ptrace or job-control stop (state `t` or
/// `T`), other than `except` and a spare copy.
fn stopped_drivers(t: &Templates, except: &[i32]) -> Vec<i32> {
    t.drivers_and_spares()
        .0
        .into_iter()
        .filter(|pid| !except.contains(pid))
        .filter(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
            matches!(state, Some("t" | "T"))
        })
        .collect()
}

#[test]
fn a_child_whose_creator_is_killed_in_its_fork_event_does_not_outlive_its_run() {
    // A child forked by a process that is killed at that fork's event stop
    // has no event (the kernel drops a stop its tracer had not read): the
    // tracer cannot tell its run, and held it stopped for good, past its
    // run's end and uncounted by `maxthreads`, one more every few rounds.
    let t = Templates::with_driver(attack_template(), "timelimit 10\nmaxthreads 50\n");
    t.answers("rex", "say warm\n", "warm\n");
    let prepared = t.wait_live(1);
    for _ in 0..2 {
        let out = t.run("rex", "racefork 2500\n");
        assert_eq!(stdout(&out), "rounds 1\n", "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
    }
    let start = Instant::now();
    let mut left = stopped_drivers(&t, &prepared);
    while !left.is_empty() && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
        left = stopped_drivers(&t, &prepared);
    }
    assert!(
        left.is_empty(),
        "tasks of ended runs left stopped: {left:?}"
    );
    // Children whose event comes late still run, in their run.
    t.answers("rex", "forkwait 300\n", "reaped 300 of 300\n");
}

#[test]
fn a_wakeup_made_on_shared_memory_never_gives_a_run_another_callers_stdio() {
    // The paths the copy opens for its stdio were written below its stack
    // pointer; a template that made the wakeup on a MAP_SHARED stack
    // shared them with every copy, and concurrent copies opened each
    // other's pipes: a caller got other callers' input echoed back. They
    // go into the copy's private scratch slot now, so every run works.
    let t = Templates::with_driver(attack_template(), "arg sharedstack\ntimelimit 10\n");
    t.answers("sam", "say warm\n", "warm\n");
    let children: Vec<(usize, Child)> = (0..30)
        .map(|n| {
            let mut child = t.spawn(&[&format!("u{n}")]);
            let input = format!("say run{n}\nsay run{n}\n");
            let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
            (n, child)
        })
        .collect();
    for (n, child) in children {
        let out = finish(child);
        let own = format!("run{n}\nrun{n}\n");
        assert_eq!(
            (stdout(&out), out.status.code()),
            (own, Some(0)),
            "run {n}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_wakeup_made_on_a_one_page_stack_runs() {
    // Nothing is mapped 8 KiB below the stack pointer at this wakeup,
    // where the copy's paths used to be written: its runs failed with
    // "cannot write the copy's memory". The scratch slot needs no stack.
    let t = Templates::with_driver(attack_template(), "arg tinystack\ntimelimit 10\n");
    for n in 0..3 {
        let out = t.run("tim", &format!("say tiny{n}\n"));
        assert_eq!(
            (stdout(&out), out.status.code()),
            (format!("tiny{n}\n"), Some(0)),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_signal_a_run_causes_never_runs_the_prepared_processs_handler() {
    // The template's socket end 3 signals the prepared process (O_ASYNC,
    // F_SETOWN to itself, a SIGIO handler counting in a global); a run
    // writes into end 4. The parked process then ran its handler when it
    // was next forked (that run failing: the fork was interrupted), and
    // every later run saw the count.
    let t = Templates::with_driver(attack_template(), "arg sigio\ntimelimit 5\n");
    let out = t.run("tom", "sigio\npoke\nsigio\n");
    assert_eq!(
        stdout(&out),
        "sigio 0\npoke 1\nsigio 0\n",
        "{}",
        stderr(&out)
    );
    for _ in 0..2 {
        let out = t.run("tom", "sigio\n");
        assert_eq!(
            (stdout(&out).as_str(), out.status.code()),
            ("sigio 0\n", Some(0)),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_template_that_neuters_setsid_never_puts_two_runs_in_one_process_group() {
    // Each copy is given its own session by an injected `setsid`, whose
    // result was taken for success whenever it was not negative. A
    // template whose own seccomp filter answers setsid with
    // SECCOMP_RET_ERRNO | 0 made it return 0 without running: every copy
    // stayed in the prepared process's process group, and a run's
    // `kill(0, SIGKILL)`, which the jail allows as the caller's own
    // group, killed the other runs and the prepared process.
    for landlock in ["", "landlock off\n"] {
        let t = Templates::with_driver(
            attack_template(),
            &format!("arg nosetsid\ntimelimit 10\n{landlock}"),
        );
        // Native control: the filter neuters setsid (0, a process group
        // leader's would be EPERM).
        let mut native = Command::new(attack_template())
            .arg("nosetsid")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = native.stdin.take().unwrap().write_all(b"setsid\n");
        let native = native.wait_with_output().unwrap();
        assert_eq!(stdout(&native), "setsid 0\n");
        let mut sleeper = t.spawn(&["amy"]);
        let _ = sleeper
            .stdin
            .take()
            .unwrap()
            .write_all(b"sleep 1500\nsay alive\n");
        std::thread::sleep(Duration::from_millis(300));
        let prepared = t.drivers();
        let killer = t.run("bob", "kill 0 9\n");
        let sleeper = finish(sleeper);
        // The runs never start (status 125, saying why), or start in a
        // session of their own; either way nothing outside bob's run is hit.
        assert_ne!(sleeper.status.code(), Some(137), "{}", stderr(&sleeper));
        let alive = t.drivers();
        assert!(
            prepared.iter().any(|pid| alive.contains(pid)),
            "the prepared process was killed ({landlock:?}): {prepared:?} {alive:?}"
        );
        assert_ne!(stdout(&killer), "kill 0\n", "{}", stderr(&killer));
        assert_eq!(killer.status.code(), Some(125), "{}", stderr(&killer));
        assert!(stderr(&killer).contains("setsid"), "{}", stderr(&killer));
    }
}

#[test]
fn a_template_whose_filter_fakes_clone_fails_each_run_without_stalling() {
    // The same filter for clone: the fork the jail injects into the
    // prepared process returns 0 without making a copy. The tracer waited
    // for the copy's event, which never came: no run of that template
    // ever started again, and its clients waited for good.
    let t = Templates::with_driver(attack_template(), "arg noclone\ntimelimit 10\n");
    // Native control: the filter answers fork (glibc's fork is clone)
    // with 0, so the parent takes itself for the child and exits.
    for (mode, expected) in [("none", "reaped 1 of 1\nafter\n"), ("noclone", "")] {
        let mut native = Command::new(attack_template())
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = native
            .stdin
            .take()
            .unwrap()
            .write_all(b"forkwait 1\nsay after\n");
        let native = native.wait_with_output().unwrap();
        assert_eq!(stdout(&native), expected, "{mode}");
    }
    for round in 0..3 {
        let start = Instant::now();
        let out = t.run("cal", "say never\n");
        assert_eq!(stdout(&out), "", "round {round}: {}", stderr(&out));
        assert_eq!(
            out.status.code(),
            Some(125),
            "round {round}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("returned without making a copy"),
            "round {round}: {}",
            stderr(&out)
        );
        assert!(start.elapsed() < Duration::from_secs(5), "round {round}");
    }
}

#[test]
fn a_run_with_many_threads_leaves_other_runs_able_to_start() {
    // Every task that hands the kernel a checked argument takes a slot of
    // the scratch region (a few hundred in all) for as long as it lives.
    // Runs are processes of their own; if slots were one pool for the
    // whole server, one run's threads could take them all, and every
    // other caller's copy would fail to start ("no scratch slot").
    let t = Templates::with_driver(attack_template(), "timelimit 10\n");
    t.answers("warm", "say warm\n", "warm\n");
    let mut hog = t.spawn(&["hog"]);
    let _ = hog.stdin.take().unwrap().write_all(b"threads 400 3000\n");
    std::thread::sleep(Duration::from_millis(1500));
    let other = t.run("other", "say other\n");
    let hog = finish(hog);
    assert_eq!(stdout(&hog), "threads 400\n", "{}", stderr(&hog));
    assert_eq!(
        (stdout(&other).as_str(), other.status.code()),
        ("other\n", Some(0)),
        "{}",
        stderr(&other)
    );
}

/// The library's way to a template: each `Session::send` on its config is
/// a run of a fresh copy, and `Jail::kill_template` ends the prepared
/// process and its server.
#[test]
fn the_library_runs_a_template_and_ends_its_prepared_process() {
    if !Path::new("/usr/bin/python3").exists() {
        crate::support::skip("no /usr/bin/python3");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("sbx-pytpl-lib-")
        .tempdir_in("/tmp")
        .unwrap();
    let config = python_template_config(dir.path());
    let jail = sandbox::Jail::load(&config, "py")
        .unwrap()
        .with_binary(SANDBOX);
    let templates = || -> Vec<String> {
        fs::read_dir(dir.path().join("sock"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(".template."))
                    .collect()
            })
            .unwrap_or_default()
    };
    let session = jail.session("py");
    let first = session.send(b"x = 41\nprint(x + 1)\n").unwrap();
    let second = session.send(b"print(x)\n").unwrap();
    let running = templates();
    jail.kill_template().unwrap();
    let start = Instant::now();
    while !templates().is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = templates();
    assert_eq!(
        (
            String::from_utf8_lossy(&first.stdout),
            first.status.success()
        ),
        ("42\n".into(), true),
        "{first:?}"
    );
    assert_eq!(second.stdout, b"", "{second:?}");
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("NameError: name 'x' is not defined"),
        "{second:?}"
    );
    assert_eq!(
        running.len(),
        1,
        "one prepared process's socket: {running:?}"
    );
    assert!(after.is_empty(), "still there: {after:?}");
    jail.kill_template().expect("none running is fine");
    let plain = sandbox::Jail::from_config_str("see /usr\n", "").unwrap();
    let error = plain.kill_template().expect_err("no template");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("no `template`"), "{error}");
}

/// CPU time (user + system, in clock ticks) of process `pid`, all its
/// threads included.
fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    // utime and stime: fields 14 and 15, 11 and 12 after the name.
    let field = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}

/// A prepared process with an interval timer of a few microseconds has a
/// signal pending nearly every time it is forked, and the kernel restarts
/// such a fork. The tracer forked it again at once, forever: the request
/// never started (its client hung), and even with no client left the
/// tracer and the prepared process kept spinning, a CPU taken for good,
/// to make the spare copy. Now a copy whose forks are interrupted many
/// times in a row is given up: the request hears why, and nothing spins.
/// (A fork that falls between two of the timer's signals succeeds: that
/// run works, which is as good an answer; it too must come at once.)
#[test]
fn a_prepared_process_whose_forks_are_always_interrupted_neither_hangs_runs_nor_spins() {
    let t = Templates::with_driver(attack_template(), "timelimit 5\narg itimer\narg 20\n");
    let start = Instant::now();
    let out = t.run("tim", "say hi\n");
    // A hang would end at the time limit, with another status; this
    // bound is for a tracer that slowly spins through its forks.
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    let given_up = out.status.code() == Some(125) && stderr(&out).contains("a signal interrupted");
    let ran = out.status.code() == Some(0) && stdout(&out) == "hi\n";
    assert!(
        given_up || ran,
        "status {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    // The spare's forks are given up as well (on a loaded machine that
    // takes a moment): then nothing runs any more.
    let busy = || -> u64 {
        t.servers()
            .into_iter()
            .chain(t.drivers())
            .map(cpu_ticks)
            .sum()
    };
    let start = Instant::now();
    let mut before = busy();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = busy();
        if now - before <= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "still spinning with no run: {} ticks in the last half second",
            now - before
        );
        before = now;
    }
}

/// A run's root that exits alone (`exit`, not `exit_group`) while a
/// thread of it goes on: the run is its thread's, which writes and then
/// ends the process with its own status; the early end at the root's
/// exit stop must not take the root's 0 for the run's status, nor cut
/// the thread's output.
#[test]
fn a_run_whose_thread_group_leader_exits_first_ends_with_its_processs_status() {
    let t = Templates::with_driver(attack_template(), "timelimit 5\n");
    for pause in [0, 50, 200] {
        let out = t.run(
            "lea",
            &format!("say start\nleaderexit 7 {pause}\nsay never\n"),
        );
        assert_eq!(
            (stdout(&out).as_str(), out.status.code()),
            ("start\nthread\n", Some(7)),
            "{}",
            stderr(&out)
        );
    }
}

/// A signal sent to the spare copy from outside (a process of the same
/// user) stays pending while it waits stopped, and no stop of it comes
/// to say so: it was delivered the moment the next caller's run let the
/// copy go, ending that run (`[Terminated]`, 143) or stopping it until
/// its time limit. A copy with a signal pending (or already dying) is
/// thrown away instead, and the run gets a clean one.
#[test]
fn a_signal_sent_to_the_spare_copy_never_reaches_the_run_that_takes_it() {
    let t = Templates::new("timelimit 3\n");
    t.answers("sig", "say warm\n", "warm\n");
    // SIGKILL: a spare killed just before a request takes it, its death
    // not yet seen, was let go as the run, which was then reported killed.
    for signal in [
        nix::sys::signal::SIGTERM,
        nix::sys::signal::SIGSTOP,
        nix::sys::signal::SIGUSR1,
        nix::sys::signal::SIGKILL,
        nix::sys::signal::SIGKILL,
        nix::sys::signal::SIGKILL,
    ] {
        let spare = wait_spare(&t);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(spare), signal).unwrap();
        let out = t.run("sig", "incr\n");
        assert_eq!(
            (stdout(&out).as_str(), out.status.code()),
            ("counter 101\n", Some(0)),
            "{signal:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
}

/// The minor page faults a run's `faults` line reports.
fn faults_of(out: &Output) -> u64 {
    stdout(out)
        .lines()
        .find_map(|line| line.strip_prefix("faults "))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no faults line: {} {}", stdout(out), stderr(out)))
}

/// Runs `input` until a run of it reports at most `most` page faults (the
/// spare copy it takes was warmed), at most 20 times, half a second
/// apart; the last run.
fn run_until_warm(t: &Templates, input: &str, most: u64) -> Output {
    let mut out = t.run("warm", input);
    for _ in 0..20 {
        if faults_of(&out) <= most {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        out = t.run("warm", input);
    }
    out
}

/// Once prepared, a template rehearses one run (`rehearsal <input>`) and
/// learns which pages it made its own; each spare copy then has those
/// made its own while it waits. A run that writes the 256 pages of the
/// prepared heap faults on each of them in a cold copy, and on almost
/// none in a warmed one; with `rehearsal off` every run is cold.
#[test]
fn a_spare_copy_has_the_pages_the_rehearsal_wrote_made_its_own() {
    let input = "touch 1024\nfaults\n";
    let cold = Templates::new("timelimit 5\nrehearsal off\n");
    for _ in 0..3 {
        let out = cold.run("cold", input);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(faults_of(&out) >= 256, "{}", stdout(&out));
        std::thread::sleep(Duration::from_millis(200));
    }
    let warm = Templates::new("timelimit 5\nrehearsal touch 1024\n");
    let out = run_until_warm(&warm, input, 64);
    assert_eq!(stdout(&out).lines().next(), Some("touched"));
    assert!(faults_of(&out) <= 64, "never warmed: {}", stdout(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Warming changes no byte: the rehearsal writes the heap and the counter
/// in its own copy, and each warmed copy gets back every page's own byte.
/// A run on a warmed copy finds the prepared heap and counter untouched,
/// with Landlock and without, as root and as an ordinary user.
#[test]
fn a_warmed_copy_holds_exactly_what_the_prepared_process_held() {
    for (landlock, unprivileged) in crate::support::landlock_and_users() {
        let mut t = Templates::new(&format!(
            "timelimit 5\nlandlock {landlock}\nrehearsal poke\\nincr\\ntouch 1024\n"
        ));
        if unprivileged {
            t.as_test_user();
        }
        let out = run_until_warm(&t, "touch 1024\nfaults\n", 64);
        let context = format!("landlock {landlock}, unprivileged {unprivileged}");
        assert!(
            faults_of(&out) <= 64,
            "{context}: never warmed: {}",
            stdout(&out)
        );
        for _ in 0..3 {
            let out = t.run("check", "faults\nintact\npeek\nincr\n");
            let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
            assert_eq!(
                lines[1..],
                ["intact", "heap p", "counter 101"],
                "{context}: {lines:?} {}",
                stderr(&out)
            );
            assert_eq!(out.status.code(), Some(0), "{context}: {}", stderr(&out));
            std::thread::sleep(Duration::from_millis(300));
        }
        drop(t);
    }
}

/// A rehearsal is a run nobody asked for: what it writes reaches no
/// client, one that never ends is cut short (after 2 s) and killed with
/// its children, and runs go on meanwhile and after.
#[test]
fn a_rehearsal_is_heard_by_no_client_and_cannot_hold_the_template() {
    let t =
        Templates::new("timelimit 10\nrehearsal say rehearsed\\nerr rehearsed\\nbgspin\\nspin\n");
    for round in 0..6 {
        let out = t.run("r", "say hi\n");
        assert_eq!(stdout(&out), "hi\n", "round {round}: {}", stderr(&out));
        assert!(!stderr(&out).contains("rehearsed"), "{}", stderr(&out));
        assert_eq!(out.status.code(), Some(0));
        std::thread::sleep(Duration::from_millis(500));
    }
    // Cut short by now (and its spinning child with it): the prepared
    // process alone, with at most a spare.
    let live = t.wait_live(1);
    assert_eq!(live.len(), 1, "{live:?}");
    t.end_and_leave_nothing();
}

/// A rehearsal whose threads make traced calls without a pause keeps the
/// tracer answering their stops one after the other: it is cut short
/// after its 2 s all the same, runs are served meanwhile, and
/// `--kill-template` ends the server.
#[test]
fn a_rehearsal_that_keeps_the_tracer_busy_is_still_cut_short() {
    let t = Templates::with_driver(
        attack_template(),
        "timelimit 10\nmaxthreads 16\nrehearsal storm 8\n",
    );
    t.answers("a", "say hi\n", "hi\n");
    // The rehearsal starts once the first run is over.
    // (Looked at once per round: its root, often in a tracing stop while
    // its threads storm, may look like a spare to a second look.)
    let start = Instant::now();
    let mut seen = t.drivers_and_spares().0;
    while seen.len() < 2 && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(10));
        seen = t.drivers_and_spares().0;
    }
    assert_eq!(seen.len(), 2, "no rehearsal seen");
    let rehearsal = seen[1];
    t.answers("b", "say during\n", "during\n");
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(start.elapsed()));
    let live = t.wait_live(1);
    assert_eq!(live.len(), 1, "the rehearsal outlived its 2 s: {live:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !is_gone(rehearsal) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        is_gone(rehearsal),
        "the rehearsal {rehearsal} outlived its 2 s"
    );
    t.answers("c", "say after\n", "after\n");
    t.end_and_leave_nothing();
}

/// A run that names itself with bytes that are not UTF-8 (its `/proc`
/// stat and status lines then are not either) is counted all the same:
/// its threads and children inherit the name and still count against
/// `maxthreads`, and its CPU time and memory against `cputime` and
/// `maxmemory`.
#[test]
fn a_run_named_in_bytes_that_are_not_utf8_is_still_limited() {
    let t = Templates::with_driver(
        attack_template(),
        "timelimit 20\nmaxthreads 4\ncputime 1\nmaxmemory 33554432\n",
    );
    let out = t.run("n", "badname\nthreads 12 300\nforkwait 3\n");
    assert_eq!(
        stdout(&out),
        "badname 0\nthreads 3\nreaped 3 of 3\n",
        "{}",
        stderr(&out)
    );
    let ends_past = |input: &str, status: i32, line: &str| {
        let out = t.run("n", input);
        assert_eq!(
            out.status.code(),
            Some(status),
            "{} {}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stderr(&out).ends_with(line), "{}", stderr(&out));
    };
    ends_past(
        "badname\nalloc 128\nsleep 2000\nsay survived\n",
        121,
        "[Memory limit]\n",
    );
    let start = Instant::now();
    ends_past("badname\nspin\n", 123, "[CPU time limit]\n");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

/// Once the first run is over, waits for the rehearsal to start (a
/// second live driver) and then to end; how long it lasted.
fn rehearsal_lasted(t: &Templates) -> Duration {
    t.answers("a", "say hi\n", "hi\n");
    let start = Instant::now();
    while t.drivers_and_spares().0.len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no rehearsal seen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    while t.drivers_and_spares().0.len() > 1 && started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

/// The rehearsal is a run and keeps a run's limits: a `timelimit`
/// shorter than its own 2 s, `cputime` and `maxmemory` end it as they
/// end a run (it has no relay to watch them: the tracer does).
#[test]
fn a_rehearsal_keeps_the_limits_of_a_run() {
    for (limits, rehearsal) in [
        ("timelimit 0.4\n", "spin"),
        ("timelimit 10\ncputime 0.3\n", "spin"),
        (
            "timelimit 10\nmaxmemory 33554432\n",
            "alloc 256\\nsleep 3000",
        ),
    ] {
        let t = Templates::with_driver(
            attack_template(),
            &format!("{limits}rehearsal {rehearsal}\n"),
        );
        let lasted = rehearsal_lasted(&t);
        assert!(
            lasted < Duration::from_millis(1300),
            "{limits:?}: the rehearsal lasted {lasted:?}"
        );
        t.answers("b", "say after\n", "after\n");
    }
}

/// A run that goes while the rehearsal does cannot signal it: the
/// rehearsal is a run of its own, and lives on until its end.
#[test]
fn a_run_cannot_signal_the_rehearsal() {
    let t = Templates::with_driver(attack_template(), "timelimit 10\nrehearsal spin\n");
    t.answers("a", "say hi\n", "hi\n");
    // The rehearsal is the copy that spins: the one copy that is not a
    // spare, the same one for 100 ms, using CPU. A copy seen once may be
    // a spare still being made, which the next run would take (and
    // signal itself through).
    let start = Instant::now();
    let mut seen: Option<(i32, u64, u32)> = None;
    let rehearsal = loop {
        let (live, _) = t.drivers_and_spares();
        seen = match (live.as_slice(), seen) {
            ([_, copy], Some((pid, cpu, looks))) if *copy == pid => Some((pid, cpu, looks + 1)),
            ([_, copy], _) => stat_of(*copy).map(|stat| (*copy, stat.cpu, 1)),
            _ => None,
        };
        if let Some((pid, cpu, 5..)) = seen
            && stat_of(pid).is_some_and(|stat| stat.cpu > cpu)
        {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no rehearsal seen: {:?}",
            t.drivers_and_spares()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = t.run("b", &format!("kill {rehearsal} 0\nkill {rehearsal} 9\n"));
    assert_eq!(
        stdout(&out),
        "kill errno 3\nkill errno 3\n",
        "{}",
        stderr(&out)
    );
    assert!(!is_gone(rehearsal), "a run ended the rehearsal");
    assert_eq!(t.wait_live(1).len(), 1, "{:?}", t.drivers_and_spares());
}

/// A rehearsal that ends at its wakeup (as a REPL driver's run does),
/// made by its root alone, is learned from as one that exits.
#[test]
fn a_rehearsal_that_ends_at_its_wakeup_is_learned_from() {
    let t = Templates::new("timelimit 5\nrehearsal touch 1024\\nwakeup\n");
    let out = run_until_warm(&t, "touch 1024\nfaults\n", 64);
    assert!(faults_of(&out) <= 64, "never warmed: {}", stdout(&out));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A page of a private mapping of a file that the prepared process has
/// not written is still the file's: a run reads what the file holds
/// when it reads it. Warming must not make such a page a copy's own (a
/// snapshot of the file at warming time, and, read and written back
/// while the file changes, a mix of two contents no run could see).
#[test]
fn a_warmed_copy_reads_a_privately_mapped_file_as_it_is_now() {
    let t = Templates::with_driver(
        attack_template(),
        "timelimit 5\narg mapfile\narg {jail}/mapped\nrehearsal mapwrite\n",
    );
    let file = t.jail.path("jail/mapped");
    fs::write(&file, "before..").unwrap();
    t.answers("m", "mapped\n", "mapped before..\n");
    // The rehearsal, then a spare, warmed by now.
    std::thread::sleep(Duration::from_millis(1500));
    // Written in place: a truncation would drop a copy's own pages of
    // the file too.
    use std::os::unix::fs::FileExt;
    let writer = fs::OpenOptions::new().write(true).open(&file).unwrap();
    writer.write_all_at(b"after...", 0).unwrap();
    drop(writer);
    t.answers("m", "mapped\n", "mapped after...\n");
}

/// A run's input is put into its stdin by the tracer before the run is
/// let go, as much as the pipe takes, and the rest by the server's
/// relay: every line arrives once and in order, for an input that fits
/// the pipe, one that does not, and one that comes after the request.
#[test]
fn a_runs_input_arrives_whole_and_in_order_however_large() {
    let t = Templates::new("timelimit 10\n");
    for lines in [1, 3_000, 40_000] {
        let input: String = (0..lines).map(|n| format!("say {n}\n")).collect();
        let expected: String = (0..lines).map(|n| format!("{n}\n")).collect();
        let out = t.run("big", &input);
        assert_eq!(out.status.code(), Some(0), "{lines}: {}", stderr(&out));
        assert!(
            stdout(&out) == expected,
            "{lines} lines: got {} bytes",
            out.stdout.len()
        );
    }
    // Input that comes after the request: the run waits for it.
    let mut child = t.spawn(&["late"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"say first\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"say second\n").unwrap();
    drop(stdin);
    let out = finish(child);
    assert_eq!(stdout(&out), "first\nsecond\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

/// A library caller's runs go straight to the live template server: once
/// a run through the binary has started the server, `Session::send`
/// works with no `sandbox` binary to be found at all, and each run gives
/// what the binary gives for the same input (output, stderr with the
/// jail's ending line, status), for an exit code, a timeout, an input
/// larger than a socket's buffer and an empty one. With the server gone
/// it needs the binary again.
#[test]
fn the_librarys_runs_go_straight_to_a_live_template_server() {
    let t = Templates::with_driver(attack_template(), "timelimit 1\n");
    t.answers("lib", "say up\n", "up\n");
    let jail = sandbox::Jail::load(&t.jail.config_path(), "lib")
        .unwrap()
        .with_binary("/nonexistent/sandbox");
    let session = jail.session("lib");
    let large: String = (0..20_000).map(|n| format!("say {n}\n")).collect();
    let large_output: String = (0..20_000).map(|n| format!("{n}\n")).collect();
    let cases: [(&str, &str, i32, &str); 5] = [
        ("say hi\n", "hi\n", 0, ""),
        ("", "", 0, ""),
        ("say bye\nexit 3\n", "bye\n", 3, ""),
        ("spin\n", "", 124, "[Timed out]\n"),
        (&large, &large_output, 0, ""),
    ];
    for (input, stdout_wanted, status_wanted, stderr_wanted) in cases {
        let shown = &input[..input.len().min(20)];
        let library = session.send(input.as_bytes()).expect(shown);
        let binary = t.run("lib", input);
        assert_eq!(
            (
                String::from_utf8_lossy(&library.stdout).into_owned(),
                library.status.sandbox_status().code(),
                String::from_utf8_lossy(&library.stderr).into_owned(),
            ),
            (
                stdout_wanted.to_string(),
                Some(status_wanted),
                stderr_wanted.to_string()
            ),
            "{shown:?}"
        );
        assert_eq!(
            (library.stdout, library.stderr),
            (binary.stdout, binary.stderr),
            "{shown:?}"
        );
        assert_eq!(
            library.status.sandbox_status().code(),
            binary.status.code(),
            "{shown:?}"
        );
    }
    t.end_and_leave_nothing();
    let error = session.send(b"say hi\n").unwrap_err();
    assert!(error.to_string().contains("sandbox"), "{error}");
}

/// What the library gives for `input` to session `ident` and what the
/// binary gives for it, as (stdout, stderr, status) each.
fn library_and_binary(
    t: &Templates,
    session: &sandbox::Session,
    ident: &str,
    input: &str,
) -> [(String, String, Option<i32>); 2] {
    let shown = &input[..input.len().min(20)];
    let library = session.send(input.as_bytes()).expect(shown);
    let binary = t.run(ident, input);
    [
        (
            String::from_utf8_lossy(&library.stdout).into_owned(),
            String::from_utf8_lossy(&library.stderr).into_owned(),
            library.status.sandbox_status().code(),
        ),
        (stdout(&binary), stderr(&binary), binary.status.code()),
    ]
}

/// A library caller's run with an input larger than a protocol frame
/// (1 MiB) goes straight to the live server too, whole and once (no
/// `sandbox` binary is there to run it again), as the binary's does.
#[test]
fn the_librarys_runs_take_an_input_larger_than_a_frame() {
    let t = Templates::with_driver(attack_template(), "timelimit 20\n");
    t.answers("lib", "say up\n", "up\n");
    let jail = sandbox::Jail::load(&t.jail.config_path(), "lib")
        .unwrap()
        .with_binary("/nonexistent/sandbox");
    let session = jail.session("lib");
    let input: String = (0..200_000).map(|n| format!("say {n}\n")).collect();
    let expected: String = (0..200_000).map(|n| format!("{n}\n")).collect();
    assert!(input.len() > 1 << 20);
    let [library, binary] = library_and_binary(&t, &session, "lib", &input);
    assert!(library.0 == expected, "{} bytes", library.0.len());
    assert_eq!((&library.1, library.2), (&String::new(), Some(0)));
    assert_eq!(library, binary);
    t.end_and_leave_nothing();
}

/// The library's runs straight to the server end as the binary's do,
/// stderr line and status, for every ending a run can have: a signal,
/// `outputlimit`, `cputime`, `maxmemory`, and `kill <ident>` during the
/// run; and the config's warnings come first, naming the config as the
/// binary names it (its canonical path, here through a symlink).
#[test]
fn the_librarys_runs_end_as_the_binarys() {
    let t = Templates::with_driver(
        attack_template(),
        "timelimit 8\noutputlimit 1000\ncputime 1\nmaxmemory 67108864\n\
         see /nonexistent-sandbox-review\n",
    );
    t.answers("lib", "say up\n", "up\n");
    let alias = t.jail.path("alias.conf");
    std::os::unix::fs::symlink(t.jail.config_path(), &alias).unwrap();
    let jail = sandbox::Jail::load(&alias, "lib")
        .unwrap()
        .with_binary("/nonexistent/sandbox");
    let session = jail.session("lib");
    let long = format!("say {}\n", "x".repeat(1500));
    let warning = "sandbox: warning: ";
    for (input, line) in [
        ("kill 0 15\n", "[Terminated]"),
        (long.as_str(), "[Output limit]"),
        ("spin\n", "[CPU time limit]"),
        ("alloc 200\n", "[Memory limit]"),
    ] {
        let [library, binary] = library_and_binary(&t, &session, "lib", input);
        assert!(library.1.starts_with(warning), "{input}: {}", library.1);
        assert!(
            library.1.ends_with(&format!("{line}\n")),
            "{input}: {}",
            library.1
        );
        assert_eq!(library, binary, "{input}");
    }
    // The ident `kill` names the binary's kill command: the library's
    // run for it is refused as the binary's, not run.
    let kill = sandbox::Jail::load(&alias, "kill")
        .unwrap()
        .with_binary(SANDBOX);
    let [library, binary] = library_and_binary(&t, &kill.session("kill"), "kill", "say hi\n");
    assert_eq!(library.0, "");
    assert_eq!(library, binary);
    // `kill lib` while a run sleeps: the run was ended by it.
    fn ended(
        t: &Templates,
        run: impl FnOnce() -> (String, String, Option<i32>) + Send,
    ) -> (String, String, Option<i32>) {
        std::thread::scope(|scope| {
            let running = scope.spawn(run);
            std::thread::sleep(Duration::from_millis(1000));
            let killed = t.kill("lib");
            assert_eq!(stdout(&killed), "Done\n", "{}", stderr(&killed));
            running.join().unwrap()
        })
    }
    let library = ended(&t, || {
        let out = session.send(b"sleep 5000\n").unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.sandbox_status().code(),
        )
    });
    let binary = ended(&t, || {
        let out = t.run("lib", "sleep 5000\n");
        (stdout(&out), stderr(&out), out.status.code())
    });
    assert!(
        library
            .1
            .ends_with("sandbox: the run was ended by `kill`\n"),
        "{}",
        library.1
    );
    assert_eq!(library, binary);
    t.end_and_leave_nothing();
}

/// The binary's request takes at most 1 MiB of stdin, however its reads
/// come (here a packet socket's, 1000 bytes each, all there at once):
/// one byte more made its Input frame larger than the server takes, and
/// the run was started, ended and tried again until the binary gave up.
#[test]
fn a_runs_request_stays_within_a_frame_whatever_the_reads() {
    use std::os::fd::{AsRawFd, OwnedFd};
    if !is_root() {
        return;
    }
    let t = Templates::with_driver(attack_template(), "timelimit 20\n");
    t.answers("packets", "say up\n", "up\n");
    let (ours, theirs) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    // Room for all of it before the binary reads (root only).
    let size: libc::c_int = 64 << 20;
    let set = unsafe {
        libc::setsockopt(
            ours.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            (&raw const size).cast(),
            std::mem::size_of_val(&size) as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    let line = format!("say {}\n", "x".repeat(995));
    assert_eq!(line.len(), 1000);
    let packets = 1100;
    for _ in 0..packets {
        nix::sys::socket::send(
            ours.as_raw_fd(),
            line.as_bytes(),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
    }
    drop::<OwnedFd>(ours);
    let child = t
        .command(&["packets"])
        .stdin(std::process::Stdio::from(theirs))
        .spawn()
        .unwrap();
    let out = finish(child);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out) == line[4..].repeat(packets),
        "{} bytes",
        out.stdout.len()
    );
    t.end_and_leave_nothing();
}
