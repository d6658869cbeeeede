//! `cow` trees under real programs (issue 14): a build with make and gcc,
//! git, a Python venv, a renamed directory of many files, a session, an
//! unprivileged user, a full disk. Each test checks the exit status, the
//! program's own output, and the real tree by checksums before and after.

use crate::support::{Jail, Output, is_root, test_user};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What a tree holds, per relative path: its kind, mode and a SHA-256 of
/// its content (a symlink: its target). With `exact`, also its inode and
/// modification time, so that "untouched" means byte for byte and object
/// for object.
fn snapshot(root: &Path, exact: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if meta.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else {
                let bytes = fs::read(&path).unwrap();
                let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
                let hex: String = digest
                    .as_ref()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                format!("file {hex}")
            };
            let mut line = format!("{what} mode {:o}", meta.mode() & 0o7777);
            if exact {
                line.push_str(&format!(
                    " ino {} mtime {}.{}",
                    meta.ino(),
                    meta.mtime(),
                    meta.mtime_nsec()
                ));
            }
            out.insert(rel, line);
        }
    }
    out
}

/// The standard system directories a compiler or interpreter needs.
const SYSTEM: &str = "see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\nsee /dev/null\nwrite /dev/null\n";

/// A jail with `{root}/tree` as a cow tree, its layers in `{root}/layers`.
fn cow_jail(landlock: &str, on_exit: &str, extra: &str) -> Jail {
    let mut j = Jail::bare();
    fs::create_dir_all(j.path("tree")).unwrap();
    j.set_config(&format!(
        "{SYSTEM}cow {{root}}/tree\ncowdir {{root}}/layers\nlandlock {landlock}\n\
         onexit {on_exit}\n{extra}"
    ));
    j
}

fn sh(j: &Jail, script: &str) -> Output {
    j.cmd(&["/bin/sh", "-c", &j.expand(script)])
        .timeout(Duration::from_secs(120))
        .run()
}

fn layer_command(j: &Jail, what: &str) -> Output {
    j.cmd(&[crate::support::IDENT]).ident(what).run()
}

