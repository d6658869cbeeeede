//! Table-driven tests of the whole config layer: text in, `Config` or
//! `ConfigError` out, plus the shipped files under `conf/`, `fixtures/` and
//! `docs/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::network::{
    BindLine, ConnectLine, Host, IpNet, NetMode, Network, PortRange, Protocol, UnixLine,
};
use super::*;

fn sha256(text: &str) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .try_into()
        .unwrap()
}

fn parse_for(text: &str, ident: &str) -> Config {
    match Config::parse(Path::new("t.conf"), text, ident) {
        Ok(config) => config,
        Err(err) => panic!("should parse:\n{text}\nbut: {err}"),
    }
}

fn parse(text: &str) -> Config {
    parse_for(text, "alice")
}

fn parse_error(text: &str) -> ConfigError {
    match Config::parse(Path::new("t.conf"), text, "alice") {
        Ok(config) => panic!("should fail:\n{text}\nbut gave {config:?}"),
        Err(err) => err,
    }
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn every_keyword_sets_its_field() {
    let text = "\
program /usr/bin/python3
arg python3
arg -c
arg print('a b')
closefds
setenv PATH /usr/bin:/bin
clearenv
unsetenv LANG
see /usr
see /srv/my files
write /tmp
maxthreads 4
chdir /tmp/work dir
rlimit AS 1000 2000
timelimit 2.5
wakeup
sockdir /run/sandbox
http https://example.org/
downloadpat /tmp/dl-XXXXXX
httptimeout 1.5
httpconnecttimeout 2
httpmaxsize 4096
cpu 1
landlock require
report
connect tcp example.org:443
connect unix:/run/bot/api sock
bind udp 0-10
net loopback
";
    let expected = Config {
        file: PathBuf::from("t.conf"),
        program: Some("/usr/bin/python3".into()),
        args: vec!["python3".into(), "-c".into(), "print('a b')".into()],
        close_fds: true,
        pass_fds: Vec::new(),
        clear_env: true,
        env: vec![
            EnvOp::Set("PATH".into(), "/usr/bin:/bin".into()),
            EnvOp::Unset("LANG".into()),
        ],
        see: vec![PathBuf::from("/usr"), PathBuf::from("/srv/my files")],
        write: vec![PathBuf::from("/tmp")],
        max_threads: Some(4),
        chdir: Some(PathBuf::from("/tmp/work dir")),
        rlimits: vec![Rlimit {
            resource: rlimit::Resource::AS,
            soft: 1000,
            hard: 2000,
            line: Some(14),
        }],
        time_limit: Some(Duration::from_millis(2500)),
        wakeup: true,
        template: false,
        rehearsal: Default::default(),
        sock_dir: Some(PathBuf::from("/run/sandbox")),
        http: vec!["https://example.org/".into()],
        download_pattern: Some("/tmp/dl-XXXXXX".into()),
        http_timeout: Some(Duration::from_millis(1500)),
        http_connect_timeout: Some(Duration::from_secs(2)),
        http_max_size: Some(4096),
        cpu: CpuChoice::Fixed(1),
        landlock: LandlockMode::Require,
        report: true,
        report_file: None,
        report_fd: None,
        network: Network {
            mode: NetMode::Loopback,
            mode_line: Some(29),
            connect: vec![ConnectLine {
                protocol: Protocol::Tcp,
                host: Host::Name("example.org".into()),
                ports: PortRange::single(443),
                address: "example.org:443".into(),
                line: 26,
                col: 13,
            }],
            bind: vec![BindLine {
                protocol: Protocol::Udp,
                ports: PortRange::new(0, 10).unwrap(),
                line: 28,
            }],
            unix: vec![UnixLine {
                path: PathBuf::from("/run/bot/api sock"),
                line: 27,
            }],
        },
        text_sha256: sha256(text),
        lines: Lines {
            see: vec![9, 10],
            write: vec![11],
            chdir: Some(13),
            cpu: Some(23),
            report_file: None,
            report_fd: None,
            template: None,
            rehearsal: None,
        },
        warnings: Vec::new(),
        limits: Default::default(),
        cow: Default::default(),
    };
    assert_eq!(parse(text), expected);
}

#[test]
fn an_empty_file_gives_the_defaults() {
    for text in ["", "# only a comment\n\n"] {
        let expected = Config {
            file: PathBuf::from("t.conf"),
            text_sha256: sha256(text),
            ..Config::default()
        };
        assert_eq!(parse(text), expected);
    }
}

#[test]
fn every_documented_example_parses() {
    for keyword in KEYWORDS {
        let result = Config::parse(Path::new("t.conf"), keyword.example, "alice");
        assert!(
            result.is_ok(),
            "example of `{}`: {:?}",
            keyword.name,
            result.err().map(|err| err.to_string())
        );
        assert!(
            keyword.usage.starts_with(keyword.name),
            "usage of `{}` must start with its name",
            keyword.name
        );
    }
}

#[test]
fn single_path_keywords_take_the_rest_of_the_line() {
    let config = parse(
        "program my prog\narg  two  words \nsee /a  b\t c \nwrite /w x\nchdir /c d\nsockdir /s t\ndownloadpat /d e-XXXXXX\n",
    );
    assert_eq!(config.program.as_deref(), Some("my prog"));
    assert_eq!(config.args, vec!["two  words"]);
    assert_eq!(config.see, vec![PathBuf::from("/a  b\t c")]);
    assert_eq!(config.write, vec![PathBuf::from("/w x")]);
    assert_eq!(config.chdir, Some(PathBuf::from("/c d")));
    assert_eq!(config.sock_dir, Some(PathBuf::from("/s t")));
    assert_eq!(config.download_pattern.as_deref(), Some("/d e-XXXXXX"));
}

#[test]
fn program_may_be_relative_and_a_hash_is_ordinary_text() {
    let config = parse("program python3\nsee /srv/#data\nsetenv PS1 # \n");
    assert_eq!(config.program.as_deref(), Some("python3"));
    assert_eq!(config.see, vec![PathBuf::from("/srv/#data")]);
    assert_eq!(config.env, vec![EnvOp::Set("PS1".into(), "#".into())]);
}

#[test]
fn later_single_value_lines_win() {
    let config =
        parse("program /a\nprogram /b\nmaxthreads 1\nmaxthreads 9\ntimelimit 1\ntimelimit 3\n");
    assert_eq!(config.program.as_deref(), Some("/b"));
    assert_eq!(config.max_threads, Some(9));
    assert_eq!(config.time_limit, Some(Duration::from_secs(3)));
}

#[test]
fn ident_blocks_apply_to_their_ident_only_in_file_order() {
    let text = "\
see /global1
ident alice
see /alice1
arg alice
end
see /global2
ident bob
see /bob
maxthreads 2
end
ident alice
see /alice2
end
see /global3
";
    let table: [(&str, &[&str], Option<u32>); 3] = [
        (
            "alice",
            &["/global1", "/alice1", "/global2", "/alice2", "/global3"],
            None,
        ),
        (
            "bob",
            &["/global1", "/global2", "/bob", "/global3"],
            Some(2),
        ),
        ("carol", &["/global1", "/global2", "/global3"], None),
    ];
    for (ident, see, max_threads) in table {
        let config = parse_for(text, ident);
        let see: Vec<PathBuf> = see.iter().map(PathBuf::from).collect();
        assert_eq!(config.see, see, "for {ident}");
        assert_eq!(config.max_threads, max_threads, "for {ident}");
        assert_eq!(config.args.is_empty(), ident != "alice", "for {ident}");
    }
}

#[test]
fn ident_blocks_named_like_irc_nicks_and_channels_apply() {
    let names = [
        "Nick^",
        "[nick]",
        "nick|away",
        "#channel",
        "a\\b",
        "{x}",
        "..",
        "é",
    ];
    let text: String = names
        .iter()
        .map(|name| format!("ident {name}\nsee /{name}\nend\n"))
        .collect();
    for name in names {
        let config = parse_for(&text, name);
        assert_eq!(config.see, [PathBuf::from(format!("/{name}"))], "{name}");
    }
    // An ident that is not UTF-8 matches no block, not even its lossy
    // spelling.
    let text = "ident #caf\u{fffd}\nsee /x\nend\n";
    let config = Config::parse(Path::new("t.conf"), text, b"#caf\xe9").unwrap();
    assert!(config.see.is_empty());
}

#[test]
fn an_ident_block_can_override_a_global_value() {
    let text = "timelimit 10\nident alice\ntimelimit 60\nend\n";
    assert_eq!(
        parse_for(text, "alice").time_limit,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        parse_for(text, "bob").time_limit,
        Some(Duration::from_secs(10))
    );
}

#[test]
fn mistakes_in_other_idents_blocks_are_still_errors() {
    let error = Config::parse(
        Path::new("t.conf"),
        "ident bob\nmaxthreads lots\nend\n",
        "alice",
    );
    assert_eq!(error.map_err(|err| err.line), Err(Some(2)));
}

#[test]
fn env_ops_keep_file_order_across_blocks() {
    let text = "\
setenv A 1
unsetenv B
ident alice
setenv B two words
end
clearenv
setenv A  spaced  value 
unsetenv A
setenv EMPTYISH =
";
    let config = parse(text);
    assert!(config.clear_env);
    assert_eq!(
        config.env,
        vec![
            EnvOp::Set("A".into(), "1".into()),
            EnvOp::Unset("B".into()),
            EnvOp::Set("B".into(), "two words".into()),
            EnvOp::Set("A".into(), "spaced  value".into()),
            EnvOp::Unset("A".into()),
            EnvOp::Set("EMPTYISH".into(), "=".into()),
        ]
    );
}

#[test]
fn rlimit_names_and_values() {
    use rlimit::Resource;
    const MAX: u64 = u64::MAX;
    let table: &[(&str, Resource, u64, u64)] = &[
        ("rlimit AS 1073741824", Resource::AS, 1 << 30, 1 << 30),
        ("rlimit core 0", Resource::CORE, 0, 0),
        ("rlimit Cpu 5 10", Resource::CPU, 5, 10),
        ("rlimit DATA unlimited", Resource::DATA, MAX, MAX),
        ("rlimit FSIZE 1 infinity", Resource::FSIZE, 1, MAX),
        ("rlimit LOCKS 1", Resource::LOCKS, 1, 1),
        ("rlimit MEMLOCK 0", Resource::MEMLOCK, 0, 0),
        ("rlimit MSGQUEUE 0", Resource::MSGQUEUE, 0, 0),
        ("rlimit NICE 0", Resource::NICE, 0, 0),
        ("rlimit RLIMIT_NOFILE 32", Resource::NOFILE, 32, 32),
        ("rlimit rlimit_nproc 64", Resource::NPROC, 64, 64),
        ("rlimit Rlimit_Rss 1", Resource::RSS, 1, 1),
        ("rlimit RTPRIO 0", Resource::RTPRIO, 0, 0),
        ("rlimit rttime 1000", Resource::RTTIME, 1000, 1000),
        ("rlimit SIGPENDING 16", Resource::SIGPENDING, 16, 16),
        (
            "rlimit STACK 8388608 UNLIMITED",
            Resource::STACK,
            8 << 20,
            MAX,
        ),
        (
            "rlimit NOFILE 18446744073709551615",
            Resource::NOFILE,
            MAX,
            MAX,
        ),
    ];
    for &(line, resource, soft, hard) in table {
        let expected = vec![Rlimit {
            resource,
            soft,
            hard,
            line: Some(1),
        }];
        assert_eq!(parse(line).rlimits, expected, "for {line}");
    }
}

/// The names the config accepts are the sixteen Linux has, spelt in any
/// case with or without `RLIMIT_`; the other systems' names the `rlimit`
/// crate knows are refused as unknown, and the list an error message
/// gives is exactly what is accepted.
#[test]
fn rlimit_names_are_exactly_the_linux_ones() {
    let linux = [
        "AS",
        "CORE",
        "CPU",
        "DATA",
        "FSIZE",
        "LOCKS",
        "MEMLOCK",
        "MSGQUEUE",
        "NICE",
        "NOFILE",
        "NPROC",
        "RSS",
        "RTPRIO",
        "RTTIME",
        "SIGPENDING",
        "STACK",
    ];
    for name in linux {
        for spelling in [
            name.to_owned(),
            name.to_ascii_lowercase(),
            format!("RLIMIT_{name}"),
            format!("rlimit_{}", name.to_ascii_lowercase()),
        ] {
            let limit = parse(&format!("rlimit {spelling} 1")).rlimits[0];
            assert_eq!(limit.name(), name, "for {spelling}");
            assert_eq!(
                limit.to_string(),
                format!("rlimit {name} 1"),
                "for {spelling}"
            );
        }
    }
    let message = format!("expected one of {}", linux.join(", "));
    let other_systems = [
        "KQUEUES",
        "NOVMON",
        "NPTS",
        "NTHR",
        "POSIXLOCKS",
        "SBSIZE",
        "SWAP",
        "THREADS",
        "UMTXP",
        "VMEM",
    ];
    for name in other_systems
        .iter()
        .chain(&["RLIMIT_", "RLIMIT_RLIMIT_AS", "RLIMITAS", "_AS"])
    {
        let error = parse_error(&format!("rlimit {name} 1"));
        assert!(error.to_string().contains(&message), "for {name}: {error}");
    }
}

#[test]
fn time_limits_allow_fractions() {
    let table = [
        ("timelimit 10", Duration::from_secs(10)),
        ("timelimit 0.5", Duration::from_millis(500)),
        ("timelimit 1.25", Duration::from_millis(1250)),
        ("timelimit 007", Duration::from_secs(7)),
        ("timelimit 0.000000001", Duration::from_nanos(1)),
        ("timelimit 2.0000000019", Duration::new(2, 1)),
    ];
    for (line, limit) in table {
        assert_eq!(parse(line).time_limit, Some(limit), "for {line}");
    }
}

/// The kernel turns `rlimit CPU` seconds into u64 nanoseconds: larger values
/// wrap there (2^63 s becomes 0 ns and kills at once), so they are clamped.
#[test]
fn huge_cpu_limits_are_clamped_to_what_the_kernel_counts() {
    let max = super::keywords::MAX_CPU_SECONDS;
    assert!(max.checked_mul(1_000_000_000).is_some());
    assert!((max + 1).checked_mul(1_000_000_000).is_none());
    let table = [
        ("rlimit CPU 9223372036854775808", max, max),
        ("rlimit CPU 18446744073709551614 unlimited", max, u64::MAX),
        ("rlimit CPU unlimited", u64::MAX, u64::MAX),
        ("rlimit CPU 10 99999999999", 10, max),
        ("rlimit AS 9223372036854775808", 1 << 63, 1 << 63),
    ];
    for (line, soft, hard) in table {
        let limit = parse(line).rlimits[0];
        assert_eq!((limit.soft, limit.hard), (soft, hard), "for {line}");
    }
}

/// `Instant + Duration` panics near u64::MAX seconds: every time keyword
/// clamps to MAX_SECONDS, so whatever it accepts can be added to a clock.
#[test]
fn huge_times_are_clamped_to_max_seconds() {
    let max = Duration::from_secs(super::MAX_SECONDS);
    for value in [
        "1000000000",
        "1000000000.5",
        "5000000000000000000",
        "18446744073709551615",
        "18446744073709551615.999999999",
    ] {
        let config = parse(&format!(
            "timelimit {value}\nhttptimeout {value}\nhttpconnecttimeout {value}\n"
        ));
        assert_eq!(config.time_limit, Some(max), "timelimit {value}");
        assert_eq!(config.http_timeout, Some(max), "httptimeout {value}");
        assert_eq!(
            config.http_connect_timeout,
            Some(max),
            "httpconnecttimeout {value}"
        );
        assert!(std::time::Instant::now().checked_add(max * 2).is_some());
    }
    let just_below = parse("timelimit 999999999.5").time_limit;
    assert_eq!(just_below, Some(Duration::new(999_999_999, 500_000_000)));
}

/// Every way to get a file wrong: the text, the line and column reported,
/// and a part of the message.
#[test]
fn errors_name_line_column_and_cause() {
    let table: &[(&str, usize, usize, &str)] = &[
        (
            "see /usr\nfrob bar\n",
            2,
            1,
            "unknown keyword `frob`; expected one of program, arg, closefds,",
        ),
        ("Program /bin/sh", 1, 1, "unknown keyword `Program`"),
        ("#see /usr", 1, 1, "expected a blank after `#`"),
        (
            "\n  see\n",
            2,
            6,
            "missing argument for `see`; expected `see <path>`, found end of line",
        ),
        ("program", 1, 8, "missing argument for `program`"),
        ("arg", 1, 4, "missing argument for `arg`"),
        ("setenv", 1, 7, "missing argument for `setenv`"),
        (
            "setenv FOO",
            1,
            11,
            "missing argument for `setenv`; expected `setenv <var> <value>`",
        ),
        ("setenv FOO   ", 1, 11, "missing argument for `setenv`"),
        ("unsetenv", 1, 9, "missing argument for `unsetenv`"),
        ("maxthreads", 1, 11, "missing argument for `maxthreads`"),
        (
            "rlimit AS",
            1,
            10,
            "missing argument for `rlimit`; expected `rlimit <name> <value> [<hard>]`",
        ),
        ("timelimit", 1, 10, "missing argument for `timelimit`"),
        ("ident", 1, 6, "missing argument for `ident`"),
        ("http", 1, 5, "missing argument for `http`"),
        (
            "closefds now",
            1,
            10,
            "too many arguments for `closefds`; expected `closefds`, found `now`",
        ),
        ("clearenv 1", 1, 10, "too many arguments for `clearenv`"),
        ("wakeup x", 1, 8, "too many arguments for `wakeup`"),
        ("report yes", 1, 8, "too many arguments for `report`"),
        (
            "maxthreads 3 4",
            1,
            14,
            "too many arguments for `maxthreads`; expected `maxthreads <number>`, found `4`",
        ),
        ("unsetenv A B", 1, 12, "too many arguments for `unsetenv`"),
        ("timelimit 1 s", 1, 13, "too many arguments for `timelimit`"),
        (
            "rlimit AS 1 2 3 4",
            1,
            15,
            "too many arguments for `rlimit`; expected `rlimit <name> <value> [<hard>]`, found `3 4`",
        ),
        ("http http://a/ b", 1, 16, "too many arguments for `http`"),
        ("ident a b\nend", 1, 9, "too many arguments for `ident`"),
        ("ident a\nend now", 2, 5, "too many arguments for `end`"),
        (
            "maxthreads x",
            1,
            12,
            "bad number for `maxthreads`; expected a whole number from 1 to 4294967295, found `x`",
        ),
        ("maxthreads 0", 1, 12, "bad number for `maxthreads`"),
        ("maxthreads -1", 1, 12, "found `-1`"),
        ("maxthreads +1", 1, 12, "bad number for `maxthreads`"),
        (
            "maxthreads 4294967296",
            1,
            12,
            "bad number for `maxthreads`",
        ),
        ("maxthreads 1.5", 1, 12, "bad number for `maxthreads`"),
        (
            "rlimit FOO 1",
            1,
            8,
            "unknown rlimit name `FOO`; expected one of AS, CORE, CPU,",
        ),
        ("rlimit RLIMIT_ 1", 1, 8, "unknown rlimit name `RLIMIT_`"),
        (
            "rlimit AS lots",
            1,
            11,
            "bad value for `rlimit AS`; expected a whole number or `unlimited`, found `lots`",
        ),
        ("rlimit nofile -1", 1, 15, "bad value for `rlimit NOFILE`"),
        (
            "rlimit AS 18446744073709551616",
            1,
            11,
            "bad value for `rlimit AS`",
        ),
        ("rlimit AS 1 x", 1, 13, "bad value for `rlimit AS`"),
        (
            "rlimit NOFILE 64 32",
            1,
            18,
            "hard limit below the soft limit for `rlimit NOFILE`; expected at least 64, found `32`",
        ),
        (
            "rlimit CPU unlimited 5",
            1,
            22,
            "hard limit below the soft limit",
        ),
        (
            "see usr/lib",
            1,
            5,
            "`see` needs an absolute path, found `usr/lib`",
        ),
        (
            "write tmp",
            1,
            7,
            "`write` needs an absolute path, found `tmp`",
        ),
        ("chdir ./x", 1, 7, "`chdir` needs an absolute path"),
        ("sockdir run", 1, 9, "`sockdir` needs an absolute path"),
        (
            "downloadpat dl-XXXXXX",
            1,
            13,
            "`downloadpat` needs an absolute path",
        ),
        (
            "downloadpat /tmp/dl-XXXXX",
            1,
            13,
            "`downloadpat` needs a pattern ending in XXXXXX, found `/tmp/dl-XXXXX`",
        ),
        (
            "http ftp://example.org/",
            1,
            6,
            "`http` needs a url starting with http:// or https://, found `ftp://example.org/`",
        ),
        ("http http://", 1, 6, "`http` needs a url"),
        (
            "setenv A=B c",
            1,
            8,
            "bad variable name for `setenv`; expected a name without `=`, found `A=B`",
        ),
        ("unsetenv =", 1, 10, "bad variable name for `unsetenv`"),
        (
            "timelimit 0",
            1,
            11,
            "bad time limit for `timelimit`; expected a positive number of seconds such as 10 or 0.5, found `0`",
        ),
        ("timelimit -1", 1, 11, "bad time limit"),
        ("timelimit 1.", 1, 11, "bad time limit"),
        ("timelimit .5", 1, 11, "bad time limit"),
        ("timelimit 1s", 1, 11, "bad time limit"),
        ("timelimit 0.0000000001", 1, 11, "bad time limit"),
        ("timelimit 99999999999999999999", 1, 11, "bad time limit"),
        (
            "see /usr\n  end\n",
            2,
            3,
            "`end` without an open `ident` block; expected `ident <name>` before it",
        ),
        (
            "ident a\nend\nend\n",
            3,
            1,
            "`end` without an open `ident` block",
        ),
        (
            "ident alice\nsee /a\n ident bob\nend\nend\n",
            3,
            2,
            "`ident bob` inside the `ident alice` block opened at line 1; expected `end` before the next `ident`",
        ),
        (
            "see /usr\n\nident alice\nsee /a\n",
            3,
            1,
            "`ident alice` block is never closed; expected `end` before the end of the file",
        ),
        (
            "see /a\0b",
            1,
            7,
            "expected text without NUL bytes, found a NUL byte",
        ),
        (
            "see /usr\nident #ops/admin\nend\n",
            2,
            7,
            "`ident #ops/admin` can never be selected: the ident contains `/`",
        ),
        (
            "ident kill\nend\n",
            1,
            7,
            "`ident kill` can never be selected: `sandbox <config> kill ...` is the kill command",
        ),
        (
            "connect",
            1,
            8,
            "missing argument for `connect`; expected `connect <tcp|udp> <host>:<ports> | connect unix:<path>`",
        ),
        ("connect tcp", 1, 12, "missing argument for `connect`"),
        (
            "connect tcp a.org:1 b.org:2",
            1,
            21,
            "too many arguments for `connect`; expected `connect <tcp|udp> <host>:<ports> | connect unix:<path>`, found `b.org:2`",
        ),
        (
            "connect sctp a.org:1",
            1,
            9,
            "unknown protocol `sctp`; expected `tcp`, `udp` or `unix:<path>`",
        ),
        ("connect TCP a.org:1", 1, 9, "unknown protocol `TCP`"),
        (
            "connect unix /run/x.sock",
            1,
            9,
            "unknown protocol `unix` (a unix socket is `unix:<path>`, with no blank)",
        ),
        (
            "connect tcp:a.org:1",
            1,
            9,
            "unknown protocol `tcp:a.org:1` (the protocol is a word of its own",
        ),
        (
            "connect unix:run/x.sock",
            1,
            9,
            "`connect unix:` needs an absolute path; expected `unix:/path/of/the.sock`, found `unix:run/x.sock`",
        ),
        (
            "connect unix:",
            1,
            9,
            "`connect unix:` needs an absolute path",
        ),
        (
            "connect tcp a.org:65536",
            1,
            19,
            "`connect`: port out of range; expected a port from 1 to 65535, a range such as 8000-8080, or `*`, found `65536`",
        ),
        (
            "connect udp a.org:0",
            1,
            19,
            "`connect`: port 0 is no destination",
        ),
        (
            "connect tcp a.org:90-80",
            1,
            19,
            "`connect`: port range ends below its start; expected a range from low to high, such as 80-90, found `90-80`",
        ),
        (
            "connect tcp a.org:1-70000",
            1,
            21,
            "`connect`: port out of range",
        ),
        ("connect tcp a.org", 1, 13, "`connect`: missing port"),
        ("connect tcp :443", 1, 13, "`connect`: empty host"),
        (
            "connect tcp *.example.org:443",
            1,
            13,
            "`connect`: wildcard host names are not allowed",
        ),
        (
            "connect tcp *:443",
            1,
            13,
            "wildcard host names are not allowed",
        ),
        (
            "connect tcp 10.0.0.1/8:443",
            1,
            13,
            "`connect`: malformed CIDR: bits are set past the prefix; expected the block's first address, `10.0.0.0/8`, found `10.0.0.1/8`",
        ),
        (
            "connect tcp 10.0.0.0/33:443",
            1,
            13,
            "`connect`: malformed CIDR: bad prefix length; expected a prefix length from 0 to 32",
        ),
        (
            "connect tcp [fd00::/129]:*",
            1,
            14,
            "bad prefix length; expected a prefix length from 0 to 128",
        ),
        ("connect tcp 300.1.1.1:80", 1, 13, "malformed IPv4 address"),
        (
            "connect udp ::1:53",
            1,
            13,
            "an IPv6 address goes in brackets",
        ),
        ("connect udp [::1:53", 1, 13, "`[` without `]`"),
        (
            "connect tcp 0.0.0.0:80",
            1,
            13,
            "the unspecified address names no host",
        ),
        (
            "bind tcp",
            1,
            9,
            "missing argument for `bind`; expected `bind <tcp|udp> <port|lo-hi>`",
        ),
        ("bind tcp 1 2", 1, 12, "too many arguments for `bind`"),
        (
            "bind unix /tmp/x",
            1,
            6,
            "unknown protocol `unix`; expected `tcp` or `udp` (a unix socket is bound in a `write` tree)",
        ),
        ("bind tcp *", 1, 10, "`bind`: `bind` takes no `*`"),
        (
            "bind udp 65536",
            1,
            10,
            "`bind`: port out of range; expected a port from 0 to 65535",
        ),
        (
            "bind udp 10-1",
            1,
            10,
            "`bind`: port range ends below its start",
        ),
        ("bind udp 1-x", 1, 12, "`bind`: bad port"),
        ("net", 1, 4, "missing argument for `net`"),
        (
            "net all",
            1,
            5,
            "bad mode for `net`; expected `none` or `loopback`, found `all`",
        ),
        ("net loopback now", 1, 14, "too many arguments for `net`"),
        (
            "net loopback\nconnect tcp 127.0.0.1:8080\n",
            2,
            13,
            "`connect tcp 127.0.0.1:8080` names the host's loopback, which `net loopback` (line 1) keeps for the jail's own processes; expected no `connect` line for a loopback address under `net loopback`",
        ),
        (
            "connect udp [::1]:53\nident alice\nnet loopback\nend\n",
            1,
            13,
            "which `net loopback` (line 3)",
        ),
        (
            "net loopback\nconnect tcp localhost:80\n",
            2,
            13,
            "`connect tcp localhost:80` names the host's loopback",
        ),
        (
            "net loopback\nconnect tcp 127.1.0.0/16:*\n",
            2,
            13,
            "names the host's loopback",
        ),
        // The first error wins, even when a later line is also wrong.
        ("see /a\nsee b\nfoo\n", 2, 5, "`see` needs an absolute path"),
    ];
    for &(text, line, col, message) in table {
        let error = parse_error(text);
        let shown = error.to_string();
        assert_eq!(
            (error.line, error.col),
            (Some(line), Some(col)),
            "position for {text:?}: {shown}"
        );
        assert!(
            shown.starts_with(&format!("t.conf:{line}:{col}: ")),
            "prefix for {text:?}: {shown}"
        );
        assert!(
            shown.contains(message),
            "for {text:?}:\n  {shown}\nlacks\n  {message}"
        );
        assert!(!shown.contains('\n'), "one line for {text:?}: {shown}");
    }
}

#[test]
fn load_reports_unreadable_and_non_utf8_files() {
    let missing = Config::load(Path::new("/nonexistent/x.conf"), "alice");
    let shown = missing.map_err(|err| err.to_string());
    assert_eq!(
        shown,
        Err(
            "/nonexistent/x.conf: cannot read the file: no such file or directory (os error 2)"
                .into()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.conf");
    std::fs::write(&latin1, b"see /usr\nsee /caf\xe9\n").unwrap();
    let error = Config::load(&latin1, "alice").unwrap_err();
    assert_eq!((error.line, error.col), (Some(2), Some(9)));
    assert!(
        error
            .to_string()
            .ends_with(": the file is not valid UTF-8; expected UTF-8 text, found byte 0xe9"),
        "{error}"
    );

    let good = dir.path().join("good.conf");
    std::fs::write(&good, "see /usr\n").unwrap();
    let config = Config::load(&good, "alice").unwrap();
    assert_eq!(config.file, good);
    assert_eq!(config.see, vec![PathBuf::from("/usr")]);
}

#[test]
fn shipped_configs_parse() {
    for (name, program) in [
        ("conf/shell.conf", "/bin/sh"),
        ("conf/python.conf", "/usr/bin/python3"),
        ("conf/python-repl.conf", "/usr/bin/python3"),
        ("conf/sh-repl.conf", "/usr/local/libexec/sandbox-sh-repl"),
    ] {
        let config = match Config::load(&repo_path(name), "alice") {
            Ok(config) => config,
            Err(err) => panic!("{err}"),
        };
        assert_eq!(config.program.as_deref(), Some(program), "{name}");
        assert!(!config.args.is_empty(), "{name} sets argv[0]");
        assert!(config.close_fds && config.clear_env, "{name}");
        assert!(
            config.max_threads.is_some() && config.time_limit.is_some(),
            "{name}"
        );
        assert!(config.chdir.is_some() && !config.write.is_empty(), "{name}");
        assert!(
            config
                .env
                .contains(&EnvOp::Set("PATH".into(), "/usr/bin:/bin".into())),
            "{name}"
        );
        assert!(
            config
                .rlimits
                .iter()
                .any(|limit| limit.resource == rlimit::Resource::AS),
            "{name}"
        );
    }
}

#[test]
fn every_bad_fixture_fails_with_its_expected_message() {
    let dir = repo_path("fixtures/configs/bad");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 10, "fixtures in {}", dir.display());
    for path in entries {
        // Lossy: some fixtures are deliberately not UTF-8 past their first line.
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let expect = text
            .lines()
            .next()
            .and_then(|first| first.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} must start with `# expect: `", path.display()));
        match Config::load(&path, "alice") {
            Ok(config) => panic!("{} parsed: {config:?}", path.display()),
            Err(err) => assert!(
                err.to_string().contains(expect),
                "{}:\n  {err}\nlacks\n  {expect}",
                path.display()
            ),
        }
    }
}

#[test]
fn every_keyword_is_documented() {
    let docs = include_str!("../../docs/config.md");
    for keyword in KEYWORDS {
        let heading = format!("### `{}`", keyword.usage);
        let section = docs
            .split_once(&heading)
            .map(|(_, after)| after.split("\n### ").next().unwrap_or_default())
            .unwrap_or_else(|| panic!("docs/config.md lacks the heading {heading}"));
        for (what, text) in [
            ("doc line", keyword.doc),
            ("default", keyword.default),
            ("example", keyword.example),
        ] {
            assert!(
                section.contains(text),
                "docs/config.md, {heading}: the {what} should read\n{text}"
            );
        }
    }
}

#[test]
fn unknown_keywords_close_to_a_known_one_get_a_suggestion() {
    for (text, message) in [
        (
            "sea /usr",
            "t.conf:1:1: unknown keyword `sea`; did you mean `see`?",
        ),
        (
            "wirte /tmp",
            "t.conf:1:1: unknown keyword `wirte`; did you mean `write`?",
        ),
        (
            "maxthread 3",
            "t.conf:1:1: unknown keyword `maxthread`; did you mean `maxthreads`?",
        ),
        (
            "Program /bin/sh",
            "t.conf:1:1: unknown keyword `Program`; did you mean `program`?",
        ),
        (
            "  timelimt 3",
            "t.conf:1:3: unknown keyword `timelimt`; did you mean `timelimit`?",
        ),
    ] {
        assert_eq!(parse_error(text).to_string(), message, "for {text:?}");
    }
    // Nothing within two edits: the whole list.
    let far = parse_error("frobnicate yes").to_string();
    assert!(
        far.starts_with(
            "t.conf:1:1: unknown keyword `frobnicate`; expected one of program, arg, closefds,"
        ),
        "{far}"
    );
    assert!(!far.contains("did you mean"), "{far}");
}

#[test]
fn a_hash_inside_a_value_is_kept_and_warned_about() {
    let config = parse("see /usr # programs\nsee /srv/#1\narg print(1) #x\nsetenv A b #c\n");
    assert_eq!(
        config.see,
        [PathBuf::from("/usr # programs"), PathBuf::from("/srv/#1")]
    );
    let shown: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "t.conf:1: the value of `see` is `/usr # programs`: a `#` inside a line starts no comment",
            "t.conf:3: the value of `arg` is `print(1) #x`: a `#` inside a line starts no comment",
            "t.conf:4: the value of `setenv` is `b #c`: a `#` inside a line starts no comment",
        ]
    );
    // Lines of other idents' blocks are warned about too.
    let other = parse_for("ident bob\nchdir /x # y\nend\n", "alice");
    assert_eq!(other.warnings.len(), 1, "{:?}", other.warnings);
    assert_eq!(other.chdir, None);
}

