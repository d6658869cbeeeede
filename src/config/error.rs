//! [`ConfigError`]: the one error type of the config layer.
//!
//! Owns the message format every config problem is shown in:
//! `file:line:col: problem; expected X, found Y`, one lowercase line, where
//! each part after the problem appears only when it says something. It does
//! not decide what is wrong; `syntax` and `keywords` do.

use std::fmt;
use std::io;
use std::path::Path;

/// A config file that cannot be used, and where and why.
///
/// Display gives one line such as
/// ``conf/x.conf:3:1: unknown keyword `foo`; expected one of program, arg, ...``
/// or ``x.conf:7:5: `see` needs an absolute path, found `usr/lib` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as it was named to [`Config::load`](super::Config::load) or
    /// [`Config::parse`](super::Config::parse). (A `Box<Path>` rather than a
    /// `PathBuf` keeps the error under clippy's `result_large_err` limit.)
    pub file: Box<Path>,
    /// 1-based line, when the problem is on a line.
    pub line: Option<usize>,
    /// 1-based column in characters (a tab counts as one), when known.
    pub col: Option<usize>,
    /// What is wrong, e.g. ``unknown keyword `foo` ``.
    pub problem: String,
    /// What would have been accepted, e.g. `an absolute path`.
    pub expected: Option<String>,
    /// What was there instead, quoted, e.g. `` `usr/lib` `` or `end of line`.
    pub found: Option<String>,
}

impl ConfigError {
    /// A problem at `line`:`col` of `file`; add details with
    /// [`expected`](Self::expected) and [`found`](Self::found).
    pub(crate) fn at(file: &Path, line: usize, col: usize, problem: impl Into<String>) -> Self {
        ConfigError {
            file: file.into(),
            line: Some(line),
            col: Some(col),
            problem: problem.into(),
            expected: None,
            found: None,
        }
    }

    pub(crate) fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub(crate) fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    /// The file at `path` could not be read.
    pub fn io(path: &Path, err: &io::Error) -> Self {
        let (problem, expected) = if err.kind() == io::ErrorKind::InvalidData {
            // `read_to_string` reports bytes that are not UTF-8 this way.
            (
                "the file is not valid UTF-8".to_owned(),
                Some("UTF-8 text".to_owned()),
            )
        } else {
            (
                format!(
                    "cannot read the file: {}",
                    lowercase_first(&err.to_string())
                ),
                None,
            )
        };
        ConfigError {
            file: path.into(),
            line: None,
            col: None,
            problem,
            expected,
            found: None,
        }
    }

    /// The file at `path` is longer than `limit` bytes.
    pub fn too_large(path: &Path, limit: u64) -> Self {
        ConfigError {
            file: path.into(),
            line: None,
            col: None,
            problem: if limit.is_multiple_of(1 << 20) {
                format!("the file is larger than {} MiB", limit >> 20)
            } else {
                format!("the file is larger than {limit} bytes")
            },
            expected: Some(format!("a config of at most {limit} bytes")),
            found: None,
        }
    }

    /// `bytes` (the whole file at `path`) are not UTF-8; points at the first
    /// bad byte.
    pub fn not_utf8(path: &Path, bytes: &[u8], err: &std::str::Utf8Error) -> Self {
        let valid = &bytes[..err.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&byte| byte == b'\n').count();
        let line_start = valid
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |newline| newline + 1);
        // The prefix is valid UTF-8 by definition of `valid_up_to`.
        let col = 1 + String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count();
        let found = bytes.get(err.valid_up_to()).map_or_else(
            || "a cut-off character".to_owned(),
            |byte| format!("byte 0x{byte:02x}"),
        );
        ConfigError::at(path, line, col, "the file is not valid UTF-8")
            .expected("UTF-8 text")
            .found(found)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.problem)?;
        match (&self.expected, &self.found) {
            (Some(expected), Some(found)) => write!(f, "; expected {expected}, found {found}"),
            (Some(expected), None) => write!(f, "; expected {expected}"),
            (None, Some(found)) => write!(f, ", found {found}"),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A line that is accepted but probably not meant, or a setting that will
/// not do what it says on this machine. Not an error: existing configs keep
/// running.
///
/// Display gives one line such as
/// ``conf/x.conf:4: `see /usr # programs` names a path that does not exist``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: Box<Path>,
    /// 1-based line.
    pub line: usize,
    /// What is odd, lowercase, without the position.
    pub problem: String,
}

