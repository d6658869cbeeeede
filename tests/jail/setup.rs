//! What the program starts with: environment, cwd, descriptors, rlimits.

use crate::support::{Jail, Output};

fn selfinfo(out: &Output, prefix: &str) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::to_string)
        .collect()
}

fn one(out: &Output, prefix: &str) -> String {
    let v = selfinfo(out, prefix);
    assert_eq!(v.len(), 1, "no single {prefix:?} line\n{}", out.describe());
    v[0].clone()
}

#[test]
fn environment_is_inherited_then_edited_by_setenv_and_unsetenv() {
    let mut j = Jail::new();
    j.add_config("setenv NEWVAR fresh\nunsetenv DROPPED\nsetenv KEPT changed\n");
    let out = j
        .cmd(&[j.bin("selfinfo")])
        .env("INHERITED", "yes")
        .env("DROPPED", "gone")
        .env("KEPT", "orig")
        .run();
    out.assert_code(0);
    let env = selfinfo(&out, "env ");
    for want in ["INHERITED=yes", "NEWVAR=fresh", "KEPT=changed"] {
        assert!(
            env.iter().any(|e| e == want),
            "missing {want}\n{}",
            out.describe()
        );
    }
    assert!(
        !env.iter().any(|e| e.starts_with("DROPPED=")),
        "unsetenv ignored\n{}",
        out.describe()
    );
}

#[test]
fn clearenv_starts_from_an_empty_environment() {
    let mut j = Jail::new();
    j.add_config("clearenv\nsetenv ONLY yes\n");
    let out = j.cmd(&[j.bin("selfinfo")]).env("LEAKED", "1").run();
    out.assert_code(0);
    assert_eq!(selfinfo(&out, "env "), ["ONLY=yes"], "{}", out.describe());
}

/// A variable set again moves to the end with its new value, once; one
/// unset and set again comes back.
#[test]
fn repeated_setenv_and_unsetenv_apply_in_file_order() {
    let mut j = Jail::new();
    j.add_config(
        "clearenv\nsetenv A 1\nsetenv B 2\nsetenv A 3\nunsetenv B\nsetenv C 5\nsetenv B 4\n",
    );
    let out = j.cmd(&[j.bin("selfinfo")]).run();
    out.assert_code(0);
    assert_eq!(
        selfinfo(&out, "env "),
        ["A=3", "C=5", "B=4"],
        "{}",
        out.describe()
    );
}

#[test]
fn chdir_sets_the_programs_working_directory() {
    let mut j = Jail::new();
    j.add_config("chdir {jail}\n");
    let out = j.cmd(&[j.bin("selfinfo")]).run();
    out.assert_code(0);
    assert_eq!(one(&out, "cwd "), j.p("jail"), "{}", out.describe());
    j.check(&[
        ("open file wronly", crate::support::Want::Ok),
        ("open ../hidden/file rdonly", crate::support::Want::Hidden),
    ]);
}

#[test]
fn closefds_closes_inherited_descriptors() {
    let mut j = Jail::new();
    j.add_config("closefds\n");
    let out = j
        .cmd(&[j.bin("selfinfo")])
        .extra_fd(50, &j.path("hidden/file"))
        .run();
    out.assert_code(0);
    assert_eq!(one(&out, "fds "), "0 1 2", "{}", out.describe());
}

#[test]
fn inherited_descriptor_is_closed_even_without_closefds() {
    let j = Jail::new();
    let out = j
        .cmd(&[j.bin("selfinfo")])
        .extra_fd(50, &j.path("hidden/file"))
        .run();
    out.assert_code(0);
    assert_eq!(one(&out, "fds "), "0 1 2", "{}", out.describe());
}

#[test]
fn passfd_lets_one_inherited_descriptor_through_and_jail_fds_never_leak() {
    let mut j = Jail::new();
    j.add_config("passfd 50\n");
    let out = j
        .cmd(&[j.bin("selfinfo")])
        .extra_fd(50, &j.path("ro/file"))
        .extra_fd(51, &j.path("hidden/file"))
        .run();
    out.assert_code(0);
    assert_eq!(one(&out, "fds "), "0 1 2 50", "{}", out.describe());
    let out = j.cmd(&[j.bin("selfinfo")]).run();
    assert_eq!(one(&out, "fds "), "0 1 2", "{}", out.describe());
}

#[test]
fn rlimit_nofile_is_observed_inside() {
    let mut j = Jail::new();
    j.add_config("rlimit NOFILE 32\n");
    let out = j.cmd(&[j.bin("selfinfo")]).run();
    out.assert_code(0);
    let nofile = one(&out, "rlimit NOFILE ");
    assert!(
        nofile.starts_with("32 "),
        "NOFILE {nofile}\n{}",
        out.describe()
    );
    let out = j.probe("dupmany 100");
    let line = out.stdout.trim().to_string();
    let made: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(
        made <= 29 && line.ends_with("EMFILE"),
        "dup beyond NOFILE 32: {line}\n{}",
        out.describe()
    );
}

