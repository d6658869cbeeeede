//! The keywords of issue 16: what the program may call (`syscall`), how
//! much it may use (`cputime`, `outputlimit`, `maxmemory`) and who it runs
//! as (`user`, `group`, `groups`, `caps`).
//!
//! Owns the plain data these lines give ([`Limits`]) and their checks: a
//! syscall name unknown on this architecture, an errno or capability name
//! with a typo (with the closest known name), a limit no run could use.
//! Names of users and groups are only checked for form here: they are
//! looked up in the system's user database when the jail starts.

use std::path::Path;
use std::time::Duration;

use super::Config;
use super::error::{ConfigError, quoted};
use super::keywords::{Builder, edit_distance, positive_seconds, whole_number};
use super::syntax::Word;
use crate::syscall::{self, Class, Narrowing, Refusal};

/// What the `syscall`, `cputime`, `outputlimit`, `maxmemory`, `user`,
/// `group`, `groups` and `caps` lines that apply say.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits {
    /// `syscall deny` lines, in file order.
    pub deny: Vec<SyscallLine>,
    /// `syscall allow` lines, in file order: together, the allow list.
    pub allow: Vec<SyscallLine>,
    /// `cputime <seconds>`: CPU time of the whole tree.
    pub cpu_time: Option<Duration>,
    /// `outputlimit <bytes>`: stdout and stderr together.
    pub output_limit: Option<u64>,
    /// `maxmemory <bytes>`: resident memory of the whole tree.
    pub max_memory: Option<u64>,
    /// `user <name|#uid>`: looked up when the jail starts.
    pub user: Option<IdName>,
    /// `group <name|#gid>`
    pub group: Option<IdName>,
    /// `groups <name,...>`: supplementary groups.
    pub groups: Option<Vec<IdName>>,
    /// `caps <name,...>`: the capabilities kept, as a mask (bit n for
    /// capability n); `None` keeps none, as `caps none` does.
    pub caps: Option<u64>,
    /// Where the lines that apply stand, for messages.
    pub lines: LimitLines,
}

/// Where the single-valued keywords here that apply stand: line and
/// column (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitLines {
    pub cpu_time: Option<(usize, usize)>,
    pub output_limit: Option<(usize, usize)>,
    pub max_memory: Option<(usize, usize)>,
    pub user: Option<(usize, usize)>,
    pub group: Option<(usize, usize)>,
    pub groups: Option<(usize, usize)>,
    pub caps: Option<(usize, usize)>,
}

/// A user or group as a line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdName {
    /// A name, looked up in the system's database when the jail starts.
    Name(String),
    /// `#<number>`, used as it is.
    Id(u32),
}

impl std::fmt::Display for IdName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdName::Name(name) => f.write_str(name),
            IdName::Id(id) => write!(f, "#{id}"),
        }
    }
}

/// The capabilities by number, without `CAP_` (`linux/capability.h`, up
/// to `CAP_CHECKPOINT_RESTORE`, 40).
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capability a config names: any case, with or without `CAP_`.
pub fn capability_number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITY_NAMES
        .iter()
        .position(|known| *known == bare)
        .map(|number| number as u32)
}

/// The smallest `maxmemory`: below it not even a static program runs.
pub const MIN_MAX_MEMORY: u64 = 1 << 20;

/// One `syscall allow` or `syscall deny` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallLine {
    /// The syscall names, each known on this architecture.
    pub names: Vec<String>,
    /// What the named calls (`deny`) or every other call (`allow`) get.
    pub refusal: Refusal,
    pub line: usize,
}

impl Limits {
    /// The `syscall` lines as the filter and the tracer apply them.
    pub fn narrowing(&self) -> Narrowing {
        let deny: Vec<(&str, Refusal)> = self
            .deny
            .iter()
            .flat_map(|line| line.names.iter().map(|name| (name.as_str(), line.refusal)))
            .collect();
        let allowed: Vec<&str> = self
            .allow
            .iter()
            .flat_map(|line| line.names.iter().map(String::as_str))
            .collect();
        let allow = self
            .allow
            .first()
            .map(|line| (allowed.as_slice(), line.refusal));
        Narrowing::new(&deny, allow)
    }
}

