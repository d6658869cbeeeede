//! What the kernel opens on its own when it runs a file: the interpreter
//! named on a script's `#!` line, or the program interpreter (dynamic
//! loader) named in an ELF file's `PT_INTERP` header. No syscall of the
//! program opens them, so the tracer must judge them at the exec.
//!
//! Two looks, because the kernel reads the file again after the check: a
//! script in a writable tree can be rewritten, or a name swapped, in
//! between. Before the exec the tracer reads what the file names, from a
//! descriptor of its own and without ever blocking (a FIFO, a device, a
//! huge file: only regular files are read, a bounded amount), and judges
//! it, so an ordinary refusal is an ordinary errno. After the exec, before
//! the new program runs a single instruction, [`loaded_files`] lists the
//! files the kernel actually mapped (the program and its loader), and each
//! must be one judged before or visible by its name: whatever route the
//! exec took (a path, a descriptor, `/proc/self/fd/N`) and whatever
//! changed in between, what runs is what the policy lets run.

use nix::errno::Errno;
use nix::sys::stat::{FileStat, SFlag};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// How many nested `#!` interpreters the kernel follows.
pub const MAX_INTERPRETER_DEPTH: usize = 5;

const PT_INTERP: u32 = 3;
/// The kernel's `BINPRM_BUF_SIZE`: how much of a script it reads for `#!`.
const SCRIPT_HEAD: usize = 256;
/// `sizeof(struct elf64_phdr)`: the kernel refuses any other entry size.
const PROGRAM_HEADER_SIZE: usize = 56;
/// The kernel refuses program header tables larger than this.
const MAX_PROGRAM_HEADERS: usize = 65536;

/// What a file's own bytes say the kernel opens next when it runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Names {
    /// Nothing: not a script, and an ELF file with no `PT_INTERP` (or not
    /// one the kernel would run).
    Nothing,
    /// A script: the interpreter on its `#!` line, which the kernel runs
    /// as it runs a program (a script again, or an ELF file).
    Script(Vec<u8>),
    /// An ELF program: its loader, which the kernel maps as it is, never
    /// looking for an interpreter of the loader's own.
    Loader(Vec<u8>),
}

/// A file's identity: `(st_dev, st_ino)`.
pub type Identity = (u64, u64);

/// The identity of the object behind `fd`.
#[cfg(test)]
pub fn identity(fd: &OwnedFd) -> Option<Identity> {
    let stat = nix::sys::stat::fstat(fd).ok()?;
    Some((stat.st_dev, stat.st_ino))
}

/// The object behind `held` opened for reading, as the exec check opens it.
#[cfg(test)]
pub fn open_for_inspection(held: &OwnedFd) -> Result<Option<File>, Errno> {
    let stat = nix::sys::stat::fstat(held)?;
    open_regular(held, &stat)
}

/// The identity in `stat`.
pub fn identity_in(stat: &FileStat) -> Identity {
    (stat.st_dev, stat.st_ino)
}

/// Whether `stat` is of a regular file.
pub fn is_regular(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
}

/// The object behind `held` (any descriptor, `O_PATH` included; `stat`
/// is its `fstat`) opened for reading. The open is without blocking:
/// only a regular file is opened (the kernel runs nothing else), and
/// `O_NONBLOCK` keeps even that from waiting on a lease. `Ok(None)`: not
/// a regular file, nothing to read. An error: a regular file the tracer
/// could not open (a lease, its permissions).
pub fn open_regular(held: &OwnedFd, stat: &FileStat) -> Result<Option<File>, Errno> {
    if !is_regular(stat) {
        return Ok(None);
    }
    let path = format!("/proc/self/fd/{}", held.as_raw_fd());
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let fd = nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::from_bits_truncate(flags),
        nix::sys::stat::Mode::empty(),
    )?;
    Ok(Some(File::from(fd)))
}

/// What the kernel would open next when executing `file`: the `#!`
/// interpreter or the ELF loader. Reads at most a few pages. An error:
/// the file could not be read (what it names is unknown; a file too
/// short for what its headers promise names nothing, as the kernel
/// refuses to run it).
pub fn interpreter_of(file: &File) -> Result<Names, Errno> {
    let mut head = [0u8; SCRIPT_HEAD];
    let count = file.read_at(&mut head, 0).map_err(errno_of)?;
    let head = &head[..count];
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&byte| byte == b'\n').next().unwrap_or_default();
        let interpreter = line
            .split(|&byte| byte == b' ' || byte == b'\t')
            .find(|word| !word.is_empty());
        return Ok(interpreter.map_or(Names::Nothing, |name| Names::Script(name.to_vec())));
    }
    elf_interpreter(file, head)
}

fn errno_of(error: std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

/// `read_exact_at`, where a file too short is `Ok(false)`.
fn read_all_at(file: &File, buffer: &mut [u8], offset: u64) -> Result<bool, Errno> {
    match file.read_exact_at(buffer, offset) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(errno_of(error)),
    }
}

