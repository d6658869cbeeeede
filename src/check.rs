//! What `sandbox --check` says, and the warnings a run prints.
//!
//! Owns looking at a loaded [`Jail`] and at the running kernel without
//! running anything: the effective settings for one ident, what the kernel
//! offers the jail, the warnings about a config (roots that do not exist,
//! a CPU the machine does not have), where given paths stand in the
//! jail's view, and the network: the lines with the addresses their names
//! resolved to, and what Landlock mirrors of them on this kernel. Its output is plain text, one fact per line, for people
//! and scripts alike (the format is in `sandbox(1)`).

use crate::config::network::{Host, LOCALHOST, NetMode};
use crate::config::{Config, ConfigWarning, CpuChoice, EnvOp, LandlockMode};
use crate::fetch::HttpOptions;
use crate::jail::Jail;
use crate::landlock::{MAX_MIRRORED_PORTS, NetWall, TcpWall};
use crate::policy::network::NetworkPolicy;
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
    // Read only for a fixed CPU: every run's client gives these warnings.
    if let (CpuChoice::Fixed(cpu), Some(line)) = (config.cpu, config.lines.cpu)
        && let Some(count) = possible_cpus()
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
    let status = crate::procfs::read_to_string("/proc/self/status").unwrap_or_default();
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
    let capable = crate::procfs::read_to_string("/proc/self/status")
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
/// no ident, global lines only), its `network` as [`Jail::network`]
/// resolved it, and the `paths` asked about, and the exit status: 0, or
/// 125 when the kernel cannot host the jail.
pub fn report(
    jail: &Jail,
    ident: Option<&str>,
    kernel: &Kernel,
    network: &NetworkPolicy,
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
    for line in limit_facts(config) {
        fact(line);
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
    for line in network_lines(config, network) {
        fact(line);
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
    for line in landlock_network(config.landlock, kernel.landlock, network) {
        fact(line);
    }
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

/// `net`, then each `connect` line with what its name resolved to, each
/// `connect unix:` line with its canonical path, each `bind` line; in file
/// order of each keyword. Nothing for a config without network lines.
fn network_lines(config: &Config, network: &NetworkPolicy) -> Vec<String> {
    let lines = &config.network;
    let mut out = Vec::new();
    if let Some(line) = lines.mode_line {
        let mode = match lines.mode {
            NetMode::None => "none",
            NetMode::Loopback => "loopback",
        };
        out.push(format!("net {mode} (line {line})"));
    }
    for connect in &lines.connect {
        let mut text = format!(
            "connect {} {} (line {})",
            connect.protocol, connect.address, connect.line
        );
        if let Host::Name(name) = &connect.host {
            let addresses = if name == LOCALHOST {
                "127.0.0.1, ::1".to_string()
            } else {
                network
                    .names
                    .iter()
                    .find(|resolved| resolved.name == *name)
                    .map(|resolved| {
                        let texts: Vec<String> =
                            resolved.addresses.iter().map(ToString::to_string).collect();
                        texts.join(", ")
                    })
                    .unwrap_or_default()
            };
            let _ = write!(text, " -> {addresses}");
        }
        out.push(text);
    }
    for unix in &lines.unix {
        let canonical = Policy::canonical_root(&unix.path);
        let mut text = format!("connect unix:{} (line {})", unix.path.display(), unix.line);
        if canonical != unix.path {
            let _ = write!(text, " -> {}", canonical.display());
        }
        out.push(text);
    }
    for bind in &lines.bind {
        out.push(format!(
            "bind {} {} (line {})",
            bind.protocol, bind.ports, bind.line
        ));
    }
    out
}

/// What Landlock does for the network on this kernel: the TCP ports it
/// mirrors for connect and bind, and whether abstract unix sockets are
/// scoped to the jail (which the tracer needs to allow abstract names).
fn landlock_network(
    mode: LandlockMode,
    abi: Result<u32, Errno>,
    network: &NetworkPolicy,
) -> Vec<String> {
    let (wall, none) = match (mode, abi) {
        (LandlockMode::Off, _) => (NetWall::NONE, "landlock off"),
        (_, Err(_)) => (NetWall::NONE, "no landlock on this kernel"),
        (_, Ok(abi)) => (NetWall::plan(abi, network), "landlock abi below 4"),
    };
    let tcp = |access: &str, wall: &TcpWall| {
        let what = match wall {
            TcpWall::Ports(ports) if ports.is_empty() => "every port refused".to_string(),
            TcpWall::Ports(ports) => format!("ports {}", port_list(ports)),
            TcpWall::TooWide(count) => format!(
                "unhandled: {count} ports, more than {MAX_MIRRORED_PORTS}; the tracer alone \
                 decides"
            ),
            TcpWall::Loopback => "unhandled: net loopback; the tracer alone decides".to_string(),
            TcpWall::Unavailable => format!("unhandled: {none}; the tracer alone decides"),
        };
        format!("landlock tcp {access} {what}")
    };
    vec![
        tcp("connect", &wall.connect),
        tcp("bind", &wall.bind),
        format!(
            "landlock abstract-unix {}",
            if wall.abstract_unix {
                "scoped: the program's processes use abstract names among themselves"
            } else {
                "not scoped: abstract names and autobind are refused"
            }
        ),
    ]
}

/// `0, 443, 8000-8080`: ascending ports, runs as ranges.
fn port_list(ports: &[u16]) -> String {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &port in ports {
        match runs.last_mut() {
            Some(run) if u32::from(port) == u32::from(run.1) + 1 => run.1 = port,
            _ => runs.push((port, port)),
        }
    }
    let texts: Vec<String> = runs
        .into_iter()
        .map(|(low, high)| {
            if low == high {
                low.to_string()
            } else {
                format!("{low}-{high}")
            }
        })
        .collect();
    texts.join(", ")
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

/// The lines of issue 16's keywords that apply, as config lines would
/// give them (only those present).
fn limit_facts(config: &Config) -> Vec<String> {
    let limits = &config.limits;
    let mut facts = Vec::new();
    for (mode, lines) in [("deny", &limits.deny), ("allow", &limits.allow)] {
        for line in lines {
            facts.push(format!(
                "syscall {mode} {} {} (line {})",
                line.names.join(","),
                line.refusal.name(),
                line.line
            ));
        }
    }
    if let Some(cpu) = limits.cpu_time {
        facts.push(format!("cputime {}", seconds(cpu)));
    }
    if let Some(bytes) = limits.output_limit {
        facts.push(format!("outputlimit {bytes}"));
    }
    if let Some(bytes) = limits.max_memory {
        facts.push(format!("maxmemory {bytes}"));
    }
    if let Some(user) = &limits.user {
        facts.push(format!("user {user}"));
    }
    if let Some(group) = &limits.group {
        facts.push(format!("group {group}"));
    }
    if let Some(groups) = &limits.groups {
        let names: Vec<String> = groups.iter().map(ToString::to_string).collect();
        facts.push(format!("groups {}", names.join(",")));
    }
    let caps = limits.caps.unwrap_or(0);
    let names: Vec<String> = crate::config::limits::CAPABILITY_NAMES
        .iter()
        .enumerate()
        .filter(|(number, _)| caps & (1 << number) != 0)
        .map(|(_, name)| format!("CAP_{name}"))
        .collect();
    facts.push(if names.is_empty() {
        "caps none".to_owned()
    } else {
        format!("caps {}", names.join(","))
    });
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::network::ResolvedName;

    fn config(text: &str) -> Config {
        match Config::parse(Path::new("t.conf"), text, "alice") {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        }
    }

    /// `config`'s network as a resolver that knows `example.org` would
    /// give it.
    fn resolved(config: &Config) -> NetworkPolicy {
        let resolver = |name: &str| -> Result<Vec<std::net::IpAddr>, String> {
            match name {
                "example.org" => Ok(vec![
                    "192.0.2.7".parse().unwrap(),
                    "2001:db8::7".parse().unwrap(),
                ]),
                _ => Err("not known".into()),
            }
        };
        NetworkPolicy::resolve(config, &resolver).unwrap()
    }

    #[test]
    fn network_lines_show_what_names_resolved_to() {
        let config = config(
            "connect tcp example.org:443\nconnect udp 10.0.0.0/8:53\nnet none\n\
             connect tcp localhost:8000-8080\nbind tcp 0\nconnect unix:/srv/../srv/a.sock\n",
        );
        let network = resolved(&config);
        assert_eq!(
            network.names,
            [ResolvedName {
                name: "example.org".into(),
                addresses: vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()],
            }]
        );
        assert_eq!(
            network_lines(&config, &network),
            [
                "net none (line 3)",
                "connect tcp example.org:443 (line 1) -> 192.0.2.7, 2001:db8::7",
                "connect udp 10.0.0.0/8:53 (line 2)",
                "connect tcp localhost:8000-8080 (line 4) -> 127.0.0.1, ::1",
                "connect unix:/srv/../srv/a.sock (line 6) -> /srv/a.sock",
                "bind tcp 0 (line 5)",
            ]
        );
        let closed = Config::parse(Path::new("t.conf"), "see /usr\n", "alice").unwrap();
        assert!(network_lines(&closed, &NetworkPolicy::default()).is_empty());
    }

    #[test]
    fn landlock_lines_say_which_ports_the_kernel_mirrors() {
        let config = config(
            "connect tcp example.org:443\nconnect tcp 10.0.0.1:8000-8003\n\
             connect udp 10.0.0.2:53\nbind tcp 0\nbind tcp 8000\n",
        );
        let network = resolved(&config);
        assert_eq!(
            landlock_network(LandlockMode::Auto, Ok(7), &network),
            [
                "landlock tcp connect ports 443, 8000-8003",
                "landlock tcp bind ports 0, 8000",
                "landlock abstract-unix scoped: the program's processes use abstract names \
                 among themselves",
            ]
        );
        // ABI 4 and 5: ports, no scope.
        assert_eq!(
            landlock_network(LandlockMode::Require, Ok(4), &network)[2],
            "landlock abstract-unix not scoped: abstract names and autobind are refused"
        );
        let unhandled = |mode, abi| landlock_network(mode, abi, &network)[0].clone();
        assert_eq!(
            unhandled(LandlockMode::Auto, Ok(3)),
            "landlock tcp connect unhandled: landlock abi below 4; the tracer alone decides"
        );
        assert_eq!(
            unhandled(LandlockMode::Off, Ok(7)),
            "landlock tcp connect unhandled: landlock off; the tracer alone decides"
        );
        assert_eq!(
            unhandled(LandlockMode::Auto, Err(Errno::ENOSYS)),
            "landlock tcp connect unhandled: no landlock on this kernel; the tracer alone decides"
        );
        let wide = self::config("connect tcp 10.0.0.0/8:*\nnet loopback\n");
        let wide = resolved(&wide);
        let lines = landlock_network(LandlockMode::Auto, Ok(7), &wide);
        assert_eq!(
            lines[0],
            "landlock tcp connect unhandled: net loopback; the tracer alone decides"
        );
        let wide = NetworkPolicy {
            mode: NetMode::None,
            ..wide
        };
        let lines = landlock_network(LandlockMode::Auto, Ok(7), &wide);
        assert_eq!(
            lines[..2],
            [
                "landlock tcp connect unhandled: 65535 ports, more than 1024; the tracer alone \
                 decides",
                "landlock tcp bind every port refused",
            ]
        );
    }

    #[test]
    fn port_lists_keep_runs_as_ranges() {
        assert_eq!(
            port_list(&[0, 1, 2, 443, 65534, 65535]),
            "0-2, 443, 65534-65535"
        );
        assert_eq!(port_list(&[80]), "80");
    }
}
