//! `cow` trees (issue 14): the program changes a tree it sees through a
//! private layer; the real tree stays byte for byte what it was until a
//! commit, which makes it what the program saw. Run with Landlock on and
//! with `landlock off`.

use crate::support::Jail;
use std::fs;
use std::path::Path;

/// Every file and directory under `root`, with its content or mode.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(path);
            } else {
                out.push(format!("{rel}: {}", fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn cow_jail(landlock: &str, on_exit: &str) -> Jail {
    let mut j = Jail::bare();
    let tree = j.path("tree");
    fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    fs::write(tree.join("a"), "alpha\n").unwrap();
    fs::write(tree.join("sub/b"), "beta\n").unwrap();
    fs::write(tree.join("sub/deeper/c"), "gamma\n").unwrap();
    j.set_config(&format!(
        "see /usr\nsee /bin\nsee /lib\nsee /lib64\ncow {{root}}/tree\ncowdir {{root}}/layers\n\
         landlock {landlock}\nonexit {on_exit}\nreport\n"
    ));
    j
}

/// What the program does: append, create, delete, rm -rf and make again,
/// rename a directory with unchanged files, then list and print.
const SCRIPT: &str = "cd {root}/tree && echo more >> a && echo new > n && rm sub/b \
     && rm -rf sub/deeper && mkdir sub/deeper && echo again > sub/deeper/d \
     && mkdir keep && echo k > keep/k && mv keep kept \
     && cat a n sub/deeper/d kept/k && ls {root}/tree/sub && echo done";

fn run_script(j: &Jail) -> crate::support::Output {
    j.cmd(&["/bin/sh", "-c", &j.expand(SCRIPT)]).run()
}

fn expected_after() -> Vec<String> {
    let mut want: Vec<String> = [
        "a: alpha\nmore\n",
        "kept/",
        "kept/k: k\n",
        "n: new\n",
        "sub/",
        "sub/deeper/",
        "sub/deeper/d: again\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    want
}

#[test]
fn a_cow_tree_changes_only_in_the_layer_and_the_layer_is_hidden() {
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "keep");
        let before = listing(&j.path("tree"));
        let out = run_script(&j);
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["alpha", "more", "new", "again", "k", "deeper", "done"],
            "landlock {landlock}: {}",
            out.describe()
        );
        assert_eq!(
            listing(&j.path("tree")),
            before,
            "the real tree is untouched"
        );
        for line in ["[Cow] M ", "[Cow] A ", "[Cow] D "] {
            out.assert_stderr_contains(line);
        }
        // The layer's own files do not exist for the program; its
        // mirror, named by its real path, is the tree itself (the same
        // merged view, judged as the tree).
        let layers = j.path("layers");
        let layer = fs::read_dir(&layers)
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let mirror_file = layer.join("0/n");
        let manifest = layer.join("0.manifest");
        assert_eq!(fs::read_to_string(&mirror_file).unwrap(), "new\n");
        assert!(manifest.exists());
        let out = j
            .cmd(&[
                "/bin/sh",
                "-c",
                &format!(
                    "cat {} || echo hidden; cat {}; echo mirrored > {}; cat {}",
                    manifest.display(),
                    mirror_file.display(),
                    layer.join("0/m").display(),
                    j.path("tree/m").display(),
                ),
            ])
            .run();
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["hidden", "new", "mirrored"],
            "{}",
            out.describe()
        );
        out.assert_stderr_contains("No such file or directory");
        assert!(!j.path("tree/m").exists(), "the real tree changed");
        // The kept layer is reused: the next run sees the changes.
        let out = j
            .cmd(&[
                "/bin/sh",
                "-c",
                &j.expand("cat {root}/tree/n && ls {root}/tree"),
            ])
            .run();
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["new", "a", "kept", "m", "n", "sub"],
            "{}",
            out.describe()
        );
        assert_eq!(listing(&j.path("tree")), before);
    }
}

#[test]
fn onexit_commit_makes_the_real_tree_what_the_program_saw() {
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "commit");
        let out = run_script(&j);
        out.assert_code(0);
        assert_eq!(out.lines().last(), Some(&"done"), "{}", out.describe());
        assert_eq!(
            listing(&j.path("tree")),
            expected_after(),
            "landlock {landlock}"
        );
        // Natively, the same script gives the same tree.
        let native = Jail::bare();
        let tree = native.path("tree");
        fs::create_dir_all(tree.join("sub/deeper")).unwrap();
        fs::write(tree.join("a"), "alpha\n").unwrap();
        fs::write(tree.join("sub/b"), "beta\n").unwrap();
        fs::write(tree.join("sub/deeper/c"), "gamma\n").unwrap();
        let status = std::process::Command::new("/bin/sh")
            .args(["-c", &native.expand(SCRIPT)])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(listing(&tree), expected_after());
        assert_eq!(
            fs::read_dir(j.path("layers")).unwrap().count(),
            0,
            "the layer is gone after a commit"
        );
    }
}

