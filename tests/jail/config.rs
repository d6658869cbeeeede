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
        ("cputime", format!("cputime {value}")),
        ("cputime", format!("cputime {value}.5")),
        ("outputlimit", format!("outputlimit {value}")),
        ("maxmemory", format!("maxmemory {value}")),
        ("reportfd", format!("reportfd {value}")),
        // With the tree it needs, on the lines after (the value stays on
        // line 4, which a refusal must name).
        (
            "cowquota",
            format!("cowquota {value}\ncow {{root}}/cowtree\ncowdir {{root}}/layers"),
        ),
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
    std::fs::create_dir_all(j.path("cowtree")).unwrap();
    std::fs::create_dir_all(j.path("layers")).unwrap();
    std::fs::set_permissions(
        j.path("layers"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
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

/// Runs the jail with `config` (a path) for `probe read {ro}/file`, under
/// a 512 MiB address-space limit, so a jail that reads without bound
/// fails here instead of eating the machine's memory.
fn run_with_config_path(j: &Jail, config: &str) -> crate::support::Output {
    let mut capped = Jail::bare();
    capped.wrapper = vec![
        "/bin/sh".into(),
        "-c".into(),
        "ulimit -v 524288 && exec \"$@\"".into(),
        "sh".into(),
    ];
    let probe = j.bin("probe");
    let file = j.p("ro/file");
    capped
        .cmd::<&str>(&[])
        .timeout(std::time::Duration::from_secs(20))
        .run_raw(&[
            config.to_string(),
            "test".into(),
            probe,
            "read".into(),
            file,
        ])
}

#[test]
fn config_endless_devices_are_refused_at_the_size_cap() {
    let j = Jail::new();
    for device in ["/dev/zero", "/dev/urandom"] {
        let started = std::time::Instant::now();
        let out = run_with_config_path(&j, device);
        out.assert_code(78).assert_stderr_contains(&format!(
            "sandbox: {device}: the file is larger than 1 MiB; expected a config of at most \
             1048576 bytes"
        ));
        assert_eq!(out.stdout, "", "{}", out.describe());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn config_from_an_endless_pipe_is_refused_at_the_size_cap() {
    use std::process::{Command, Stdio};
    let j = Jail::new();
    let mut yes = Command::new("yes")
        .arg("see /usr")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run yes");
    let pipe = yes.stdout.take().unwrap();
    // Under a memory cap, as in `run_with_config_path`.
    let mut jail = Command::new("/bin/sh")
        .args(["-c", "ulimit -v 524288 && exec \"$@\"", "sh"])
        .args([crate::support::SANDBOX, "/dev/stdin", "test"])
        .args([&j.bin("probe"), "read", &j.p("ro/file")])
        .stdin(pipe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sandbox");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = jail.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = jail.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let output = jail.wait_with_output().unwrap();
    let _ = yes.kill();
    let _ = yes.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(78), "{stderr}");
    assert!(
        stderr.contains("sandbox: /dev/stdin: the file is larger than 1 MiB"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn config_at_the_size_cap_still_works_and_one_byte_more_is_refused() {
    let mut j = Jail::new();
    // Comment lines up to exactly 1 MiB.
    let mut text = j.config_text().to_string();
    while text.len() + 64 <= 1048576 {
        text.push_str(&format!("# {}\n", "c".repeat(61)));
    }
    text.push_str(&format!("#{}\n", " ".repeat(1048576 - text.len() - 2)));
    assert_eq!(text.len(), 1048576);
    j.set_config(&text);
    let out = j.probe("read {ro}/file");
    out.assert_code(0).assert_stdout("ok readonly\n");
    text.push('\n');
    j.set_config(&text);
    let out = j.probe("read {ro}/file");
    out.assert_code(78)
        .assert_stderr_contains("sandbox.conf: the file is larger than 1 MiB");
}

/// A token of most of a megabyte is named by its first characters only.
#[test]
fn config_errors_about_huge_tokens_stay_short() {
    let mut j = Jail::new();
    j.add_config(&format!("{}\n", "x".repeat(1_000_000)));
    let out = j.probe("read {ro}/file");
    out.assert_code(78).assert_stderr_contains(&format!(
        "sandbox.conf:{}:1: unknown keyword `{}...`",
        j.config_text().lines().count(),
        "x".repeat(60)
    ));
    assert!(
        out.stderr.len() < 1000,
        "{} bytes of stderr",
        out.stderr.len()
    );
}

/// Parsing and applying stay linear: 60000 `setenv` lines, and a line of
/// 400000 words, each in under a megabyte, take well under a second (both
/// took over 5 s when each line or word rescanned the ones before).
#[test]
fn config_large_files_are_parsed_in_linear_time() {
    let mut j = Jail::new();
    let mut env = String::new();
    for index in 0..60_000 {
        env.push_str(&format!("setenv V{index} 1\n"));
    }
    j.add_config(&env);
    let out = j.probe("read {ro}/file");
    out.assert_code(0).assert_stdout("ok readonly\n");
    assert!(
        out.elapsed < std::time::Duration::from_millis(2500),
        "60000 setenv lines took {:?}",
        out.elapsed
    );

    let mut j = Jail::new();
    j.add_config(&format!("arg {}\n", "a ".repeat(400_000)));
    let out = j.probe("read {ro}/file");
    out.assert_code(0).assert_stdout("ok readonly\n");
    assert!(
        out.elapsed < std::time::Duration::from_millis(2500),
        "a line of 400000 words took {:?}",
        out.elapsed
    );
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

/// Runs the jail binary with exactly `args` after writing the config.
fn run_args(j: &Jail, args: &[String]) -> crate::support::Output {
    crate::support::write_file(&j.config_path(), j.config_text());
    j.cmd::<&str>(&[]).run_raw(args)
}

/// A `chdir` that does not exist, or that the jail cannot see, is a config
/// mistake named with its line: 78, nothing run. (It used to say only
/// "changing directory: No such file or directory", with status 125.)
#[test]
fn config_chdir_to_a_missing_or_hidden_directory_names_the_line() {
    let cases = [
        (
            "chdir /nonexistent".to_string(),
            "sandbox.conf:3: `chdir /nonexistent`: no such file or directory; expected an \
             existing directory"
                .to_string(),
        ),
        ("chdir {hidden}".to_string(), String::new()),
        ("chdir {ro}/file".to_string(), String::new()),
    ];
    for (line, message) in cases {
        let mut j = Jail::bare();
        j.set_config(&format!(
            "see {{bin}}\nsee {{ro}}\n{line}\nwrite {{jail}}\n"
        ));
        let message = if message.is_empty() {
            match line.as_str() {
                "chdir {hidden}" => format!(
                    "sandbox.conf:3: `chdir {0}`: {0} is hidden in the jail; expected a \
                     directory a `see` or `write` line covers",
                    j.p("hidden")
                ),
                _ => format!(
                    "sandbox.conf:3: `chdir {}/file`: not a directory",
                    j.p("ro")
                ),
            }
        } else {
            message
        };
        let out = j.probe("write {jail}/created x");
        out.assert_code(78).assert_stderr_contains(&message);
        assert_eq!(out.stdout, "", "program ran\n{}", out.describe());
        assert!(!j.path("jail/created").exists(), "program ran");
    }
}

/// A root that does not exist, a CPU the machine does not have, and a `#`
/// inside a value are warned about on stderr, once each, with file:line;
/// the program still runs.
#[test]
fn config_dubious_lines_are_warned_about_and_still_run() {
    let mut j = Jail::new();
    j.add_config("see {root}/missing\nwrite {root}/gone\ncpu 1023\nsee {ro} # programs\n");
    let first = j.config_text().lines().count() - 3;
    let out = j.probe("read {ro}/file");
    out.assert_code(0).assert_stdout("ok readonly\n");
    let conf = j.p("sandbox.conf");
    let root = j.root.display().to_string();
    let expected = [
        format!(
            "sandbox: warning: {conf}:{}: `see {root}/missing` names a path that does not exist",
            first
        ),
        format!(
            "sandbox: warning: {conf}:{}: `write {root}/gone` names a path that does not exist",
            first + 1
        ),
        format!(
            "sandbox: warning: {conf}:{}: `cpu 1023`: this machine has CPUs 0 to ",
            first + 2
        ),
        format!(
            "sandbox: warning: {conf}:{}: the value of `see` is `{root}/ro # programs`: a `#` \
             inside a line starts no comment",
            first + 3
        ),
        format!(
            "sandbox: warning: {conf}:{}: `see {root}/ro # programs` names a path that does not exist",
            first + 3
        ),
    ];
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", out.describe());
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "want {want}\n{}",
            out.describe()
        );
    }
}

#[test]
fn config_keyword_typos_get_a_suggestion() {
    let mut j = Jail::bare();
    j.set_config("see {bin}\nsea {ro}\n");
    let out = j.probe("read {ro}/file");
    out.assert_code(78).assert_stderr_contains(&format!(
        "sandbox: {}:2:1: unknown keyword `sea`; did you mean `see`?",
        j.p("sandbox.conf")
    ));
    assert_eq!(out.stdout, "");
}

#[test]
fn help_and_version_go_to_stdout_and_exit_0() {
    let j = Jail::new();
    for flag in ["--help", "-h"] {
        let out = run_args(&j, &[flag.to_string()]);
        out.assert_code(0);
        assert_eq!(out.stderr, "", "{}", out.describe());
        for mode in [
            "sandbox <config.conf> <ident> [program [args...]]",
            "sandbox <config.conf> kill <ident>",
            "sandbox --check <config.conf> [<ident> [<path>...]]",
            "--version",
        ] {
            assert!(
                out.stdout.contains(mode),
                "{mode} missing\n{}",
                out.describe()
            );
        }
    }
    for flag in ["--version", "-V"] {
        let out = run_args(&j, &[flag.to_string()]);
        out.assert_code(0).assert_stdout("sandbox 0.1.0\n");
        assert_eq!(out.stderr, "");
    }
}

#[test]
fn a_wrong_command_line_exits_2_with_the_usage_on_stderr() {
    let j = Jail::new();
    let conf = j.config_path().display().to_string();
    for args in [
        vec![],
        vec![conf.clone()],
        vec!["--bogus".to_string()],
        vec!["--help".to_string(), "extra".to_string()],
        vec!["--check".to_string()],
        vec![conf, "kill".to_string()],
    ] {
        let out = run_args(&j, &args);
        out.assert_code(2)
            .assert_stderr_contains("usage: sandbox <config.conf> <ident> [program [args...]]");
        assert_eq!(out.stdout, "", "{args:?}\n{}", out.describe());
    }
}

/// `--check` prints the effective policy, the kernel's offer, warnings and
/// where each path stands, one fact per line, and runs nothing.
#[test]
fn check_prints_the_policy_and_where_paths_stand() {
    let mut j = Jail::new();
    j.add_config(
        "write {jail2}\nmaxthreads 3\nsetenv A b c\nident other\nsee {hidden}\nend\n\
         ident test\ntimelimit 2.5\nend\nsee {root}/missing\n",
    );
    let conf = j.config_path().display().to_string();
    let args = |j: &Jail, more: &[&str]| {
        let mut all = vec!["--check".to_string(), conf.clone(), "test".to_string()];
        all.extend(more.iter().map(|path| j.expand(path)));
        all
    };
    let out = run_args(
        &j,
        &args(
            &j,
            &[
                "{hidden}/file",
                "{ro}/file",
                "{jail}/new",
                "{jail2}/file",
                "{root}",
                "{bin}/../ro",
            ],
        ),
    );
    out.assert_code(0);
    assert_eq!(out.stderr, "", "{}", out.describe());
    let root = j.root.display().to_string();
    for fact in [
        format!("config {conf}"),
        "ident test".to_string(),
        format!("see {root}/bin (line 1)"),
        format!("see {root}/ro (line 2)"),
        format!("write {root}/jail (line 4)"),
        format!("write {root}/jail2 (line 5)"),
        "maxthreads 3".to_string(),
        "timelimit 2.5s".to_string(),
        "environment inherited".to_string(),
        "setenv A b c".to_string(),
        "wakeup off".to_string(),
        "landlock auto".to_string(),
        "report off".to_string(),
        format!("warning {conf}:14: `see {root}/missing` names a path that does not exist"),
        format!("path {root}/hidden/file: hidden (no see or write line covers it)"),
        format!("path {root}/ro/file: visible (line 2: see {root}/ro)"),
        format!(
            "path {root}/jail/new: writable (line 3: see {root}/jail; line 4: write {root}/jail)"
        ),
        format!(
            "path {root}/jail2/file: write-only (line 5: write {root}/jail2; no see line covers \
             it: it cannot be read, listed or stat'ed)"
        ),
        format!("path {root}/bin/../ro -> {root}/ro: visible (line 2: see {root}/ro)"),
    ] {
        assert!(
            out.lines().contains(&fact.as_str()),
            "no line {fact:?}\n{}",
            out.describe()
        );
    }
    assert!(
        out.lines()
            .iter()
            .any(|line| line.starts_with(&format!("path {root}: ancestor ("))),
        "{}",
        out.describe()
    );
    for prefix in [
        "kernel seccomp ",
        "kernel ptrace ",
        "kernel landlock ",
        "kernel procmap_query ",
    ] {
        assert!(
            out.lines().iter().any(|line| line.starts_with(prefix)),
            "no {prefix:?} line\n{}",
            out.describe()
        );
    }
    assert!(
        !out.stdout.contains(&format!("see {root}/hidden")),
        "other ident's block applied"
    );

    // Another ident gets its own block; nothing at all runs.
    let out = run_args(
        &j,
        &[
            "--check".to_string(),
            conf.clone(),
            "other".into(),
            j.p("hidden/file"),
        ],
    );
    out.assert_code(0);
    assert!(
        out.lines().contains(
            &format!("path {root}/hidden/file: visible (line 9: see {root}/hidden)").as_str()
        ),
        "{}",
        out.describe()
    );

    // A bad config is refused as for a run.
    j.add_config("maxthreads none\n");
    let out = run_args(&j, &args(&j, &[]));
    out.assert_code(78).assert_stderr_contains(&format!(
        "sandbox: {conf}:15:12: bad number for `maxthreads`"
    ));
    assert_eq!(out.stdout, "", "{}", out.describe());
}

/// Existing configs keep working: a write-only directory (a drop box) and
/// a directory above every root (`/`) exist for the program, so `chdir`
/// into them is not refused.
#[test]
fn config_chdir_into_a_write_only_directory_or_an_ancestor_still_runs() {
    let mut j = Jail::new();
    j.add_config("write {jail2}\nchdir {jail2}\n");
    let out = j.probe("write made x");
    out.assert_code(0).assert_stdout("ok 1\n");
    assert!(j.path("jail2/made").exists(), "{}", out.describe());
    let mut j = Jail::new();
    j.add_config("chdir /\n");
    let out = j.probe("read {ro}/file");
    out.assert_code(0).assert_stdout("ok readonly\n");
}
