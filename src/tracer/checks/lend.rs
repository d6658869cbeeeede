//! Objects the jail holds for the time of one call, named for the kernel
//! as `/proc/<holder>/fd/<n>` ([`Stopped::hand_over`]): held by the tracing
//! thread, or under Landlock lent to the keeper ([`crate::keeper`]).

use crate::tracer::answer::Rewrite;
use crate::tracer::stopped::Stopped;
use nix::errno::Errno;
use nix::unistd::Pid;

/// How the kernel is to reach descriptor `fd` of task `owner`, an
/// object with no path (a pipe, a socket) reached through
/// `/proc/<owner>/fd/<fd>`: the jail's own copy of it, so that a
/// `dup2` meanwhile cannot swap it.
pub(in crate::tracer) fn held_object_path(
    thread: &dyn Stopped,
    owner: Pid,
    fd: i32,
    rewrite: &mut Rewrite,
) -> Result<Vec<u8>, Errno> {
    let held = thread.take_descriptor(owner, fd)?;
    thread.hand_over(held, None, rewrite)
}

/// How a call that changes the file behind the thread's descriptor `fd`
/// reaches the very object judged. `None`: the thread is alone with its
/// descriptor table, so nothing can swap it; the call runs as it is.
pub(in crate::tracer) fn descriptor_path(
    thread: &dyn Stopped,
    fd: i32,
    rewrite: &mut Rewrite,
) -> Result<Option<Vec<u8>>, Errno> {
    if thread.alone_with_descriptors() {
        return Ok(None);
    }
    let held = thread.take_descriptor(thread.tid(), fd)?;
    // The kernel refuses fchmod, fchown and fsetxattr on an O_PATH
    // descriptor; reached through /proc/<holder>/fd/<n> it would not.
    let flags = nix::fcntl::fcntl(&held, nix::fcntl::FcntlArg::F_GETFL)?;
    if flags & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    thread.hand_over(held, None, rewrite).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::checks::fake::{FakeThread, TID};

    #[test]
    fn a_descriptor_is_handed_over_only_while_the_table_is_shared() {
        let mut thread = FakeThread::new("");
        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        thread.holds(3, file.into(), "/dev/null");
        let mut rewrite = Rewrite::default();
        assert_eq!(descriptor_path(&thread, 3, &mut rewrite), Ok(None));
        thread.alone = false;
        let path = descriptor_path(&thread, 3, &mut rewrite).expect("handed over");
        assert!(path.is_some_and(|path| path.starts_with(b"/proc/1/fd/")));
        assert_eq!(rewrite.held.len(), 1, "held until the call's exit");
        assert_eq!(
            descriptor_path(&thread, 9, &mut rewrite),
            Err(Errno::EBADF),
            "a descriptor the thread does not have"
        );
    }

    #[test]
    fn an_o_path_descriptor_changes_nothing_through_the_jail() {
        let mut thread = FakeThread::new("");
        thread.alone = false;
        let path_only = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_PATH,
            nix::sys::stat::Mode::empty(),
        )
        .expect("O_PATH open");
        thread.holds(3, path_only, "/dev/null");
        let mut rewrite = Rewrite::default();
        assert_eq!(descriptor_path(&thread, 3, &mut rewrite), Err(Errno::EBADF));
        assert!(rewrite.held.is_empty());
    }

    #[test]
    fn an_object_of_another_task_is_the_jails_own_copy() {
        let mut thread = FakeThread::new("");
        let file = std::fs::File::open("/dev/null").expect("/dev/null");
        thread.descriptors.insert((TID + 1, 5), file.into());
        let mut rewrite = Rewrite::default();
        let path = held_object_path(&thread, Pid::from_raw(TID + 1), 5, &mut rewrite);
        assert!(path.is_ok_and(|path| path.starts_with(b"/proc/1/fd/")));
        assert_eq!(rewrite.held.len(), 1);
    }
}
