//! The probes themselves: natively they reach what the jail must hide, so
//! a jailed denial is the jail's doing; and the checker does fail.

use crate::support::{Jail, Want, Want::*};

#[test]
fn native_probe_reaches_what_the_jail_hides() {
    let j = Jail::new();
    j.check_native(&[
        ("open /etc/passwd rdonly", Ok),
        ("open {hidden}/file rdonly", Want::is("ok 7")),
        ("open {ro}/file wronly", Ok),
        ("open /proc/self/root/etc/passwd rdonly", Ok),
        ("symlink /etc/passwd {jail}/lnk", Ok),
        ("open {jail}/lnk rdonly", Ok),
        ("chdir {jail}", Ok),
        ("open ../hidden/file rdonly", Ok),
        ("int80_open /etc/passwd", Ok),
        ("int80_getpid", Ok),
        ("mkdir {ro}/native", Ok),
        ("link {ro}/file {jail}/hl", Ok),
        ("emptypath_pipe", Want::is("ok fifo")),
    ]);
}

#[test]
#[should_panic(expected = "probe mismatches")]
fn checker_fails_on_a_wrong_expectation() {
    let j = Jail::new();
    j.check_native(&[("open /etc/passwd rdonly", Hidden)]);
}
