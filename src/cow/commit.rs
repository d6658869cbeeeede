//! Applying a mirror's changes to its real tree.
//!
//! First every change is checked against the real tree as the manifest
//! recorded it (a file or directory there must still be the same inode,
//! a file of the same size and modification time; a name to be made
//! must still be free) and against what the committing user may do
//! there (change the names of each directory, set its mode, remove or
//! replace a name in a sticky directory): any difference is a conflict,
//! and then nothing is applied. Otherwise, in this order: deletions of files (by their old
//! paths), renamed objects moved aside, deletions of directories
//! (deepest first), the moved objects put in place and new directories
//! made (shallowest first), new and changed files written next to their
//! place and renamed into it (each replaced atomically), directory modes.

use super::CowError;
use super::changes::{Change, What};
use super::layer::{Tree, copy_contents, finish_copy};
use super::manifest::{Entry, Kind};
use nix::errno::Errno;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A change the real tree no longer allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The real path.
    pub path: PathBuf,
    pub reason: &'static str,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "C {}: {}",
            crate::notice::printable(&self.path.to_string_lossy()),
            self.reason
        )
    }
}

/// Whether the real object at `path` is still the manifest's `entry`.
fn unchanged(path: &Path, entry: &Entry) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    let same_object = (meta.dev(), meta.ino()) == entry.original;
    match entry.kind {
        Kind::Dir => same_object && meta.is_dir(),
        _ => {
            same_object
                && meta.size() == entry.size
                && (meta.mtime(), meta.mtime_nsec()) == entry.mtime
        }
    }
}

/// The conflicts `changes` would meet in `tree`'s real tree.
pub fn conflicts(tree: &Tree, changes: &[Change]) -> Vec<Conflict> {
    let entries: HashMap<&Path, &Entry> = tree
        .manifest
        .entries
        .iter()
        .map(|entry| (entry.path.as_path(), entry))
        .collect();
    let deleted: Vec<&Path> = changes
        .iter()
        .filter(|change| change.what == What::Deleted)
        .map(|change| change.path.as_path())
        .collect();
    let mut out = Vec::new();
    let mut conflict = |path: &Path, reason| {
        out.push(Conflict {
            path: tree.real.join(path),
            reason,
        });
    };
    // A commit names each object by its path, in the real tree and in the
    // mirror; one nested past PATH_MAX (a program can rename short names
    // under ever deeper ones) cannot be named: found here, before
    // anything is applied, rather than as an error halfway.
    let too_long = |path: &Path| {
        [&tree.real, &tree.mirror]
            .iter()
            .any(|root| root.join(path).as_os_str().len() >= libc::PATH_MAX as usize)
    };
    for change in changes {
        if too_long(&change.path) {
            conflict(&change.path, "nested too deep to commit (past PATH_MAX)");
            continue;
        }
        let real = tree.real.join(&change.path);
        match &change.what {
            What::Modified | What::Deleted => match entries.get(change.path.as_path()) {
                Some(entry) if unchanged(&real, entry) => {}
                _ => conflict(
                    &change.path,
                    "changed on the real tree since the layer was made",
                ),
            },
            What::Renamed { from, .. } => {
                match entries.get(from.as_path()) {
                    Some(entry) if unchanged(&tree.real.join(from), entry) => {}
                    _ => conflict(from, "changed on the real tree since the layer was made"),
                }
                if fs::symlink_metadata(&real).is_ok() && !deleted.contains(&change.path.as_path())
                {
                    conflict(
                        &change.path,
                        "made on the real tree since the layer was made",
                    );
                }
            }
            What::Added => {
                if fs::symlink_metadata(&real).is_ok() && !deleted.contains(&change.path.as_path())
                {
                    conflict(
                        &change.path,
                        "made on the real tree since the layer was made",
                    );
                }
            }
        }
    }
    let (write, own) = dirs_changed(changes);
    for dir in write {
        let Some(path) = real_place(tree, changes, &dir) else {
            continue;
        };
        if !may_change_entries(&path) {
            conflict(
                &dir,
                "the commit may not change this directory (permission)",
            );
        }
    }
    for dir in own {
        if !owned(&tree.real.join(&dir)) {
            conflict(
                &dir,
                "the commit may not change this directory's mode (not yours)",
            );
        }
    }
    let mut guarded = std::collections::BTreeSet::new();
    for (dir, object) in names_removed(changes) {
        let real_object = |object: &Path| {
            let name = object.file_name()?;
            let parent = object.parent().unwrap_or(Path::new(""));
            Some(real_place(tree, changes, parent)?.join(name))
        };
        let (Some(dir_path), Some(object_path)) =
            (real_place(tree, changes, &dir), real_object(&object))
        else {
            continue;
        };
        let (Ok(dir_meta), Ok(object_meta)) = (
            fs::symlink_metadata(&dir_path),
            fs::symlink_metadata(&object_path),
        ) else {
            continue;
        };
        let euid = nix::unistd::geteuid().as_raw();
        if !sticky_allows(dir_meta.mode(), dir_meta.uid(), object_meta.uid(), euid)
            && guarded.insert(object.clone())
        {
            conflict(
                &object,
                "the commit may not remove or replace this name (another user's, in a sticky directory)",
            );
        }
    }
    out
}