/// `syscall allow|deny <name,...> [<ERRNO>|kill]`.
pub(super) fn apply_syscall(
    builder: &mut Builder<'_>,
    mode: Word<'_>,
    names: Word<'_>,
    refusal: Option<Word<'_>>,
) -> Result<(), ConfigError> {
    let allow = match mode.text {
        "allow" => true,
        "deny" => false,
        _ => {
            return Err(builder
                .error(mode.col, "bad mode for `syscall`")
                .expected("`allow` or `deny`")
                .found(quoted(mode.text)));
        }
    };
    let refusal = match refusal {
        None => Refusal::Errno(libc::EPERM),
        Some(word) => refusal_of(builder, word)?,
    };
    let mut list = Vec::new();
    let mut col = names.col;
    for name in names.text.split(',') {
        if name.is_empty() {
            return Err(builder
                .error(col, "empty syscall name in `syscall`")
                .expected("names separated by single commas, such as `read,write`")
                .found(quoted(names.text)));
        }
        if crate::arch::number_of(name).is_none() {
            return Err(builder.error(col, unknown_syscall(name)));
        }
        if allow && let Class::Refuse(errno) = syscall::class_of(name) {
            return Err(builder
                .error(
                    col,
                    format!(
                        "`syscall allow`: the jail itself refuses `{name}` ({}), and no line \
                         can let it run",
                        Refusal::Errno(errno).name()
                    ),
                )
                .expected("only syscalls the jail lets run (the lines narrow, never widen)"));
        }
        list.push(name.to_owned());
        col += name.chars().count() + 1;
    }
    let line = builder.line();
    let limits = &mut builder.settings().limits;
    if allow {
        if let Some(earlier) = limits
            .allow
            .iter()
            .find(|earlier| earlier.refusal != refusal)
        {
            let (earlier_refusal, earlier_line) = (earlier.refusal, earlier.line);
            return Err(builder
                .error(
                    mode.col,
                    format!(
                        "`syscall allow` refuses the rest with {}, but the allow line at line \
                         {earlier_line} with {}",
                        refusal.name(),
                        earlier_refusal.name()
                    ),
                )
                .expected("the same refusal on every `syscall allow` line"));
        }
        limits.allow.push(SyscallLine {
            names: list,
            refusal,
            line,
        });
    } else {
        limits.deny.push(SyscallLine {
            names: list,
            refusal,
            line,
        });
    }
    Ok(())
}

/// `cputime <seconds>`: as `timelimit`, fractions allowed.
pub(super) fn apply_cputime(
    builder: &mut Builder<'_>,
    seconds: Word<'_>,
) -> Result<(), ConfigError> {
    let limit = positive_seconds(seconds.text).ok_or_else(|| {
        builder
            .error(seconds.col, "bad time for `cputime`")
            .expected("a positive number of seconds such as 10 or 0.5")
            .found(quoted(seconds.text))
    })?;
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.cpu_time = Some(limit);
    limits.lines.cpu_time = Some(at);
    Ok(())
}

/// `outputlimit <bytes>`: any whole number, 0 included (no output at all).
pub(super) fn apply_outputlimit(
    builder: &mut Builder<'_>,
    bytes: Word<'_>,
) -> Result<(), ConfigError> {
    let limit = whole_number(bytes.text).ok_or_else(|| {
        builder
            .error(bytes.col, "bad size for `outputlimit`")
            .expected(format!("a whole number of bytes up to {}", u64::MAX))
            .found(quoted(bytes.text))
    })?;
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.output_limit = Some(limit);
    limits.lines.output_limit = Some(at);
    Ok(())
}

