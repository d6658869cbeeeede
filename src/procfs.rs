//! Reading `/proc` files in as few syscalls as they allow.
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

#[cfg(test)]
mod tests {
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
