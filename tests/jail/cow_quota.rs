//! `cowquota <bytes>` (issue 14): the private files of a cow layer hold at
//! most that many bytes; a write, copy-up or truncation past it fails with
//! `ENOSPC` and writes nothing, while what was written before stays exact
//! and the real tree stays as it was. Run with Landlock on and off, as
//! root and as the unprivileged test user.

use crate::support::{Jail, is_root, skip};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// The quota of these tests.
const QUOTA: u64 = 1000;

/// The tree: `big` (3000 bytes) can never be copied up, `mid` (600) can.
fn quota_jail(landlock: &str, extra: &str) -> Jail {
    let mut j = Jail::bare();
    fs::create_dir_all(j.path("tree")).unwrap();
    fs::write(j.path("tree/big"), vec![b'B'; 3000]).unwrap();
    fs::write(j.path("tree/mid"), vec![b'M'; 600]).unwrap();
    fs::create_dir_all(j.path("out")).unwrap();
    fs::create_dir_all(j.path("layers")).unwrap();
    fs::set_permissions(j.path("layers"), fs::Permissions::from_mode(0o700)).unwrap();
    j.set_config(&format!(
        "see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\nsee /dev/null\nsee /dev/zero\n\
         write {{root}}/out\ncow {{root}}/tree\ncowdir {{root}}/layers\ncowquota {QUOTA}\n\
         landlock {landlock}\nonexit discard\n{extra}"
    ));
    j
}

/// The same jail run by the unprivileged test user (we are root).
fn as_test_user(j: &mut Jail) {
    crate::support::test_user_runs(j);
    crate::support::chown_to_test_user(&[&j.path("tree"), &j.path("layers"), &j.path("out")]);
}

/// One case of the probe per run: each prints what each call gave (`ok
/// <result>` or the errno's name) and the sizes and contents after.
const PROBE: &str = r#"
import errno, os, sys
T, OUT, case = sys.argv[1], sys.argv[2], sys.argv[3]
def t(call):
    try:
        return "ok %s" % (call(),)
    except OSError as e:
        return errno.errorcode[e.errno]
