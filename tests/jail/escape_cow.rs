//! Attacks on `cow` trees (docs/cow.md): from inside the jail, change a
//! byte or the metadata of a file of the REAL tree (whose files the
//! mirror hard-links: "originals"), or reach the layer. Each trick runs
//! natively as a control where that means something, then jailed with
//! Landlock on and with `landlock off`, as root and as an unprivileged
//! user; the real tree's state is compared before and after.

use crate::support::{Jail, Output, is_root, run_native};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// Every object under `root`: its name, kind, mode, owner, size,
/// modification time and content (a symlink's target).
fn state(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let body = if kind.is_dir() {
                stack.push(path.clone());
                String::from("dir")
            } else if kind.is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else if kind.is_file() {
                String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned()
            } else {
                String::from("special")
            };
            out.push(format!(
                "{rel} mode={:o} owner={}:{} size={} mtime={}.{} {body:?}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
            ));
        }
    }
    out.sort();
    out
}

/// A jail with `cow {root}/tree` (files `a`, `sub/b` and `many/f0..`)
/// and `write {root}/out`, layers in `{root}/layers`; as the test user
/// (through setpriv, owning the tree, so that the mirror links its files
/// under `protected_hardlinks`) when `unprivileged` and we are root.
fn cow_jail(landlock: &str, unprivileged: bool) -> Jail {
    let mut j = Jail::bare();
    let tree = j.path("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::create_dir_all(tree.join("many")).unwrap();
    fs::create_dir_all(j.path("out")).unwrap();
    fs::write(tree.join("a"), "alpha\n").unwrap();
    fs::write(tree.join("sub/b"), "beta\n").unwrap();
    for i in 0..RACE_FILES {
        fs::write(tree.join(format!("many/f{i}")), format!("original {i}\n")).unwrap();
    }
    j.set_config(&format!(
        "see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee {{root}}/out\nwrite {{root}}/out\n\
         cow {{root}}/tree\ncowdir {{root}}/layers\nlandlock {landlock}\nonexit discard\n"
    ));
    if unprivileged && is_root() {
        fs::create_dir(j.path("layers")).unwrap();
        fs::set_permissions(j.path("layers"), fs::Permissions::from_mode(0o700)).unwrap();
        crate::support::test_user_runs(&mut j);
        crate::support::chown_to_test_user(&[&j.path("tree"), &j.path("out"), &j.path("layers")]);
    }
    j
}

/// The runs of every trick: Landlock on and off, as root (or whoever we
/// are) and, when we are root, as the unprivileged test user.
fn each_jail(mut body: impl FnMut(&Jail, &str)) {
    let users: &[bool] = if is_root() { &[false, true] } else { &[false] };
    for &unprivileged in users {
        for landlock in ["auto", "off"] {
            let how = format!("landlock {landlock}, unprivileged {unprivileged}");
            let j = cow_jail(landlock, unprivileged);
            body(&j, &how);
        }
    }
}

fn python(j: &Jail, script: &str, args: &[&str], timeout: Duration) -> Output {
    let script = j.expand(script);
    let mut all = vec!["/usr/bin/python3", "-c", script.as_str()];
    all.extend_from_slice(args);
    j.cmd(&all).timeout(timeout).run()
}

/// Binds a unix socket in the tree, listens, connects to it by its
/// name and lists the directory.
const BIND: &str = "
import os, socket
os.chdir('{root}/tree/sub')
s = socket.socket(socket.AF_UNIX)
s.bind('{root}/tree/sub/s.sock')
s.listen()
c = socket.socket(socket.AF_UNIX)
c.connect('{root}/tree/sub/s.sock')
print('connected')
print(' '.join(sorted(os.listdir('.'))))
";

#[test]
fn escape_cow_a_unix_socket_bound_in_a_cow_tree_is_made_in_the_mirror_not_the_real_tree() {
    // The control: natively the bind makes a socket file in the tree.
    let native = cow_jail("off", false);
    let script = native.expand(BIND);
    let out = run_native(
        &["/usr/bin/python3", "-c", script.as_str()],
        Duration::from_secs(20),
    );
    assert_eq!(
        out.lines(),
        ["connected", "b s.sock"],
        "control: {}",
        out.describe()
    );
    assert!(native.path("tree/sub/s.sock").exists());

    each_jail(|j, how| {
        let before = state(&j.path("tree"));
        let out = python(j, BIND, &[], Duration::from_secs(30));
        // Before the fix: without Landlock the bind made the socket file
        // in the REAL tree (the tracer handed the kernel the real tree's
        // directory); with it, EACCES.
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["connected", "b s.sock"],
            "[{how}] {}",
            out.describe()
        );
        assert!(
            !j.path("tree/sub/s.sock").exists(),
            "[{how}] a socket in the real tree"
        );
        assert_eq!(
            state(&j.path("tree")),
            before,
            "[{how}] the real tree changed"
        );
    });
}

