//! The configuration file: the compatibility contract with the original jail.
//!
//! Owns turning a config file into plain data ([`Config`]) for one ident.
//! It does no other I/O than reading the file once, and knows nothing of
//! processes, ptrace or the kernel: `policy` turns a `Config` into decisions.

pub mod cow;
mod error;
#[cfg(test)]
mod fuzz;
mod keywords;
pub mod limits;
pub mod network;
mod syntax;
#[cfg(test)]
mod tests;

pub(crate) use error::lowercase_first;
pub use error::{ConfigError, ConfigWarning};
pub use keywords::{KEYWORDS, Keyword, MAX_CPU_SECONDS};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest time a config may give (`timelimit`, `httptimeout`,
/// `httpconnecttimeout`), in seconds: about 31.7 years. Longer ones are
/// taken as this, so that every accepted time can be added to a clock
/// (`Instant + Duration` overflows near `u64::MAX` seconds).
pub const MAX_SECONDS: u64 = 1_000_000_000;

/// The largest config file read, in bytes (1 MiB). A larger file, or an
/// endless one (`/dev/zero`, a pipe from `yes`), is refused after reading
/// one byte more than this, so memory stays bounded whatever is named.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// One environment edit, applied in file order to the inherited environment
/// (or to an empty one when [`Config::clear_env`] is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvOp {
    Set(String, String),
    Unset(String),
}

/// A resource limit from an `rlimit` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// Which limit (`Resource::AS`, ...).
    pub resource: rlimit::Resource,
    pub soft: u64,
    pub hard: u64,
    /// The line of the config it came from, for messages (`None` when the
    /// limit was not read from a file).
    pub line: Option<usize>,
}

impl Rlimit {
    /// The name as a config writes it (`AS`, `NOFILE`, ...).
    pub fn name(&self) -> &'static str {
        rlimit_name(self.resource)
    }
}

/// The config's name of a resource: the kernel's without `RLIMIT_`.
fn rlimit_name(resource: rlimit::Resource) -> &'static str {
    let name = resource.as_name();
    name.strip_prefix("RLIMIT_").unwrap_or(name)
}

/// The limit as a config line would give it: ``rlimit NOFILE 64`` or
/// ``rlimit CPU 10 unlimited``.
impl std::fmt::Display for Rlimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = |value: u64| match value {
            keywords::RLIMIT_UNLIMITED => "unlimited".to_owned(),
            value => value.to_string(),
        };
        write!(f, "rlimit {} {}", self.name(), value(self.soft))?;
        if self.hard != self.soft {
            write!(f, " {}", value(self.hard))?;
        }
        Ok(())
    }
}

/// Whether the child confines itself with Landlock (`landlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LandlockMode {
    /// Where the kernel has it.
    #[default]
    Auto,
    /// Or refuse to run.
    Require,
    Off,
}

/// Where the tracer and the program run (`cpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuChoice {
    /// Wherever the scheduler puts them.
    #[default]
    Any,
    /// Both on the CPU the jail starts on.
    Auto,
    /// Both on this CPU.
    Fixed(usize),
}

/// Everything a config file says for one ident: the global lines plus the
/// lines of the matching `ident <name>` blocks, applied in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The file this came from, for messages.
    pub file: PathBuf,
    /// `program <path>`: executable used when the command line names none.
    pub program: Option<String>,
    /// `arg <word>` lines in order; the first one is `argv[0]`.
    pub args: Vec<String>,
    /// `closefds`
    pub close_fds: bool,
    /// `passfd <n>` lines: inherited descriptors that reach the program.
    pub pass_fds: Vec<i32>,
    /// `clearenv`: start the environment empty (wherever the line stands).
    pub clear_env: bool,
    /// `setenv` / `unsetenv` in file order.
    pub env: Vec<EnvOp>,
    /// `see <path>` roots, absolute, as written (policy canonicalises them).
    pub see: Vec<PathBuf>,
    /// `write <path>` roots, absolute, as written.
    pub write: Vec<PathBuf>,
    /// `maxthreads <n>`: live threads and processes in the jail.
    pub max_threads: Option<u32>,
    /// `chdir <path>`
    pub chdir: Option<PathBuf>,
    /// `rlimit <NAME> <value> [<hard>]` lines in order.
    pub rlimits: Vec<Rlimit>,
    /// `timelimit <seconds>` (fractions allowed).
    pub time_limit: Option<Duration>,
    /// `wakeup`
    pub wakeup: bool,
    /// `template`: every run is a fresh fork of the program prepared up
    /// to its first wakeup (needs `wakeup`; docs/sessions.md).
    pub template: bool,
    /// `rehearsal <input>` / `rehearsal off`: the run a template rehearses
    /// once prepared, to learn which pages a run touches (docs/sessions.md).
    pub rehearsal: Rehearsal,
    /// `sockdir <path>`
    pub sock_dir: Option<PathBuf>,
    /// `http <url prefix>` lines.
    pub http: Vec<String>,
    /// `downloadpat <mkstemp pattern>`
    pub download_pattern: Option<String>,
    /// `httptimeout <seconds>`: a whole download.
    pub http_timeout: Option<Duration>,
    /// `httpconnecttimeout <seconds>`
    pub http_connect_timeout: Option<Duration>,
    /// `httpmaxsize <bytes>`
    pub http_max_size: Option<u64>,
    /// `cpu <auto|any|N>`
    pub cpu: CpuChoice,
    /// `landlock <auto|require|off>`
    pub landlock: LandlockMode,
    /// `report`: print each refusal (`[See given=canonical]`, `[Syscall name]`, ...).
    pub report: bool,
    /// `reportfile <path>`: the run's report is written there, as JSON
    /// lines (docs/report.md).
    pub report_file: Option<PathBuf>,
    /// `reportfd <n>`: the run's report is written on this inherited
    /// descriptor.
    pub report_fd: Option<i32>,
    /// `connect`, `bind` and `net` lines.
    pub network: network::Network,
    /// SHA-256 of the whole file's text (every ident's lines): sessions
    /// started under one version of a config are not reached through an
    /// edited one.
    pub text_sha256: [u8; 32],
    /// The lines the settings that later layers check came from, for
    /// their messages.
    pub lines: Lines,
    /// Lines that are valid but probably not what was meant (a `#` inside
    /// a value), from every block of the file.
    pub warnings: Vec<ConfigWarning>,
    /// `syscall`, `cputime`, `outputlimit`, `maxmemory`, `user`, `group`,
    /// `groups` and `caps` lines (issue 16).
    pub limits: limits::Limits,
    /// `cow`, `cowdir` and `onexit` lines (issue 14).
    pub cow: cow::CowSettings,
}