fn layers(j: &Jail) -> usize {
    fs::read_dir(j.path("layers"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

const MAIN_C: &str = "#include <stdio.h>\n#include \"greet.h\"\n\
int main(void) { greet(\"cow\"); return 0; }\n";
const GREET_H: &str = "void greet(const char *who);\n";
const GREET_C: &str = "#include <stdio.h>\n#include \"greet.h\"\n\
void greet(const char *who) { printf(\"hello from %s\\n\", who); }\n";
/// No `-g`, and source names relative to the build directory: nothing in
/// the objects or the program depends on where it was built.
const MAKEFILE: &str = "CFLAGS = -O2\n\
hello: main.o greet.o\n\t$(CC) -o $@ main.o greet.o\n\
main.o: main.c greet.h\n\t$(CC) $(CFLAGS) -c main.c\n\
greet.o: greet.c greet.h\n\t$(CC) $(CFLAGS) -c greet.c\n";

/// `{root}/pkg/hello.tar`: `hello/` with two C files, a header and a
/// Makefile.
fn make_tarball(j: &Jail) -> PathBuf {
    let src = j.path("pkg/hello");
    fs::create_dir_all(&src).unwrap();
    for (name, text) in [
        ("main.c", MAIN_C),
        ("greet.h", GREET_H),
        ("greet.c", GREET_C),
        ("Makefile", MAKEFILE),
    ] {
        fs::write(src.join(name), text).unwrap();
    }
    let tar = j.path("pkg/hello.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(j.path("pkg"))
        .arg("-cf")
        .arg(&tar)
        .arg("hello")
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_dir_all(&src).unwrap();
    tar
}

/// The program untars and builds with make and gcc (temporary files in
/// a directory of the cow tree it removes again).
const BUILD: &str = "cd {root}/tree && tar xf {root}/pkg/hello.tar && cd hello \
     && mkdir -p {root}/tree/.tmp && TMPDIR={root}/tree/.tmp make \
     && rmdir {root}/tree/.tmp && ./hello";

#[test]
fn cow_untar_and_build_with_make_and_gcc_equals_a_native_build() {
    for tool in ["make", "gcc", "tar"] {
        if !Path::new("/usr/bin").join(tool).exists() {
            crate::support::skip(&format!("{tool} is not installed"));
            return;
        }
    }
    // The native build, in a separate directory.
    let native = Jail::bare();
    make_tarball(&native);
    fs::create_dir_all(native.path("tree")).unwrap();
    fs::write(native.path("tree/README"), "a tree\n").unwrap();
    let out = crate::support::run_native(
        &["/bin/sh", "-c", &native.expand(BUILD)],
        Duration::from_secs(60),
    );
    assert!(
        out.stdout.ends_with("hello from cow\n"),
        "native: {}",
        out.describe()
    );
    let want = snapshot(&native.path("tree"), false);
    assert!(want.contains_key("hello/hello") && want.contains_key("hello/greet.o"));

    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "keep", "see {root}/pkg\n");
        make_tarball(&j);
        fs::write(j.path("tree/README"), "a tree\n").unwrap();
        let before = snapshot(&j.path("tree"), true);
        let out = sh(&j, BUILD);
        out.assert_code(0);
        assert!(
            out.stdout.ends_with("hello from cow\n") && out.stdout.contains("-c main.c"),
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(
            snapshot(&j.path("tree"), true),
            before,
            "[{landlock}] the real tree changed before the commit"
        );
        let changes = layer_command(&j, "changes");
        changes.assert_code(0);
        let tree = j.path("tree").display().to_string();
        assert!(
            changes
                .lines()
                .iter()
                .any(|line| line.starts_with(&format!("A {tree}/hello"))),
            "[{landlock}] {}",
            changes.describe()
        );
        let commit = layer_command(&j, "commit");
        commit.assert_code(0);
        assert_eq!(commit.lines().last(), Some(&"Committed"));
        assert_eq!(
            snapshot(&j.path("tree"), false),
            want,
            "[{landlock}] after the commit the tree is the native build's"
        );
        // The commit kept the modification times: make finds the build
        // up to date.
        let status = Command::new("make")
            .arg("-q")
            .arg("-C")
            .arg(j.path("tree/hello"))
            .status()
            .unwrap();
        assert!(status.success(), "[{landlock}] make -q: {status}");
        assert_eq!(layers(&j), 0);
    }
}

#[test]
fn cow_git_init_add_commit_log() {
    if !Path::new("/usr/bin/git").exists() {
        crate::support::skip("git is not installed (.ci/run installs it)");
        return;
    }
    const GIT: &str = "cd {root}/tree && git init -q && git add . \
         && git -c user.name=Cow -c user.email=cow@example.org commit -q -m 'first commit' \
         && echo changed >> a && git -c user.name=Cow -c user.email=cow@example.org commit -q -am second \
         && git log --format=%s && git status --porcelain && echo clean";
    for landlock in ["auto", "off"] {
        let j = cow_jail(
            landlock,
            "keep",
            "see /dev/urandom\nsetenv HOME /nonexistent\n",
        );
        fs::write(j.path("tree/a"), "alpha\n").unwrap();
        fs::create_dir_all(j.path("tree/sub")).unwrap();
        fs::write(j.path("tree/sub/b"), "beta\n").unwrap();
        let before = snapshot(&j.path("tree"), true);
        let out = sh(&j, GIT);
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["second", "first commit", "clean"],
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(
            snapshot(&j.path("tree"), true),
            before,
            "[{landlock}] the real tree changed"
        );
        // A second run sees the repository the first made.
        let out = sh(
            &j,
            "cd {root}/tree && git log --format=%s && git fsck --no-dangling && echo ok",
        );
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["second", "first commit", "ok"],
            "{}",
            out.describe()
        );
        let commit = layer_command(&j, "commit");
        commit.assert_code(0);
        assert_eq!(
            fs::read_to_string(j.path("tree/a")).unwrap(),
            "alpha\nchanged\n"
        );
        // Natively, the committed repository is whole.
        let native = crate::support::run_native(
            &[
                "/bin/sh",
                "-c",
                &j.expand("cd {root}/tree && git log --format=%s && git fsck --no-dangling && git status --porcelain && echo ok"),
            ],
            Duration::from_secs(30),
        );
        assert_eq!(
            native.stdout,
            "second\nfirst commit\nok\n",
            "[{landlock}] {}",
            native.describe()
        );
        assert_eq!(layers(&j), 0);
    }
}

#[test]
fn cow_python_venv_made_and_used_then_discarded() {
    let python = "/usr/bin/python3";
    if !Path::new(python).exists() {
        crate::support::skip("python3 is not installed");
        return;
    }
    // With ensurepip a venv gets pip; without (no python3-venv) a bare one.
    let has_ensurepip = Command::new(python)
        .args(["-c", "import ensurepip"])
        .status()
        .is_ok_and(|status| status.success());
    let venv = if has_ensurepip {
        "python3 -m venv v && v/bin/python -m pip --version >/dev/null && echo pip"
    } else {
        "python3 -m venv --without-pip v && echo pip"
    };
    let script = format!(
        "cd {{root}}/tree && {venv} && v/bin/python -c 'import sys; print(sys.prefix != sys.base_prefix, sys.prefix)' \
         && v/bin/python -c 'import json; open(\"out.json\", \"w\").write(json.dumps([1]))' && cat out.json && echo"
    );
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "discard", "setenv HOME /nonexistent\n");
        fs::write(j.path("tree/app.py"), "print('app')\n").unwrap();
        let before = snapshot(&j.path("tree"), true);
        let out = sh(&j, &script);
        out.assert_code(0);
        let tree = j.path("tree").display().to_string();
        assert_eq!(
            out.lines(),
            [
                "pip".to_string(),
                format!("True {tree}/v"),
                "[1]".to_string()
            ],
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(
            snapshot(&j.path("tree"), true),
            before,
            "[{landlock}] the real tree changed"
        );
        assert_eq!(layers(&j), 0, "the layer is discarded");
        assert!(!j.path("tree/v").exists());
    }
}

#[test]
fn cow_a_renamed_directory_of_a_hundred_files_commits_as_a_rename() {
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "commit", "");
        let dir = j.path("tree/old");
        fs::create_dir_all(&dir).unwrap();
        for n in 0..100 {
            fs::write(dir.join(format!("f{n:03}")), format!("file {n}\n")).unwrap();
        }
        let before = snapshot(&j.path("tree"), true);
        let inodes: BTreeMap<String, u64> = (0..100)
            .map(|n| {
                let name = format!("f{n:03}");
                let ino = fs::metadata(dir.join(&name)).unwrap().ino();
                (name, ino)
            })
            .collect();
        let dir_ino = fs::metadata(&dir).unwrap().ino();
        let out = sh(
            &j,
            "cd {root}/tree && mv old new && ls new | wc -l && cat new/f042 && test ! -e old && echo gone",
        );
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["100", "file 42", "gone"],
            "[{landlock}] {}",
            out.describe()
        );
        // The commit renames the directory: the same directory and the
        // same files (inodes), under the new name.
        assert!(!j.path("tree/old").exists());
        assert_eq!(fs::metadata(j.path("tree/new")).unwrap().ino(), dir_ino);
        let after = snapshot(&j.path("tree"), true);
        for (name, ino) in &inodes {
            let path = j.path("tree/new").join(name);
            assert_eq!(fs::metadata(&path).unwrap().ino(), *ino, "{name}");
            assert_eq!(
                after[&format!("new/{name}")],
                before[&format!("old/{name}")],
                "{name}: content, mode, inode and time kept"
            );
        }
        assert_eq!(after.len(), before.len());
        assert_eq!(layers(&j), 0);
    }
}

