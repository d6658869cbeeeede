//! The run report: what one run of a jail did.
//!
//! Owns the schema (docs/report.md) and its two forms: JSON lines, which
//! the jail writes as it runs where the config says (`reportfile`,
//! `reportfd`; one `deny` record as each denial happens, one `exit`
//! record at the end), and [`RunReport`], the whole run as one value,
//! which [`crate::Child::wait_report`] reads back from those lines.
//! Knows nothing of ptrace: the tracer hands it denials, tasks and
//! fetches through a [`Writer`].
//!
//! The schema is open: readers ignore fields and record types they do not
//! know, and a new field or record type does not change [`VERSION`];
//! a field that changes meaning does.

use crate::config::{Config, ConfigError};
use crate::policy::{Denial, DenialKind, Policy};
use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The schema's version, in every record.
pub const VERSION: u32 = 1;

/// At most this many `deny` records are written per run; later denials
/// are only counted ([`RunReport::denial_count`]), so that a program
/// denied in a loop cannot fill a disk or the host's memory.
pub const MAX_DENY_RECORDS: u64 = 10_000;

/// At most this many fetches are listed per run.
pub const MAX_FETCHES: usize = 1_000;

/// How a jailed program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
    /// The time limit ran out; the whole jail was killed.
    TimedOut,
    /// `cputime` ran out; the whole jail was killed.
    CpuLimit,
    /// The program's output passed `outputlimit`; the whole jail was
    /// killed.
    OutputLimit,
    /// The tree's memory passed `maxmemory`; the whole jail was killed.
    MemoryLimit,
}

/// How a run ended, as a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The program exited with status 0.
    Ok,
    /// The program exited with another status.
    RuntimeError,
    /// A signal killed the program.
    Signal,
    /// The time limit ran out; the jail killed the program.
    TimedOut,
    /// `cputime` ran out; the jail killed the program.
    CpuLimit,
    /// The output passed `outputlimit`; the jail killed the program.
    OutputLimit,
    /// The memory passed `maxmemory`; the jail killed the program.
    MemoryLimit,
    /// The jail itself failed, or could not run the program (not found,
    /// not executable, a limit the kernel refused, ...): `error` says.
    JailError,
    /// A status this version does not know (a newer jail's).
    #[default]
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The class of an ending.
    pub fn of(ending: &Ending) -> Status {
        match ending {
            Ending::Exited(0) => Status::Ok,
            Ending::Exited(_) => Status::RuntimeError,
            Ending::Killed(_) => Status::Signal,
            Ending::TimedOut => Status::TimedOut,
            Ending::CpuLimit => Status::CpuLimit,
            Ending::OutputLimit => Status::OutputLimit,
            Ending::MemoryLimit => Status::MemoryLimit,
        }
    }
}

/// One call the jail refused, as a `deny` record gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DeniedCall {
    /// Seconds since the run started.
    pub time: f64,
    /// The thread that made the call.
    pub pid: i32,
    /// The syscall's name (`openat`, `connect`, ...).
    pub syscall: String,
    /// What was refused: `see` (a path outside every `see` tree),
    /// `write` (a change outside every `write` tree), `connect`, `bind`
    /// (an address no such line allows) or `syscall` (refused whatever
    /// its arguments).
    pub kind: String,
    /// The path as the program gave it, or for `connect` and `bind` the
    /// address as a config line names it (`tcp 192.0.2.7:443`,
    /// `unix:/run/x.sock`); `null` for `syscall`.
    pub path: Option<String>,
    /// Where the path leads (symlinks and `..` resolved), for `see` and
    /// `write`.
    pub canonical: Option<String>,
    /// The errno the program got (`ENOENT`), when the jail refused the
    /// call with one.
    pub errno: Option<String>,
    /// A config line that would allow it (best effort: the narrowest
    /// one; `null` when no line can, as for a refused syscall).
    pub allow: Option<String>,
}