def new(name, flags=0):
    return os.open(T + "/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | flags, 0o644)
def size(name):
    return os.path.getsize(T + "/" + name)
def data(name):
    with open(T + "/" + name, "rb") as f:
        return f.read()
if case == "write":
    fd = new("f")
    print(t(lambda: os.write(fd, b"a" * 600)), t(lambda: os.write(fd, b"b" * 600)),
          t(lambda: os.write(fd, b"b" * 400)), t(lambda: os.write(fd, b"c")))
    print(size("f"), data("f") == b"a" * 600 + b"b" * 400)
elif case == "files":
    made = 0
    while True:
        fd = new("f%d" % made)
        r = t(lambda: os.write(fd, b"x" * 100))
        os.close(fd)
        if r != "ok 100":
            print(made, r, size("f%d" % made))
            break
        made += 1
    print(all(data("f%d" % i) == b"x" * 100 for i in range(made)))
elif case == "copyup":
    print(t(lambda: open(T + "/big", "ab", 0)), t(lambda: os.truncate(T + "/big", 10)))
    print(t(lambda: open(T + "/mid", "ab", 0).write(b"m" * 400)))
    print(t(lambda: open(T + "/mid", "ab", 0).write(b"m")))
    print(size("big"), size("mid"), data("big") == b"B" * 3000)
elif case == "append":
    fd = new("f", os.O_APPEND)
    print(t(lambda: os.write(fd, b"a" * 900)), t(lambda: os.lseek(fd, 0, 0)),
          t(lambda: os.write(fd, b"b" * 200)), t(lambda: os.write(fd, b"b" * 100)),
          t(lambda: os.pwrite(fd, b"c", 0)))
    print(size("f"), data("f") == b"a" * 900 + b"b" * 100)
elif case == "pwrite":
    fd = new("f")
    print(t(lambda: os.pwrite(fd, b"a" * 500, 0)), t(lambda: os.pwrite(fd, b"b" * 10, 995)),
          t(lambda: os.pwrite(fd, b"b" * 5, 995)), t(lambda: os.pwrite(fd, b"c" * 100, 0)))
    print(size("f"), data("f") == b"c" * 100 + b"a" * 400 + b"\0" * 495 + b"b" * 5)
elif case == "writev":
    fd = new("f")
    print(t(lambda: os.writev(fd, [b"a" * 600, b"b" * 500])),
          t(lambda: os.writev(fd, [b"a" * 600, b"b" * 400])),
          t(lambda: os.pwritev(fd, [b"c"], 1000)), t(lambda: os.pwritev(fd, [b"c"], 999)))
    print(size("f"), data("f") == b"a" * 600 + b"b" * 399 + b"c")
elif case == "ftruncate":
    fd = new("f")
    print(t(lambda: os.ftruncate(fd, 1001)), t(lambda: os.ftruncate(fd, 1000)),
          t(lambda: os.write(fd, b"a")), t(lambda: os.ftruncate(fd, 0)),
          t(lambda: os.pwrite(fd, b"a" * 1000, 0)))
    print(size("f"), data("f") == b"a" * 1000)
elif case == "truncate":
    os.close(new("f"))
    print(t(lambda: os.truncate(T + "/f", 1001)), t(lambda: os.truncate(T + "/f", 1000)),
          t(lambda: os.truncate(T + "/mid", 1000)))
    print(size("f"), size("mid"))
elif case == "fallocate":
    fd = new("f")
    print(t(lambda: os.posix_fallocate(fd, 0, 1001)), t(lambda: os.posix_fallocate(fd, 500, 500)))
    print(size("f"))
elif case == "copy_file_range":
    fd = new("f")
    big = os.open(T + "/big", os.O_RDONLY)
    mid = os.open(T + "/mid", os.O_RDONLY)
    print(t(lambda: os.copy_file_range(big, fd, 5000)),
          t(lambda: os.copy_file_range(mid, fd, 1 << 30)),
          t(lambda: os.copy_file_range(big, fd, 1 << 30, 2600)),
          t(lambda: os.copy_file_range(big, fd, 1 << 30, 2601)))
    print(size("f"), data("f") == b"M" * 600 + b"B" * 400)
elif case == "sendfile":
    fd = new("f")
    big = os.open(T + "/big", os.O_RDONLY)
    mid = os.open(T + "/mid", os.O_RDONLY)
    print(t(lambda: os.sendfile(fd, big, 0, 5000)), t(lambda: os.sendfile(fd, mid, 0, 1 << 30)),
          t(lambda: os.sendfile(fd, big, 2600, 1 << 30)), t(lambda: os.sendfile(fd, big, 2601, 1 << 30)))
    print(size("f"), data("f") == b"M" * 600 + b"B" * 400)
elif case == "splice":
    fd = new("f")
    r, w = os.pipe()
    os.write(w, b"p" * 800)
    print(t(lambda: os.splice(r, fd, 800)))
    os.write(w, b"q" * 300)
    print(t(lambda: os.splice(r, fd, 300)), t(lambda: os.splice(r, fd, 200)))
    print(size("f"), data("f") == b"p" * 800 + b"q" * 200)
elif case == "outside":
    fd = os.open(OUT + "/o", os.O_WRONLY | os.O_CREAT, 0o644)
    print(t(lambda: os.write(fd, b"o" * 5000)), t(lambda: os.write(1, b"")))
    sys.stdout.write("s" * 5000 + "\n")
    print(os.fstat(fd).st_size)
elif case == "give back":
    fd = new("f")
    print(t(lambda: os.write(fd, b"a" * 1000)), t(lambda: os.write(fd, b"a")))
    # Closed and removed: its blocks are free (kept open, it would still
    # count: cowquota_counts_deep_files_noappend_writes_and_removed_files_still_held).
    os.close(fd)
    os.unlink(T + "/f")
    print(t(lambda: os.write(new("g"), b"g" * 1000)), size("g"))
elif case == "threads":
    # A full layer and a second thread: stdout still works.
    import threading
    fd = new("f")
    print(t(lambda: os.write(fd, b"a" * 1000)), t(lambda: os.write(fd, b"a")))
    done = threading.Event()
    threading.Thread(target=done.wait).start()
    for i in range(50):
        print("line", i)
    done.set()
    print(size("f"))
elif case == "swap race":
    # One thread writes 10000 bytes at a time to descriptor 100 (the jail
    # finds a pipe there), another keeps putting a file of the layer at
    # 100 and the pipe back: what it wins lands in the layer unseen.
    import threading
    layer = new("f")
    r, null = os.pipe()
    def drain():
        while os.read(r, 1 << 16):
            pass
    drainer = threading.Thread(target=drain)
    drainer.start()
    os.dup2(null, 100)
    stop = threading.Event()
    def swap():
        while not stop.is_set():
            os.dup2(layer, 100)
            os.dup2(null, 100)
    swapper = threading.Thread(target=swap)
    swapper.start()
    refused = 0
    for i in range(3000):
        try:
            os.write(100, b"x" * 10000)
        except OSError as e:
            refused += 1
    stop.set()
    # Past the quota, every call the layer could get is refused while
    # another task shares the table, stdout's too: the test looks at the
    # layer itself.
    os._exit(0 if refused > 0 else 3)
elif case == "kept":
    fd = os.open(T + "/k", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    print(t(lambda: os.write(fd, b"k" * 600)), size("k"))
"#;

/// Runs one case of [`PROBE`]: its output lines.
fn probe(j: &Jail, case: &str) -> crate::support::Output {
    let (tree, out) = (j.p("tree"), j.p("out"));
    j.cmd(&["/usr/bin/python3", "-c", PROBE, &tree, &out, case])
        .run()
}

/// Every case and the lines it must print.
fn cases() -> Vec<(&'static str, Vec<String>)> {
    let lines = |lines: &[&str]| lines.iter().map(|line| line.to_string()).collect();
    vec![
        (
            "write",
            lines(&["ok 600 ENOSPC ok 400 ENOSPC", "1000 True"]),
        ),
        ("files", lines(&["10 ENOSPC 0", "True"])),
        (
            "copyup",
            lines(&["ENOSPC ENOSPC", "ok 400", "ENOSPC", "3000 1000 True"]),
        ),
        (
            "append",
            lines(&["ok 900 ok 0 ENOSPC ok 100 ENOSPC", "1000 True"]),
        ),
        ("pwrite", lines(&["ok 500 ENOSPC ok 5 ok 100", "1000 True"])),
        (
            "writev",
            lines(&["ENOSPC ok 1000 ENOSPC ok 1", "1000 True"]),
        ),
        (
            "ftruncate",
            lines(&["ENOSPC ok None ok 1 ok None ok 1000", "1000 True"]),
        ),
        ("truncate", lines(&["ENOSPC ok None ENOSPC", "1000 600"])),
        ("fallocate", lines(&["ENOSPC ok None", "1000"])),
        (
            "copy_file_range",
            lines(&["ENOSPC ok 600 ok 400 ENOSPC", "1000 True"]),
        ),
        (
            "sendfile",
            lines(&["ENOSPC ok 600 ok 400 ENOSPC", "1000 True"]),
        ),
        ("splice", lines(&["ok 800", "ENOSPC ok 200", "1000 True"])),
        ("give back", lines(&["ok 1000 ENOSPC", "ok 1000 1000"])),
    ]
}

fn run_cases(j: &Jail, who: &str) {
    let before = fs::read(j.path("tree/big")).unwrap();
    for (case, want) in cases() {
        let out = probe(j, case);
        out.assert_code(0);
        assert_eq!(out.lines(), want, "{who}, case {case}: {}", out.describe());
        assert_eq!(fs::read(j.path("tree/big")).unwrap(), before, "{case}");
        assert_eq!(fs::read(j.path("tree/mid")).unwrap(), vec![b'M'; 600]);
        let names: Vec<_> = fs::read_dir(j.path("tree"))
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{case}: the real tree has no new name");
    }
}

#[test]
fn cowquota_refuses_every_kind_of_growth_past_it_and_keeps_what_came_before() {
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "");
        run_cases(&j, &format!("landlock {landlock}"));
    }
}

