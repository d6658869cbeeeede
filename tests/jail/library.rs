//! The library from a host process (issue 15): `Jail::command` and
//! `Child` against real programs, as a Rust program would use them.

use crate::support::{self, SANDBOX};
use sandbox::Jail;
use sandbox::report::Status;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The standard tree's jail, with what /bin/sh, coreutils and python3
/// need, plus `extra` lines.
fn jail_with(tree: &support::Jail, extra: &str) -> Jail {
    let text = tree.expand(&format!(
        "see /usr\nsee /etc/ld.so.cache\nsee {{bin}}\nsee {{ro}}\nsee {{jail}}\nwrite {{jail}}\n{extra}"
    ));
    Jail::from_config_str(&text, "test")
        .expect("the test config parses")
        .with_binary(SANDBOX)
}

fn sh(jail: &Jail, script: &str) -> sandbox::Command {
    let mut command = jail.command("/bin/sh");
    command.args(["-c", script]);
    command
}

#[test]
fn output_captures_stdout_stderr_and_the_exit_code() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let output = sh(&jail, "echo out; echo err >&2; exit 3")
        .output()
        .expect("spawn");
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
    assert_eq!(output.status.code(), Some(3));
    assert!(!output.status.success());
    assert_eq!(output.status.sandbox_status().code(), Some(3));
}

#[test]
fn status_inherits_stdio_and_reports_success() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let status = jail
        .command("/bin/true")
        .stdout(Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success(), "{status}");
    assert_eq!(status.to_string(), "exit status: 0");
}

#[test]
fn args_env_and_directory_reach_the_program() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let output = sh(&jail, "echo \"$1|$2|${A-unset}|$B|$(pwd)\"; cat file")
        .arg("sh")
        .args(["one", "two words"])
        .env("A", "1")
        .envs([("B", "2"), ("C", "3")])
        .env_remove("A")
        .current_dir(tree.path("jail"))
        .output()
        .expect("spawn");
    let shown = format!("one|two words|unset|2|{}\nhello\n", tree.p("jail"));
    assert_eq!(String::from_utf8_lossy(&output.stdout), shown);
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn env_clear_leaves_only_what_is_set_after_it_and_config_lines_win() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "setenv FROM_CONFIG yes\n");
    let output = jail
        .command("/usr/bin/env")
        .env("DROPPED", "1")
        .env_clear()
        .env("ONLY", "x")
        .env("FROM_CONFIG", "no")
        .output()
        .expect("spawn");
    let mut lines: Vec<_> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(lines, ["FROM_CONFIG=yes", "ONLY=x"], "{output:?}");
}

#[test]
fn stdin_piped_null_and_a_file() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut child = jail
        .command("/usr/bin/cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"through the jail\n")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.stdout, b"through the jail\n");

    let output = jail
        .command("/usr/bin/cat")
        .stdin(Stdio::null())
        .output()
        .expect("spawn");
    assert_eq!(output.stdout, b"");
    assert!(output.status.success());

    let out_path = tree.path("hidden/captured");
    let file = std::fs::File::create(&out_path).expect("create");
    let status = sh(&jail, "echo into a file")
        .stdout(file)
        .status()
        .expect("spawn");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&out_path).expect("read"),
        "into a file\n"
    );
}

/// `output()`'s defaults (stdin null, stdout and stderr piped) are for
/// its one run, as with std: `status()` and `spawn()` of the same command
/// afterwards inherit this process's stdout. Checked in a process of its
/// own (this test binary run again for this one test) whose stdout is a
/// file.
#[test]
fn output_defaults_apply_to_its_own_run_only() {
    const LINE: &str = "from the jail";
    if std::env::var_os("SANDBOX_TEST_STDOUT").is_none() {
        let tree = support::Jail::new();
        let stdout = tree.path("hidden/stdout");
        let file = std::fs::File::create(&stdout).expect("create");
        let output = std::process::Command::new(std::env::current_exe().expect("this test"))
            .args([
                "library::output_defaults_apply_to_its_own_run_only",
                "--exact",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("SANDBOX_TEST_STDOUT", "1")
            .stdout(file)
            .output()
            .expect("run the test alone");
        let text = std::fs::read_to_string(&stdout).expect("read");
        assert!(
            output.status.success() && text.contains("1 passed"),
            "{text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Once from status(), once from spawn(); output() captured its own.
        // (The harness's own line may share a line with the first.)
        assert_eq!(text.matches(&format!("{LINE}\n")).count(), 2, "{text}");
        return;
    }
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut command = sh(&jail, &format!("echo {LINE}; exit 6"));
    let output = command.output().expect("spawn");
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{LINE}\n"));
    assert_eq!(output.status.code(), Some(6), "{output:?}");
    let status = command.status().expect("spawn");
    assert_eq!(status.code(), Some(6), "{status}");
    let mut child = command.spawn().expect("spawn");
    assert!(child.stdout.is_none() && child.stderr.is_none() && child.stdin.is_none());
    assert_eq!(child.wait().expect("wait").code(), Some(6));
}

#[test]
fn ten_megabytes_of_output_are_captured_whole() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    const SIZE: usize = 10 * 1024 * 1024;
    let output = sh(&jail, &format!("yes abcdefghi | head -c {SIZE}"))
        .output()
        .expect("spawn");
    assert_eq!(output.stdout.len(), SIZE, "{:?}", output.status);
    assert!(output.stdout.starts_with(b"abcdefghi\nabcdefghi\n"));
    assert!(output.status.success());
}

#[test]
fn spawn_id_try_wait_and_wait() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut child = sh(&jail, "read line; exit 7")
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(child.id() > 0);
    assert!(
        std::path::Path::new(&format!("/proc/{}", child.id())).exists(),
        "the jail's process"
    );
    assert_eq!(child.try_wait().expect("try_wait"), None);
    // wait closes stdin first, so `read` ends.
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(7));
    assert_eq!(child.try_wait().expect("try_wait"), Some(status.clone()));
    assert_eq!(child.wait().expect("wait again"), status);
}

