//! Escape suite: /proc as a way out. The tracer (the main program's
//! parent) and pid 1 must not be reachable through `/proc/<pid>`, nor the
//! root through `/proc/self/root`, nor a see-only file be reopened for
//! writing through `/proc/self/fd`. Natively (the control) each trick
//! works; in the jail (with `see /proc`) each must fail.

use crate::support::{Jail, Output, run_native};
use std::fs;
use std::time::Duration;

fn with_proc(extra: &str) -> Jail {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.add_config(extra);
    j
}

/// Runs `procfs` with `tricks` ("+"-separated in one process) natively in
/// `t` and jailed in `j`; returns both outputs.
fn run_both(t: &Jail, j: &Jail, tricks: &str) -> (Output, Output) {
    let words = |tree: &Jail| -> Vec<String> {
        let mut v = vec![tree.escape_bin("procfs")];
        v.extend(tree.expand(tricks).split_whitespace().map(str::to_string));
        v
    };
    let native = run_native(&words(t), Duration::from_secs(20));
    let jailed = j.cmd(&words(j)).timeout(Duration::from_secs(20)).run();
    (native, jailed)
}

fn assert_each(names: &[&str], native: &Output, jailed: &Output) {
    let n = native.lines();
    let j = jailed.lines();
    for (i, name) in names.iter().enumerate() {
        let got = n.get(i).copied().unwrap_or("<none>");
        assert!(
            got.starts_with("ok"),
            "control void: natively {name} gave {got}\n{}",
            native.describe()
        );
    }
    let escaped: Vec<String> = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let got = j.get(i).copied().unwrap_or("<none>");
            (got.starts_with("ok") || got == "<none>").then(|| format!("{name}: {got}"))
        })
        .collect();
    assert!(
        escaped.is_empty(),
        "ESCAPE through /proc: {escaped:?}\n{}",
        jailed.describe()
    );
}

#[test]
fn escape_proc_tracer_fds_mem_root_and_environ_are_unreachable() {
    let t = Jail::new();
    let j = with_proc("");
    let names = [
        "tracer_fds",
        "tracer_fds_dotdot",
        "tracer_fdinfo",
        "tracer_mem",
        "tracer_root",
        "tracer_environ",
        "tracer_task_fd",
    ];
    let (native, jailed) = run_both(&t, &j, &names.join(" + "));
    assert_each(&names, &native, &jailed);
}

#[test]
fn escape_proc_self_root_leads_nowhere() {
    let t = Jail::new();
    let j = with_proc("");
    let names = ["self_root /etc/passwd", "self_root {hidden}/file"];
    let (native, jailed) = run_both(&t, &j, &names.join(" + "));
    assert_each(&names, &native, &jailed);
}

#[test]
fn escape_proc_pid1_root_leads_nowhere() {
    let t = Jail::new();
    let j = with_proc("");
    let (native, jailed) = run_both(&t, &j, "pid1_root");
    if native.lines() != ["ok 64"] {
        // In a container pid 1 may lie in a user namespace this root does
        // not own: the kernel refuses it natively.
        eprintln!(
            "SKIPPED control: /proc/1/root/etc/passwd is not readable natively here ({})",
            native.stdout.trim()
        );
        let line = jailed
            .lines()
            .first()
            .copied()
            .unwrap_or("<none>")
            .to_string();
        assert!(
            !line.starts_with("ok"),
            "ESCAPE: pid1_root: {line}\n{}",
            jailed.describe()
        );
        return;
    }
    assert_each(&["pid1_root"], &native, &jailed);
}

#[test]
fn escape_proc_self_fd_reopens_read_only_fd_of_see_only_file_for_writing() {
    let t = Jail::new();
    let j = with_proc("");
    let (native, jailed) = run_both(&t, &j, "reopen_wr {ro}/file");
    assert_each(&["reopen_wr"], &native, &jailed);
    assert_eq!(fs::read_to_string(j.path("ro/file")).unwrap(), "readonly\n");
}

#[test]
fn escape_proc_tracer_fd_names_read_back_from_scratch_memory_are_hidden() {
    // The jail hands the kernel `/proc/<tracer>/fd/<n>` names in scratch
    // memory the program can read. Reading them back and opening them must
    // fail. (There is no native control: the names exist only in the jail;
    // that some were found shows the trick was armed.)
    for (name, config) in [("landlock off", "landlock off\n"), ("default config", "")] {
        let j = with_proc(config);
        let argv = [
            j.escape_bin("procfs"),
            "scratch_paths".into(),
            j.p("jail/file"),
        ];
        let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
        let line = out.lines().first().copied().unwrap_or("").to_string();
        assert!(
            line.starts_with("found ") && line.ends_with(" opened 0"),
            "ESCAPE [{name}]: a tracer descriptor name read from scratch memory opened\n{}",
            out.describe()
        );
        if name == "landlock off" {
            assert!(
                !line.starts_with("found 0 "),
                "[{name}] no /proc/<tracer> name was found in scratch memory: the trick \
                 was not armed\n{}",
                out.describe()
            );
        }
        eprintln!("scratch_paths [{name}]: {line}");
    }
}