/// One URL read as a file (`http` lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Fetch {
    /// The URL as the jail fetched it.
    pub url: String,
    /// Whether the body arrived.
    pub ok: bool,
    /// The body's size in bytes, when it arrived.
    pub bytes: Option<u64>,
    /// Why it did not.
    pub error: Option<String>,
}

/// A whole run: how it ended and what it did (docs/report.md). The `exit`
/// record holds every field but [`denials`](Self::denials), whose
/// entries are the `deny` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunReport {
    /// The schema's version ([`VERSION`]).
    pub version: u32,
    /// How the run ended, as a class.
    pub status: Status,
    /// The program's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the program, when one did.
    pub signal: Option<i32>,
    /// Why the jail failed (`jail_error`), as its message says.
    pub error: Option<String>,
    /// Seconds from the jail's start to its end.
    pub wall_time: f64,
    /// CPU seconds in user mode of the program and every descendant
    /// reaped by its parent (`getrusage(RUSAGE_CHILDREN)` in the jail's
    /// process after it reaped them all).
    pub user_time: f64,
    /// CPU seconds in the kernel, counted as `user_time`.
    pub system_time: f64,
    /// The largest resident set of any one of those processes, in bytes
    /// (`ru_maxrss`).
    pub peak_rss: u64,
    /// Threads and processes the jail traced, the program included.
    pub tasks: u64,
    /// Every denial, including those past [`MAX_DENY_RECORDS`].
    pub denial_count: u64,
    /// The denials, in order (at most [`MAX_DENY_RECORDS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denials: Vec<DeniedCall>,
    /// The URLs read as files, in order (at most [`MAX_FETCHES`]).
    pub fetches: Vec<Fetch>,
}

impl RunReport {
    /// The run from its JSON lines: the `deny` records in order and the
    /// `exit` record. Lines that are not JSON objects, and records of
    /// types this version does not know, are skipped. `None` when no
    /// `exit` record is there (the jail was killed, or failed before it
    /// could write one).
    ///
    /// ```
    /// let lines = r#"{"version":1,"type":"deny","syscall":"openat","kind":"see","path":"/etc/passwd"}
    /// {"version":1,"type":"exit","status":"runtime_error","exit_code":3,"denial_count":1}
    /// "#;
    /// let report = sandbox::report::RunReport::from_json_lines(lines).expect("an exit record");
    /// assert_eq!(report.exit_code, Some(3));
    /// assert_eq!(report.denials[0].path.as_deref(), Some("/etc/passwd"));
    /// ```
    pub fn from_json_lines(text: &str) -> Option<RunReport> {
        let (report, denials) = RunReport::records(text);
        let mut report = report?;
        report.denials = denials;
        Some(report)
    }

    /// The `exit` record, if any, and the `deny` records of `text`.
    pub(crate) fn records(text: &str) -> (Option<RunReport>, Vec<DeniedCall>) {
        let mut denials = Vec::new();
        let mut report = None;
        for line in text.lines() {
            let Ok(serde_json::Value::Object(record)) = serde_json::from_str(line) else {
                continue;
            };
            let kind = record.get("type").and_then(|kind| kind.as_str());
            match kind {
                Some("deny") => {
                    if let Ok(denial) = serde_json::from_value(record.into()) {
                        denials.push(denial);
                    }
                }
                Some("exit") => {
                    if let Ok(exit) = serde_json::from_value::<RunReport>(record.into()) {
                        report = Some(exit);
                    }
                }
                _ => {}
            }
        }
        (report, denials)
    }

    /// The ending it describes, if the program ran.
    pub fn ending(&self) -> Option<Ending> {
        match self.status {
            Status::Ok | Status::RuntimeError => self.exit_code.map(Ending::Exited),
            Status::Signal => self.signal.map(Ending::Killed),
            Status::TimedOut => Some(Ending::TimedOut),
            Status::CpuLimit => Some(Ending::CpuLimit),
            Status::OutputLimit => Some(Ending::OutputLimit),
            Status::MemoryLimit => Some(Ending::MemoryLimit),
            Status::JailError | Status::Unknown => None,
        }
    }