#[test]
fn kill_ends_the_jail_and_its_program() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let start = Instant::now();
    let mut child = jail
        .command("/usr/bin/sleep")
        .arg("30")
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    assert_eq!(status.sandbox_status().signal(), Some(libc::SIGKILL));
    assert!(start.elapsed() < Duration::from_secs(10));
    // Killing an ended jail is no error, as with std.
    child.kill().expect("kill again");
}

#[test]
fn the_jails_statuses_read_back_as_endings() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "timelimit 0.3\n");
    let status = jail.command(tree.bin("segv")).status().expect("spawn");
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status}");
    let status = sh(&jail, "sleep 5").status().expect("spawn");
    assert!(status.timed_out(), "{status}");
    let output = jail.command(tree.p("hidden/file")).output().expect("spawn");
    assert_eq!(
        output.status.ending().map_err(|failure| failure.status),
        Err(127),
        "{output:?}"
    );
}

#[test]
fn a_pre_sandbox_hook_runs_before_confinement_and_can_open_a_hidden_path() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "passfd 9\n");
    // The wrapper runs confined: it cannot open the hidden file itself.
    let output = sh(&jail, &tree.expand("cat {hidden}/file; exec cat <&9"))
        .output()
        .expect("spawn");
    assert_eq!(output.stdout, b"", "{output:?}");
    assert!(!output.status.success());
    let hidden = std::ffi::CString::new(tree.p("hidden/file")).expect("path");
    let mut command = sh(&jail, "cat <&9");
    // SAFETY: open and dup2 are async-signal-safe; the path was made
    // before the fork; nothing allocates.
    unsafe {
        command.pre_sandbox(move || {
            let fd = libc::open(hidden.as_ptr(), libc::O_RDONLY);
            if fd < 0 || libc::dup2(fd, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("spawn");
    assert_eq!(output.stdout, b"secret\n", "{output:?}");
}

/// Hooks run in the order they were added, in the child, after its
/// stdio is set: each writes its number to a pipe the test reads, and
/// the last one a line on the program's stdout, before the program's.
#[test]
fn pre_sandbox_hooks_run_in_order_after_stdio_is_set() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    let writer = std::sync::Arc::new(std::os::fd::OwnedFd::from(writer));
    let mut command = sh(&jail, "echo program");
    for mark in [b"1", b"2", b"3"] {
        let writer = writer.clone();
        // SAFETY: write is async-signal-safe; nothing allocates.
        unsafe {
            command.pre_sandbox(move || {
                use std::os::fd::AsRawFd;
                if libc::write(writer.as_raw_fd(), mark.as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                if mark == b"3" && libc::write(1, b"hook\n".as_ptr().cast(), 5) != 5 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let output = command.output().expect("spawn");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hook\nprogram\n");
    assert!(output.status.success(), "{output:?}");
    // The hooks hold the write end as long as the command lives.
    drop(command);
    drop(writer);
    let mut marks = String::new();
    reader.read_to_string(&mut marks).expect("read");
    assert_eq!(marks, "123");
}

#[test]
fn a_failing_pre_sandbox_hook_is_the_spawn_error() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut command = jail.command("/bin/true");
    // SAFETY: the hook only returns an error built from a number.
    unsafe {
        command.pre_sandbox(|| Err(std::io::Error::from_raw_os_error(libc::EDOM)));
    }
    let error = command.spawn().expect_err("the hook fails");
    assert_eq!(error.raw_os_error(), Some(libc::EDOM));
}

#[test]
fn into_std_gives_a_plain_command_that_runs_in_the_jail() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut command: std::process::Command = sh(
        &jail,
        &tree.expand("cat {hidden}/file || echo hidden; exit 5"),
    )
    .into();
    let output = command.output().expect("spawn");
    assert_eq!(output.stdout, b"hidden\n");
    let status = sandbox::ExitStatus::from_sandbox(output.status);
    assert_eq!(status.code(), Some(5));
    let output = sh(&jail, "echo fallible; exit 6")
        .try_into_std()
        .expect("a std command")
        .output()
        .expect("spawn");
    assert_eq!(output.stdout, b"fallible\n");
    assert_eq!(output.status.code(), Some(6));
    let error = Jail::from_config_str("see /usr\n", "x")
        .expect("a jail")
        .with_binary("/nonexistent/sandbox")
        .command("/bin/true")
        .try_into_std()
        .expect_err("no binary");
    assert!(matches!(error, sandbox::Error::Binary(_)), "{error:?}");
}

/// A std Command keeps the report of its runs through its reader: the
/// exact status (a program's own 124 is its own) and each denial, one run
/// at a time.
#[test]
fn into_std_with_report_gives_each_runs_report() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut jailed = sh(
        &jail,
        &tree.expand("/usr/bin/cat {hidden}/file || echo hidden; exit 124"),
    );
    // Nothing from the test's environment (cargo's library paths) to
    // look for.
    jailed.env_clear();
    let (mut command, reader) = jailed.into_std_with_report().expect("a std command");
    let output = command.output().expect("spawn");
    assert_eq!(output.stdout, b"hidden\n");
    assert_eq!(output.status.code(), Some(124));
    let (status, report) = reader.read(output.status);
    assert_eq!(status.code(), Some(124), "{status}");
    assert!(!status.timed_out());
    assert_eq!(report.status, Status::RuntimeError, "{report:?}");
    assert_eq!(report.denials.len(), 1, "{report:?}");
    assert_eq!(
        report.denials[0].allow,
        Some(format!("see {}", tree.p("hidden/file")))
    );
    // The next run's report is its own: one denial, not two.
    let mut child = command.stdout(Stdio::piped()).spawn().expect("spawn");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let (status, report) = reader.read(child.wait().expect("wait"));
    assert_eq!(out, "hidden\n");
    assert_eq!(status.code(), Some(124), "{status}");
    assert_eq!(report.denials.len(), 1, "{report:?}");
    assert_eq!(report.denial_count, 1, "{report:?}");
    // Killed before it could write its exit record: read from the status.
    let mut sleep = jail.command("/usr/bin/sleep");
    sleep.arg("30");
    let (mut command, reader) = sleep.into_std_with_report().expect("a std command");
    let mut child = command.spawn().expect("spawn");
    child.kill().expect("kill");
    let (status, report) = reader.read(child.wait().expect("wait"));
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    assert_eq!(report.status, Status::Signal, "{report:?}");
    // A broken command says why, as spawn would.
    let error = Jail::from_config_str("see /usr\n", "x")
        .expect("a jail")
        .with_binary("/nonexistent/sandbox")
        .command("/bin/true")
        .into_std_with_report()
        .expect_err("no binary");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn tokio_runs_the_std_command() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let command = sh(&jail, "echo async; exit 4").into_std();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let output = runtime
        .block_on(async { tokio::process::Command::from(command).output().await })
        .expect("spawn");
    assert_eq!(output.stdout, b"async\n");
    assert_eq!(
        sandbox::ExitStatus::from_sandbox(output.status).code(),
        Some(4)
    );
}

#[test]
fn errors_are_typed_never_panics() {
    let error = Jail::from_config_str("see /usr\nbogus line\n", "x").expect_err("bad config");
    assert!(matches!(error, sandbox::Error::Config(_)), "{error:?}");
    assert!(error.to_string().starts_with("<string>:2"), "{error}");
    let jail = Jail::from_config_str("see /usr\n", "x")
        .expect("a jail")
        .with_binary("/nonexistent/sandbox");
    let error = jail.command("/bin/true").output().expect_err("no binary");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    let typed = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<sandbox::Error>());
    assert!(matches!(typed, Some(sandbox::Error::Binary(_))), "{error}");
    assert!(
        error.to_string().contains("/nonexistent/sandbox"),
        "{error}"
    );
    // A jail whose program is not in it: a status, not an error.
    let jail = Jail::from_config_str("see /usr\n", "x")
        .expect("a jail")
        .with_binary(SANDBOX);
    let status = jail
        .command("/nonexistent/program")
        .status()
        .expect("spawn");
    assert!(status.ending().is_err(), "{status}");
}

/// The host's own children are its own: 16 threads run jails while the
/// host waits for children it started itself, and each wait gets its
/// child's status (a `waitpid(-1)` anywhere would steal some).
#[test]
fn jails_on_sixteen_threads_leave_the_hosts_children_to_their_owner() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut host_children: Vec<(i32, std::process::Child)> = (0..4)
        .map(|code| {
            let child = std::process::Command::new("/bin/sh")
                .args(["-c", &format!("sleep 1; exit {}", 10 + code)])
                .spawn()
                .expect("a host child");
            (10 + code, child)
        })
        .collect();
    std::thread::scope(|scope| {
        for thread in 0..16 {
            let jail = &jail;
            scope.spawn(move || {
                for round in 0..3 {
                    let code = 10 + (thread * 3 + round) % 50;
                    let output = sh(jail, &format!("echo {thread}.{round}; exit {code}"))
                        .output()
                        .expect("spawn");
                    assert_eq!(
                        String::from_utf8_lossy(&output.stdout),
                        format!("{thread}.{round}\n")
                    );
                    assert_eq!(output.status.code(), Some(code), "{output:?}");
                }
            });
        }
    });
    for (code, child) in &mut host_children {
        let status = child.wait().expect("the host reaps its own child");
        assert_eq!(status.code(), Some(*code));
    }
}

/// `Jail::run` runs the jail in a `sandbox` process of its own: a child
/// the host started itself, which ends while the jail runs, is still the
/// host's to reap (a tracer in this process, waiting with `waitpid(-1)`,
/// would take it).
#[test]
fn jail_run_leaves_the_hosts_children_to_their_owner() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut host_child = std::process::Command::new("/bin/sh")
        .args(["-c", "exit 9"])
        .spawn()
        .expect("a host child");
    let script = tree.expand("sleep 0.5; echo ran > {jail}/out; exit 4");
    let ending = jail
        .run(&["/bin/sh".into(), "-c".into(), script.into()])
        .expect("run");
    assert_eq!(ending, sandbox::Ending::Exited(4));
    assert_eq!(
        std::fs::read_to_string(tree.path("jail/out")).expect("the program's file"),
        "ran\n"
    );
    let status = host_child.wait().expect("the host reaps its own child");
    assert_eq!(status.code(), Some(9));

    // The config's program when none is given.
    let jail = jail_with(&tree, "program /usr/bin/false\narg false\n");
    assert_eq!(jail.run(&[]).expect("run"), sandbox::Ending::Exited(1));
    // What the jail could not run is a typed error with its status and
    // message.
    let error = jail
        .run(&[tree.p("hidden/file").into()])
        .expect_err("not visible");
    let sandbox::Error::Jail(failure) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(failure.status, 127);
    assert!(error.to_string().contains("not visible"), "{error}");
    assert_eq!(error.exit_status(), 127);
    // A jail without text cannot go through the binary: it says what to
    // use instead.
    let config = sandbox::Config::parse(std::path::Path::new("x.conf"), "see /usr\n", "x")
        .expect("a config");
    let error = Jail::from_config(config)
        .expect("a jail")
        .with_binary(SANDBOX)
        .run(&["/bin/true".into()])
        .expect_err("no text");
    assert!(matches!(error, sandbox::Error::Usage(_)), "{error:?}");
}

/// Descriptors are counted in a process of their own (this test binary
/// run again for this one test): other tests' threads open and close
/// descriptors at any time.
#[test]
fn dropping_a_child_leaves_no_descriptor_behind() {
    if std::env::var_os("SANDBOX_TEST_ALONE").is_none() {
        let output = std::process::Command::new(std::env::current_exe().expect("this test"))
            .args([
                "library::dropping_a_child_leaves_no_descriptor_behind",
                "--exact",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("SANDBOX_TEST_ALONE", "1")
            .output()
            .expect("run the test alone");
        assert!(
            output.status.success() && String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let open = || -> Vec<String> {
        let mut links: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .expect("fds")
            .flatten()
            .map(|entry| {
                let link = std::fs::read_link(entry.path()).unwrap_or_default();
                format!(
                    "{} -> {}",
                    entry.file_name().to_string_lossy(),
                    link.display()
                )
            })
            .collect();
        links.sort();
        links
    };
    let before = open();
    for _ in 0..3 {
        let mut child = sh(&jail, "echo x")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut out = String::new();
        child
            .stdout
            .as_mut()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        child.wait().expect("wait");
        drop(child);
        sh(&jail, "exit 0").output().expect("spawn");
    }
    // read_dir's own descriptor differs between the two listings.
    let after = open();
    let added: Vec<_> = after.iter().filter(|fd| !before.contains(fd)).collect();
    assert!(added.len() <= 1, "left open: {added:?}");
    // No thread either.
    let threads = std::fs::read_dir("/proc/self/task").expect("tasks").count();
    assert_eq!(
        threads,
        1 + usize::from(std::thread::current().name() != Some("main"))
    );
}

#[test]
fn the_cli_reads_a_config_from_a_descriptor_and_names_it_in_messages() {
    let output = std::process::Command::new(SANDBOX)
        .args([
            "--config-fd",
            "97",
            "--config-name",
            "my.conf",
            "test",
            "/bin/true",
        ])
        .output()
        .expect("run sandbox");
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("my.conf (descriptor 97)"), "{stderr}");
    for bad in [&["--config-fd"][..], &["--config-fd", "x", "test"]] {
        let output = std::process::Command::new(SANDBOX)
            .args(bad)
            .output()
            .expect("run sandbox");
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn the_report_says_how_runs_ended() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "timelimit 0.5\n");
    let report = sh(&jail, "exit 3")
        .spawn()
        .expect("spawn")
        .wait_report()
        .expect("wait");
    assert_eq!(report.version, sandbox::report::VERSION);
    assert_eq!(report.status, Status::RuntimeError, "{report:?}");
    assert_eq!((report.exit_code, report.signal), (Some(3), None));
    assert!(
        report.wall_time > 0.0 && report.wall_time < 10.0,
        "{report:?}"
    );
    assert!(report.peak_rss > 100_000, "{report:?}");
    assert_eq!(report.tasks, 1, "{report:?}");

    let report = jail
        .command(tree.bin("segv"))
        .spawn()
        .expect("spawn")
        .wait_report()
        .expect("wait");
    assert_eq!(report.status, Status::Signal, "{report:?}");
    assert_eq!(
        (report.exit_code, report.signal),
        (None, Some(libc::SIGSEGV))
    );

    let output = jail.command(tree.bin("busy")).output().expect("spawn");
    assert!(output.status.timed_out(), "{output:?}");
    assert_eq!(output.report.status, Status::TimedOut);
    // The busy loop spun in user mode (for what share of the half second
    // the machine gave it).
    assert!(output.report.user_time > 0.02, "{:?}", output.report);
    assert!(output.report.wall_time >= 0.5, "{:?}", output.report);

    let output = sh(&jail, "exit 0").output().expect("spawn");
    assert_eq!(output.report.status, Status::Ok);
    assert!(output.status.success());
}

/// With the report the jail's statuses are no longer ambiguous: a
/// program's own 124, 125 or 2 is its own.
#[test]
fn a_programs_own_exit_status_is_never_mistaken_for_the_jails() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    for code in [2, 78, 124, 125, 126, 127, 130, 139] {
        let status = sh(&jail, &format!("exit {code}")).status().expect("spawn");
        assert_eq!(status.code(), Some(code), "{status}");
    }
}

#[test]
fn the_report_lists_each_denial_with_the_line_that_would_allow_it() {
    let tree = support::Jail::new();
    // The static C library reads its own /proc/self/exe.
    let jail = jail_with(&tree, "see /proc/self/exe\n");
    let mut command = jail.command(tree.bin("probe"));
    for (index, name) in ["file", "dir", "a", "b", "c"].iter().enumerate() {
        if index > 0 {
            command.arg("+");
        }
        command.args(["open", &tree.p(&format!("hidden/{name}")), "rdonly"]);
    }
    let output = command.output().expect("spawn");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ENOENT\n".repeat(5),
        "{output:?}"
    );
    let report = &output.report;
    assert_eq!(report.denial_count, 5, "{report:#?}");
    assert_eq!(report.denials.len(), 5);
    for (denial, name) in report.denials.iter().zip(["file", "dir", "a", "b", "c"]) {
        let path = tree.p(&format!("hidden/{name}"));
        assert_eq!(denial.kind, "see");
        assert!(denial.syscall.starts_with("open"), "{denial:?}");
        assert_eq!(denial.path.as_deref(), Some(path.as_str()));
        assert_eq!(denial.canonical.as_deref(), Some(path.as_str()));
        assert_eq!(denial.errno.as_deref(), Some("ENOENT"));
        assert_eq!(denial.allow, Some(format!("see {path}")));
        assert!(denial.pid > 0);
    }
    assert!(
        report
            .denials
            .windows(2)
            .all(|pair| pair[0].time <= pair[1].time)
    );
}

#[test]
fn the_report_counts_the_tasks_started() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let output = sh(&jail, "/usr/bin/true; /usr/bin/true; exit 0")
        .output()
        .expect("spawn");
    assert_eq!(output.report.tasks, 3, "{:?}", output.report);
}

#[test]
fn a_jail_error_is_in_the_status_and_the_report() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let output = jail.command(tree.p("hidden/file")).output().expect("spawn");
    assert_eq!(output.report.status, Status::JailError);
    let message = output.report.error.clone().unwrap_or_default();
    assert!(message.contains("not visible"), "{message}");
    let failure = output.status.ending().expect_err("a jail failure");
    assert_eq!(failure.status, 127);
    assert_eq!(failure.message.as_deref(), Some(message.as_str()));
    assert_eq!(output.status.to_string(), format!("jail failed: {message}"));
}

