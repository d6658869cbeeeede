//! URLs under an `http` prefix: looking at one describes the downloaded
//! body, opening one for reading gives a descriptor of it, anything else
//! is refused.

use crate::syscall::{Access, Follow, PathOperand};
use crate::tracer::answer::{Answer, Arg, Rewrite};
use crate::tracer::checks::paths::as_openat2;
use crate::tracer::scratch::Part;
use crate::tracer::stopped::Stopped;
use log::debug;
use nix::errno::Errno;

/// Says that `url` is read-only, under `report`.
fn report_read_only(thread: &dyn Stopped, url: &str) {
    thread.report_line(&format!(
        "[Http {}: read-only]",
        crate::notice::printable(url)
    ));
}

/// A path operand that names a URL under an `http` prefix: looking at
/// it describes the downloaded body; anything else is refused.
pub(in crate::tracer) fn judge_url_operand(
    thread: &mut dyn Stopped,
    name: &str,
    url: &str,
    access: Access,
    operand: &PathOperand,
    part: Part,
    rewrite: &mut Rewrite,
) -> Result<(), Errno> {
    let pid = thread.tid();
    let exec = matches!(name, "execve" | "execveat");
    if exec || !matches!(access, Access::Stat | Access::Read) {
        debug!("{pid}: {name}({url}) {access:?}: a URL is read-only");
        report_read_only(thread, url);
        return Err(if exec { Errno::EACCES } else { Errno::EROFS });
    }
    let body = thread.download(url)?;
    debug!("{pid}: {name}({url}): the downloaded body");
    body_operand(thread, body, operand, part, rewrite)
}

/// A path operand that names a file the jail serves (a download, the
/// synthetic `/etc/hosts`): the kernel looks at the jail's own file.
pub(in crate::tracer) fn body_operand(
    thread: &mut dyn Stopped,
    body: std::os::fd::OwnedFd,
    operand: &PathOperand,
    part: Part,
    rewrite: &mut Rewrite,
) -> Result<(), Errno> {
    let kernel_path = thread.hand_over(body, None, rewrite)?;
    rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
    if let Follow::UnlessFlag { arg, flag } = operand.follow {
        // lstat and friends describe the body, not the link to it.
        let value = thread.argument(arg) & !flag;
        rewrite.set(arg, Arg::Value(value));
    }
    Ok(())
}

/// Opening a file the jail serves: a fresh read-only descriptor on it.
pub(in crate::tracer) fn body_open(
    thread: &mut dyn Stopped,
    body: std::os::fd::OwnedFd,
    flags: u64,
) -> Answer {
    let mut rewrite = Rewrite::default();
    let kernel_path = match thread.hand_over(body, None, &mut rewrite) {
        Ok(path) => path,
        Err(errno) => return Answer::Refuse(errno),
    };
    as_openat2(thread, rewrite, kernel_path, flags, 0, 0)
}

/// Opening a URL: read-only opens get a fresh read-only descriptor on
/// the downloaded body; every other open fails with EROFS.
pub(in crate::tracer) fn judge_url_open(
    thread: &mut dyn Stopped,
    name: &str,
    url: &str,
    access: Access,
    flags: u64,
) -> Answer {
    let pid = thread.tid();
    if !matches!(access, Access::Read | Access::Stat) {
        debug!("{pid}: {name}({url}) {access:?}: a URL is read-only");
        report_read_only(thread, url);
        return Answer::Refuse(Errno::EROFS);
    }
    let body = match thread.download(url) {
        Ok(body) => body,
        Err(errno) => return Answer::Refuse(errno),
    };
    debug!("{pid}: {name}({url}): the downloaded body");
    body_open(thread, body, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::checks::fake::{FakeThread, TempDir, refused_with, scratch_of};

    const PATH: u64 = 0x1000;

    fn thread_with_body(dir: &TempDir) -> FakeThread {
        let body = dir.join("body");
        std::fs::write(&body, "downloaded").expect("a body");
        let mut thread = FakeThread::new("");
        thread.url_prefix = Some("/http/".to_owned());
        thread
            .bodies
            .insert("http://example.org/x".to_owned(), Ok(body.into()));
        thread
            .bodies
            .insert("http://example.org/gone".to_owned(), Err(Errno::ENOENT));
        thread
    }

    #[test]
    fn a_url_reads_as_its_downloaded_body() {
        let dir = TempDir::new("url");
        let mut thread = thread_with_body(&dir);
        thread.poke_path(PATH, "/http/example.org/x");
        let answer = thread.call("openat", [libc::AT_FDCWD as u64, PATH, 0, 0, 0, 0]);
        let path = scratch_of(&answer, 1).expect("the body's path");
        assert!(path.starts_with(b"/proc/1/fd/"), "{path:?}");
        // lstat describes the body, not a link to it.
        let answer = thread.call("lstat", [PATH, 0x3000, 0, 0, 0, 0]);
        assert!(scratch_of(&answer, 0).is_some(), "{answer:?}");
        assert!(thread.verdicts.is_empty(), "a URL is not a path");
    }

    #[test]
    fn a_url_is_read_only_and_never_runs() {
        let dir = TempDir::new("urlro");
        let mut thread = thread_with_body(&dir);
        thread.poke_path(PATH, "/http/example.org/x");
        let write = libc::O_WRONLY as u64;
        let answer = thread.call("openat", [libc::AT_FDCWD as u64, PATH, write, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EROFS);
        let answer = thread.call("unlink", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EROFS);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        let reports = thread.reports.borrow();
        assert_eq!(reports.len(), 3);
        assert!(reports[0].contains("read-only"), "{reports:?}");
    }

    #[test]
    fn a_failed_download_is_the_calls_errno() {
        let dir = TempDir::new("urlgone");
        let mut thread = thread_with_body(&dir);
        thread.poke_path(PATH, "/http/example.org/gone");
        let answer = thread.call("stat", [PATH, 0x3000, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENOENT);
        assert_eq!(*thread.handed_over.borrow(), 0);
    }
}