    /// [`wall_time`](Self::wall_time) as a duration.
    pub fn wall(&self) -> Duration {
        seconds(self.wall_time)
    }

    /// [`user_time`](Self::user_time) as a duration.
    pub fn user(&self) -> Duration {
        seconds(self.user_time)
    }

    /// [`system_time`](Self::system_time) as a duration.
    pub fn system(&self) -> Duration {
        seconds(self.system_time)
    }
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or_default()
}

/// A record with its `type` and `version` in front (a [`RunReport`]
/// holds its own version).
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(flatten)]
    record: &'a T,
}

/// What the tracer tells the report of a denial, before the errno is
/// known.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub pid: i32,
    pub syscall: String,
    /// `None`: the syscall itself is refused.
    pub denial: Option<Denial>,
}

/// Writes a run's records where the config says, as they happen. Held by
/// the jail's process (`Jail::run_in_this_process`) and its tracer.
#[derive(Debug)]
pub struct Writer {
    outputs: Vec<File>,
    started: Instant,
    report: RunReport,
}

impl Writer {
    /// Opens the outputs of `config`'s `reportfile` and `reportfd` lines,
    /// if any: the file is created new (`O_EXCL`, `O_NOFOLLOW`, mode
    /// 0600), never inside a `write` tree of `policy` (the program could
    /// change it); the descriptor is duplicated and must be open for
    /// writing. Problems are config errors naming the line.
    pub fn open(config: &Config, policy: &Policy) -> Result<Option<Writer>, ConfigError> {
        let mut outputs = Vec::new();
        if let Some(path) = &config.report_file {
            let line = config.lines.report_file.unwrap_or(0);
            outputs.push(create_report_file(config, policy, path, line)?);
        }
        if let Some(fd) = config.report_fd {
            let line = config.lines.report_fd.unwrap_or(0);
            let error = |problem: String| ConfigError::at(&config.file, line, 1, problem);
            let copy = crate::sys::duplicate_inherited(fd).map_err(|errno| {
                error(format!(
                    "`reportfd {fd}`: descriptor {fd} is not open ({}); start the jail with it open for writing",
                    errno.desc()
                ))
            })?;
            let flags = nix::fcntl::fcntl(&copy, nix::fcntl::FcntlArg::F_GETFL)
                .map_err(|errno| error(format!("`reportfd {fd}`: {}", errno.desc())))?;
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                return Err(error(format!(
                    "`reportfd {fd}`: descriptor {fd} is open for reading only; expected one open for writing"
                )));
            }
            outputs.push(File::from(copy));
        }
        if outputs.is_empty() {
            return Ok(None);
        }
        Ok(Some(Writer {
            outputs,
            started: Instant::now(),
            report: RunReport {
                version: VERSION,
                ..RunReport::default()
            },
        }))
    }

    fn write<T: Serialize>(&mut self, kind: &'static str, version: Option<u32>, record: &T) {
        let line = Line {
            kind,
            version,
            record,
        };
        let Ok(mut text) = serde_json::to_vec(&line) else {
            return;
        };
        text.push(b'\n');
        // One write per record; a reader that went away costs the jail
        // nothing (SIGPIPE is ignored: EPIPE).
        for output in &mut self.outputs {
            let _ = output.write_all(&text);
        }
    }

    /// A task (thread or process) entered the jail.
    pub(crate) fn task_started(&mut self) {
        self.report.tasks += 1;
    }

    /// A URL was fetched, or failed to be.
    pub(crate) fn fetched(&mut self, fetch: Fetch) {
        if self.report.fetches.len() < MAX_FETCHES {
            self.report.fetches.push(fetch);
        }
    }

    /// The jail refused a call with `errno` (`None`: a denial whose call
    /// went on some other way).
    pub(crate) fn denied(&mut self, refusal: Refusal, errno: Option<Errno>) {
        self.report.denial_count += 1;
        if self.report.denial_count > MAX_DENY_RECORDS {
            return;
        }
        let record = denied_call(refusal, errno, self.started.elapsed());
        self.write("deny", Some(VERSION), &record);
    }

    /// Writes the `exit` record of a run that ended so, or failed with
    /// this message (`usage_before`: the children's usage when it
    /// started), and returns the report.
    pub fn finish(mut self, result: Result<Ending, String>, usage_before: Usage) -> RunReport {
        let usage = Usage::children().since(usage_before);
        let report = &mut self.report;
        report.wall_time = self.started.elapsed().as_secs_f64();
        report.user_time = usage.user.as_secs_f64();
        report.system_time = usage.system.as_secs_f64();
        report.peak_rss = usage.peak_rss;
        match result {
            Ok(ending) => {
                report.status = Status::of(&ending);
                match ending {
                    Ending::Exited(code) => report.exit_code = Some(code),
                    Ending::Killed(signal) => report.signal = Some(signal),
                    Ending::TimedOut
                    | Ending::CpuLimit
                    | Ending::OutputLimit
                    | Ending::MemoryLimit => {}
                }
            }
            Err(message) => {
                report.status = Status::JailError;
                report.error = Some(message);
            }
        }
        let report = std::mem::take(&mut self.report);
        self.write("exit", None, &report);
        report
    }
}