#[test]
fn cowquota_holds_for_the_unprivileged_user() {
    if !is_root() {
        skip("only root can run the jail as the test user");
        return;
    }
    for landlock in ["auto", "off"] {
        let mut j = quota_jail(landlock, "");
        as_test_user(&mut j);
        run_cases(&j, &format!("test user, landlock {landlock}"));
    }
}

#[test]
fn cowquota_leaves_stdout_and_write_trees_alone() {
    let j = quota_jail("auto", "");
    let out = probe(&j, "outside");
    out.assert_code(0);
    let lines = out.lines();
    assert_eq!(lines[0], "ok 5000 ok 0", "{}", out.describe());
    assert_eq!(lines[1], "s".repeat(5000));
    assert_eq!(lines[2], "5000");
    assert_eq!(fs::metadata(j.path("out/o")).unwrap().len(), 5000);
}

#[test]
fn a_full_layer_leaves_a_threaded_programs_stdout_alone() {
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "");
        let out = probe(&j, "threads");
        out.assert_code(0);
        let lines = out.lines();
        assert_eq!(lines.first(), Some(&"ok 1000 ENOSPC"), "{}", out.describe());
        assert_eq!(lines.len(), 52, "{}", out.describe());
        assert_eq!(lines[51], "1000");
    }
}

