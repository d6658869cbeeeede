//! Path-resolution attacks: relative paths and `..`, symlinks out of the
//! write dir, dirfds, /proc magic links, openat2 resolve flags, component
//! boundaries, write roots, `report` output.

use crate::support::{Jail, Want, Want::*};
use std::fs;

fn assert_ro_untouched(j: &Jail) {
    assert_eq!(fs::read_to_string(j.path("ro/file")).unwrap(), "readonly\n");
    assert_eq!(
        fs::read_to_string(j.path("hidden/file")).unwrap(),
        "secret\n"
    );
}

#[test]
fn relative_dotdot_cannot_reach_etc_passwd() {
    let j = Jail::new();
    j.check(&[
        ("chdir {jail}", Ok),
        ("open ../../../../../../../../etc/passwd rdonly", Hidden),
        ("open ../hidden/file rdonly", Hidden),
        ("open dir/../../hidden/file rdonly", Hidden),
        ("open ../ro/file rdonly", Want::is("ok 9")),
        ("open ../ro/file wronly", Denied),
        ("open ../ro/new wronly creat", Denied),
        ("open file wronly", Ok),
        ("open {jail}/../jail/file wronly", Ok),
        ("open {jail}/../ro/file wronly", Denied),
        ("open {jail}/dir/../../hidden/file rdonly", Hidden),
        ("mkdir ../ro/newdir", Denied),
        ("symlink x ../ro/sl", Denied),
    ]);
    assert_ro_untouched(&j);
    assert!(!j.path("ro/new").exists() && !j.path("ro/newdir").exists());
}

#[test]
fn chdir_into_hidden_dir_is_not_found() {
    let j = Jail::new();
    j.check(&[
        ("chdir {hidden}", Hidden),
        ("fchdir {hidden}", Hidden),
        ("chdir /etc", Hidden),
        ("getcwd", Ok),
    ]);
}

#[test]
fn relative_create_after_fchdir_to_read_only_dir_is_refused() {
    let j = Jail::new();
    j.check(&[
        ("fchdir {ro}", Ok),
        ("open new wronly creat", Denied),
        ("open file wronly", Denied),
        ("unlink file", Denied),
        ("open ../jail/new wronly creat", Ok),
        ("chdir dir", Ok),
        ("open ../file rdwr", Denied),
        ("open ../../hidden/file rdonly", Hidden),
    ]);
    assert_ro_untouched(&j);
    assert!(!j.path("ro/new").exists());
    assert!(j.path("jail/new").exists());
}

#[test]
fn symlink_in_write_dir_to_etc_passwd_is_judged_by_target() {
    let j = Jail::new();
    j.check(&[
        ("symlink /etc/passwd {jail}/lnk", Ok),
        ("readlink {jail}/lnk", Want::is("ok /etc/passwd")),
        ("lstat {jail}/lnk", Ok),
        ("open {jail}/lnk rdonly", Hidden),
        ("stat {jail}/lnk", Hidden),
        ("open {jail}/lnk path", Hidden),
        ("chdir {jail}", Ok),
        ("open lnk rdonly", Hidden),
    ]);
}

#[test]
fn symlink_to_hidden_dir_cannot_create_files_there() {
    let j = Jail::new();
    j.check(&[
        ("symlink {hidden} {jail}/hd", Ok),
        ("open {jail}/hd/file rdonly", Hidden),
        ("open {jail}/hd/new wronly creat", Hidden),
        ("mkdir {jail}/hd/newdir", Hidden),
        ("list {jail}/hd", Hidden),
        ("symlink {hidden}/planted {jail}/dangling", Ok),
        ("open {jail}/dangling wronly creat", Hidden),
        ("symlink ../hidden/file {jail}/rel", Ok),
        ("open {jail}/rel rdonly", Hidden),
        ("symlink {jail}/rel {jail}/chain", Ok),
        ("open {jail}/chain rdonly", Hidden),
    ]);
    assert!(!j.path("hidden/new").exists());
    assert!(!j.path("hidden/newdir").exists());
    assert!(!j.path("hidden/planted").exists());
}