#[test]
fn a_killed_jail_still_gives_a_report() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let mut child = jail
        .command("/usr/bin/sleep")
        .arg("30")
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(100));
    child.kill().expect("kill");
    let report = child.wait_report().expect("wait");
    assert_eq!(report.status, Status::Signal);
    assert_eq!(report.signal, Some(libc::SIGKILL));
}

#[test]
fn the_cli_writes_the_report_to_a_new_file_outside_every_write_tree() {
    let mut tree = support::Jail::new();
    let report = tree.path("hidden/run.jsonl");
    tree.add_config(&format!(
        "see /proc/self/exe\nreportfile {}\n",
        report.display()
    ));
    let out = tree.probe("open {hidden}/file rdonly");
    out.assert_code(0);
    let text = std::fs::read_to_string(&report).expect("the report file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(r#"{"type":"deny","version":1,"#),
        "{text}"
    );
    assert!(
        lines[1].starts_with(r#"{"type":"exit","version":1,"#),
        "{text}"
    );
    let parsed = sandbox::RunReport::from_json_lines(&text).expect("an exit record");
    assert_eq!(parsed.status, Status::Ok);
    assert_eq!(parsed.denials.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&report)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Created new: a second run refuses, and runs nothing.
    let out = tree.probe("open {hidden}/file rdonly");
    out.assert_code(78)
        .assert_stderr_contains("cannot create it: file exists");
    assert_eq!(out.stdout, "");
    // Never inside a write tree, nor through a symlink.
    tree.set_config("see {bin}\nsee {jail}\nwrite {jail}\nreportfile {jail}/run.jsonl\n");
    tree.probe("open {jail}/file rdonly")
        .assert_code(78)
        .assert_stderr_contains("lies inside a `write` tree");
    let link = tree.path("hidden/link.jsonl");
    std::os::unix::fs::symlink(tree.path("hidden/target"), &link).expect("symlink");
    tree.set_config(&format!("see {{bin}}\nreportfile {}\n", link.display()));
    tree.probe("exit 0").assert_code(78);
    assert!(!tree.path("hidden/target").exists());
}

#[test]
fn the_cli_refuses_a_report_descriptor_it_cannot_write() {
    let mut tree = support::Jail::new();
    tree.add_config("reportfd 7\n");
    let out = tree
        .cmd(&[tree.bin("probe"), "exit".into(), "0".into()])
        .extra_fd(7, &tree.path("ro/file"))
        .run();
    out.assert_code(78)
        .assert_stderr_contains("open for reading only");
    let out = tree
        .cmd(&[tree.bin("probe"), "exit".into(), "0".into()])
        .run();
    out.assert_code(78).assert_stderr_contains("is not open");
}

/// A tree whose config runs the Python REPL driver as a session.
fn python_session_config(tree: &support::Jail, comment: &str) -> String {
    let driver =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repl/python_repl.py");
    std::fs::copy(&driver, tree.path("bin/python_repl.py")).expect("copy the driver");
    tree.expand(&format!(
        "# {comment}\nsee /usr\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\nsee /etc/python3.11\n\
         see {{bin}}\nsee {{jail}}\nwrite {{jail}}\nchdir {{jail}}\nwakeup\nsockdir {}\nclearenv\n\
         program /usr/bin/python3\narg python3\narg {{bin}}/python_repl.py\ntimelimit 20\n",
        tree.path("sock").display()
    ))
}

#[test]
fn a_library_session_keeps_its_state_and_is_the_command_lines() {
    let tree = support::Jail::bare();
    let text = python_session_config(&tree, "a session");
    std::fs::write(tree.config_path(), &text).expect("write the config");
    let jail = Jail::load(&tree.config_path(), "py")
        .expect("the config")
        .with_binary(SANDBOX);
    let session = jail.session("py");
    let first = session.send(b"x = 41\n").expect("send");
    assert!(first.status.success(), "{first:?}");
    assert_eq!(first.stdout, b"");
    let second = session.send(b"print(x + 1)\n").expect("send");
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "42\n",
        "{second:?}"
    );
    // `sandbox <config> py` reaches the same session.
    let mut cli = std::process::Command::new(SANDBOX)
        .arg(tree.config_path())
        .arg("py")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sandbox");
    cli.stdin
        .take()
        .expect("stdin")
        .write_all(b"print(x)\n")
        .expect("write");
    let output = cli.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "41\n");
    session.kill().expect("kill");
    let fresh = session.send(b"print(x)\n").expect("send");
    assert!(
        String::from_utf8_lossy(&fresh.stderr).contains("NameError"),
        "{fresh:?}"
    );
    session.kill().expect("kill");
    session.kill().expect("killing no session is fine");
}

