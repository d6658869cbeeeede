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

#[test]
fn config_ident_block_with_a_slash_exits_78_and_runs_nothing() {
    rejects_line("ident #ops/admin\nend");
}

#[test]
fn config_ident_block_named_kill_exits_78_and_runs_nothing() {
    rejects_line("ident kill\nend");
}

#[test]
fn irc_nicks_and_channels_select_their_ident_blocks() {
    let nicks = [
        "Nick^",
        "[nick]",
        "nick|away",
        "#channel",
        "##linux",
        "a\\b",
        "{braces}",
        "..",
        "Ñandú",
    ];
    let mut j = Jail::bare();
    let mut config = String::from("see {bin}\n");
    for nick in nicks {
        config.push_str(&format!("ident {nick}\nsee {{ro}}\nend\n"));
    }
    j.set_config(&config);
    for nick in nicks {
        let args = [j.bin("probe"), "read".into(), j.p("ro/file")];
        let out = j.cmd(&args).ident(nick).run();
        out.assert_code(0).assert_stdout("ok readonly\n");
    }
    // Another ident gets none of those blocks.
    let args = [j.bin("probe"), "read".into(), j.p("ro/file")];
    let out = j.cmd(&args).ident("Nick").run();
    out.assert_code(0).assert_stdout("ENOENT\n");
}