/// `maxmemory <bytes>`: from [`MIN_MAX_MEMORY`] up.
pub(super) fn apply_maxmemory(
    builder: &mut Builder<'_>,
    bytes: Word<'_>,
) -> Result<(), ConfigError> {
    let limit = whole_number(bytes.text)
        .filter(|&limit| limit >= MIN_MAX_MEMORY)
        .ok_or_else(|| {
            builder
                .error(bytes.col, "bad size for `maxmemory`")
                .expected(format!(
                    "a whole number of bytes from {MIN_MAX_MEMORY} (1 MiB) to {}",
                    u64::MAX
                ))
                .found(quoted(bytes.text))
        })?;
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.max_memory = Some(limit);
    limits.lines.max_memory = Some(at);
    Ok(())
}

/// `#<number>` or a name. The number is a uid or gid from 0 to
/// 4294967294 (4294967295 is -1, "no change", to the kernel).
fn id_name(
    builder: &Builder<'_>,
    keyword: &str,
    text: &str,
    col: usize,
) -> Result<IdName, ConfigError> {
    let Some(digits) = text.strip_prefix('#') else {
        return Ok(IdName::Name(text.to_owned()));
    };
    whole_number(digits)
        .and_then(|id| u32::try_from(id).ok())
        .filter(|&id| id != u32::MAX)
        .map(IdName::Id)
        .ok_or_else(|| {
            builder
                .error(col, format!("bad number for `{keyword}`"))
                .expected(format!("`#` and a number from 0 to {}", u32::MAX - 1))
                .found(quoted(text))
        })
}

/// `user <name|#uid>`
pub(super) fn apply_user(builder: &mut Builder<'_>, word: Word<'_>) -> Result<(), ConfigError> {
    let user = id_name(builder, "user", word.text, word.col)?;
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.user = Some(user);
    limits.lines.user = Some(at);
    Ok(())
}

/// `group <name|#gid>`
pub(super) fn apply_group(builder: &mut Builder<'_>, word: Word<'_>) -> Result<(), ConfigError> {
    let group = id_name(builder, "group", word.text, word.col)?;
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.group = Some(group);
    limits.lines.group = Some(at);
    Ok(())
}

/// The words of a comma list, each with its column; an empty one is an
/// error.
fn comma_list<'a>(
    builder: &Builder<'_>,
    keyword: &str,
    word: Word<'a>,
) -> Result<Vec<(&'a str, usize)>, ConfigError> {
    let mut col = word.col;
    let mut items = Vec::new();
    for item in word.text.split(',') {
        if item.is_empty() {
            return Err(builder
                .error(col, format!("empty name in `{keyword}`"))
                .expected("names separated by single commas")
                .found(quoted(word.text)));
        }
        items.push((item, col));
        col += item.chars().count() + 1;
    }
    Ok(items)
}

/// `groups <name,...>`
pub(super) fn apply_groups(builder: &mut Builder<'_>, word: Word<'_>) -> Result<(), ConfigError> {
    let mut groups = Vec::new();
    for (item, col) in comma_list(builder, "groups", word)? {
        groups.push(id_name(builder, "groups", item, col)?);
    }
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.groups = Some(groups);
    limits.lines.groups = Some(at);
    Ok(())
}

/// `caps <name,...|none>`
pub(super) fn apply_caps(builder: &mut Builder<'_>, word: Word<'_>) -> Result<(), ConfigError> {
    let mut mask = 0u64;
    if word.text != "none" {
        for (item, col) in comma_list(builder, "caps", word)? {
            let Some(number) = capability_number(item) else {
                let upper = item.to_ascii_uppercase();
                let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
                let closest = CAPABILITY_NAMES
                    .iter()
                    .filter_map(|known| edit_distance(bare, known, 64).map(|d| (d, known)))
                    .min_by_key(|(distance, _)| *distance)
                    .map(|(_, known)| format!("; did you mean `CAP_{known}`?"))
                    .unwrap_or_default();
                return Err(builder
                    .error(col, format!("unknown capability {}{closest}", quoted(item)))
                    .expected("capability names such as CAP_CHOWN or CAP_KILL, or `none`"));
            };
            mask |= 1 << number;
        }
    }
    let at = builder.at();
    let limits = &mut builder.settings().limits;
    limits.caps = Some(mask);
    limits.lines.caps = Some(at);
    Ok(())
}