/// The keywords a document gives a heading to, by name, with their usage.
fn documented_keywords(headings: impl Iterator<Item = String>) -> Vec<(String, String)> {
    headings
        .map(|usage| {
            let name = usage.split(' ').next().unwrap_or_default().to_owned();
            (name, usage)
        })
        .collect()
}

/// docs/config.md and sandbox.conf(5) document the same keywords, each
/// once, as the keyword table has them: a keyword added to one and not the
/// other (or not to the table) fails here.
#[test]
fn config_md_and_the_manual_document_the_same_keywords() {
    let markdown = include_str!("../../docs/config.md");
    let manual = include_str!("../../docs/man/sandbox.conf.5");
    let in_markdown = documented_keywords(markdown.lines().filter_map(|line| {
        line.strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_owned)
    }));
    let keywords_section = manual
        .split_once(".SH KEYWORDS\n")
        .and_then(|(_, after)| after.split_once("\n.SH "))
        .map(|(section, _)| section)
        .expect("sandbox.conf.5 has a KEYWORDS section");
    let in_manual = documented_keywords(
        keywords_section
            .split(".TP\n.B ")
            .skip(1)
            .filter_map(|entry| entry.lines().next())
            .map(|usage| usage.replace("\\-", "-")),
    );
    let table: Vec<(String, String)> = KEYWORDS
        .iter()
        .map(|keyword| (keyword.name.to_owned(), keyword.usage.to_owned()))
        .collect();
    assert_eq!(
        in_markdown, table,
        "docs/config.md headings vs the keyword table"
    );
    assert_eq!(
        in_manual, table,
        "sandbox.conf.5 KEYWORDS vs the keyword table"
    );
}