/// The names applying `changes` removes from a directory of the real
/// tree or replaces there, as (the directory, the object's path before
/// the commit), relative to the tree: what a directory's sticky bit
/// guards. A deleted object, a changed file (its new version renamed
/// over it), a renamed object (moved aside through the tree's root,
/// then into place). A pure function of the changes.
pub fn names_removed(changes: &[Change]) -> Vec<(PathBuf, PathBuf)> {
    let parent = |path: &Path| path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut out = Vec::new();
    for change in changes {
        match &change.what {
            What::Deleted => out.push((parent(&change.path), change.path.clone())),
            What::Modified if change.kind != Kind::Dir => {
                out.push((parent(&change.path), change.path.clone()));
            }
            What::Renamed { from, .. } => {
                out.push((parent(from), from.clone()));
                out.push((PathBuf::new(), from.clone()));
            }
            What::Modified | What::Added => {}
        }
    }
    out
}

/// Whether a user `euid` may remove or replace a name of an object owned
/// by `object_uid` in a directory of mode `dir_mode` owned by `dir_uid`:
/// in a sticky directory only the object's owner, the directory's owner
/// or root may (the kernel's rule, with `CAP_FOWNER` as root's).
pub fn sticky_allows(dir_mode: u32, dir_uid: u32, object_uid: u32, euid: u32) -> bool {
    dir_mode & libc::S_ISVTX == 0 || euid == 0 || euid == dir_uid || euid == object_uid
}

/// The directories (relative to the tree; empty for its root) whose
/// entries applying `changes` makes, removes or replaces, and those whose
/// mode it sets. A pure function of the changes: what the commit needs
/// the right to do, checked before anything is applied, so that a
/// permission the real tree denies (a directory the program could change
/// only in its mirror, where the user owns every directory) is a
/// conflict and not a commit stopped half way.
pub fn dirs_changed(changes: &[Change]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let parent = |path: &Path| path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut write = std::collections::BTreeSet::new();
    let mut own = std::collections::BTreeSet::new();
    for change in changes {
        match &change.what {
            What::Renamed { from, .. } => {
                // Moved aside to the root, then into place.
                write.insert(parent(from));
                write.insert(PathBuf::new());
                write.insert(parent(&change.path));
                // A directory given another parent has its `..` changed.
                let crosses = !parent(from).as_os_str().is_empty()
                    || !parent(&change.path).as_os_str().is_empty();
                if change.kind == Kind::Dir && crosses {
                    write.insert(from.clone());
                }
            }
            What::Modified if change.kind == Kind::Dir => {
                own.insert(change.path.clone());
            }
            _ => {
                write.insert(parent(&change.path));
            }
        }
    }
    (write.into_iter().collect(), own.into_iter().collect())
}

/// Where the directory at `dir` of the program's view is on the real
/// tree before the commit: under a renamed directory, at its old path.
/// `None` when it is not there (a directory the commit makes).
fn real_place(tree: &Tree, changes: &[Change], dir: &Path) -> Option<PathBuf> {
    let renamed = changes
        .iter()
        .filter_map(|change| match &change.what {
            What::Renamed { from, .. } if change.kind == Kind::Dir => {
                let rest = dir.strip_prefix(&change.path).ok()?;
                Some((depth(&change.path), from.join(rest)))
            }
            _ => None,
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, from)| from);
    let path = tree.real.join(renamed.as_deref().unwrap_or(dir));
    fs::symlink_metadata(&path)
        .is_ok_and(|meta| meta.is_dir())
        .then_some(path)
}

