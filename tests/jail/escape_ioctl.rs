//! Escape suite: inode attributes changed through `ioctl` on a read-only
//! descriptor of a see-only file or directory.
//!
//! `FS_IOC_SETFLAGS`, `FS_IOC_FSSETXATTR` and `FS_IOC_SETVERSION` only need
//! the caller to own the inode (or `CAP_FOWNER`), not a writable
//! descriptor: a program that may only look at `ro/` would otherwise mark
//! its files no-dump, no-atime, immutable or append-only (the last two
//! only as root, which the CI runs as), or change their generation. Each
//! test runs `fixtures/escape/ioctl.c` natively in a tree of its own (the
//! control: the change must work there, or the test proves nothing) and
//! in the jail with the shipped config and with `landlock off`; the host
//! then reads the flags itself. Harmless ioctls on a see-only file, and
//! the same changes inside the `write` tree, must keep working.

use crate::support::{Jail, Output, is_root, run_native};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

/// What a refused attribute change may answer.
const REFUSED: &[&str] = &["EACCES", "EPERM", "ENOTTY"];

const FS_NOATIME_FL: i32 = 0x80;
const FS_NODUMP_FL: i32 = 0x40;
const FS_IMMUTABLE_FL: i32 = 0x10;
const FS_APPEND_FL: i32 = 0x20;

fn tree(extra: &str) -> Jail {
    let mut j = Jail::new();
    if !extra.is_empty() {
        j.add_config(extra);
    }
    j
}

/// The inode flags of `path`, as the host reads them (`FS_IOC_GETFLAGS`).
fn flags(path: &Path) -> Result<i32, String> {
    let file = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut value: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int to a valid pointer.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut value) };
    if r < 0 {
        return Err(format!(
            "FS_IOC_GETFLAGS {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(value)
}

/// The inode generation of `path` (`FS_IOC_GETVERSION`).
fn generation(path: &Path) -> i32 {
    let file = File::open(path).unwrap();
    let mut value: libc::c_int = 0;
    // SAFETY: FS_IOC_GETVERSION writes one int to a valid pointer.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETVERSION, &mut value) };
    assert!(r >= 0, "FS_IOC_GETVERSION {}", path.display());
    value
}

/// Takes `bits` away from the flags of `path` (best effort).
fn clear_flags(path: &Path, bits: i32) {
    let Ok(file) = File::open(path) else {
        return;
    };
    let mut value: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS / SETFLAGS read and write one int.
    unsafe {
        if libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut value) == 0
            && value & bits != 0
        {
            value &= !bits;
            libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &value);
        }
    }
}

/// Clears the immutable and append-only flags of its paths when dropped,
/// also when the test panics: the temp tree could not be removed otherwise.
struct ClearOnDrop(Vec<PathBuf>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            clear_flags(path, FS_IMMUTABLE_FL | FS_APPEND_FL);
        }
    }
}

fn native(t: &Jail, args: &[&str]) -> Output {
    let mut argv = vec![t.escape_bin("ioctl")];
    argv.extend(args.iter().map(|a| t.expand(a)));
    run_native(&argv, Duration::from_secs(20))
}

fn jailed(j: &Jail, args: &[&str]) -> Output {
    let mut argv = vec![j.escape_bin("ioctl")];
    argv.extend(args.iter().map(|a| j.expand(a)));
    j.cmd(&argv).timeout(Duration::from_secs(20)).run()
}

/// `None` (with the reason printed) when the filesystem under /tmp keeps
/// no inode flags: the trick cannot be shown here.
fn flags_supported(t: &Jail) -> bool {
    match flags(&t.path("ro/file")) {
        Ok(_) => true,
        Err(e) => {
            crate::support::skip(&format!("no inode flags on the filesystem under /tmp: {e}"));
            false
        }
    }
}

/// The objects a trick is tried on: a see-only file and directory.
const SEE_ONLY: &[&str] = &["ro/file", "ro/dir"];

