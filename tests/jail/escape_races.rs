//! Escape suite: time-of-check/time-of-use races on path arguments.
//!
//! Each test runs `fixtures/escape/race.c` natively in a tree of its own
//! (the control: the flip must win at least once, or the test could not
//! see an escape) and in the jail for many thousands of attempts, two
//! threads (or two processes), bounded in time. In the jail no attempt may
//! escape, both variants of the flipped argument must have been seen (some
//! attempts allowed, some refused: the race was live), and the host checks
//! that nothing outside `write` changed. Every jailed run happens in each
//! of the support's `RACE_MODES`: with the shipped config, with `landlock
//! off`, and (when the tests run as root) run by the unprivileged test
//! user, whose native control runs as that user too.

use crate::support::{
    Jail, Output, RaceMode, RaceSummary, race_held, race_modes, race_summary, run_as_test_user,
    run_native,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// Attempts per jailed run, and the time bound of each run.
const ATTEMPTS: &str = "20000";
/// Seconds of the first jailed run; a run that was not live is repeated
/// with this many more seconds each time (a loaded machine makes fewer
/// attempts in the same time).
const JAIL_SECONDS: u64 = 4;
/// The same for the unprivileged user's run, a third mode: fewer, so that
/// it adds less time to the suite (a run that was not live is still
/// repeated, longer).
const UNPRIVILEGED_SECONDS: u64 = 2;
const NATIVE_SECONDS: &str = "3";
/// Fewer attempts than this in the jail means the race was not exercised
/// (with both outcomes seen, which is what shows the flip was live). On a
/// machine loaded by other builds a jailed rename race made 760 attempts
/// in 12 s, both outcomes hundreds of times: such a run is live.
const MIN_ATTEMPTS: u64 = 300;

/// Seconds of the first jailed run in `mode`.
fn seconds(mode: &RaceMode) -> u64 {
    if mode.unprivileged {
        UNPRIVILEGED_SECONDS
    } else {
        JAIL_SECONDS
    }
}

/// A fresh tree whose config has `extra` appended, its jail run by the
/// unprivileged test user if `unprivileged`.
fn tree(extra: &str, unprivileged: bool) -> Jail {
    let mut j = Jail::new();
    if !extra.is_empty() {
        j.add_config(extra);
    }
    if unprivileged {
        run_as_test_user(&mut j);
    }
    j
}

/// Who a native control runs as, for its messages.
fn whom(unprivileged: bool) -> &'static str {
    if unprivileged {
        " as the unprivileged test user"
    } else {
        ""
    }
}

/// The native control in a tree of its own (as the unprivileged test user
/// if `unprivileged`): the trick must work at least once, or the jailed
/// run proves nothing. `None`: the machine cannot run the trick at all
/// (the reason is printed), and the test is skipped.
fn control(
    mode: &str,
    args: &dyn Fn(&Jail) -> Vec<String>,
    unprivileged: bool,
) -> Option<RaceSummary> {
    // On a loaded machine the flipping thread may not get a CPU before the
    // attempts are done (20000 of them can take a tenth of a second): such
    // a run is repeated, up to three times.
    let mut last = None;
    for _ in 0..3 {
        let t = tree("", unprivileged);
        let mut argv = t.wrapper.clone();
        argv.extend([t.escape_bin("race"), mode.to_string()]);
        argv.extend(args(&t));
        argv.extend([ATTEMPTS.into(), NATIVE_SECONDS.into(), "1".into()]);
        let out = run_native(&argv, Duration::from_secs(20));
        if out.stdout.contains("setup failed: open O_DIRECT") {
            crate::support::skip(&format!(
                "{mode}: O_DIRECT is not supported under /tmp on this machine\n{}",
                out.describe()
            ));
            return None;
        }
        let summary = race_summary(&out);
        if summary.escapes > 0 && exited_0(&out).is_ok() {
            return Some(summary);
        }
        last = Some(out);
    }
    panic!(
        "control void: natively{} the {mode} race never won in three runs, so the jailed run \
         could not detect an escape either\n{}",
        whom(unprivileged),
        last.map(|out| out.describe()).unwrap_or_default()
    );
}

fn jailed(j: &Jail, mode: &str, args: Vec<String>, seconds: u64) -> (RaceSummary, Output) {
    let mut argv = vec![j.escape_bin("race"), mode.to_string()];
    argv.extend(args);
    argv.extend([ATTEMPTS.into(), seconds.to_string(), "1".into()]);
    let out = j.cmd(&argv).timeout(Duration::from_secs(30)).run();
    let summary = race_summary(&out);
    (summary, out)
}

