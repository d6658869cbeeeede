//! Objects the jail holds for the time of one call, named for the kernel
//! as `/proc/<holder>/fd/<n>`: held by the tracing thread, or under
//! Landlock lent to the keeper ([`crate::keeper`]).

use crate::sys;
use crate::tracer::Tracer;
use crate::tracer::answer::Rewrite;
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

impl Tracer {
    /// How the kernel is to reach descriptor `fd` of task `owner`, an
    /// object with no path (a pipe, a socket) reached through
    /// `/proc/<owner>/fd/<fd>`: the jail's own copy of it, so that a
    /// `dup2` meanwhile cannot swap it.
    pub(in crate::tracer) fn held_object_path(
        &self,
        owner: Pid,
        fd: i32,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, i32> {
        let held = take_descriptor(owner, fd)?;
        self.fd_path(held, None, rewrite)
    }

    /// How a call that changes the file behind the task's descriptor `fd`
    /// reaches the very object judged. `None`: the task is alone with its
    /// descriptor table, so nothing can swap it; the call runs as it is.
    pub(in crate::tracer) fn descriptor_path(
        &mut self,
        pid: Pid,
        fd: i32,
        rewrite: &mut Rewrite,
    ) -> Result<Option<Vec<u8>>, i32> {
        let alone = self.alone_with_descriptors(pid);
        if alone {
            return Ok(None);
        }
        let held = take_descriptor(pid, fd)?;
        // The kernel refuses fchmod, fchown and fsetxattr on an O_PATH
        // descriptor; reached through /proc/<holder>/fd/<n> it would not.
        let flags = nix::fcntl::fcntl(&held, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(|errno| errno as i32)?;
        if flags & libc::O_PATH != 0 {
            return Err(libc::EBADF);
        }
        self.fd_path(held, None, rewrite).map(Some)
    }

    /// How the kernel is to reach a downloaded body: a descriptor of the
    /// jail's, so the program gets its own read-only one on the same file.
    pub(in crate::tracer) fn body_path(
        &mut self,
        body: OwnedFd,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, i32> {
        self.fd_path(body, None, rewrite)
    }

    /// `/proc/<holder>/fd/<n>[/<name>]`: how a jailed thread names an
    /// object the jail holds for the time of one call. The holder is the
    /// tracer, or under Landlock (which keeps the program out of the
    /// tracer's /proc) the keeper. The program cannot use such a path
    /// itself: the `/proc` entries of both are hidden from it.
    pub(in crate::tracer) fn fd_path(
        &self,
        held: OwnedFd,
        name: Option<&OsStr>,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, i32> {
        let mut path = if self.landlock {
            let Some(keeper) = &self.keeper else {
                debug!("no descriptor keeper under Landlock: refusing");
                return Err(libc::EPERM);
            };
            let lent = crate::keeper::Lent::new(keeper, &held).map_err(|errno| {
                // Said once: the program could make it fail at will.
                if !keeper.has_failed() {
                    warn!("the descriptor keeper failed: {}; refusing", errno.desc());
                }
                keeper.note_failure();
                libc::EPERM
            })?;
            let path = lent.path().into_bytes();
            rewrite.lent.push(lent);
            path
        } else {
            let path = format!("/proc/{}/fd/{}", self.own_tid, held.as_raw_fd()).into_bytes();
            rewrite.hold(held);
            path
        };
        if let Some(name) = name {
            path.push(b'/');
            path.extend_from_slice(name.as_bytes());
        }
        Ok(path)
    }
}

/// The tracer's own copy of descriptor `fd` of task `owner`: the exact
/// open file the check looked at, whatever the task's table holds later.
pub(in crate::tracer) fn take_descriptor(owner: Pid, fd: i32) -> Result<OwnedFd, i32> {
    let pidfd = sys::pidfd_open(owner).map_err(|errno| errno as i32)?;
    sys::pidfd_getfd(&pidfd, fd).map_err(|errno| match errno {
        Errno::EBADF => libc::EBADF,
        errno => errno as i32,
    })
}