/// Whether this process may make and remove names in the directory.
fn may_change_entries(path: &Path) -> bool {
    nix::unistd::faccessat(
        nix::fcntl::AT_FDCWD,
        path,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}

/// Whether this process may set the mode of `path`: its owner, or root.
fn owned(path: &Path) -> bool {
    let euid = nix::unistd::geteuid();
    euid.is_root() || fs::symlink_metadata(path).is_ok_and(|meta| meta.uid() == euid.as_raw())
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(Errno) -> CowError + 'a {
    move |errno| CowError::Io {
        what,
        path: path.to_path_buf(),
        errno,
    }
}

fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

fn depth(path: &Path) -> usize {
    path.components().count()
}

/// Applies `changes` to `tree`'s real tree; `Err(CowError::Conflicts)`
/// when any conflicts, nothing applied then.
pub fn apply(tree: &Tree, changes: &[Change]) -> Result<(), CowError> {
    let found = conflicts(tree, changes);
    if !found.is_empty() {
        return Err(CowError::Conflicts(found));
    }
    let real = |path: &Path| tree.real.join(path);
    // Deleted files, by their old paths.
    for change in changes {
        if change.what == What::Deleted && change.kind != Kind::Dir {
            let path = real(&change.path);
            fs::remove_file(&path).map_err(|error| io("remove", &path)(errno_of(&error)))?;
        }
    }
    // Renamed objects aside, deepest first.
    let mut moves: Vec<(&Change, &Path)> = changes
        .iter()
        .filter_map(|change| match &change.what {
            What::Renamed { from, .. } => Some((change, from.as_path())),
            _ => None,
        })
        .collect();
    moves.sort_by_key(|(_, from)| std::cmp::Reverse(depth(from)));
    let mut aside = HashMap::new();
    let mut moved_from: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (index, (change, from)) in moves.iter().enumerate() {
        let temp = tree
            .real
            .join(format!(".sandbox-commit-{}-{index}", std::process::id()));
        let source = real(from);
        fs::rename(&source, &temp).map_err(|error| io("move", &source)(errno_of(&error)))?;
        moved_from.push((from.to_path_buf(), temp.clone()));
        aside.insert(change.path.clone(), temp);
    }
    // Deleted directories, deepest first.
    let mut gone_dirs: Vec<&Change> = changes
        .iter()
        .filter(|change| change.what == What::Deleted && change.kind == Kind::Dir)
        .collect();
    gone_dirs.sort_by_key(|change| std::cmp::Reverse(depth(&change.path)));
    for change in gone_dirs {
        // Inside a directory moved aside (an inode the program reused
        // can make a removed directory look moved): where it is now.
        let path = moved_from
            .iter()
            .filter_map(|(from, temp)| {
                let rest = change.path.strip_prefix(from).ok()?;
                (!rest.as_os_str().is_empty()).then(|| (depth(from), temp.join(rest)))
            })
            .max_by_key(|(depth, _)| *depth)
            .map_or_else(|| real(&change.path), |(_, path)| path);
        fs::remove_dir(&path).map_err(|error| io("remove", &path)(errno_of(&error)))?;
    }
    // Moved objects in place and new directories, shallowest first.
    let mut placements: Vec<&Change> = changes
        .iter()
        .filter(|change| {
            matches!(change.what, What::Renamed { .. })
                || (change.kind == Kind::Dir && change.what == What::Added)
        })
        .collect();
    placements.sort_by_key(|change| depth(&change.path));
    for change in placements {
        let path = real(&change.path);
        let mirror = tree.mirror.join(&change.path);
        match aside.get(&change.path) {
            Some(temp) => {
                fs::rename(temp, &path).map_err(|error| io("move", &path)(errno_of(&error)))?
            }
            None => {
                let mode = fs::symlink_metadata(&mirror)
                    .map_err(|error| io("look at", &mirror)(errno_of(&error)))?
                    .mode();
                fs::create_dir(&path).map_err(|error| io("make", &path)(errno_of(&error)))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(|error| io("chmod", &path)(errno_of(&error)))?;
            }
        }
    }
    // New and changed files, each replaced atomically.
    for change in changes {
        let rewritten = match &change.what {
            What::Added | What::Modified => change.kind != Kind::Dir,
            What::Renamed { modified, .. } => *modified && change.kind != Kind::Dir,
            What::Deleted => false,
        };
        if rewritten {
            replace(&tree.mirror.join(&change.path), &real(&change.path))?;
        }
    }
    // Directory modes.
    for change in changes {
        if change.kind == Kind::Dir && change.what == What::Modified {
            let mirror = tree.mirror.join(&change.path);
            let path = real(&change.path);
            let mode = fs::symlink_metadata(&mirror)
                .map_err(|error| io("look at", &mirror)(errno_of(&error)))?
                .mode();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|error| io("chmod", &path)(errno_of(&error)))?;
        }
    }
    Ok(())
}

