//! Path arithmetic on canonical paths: subtree membership and lexical
//! normalisation. No I/O.

use std::path::{Component, Path, PathBuf};

/// Whether `path` lies in the subtree `root`, matching whole components:
/// `/srv/jail2` is not inside `/srv/jail`.
pub fn is_within(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// Whether `path` is a proper ancestor of `root` (`/` and `/usr` for
/// `/usr/lib`).
pub fn is_ancestor_of(path: &Path, root: &Path) -> bool {
    root != path && root.starts_with(path)
}

/// Removes `.`, resolves `..` against the preceding component and drops
/// repeated slashes, without looking at the filesystem. Only for paths
/// known to contain no symlinks (or where none can be consulted).
pub fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

/// If `path` is `/proc/<number>` or below it, that number.
pub fn proc_pid(path: &Path) -> Option<u32> {
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return None;
    }
    match components.next() {
        Some(Component::Normal(name)) if name == "proc" => {}
        _ => return None,
    }
    match components.next() {
        Some(Component::Normal(name)) => name.to_str()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_match_whole_components() {
        assert!(is_within(Path::new("/srv/jail"), Path::new("/srv/jail")));
        assert!(is_within(Path::new("/srv/jail/a"), Path::new("/srv/jail")));
        assert!(!is_within(Path::new("/srv/jail2"), Path::new("/srv/jail")));
        assert!(!is_within(Path::new("/srv"), Path::new("/srv/jail")));
    }

    #[test]
    fn ancestors_are_proper() {
        assert!(is_ancestor_of(Path::new("/"), Path::new("/usr/lib")));
        assert!(is_ancestor_of(Path::new("/usr"), Path::new("/usr/lib")));
        assert!(!is_ancestor_of(
            Path::new("/usr/lib"),
            Path::new("/usr/lib")
        ));
        assert!(!is_ancestor_of(Path::new("/us"), Path::new("/usr/lib")));
    }

    #[test]
    fn lexical_normalisation() {
        for (input, expected) in [
            ("/a/./b//c/", "/a/b/c"),
            ("/a/../../b", "/b"),
            ("/..", "/"),
            ("/", "/"),
        ] {
            assert_eq!(normalize_lexically(Path::new(input)), Path::new(expected));
        }
    }

    #[test]
    fn proc_pids_are_found() {
        assert_eq!(proc_pid(Path::new("/proc/123/fd/4")), Some(123));
        assert_eq!(proc_pid(Path::new("/proc/123")), Some(123));
        assert_eq!(proc_pid(Path::new("/proc/self")), None);
        assert_eq!(proc_pid(Path::new("/proc")), None);
        assert_eq!(proc_pid(Path::new("/procx/1")), None);
    }
}
