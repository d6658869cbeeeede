//! What a program changed in one cow tree: a pure function over the
//! manifest (the tree when the layer was made) and a scan of the mirror
//! (the tree as the program left it).
//!
//! An object of the mirror is unchanged when it is the manifest's object
//! at the same path (same inode) with the same content (a hard link to
//! the original cannot have changed: every write copies it up first; a
//! copied file, directory or fifo is compared by size, modification time
//! and mode). The manifest's object found at another path is a rename;
//! a path of the manifest found nowhere is a deletion; anything else is
//! an addition, or a modification where the manifest had the same kind
//! of object at that path.

use super::manifest::{Entry, Kind, Manifest};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// One object of the mirror, as a scan finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Relative to the mirror's root; empty for the root.
    pub path: PathBuf,
    pub kind: Kind,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub mode: u32,
    pub target: Option<PathBuf>,
}

/// What happened to one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Added,
    Modified,
    Deleted,
    /// Moved here from `from` (and possibly modified too: `modified`).
    Renamed {
        from: PathBuf,
        modified: bool,
    },
}

/// One change, relative to the tree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub what: What,
    /// The path now (for a deletion, the path that is gone).
    pub path: PathBuf,
    pub kind: Kind,
    /// The size before (the manifest's), if there was an object.
    pub old_size: Option<u64>,
    /// The size now, if there is an object.
    pub new_size: Option<u64>,
}

impl Change {
    /// The summary line: `A path (n bytes)`, `M path (a -> b bytes)`,
    /// `D path`, `R old -> new`; paths under `root`.
    pub fn line(&self, root: &Path) -> String {
        let shown = |path: &Path| {
            let full = if path.as_os_str().is_empty() {
                root.to_path_buf()
            } else {
                root.join(path)
            };
            let mut text = crate::notice::printable(&full.to_string_lossy()).into_owned();
            if self.kind == Kind::Dir {
                text.push('/');
            }
            text
        };
        let bytes = |size: Option<u64>| size.map_or_else(String::new, |size| format!("{size}"));
        match &self.what {
            What::Added if self.kind == Kind::File => {
                format!("A {} ({} bytes)", shown(&self.path), bytes(self.new_size))
            }
            What::Added => format!("A {}", shown(&self.path)),
            What::Modified if self.kind == Kind::File => format!(
                "M {} ({} -> {} bytes)",
                shown(&self.path),
                bytes(self.old_size),
                bytes(self.new_size)
            ),
            What::Modified => format!("M {}", shown(&self.path)),
            What::Deleted => format!("D {}", shown(&self.path)),
            What::Renamed { from, modified } => {
                let mut line = format!("R {} -> {}", shown(from), shown(&self.path));
                if *modified && self.kind == Kind::File {
                    line.push_str(&format!(
                        " ({} -> {} bytes)",
                        bytes(self.old_size),
                        bytes(self.new_size)
                    ));
                }
                line
            }
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line(Path::new("")))
    }
}

/// Whether the scanned object differs from the entry it is (same inode).
fn differs(entry: &Entry, scanned: &Scanned) -> bool {
    match entry.kind {
        // A hard link to the original: every write copied it up first.
        // A placeholder: every write was refused.
        Kind::File if entry.is_linked() || entry.unreadable => false,
        Kind::File => {
            entry.size != scanned.size || entry.mtime != scanned.mtime || entry.mode != scanned.mode
        }
        Kind::Dir | Kind::Fifo => entry.mode != scanned.mode,
        // A symlink cannot change in place.
        Kind::Symlink => false,
    }
}

