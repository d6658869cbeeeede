//! The verdict for one resolved path operand.
//!
//! Pure: the tracer resolves the path the way the kernel would for the
//! calling thread and hands over the canonical result; this decides.

use super::paths::{is_ancestor_of, is_within, proc_pid};
use super::{Asker, Policy};
use crate::syscall::Access;
use std::path::{Path, PathBuf};

/// What a path operand names once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A canonical absolute path (symlinks and `..` resolved), which may
    /// not exist yet (the name a create would make).
    Path(PathBuf),
    /// Something with no name in the filesystem that the thread already
    /// holds (a pipe, a socket, an anonymous inode reached through
    /// `/proc/<pid>/fd/N` or an empty path with `AT_EMPTY_PATH`).
    Held,
}

/// Why a denial happened, as `report` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    See,
    Write,
    /// A destination no `connect` line allows (`policy::network`).
    Connect,
    /// A local address no `bind` line allows (`policy::network`).
    Bind,
}

/// One denial, for `report`: `[See <path>=<canonical>]`, or for the
/// network `[Connect <address>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub kind: DenialKind,
    /// The path as the program gave it; for `Connect` and `Bind`, the
    /// address as a config line would name it (`tcp 192.0.2.7:443`,
    /// `unix:/run/x.sock`).
    pub path: String,
    /// Where the path leads; empty for `Connect` and `Bind`.
    pub canonical: String,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            DenialKind::See => "See",
            DenialKind::Write => "Write",
            DenialKind::Connect => "Connect",
            DenialKind::Bind => "Bind",
        };
        // Both come from the program: escaped, so a report stays a line.
        let path = crate::notice::printable(&self.path);
        match self.kind {
            DenialKind::See | DenialKind::Write => write!(
                f,
                "[{kind} {path}={}]",
                crate::notice::printable(&self.canonical)
            ),
            DenialKind::Connect | DenialKind::Bind => write!(f, "[{kind} {path}]"),
        }
    }
}

/// The decision for one operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// The syscall fails with this errno and does not run.
    Deny {
        errno: i32,
        denial: Denial,
    },
}

/// How much of the filesystem view a canonical path is in: what the
/// program may see of it and, apart, whether it may change it. As in the
/// original tool, `write` alone lets the program write in a tree but not
/// read, list or stat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Visibility {
    seen: Seen,
    writable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
enum Seen {
    #[default]
    Hidden,
    /// A proper ancestor of a root: it exists (the kernel walks through it)
    /// but its listing is not part of the view.
    Ancestor,
    Visible,
}

impl Visibility {
    const HIDDEN: Visibility = Visibility {
        seen: Seen::Hidden,
        writable: false,
    };

    fn or(self, other: Visibility) -> Visibility {
        Visibility {
            seen: self.seen.max(other.seen),
            writable: self.writable || other.writable,
        }
    }

    fn of(path: &Path, see: &[PathBuf], write: &[PathBuf]) -> Visibility {
        let seen = if see.iter().any(|root| is_within(path, root)) {
            Seen::Visible
        } else if see
            .iter()
            .chain(write)
            .any(|root| is_ancestor_of(path, root))
        {
            Seen::Ancestor
        } else {
            Seen::Hidden
        };
        Visibility {
            seen,
            writable: write.iter().any(|root| is_within(path, root)),
        }
    }
}

/// Where a path stands in the jail's view, as `sandbox --check` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It does not exist for the program.
    Hidden,
    /// A proper ancestor of a root: it can be walked through and stat'ed,
    /// not listed or read.
    Ancestor,
    /// Seen, not writable.
    Visible,
    /// Under a `write` root but no `see` root: it can be written, created
    /// and removed, but not read, listed or stat'ed.
    WriteOnly,
    /// Seen and writable.
    Writable,
}

impl std::fmt::Display for Standing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Standing::Hidden => "hidden",
            Standing::Ancestor => "ancestor",
            Standing::Visible => "visible",
            Standing::WriteOnly => "write-only",
            Standing::Writable => "writable",
        })
    }
}

/// A path's [`Standing`] and the canonical roots that decide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub standing: Standing,
    /// The `see` root that shows it (the deepest one), or for an ancestor
    /// the root (`see` or `write`) below it.
    pub see_root: Option<PathBuf>,
    /// The deepest `write` root it lies in.
    pub write_root: Option<PathBuf>,
}

