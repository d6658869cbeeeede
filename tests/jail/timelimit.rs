//! `timelimit`: wall clock from launch, exit 124 and `[Timed out]`.

use crate::support::{Jail, assert_no_leftovers, kill_leftovers, spawned_pids, wait_gone};
use std::time::Duration;

#[test]
fn busy_loop_is_killed_at_timelimit_with_124() {
    let mut j = Jail::new();
    j.add_config("timelimit 1\n");
    let out = j.fixture("busy", &[]);
    out.assert_code(124).assert_stderr_contains("[Timed out]");
    assert!(
        out.elapsed >= Duration::from_millis(900) && out.elapsed < Duration::from_secs(10),
        "timelimit 1 took {:?}",
        out.elapsed
    );
    assert_no_leftovers(&j, Duration::from_secs(2));
}

#[test]
fn sleeper_that_never_reads_stdin_is_killed_at_timelimit() {
    let mut j = Jail::new();
    j.add_config("timelimit 1\n");
    let out = j.cmd(&[j.bin("sleeper")]).keep_stdin_open().run();
    out.assert_code(124).assert_stderr_contains("[Timed out]");
    assert_eq!(out.stdout, "sleeping\n", "{}", out.describe());
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    assert_no_leftovers(&j, Duration::from_secs(2));
}

#[test]
fn timelimit_kills_every_process_of_the_jail() {
    let mut j = Jail::new();
    j.add_config("timelimit 1\n");
    let out = j.probe("spawn_sleep 3");
    let pids = spawned_pids(out.stdout.lines().next().unwrap_or(""));
    let alive = wait_gone(&pids, Duration::from_secs(3));
    kill_leftovers(&alive);
    out.assert_code(124).assert_stderr_contains("[Timed out]");
    assert_eq!(pids.len(), 3, "{}", out.describe());
    assert!(alive.is_empty(), "still alive after timeout: {alive:?}");
    assert!(
        !out.pipes_held,
        "a leftover process held stdout/stderr open"
    );
    assert_no_leftovers(&j, Duration::from_secs(2));
}

#[test]
fn quick_program_under_timelimit_exits_at_once() {
    let mut j = Jail::new();
    j.add_config("timelimit 5\n");
    let out = j.fixture("exitcode", &["3"]);
    out.assert_code(3);
    assert!(!out.stderr.contains("[Timed out]"), "{}", out.describe());
    assert!(
        out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
}

/// Runs the jail with `args` and its stderr a pipe that is already full
/// and that nobody reads; returns its exit code and how long it took
/// (`None` if it was still running after 15 s, then killed).
fn with_full_stderr(args: &[String]) -> (Option<i32>, Duration) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::process::{Command, Stdio};
    let mut ends = [0; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    assert_eq!(
        unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) },
        0
    );
    // SAFETY: both descriptors were just created and are owned here only.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    let fd = write_end.as_raw_fd();
    // SAFETY: fcntl on a descriptor owned here.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, 4096);
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        while libc::write(fd, b"x".as_ptr().cast(), 1) == 1 {}
        // The jail gets the pipe blocking, as a stalled reader leaves it.
        libc::fcntl(fd, libc::F_SETFL, flags);
    }
    let started = std::time::Instant::now();
    let mut child = Command::new(crate::support::SANDBOX)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write_end))
        .spawn()
        .expect("run sandbox");
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            drop(read_end);
            return (None, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(read_end);
    (code, started.elapsed())
}

/// The jail's own messages never hold it up: with its stderr a full pipe
/// nobody reads, it still ends at the time limit (it used to block writing
/// `[Timed out]`), and a report line in the middle of a run does not stall
/// the tracer either.
#[test]
fn a_full_stderr_does_not_delay_the_jails_exit() {
    let mut j = Jail::new();
    j.add_config("timelimit 1\nreport\n");
    std::fs::write(j.config_path(), j.config_text()).unwrap();
    let config = j.config_path().display().to_string();

    let (code, took) = with_full_stderr(&[config.clone(), "test".into(), j.bin("busy")]);
    assert_eq!(code, Some(124), "timed-out run after {took:?}");
    assert!(
        took < Duration::from_secs(4),
        "the jail exited after {took:?}"
    );

    // Denied, so a `[See path=...]` report line; then the program exits 0.
    let (code, took) = with_full_stderr(&[
        config,
        "test".into(),
        j.bin("probe"),
        "open".into(),
        j.p("hidden/file"),
        "rdonly".into(),
    ]);
    assert_eq!(code, Some(0), "reported run after {took:?}");
    assert!(
        took < Duration::from_secs(4),
        "the jail exited after {took:?}"
    );
}