/// The changes, in an order fit to read: by path.
pub fn changes(manifest: &Manifest, scan: &[Scanned]) -> Vec<Change> {
    let by_path: HashMap<&Path, &Entry> = manifest
        .entries
        .iter()
        .map(|entry| (entry.path.as_path(), entry))
        .collect();
    let by_ino: HashMap<u64, &Entry> = manifest
        .entries
        .iter()
        .map(|entry| (entry.mirror_ino, entry))
        .collect();
    let scanned_at: HashMap<&Path, &Scanned> = scan
        .iter()
        .map(|scanned| (scanned.path.as_path(), scanned))
        .collect();
    // A manifest path still holds its own object.
    let in_place = |entry: &Entry| {
        scanned_at
            .get(entry.path.as_path())
            .is_some_and(|scanned| scanned.ino == entry.mirror_ino && scanned.kind == entry.kind)
    };
    let mut out = Vec::new();
    let mut moved_away: HashSet<&Path> = HashSet::new();
    for scanned in scan {
        let here = by_path.get(scanned.path.as_path()).copied();
        if let Some(entry) = here
            && entry.mirror_ino == scanned.ino
            && entry.kind == scanned.kind
        {
            if differs(entry, scanned) {
                out.push(Change {
                    what: What::Modified,
                    path: scanned.path.clone(),
                    kind: scanned.kind,
                    old_size: Some(entry.size),
                    new_size: Some(scanned.size),
                });
            }
            continue;
        }
        if let Some(origin) = by_ino.get(&scanned.ino).copied()
            && origin.kind == scanned.kind
            && !in_place(origin)
            && !moved_away.contains(origin.path.as_path())
        {
            moved_away.insert(origin.path.as_path());
            out.push(Change {
                what: What::Renamed {
                    from: origin.path.clone(),
                    modified: differs(origin, scanned),
                },
                path: scanned.path.clone(),
                kind: scanned.kind,
                old_size: Some(origin.size),
                new_size: Some(scanned.size),
            });
            continue;
        }
        let what = match here {
            Some(entry) if entry.kind == scanned.kind => What::Modified,
            _ => What::Added,
        };
        out.push(Change {
            what,
            path: scanned.path.clone(),
            kind: scanned.kind,
            old_size: here.map(|entry| entry.size),
            new_size: Some(scanned.size),
        });
    }
    for entry in &manifest.entries {
        let replaced_by_other_kind = scanned_at
            .get(entry.path.as_path())
            .is_some_and(|scanned| scanned.kind != entry.kind);
        let gone = !scanned_at.contains_key(entry.path.as_path()) || replaced_by_other_kind;
        if gone && !moved_away.contains(entry.path.as_path()) {
            out.push(Change {
                what: What::Deleted,
                path: entry.path.clone(),
                kind: entry.kind,
                old_size: Some(entry.size),
                new_size: None,
            });
        }
    }
    out = without_implied(out);
    out.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| order(&a.what).cmp(&order(&b.what)))
    });
    out
}

/// Deletions before additions at one path.
fn order(what: &What) -> u8 {
    match what {
        What::Deleted => 0,
        _ => 1,
    }
}

/// Drops renames a directory's rename implies: `R a/x -> b/x` under
/// `R a -> b`.
fn without_implied(changes: Vec<Change>) -> Vec<Change> {
    let dir_moves: Vec<(PathBuf, PathBuf)> = changes
        .iter()
        .filter_map(|change| match &change.what {
            What::Renamed { from, .. } if change.kind == Kind::Dir => {
                Some((from.clone(), change.path.clone()))
            }
            _ => None,
        })
        .collect();
    changes
        .into_iter()
        .filter(|change| {
            let What::Renamed { from, modified } = &change.what else {
                return true;
            };
            let implied = dir_moves.iter().any(|(old, new)| {
                (from != old)
                    && from
                        .strip_prefix(old)
                        .ok()
                        .zip(change.path.strip_prefix(new).ok())
                        .is_some_and(|(a, b)| a == b)
            });
            !implied || *modified
        })
        .collect()
}