#[test]
fn symlink_to_read_only_file_cannot_be_written_through() {
    let j = Jail::new();
    j.check(&[
        ("symlink {ro}/file {jail}/l", Ok),
        ("open {jail}/l rdonly", Want::is("ok 9")),
        ("open {jail}/l wronly", Denied),
        ("open {jail}/l rdonly trunc", Denied),
        ("truncate {jail}/l 0", Denied),
        ("chmod {jail}/l 777", Denied),
        ("utimensat {jail}/l", Denied),
        ("setxattr {jail}/l user.t pwned", Denied),
        ("symlink {ro} {jail}/rodir", Ok),
        ("open {jail}/rodir/new wronly creat", Denied),
        ("unlink {jail}/rodir/file", Denied),
        ("rename {jail}/rodir/file {jail}/stolen", Denied),
        ("unlink {jail}/l", Ok),
    ]);
    assert_ro_untouched(&j);
    assert!(!j.path("ro/new").exists() && !j.path("jail/stolen").exists());
}

#[test]
fn hard_link_following_symlink_to_read_only_file_is_refused() {
    let j = Jail::new();
    j.check(&[
        ("symlink {ro}/file {jail}/l", Ok),
        ("link {jail}/l {jail}/plainlink", Ok),
        ("linkat_follow {jail}/l {jail}/alias", Denied),
        ("symlink {hidden}/file {jail}/h", Ok),
        ("linkat_follow {jail}/h {jail}/alias2", Hidden),
    ]);
    assert!(!j.path("jail/alias").exists() && !j.path("jail/alias2").exists());
}

#[test]
fn dirfd_relative_dotdot_cannot_escape() {
    let j = Jail::new();
    j.check(&[
        ("openat {jail}/dir ../../hidden/file rdonly", Hidden),
        ("openat {jail}/dir ../../ro/file wronly", Denied),
        ("fstatat {jail} ../hidden/file", Hidden),
        ("mkdirat {ro}/dir ../../jail/made", Ok),
        ("mkdirat {jail}/dir ../../ro/made", Denied),
        ("unlinkat {jail} ../ro/file", Denied),
        ("execveat {jail} ../hidden/file x", Hidden),
    ]);
    assert_ro_untouched(&j);
    assert!(j.path("jail/made").is_dir() && !j.path("ro/made").exists());
}

#[test]
fn proc_self_root_cannot_reach_etc_passwd() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("open /proc/self/root/etc/passwd rdonly", Hidden),
        ("open /proc/thread-self/root/etc/passwd rdonly", Hidden),
        ("open /proc/self/root{hidden}/file rdonly", Hidden),
        ("open /proc/self/root{ro}/file wronly", Denied),
        ("open /proc/self/root{jail}/file rdonly", Want::is("ok 6")),
        (
            "open /proc/self/root/proc/self/root/etc/passwd rdonly",
            Hidden,
        ),
        ("stat /proc/self/root/etc/passwd", Hidden),
    ]);
}

#[test]
fn proc_self_cwd_is_resolved_in_the_callers_cwd() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("chdir {jail}", Ok),
        ("open /proc/self/cwd/../hidden/file rdonly", Hidden),
        ("open /proc/self/cwd/file wronly", Ok),
        ("open /proc/thread-self/cwd/file wronly", Ok),
        ("chdir {ro}", Ok),
        ("open /proc/self/cwd/file wronly", Denied),
        ("open /proc/thread-self/cwd/file wronly", Denied),
        ("open /proc/self/cwd/new wronly creat", Denied),
    ]);
    assert_ro_untouched(&j);
    assert!(!j.path("ro/new").exists());
}

#[test]
fn proc_self_fd_of_read_only_dir_cannot_be_written_through() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("fdpath {ro} file wronly", Denied),
        ("fdpath {ro} new wronly creat", Denied),
        ("fdpath {ro} file rdonly", Want::is("ok 9")),
        ("fdpath {jail} file wronly", Ok),
        ("fdpath {ro} ../hidden/file rdonly", Hidden),
        ("fdpath {jail}/dir ../../ro/file rdwr", Denied),
    ]);
    assert_ro_untouched(&j);
    assert!(!j.path("ro/new").exists());
}

#[test]
fn openat2_in_root_creating_under_read_only_dir_is_refused() {
    // With RESOLVE_IN_ROOT the kernel resolves "{jail}/pwn" inside the dirfd
    // ({ro}), i.e. as {ro}{jail}/pwn. A jail that reads the path as absolute
    // would allow it as a write under {jail}.
    let j = Jail::new();
    let mirror = j.path("ro").join(j.path("jail").strip_prefix("/").unwrap());
    fs::create_dir_all(&mirror).unwrap();
    j.check(&[
        ("openat2 {ro} {jail}/pwn wronly creat in_root", Refused),
        ("openat2 {ro} {jail}/../ro/file rdonly in_root", Hidden),
        ("openat2 {jail} /file rdonly in_root", Want::is("ok 6")),
        ("openat2 {jail} /../../hidden/file rdonly in_root", Hidden),
    ]);
    assert!(
        !mirror.join("pwn").exists(),
        "file created under the read-only tree"
    );
    assert!(
        !j.path("jail/pwn").exists(),
        "file created in the wrong place"
    );
}

