//! Escape suite: a path of nothing but `..` (and maybe a last name that
//! is not followed) from a working directory or dirfd inside the write
//! tree, while another process moves that directory.
//!
//! Such a walk looks up no name in a writable directory, so it could be
//! taken as one nothing in the jail can change, and the kernel handed the
//! program's own path to walk again. But the start itself can move:
//! `race dotdot` makes `jail/w/d1/d2` and a decoy `jail/w/hidden`, works
//! from `d2` and has a forked child (no shared memory, no shared working
//! directory) rename `jail/w/d1/d2` to `jail/d2` and back. From the moved
//! directory `../../hidden` is the real `hidden/` beside `jail/`, and
//! `../..` the test tree's root. Natively (the control, same layout in a
//! tree of its own) the flip wins; in the jail, with the shipped config
//! and with `landlock off`, it must never, and the host checks that
//! nothing outside the write tree changed.

use crate::support::{Jail, race_held, race_summary, run_native};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

const ATTEMPTS: &str = "20000";
/// Seconds of the first jailed run; each repeat of a run that was not
/// live gets this many more.
const JAIL_SECONDS: u64 = 4;
const NATIVE_SECONDS: &str = "3";
const MIN_ATTEMPTS: u64 = 300;
const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

fn argv(j: &Jail, op: &str, start: &str, seconds: &str) -> Vec<String> {
    vec![
        j.escape_bin("race"),
        "dotdot".into(),
        op.into(),
        start.into(),
        j.p("jail"),
        ATTEMPTS.into(),
        seconds.into(),
        "1".into(),
    ]
}

/// What must hold outside the write tree afterwards.
fn host_check(j: &Jail, op: &str) -> Result<(), String> {
    let secret = fs::read_to_string(j.path("hidden/file")).unwrap_or_default();
    if secret != "secret\n" {
        return Err(format!(
            "host check: hidden/file is gone or changed ({secret:?})"
        ));
    }
    if j.path("planted").exists() {
        return Err("host check: a file was planted in the test tree's root".into());
    }
    let hidden_mtime = fs::symlink_metadata(j.path("hidden")).unwrap().mtime();
    if op == "utimens" && hidden_mtime < 2_000_000 {
        return Err(format!("host check: hidden/'s mtime is now {hidden_mtime}"));
    }
    let root_mode = fs::metadata(&j.root).unwrap().mode() & 0o7777;
    if root_mode != 0o755 {
        return Err(format!(
            "host check: the tree root's mode is now {root_mode:o}"
        ));
    }
    Ok(())
}

fn dotdot_race(op: &str, start: &str) {
    // The control, natively in a tree of its own.
    let t = Jail::new();
    let out = run_native(
        &argv(&t, op, start, NATIVE_SECONDS),
        Duration::from_secs(20),
    );
    let summary = race_summary(&out);
    assert!(
        summary.escapes > 0 && out.stdout.contains("escaped: "),
        "control void: natively the dotdot {op} race from {start} never won\n{}",
        out.describe()
    );
    // The control tree's root may have been chmod'ed: put it back so it
    // can be removed whatever happened.
    let _ = fs::set_permissions(&t.root, fs::Permissions::from_mode(0o755));

    let mut failures = Vec::new();
    for (name, config) in MODES {
        // A run that was not live is repeated (up to three times); an
        // escape never is.
        for run in 1..=3 {
            let mut j = Jail::new();
            j.add_config(config);
            let out = j
                .cmd(&argv(&j, op, start, &(JAIL_SECONDS * run).to_string()))
                .timeout(Duration::from_secs(30))
                .run();
            let summary = race_summary(&out);
            let label = format!("dotdot {op} from {start} [{name}]");
            let checked = host_check(&j, op);
            let _ = fs::set_permissions(&j.root, fs::Permissions::from_mode(0o755));
            let verdict = race_held(&label, summary, &out, MIN_ATTEMPTS).and_then(|()| {
                checked
                    .clone()
                    .map_err(|e| format!("{e}\n{}", out.describe()))
            });
            match verdict {
                Ok(()) => break,
                Err(_) if summary.escapes == 0 && checked.is_ok() && run < 3 => {
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

#[test]
fn escape_race_dotdot_rename_from_moved_cwd_steals_hidden_dir() {
    dotdot_race("rename", "cwd");
}

#[test]
fn escape_race_dotdot_rename_from_moved_dirfd_steals_hidden_dir() {
    dotdot_race("rename", "fd");
}

#[test]
fn escape_race_dotdot_rename_target_from_moved_cwd_plants_outside() {
    dotdot_race("renameto", "cwd");
}

#[test]
fn escape_race_dotdot_utimensat_nofollow_from_moved_cwd_touches_hidden_dir() {
    dotdot_race("utimens", "cwd");
}

#[test]
fn escape_race_dotdot_utimensat_nofollow_from_moved_dirfd_touches_hidden_dir() {
    dotdot_race("utimens", "fd");
}

#[test]
fn escape_race_dotdot_fchmodat_from_moved_cwd_chmods_tree_root() {
    dotdot_race("chmod", "cwd");
}

#[test]
fn escape_race_dotdot_fchmodat_from_moved_dirfd_chmods_tree_root() {
    dotdot_race("chmod", "fd");
}
