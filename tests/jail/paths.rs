//! `see` / `write` enforcement, one test per syscall family: visible paths
//! work, read-only ones refuse writes with EACCES/EPERM, invisible ones
//! give ENOENT. Host-side state is checked after refused writes.

use crate::support::{Jail, Want, Want::*, copy_executable};
use std::fs;

fn assert_untouched(j: &Jail) {
    assert_eq!(fs::read_to_string(j.path("ro/file")).unwrap(), "readonly\n");
    assert_eq!(
        fs::read_to_string(j.path("hidden/file")).unwrap(),
        "secret\n"
    );
    assert_eq!(fs::read_to_string(j.path("jail2/file")).unwrap(), "other\n");
    assert!(j.path("ro/dir").is_dir());
    assert!(j.path("hidden/dir").is_dir());
}

fn assert_absent(j: &Jail, rels: &[&str]) {
    for rel in rels {
        assert!(
            fs::symlink_metadata(j.path(rel)).is_err(),
            "{rel} was created on the host"
        );
    }
}

#[test]
fn open_for_reading_sees_only_visible_trees() {
    let j = Jail::new();
    j.check(&[
        ("open {jail}/file rdonly", Want::is("ok 6")),
        ("open {ro}/file rdonly", Want::is("ok 9")),
        ("open {hidden}/file rdonly", Hidden),
        ("open {hidden} rdonly directory", Hidden),
        ("open {jail2}/file rdonly", Hidden),
        ("open /etc/passwd rdonly", Hidden),
        ("open {ro}/dir rdonly directory", Ok),
        ("open {hidden}/file path", Hidden),
        ("open {ro}/file path", Ok),
        ("open {ro}/nonexistent rdonly", Hidden),
    ]);
}

#[test]
fn open_for_writing_outside_write_tree_is_refused() {
    let j = Jail::new();
    j.check(&[
        ("open {jail}/file wronly", Ok),
        ("open {jail}/file rdwr", Ok),
        ("open {jail}/new wronly creat", Ok),
        ("open {jail}/dir wronly tmpfile", Ok),
        ("open {ro}/file wronly", Denied),
        ("open {ro}/file rdwr", Denied),
        ("open {ro}/file rdonly trunc", Denied),
        ("open {ro}/file rdonly append", Denied),
        ("open {ro}/file wronly append", Denied),
        ("open {ro}/new wronly creat", Denied),
        ("open {ro}/new rdonly creat", Denied),
        ("open {ro}/new wronly creat excl", Denied),
        ("open {ro}/dir wronly tmpfile", Denied),
        ("open {hidden}/file wronly", Hidden),
        ("open {hidden}/new wronly creat", Hidden),
        ("open {hidden}/file rdonly trunc", Hidden),
        ("open {jail2}/new wronly creat", Hidden),
        ("write {ro}/file pwned", Denied),
        ("write {jail}/out fine", Want::is("ok 4")),
    ]);
    assert_untouched(&j);
    assert_absent(&j, &["ro/new", "hidden/new", "jail2/new"]);
    assert_eq!(fs::read_to_string(j.path("jail/out")).unwrap(), "fine");
}

#[test]
fn openat_with_dirfd_is_judged_from_the_dirfd() {
    let j = Jail::new();
    j.check(&[
        ("openat {jail} file rdonly", Want::is("ok 6")),
        ("openat {jail} file wronly", Ok),
        ("openat {ro} file rdonly", Want::is("ok 9")),
        ("openat {ro} file wronly", Denied),
        ("openat {ro} new wronly creat", Denied),
        ("openat {ro} ../jail/file wronly", Ok),
        ("openat {jail} ../hidden/file rdonly", Hidden),
        (
            "openat {jail} ../../../../../../../etc/passwd rdonly",
            Hidden,
        ),
        ("openat {jail} ../ro/file rdwr", Denied),
        ("openat {hidden} file rdonly", Want::is("dirfd ENOENT")),
        ("openat {ro} {hidden}/file rdonly", Hidden),
        ("openat {ro} {jail}/x wronly creat", Ok),
    ]);
    assert_untouched(&j);
    assert_absent(&j, &["ro/new"]);
}