/// A descriptor swapped for a file of the layer between the jail's look
/// and the kernel's: the layer holds at most the quota and the one call
/// in flight when the race was won (10000 bytes here), then every such
/// call is refused while it is past the quota.
#[test]
fn a_descriptor_swap_race_gains_at_most_one_call_past_cowquota() {
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "onexit keep\n");
        let out = probe(&j, "swap race");
        out.assert_code(0);
        let layer = fs::read_dir(j.path("layers"))
            .unwrap()
            .flatten()
            .find(|entry| entry.path().is_dir())
            .expect("the kept layer")
            .path();
        let size = fs::metadata(layer.join("0/f")).unwrap().len();
        assert!(
            size <= QUOTA + 10_000,
            "landlock {landlock}: the layer's file holds {size} bytes\n{}",
            out.describe()
        );
        assert!(!j.path("tree/f").exists(), "the real tree is untouched");
    }
}

#[test]
fn dd_past_cowquota_stops_with_enospc_and_the_bytes_before_it_stay() {
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "onexit keep\n");
        let out = j
            .cmd(&[
                "/bin/sh",
                "-c",
                &j.expand(
                    "dd if=/dev/zero of={root}/tree/z bs=100 count=20 2>&1; echo dd=$?; \
                     wc -c < {root}/tree/z",
                ),
            ])
            .run();
        out.assert_code(0);
        assert!(
            out.stdout.contains("No space left on device"),
            "{}",
            out.describe()
        );
        let lines = out.lines();
        assert_eq!(lines[lines.len() - 2], "dd=1", "{}", out.describe());
        assert_eq!(lines[lines.len() - 1], "1000");
        assert!(!j.path("tree/z").exists(), "the real tree is untouched");
    }
}

#[test]
fn a_kept_layer_counts_at_the_next_run() {
    let j = quota_jail("auto", "onexit keep\n");
    let first = probe(&j, "kept");
    first.assert_code(0);
    assert_eq!(first.lines(), ["ok 600 600"], "{}", first.describe());
    let second = probe(&j, "kept");
    second.assert_code(0);
    assert_eq!(second.lines(), ["ENOSPC 600"], "{}", second.describe());
    assert!(!j.path("tree/k").exists());
}

