//! The jail's own messages on stderr (`sandbox: ...`, `[Timed out]`,
//! report lines, log lines), written so that they never block the jail.
//!
//! Whoever reads the jail's stderr may stop reading, and a full pipe would
//! then hold the tracer in `write(2)`: the program, killed by the time
//! limit, stays a zombie and the jail never exits. So a message is written
//! without blocking, waiting at most [`PATIENCE`] for room; what does not
//! fit by then is dropped. After one such timeout the stream counts as
//! stuck, and later messages get a single non-blocking try, until one goes
//! through. The stream's own flags are never touched (the program and the
//! caller share that open file): pipes, FIFOs and terminals are reopened
//! through `/proc/self/fd/2` as a private non-blocking description, sockets
//! are sent to with `MSG_DONTWAIT`, and regular files are written as usual.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::stat::{Mode, SFlag};

use crate::sys;

/// The longest one message waits for room in a full stream.
pub const PATIENCE: Duration = Duration::from_millis(200);

/// How stderr is written to without blocking, found on first use.
enum Channel {
    /// A private non-blocking description of the same pipe, FIFO or tty.
    Reopened(OwnedFd),
    /// A socket: `send` with `MSG_DONTWAIT`.
    Socket,
    /// A regular file (or anything that cannot be reopened): plain writes.
    Plain,
}

static CHANNEL: Mutex<Option<Channel>> = Mutex::new(None);
static STUCK: AtomicBool = AtomicBool::new(false);

/// `text` with its control characters escaped (`\n`, `\u{1b}`, ...), so
/// that bytes a jailed program chose (a path, a URL) keep a message on
/// one line and cannot drive the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes `text` and a newline to stderr without ever blocking for long.
pub fn line(text: &str) {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    write_all(&bytes);
}

/// Stderr as an [`io::Write`] with the same promise, for `env_logger`.
pub struct Stderr;

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// Where this thread's messages go instead of stderr, if set
    /// ([`redirect`]).
    static REDIRECT: std::cell::RefCell<Option<std::rc::Rc<OwnedFd>>> =
        const { std::cell::RefCell::new(None) };
}

/// Sends this thread's messages to `fd` (a non-blocking pipe end: a
/// template run's stderr) until called again with `None`. A message that
/// does not fit at once is dropped, as for a stuck stderr.
pub fn redirect(fd: Option<std::rc::Rc<OwnedFd>>) {
    REDIRECT.with(|target| *target.borrow_mut() = fd);
}

fn write_all(mut bytes: &[u8]) {
    if let Some(fd) = REDIRECT.with(|target| target.borrow().clone()) {
        while !bytes.is_empty() {
            match nix::unistd::write(&*fd, bytes) {
                Ok(count) => bytes = &bytes[count..],
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
        return;
    }
    // A poisoned lock only means another message panicked mid-way.
    let mut channel = CHANNEL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let channel: &Channel = channel.get_or_insert_with(open);
    let stderr = io::stderr();
    let fd = match channel {
        Channel::Reopened(fd) => fd.as_fd(),
        Channel::Socket | Channel::Plain => stderr.as_fd(),
    };
    let patience = if STUCK.load(Ordering::Relaxed) {
        Duration::ZERO
    } else {
        PATIENCE
    };
    let deadline = Instant::now() + patience;
    while !bytes.is_empty() {
        let written = match channel {
            Channel::Socket => sys::send_bytes(fd.as_raw_fd(), bytes, true),
            Channel::Reopened(_) | Channel::Plain => nix::unistd::write(fd, bytes),
        };
        match written {
            Ok(count) => {
                bytes = &bytes[count.min(bytes.len())..];
                STUCK.store(false, Ordering::Relaxed);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                if !wait_for_room(fd, deadline) {
                    STUCK.store(true, Ordering::Relaxed);
                    return;
                }
            }
            // Closed or broken: nobody reads it.
            Err(_) => return,
        }
    }
}

/// Waits until `fd` takes more bytes or `deadline` passes.
fn wait_for_room(fd: BorrowedFd<'_>, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    matches!(nix::poll::poll(&mut fds, PollTimeout::from(millis)), Ok(n) if n > 0)
}

fn open() -> Channel {
    let stderr = io::stderr();
    let kind = match nix::sys::stat::fstat(stderr.as_fd()) {
        Ok(stat) => SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()),
        Err(_) => return Channel::Plain,
    };
    if kind == SFlag::S_IFSOCK {
        return Channel::Socket;
    }
    if kind != SFlag::S_IFIFO && kind != SFlag::S_IFCHR {
        return Channel::Plain;
    }
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    match nix::fcntl::open("/proc/self/fd/2", flags, Mode::empty()) {
        Ok(fd) => Channel::Reopened(fd),
        Err(_) => Channel::Plain,
    }
}