#[test]
fn openat2_is_judged_like_open() {
    let j = Jail::new();
    j.check(&[
        ("openat2 - {jail}/file rdonly", Want::is("ok 6")),
        ("openat2 - {hidden}/file rdonly", Hidden),
        ("openat2 - /etc/passwd rdonly", Hidden),
        ("openat2 - {ro}/file wronly", Denied),
        ("openat2 - {ro}/new wronly creat", Denied),
        ("openat2 {jail} file rdwr", Ok),
        ("openat2 {jail} ../hidden/file rdonly", Hidden),
        ("openat2 {jail} ../ro/file wronly", Denied),
        (
            "openat2 {jail} ../hidden/file rdonly beneath",
            OneOf(&["EXDEV", "ENOENT"]),
        ),
        ("openat2 {ro} file wronly beneath", Denied),
    ]);
    assert_untouched(&j);
    assert_absent(&j, &["ro/new"]);
}

#[test]
fn stat_family_cannot_see_hidden_paths() {
    let j = Jail::new();
    j.check(&[
        ("stat {ro}/file", Ok),
        ("stat {hidden}/file", Hidden),
        ("stat /etc/passwd", Hidden),
        ("lstat {ro}/file", Ok),
        ("lstat {hidden}/file", Hidden),
        ("statx {ro}/file", Ok),
        ("statx {hidden}/file", Hidden),
        ("fstatat {ro} file", Ok),
        ("fstatat {jail} ../hidden/file", Hidden),
        ("fstatat - {hidden}/file nofollow", Hidden),
        ("access {ro}/file r", Ok),
        ("access {hidden}/file f", Hidden),
        ("faccessat2 {ro}/file r", Ok),
        ("faccessat2 {hidden}/file f", Hidden),
        ("statfs {ro}", Ok),
        ("statfs {hidden}", Hidden),
        ("readlink {hidden}/file", Hidden),
        ("readlink {ro}/file", Want::is("EINVAL")),
        ("emptypath {ro}/file", Ok),
        ("emptypath {hidden}/file", Hidden),
    ]);
}

#[test]
fn newfstatat_empty_path_works_on_a_pipe() {
    let j = Jail::new();
    j.check(&[("emptypath_pipe", Want::is("ok fifo"))]);
}

#[test]
fn listing_works_for_visible_dirs_only() {
    let j = Jail::new();
    j.check(&[
        ("list {ro}", Want::is("ok dir,file")),
        ("list {jail}", Want::is("ok dir,file")),
        ("list {hidden}", Hidden),
        ("list {jail2}", Hidden),
    ]);
}

#[test]
fn mkdir_and_rmdir_outside_write_tree_are_refused() {
    let j = Jail::new();
    j.check(&[
        ("mkdir {jail}/newdir", Ok),
        ("rmdir {jail}/newdir", Ok),
        ("rmdir {jail}/dir", Ok),
        ("mkdir {ro}/newdir", Denied),
        ("mkdir {ro}/dir", OneOf(&["EACCES", "EPERM", "EEXIST"])),
        ("rmdir {ro}/dir", Denied),
        ("mkdir {hidden}/newdir", Hidden),
        ("rmdir {hidden}/dir", Hidden),
        ("mkdirat {ro} newdir", Denied),
        ("mkdirat {jail} ../hidden/newdir", Hidden),
        ("unlinkat {ro} dir dir", Denied),
    ]);
    assert_untouched(&j);
    assert_absent(&j, &["ro/newdir", "hidden/newdir", "jail/dir"]);
}