/// Puts a copy of the mirror's object `from` at `to`: made under a
/// temporary name next to it, then renamed over it.
/// Opens the mirror's file `from` (of mode `mode`) for reading. One the
/// program made unreadable to its own user (`chmod 000`, as it may) is
/// opened all the same: the mirror is the layer's own, so its mode is
/// made readable for the open and given back.
fn open_mirror_file(from: &Path, mode: u32) -> Result<fs::File, CowError> {
    let open = || {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(from)
            .map_err(|error| errno_of(&error))
    };
    let opened = match open() {
        Err(Errno::EACCES) => {
            let readable = fs::Permissions::from_mode((mode & 0o7777) | 0o400);
            fs::set_permissions(from, readable)
                .map_err(|error| io("read", from)(errno_of(&error)))?;
            let opened = open();
            let _ = fs::set_permissions(from, fs::Permissions::from_mode(mode & 0o7777));
            opened
        }
        other => other,
    };
    opened.map_err(io("read", from))
}

fn replace(from: &Path, to: &Path) -> Result<(), CowError> {
    let Some(parent) = to.parent() else {
        return Err(io("replace", to)(Errno::EINVAL));
    };
    let name = to
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let temp = parent.join(format!(".{name}.sandbox-{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let stat = nix::sys::stat::lstat(from).map_err(io("look at", from))?;
    match Kind::of_mode(stat.st_mode) {
        Some(Kind::File) => {
            let source = open_mirror_file(from, stat.st_mode)?;
            let dest = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)
                .map_err(|error| io("write", &temp)(errno_of(&error)))?;
            copy_contents(&source, &dest).map_err(io("copy", from))?;
            finish_copy(&source, &dest, &stat).map_err(io("copy", &temp))?;
        }
        Some(Kind::Symlink) => {
            let target = fs::read_link(from).map_err(|error| io("read", from)(errno_of(&error)))?;
            std::os::unix::fs::symlink(&target, &temp)
                .map_err(|error| io("make", &temp)(errno_of(&error)))?;
        }
        Some(Kind::Fifo) => {
            nix::unistd::mkfifo(
                &temp,
                nix::sys::stat::Mode::from_bits_truncate(stat.st_mode & 0o7777),
            )
            .map_err(io("make", &temp))?;
        }
        Some(Kind::Dir) | None => return Err(io("replace", to)(Errno::EINVAL)),
    }
    fs::rename(&temp, to).map_err(|error| {
        let _ = fs::remove_file(&temp);
        io("replace", to)(errno_of(&error))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cow::changes::changes;
    use crate::cow::layer::{make_mirror, scan};

    fn setup() -> (tempfile::TempDir, Tree) {
        let dir = tempfile::Builder::new()
            .prefix("sbx-commit-")
            .tempdir_in("/tmp")
            .unwrap();
        let real = dir.path().join("real");
        fs::create_dir_all(real.join("d/e")).unwrap();
        fs::write(real.join("a"), "alpha").unwrap();
        fs::write(real.join("b"), "beta").unwrap();
        fs::write(real.join("d/x"), "x").unwrap();
        fs::write(real.join("d/e/y"), "y").unwrap();
        let mirror = dir.path().join("mirror");
        let manifest = make_mirror(&real, &mirror).unwrap();
        (
            dir,
            Tree {
                real,
                mirror,
                manifest,
            },
        )
    }

    fn change(what: What, path: &str, kind: Kind) -> Change {
        Change {
            what,
            path: PathBuf::from(path),
            kind,
            old_size: None,
            new_size: None,
        }
    }

    #[test]
    fn a_commit_needs_to_change_the_parents_and_a_moved_directory() {
        let renamed = |from: &str| What::Renamed {
            from: PathBuf::from(from),
            modified: false,
        };
        let (write, own) = dirs_changed(&[
            change(What::Deleted, "d/gone", Kind::File),
            change(What::Added, "ro/new", Kind::File),
            change(What::Modified, "a", Kind::File),
            change(What::Modified, "m", Kind::Dir),
            // At the root, the directory keeps its parent.
            change(renamed("old"), "new", Kind::Dir),
            // Into another directory: its `..` changes.
            change(renamed("x/sub"), "y/sub", Kind::Dir),
            change(renamed("f"), "y/f", Kind::File),
        ]);
        let paths = |list: &[&str]| list.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(write, paths(&["", "d", "ro", "x", "x/sub", "y"]));
        assert_eq!(own, paths(&["m"]));
    }

    #[test]
    fn in_a_sticky_directory_a_commit_removes_only_what_the_user_may() {
        let renamed = What::Renamed {
            from: PathBuf::from("s/old"),
            modified: false,
        };
        let removed = names_removed(&[
            change(What::Deleted, "s/gone", Kind::File),
            change(What::Added, "s/new", Kind::File),
            change(What::Modified, "s/changed", Kind::File),
            change(What::Modified, "s", Kind::Dir),
            change(renamed, "t/new", Kind::File),
        ]);
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(dir, object)| (PathBuf::from(dir), PathBuf::from(object)))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            removed,
            pairs(&[
                ("s", "s/gone"),
                ("s", "s/changed"),
                ("s", "s/old"),
                ("", "s/old"),
            ])
        );
        let sticky = 0o1777 | libc::S_IFDIR;
        assert!(
            sticky_allows(0o777 | libc::S_IFDIR, 0, 0, 1000),
            "not sticky"
        );
        assert!(
            !sticky_allows(sticky, 0, 0, 1000),
            "root's file in root's /tmp"
        );
        assert!(sticky_allows(sticky, 0, 1000, 1000), "one's own file");
        assert!(sticky_allows(sticky, 1000, 0, 1000), "one's own directory");
        assert!(sticky_allows(sticky, 0, 0, 0), "root");
    }

    fn listing(root: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for rel in scan(root).unwrap() {
            let path = root.join(&rel.path);
            let content = if rel.kind == Kind::File {
                fs::read_to_string(&path).unwrap()
            } else {
                format!("{:?} {:o}", rel.kind, rel.mode)
            };
            out.push((rel.path.display().to_string(), content));
        }
        out
    }

    #[test]
    fn a_commit_makes_the_real_tree_what_the_mirror_shows() {
        let (_dir, tree) = setup();
        let m = &tree.mirror;
        // Copy up and change a; delete b; move d to moved; rm -rf of a
        // directory and a new one in its place; a new file and directory.
        fs::remove_file(m.join("a")).unwrap();
        fs::write(m.join("a"), "ALPHA!").unwrap();
        fs::remove_file(m.join("b")).unwrap();
        fs::rename(m.join("d"), m.join("moved")).unwrap();
        fs::remove_dir_all(m.join("moved/e")).unwrap();
        fs::create_dir(m.join("moved/e")).unwrap();
        fs::write(m.join("moved/e/z"), "zed").unwrap();
        fs::create_dir(m.join("new")).unwrap();
        fs::write(m.join("new/file"), "fresh").unwrap();
        fs::rename(m.join("moved/x"), m.join("new/x")).unwrap();
        let found = changes(&tree.manifest, &scan(m).unwrap());
        apply(&tree, &found).expect("no conflict");
        assert_eq!(listing(&tree.real), listing(m));
    }

    #[test]
    fn a_file_changed_on_the_real_tree_is_a_conflict_and_nothing_is_applied() {
        let (_dir, tree) = setup();
        let m = &tree.mirror;
        fs::remove_file(m.join("a")).unwrap();
        fs::write(m.join("a"), "mine").unwrap();
        fs::write(m.join("c"), "new").unwrap();
        // Someone replaces a on the real tree meanwhile.
        fs::write(tree.real.join("a.tmp"), "theirs").unwrap();
        fs::rename(tree.real.join("a.tmp"), tree.real.join("a")).unwrap();
        let found = changes(&tree.manifest, &scan(m).unwrap());
        let Err(CowError::Conflicts(conflicts)) = apply(&tree, &found) else {
            panic!("a conflict expected");
        };
        assert_eq!(
            conflicts,
            [Conflict {
                path: tree.real.join("a"),
                reason: "changed on the real tree since the layer was made"
            }]
        );
        assert_eq!(fs::read_to_string(tree.real.join("a")).unwrap(), "theirs");
        assert!(!tree.real.join("c").exists(), "nothing applied");
    }
}
