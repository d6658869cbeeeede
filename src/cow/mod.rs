//! Copy-on-write trees (`cow`, issue 14): the layer on disk.
//!
//! Owns everything a layer is apart from the running jail: where it lives
//! and its layout ([`layer`]), what the real trees held when it was made
//! ([`manifest`]), what the program changed ([`changes`], a pure function
//! over a manifest and a scan of a mirror), applying the changes to the
//! real trees ([`commit`](mod@commit)) and copying a file up before it is
//! written ([`copyup`], which the tracer calls), and the count of
//! `cowquota` ([`quota`]). The tracer shows each mirror in
//! place of its real tree; see docs/cow.md.

pub mod ask;
pub mod changes;
pub mod commit;
pub mod copyup;
pub mod layer;
pub mod manifest;
pub mod quota;

use nix::errno::Errno;
use std::fmt;
use std::path::{Path, PathBuf};

pub use commit::Conflict;
pub use layer::Layer;

/// A layer that cannot be made, read, applied or removed.
#[derive(Debug)]
pub enum CowError {
    /// A filesystem call failed.
    Io {
        what: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    /// The directory layers live in is not safe to use.
    UnsafeBase { path: PathBuf, problem: String },
    /// Another run uses the layer.
    Busy { dir: PathBuf },
    /// The layer was made for other `cow` trees than the config has now.
    OtherTrees { dir: PathBuf },
    /// `changes`, `commit` or `discard` found no layer.
    NoLayer { dir: PathBuf },
    /// A layer file that cannot be read back (at this line).
    Corrupt { path: PathBuf, line: usize },
    /// A commit met changes the real tree no longer allows; nothing was
    /// applied.
    Conflicts(Vec<Conflict>),
}

impl fmt::Display for CowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CowError::Io { what, path, errno } => {
                write!(f, "cow: cannot {what} {}: {}", path.display(), errno.desc())
            }
            CowError::UnsafeBase { path, problem } => write!(
                f,
                "cow: the layer directory {} cannot be used: {problem}; expected a directory of \
                 yours that neither group nor others can write (`chmod 700 {0}`, or a `cowdir` \
                 line naming another)",
                path.display()
            ),
            CowError::Busy { dir } => write!(
                f,
                "cow: the layer {} is in use by another run of this config and ident",
                dir.display()
            ),
            CowError::OtherTrees { dir } => write!(
                f,
                "cow: the layer {} was made for other `cow` trees; commit or discard it first \
                 (`sandbox <config> commit|discard <ident>` with the config it was made for)",
                dir.display()
            ),
            CowError::NoLayer { dir } => write!(f, "cow: no layer at {}", dir.display()),
            CowError::Corrupt { path, line } => {
                write!(f, "cow: {}:{line} cannot be read back", path.display())
            }
            CowError::Conflicts(conflicts) => {
                write!(f, "cow: {} conflict(s), nothing applied", conflicts.len())?;
                for conflict in conflicts {
                    write!(f, "\n{conflict}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CowError {}

/// The changes of every tree of `layer`, as summary lines.
pub fn summary(layer: &Layer) -> Result<Vec<String>, CowError> {
    let mut lines = Vec::new();
    for tree in &layer.trees {
        let found = changes::changes(&tree.manifest, &layer::scan(&tree.mirror)?);
        lines.extend(changes::summary(&tree.real, &found));
    }
    Ok(lines)
}

/// Applies every tree of `layer` to its real tree, then removes the
/// layer. Conflicts in any tree: nothing of that tree is applied and the
/// layer stays ([`CowError::Conflicts`]).
pub fn commit(layer: Layer) -> Result<(), CowError> {
    let mut all = Vec::new();
    let mut planned = Vec::new();
    for tree in &layer.trees {
        let found = changes::changes(&tree.manifest, &layer::scan(&tree.mirror)?);
        all.extend(commit::conflicts(tree, &found));
        planned.push(found);
    }
    if !all.is_empty() {
        return Err(CowError::Conflicts(all));
    }
    for (tree, found) in layer.trees.iter().zip(&planned) {
        commit::apply(tree, found)?;
    }
    layer.remove()
}

/// `onexit ask`: the dialogue on the controlling terminal (`/dev/tty`,
/// whatever the program's stdio were), and its decision carried out.
/// Without a terminal the layer is kept, and said so.
fn ask_on_terminal(layer: Layer) -> Result<(), CowError> {
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty");
    let Ok(terminal) = terminal else {
        crate::notice::line(&format!(
            "sandbox: `onexit ask` has no terminal to ask on: the layer {} is kept \
             (`sandbox <config> changes|commit|discard <ident>`)",
            layer.dir.display()
        ));
        return Ok(());
    };
    let mut trees = Vec::new();
    for tree in &layer.trees {
        trees.push(ask::TreeChanges {
            real: &tree.real,
            mirror: &tree.mirror,
            changes: changes::changes(&tree.manifest, &layer::scan(&tree.mirror)?),
        });
    }
    if trees.iter().all(|tree| tree.changes.is_empty()) {
        return layer.remove();
    }
    let mut output = &terminal;
    let mut input = std::io::BufReader::new(&terminal);
    let decision = ask::dialogue(&trees, &mut input, &mut output).unwrap_or(ask::Decision::Keep);
    let chosen = match decision {
        ask::Decision::Keep => return Ok(()),
        ask::Decision::Discard => {
            drop(trees);
            return layer.remove();
        }
        ask::Decision::CommitAll => trees.into_iter().map(|tree| tree.changes).collect(),
        ask::Decision::CommitSome(chosen) => chosen,
    };
    let mut conflicts = Vec::new();
    for (tree, changes) in layer.trees.iter().zip(&chosen) {
        conflicts.extend(commit::conflicts(tree, changes));
    }
    if !conflicts.is_empty() {
        return Err(CowError::Conflicts(conflicts));
    }
    for (tree, changes) in layer.trees.iter().zip(&chosen) {
        commit::apply(tree, changes)?;
    }
    layer.remove()
}

/// Where the layer of `config` (its path, canonical where it can be) and
/// `ident` lives below `base`.
pub fn layer_dir(base: &Path, config: &Path, ident: &[u8]) -> PathBuf {
    let config = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    base.join(layer::layer_name(&config, ident))
}

/// What `onexit` asks of `layer` at the end of a run. Under `report` the
/// change summary is printed first (`[Cow] A path (n bytes)` lines).
pub fn on_exit(
    layer: Layer,
    on_exit: crate::config::cow::OnExit,
    report: bool,
) -> Result<(), CowError> {
    use crate::config::cow::OnExit;
    if report {
        for line in summary(&layer)? {
            crate::notice::line(&format!("[Cow] {line}"));
        }
    }
    match on_exit {
        OnExit::Keep => Ok(()),
        OnExit::Ask => ask_on_terminal(layer),
        OnExit::Discard => layer.remove(),
        OnExit::Commit => commit(layer),
    }
}
