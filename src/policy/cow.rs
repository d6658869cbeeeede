//! The path arithmetic of `cow` trees: which virtual paths (the names
//! the program uses) lie in a cow tree, and where each lies in its
//! mirror (the real name the kernel is handed), both ways. No I/O.
//!
//! A virtual path inside a cow tree is shown from the tree's mirror;
//! a real path inside a mirror is named to the program by its virtual
//! path. Anything else maps to itself, so a path into the layer written
//! by its own name stays what it is: a path outside every tree, hidden.

use super::paths::is_within;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// One `cow` tree: the real tree (canonical) and, once the layer is
/// open, its mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CowRoot {
    pub tree: PathBuf,
    pub mirror: Option<PathBuf>,
}

/// Every `cow` tree of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CowMap {
    pub roots: Vec<CowRoot>,
}

impl CowMap {
    /// Whether there is any tree (with a mirror).
    pub fn is_active(&self) -> bool {
        self.roots.iter().any(|root| root.mirror.is_some())
    }

    /// The tree `path` (virtual) lies in, if its mirror is open.
    fn root_of(&self, path: &Path) -> Option<(&Path, &Path)> {
        self.roots.iter().find_map(|root| {
            let mirror = root.mirror.as_deref()?;
            is_within(path, &root.tree).then_some((root.tree.as_path(), mirror))
        })
    }

    /// The real root of the cow tree `path` (virtual) lies in, if its
    /// mirror is open.
    pub fn tree_of(&self, path: &Path) -> Option<&Path> {
        self.root_of(path).map(|(tree, _)| tree)
    }

    /// Whether `path` (virtual) lies in a cow tree whose mirror is open.
    pub fn in_tree(&self, path: &Path) -> bool {
        self.root_of(path).is_some()
    }

    /// Whether `path` (real) lies in a real cow tree, which is never
    /// written: a kernel path there means the mapping failed.
    pub fn in_real_tree(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| is_within(path, &root.tree))
    }

    /// Whether `path` (real) lies in a mirror.
    pub fn in_mirror(&self, path: &Path) -> bool {
        self.roots
            .iter()
            .filter_map(|root| root.mirror.as_deref())
            .any(|mirror| is_within(path, mirror))
    }

    /// Whether `name` is the last component of a cow tree: a path with
    /// it may walk into one.
    pub fn is_tree_name(&self, name: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        self.roots
            .iter()
            .any(|root| root.tree.file_name().map(OsStr::as_bytes) == Some(name))
    }

    /// The real path of virtual `path`: inside a cow tree, its place in
    /// the mirror; else itself.
    pub fn to_real(&self, path: &Path) -> PathBuf {
        match self.root_of(path) {
            Some((tree, mirror)) => match path.strip_prefix(tree) {
                Ok(rest) if rest.as_os_str().is_empty() => mirror.to_path_buf(),
                Ok(rest) => mirror.join(rest),
                Err(_) => path.to_path_buf(),
            },
            None => path.to_path_buf(),
        }
    }

    /// The virtual path of real `path`: inside a mirror, its place in
    /// the cow tree; else itself.
    pub fn to_virtual(&self, path: &Path) -> PathBuf {
        for root in &self.roots {
            let Some(mirror) = root.mirror.as_deref() else {
                continue;
            };
            if let Ok(rest) = path.strip_prefix(mirror) {
                return if rest.as_os_str().is_empty() {
                    root.tree.clone()
                } else {
                    root.tree.join(rest)
                };
            }
        }
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> CowMap {
        CowMap {
            roots: vec![
                CowRoot {
                    tree: "/srv/proj".into(),
                    mirror: Some("/tmp/layers/x/0".into()),
                },
                CowRoot {
                    tree: "/srv/closed".into(),
                    mirror: None,
                },
            ],
        }
    }

    #[test]
    fn paths_map_both_ways_on_whole_components() {
        let map = map();
        assert_eq!(
            map.to_real(Path::new("/srv/proj")),
            Path::new("/tmp/layers/x/0")
        );
        assert_eq!(
            map.to_real(Path::new("/srv/proj/a/b")),
            Path::new("/tmp/layers/x/0/a/b")
        );
        assert_eq!(
            map.to_real(Path::new("/srv/project")),
            Path::new("/srv/project")
        );
        assert_eq!(
            map.to_real(Path::new("/srv/closed/a")),
            Path::new("/srv/closed/a")
        );
        assert_eq!(
            map.to_virtual(Path::new("/tmp/layers/x/0/a")),
            Path::new("/srv/proj/a")
        );
        assert_eq!(
            map.to_virtual(Path::new("/tmp/layers/x/0")),
            Path::new("/srv/proj")
        );
        assert_eq!(
            map.to_virtual(Path::new("/tmp/layers/x/00")),
            Path::new("/tmp/layers/x/00")
        );
        assert_eq!(
            map.to_virtual(Path::new("/tmp/layers/x")),
            Path::new("/tmp/layers/x")
        );
        assert!(map.in_tree(Path::new("/srv/proj/a")));
        assert!(
            !map.in_tree(Path::new("/srv/closed/a")),
            "no mirror: not mapped"
        );
        assert!(map.in_real_tree(Path::new("/srv/closed/a")));
        assert!(map.in_mirror(Path::new("/tmp/layers/x/0/z")));
        assert!(map.is_tree_name(b"proj"));
        assert!(!map.is_tree_name(b"pro"));
    }
}