/// Checks over the whole config for one ident, once every line is in.
pub(super) fn finish(file: &Path, config: &Config) -> Result<(), ConfigError> {
    // A session's program lives across commands, each with its own client
    // and ending; these limits end the program itself. A template's run
    // is a whole program of its own: its relay counts what it uses.
    let per_run = [
        ("cputime", config.limits.lines.cpu_time),
        ("outputlimit", config.limits.lines.output_limit),
        ("maxmemory", config.limits.lines.max_memory),
    ];
    if config.wakeup
        && !config.template
        && let Some((keyword, Some((line, col)))) = per_run.into_iter().find(|(_, at)| at.is_some())
    {
        return Err(ConfigError::at(
            file,
            line,
            col,
            format!("`{keyword}` does not apply to sessions (`wakeup`) yet"),
        )
        .expected(format!(
            "`{keyword}` in a config without `wakeup` or with `template` (per run), or `timelimit`, which counts per command"
        )));
    }
    // Another identity reaches the files the tracer hands over only
    // through the keeper, which lives in the Landlock domain.
    let identity = [
        ("user", config.limits.lines.user),
        ("group", config.limits.lines.group),
        ("groups", config.limits.lines.groups),
    ];
    if config.landlock == super::LandlockMode::Off
        && let Some((keyword, Some((line, col)))) =
            identity.into_iter().find(|(_, at)| at.is_some())
    {
        return Err(ConfigError::at(
            file,
            line,
            col,
            format!("`{keyword}` needs Landlock, which `landlock off` turns off"),
        )
        .expected(
            "`landlock auto` or `require` with `user`, `group` or `groups` (the program, as \
             another user, reaches the files the jail hands it through a keeper in its \
             Landlock domain)",
        ));
    }
    Ok(())
}

/// ``unknown syscall `wirte` on x86_64; did you mean `write`?``
fn unknown_syscall(name: &str) -> String {
    let closest = crate::arch::syscalls()
        .filter_map(|(_, known)| edit_distance(name, known, 64).map(|distance| (distance, known)))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known);
    let arch = crate::arch::native::NAME;
    match closest {
        Some(known) => format!(
            "unknown syscall {} on {arch}; did you mean `{known}`?",
            quoted(name)
        ),
        None => format!("unknown syscall {} on {arch}", quoted(name)),
    }
}

