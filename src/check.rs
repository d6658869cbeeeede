//! What `sandbox --check` says, and the warnings a run prints.
//!
//! Owns looking at a loaded [`Jail`] and at the running kernel without
//! running anything: the effective settings for one ident, what the kernel
//! offers the jail, the warnings about a config (roots that do not exist,
//! a CPU the machine does not have), and where given paths stand in the
//! jail's view. Its output is plain text, one fact per line, for people
//! and scripts alike (the format is in `sandbox(1)`).

use crate::config::{Config, ConfigWarning, CpuChoice, EnvOp, LandlockMode};
use crate::fetch::HttpOptions;
use crate::jail::Jail;
use crate::policy::{Policy, Standing, normalize_lexically};
use nix::errno::Errno;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The config's warnings: those found while parsing (a `#` inside a
/// value) and those about this machine (a `see` or `write` root that does
/// not exist, a `cpu` it does not have). Never errors: such configs run.
pub fn warnings(config: &Config) -> Vec<ConfigWarning> {
    let mut warnings = config.warnings.clone();
    let roots = [
        ("see", &config.see, &config.lines.see),
        ("write", &config.write, &config.lines.write),
    ];
    for (keyword, paths, lines) in roots {
        for (path, line) in paths.iter().zip(lines) {
            // Only a certain absence: a root the jail may not look into
            // (EACCES) may still exist.
            if matches!(path.try_exists(), Ok(false)) {
                warnings.push(ConfigWarning::new(
                    &config.file,
                    *line,
                    format!(
                        "`{keyword} {}` names a path that does not exist",
                        path.display()
                    ),
                ));
            }
        }
    }
    if let (CpuChoice::Fixed(cpu), Some(line), Some(count)) =
        (config.cpu, config.lines.cpu, possible_cpus())
        && cpu >= count
    {
        warnings.push(ConfigWarning::new(
            &config.file,
            line,
            format!(
                "`cpu {cpu}`: this machine has CPUs 0 to {}; the jail runs on any",
                count - 1
            ),
        ));
    }
    warnings.sort_by_key(|warning| warning.line);
    warnings
}

/// How many CPUs the machine can have (`/sys/devices/system/cpu/possible`,
/// such as `0-3`), if it says.
fn possible_cpus() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
    let last = text.trim().rsplit([',', '-']).next()?;
    last.parse::<usize>().ok().map(|highest| highest + 1)
}

/// What the running kernel offers the jail.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Whether seccomp filters that stop for a tracer are available.
    pub seccomp: Result<(), String>,
    /// Whether the jail may trace its own child.
    pub ptrace: Result<String, String>,
    /// The Landlock ABI version.
    pub landlock: Result<u32, Errno>,
    /// Whether `PROCMAP_QUERY` works on `/proc/<pid>/maps` (Linux 6.11+).
    pub procmap_query: bool,
}

impl Kernel {
    /// Looks at the running kernel; reads `/proc` and makes harmless
    /// queries only.
    pub fn probe() -> Kernel {
        Kernel {
            seccomp: seccomp(),
            ptrace: ptrace(),
            landlock: crate::landlock::abi_version(),
            procmap_query: procmap_query(),
        }
    }

    /// Why this kernel cannot host `config`'s jail, if it cannot.
    pub fn cannot_host(&self, config: &Config) -> Option<String> {
        if let Err(reason) = &self.seccomp {
            return Some(format!("seccomp: {reason}"));
        }
        if let Err(reason) = &self.ptrace {
            return Some(format!("ptrace: {reason}"));
        }
        if let (LandlockMode::Require, Err(errno)) = (config.landlock, self.landlock) {
            return Some(format!(
                "`landlock require`, but Landlock is unavailable: {}",
                errno.desc().to_lowercase()
            ));
        }
        None
    }
}

fn seccomp() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status.lines().any(|line| line.starts_with("Seccomp:")) {
        return Err("not built into this kernel".into());
    }
    match std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail") {
        Ok(actions) if !actions.split_whitespace().any(|action| action == "trace") => {
            Err("this kernel's filters cannot stop for a tracer (no `trace` action)".into())
        }
        _ => Ok(()),
    }
}

