//! Escape suite: what a program started as root keeps, what `/proc/self`
//! in a config means, and execs the tracer must not wait on.
//!
//! Each trick runs natively as a control (it must work there) and in the
//! jail, with Landlock and with `landlock off` (the tracer alone).

use crate::support::{Jail, Output, is_root, run_native};
use std::time::Duration;

const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

/// A tree that runs python3, with `extra` config lines.
fn python_tree(extra: &str) -> Jail {
    let mut j = Jail::new();
    j.add_config("see /usr\nsee /lib\nsee /lib64\nsee /bin\nsee /etc/ld.so.cache\n");
    j.add_config(extra);
    j
}

/// `code` run by python3 natively, in `j`'s tree: the control.
fn python_native(j: &Jail, code: &str) -> Output {
    run_native(
        &["/usr/bin/python3".to_string(), "-c".into(), j.expand(code)],
        Duration::from_secs(20),
    )
}

fn python(j: &Jail, code: &str) -> Output {
    j.cmd(&["/usr/bin/python3".to_string(), "-c".into(), j.expand(code)])
        .run()
}

/// Lowers the descriptor limit to 64 (as `rlimit NOFILE 64` does), then
/// tries to raise it back, and to make a block device node.
const RAISE_AND_MKNOD: &str = r#"import os, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)); print('raised')
except (ValueError, OSError) as e:
    print('raise refused')
try:
    os.mknod('{jail}/blk', 0o600 | 0o060000, os.makedev(7, 0)); print('mknod made')
except OSError as e:
    print('mknod refused', e.errno)
"#;

#[test]
fn escape_root_cannot_raise_config_limits_or_make_devices() {
    if !is_root() {
        crate::support::skip("only root has the capabilities to drop");
        return;
    }
    let control = Jail::new();
    let native = python_native(&control, RAISE_AND_MKNOD);
    assert!(
        native.stdout.contains("mknod made"),
        "control void: natively root makes a device\n{}",
        native.describe()
    );
    // Some containers withhold CAP_SYS_RESOURCE even from root.
    let can_raise = native.stdout.contains("raised");
    if !can_raise {
        eprintln!("rlimit part skipped: root cannot raise a hard limit on this machine");
    }
    for (name, extra) in MODES {
        let j = python_tree(&format!("rlimit NOFILE 64\n{extra}"));
        let out = python(&j, RAISE_AND_MKNOD);
        assert_eq!(out.code(), 0, "[{name}]\n{}", out.describe());
        assert!(
            out.stdout.contains("raise refused") && out.stdout.contains("mknod refused 1"),
            "[{name}] a root program kept its capabilities\n{}",
            out.describe()
        );
        assert!(
            !j.path("jail/blk").exists(),
            "[{name}] a device node appeared"
        );
    }
}

/// Prints whether the program can read its own `/proc/self/status`,
/// `/proc/thread-self/stat`, and its parent's entry.
const READ_OWN_PROC: &str = r#"import os
for p in ['/proc/self/status', '/proc/thread-self/stat', '/proc/%d/status' % os.getppid(), '/proc/self/environ']:
    try:
        open(p).read(); print('read', p)
    except OSError as e:
        print('refused', p, e.errno)
"#;

#[test]
fn escape_proc_self_in_a_config_means_each_threads_own_entry() {
    for (name, extra) in MODES {
        let j = python_tree(&format!(
            "see /proc/self/status\nsee /proc/thread-self\n{extra}"
        ));
        let out = python(&j, READ_OWN_PROC);
        assert_eq!(out.code(), 0, "[{name}]\n{}", out.describe());
        let lines = out.lines();
        assert!(
            lines.contains(&"read /proc/self/status")
                && lines.contains(&"read /proc/thread-self/stat"),
            "[{name}] the program cannot read its own /proc entry\n{}",
            out.describe()
        );
        assert!(
            lines.iter().any(|line| line.starts_with("refused /proc/")
                && line.ends_with("/status 2")
                && !line.contains("self")),
            "[{name}] the parent's (the jail's) /proc entry is visible\n{}",
            out.describe()
        );
        assert!(
            lines.contains(&"refused /proc/self/environ 2"),
            "[{name}] more of /proc/self than the config names is visible\n{}",
            out.describe()
        );
    }
}

/// Execs a FIFO and a script whose `#!` names a FIFO: natively both fail
/// at once with EACCES; the tracer must not wait for a writer.
const EXEC_FIFOS: &str = r#"import os, subprocess
os.mkfifo('{jail}/fifo'); os.chmod('{jail}/fifo', 0o755)
open('{jail}/script', 'w').write('#!{jail}/fifo\n'); os.chmod('{jail}/script', 0o755)
for p in ['{jail}/fifo', '{jail}/script']:
    try:
        subprocess.run([p]); print('ran', p)
    except OSError as e:
        print('exec', os.path.basename(p), e.errno)
"#;

#[test]
fn escape_exec_of_a_fifo_does_not_stall_the_tracer() {
    let control = Jail::new();
    let native = python_native(&control, EXEC_FIFOS);
    assert!(
        native.stdout.contains("exec fifo 13") && native.stdout.contains("exec script 13"),
        "control: natively both execs fail with EACCES\n{}",
        native.describe()
    );
    for (name, extra) in MODES {
        let j = python_tree(&format!("timelimit 20\n{extra}"));
        // A stalled tracer would end in the time limit: status 124.
        let out = python(&j, EXEC_FIFOS);
        assert_eq!(out.code(), 0, "[{name}]\n{}", out.describe());
        assert!(
            out.stdout.contains("exec fifo 13") && out.stdout.contains("exec script 13"),
            "[{name}] the execs did not fail as natively\n{}",
            out.describe()
        );
    }
}

/// Execs `{jail}/s`, whose `#!` names the hidden script `{hidden}/script`
/// (itself `#!/bin/echo SECRETARG`), while holding a write lease on `s`:
/// the tracer's non-blocking look at `s` fails (and breaks the lease, which
/// the SIGIO handler then gives up), so no interpreter is judged before the
/// exec; the check after it sees only `/bin/echo` mapped.
const EXEC_UNDER_LEASE: &str = r#"import os, fcntl, signal
s = '{jail}/s'
open(s, 'w').write('#!{hidden}/script\n'); os.chmod(s, 0o755)
fd = os.open(s, os.O_RDONLY | os.O_CLOEXEC)
signal.signal(signal.SIGIO, lambda *a: fcntl.fcntl(fd, 1024, 2))
fcntl.fcntl(fd, 1024, 1)
pid = os.fork()
if pid == 0:
    try:
        os.execv(s, [s])
    except OSError as e:
        print('exec refused', e.errno, flush=True)
        os._exit(0)
os.waitpid(pid, 0)
print('done')
"#;

#[test]
fn escape_exec_under_a_lease_runs_no_hidden_script() {
    let hidden_script = |j: &Jail| {
        let path = j.path("hidden/script");
        std::fs::write(&path, "#!/bin/echo SECRETARG\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    };
    let control = Jail::new();
    hidden_script(&control);
    let native = python_native(&control, EXEC_UNDER_LEASE);
    assert!(
        native.stdout.contains("SECRETARG"),
        "control void: natively the hidden script's #! line is run\n{}",
        native.describe()
    );
    for (name, extra) in MODES {
        let j = python_tree(extra);
        hidden_script(&j);
        let out = python(&j, EXEC_UNDER_LEASE);
        assert!(
            !out.stdout.contains("SECRETARG") && out.stdout.contains("done"),
            "ESCAPE [{name}]: the kernel ran a hidden script named on a #! line\n{}",
            out.describe()
        );
    }
}