#[test]
fn sessions_of_two_configs_in_code_do_not_end_each_other() {
    let tree = support::Jail::bare();
    let one = Jail::from_config_str(&python_session_config(&tree, "one"), "")
        .expect("a jail")
        .with_binary(SANDBOX)
        .session("bot");
    let two = Jail::from_config_str(&python_session_config(&tree, "two"), "")
        .expect("a jail")
        .with_binary(SANDBOX)
        .session("bot");
    one.send(b"x = 1\n").expect("send");
    two.send(b"x = 2\n").expect("send");
    let output = one.send(b"print(x)\n").expect("send");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1\n", "{output:?}");
    let output = two.send(b"print(x)\n").expect("send");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2\n", "{output:?}");
    one.kill().expect("kill");
    two.kill().expect("kill");
}

#[test]
fn a_session_needs_wakeup_and_a_run_needs_none() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let error = jail.session("x").send(b"hi\n").expect_err("no wakeup");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let jail = Jail::from_config_str(&python_session_config(&tree, "x"), "")
        .expect("a jail")
        .with_binary(SANDBOX);
    let error = jail.command("/bin/true").spawn().expect_err("wakeup");
    assert!(error.to_string().contains("Jail::session"), "{error}");
}

/// A session's commands are not reported yet: the config is refused,
/// naming its report line, from the library and from the command line,
/// and nothing runs.
#[test]
fn a_session_with_a_report_is_refused_naming_the_line() {
    let tree = support::Jail::bare();
    let report = tree.path("report.jsonl");
    let text = format!(
        "{}reportfile {}\n",
        python_session_config(&tree, "reported"),
        report.display()
    );
    let line = text.lines().count();
    let error = Jail::from_config_str(&text, "").expect_err("refused");
    assert!(matches!(error, sandbox::Error::Config(_)), "{error:?}");
    assert!(
        error.to_string().starts_with(&format!(
            "<string>:{line}:1: `reportfile` does not work with `wakeup` yet"
        )),
        "{error}"
    );
    std::fs::write(tree.config_path(), &text).expect("write the config");
    let output = std::process::Command::new(SANDBOX)
        .arg(tree.config_path())
        .arg("py")
        .stdin(Stdio::null())
        .output()
        .expect("run sandbox");
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:{line}:1: `reportfile` does not work with `wakeup` yet",
            tree.config_path().display()
        )),
        "{stderr}"
    );
    assert!(!report.exists());
}

