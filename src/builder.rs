//! A jail's policy in code: [`JailBuilder`] writes config lines and parses
//! them as a file would be, so a policy built in code gets every check
//! and every error message of the config format (a bad value names the
//! builder call's line and what was expected), and means exactly what
//! the same lines in a file mean.
//!
//! ```
//! use sandbox::Jail;
//! use std::time::Duration;
//!
//! let jail = Jail::builder()
//!     .see("/usr")
//!     .see("/lib")
//!     .write("/tmp")
//!     .timelimit(Duration::from_millis(1500))
//!     .maxthreads(16)
//!     .build()?;
//! assert_eq!(jail.config.max_threads, Some(16));
//!
//! // The same from text, as in a file:
//! let same = Jail::from_config_str("see /usr\nsee /lib\nwrite /tmp\n", "bot")?;
//! assert_eq!(same.policy.see, jail.policy.see);
//! # Ok::<(), sandbox::Error>(())
//! ```

use crate::error::Error;
use crate::jail::Jail;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// The file name config errors name for a policy built in code.
pub const BUILDER_FILE: &str = "<builder>";
/// The file name config errors name for [`Jail::from_config_str`].
pub const STRING_FILE: &str = "<string>";

/// Builds a [`Jail`] in code; see the [module docs](self).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct JailBuilder {
    /// The config lines so far, one per call.
    lines: Vec<String>,
    /// The first value no config line can hold (a newline in a path).
    unwritable: Option<String>,
    /// The `sandbox` binary [`Jail::command`] runs ([`JailBuilder::binary`]).
    binary: Option<std::path::PathBuf>,
}

impl Jail {
    /// A policy built in code ([`JailBuilder`]).
    pub fn builder() -> JailBuilder {
        JailBuilder::default()
    }

    /// Parses `text` as a config file's contents for `ident`; errors
    /// name the file as `<string>`.
    pub fn from_config_str(text: &str, ident: impl AsRef<[u8]>) -> Result<Jail, Error> {
        Jail::from_text(Path::new(STRING_FILE), text.to_owned(), ident)
    }
}

impl JailBuilder {
    /// Adds one config line as it would appear in a file (any keyword of
    /// docs/config.md); a line break in it is refused at [`build`](Self::build).
    pub fn line(mut self, line: impl AsRef<str>) -> Self {
        let line = line.as_ref();
        if line.contains(['\n', '\r']) && self.unwritable.is_none() {
            self.unwritable = Some(format!("{line:?} holds a line break"));
        }
        self.lines.push(line.to_owned());
        self
    }

    fn with_path(mut self, keyword: &str, path: &Path) -> Self {
        let bytes = path.as_os_str().as_bytes();
        match std::str::from_utf8(bytes) {
            Ok(text) => self.line(format!("{keyword} {text}")),
            Err(_) => {
                // The config format is text: a path that is not UTF-8
                // cannot be written in it.
                if self.unwritable.is_none() {
                    self.unwritable = Some(format!(
                        "`{keyword}` path {:?} is not UTF-8",
                        OsStr::from_bytes(bytes)
                    ));
                }
                self
            }
        }
    }

    /// `see <path>`: the subtree is visible.
    pub fn see(self, path: impl AsRef<Path>) -> Self {
        self.with_path("see", path.as_ref())
    }

    /// `write <path>`: the subtree is writable (and only writable; add
    /// [`see`](Self::see) to read it too).
    pub fn write(self, path: impl AsRef<Path>) -> Self {
        self.with_path("write", path.as_ref())
    }

    /// `chdir <path>`: the program's working directory.
    pub fn chdir(self, path: impl AsRef<Path>) -> Self {
        self.with_path("chdir", path.as_ref())
    }

    /// `timelimit`: wall-clock time before the jail is killed.
    pub fn timelimit(self, limit: Duration) -> Self {
        self.line(format!("timelimit {}", limit.as_secs_f64()))
    }

    /// `maxthreads`: threads and processes alive at once.
    pub fn maxthreads(self, max: u32) -> Self {
        self.line(format!("maxthreads {max}"))
    }

