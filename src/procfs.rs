//! Reading `/proc` files in as few syscalls as they allow.
//!
//! A `/proc` file reports a size of 0, so `std::fs::read_to_string` starts
//! from a 32-byte buffer and doubles it: a 1.4 KiB `/proc/<pid>/status`
//! took 8 reads and a `statx`. These start from a buffer that holds the
//! usual file whole, so one read and the one that sees its end suffice.

use std::io::Read;
use std::path::Path;

/// Room for a task's `status`, `stat` or `syscall` whole, and a small
/// process's `maps`.
const FIRST_READ: usize = 8192;

/// The whole file at `path`.
pub fn read(path: impl AsRef<Path>) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(FIRST_READ);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The whole file at `path`, which must be UTF-8.
pub fn read_to_string(path: impl AsRef<Path>) -> std::io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))
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