#[test]
fn network_lines_add_up_in_file_order() {
    let text = "\
connect tcp example.org:443
connect tcp example.org:443
ident alice
connect udp [2001:DB8::1]:53
connect unix:/run/a.sock
bind tcp 8080
end
ident bob
connect tcp 10.0.0.0/8:*
bind udp 0
net loopback
end
connect unix:/run/b.sock
";
    let alice = parse_for(text, "alice").network;
    let hosts: Vec<(Protocol, Host, String)> = alice
        .connect
        .iter()
        .map(|line| (line.protocol, line.host.clone(), line.ports.to_string()))
        .collect();
    let ipv6 = IpNet::host("2001:db8::1".parse().unwrap());
    assert_eq!(
        hosts,
        [
            (
                Protocol::Tcp,
                Host::Name("example.org".into()),
                "443".into()
            ),
            (
                Protocol::Tcp,
                Host::Name("example.org".into()),
                "443".into()
            ),
            (Protocol::Udp, Host::Net(ipv6), "53".into()),
        ]
    );
    let lines: Vec<usize> = alice.connect.iter().map(|line| line.line).collect();
    assert_eq!(lines, [1, 2, 4]);
    let unix: Vec<PathBuf> = alice.unix.iter().map(|line| line.path.clone()).collect();
    assert_eq!(
        unix,
        [PathBuf::from("/run/a.sock"), PathBuf::from("/run/b.sock")]
    );
    assert_eq!(alice.bind.len(), 1);
    assert_eq!(alice.mode, NetMode::None);
    assert!(!alice.is_closed());

    let bob = parse_for(text, "bob").network;
    assert_eq!(bob.mode, NetMode::Loopback);
    assert_eq!(bob.mode_line, Some(11));
    assert_eq!(bob.bind[0].ports, PortRange::single(0));

    let carol = parse_for("net none\n", "carol").network;
    assert_eq!(carol.mode, NetMode::None);
    assert!(carol.is_closed());
    assert!(parse_for("", "carol").network.is_closed());
}

