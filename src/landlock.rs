//! Landlock: a second wall the kernel enforces on its own.
//!
//! Owns building a Landlock ruleset from the policy's roots, in the parent
//! before fork (it allocates and opens files), so that the child only has
//! to call `landlock_restrict_self` before exec. `see` roots become
//! readable and executable, `write` roots everything; TCP bind and connect
//! are handled with no rule (refused), and where the kernel can, abstract
//! unix sockets and signals are scoped to the jail. Rights the running
//! kernel does not know are left out (best effort, by ABI version); a
//! config can demand Landlock with `landlock require`.
//!
//! It backs up the ptrace layer rather than replacing it: the tracer still
//! decides every path; Landlock also covers what no syscall of the program
//! opens (a script's interpreter, the ELF loader) and whatever the tracer
//! might get wrong.

use crate::sys;
use nix::errno::Errno;
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

// Filesystem rights, by the ABI version that introduced them.
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
const REFER: u64 = 1 << 13; // ABI 2
const TRUNCATE: u64 = 1 << 14; // ABI 3
const IOCTL_DEV: u64 = 1 << 15; // ABI 5
const NET_BIND_TCP: u64 = 1 << 0; // ABI 4
const NET_CONNECT_TCP: u64 = 1 << 1; // ABI 4
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0; // ABI 6
const SCOPE_SIGNAL: u64 = 1 << 1; // ABI 6

/// Rights that make sense on a file (not a directory) root.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

/// Every filesystem right the kernel of ABI `abi` knows.
pub fn handled_fs(abi: u32) -> u64 {
    let mut rights = EXECUTE
        | WRITE_FILE
        | READ_FILE
        | READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        rights |= REFER;
    }
    if abi >= 3 {
        rights |= TRUNCATE;
    }
    if abi >= 5 {
        rights |= IOCTL_DEV;
    }
    rights
}

/// Rights granted beneath a root: `see` roots read and execute, `write`
/// roots every other right the kernel knows; a file root only file rights.
/// `IOCTL_DEV` (ioctl on a device) is a write in the jail's terms: a
/// device's modes belong to whoever may write it, so `see` roots lack it.
pub fn rights_for(abi: u32, writable: bool, is_directory: bool) -> u64 {
    let handled = handled_fs(abi);
    // A `write` root is not visible unless a `see` root covers it too,
    // whose rule then adds the reading rights.
    let wanted = if writable {
        handled & !(READ_FILE | READ_DIR | EXECUTE)
    } else {
        READ_FILE | READ_DIR | EXECUTE
    };
    let wanted = if is_directory {
        wanted
    } else {
        wanted & FILE_RIGHTS
    };
    wanted & handled
}

/// What the config asks of Landlock (`landlock`).
pub use crate::config::LandlockMode as Mode;

/// Landlock could not be set up although the config requires it, or a
/// rule could not be added.
#[derive(Debug)]
pub enum LandlockError {
    Unavailable(Errno),
    Rule { path: String, errno: Errno },
}

impl fmt::Display for LandlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockError::Unavailable(errno) => write!(
                f,
                "the config requires Landlock, but the kernel offers none ({}); enable \
                 CONFIG_SECURITY_LANDLOCK and add landlock to the lsm= boot parameter, or use \
                 `landlock auto`",
                errno.desc()
            ),
            LandlockError::Rule { path, errno } => {
                write!(f, "landlock rule for {path}: {}", errno.desc())
            }
        }
    }
}

impl std::error::Error for LandlockError {}

/// A ready ruleset, to be applied by the child before exec.
#[derive(Debug)]
pub struct Ruleset {
    fd: OwnedFd,
    pub abi: u32,
}

impl Ruleset {
    /// The descriptor the child passes to `landlock_restrict_self`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The Landlock ABI version of the running kernel.
pub fn abi_version() -> Result<u32, Errno> {
    sys::landlock_abi_version()
}

/// Builds the ruleset for these roots. `Ok(None)`: Landlock is off or, in
/// `auto` mode, unavailable (the reason is returned for the report).
pub fn build(
    mode: Mode,
    see: &[&Path],
    write: &[&Path],
) -> Result<Result<Ruleset, String>, LandlockError> {
    if mode == Mode::Off {
        return Ok(Err("turned off by the config".into()));
    }
    let abi = match abi_version() {
        Ok(abi) => abi,
        Err(errno) if mode == Mode::Require => return Err(LandlockError::Unavailable(errno)),
        Err(errno) => return Ok(Err(errno.desc().into())),
    };
    let handled_net = if abi >= 4 {
        NET_BIND_TCP | NET_CONNECT_TCP
    } else {
        0
    };
    let scoped = if abi >= 6 {
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    } else {
        0
    };
    let fd = sys::landlock_create_ruleset(handled_fs(abi), handled_net, scoped, abi)
        .map_err(LandlockError::Unavailable)?;
    let ruleset = Ruleset { fd, abi };
    for (roots, writable) in [(see, false), (write, true)] {
        for root in roots {
            add_root(&ruleset, root, writable)?;
        }
    }
    Ok(Ok(ruleset))
}

fn add_root(ruleset: &Ruleset, root: &Path, writable: bool) -> Result<(), LandlockError> {
    let rule_error = |errno| LandlockError::Rule {
        path: root.display().to_string(),
        errno,
    };
    let Ok(c_path) = CString::new(root.as_os_str().as_bytes()) else {
        return Ok(());
    };
    let parent = match nix::fcntl::open(
        c_path.as_c_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        // A root that does not exist (yet) grants nothing.
        Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES) => return Ok(()),
        Err(errno) => return Err(rule_error(errno)),
    };
    let is_directory = nix::sys::stat::fstat(&parent)
        .map(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(rule_error)?;
    let rights = rights_for(ruleset.abi, writable, is_directory);
    sys::landlock_add_path_rule(&ruleset.fd, rights, &parent).map_err(rule_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_follow_the_abi_and_the_kind_of_root() {
        assert_eq!(handled_fs(1) & (REFER | TRUNCATE | IOCTL_DEV), 0);
        assert_ne!(handled_fs(3) & TRUNCATE, 0);
        assert_ne!(handled_fs(5) & IOCTL_DEV, 0);
        assert_eq!(
            rights_for(6, true, true),
            handled_fs(6) & !(READ_FILE | READ_DIR | EXECUTE)
        );
        // A see root reads; changing a device's modes is a write.
        assert_eq!(rights_for(6, false, true), READ_FILE | READ_DIR | EXECUTE);
        // A file root gets no directory rights (the kernel would refuse).
        assert_eq!(rights_for(6, false, false), READ_FILE | EXECUTE);
        assert_eq!(rights_for(1, false, false), READ_FILE | EXECUTE);
        assert_eq!(
            rights_for(6, true, false),
            WRITE_FILE | TRUNCATE | IOCTL_DEV
        );
    }
}
