//! Policy: pure decisions over plain data.
//!
//! Owns what the jail allows: which canonical paths are visible or
//! writable, and the verdict for each resolved operand of a syscall.
//! It never touches a process: the tracer resolves paths and asks here.
//! Its only I/O is canonicalising the configured roots once, in
//! [`Policy::compile`].

mod decide;
mod paths;

pub use decide::{Denial, DenialKind, Target, Verdict};
pub use paths::normalize_lexically;

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
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::BadRoot {
                keyword,
                path,
                reason,
            } => write!(f, "`{keyword} {}`: {reason}", path.display()),
        }
    }
}

impl std::error::Error for PolicyError {}

/// The filesystem view of one jail: canonical `see` and `write` roots.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Canonical roots that are visible (the `write` roots are added too:
    /// `see` includes everything under `write`).
    pub see: Vec<PathBuf>,
    /// Canonical roots that are writable.
    pub write: Vec<PathBuf>,
    /// Print each denial (`report`).
    pub report: bool,
}

impl Policy {
    /// Canonicalises the roots of `config` once. A root that does not exist
    /// yet is kept in lexical normal form, so a directory made later by
    /// someone outside the jail still works.
    pub fn compile(config: &Config) -> Result<Policy, PolicyError> {
        let write: Vec<PathBuf> = config
            .write
            .iter()
            .map(|root| canonical_root("write", root))
            .collect::<Result<_, _>>()?;
        let mut see: Vec<PathBuf> = config
            .see
            .iter()
            .map(|root| canonical_root("see", root))
            .collect::<Result<_, _>>()?;
        see.extend(write.iter().cloned());
        Ok(Policy {
            see,
            write,
            report: config.report,
        })
    }
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
