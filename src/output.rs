//! `outputlimit`: the program's stdout and stderr passed through the jail
//! and cut after a number of bytes.
//!
//! Owns the pipes that become the program's stdout and stderr and the
//! thread that copies them to the jail's own. The tracer never touches
//! them (it must never wait on a program's output): the copier is a thread
//! of its own that waits in `poll(2)`, on the pipes and on the jail's
//! stdout and stderr. It copies exactly the first `limit` bytes of the two
//! streams together, in the order it reads them; the byte past the limit
//! ends the jail (the copier records the cause and asks the watchdog to
//! kill). It gives up what is left when the jail is being killed (time
//! limit, a limit, a request), so a reader of the jail's output that never
//! reads cannot keep a killed jail alive.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// How long one wait lasts before the copier looks whether the jail is
/// being killed.
const TICK_MS: u16 = 100;

fn tick() -> PollTimeout {
    PollTimeout::from(TICK_MS)
}

/// The largest write at once: a pipe that polls writable has room for a
/// page, so a write this size does not block.
const CHUNK: usize = 4096;

/// The program's ends of the output pipes, and the jail's.
pub(crate) struct Pipes {
    /// Become the program's stdout and stderr (close-on-exec here; the
    /// child's `dup2` clears that on its copies).
    pub stdout_write: OwnedFd,
    pub stderr_write: OwnedFd,
    stdout_read: OwnedFd,
    stderr_read: OwnedFd,
}

impl Pipes {
    pub(crate) fn new() -> Result<Pipes, Errno> {
        let flags = nix::fcntl::OFlag::O_CLOEXEC;
        let (stdout_read, stdout_write) = nix::unistd::pipe2(flags)?;
        let (stderr_read, stderr_write) = nix::unistd::pipe2(flags)?;
        Ok(Pipes {
            stdout_write,
            stderr_write,
            stdout_read,
            stderr_read,
        })
    }

    /// The descriptors the child makes its stdin, stdout and stderr: the
    /// jail's own stdin, and the pipes.
    pub(crate) fn stdio(&self) -> [RawFd; 3] {
        [
            0,
            self.stdout_write.as_raw_fd(),
            self.stderr_write.as_raw_fd(),
        ]
    }

    /// Closes the jail's copies of the program's ends (the program holds
    /// its own) and starts copying. `past_limit` runs once, on the first
    /// byte past `limit`; `abandon` says the jail is being killed.
    pub(crate) fn copy(
        self,
        limit: u64,
        past_limit: Box<dyn FnOnce() + Send>,
        abandon: Arc<AtomicBool>,
    ) -> Copier {
        drop(self.stdout_write);
        drop(self.stderr_write);
        let (stdout_read, stderr_read) = (self.stdout_read, self.stderr_read);
        let thread = std::thread::spawn(move || {
            let mut copy = Copy {
                left: limit,
                abandon,
            };
            let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
            let pipes = [(stdout_read, stdout.as_fd()), (stderr_read, stderr.as_fd())];
            if copy.run(&pipes) == Ended::PastLimit {
                past_limit();
            }
        });
        Copier { thread }
    }
}

/// The running copier.
pub(crate) struct Copier {
    thread: JoinHandle<()>,
}