#[test]
fn component_boundary_jail_does_not_grant_jail2() {
    let j = Jail::new();
    fs::create_dir(j.path("ro2")).unwrap();
    fs::write(j.path("ro2/file"), "ro2\n").unwrap();
    fs::write(j.path("jailfile"), "x\n").unwrap();
    j.check(&[
        ("open {jail2}/file rdonly", Hidden),
        ("open {jail2}/new wronly creat", Hidden),
        ("mkdir {jail2}/d", Hidden),
        ("stat {jail2}", Hidden),
        ("open {root}/ro2/file rdonly", Hidden),
        ("open {root}/jailfile rdonly", Hidden),
        ("open {root}/jail-new wronly creat", Hidden),
        ("open {root}/sandbox.conf rdonly", Hidden),
    ]);
    assert!(!j.path("jail2/new").exists() && !j.path("jail2/d").exists());
    assert!(!j.path("jail-new").exists());
}

#[test]
fn write_roots_cannot_be_removed_or_renamed() {
    let mut j = Jail::new();
    fs::create_dir(j.path("w2")).unwrap();
    fs::create_dir(j.path("jail/empty")).unwrap();
    j.add_config("see {root}/w2\nwrite {root}/w2\n");
    j.check(&[
        ("rmdir {root}/w2", Refused),
        ("rename {root}/w2 {jail}/moved", Refused),
        ("rename {jail}/empty {root}/w2", Refused),
        ("renameat2 {root}/w2 {jail}/empty exchange", Refused),
        ("rename {jail} {root}/w2/jail", Refused),
        ("chdir {root}/w2", Ok),
        ("rmdir ../w2", Refused),
        ("open {root}/w2/inside wronly creat", Ok),
    ]);
    assert!(j.path("w2").is_dir(), "write root w2 is gone");
    assert!(j.path("w2/inside").exists());
    assert!(j.path("jail/file").exists(), "write root jail was moved");
    assert!(j.path("jail/empty").is_dir());
}

#[test]
fn report_prints_each_denial() {
    let mut j = Jail::new();
    j.add_config("report\n");
    let out = j.probe(
        "open {hidden}/file rdonly + open {ro}/file wronly + symlink /etc/passwd {jail}/lnk + open {jail}/lnk rdonly",
    );
    out.assert_code(0);
    let lines = out.lines();
    assert!(
        lines.len() == 4
            && lines[0] == "ENOENT"
            && (lines[1] == "EACCES" || lines[1] == "EPERM")
            && lines[2] == "ok"
            && lines[3] == "ENOENT",
        "{}",
        out.describe()
    );
    let hidden = j.p("hidden/file");
    let ro = j.p("ro/file");
    let lnk = j.p("jail/lnk");
    out.assert_stderr_contains(&format!("[See {hidden}={hidden}]"))
        .assert_stderr_contains(&format!("[Write {ro}={ro}]"))
        .assert_stderr_contains(&format!("[See {lnk}=/etc/passwd]"));
}

#[test]
fn no_report_without_the_keyword() {
    let j = Jail::new();
    let out = j.probe("open {hidden}/file rdonly + open {ro}/file wronly");
    assert!(
        !out.stderr.contains("[See") && !out.stderr.contains("[Write"),
        "{}",
        out.describe()
    );
}

#[test]
fn proc_pid_root_and_cwd_of_self_and_tracer_stay_jailed() {
    // The tracer (our parent) runs in the test's cwd, the crate root, which
    // is not visible.
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("procpid root/etc/passwd rdonly", Hidden),
        ("procpid root{jail}/file rdonly", Want::is("ok 6")),
        ("chdir {ro}", Ok),
        ("procpid cwd/file wronly", Denied),
        ("procpid cwd/../hidden/file rdonly", Hidden),
        ("procppid cwd/Cargo.toml rdonly", Hidden),
        ("procppid root/etc/passwd rdonly", Hidden),
        (
            "open /proc/1/root/etc/passwd rdonly",
            OneOf(&["ENOENT", "EACCES", "EPERM"]),
        ),
        ("procppid mem rdwr", Refused),
        ("procppid environ wronly", Refused),
    ]);
    assert_ro_untouched(&j);
}

