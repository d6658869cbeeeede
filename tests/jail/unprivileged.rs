//! The jail run by an unprivileged user (`sbxtest` when we are root).

use crate::support::{Want, Want::*, is_root, unprivileged_jail};
use std::fs;

#[test]
fn unprivileged_user_jail_enforces_see_and_write() {
    let j = unprivileged_jail();
    j.check(&[
        ("getpid", Ok),
        ("open {jail}/file rdonly", Want::is("ok 6")),
        ("write {jail}/new made", Want::is("ok 4")),
        ("mkdir {jail}/d", Ok),
        // Inside a writable directory: handed over through the keeper.
        ("write {jail}/d/f made", Want::is("ok 4")),
        ("chmod {jail}/d/f 600", Ok),
        ("stat {jail}/d/f", Ok),
        ("open {hidden}/file rdonly", Hidden),
        ("open /etc/passwd rdonly", Hidden),
        ("open {ro}/file rdonly", Want::is("ok 9")),
        ("open {ro}/file wronly", Denied),
        ("truncate {ro}/file 0", Denied),
        ("symlink /etc/passwd {jail}/l", Ok),
        ("open {jail}/l rdonly", Hidden),
        ("chdir {jail}", Ok),
        ("open ../hidden/file rdonly", Hidden),
        ("int80_getpid", Want::is("ENOSYS")),
    ]);
    assert_eq!(fs::read_to_string(j.path("ro/file")).unwrap(), "readonly\n");
    assert_eq!(fs::read_to_string(j.path("jail/new")).unwrap(), "made");
}

#[test]
fn unprivileged_user_could_do_it_natively() {
    // Shows the denials above come from the jail, not from file modes.
    if !is_root() {
        crate::support::skip("only root can run the probe as another user");
        return;
    }
    let j = unprivileged_jail();
    // The jail's own wrapper: setpriv to the test user.
    let out = std::process::Command::new(&j.wrapper[0])
        .args(&j.wrapper[1..])
        .arg(j.bin("probe"))
        .args([
            "open",
            &j.p("hidden/file"),
            "rdonly",
            "+",
            "open",
            "/etc/passwd",
            "rdonly",
            "+",
            "open",
            &j.p("ro/file"),
            "wronly",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().all(|l| l.starts_with("ok")), "{stdout}");
}