#[test]
fn mkdir_and_rmdir_with_trailing_slash_work_in_write_dir() {
    // mkdir("dir/") is legal (coreutils `mkdir dir/` does exactly that).
    let j = Jail::new();
    j.check(&[
        ("mkdir {jail}/slashed/", Ok),
        ("stat {jail}/slashed", Ok),
        ("rmdir {jail}/slashed/", Ok),
        ("mkdir {ro}/slashed/", Denied),
        ("mkdir {hidden}/slashed/", Hidden),
    ]);
    assert!(!j.path("jail/slashed").exists());
    assert_absent(&j, &["ro/slashed", "hidden/slashed"]);
}

#[test]
fn unlink_outside_write_tree_is_refused() {
    let j = Jail::new();
    fs::write(j.path("jail/victim"), "x").unwrap();
    j.check(&[
        ("unlink {jail}/victim", Ok),
        ("unlink {ro}/file", Denied),
        ("unlink {hidden}/file", Hidden),
        ("unlinkat {ro} file", Denied),
        ("unlinkat {jail} ../hidden/file", Hidden),
        ("unlink {jail2}/file", Hidden),
    ]);
    assert_untouched(&j);
    assert_absent(&j, &["jail/victim"]);
}

#[test]
fn rename_across_trees_is_refused() {
    let j = Jail::new();
    fs::write(j.path("jail/a"), "a").unwrap();
    j.check(&[
        ("rename {jail}/a {jail}/b", Ok),
        ("rename {ro}/file {jail}/stolen", Denied),
        ("rename {jail}/b {ro}/planted", Denied),
        ("rename {jail}/b {ro}/file", Denied),
        ("rename {jail}/b {hidden}/planted", Hidden),
        ("rename {hidden}/file {jail}/stolen", Hidden),
        ("rename {ro}/dir {jail}/stolendir", Denied),
    ]);
    assert_untouched(&j);
    assert_absent(
        &j,
        &[
            "jail/stolen",
            "ro/planted",
            "hidden/planted",
            "jail/stolendir",
        ],
    );
    assert!(j.path("jail/b").exists());
}

#[test]
fn renameat2_exchange_and_noreplace_outside_write_tree_are_refused() {
    let j = Jail::new();
    fs::write(j.path("jail/a"), "a").unwrap();
    j.check(&[
        ("renameat2 {jail}/a {jail}/c noreplace", Ok),
        ("renameat2 {jail}/c {jail}/file exchange", Ok),
        ("renameat2 {jail}/c {ro}/file exchange", Denied),
        ("renameat2 {ro}/file {jail}/c exchange", Denied),
        ("renameat2 {jail}/c {ro}/new noreplace", Denied),
        ("renameat2 {jail}/c {hidden}/file exchange", Hidden),
        ("renameat2 {hidden}/file {jail}/x noreplace", Hidden),
    ]);
    assert_untouched(&j);
    assert_absent(&j, &["ro/new", "jail/x"]);
}

#[test]
fn hard_link_needs_a_writable_source() {
    let j = Jail::new();
    j.check(&[
        ("link {jail}/file {jail}/alias", Ok),
        ("link {ro}/file {jail}/alias-ro", Denied),
        ("link {hidden}/file {jail}/alias-hidden", Hidden),
        ("link {jail}/file {ro}/alias", Denied),
        ("link {jail}/file {hidden}/alias", Hidden),
    ]);
    assert_untouched(&j);
    assert_absent(
        &j,
        &[
            "jail/alias-ro",
            "jail/alias-hidden",
            "ro/alias",
            "hidden/alias",
        ],
    );
}

#[test]
fn symlink_creation_outside_write_tree_is_refused() {
    let j = Jail::new();
    j.check(&[
        ("symlink /etc/passwd {jail}/sl", Ok),
        ("symlink {jail}/file {ro}/sl", Denied),
        ("symlink {jail}/file {hidden}/sl", Hidden),
        ("symlink {jail}/file {jail2}/sl", Hidden),
    ]);
    assert_absent(&j, &["ro/sl", "hidden/sl", "jail2/sl"]);
}