/// `net` is single-valued: a block can turn a global loopback off again,
/// and then a loopback `connect` line is no contradiction.
#[test]
fn the_last_net_line_wins_and_decides_the_contradiction() {
    let text = "net loopback\nident alice\nnet none\nconnect tcp 127.0.0.1:80\nend\n";
    let config = parse_for(text, "alice");
    assert_eq!(config.network.mode, NetMode::None);
    assert_eq!(config.network.connect.len(), 1);
    // For another ident the loopback line is not there.
    assert_eq!(parse_for(text, "bob").network.mode, NetMode::Loopback);
    // A block that covers loopback among other addresses is no contradiction.
    let wide = parse("net loopback\nconnect tcp 0.0.0.0/0:443\nconnect tcp [::/0]:443\n");
    assert_eq!(wide.network.connect.len(), 2);
}

#[test]
fn report_outputs_are_parsed_and_their_conflicts_refused() {
    let config = parse("reportfile /var/log/run.jsonl\nreportfd 5\n");
    assert_eq!(
        config.report_file,
        Some(PathBuf::from("/var/log/run.jsonl"))
    );
    assert_eq!(config.report_fd, Some(5));
    assert_eq!(config.lines.report_file, Some(1));
    assert_eq!(config.lines.report_fd, Some(2));
    for (text, message) in [
        (
            "reportfd 2",
            "t.conf:1:10: bad descriptor for `reportfd`; expected a descriptor number above 2",
        ),
        (
            "reportfile run.jsonl",
            "t.conf:1:12: `reportfile` needs an absolute path",
        ),
        (
            "passfd 5\nreportfd 5",
            "t.conf:2:1: `reportfd 5` is also passed to the program by `passfd 5`",
        ),
        (
            "wakeup\nreportfile /tmp/r",
            "t.conf:2:1: `reportfile` does not work with `wakeup` yet",
        ),
        (
            "see /usr\n\ntemplate",
            "t.conf:3:1: `template` needs `wakeup`",
        ),
        (
            "user nobody\ncow /tmp/project",
            "t.conf:2:1: `cow` trees are not offered with `user` or `group` yet",
        ),
        (
            "see /usr\nwakeup\ntemplate\ncow /tmp/project",
            "t.conf:4:1: `cow` trees are not offered with `template` yet",
        ),
        (
            "wakeup\ntemplate\nreportfd 5",
            "t.conf:3:1: `reportfd` does not work with `wakeup` yet",
        ),
        (
            "wakeup\nrehearsal print(1)",
            "t.conf:2:1: `rehearsal` is for `template`",
        ),
    ] {
        let error = parse_error(text).to_string();
        assert!(error.starts_with(message), "{text:?}: {error}");
    }
    // With `wakeup`, on either side of it.
    let config = parse("template\nwakeup\n");
    assert!(config.template && config.wakeup);
    assert_eq!(config.lines.template, Some(1));
    assert!(!parse("wakeup\n").template);
    // A rehearsal: empty input by default, any text (escapes as in
    // `arg`), or none; the last line wins.
    use crate::config::Rehearsal;
    assert_eq!(parse("wakeup\ntemplate\n").rehearsal, Rehearsal::EmptyInput);
    let config = parse("wakeup\ntemplate\nrehearsal x = 1\\nprint(x)\n");
    assert_eq!(config.rehearsal, Rehearsal::Input("x = 1\nprint(x)".into()));
    assert_eq!(config.lines.rehearsal, Some(3));
    let off = parse("wakeup\ntemplate\nrehearsal print(1)\nrehearsal off\n");
    assert_eq!(off.rehearsal, Rehearsal::Off);
    assert_eq!(
        parse("wakeup\ntemplate\nrehearsal off\\n\n").rehearsal,
        Rehearsal::Input("off\n".into())
    );
    // Under closefds the descriptor never reaches the program.
    assert_eq!(parse("closefds\npassfd 5\nreportfd 5\n").report_fd, Some(5));
}