/// The summary lines of `changes` under `root`, a deleted directory's
/// contents folded into its line.
pub fn summary(root: &Path, changes: &[Change]) -> Vec<String> {
    let deleted_dirs: Vec<&Path> = changes
        .iter()
        .filter(|change| change.what == What::Deleted && change.kind == Kind::Dir)
        .map(|change| change.path.as_path())
        .collect();
    changes
        .iter()
        .filter(|change| {
            !(change.what == What::Deleted
                && deleted_dirs
                    .iter()
                    .any(|dir| change.path != *dir && change.path.starts_with(dir)))
        })
        .map(|change| change.line(root))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: Kind, ino: u64, linked: bool) -> Entry {
        Entry {
            path: PathBuf::from(path),
            kind,
            original: (1, ino),
            mirror_ino: if linked { ino } else { ino + 1000 },
            size: 10,
            mtime: (5, 0),
            mode: if kind == Kind::Dir { 0o755 } else { 0o644 },
            target: None,
            unreadable: false,
        }
    }

    fn same(entry: &Entry) -> Scanned {
        Scanned {
            path: entry.path.clone(),
            kind: entry.kind,
            ino: entry.mirror_ino,
            size: entry.size,
            mtime: entry.mtime,
            mode: entry.mode,
            target: None,
        }
    }

    fn tree() -> Manifest {
        Manifest {
            tree: PathBuf::from("/srv/t"),
            mirror_dev: 1,
            entries: vec![
                entry("", Kind::Dir, 1, false),
                entry("a", Kind::File, 2, true),
                entry("b", Kind::File, 3, true),
                entry("d", Kind::Dir, 4, false),
                entry("d/x", Kind::File, 5, true),
                entry("d/y", Kind::File, 6, true),
                entry("c", Kind::File, 7, false),
            ],
        }
    }

    fn lines(manifest: &Manifest, scan: &[Scanned]) -> Vec<String> {
        summary(Path::new("/srv/t"), &changes(manifest, scan))
    }

    #[test]
    fn an_untouched_mirror_has_no_changes() {
        let manifest = tree();
        let scan: Vec<Scanned> = manifest.entries.iter().map(same).collect();
        assert!(changes(&manifest, &scan).is_empty());
    }

    #[test]
    fn copies_up_additions_and_deletions_show() {
        let manifest = tree();
        let mut scan: Vec<Scanned> = manifest.entries.iter().map(same).collect();
        // a copied up and grown; b deleted; c (a copy) written in place;
        // new file n; new dir m.
        scan[1].ino = 900;
        scan[1].size = 25;
        scan.remove(2);
        let c = scan.iter_mut().find(|s| s.path == Path::new("c")).unwrap();
        c.mtime = (6, 0);
        scan.push(Scanned {
            path: "n".into(),
            kind: Kind::File,
            ino: 901,
            size: 3,
            mtime: (7, 0),
            mode: 0o600,
            target: None,
        });
        scan.push(Scanned {
            path: "m".into(),
            kind: Kind::Dir,
            ino: 902,
            size: 0,
            mtime: (7, 0),
            mode: 0o700,
            target: None,
        });
        assert_eq!(
            lines(&manifest, &scan),
            [
                "M /srv/t/a (10 -> 25 bytes)",
                "D /srv/t/b",
                "M /srv/t/c (10 -> 10 bytes)",
                "A /srv/t/m/",
                "A /srv/t/n (3 bytes)",
            ]
        );
    }

    #[test]
    fn a_moved_directory_is_one_rename_and_its_files_follow_it() {
        let manifest = tree();
        let mut scan: Vec<Scanned> = manifest.entries.iter().map(same).collect();
        for scanned in &mut scan {
            if let Ok(rest) = scanned.path.strip_prefix("d") {
                scanned.path = if rest.as_os_str().is_empty() {
                    PathBuf::from("e")
                } else {
                    Path::new("e").join(rest)
                };
            }
        }
        // And one file moved out of it to the root.
        let y = scan
            .iter_mut()
            .find(|s| s.path == Path::new("e/y"))
            .unwrap();
        y.path = PathBuf::from("y");
        assert_eq!(
            lines(&manifest, &scan),
            ["R /srv/t/d/ -> /srv/t/e/", "R /srv/t/d/y -> /srv/t/y"]
        );
    }

    #[test]
    fn a_removed_tree_is_one_line_and_a_new_one_in_its_place_is_added() {
        let manifest = tree();
        let mut scan: Vec<Scanned> = manifest
            .entries
            .iter()
            .filter(|entry| !entry.path.starts_with("d"))
            .map(same)
            .collect();
        // rm -rf d && mkdir d && echo > d/x
        scan.push(Scanned {
            path: "d".into(),
            kind: Kind::Dir,
            ino: 950,
            size: 0,
            mtime: (9, 0),
            mode: 0o755,
            target: None,
        });
        scan.push(Scanned {
            path: "d/x".into(),
            kind: Kind::File,
            ino: 951,
            size: 1,
            mtime: (9, 0),
            mode: 0o644,
            target: None,
        });
        let found = changes(&manifest, &scan);
        assert_eq!(
            summary(Path::new("/srv/t"), &found),
            [
                "M /srv/t/d/",
                "M /srv/t/d/x (10 -> 1 bytes)",
                "D /srv/t/d/y"
            ]
        );
        // A file replaced by a directory: deleted, then added.
        let mut scan: Vec<Scanned> = manifest.entries.iter().map(same).collect();
        scan[1] = Scanned {
            kind: Kind::Dir,
            ino: 960,
            ..scan[1].clone()
        };
        assert_eq!(lines(&manifest, &scan), ["D /srv/t/a", "A /srv/t/a/"]);
    }
}