#[test]
fn rlimit_as_is_observed_inside() {
    let mut j = Jail::new();
    j.add_config("rlimit AS 536870912\n");
    let out = j.cmd(&[j.bin("selfinfo")]).run();
    out.assert_code(0);
    let as_ = one(&out, "rlimit AS ");
    assert!(
        as_.starts_with("536870912 "),
        "AS {as_}\n{}",
        out.describe()
    );
    j.check(&[
        ("mmap 1024", crate::support::Want::is("ENOMEM")),
        ("mmap 16", crate::support::Want::Ok),
    ]);
}

/// Memory limits too low to load any program: the message names the limit
/// and its line instead of an unrelated errno, and nothing runs.
#[test]
fn rlimit_too_low_to_start_names_the_limit() {
    for limit in ["AS 0", "DATA 0", "AS 4096"] {
        let mut j = Jail::new();
        j.add_config(&format!("rlimit {limit}\n"));
        let out = j.probe("write {jail}/created x");
        assert!(!j.path("jail/created").exists(), "the program ran");
        out.assert_code(126).assert_stderr_contains(&format!(
            "cannot run `{}`: it could not start under `rlimit {limit}` ({}:{})",
            j.bin("probe"),
            j.p("sandbox.conf"),
            j.config_text().lines().count(),
        ));
        assert!(
            !out.stderr.contains("No child processes"),
            "{}",
            out.describe()
        );
    }
}

/// A limit the kernel refuses is named with its value and line: the run
/// ends as for any other config mistake (78, nothing run).
#[test]
fn rlimit_the_kernel_refuses_is_named_with_file_and_line() {
    let mut j = Jail::new();
    // NOFILE can never exceed fs.nr_open (at most 2^31 - ...), root or not.
    j.add_config("rlimit CORE 0\nrlimit NOFILE 18446744073709551614 unlimited\n");
    let out = j.probe("write {jail}/created x");
    assert!(!j.path("jail/created").exists(), "the program ran");
    out.assert_code(78).assert_stderr_contains(&format!(
        "sandbox: {}:{}: the kernel refused `rlimit NOFILE 18446744073709551614 unlimited`: \
         operation not permitted",
        j.p("sandbox.conf"),
        j.config_text().lines().count(),
    ));
}

/// Twelve processes at once (each opens once, then waits for the others),
/// each opening a file in a `write` tree again and again, under a jail started with `ulimit -n` of `limits` (soft and
/// hard): every open must work. The tracer used to keep one
/// `/proc/<pid>/maps` open per task, so its own opens (and with them the
/// program's) failed once the tasks outnumbered the limit.
fn concurrent_opens_under_nofile(limits: &str) -> crate::support::Output {
    let mut j = Jail::bare();
    j.set_config(
        "see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee /dev/null\nsee {jail}\nwrite {jail}\n",
    );
    j.wrapper = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("ulimit {limits} && exec \"$@\""),
        "sh".into(),
    ];
    let script = j.expand(
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do\n\
         \x20 ( read x < {jail}/file; sleep 0.5\n\
         \x20   n=0; while [ $n -lt 30 ]; do read x < {jail}/file || echo FAIL; n=$((n+1)); done ) &\n\
         done\nwait\necho done\n",
    );
    j.cmd(&["/bin/sh".to_string(), "-c".into(), script]).run()
}

#[test]
fn many_tasks_under_a_low_nofile_of_the_jail_still_open_files() {
    let out = concurrent_opens_under_nofile("-n 20");
    out.assert_code(0).assert_stdout("done\n");
    assert_eq!(out.stderr, "", "{}", out.describe());
}

/// A low soft limit under a higher hard one: the jail raises its own, and
/// the program still starts with the soft limit it was given.
#[test]
fn the_jail_raises_its_own_soft_nofile_but_not_the_programs() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let hard = limit.rlim_max;
    assert!(
        hard > 64,
        "the test needs a hard NOFILE above 64, not {hard}"
    );

    let out = concurrent_opens_under_nofile("-S -n 16");
    out.assert_code(0).assert_stdout("done\n");
    assert_eq!(out.stderr, "", "{}", out.describe());

    let mut j = Jail::new();
    j.wrapper = vec![
        "/bin/sh".into(),
        "-c".into(),
        "ulimit -S -n 16 && exec \"$@\"".into(),
        "sh".into(),
    ];
    let out = j.cmd(&[j.bin("selfinfo")]).run();
    out.assert_code(0);
    let shown = if hard == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    let nofile = one(&out, "rlimit NOFILE ");
    assert!(
        nofile == format!("16 {shown}") || nofile == format!("16 {hard}"),
        "NOFILE {nofile}\n{}",
        out.describe()
    );
}