/// The race natively (the control, as each user the jail is run by), then
/// in the jail in every one of [`race_modes`] (plus `extra` config
/// lines), each checked with `host_check` afterwards; fails with every
/// mode's result if any let something through.
fn race_in_every_mode(
    mode: &str,
    extra: &str,
    args: &dyn Fn(&Jail) -> Vec<String>,
    host_check: &dyn Fn(&Jail) -> Result<(), String>,
) {
    race_in_modes(&race_modes(), mode, extra, args, host_check);
}

/// [`race_in_every_mode`] in `modes` only.
fn race_in_modes(
    modes: &[&RaceMode],
    mode: &str,
    extra: &str,
    args: &dyn Fn(&Jail) -> Vec<String>,
    host_check: &dyn Fn(&Jail) -> Result<(), String>,
) {
    for unprivileged in [false, true] {
        if modes.iter().any(|m| m.unprivileged == unprivileged)
            && control(mode, args, unprivileged).is_none()
        {
            return;
        }
    }
    let mut failures = Vec::new();
    for m in modes {
        // A run in which the race was not live (on a loaded machine the
        // flipping side may barely run) proves nothing and is repeated, up
        // to three times; an escape is never retried away.
        for run in 1..=3 {
            let j = tree(&format!("{extra}{}", m.config), m.unprivileged);
            let (summary, out) = jailed(&j, mode, args(&j), seconds(m) * run);
            let label = format!("{mode} [{}]", m.name);
            let status = exited_0(&out);
            let held = race_held(&label, summary, &out, MIN_ATTEMPTS);
            match held.and(status.clone()).and_then(|()| host_check(&j)) {
                Ok(()) => break,
                Err(_)
                    if summary.escapes == 0
                        && run < 3
                        && status.is_ok()
                        && host_check(&j).is_ok() =>
                {
                    eprintln!("{label}: run {run} was not live; again");
                }
                Err(e) => {
                    failures.push(format!("--- {label} ---\n{e}"));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fixture ended with status 0 (it has printed its summary and
/// reaped what it started); else the failure.
fn exited_0(out: &Output) -> Result<(), String> {
    match out.status.code() {
        Some(0) => Ok(()),
        _ => Err(format!("the race's status is not 0\n{}", out.describe())),
    }
}

fn nothing(_: &Jail) -> Result<(), String> {
    Ok(())
}

fn outside_untouched(j: &Jail) -> Result<(), String> {
    let ro = fs::read_to_string(j.path("ro/file")).unwrap_or_default();
    let hidden = fs::read_to_string(j.path("hidden/file")).unwrap_or_default();
    if ro != "readonly\n" {
        return Err(format!("host check: the see-only file now holds {ro:?}"));
    }
    if hidden != "secret\n" {
        return Err(format!("host check: the hidden file now holds {hidden:?}"));
    }
    Ok(())
}

#[test]
fn escape_race_open_flipped_path_to_etc_passwd() {
    let args = |t: &Jail| vec![t.p("ro/file"), "/etc/passwd".to_string()];
    race_in_every_mode("open", "", &args, &nothing);
}

#[test]
fn escape_race_stat_flipped_path_leaks_hidden_file() {
    let args = |t: &Jail| vec![t.p("ro/file"), t.p("hidden/file")];
    race_in_every_mode("stat", "", &args, &nothing);
}

#[test]
fn escape_race_unlink_flipped_to_see_only_file() {
    let args = |t: &Jail| vec![t.p("jail/victim"), t.p("ro/file")];
    race_in_every_mode("unlink", "", &args, &outside_untouched);
}

#[test]
fn escape_race_rename_source_flipped_to_see_only_file() {
    let args = |t: &Jail| vec![t.p("jail/victim"), t.p("ro/file"), t.p("jail/dest")];
    race_in_every_mode("rename", "", &args, &outside_untouched);
}

#[test]
fn escape_race_rename_target_flipped_over_see_only_file() {
    let args = |t: &Jail| vec![t.p("jail/src"), t.p("jail/dest"), t.p("ro/file")];
    race_in_every_mode("renameover", "", &args, &outside_untouched);
}

#[test]
fn escape_race_openat2_how_flags_flipped_to_write_truncate() {
    let args = |t: &Jail| vec![t.p("ro/file")];
    race_in_every_mode("openat2", "", &args, &outside_untouched);
}

#[test]
fn escape_race_path_in_shared_page_flipped_by_forked_child() {
    let args = |t: &Jail| vec![t.p("ro/file"), t.p("hidden/file")];
    race_in_every_mode("forkshared", "", &args, &nothing);
}

#[test]
fn escape_race_path_in_private_file_mapping_rewritten_by_other_process() {
    let args = |t: &Jail| vec![t.p("jail/pathbuf"), t.p("ro/file"), t.p("hidden/file")];
    race_in_every_mode("mapfile", "", &args, &nothing);
}

#[test]
fn escape_race_path_in_private_memfd_mapping_rewritten_by_other_process() {
    let args = |t: &Jail| vec![t.p("ro/file"), t.p("hidden/file")];
    race_in_every_mode("memfd", "", &args, &nothing);
}

#[test]
fn escape_race_proc_self_fd_reopen_while_dup2_swaps_the_descriptor() {
    let args = |t: &Jail| vec![t.p("ro/file"), t.p("jail/file")];
    race_in_every_mode("fdswap", "see /proc\n", &args, &outside_untouched);
}

// A clone(CLONE_FS) without CLONE_VM is another address space, but it
// shares the working directory: while the parent's open("../../file") is
// in flight it fchdir()s between {hidden}/vis/a/b, from where the path
// means the visible {hidden}/vis/file, and {hidden}/vis/a, from where it
// means the hidden {hidden}/file. The parent must not be taken as alone.

/// `{hidden}/vis` (seen, with `see {hidden}/vis`) holds `file` and the
/// directories `a/b`; the hidden `{hidden}/file` lies one level above.
fn fsshare_args(t: &Jail) -> Vec<String> {
    fs::create_dir_all(t.path("hidden/vis/a/b")).unwrap();
    fs::write(t.path("hidden/vis/file"), "visible\n").unwrap();
    vec![
        t.p("hidden/vis/a/b"),
        t.p("hidden/vis/a"),
        t.p("hidden/vis/file"),
    ]
}

#[test]
fn escape_race_relative_open_while_clone_fs_sibling_flips_working_directory() {
    race_in_every_mode(
        "fsshare",
        "see {hidden}/vis\n",
        &fsshare_args,
        &outside_untouched,
    );
}

#[test]
fn escape_race_relative_open_while_an_execd_clone_fs_sibling_flips_working_directory() {
    // exec gives the sibling a new address space but keeps the shared
    // working directory: the jail must not count the parent alone again.
    race_in_every_mode(
        "fsshare_exec",
        "see {hidden}/vis\n",
        &fsshare_args,
        &outside_untouched,
    );
}

// One thread alone in its address space, its path in private anonymous
// memory: the jail lets the kernel read the program's own buffer. But an
// O_DIRECT read submitted with io_submit (a native syscall) is still in
// flight and lands in that page while the call is stopped for its check.

fn aio_args(
    op: &'static str,
    vis: &'static str,
    hid: &'static str,
) -> impl Fn(&Jail) -> Vec<String> {
    move |t: &Jail| vec![op.to_string(), t.p(vis), t.p(hid), t.p("jail/aiobuf")]
}

#[test]
fn escape_race_async_io_rewrites_private_path_of_open_to_hidden_file() {
    let args = aio_args("open", "ro/file", "hidden/file");
    race_in_every_mode("aio", "", &args, &nothing);
}

#[test]
fn escape_race_async_io_rewrites_private_path_of_stat_to_hidden_file() {
    let args = aio_args("stat", "ro/file", "hidden/file");
    race_in_every_mode("aio", "", &args, &nothing);
}

#[test]
fn escape_race_async_io_rewrites_private_path_of_unlink_to_see_only_file() {
    let args = aio_args("unlink", "jail/victim", "ro/file");
    race_in_every_mode("aio", "", &args, &outside_untouched);
}

#[test]
fn escape_race_async_io_rewrites_private_path_of_utimensat_nofollow_to_see_only_file() {
    let args = aio_args("utimens", "jail/file", "ro/file");
    let mtime = |j: &Jail| fs::symlink_metadata(j.path("ro/file")).unwrap().mtime();
    let check = move |j: &Jail| {
        if mtime(j) < 2_000_000 {
            Err(format!("host check: ro/file's mtime is now {}", mtime(j)))
        } else {
            Ok(())
        }
    };
    // Not as the unprivileged user: setting times other than now takes the
    // file's owner (or CAP_FOWNER), and ro/file stays root's, so natively
    // that user's utimensat fails with EPERM and the control could never
    // win; a jailed run could not show an escape either.
    let modes: Vec<&RaceMode> = race_modes()
        .into_iter()
        .filter(|m| !m.unprivileged)
        .collect();
    race_in_modes(&modes, "aio", "", &args, &check);
}

#[test]
fn escape_race_async_io_rewrites_private_path_of_lsetxattr_to_see_only_file() {
    let args = aio_args("lsetxattr", "jail/file", "ro/file");
    race_in_every_mode("aio", "", &args, &nothing);
}

#[test]
fn escape_race_clone3_flags_flipped_to_clone_untraced() {
    let modes = race_modes();
    // Natively every child runs untraced (there is no tracer), which shows
    // the child's self-test detects an untraced child: as each user the
    // jail is run by.
    for unprivileged in [false, true] {
        if !modes.iter().any(|m| m.unprivileged == unprivileged) {
            continue;
        }
        let t = tree("", unprivileged);
        let mut argv = t.wrapper.clone();
        argv.extend([
            t.escape_bin("race"),
            "clone3".into(),
            "50".into(),
            "3".into(),
            "1".into(),
        ]);
        let out = run_native(&argv, Duration::from_secs(20));
        let summary = race_summary(&out);
        assert!(
            summary.escapes > 0 && exited_0(&out).is_ok(),
            "control void{}\n{}",
            whom(unprivileged),
            out.describe()
        );
    }

    let mut failures = Vec::new();
    for m in modes {
        let name = m.name;
        // On a loaded machine the flipping thread may not run at all during
        // one run (every attempt then sees the same flags): such a run
        // proves nothing either way and is repeated, up to three times.
        for run in 1..=3 {
            let j = tree(m.config, m.unprivileged);
            let argv = [
                j.escape_bin("race"),
                "clone3".to_string(),
                "3000".to_string(),
                (seconds(m) * run).to_string(),
                "1".to_string(),
            ];
            let out = j.cmd(&argv).timeout(Duration::from_secs(30)).run();
            let summary = race_summary(&out);
            eprintln!("clone3 [{name}] run {run}: {summary:?}");
            if summary.escapes != 0 {
                failures.push(format!(
                    "ESCAPE [{name}]: a clone3 child ran untraced\n{}",
                    out.describe()
                ));
                break;
            }
            if let Err(e) = exited_0(&out) {
                failures.push(format!("[{name}] clone3: {e}"));
                break;
            }
            if summary.attempts >= 200 && summary.allowed > 0 && summary.refused > 0 {
                break;
            }
            if run == 3 {
                failures.push(format!(
                    "[{name}] the clone3 race was not exercised ({summary:?})\n{}",
                    out.describe()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// A clone(CLONE_FILES) without CLONE_VM is another address space, but it
// shares the descriptor table: while the parent looks at the lone name
// "file" from its directory descriptor K without following it (find's
// newfstatat and openat, which the jail lets the kernel run as given for a
// thread alone with its descriptors), the sibling dup2()s onto K either
// {hidden}/vis (seen, its file visible) or {hidden} (an ancestor of that
// root: openable as O_PATH, its file hidden). The parent must not be taken
// as alone with its descriptors.

/// `{hidden}/vis` (seen, with `see {hidden}/vis`) holds `file`; the
/// hidden `{hidden}/file` lies one level above.
fn dirfdshare_args(op: &'static str) -> impl Fn(&Jail) -> Vec<String> {
    move |t: &Jail| {
        fs::create_dir_all(t.path("hidden/vis")).unwrap();
        fs::write(t.path("hidden/vis/file"), "visible\n").unwrap();
        vec![op.to_string(), t.p("hidden/vis"), t.p("hidden")]
    }
}

#[test]
fn escape_race_lone_name_open_while_clone_files_sibling_swaps_the_directory_descriptor() {
    race_in_every_mode(
        "dirfdshare",
        "see {hidden}/vis\n",
        &dirfdshare_args("open"),
        &outside_untouched,
    );
}

#[test]
fn escape_race_lone_name_stat_while_clone_files_sibling_swaps_the_directory_descriptor() {
    race_in_every_mode(
        "dirfdshare",
        "see {hidden}/vis\n",
        &dirfdshare_args("stat"),
        &outside_untouched,
    );
}
