//! A fuzzer for the config parser, run as an ordinary test.
//!
//! Feeds [`Config::from_bytes`] random bytes, soups of keywords and
//! awkward words, and valid configs (the shipped ones and every keyword's
//! example) put through random edits. No input may panic the parser or
//! take long, every error must be one short line, and every accepted
//! config must hold only values the jail can use. The whole run is bounded
//! by a watchdog, so a hang fails the test instead of stalling CI.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use super::network::{Host, IpNet, NetMode};
use super::{Config, KEYWORDS, MAX_CONFIG_BYTES, MAX_CPU_SECONDS, MAX_SECONDS};

/// Cases per strategy: a few seconds for all of them in a release build.
const CASES: u32 = 4000;
/// The longest one parse may take (inputs are a few kilobytes).
const PER_CASE: Duration = Duration::from_millis(500);
/// The longest the whole fuzzer may run before it counts as a hang.
const WHOLE_RUN: Duration = Duration::from_secs(60);

/// Words that tend to break parsers: numbers at and past every edge,
/// signs, fractions, blanks, control characters, NUL, non-ASCII.
const AWKWARD: &[&str] = &[
    "0",
    "1",
    "-1",
    "+1",
    "0.5",
    ".5",
    "1.",
    "1e9",
    "0x10",
    "00000000000000000000000000001",
    "999999999",
    "1000000000",
    "1000000000.999999999",
    "4294967295",
    "4294967296",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "18446744073709551615.9999999999999",
    "99999999999999999999999999999999999999999999",
    "unlimited",
    "INFINITY",
    "auto",
    "any",
    "require",
    "off",
    "1023",
    "1024",
    "AS",
    "rlimit_nofile",
    "NOFILE",
    "CPU",
    "/",
    "/tmp",
    "/tmp/a b",
    "relative",
    "http://",
    "https://x/",
    "http:/x",
    "/tmp/dl-XXXXXX",
    "XXXXXX",
    "A=B",
    "=",
    "#",
    "#x",
    "alice",
    "bob",
    "\t",
    " ",
    "\r",
    "\0",
    "\u{1b}[2J",
    "é",
    "\u{feff}",
    "\u{10ffff}",
    "tcp",
    "udp",
    "unix:/run/x.sock",
    "unix:",
    "none",
    "loopback",
    "example.org:443",
    "*.example.org:443",
    "localhost:0",
    "127.0.0.1:80",
    "0.0.0.0:80",
    "10.0.0.0/8:*",
    "10.0.0.1/8:1-2",
    "[::1]:80",
    "[fd00::/8]:*",
    "[::ffff:1.2.3.4/120]:65535",
    "[::1",
    "1.2.3:4",
    "65536",
    "0-65535",
    "9-1",
    "*",
];

fn keyword_names() -> Vec<&'static str> {
    KEYWORDS.iter().map(|keyword| keyword.name).collect()
}

/// Valid configs: the shipped ones and every keyword's example.
fn valid_configs() -> Vec<String> {
    let mut configs: Vec<String> = [
        include_str!("../../conf/python.conf"),
        include_str!("../../conf/python-repl.conf"),
        include_str!("../../conf/shell.conf"),
        include_str!("../../conf/sh-repl.conf"),
    ]
    .iter()
    .map(|text| text.to_string())
    .collect();
    // Every keyword's example, in two configs: a report, the limits
    // that end the program itself (`cputime`, `outputlimit`, `maxmemory`)
    // and `cow` trees (with `template`; `cowquota`'s example has one)
    // cannot go with `wakeup` yet, nor `cow` with `user` or `group`
    // (`rehearsal` needs `template`).
    let left_outs: [&[&str]; 2] = [
        &[
            "reportfile",
            "reportfd",
            "cputime",
            "outputlimit",
            "maxmemory",
            "cow",
            "cowquota",
        ],
        &["wakeup", "template", "rehearsal", "user", "group"],
    ];
    for left_out in left_outs {
        let examples: Vec<&str> = KEYWORDS
            .iter()
            .filter(|keyword| !left_out.contains(&keyword.name))
            .map(|keyword| keyword.example)
            .filter(|example| !example.starts_with("ident"))
            .collect();
        configs.push(examples.join("\n") + "\nident alice\nwrite /home/alice\nend\n");
    }
    configs
}

