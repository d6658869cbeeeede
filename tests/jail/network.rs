//! The network lines as far as the jail side goes: host names resolved at
//! start (a name that does not resolve is a config error, and nothing
//! runs), what `--check` says of them, and what Landlock mirrors. The
//! tracer's verdicts on sockets are tested where they are wired.

use crate::support::{Jail, MovingName};

/// Runs the jail binary with exactly `args` after writing the config, with
/// `env` on top of the harness's clean environment.
fn run_args(j: &Jail, args: &[String], env: &[(&str, String)]) -> crate::support::Output {
    crate::support::write_file(&j.config_path(), j.config_text());
    let mut run = j.cmd::<&str>(&[]);
    for (key, value) in env {
        run = run.env(key, value);
    }
    run.run_raw(args)
}

fn check_args(j: &Jail, ident: &str) -> Vec<String> {
    vec![
        "--check".into(),
        j.config_path().display().to_string(),
        ident.into(),
    ]
}

/// `.invalid` never resolves (RFC 6761).
const NOWHERE: &str = "connect tcp nothing.invalid:80";

fn nowhere_message() -> &'static str {
    "sandbox.conf:3: `connect tcp nothing.invalid:80`: the host `nothing.invalid` does not resolve ("
}

#[test]
fn a_host_that_does_not_resolve_exits_78_naming_the_line_and_runs_nothing() {
    let mut j = Jail::bare();
    j.set_config(&format!(
        "see {{bin}}\nsee {{jail}}\n{NOWHERE}\nwrite {{jail}}\n"
    ));
    let out = j.probe("write {jail}/created x");
    out.assert_code(78)
        .assert_stderr_contains(nowhere_message())
        .assert_stderr_contains("expected a name that resolves when the jail starts");
    assert!(out.stderr.starts_with("sandbox: "), "{}", out.describe());
    assert_eq!(out.stdout, "", "program ran\n{}", out.describe());
    assert!(
        !j.path("jail/created").exists(),
        "program ran: file created"
    );

    // `--check` refuses it the same way, and a line in another ident's
    // block is never resolved for this one.
    let out = run_args(&j, &check_args(&j, "test"), &[]);
    out.assert_code(78)
        .assert_stderr_contains(nowhere_message());
    assert_eq!(out.stdout, "", "{}", out.describe());
    j.set_config(&format!(
        "see {{bin}}\nsee {{jail}}\nwrite {{jail}}\nident other\n{NOWHERE}\nend\n"
    ));
    j.probe("write {jail}/created x").assert_code(0);
    assert!(j.path("jail/created").exists());
}

#[test]
fn check_shows_the_network_lines_and_what_landlock_mirrors() {
    let mut j = Jail::new();
    let moving = MovingName::new("192.0.2.9");
    j.add_config(&format!(
        "connect tcp {}:443\nconnect udp 10.0.0.0/8:53\nconnect tcp localhost:8000-8002\n\
         connect unix:{{jail}}/../jail/api.sock\nbind tcp 0\nbind udp 5353\nnet none\n",
        moving.name
    ));
    let out = run_args(&j, &check_args(&j, "test"), &moving.env());
    out.assert_code(0);
    let root = j.root.display().to_string();
    let mut facts = vec![
        "net none (line 11)".to_string(),
        "connect tcp moving.test:443 (line 5) -> 192.0.2.9".into(),
        "connect udp 10.0.0.0/8:53 (line 6)".into(),
        "connect tcp localhost:8000-8002 (line 7) -> 127.0.0.1, ::1".into(),
        format!("connect unix:{root}/jail/../jail/api.sock (line 8) -> {root}/jail/api.sock"),
        "bind tcp 0 (line 9)".into(),
        "bind udp 5353 (line 10)".into(),
    ];
    match sandbox::landlock::abi_version() {
        Ok(abi) if abi >= 4 => {
            facts.push("landlock tcp connect ports 443, 8000-8002".into());
            facts.push("landlock tcp bind ports 0".into());
        }
        _ => facts.push(
            "landlock tcp connect unhandled: no landlock on this kernel; the tracer alone decides"
                .into(),
        ),
    }
    facts.push(match sandbox::landlock::abi_version() {
        Ok(abi) if abi >= 6 => {
            "landlock abstract-unix scoped: the program's processes use abstract names among \
             themselves"
                .to_string()
        }
        _ => "landlock abstract-unix not scoped: abstract names and autobind are refused".into(),
    });
    for fact in &facts {
        assert!(
            out.lines().contains(&fact.as_str()),
            "no line {fact:?}\n{}",
            out.describe()
        );
    }
    // The network facts come after the settings, Landlock's after the
    // kernel's.
    let at = |text: &str| out.stdout.find(text).unwrap();
    assert!(at("wakeup off") < at("net none") && at("bind udp") < at("landlock auto"));
    assert!(at("kernel procmap_query") < at("landlock tcp connect"));

    // `landlock off`, a port range too wide to list: the tracer alone.
    j.add_config("landlock off\nident wide\nlandlock auto\nconnect tcp 192.0.2.1:*\nend\n");
    let out = run_args(&j, &check_args(&j, "test"), &moving.env());
    for fact in [
        "landlock tcp connect unhandled: landlock off; the tracer alone decides",
        "landlock tcp bind unhandled: landlock off; the tracer alone decides",
        "landlock abstract-unix not scoped: abstract names and autobind are refused",
    ] {
        assert!(
            out.lines().contains(&fact),
            "no line {fact:?}\n{}",
            out.describe()
        );
    }
    if sandbox::landlock::abi_version().is_ok_and(|abi| abi >= 4) {
        let out = run_args(&j, &check_args(&j, "wide"), &moving.env());
        let fact = "landlock tcp connect unhandled: 65535 ports, more than 1024; the tracer \
                    alone decides";
        assert!(
            out.lines().contains(&fact),
            "no line {fact:?}\n{}",
            out.describe()
        );
    }

    // The name follows its address; once it has none, the check fails.
    moving.set("");
    let out = run_args(&j, &check_args(&j, "test"), &moving.env());
    out.assert_code(78).assert_stderr_contains(
        "sandbox.conf:5: `connect tcp moving.test:443`: the host `moving.test` does not resolve",
    );
}