impl Policy {
    /// Where the canonical `path` stands for a program in the jail, judged
    /// by the same rules as [`Policy::judge`] (with no jailed process:
    /// every `/proc/<pid>` is hidden).
    pub fn reach(&self, path: &Path) -> Reach {
        let visibility = self.visibility(path, &|_| false, None);
        let deepest = |roots: &[PathBuf]| {
            roots
                .iter()
                .filter(|root| is_within(path, root))
                .max_by_key(|root| root.components().count())
                .cloned()
        };
        let write_root = visibility.writable.then(|| deepest(&self.write)).flatten();
        let (standing, see_root) = match (visibility.seen, visibility.writable) {
            (Seen::Visible, true) => (Standing::Writable, deepest(&self.see)),
            (Seen::Visible, false) => (Standing::Visible, deepest(&self.see)),
            (_, true) => (Standing::WriteOnly, None),
            (Seen::Ancestor, false) => (
                Standing::Ancestor,
                self.see
                    .iter()
                    .chain(&self.write)
                    .find(|root| is_ancestor_of(path, root))
                    .cloned(),
            ),
            (Seen::Hidden, false) => (Standing::Hidden, None),
        };
        Reach {
            standing,
            see_root,
            write_root,
        }
    }

    fn visibility(
        &self,
        path: &Path,
        is_jail_pid: &dyn Fn(u32) -> bool,
        asker: Option<Asker>,
    ) -> Visibility {
        // Other processes' /proc entries (the tracer's included) do not
        // exist for the jail, whatever the roots say.
        if let Some(pid) = proc_pid(path)
            && !is_jail_pid(pid)
        {
            return Visibility::HIDDEN;
        }
        Visibility::of(path, &self.see, &self.write)
            .or(self.own_proc_visibility(path, asker))
            .or(self.cow_visibility(path))
    }

    /// A `cow` tree is seen, and written through its mirror once the
    /// layer is open (before that, see-only); its ancestors exist.
    fn cow_visibility(&self, path: &Path) -> Visibility {
        if self.cow.roots.is_empty() {
            return Visibility::HIDDEN;
        }
        let trees: Vec<PathBuf> = self
            .cow
            .roots
            .iter()
            .map(|root| root.tree.clone())
            .collect();
        let mut visibility = Visibility::of(path, &trees, &[]);
        visibility.writable = self.cow.in_tree(path);
        visibility
    }

    /// How much of the asking thread's own `/proc` entry the `/proc/self`
    /// and `/proc/thread-self` roots show at `path`. Without an asker (a
    /// lookup made for the jail itself) nothing.
    fn own_proc_visibility(&self, path: &Path, asker: Option<Asker>) -> Visibility {
        // Checked on every path judged: no allocation without such roots.
        let Some(asker) = asker.filter(|_| !self.own_proc.is_empty()) else {
            return Visibility::HIDDEN;
        };
        let process = PathBuf::from(format!("/proc/{}", asker.tgid));
        let thread = process.join(format!("task/{}", asker.tid));
        let mut see = Vec::new();
        let mut write = Vec::new();
        for root in &self.own_proc {
            let entry = if root.per_thread { &thread } else { &process };
            let full = entry.join(&root.rest);
            if root.writable {
                write.push(full);
            } else {
                see.push(full);
            }
        }
        Visibility::of(path, &see, &write)
    }

    /// Whether `path` lies strictly inside a `write` root: some component
    /// of it could be renamed or replaced by the jailed program.
    pub fn is_inside_writable(&self, path: &Path) -> bool {
        self.write
            .iter()
            .any(|root| root != path && is_within(path, root))
            || (self.cow.in_tree(path) && !self.is_cow_root(path))
    }

    /// Whether `path` is a `cow` tree's root (with its mirror open).
    fn is_cow_root(&self, path: &Path) -> bool {
        self.cow
            .roots
            .iter()
            .any(|root| root.mirror.is_some() && root.tree == path)
    }

    /// Whether the jail can change the entries of directory `path`.
    pub fn is_writable_dir(&self, path: &Path) -> bool {
        self.write.iter().any(|root| is_within(path, root)) || self.cow.in_tree(path)
    }

    fn is_write_root(&self, path: &Path) -> bool {
        self.write.iter().any(|root| root == path) || self.is_cow_root(path)
    }

