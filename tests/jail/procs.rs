//! Processes: maxthreads, nothing left behind, signals only inside.

use crate::support::{
    Jail, Want, assert_no_leftovers, fixture, kill_leftovers, spawned_pids, wait_gone,
};
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

fn counts(line: &str) -> (usize, Option<String>) {
    let mut w = line.split_whitespace();
    assert_eq!(w.next(), Some("ok"), "probe line {line:?}");
    let n = w.next().and_then(|n| n.parse().ok()).expect("count");
    (n, w.next().map(str::to_string))
}

#[test]
fn maxthreads_stops_a_fork_bomb() {
    let mut j = Jail::new();
    j.add_config("maxthreads 6\n");
    let out = j.probe("bomb 5");
    out.assert_code(0);
    let line = out.stdout.trim();
    let mut w = line.split_whitespace().skip(1);
    let live: usize = w.next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let failed: usize = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(
        live <= 6 && failed > 0,
        "bomb peaked at {live} live processes (limit 6), {failed} failed forks\n{}",
        out.describe()
    );
    assert_no_leftovers(&j, Duration::from_secs(2));
}

#[test]
fn maxthreads_makes_excess_forks_fail_with_eagain() {
    let mut j = Jail::new();
    j.add_config("maxthreads 4\n");
    let out = j.probe("forks 10");
    assert_three_then_eagain(&out, "forked children");
    assert_no_leftovers(&j, Duration::from_secs(2));
}

/// The probe's `<made> <errno>` line under `maxthreads 4`: at most 3
/// made besides itself, then `EAGAIN`.
fn assert_three_then_eagain(out: &crate::support::Output, what: &str) {
    let (n, err) = counts(out.stdout.trim());
    assert!(n <= 3, "{what}: {n} under maxthreads 4\n{}", out.describe());
    assert_eq!(err.as_deref(), Some("EAGAIN"), "{}", out.describe());
}

/// A process named in bytes that are not UTF-8 (its `/proc` stat and
/// status lines are not either) and its threads, which inherit the
/// name, count all the same.
#[test]
fn maxthreads_counts_threads_named_in_bytes_that_are_not_utf8() {
    let mut j = Jail::new();
    j.add_config("maxthreads 4\n");
    let out = j.probe("badname_threads 10");
    assert_three_then_eagain(&out, "started threads");
}

#[test]
fn maxthreads_makes_excess_threads_fail_with_eagain() {
    let mut j = Jail::new();
    j.add_config("maxthreads 4\n");
    let out = j.probe("threads 10");
    let (n, err) = counts(out.stdout.trim());
    assert!(
        n <= 3,
        "started {n} threads under maxthreads 4\n{}",
        out.describe()
    );
    assert_eq!(err.as_deref(), Some("EAGAIN"), "{}", out.describe());
}

#[test]
fn maxthreads_allows_exactly_the_limit() {
    let mut j = Jail::new();
    j.add_config("maxthreads 4\n");
    j.check(&[
        ("forks 3", Want::is("ok 3")),
        ("threads 3", Want::is("ok 3")),
        ("forks 3", Want::is("ok 3")),
    ]);
}

#[test]
fn double_forked_setsid_daemon_is_killed_when_main_exits() {
    let j = Jail::new();
    let out = j.fixture("daemon", &[]);
    out.assert_code(0);
    let pid: i32 = out
        .stdout
        .trim()
        .strip_prefix("pid ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid line\n{}", out.describe()));
    let alive = wait_gone(&[pid], Duration::from_secs(3));
    kill_leftovers(&alive);
    assert!(alive.is_empty(), "daemon {pid} survived the jail");
    assert_no_leftovers(&j, Duration::from_secs(2));
}

#[test]
fn children_left_sleeping_are_killed_when_main_exits() {
    let j = Jail::new();
    let out = j.probe("spawn 3");
    out.assert_code(0);
    let pids = spawned_pids(out.stdout.trim());
    assert_eq!(pids.len(), 3, "{}", out.describe());
    let alive = wait_gone(&pids, Duration::from_secs(3));
    kill_leftovers(&alive);
    assert!(alive.is_empty(), "children survived the jail: {alive:?}");
    assert!(!out.pipes_held, "a leftover process held the output pipes");
}