#[test]
fn path_ending_at_an_unmapped_page_is_still_checked() {
    let j = Jail::new();
    j.check(&[
        ("pagepath {hidden}/file rdonly", Hidden),
        ("pagepath /etc/passwd rdonly", Hidden),
        ("pagepath {ro}/file wronly", Denied),
        ("pagepath {jail}/file rdonly", Want::is("ok 6")),
        ("badptr", Want::is("EFAULT")),
    ]);
    assert_ro_untouched(&j);
}

#[test]
fn hard_link_via_proc_fd_or_empty_path_to_read_only_file_is_refused() {
    // linkat("/proc/self/fd/N", AT_SYMLINK_FOLLOW) and linkat(fd, "",
    // AT_EMPTY_PATH) of a read-only file would give a writable alias.
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("fdlink {ro}/file {jail}/alias", Denied),
        ("fdlink_empty {ro}/file {jail}/alias2", Denied),
        ("fdlink {jail}/file {jail}/alias3", Ok),
        ("fdlink_empty {jail}/file {jail}/alias4", Ok),
    ]);
    assert!(!j.path("jail/alias").exists() && !j.path("jail/alias2").exists());
}

#[test]
fn reopening_a_read_only_file_via_proc_fd_for_writing_is_refused() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("reopen {ro}/file wronly", Denied),
        ("reopen {ro}/file rdwr", Denied),
        ("reopen {ro}/file rdonly", Want::is("ok 9")),
        ("reopen {jail}/file wronly", Ok),
    ]);
    assert_ro_untouched(&j);
}

#[test]
fn symlinks_already_in_read_only_tree_are_judged_by_target() {
    let j = Jail::new();
    std::os::unix::fs::symlink(j.path("hidden"), j.path("ro/tohidden")).unwrap();
    std::os::unix::fs::symlink(j.path("jail"), j.path("ro/tojail")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", j.path("ro/topasswd")).unwrap();
    j.check(&[
        ("open {ro}/tohidden/file rdonly", Hidden),
        ("open {ro}/topasswd rdonly", Hidden),
        ("readlink {ro}/topasswd", Want::is("ok /etc/passwd")),
        ("open {ro}/tojail/file wronly", Ok),
        ("open {ro}/tojail/../ro/file wronly", Denied),
        ("open {ro}/tojail/../hidden/file rdonly", Hidden),
    ]);
    assert_ro_untouched(&j);
}

#[test]
fn odd_spellings_of_paths_are_normalised() {
    let j = Jail::new();
    j.check(&[
        ("open /{hidden}/file rdonly", Hidden),
        ("open //{hidden}//file rdonly", Hidden),
        ("open {ro}/./file wronly", Denied),
        ("open {ro}//file wronly", Denied),
        ("open {jail}/./../hidden/file rdonly", Hidden),
        ("open {jail}/dir/./../../jail2/file rdonly", Hidden),
        ("open {ro}/file/ rdonly", Want::is("ENOTDIR")),
        ("open {jail}/. rdonly directory", Ok),
    ]);
}

#[test]
fn chdir_by_another_thread_is_honoured() {
    // Threads share the cwd: a jail that tracks it per thread would judge
    // the main thread's relative paths from a stale directory.
    let mut j = Jail::new();
    j.add_config("chdir {jail}\n");
    j.check(&[
        ("tchdir {ro}", Ok),
        ("open file wronly", Denied),
        ("open ../hidden/file rdonly", Hidden),
        ("open new wronly creat", Denied),
        ("tchdir {jail}", Ok),
        ("open file wronly", Ok),
    ]);
    assert_ro_untouched(&j);
    assert!(!j.path("ro/new").exists());
}

#[test]
fn file_write_root_can_be_written_but_not_removed_or_renamed() {
    // Like `write /dev/null`: a character device as write root.
    let mut j = Jail::new();
    let null = std::ffi::CString::new(j.p("null")).unwrap();
    // SAFETY: mknod with a valid C string.
    let made = unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    if made != 0 {
        // Not root: a regular file stands in.
        fs::write(j.path("null"), "").unwrap();
    }
    j.add_config("write {root}/null\n");
    j.check(&[
        ("write {root}/null x", Want::is("ok 1")),
        ("open {root}/null wronly creat trunc", Ok),
        ("open {root}/null wronly append", Ok),
        ("unlink {root}/null", Refused),
        ("rename {root}/null {jail}/stolen-null", Refused),
        ("rename {jail}/file {root}/null", Refused),
        ("open {root}/null2 wronly creat", Hidden),
    ]);
    assert!(
        fs::symlink_metadata(j.path("null")).is_ok(),
        "write root removed"
    );
    assert!(!j.path("jail/stolen-null").exists());
    assert!(j.path("jail/file").exists());
}

#[test]
fn see_of_a_single_file_shows_only_that_file() {
    let mut j = Jail::new();
    j.add_config("see {hidden}/file\n");
    j.check(&[
        ("open {hidden}/file rdonly", Want::is("ok 7")),
        ("open {hidden}/file wronly", Denied),
        ("stat {hidden}/dir", Hidden),
        (
            "open {hidden}/file/../dir rdonly directory",
            OneOf(&["ENOTDIR", "ENOENT"]),
        ),
        (
            "open {hidden}/new wronly creat",
            OneOf(&["ENOENT", "EACCES", "EPERM"]),
        ),
    ]);
    assert!(!j.path("hidden/new").exists());
}

#[test]
fn listing_proc_is_refused_but_the_jails_own_entries_work() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("list /proc", Want::Denied),
        ("stat /proc", Want::Ok),
        ("open /proc/self/status rdonly", Want::Ok),
        ("open /proc/1/status rdonly", Want::Hidden),
    ]);
}

