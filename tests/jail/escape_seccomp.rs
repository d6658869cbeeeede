//! Escape suite: the program's own seccomp filters against the jail's.
//!
//! A user-notification listener outranks the jail's SECCOMP_RET_TRACE: if
//! the program could install one, a second thread or process of its own
//! could answer SECCOMP_USER_NOTIF_FLAG_CONTINUE and the kernel would run
//! `openat` and `chmod` without the tracer ever seeing them. Natively (the
//! control) the listener installs and the open of /etc/passwd and the
//! chmod of a file work; in the jail nothing may get through, under the
//! shipped config and with `landlock off`.

use crate::support::{Jail, Output, run_native};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

fn mode_of(j: &Jail, rel: &str) -> u32 {
    fs::metadata(j.path(rel)).unwrap().permissions().mode() & 0o7777
}

fn native(t: &Jail, args: &[&str]) -> Output {
    let mut argv = vec![t.escape_bin("seccomp")];
    argv.extend(args.iter().map(|a| t.expand(a)));
    run_native(&argv, Duration::from_secs(20))
}

/// The listener trick: `variant` is "listener" (answered by a thread) or
/// "listener_proc" (by a forked process); `opbits` goes into the upper
/// half of seccomp(2)'s operation argument, which the kernel ignores.
fn listener_trick(variant: &str, opbits: &str) {
    let t = Jail::new();
    fs::set_permissions(t.path("hidden/file"), fs::Permissions::from_mode(0o600)).unwrap();
    let out = native(&t, &[variant, opbits, "/etc/passwd", "{hidden}/file"]);
    let lines = out.lines();
    assert!(
        lines.len() == 3
            && lines[0] == "install ok"
            && lines[1].starts_with("ok root:")
            && lines[2] == "chmod ok",
        "control void: natively the listener trick did not work\n{}",
        out.describe()
    );

    let mut failures = Vec::new();
    for (name, config) in MODES {
        let mut j = Jail::new();
        j.add_config(config);
        fs::set_permissions(j.path("hidden/file"), fs::Permissions::from_mode(0o600)).unwrap();
        let argv = [
            j.escape_bin("seccomp"),
            variant.to_string(),
            opbits.to_string(),
            "/etc/passwd".to_string(),
            j.p("hidden/file"),
        ];
        let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
        let lines = out.lines();
        let opened = lines.iter().any(|l| l.starts_with("ok "));
        let chmodded = lines.contains(&"chmod ok") || mode_of(&j, "hidden/file") != 0o600;
        let installed = lines.first() == Some(&"install ok");
        eprintln!("{variant} {opbits} [{name}]: {lines:?}");
        if opened || chmodded {
            failures.push(format!(
                "ESCAPE [{name}]: through a seccomp listener (installed: {installed}) the \
                 program {}{}; hidden/file mode now {:o}\n{}",
                if opened { "read /etc/passwd " } else { "" },
                if chmodded {
                    "chmodded a hidden file"
                } else {
                    ""
                },
                mode_of(&j, "hidden/file"),
                out.describe()
            ));
        } else if installed {
            failures.push(format!(
                "[{name}] the listener was installed (the trick failed only later)\n{}",
                out.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn escape_seccomp_user_notif_listener_answered_by_thread_is_refused() {
    listener_trick("listener", "0");
}

#[test]
fn escape_seccomp_user_notif_listener_with_high_bits_in_operation_is_refused() {
    listener_trick("listener", "1");
}

#[test]
fn escape_seccomp_user_notif_listener_answered_by_other_process_is_refused() {
    listener_trick("listener_proc", "0x80000000");
}

#[test]
fn escape_seccomp_allow_everything_filter_does_not_lift_the_jail() {
    let t = Jail::new();
    let out = native(&t, &["allow_all", "/etc/passwd"]);
    assert_eq!(
        out.lines(),
        ["install ok ok", "ok root:x:0:0:root:/root:/bin/bash"],
        "control void\n{}",
        out.describe()
    );
    for (name, config) in MODES {
        let mut j = Jail::new();
        j.add_config(config);
        let argv = [
            j.escape_bin("seccomp"),
            "allow_all".into(),
            "/etc/passwd".into(),
        ];
        let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
        let lines = out.lines();
        assert!(
            lines.len() == 2 && !lines[1].starts_with("ok"),
            "ESCAPE [{name}]: /etc/passwd opened after an allow-all filter\n{}",
            out.describe()
        );
    }
}

#[test]
fn escape_seccomp_own_ret_trace_filter_does_not_confuse_the_tracer() {
    // Natively a SECCOMP_RET_TRACE with no tracer fails the call (ENOSYS):
    // the control only shows the filter installs and takes effect.
    let t = Jail::new();
    let out = native(&t, &["ret_trace", "/etc/passwd"]);
    assert_eq!(
        out.lines(),
        ["install ok", "ENOSYS"],
        "control void\n{}",
        out.describe()
    );
    for (name, config) in MODES {
        let mut j = Jail::new();
        j.add_config(config);
        for path in ["/etc/passwd".to_string(), j.p("hidden/file")] {
            let argv = [j.escape_bin("seccomp"), "ret_trace".into(), path.clone()];
            let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
            let lines = out.lines();
            assert!(
                lines.len() == 2 && lines[0] == "install ok" && !lines[1].starts_with("ok"),
                "ESCAPE [{name}]: {path} opened under the program's own RET_TRACE filter\n{}",
                out.describe()
            );
        }
    }
}
