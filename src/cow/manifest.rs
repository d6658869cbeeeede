//! The manifest of one mirror: what the real tree held when the layer was
//! made, per relative path (kind, the original's device and inode, the
//! mirror's own inode, size, modification time, mode, symlink target).
//!
//! Owns the plain data and its file format: one line per entry, fields
//! separated by tabs, paths and targets in hex (any bytes survive). No
//! I/O but reading and writing the one file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What kind of object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Dir => 'd',
            Kind::File => 'f',
            Kind::Symlink => 'l',
            Kind::Fifo => 'p',
        }
    }

    fn from_letter(letter: &str) -> Option<Kind> {
        Some(match letter {
            "d" => Kind::Dir,
            "f" => Kind::File,
            "l" => Kind::Symlink,
            "p" => Kind::Fifo,
            _ => return None,
        })
    }

    /// The kind of a `st_mode`, if the layer mirrors it.
    pub fn of_mode(mode: u32) -> Option<Kind> {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => Some(Kind::Dir),
            libc::S_IFREG => Some(Kind::File),
            libc::S_IFLNK => Some(Kind::Symlink),
            libc::S_IFIFO => Some(Kind::Fifo),
            _ => None,
        }
    }
}

/// One object of the real tree when the layer was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the tree's root; empty for the root itself.
    pub path: PathBuf,
    pub kind: Kind,
    /// The original's device and inode.
    pub original: (u64, u64),
    /// The mirror's object's inode: the original's when it is a hard
    /// link, its own when copied (or a directory, symlink or fifo).
    pub mirror_ino: u64,
    pub size: u64,
    /// Modification time, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// A symlink's target.
    pub target: Option<PathBuf>,
    /// The mirror holds a placeholder for a file the jail's user could
    /// neither link nor read (mode 0000, the original's size, sparse,
    /// and times): nothing writes through it or links it, as nothing
    /// could the original.
    pub unreadable: bool,
}

impl Entry {
    /// Whether the mirror holds the original itself (a hard link), which
    /// must never be written through.
    pub fn is_linked(&self) -> bool {
        self.kind == Kind::File && self.mirror_ino == self.original.1
    }
}

/// Every entry of one tree, in the order the tree was walked (parents
/// before children).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The real tree, canonical.
    pub tree: PathBuf,
    /// The mirror's device.
    pub mirror_dev: u64,
    pub entries: Vec<Entry>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The bytes `hex` wrote. Byte by byte, without a parse per pair: a
/// kept layer's manifest (a line per file of the tree) is read at every
/// start, and this was most of that time.
fn unhex(text: &str) -> Option<Vec<u8>> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            b'A'..=b'F' => Some(byte - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks_exact(2) {
        out.push((digit(pair[0])? << 4) | digit(pair[1])?);
    }
    Some(out)
}

fn path_hex(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    hex(path.as_os_str().as_bytes())
}

fn path_unhex(text: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(unhex(text)?)))
}

const HEADER: &str = "sandbox-cow-manifest 1";

impl Manifest {
    /// The (device, inode) pairs of objects of the mirror never written
    /// through: the originals it links to, and its placeholders (a copy
    /// up of one fails as reading the original would, `EACCES`).
    pub fn originals(&self) -> HashSet<(u64, u64)> {
        self.entries
            .iter()
            .filter(|entry| entry.is_linked())
            .map(|entry| entry.original)
            .chain(self.placeholders())
            .collect()
    }

    /// The (device, inode) pairs of the mirror's placeholders
    /// ([`Entry::unreadable`]).
    pub fn placeholders(&self) -> HashSet<(u64, u64)> {
        self.entries
            .iter()
            .filter(|entry| entry.kind == Kind::File && entry.unreadable)
            .map(|entry| (self.mirror_dev, entry.mirror_ino))
            .collect()
    }