#[test]
fn a_jail_without_cowquota_writes_past_any_size() {
    let mut j = quota_jail("auto", "");
    let text = j.config_text().replace(&format!("cowquota {QUOTA}\n"), "");
    j.set_config(&text);
    let out = j
        .cmd(&[
            "/usr/bin/python3",
            "-c",
            &j.expand(
                "import os; fd = os.open('{root}/tree/f', os.O_WRONLY | os.O_CREAT, 0o644); \
                 print(os.write(fd, b'x' * 100000), open('{root}/tree/big', 'ab').write(b'y'))",
            ),
        ])
        .run();
    out.assert_code(0);
    assert_eq!(out.lines(), ["100000 1"], "{}", out.describe());
}

#[test]
fn cowquota_without_a_cow_tree_names_its_line() {
    let mut j = Jail::bare();
    j.set_config("see /usr\nsee /bin\ncowquota 100\n");
    let out = j.cmd(&["/bin/true"]).run();
    out.assert_code(78);
    out.assert_stderr_contains(":3:1: `cowquota` without a `cow` tree");
    j.set_config("see /usr\ncow {root}/tree\ncowquota 10k\n");
    let out = j.cmd(&["/bin/true"]).run();
    out.assert_code(78);
    out.assert_stderr_contains(
        ":3:10: bad size for `cowquota`; expected a whole number of bytes from 0 to \
         18446744073709551615, found `10k`",
    );
}

/// A copy-up too large to make in the tracer's loop (a copier makes it
/// while the task waits) is charged as one made inline: past the quota
/// it is `ENOSPC` and nothing is copied, and the copy it made counts.
#[test]
fn a_copy_up_made_by_a_copier_is_charged_to_cowquota() {
    const MIB: usize = 1 << 20;
    const COPIES: &str = "
import errno, os, sys
T = sys.argv[1]
def t(call):
    try:
        return 'ok %s' % (call(),)
    except OSError as e:
        return errno.errorcode[e.errno]
def append(name, data):
    with open(T + '/' + name, 'ab', 0) as f:
        return f.write(data)
print(t(lambda: append('one', b'1')), t(lambda: append('two', b'2')))
print(t(lambda: append('one', b'x' * 400000)), t(lambda: append('one', b'x' * 200000)))
print(os.path.getsize(T + '/one'), os.path.getsize(T + '/two'))";
    for landlock in ["auto", "off"] {
        let mut j = Jail::bare();
        fs::create_dir_all(j.path("tree")).unwrap();
        fs::write(j.path("tree/one"), vec![b'A'; 2 * MIB]).unwrap();
        fs::write(j.path("tree/two"), vec![b'B'; 2 * MIB]).unwrap();
        j.set_config(&format!(
            "see /usr\nsee /bin\nsee /lib\nsee /lib64\ncow {{root}}/tree\ncowdir {{root}}/layers\n\
             cowquota {}\nlandlock {landlock}\nonexit discard\n",
            5 * MIB / 2
        ));
        let tree = j.p("tree");
        let out = j.cmd(&["/usr/bin/python3", "-c", COPIES, &tree]).run();
        out.assert_code(0);
        let one = 2 * MIB + 1 + 400000;
        assert_eq!(
            out.lines(),
            [
                "ok 1 ENOSPC".to_string(),
                "ok 400000 ENOSPC".to_string(),
                format!("{one} {}", 2 * MIB),
            ],
            "[{landlock}] {}",
            out.describe()
        );
        assert_eq!(fs::read(j.path("tree/one")).unwrap(), vec![b'A'; 2 * MIB]);
        assert_eq!(fs::read(j.path("tree/two")).unwrap(), vec![b'B'; 2 * MIB]);
    }
}

/// Ways around the count, each run natively first (the control: the
/// sequence works and the file grows past the quota) and then in the
/// jail, where the growth past the quota is refused.
const AROUND: &str = r#"
import errno, mmap, os, sys
T, case = sys.argv[1], sys.argv[2]
def t(call):
    try:
        return "ok %s" % (call(),)
    except OSError as e:
        return errno.errorcode[e.errno]
def new(name, flags=os.O_WRONLY):
    return os.open(T + "/" + name, flags | os.O_CREAT | os.O_EXCL, 0o644)
