//! The keyword table, and building a [`Config`] from directives with it.
//!
//! Owns what each keyword means: how many arguments it takes, how they are
//! checked, and which [`Config`] field it sets. [`KEYWORDS`] is the single
//! definition that the parser, `docs/config.md` and the tests all follow.
//! Knows nothing of line syntax (that is `syntax`) or of what a setting does
//! at run time (that is `policy` and later layers).

use std::path::{Path, PathBuf};
use std::time::Duration;

use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use super::error::{ConfigError, ConfigWarning, quoted, shortened};
use super::network::{self, BindLine, ConnectLine, NetMode, PortsFor, UnixLine, ValueError};
use super::syntax::{Directive, Word};
use super::{Config, CpuChoice, EnvOp, LandlockMode, MAX_SECONDS, Rlimit};

/// One config keyword: its syntax, meaning and documentation.
#[derive(Debug)]
pub struct Keyword {
    /// The keyword as written in a file.
    pub name: &'static str,
    /// The line's shape, e.g. `rlimit <name> <value> [<hard>]`.
    pub usage: &'static str,
    /// One line saying what it does.
    pub doc: &'static str,
    /// What happens when the keyword is absent.
    pub default: &'static str,
    /// A working example (the `ident` and `end` ones span a whole block).
    pub example: &'static str,
    /// How the arguments are split and which handler takes them.
    pub(crate) form: Form,
}

