//! Issue 16: `syscall` allow and deny lines, `cputime`, `outputlimit`,
//! `maxmemory`, and who the program runs as (`user`, `group`, `groups`,
//! `caps`).

use crate::support::{Jail, Want};

/// A tree where the system's `/bin/echo` (and its libraries) run.
fn system_tree(extra: &str) -> Jail {
    let mut j = Jail::new();
    j.add_config("see /usr\nsee /lib\nsee /lib64\nsee /bin\nsee /etc/ld.so.cache\n");
    j.add_config(extra);
    j
}

/// What `/bin/echo` (GNU coreutils, glibc) needs, and no more: go-jail's
/// example, with this architecture's names.
const ECHO_NEEDS: &str = "read,write,close,fstat,newfstatat,mmap,mprotect,munmap,brk,pread64,\
access,execve,arch_prctl,futex,set_tid_address,set_robust_list,rseq,prlimit64,getrandom,\
openat,exit_group";

#[test]
fn an_allow_list_just_large_enough_for_echo_prints_its_line() {
    let j = system_tree(&format!("syscall allow {ECHO_NEEDS}\n"));
    let out = j
        .cmd(&["/bin/echo", "just enough system calls for echo to succeed"])
        .run();
    out.assert_code(0)
        .assert_stdout("just enough system calls for echo to succeed\n");
}

#[test]
fn deny_write_makes_echo_exit_1() {
    let j = system_tree("syscall deny write\n");
    let out = j.cmd(&["/bin/echo", "hi"]).run();
    out.assert_code(1).assert_stdout("");
}

#[test]
fn a_deny_list_with_a_chosen_errno_is_what_the_program_sees() {
    // getcwd runs natively (the filter refuses it); openat stops for the
    // tracer (which refuses it before looking at the path).
    let mut j = Jail::new();
    j.add_config("syscall deny getcwd,openat ENOSPC\n");
    j.check(&[
        ("getcwd", Want::is("ENOSPC")),
        ("open {jail}/file rdonly", Want::is("ENOSPC")),
        ("open {hidden}/file rdonly", Want::is("ENOSPC")),
        ("getpid", Want::Ok),
        // The jail's own refusals keep their errno.
        ("fsopen", Want::is("EPERM")),
    ]);
}

#[test]
fn kill_lines_kill_with_sigsys_also_at_a_stop_and_report_says_which() {
    for (extra, call) in [
        ("syscall deny getcwd kill\n", "getcwd"),
        ("syscall deny openat kill\n", "open {jail}/file rdonly"),
        ("syscall deny getcwd kill\nreport\n", "getcwd"),
        (
            "syscall deny openat kill\nreport\n",
            "open {jail}/file rdonly",
        ),
    ] {
        let mut j = Jail::new();
        j.add_config(extra);
        let words: Vec<&str> = call.split(' ').collect();
        let out = j.probe(&words.join(" "));
        out.assert_code(128 + libc::SIGSYS)
            .assert_stderr_contains("[Bad system call]");
        assert_eq!(
            out.stderr.contains("[Syscall "),
            extra.contains("report"),
            "{extra}{}",
            out.describe()
        );
    }
}

#[test]
fn the_first_exec_passes_lines_that_refuse_execve_and_later_ones_do_not() {
    let mut j = Jail::new();
    j.add_config("syscall deny execve,execveat\n");
    j.check(&[
        ("getpid", Want::Ok),
        ("exec {bin}/probe probe getpid", Want::is("EPERM")),
    ]);
}

#[test]
fn a_missing_program_is_still_not_found_when_write_is_denied() {
    let j = system_tree("syscall deny write,exit_group\n");
    let out = j.cmd(&["/bin/no-such-program"]).run();
    out.assert_code(127).assert_stderr_contains("not found");
}

#[test]
fn syscall_line_mistakes_are_config_errors_naming_the_line() {
    for (line, message) in [
        (
            "syscall deny wirte",
            ":10:14: unknown syscall `wirte` on x86_64; did you mean `write`?",
        ),
        (
            "syscall deny write EPREM",
            ":10:20: unknown errno `EPREM` for `syscall`; did you mean `EPERM`?",
        ),
        (
            "syscall allow read,ptrace",
            ":10:20: `syscall allow`: the jail itself refuses `ptrace` (EPERM)",
        ),
    ] {
        let j = system_tree(&format!("{line}\n"));
        let out = j.cmd(&["/bin/echo", "hi"]).run();
        out.assert_code(78).assert_stderr_contains(message);
    }
}