/// The record of a refusal.
fn denied_call(refusal: Refusal, errno: Option<Errno>, at: Duration) -> DeniedCall {
    let errno = errno.map(|errno| format!("{errno:?}"));
    let base = DeniedCall {
        time: at.as_secs_f64(),
        pid: refusal.pid,
        syscall: refusal.syscall,
        errno,
        ..DeniedCall::default()
    };
    let Some(denial) = refusal.denial else {
        return DeniedCall {
            kind: "syscall".into(),
            ..base
        };
    };
    let canonical = (!denial.canonical.is_empty()).then(|| denial.canonical.clone());
    let root = own_proc(canonical.as_deref().unwrap_or(&denial.path));
    let (kind, allow) = match denial.kind {
        DenialKind::See => ("see", Some(format!("see {root}"))),
        DenialKind::Write => ("write", Some(format!("write {root}"))),
        DenialKind::Connect => ("connect", connect_line(&denial.path)),
        DenialKind::Bind => ("bind", bind_line(&denial.path)),
    };
    DeniedCall {
        kind: kind.into(),
        path: Some(denial.path),
        canonical,
        allow,
        ..base
    }
}

/// A path under a process's `/proc/<pid>` (or its `task/<tid>`) as a
/// config names it: `/proc/self/...`, the only form a line can give (a
/// pid is the run's own); other paths as they are.
fn own_proc(path: &str) -> String {
    let Some(rest) = path.strip_prefix("/proc/") else {
        return path.to_owned();
    };
    let mut parts = rest.splitn(2, '/');
    let pid = parts.next().unwrap_or_default();
    if pid.is_empty() || !pid.bytes().all(|byte| byte.is_ascii_digit()) {
        return path.to_owned();
    }
    let mut rest = parts.next().unwrap_or_default();
    if let Some(after) = rest.strip_prefix("task/") {
        let mut parts = after.splitn(2, '/');
        let tid = parts.next().unwrap_or_default();
        if !tid.is_empty() && tid.bytes().all(|byte| byte.is_ascii_digit()) {
            rest = parts.next().unwrap_or_default();
        }
    }
    if rest.is_empty() {
        "/proc/self".to_owned()
    } else {
        format!("/proc/self/{rest}")
    }
}

