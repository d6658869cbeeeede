//! Exit statuses, signal deaths, usage errors, program lookup, stdio.

use crate::support::{Jail, Want, copy_executable};
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn program_exit_code_is_passed_through() {
    let j = Jail::new();
    for code in ["0", "3", "42", "255"] {
        j.fixture("exitcode", &[code])
            .assert_code(code.parse().unwrap());
    }
}

#[test]
fn segfault_prints_segmentation_fault_and_exits_139() {
    let j = Jail::new();
    let out = j.fixture("segv", &[]);
    out.assert_code(139)
        .assert_stderr_contains("[Segmentation fault]");
}

#[test]
fn abort_prints_aborted_and_exits_134() {
    let j = Jail::new();
    j.fixture("abort", &[])
        .assert_code(134)
        .assert_stderr_contains("[Aborted]");
}

#[test]
fn sigkill_prints_killed_and_exits_137() {
    let j = Jail::new();
    j.probe("raise 9")
        .assert_code(137)
        .assert_stderr_contains("[Killed]");
}

#[test]
fn sigterm_prints_terminated_and_exits_143() {
    let j = Jail::new();
    j.probe("raise 15")
        .assert_code(143)
        .assert_stderr_contains("[Terminated]");
}

#[test]
fn missing_program_exits_127() {
    let j = Jail::new();
    let out = j.cmd(&[j.bin("no-such-program")]).run();
    out.assert_code(127).assert_stderr_contains("sandbox: ");
}

#[test]
fn program_outside_visible_trees_exits_127() {
    let j = Jail::new();
    copy_executable(j.path("bin/exitcode"), j.path("hidden/exitcode"));
    let out = j.cmd(&[j.p("hidden/exitcode")]).run();
    out.assert_code(127).assert_stderr_contains("sandbox: ");
}

#[test]
fn non_executable_program_exits_126() {
    let j = Jail::new();
    copy_executable(j.path("bin/exitcode"), j.path("ro/noexec"));
    fs::set_permissions(j.path("ro/noexec"), fs::Permissions::from_mode(0o644)).unwrap();
    let out = j.cmd(&[j.p("ro/noexec")]).run();
    out.assert_code(126).assert_stderr_contains("sandbox: ");
}

#[test]
fn usage_error_exits_2() {
    let j = Jail::new();
    let out = j.cmd(&[] as &[&str]).run_raw(&[]);
    out.assert_code(2);
    let out = j
        .cmd(&[] as &[&str])
        .run_raw(&[j.config_path().display().to_string()]);
    out.assert_code(2);
}

#[test]
fn missing_config_file_exits_78() {
    let j = Jail::new();
    let out =
        j.cmd(&[] as &[&str])
            .run_raw(&[j.p("no-such.conf"), "test".into(), j.bin("exitcode")]);
    out.assert_code(78).assert_stderr_contains("sandbox: ");
}

#[test]
fn config_program_and_args_run_when_command_line_names_none() {
    let mut j = Jail::new();
    j.add_config("program {bin}/exitcode\narg exitcode\narg 7\n");
    j.cmd(&[] as &[&str]).run().assert_code(7);
}

#[test]
fn ident_block_applies_only_to_its_ident() {
    let mut j = Jail::new();
    j.add_config(
        "program {bin}/exitcode\narg exitcode\n\
         ident other\narg 9\nend\n\
         ident test\narg 5\nend\n",
    );
    j.cmd(&[] as &[&str]).run().assert_code(5);
    j.cmd(&[] as &[&str]).ident("other").run().assert_code(9);
    j.cmd(&[] as &[&str]).ident("nobody").run().assert_code(0);
}

#[test]
fn ident_block_see_does_not_leak_to_other_idents() {
    let mut j = Jail::new();
    j.add_config("ident other\nsee {hidden}\nend\n");
    j.check(&[("open {hidden}/file rdonly", Want::Hidden)]);
    let out = j
        .cmd(&[
            j.bin("probe"),
            "open".into(),
            j.p("hidden/file"),
            "rdonly".into(),
        ])
        .ident("other")
        .run();
    out.assert_code(0).assert_stdout("ok 7\n");
}

#[test]
fn stdin_and_stdout_pass_through() {
    let j = Jail::new();
    let out = j
        .cmd(&[j.bin("probe"), "cat".into()])
        .stdin(b"hello through the jail\n")
        .run();
    out.assert_code(0).assert_stdout("hello through the jail\n");
}

#[test]
fn program_arguments_reach_the_program_verbatim() {
    let j = Jail::new();
    let out = j
        .cmd(&[j.bin("probe"), "read".into(), j.p("ro/file")])
        .run();
    out.assert_code(0).assert_stdout("ok readonly\n");
}
