//! The crate's top-level error: one variant per layer, each with a message
//! a user can act on, and the exit status the CLI uses for it.

use crate::config::{ConfigError, Rlimit};
use crate::launch::LaunchError;
use crate::policy::PolicyError;
use crate::tracer::TraceError;
use nix::errno::Errno;
use std::fmt;
use std::path::PathBuf;

/// Exit statuses the jail uses for its own failures (documented in the
/// README); the program's own statuses pass through unchanged.
pub mod status {
    /// The command line is wrong.
    pub const USAGE: u8 = 2;
    /// The config file is wrong (EX_CONFIG).
    pub const CONFIG: u8 = 78;
    /// `maxmemory` was passed.
    pub const MEMORY_LIMIT: u8 = 121;
    /// `outputlimit` was passed.
    pub const OUTPUT_LIMIT: u8 = 122;
    /// `cputime` ran out.
    pub const CPU_LIMIT: u8 = 123;
    /// The time limit ran out.
    pub const TIMED_OUT: u8 = 124;
    /// A `cow` commit met conflicts: nothing was applied, the layer kept.
    pub const COW_CONFLICT: u8 = 120;
    /// The jail itself failed (kernel refused ptrace or seccomp, ...).
    pub const JAIL_FAILED: u8 = 125;
    /// The program exists but cannot be executed.
    pub const CANNOT_EXECUTE: u8 = 126;
    /// The program does not exist or is not visible in the jail.
    pub const NOT_FOUND: u8 = 127;
}

/// Why the program could not be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecFailure {
    NotFound,
    /// It exists, but outside every `see` tree (its canonical path).
    NotVisible(String),
    NotExecutable,
    /// It died while the kernel loaded it, under these memory limits
    /// (`rlimit AS 0` leaves no room to map a program).
    StartedUnder {
        file: PathBuf,
        limits: Vec<Rlimit>,
    },
    /// It died before its exec completed, for no reason the jail knows.
    DiedStarting,
    Other(Errno),
}