    /// `rlimit <name> <soft> [<hard>]`; `None` is `unlimited`.
    pub fn rlimit(self, name: &str, soft: Option<u64>, hard: Option<u64>) -> Self {
        let value = |limit: Option<u64>| limit.map_or("unlimited".to_owned(), |v| v.to_string());
        self.line(format!("rlimit {name} {} {}", value(soft), value(hard)))
    }

    /// `setenv <name> <value>` for the program.
    pub fn setenv(self, name: &str, value: &str) -> Self {
        self.line(format!("setenv {name} {value}"))
    }

    /// `unsetenv <name>`.
    pub fn unsetenv(self, name: &str) -> Self {
        self.line(format!("unsetenv {name}"))
    }

    /// `clearenv`: the program starts from an empty environment.
    pub fn clearenv(self) -> Self {
        self.line("clearenv")
    }

    /// `connect ...`: a destination the program may reach, as the config
    /// writes it (`tcp example.org:443`, `unix:/run/bot.sock`).
    pub fn connect(self, destination: &str) -> Self {
        self.line(format!("connect {destination}"))
    }

    /// `bind ...`: ports the program may listen on (`tcp 8000-8080`).
    pub fn bind(self, ports: &str) -> Self {
        self.line(format!("bind {ports}"))
    }

    /// `net loopback`: a loopback among the program's own processes.
    pub fn net_loopback(self) -> Self {
        self.line("net loopback")
    }

    /// `report`: denials are printed on the jail's stderr.
    pub fn report(self) -> Self {
        self.line("report")
    }

    /// The `sandbox` binary the jail's [`Jail::command`] runs (see
    /// [`Jail::with_binary`]); not a config line.
    pub fn binary(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The config text the builder wrote, as a file would hold it.
    pub fn config_text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    /// Parses the lines as a config file and compiles the policy. Errors
    /// name the file `<builder>` and the call's line (the first call is
    /// line 1).
    pub fn build(self) -> Result<Jail, Error> {
        if let Some(problem) = self.unwritable {
            return Err(Error::Builder(format!("{BUILDER_FILE}: {problem}")));
        }
        let jail = Jail::from_text(Path::new(BUILDER_FILE), self.config_text(), "")?;
        Ok(match self.binary {
            Some(binary) => jail.with_binary(binary),
            None => jail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_the_builder_line_and_what_was_expected() {
        let error = Jail::builder()
            .see("/usr")
            .see("relative/path")
            .build()
            .expect_err("a relative path");
        let message = error.to_string();
        assert!(message.starts_with("<builder>:2"), "{message}");
        let error = Jail::builder().rlimit("NOPE", Some(1), None).build();
        assert!(error.is_err_and(|error| error.to_string().contains("<builder>:1")));
    }

    #[test]
    fn what_no_config_line_can_hold_is_an_error() {
        let error = Jail::builder().see("/tmp/a\nwrite /").build();
        assert!(
            matches!(&error, Err(Error::Builder(problem)) if problem.contains("line break")),
            "{error:?}"
        );
        let not_utf8 = OsStr::from_bytes(b"/tmp/\xff");
        let error = Jail::builder().write(not_utf8).build();
        assert!(matches!(error, Err(Error::Builder(_))), "{error:?}");
    }

    #[test]
    fn code_and_text_mean_the_same() {
        let built = Jail::builder()
            .see("/usr")
            .write("/tmp")
            .timelimit(Duration::from_millis(2500))
            .clearenv()
            .setenv("LANG", "C.UTF-8")
            .build()
            .expect("a policy");
        let text = "see /usr\nwrite /tmp\ntimelimit 2.5\nclearenv\nsetenv LANG C.UTF-8\n";
        let parsed = Jail::from_config_str(text, "").expect("a policy");
        assert_eq!(built.policy.see, parsed.policy.see);
        assert_eq!(built.policy.write, parsed.policy.write);
        assert_eq!(built.config.time_limit, parsed.config.time_limit);
        assert_eq!(built.config.time_limit, Some(Duration::from_millis(2500)));
        let error = Jail::from_config_str("see /usr\nbogus line\n", "x").expect_err("bad");
        assert!(error.to_string().starts_with("<string>:2"), "{error}");
    }
}