    /// Judges `access` to `target`; `given` is the path as the program
    /// wrote it, for the report. `access` must not be
    /// [`Access::StatOrWriteByMode`]: the tracer reads the mode first.
    pub fn judge(
        &self,
        access: Access,
        target: &Target,
        given: &str,
        is_jail_pid: &dyn Fn(u32) -> bool,
        asker: Option<Asker>,
    ) -> Verdict {
        let path = match target {
            Target::Held => return Verdict::Allow,
            Target::Path(path) => path,
        };
        let visibility = self.visibility(path, is_jail_pid, asker);
        let deny = |errno: i32, kind: DenialKind| Verdict::Deny {
            errno,
            denial: Denial {
                kind,
                path: given.to_string(),
                canonical: path.to_string_lossy().into_owned(),
            },
        };
        if visibility == Visibility::HIDDEN {
            return deny(libc::ENOENT, DenialKind::See);
        }
        // Writes through /proc/<pid>/mem ignore page protections: they
        // could rewrite the read-only scratch region while the kernel has
        // yet to read an argument the tracer put there. No root lets them.
        if matches!(access, Access::Write | Access::Create | Access::Remove) && is_proc_mem(path) {
            return deny(libc::EACCES, DenialKind::Write);
        }
        match access {
            Access::Stat => {
                if visibility.seen >= Seen::Ancestor {
                    Verdict::Allow
                } else {
                    deny(libc::EACCES, DenialKind::See)
                }
            }
            // Listing /proc would name every process on the machine; the
            // entries themselves of processes outside the jail are hidden.
            Access::Read if path == Path::new("/proc") => deny(libc::EACCES, DenialKind::See),
            Access::Read | Access::StatOrWriteByMode { .. } => {
                if visibility.seen == Seen::Visible {
                    Verdict::Allow
                } else {
                    deny(libc::EACCES, DenialKind::See)
                }
            }
            Access::Write => {
                if visibility.writable {
                    Verdict::Allow
                } else {
                    deny(libc::EACCES, DenialKind::Write)
                }
            }
            Access::Create | Access::Remove => {
                if !visibility.writable {
                    deny(libc::EACCES, DenialKind::Write)
                } else if self.is_write_root(path) {
                    // The roots themselves stay put: removing or replacing
                    // one would take the jail's writable area with it.
                    deny(libc::EPERM, DenialKind::Write)
                } else {
                    Verdict::Allow
                }
            }
        }
    }
}