#[test]
fn onexit_discard_leaves_the_real_tree_and_drops_the_layer() {
    let j = cow_jail("auto", "discard");
    let before = listing(&j.path("tree"));
    let out = run_script(&j);
    out.assert_code(0);
    assert_eq!(out.lines().last(), Some(&"done"), "{}", out.describe());
    assert_eq!(listing(&j.path("tree")), before);
    assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 0);
}

#[test]
fn a_commit_over_a_file_changed_meanwhile_is_a_conflict() {
    let mut j = cow_jail("auto", "keep");
    let out = j
        .cmd(&[
            "/bin/sh",
            "-c",
            &j.expand("echo mine > {root}/tree/a && echo done"),
        ])
        .run();
    out.assert_code(0);
    assert_eq!(out.lines(), ["done"]);
    // Someone edits the real file; then a run that commits.
    fs::write(j.path("tree/a"), "theirs\n").unwrap();
    let config = j.config_text().replace("onexit keep", "onexit commit");
    j.set_config(&config);
    let out = j.cmd(&["/bin/sh", "-c", "echo done"]).run();
    out.assert_code(120);
    assert_eq!(out.lines(), ["done"]);
    out.assert_stderr_contains("changed on the real tree since the layer was made");
    assert_eq!(fs::read_to_string(j.path("tree/a")).unwrap(), "theirs\n");
}

/// Moves and links out of a cow tree into a `write` tree on the same
/// filesystem as the layer: a hard link there would be a writable name
/// of the real tree's file (or, for a directory moved out, of all its
/// files). `ln` must fail with EXDEV, `mv` must copy, and what is then
/// written outside reaches only copies.
const MOVE_OUT: &str = "cd {root} \
     && { ln tree/a out/la && echo linked >> out/la; echo ln=$?; } \
     ; mv tree/sub out/sub && echo moved >> out/sub/b && echo mv-dir=$? \
     ; mv tree/a out/ma && echo moved >> out/ma && echo mv-file=$? \
";