impl ConfigWarning {
    pub fn new(file: &Path, line: usize, problem: impl Into<String>) -> Self {
        ConfigWarning {
            file: file.into(),
            line,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.problem)
    }
}

/// Characters of a quoted value shown in a message; longer ones are cut
/// there and end in `...`, so a megabyte-long token makes a short line.
pub(crate) const SHOWN_CHARS: usize = 60;

/// `text` in backticks, with control characters escaped so that a message
/// stays on one line and cannot drive the terminal, cut after
/// [`SHOWN_CHARS`] characters.
pub(crate) fn quoted(text: &str) -> String {
    format!("`{}`", shortened(text))
}

/// `text` with control characters escaped, cut after [`SHOWN_CHARS`]
/// characters (then `...`).
pub(crate) fn shortened(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(SHOWN_CHARS * 4) + 3);
    for (index, c) in text.chars().enumerate() {
        if index == SHOWN_CHARS {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// OS and C library messages start with a capital ("No such file");
/// ours are lowercase.
pub(crate) fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_only_the_parts_that_are_present() {
        let file = Path::new("conf/x.conf");
        let cases = [
            (
                ConfigError::at(file, 3, 1, "unknown keyword `foo`")
                    .expected("one of program, arg"),
                "conf/x.conf:3:1: unknown keyword `foo`; expected one of program, arg",
            ),
            (
                ConfigError::at(file, 7, 5, "`see` needs an absolute path").found("`usr/lib`"),
                "conf/x.conf:7:5: `see` needs an absolute path, found `usr/lib`",
            ),
            (
                ConfigError::at(file, 2, 4, "missing argument for `see`")
                    .expected("`see <path>`")
                    .found("end of line"),
                "conf/x.conf:2:4: missing argument for `see`; expected `see <path>`, found end of line",
            ),
            (
                ConfigError::at(file, 1, 1, "`end` without an open `ident` block"),
                "conf/x.conf:1:1: `end` without an open `ident` block",
            ),
        ];
        for (error, shown) in cases {
            assert_eq!(error.to_string(), shown);
        }
    }

    #[test]
    fn io_errors_have_no_position_and_stay_lowercase() {
        let err = io::Error::from(io::ErrorKind::NotFound);
        let shown = ConfigError::io(Path::new("missing.conf"), &err).to_string();
        assert!(
            shown.starts_with("missing.conf: cannot read the file: "),
            "{shown}"
        );
        assert_eq!(shown, shown.to_lowercase());

        let os = io::Error::from_raw_os_error(libc::ENOENT);
        let shown = ConfigError::io(Path::new("m.conf"), &os).to_string();
        assert!(shown.contains("no such file or directory"), "{shown}");
    }

    #[test]
    fn invalid_data_means_not_utf8() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        );
        let shown = ConfigError::io(Path::new("x.conf"), &err).to_string();
        assert_eq!(
            shown,
            "x.conf: the file is not valid UTF-8; expected UTF-8 text"
        );
    }

    #[test]
    fn not_utf8_points_at_the_first_bad_byte() {
        let bytes: &[u8] = b"see /usr\nsee /\xc3\xa9t\xff\n";
        let Err(utf8) = String::from_utf8(bytes.to_vec()).map_err(|err| err.utf8_error()) else {
            panic!("test input must be invalid");
        };
        let error = ConfigError::not_utf8(Path::new("x.conf"), bytes, &utf8);
        assert_eq!(
            error.to_string(),
            "x.conf:2:8: the file is not valid UTF-8; expected UTF-8 text, found byte 0xff"
        );
    }

    #[test]
    fn quoting_escapes_control_characters() {
        assert_eq!(quoted("a\tb\u{1b}[2J"), "`a\\tb\\u{1b}[2J`");
        assert_eq!(quoted("/tmp/x y"), "`/tmp/x y`");
    }

    #[test]
    fn quoting_cuts_long_values() {
        let exact = "é".repeat(SHOWN_CHARS);
        assert_eq!(quoted(&exact), format!("`{exact}`"));
        let long = "x".repeat(10 << 20);
        assert_eq!(quoted(&long), format!("`{}...`", "x".repeat(SHOWN_CHARS)));
    }
}