/// The eval bot example, run as a test: many evaluations at once on one
/// runtime, each ending as it should, output capped.
#[cfg(feature = "tokio")]
#[allow(dead_code)]
#[path = "../../examples/evalbot.rs"]
mod evalbot;

#[cfg(feature = "tokio")]
#[test]
fn the_evalbot_example_runs_many_evaluations_at_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // The example finds the binary itself, one level above this test's
    // deps/ directory, as it does above examples/.
    let jail = std::sync::Arc::new(evalbot::python_jail().expect("the example's jail"));
    let started = Instant::now();
    let results = runtime.block_on(evalbot::evaluate_all(jail, evalbot::SNIPPETS));
    let evaluations: Vec<evalbot::Evaluation> = results
        .into_iter()
        .map(|result| result.expect("an evaluation"))
        .collect();
    let statuses: Vec<Status> = evaluations.iter().map(|e| e.report.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Ok,
            Status::Ok,
            Status::TimedOut,
            Status::Signal,
            Status::RuntimeError,
            Status::Signal
        ],
        "{evaluations:#?}"
    );
    assert_eq!(evaluations[0].output, "42\n");
    assert_eq!(evaluations[1].output, "False\n");
    assert!(
        evaluations[1]
            .report
            .denials
            .iter()
            .any(|denial| denial.allow.as_deref() == Some("see /etc/passwd")),
        "{:?}",
        evaluations[1].report
    );
    assert!(evaluations[3].truncated);
    assert_eq!(evaluations[3].output.len(), evalbot::OUTPUT_CAP);
    assert!(evaluations[4].output.contains("ZeroDivisionError"));
    assert_eq!(evaluations[5].report.signal, Some(libc::SIGSEGV));
    // At once: the two-second time limit is paid once, not per snippet.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[cfg(feature = "tokio")]