    /// The text of the manifest file.
    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\n{}\t{}\n", path_hex(&self.tree), self.mirror_dev);
        for entry in &self.entries {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:o}\t{}\t{}\n",
                entry.kind.letter(),
                entry.original.0,
                entry.original.1,
                entry.mirror_ino,
                entry.size,
                entry.mtime.0,
                entry.mtime.1,
                path_hex(&entry.path),
                entry.mode,
                entry.target.as_deref().map(path_hex).unwrap_or_default(),
                if entry.unreadable { "u" } else { "" },
            ));
        }
        text
    }

    /// Parses a manifest file's text; `Err(line)` names the first bad
    /// line (1-based).
    pub fn from_text(text: &str) -> Result<Manifest, usize> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(1);
        }
        let (tree, mirror_dev) = lines
            .next()
            .and_then(|line| line.split_once('\t'))
            .and_then(|(tree, dev)| Some((path_unhex(tree)?, dev.parse().ok()?)))
            .ok_or(2usize)?;
        let mut entries = Vec::new();
        for (index, line) in lines.enumerate() {
            let bad = index + 3;
            let mut fields = line.split('\t');
            let mut field = || fields.next().ok_or(bad);
            let (kind, dev, ino, mirror_ino, size) =
                (field()?, field()?, field()?, field()?, field()?);
            let (sec, nsec, path, mode, target, flags) =
                (field()?, field()?, field()?, field()?, field()?, field()?);
            if fields.next().is_some() {
                return Err(bad);
            }
            let number = |text: &str| text.parse::<u64>().map_err(|_| bad);
            let signed = |text: &str| text.parse::<i64>().map_err(|_| bad);
            entries.push(Entry {
                path: path_unhex(path).ok_or(bad)?,
                kind: Kind::from_letter(kind).ok_or(bad)?,
                original: (number(dev)?, number(ino)?),
                mirror_ino: number(mirror_ino)?,
                size: number(size)?,
                mtime: (signed(sec)?, signed(nsec)?),
                mode: u32::from_str_radix(mode, 8).map_err(|_| bad)?,
                target: if target.is_empty() {
                    None
                } else {
                    Some(path_unhex(target).ok_or(bad)?)
                },
                unreadable: match flags {
                    "" => false,
                    "u" => true,
                    _ => return Err(bad),
                },
            });
        }
        Ok(Manifest {
            tree,
            mirror_dev,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_survives_its_file_format() {
        let manifest = Manifest {
            tree: PathBuf::from("/srv/a tree\n"),
            mirror_dev: 7,
            entries: vec![
                Entry {
                    path: PathBuf::new(),
                    kind: Kind::Dir,
                    original: (7, 100),
                    mirror_ino: 200,
                    size: 4096,
                    mtime: (1_700_000_000, 5),
                    mode: 0o755,
                    target: None,
                    unreadable: false,
                },
                Entry {
                    path: PathBuf::from("odd\tname"),
                    kind: Kind::File,
                    original: (7, 101),
                    mirror_ino: 101,
                    size: 3,
                    mtime: (-1, 999_999_999),
                    mode: 0o4644,
                    target: None,
                    unreadable: false,
                },
                Entry {
                    path: PathBuf::from("secret"),
                    kind: Kind::File,
                    original: (7, 103),
                    mirror_ino: 203,
                    size: 9,
                    mtime: (1, 2),
                    mode: 0o600,
                    target: None,
                    unreadable: true,
                },
                Entry {
                    path: PathBuf::from("link"),
                    kind: Kind::Symlink,
                    original: (7, 102),
                    mirror_ino: 202,
                    size: 4,
                    mtime: (0, 0),
                    mode: 0o777,
                    target: Some(PathBuf::from("/etc")),
                    unreadable: false,
                },
            ],
        };
        let text = manifest.to_text();
        assert_eq!(Manifest::from_text(&text), Ok(manifest.clone()));
        assert_eq!(
            manifest.originals(),
            HashSet::from([(7, 101), (7, 203)]),
            "only linked files and placeholders are never written through"
        );
        assert_eq!(manifest.placeholders(), HashSet::from([(7, 203)]));
        assert_eq!(Manifest::from_text("junk\n"), Err(1));
        let broken = text.replace("\t101\t101\t", "\tx\t101\t");
        assert_eq!(Manifest::from_text(&broken), Err(4));
    }
}