/// How many originals the race below tries (one per attempt: the first
/// time the jail sees an original under the name it copies it up).
const RACE_FILES: usize = 150;

/// A child renames original `many/f<i>` to `many/y` while the parent
/// opens `many/y` for appending, over and over, without `O_CREAT`:
/// checked while the name is free, opened once the original is there.
/// A win is a descriptor on the original's inode (known by `stat` first:
/// the mirror links it), written through.
const RACE: &str = "
import os, sys, time
T = '{root}/tree/many'
wins = 0
for i in range(int(sys.argv[1])):
    src = T + '/f%d' % i
    ino = os.stat(src).st_ino
    pid = os.fork()
    if pid == 0:
        time.sleep(0.002)
        os.rename(src, T + '/y')
        os._exit(0)
    # Until the rename lands (bounded in time, not in tries, so that a
    # child scheduled late on a busy machine still races).
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            fd = os.open(T + '/y', os.O_WRONLY | os.O_APPEND)
        except OSError:
            continue
        if os.fstat(fd).st_ino == ino:
            os.write(fd, b'PWNED\\n')
            wins += 1
        os.close(fd)
        break
    os.waitpid(pid, 0)
    try:
        os.unlink(T + '/y')
    except OSError:
        pass
print('wins', wins)
";

#[test]
fn escape_cow_a_write_open_of_a_missing_name_never_opens_an_original_renamed_there() {
    // The control: natively every attempt opens the renamed file itself.
    let native = cow_jail("off", false);
    let script = native.expand(RACE);
    let count = RACE_FILES.to_string();
    let out = run_native(
        &["/usr/bin/python3", "-c", script.as_str(), count.as_str()],
        Duration::from_secs(60),
    );
    let wins: usize = out
        .stdout
        .trim()
        .strip_prefix("wins ")
        .and_then(|wins| wins.parse().ok())
        .unwrap_or_else(|| panic!("control: {}", out.describe()));
    assert!(wins > RACE_FILES / 2, "control: {}", out.describe());

    each_jail(|j, how| {
        let before = state(&j.path("tree"));
        let out = python(j, RACE, &[count.as_str()], Duration::from_secs(120));
        // Before the fix about one attempt in four won, with Landlock
        // (which lets the mirror be written) as without.
        out.assert_code(0);
        assert_eq!(out.lines(), ["wins 0"], "[{how}] {}", out.describe());
        assert_eq!(
            state(&j.path("tree")),
            before,
            "[{how}] the real tree changed"
        );
    });
}

#[test]
fn escape_cow_a_layer_directory_reached_through_a_symlink_into_a_write_tree_is_refused() {
    for landlock in ["auto", "off"] {
        let mut j = cow_jail(landlock, false);
        // `cowdir {root}/link/layers`, `{root}/link -> out`: lexically
        // apart from every tree, canonically inside the write tree, where
        // the mirror's hard links to the real files would be written as
        // any file of `out` (neither mapped nor copied up).
        std::os::unix::fs::symlink(j.path("out"), j.path("link")).unwrap();
        let config = j.config_text().replace(
            &format!("cowdir {}\n", j.p("layers")),
            &format!("cowdir {}\n", j.p("link/layers")),
        );
        assert_ne!(config, j.config_text());
        j.set_config(&config);
        let before = state(&j.path("tree"));
        let script = "for d in {root}/out/layers/*; do echo PWNED >> $d/0/a; done; echo ran";
        let out = j.cmd(&["/bin/sh", "-c", &j.expand(script)]).run();
        assert_ne!(out.code(), 0, "[{landlock}] {}", out.describe());
        assert!(
            out.lines().is_empty(),
            "[{landlock}] the program ran: {}",
            out.describe()
        );
        out.assert_stderr_contains(&format!(
            "cannot be used: it is {} and overlaps",
            j.p("out/layers")
        ));
        assert_eq!(
            state(&j.path("tree")),
            before,
            "[{landlock}] the real tree changed"
        );
    }
}