/// `connect tcp 192.0.2.7:443`, `connect unix:/run/x.sock`; none for an
/// abstract or unnamed unix socket.
fn connect_line(address: &str) -> Option<String> {
    if address.starts_with("unix:/") || address.starts_with("tcp ") || address.starts_with("udp ") {
        return Some(format!("connect {address}"));
    }
    None
}

/// `bind tcp 8000` for `tcp 0.0.0.0:8000`; a named unix socket is bound
/// in a `write` tree: its directory's.
fn bind_line(address: &str) -> Option<String> {
    if let Some(path) = address.strip_prefix("unix:/") {
        let path = Path::new("/").join(path);
        return path.parent().map(|dir| format!("write {}", dir.display()));
    }
    let (protocol, rest) = address.split_once(' ')?;
    let (_, port) = rest.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    Some(format!("bind {protocol} {port}"))
}

fn create_report_file(
    config: &Config,
    policy: &Policy,
    path: &Path,
    line: usize,
) -> Result<File, ConfigError> {
    let error = |problem: String| ConfigError::at(&config.file, line, 1, problem);
    let shown = path.display();
    // Where it will be: its directory resolved (the file does not exist).
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(error(format!("`reportfile {shown}` names no file")));
    };
    let dir = std::fs::canonicalize(dir).map_err(|io| {
        error(format!(
            "`reportfile {shown}`: its directory cannot be used: {}",
            io.kind()
        ))
    })?;
    let place = dir.join(name);
    if policy.write.iter().any(|root| place.starts_with(root)) {
        return Err(error(format!(
            "`reportfile {shown}` lies inside a `write` tree ({}), where the program could \
             change it; name a file outside every `write` tree",
            place.display()
        )));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&place)
        .map_err(|io| {
            let reason = io.raw_os_error().map_or_else(
                || io.to_string(),
                |errno| Errno::from_raw(errno).desc().to_owned(),
            );
            let hint = if io.kind() == std::io::ErrorKind::AlreadyExists {
                "; the report file is always created new: remove it or name another"
            } else {
                ""
            };
            error(format!(
                "`reportfile {shown}`: cannot create it: {}{hint}",
                reason.to_lowercase()
            ))
        })
}

/// CPU time and peak memory of this process's reaped children.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    user: Duration,
    system: Duration,
    peak_rss: u64,
}

