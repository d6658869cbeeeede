//! The keywords of issue 14, copy-on-write trees: `cow`, `cowdir`,
//! `onexit` and `cowquota`.
//!
//! Owns the plain data these lines give ([`CowSettings`]) and their checks:
//! a `cow` tree that overlaps a `write` tree or another `cow` tree, a layer
//! directory (`cowdir`, or the default one) inside or above a tree the
//! program sees, an `onexit` value the jail does not know, a `cowquota`
//! that is no number or stands in a config without `cow` trees. The checks here
//! are lexical (the paths as written); `policy` checks the canonical paths
//! again when the jail starts, and `cow` checks who owns the directory.

use std::path::{Path, PathBuf};

use super::Config;
use super::error::{ConfigError, quoted};
use super::keywords::Builder;
use super::syntax::Word;

/// What happens to a layer when its run ends (`onexit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExit {
    /// The changes are applied to the real trees and the layer dropped.
    Commit,
    /// The layer is dropped.
    Discard,
    /// The layer stays, for `sandbox <config> commit|discard <ident>` or
    /// the next run with the same ident.
    #[default]
    Keep,
    /// Asked on the terminal; kept when there is none.
    Ask,
}

impl OnExit {
    /// The word a config writes.
    pub fn name(self) -> &'static str {
        match self {
            OnExit::Commit => "commit",
            OnExit::Discard => "discard",
            OnExit::Keep => "keep",
            OnExit::Ask => "ask",
        }
    }
}

/// What the `cow`, `cowdir` and `onexit` lines that apply say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CowSettings {
    /// `cow <dir>` trees, absolute, as written, in file order.
    pub trees: Vec<PathBuf>,
    /// `cowdir <dir>`: where layers are kept.
    pub dir: Option<PathBuf>,
    /// `onexit <commit|discard|keep|ask>`.
    pub on_exit: OnExit,
    /// `cowquota <bytes>`: the most bytes the layer's private regular
    /// files may hold together (docs/cow.md).
    pub quota: Option<u64>,
    /// Where the lines stand, for messages (line, column).
    pub lines: CowLines,
}

/// Where the lines of [`CowSettings`] stand: line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CowLines {
    /// One per [`CowSettings::trees`] entry.
    pub trees: Vec<(usize, usize)>,
    pub dir: Option<(usize, usize)>,
    pub on_exit: Option<(usize, usize)>,
    pub quota: Option<(usize, usize)>,
}

impl CowSettings {
    /// Whether the config has any `cow` line.
    pub fn is_active(&self) -> bool {
        !self.trees.is_empty()
    }
}

/// The directory layers are kept in when no `cowdir` line names one.
pub fn default_layer_base(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/sandbox-cow-{uid}"))
}

pub(super) fn apply_cow(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    let at = builder.at();
    let cow = &mut builder.settings().cow;
    cow.trees.push(PathBuf::from(path.text));
    cow.lines.trees.push(at);
    Ok(())
}

pub(super) fn apply_cowdir(builder: &mut Builder<'_>, path: Word<'_>) -> Result<(), ConfigError> {
    let at = builder.at();
    let cow = &mut builder.settings().cow;
    cow.dir = Some(PathBuf::from(path.text));
    cow.lines.dir = Some(at);
    Ok(())
}

pub(super) fn apply_onexit(builder: &mut Builder<'_>, word: Word<'_>) -> Result<(), ConfigError> {
    let on_exit = match word.text {
        "commit" => OnExit::Commit,
        "discard" => OnExit::Discard,
        "keep" => OnExit::Keep,
        "ask" => OnExit::Ask,
        _ => {
            return Err(builder
                .error(word.col, "unknown value for `onexit`")
                .expected("`commit`, `discard`, `keep` or `ask`")
                .found(quoted(word.text)));
        }
    };
    let at = builder.at();
    let cow = &mut builder.settings().cow;
    cow.on_exit = on_exit;
    cow.lines.on_exit = Some(at);
    Ok(())
}

/// `cowquota <bytes>`: any whole number of bytes, 0 (nothing may grow
/// in the layer) to `u64::MAX` (no limit in practice, but every write
/// still stops).
pub(super) fn apply_cowquota(
    builder: &mut Builder<'_>,
    bytes: Word<'_>,
) -> Result<(), ConfigError> {
    let quota = super::keywords::whole_number(bytes.text).ok_or_else(|| {
        builder
            .error(bytes.col, "bad size for `cowquota`")
            .expected(format!("a whole number of bytes from 0 to {}", u64::MAX))
            .found(quoted(bytes.text))
    })?;
    let at = builder.at();
    let cow = &mut builder.settings().cow;
    cow.quota = Some(quota);
    cow.lines.quota = Some(at);
    Ok(())
}

