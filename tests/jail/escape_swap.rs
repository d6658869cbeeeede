//! Escape suite: a directory of the write tree swapped for a symlink to a
//! hidden directory while another thread uses a path through it.
//!
//! `race swap` keeps exchanging `jail/d` (a directory with `secret` and
//! `victim`) and `jail/l` (a symlink to `hidden/`, which holds files of the
//! same names) with `renameat2(RENAME_EXCHANGE)`, while the main thread
//! opens, stats, unlinks, creates, chmods, truncates or touches
//! `jail/d/<name>`. Natively (the control) the operation reaches the hidden
//! directory; in the jail it must never, and the host checks that the
//! hidden files are unchanged. Every jailed run happens with the shipped
//! config and with `landlock off`.

use crate::support::{Jail, Output, RaceSummary, race_summary, run_native};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

const ATTEMPTS: &str = "30000";
const JAIL_SECONDS: &str = "4";
const MIN_ATTEMPTS: u64 = 1000;
const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

/// The hidden directory's files, as the host sees them.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    names: Vec<String>,
    secret: String,
    mode: u32,
    size: u64,
    mtime: i64,
}

fn prepare(j: &Jail) {
    fs::write(j.path("hidden/secret"), "hidden secret\n").unwrap();
    fs::set_permissions(j.path("hidden/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(j.path("hidden/victim"), "hidden victim\n").unwrap();
}

fn snapshot(j: &Jail) -> Snapshot {
    let mut names: Vec<String> = fs::read_dir(j.path("hidden"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let meta = fs::metadata(j.path("hidden/secret")).unwrap();
    Snapshot {
        names,
        secret: fs::read_to_string(j.path("hidden/secret")).unwrap_or_default(),
        mode: meta.mode() & 0o7777,
        size: meta.size(),
        mtime: meta.mtime(),
    }
}

fn argv(j: &Jail, op: &str, attempts: &str, seconds: &str) -> Vec<String> {
    vec![
        j.escape_bin("race"),
        "swap".into(),
        j.p("jail"),
        j.p("hidden"),
        op.into(),
        attempts.into(),
        seconds.into(),
        "1".into(),
    ]
}

fn check(
    op: &str,
    summary: RaceSummary,
    out: &Output,
    before: &Snapshot,
    after: &Snapshot,
    ino: u64,
) -> Result<(), String> {
    if summary.escapes != 0 {
        return Err(format!(
            "ESCAPE: {op} through the swapped directory reached something else than the decoy\n\
             (hidden/secret is inode {ino})\nhidden before {before:?}\nhidden after  {after:?}\n{}",
            out.describe()
        ));
    }
    if before != after {
        return Err(format!(
            "ESCAPE: the hidden directory changed during the {op} race\nbefore {before:?}\nafter  {after:?}\n{}",
            out.describe()
        ));
    }
    if !(summary.attempts >= MIN_ATTEMPTS && summary.allowed > 0) {
        return Err(format!(
            "the {op} race was not exercised ({summary:?})\n{}",
            out.describe()
        ));
    }
    Ok(())
}

fn swap_race(op: &str) {
    // Control: natively the operation does reach the hidden directory.
    let t = Jail::new();
    prepare(&t);
    let before = snapshot(&t);
    let out = run_native(&argv(&t, op, ATTEMPTS, "3"), Duration::from_secs(20));
    let summary = race_summary(&out);
    let changed = before != snapshot(&t);
    assert!(
        summary.escapes > 0 && (changed || matches!(op, "open" | "stat")),
        "control void: natively {op} never reached the hidden directory\n{}",
        out.describe()
    );

    let mut failures = Vec::new();
    for (name, config) in MODES {
        let mut j = Jail::new();
        j.add_config(config);
        prepare(&j);
        let before = snapshot(&j);
        let out = j
            .cmd(&argv(&j, op, ATTEMPTS, JAIL_SECONDS))
            .timeout(Duration::from_secs(30))
            .run();
        let summary = race_summary(&out);
        eprintln!("swap {op} [{name}]: {summary:?}");
        let ino = fs::metadata(j.path("hidden/secret")).unwrap().ino();
        if let Err(e) = check(op, summary, &out, &before, &snapshot(&j), ino) {
            failures.push(format!("--- swap {op} [{name}] ---\n{e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn escape_swap_dir_for_symlink_while_opening_secret() {
    swap_race("open");
}

#[test]
fn escape_swap_dir_for_symlink_while_stat_of_secret() {
    swap_race("stat");
}

#[test]
fn escape_swap_dir_for_symlink_while_unlinking_victim() {
    swap_race("unlink");
}

#[test]
fn escape_swap_dir_for_symlink_while_creating_a_file() {
    swap_race("creat");
}

#[test]
fn escape_swap_dir_for_symlink_while_chmod_of_secret() {
    swap_race("chmod");
}

#[test]
fn escape_swap_dir_for_symlink_while_truncating_secret() {
    swap_race("truncate");
}

#[test]
fn escape_swap_dir_for_symlink_while_setting_times_of_secret() {
    swap_race("utimens");
}

/// A lone name looked at or opened for reading relative to a directory
/// descriptor in the write tree (find's `newfstatat(dirfd, name)` and
/// `openat(dirfd, name, O_NOFOLLOW)`), without and with following,
/// while another process keeps exchanging that name with a symlink to
/// the hidden file. Without following, the jail lets the kernel look the
/// name up itself (no stop of its own beyond the first): what it finds
/// can only be the file or the symlink, never the hidden file.
const LONE_NAME: &str = "
import ctypes, os, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir('{jail}')
os.symlink('{root}/hidden/file', 'l')
with open('x', 'w') as f:
    f.write('x' * 100)
hidden, tries = int(sys.argv[1]), int(sys.argv[2])
until_leak = len(sys.argv) > 3
swapper = os.fork()
if swapper == 0:
    while True:
        libc.syscall(316, -100, b'x', -100, b'l', 2)
# The race is live only once the swapper runs: on a busy machine it may
# not be scheduled before a short loop ends.
while not os.path.islink('x'):
    os.sched_yield()
d = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
leaks = files = links = 0
for _ in range(tries):
    if until_leak and leaks:
        break
    for follow in (False, True):
        try:
            st = os.stat('x', dir_fd=d, follow_symlinks=follow)
        except OSError:
            continue
        if st.st_ino == hidden:
            leaks += 1
        elif stat.S_ISLNK(st.st_mode):
            links += 1
        else:
            files += 1
        try:
            fd = os.open('x', os.O_RDONLY | (0 if follow else os.O_NOFOLLOW), dir_fd=d)
        except OSError:
            continue
        if b'secret' in os.read(fd, 200) or os.fstat(fd).st_ino == hidden:
            leaks += 1
        os.close(fd)
os.kill(swapper, 9)
os.waitpid(swapper, 0)
print('leaks', leaks, 'files', files, 'links', links)
";

fn lone_name_counts(out: &Output) -> Option<(u64, u64, u64)> {
    let line = out.stdout.lines().find(|line| line.starts_with("leaks "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["leaks", leaks, "files", files, "links", links] => Some((
            leaks.parse().ok()?,
            files.parse().ok()?,
            links.parse().ok()?,
        )),
        _ => None,
    }
}

#[test]
fn escape_swap_lone_name_looked_at_through_a_dirfd_never_reaches_the_hidden_file() {
    let tries = "3000";
    let native = Jail::new();
    let hidden = fs::metadata(native.path("hidden/file"))
        .unwrap()
        .ino()
        .to_string();
    let script = native.expand(LONE_NAME);
    let out = run_native(
        &[
            "/usr/bin/python3",
            "-c",
            script.as_str(),
            hidden.as_str(),
            "200000",
            "until-leak",
        ],
        Duration::from_secs(60),
    );
    let (leaks, ..) =
        lone_name_counts(&out).unwrap_or_else(|| panic!("control: {}", out.describe()));
    assert!(leaks > 0, "control: the swap never won: {}", out.describe());

    let users: &[bool] = if crate::support::is_root() {
        &[false, true]
    } else {
        &[false]
    };
    for (&unprivileged, (mode, extra)) in users
        .iter()
        .flat_map(|user| MODES.iter().map(move |mode| (user, mode)))
    {
        let mode = format!("{mode}, unprivileged {unprivileged}");
        let mut j = Jail::new();
        if unprivileged {
            crate::support::run_as_test_user(&mut j);
        }
        j.add_config(&format!(
            "see /usr\nsee /lib\nsee /lib64\nsee /bin\n{extra}"
        ));
        let hidden = fs::metadata(j.path("hidden/file"))
            .unwrap()
            .ino()
            .to_string();
        let before = fs::read(j.path("hidden/file")).unwrap();
        let script = j.expand(LONE_NAME);
        let out = j
            .cmd(&[
                "/usr/bin/python3",
                "-c",
                script.as_str(),
                hidden.as_str(),
                tries,
            ])
            .timeout(Duration::from_secs(120))
            .run();
        out.assert_code(0);
        let (leaks, files, links) =
            lone_name_counts(&out).unwrap_or_else(|| panic!("[{mode}] {}", out.describe()));
        assert_eq!(
            leaks,
            0,
            "[{mode}] the hidden file was reached: {}",
            out.describe()
        );
        assert!(
            files > 0 && links > 0,
            "[{mode}] the race was not live: {}",
            out.describe()
        );
        assert_eq!(fs::read(j.path("hidden/file")).unwrap(), before);
    }
}

/// The tracer remembers a directory it has looked up by its canonical
/// name only where the jail cannot change it. A directory of the write
/// tree, looked up again and again by its absolute name, then moved away
/// and replaced by a symlink to the hidden directory, must not be reached
/// through its old name. Natively (the control) the symlink reaches the
/// hidden file; jailed, with Landlock and without, as root and as an
/// ordinary user, it must not.
#[test]
fn a_directory_looked_up_often_in_the_write_tree_is_not_remembered_past_a_swap() {
    let script = "d={jail}/d; mkdir $d && for i in 1 2 3 4 5 6 7 8; do test -d $d && ls -d $d/ >/dev/null; done; \
                  mv $d {jail}/gone && ln -s {hidden} $d && echo listed $(ls $d) && cat $d/file; echo status $?";
    let native = Jail::new();
    let out = run_native(
        &["/bin/sh", "-c", &native.expand(script)],
        Duration::from_secs(10),
    );
    assert_eq!(
        out.stdout,
        "listed dir file\nsecret\nstatus 0\n",
        "control: {}",
        out.describe()
    );
    for (landlock, unprivileged) in crate::support::landlock_and_users() {
        let mut j = Jail::new();
        j.add_config(&format!(
            "see /usr\nsee /bin\nsee /lib\nsee /lib64\nlandlock {landlock}\n"
        ));
        if unprivileged {
            crate::support::run_as_test_user(&mut j);
        }
        let out = j.cmd(&["/bin/sh", "-c", &j.expand(script)]).run();
        let context = format!("landlock {landlock}, unprivileged {unprivileged}");
        assert!(
            !out.stdout.contains("secret") && !out.stdout.contains("dir file"),
            "[{context}] {}",
            out.describe()
        );
        assert_eq!(
            out.lines().last(),
            Some(&"status 1"),
            "[{context}] {}",
            out.describe()
        );
    }
}