impl Copier {
    /// Waits until everything the program wrote is out (both pipes at
    /// their end), the limit was passed, or the jail is being killed.
    pub(crate) fn finish(self) {
        let _ = self.thread.join();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Every writer closed its end and everything read was written.
    Drained,
    /// A byte past the limit arrived; exactly the limit was written.
    PastLimit,
    /// The jail is being killed, or the jail's own output is gone.
    GaveUp,
}

struct Copy {
    /// Bytes that may still pass.
    left: u64,
    abandon: Arc<AtomicBool>,
}

impl Copy {
    /// Copies each pipe to its target until all are at their end.
    fn run(&mut self, pipes: &[(OwnedFd, BorrowedFd<'_>)]) -> Ended {
        let mut open: Vec<bool> = vec![true; pipes.len()];
        let mut buffer = vec![0u8; 64 * 1024];
        while open.contains(&true) {
            if self.abandon.load(Ordering::SeqCst) {
                return Ended::GaveUp;
            }
            let mut fds: Vec<PollFd<'_>> = pipes
                .iter()
                .zip(&open)
                .filter(|(_, open)| **open)
                .map(|((pipe, _), _)| PollFd::new(pipe.as_fd(), PollFlags::POLLIN))
                .collect();
            match nix::poll::poll(&mut fds, tick()) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(_) => return Ended::GaveUp,
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
                .collect();
            drop(fds);
            let open_indices: Vec<usize> = (0..pipes.len()).filter(|&i| open[i]).collect();
            for (index, ready) in open_indices.into_iter().zip(ready) {
                if !ready {
                    continue;
                }
                let (pipe, target) = &pipes[index];
                let count = match nix::unistd::read(pipe, &mut buffer) {
                    Ok(0) => {
                        open[index] = false;
                        continue;
                    }
                    Ok(count) => count,
                    Err(Errno::EINTR | Errno::EAGAIN) => continue,
                    Err(_) => {
                        open[index] = false;
                        continue;
                    }
                };
                let allowed = usize::try_from(self.left).unwrap_or(usize::MAX).min(count);
                if !self.write_all(*target, &buffer[..allowed]) {
                    return Ended::GaveUp;
                }
                self.left -= allowed as u64;
                if allowed < count {
                    return Ended::PastLimit;
                }
            }
        }
        Ended::Drained
    }

    /// Writes all of `bytes`, waiting for room but never past a kill.
    fn write_all(&self, target: BorrowedFd<'_>, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.abandon.load(Ordering::SeqCst) {
                return false;
            }
            let mut fds = [PollFd::new(target, PollFlags::POLLOUT)];
            match nix::poll::poll(&mut fds, tick()) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(_) => return false,
            }
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if revents.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL) {
                return false;
            }
            let end = bytes.len().min(CHUNK);
            match nix::unistd::write(target, &bytes[..end]) {
                Ok(written) => bytes = &bytes[written..],
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                // Closed or broken: nobody reads it any more.
                Err(_) => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Runs a copy of `chunks` (written to stdout's and stderr's pipes in
    /// turn) under `limit`; returns what came out and how it ended.
    fn copy_of(chunks: &[(usize, &[u8])], limit: u64) -> (Vec<u8>, Ended) {
        let (out_read, out_write) = nix::unistd::pipe().unwrap();
        let (err_read, err_write) = nix::unistd::pipe().unwrap();
        let (sink_read, sink_write) = nix::unistd::pipe().unwrap();
        let writers = [out_write, err_write];
        for (stream, bytes) in chunks {
            nix::unistd::write(&writers[*stream], bytes).unwrap();
        }
        drop(writers);
        let mut copy = Copy {
            left: limit,
            abandon: Arc::new(AtomicBool::new(false)),
        };
        let ended = copy.run(&[
            (out_read, sink_write.as_fd()),
            (err_read, sink_write.as_fd()),
        ]);
        drop(sink_write);
        let mut out = Vec::new();
        std::fs::File::from(sink_read)
            .read_to_end(&mut out)
            .unwrap();
        (out, ended)
    }

    #[test]
    fn exactly_the_limit_passes_and_the_next_byte_ends_it() {
        let (out, ended) = copy_of(&[(0, b"hello "), (1, b"world")], 11);
        assert_eq!(ended, Ended::Drained);
        assert_eq!(out.len(), 11);
        let (out, ended) = copy_of(&[(0, b"hello "), (1, b"world!")], 11);
        assert_eq!(ended, Ended::PastLimit);
        assert_eq!(out.len(), 11);
        let (out, ended) = copy_of(&[(0, b"x")], 0);
        assert_eq!(ended, Ended::PastLimit);
        assert!(out.is_empty());
        let (out, ended) = copy_of(&[], 0);
        assert_eq!(ended, Ended::Drained);
        assert!(out.is_empty());
    }

    #[test]
    fn a_kill_abandons_what_is_left() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let mut copy = Copy {
            left: u64::MAX,
            abandon: Arc::new(AtomicBool::new(true)),
        };
        let (_sink_read, sink_write) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&write, b"data").unwrap();
        assert_eq!(
            copy.run(&[(read, sink_write.as_fd())]),
            Ended::GaveUp,
            "the writer is still open, and the jail is being killed"
        );
    }
}