#[test]
fn cow_a_session_sees_its_own_changes_and_changes_lists_them_while_it_lives() {
    let mut j = cow_jail(
        "auto",
        "keep",
        "see {bin}\nchdir {root}/tree\nwakeup\nsockdir {root}/sock\nclearenv\n\
         setenv PATH /usr/bin:/bin\nprogram {bin}/sh_repl\ntimelimit 20\n",
    );
    fs::copy(
        crate::sessions::build_driver("sh_repl"),
        j.path("bin/sh_repl"),
    )
    .unwrap();
    fs::write(j.path("tree/a"), "alpha\n").unwrap();
    let before = snapshot(&j.path("tree"), true);
    let config = j.config_text().to_string();
    j.set_config(&config);
    let _session = EndSession(&j);
    let send = |input: &str| j.cmd::<&str>(&[]).stdin(input.as_bytes()).run();
    let first = send("echo one > made; echo more >> a; mkdir d; cd d\n");
    first.assert_code(0);
    assert_eq!(first.lines(), [""; 0], "{}", first.describe());
    let second = send("pwd; cat ../made ../a; ls ..\n");
    second.assert_code(0);
    let tree = j.path("tree").display().to_string();
    assert_eq!(
        second.lines(),
        [
            format!("{tree}/d"),
            "one".into(),
            "alpha".into(),
            "more".into(),
            "a".into(),
            "d".into(),
            "made".into()
        ],
        "{}",
        second.describe()
    );
    let changes = layer_command(&j, "changes");
    changes.assert_code(0);
    assert_eq!(
        changes.lines(),
        [
            format!("M {tree}/a (6 -> 11 bytes)"),
            format!("A {tree}/d/"),
            format!("A {tree}/made (4 bytes)"),
        ],
        "{}",
        changes.describe()
    );
    assert_eq!(snapshot(&j.path("tree"), true), before);
    // A commit while the session holds the layer is refused.
    let refused = layer_command(&j, "commit");
    assert_ne!(refused.code(), 0, "{}", refused.describe());
    assert_eq!(snapshot(&j.path("tree"), true), before);
    let kill = j.cmd(&[crate::support::IDENT]).ident("kill").run();
    kill.assert_code(0);
    let commit = layer_command(&j, "commit");
    commit.assert_code(0);
    assert_eq!(fs::read_to_string(j.path("tree/made")).unwrap(), "one\n");
    assert_eq!(
        fs::read_to_string(j.path("tree/a")).unwrap(),
        "alpha\nmore\n"
    );
    assert!(j.path("tree/d").is_dir());
}

/// Ends the test's session however the test ends.
struct EndSession<'a>(&'a Jail);

impl Drop for EndSession<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&[crate::support::IDENT]).ident("kill").run();
    }
}