fn move_out_tree(j: &Jail) {
    let tree = j.path("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::create_dir_all(j.path("out")).unwrap();
    fs::write(tree.join("a"), "alpha\n").unwrap();
    fs::write(tree.join("sub/b"), "beta\n").unwrap();
}

#[test]
fn escape_cow_move_or_link_out_of_the_tree_never_reaches_the_real_files() {
    // The control: natively, a hard link made outside the tree writes
    // the tree's file (what the jail must prevent for its real tree).
    let native = Jail::bare();
    move_out_tree(&native);
    let out = crate::support::run_native(
        &["/bin/sh", "-c", &native.expand(MOVE_OUT)],
        std::time::Duration::from_secs(20),
    );
    assert!(out.stdout.contains("ln=0"), "control: {}", out.describe());
    assert_eq!(
        fs::read_to_string(native.path("out/ma")).unwrap(),
        "alpha\nlinked\nmoved\n",
        "control: the link wrote the tree's file"
    );

    for landlock in ["auto", "off"] {
        let mut j = cow_jail(landlock, "keep");
        move_out_tree(&j);
        j.add_config("see {root}/out\nwrite {root}/out\n");
        let before = listing(&j.path("tree"));
        let out = j.cmd(&["/bin/sh", "-c", &j.expand(MOVE_OUT)]).run();
        out.assert_code(0);
        // ln: "Invalid cross-device link", and nothing linked.
        assert!(
            out.stdout.contains("ln=1"),
            "[{landlock}] {}",
            out.describe()
        );
        assert!(
            out.stdout.contains("mv-dir=0"),
            "[{landlock}] {}",
            out.describe()
        );
        assert!(
            out.stdout.contains("mv-file=0"),
            "[{landlock}] {}",
            out.describe()
        );
        assert!(!j.path("out/la").exists());
        // The moved copies got the writes; the real tree did not.
        assert_eq!(
            fs::read_to_string(j.path("out/ma")).unwrap(),
            "alpha\nmoved\n"
        );
        assert_eq!(
            fs::read_to_string(j.path("out/sub/b")).unwrap(),
            "beta\nmoved\n"
        );
        assert_eq!(
            listing(&j.path("tree")),
            before,
            "[{landlock}] the real tree changed"
        );
    }
}

/// The program is never shown the layer's path: `pwd`, a script run by
/// its path (the kernel hands the interpreter the mirror's name), a
/// symlink made from `$(pwd)` and Python's `os.getcwd()` all work with the
/// tree's own names.
#[test]
fn a_cow_tree_shows_its_own_names_to_the_program() {
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "commit");
        fs::write(
            j.path("tree/run.sh"),
            "#!/bin/sh\necho script in $(pwd) as $0\n",
        )
        .unwrap();
        fs::set_permissions(
            j.path("tree/run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let script = "cd {root}/tree/sub && /bin/pwd && ../run.sh \
             && ln -s \"$(/bin/pwd)/b\" {root}/tree/link && cat {root}/tree/link \
             && printf '#!/bin/sh\\necho new script\\n' > ns && chmod +x ns && ./ns \
             && /usr/bin/python3 -c 'import os; print(os.getcwd())'";
        let out = j.cmd(&["/bin/sh", "-c", &j.expand(script)]).run();
        out.assert_code(0);
        let tree = j.path("tree").display().to_string();
        let mut lines = out.lines();
        // A script's `$0` is the name the kernel ran: in a cow tree, its
        // mirror's (which names the same file; docs/cow.md).
        let script_line = lines.remove(1);
        assert!(
            script_line.starts_with(&format!("script in {tree}/sub as /"))
                && script_line.ends_with("/run.sh"),
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(
            lines,
            [
                format!("{tree}/sub"),
                "beta".to_string(),
                "new script".to_string(),
                format!("{tree}/sub"),
            ],
            "[{landlock}] {}",
            out.describe()
        );
        // Committed, the symlink names the real tree, not the layer.
        assert_eq!(
            fs::read_link(j.path("tree/link")).unwrap(),
            j.path("tree/sub/b"),
            "[{landlock}]"
        );
    }
}

/// `sandbox <config> changes|commit|discard <ident>` on a kept layer:
/// the summary, the real tree changed only by `commit`, the layer gone
/// after `commit` or `discard`; with no layer, a message and status 0.
#[test]
fn the_layer_commands_show_commit_and_discard_a_kept_layer() {
    let j = cow_jail("auto", "keep");
    let ident = crate::support::IDENT;
    let out = j
        .cmd(&[
            "/bin/sh",
            "-c",
            &j.expand("echo more >> {root}/tree/a; echo n > {root}/tree/n"),
        ])
        .run();
    out.assert_code(0);
    let changes = j.cmd(&[ident]).ident("changes").run();
    changes.assert_code(0);
    let tree = j.path("tree").display().to_string();
    assert_eq!(
        changes.lines(),
        [
            format!("M {tree}/a (6 -> 11 bytes)"),
            format!("A {tree}/n (2 bytes)")
        ],
        "{}",
        changes.describe()
    );
    assert_eq!(fs::read_to_string(j.path("tree/a")).unwrap(), "alpha\n");
    let commit = j.cmd(&[ident]).ident("commit").run();
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
    assert_eq!(fs::read_to_string(j.path("tree/n")).unwrap(), "n\n");
    assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 0);
    let none = j.cmd(&[ident]).ident("changes").run();
    none.assert_code(0);
    assert!(none.lines().is_empty(), "{}", none.describe());
    none.assert_stderr_contains("no kept changes");

    let out = j
        .cmd(&["/bin/sh", "-c", &j.expand("rm {root}/tree/n")])
        .run();
    out.assert_code(0);
    let discard = j.cmd(&[ident]).ident("discard").run();
    discard.assert_code(0);
    assert_eq!(
        discard.lines(),
        [format!("D {tree}/n"), "Discarded".to_string()],
        "{}",
        discard.describe()
    );
    assert!(j.path("tree/n").exists());
    assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 0);
}

/// In a config without `cow` lines the words are an ident, as they were
/// before: a bot's user named `commit` still runs its program.
#[test]
fn without_cow_lines_commit_is_an_ident() {
    let mut j = Jail::new();
    j.add_config("see /usr\nsee /bin\nsee /lib\nsee /lib64\n");
    let out = j.cmd(&["/bin/echo"]).ident("commit").run();
    out.assert_code(0);
    assert_eq!(out.lines(), [""], "{}", out.describe());
}