#[test]
fn jail_returns_promptly_when_main_exits_before_its_children() {
    let j = Jail::new();
    let out = j.probe("spawn 2");
    assert!(
        out.elapsed < Duration::from_secs(5),
        "jail waited {:?} after main exited",
        out.elapsed
    );
    kill_leftovers(&spawned_pids(out.stdout.trim()));
}

/// A process outside the jail (the fixture sleeper, in its own group).
struct Outsider(std::process::Child);

impl Outsider {
    fn start() -> Outsider {
        use std::os::unix::process::CommandExt;
        let child = Command::new(fixture("sleeper"))
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start outsider");
        Outsider(child)
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_cannot_reach_processes_outside_the_jail() {
    let j = Jail::new();
    let mut outsider = Outsider::start();
    let pid = outsider.pid();
    let refused = Want::OneOf(&["EPERM", "ESRCH"]);
    let cases = [
        format!("kill {pid} 9"),
        format!("kill -{pid} 9"),
        format!("tgkill {pid} {pid} 9"),
        format!("tkill {pid} 9"),
        "kill 1 0".to_string(),
        format!("kill {} 0", std::process::id()),
    ];
    let cases: Vec<(&str, Want)> = cases
        .iter()
        .map(|c| (c.as_str(), refused.clone()))
        .collect();
    j.check(&cases);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        outsider.alive(),
        "the jailed program killed an outside process"
    );
}

#[test]
fn ptrace_attach_to_outside_process_is_refused() {
    let j = Jail::new();
    let mut outsider = Outsider::start();
    let case = format!("ptrace_attach {}", outsider.pid());
    j.check(&[(case.as_str(), Want::Refused)]);
    assert!(outsider.alive());
}

#[test]
fn kill_within_the_jail_works() {
    let j = Jail::new();
    j.check(&[
        ("killchild kill", Want::is("ok 9")),
        ("killchild tgkill", Want::is("ok 9")),
    ]);
}

#[test]
fn untraced_clone_child_cannot_escape() {
    let j = Jail::new();
    j.check(&[
        ("untraced_open {hidden}/file rdonly", Want::Refused),
        ("untraced_open {ro}/file wronly", Want::Refused),
        ("untraced_open /etc/passwd rdonly", Want::Refused),
    ]);
    assert_eq!(fs::read_to_string(j.path("ro/file")).unwrap(), "readonly\n");
}

#[test]
fn untraced_clone_child_is_killed_when_main_exits() {
    let j = Jail::new();
    let out = j.probe("untraced_spawn");
    out.assert_code(0);
    let line = out.stdout.trim();
    if let Some(pid) = line.strip_prefix("ok ").and_then(|p| p.parse::<i32>().ok()) {
        let alive = wait_gone(&[pid], Duration::from_secs(3));
        kill_leftovers(&alive);
        assert!(
            alive.is_empty(),
            "CLONE_UNTRACED child {pid} survived the jail"
        );
    }
    assert_no_leftovers(&j, Duration::from_secs(2));
}

#[test]
fn tracer_and_outside_processes_cannot_be_signalled_read_or_attached() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    let mut outsider = Outsider::start();
    let pid = outsider.pid();
    let no_access = Want::OneOf(&["EPERM", "ESRCH", "EACCES", "ENOSYS"]);
    let cases = [
        ("kill ppid 0".to_string(), no_access.clone()),
        ("kill -ppid 0".to_string(), no_access.clone()),
        ("tkill ppid 0".to_string(), no_access.clone()),
        ("pvm_write ppid".to_string(), no_access.clone()),
        ("pvm_read ppid".to_string(), no_access.clone()),
        ("pidfd_getfd ppid 0".to_string(), Want::Refused),
        ("ptrace_attach ppid".to_string(), Want::Refused),
        (format!("pvm_write {pid}"), no_access.clone()),
        (format!("pidfd_getfd {pid} 1"), Want::Refused),
        (format!("pidfd_kill {pid} 9"), Want::Refused),
        (format!("open /proc/{pid}/mem rdwr"), Want::Refused),
        (
            format!("open /proc/{pid}/root/etc/passwd rdonly"),
            Want::Hidden,
        ),
    ];
    let cases: Vec<(&str, Want)> = cases.iter().map(|(c, w)| (c.as_str(), w.clone())).collect();
    j.check(&cases);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        outsider.alive(),
        "the jailed program killed an outside process"
    );
}