if case == "deep":
    # The file's directories renamed, one short name at a time, under
    # ever deeper ones: the kernel then names no path for its descriptor
    # (past PATH_MAX), which must not make it uncounted.
    os.mkdir(T + "/x")
    fd = new("x/f")
    below = "x"
    for i in range(20):
        above = "n" * 250 + "%02d" % i
        os.mkdir(T + "/" + above)
        os.rename(T + "/" + below, T + "/" + above + "/" + below)
        below = above
    print(t(lambda: os.write(fd, b"a" * 5000)), os.fstat(fd).st_size)
elif case == "noappend":
    # RWF_NOAPPEND writes at the offset even on an O_APPEND description.
    fd = new("f", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"a" * 10)
    print(t(lambda: os.pwritev(fd, [b"z"], 1 << 40, 0x20)),
          t(lambda: os.pwritev(fd, [b"y" * 5], 2, 0x20)), os.fstat(fd).st_size)
elif case in ("removed open", "removed mapped"):
    # Fill the quota, remove the file but keep it (a descriptor, or a
    # mapping and no descriptor), again: the removed files keep their
    # blocks, so they keep counting.
    held, written = [], 0
    for i in range(20):
        fd = new("u%d" % i, os.O_RDWR)
        if t(lambda: os.write(fd, b"u" * 900)) != "ok 900":
            break
        written += 1
        if case == "removed mapped":
            held.append(mmap.mmap(fd, 900))
            os.close(fd)
        else:
            held.append(fd)
        os.unlink(T + "/u%d" % i)
    print(written)
elif case == "truncate race":
    # One thread truncates descriptor 100 to 1 TiB (the jail finds a pipe
    # there), another keeps putting a file of the layer at 100 and the
    # pipe back; then the same with the next file. Exits with how many
    # files were made 1 TiB (past the quota, while the tracer may still
    # count the swapper as sharing the table, stdout is refused too).
    import threading
    r, w = os.pipe()
    won = 0
    for i in range(4):
        layer = new("f%d" % i)
        os.dup2(w, 100)
        stop = threading.Event()
        def swap():
            while not stop.is_set():
                os.dup2(layer, 100)
                os.dup2(w, 100)
        swapper = threading.Thread(target=swap)
        swapper.start()
        for _ in range(10000):
            try:
                os.ftruncate(100, 1 << 40)
            except OSError:
                pass
            if os.fstat(layer).st_size:
                won += 1
                break
        stop.set()
        swapper.join()
    os._exit(won)
"#;

/// The native control's lines and the jail's for each case of [`AROUND`].
const AROUND_CASES: &[(&str, &str, &str)] = &[
    ("deep", "ok 5000 5000", "ENOSPC 0"),
    ("noappend", "ok 1 ok 5 1099511627777", "ENOSPC ok 5 10"),
    ("removed open", "20", "1"),
    ("removed mapped", "20", "1"),
];

fn around_the_count(j: &Jail, who: &str) {
    for (case, native, jailed) in AROUND_CASES {
        let control = tempfile::tempdir_in("/tmp").unwrap();
        let path = control.path().to_str().unwrap();
        let out = crate::support::run_native(
            &["/usr/bin/python3", "-c", AROUND, path, case],
            crate::support::TIMEOUT,
        );
        assert_eq!(out.lines(), [*native], "control {case}: {}", out.describe());
        let out = j
            .cmd(&["/usr/bin/python3", "-c", AROUND, &j.p("tree"), case])
            .run();
        assert_eq!(out.lines(), [*jailed], "{who}, {case}: {}", out.describe());
        let names = fs::read_dir(j.path("tree")).unwrap().count();
        assert_eq!(names, 2, "{who}, {case}: the real tree has no new name");
    }
}

#[test]
fn cowquota_counts_deep_files_noappend_writes_and_removed_files_still_held() {
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "");
        around_the_count(&j, &format!("landlock {landlock}"));
    }
    if !is_root() {
        skip("only root can run the jail as the test user");
        return;
    }
    let mut j = quota_jail("auto", "");
    as_test_user(&mut j);
    around_the_count(&j, "test user");
}