#[derive(Debug)]
pub enum Error {
    Usage(String),
    /// A policy built in code holds what no config line can (a line
    /// break, a path that is not UTF-8).
    Builder(String),
    Config(ConfigError),
    Policy(PolicyError),
    Launch(LaunchError),
    Landlock(crate::landlock::LandlockError),
    Exec {
        program: String,
        reason: ExecFailure,
    },
    Trace(TraceError),
    /// A `user`, `group` or `groups` line the jail cannot honour.
    Identity(crate::identity::IdentityError),
    /// [`Jail::command`](crate::Jail::command) found no `sandbox` binary to
    /// run the program with.
    Binary(BinaryNotFound),
    /// The `sandbox` binary that [`Jail::run`](crate::Jail::run) ran
    /// could not run the program, or failed itself: its status and, when
    /// its report says, its message.
    Jail(JailFailure),
    /// The `sandbox` binary could not be started (a `pre_sandbox` hook
    /// failed, the system is out of processes, ...).
    Spawn(std::io::Error),
    /// A `cow` layer that cannot be made, read, committed or removed.
    Cow(crate::cow::CowError),
    /// The kernel refused an `rlimit` line of the config `file`; nothing ran.
    Rlimit {
        file: PathBuf,
        limit: Rlimit,
        errno: Errno,
        /// The jail's own `(soft, hard)` limit for that resource.
        own: Option<(u64, u64)>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The exit status the CLI reports this error with.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Usage(_) => status::USAGE,
            Error::Config(_) | Error::Policy(_) | Error::Rlimit { .. } | Error::Builder(_) => {
                status::CONFIG
            }
            Error::Launch(_)
            | Error::Trace(_)
            | Error::Landlock(_)
            | Error::Binary(_)
            | Error::Spawn(_) => status::JAIL_FAILED,
            Error::Jail(failure) => u8::try_from(failure.status)
                .ok()
                .filter(|status| *status != 0)
                .unwrap_or(status::JAIL_FAILED),
            // A kernel without what it needs; otherwise a config this
            // invocation cannot honour.
            Error::Identity(crate::identity::IdentityError::NoLandlock { .. }) => {
                status::JAIL_FAILED
            }
            Error::Identity(_) => status::CONFIG,
            Error::Cow(crate::cow::CowError::Conflicts(_)) => status::COW_CONFLICT,
            Error::Cow(
                crate::cow::CowError::UnsafeBase { .. } | crate::cow::CowError::OtherTrees { .. },
            ) => status::CONFIG,
            Error::Cow(_) => status::JAIL_FAILED,
            Error::Exec { reason, .. } => match reason {
                ExecFailure::NotFound | ExecFailure::NotVisible(_) => status::NOT_FOUND,
                ExecFailure::NotExecutable
                | ExecFailure::StartedUnder { .. }
                | ExecFailure::DiedStarting
                | ExecFailure::Other(_) => status::CANNOT_EXECUTE,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => f.write_str(message),
            Error::Builder(problem) => f.write_str(problem),
            Error::Config(error) => write!(f, "{error}"),
            Error::Policy(error) => write!(f, "{error}"),
            Error::Launch(error) => write!(f, "{error}"),
            Error::Landlock(error) => write!(f, "{error}"),
            Error::Trace(error) => write!(f, "{error}"),
            Error::Identity(error) => write!(f, "{error}"),
            Error::Cow(error) => write!(f, "{error}"),
            Error::Binary(error) => write!(f, "{error}"),
            Error::Jail(JailFailure {
                message: Some(message),
                ..
            }) => f.write_str(message),
            Error::Jail(JailFailure {
                status,
                message: None,
            }) => write!(f, "the jail failed (the sandbox binary's status {status})"),
            Error::Spawn(error) => write!(f, "cannot start the sandbox binary: {error}"),
            Error::Exec { program, reason } => match reason {
                ExecFailure::NotFound => write!(f, "cannot run `{program}`: not found"),
                ExecFailure::NotVisible(canonical) => write!(
                    f,
                    "cannot run `{program}`: {canonical} is not visible in the jail (no `see` \
                     line covers it)"
                ),
                ExecFailure::NotExecutable => {
                    write!(
                        f,
                        "cannot run `{program}`: not executable (permission denied)"
                    )
                }
                ExecFailure::StartedUnder { file, limits } => {
                    write!(f, "cannot run `{program}`: it could not start under ")?;
                    for (index, limit) in limits.iter().enumerate() {
                        if index > 0 {
                            f.write_str(" and ")?;
                        }
                        write!(f, "`{limit}`")?;
                        if let Some(line) = limit.line {
                            write!(f, " ({}:{line})", file.display())?;
                        }
                    }
                    f.write_str(": the kernel could not load it in that little memory")
                }
                ExecFailure::DiedStarting => {
                    write!(
                        f,
                        "cannot run `{program}`: it died before its exec completed"
                    )
                }
                ExecFailure::Other(errno) => write!(f, "cannot run `{program}`: {}", errno.desc()),
            },
            Error::Rlimit {
                file,
                limit,
                errno,
                own,
            } => {
                write!(f, "{}", file.display())?;
                if let Some(line) = limit.line {
                    write!(f, ":{line}")?;
                }
                write!(
                    f,
                    ": the kernel refused `{limit}`: {}",
                    lowercase_first(errno.desc())
                )?;
                if *errno == Errno::EPERM {
                    let own = match own {
                        Some((_, u64::MAX)) => "unlimited".to_owned(),
                        Some((_, hard)) => hard.to_string(),
                        None => "unknown".to_owned(),
                    };
                    write!(
                        f,
                        "; expected a hard limit of at most the jail's own ({own}): raising it needs \
                         CAP_SYS_RESOURCE"
                    )?;
                    if limit.resource == rlimit::Resource::NOFILE {
                        f.write_str(", and NOFILE can never exceed fs.nr_open")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Where [`Jail::command`](crate::Jail::command) looked for the `sandbox`
/// binary, none of which holds one (see [`crate::command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryNotFound {
    /// Each place looked at, and why it was not used.
    pub looked: Vec<String>,
}

impl fmt::Display for BinaryNotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot find the `sandbox` binary ({}): install it (`cargo install --path .` in \
             the sandbox sources puts it on PATH), set SANDBOX_BIN to its path, or give it \
             with Jail::with_binary",
            self.looked.join("; ")
        )
    }
}

impl std::error::Error for BinaryNotFound {}

/// The jail itself failed, or could not run the program, as the `sandbox`
/// binary said (its exit status and its report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailFailure {
    /// The `sandbox` binary's exit status (78 bad config, 125 the jail
    /// failed, 126 cannot execute, 127 not found, 2 usage).
    pub status: i32,
    /// What went wrong, when the jail said.
    pub message: Option<String>,
}

/// For the std-like API ([`crate::command`]): the error travels inside an
/// [`std::io::Error`] of a fitting kind, and
/// `io_error.get_ref().and_then(|e| e.downcast_ref::<sandbox::Error>())`
/// gets it back.
impl From<Error> for std::io::Error {
    fn from(error: Error) -> std::io::Error {
        let kind = match &error {
            Error::Binary(_) => std::io::ErrorKind::NotFound,
            Error::Spawn(error) => error.kind(),
            Error::Usage(_) | Error::Builder(_) | Error::Config(_) | Error::Policy(_) => {
                std::io::ErrorKind::InvalidInput
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, error)
    }
}

/// OS messages start with a capital ("Operation not permitted"); the
/// config's messages are lowercase.
fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Error {
        Error::Config(error)
    }
}

impl From<PolicyError> for Error {
    fn from(error: PolicyError) -> Error {
        Error::Policy(error)
    }
}

impl From<LaunchError> for Error {
    fn from(error: LaunchError) -> Error {
        Error::Launch(error)
    }
}

impl From<crate::landlock::LandlockError> for Error {
    fn from(error: crate::landlock::LandlockError) -> Error {
        Error::Landlock(error)
    }
}

impl From<TraceError> for Error {
    fn from(error: TraceError) -> Error {
        Error::Trace(error)
    }
}