/// A jail run as the test user (we are root), with the cow tree and the
/// layer directory the user's.
fn unprivileged_cow_jail() -> Jail {
    let mut j = cow_jail("auto", "keep", "");
    fs::create_dir_all(j.path("tree/sub")).unwrap();
    fs::write(j.path("tree/a"), "alpha\n").unwrap();
    fs::write(j.path("tree/sub/b"), "beta\n").unwrap();
    fs::create_dir_all(j.path("layers")).unwrap();
    fs::set_permissions(j.path("layers"), fs::Permissions::from_mode(0o700)).unwrap();
    crate::support::test_user_runs(&mut j);
    crate::support::chown_to_test_user(&[&j.path("tree"), &j.path("layers")]);
    j
}

#[test]
fn cow_unprivileged_user_changes_and_commits() {
    if !is_root() {
        // As an ordinary user the other tests are this test already.
        crate::support::skip("only root can run the jail as the test user");
        return;
    }
    let user = test_user();
    let j = unprivileged_cow_jail();
    let before = snapshot(&j.path("tree"), true);
    let out = sh(
        &j,
        "cd {root}/tree && echo more >> a && echo n > n && rm sub/b && chmod 600 a \
         && mv sub moved && id -u && cat a n && ls",
    );
    out.assert_code(0);
    let uid = nix::unistd::User::from_name(user)
        .unwrap()
        .unwrap()
        .uid
        .to_string();
    assert_eq!(
        out.lines(),
        [uid.as_str(), "alpha", "more", "n", "a", "moved", "n"],
        "{}",
        out.describe()
    );
    assert_eq!(snapshot(&j.path("tree"), true), before);
    let changes = layer_command(&j, "changes");
    changes.assert_code(0);
    assert!(changes.lines().len() >= 3, "{}", changes.describe());
    let commit = layer_command(&j, "commit");
    commit.assert_code(0);
    assert_eq!(
        commit.lines().last(),
        Some(&"Committed"),
        "{}",
        commit.describe()
    );
    assert_eq!(
        fs::read_to_string(j.path("tree/a")).unwrap(),
        "alpha\nmore\n"
    );
    assert_eq!(
        fs::metadata(j.path("tree/a")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::read_to_string(j.path("tree/n")).unwrap(), "n\n");
    assert!(j.path("tree/moved").is_dir() && !j.path("tree/sub").exists());
    assert!(!j.path("tree/moved/b").exists());
    let uid: u32 = uid.parse().unwrap();
    for name in ["a", "n", "moved"] {
        assert_eq!(
            fs::metadata(j.path("tree").join(name)).unwrap().uid(),
            uid,
            "{name}"
        );
    }
    assert_eq!(layers(&j), 0);
}

/// Unmounts the test's tmpfs when the test ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn cow_a_full_disk_during_copy_up_is_enospc_and_the_real_tree_is_untouched() {
    if !is_root() {
        crate::support::skip("mounting a small tmpfs needs root");
        return;
    }
    // A file copied inside the tracer's loop, and one copied aside by a
    // copier process (past copyup::INLINE_BYTES).
    let cases = [
        ("auto", 400, "1m"),
        ("off", 400, "1m"),
        ("auto", 3072, "8m"),
        ("off", 3072, "8m"),
    ];
    for (landlock, kib, size) in cases {
        let mut j = Jail::bare();
        let small = j.path("small");
        fs::create_dir_all(&small).unwrap();
        let mount = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&small)
            .output()
            .unwrap();
        if !mount.status.success() {
            crate::support::skip(&format!(
                "cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&mount.stderr)
            ));
            return;
        }
        let _mounted = Mounted(small.clone());
        // The tree and its layer on one small filesystem (so the mirror
        // links), a file of `kib` KiB, and the rest of the space filled.
        fs::create_dir_all(small.join("tree")).unwrap();
        fs::write(small.join("tree/big"), vec![b'x'; kib * 1024]).unwrap();
        fs::write(small.join("tree/small"), "s\n").unwrap();
        j.set_config(&format!(
            "{SYSTEM}cow {{root}}/small/tree\ncowdir {{root}}/small/layers\nlandlock {landlock}\n\
             onexit keep\n"
        ));
        // Make the layer first (a run that changes nothing), then fill.
        let out = sh(&j, "cat {root}/small/tree/small");
        out.assert_code(0);
        assert_eq!(out.lines(), ["s"]);
        let stat = nix::sys::statvfs::statvfs(&small).unwrap();
        let free = stat.blocks_available() * stat.fragment_size();
        let fill = free.saturating_sub(100 * 1024);
        fs::write(small.join("filler"), vec![b'f'; fill as usize]).unwrap();
        let before = snapshot(&small.join("tree"), true);
        let out = sh(
            &j,
            "cd {root}/small/tree; echo more >> big; echo append=$?; echo n > small; echo small=$?; cat small",
        );
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["append=2", "small=0", "n"],
            "[{landlock} {kib} KiB] {}",
            out.describe()
        );
        out.assert_stderr_contains("No space left on device");
        assert_eq!(
            snapshot(&small.join("tree"), true),
            before,
            "[{landlock} {kib} KiB] the real tree changed"
        );
        // The failed copy left nothing behind: the change list is the
        // small file only.
        let changes = layer_command(&j, "changes");
        changes.assert_code(0);
        let tree = small.join("tree").display().to_string();
        assert_eq!(
            changes.lines(),
            [format!("M {tree}/small (2 -> 2 bytes)")],
            "[{landlock} {kib} KiB] {}",
            changes.describe()
        );
        drop(_mounted);
    }
}