#[test]
fn wait_async_waits_on_the_runtime_and_refuses_without_one() {
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime.block_on(async {
        let mut children: Vec<sandbox::Child> = (0..4)
            .map(|code| {
                sh(&jail, &format!("sleep 0.2; exit {code}"))
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let mut codes = Vec::new();
        for child in &mut children {
            codes.push(child.wait_async().await.expect("wait").code());
        }
        assert_eq!(codes, [Some(0), Some(1), Some(2), Some(3)]);
        children[0].wait_report_async().await.expect("report")
    });
    assert_eq!(report.status, Status::Ok);
    // Polled outside a tokio runtime: an error, not tokio's panic.
    let mut child = sh(&jail, "exit 0").spawn().expect("spawn");
    let error = futures_lite_block_on(child.wait_async()).expect_err("no runtime");
    assert!(error.to_string().contains("tokio runtime"), "{error}");
    child.wait().expect("wait");
}

/// Polls a future to its end on this thread, with no runtime around it.
#[cfg(feature = "tokio")]
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A kernel that refuses the jail ptrace, or a seccomp filter of its own
/// (here a seccomp filter the host installs in the child before the jail
/// starts, as a jail run inside another jail meets): a jail error with
/// the kernel's reason, in the status and the report, never a panic.
#[test]
fn a_kernel_that_refuses_ptrace_or_seccomp_gives_a_jail_error() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("SKIPPED: the test's filter is written for x86_64");
        return;
    }
    let tree = support::Jail::new();
    let jail = jail_with(&tree, "");
    for (refused, name) in [(libc::SYS_ptrace, "ptrace"), (libc::SYS_seccomp, "seccomp")] {
        let output = run_with_refused_syscall(&jail, refused);
        assert_eq!(output.report.status, Status::JailError, "{output:?}");
        let failure = output.status.ending().expect_err("a jail failure");
        assert_eq!(failure.status, 125, "{output:?}");
        let message = failure.message.clone().unwrap_or_default();
        assert!(message.contains(name), "{message}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(&message),
            "{output:?}"
        );
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }
}