/// `onexit ask`: on a terminal (a pty from `script`), the summary and
/// the prompt; `d` shows a unified diff, `c` commits, `q` discards.
/// Without a terminal the layer is kept and the jail says so.
#[test]
fn onexit_ask_asks_on_the_terminal_and_keeps_without_one() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::support::skip("`script` (util-linux) is not installed");
        return;
    }
    let j = cow_jail("auto", "ask");
    let change = j.expand("echo more >> {root}/tree/a");
    // No terminal: kept.
    let out = j.cmd(&["/bin/sh", "-c", &change]).run();
    out.assert_code(0);
    out.assert_stderr_contains("has no terminal to ask on");
    assert_eq!(fs::read_to_string(j.path("tree/a")).unwrap(), "alpha\n");
    assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 1);

    let on_terminal = |answers: &str| {
        let command = format!(
            "{} {} {} /bin/sh -c 'echo {answers} >> {}/tree/a'",
            j.sandbox.display(),
            j.config_path().display(),
            crate::support::IDENT,
            j.root.display(),
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script");
        let mut stdin = child.stdin.take().expect("stdin");
        // The answers once the prompt can read them (the pty echoes).
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::io::Write::write_all(&mut stdin, answers.replace(' ', "\n").as_bytes()).unwrap();
        std::io::Write::write_all(&mut stdin, b"\n").unwrap();
        let out = child.wait_with_output().expect("script's end");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The kept layer's change and this run's, diffed then discarded.
    let (code, shown) = on_terminal("d q");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("[q]uit discarding?"), "{shown}");
    assert!(shown.contains("+more"), "{shown}");
    assert_eq!(fs::read_to_string(j.path("tree/a")).unwrap(), "alpha\n");
    assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 0);
    // Committed.
    let (code, shown) = on_terminal("c");
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(fs::read_to_string(j.path("tree/a")).unwrap(), "alpha\nc\n");
    assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 0);
}

/// `access(W_OK)` only asks: on a file of the tree it answers as
/// natively (writable) without copying anything up, before and after a
/// write made a copy; the real tree is unchanged.
#[test]
fn access_for_writing_in_a_cow_tree_answers_as_natively() {
    const ASK: &str = "import os
f = '{root}/tree/a'
print(os.access(f, os.W_OK), os.access(f, os.W_OK, effective_ids=True))
open(f, 'a').write('more\\n')
print(os.access(f, os.W_OK))";
    let native = cow_jail("off", "keep");
    let out = crate::support::run_native(
        &["/usr/bin/python3", "-c", &native.expand(ASK)],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["True True", "True"],
        "control"
    );
    for landlock in ["auto", "off"] {
        let j = cow_jail(landlock, "discard");
        let before = listing(&j.path("tree"));
        let out = j.cmd(&["/usr/bin/python3", "-c", &j.expand(ASK)]).run();
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            ["True True", "True"],
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(
            listing(&j.path("tree")),
            before,
            "[{landlock}] the real tree changed"
        );
    }
}

/// A look or a read of one name relative to a directory descriptor (what
/// `find` does), with the tree's own name met from its seen parent: each
/// answers with the program's view (the mirror), never the real tree.
#[test]
fn names_looked_up_through_directory_descriptors_show_the_programs_view() {
    const LOOK: &str = "import os
top = '{root}/top'
os.chdir(top + '/tree')
open('new.txt', 'w').write('n')
os.unlink('a')
parent = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
looked = os.stat('tree', dir_fd=parent, follow_symlinks=False).st_ino
print('tree is the tree', looked == os.stat(top + '/tree').st_ino)
tree = os.open('tree', os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=parent)
print('names', sorted(os.listdir(tree)))
try:
    os.stat('a', dir_fd=tree, follow_symlinks=False)
    print('a is there')
except FileNotFoundError:
    print('a is gone')
print('new.txt size', os.stat('new.txt', dir_fd=tree, follow_symlinks=False).st_size)
fd = os.open('new.txt', os.O_RDONLY | os.O_NOFOLLOW, dir_fd=tree)
print('new.txt reads', os.read(fd, 10))";
    for (landlock, unprivileged) in crate::support::landlock_and_users() {
        let mut j = Jail::bare();
        let tree = j.path("top/tree");
        fs::create_dir_all(tree.join("sub")).unwrap();
        fs::write(tree.join("a"), "alpha\n").unwrap();
        fs::create_dir_all(j.path("layers")).unwrap();
        j.set_config(&format!(
            "see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee {{root}}/top\ncow {{root}}/top/tree\n\
             cowdir {{root}}/layers\nlandlock {landlock}\nonexit discard\n"
        ));
        if unprivileged {
            crate::support::test_user_runs(&mut j);
            crate::support::chown_to_test_user(&[&j.path("top"), &j.path("layers")]);
        }
        let landlock = format!("{landlock}, unprivileged {unprivileged}");
        let before = listing(&tree);
        let out = j.cmd(&["/usr/bin/python3", "-c", &j.expand(LOOK)]).run();
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            [
                "tree is the tree True",
                "names ['new.txt', 'sub']",
                "a is gone",
                "new.txt size 1",
                "new.txt reads b'n'",
            ],
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(listing(&tree), before, "[{landlock}] the real tree changed");
    }
}