/// In its mirror the user owns every directory, so the program can change
/// one the real tree does not let it change (root's, in the user's
/// tree). The commit must find that before applying anything: a
/// conflict (status 120), the real tree as it was, the layer kept.
#[test]
fn cow_unprivileged_commit_into_a_directory_not_yours_is_a_conflict_and_applies_nothing() {
    if !is_root() {
        crate::support::skip("only root can run the jail as the test user");
        return;
    }
    let j = unprivileged_cow_jail();
    fs::create_dir(j.path("tree/roots")).unwrap();
    fs::write(j.path("tree/roots/r"), "r\n").unwrap();
    // Natively the user cannot make a name there.
    let native = Command::new("setpriv")
        .args(&j.wrapper[1..])
        .args(["/bin/sh", "-c"])
        .arg(format!("echo x > {}/new", j.p("tree/roots")))
        .output()
        .unwrap();
    assert!(!native.status.success(), "control: the user wrote there");
    let before = snapshot(&j.path("tree"), true);
    let out = sh(
        &j,
        "cd {root}/tree && rm a && echo n > n && echo new > roots/new && cat roots/new",
    );
    out.assert_code(0);
    assert_eq!(out.lines(), ["new"], "{}", out.describe());
    let commit = layer_command(&j, "commit");
    commit.assert_code(120);
    commit.assert_stderr_contains(&format!(
        "C {}: the commit may not change this directory (permission)",
        j.p("tree/roots")
    ));
    assert_eq!(snapshot(&j.path("tree"), true), before, "nothing applied");
    assert_eq!(layers(&j), 1, "the layer is kept");
    // Discarded, it is gone and the tree still as it was.
    let discard = layer_command(&j, "discard");
    discard.assert_code(0);
    assert_eq!(snapshot(&j.path("tree"), true), before);
    assert_eq!(layers(&j), 0);
}

/// A file of `len` bytes of data (no hole: a copy-up copies holes as
/// holes, so only written data makes a copy slow), made once in a
/// directory of its own and hard-linked into each tree that needs it.
struct DataFile {
    dir: tempfile::TempDir,
}

impl DataFile {
    fn new(len: u64) -> DataFile {
        let dir = tempfile::Builder::new()
            .prefix("sbx-data-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut file = fs::File::create(dir.path().join("data")).unwrap();
        let chunk = vec![0x5a_u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let now = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut file, &chunk[..now]).unwrap();
            left -= now as u64;
        }
        DataFile { dir }
    }

    /// Puts the data at `path` (a new name for the same file).
    fn link(&self, path: &Path) {
        fs::hard_link(self.dir.path().join("data"), path).unwrap();
    }
}

/// One process of the program opens a large file of the tree for
/// appending (a copy-up of hundreds of MiB) while another stats and
/// opens a small file of the tree in a loop, noting the time of each
/// call: the copy must not hold the jail up, so many of those calls are
/// answered before the open returns.
const STREAM_DURING_COPY: &str = r#"
import os, sys, time
tree = sys.argv[1]
ready_r, ready_w = os.pipe()
stop_r, stop_w = os.pipe()
child = os.fork()
if child == 0:
    os.close(ready_r); os.close(stop_w)
    os.set_blocking(stop_r, False)
    stamps = []
    while True:
        os.stat(tree + "/small")
        os.close(os.open(tree + "/small", os.O_RDONLY))
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            os.write(ready_w, b"r")
        try:
            if os.read(stop_r, 1) == b"":
                break
        except BlockingIOError:
            pass
    sys.stdout.write("".join("call %.6f\n" % t for t in stamps))
    sys.stdout.flush()
    os._exit(0)
os.close(ready_w); os.close(stop_r)
os.read(ready_r, 1)
t0 = time.monotonic()
fd = os.open(tree + "/big", os.O_WRONLY | os.O_APPEND)
t1 = time.monotonic()
os.write(fd, b"end\n")
os.close(fd)
os.close(stop_w)
os.waitpid(child, 0)
print("open %.6f %.6f" % (t0, t1))
print("size", os.stat(tree + "/big").st_size)
"#;