/// A truncation through a descriptor another thread swaps for a file of
/// the layer: a won race leaves a 1 TiB file (its size, no data), once;
/// the next such call counts the layer and is refused, so no other file
/// follows. The commit copies the sparse file as sparse: no zeros are
/// written to the real tree.
#[test]
fn a_truncation_race_wins_once_and_its_sparse_file_commits_as_sparse() {
    let control = tempfile::tempdir_in("/tmp").unwrap();
    let out = crate::support::run_native(
        &[
            "/usr/bin/python3",
            "-c",
            AROUND,
            control.path().to_str().unwrap(),
            "truncate race",
        ],
        crate::support::TIMEOUT,
    );
    // Natively the race is won again and again (each file within a few
    // tries; at least twice even on a loaded machine).
    assert!(
        out.status.code().is_some_and(|won| (2..=4).contains(&won)),
        "control: {}",
        out.describe()
    );
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "onexit commit\n");
        // Every file after the won one makes all its 10000 tries, each a
        // refused ftruncate stopped by the tracer while the swapper's dup2s
        // stop too: 3 to 10 s of traced calls unloaded, past the usual 30 s
        // on a loaded 2-CPU machine (it was killed there once). The tries
        // stay (the jail's first win takes up to ~1200 of them), the budget
        // fits them.
        let out = j
            .cmd(&[
                "/usr/bin/python3",
                "-c",
                AROUND,
                &j.p("tree"),
                "truncate race",
            ])
            .timeout(Duration::from_secs(120))
            .run();
        let won = out.status.code().unwrap_or(99);
        assert!(
            won <= 1,
            "landlock {landlock}: {won} files made 1 TiB\n{}",
            out.describe()
        );
        for i in 0..4 {
            let Ok(meta) = fs::metadata(j.path(&format!("tree/f{i}"))) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            assert!(
                meta.blocks() * 512 < 1 << 20,
                "landlock {landlock}: f{i} ({} bytes) committed with {} blocks",
                meta.len(),
                meta.blocks()
            );
        }
    }
}

/// A program that nests its directories past PATH_MAX (renaming short
/// names under deeper ones) left a kept layer no path could walk: the
/// next run, `changes` and even `discard` failed on it, and a commit
/// failed halfway, with the outer directories made in the real tree.
/// Scans walk by descriptors now (the file is counted, the layer stays
/// usable), and a commit finds such paths as conflicts first.
#[test]
fn a_layer_nested_past_path_max_stays_usable() {
    let ident = crate::support::IDENT;
    for landlock in ["auto", "off"] {
        let j = quota_jail(landlock, "onexit keep\n");
        let out = j
            .cmd(&["/usr/bin/python3", "-c", AROUND, &j.p("tree"), "deep"])
            .run();
        assert_eq!(out.lines(), ["ENOSPC 0"], "{}", out.describe());
        let again = j.cmd(&["/bin/true"]).run();
        again.assert_code(0);
        let changes = j.cmd(&[ident]).ident("changes").run();
        changes.assert_code(0);
        assert!(
            changes.stdout.contains("/x/f (0 bytes)"),
            "{}",
            changes.describe()
        );
        // A commit cannot name what lies past PATH_MAX: a conflict,
        // found before anything is applied.
        let commit = j.cmd(&[ident]).ident("commit").run();
        commit.assert_code(120);
        assert!(commit.stdout.contains("past PATH_MAX") || commit.stderr.contains("past PATH_MAX"));
        assert_eq!(
            fs::read_dir(j.path("tree")).unwrap().count(),
            2,
            "nothing applied"
        );
        let discard = j.cmd(&[ident]).ident("discard").run();
        discard.assert_code(0);
        assert_eq!(discard.lines().last(), Some(&"Discarded"));
        assert_eq!(fs::read_dir(j.path("layers")).unwrap().count(), 0);
    }
}
