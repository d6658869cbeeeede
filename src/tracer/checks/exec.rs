//! Execs: what the kernel opens on its own (`#!` interpreters, the ELF
//! loader) judged before the exec, and what it mapped checked after it
//! (see [`crate::tracer::exec`] for reading the files).

use crate::policy::Target;
use crate::syscall::Access;
use crate::tracer::checks::lend::take_descriptor;
use crate::tracer::checks::paths::open_verified;
use crate::tracer::resolve::{Resolved, Start, Thread};
use crate::tracer::{Tracer, exec};
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;

impl Tracer {
    /// Judges what the kernel itself opens to run `program` (the tracer's
    /// own descriptor of the file to be run): a script's `#!` interpreter
    /// (and its own, nested) and an ELF program's loader. Each file judged
    /// is remembered by identity for the check after the exec
    /// ([`exec::loaded_files`]), which holds whatever this one could not
    /// read.
    pub(in crate::tracer) fn judge_interpreters(
        &mut self,
        pid: Pid,
        name: &str,
        thread: Thread,
        program: Option<OwnedFd>,
    ) -> Result<(), i32> {
        let mut judged = Vec::new();
        let mut current = program;
        // The scripts, the ELF program and its loader.
        for _ in 0..exec::MAX_INTERPRETER_DEPTH + 2 {
            let Some(held) = current.take() else {
                break;
            };
            judged.extend(exec::identity(&held));
            let file = match exec::open_for_inspection(&held) {
                Ok(Some(file)) => file,
                Ok(None) => break,
                // A file the tracer's user may not read but may run (mode
                // --x): the kernel reads its first bytes anyway, and the
                // check after the exec sees what it mapped.
                Err(Errno::EACCES) => break,
                // Anything else (a lease taken to blind this look) would
                // let the kernel follow a `#!` no one judged.
                Err(errno) => {
                    debug!(
                        "{pid}: {name}: cannot look into the program: {}",
                        errno.desc()
                    );
                    return Err(libc::EACCES);
                }
            };
            let Some(interpreter) = exec::interpreter_of(&file) else {
                break;
            };
            let given = String::from_utf8_lossy(&interpreter).into_owned();
            let resolved = self
                .resolve(thread, Start::Cwd, &interpreter, true)
                .map_err(|errno| errno as i32)?;
            self.verdict(pid, name, Access::Read, &resolved.target, &given)?;
            current = held_copy(&resolved);
        }
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.exec_judged = judged;
        }
        Ok(())
    }

    /// Checks, at the exec event of `pid` (before the new program runs),
    /// that every file the kernel mapped was judged before the exec or is
    /// visible by its name. `false`: it is not; the caller kills the task.
    pub(in crate::tracer) fn exec_loaded_only_judged(
        &mut self,
        pid: Pid,
        judged: &[exec::Identity],
    ) -> bool {
        let files = match exec::loaded_files(pid) {
            Ok(files) => files,
            // Gone already: nothing of it runs.
            Err(Errno::ENOENT | Errno::ESRCH) => return true,
            Err(errno) => {
                warn!("{pid}: cannot list what the exec loaded: {}", errno.desc());
                return false;
            }
        };
        for file in files {
            if judged.contains(&file.identity) {
                continue;
            }
            let Some(path) = file.path else {
                debug!(
                    "{pid}: exec loaded an unnamed file never judged {:?}",
                    file.identity
                );
                return false;
            };
            let given = path.to_string_lossy().into_owned();
            if self
                .verdict(pid, "execve", Access::Read, &Target::Path(path), &given)
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// The tracer's own descriptor of a judged operand's object, for reading
/// it. `None`: it cannot be had (gone, or swapped: the canonical path has
/// no symlink, so a swap makes it fail).
pub(in crate::tracer) fn held_copy(resolved: &Resolved) -> Option<OwnedFd> {
    match &resolved.target {
        Target::Path(path) => open_verified(path, false).ok(),
        Target::Held => {
            let (owner, fd) = resolved.held_via?;
            take_descriptor(owner, fd).ok()
        }
    }
}
