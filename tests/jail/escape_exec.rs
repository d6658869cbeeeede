//! Escape suite: what the kernel opens on its own at exec.
//!
//! A script's `#!` interpreter and an ELF program's `PT_INTERP` loader are
//! opened by the kernel, not by a syscall of the program, so the tracer
//! judges them when the exec stops. Three ways around that:
//!
//! - files whose inspection stalls the tracer (a FIFO, a script whose
//!   interpreter is a FIFO, a terminal device): the jail must answer as
//!   the kernel does (`EACCES`) and go on, well within `timelimit`;
//! - an exec through a descriptor (`execveat(fd, "", AT_EMPTY_PATH)` of an
//!   `O_RDONLY` or `O_PATH` descriptor, `/proc/self/fd/N`, a memfd) of a
//!   script or ELF file naming a hidden interpreter or loader;
//! - a script or ELF file in the write tree that flips between naming a
//!   visible and a hidden interpreter while it is exec'd (`race
//!   execflip`).
//!
//! Every trick runs natively first (the control: the hidden program must
//! run there), then jailed with the shipped config and with `landlock
//! off`, where Landlock's execute right no longer backs the tracer up.

use crate::support::{Jail, Output, copy_executable, race_held, race_summary, run_native};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

/// The errnos a refused exec may give.
const EXEC_REFUSED: &[&str] = &["ENOENT", "EACCES", "EPERM"];

fn tree(extra: &str) -> Jail {
    let mut j = Jail::new();
    if !extra.is_empty() {
        j.add_config(extra);
    }
    j
}

fn native(t: &Jail, args: &[&str]) -> Output {
    let mut argv = vec![t.escape_bin("exec")];
    argv.extend(args.iter().map(|a| t.expand(a)));
    run_native(&argv, Duration::from_secs(20))
}

/// The fixture in the jail; a jail still running after `limit` is killed
/// and reported as stalled (never a hang of the test).
fn jailed(j: &Jail, args: &[&str], limit: Duration) -> Result<Output, String> {
    let mut argv = vec![j.escape_bin("exec")];
    argv.extend(args.iter().map(|a| j.expand(a)));
    catch_unwind(AssertUnwindSafe(|| j.cmd(&argv).timeout(limit).run())).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("STALL: the jail did not end by itself\n{message}")
    })
}

/// `gcc` at test time, for the ELF tricks (no libc: `fixtures/escape/tiny.c`).
fn build_tiny(out: &Path, message: &str, code: i32, loader: Option<&str>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/escape/tiny.c");
    let mut cmd = Command::new("gcc");
    cmd.args(["-nostdlib", "-fPIE", "-O2"])
        .arg(format!("-DMSG=\"{message}\""))
        .arg(format!("-DCODE={code}"));
    match loader {
        Some(loader) => cmd
            .arg("-pie")
            .arg(format!("-Wl,--dynamic-linker={loader}")),
        None => cmd.arg("-static-pie"),
    };
    let built = cmd.arg("-o").arg(out).arg(&src).output().expect("run gcc");
    assert!(
        built.status.success(),
        "gcc {}: {}",
        out.display(),
        String::from_utf8_lossy(&built.stderr)
    );
}

/// `a` and `b` made the same length by leading slashes on the shorter.
fn same_length(a: &str, b: &str) -> (String, String) {
    let n = a.len().max(b.len());
    (
        format!("{}{a}", "/".repeat(n - a.len())),
        format!("{}{b}", "/".repeat(n - b.len())),
    )
}

// ---- files whose inspection stalls the tracer ----