/// A random edit of a text, as bytes: delete, insert, replace or
/// duplicate a span, cut the text, or swap two lines.
#[derive(Debug, Clone)]
enum Edit {
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        word: String,
    },
    Replace {
        at: usize,
        len: usize,
        word: String,
    },
    Duplicate {
        at: usize,
        len: usize,
    },
    Truncate {
        at: usize,
    },
    SwapLines {
        first: usize,
        second: usize,
    },
    Byte {
        at: usize,
        byte: u8,
    },
    /// Replace the `index`-th run of digits (counting round) by `word`.
    Number {
        index: usize,
        word: String,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let word = prop_oneof![
        proptest::sample::select(AWKWARD).prop_map(str::to_string),
        proptest::sample::select(keyword_names()).prop_map(str::to_string),
        Just("\n".to_string()),
        Just(" ".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..16).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), word.clone()).prop_map(|(at, word)| Edit::Insert { at, word }),
        (any::<usize>(), 0usize..16, word).prop_map(|(at, len, word)| Edit::Replace {
            at,
            len,
            word
        }),
        (any::<usize>(), 0usize..64).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(first, second)| Edit::SwapLines { first, second }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Byte { at, byte }),
        (any::<usize>(), proptest::sample::select(AWKWARD)).prop_map(|(index, word)| {
            Edit::Number {
                index,
                word: word.to_string(),
            }
        }),
    ]
}

fn apply(mut bytes: Vec<u8>, edit: &Edit) -> Vec<u8> {
    let place = |at: usize, len: usize| {
        if len == 0 { 0 } else { at % (len + 1) }
    };
    match edit {
        Edit::Delete { at, len } => {
            let start = place(*at, bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Edit::Insert { at, word } => {
            let start = place(*at, bytes.len());
            bytes.splice(start..start, word.bytes());
        }
        Edit::Replace { at, len, word } => {
            let start = place(*at, bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.splice(start..end, word.bytes());
        }
        Edit::Duplicate { at, len } => {
            let start = place(*at, bytes.len());
            let end = (start + len).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Edit::Truncate { at } => {
            let end = place(*at, bytes.len());
            bytes.truncate(end);
        }
        Edit::SwapLines { first, second } => {
            let mut lines: Vec<Vec<u8>> =
                bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let count = lines.len();
            lines.swap(first % count, second % count);
            bytes = lines.join(&b'\n');
        }
        Edit::Byte { at, byte } => {
            if !bytes.is_empty() {
                let index = at % bytes.len();
                bytes[index] = *byte;
            }
        }
        Edit::Number { index, word } => {
            let mut runs = Vec::new();
            let mut start = None;
            for (at, byte) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
                match (byte.is_ascii_digit(), start) {
                    (true, None) => start = Some(at),
                    (false, Some(first)) => {
                        runs.push(first..at);
                        start = None;
                    }
                    _ => {}
                }
            }
            if !runs.is_empty() {
                let run = runs[index % runs.len()].clone();
                bytes.splice(run, word.bytes());
            }
        }
    }
    bytes
}

/// Parses `bytes` for two idents and checks what came out.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    for ident in ["alice", "bob"] {
        let started = Instant::now();
        let result = Config::from_bytes(Path::new("fuzz.conf"), bytes.to_vec(), ident);
        let took = started.elapsed();
        prop_assert!(took < PER_CASE, "parse took {took:?}");
        match result {
            Ok(config) => usable(&config)?,
            Err(error) => {
                let shown = error.to_string();
                prop_assert!(!shown.contains('\n'), "two-line error: {shown:?}");
                prop_assert!(!shown.contains('\0'), "NUL in the error: {shown:?}");
                prop_assert!(
                    !shown.contains('\u{1b}'),
                    "raw escape in the error: {shown:?}"
                );
                prop_assert!(shown.len() < 2000, "long error: {} bytes", shown.len());
                prop_assert!(shown.starts_with("fuzz.conf"), "unnamed file: {shown:?}");
            }
        }
    }
    Ok(())
}

/// Every value an accepted config holds is one the jail can use.
fn usable(config: &Config) -> Result<(), TestCaseError> {
    let max = Duration::from_secs(MAX_SECONDS);
    for time in [
        config.time_limit,
        config.http_timeout,
        config.http_connect_timeout,
    ]
    .into_iter()
    .flatten()
    {
        prop_assert!(!time.is_zero() && time <= max, "time {time:?}");
        // A session arms twice the limit for its first command.
        prop_assert!(Instant::now().checked_add(time * 2).is_some());
    }
    for limit in &config.rlimits {
        prop_assert!(limit.soft <= limit.hard, "{limit:?}");
        if limit.resource == rlimit::Resource::CPU {
            for value in [limit.soft, limit.hard] {
                prop_assert!(value == u64::MAX || value <= MAX_CPU_SECONDS, "{limit:?}");
            }
        }
    }
    prop_assert!(config.max_threads.is_none_or(|max| max >= 1));
    let network = &config.network;
    for line in &network.connect {
        prop_assert!(line.ports.low() >= 1, "{line:?}");
        prop_assert!(line.ports.low() <= line.ports.high(), "{line:?}");
        match &line.host {
            Host::Net(net) => {
                // Rebuilding the block must give it back: a valid prefix,
                // no bit past it, never a mapped address.
                prop_assert_eq!(IpNet::new(net.addr(), net.prefix()), Some(*net));
                prop_assert!(
                    !net.addr().is_unspecified() || net.prefix() < 32,
                    "{line:?}"
                );
            }
            Host::Name(name) => {
                prop_assert!(!name.is_empty() && !name.contains('*'), "{line:?}");
                prop_assert!(name.parse::<std::net::IpAddr>().is_err(), "{line:?}");
            }
        }
        if network.mode == NetMode::Loopback {
            prop_assert!(
                !line.host.is_loopback_only(),
                "contradiction kept: {line:?}"
            );
        }
    }
    for line in &network.bind {
        prop_assert!(line.ports.low() <= line.ports.high(), "{line:?}");
    }
    for line in &network.unix {
        prop_assert!(line.path.is_absolute(), "{line:?}");
    }
    prop_assert!(config.pass_fds.iter().all(|&fd| fd > 2));
    Ok(())
}

/// Runs `body` on a thread and fails if it does not end within
/// [`WHOLE_RUN`]: a hanging parser must fail the test, not stall CI.
fn bounded(body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(WHOLE_RUN) {
        Ok(()) => {}
        // The body panicked (a failed case): show its message.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the config fuzzer ran longer than {WHOLE_RUN:?}: a parse hangs")
        }
    }
}

fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(RunnerConfig {
        cases: CASES,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
}

#[test]
fn random_bytes_never_panic_or_hang_the_parser() {
    bounded(|| {
        run(proptest::collection::vec(any::<u8>(), 0..2048), |bytes| {
            check(&bytes)
        })
    });
}

#[test]
fn soups_of_keywords_and_awkward_words_never_panic_or_hang_the_parser() {
    let word = prop_oneof![
        3 => proptest::sample::select(keyword_names()).prop_map(str::to_string),
        3 => proptest::sample::select(AWKWARD).prop_map(str::to_string),
        1 => "[ -~]{1,12}",
        1 => any::<String>(),
    ];
    let line = proptest::collection::vec(word, 0..6).prop_map(|words| words.join(" "));
    let text = proptest::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"));
    bounded(move || run(text, |text| check(text.as_bytes())));
}

/// Lines of one keyword and the right number of awkward arguments, a few
/// per config: many of these are accepted, so what they set is checked.
#[test]
fn keywords_with_awkward_arguments_never_panic_or_hang_the_parser() {
    let line = (
        proptest::sample::select(keyword_names()),
        proptest::collection::vec(proptest::sample::select(AWKWARD), 0..4),
    )
        .prop_map(|(keyword, args)| {
            let mut line = keyword.to_string();
            for arg in args {
                line.push(' ');
                line.push_str(arg);
            }
            line
        });
    let text = proptest::collection::vec(line, 1..4).prop_map(|lines| lines.join("\n"));
    bounded(move || run(text, |text| check(text.as_bytes())));
}

#[test]
fn edited_valid_configs_never_panic_or_hang_the_parser() {
    let configs = valid_configs();
    for config in &configs {
        if let Err(error) = Config::parse(Path::new("valid.conf"), config, "alice") {
            panic!("the base config must be valid: {error}\n{config}");
        }
    }
    let input = (
        proptest::sample::select(configs),
        proptest::collection::vec(edit(), 1..12),
    );
    bounded(move || {
        run(input, |(config, edits)| {
            let bytes = edits.iter().fold(config.into_bytes(), apply);
            check(&bytes)
        })
    });
}

/// The size cap is what bounds the parser's work: a config of a whole
/// MiB, of the kinds that were slow, still parses in well under a second.
#[test]
fn the_largest_configs_parse_quickly() {
    let cap = MAX_CONFIG_BYTES as usize;
    let many_words = format!("arg {}", "a ".repeat(cap / 2 - 4));
    let one_token = "x".repeat(cap - 1);
    let many_lines = "setenv A 1\n".repeat(cap / 11);
    let many_blocks = "ident a\nend\n".repeat(cap / 12);
    for text in [many_words, one_token, many_lines, many_blocks] {
        assert!(text.len() <= cap);
        let started = Instant::now();
        let result = Config::from_bytes(Path::new("big.conf"), text.into_bytes(), "a");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
        if let Err(error) = result {
            assert!(error.to_string().len() < 2000);
        }
    }
}