/// A jail run inside a jail: the inner `sandbox` cannot trace its
/// program (jails do not nest) and says so with the jail's status, which
/// the outer jail reports as its program's own exit.
#[test]
fn a_jail_inside_a_jail_is_a_jail_error_not_a_panic() {
    let tree = support::Jail::new();
    let inner = tree.path("jail/inner.conf");
    std::fs::write(&inner, "see /usr\nsee /lib\nsee /lib64\nsee /bin\n").expect("write");
    let jail = jail_with(&tree, &format!("see {SANDBOX}\n"));
    let output = jail
        .command(SANDBOX)
        .arg(&inner)
        .args(["x", "/bin/true"])
        .env_clear()
        .output()
        .expect("spawn");
    assert_eq!(output.status.code(), Some(125), "{output:?}");
    assert_eq!(output.report.status, Status::RuntimeError, "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("sandbox: "), "{stderr}");
    assert!(
        stderr.contains("ptrace: operation not permitted"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs /bin/true in `jail` with `refused` failing with EPERM in the
/// `sandbox` process and everything it starts (a filter installed by a
/// `pre_sandbox` hook).
fn run_with_refused_syscall(jail: &Jail, refused: libc::c_long) -> sandbox::Output {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let load = |offset: u32| libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k: offset,
    };
    let jump_eq = |value: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k: value,
    };
    let ret = |value: u32| libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: value,
    };
    // seccomp_data: nr at 0, arch at 4.
    let program: Vec<libc::sock_filter> = vec![
        load(4),
        jump_eq(AUDIT_ARCH_X86_64, 1, 0),
        ret(libc::SECCOMP_RET_ALLOW),
        load(0),
        jump_eq(refused as u32, 0, 1),
        ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        ret(libc::SECCOMP_RET_ALLOW),
    ];
    let program = std::sync::Arc::new(program);
    let mut command = jail.command("/bin/true");
    // SAFETY: prctl and seccomp are async-signal-safe; the program was
    // built before the fork; nothing allocates.
    unsafe {
        command.pre_sandbox(move || {
            let fprog = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &fprog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().expect("spawn")
}

/// `examples/minimal.rs`, as README shows it: built by `cargo test` next
/// to the test binaries' directory, it finds the `sandbox` binary one
/// directory up, runs `/bin/sh` in the jail and prints the output, how
/// it ended and what the jail refused.
#[test]
fn the_minimal_example_runs_and_says_what_was_denied() {
    let sandbox = std::path::Path::new(crate::support::SANDBOX);
    let example = sandbox
        .parent()
        .expect("the binary's directory")
        .join("examples/minimal");
    if !example.exists() {
        crate::support::skip(&format!("{} is not built", example.display()));
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = std::process::Command::new(&example)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"hello from the jail"), "{stdout}");
    assert!(lines.contains(&"exit status: 3"), "{stdout}");
    assert!(
        lines.contains(&"denied: openat /etc/passwd (ENOENT), allowed by `see /etc/passwd`"),
        "{stdout}"
    );
}