/// Swaps the names `a` (a file of the tree) and `s` (a symlink to the
/// hidden file) with RENAME_EXCHANGE in a second process while the first
/// opens `a` for reading and appending, thousands of times: the jail's
/// copy-up must never copy, read or write the hidden file.
const SWAP: &str = "
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
os.chdir('{root}/tree')
os.symlink('{root}/hidden/file', 's')
tries = int(sys.argv[1])
until_leak = len(sys.argv) > 2
swapper = os.fork()
if swapper == 0:
    while True:
        libc.syscall(316, -100, b'a', -100, b's', 2)
# The race is live only once the swapper runs: on a busy machine it may
# not be scheduled before a short loop ends.
while not os.path.islink('a'):
    os.sched_yield()
leaks = opened = refused = done = 0
# At least `tries`, and on until both names were met (bounded in time):
# on a busy machine the swapper may sit still for a while.
deadline = time.monotonic() + 20
while done < tries or not (opened and refused or until_leak):
    if until_leak and leaks or time.monotonic() > deadline:
        break
    done += 1
    try:
        fd = os.open('a', os.O_RDWR | os.O_APPEND)
    except OSError:
        refused += 1
        continue
    opened += 1
    if b'secret' in os.pread(fd, 100, 0):
        leaks += 1
    os.write(fd, b'x')
    os.close(fd)
os.kill(swapper, 9)
os.waitpid(swapper, 0)
print('leaks', leaks, 'opened', opened, 'refused', refused)
";

fn swap_counts(out: &Output) -> Option<(u64, u64, u64)> {
    let line = out
        .lines()
        .into_iter()
        .find(|line| line.starts_with("leaks "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["leaks", leaks, "opened", opened, "refused", refused] => Some((
            leaks.parse().ok()?,
            opened.parse().ok()?,
            refused.parse().ok()?,
        )),
        _ => None,
    }
}

#[test]
fn escape_cow_a_name_swapped_for_a_symlink_to_a_hidden_file_during_copy_up_never_reaches_it() {
    let tries = "3000";
    // The control: natively the open follows the swapped-in symlink. It
    // tries until the swap wins once (bounded), so a loaded machine does
    // not make it fail.
    let native = cow_jail("off", false);
    let script = native.expand(SWAP);
    let out = run_native(
        &[
            "/usr/bin/python3",
            "-c",
            script.as_str(),
            "200000",
            "until-leak",
        ],
        Duration::from_secs(60),
    );
    let (leaks, ..) = swap_counts(&out).unwrap_or_else(|| panic!("control: {}", out.describe()));
    assert!(leaks > 0, "control: the swap never won: {}", out.describe());

    each_jail(|j, how| {
        let before = state(&j.path("tree"));
        let hidden = fs::read(j.path("hidden/file")).unwrap();
        let out = python(j, SWAP, &[tries], Duration::from_secs(120));
        out.assert_code(0);
        let (leaks, opened, refused) =
            swap_counts(&out).unwrap_or_else(|| panic!("[{how}] {}", out.describe()));
        assert_eq!(
            leaks,
            0,
            "[{how}] the hidden file was read: {}",
            out.describe()
        );
        // Both names were met: the race was live.
        assert!(opened > 0 && refused > 0, "[{how}] {}", out.describe());
        assert_eq!(
            fs::read(j.path("hidden/file")).unwrap(),
            hidden,
            "[{how}] hidden file written"
        );
        assert_eq!(
            state(&j.path("tree")),
            before,
            "[{how}] the real tree changed"
        );
    });
}