/// The calls of [`STREAM_DURING_COPY`]'s second process answered while
/// the first one's open ran, the open's duration, and the size line.
fn calls_during_open(out: &Output) -> (usize, f64, String) {
    let mut calls = Vec::new();
    let (mut opened, mut size) = (None, String::new());
    for line in out.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["call", t] => calls.push(t.parse::<f64>().unwrap()),
            ["open", t0, t1] => opened = Some((t0.parse::<f64>().unwrap(), t1.parse().unwrap())),
            ["size", _] => size = line.to_string(),
            _ => panic!("unexpected line {line:?}\n{}", out.describe()),
        }
    }
    let (t0, t1): (f64, f64) = opened.unwrap_or_else(|| panic!("no open line\n{}", out.describe()));
    let during = calls.iter().filter(|t| **t > t0 && **t < t1).count();
    (during, t1 - t0, size)
}

#[test]
fn cow_a_huge_copy_up_does_not_hold_the_other_processes_of_the_jail() {
    const BIG: u64 = 512 << 20;
    // The native control: the script runs and prints its lines.
    let native = Jail::bare();
    fs::create_dir_all(native.path("tree")).unwrap();
    fs::write(native.path("tree/small"), "s\n").unwrap();
    fs::write(native.path("tree/big"), "b\n").unwrap();
    let control = Command::new("/usr/bin/python3")
        .args(["-c", STREAM_DURING_COPY])
        .arg(native.path("tree"))
        .output()
        .unwrap();
    assert!(control.status.success(), "control: {control:?}");
    let control = String::from_utf8_lossy(&control.stdout);
    assert!(
        control.lines().any(|line| line.starts_with("call ")),
        "control: {control}"
    );
    assert!(
        control.lines().any(|line| line == "size 6"),
        "control: {control}"
    );
    let data = DataFile::new(BIG);
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "discard", "");
        fs::write(j.path("tree/small"), "s\n").unwrap();
        data.link(&j.path("tree/big"));
        let out = j
            .cmd(&["/usr/bin/python3", "-c", STREAM_DURING_COPY, &j.p("tree")])
            .timeout(Duration::from_secs(120))
            .run();
        out.assert_code(0);
        let (during, took, size) = calls_during_open(&out);
        assert_eq!(size, format!("size {}", BIG + 4), "[{landlock}]");
        eprintln!(
            "[{landlock}] the copy-up's open took {took:.3} s; {during} calls answered meanwhile"
        );
        assert!(
            during >= 20,
            "[{landlock}] only {during} calls answered during the {took:.3} s open\n{}",
            out.stderr
        );
        assert_eq!(
            fs::metadata(j.path("tree/big")).unwrap().len(),
            BIG,
            "[{landlock}] the real file changed"
        );
    }
}

/// The processes that hold `path` open (by `/proc/<pid>/fd`).
fn holders_of(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for process in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(fds) = fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == path))
        {
            out.push(process.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn cow_the_time_limit_ends_a_jail_during_a_huge_copy_up() {
    const BIG: u64 = 2 << 30;
    let script = "import os, sys\nprint('opening', flush=True)\n\
                  os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\nprint('opened')\n";
    let data = DataFile::new(BIG);
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "keep", "timelimit 1\n");
        data.link(&j.path("tree/big"));
        let out = j
            .cmd(&["/usr/bin/python3", "-c", script, &j.p("tree/big")])
            .run();
        out.assert_code(124);
        assert_eq!(out.lines(), ["opening"], "[{landlock}] {}", out.describe());
        assert!(
            out.elapsed < Duration::from_millis(2500),
            "[{landlock}] the jail took {:?} to end",
            out.elapsed
        );
        // No copier is left copying: nothing holds the file open.
        assert_eq!(
            holders_of(&j.path("tree/big")),
            Vec::<String>::new(),
            "[{landlock}]"
        );
        // The copy cut short left nothing in the layer.
        let changes = layer_command(&j, "changes");
        changes.assert_code(0);
        assert!(
            !changes.stdout.contains(".sandbox-copy"),
            "[{landlock}] {}",
            changes.describe()
        );
        assert_eq!(fs::metadata(j.path("tree/big")).unwrap().len(), BIG);
    }
}

/// Three processes append to one large file of the tree: the first is
/// killed while it waits for its copy-up, the other two ask for the same
/// copy at once. The jail goes on, and both appends land in one copy.
const SHARED_COPY: &str = r#"
import os, sys, signal, time
big, size = sys.argv[1], int(sys.argv[2])
def append(line):
    fd = os.open(big, os.O_WRONLY | os.O_APPEND)
    os.write(fd, line)
    os.close(fd)
victim = os.fork()
if victim == 0:
    append(b"victim\n")
    os._exit(0)
time.sleep(0.2)
try:
    os.kill(victim, signal.SIGKILL)
except ProcessLookupError:
    pass  # its copy was done already (in the jail a child that ended is gone)
_, status = os.waitpid(victim, 0)
print("victim killed" if os.WIFSIGNALED(status) else "victim done", file=sys.stderr)
other = os.fork()
if other == 0:
    append(b"b\n")
    os._exit(0)