/// `path` without `.`, `..` (against the component before) and repeated
/// slashes, not looking at the filesystem.
fn normalize_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Whether `a` and `b` (normalised) are one inside the other.
fn overlap(a: &Path, b: &Path) -> bool {
    let (a, b) = (normalize_lexically(a), normalize_lexically(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// The checks that need every line: overlaps between trees, where the
/// layer directory stands.
pub(super) fn finish(file: &Path, config: &Config, uid: u32) -> Result<(), ConfigError> {
    let cow = &config.cow;
    for (index, tree) in cow.trees.iter().enumerate() {
        let (line, col) = cow.lines.trees.get(index).copied().unwrap_or((0, 0));
        if let Some((write, write_line)) = config
            .write
            .iter()
            .zip(&config.lines.write)
            .find(|(write, _)| overlap(tree, write))
        {
            return Err(ConfigError::at(
                file,
                line,
                col,
                format!(
                    "{} overlaps {} (line {write_line})",
                    quoted(&format!("cow {}", tree.display())),
                    quoted(&format!("write {}", write.display()))
                ),
            )
            .expected(
                "a `cow` tree that neither lies in a `write` tree nor holds one (a tree is \
                 written either in place or through a layer)",
            ));
        }
        if let Some((other, (other_line, _))) = cow
            .trees
            .iter()
            .zip(&cow.lines.trees)
            .take(index)
            .find(|(other, _)| overlap(tree, other))
        {
            return Err(ConfigError::at(
                file,
                line,
                col,
                format!(
                    "{} overlaps {} (line {other_line})",
                    quoted(&format!("cow {}", tree.display())),
                    quoted(&format!("cow {}", other.display()))
                ),
            )
            .expected("`cow` trees apart from each other"));
        }
    }
    if !cow.is_active() {
        if let (Some(_), Some((line, col))) = (cow.quota, cow.lines.quota) {
            return Err(ConfigError::at(
                file,
                line,
                col,
                "`cowquota` without a `cow` tree: there is no layer to limit",
            )
            .expected("a `cow <dir>` line for the same ident, or no `cowquota` line"));
        }
        return Ok(());
    }
    let (base, shown, (line, col)) = match (&cow.dir, cow.lines.dir) {
        (Some(dir), Some(at)) => (dir.clone(), format!("`cowdir {}`", dir.display()), at),
        _ => {
            let base = default_layer_base(uid);
            let shown = format!(
                "the default layer directory {} (no `cowdir` line)",
                base.display()
            );
            (
                base,
                shown,
                cow.lines.trees.first().copied().unwrap_or((0, 0)),
            )
        }
    };
    let trees = config
        .see
        .iter()
        .zip(&config.lines.see)
        .map(|(path, line)| ("see", path, *line))
        .chain(
            config
                .write
                .iter()
                .zip(&config.lines.write)
                .map(|(path, line)| ("write", path, *line)),
        )
        .chain(
            cow.trees
                .iter()
                .zip(&cow.lines.trees)
                .map(|(path, at)| ("cow", path, at.0)),
        );
    for (keyword, tree, tree_line) in trees {
        if overlap(&base, tree) {
            return Err(ConfigError::at(
                file,
                line,
                col,
                format!(
                    "{shown} overlaps {} (line {tree_line}): the program would reach the layer \
                     by its own path",
                    quoted(&format!("{keyword} {}", tree.display()))
                ),
            )
            .expected(
                "a `cowdir` line naming a directory outside every `see`, `write` and `cow` tree \
                 (and holding none)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("cow.conf"), text, "alice")
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn cow_lines_are_read_globally_and_per_ident() {
        let config = parse(
            "see /usr\ncow /srv/a\nident alice\ncow /srv/b\ncowdir /var/layers\nonexit commit\n\
             end\nident bob\ncow /srv/c\nonexit discard\nend\n",
        )
        .expect("a good config");
        assert_eq!(
            config.cow.trees,
            [PathBuf::from("/srv/a"), PathBuf::from("/srv/b")]
        );
        assert_eq!(config.cow.lines.trees, [(2, 1), (4, 1)]);
        assert_eq!(config.cow.dir, Some(PathBuf::from("/var/layers")));
        assert_eq!(config.cow.on_exit, OnExit::Commit);
        let plain = parse("see /usr\n").expect("a good config");
        assert_eq!(plain.cow.on_exit, OnExit::Keep, "keep by default");
        assert!(!plain.cow.is_active());
    }

    #[test]
    fn bad_values_name_their_line() {
        assert_eq!(
            error("cow /srv/a\nonexit later\n"),
            "cow.conf:2:8: unknown value for `onexit`; expected `commit`, `discard`, `keep` or \
             `ask`, found `later`"
        );
        assert_eq!(
            error("cow /srv/a\ncowdir layers\n"),
            "cow.conf:2:8: `cowdir` needs an absolute path, found `layers`"
        );
        assert_eq!(
            error("cow srv\n"),
            "cow.conf:1:5: `cow` needs an absolute path, found `srv`"
        );
    }

    #[test]
    fn cowquota_takes_every_whole_number_and_needs_a_cow_tree() {
        for (text, want) in [
            ("0", 0),
            ("1", 1),
            ("104857600", 104_857_600),
            ("18446744073709551615", u64::MAX),
        ] {
            let config = parse(&format!("cow /srv/a\ncowquota {text}\n")).expect("a good quota");
            assert_eq!(config.cow.quota, Some(want), "{text}");
            assert_eq!(config.cow.lines.quota, Some((2, 1)));
        }
        assert_eq!(parse("cow /srv/a\n").expect("no quota").cow.quota, None);
        for bad in ["-1", "1k", "1.5", "18446744073709551616", "lots"] {
            assert_eq!(
                error(&format!("cow /srv/a\ncowquota {bad}\n")),
                format!(
                    "cow.conf:2:10: bad size for `cowquota`; expected a whole number of bytes \
                     from 0 to 18446744073709551615, found `{bad}`"
                )
            );
        }
        assert_eq!(
            error("see /usr\ncowquota 10\n"),
            "cow.conf:2:1: `cowquota` without a `cow` tree: there is no layer to limit; \
             expected a `cow <dir>` line for the same ident, or no `cowquota` line"
        );
        // Per ident: alice's block has the tree, bob's the quota only.
        parse("ident alice\ncow /srv/a\nend\ncowquota 5\n").expect("alice has a tree");
        assert!(
            Config::parse(
                Path::new("cow.conf"),
                "ident alice\ncow /srv/a\nend\ncowquota 5\n",
                "bob"
            )
            .is_err()
        );
    }

    #[test]
    fn cow_trees_keep_apart_from_write_trees_and_each_other() {
        assert_eq!(
            error("write /srv\ncow /srv/a\n"),
            "cow.conf:2:1: `cow /srv/a` overlaps `write /srv` (line 1); expected a `cow` tree \
             that neither lies in a `write` tree nor holds one (a tree is written either in \
             place or through a layer)"
        );
        assert!(error("cow /srv/\nwrite /srv/a/b\n").starts_with("cow.conf:1:1: `cow /srv/`"));
        assert!(
            error("cow /srv/a\ncow /srv/a/../a/b\n")
                .starts_with("cow.conf:2:1: `cow /srv/a/../a/b` overlaps `cow /srv/a` (line 1)")
        );
        // Neighbours are fine.
        parse("write /srv/ab\ncow /srv/a\ncow /srv/b\n").expect("apart");
        // A block of another ident is checked on its own lines.
        parse("write /srv\nident bob\ncow /srv/a\nend\n").expect("bob's block is not alice's");
    }

    #[test]
    fn the_layer_directory_stays_out_of_every_tree() {
        assert_eq!(
            error("see /var\ncow /srv/a\ncowdir /var/layers\n"),
            "cow.conf:3:1: `cowdir /var/layers` overlaps `see /var` (line 1): the program would \
             reach the layer by its own path; expected a `cowdir` line naming a directory \
             outside every `see`, `write` and `cow` tree (and holding none)"
        );
        assert!(error("cow /srv/a\ncowdir /srv/a/.layers\n").contains("overlaps `cow /srv/a`"));
        assert!(error("cow /srv/a\ncowdir /\n").contains("overlaps `cow /srv/a`"));
        assert!(error("write /var/x\ncow /srv/a\ncowdir /var\n").contains("`write /var/x`"));
        // Without `cowdir`, the default directory under /tmp.
        let message = error("see /tmp\ncow /srv/a\n");
        assert!(
            message.starts_with("cow.conf:2:1: the default layer directory /tmp/sandbox-cow-"),
            "{message}"
        );
        // Without `cow` lines nothing is checked.
        parse("see /tmp\ncowdir /tmp/x\n").expect("no cow tree: no layer");
    }
}