/// `/proc/<pid>/mem` or `/proc/<pid>/task/<tid>/mem`.
fn is_proc_mem(path: &Path) -> bool {
    proc_pid(path).is_some() && path.file_name().is_some_and(|name| name == "mem")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::OwnProcRoot;

    fn policy() -> Policy {
        Policy {
            see: vec![
                "/usr".into(),
                "/srv/jail".into(),
                "/proc".into(),
                "/srv/jail/tmp".into(),
            ],
            write: vec!["/srv/jail/tmp".into()],
            own_proc: Vec::new(),
            report: true,
            cow: crate::policy::CowMap {
                roots: vec![
                    crate::policy::CowRoot {
                        tree: "/srv/cow".into(),
                        mirror: Some("/var/layers/x/0".into()),
                    },
                    crate::policy::CowRoot {
                        tree: "/srv/closed".into(),
                        mirror: None,
                    },
                ],
            },
        }
    }

    fn verdict(access: Access, path: &str) -> Result<(), i32> {
        let jail_pids = |pid: u32| pid == 42;
        match policy().judge(access, &Target::Path(path.into()), path, &jail_pids, None) {
            Verdict::Allow => Ok(()),
            Verdict::Deny { errno, .. } => Err(errno),
        }
    }

    #[test]
    fn decisions_by_path_and_access() {
        use Access::*;
        let cases: &[(Access, &str, Result<(), i32>)] = &[
            (Read, "/usr/lib/libc.so", Ok(())),
            (Stat, "/usr", Ok(())),
            (Read, "/etc/passwd", Err(libc::ENOENT)),
            (Stat, "/etc/passwd", Err(libc::ENOENT)),
            (Write, "/etc/passwd", Err(libc::ENOENT)),
            (Write, "/usr/bin/python3", Err(libc::EACCES)),
            (Create, "/srv/jail/new", Err(libc::EACCES)),
            (Create, "/srv/jail/tmp/new", Ok(())),
            (Remove, "/srv/jail/tmp/old", Ok(())),
            (Remove, "/srv/jail/tmp", Err(libc::EPERM)),
            (Create, "/srv/jail/tmp", Err(libc::EPERM)),
            (Write, "/srv/jail/tmp", Ok(())),
            (Read, "/srv/jail2/x", Err(libc::ENOENT)),
            (Create, "/srv/jail2", Err(libc::ENOENT)),
            // Ancestors of roots exist but cannot be listed.
            (Stat, "/", Ok(())),
            (Stat, "/srv", Ok(())),
            (Read, "/", Err(libc::EACCES)),
            (Create, "/srv/x", Err(libc::ENOENT)),
            // /proc shows only the jail's own processes.
            (Read, "/proc/42/status", Ok(())),
            (Read, "/proc/1/status", Err(libc::ENOENT)),
            (Stat, "/proc/1", Err(libc::ENOENT)),
            (Read, "/proc/meminfo", Ok(())),
            (Read, "/proc/42/mem", Ok(())),
            (Write, "/proc/42/mem", Err(libc::EACCES)),
            (Write, "/proc/42/task/43/mem", Err(libc::EACCES)),
            (Read, "/proc", Err(libc::EACCES)),
            (Stat, "/proc", Ok(())),
            // A cow tree is seen and written (through its mirror); its
            // root stays put; its layer by its own name does not exist.
            (Read, "/srv/cow/a", Ok(())),
            (Write, "/srv/cow/a", Ok(())),
            (Create, "/srv/cow/new", Ok(())),
            (Remove, "/srv/cow/a", Ok(())),
            (Remove, "/srv/cow", Err(libc::EPERM)),
            (Read, "/var/layers/x/0/a", Err(libc::ENOENT)),
            (Stat, "/var/layers", Err(libc::ENOENT)),
            // Without its layer open, see-only.
            (Read, "/srv/closed/a", Ok(())),
            (Write, "/srv/closed/a", Err(libc::EACCES)),
        ];
        for (access, path, expected) in cases {
            assert_eq!(verdict(*access, path), *expected, "{access:?} {path}");
        }
    }

    #[test]
    fn held_objects_are_allowed() {
        let verdict = policy().judge(Access::Read, &Target::Held, "", &|_| false, None);
        assert_eq!(verdict, Verdict::Allow);
    }

    #[test]
    fn denials_print_like_the_original() {
        let Verdict::Deny { denial, .. } = policy().judge(
            Access::Read,
            &Target::Path("/etc/passwd".into()),
            "../../etc/passwd",
            &|_| false,
            None,
        ) else {
            panic!("expected a denial");
        };
        assert_eq!(denial.to_string(), "[See ../../etc/passwd=/etc/passwd]");
        let Verdict::Deny { denial, .. } = policy().judge(
            Access::Read,
            &Target::Path("/etc/x\ny".into()),
            "x\ny\u{1b}[2J",
            &|_| false,
            None,
        ) else {
            panic!("expected a denial");
        };
        assert_eq!(
            denial.to_string(),
            "[See x\\ny\\u{1b}[2J=/etc/x\\ny]",
            "bytes of the program's are escaped"
        );
    }

    #[test]
    fn proc_self_roots_mean_the_asking_thread() {
        let policy = Policy {
            see: Vec::new(),
            write: Vec::new(),
            own_proc: vec![
                OwnProcRoot {
                    per_thread: false,
                    rest: "status".into(),
                    writable: false,
                },
                OwnProcRoot {
                    per_thread: true,
                    rest: "".into(),
                    writable: false,
                },
            ],
            report: false,
            cow: Default::default(),
        };
        let asker = Some(Asker { tgid: 42, tid: 43 });
        let jail_pids = |pid: u32| pid == 42 || pid == 50;
        let judge = |path: &str, asker| match policy.judge(
            Access::Read,
            &Target::Path(path.into()),
            path,
            &jail_pids,
            asker,
        ) {
            Verdict::Allow => Ok(()),
            Verdict::Deny { errno, .. } => Err(errno),
        };
        assert_eq!(judge("/proc/42/status", asker), Ok(()));
        assert_eq!(judge("/proc/42/task/43/stat", asker), Ok(()));
        assert_eq!(judge("/proc/42/environ", asker), Err(libc::ENOENT));
        assert_eq!(judge("/proc/42/task/44/stat", asker), Err(libc::ENOENT));
        // Another jailed process's entry, and the jail's own: not this
        // thread's.
        assert_eq!(judge("/proc/50/status", asker), Err(libc::ENOENT));
        assert_eq!(judge("/proc/42/status", None), Err(libc::ENOENT));
        // The way there exists but is not listed.
        assert_eq!(judge("/proc/42", asker), Err(libc::EACCES));
    }
}
