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