/// Runs `cases(target)` for every see-only target natively (each line must
/// be "ok" and the flags must gain `bit`) and then jailed in every mode
/// (each line must be refused and the flags unchanged).
fn attribute_change_is_refused(cases: &dyn Fn(&str) -> Vec<String>, bit: i32, what: &str) {
    let t = Jail::new();
    if !flags_supported(&t) {
        return;
    }
    let _guard = ClearOnDrop(SEE_ONLY.iter().map(|p| t.path(p)).collect());
    for target in SEE_ONLY {
        let args = cases(&format!("{{root}}/{target}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = flags(&t.path(target)).unwrap();
        let out = native(&t, &args);
        let after = flags(&t.path(target)).unwrap();
        assert!(
            out.lines() == ["ok"] && before & bit == 0 && after & bit == bit,
            "control void: natively {what} on {target} did not work \
             (flags {before:#x} -> {after:#x})\n{}",
            out.describe()
        );
    }
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let j = tree(config);
        let _guard = ClearOnDrop(SEE_ONLY.iter().map(|p| j.path(p)).collect());
        for target in SEE_ONLY {
            let args = cases(&format!("{{root}}/{target}"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let before = flags(&j.path(target)).unwrap();
            let out = jailed(&j, &args);
            let after = flags(&j.path(target)).unwrap();
            let lines = out.lines();
            let refused = lines.len() == 1 && REFUSED.contains(&lines[0]);
            if !refused || before != after {
                failures.push(format!(
                    "ESCAPE [{name}]: {what} on the see-only {target}: answered {lines:?}, \
                     flags {before:#x} -> {after:#x}\n{}",
                    out.describe()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn escape_ioctl_setflags_nodump_on_see_only_file_and_dir() {
    attribute_change_is_refused(
        &|target| vec!["setflags".into(), target.into(), "nodump".into()],
        FS_NODUMP_FL,
        "FS_IOC_SETFLAGS(FS_NODUMP_FL)",
    );
}

#[test]
fn escape_ioctl_fssetxattr_noatime_on_see_only_file_and_dir() {
    attribute_change_is_refused(
        &|target| vec!["fssetxattr".into(), target.into(), "noatime".into()],
        FS_NOATIME_FL,
        "FS_IOC_FSSETXATTR(FS_XFLAG_NOATIME)",
    );
}

#[test]
fn escape_ioctl_setflags_immutable_on_see_only_file_and_dir_as_root() {
    if !is_root() {
        crate::support::skip("FS_IMMUTABLE_FL needs root (CAP_LINUX_IMMUTABLE)");
        return;
    }
    attribute_change_is_refused(
        &|target| vec!["setflags".into(), target.into(), "immutable".into()],
        FS_IMMUTABLE_FL,
        "FS_IOC_SETFLAGS(FS_IMMUTABLE_FL)",
    );
}

#[test]
fn escape_ioctl_fssetxattr_append_only_on_see_only_file_and_dir_as_root() {
    if !is_root() {
        crate::support::skip("FS_XFLAG_APPEND needs root (CAP_LINUX_IMMUTABLE)");
        return;
    }
    attribute_change_is_refused(
        &|target| vec!["fssetxattr".into(), target.into(), "append".into()],
        FS_APPEND_FL,
        "FS_IOC_FSSETXATTR(FS_XFLAG_APPEND)",
    );
}

#[test]
fn escape_ioctl_setversion_on_see_only_file() {
    // FS_IOC_SETVERSION changes the inode generation (ext4: owner only,
    // a read-only descriptor is enough).
    let t = Jail::new();
    if !flags_supported(&t) {
        return;
    }
    let before = generation(&t.path("ro/file"));
    let wanted = before.wrapping_add(12345);
    let out = native(&t, &["setversion", "{ro}/file", &wanted.to_string()]);
    if out.lines() == ["ENOTTY"] {
        crate::support::skip("FS_IOC_SETVERSION unsupported under /tmp");
        return;
    }
    assert!(
        out.lines() == ["ok"] && generation(&t.path("ro/file")) == wanted,
        "control void: natively FS_IOC_SETVERSION did not work\n{}",
        out.describe()
    );
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let j = tree(config);
        let before = generation(&j.path("ro/file"));
        let wanted = before.wrapping_add(12345);
        let out = jailed(&j, &["setversion", "{ro}/file", &wanted.to_string()]);
        let after = generation(&j.path("ro/file"));
        let lines = out.lines();
        if !(lines.len() == 1 && REFUSED.contains(&lines[0])) || after != before {
            failures.push(format!(
                "ESCAPE [{name}]: FS_IOC_SETVERSION on the see-only file: answered {lines:?}, \
                 generation {before} -> {after}\n{}",
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ioctl_queries_on_a_see_only_file_work_as_natively() {
    // Reading attributes and the descriptor's own flags changes nothing
    // outside the program: the jail must not refuse them.
    let cases = [
        "getflags {ro}/file",
        "getflags {ro}/dir",
        "fsgetxattr {ro}/file",
        "getversion {ro}/file",
        "fionread {ro}/file",
        "tcgets {ro}/file",
        "fioclex {ro}/file",
        "fionbio {ro}/file",
    ];
    let args: Vec<&str> = cases.iter().flat_map(|c| c.split(' ')).collect();
    let t = Jail::new();
    let want = native(&t, &args);
    assert_eq!(want.lines().len(), cases.len(), "{}", want.describe());
    assert_eq!(
        &want.lines()[4..],
        ["ok 9", "ENOTTY", "ok 1", "ok 1"],
        "control: unexpected native answers\n{}",
        want.describe()
    );
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let j = tree(config);
        let out = jailed(&j, &args);
        if out.lines() != want.lines() || out.code() != 0 {
            failures.push(format!(
                "[{name}] jailed answers differ from the native {:?}\n{}",
                want.lines(),
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ioctl_attribute_changes_in_the_write_tree_work() {
    // The write tree is the program's: the same changes must work there.
    let root = is_root();
    let mut failures = Vec::new();
    for (name, config) in MODES {
        let j = tree(config);
        if !flags_supported(&j) {
            return;
        }
        let targets = ["jail/file", "jail/dir"];
        let _guard = ClearOnDrop(targets.iter().map(|p| j.path(p)).collect());
        let mut args = Vec::new();
        let mut want = 0;
        for target in targets {
            let t = format!("{{root}}/{target}");
            args.extend([
                "setflags".to_string(),
                t.clone(),
                "nodump".into(),
                "fssetxattr".into(),
                t.clone(),
                "noatime".into(),
            ]);
            want += 2;
            if root {
                // A program started as root keeps no CAP_LINUX_IMMUTABLE:
                // a file it made immutable would outlive the host's own
                // cleanup of the tree.
                args.extend(["setflags".to_string(), t.clone(), "immutable".into()]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = jailed(&j, &args);
        let expected: Vec<&str> = (0..targets.len())
            .flat_map(|_| {
                let mut lines = vec!["ok"; want / targets.len()];
                if root {
                    lines.push("EPERM");
                }
                lines
            })
            .collect();
        let all_ok = out.lines() == expected;
        let set = targets.iter().all(|target| {
            flags(&j.path(target))
                .is_ok_and(|f| f & (FS_NODUMP_FL | FS_NOATIME_FL) == FS_NODUMP_FL | FS_NOATIME_FL)
        });
        if !all_ok || !set {
            failures.push(format!(
                "[{name}] attribute changes in the write tree failed (flags now: {:?})\n{}",
                targets.map(|target| flags(&j.path(target))),
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