/// Runs `args` natively (every line must be `want`) and jailed with
/// `timelimit 5` in every mode: the same lines, exit 0, and done in well
/// under the limit (the jail ended by itself, not by `timelimit`).
fn ends_by_itself(extra: &str, args: &[&str], want: &[&str]) {
    let t = tree(extra);
    let out = native(&t, args);
    assert_eq!(
        out.lines(),
        want,
        "control: unexpected native answers\n{}",
        out.describe()
    );
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let j = tree(&format!("timelimit 5\n{extra}{config}"));
        match jailed(&j, args, Duration::from_secs(10)) {
            Err(stall) => failures.push(format!("[{name}] {stall}")),
            Ok(out) => {
                if out.lines() != want || out.status.code() != Some(0) || out.elapsed.as_secs() >= 4
                {
                    failures.push(format!(
                        "[{name}] want {want:?}, exit 0, in under 4 s\n{}",
                        out.describe()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn escape_exec_of_a_fifo_does_not_stall_the_jail() {
    ends_by_itself(
        "",
        &[
            "mkfifo",
            "{jail}/fifo",
            "exec",
            "{jail}/fifo",
            "echo",
            "after",
        ],
        &["ok", "EACCES", "ok after"],
    );
}

#[test]
fn escape_exec_of_a_script_whose_interpreter_is_a_fifo_does_not_stall_the_jail() {
    ends_by_itself(
        "",
        &[
            "mkfifo",
            "{jail}/fifo",
            "script",
            "{jail}/s",
            "#!{jail}/fifo",
            "exec",
            "{jail}/s",
            "echo",
            "after",
        ],
        &["ok", "ok", "EACCES", "ok after"],
    );
}

#[test]
fn escape_exec_of_a_huge_sparse_script_is_judged_without_reading_it_all() {
    // 1 TiB, all of it a hole but the #! line: runs as natively, at once.
    ends_by_itself(
        "",
        &[
            "sparse",
            "{jail}/big",
            "1099511627776",
            "#!{bin}/exitcode 7",
            "exec",
            "{jail}/big",
            "echo",
            "after",
        ],
        &["ok", "ok exit 7", "ok after"],
    );
}

#[test]
fn escape_exec_of_a_terminal_device_does_not_stall_the_jail() {
    // /dev/ptmx opens a fresh pty master, on which a read blocks forever.
    if !Path::new("/dev/ptmx").exists() {
        crate::support::skip("no /dev/ptmx");
        return;
    }
    ends_by_itself(
        "see /dev\n",
        &["exec", "/dev/null", "exec", "/dev/ptmx", "echo", "after"],
        &["EACCES", "EACCES", "ok after"],
    );
}

// ---- an exec through a descriptor skips the interpreter check ----

/// A tree for the descriptor tricks: `{hidden}/interp` (a copy of the
/// fixture: as `interp marker SCRIPT` it prints "hidden program ran" and
/// exits 42) and, when the machine has one, `{hidden}/ld.so` (a copy of
/// the dynamic loader) with `{jail}/dyn` (an ELF file whose PT_INTERP
/// names it; it prints "dynamic program ran" and exits 42).
fn exec_tree(extra: &str) -> Option<Jail> {
    let j = tree(extra);
    copy_executable(j.escape_bin("exec"), j.path("hidden/interp"));
    let loader = Path::new("/lib64/ld-linux-x86-64.so.2");
    if !loader.exists() {
        crate::support::skip(&format!("no {}", loader.display()));
        return None;
    }
    copy_executable(loader, j.path("hidden/ld.so"));
    build_tiny(
        &j.path("jail/dyn"),
        "dynamic program ran\\n",
        42,
        Some(&j.p("hidden/ld.so")),
    );
    Some(j)
}

/// Natively the lines are `setup` then `ran` then "ok exit 42"; jailed,
/// `setup` then one refused exec, and the hidden program never ran.
fn hidden_interpreter_never_runs(extra: &str, args: &[&str], setup: &[&str], ran: &str) {
    let Some(t) = exec_tree(extra) else {
        return;
    };
    let out = native(&t, args);
    let mut want = setup.to_vec();
    want.extend([ran, "ok exit 42"]);
    assert_eq!(
        out.lines(),
        want,
        "control void: natively the hidden program did not run\n{}",
        out.describe()
    );
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let Some(j) = exec_tree(&format!("{extra}{config}")) else {
            return;
        };
        let out = match jailed(&j, args, Duration::from_secs(20)) {
            Ok(out) => out,
            Err(stall) => {
                failures.push(format!("[{name}] {stall}"));
                continue;
            }
        };
        let lines = out.lines();
        let refused = lines.len() == setup.len() + 1
            && lines[..setup.len()] == *setup
            && EXEC_REFUSED.contains(&lines[setup.len()]);
        if !refused || out.stdout.contains(ran) {
            failures.push(format!(
                "ESCAPE [{name}]: {args:?} ran the hidden program (or answered unexpectedly)\n{}",
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const SCRIPT: [&str; 3] = ["script", "{jail}/s", "#!{hidden}/interp marker"];

fn script_then(route: &str) -> Vec<&str> {
    let mut args = SCRIPT.to_vec();
    args.extend([route, "{jail}/s"]);
    args
}

#[test]
fn escape_exec_of_script_with_hidden_interpreter_by_path_is_refused() {
    // The baseline the routes below must match.
    hidden_interpreter_never_runs("", &script_then("exec"), &["ok"], "hidden program ran");
}

#[test]
fn escape_exec_execveat_empty_path_of_script_with_hidden_interpreter() {
    hidden_interpreter_never_runs("", &script_then("execfd"), &["ok"], "hidden program ran");
}

#[test]
fn escape_exec_execveat_o_path_descriptor_of_script_with_hidden_interpreter() {
    hidden_interpreter_never_runs("", &script_then("execopath"), &["ok"], "hidden program ran");
}

#[test]
fn escape_exec_proc_self_fd_of_script_with_hidden_interpreter() {
    hidden_interpreter_never_runs(
        "see /proc\n",
        &script_then("execproc"),
        &["ok"],
        "hidden program ran",
    );
}

#[test]
fn escape_exec_memfd_script_with_hidden_interpreter() {
    hidden_interpreter_never_runs(
        "",
        &["execmemfd", "#!{hidden}/interp marker"],
        &[],
        "hidden program ran",
    );
}

#[test]
fn escape_exec_of_elf_with_hidden_loader_by_path_is_refused() {
    hidden_interpreter_never_runs("", &["exec", "{jail}/dyn"], &[], "dynamic program ran");
}

#[test]
fn escape_exec_execveat_empty_path_of_elf_with_hidden_loader() {
    hidden_interpreter_never_runs("", &["execfd", "{jail}/dyn"], &[], "dynamic program ran");
}

#[test]
fn escape_exec_execveat_o_path_descriptor_of_elf_with_hidden_loader() {
    hidden_interpreter_never_runs("", &["execopath", "{jail}/dyn"], &[], "dynamic program ran");
}

#[test]
fn escape_exec_proc_self_fd_of_elf_with_hidden_loader() {
    hidden_interpreter_never_runs(
        "see /proc\n",
        &["execproc", "{jail}/dyn"],
        &[],
        "dynamic program ran",
    );
}

// ---- the interpreter flips between the check and the exec ----

const RACE_ATTEMPTS: &str = "20000";
const RACE_JAIL_SECONDS: &str = "4";
const RACE_NATIVE_SECONDS: &str = "3";
const RACE_MIN_ATTEMPTS: u64 = 100;

/// Prepares `{jail}/vis` and `{jail}/hid` (same size): scripts whose `#!`
/// names `{bin}/exitcode 17` and `{hidden}/exitcode 42`, or ELF files
/// whose PT_INTERP names stand-in loaders `{bin}/ldvis` (exits 17) and
/// `{hidden}/ldhid` (exits 42).
fn flip_files(j: &Jail, elf: bool) {
    if elf {
        let (vis, hid) = same_length(&j.p("bin/ldvis"), &j.p("hidden/ldhid"));
        build_tiny(&j.path("bin/ldvis"), "", 17, None);
        build_tiny(&j.path("hidden/ldhid"), "", 42, None);
        build_tiny(&j.path("jail/vis"), "", 1, Some(&vis));
        build_tiny(&j.path("jail/hid"), "", 1, Some(&hid));
    } else {
        copy_executable(j.bin("exitcode"), j.path("hidden/exitcode"));
        let (vis, hid) = same_length(&j.bin("exitcode"), &j.p("hidden/exitcode"));
        std::fs::write(j.path("jail/vis"), format!("#!{vis} 17\n")).unwrap();
        std::fs::write(j.path("jail/hid"), format!("#!{hid} 42\n")).unwrap();
    }
}

fn flip_argv(j: &Jail, how: &str, seconds: &str) -> Vec<String> {
    vec![
        j.escape_bin("race"),
        "execflip".into(),
        how.into(),
        j.p("jail/target"),
        j.p("jail/vis"),
        j.p("jail/hid"),
        RACE_ATTEMPTS.into(),
        seconds.into(),
        "1".into(),
    ]
}

fn interpreter_flip(how: &str, elf: bool) {
    let kind = if elf {
        "ELF loader"
    } else {
        "script interpreter"
    };
    let t = Jail::new();
    flip_files(&t, elf);
    let out = run_native(
        &flip_argv(&t, how, RACE_NATIVE_SECONDS),
        Duration::from_secs(20),
    );
    let summary = race_summary(&out);
    assert!(
        summary.escapes > 0,
        "control void: natively the {kind} flip ({how}) never ran the hidden one\n{}",
        out.describe()
    );
    let mut failures = Vec::new();
    for (name, config) in MODES {
        for run in 1..=3 {
            let j = tree(config);
            flip_files(&j, elf);
            let out = j
                .cmd(&flip_argv(&j, how, RACE_JAIL_SECONDS))
                .timeout(Duration::from_secs(30))
                .run();
            let summary = race_summary(&out);
            let label = format!("{kind} flipped by {how} [{name}]");
            match race_held(&label, summary, &out, RACE_MIN_ATTEMPTS) {
                Ok(()) => break,
                Err(_) if summary.escapes == 0 && run < 3 => {
                    eprintln!("{label}: run {run} was not live; again");
                }
                Err(e) => {
                    failures.push(e);
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn escape_race_exec_of_script_renamed_to_name_a_hidden_interpreter() {
    interpreter_flip("rename", false);
}

#[test]
fn escape_race_exec_of_script_rewritten_to_name_a_hidden_interpreter() {
    interpreter_flip("rewrite", false);
}

#[test]
fn escape_race_exec_of_elf_renamed_to_name_a_hidden_loader() {
    interpreter_flip("rename", true);
}

#[test]
fn escape_race_exec_of_elf_rewritten_to_name_a_hidden_loader() {
    interpreter_flip("rewrite", true);
}

// ---- what a file names, remembered between execs ----
//
// The jail remembers what a file it can neither write nor swap names as
// its interpreter (keyed by its identity, size, st_mtime and st_ctime),
// so a program run many times is read once. A file changed between two
// execs must be read again: each test runs a script naming a visible
// interpreter (exit 17), changes it to name a hidden one (exit 42), and
// runs it again. Natively the second run reaches the hidden interpreter;
// jailed it must be refused before the exec (a stale answer would reach
// the check after the exec instead, which kills the program).

/// The two scripts' first lines, of the same length: `#!{bin}/exitcode
/// 17` and `#!{hidden}/exitcode 42`.
fn visible_and_hidden(j: &Jail) -> (String, String) {
    copy_executable(j.bin("exitcode"), j.path("hidden/exitcode"));
    let (vis, hid) = same_length(&j.bin("exitcode"), &j.p("hidden/exitcode"));
    (format!("#!{vis} 17"), format!("#!{hid} 42"))
}

/// A change the host makes beside the jailed program (given the hidden
/// line).
type HostChange = dyn Fn(&Jail, &str) + Sync;

/// Runs `args` (built by `args_for` from the two lines) natively and
/// jailed in every mode, after `prepare`; `host`, if given, runs beside
/// the program (a change the jail cannot stop). Natively the last line
/// must be "ok exit 42" after `before`; jailed, `before` then a refusal.
fn changed_between_execs(
    extra: &str,
    prepare: &dyn Fn(&Jail, &str),
    args_for: &dyn Fn(&str, &str) -> Vec<String>,
    before: &[&str],
    host: Option<&HostChange>,
) {
    let run = |j: &Jail, jailed_run: bool| -> Output {
        let (vis, hid) = visible_and_hidden(j);
        prepare(j, &vis);
        let mut argv = vec![j.escape_bin("exec")];
        argv.extend(args_for(&vis, &hid).iter().map(|a| j.expand(a)));
        std::thread::scope(|scope| {
            if let Some(host) = host {
                let hid = hid.clone();
                scope.spawn(move || host(j, &hid));
            }
            if jailed_run {
                j.cmd(&argv).timeout(Duration::from_secs(30)).run()
            } else {
                run_native(&argv, Duration::from_secs(30))
            }
        })
    };
    let t = tree(extra);
    let out = run(&t, false);
    let mut want = before.to_vec();
    want.push("ok exit 42");
    assert_eq!(
        out.lines(),
        want,
        "control void: natively the changed script did not reach the hidden interpreter\n{}",
        out.describe()
    );
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let j = tree(&format!("{extra}{config}"));
        let out = run(&j, true);
        let lines = out.lines();
        let refused = lines.len() == before.len() + 1
            && lines[..before.len()] == *before
            && EXEC_REFUSED.contains(&lines[before.len()]);
        if !refused {
            failures.push(format!(
                "ESCAPE [{name}]: a stale answer for the changed script\n{}",
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn no_preparation(_: &Jail, _: &str) {}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

#[test]
fn escape_exec_of_a_script_rewritten_in_place_is_read_again() {
    changed_between_execs(
        "",
        &no_preparation,
        &|vis, hid| {
            strings(&[
                "script", "{jail}/s", vis, "exec", "{jail}/s", "script", "{jail}/s", hid, "exec",
                "{jail}/s",
            ])
        },
        &["ok", "ok exit 17", "ok"],
        None,
    );
}

#[test]
fn escape_exec_of_a_script_swapped_by_rename_is_read_again() {
    changed_between_execs(
        "",
        &no_preparation,
        &|vis, hid| {
            strings(&[
                "script", "{jail}/s", vis, "exec", "{jail}/s", "script", "{jail}/t", hid, "rename",
                "{jail}/t", "{jail}/s", "exec", "{jail}/s",
            ])
        },
        &["ok", "ok exit 17", "ok", "ok"],
        None,
    );
}

#[test]
fn escape_exec_of_a_see_only_script_rewritten_through_a_hard_link_in_the_write_tree() {
    // `{ro}/s` is only seen; its second name `{jail}/l` is writable.
    changed_between_execs(
        "",
        &|j, vis| {
            crate::support::write_file(&j.path("ro/s"), &format!("{vis}\n"));
            std::fs::set_permissions(
                j.path("ro/s"),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .expect("chmod");
            std::fs::hard_link(j.path("ro/s"), j.path("jail/l")).expect("link");
        },
        &|_, hid| {
            strings(&[
                "exec", "{ro}/s", "script", "{jail}/l", hid, "exec", "{ro}/s",
            ])
        },
        &["ok exit 17", "ok"],
        None,
    );
}

#[test]
fn escape_exec_proc_self_fd_of_a_script_rewritten_in_place_is_read_again() {
    changed_between_execs(
        "see /proc\n",
        &no_preparation,
        &|vis, hid| {
            strings(&[
                "script", "{jail}/s", vis, "execproc", "{jail}/s", "script", "{jail}/s", hid,
                "execproc", "{jail}/s",
            ])
        },
        &["ok", "ok exit 17", "ok"],
        None,
    );
}

#[test]
fn escape_exec_of_a_see_only_script_the_host_rewrites_keeping_its_size_and_mtime() {
    // The one case where the answer is remembered: the jail cannot write
    // `{ro}/s`. The host rewrites it in place between the two execs and
    // puts its st_mtime back: only st_ctime tells.
    let prepare = |j: &Jail, vis: &str| {
        crate::support::write_file(&j.path("ro/s"), &format!("{vis}\n"));
        std::fs::set_permissions(
            j.path("ro/s"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
    };
    let host = |j: &Jail, hid: &str| {
        let ready = j.path("jail/ready");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !ready.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let path = j.path("ro/s");
        let modified = std::fs::metadata(&path)
            .and_then(|meta| meta.modified())
            .expect("mtime");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut &file, format!("{hid}\n").as_bytes()).expect("rewrite");
        file.set_modified(modified).expect("mtime back");
        drop(file);
        crate::support::write_file(&j.path("jail/go"), "");
    };
    changed_between_execs(
        "",
        &prepare,
        &|_, _| {
            strings(&[
                "exec",
                "{ro}/s",
                "exec",
                "{ro}/s",
                "script",
                "{jail}/ready",
                "x",
                "waitfor",
                "{jail}/go",
                "exec",
                "{ro}/s",
            ])
        },
        &["ok exit 17", "ok exit 17", "ok", "ok"],
        Some(&host),
    );
}