#[test]
fn a_busy_four_thread_program_is_killed_at_cputime() {
    let mut j = Jail::new();
    j.add_config("cputime 2\ntimelimit 20\n");
    let out = j.fixture("busy", &["4"]);
    out.assert_code(123)
        .assert_stderr_contains("[CPU time limit]");
    assert!(!out.stderr.contains("[Timed out]"), "{}", out.describe());
    // Four threads use 2 s of CPU in 0.5 s with four CPUs, in 2 s on one;
    // the wall time only says the limit counted every thread.
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4) as f64;
    let expected = std::time::Duration::from_secs_f64(2.0 / cpus);
    assert!(
        out.elapsed >= expected.mul_f64(0.7) && out.elapsed < std::time::Duration::from_secs(15),
        "cputime 2 with {cpus} CPUs for 4 threads took {:?}\n{}",
        out.elapsed,
        out.describe()
    );
    crate::support::assert_no_leftovers(&j, std::time::Duration::from_secs(2));
}

#[test]
fn cputime_counts_processes_that_ended() {
    // Each child burns about 0.3 s and exits; none alone reaches the
    // limit, together they do.
    let mut j = Jail::new();
    j.add_config(
        "cputime 1\ntimelimit 20\nsee /bin\nsee /usr\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\n",
    );
    let script =
        "i=0; while [ $i -lt 20 ]; do timeout 0.3 {bin}/busy 1; i=$((i+1)); done; echo survived";
    let out = j.cmd(&["/bin/sh", "-c", &j.expand(script)]).run();
    out.assert_code(123)
        .assert_stderr_contains("[CPU time limit]");
    assert!(!out.stdout.contains("survived"), "{}", out.describe());
}

#[test]
fn ten_megabytes_under_outputlimit_give_exactly_the_first_million_bytes() {
    let j = system_tree("outputlimit 1000000\ntimelimit 20\n");
    // 1 to 1500000, one per line: about 10.9 MB.
    let out = j.cmd(&["/usr/bin/seq", "1", "1500000"]).run();
    out.assert_code(122)
        .assert_stderr_contains("[Output limit]");
    let native = std::process::Command::new("/usr/bin/seq")
        .args(["1", "1500000"])
        .output()
        .unwrap();
    assert!(native.stdout.len() > 10_000_000);
    assert_eq!(out.stdout.len(), 1_000_000, "{}", out.stderr);
    assert_eq!(out.stdout.as_bytes(), &native.stdout[..1_000_000]);
    crate::support::assert_no_leftovers(&j, std::time::Duration::from_secs(2));
}

#[test]
fn output_within_outputlimit_passes_whole_with_the_programs_status() {
    let j = system_tree("outputlimit 20\n");
    let out = j
        .cmd(&[
            "/bin/sh",
            "-c",
            "echo 0123456789; echo abcdefghi >&2; exit 3",
        ])
        .run();
    // 11 + 10 bytes would be 21: one too many.
    out.assert_code(122)
        .assert_stderr_contains("[Output limit]");
    assert_eq!(
        out.stdout.len() + out.stderr.len() - "[Output limit]\n".len(),
        20,
        "{}",
        out.describe()
    );
    let j = system_tree("outputlimit 21\n");
    let out = j
        .cmd(&[
            "/bin/sh",
            "-c",
            "echo 0123456789; echo abcdefghi >&2; exit 3",
        ])
        .run();
    out.assert_code(3).assert_stdout("0123456789\n");
    assert_eq!(out.stderr, "abcdefghi\n", "{}", out.describe());
}

#[test]
fn a_program_that_never_writes_past_outputlimit_reads_its_stdin() {
    let j = system_tree("outputlimit 100\n");
    let out = j.cmd(&["/bin/cat"]).stdin(b"through the jail\n").run();
    out.assert_code(0).assert_stdout("through the jail\n");
}