#[test]
fn chmod_and_chown_outside_write_tree_are_refused() {
    let j = Jail::new();
    j.check(&[
        ("chmod {jail}/file 600", Ok),
        ("chmod {ro}/file 777", Denied),
        ("chmod {hidden}/file 777", Hidden),
        ("fchmodat {jail}/file 640", Ok),
        ("fchmodat {ro}/file 777", Denied),
        ("fchmodat {hidden}/file 777", Hidden),
        ("chown {jail}/file 0 0", Ok),
        ("chown {ro}/file 1 1", Denied),
        ("chown {hidden}/file 1 1", Hidden),
    ]);
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let ro = fs::metadata(j.path("ro/file")).unwrap();
    assert_eq!(ro.permissions().mode() & 0o7777, 0o666);
    assert_eq!(ro.uid(), fs::metadata(j.path("ro")).unwrap().uid());
}

#[test]
fn truncate_and_utimensat_outside_write_tree_are_refused() {
    let j = Jail::new();
    j.check(&[
        ("truncate {jail}/file 2", Ok),
        ("truncate {ro}/file 0", Denied),
        ("truncate {hidden}/file 0", Hidden),
        ("utimensat {jail}/file", Ok),
        ("utimensat {ro}/file", Denied),
        ("utimensat {hidden}/file", Hidden),
    ]);
    assert_untouched(&j);
    assert_eq!(fs::read_to_string(j.path("jail/file")).unwrap(), "he");
}

#[test]
fn mknod_fifo_outside_write_tree_is_refused() {
    let j = Jail::new();
    j.check(&[
        ("mkfifo {jail}/fifo", Ok),
        ("mkfifo {ro}/fifo", Denied),
        ("mkfifo {hidden}/fifo", Hidden),
    ]);
    assert_absent(&j, &["ro/fifo", "hidden/fifo"]);
}

#[test]
fn xattrs_cannot_be_set_outside_write_tree() {
    let j = Jail::new();
    j.check(&[
        ("setxattr {jail}/file user.t v1", Ok),
        ("getxattr {jail}/file user.t", Want::is("ok v1")),
        ("setxattr {ro}/file user.t pwned", Denied),
        ("getxattr {ro}/file user.t", Want::is("ENODATA")),
        ("setxattr {hidden}/file user.t pwned", Hidden),
        ("getxattr {hidden}/file user.t", Hidden),
    ]);
}

#[test]
fn inotify_cannot_watch_hidden_paths() {
    let j = Jail::new();
    j.check(&[
        ("inotify {ro}", Ok),
        ("inotify {jail}/file", Ok),
        ("inotify {hidden}", Hidden),
        ("inotify {hidden}/file", Hidden),
        ("inotify /etc/passwd", Hidden),
    ]);
}

#[test]
fn execve_of_hidden_program_is_not_found() {
    let j = Jail::new();
    copy_executable(j.path("bin/probe"), j.path("hidden/probe"));
    j.check(&[
        ("exec {hidden}/probe probe getpid", Hidden),
        ("exec {ro}/file file", Want::is("EACCES")),
        ("execveat {jail} ../hidden/probe probe getpid", Hidden),
        ("symlink {hidden}/probe {jail}/hp", Ok),
        ("exec {jail}/hp hp getpid", Hidden),
        (
            "exec {bin}/probe probe read {ro}/file",
            Want::is("ok readonly"),
        ),
    ]);
}

#[test]
fn program_written_into_write_dir_can_run_but_stays_jailed() {
    let j = Jail::new();
    copy_executable(j.path("bin/probe"), j.path("jail/probe2"));
    j.check(&[(
        "exec {jail}/probe2 probe2 open {hidden}/file rdonly",
        Hidden,
    )]);
}