impl Usage {
    /// `getrusage(RUSAGE_CHILDREN)` now.
    pub fn children() -> Usage {
        use nix::sys::resource::{UsageWho, getrusage};
        let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
            return Usage::default();
        };
        let time = |value: nix::sys::time::TimeVal| {
            Duration::new(
                u64::try_from(value.tv_sec()).unwrap_or(0),
                u32::try_from(value.tv_usec()).unwrap_or(0) * 1000,
            )
        };
        Usage {
            user: time(usage.user_time()),
            system: time(usage.system_time()),
            // The kernel counts it in KiB.
            peak_rss: u64::try_from(usage.max_rss()).unwrap_or(0) * 1024,
        }
    }

    /// The time spent since `before`; the peak is this process's
    /// children's of all time (the kernel keeps no other).
    fn since(self, before: Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
            peak_rss: self.peak_rss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(kind: DenialKind, path: &str, canonical: &str) -> Refusal {
        Refusal {
            pid: 7,
            syscall: "openat".into(),
            denial: Some(Denial {
                kind,
                path: path.into(),
                canonical: canonical.into(),
            }),
        }
    }

    #[test]
    fn each_denial_names_the_line_that_would_allow_it() {
        let cases = [
            (
                denial(DenialKind::See, "passwd", "/etc/passwd"),
                Some("see /etc/passwd"),
            ),
            (
                denial(DenialKind::Write, "/tmp/x", "/tmp/x"),
                Some("write /tmp/x"),
            ),
            (
                denial(DenialKind::See, "/proc/self/exe", "/proc/741/exe"),
                Some("see /proc/self/exe"),
            ),
            (
                denial(DenialKind::See, "/proc/thread-self/fd", "/proc/7/task/8/fd"),
                Some("see /proc/self/fd"),
            ),
            (
                denial(DenialKind::See, "/proc/9", "/proc/9"),
                Some("see /proc/self"),
            ),
            (
                denial(DenialKind::See, "/proc/cpuinfo", "/proc/cpuinfo"),
                Some("see /proc/cpuinfo"),
            ),
            (
                denial(DenialKind::Connect, "tcp 192.0.2.7:443", ""),
                Some("connect tcp 192.0.2.7:443"),
            ),
            (
                denial(DenialKind::Connect, "unix:/run/x.sock", ""),
                Some("connect unix:/run/x.sock"),
            ),
            (denial(DenialKind::Connect, "unix:@abstract", ""), None),
            (
                denial(DenialKind::Bind, "tcp 0.0.0.0:8000", ""),
                Some("bind tcp 8000"),
            ),
            (
                denial(DenialKind::Bind, "udp [::]:53", ""),
                Some("bind udp 53"),
            ),
            (
                denial(DenialKind::Bind, "unix:/run/bot/x.sock", ""),
                Some("write /run/bot"),
            ),
            (
                Refusal {
                    pid: 7,
                    syscall: "mount".into(),
                    denial: None,
                },
                None,
            ),
        ];
        for (refusal, allow) in cases {
            let record = denied_call(refusal.clone(), Some(Errno::EPERM), Duration::ZERO);
            assert_eq!(record.allow.as_deref(), allow, "{refusal:?}");
            assert_eq!(record.errno.as_deref(), Some("EPERM"));
        }
    }

    #[test]
    fn records_read_back_into_a_report_skipping_what_is_unknown() {
        let deny = DeniedCall {
            time: 0.5,
            pid: 3,
            syscall: "openat".into(),
            kind: "see".into(),
            path: Some("/etc".into()),
            canonical: Some("/etc".into()),
            errno: Some("ENOENT".into()),
            allow: Some("see /etc".into()),
        };
        let exit = RunReport {
            version: VERSION,
            status: Status::Signal,
            signal: Some(11),
            tasks: 3,
            denial_count: 1,
            fetches: vec![Fetch {
                url: "http://x/y".into(),
                ok: true,
                bytes: Some(5),
                error: None,
            }],
            ..RunReport::default()
        };
        let line = |kind, record: &dyn erased::Record| record.line(kind);
        let text = format!(
            "{}\nnot json\n{{\"version\":1,\"type\":\"future\",\"x\":1}}\n{}\n",
            line("deny", &deny),
            line("exit", &exit)
        );
        assert!(
            text.starts_with("{\"type\":\"deny\",\"version\":1,"),
            "{text}"
        );
        let report = RunReport::from_json_lines(&text).expect("an exit record");
        assert_eq!(report.denials, [deny]);
        assert_eq!(report.signal, Some(11));
        assert_eq!(report.ending(), Some(Ending::Killed(11)));
        assert_eq!(report.fetches.len(), 1);
        assert!(RunReport::from_json_lines(&line("deny", &report.denials[0])).is_none());
        // A status from a newer jail is not an error.
        let newer = r#"{"version":2,"type":"exit","status":"frozen","new_field":[1]}"#;
        let report = RunReport::from_json_lines(newer).expect("read");
        assert_eq!(report.status, Status::Unknown);
    }

    /// Serialising records of two types through one closure.
    mod erased {
        pub trait Record {
            fn line(&self, kind: &'static str) -> String;
        }
        impl<T: serde::Serialize> Record for T {
            fn line(&self, kind: &'static str) -> String {
                let version = (kind == "deny").then_some(super::VERSION);
                serde_json::to_string(&super::Line {
                    kind,
                    version,
                    record: self,
                })
                .expect("serialise")
            }
        }
    }
}