append(b"a\n")
os.waitpid(other, 0)
with open(big, "rb") as f:
    f.seek(size)
    lines = sorted(line for line in f.read().decode().split() if line != "victim")
print("appended", *lines)
"#;

#[test]
fn cow_a_task_killed_during_its_copy_up_and_two_sharing_one_copy() {
    // Large enough that the copy outlasts the victim's 0.2 s.
    const BIG: u64 = 1 << 30;
    let native = Jail::bare();
    fs::write(native.path("big"), "b\n").unwrap();
    let control = Command::new("/usr/bin/python3")
        .args(["-c", SHARED_COPY])
        .arg(native.path("big"))
        .arg("2")
        .output()
        .unwrap();
    assert!(control.status.success(), "control: {control:?}");
    assert_eq!(String::from_utf8_lossy(&control.stdout), "appended a b\n");
    let data = DataFile::new(BIG);
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "keep", "");
        data.link(&j.path("tree/big"));
        let out = j
            .cmd(&[
                "/usr/bin/python3",
                "-c",
                SHARED_COPY,
                &j.p("tree/big"),
                &BIG.to_string(),
            ])
            .timeout(Duration::from_secs(120))
            .run();
        out.assert_code(0);
        eprintln!("[{landlock}] {}", out.stderr.trim());
        assert_eq!(
            out.lines(),
            ["appended a b"],
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(fs::metadata(j.path("tree/big")).unwrap().len(), BIG);
        // One copy, nothing else left in the layer.
        let changes = layer_command(&j, "changes");
        changes.assert_code(0);
        let tree = j.p("tree");
        assert_eq!(
            changes.lines().len(),
            1,
            "[{landlock}] {}",
            changes.describe()
        );
        assert!(
            changes.lines()[0].starts_with(&format!("M {tree}/big ({BIG} -> ")),
            "[{landlock}] {}",
            changes.describe()
        );
    }
}

/// The program changes two files of the tree that have extended
/// attributes: a small one by appending (copied up inline), a large one
/// by setting an attribute first (copied up aside, past 1 MiB). Each
/// copy keeps the original's attributes.
const XATTRS: &str = r#"
import os, sys
tree = sys.argv[1]
with open(tree + "/small", "a") as f:
    f.write("more\n")
os.setxattr(tree + "/big", "user.added", b"new")
for name in ("small", "big"):
    path = tree + "/" + name
    print(name, *("%s=%s" % (a, os.getxattr(path, a).decode()) for a in sorted(os.listxattr(path))))
"#;

#[test]
fn cow_a_copy_up_keeps_the_extended_attributes() {
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "commit", "");
        fs::write(j.path("tree/small"), "s\n").unwrap();
        DataFile::new(2 << 20).link(&j.path("tree/big"));
        // The native control: the filesystem takes user attributes.
        let set = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(
                "import os, sys\nfor p in sys.argv[1:]: os.setxattr(p, 'user.tag', p[-3:].encode())",
            )
            .arg(j.path("tree/small"))
            .arg(j.path("tree/big"))
            .output()
            .unwrap();
        if !set.status.success() {
            crate::support::skip(&format!(
                "{} takes no user extended attributes: {}",
                j.p("tree"),
                String::from_utf8_lossy(&set.stderr)
            ));
            return;
        }
        let out = j
            .cmd(&["/usr/bin/python3", "-c", XATTRS, &j.p("tree")])
            .timeout(Duration::from_secs(60))
            .run();
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["small user.tag=all", "big user.added=new user.tag=big"],
            "[{landlock}] {}",
            out.describe()
        );
        // Committed, the real files have them too.
        let read = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg("import os, sys\nfor p in sys.argv[1:]: print(*sorted(os.listxattr(p)))")
            .arg(j.path("tree/small"))
            .arg(j.path("tree/big"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&read.stdout),
            "user.tag\nuser.added user.tag\n",
            "[{landlock}]"
        );
        assert_eq!(
            fs::read_to_string(j.path("tree/small")).unwrap(),
            "s\nmore\n"
        );
    }
}

/// What the test user does with a file of the tree only root may read:
/// every line must be what it prints natively.
const UNREADABLE: &str = "cd {root}/tree; cat secret; echo cat=$?; echo x >> secret; echo append=$?; \
     touch secret; echo touch=$?; chmod 644 secret; echo chmod=$?; ln secret copy; echo ln=$?; \
     stat -c '%s %Y' secret; ls";