/// The config lines some settings came from (1-based), so that a check
/// made after parsing (a `see` root that does not exist, a `chdir` the
/// jail cannot see) can name its line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lines {
    /// One per [`Config::see`] root, in the same order.
    pub see: Vec<usize>,
    /// One per [`Config::write`] root, in the same order.
    pub write: Vec<usize>,
    /// The `chdir` line that applies.
    pub chdir: Option<usize>,
    /// The `cpu` line that applies.
    pub cpu: Option<usize>,
    /// The `reportfile` line that applies.
    pub report_file: Option<usize>,
    /// The `reportfd` line that applies.
    pub report_fd: Option<usize>,
    /// The `template` line.
    pub template: Option<usize>,
    /// The `rehearsal` line that applies.
    pub rehearsal: Option<usize>,
}

/// What a template's rehearsal is given (`rehearsal`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Rehearsal {
    /// No `rehearsal` line: a run with empty input.
    #[default]
    EmptyInput,
    /// `rehearsal <input>`: a run with this input (escapes as in `arg`).
    Input(String),
    /// `rehearsal off`: none; spare copies are not warmed.
    Off,
}

impl Config {
    /// Reads and parses `path`, keeping the lines that apply to `ident`
    /// (any bytes: an ident that is not UTF-8 matches no `ident` block).
    pub fn load(path: &Path, ident: impl AsRef<[u8]>) -> Result<Config, ConfigError> {
        let text = Config::read(path, path)?;
        Config::parse(path, &text, ident)
    }

    /// Reads the text of the config at `path` (at most
    /// [`MAX_CONFIG_BYTES`], UTF-8), naming it `shown` in errors.
    pub fn read(path: &Path, shown: &Path) -> Result<String, ConfigError> {
        // Read bytes rather than a string so that invalid UTF-8 can be
        // reported at its line and column instead of as a bare I/O error.
        // Never more than one byte past the cap: the file may be a device
        // or a pipe that never ends.
        // Room for a usual config at once (a `Take` gives no size hint:
        // from an empty Vec it read 32, 32, 64, ... bytes, 9 reads for a
        // 2.5 KiB file, on every run's client).
        let mut bytes = Vec::with_capacity(16 * 1024);
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|err| ConfigError::io(shown, &err))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::too_large(shown, MAX_CONFIG_BYTES));
        }
        String::from_utf8(bytes)
            .map_err(|err| ConfigError::not_utf8(shown, err.as_bytes(), &err.utf8_error()))
    }

    /// Parses the bytes of a config file (which must be UTF-8); `file` is
    /// used only in messages.
    pub fn from_bytes(
        file: &Path,
        bytes: Vec<u8>,
        ident: impl AsRef<[u8]>,
    ) -> Result<Config, ConfigError> {
        let text = String::from_utf8(bytes)
            .map_err(|err| ConfigError::not_utf8(file, err.as_bytes(), &err.utf8_error()))?;
        Config::parse(file, &text, ident)
    }

    /// Parses config text; `file` is used only in messages.
    pub fn parse(file: &Path, text: &str, ident: impl AsRef<[u8]>) -> Result<Config, ConfigError> {
        let directives = syntax::parse(file, text)?;
        let mut config = keywords::build(file, &directives, ident.as_ref())?;
        config
            .text_sha256
            .copy_from_slice(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
        Ok(config)
    }
}
