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

/// Huge numbers for every numeric keyword: the largest u64, one past it,
/// the signed and 32-bit edges, and far more digits than any integer holds.
const HUGE: &[&str] = &[
    "18446744073709551615",
    "18446744073709551614",
    "18446744073709551616",
    "9223372036854775808",
    "5000000000000000000",
    "4294967296",
    "4294967295",
    "2147483648",
    "2147483647",
    "99999999999999999999999999999999999999",
];

/// The keywords that take a number, and the lines that give them one.
fn numeric_lines(value: &str) -> Vec<(&'static str, String)> {
    let mut lines = vec![
        ("passfd", format!("passfd {value}")),
        ("maxthreads", format!("maxthreads {value}")),
        ("timelimit", format!("timelimit {value}")),
        ("timelimit", format!("timelimit {value}.999999999")),
        ("httptimeout", format!("httptimeout {value}")),
        ("httpconnecttimeout", format!("httpconnecttimeout {value}")),
        ("httpmaxsize", format!("httpmaxsize {value}")),
        ("cpu", format!("cpu {value}")),
    ];
    for name in [
        "AS",
        "CORE",
        "CPU",
        "DATA",
        "FSIZE",
        "LOCKS",
        "MEMLOCK",
        "MSGQUEUE",
        "NICE",
        "NOFILE",
        "NPROC",
        "RSS",
        "RTPRIO",
        "RTTIME",
        "SIGPENDING",
        "STACK",
    ] {
        lines.push(("rlimit", format!("rlimit {name} {value}")));
        lines.push(("rlimit", format!("rlimit {name} {value} unlimited")));
    }
    lines
}

/// Every number a config accepts must be usable: with the largest values,
/// each numeric keyword either is refused with `file:line` (78, nothing
/// run) or the program runs and says what it should. Never a panic (101).
#[test]
fn config_every_numeric_keyword_takes_huge_values_without_panicking() {
    // The list above must cover every keyword whose argument is a number.
    let numeric: std::collections::BTreeSet<&str> = sandbox::config::KEYWORDS
        .iter()
        .filter(|keyword| {
            ["<number>", "<seconds>", "<bytes>", "<hard>", "number>"]
                .iter()
                .any(|arg| keyword.usage.contains(arg))
        })
        .map(|keyword| keyword.name)
        .collect();
    let covered: std::collections::BTreeSet<&str> = numeric_lines("1")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(covered, numeric, "numeric keywords not covered");

    // A port nobody listens on: the download fails at once, whatever the
    // timeouts, but goes through the whole fetch path.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prefix = format!("http://127.0.0.1:{closed_port}/");
    let mut j = Jail::bare();
    let mut cases: Vec<_> = HUGE.iter().flat_map(|value| numeric_lines(value)).collect();
    cases.push(("cpu", "cpu 1023".into()));
    cases.push(("cpu", "cpu 1024".into()));
    let mut failures = String::new();
    let mut ran = 0;
    {
        for (keyword, line) in cases {
            j.set_config(&format!(
                "see {{bin}}\nsee {{ro}}\nhttp {prefix}\n{line}\nwrite {{jail}}\n"
            ));
            let out = j
                .cmd(&[
                    j.bin("probe"),
                    "read".into(),
                    j.p("ro/file"),
                    "+".into(),
                    "open".into(),
                    format!("{prefix}x"),
                    "rdonly".into(),
                ])
                .timeout(std::time::Duration::from_secs(20))
                .run();
            let refused = out.status.code() == Some(78)
                && out
                    .stderr
                    .starts_with(&format!("sandbox: {}:4:", j.p("sandbox.conf")))
                && out.stdout.is_empty();
            let worked =
                out.status.code() == Some(0) && out.stdout == "ok readonly\nECONNREFUSED\n";
            if out.stderr.contains("panicked") || !(refused || worked) {
                failures.push_str(&format!("`{line}` ({keyword}):\n{}\n", out.describe()));
            }
            ran += usize::from(worked);
        }
    }
    assert!(failures.is_empty(), "{failures}");
    assert!(ran > 0, "no huge value ever ran");
}