#[test]
fn a_descriptor_of_a_symlink_is_not_a_directory_to_walk_from() {
    // open(link, O_PATH | O_NOFOLLOW) names the link itself; as a dirfd the
    // kernel answers ENOTDIR. The jail must not walk the link's target
    // (here, through a writable directory, a hidden one) or, for /dev/fd,
    // /proc/self in the tracer's context.
    let mut j = Jail::new();
    j.add_config("see /dev\nsee /proc\n");
    std::os::unix::fs::symlink(j.p("jail/up"), j.path("ro/sym")).unwrap();
    std::os::unix::fs::symlink(j.p("hidden"), j.path("jail/up")).unwrap();
    for threaded in ["", " threaded"] {
        j.check(&[
            (
                &format!("fstatat_linkfd {{ro}}/sym file{threaded}")[..],
                Want::is("ENOTDIR"),
            ),
            (
                &format!("fstatat_linkfd /dev/fd 0{threaded}")[..],
                Want::is("ENOTDIR"),
            ),
            (
                &format!("fstatat_linkfd /dev/fd 7{threaded}")[..],
                Want::is("ENOTDIR"),
            ),
        ]);
    }
}

#[test]
fn proc_pid_of_an_outside_process_does_not_exist_on_the_way_to_dotdot() {
    // Natively /proc/1/../../<file> is <file>; in the jail /proc/1 (init,
    // outside) does not exist, so neither does anything through it: no
    // oracle for which pids exist.
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    j.check(&[
        ("stat /proc/1/../..{ro}/file", Hidden),
        ("stat /proc/self/../..{ro}/file", Ok),
        ("chdir /proc", Ok),
        ("stat 1/../..{ro}/file", Hidden),
    ]);
}

/// A syscall refused whatever its arguments (`socket`) is reported too,
/// and still fails with its own errno; without `report` it stays silent.
#[test]
fn report_names_refused_syscalls_that_take_no_path() {
    let mut j = Jail::new();
    let out = j.probe("socket_netlink");
    out.assert_code(0).assert_stdout("EACCES\n");
    assert!(!out.stderr.contains("[Syscall"), "{}", out.describe());
    j.add_config("report\n");
    let out = j.probe("socket_netlink");
    out.assert_code(0).assert_stdout("EACCES\n");
    let syscalls: Vec<&str> = out
        .stderr
        .lines()
        .filter(|line| line.starts_with("[Syscall"))
        .collect();
    assert_eq!(syscalls, ["[Syscall socket]"], "{}", out.describe());
}

/// The dynamic loader of every program looks for /etc/ld.so.preload: that
/// is no news, and not reported; other hidden paths still are.
#[test]
fn report_leaves_out_the_loaders_ld_so_preload_probe() {
    let mut j = Jail::bare();
    j.set_config("see /usr\nsee /bin\nsee /lib\nsee /lib64\nreport\n");
    let hidden = j.p("hidden/file");
    let out = j
        .cmd(&["/bin/sh", "-c", &format!("read x < {hidden}; echo done")])
        .run();
    out.assert_code(0).assert_stdout("done\n");
    out.assert_stderr_contains(&format!("[See {hidden}={hidden}]"));
    assert!(!out.stderr.contains("ld.so.preload"), "{}", out.describe());
}