#[test]
fn a_memory_hog_is_stopped_by_maxmemory() {
    let j = system_tree("maxmemory 104857600\ntimelimit 20\n");
    let hog =
        "chunks = []\nfor i in range(100):\n    chunks.append(b'x' * 10**7)\nprint('survived')\n";
    let out = j.cmd(&["/usr/bin/python3", "-c", hog]).run();
    out.assert_code(121)
        .assert_stderr_contains("[Memory limit]");
    assert!(!out.stdout.contains("survived"), "{}", out.describe());
    assert!(
        out.elapsed < std::time::Duration::from_secs(10),
        "{}",
        out.describe()
    );
    // Under the limit the same program runs to its end.
    let fits = "chunks = []\nfor i in range(3):\n    chunks.append(b'x' * 10**7)\nprint('fine')\n";
    let out = j.cmd(&["/usr/bin/python3", "-c", fits]).run();
    out.assert_code(0).assert_stdout("fine\n");
}

#[test]
fn maxmemory_counts_every_process_of_the_tree() {
    // Three processes of 40 MB each: each fits under 100 MB, together
    // they do not.
    let j = system_tree("maxmemory 104857600\ntimelimit 20\nsee /dev/null\n");
    let script = "for i in 1 2 3; do /usr/bin/python3 -c \"x = b'x' * 40000000; import time; time.sleep(8)\" & done; wait; echo survived";
    let out = j.cmd(&["/bin/sh", "-c", script]).run();
    out.assert_code(121)
        .assert_stderr_contains("[Memory limit]");
    assert!(!out.stdout.contains("survived"), "{}", out.describe());
    assert!(
        out.elapsed < std::time::Duration::from_secs(7),
        "{}",
        out.describe()
    );
    crate::support::assert_no_leftovers(&j, std::time::Duration::from_secs(2));
}

/// Root (to change identity) and Landlock (whose keeper hands a program
/// of another user its files) are needed; otherwise the test is skipped.
fn can_change_identity() -> bool {
    if !crate::support::is_root() {
        crate::support::skip("only root can run the program as another user");
        return false;
    }
    if let Err(errno) = sandbox::landlock::abi_version() {
        crate::support::skip(&format!(
            "another user needs Landlock, which this kernel lacks ({errno})"
        ));
        return false;
    }
    true
}

fn nobody() -> (u32, u32) {
    let user = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("the system has a user nobody");
    let group = nix::unistd::Group::from_name("nogroup")
        .unwrap()
        .or_else(|| nix::unistd::Group::from_name("nobody").unwrap())
        .expect("the system has a group nogroup or nobody");
    (user.uid.as_raw(), group.gid.as_raw())
}

#[test]
fn id_under_user_nobody_and_group_nogroup() {
    if !can_change_identity() {
        return;
    }
    let (uid, gid) = nobody();
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .unwrap()
        .unwrap()
        .name;
    let j = system_tree(&format!("user nobody\ngroup {group}\n"));
    for (flag, want) in [("-u", uid), ("-g", gid)] {
        let out = j.cmd(&["/usr/bin/id", flag]).run();
        out.assert_code(0).assert_stdout(&format!("{want}\n"));
    }
    // No supplementary group but the primary one.
    let out = j.cmd(&["/usr/bin/id", "-G"]).run();
    out.assert_code(0).assert_stdout(&format!("{gid}\n"));
    // `user` alone brings the user's primary group.
    let j = system_tree("user nobody\n");
    let out = j.cmd(&["/usr/bin/id", "-u", "-r"]).run();
    out.assert_code(0).assert_stdout(&format!("{uid}\n"));
}

