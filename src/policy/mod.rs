//! Policy: pure decisions over plain data.
//!
//! Owns what the jail allows: which canonical paths are visible or
//! writable, and the verdict for each resolved operand of a syscall.
//! It never touches a process: the tracer resolves paths and asks here.
//! Its only I/O is canonicalising the configured roots once, in
//! [`Policy::compile`], and resolving the network lines once
//! ([`network::NetworkPolicy::resolve`]).

mod cow;
mod decide;
pub mod network;
mod paths;

pub use decide::{Denial, DenialKind, Reach, Standing, Target, Verdict};

pub use cow::{CowMap, CowRoot};
pub use paths::{is_within, normalize_lexically};

use crate::config::Config;
use std::fmt;
use std::path::{Path, PathBuf};

/// A policy that cannot be built from a config.
#[derive(Debug)]
pub enum PolicyError {
    /// A configured root is not usable.
    BadRoot {
        keyword: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The `chdir` directory cannot be the program's working directory.
    BadChdir {
        file: PathBuf,
        line: Option<usize>,
        path: PathBuf,
        problem: ChdirProblem,
    },
    /// A `connect` line's host name cannot be used.
    Network(network::NetworkError),
}

/// Why a `chdir` line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChdirProblem {
    /// Nothing is there (or the jail itself cannot reach it).
    Missing(String),
    NotADirectory,
    /// It exists at this canonical path, which is hidden in the jail: no
    /// `see` or `write` root covers it or lies below it.
    NotVisible(PathBuf),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::BadRoot {
                keyword,
                path,
                reason,
            } => write!(f, "`{keyword} {}`: {reason}", path.display()),
            PolicyError::BadChdir {
                file,
                line,
                path,
                problem,
            } => {
                write!(f, "{}", file.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                write!(f, ": `chdir {}`: ", path.display())?;
                match problem {
                    ChdirProblem::Missing(reason) => {
                        write!(f, "{reason}; expected an existing directory")
                    }
                    ChdirProblem::NotADirectory => f.write_str("not a directory"),
                    ChdirProblem::NotVisible(canonical) => write!(
                        f,
                        "{} is hidden in the jail; expected a directory a `see` or `write` line \
                         covers",
                        canonical.display()
                    ),
                }
            }
            PolicyError::Network(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for PolicyError {}

impl From<network::NetworkError> for PolicyError {
    fn from(error: network::NetworkError) -> PolicyError {
        PolicyError::Network(error)
    }
}

/// The filesystem view of one jail: canonical `see` and `write` roots.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Canonical roots that are visible.
    pub see: Vec<PathBuf>,
    /// Canonical roots that are writable; not visible unless also under a
    /// `see` root, as in the original tool.
    pub write: Vec<PathBuf>,
    /// Roots under `/proc/self` or `/proc/thread-self`: they name each
    /// jailed thread's own entry, so they cannot be canonicalised once
    /// (that would name the jail's own process).
    pub own_proc: Vec<OwnProcRoot>,
    /// Print each denial (`report`).
    pub report: bool,
    /// `cow` trees (canonical), seen and written through their mirrors
    /// once the layer is open ([`CowMap`]); see-only until then.
    pub cow: CowMap,
}

/// A root below `/proc/self` (or `/proc/thread-self`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnProcRoot {
    /// `/proc/thread-self`: the thread's own `task/<tid>` entry; otherwise
    /// its process's `/proc/<tgid>`.
    pub per_thread: bool,
    /// The rest of the root below that entry (empty: the whole entry).
    pub rest: PathBuf,
    pub writable: bool,
}

/// The thread a path is judged for: its process and its own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asker {
    pub tgid: u32,
    pub tid: u32,
}

impl Policy {
    /// Canonicalises the roots of `config` once. A root that does not exist
    /// yet is kept in lexical normal form, so a directory made later by
    /// someone outside the jail still works.
    pub fn compile(config: &Config) -> Result<Policy, PolicyError> {
        let mut own_proc = Vec::new();
        let mut write = Vec::new();
        let mut see = Vec::new();
        for (keyword, roots, writable) in
            [("write", &config.write, true), ("see", &config.see, false)]
        {
            for root in roots {
                if let Some(own) = own_proc_root(root, writable) {
                    own_proc.push(own);
                    continue;
                }
                let canonical = canonical_root(keyword, root)?;
                if writable {
                    write.push(canonical);
                } else {
                    see.push(canonical);
                }
            }
        }
        let mut cow = CowMap::default();
        for tree in &config.cow.trees {
            cow.roots.push(CowRoot {
                tree: canonical_root("cow", tree)?,
                mirror: None,
            });
        }
        let policy = Policy {
            see,
            write,
            own_proc,
            report: config.report,
            cow,
        };
        policy.check_chdir(config)?;
        Ok(policy)
    }

    /// The `chdir` directory must exist and not be hidden: the program
    /// would otherwise start in a directory that does not exist for it (or
    /// the child's `chdir` fail with a bare errno). A write-only directory
    /// (a drop box) and an ancestor of a root (`chdir /`) exist for the
    /// program, as they did for the original tool: existing configs use
    /// them.
    fn check_chdir(&self, config: &Config) -> Result<(), PolicyError> {
        let Some(dir) = &config.chdir else {
            return Ok(());
        };
        let bad = |problem| PolicyError::BadChdir {
            file: config.file.clone(),
            line: config.lines.chdir,
            path: dir.clone(),
            problem,
        };
        // Each process's own entry: judged per thread, not here.
        if own_proc_root(dir, false).is_some() {
            return Ok(());
        }
        let canonical = std::fs::canonicalize(dir).map_err(|error| {
            bad(ChdirProblem::Missing(
                nix::errno::Errno::from_raw(error.raw_os_error().unwrap_or(libc::ENOENT))
                    .desc()
                    .to_lowercase(),
            ))
        })?;
        if self.reach(&canonical).standing == Standing::Hidden {
            return Err(bad(ChdirProblem::NotVisible(canonical)));
        }
        if !canonical.is_dir() {
            return Err(bad(ChdirProblem::NotADirectory));
        }
        Ok(())
    }

    /// A root as written in a config, canonical as [`Policy::compile`]
    /// makes it (in lexical normal form when it does not exist).
    pub fn canonical_root(root: &Path) -> PathBuf {
        std::fs::canonicalize(root).unwrap_or_else(|_| normalize_lexically(root))
    }
}

/// `root` as a root of each thread's own `/proc` entry, if it is one.
fn own_proc_root(root: &Path, writable: bool) -> Option<OwnProcRoot> {
    if !root.is_absolute() {
        return None;
    }
    let normal = normalize_lexically(root);
    let (per_thread, rest) = if let Ok(rest) = normal.strip_prefix("/proc/self") {
        (false, rest)
    } else {
        (true, normal.strip_prefix("/proc/thread-self").ok()?)
    };
    Some(OwnProcRoot {
        per_thread,
        rest: rest.to_path_buf(),
        writable,
    })
}

fn canonical_root(keyword: &'static str, root: &Path) -> Result<PathBuf, PolicyError> {
    if !root.is_absolute() {
        return Err(PolicyError::BadRoot {
            keyword,
            path: root.to_path_buf(),
            reason: "the path must be absolute".into(),
        });
    }
    match std::fs::canonicalize(root) {
        Ok(canonical) => Ok(canonical),
        Err(_) => Ok(normalize_lexically(root)),
    }
}