/// `kill` or an errno name.
fn refusal_of(builder: &Builder<'_>, word: Word<'_>) -> Result<Refusal, ConfigError> {
    if word.text == "kill" {
        return Ok(Refusal::Kill);
    }
    if let Some(errno) = syscall::errno_by_name(word.text) {
        return Ok(Refusal::Errno(errno));
    }
    let upper = word.text.to_ascii_uppercase();
    let closest = syscall::ERRNO_NAMES
        .iter()
        .filter_map(|(known, _)| edit_distance(&upper, known, 2).map(|distance| (distance, known)))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| *known);
    let problem = match closest {
        Some(known) => format!(
            "unknown errno {} for `syscall`; did you mean `{known}`?",
            quoted(word.text)
        ),
        None => format!("unknown errno {} for `syscall`", quoted(word.text)),
    };
    Err(builder
        .error(word.col, problem)
        .expected("an errno name such as EPERM, EACCES or ENOSYS, or `kill`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("t.conf"), text, "alice")
            .unwrap_or_else(|error| panic!("should parse:\n{text}\nbut: {error}"))
    }

    fn error(text: &str) -> String {
        match Config::parse(Path::new("t.conf"), text, "alice") {
            Ok(config) => panic!("should fail:\n{text}\nbut gave {:?}", config.limits),
            Err(error) => error.to_string(),
        }
    }

    fn nr(name: &str) -> u64 {
        u64::from(crate::arch::number_of(name).unwrap())
    }

    #[test]
    fn syscall_lines_add_up_and_a_later_deny_wins() {
        let config = parse(
            "syscall deny ptrace,write\nsyscall deny write EACCES\nident bob\nsyscall deny read\nend\n",
        );
        assert_eq!(
            config.limits.deny,
            [
                SyscallLine {
                    names: vec!["ptrace".into(), "write".into()],
                    refusal: Refusal::Errno(libc::EPERM),
                    line: 1,
                },
                SyscallLine {
                    names: vec!["write".into()],
                    refusal: Refusal::Errno(libc::EACCES),
                    line: 2,
                },
            ]
        );
        let narrowing = config.limits.narrowing();
        assert_eq!(
            narrowing.refusal(nr("write")),
            Some(Refusal::Errno(libc::EACCES))
        );
        assert_eq!(
            narrowing.refusal(nr("ptrace")),
            Some(Refusal::Errno(libc::EPERM))
        );
        assert_eq!(narrowing.refusal(nr("read")), None, "bob's line");
        assert!(!narrowing.kills());
    }

    #[test]
    fn an_allow_list_refuses_everything_else_and_deny_lines_still_apply() {
        let config = parse(
            "syscall allow read,write kill\nsyscall allow exit_group kill\nsyscall deny write ENOSPC\n",
        );
        let narrowing = config.limits.narrowing();
        assert_eq!(narrowing.refusal(nr("read")), None);
        assert_eq!(narrowing.refusal(nr("exit_group")), None);
        assert_eq!(narrowing.refusal(nr("openat")), Some(Refusal::Kill));
        assert_eq!(
            narrowing.refusal(nr("write")),
            Some(Refusal::Errno(libc::ENOSPC))
        );
        assert!(narrowing.kills());
        assert!(parse("").limits.narrowing().is_empty());
    }

    #[test]
    fn errno_names_are_any_case_and_kill_is_lowercase() {
        let config = parse("syscall deny read eacces\nsyscall deny write kill\n");
        assert_eq!(config.limits.deny[0].refusal, Refusal::Errno(libc::EACCES));
        assert_eq!(config.limits.deny[1].refusal, Refusal::Kill);
        assert_eq!(Refusal::Errno(libc::EACCES).name(), "EACCES");
        // Every name maps to a number the kernel's RET_ERRNO can carry.
        for (name, number) in syscall::ERRNO_NAMES {
            assert!((1..4096).contains(number), "{name}");
            assert_eq!(syscall::errno_by_name(name), Some(*number));
        }
    }

    #[test]
    fn cputime_takes_seconds_as_timelimit_does() {
        let config = parse("cputime 2.5\nident alice\n  cputime 1\nend\n");
        assert_eq!(config.limits.cpu_time, Some(Duration::from_secs(1)));
        assert_eq!(config.limits.lines.cpu_time, Some((3, 3)));
        assert_eq!(
            parse("cputime 99999999999999").limits.cpu_time,
            Some(Duration::from_secs(crate::config::MAX_SECONDS))
        );
        for (text, message) in [
            (
                "cputime 0",
                "t.conf:1:9: bad time for `cputime`; expected a positive number of seconds such as 10 or 0.5, found `0`",
            ),
            ("cputime -1", "t.conf:1:9: bad time for `cputime`"),
            ("cputime 1s", "t.conf:1:9: bad time for `cputime`"),
            ("cputime 99999999999999999999", "t.conf:1:9: bad time"),
            (
                "wakeup\n cputime 3",
                "t.conf:2:2: `cputime` does not apply to sessions (`wakeup`) yet",
            ),
        ] {
            let shown = error(text);
            assert!(
                shown.starts_with(message),
                "for {text:?}:\n  {shown}\nshould start\n  {message}"
            );
        }
    }

    #[test]
    fn outputlimit_takes_any_whole_number_of_bytes() {
        assert_eq!(parse("outputlimit 0").limits.output_limit, Some(0));
        // Per run with a template, as `cputime` and `maxmemory`.
        let template = parse("outputlimit 7\ncputime 2\nmaxmemory 1048576\nwakeup\ntemplate");
        assert_eq!(template.limits.output_limit, Some(7));
        assert_eq!(template.limits.cpu_time, Some(Duration::from_secs(2)));
        assert_eq!(template.limits.max_memory, Some(1048576));
        assert_eq!(
            parse("outputlimit 18446744073709551615")
                .limits
                .output_limit,
            Some(u64::MAX)
        );
        for (text, message) in [
            (
                "outputlimit -1",
                "t.conf:1:13: bad size for `outputlimit`; expected a whole number of bytes up to 18446744073709551615, found `-1`",
            ),
            ("outputlimit 1M", "t.conf:1:13: bad size"),
            ("outputlimit 18446744073709551616", "t.conf:1:13: bad size"),
            (
                "outputlimit 5\nwakeup",
                "t.conf:1:1: `outputlimit` does not apply to sessions (`wakeup`) yet",
            ),
        ] {
            let shown = error(text);
            assert!(
                shown.starts_with(message),
                "for {text:?}:\n  {shown}\nshould start\n  {message}"
            );
        }
    }

    #[test]
    fn maxmemory_takes_bytes_from_one_mebibyte() {
        assert_eq!(
            parse("maxmemory 1048576").limits.max_memory,
            Some(MIN_MAX_MEMORY)
        );
        for (text, message) in [
            (
                "maxmemory 1048575",
                "t.conf:1:11: bad size for `maxmemory`; expected a whole number of bytes from 1048576 (1 MiB) to 18446744073709551615, found `1048575`",
            ),
            ("maxmemory 0", "t.conf:1:11: bad size"),
            ("maxmemory 512M", "t.conf:1:11: bad size"),
            ("maxmemory 99999999999999999999", "t.conf:1:11: bad size"),
            (
                "wakeup\nmaxmemory 9999999",
                "t.conf:2:1: `maxmemory` does not apply to sessions",
            ),
        ] {
            let shown = error(text);
            assert!(
                shown.starts_with(message),
                "for {text:?}:\n  {shown}\nshould start\n  {message}"
            );
        }
    }

    #[test]
    fn bad_syscall_lines_name_file_line_column_and_the_closest_name() {
        for (text, message) in [
            (
                "syscall deny read,wirte",
                "t.conf:1:19: unknown syscall `wirte` on x86_64; did you mean `write`?",
            ),
            (
                "syscall allow mmap2,fstat64",
                "t.conf:1:15: unknown syscall `mmap2` on x86_64; did you mean `mmap`?",
            ),
            (
                "\nsyscall deny write EPREM",
                "t.conf:2:20: unknown errno `EPREM` for `syscall`; did you mean `EPERM`?",
            ),
            (
                "syscall deny write 13",
                "t.conf:1:20: unknown errno `13` for `syscall`; expected an errno name such as EPERM, EACCES or ENOSYS, or `kill`",
            ),
            (
                "syscall deny write KILL",
                "t.conf:1:20: unknown errno `KILL` for `syscall`",
            ),
            (
                "syscall allow read,mount",
                "t.conf:1:20: `syscall allow`: the jail itself refuses `mount` (EPERM), and no line can let it run",
            ),
            (
                "syscall allow read,,write",
                "t.conf:1:20: empty syscall name in `syscall`",
            ),
            ("syscall deny read,", "t.conf:1:19: empty syscall name"),
            (
                "syscall block read",
                "t.conf:1:9: bad mode for `syscall`; expected `allow` or `deny`, found `block`",
            ),
            (
                "syscall deny",
                "t.conf:1:13: missing argument for `syscall`",
            ),
            (
                "syscall deny read EPERM x",
                "t.conf:1:25: too many arguments for `syscall`",
            ),
            (
                "syscall allow read\nsyscall allow write EACCES",
                "t.conf:2:9: `syscall allow` refuses the rest with EACCES, but the allow line at line 1 with EPERM",
            ),
        ] {
            let shown = error(text);
            assert!(
                shown.starts_with(message),
                "for {text:?}:\n  {shown}\nshould start\n  {message}"
            );
        }
    }
}