#[test]
fn fd_based_metadata_changes_on_read_only_files_are_refused() {
    let j = Jail::new();
    j.check(&[
        ("fchmod {ro}/file 777", Denied),
        ("fchown {ro}/file 1 1", Denied),
        ("fsetxattr {ro}/file user.t pwned", Denied),
        ("futimens {ro}/file", Denied),
        ("fchmodat_empty {ro}/file 777", Denied),
        ("fchmod {jail}/file 600", Ok),
        ("fchown {jail}/file 0 0", Ok),
        ("fsetxattr {jail}/file user.t fine", Ok),
        ("futimens {jail}/file", Ok),
        ("fchmodat_empty {jail}/file 640", Ok),
        // As natively: fchmod on an O_PATH descriptor is EBADF, also when
        // the jail hands the call over (another thread shares the table).
        ("fchmod_opath_shared {jail}/file 600", Want::is("EBADF")),
    ]);
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let ro = fs::metadata(j.path("ro/file")).unwrap();
    assert_eq!(
        ro.permissions().mode() & 0o7777,
        0o666,
        "ro/file mode changed"
    );
    assert_eq!(ro.uid(), 0, "ro/file owner changed");
}

#[test]
fn shebang_interpreter_in_hidden_tree_does_not_run() {
    // The kernel opens a script's interpreter itself: the jail must still
    // keep a hidden binary from running through `#!`.
    let j = Jail::new();
    copy_executable(j.path("bin/probe"), j.path("hidden/probe"));
    fs::write(
        j.path("jail/script"),
        format!("#!{} getpid\n", j.p("hidden/probe")),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(j.path("jail/script"), fs::Permissions::from_mode(0o755)).unwrap();
    j.check(&[(
        "exec {jail}/script script",
        OneOf(&["ENOENT", "EACCES", "EPERM"]),
    )]);
}

#[test]
fn unix_socket_in_hidden_tree_cannot_be_reached_or_planted_read_only() {
    let j = Jail::new();
    let listener = std::os::unix::net::UnixListener::bind(j.path("hidden/sock")).unwrap();
    j.check(&[
        ("unix_connect {hidden}/sock", Refused),
        ("unix_bind {ro}/sock", Refused),
        ("unix_bind {hidden}/sock2", Refused),
    ]);
    drop(listener);
    assert_absent(&j, &["ro/sock", "hidden/sock2"]);
}

/// `write` alone: the program writes into the tree but cannot read, list
/// or stat it (as in the original tool); natively everything works.
#[test]
fn write_without_see_writes_but_never_reads() {
    let cases: &[(&str, Want)] = &[
        ("write {root}/wo/new fresh", Ok),
        ("open {root}/wo/file wronly append", Ok),
        ("mkdir {root}/wo/sub", Ok),
        ("read {root}/wo/file", Want::is("EACCES")),
        ("open {root}/wo/file rdwr", Want::is("EACCES")),
        ("open {root}/wo/new2 rdonly creat", Want::is("EACCES")),
        ("stat {root}/wo/file", Want::is("EACCES")),
        ("list {root}/wo", Want::is("EACCES")),
        ("unlink {root}/wo/new", Ok),
    ];
    let native = Jail::new();
    fs::create_dir(native.path("wo")).unwrap();
    fs::write(native.path("wo/file"), "written only\n").unwrap();
    // The control: natively every case works.
    let native_cases: Vec<(&str, Want)> = cases.iter().map(|(case, _)| (*case, Ok)).collect();
    native.check_native(&native_cases);
    for extra in ["", "landlock off\n"] {
        let mut j = Jail::new();
        fs::create_dir(j.path("wo")).unwrap();
        fs::write(j.path("wo/file"), "written only\n").unwrap();
        j.add_config(&format!("write {{root}}/wo\n{extra}"));
        j.check(cases);
        assert_eq!(
            fs::read_to_string(j.path("wo/file")).unwrap(),
            "written only\n",
            "[{extra}] the append wrote nothing, as the probe opens only"
        );
        assert!(j.path("wo/sub").is_dir() && !j.path("wo/new").exists());
    }
}
