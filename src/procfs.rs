//! Reading `/proc` files in as few syscalls as they allow, and the lines
//! of a `maps` file, which more than one part of the tracer reads.
//!
//! A `/proc` file reports a size of 0, so `std::fs::read_to_string` starts
//! from a 32-byte buffer and doubles it: a 1.4 KiB `/proc/<pid>/status`
//! took 8 reads and a `statx`. And any `read_to_end` on a `File` first
//! asks its size and position (a `statx` and an `lseek`). These read by
//! plain reads into a buffer that holds the usual file whole: one read,
//! and the one that sees its end.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Room for a task's `status`, `stat` or `syscall` whole, and a small
/// process's `maps`.
const FIRST_READ: usize = 8192;

/// The whole file at `path`.
pub fn read(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    read_open(&File::open(path)?)
}

/// The rest of an open file, from its current position, by plain reads.
pub fn read_open(file: &File) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; FIRST_READ];
    let mut length = 0;
    loop {
        if length == bytes.len() {
            bytes.resize(length * 2, 0);
        }
        match (&mut &*file).read(&mut bytes[length..]) {
            Ok(0) => break,
            Ok(count) => length += count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    bytes.truncate(length);
    Ok(bytes)
}

/// The whole file at `path` as text, any byte that is not UTF-8 replaced
/// (U+FFFD). A task's name in its `stat` and `status`, and a file name in
/// `maps`, are whatever bytes the program chose: were such a file an
/// error, a program named `"\xff"` would be unreadable, and so uncounted
/// by `maxthreads`, `cputime` and `maxmemory` (the fields that matter are
/// numbers, and no name has them in its place).
pub fn read_to_string(path: impl AsRef<Path>) -> std::io::Result<String> {
    Ok(match String::from_utf8(read(path)?) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    })
}

/// One line of `/proc/<pid>/maps`: `start-end perms offset major:minor
/// inode name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapsLine<'a> {
    pub start: u64,
    pub end: u64,
    /// `rwxp` or `rwxs`, each place `-` when not.
    pub perms: [u8; 4],
    /// As `st_dev` encodes `major:minor`.
    pub device: u64,
    /// 0: no file.
    pub inode: u64,
    /// The path, `[heap]` and the like, or empty.
    pub name: &'a [u8],
}

impl MapsLine<'_> {
    pub fn readable(&self) -> bool {
        self.perms[0] == b'r'
    }

    pub fn writable(&self) -> bool {
        self.perms[1] == b'w'
    }

    pub fn private(&self) -> bool {
        self.perms[3] == b'p'
    }
}

/// The lines of a `maps` text that parse; any other is left out.
pub fn maps_lines(text: &[u8]) -> impl Iterator<Item = MapsLine<'_>> {
    text.split(|&byte| byte == b'\n').filter_map(maps_line)
}

fn maps_line(line: &[u8]) -> Option<MapsLine<'_>> {
    let mut fields = line.splitn(6, |&byte| byte == b' ');
    let range = std::str::from_utf8(fields.next()?).ok()?;
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let perms: [u8; 4] = fields.next()?.try_into().ok()?;
    let _offset = fields.next()?;
    let device = std::str::from_utf8(fields.next()?).ok()?;
    let (major, minor) = device.split_once(':')?;
    let device = libc::makedev(
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
    );
    let inode = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let name = fields.next().unwrap_or_default();
    let name = &name[name
        .iter()
        .position(|&byte| byte != b' ')
        .unwrap_or(name.len())..];
    (start < end).then_some(MapsLine {
        start,
        end,
        perms,
        device,
        inode,
        name,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_lines_give_each_field_and_skip_what_does_not_parse() {
        let text = b"55d0c0000000-55d0c0002000 r-xp 00002000 fe:01 123          /usr/bin/a b\n\
7ffd00012000-7ffd00013000 r-xp 00000000 00:00 0                  [vdso]\n\
7f0000000000-7f0000001000 rw-s 00000000 00:01 77 \n\
not a line\n";
        let lines: Vec<_> = super::maps_lines(text).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            super::MapsLine {
                start: 0x55d0_c000_0000,
                end: 0x55d0_c000_2000,
                perms: *b"r-xp",
                device: libc::makedev(0xfe, 1),
                inode: 123,
                name: b"/usr/bin/a b",
            }
        );
        assert!(lines[0].readable() && !lines[0].writable() && lines[0].private());
        assert_eq!(lines[1].name, b"[vdso]");
        assert_eq!(
            (lines[2].inode, lines[2].name, lines[2].private()),
            (77, &b""[..], false)
        );
    }

    #[test]
    fn a_proc_file_is_read_whole() {
        let status = super::read_to_string("/proc/self/status").expect("status");
        let std_status = std::fs::read_to_string("/proc/self/status").expect("status");
        assert!(status.starts_with("Name:"), "{status}");
        assert!(status.contains("\nTgid:"), "{status}");
        assert_eq!(status.lines().count(), std_status.lines().count());
    }

    #[test]
    fn a_name_that_is_not_utf8_leaves_the_rest_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stat");
        std::fs::write(&path, b"42 (\xff\xfe) R 1 42 42 0 -1 4194560 0").expect("write");
        let text = super::read_to_string(&path).expect("read");
        assert_eq!(text, "42 (\u{fffd}\u{fffd}) R 1 42 42 0 -1 4194560 0");
    }

    #[test]
    fn a_file_larger_than_the_first_read_is_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        let content: Vec<u8> = (0..3 * super::FIRST_READ)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &content).expect("write");
        assert_eq!(super::read(&path).expect("read"), content);
    }
}