/// How a keyword's arguments are taken from its line, with the handler that
/// gets them. Arity checks happen before the handler runs, so handlers never
/// see a missing or extra argument.
#[derive(Debug)]
pub(crate) enum Form {
    /// No arguments.
    Flag(fn(&mut Builder<'_>) -> Result<(), ConfigError>),
    /// Exactly one word.
    Word(fn(&mut Builder<'_>, Word<'_>) -> Result<(), ConfigError>),
    /// The rest of the line as one value, which may contain blanks.
    Text(fn(&mut Builder<'_>, Word<'_>) -> Result<(), ConfigError>),
    /// The rest of the line as one absolute path, which may contain blanks.
    AbsolutePath(fn(&mut Builder<'_>, Word<'_>) -> Result<(), ConfigError>),
    /// One word (a name), then the rest of the line as its value.
    NameAndText(fn(&mut Builder<'_>, Word<'_>, Word<'_>) -> Result<(), ConfigError>),
    /// Exactly two words.
    TwoWords(fn(&mut Builder<'_>, Word<'_>, Word<'_>) -> Result<(), ConfigError>),
    /// Two words and an optional third.
    TwoOrThreeWords(
        fn(&mut Builder<'_>, Word<'_>, Word<'_>, Option<Word<'_>>) -> Result<(), ConfigError>,
    ),
    /// At least one word; the handler takes the whole line, because the
    /// first word decides the shape of the rest (`connect tcp <address>`
    /// is two words, `connect unix:<path>` a rest-of-line path). It
    /// reports extra words with [`too_many_arguments`].
    Line(fn(&mut Builder<'_>, &Directive<'_>) -> Result<(), ConfigError>),
}

/// Every keyword, in the order of the original tool's README (then ours).
pub static KEYWORDS: &[Keyword] = &[
    Keyword {
        name: "program",
        usage: "program <path>",
        doc: "The executable to run when the command line names none; the path may be relative and is resolved when the jail starts.",
        default: "none: the command line must name the program",
        example: "program /usr/bin/python3",
        form: Form::Text(apply_program),
    },
    Keyword {
        name: "arg",
        usage: "arg <word>",
        doc: "Appends the rest of the line, as one argument, to the default command line; the first `arg` sets argv[0].",
        default: "no default arguments",
        example: "arg python3",
        form: Form::Text(apply_arg),
    },
    Keyword {
        name: "closefds",
        usage: "closefds",
        doc: "Closes every file descriptor other than 0, 1 and 2 before the program starts, `passfd` ones included.",
        default: "inherited descriptors other than 0, 1, 2 and those named by `passfd` are closed anyway",
        example: "closefds",
        form: Form::Flag(apply_closefds),
    },
    Keyword {
        name: "passfd",
        usage: "passfd <number>",
        doc: "Lets this inherited file descriptor (above 2) reach the program; all others are closed.",
        default: "no descriptor but 0, 1 and 2 reaches the program",
        example: "passfd 3",
        form: Form::Word(apply_passfd),
    },
    Keyword {
        name: "setenv",
        usage: "setenv <var> <value>",
        doc: "Sets an environment variable; the value is the rest of the line and may contain spaces, but not be empty.",
        default: "the environment is inherited unchanged",
        example: "setenv PATH /usr/bin:/bin",
        form: Form::NameAndText(apply_setenv),
    },
    Keyword {
        name: "clearenv",
        usage: "clearenv",
        doc: "Starts from an empty environment, wherever the line stands; `setenv` and `unsetenv` lines then apply in file order.",
        default: "off: the environment is inherited",
        example: "clearenv",
        form: Form::Flag(apply_clearenv),
    },
    Keyword {
        name: "unsetenv",
        usage: "unsetenv <var>",
        doc: "Removes one environment variable.",
        default: "nothing is removed",
        example: "unsetenv LD_PRELOAD",
        form: Form::Word(apply_unsetenv),
    },
    Keyword {
        name: "see",
        usage: "see <path>",
        doc: "Lets the program see the subtree at an absolute path: open for reading, stat, readlink, readdir, execve and so on.",
        default: "none: no subtree is visible",
        example: "see /usr",
        form: Form::AbsolutePath(apply_see),
    },
    Keyword {
        name: "write",
        usage: "write <path>",
        doc: "Lets the program write in the subtree at an absolute path: open for writing, mkdir, rename and so on.",
        default: "none: nothing is writable",
        example: "see /tmp\nwrite /tmp",
        form: Form::AbsolutePath(apply_write),
    },
    Keyword {
        name: "maxthreads",
        usage: "maxthreads <number>",
        doc: "Caps the number of live threads and processes in the jail; a whole number of at least 1.",
        default: "no limit",
        example: "maxthreads 8",
        form: Form::Word(apply_maxthreads),
    },
    Keyword {
        name: "chdir",
        usage: "chdir <path>",
        doc: "Changes the program's working directory to an absolute path.",
        default: "the working directory is inherited",
        example: "chdir /tmp",
        form: Form::AbsolutePath(apply_chdir),
    },
    Keyword {
        name: "rlimit",
        usage: "rlimit <name> <value> [<hard>]",
        doc: "Sets a resource limit (see getrlimit(2)): the name is AS, CORE, CPU, DATA, FSIZE, LOCKS, MEMLOCK, MSGQUEUE, NICE, NOFILE, NPROC, RSS, RTPRIO, RTTIME, SIGPENDING or STACK, in any case, with or without `RLIMIT_`; values are whole numbers or `unlimited`; the hard limit defaults to the soft one.",
        default: "limits are inherited",
        example: "rlimit NOFILE 64",
        form: Form::TwoOrThreeWords(apply_rlimit),
    },
    Keyword {
        name: "timelimit",
        usage: "timelimit <seconds>",
        doc: "Kills the jail after this much wall-clock time, in seconds; fractions such as 0.5 are allowed.",
        default: "no limit",
        example: "timelimit 10",
        form: Form::Word(apply_timelimit),
    },
    Keyword {
        name: "ident",
        usage: "ident <name>",
        doc: "Starts a block of lines that apply only when the jail runs for this ident; the block ends at `end` and blocks do not nest.",
        default: "lines outside blocks apply to every ident",
        example: "ident alice\nsee /home/alice\nwrite /home/alice\nend",
        form: Form::Word(apply_ident),
    },
    Keyword {
        name: "end",
        usage: "end",
        doc: "Ends the current `ident` block.",
        default: "none; every `ident` line needs its `end`",
        example: "ident alice\nsee /home/alice\nwrite /home/alice\nend",
        form: Form::Flag(apply_end),
    },
    Keyword {
        name: "wakeup",
        usage: "wakeup",
        doc: "Lets the program issue the wakeup syscall to suspend itself between commands; a later run with the same ident then talks to it.",
        default: "off: the wakeup syscall fails like an unknown one",
        example: "wakeup",
        form: Form::Flag(apply_wakeup),
    },
    Keyword {
        name: "template",
        usage: "template",
        doc: "With `wakeup`: the program is started once and prepared up to its first wakeup syscall; every run (any ident) then gets a fresh copy of that prepared process, forked at the wakeup, with the caller's stdin, stdout and stderr. Nothing one run does to its memory reaches the next. `sandbox --kill-template <config>` ends the prepared process.",
        default: "off: with `wakeup`, each ident has a session that keeps its state",
        example: "wakeup\ntemplate",
        form: Form::Flag(apply_template),
    },
    Keyword {
        name: "rehearsal",
        usage: "rehearsal <input> | rehearsal off",
        doc: "With `template`: once prepared, the program is run once with this input (`\\n` stands for a newline, `\\\\` for a backslash), its output dropped, to learn which pages of the prepared process a run touches; each spare copy then has them made its own while it waits, so that runs do not fault on them. `rehearsal off`: no rehearsal (for a driver whose every run has effects outside its memory); spare copies are not warmed.",
        default: "a rehearsal with empty input",
        example: "wakeup\ntemplate\nrehearsal print(6 * 7)",
        form: Form::Text(apply_rehearsal),
    },
    Keyword {
        name: "sockdir",
        usage: "sockdir <path>",
        doc: "The directory, an absolute path, for the unix sockets used to talk to suspended programs; it must be a directory of yours that neither group nor others can write (0755 or 0700; it is created 0700 when missing).",
        default: "/tmp/sandbox-<uid>",
        example: "sockdir /run/sandbox",
        form: Form::AbsolutePath(apply_sockdir),
    },
    Keyword {
        name: "http",
        usage: "http <url>",
        doc: "Pretends that files whose name begins with this http:// or https:// URL exist; opening one downloads it.",
        default: "no URL is treated as a file",
        example: "http https://example.org/files/",
        form: Form::Word(apply_http),
    },
    Keyword {
        name: "downloadpat",
        usage: "downloadpat <pattern>",
        doc: "The mkstemp(3) pattern for downloaded files: an absolute path ending in XXXXXX.",
        default: "/tmp/sandbox-download-XXXXXX",
        example: "downloadpat /tmp/sandbox-download-XXXXXX",
        form: Form::AbsolutePath(apply_downloadpat),
    },
    Keyword {
        name: "httptimeout",
        usage: "httptimeout <seconds>",
        doc: "The longest a whole download may take, in seconds (fractions allowed); slower ones fail with ETIMEDOUT.",
        default: "20",
        example: "httptimeout 5",
        form: Form::Word(apply_httptimeout),
    },
    Keyword {
        name: "httpconnecttimeout",
        usage: "httpconnecttimeout <seconds>",
        doc: "The longest connecting to a server may take, in seconds (fractions allowed).",
        default: "5",
        example: "httpconnecttimeout 2",
        form: Form::Word(apply_httpconnecttimeout),
    },
    Keyword {
        name: "httpmaxsize",
        usage: "httpmaxsize <bytes>",
        doc: "The largest body a download may have; a larger one fails with EFBIG.",
        default: "16777216 (16 MiB)",
        example: "httpmaxsize 1048576",
        form: Form::Word(apply_httpmaxsize),
    },
    Keyword {
        name: "landlock",
        usage: "landlock <auto|require|off>",
        doc: "Whether the program is also confined by Landlock, the kernel's own sandbox: `auto` where the kernel has it, `require` or refuse to run, `off` never.",
        default: "auto",
        example: "landlock require",
        form: Form::Word(apply_landlock),
    },
    Keyword {
        name: "cpu",
        usage: "cpu <auto|any|number>",
        doc: "Keeps the program and its tracer on one CPU: `auto` the one the jail starts on, a number that CPU, `any` wherever the scheduler likes.",
        default: "any",
        example: "cpu auto",
        form: Form::Word(apply_cpu),
    },
    Keyword {
        name: "report",
        usage: "report",
        doc: "Prints each refusal on stderr as one line in brackets: `[See <path>=<canonical>]`, `[Write <path>=<canonical>]`, `[Syscall <name>]` or `[Http <url>: <reason>]`.",
        default: "off: refusals are silent",
        example: "report",
        form: Form::Flag(apply_report),
    },
    Keyword {
        name: "reportfile",
        usage: "reportfile <path>",
        doc: "Writes the run's report to this file as JSON lines (docs/report.md): a `deny` record as each refusal happens, an `exit` record at the end; the file is created new (mode 0600, never through a symlink) and may not lie inside a `write` tree.",
        default: "no report file",
        example: "reportfile /var/log/bot/run-42.jsonl",
        form: Form::AbsolutePath(apply_reportfile),
    },
    Keyword {
        name: "reportfd",
        usage: "reportfd <number>",
        doc: "Writes the run's report, as `reportfile` does, to this inherited file descriptor (above 2, open for writing); it does not reach the program.",
        default: "no report descriptor",
        example: "reportfd 5",
        form: Form::Word(apply_reportfd),
    },
    Keyword {
        name: "connect",
        usage: CONNECT_USAGE,
        doc: "Lets the program connect and send to these destinations: `tcp` or `udp` with a host name, an IPv4 address or CIDR block, or an IPv6 one in brackets, then `:` and a port, a range lo-hi or `*`; or `unix:` and the absolute path of one socket file.",
        default: "no destination: connects and sends to any address fail with ENETUNREACH, and a unix socket is reached only inside a `write` tree",
        example: "connect tcp example.org:443\nconnect udp 10.0.0.0/8:53\nconnect tcp [2001:db8::1]:8000-8080\nconnect unix:/run/bot/api.sock",
        form: Form::Line(apply_connect),
    },
    Keyword {
        name: "bind",
        usage: "bind <tcp|udp> <port|lo-hi>",
        doc: "Lets the program bind TCP or UDP sockets to this port or range of ports, on any local address, and listen there; port 0 means one the kernel chooses.",
        default: "no port: binds fail with EACCES",
        example: "bind tcp 8000-8080\nbind udp 0",
        form: Form::TwoWords(apply_bind),
    },
    Keyword {
        name: "net",
        usage: "net <none|loopback>",
        doc: "The network the jail gives the program of its own: `none`, or `loopback`, a loopback its processes share among themselves, apart from the host's.",
        default: "none",
        example: "net loopback",
        form: Form::Word(apply_net),
    },
    Keyword {
        name: "syscall",
        usage: "syscall <allow|deny> <name,...> [<ERRNO>|kill]",
        doc: "Narrows the syscalls the program may make: `deny` refuses the named ones, `allow` every one it does not name; refused calls fail with the errno given (EPERM by default) or, with `kill`, kill the process.",
        default: "no narrowing: the jail's own table decides",
        example: "syscall deny ptrace,personality\nsyscall deny socket EACCES",
        form: Form::TwoOrThreeWords(super::limits::apply_syscall),
    },
    Keyword {
        name: "cputime",
        usage: "cputime <seconds>",
        doc: "Kills the jail once its processes and threads together, those that ended included, have used this much CPU time, in seconds; fractions such as 0.5 are allowed.",
        default: "no limit",
        example: "cputime 5",
        form: Form::Word(super::limits::apply_cputime),
    },
    Keyword {
        name: "outputlimit",
        usage: "outputlimit <bytes>",
        doc: "Passes the program's stdout and stderr through the jail and kills the jail once they have carried more than this many bytes together; exactly the first that many come out.",
        default: "no limit: the program writes to the jail's own stdout and stderr",
        example: "outputlimit 1000000",
        form: Form::Word(super::limits::apply_outputlimit),
    },
    Keyword {
        name: "maxmemory",
        usage: "maxmemory <bytes>",
        doc: "Kills the jail once its processes together hold more than this many bytes of memory: what they allocated and touched, and the shared memory they map (polled every 10 ms); at least 1048576.",
        default: "no limit (see `rlimit AS` for a limit per process)",
        example: "maxmemory 536870912",
        form: Form::Word(super::limits::apply_maxmemory),
    },
    Keyword {
        name: "user",
        usage: "user <name|#uid>",
        doc: "Runs the program as this user, a name from the system's user database or a number after `#`; only a jail started as root can.",
        default: "the user the jail runs as",
        example: "user nobody",
        form: Form::Word(super::limits::apply_user),
    },
    Keyword {
        name: "group",
        usage: "group <name|#gid>",
        doc: "Runs the program with this group, a name from the system's group database or a number after `#`; only a jail started as root can.",
        default: "the `user` line's primary group, or the jail's own group without one",
        example: "group nogroup",
        form: Form::Word(super::limits::apply_group),
    },
    Keyword {
        name: "groups",
        usage: "groups <name,...>",
        doc: "The program's supplementary groups, names or `#` numbers separated by commas; only a jail started as root can set them.",
        default: "none when `user` or `group` names another user or group than the jail's; otherwise the jail's own",
        example: "groups users,#1001",
        form: Form::Word(super::limits::apply_groups),
    },
    Keyword {
        name: "caps",
        usage: "caps <name,...|none>",
        doc: "The capabilities a program started as root keeps (its bounding, permitted, effective and ambient sets are limited to the list), such as CAP_CHOWN,CAP_KILL; `none` keeps none.",
        default: "none: a program started as root keeps no capability",
        example: "caps CAP_CHOWN,CAP_DAC_OVERRIDE",
        form: Form::Word(super::limits::apply_caps),
    },
    Keyword {
        name: "cow",
        usage: "cow <path>",
        doc: "Lets the program change anything in the subtree at an absolute path, as if it were a `write` tree it can see, while the real tree stays untouched: its changes go to a private layer, and `onexit` says what becomes of them (docs/cow.md).",
        default: "none: no tree is copy-on-write",
        example: "cow /srv/project",
        form: Form::AbsolutePath(super::cow::apply_cow),
    },
    Keyword {
        name: "cowdir",
        usage: "cowdir <path>",
        doc: "The directory, an absolute path outside every `see`, `write` and `cow` tree, that holds the layers of `cow` trees, one per config and ident; it must be a directory of yours that neither group nor others can write (it is created 0700 when missing).",
        default: "/tmp/sandbox-cow-<uid>",
        example: "cowdir /var/lib/bot/layers",
        form: Form::AbsolutePath(super::cow::apply_cowdir),
    },
    Keyword {
        name: "onexit",
        usage: "onexit <commit|discard|keep|ask>",
        doc: "What becomes of a `cow` layer when the run ends: `commit` applies it to the real trees (a file changed there meanwhile is a conflict and nothing is applied), `discard` drops it, `keep` leaves it for `sandbox <config> commit|discard <ident>` and the next run, `ask` asks on the terminal (and keeps it without one).",
        default: "keep",
        example: "onexit commit",
        form: Form::Word(super::cow::apply_onexit),
    },
    Keyword {
        name: "cowquota",
        usage: "cowquota <bytes>",
        doc: "The most bytes the files the program changed or made in its `cow` trees may hold together in the layer; a write, copy-up or truncation past it fails with `ENOSPC` and writes nothing (docs/cow.md). With it, every write the program makes stops for the jail.",
        default: "none: the layer may grow as far as its filesystem lets it",
        example: "cow /srv/site\ncowquota 104857600",
        form: Form::Word(super::cow::apply_cowquota),
    },
];

/// `connect`'s two shapes, as messages and the docs show them.
const CONNECT_USAGE: &str = "connect <tcp|udp> <host>:<ports> | connect unix:<path>";

/// The `rlimit` names a config may give (without `RLIMIT_`): every resource
/// the `rlimit` crate supports on Linux (a unit test holds the two equal).
const RLIMIT_NAMES: &str = "AS, CORE, CPU, DATA, FSIZE, LOCKS, MEMLOCK, MSGQUEUE, NICE, NOFILE, NPROC, RSS, RTPRIO, RTTIME, SIGPENDING, STACK";

/// The resource an `rlimit` line names: any case, with or without
/// `RLIMIT_` (`Resource::from_str` takes only `RLIMIT_` and capitals, and
/// knows names of other systems, which Linux does not support).
pub(crate) fn rlimit_resource(name: &str) -> Option<rlimit::Resource> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("RLIMIT_").unwrap_or(&upper);
    format!("RLIMIT_{bare}")
        .parse::<rlimit::Resource>()
        .ok()
        .filter(|resource| resource.is_supported())
}

/// The kernel's RLIM64_INFINITY: all bits set.
pub(crate) const RLIMIT_UNLIMITED: u64 = u64::MAX;

/// The largest `rlimit CPU` that works: the kernel counts CPU time in
/// nanoseconds in a u64, so a larger limit in seconds wraps there and
/// could fire at once (`rlimit CPU 9223372036854775808` kills at start).
pub const MAX_CPU_SECONDS: u64 = u64::MAX / 1_000_000_000;

/// Builds the [`Config`] for `ident` from a file's directives.
///
/// Global lines and the blocks named `ident` are applied in file order;
/// other blocks are checked just as strictly but then dropped, so that a
/// mistake in one ident's block is found whichever ident runs.
pub(crate) fn build(
    file: &Path,
    directives: &[Directive<'_>],
    ident: &[u8],
) -> Result<Config, ConfigError> {
    let mut builder = Builder {
        file,
        ident,
        line: 0,
        keyword_col: 0,
        applied: Config {
            file: file.to_path_buf(),
            ..Config::default()
        },
        skipped: Config::default(),
        open_block: None,
        warnings: Vec::new(),
    };
    for directive in directives {
        builder.line = directive.line;
        builder.keyword_col = directive.keyword.col;
        apply(&mut builder, directive)?;
    }
    if let Some(block) = builder.open_block {
        return Err(ConfigError::at(
            file,
            block.line,
            block.col,
            format!(
                "{} block is never closed",
                quoted(&format!("ident {}", block.name))
            ),
        )
        .expected("`end` before the end of the file"));
    }
    if let Some(line) = network::contradiction(&builder.applied.network) {
        let net_line = builder.applied.network.mode_line.unwrap_or(0);
        return Err(ConfigError::at(
            file,
            line.line,
            line.col,
            format!(
                "{} names the host's loopback, which `net loopback` (line {net_line}) keeps \
                 for the jail's own processes",
                quoted(&format!("connect {} {}", line.protocol, line.address))
            ),
        )
        .expected(
            "no `connect` line for a loopback address under `net loopback` (the jail's \
             processes reach each other without one)",
        ));
    }
    if let Some(error) = report_contradiction(file, &builder.applied) {
        return Err(error);
    }
    super::limits::finish(file, &builder.applied)?;
    super::cow::finish(file, &builder.applied, nix::unistd::getuid().as_raw())?;
    builder.applied.warnings = builder.warnings;
    Ok(builder.applied)
}

/// The state of a build, handed to each keyword's handler.
#[derive(Debug)]
pub(crate) struct Builder<'a> {
    file: &'a Path,
    ident: &'a [u8],
    /// Where the keyword being applied stands, for messages.
    line: usize,
    keyword_col: usize,
    /// What applies to `ident`: the result.
    applied: Config,
    /// Where lines of other idents' blocks go, to be thrown away.
    skipped: Config,
    open_block: Option<OpenBlock>,
    /// Warnings about lines of any block.
    warnings: Vec<ConfigWarning>,
}

#[derive(Debug)]
struct OpenBlock {
    name: String,
    line: usize,
    col: usize,
}

impl Builder<'_> {
    /// The config the current line writes to.
    pub(super) fn settings(&mut self) -> &mut Config {
        match &self.open_block {
            Some(block) if block.name.as_bytes() != self.ident => &mut self.skipped,
            _ => &mut self.applied,
        }
    }

    pub(super) fn error(&self, col: usize, problem: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.line, col, problem)
    }

    /// The line being applied.
    pub(super) fn line(&self) -> usize {
        self.line
    }

    /// Where the keyword being applied stands: line and column.
    pub(super) fn at(&self) -> (usize, usize) {
        (self.line, self.keyword_col)
    }
}

fn find(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|keyword| keyword.name == name)
}

/// The keyword closest to `name` within an edit distance of 2 (the first
/// in table order on a tie), for an unknown keyword's message.
fn suggestion(name: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .filter_map(|keyword| {
            edit_distance(name, keyword.name, 2).map(|distance| (distance, keyword.name))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// The Levenshtein distance between `a` and `b` in characters, if it is
/// at most `limit` (cheap for long words: their lengths differ too much).
pub(super) fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().take(b.len() + limit + 1).collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous
        .last()
        .copied()
        .filter(|&distance| distance <= limit)
}

/// A `#` word inside a rest-of-line value (`see /usr # programs`) is part
/// of the value: the format has no trailing comments. Accepted, as the
/// original tool does, but said.
fn warn_about_hash(builder: &mut Builder<'_>, name: &str, value: Word<'_>, words: &[Word<'_>]) {
    if words.iter().any(|word| word.text.starts_with('#')) {
        builder.warnings.push(ConfigWarning::new(
            builder.file,
            builder.line,
            format!(
                "the value of `{name}` is {}: a `#` inside a line starts no comment",
                quoted(value.text)
            ),
        ));
    }
}

/// Checks the directive's arguments against its keyword's form and hands
/// them to the keyword's handler.
fn apply(builder: &mut Builder<'_>, directive: &Directive<'_>) -> Result<(), ConfigError> {
    let name = directive.keyword.text;
    let Some(keyword) = find(name) else {
        let unknown = format!("unknown keyword {}", quoted(name));
        if let Some(close) = suggestion(name) {
            return Err(builder.error(
                directive.keyword.col,
                format!("{unknown}; did you mean `{close}`?"),
            ));
        }
        let names: Vec<&str> = KEYWORDS.iter().map(|keyword| keyword.name).collect();
        return Err(builder
            .error(directive.keyword.col, unknown)
            .expected(format!("one of {}", names.join(", "))));
    };
    let missing = || missing_argument(builder, directive, keyword.usage);
    let too_many = |first_extra| too_many_arguments(builder, directive, keyword.usage, first_extra);
    let args = &directive.args;
    match keyword.form {
        Form::Flag(handler) => {
            if !args.is_empty() {
                return Err(too_many(0));
            }
            handler(builder)
        }
        Form::Word(handler) => match args.as_slice() {
            [] => Err(missing()),
            [word] => handler(builder, *word),
            [_, ..] => Err(too_many(1)),
        },
        Form::Text(handler) => {
            let text = directive.rest_from(0).ok_or_else(missing)?;
            warn_about_hash(builder, name, text, &args[1..]);
            handler(builder, text)
        }
        Form::AbsolutePath(handler) => {
            let path = directive.rest_from(0).ok_or_else(missing)?;
            if !path.text.starts_with('/') {
                return Err(builder
                    .error(path.col, format!("`{name}` needs an absolute path"))
                    .found(quoted(path.text)));
            }
            warn_about_hash(builder, name, path, &args[1..]);
            handler(builder, path)
        }
        Form::NameAndText(handler) => {
            let (Some(var), Some(value)) = (args.first(), directive.rest_from(1)) else {
                return Err(missing());
            };
            warn_about_hash(builder, name, value, &args[2..]);
            handler(builder, *var, value)
        }
        Form::TwoWords(handler) => match args.as_slice() {
            [] | [_] => Err(missing()),
            [first, second] => handler(builder, *first, *second),
            [_, _, ..] => Err(too_many(2)),
        },
        Form::Line(handler) => {
            if args.is_empty() {
                return Err(missing());
            }
            handler(builder, directive)
        }
        Form::TwoOrThreeWords(handler) => match args.as_slice() {
            [] | [_] => Err(missing()),
            [first, second] => handler(builder, *first, *second, None),
            [first, second, third] => handler(builder, *first, *second, Some(*third)),
            [_, _, _, ..] => Err(too_many(3)),
        },
    }
}

/// The error for a line that ends before its keyword's last argument.
fn missing_argument(builder: &Builder<'_>, directive: &Directive<'_>, usage: &str) -> ConfigError {
    builder
        .error(
            directive.end_col(),
            format!("missing argument for `{}`", directive.keyword.text),
        )
        .expected(format!("`{usage}`"))
        .found("end of line")
}

/// The error for a line with words past its keyword's last argument,
/// the first extra one being argument number `first_extra` (from 0).
fn too_many_arguments(
    builder: &Builder<'_>,
    directive: &Directive<'_>,
    usage: &str,
    first_extra: usize,
) -> ConfigError {
    let extra = directive.rest_from(first_extra);
    builder
        .error(
            extra.map_or(directive.end_col(), |extra| extra.col),
            format!("too many arguments for `{}`", directive.keyword.text),
        )
        .expected(format!("`{usage}`"))
        .found(quoted(extra.map_or("", |extra| extra.text)))
}

fn apply_program(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    // A later line wins, so an ident block can override a global default.
    builder.settings().program = Some(path.text.to_owned());
    Ok(())
}

fn apply_arg(builder: &mut Builder<'_>, word: Word<'_>) -> Result<(), ConfigError> {
    builder.settings().args.push(word.text.to_owned());
    Ok(())
}

fn apply_passfd(builder: &mut Builder<'_>, number: Word<'_>) -> Result<(), ConfigError> {
    let fd = whole_number(number.text)
        .and_then(|fd| i32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .ok_or_else(|| {
            builder
                .error(number.col, "bad descriptor for `passfd`")
                .expected("a descriptor number above 2 (0, 1 and 2 always pass)")
                .found(quoted(number.text))
        })?;
    builder.settings().pass_fds.push(fd);
    Ok(())
}

fn apply_closefds(builder: &mut Builder<'_>) -> Result<(), ConfigError> {
    builder.settings().close_fds = true;
    Ok(())
}

fn apply_setenv(
    builder: &mut Builder<'_>,
    var: Word<'_>,
    value: Word<'_>,
) -> Result<(), ConfigError> {
    let var = env_name(builder, "setenv", var)?;
    builder
        .settings()
        .env
        .push(EnvOp::Set(var, value.text.to_owned()));
    Ok(())
}

fn apply_clearenv(builder: &mut Builder<'_>) -> Result<(), ConfigError> {
    builder.settings().clear_env = true;
    Ok(())
}

fn apply_unsetenv(builder: &mut Builder<'_>, var: Word<'_>) -> Result<(), ConfigError> {
    let var = env_name(builder, "unsetenv", var)?;
    builder.settings().env.push(EnvOp::Unset(var));
    Ok(())
}

/// An environment variable name: `=` would end the name inside `environ`.
/// (Words are never empty and the grammar already refuses NUL.)
fn env_name(builder: &Builder<'_>, keyword: &str, var: Word<'_>) -> Result<String, ConfigError> {
    if var.text.contains('=') {
        return Err(builder
            .error(var.col, format!("bad variable name for `{keyword}`"))
            .expected("a name without `=`")
            .found(quoted(var.text)));
    }
    Ok(var.text.to_owned())
}

fn apply_see(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let settings = builder.settings();
    settings.see.push(PathBuf::from(path.text));
    settings.lines.see.push(line);
    Ok(())
}

fn apply_write(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let settings = builder.settings();
    settings.write.push(PathBuf::from(path.text));
    settings.lines.write.push(line);
    Ok(())
}

fn apply_maxthreads(builder: &mut Builder<'_>, number: Word<'_>) -> Result<(), ConfigError> {
    // Zero would forbid even the program itself, so it is surely a mistake.
    let max = whole_number(number.text)
        .and_then(|max| u32::try_from(max).ok())
        .filter(|&max| max >= 1)
        .ok_or_else(|| {
            builder
                .error(number.col, "bad number for `maxthreads`")
                .expected(format!("a whole number from 1 to {}", u32::MAX))
                .found(quoted(number.text))
        })?;
    builder.settings().max_threads = Some(max);
    Ok(())
}

fn apply_chdir(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let settings = builder.settings();
    settings.chdir = Some(PathBuf::from(path.text));
    settings.lines.chdir = Some(line);
    Ok(())
}

fn apply_rlimit(
    builder: &mut Builder<'_>,
    name: Word<'_>,
    soft: Word<'_>,
    hard: Option<Word<'_>>,
) -> Result<(), ConfigError> {
    let Some(resource) = rlimit_resource(name.text) else {
        return Err(builder
            .error(
                name.col,
                format!("unknown rlimit name {}", quoted(name.text)),
            )
            .expected(format!("one of {RLIMIT_NAMES}")));
    };
    let canonical = super::rlimit_name(resource);
    let limit_value = |word: Word<'_>| {
        rlimit_value(word.text).ok_or_else(|| {
            builder
                .error(word.col, format!("bad value for `rlimit {canonical}`"))
                .expected("a whole number or `unlimited`")
                .found(quoted(word.text))
        })
    };
    let clamp = |value: u64| {
        if resource == rlimit::Resource::CPU && value != RLIMIT_UNLIMITED {
            value.min(MAX_CPU_SECONDS)
        } else {
            value
        }
    };
    let soft_value = clamp(limit_value(soft)?);
    let hard_value = match hard {
        Some(hard) => clamp(limit_value(hard)?),
        None => soft_value,
    };
    if let Some(hard) = hard.filter(|_| hard_value < soft_value) {
        // setrlimit(2) would fail with EINVAL much later; say it now.
        return Err(builder
            .error(
                hard.col,
                format!("hard limit below the soft limit for `rlimit {canonical}`"),
            )
            .expected(format!("at least {}", shortened(soft.text)))
            .found(quoted(hard.text)));
    }
    let line = Some(builder.line);
    builder.settings().rlimits.push(Rlimit {
        resource,
        soft: soft_value,
        hard: hard_value,
        line,
    });
    Ok(())
}

fn rlimit_value(text: &str) -> Option<u64> {
    if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("infinity") {
        return Some(RLIMIT_UNLIMITED);
    }
    whole_number(text)
}

fn apply_timelimit(builder: &mut Builder<'_>, seconds: Word<'_>) -> Result<(), ConfigError> {
    let limit = positive_seconds(seconds.text).ok_or_else(|| {
        builder
            .error(seconds.col, "bad time limit for `timelimit`")
            .expected("a positive number of seconds such as 10 or 0.5")
            .found(quoted(seconds.text))
    })?;
    builder.settings().time_limit = Some(limit);
    Ok(())
}

fn apply_ident(builder: &mut Builder<'_>, name: Word<'_>) -> Result<(), ConfigError> {
    // A block no invocation can select is a mistake, not a no-op.
    if let Err(error) = crate::ident::check(name.text.as_bytes()) {
        return Err(builder
            .error(
                name.col,
                format!("`ident {}` can never be selected: {error}", name.text),
            )
            .expected("an ident name without `/`"));
    }
    if name.text == "kill" {
        return Err(builder
            .error(
                name.col,
                "`ident kill` can never be selected: `sandbox <config> kill ...` \
                 is the kill command, never a run for an ident named `kill`",
            )
            .expected("another ident name"));
    }
    if let Some(open) = &builder.open_block {
        return Err(builder
            .error(
                builder.keyword_col,
                format!(
                    "{} inside the {} block opened at line {}",
                    quoted(&format!("ident {}", name.text)),
                    quoted(&format!("ident {}", open.name)),
                    open.line
                ),
            )
            .expected("`end` before the next `ident`"));
    }
    builder.open_block = Some(OpenBlock {
        name: name.text.to_owned(),
        line: builder.line,
        col: builder.keyword_col,
    });
    Ok(())
}

fn apply_end(builder: &mut Builder<'_>) -> Result<(), ConfigError> {
    if builder.open_block.take().is_none() {
        return Err(builder
            .error(builder.keyword_col, "`end` without an open `ident` block")
            .expected("`ident <name>` before it"));
    }
    Ok(())
}

fn apply_wakeup(builder: &mut Builder<'_>) -> Result<(), ConfigError> {
    builder.settings().wakeup = true;
    Ok(())
}

fn apply_template(builder: &mut Builder<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let settings = builder.settings();
    settings.template = true;
    settings.lines.template = Some(line);
    Ok(())
}

fn apply_rehearsal(builder: &mut Builder<'_>, input: Word<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let settings = builder.settings();
    settings.rehearsal = if input.text == "off" {
        super::Rehearsal::Off
    } else {
        super::Rehearsal::Input(unescape_lines(input.text))
    };
    settings.lines.rehearsal = Some(line);
    Ok(())
}

/// A one-line value that stands for several lines: `\n` is a newline and
/// `\\` a backslash; any other backslash is itself.
fn unescape_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn apply_sockdir(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    builder.settings().sock_dir = Some(PathBuf::from(path.text));
    Ok(())
}

fn apply_http(builder: &mut Builder<'_>, url: Word<'_>) -> Result<(), ConfigError> {
    let has_scheme = ["http://", "https://"]
        .iter()
        .any(|scheme| url.text.len() > scheme.len() && url.text.starts_with(scheme));
    if !has_scheme {
        return Err(builder
            .error(
                url.col,
                "`http` needs a url starting with http:// or https://",
            )
            .found(quoted(url.text)));
    }
    builder.settings().http.push(url.text.to_owned());
    Ok(())
}

fn apply_downloadpat(builder: &mut Builder<'_>, pattern: Word<'_>) -> Result<(), ConfigError> {
    // mkstemp(3) replaces exactly the last six characters, which must be X.
    if !pattern.text.ends_with("XXXXXX") {
        return Err(builder
            .error(
                pattern.col,
                "`downloadpat` needs a pattern ending in XXXXXX",
            )
            .found(quoted(pattern.text)));
    }
    builder.settings().download_pattern = Some(pattern.text.to_owned());
    Ok(())
}

fn apply_httptimeout(builder: &mut Builder<'_>, seconds: Word<'_>) -> Result<(), ConfigError> {
    builder.settings().http_timeout = Some(seconds_for(builder, "httptimeout", seconds)?);
    Ok(())
}

fn apply_httpconnecttimeout(
    builder: &mut Builder<'_>,
    seconds: Word<'_>,
) -> Result<(), ConfigError> {
    builder.settings().http_connect_timeout =
        Some(seconds_for(builder, "httpconnecttimeout", seconds)?);
    Ok(())
}

fn seconds_for(
    builder: &Builder<'_>,
    keyword: &str,
    seconds: Word<'_>,
) -> Result<Duration, ConfigError> {
    positive_seconds(seconds.text).ok_or_else(|| {
        builder
            .error(seconds.col, format!("bad time for `{keyword}`"))
            .expected("a positive number of seconds such as 10 or 0.5")
            .found(quoted(seconds.text))
    })
}

fn apply_httpmaxsize(builder: &mut Builder<'_>, bytes: Word<'_>) -> Result<(), ConfigError> {
    let size = whole_number(bytes.text).ok_or_else(|| {
        builder
            .error(bytes.col, "bad size for `httpmaxsize`")
            .expected("a whole number of bytes")
            .found(quoted(bytes.text))
    })?;
    builder.settings().http_max_size = Some(size);
    Ok(())
}

fn apply_landlock(builder: &mut Builder<'_>, mode: Word<'_>) -> Result<(), ConfigError> {
    let mode = match mode.text {
        "auto" => LandlockMode::Auto,
        "require" => LandlockMode::Require,
        "off" => LandlockMode::Off,
        _ => {
            return Err(builder
                .error(mode.col, "bad mode for `landlock`")
                .expected("`auto`, `require` or `off`")
                .found(quoted(mode.text)));
        }
    };
    builder.settings().landlock = mode;
    Ok(())
}

fn apply_cpu(builder: &mut Builder<'_>, choice: Word<'_>) -> Result<(), ConfigError> {
    let cpu = match choice.text {
        "auto" => CpuChoice::Auto,
        "any" => CpuChoice::Any,
        number => match whole_number(number).and_then(|cpu| usize::try_from(cpu).ok()) {
            Some(cpu) if cpu < 1024 => CpuChoice::Fixed(cpu),
            _ => {
                return Err(builder
                    .error(choice.col, "bad choice for `cpu`")
                    .expected("`auto`, `any` or a CPU number below 1024")
                    .found(quoted(choice.text)));
            }
        },
    };
    let line = builder.line;
    let settings = builder.settings();
    settings.cpu = cpu;
    settings.lines.cpu = Some(line);
    Ok(())
}

fn apply_report(builder: &mut Builder<'_>) -> Result<(), ConfigError> {
    builder.settings().report = true;
    Ok(())
}

fn apply_reportfile(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let settings = builder.settings();
    settings.report_file = Some(PathBuf::from(path.text));
    settings.lines.report_file = Some(line);
    Ok(())
}

fn apply_reportfd(builder: &mut Builder<'_>, number: Word<'_>) -> Result<(), ConfigError> {
    let fd = whole_number(number.text)
        .and_then(|fd| i32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .ok_or_else(|| {
            builder
                .error(number.col, "bad descriptor for `reportfd`")
                .expected("a descriptor number above 2 (0, 1 and 2 are the program's)")
                .found(quoted(number.text))
        })?;
    let line = builder.line;
    let settings = builder.settings();
    settings.report_fd = Some(fd);
    settings.lines.report_fd = Some(line);
    Ok(())
}

/// A report the program could reach, or that sessions cannot write yet.
fn report_contradiction(file: &Path, config: &Config) -> Option<ConfigError> {
    if let (Some(fd), Some(line)) = (config.report_fd, config.lines.report_fd)
        && config.pass_fds.contains(&fd)
        && !config.close_fds
    {
        return Some(
            ConfigError::at(
                file,
                line,
                1,
                format!("`reportfd {fd}` is also passed to the program by `passfd {fd}`"),
            )
            .expected("a report descriptor the program does not get"),
        );
    }
    if let (false, Some(line)) = (config.template, config.lines.rehearsal) {
        return Some(
            ConfigError::at(
                file,
                line,
                1,
                "`rehearsal` is for `template`: it is the run a prepared process rehearses"
                    .to_string(),
            )
            .expected("a `template` line in the same config (or no `rehearsal`)"),
        );
    }
    if let (true, false, Some(line)) = (config.template, config.wakeup, config.lines.template) {
        return Some(
            ConfigError::at(
                file,
                line,
                1,
                "`template` needs `wakeup`: the prepared program makes the wakeup syscall, \
                 where every run is forked from it"
                    .to_string(),
            )
            .expected("a `wakeup` line in the same config (or no `template`)"),
        );
    }
    if let (Some(&(line, column)), true) = (
        config.cow.lines.trees.first(),
        config.limits.user.is_some() || config.limits.group.is_some(),
    ) {
        return Some(
            ConfigError::at(
                file,
                line,
                column,
                "`cow` trees are not offered with `user` or `group` yet: the layer is the \
                 jail's own (mode 0700), and a commit would make the program's files, modes \
                 and set-id bits included, the jail's user's"
                    .to_string(),
            )
            .expected("no `cow` line with `user` or `group`"),
        );
    }
    if let (true, Some(&(line, column))) = (config.template, config.cow.lines.trees.first()) {
        return Some(
            ConfigError::at(
                file,
                line,
                column,
                "`cow` trees are not offered with `template` yet: every run would share \
                 one layer"
                    .to_string(),
            )
            .expected("no `cow` line with `template` (a `write` tree, or a session)"),
        );
    }
    if config.wakeup {
        let report = config
            .lines
            .report_file
            .map(|line| (line, "reportfile"))
            .or(config.lines.report_fd.map(|line| (line, "reportfd")));
        if let Some((line, keyword)) = report {
            return Some(
                ConfigError::at(
                    file,
                    line,
                    1,
                    format!("`{keyword}` does not work with `wakeup` yet: a session's commands are not reported"),
                )
                .expected(format!("no `{keyword}` line in a config with `wakeup`")),
            );
        }
    }
    None
}

/// `connect unix:<path>` (the rest of the line) or
/// `connect tcp|udp <host>:<ports>` (one word).
fn apply_connect(builder: &mut Builder<'_>, directive: &Directive<'_>) -> Result<(), ConfigError> {
    let line = builder.line;
    let Some(first) = directive.args.first().copied() else {
        return Err(missing_argument(builder, directive, CONNECT_USAGE));
    };
    if first.text.starts_with("unix:") {
        // Checked above: there is a first argument, so there is a rest.
        let Some(whole) = directive.rest_from(0) else {
            return Err(missing_argument(builder, directive, CONNECT_USAGE));
        };
        let path = &whole.text["unix:".len()..];
        if !path.starts_with('/') {
            return Err(builder
                .error(whole.col, "`connect unix:` needs an absolute path")
                .expected("`unix:/path/of/the.sock`")
                .found(quoted(whole.text)));
        }
        warn_about_hash(builder, "connect", whole, &directive.args[1..]);
        builder.settings().network.unix.push(UnixLine {
            path: PathBuf::from(path),
            line,
        });
        return Ok(());
    }
    let Some(protocol) = network::protocol(first.text) else {
        let hint = match first.text {
            "unix" => " (a unix socket is `unix:<path>`, with no blank)",
            text if text.starts_with("tcp:") || text.starts_with("udp:") => {
                " (the protocol is a word of its own: `connect tcp <host>:<ports>`)"
            }
            _ => "",
        };
        return Err(builder
            .error(
                first.col,
                format!("unknown protocol {}{hint}", quoted(first.text)),
            )
            .expected("`tcp`, `udp` or `unix:<path>`"));
    };
    let address = match directive.args.as_slice() {
        [] | [_] => return Err(missing_argument(builder, directive, CONNECT_USAGE)),
        [_, address] => *address,
        [_, _, ..] => return Err(too_many_arguments(builder, directive, CONNECT_USAGE, 2)),
    };
    let (host, ports) = network::connect_address(address.text)
        .map_err(|error| value_error(builder, address, "connect", error))?;
    builder.settings().network.connect.push(ConnectLine {
        protocol,
        host,
        ports,
        address: address.text.to_owned(),
        line,
        col: address.col,
    });
    Ok(())
}

fn apply_bind(
    builder: &mut Builder<'_>,
    proto: Word<'_>,
    ports: Word<'_>,
) -> Result<(), ConfigError> {
    let Some(protocol) = network::protocol(proto.text) else {
        return Err(builder
            .error(
                proto.col,
                format!("unknown protocol {}", quoted(proto.text)),
            )
            .expected("`tcp` or `udp` (a unix socket is bound in a `write` tree)"));
    };
    let ports = network::ports(ports.text, 0, PortsFor::Bind)
        .map_err(|error| value_error(builder, ports, "bind", error))?;
    let line = builder.line;
    builder.settings().network.bind.push(BindLine {
        protocol,
        ports,
        line,
    });
    Ok(())
}

fn apply_net(builder: &mut Builder<'_>, mode: Word<'_>) -> Result<(), ConfigError> {
    let mode = match mode.text {
        "none" => NetMode::None,
        "loopback" => NetMode::Loopback,
        _ => {
            return Err(builder
                .error(mode.col, "bad mode for `net`")
                .expected("`none` or `loopback`")
                .found(quoted(mode.text)));
        }
    };
    let line = builder.line;
    let settings = builder.settings();
    settings.network.mode = mode;
    settings.network.mode_line = Some(line);
    Ok(())
}

/// A [`ValueError`] in `word`, as a `ConfigError` at the wrong part.
fn value_error(
    builder: &Builder<'_>,
    word: Word<'_>,
    keyword: &str,
    error: ValueError,
) -> ConfigError {
    builder
        .error(
            word.col + error.at,
            format!("`{keyword}`: {}", error.problem),
        )
        .expected(error.expected)
        .found(quoted(&error.found))
}

/// Decimal digits only: no sign, no spaces, no `0x`, fits in a u64.
pub(super) fn whole_number(text: &str) -> Option<u64> {
    let digits: IResult<&str, &str> = all_consuming(digit1).parse(text);
    digits.ok()?.1.parse().ok()
}

/// `10`, `2.5`, `0.25`: digits with an optional fraction, above zero.
/// Digits past nanoseconds are dropped; a number beyond u64 is refused, and
/// one of [`MAX_SECONDS`] or more counts as [`MAX_SECONDS`], so that every
/// accepted time can be added to a clock.
pub(super) fn positive_seconds(text: &str) -> Option<Duration> {
    let parsed: IResult<&str, (&str, Option<&str>)> =
        all_consuming((digit1, opt(preceded(char('.'), digit1)))).parse(text);
    let (_, (whole, fraction)) = parsed.ok()?;
    let secs: u64 = whole.parse().ok()?;
    if secs >= MAX_SECONDS {
        return Some(Duration::from_secs(MAX_SECONDS));
    }
    let nanos = fraction.map_or(0, |digits| {
        digits
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(9)
            .fold(0, |nanos, digit| nanos * 10 + u32::from(digit - b'0'))
    });
    // nanos < 1e9, so `Duration::new` cannot carry into (and overflow) secs.
    let limit = Duration::new(secs, nanos);
    (!limit.is_zero()).then_some(limit)
}
