//! Path arithmetic on canonical paths: subtree membership and lexical
//! normalisation. No I/O.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Whether `path` lies in the subtree `root`, matching whole components:
/// `/srv/jail2` is not inside `/srv/jail`.
pub fn is_within(path: &Path, root: &Path) -> bool {
    let (path_bytes, root_bytes) = (path.as_os_str().as_bytes(), root.as_os_str().as_bytes());
    if is_plain(path_bytes) && is_plain(root_bytes) {
        return bytes_within(path_bytes, root_bytes);
    }
    path.starts_with(root)
}

/// Whether `path` is a proper ancestor of `root` (`/` and `/usr` for
/// `/usr/lib`).
pub fn is_ancestor_of(path: &Path, root: &Path) -> bool {
    let (path_bytes, root_bytes) = (path.as_os_str().as_bytes(), root.as_os_str().as_bytes());
    if is_plain(path_bytes) && is_plain(root_bytes) {
        return root_bytes.len() > path_bytes.len() && bytes_within(root_bytes, path_bytes);
    }
    root != path && root.starts_with(path)
}

/// Whether `path` is absolute and spelled exactly as its components read
/// (no empty component from `//` or a trailing `/`, but for `/` itself,
/// and no `.`): then comparing components is comparing bytes. Every
/// canonical path the tracer judges, and every root, is so; the
/// component walk of `Path::starts_with` was the tracer's largest
/// user-space cost per stop.
fn is_plain(path: &[u8]) -> bool {
    let Some((&b'/', rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let mut start = 0;
    for (index, &byte) in rest.iter().enumerate() {
        if byte == b'/' {
            let component = &rest[start..index];
            if component.is_empty() || component == b"." {
                return false;
            }
            start = index + 1;
        }
    }
    let last = &rest[start..];
    !last.is_empty() && last != b"."
}

/// [`is_within`] for two plain paths ([`is_plain`]).
fn bytes_within(path: &[u8], root: &[u8]) -> bool {
    path.starts_with(root) && (path.len() == root.len() || root == b"/" || path[root.len()] == b'/')
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
    fn plain_paths_compare_as_their_components_do() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let spelling = proptest::collection::vec(
            proptest::sample::select(vec!["/", "a", "b", ".", "..", "ab"]),
            0..7,
        )
        .prop_map(|parts| parts.concat());
        let mut runner = TestRunner::new(Config {
            cases: 20_000,
            ..Config::default()
        });
        runner
            .run(&(spelling.clone(), spelling), |(path, root)| {
                let (path, root) = (Path::new(&path), Path::new(&root));
                prop_assert_eq!(is_within(path, root), path.starts_with(root));
                prop_assert_eq!(
                    is_ancestor_of(path, root),
                    root != path && root.starts_with(path)
                );
                Ok(())
            })
            .unwrap();
        for (path, plain) in [
            ("/", true),
            ("/a", true),
            ("/a/..", true),
            ("/a/", false),
            ("//a", false),
            ("/a/./b", false),
            ("/a/.", false),
            ("a", false),
            ("", false),
        ] {
            assert_eq!(is_plain(path.as_bytes()), plain, "{path}");
        }
    }

    #[test]
    fn plain_path_edges_answer_as_components_do() {
        use std::ffi::OsStr;
        let spellings: [&[u8]; 22] = [
            b"",
            b"/",
            b"//",
            b"/a",
            b"/a/",
            b"//a",
            b"/a//b",
            b"/a/b",
            b"/a/b/",
            b"/a/bc",
            b"/a/b/c",
            b"/a/./b",
            b"/a/.",
            b"/a/..",
            b"/a/../b",
            b"/.",
            b"/..",
            b"a",
            b"a/b",
            b"/a\xff",
            b"/a\xff/b",
            b"/a\xff\xfe",
        ];
        for path in spellings {
            for root in spellings {
                let (p, r) = (
                    Path::new(OsStr::from_bytes(path)),
                    Path::new(OsStr::from_bytes(root)),
                );
                assert_eq!(is_within(p, r), p.starts_with(r), "{p:?} within {r:?}");
                assert_eq!(
                    is_ancestor_of(p, r),
                    r != p && r.starts_with(p),
                    "{p:?} ancestor of {r:?}"
                );
            }
        }
        assert!(!is_within(Path::new("/a/bc"), Path::new("/a/b")));
        assert!(!is_ancestor_of(Path::new("/a/b"), Path::new("/a/bc")));
        assert!(is_ancestor_of(Path::new("/"), Path::new("/a")));
        assert!(!is_ancestor_of(Path::new("/"), Path::new("/")));
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
