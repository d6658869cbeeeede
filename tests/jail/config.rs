//! Malformed configs: exit 78, name `file:line`, run nothing.

use crate::support::Jail;

/// Puts `bad` on line 3 of an otherwise valid config and runs a probe that
/// would create a file; checks 78, `sandbox.conf:3` and that nothing ran.
fn rejects_line(bad: &str) {
    let mut j = Jail::bare();
    j.set_config(&format!(
        "# a comment\nsee {{bin}}\n{bad}\nwrite {{jail}}\n"
    ));
    let out = j.probe("write {jail}/created x");
    out.assert_code(78)
        .assert_stderr_contains("sandbox.conf:3")
        .assert_stderr_contains("sandbox: ");
    assert_eq!(out.stdout, "", "program ran\n{}", out.describe());
    assert!(
        !j.path("jail/created").exists(),
        "program ran: file created"
    );
}

#[test]
fn config_unknown_keyword_exits_78_and_runs_nothing() {
    rejects_line("frobnicate yes");
}

#[test]
fn config_missing_argument_exits_78_and_runs_nothing() {
    rejects_line("see");
}

#[test]
fn config_bad_number_exits_78_and_runs_nothing() {
    rejects_line("maxthreads lots");
}

#[test]
fn config_bad_timelimit_exits_78_and_runs_nothing() {
    rejects_line("timelimit soon");
}

#[test]
fn config_unknown_rlimit_exits_78_and_runs_nothing() {
    rejects_line("rlimit BOGUS 5");
}

#[test]
fn config_relative_see_path_exits_78_and_runs_nothing() {
    rejects_line("see relative/dir");
}

#[test]
fn config_relative_write_path_exits_78_and_runs_nothing() {
    rejects_line("write tmp");
}

#[test]
fn config_relative_chdir_exits_78_and_runs_nothing() {
    rejects_line("chdir somewhere");
}

#[test]
fn config_valid_file_with_comments_runs() {
    let mut j = Jail::bare();
    j.set_config("# a comment\nsee {bin}\n\n# another\nwrite {jail}\n");
    let out = j.probe("write {jail}/created x");
    out.assert_code(0).assert_stdout("ok 1\n");
}