#[test]
fn check_of_a_config_without_network_lines_shows_every_tcp_port_refused() {
    let j = Jail::new();
    let out = run_args(&j, &check_args(&j, "test"), &[]);
    out.assert_code(0);
    assert!(
        !out.lines()
            .iter()
            .any(|line| line.starts_with("connect ") || line.starts_with("bind ")),
        "{}",
        out.describe()
    );
    if sandbox::landlock::abi_version().is_ok_and(|abi| abi >= 4) {
        for fact in [
            "landlock tcp connect every port refused",
            "landlock tcp bind every port refused",
        ] {
            assert!(
                out.lines().contains(&fact),
                "no line {fact:?}\n{}",
                out.describe()
            );
        }
    }
}

/// The second wall lets through what the tracer allows: a `connect tcp`
/// line's port and a `bind tcp 0` are reached under Landlock as without
/// it, and what no line names is the tracer's refusal either way.
#[test]
fn listed_tcp_ports_work_with_landlock_on_and_off() {
    use std::net::TcpListener;
    let listed = TcpListener::bind("127.0.0.1:0").unwrap();
    let unlisted = TcpListener::bind("127.0.0.1:0").unwrap();
    let (listed, unlisted) = (
        listed.local_addr().unwrap().port(),
        unlisted.local_addr().unwrap().port(),
    );
    let script = "import errno, socket, sys\n\
        def attempt(what, call):\n\
        \x20   s = socket.socket()\n\
        \x20   try:\n\
        \x20       call(s)\n\
        \x20       print(what, 'ok')\n\
        \x20   except OSError as e:\n\
        \x20       print(what, errno.errorcode[e.errno])\n\
        listed, unlisted = int(sys.argv[1]), int(sys.argv[2])\n\
        attempt('listed', lambda s: s.connect(('127.0.0.1', listed)))\n\
        attempt('unlisted', lambda s: s.connect(('127.0.0.1', unlisted)))\n\
        attempt('bind0', lambda s: (s.bind(('127.0.0.1', 0)), s.listen()))\n\
        attempt('bindport', lambda s: s.bind(('127.0.0.1', unlisted)))\n";
    for landlock in ["auto", "off"] {
        let mut j = Jail::bare();
        j.set_config(&format!(
            "see /usr\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\nlandlock {landlock}\n\
             connect tcp 127.0.0.1:{listed}\nbind tcp 0\n"
        ));
        let out = j
            .cmd(&[
                "/usr/bin/python3",
                "-c",
                script,
                &listed.to_string(),
                &unlisted.to_string(),
            ])
            .run();
        out.assert_code(0);
        assert_eq!(
            out.lines(),
            [
                "listed ok",
                "unlisted ENETUNREACH",
                "bind0 ok",
                "bindport EACCES"
            ],
            "landlock {landlock}\n{}",
            out.describe()
        );
    }
}