fn elf_interpreter(file: &File, head: &[u8]) -> Result<Names, Errno> {
    // 64-bit little-endian ELF only: a 32-bit program's syscalls are all
    // refused by the filter anyway.
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return Ok(Names::Nothing);
    }
    let u16_at = |offset: usize| u16::from_le_bytes([head[offset], head[offset + 1]]);
    let u64_at = |bytes: &[u8], offset: usize| {
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[offset..offset + 8]);
        u64::from_le_bytes(value)
    };
    let table = u64_at(head, 0x20);
    let entry_size = usize::from(u16_at(0x36));
    let entries = usize::from(u16_at(0x38));
    if entry_size != PROGRAM_HEADER_SIZE || entry_size * entries > MAX_PROGRAM_HEADERS {
        return Ok(Names::Nothing);
    }
    let mut headers = vec![0u8; entry_size * entries];
    if !read_all_at(file, &mut headers, table)? {
        return Ok(Names::Nothing);
    }
    for entry in headers.chunks_exact(entry_size) {
        let kind = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if kind != PT_INTERP {
            continue;
        }
        let offset = u64_at(entry, 8);
        let Ok(size) = usize::try_from(u64_at(entry, 0x20)) else {
            return Ok(Names::Nothing);
        };
        let mut name = vec![0u8; size.min(libc::PATH_MAX as usize)];
        if !read_all_at(file, &mut name, offset)? {
            return Ok(Names::Nothing);
        }
        let end = name
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(name.len());
        name.truncate(end);
        return Ok(Names::Loader(name));
    }
    Ok(Names::Nothing)
}

/// A file mapped into a process, as `/proc/<pid>/maps` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub identity: Identity,
    /// Its name when it was mapped, `None` for a name the kernel marks as
    /// gone or that is no path (`/memfd:...`, a deleted file).
    pub path: Option<PathBuf>,
}

/// The files mapped into the address space whose `/proc/<pid>/maps` is
/// `maps` (opened afresh: read from its start), each once.
pub fn loaded_files(maps: &File) -> Result<Vec<Mapped>, Errno> {
    let text = crate::procfs::read_open(maps).map_err(errno_of)?;
    Ok(parse_maps(&text))
}

/// The files of a `/proc/<pid>/maps` text, each once (an inode of 0 is
/// no file).
pub fn parse_maps(text: &[u8]) -> Vec<Mapped> {
    let mut files: Vec<Mapped> = Vec::new();
    for line in crate::procfs::maps_lines(text).filter(|line| line.inode != 0) {
        let name = line.name;
        let path = (name.starts_with(b"/")
            && !name.starts_with(b"/memfd:")
            && !name.ends_with(b" (deleted)"))
        .then(|| PathBuf::from(OsStr::from_bytes(name)));
        let mapped = Mapped {
            identity: (line.device, line.inode),
            path,
        };
        if !files.contains(&mapped) {
            files.push(mapped);
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspected(path: &std::path::Path) -> Option<Vec<u8>> {
        let held: OwnedFd = File::open(path).ok()?.into();
        match interpreter_of(&open_for_inspection(&held).ok()??).ok()? {
            Names::Nothing => None,
            Names::Script(name) | Names::Loader(name) => Some(name),
        }
    }

    #[test]
    fn dynamic_programs_name_their_loader() {
        let held: OwnedFd = File::open("/bin/sh").expect("sh").into();
        let file = open_for_inspection(&held).expect("open").expect("regular");
        assert!(matches!(interpreter_of(&file), Ok(Names::Loader(_))));
        let loader = inspected(std::path::Path::new("/bin/sh")).expect("sh is dynamic");
        assert!(
            loader.starts_with(b"/lib"),
            "{:?}",
            String::from_utf8_lossy(&loader)
        );
    }

    #[test]
    fn scripts_name_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!  /usr/bin/env  python3\nprint(1)\n").unwrap();
        assert_eq!(inspected(&script), Some(b"/usr/bin/env".to_vec()));
    }

    #[test]
    fn a_fifo_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
        let held = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        // Opening it for reading would wait for a writer forever.
        assert!(matches!(open_for_inspection(&held), Ok(None)));
    }

    #[test]
    fn maps_list_each_file_once_with_its_name() {
        let text = b"5600-5602 r--p 00000000 fe:00 247030      /usr/bin/cat\n\
5602-5607 r-xp 00002000 fe:00 247030      /usr/bin/cat\n\
7ff5-7ff6 r--p 00000000 fe:00 325843      /usr/lib/ld.so\n\
7ff7-7ff8 r-xp 00000000 00:01 1025        /memfd:x (deleted)\n\
7ff8-7ff9 r-xp 00000000 fe:00 77          /jail/a.out (deleted)\n\
7ffa-7ffb rw-p 00000000 00:00 0           [stack]\n";
        let files = parse_maps(text);
        let device = libc::makedev(0xfe, 0);
        assert_eq!(
            files,
            vec![
                Mapped {
                    identity: (device, 247030),
                    path: Some("/usr/bin/cat".into())
                },
                Mapped {
                    identity: (device, 325843),
                    path: Some("/usr/lib/ld.so".into())
                },
                Mapped {
                    identity: (libc::makedev(0, 1), 1025),
                    path: None
                },
                Mapped {
                    identity: (device, 77),
                    path: None
                },
            ]
        );
    }
}