/// CAP_SYS_PTRACE's bit in `CapEff`.
const CAP_SYS_PTRACE: u32 = 19;

fn ptrace() -> Result<String, String> {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    let capable = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status
                .lines()
                .find_map(|line| line.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0);
    match scope {
        None => Ok("permitted (no yama ptrace_scope)".into()),
        Some(scope @ (0 | 1)) => Ok(format!("permitted (yama ptrace_scope {scope})")),
        Some(2) if capable => Ok("permitted (yama ptrace_scope 2, with CAP_SYS_PTRACE)".into()),
        Some(2) => Err("yama ptrace_scope 2 needs CAP_SYS_PTRACE, which the jail lacks".into()),
        Some(scope) => Err(format!("yama ptrace_scope {scope} forbids every ptrace")),
    }
}

fn procmap_query() -> bool {
    let here = 0u8;
    std::fs::File::open("/proc/self/maps")
        .ok()
        .is_some_and(|maps| crate::sys::procmap_query(&maps, &here as *const u8 as u64).is_ok())
}

/// What `sandbox --check` prints for `jail` (loaded for `ident`; `None`:
/// no ident, global lines only) and the `paths` asked about, and the exit
/// status: 0, or 125 when the kernel cannot host the jail.
pub fn report(
    jail: &Jail,
    ident: Option<&str>,
    kernel: &Kernel,
    paths: &[PathBuf],
) -> (String, u8) {
    let config = &jail.config;
    let mut out = String::new();
    let mut fact = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    fact(format!("config {}", config.file.display()));
    fact(match ident {
        Some(ident) => format!("ident {ident}"),
        None => "ident none (global lines only)".into(),
    });
    for (keyword, line, canonical) in roots(config) {
        fact(format!("{keyword} {} (line {line})", canonical.display()));
    }
    if let Some(program) = &config.program {
        fact(format!("program {program}"));
    }
    for arg in &config.args {
        fact(format!("arg {arg}"));
    }
    if let Some(dir) = &config.chdir {
        fact(format!(
            "chdir {} (line {})",
            dir.display(),
            config.lines.chdir.unwrap_or_default()
        ));
    }
    let none = || "none".to_string();
    fact(format!(
        "maxthreads {}",
        config.max_threads.map_or_else(none, |max| max.to_string())
    ));
    fact(format!(
        "timelimit {}",
        config.time_limit.map_or_else(none, seconds)
    ));
    for limit in &config.rlimits {
        fact(limit.to_string());
    }
    fact(format!(
        "environment {}",
        if config.clear_env {
            "cleared"
        } else {
            "inherited"
        }
    ));
    for op in &config.env {
        fact(match op {
            EnvOp::Set(name, value) => format!("setenv {name} {value}"),
            EnvOp::Unset(name) => format!("unsetenv {name}"),
        });
    }
    if !config.close_fds {
        for fd in &config.pass_fds {
            fact(format!("passfd {fd}"));
        }
    }
    fact(format!("wakeup {}", on_off(config.wakeup)));
    if config.wakeup {
        let dir = config
            .sock_dir
            .clone()
            .unwrap_or_else(crate::session::default_sock_dir);
        fact(format!("sockdir {}", dir.display()));
    }
    if let Some(http) = HttpOptions::from_config(config) {
        for prefix in &http.prefixes {
            fact(format!("http {prefix}"));
        }
        fact(format!("downloadpat {}", http.download_pattern));
        fact(format!("httptimeout {}", seconds(http.timeout)));
        fact(format!(
            "httpconnecttimeout {}",
            seconds(http.connect_timeout)
        ));
        fact(format!("httpmaxsize {}", http.max_size));
    }
    fact(format!(
        "landlock {}",
        match config.landlock {
            LandlockMode::Auto => "auto",
            LandlockMode::Require => "require",
            LandlockMode::Off => "off",
        }
    ));
    fact(format!(
        "cpu {}",
        match config.cpu {
            CpuChoice::Any => "any".to_string(),
            CpuChoice::Auto => "auto".to_string(),
            CpuChoice::Fixed(cpu) => cpu.to_string(),
        }
    ));
    fact(format!("report {}", on_off(config.report)));
    fact(format!(
        "kernel seccomp {}",
        match &kernel.seccomp {
            Ok(()) => "yes".to_string(),
            Err(reason) => format!("no: {reason}"),
        }
    ));
    fact(format!(
        "kernel ptrace {}",
        match &kernel.ptrace {
            Ok(how) => how.clone(),
            Err(reason) => format!("refused: {reason}"),
        }
    ));
    fact(format!(
        "kernel landlock {}",
        match kernel.landlock {
            Ok(abi) => format!("abi {abi}"),
            Err(errno) => format!("none: {}", errno.desc().to_lowercase()),
        }
    ));
    fact(format!(
        "kernel procmap_query {}",
        if kernel.procmap_query { "yes" } else { "no" }
    ));
    for warning in warnings(config) {
        fact(format!("warning {warning}"));
    }
    for path in paths {
        fact(standing(jail, path));
    }
    let status = match kernel.cannot_host(config) {
        Some(reason) => {
            fact(format!("cannot host the jail: {reason}"));
            crate::error::status::JAIL_FAILED
        }
        None => 0,
    };
    (out, status)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// `10s`, `0.5s`.
fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

/// Every `see` and `write` root with its line and canonical path, in file
/// order of each keyword (roots under `/proc/self` as written).
fn roots(config: &Config) -> Vec<(&'static str, usize, PathBuf)> {
    let mut roots = Vec::new();
    for (keyword, paths, lines) in [
        ("see", &config.see, &config.lines.see),
        ("write", &config.write, &config.lines.write),
    ] {
        for (path, line) in paths.iter().zip(lines) {
            let canonical = if normalize_lexically(path).starts_with("/proc/self")
                || normalize_lexically(path).starts_with("/proc/thread-self")
            {
                path.clone()
            } else {
                Policy::canonical_root(path)
            };
            roots.push((keyword, *line, canonical));
        }
    }
    roots
}

/// `path <given>[ -> <canonical>]: <standing> (<the lines that decide>)`.
fn standing(jail: &Jail, given: &Path) -> String {
    let canonical = canonical_query(given);
    let reach = jail.policy.reach(&canonical);
    let roots = roots(&jail.config);
    let line_of = |keyword: &str, root: &Path| {
        roots
            .iter()
            .find(|(kind, _, canonical)| *kind == keyword && canonical == root)
            .map(|(kind, line, _)| format!("line {line}: {kind} {}", root.display()))
    };
    let mut text = format!("path {}", given.display());
    if canonical != given {
        let _ = write!(text, " -> {}", canonical.display());
    }
    let see = reach
        .see_root
        .as_deref()
        .and_then(|root| line_of("see", root).or_else(|| line_of("write", root)));
    let write = reach
        .write_root
        .as_deref()
        .and_then(|root| line_of("write", root));
    let why = match reach.standing {
        Standing::Hidden => "no see or write line covers it".to_string(),
        Standing::Ancestor => format!(
            "it can be stat'ed and walked through, not listed or read; below it is {}",
            see.unwrap_or_default()
        ),
        Standing::Visible => see.unwrap_or_default(),
        Standing::WriteOnly => format!(
            "{}; no see line covers it: it cannot be read, listed or stat'ed",
            write.unwrap_or_default()
        ),
        Standing::Writable => [see, write]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
    };
    let _ = write!(text, ": {} ({why})", reach.standing);
    text
}

/// `path` canonical as the tracer would resolve it: symlinks followed, a
/// missing last component kept under its canonical parent.
fn canonical_query(path: &Path) -> PathBuf {
    let path = &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let normal = normalize_lexically(path);
    match (normal.parent(), normal.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map_or_else(|_| normal.clone(), |parent| parent.join(name)),
        _ => normal,
    }
}