#[test]
fn cow_a_file_the_user_cannot_read_does_not_stop_the_jail_and_stays_unreadable() {
    if !is_root() {
        crate::support::skip("only root can run the jail as the test user");
        return;
    }
    let j = unprivileged_cow_jail();
    fs::write(j.path("tree/secret"), "root only\n").unwrap();
    fs::set_permissions(j.path("tree/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    let before = snapshot(&j.path("tree"), true);
    let native = Command::new("setpriv")
        .args(&j.wrapper[1..])
        .args(["/bin/sh", "-c"])
        .arg(j.expand(UNREADABLE))
        .output()
        .unwrap();
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(
        native.contains("cat=1\n"),
        "control: the user read it: {native}"
    );
    assert_eq!(
        snapshot(&j.path("tree"), true),
        before,
        "control changed the tree"
    );
    let out = sh(&j, &format!("{UNREADABLE}; echo more >> a; cat a"));
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        format!("{native}alpha\nmore\n"),
        "{}",
        out.describe()
    );
    out.assert_stderr_contains("Permission denied");
    assert!(!out.stdout.contains("root only"));
    assert_eq!(snapshot(&j.path("tree"), true), before);
    let changes = layer_command(&j, "changes");
    changes.assert_code(0);
    assert_eq!(
        changes.lines(),
        [format!("M {}/a (6 -> 11 bytes)", j.p("tree"))],
        "{}",
        changes.describe()
    );
    let commit = layer_command(&j, "commit");
    commit.assert_code(0);
    assert_eq!(
        fs::read_to_string(j.path("tree/secret")).unwrap(),
        "root only\n"
    );
    assert_eq!(
        fs::read_to_string(j.path("tree/a")).unwrap(),
        "alpha\nmore\n"
    );
}

/// In its mirror the user owns every directory, sticky ones included, so
/// the program can remove another user's file from a sticky directory
/// there; a commit must not do it on the real tree, where the user could
/// not (status 120, nothing applied). The user's own file there it
/// removes, and new names it makes, as natively.
#[test]
fn cow_a_commit_removes_no_other_users_file_from_a_sticky_directory() {
    if !is_root() {
        crate::support::skip("only root can run the jail as the test user");
        return;
    }
    let j = unprivileged_cow_jail();
    let shared = j.path("tree/shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(shared.join("theirs"), "root's\n").unwrap();
    fs::write(shared.join("mine"), "mine\n").unwrap();
    crate::support::chown_to_test_user(&[&shared.join("mine")]);
    let before = snapshot(&j.path("tree"), true);
    // Natively the user can neither remove nor move root's file there.
    let native = Command::new("setpriv")
        .args(&j.wrapper[1..])
        .args(["/bin/sh", "-c"])
        .arg(j.expand(
            "cd {root}/tree/shared; rm -f theirs; echo rm=$?; mv theirs ../moved; echo mv=$?",
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&native.stdout),
        "rm=1\nmv=1\n",
        "control: {native:?}"
    );
    assert_eq!(
        snapshot(&j.path("tree"), true),
        before,
        "control changed the tree"
    );
    for script in [
        "rm -f shared/theirs",
        "mv shared/theirs moved",
        "echo x > shared/theirs",
    ] {
        let out = sh(&j, &format!("cd {{root}}/tree && {script} && echo done"));
        out.assert_code(0);
        assert_eq!(out.lines(), ["done"], "{script}: {}", out.describe());
        let commit = layer_command(&j, "commit");
        commit.assert_code(120);
        commit.assert_stderr_contains(&format!(
            "C {}: the commit may not remove or replace this name (another user's, in a sticky directory)",
            shared.join("theirs").display()
        ));
        assert_eq!(
            snapshot(&j.path("tree"), true),
            before,
            "{script}: nothing applied"
        );
        layer_command(&j, "discard").assert_code(0);
    }
    let out = sh(
        &j,
        "cd {root}/tree/shared && rm mine && echo new > new && cat new theirs",
    );
    out.assert_code(0);
    assert_eq!(out.lines(), ["new", "root's"], "{}", out.describe());
    layer_command(&j, "commit").assert_code(0);
    assert!(!shared.join("mine").exists());
    assert_eq!(fs::read_to_string(shared.join("new")).unwrap(), "new\n");
    assert_eq!(
        fs::read_to_string(shared.join("theirs")).unwrap(),
        "root's\n"
    );
}

/// A file the program made and then made unreadable to its own user
/// (mode 0000, as natively it may) is committed as it is: the mirror is
/// the layer's own, so the commit reads it all the same.
#[test]
fn cow_unprivileged_commit_of_a_file_made_unreadable() {
    if !is_root() {
        crate::support::skip("only root can run the jail as the test user");
        return;
    }
    let j = unprivileged_cow_jail();
    let out = sh(
        &j,
        "cd {root}/tree && echo s > n && chmod 000 n && echo t >> a && chmod 000 a && echo done",
    );
    out.assert_code(0);
    assert_eq!(out.lines(), ["done"], "{}", out.describe());
    let commit = layer_command(&j, "commit");
    commit.assert_code(0);
    for (name, content) in [("n", "s\n"), ("a", "alpha\nt\n")] {
        let path = j.path("tree").join(name);
        assert_eq!(fs::read_to_string(&path).unwrap(), content, "{name}");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0, "{name}");
    }
    assert_eq!(layers(&j), 0);
}