#[test]
fn a_program_of_another_user_writes_its_own_tree_through_the_keeper() {
    if !can_change_identity() {
        return;
    }
    let (uid, gid) = nobody();
    let j = system_tree("user nobody\nsee /dev/null\n");
    nix::unistd::chown(
        &j.path("jail"),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .unwrap();
    let script = j.expand(
        "cd {jail} && echo made > new && mkdir private && chmod 700 private && \
         echo inner > private/f && cat new private/f && ls private && \
         (echo no > {ro}/x) 2>/dev/null || echo refused",
    );
    let out = j.cmd(&["/bin/sh", "-c", &script]).run();
    out.assert_code(0)
        .assert_stdout("made\ninner\nf\nrefused\n");
}

#[test]
fn root_keeps_no_capability_by_default() {
    if !crate::support::is_root() {
        crate::support::skip("only a program started as root has capabilities to drop");
        return;
    }
    let j = system_tree("see /proc/self/status\n");
    let out = j
        .cmd(&[
            "/bin/grep",
            "-E",
            "^Cap(Bnd|Eff|Prm|Amb)",
            "/proc/self/status",
        ])
        .run();
    out.assert_code(0).assert_stdout(
        "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
         CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n",
    );
    // go-jail's example: the bounding set is what the line names.
    let j = system_tree("see /proc/self/status\ncaps CAP_CHOWN,CAP_KILL,CAP_DAC_OVERRIDE\n");
    let out = j
        .cmd(&["/bin/grep", "-E", "^Cap(Bnd|Eff)", "/proc/self/status"])
        .run();
    out.assert_code(0)
        .assert_stdout("CapEff:\t0000000000000023\nCapBnd:\t0000000000000023\n");
}

#[test]
fn chown_to_another_user_needs_cap_chown_in_caps() {
    if !crate::support::is_root() {
        crate::support::skip("only root can chown to another user");
        return;
    }
    let mut j = Jail::new();
    j.check(&[("chown {jail}/file 1 1", Want::is("EPERM"))]);
    j.add_config("caps CAP_CHOWN\n");
    j.check(&[("chown {jail}/file 1 1", Want::Ok)]);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(j.path("jail/file")).unwrap().uid(), 1);
}

#[test]
fn user_is_refused_when_the_jail_is_not_root() {
    use std::os::unix::fs::PermissionsExt;
    let mut j = system_tree("user nobody\n");
    if crate::support::is_root() {
        let user = crate::support::test_user();
        let copy = j.path("sandbox-bin");
        crate::support::copy_executable(crate::support::SANDBOX, &copy);
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        j.sandbox = copy;
        j.wrapper = [
            "setpriv",
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--clear-groups",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
    }
    let out = j.cmd(&["/usr/bin/id"]).run();
    out.assert_code(78).assert_stderr_contains(
        ":10: `user nobody`: only a jail started as root can run the program as another user",
    );
    assert_eq!(out.stdout, "", "nothing ran");
}

#[test]
fn identity_and_caps_mistakes_are_config_errors_naming_the_line() {
    for (line, message) in [
        (
            "user no-such-user-sbx",
            ":10: `user no-such-user-sbx`: no such user in the system's user database",
        ),
        (
            "group no-such-group-sbx",
            ":10: `group no-such-group-sbx`: no such group in the system's group database",
        ),
        (
            "user #4294967295",
            ":10:6: bad number for `user`; expected `#` and a number from 0 to 4294967294",
        ),
        ("groups users,#x", ":10:14: bad number for `groups`"),
        (
            "caps CAP_CHWON",
            ":10:6: unknown capability `CAP_CHWON`; did you mean `CAP_CHOWN`?",
        ),
        (
            "caps CAP_KILL,sys_admn",
            ":10:15: unknown capability `sys_admn`; did you mean `CAP_SYS_ADMIN`?",
        ),
    ] {
        let j = system_tree(&format!("{line}\n"));
        let out = j.cmd(&["/usr/bin/id"]).run();
        out.assert_code(78).assert_stderr_contains(message);
    }
}

#[test]
fn the_library_reads_the_limits_statuses_of_the_binary() {
    use sandbox::Ending;
    use sandbox::command::ExitStatus;
    use std::os::unix::process::ExitStatusExt;
    for (code, ending, shown) in [
        (123, Ending::CpuLimit, "out of CPU time"),
        (122, Ending::OutputLimit, "past the output limit"),
        (121, Ending::MemoryLimit, "past the memory limit"),
    ] {
        let status = ExitStatus::from_sandbox(std::process::ExitStatus::from_raw(code << 8));
        assert_eq!(status.ending(), Ok(ending));
        assert_eq!(status.to_string(), shown);
        assert!(!status.success());
    }
}
