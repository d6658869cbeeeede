//! The client side: an invocation that feeds a session one command.

use super::protocol::Frame;
use super::{SessionError, peer_uid};
use nix::errno::Errno;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// One read of stdin.
const CHUNK: usize = 64 * 1024;

/// How a command sent to a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEnding {
    /// The program reached its wakeup: it waits for the next command.
    Done,
    Exited(i32),
    Killed(i32),
    TimedOut,
    /// The session was ended by `kill` while this command ran.
    Ended,
    /// A template's run wrote past `outputlimit`: it was killed once the
    /// limit's bytes were out.
    OutputLimit,
    /// A template's run used more CPU time than `cputime`.
    CpuLimit,
    /// A template's run held more memory than `maxmemory`.
    MemoryLimit,
}

impl ClientEnding {
    /// What the `sandbox` binary makes of this ending: its exit status,
    /// and the line it prints on stderr, if any (`template`: the ending
    /// was a template's run's, whose `kill` ends the run, not a session).
    pub fn verdict(self, template: bool) -> (u8, Option<String>) {
        use crate::error::status;
        match self {
            ClientEnding::Done => (0, None),
            ClientEnding::Exited(code) => (code as u8, None),
            ClientEnding::Killed(signal) => (
                128u8.wrapping_add(signal as u8),
                Some(format!("[{}]", crate::sys::signal_description(signal))),
            ),
            ClientEnding::TimedOut => (status::TIMED_OUT, Some("[Timed out]".into())),
            ClientEnding::OutputLimit => (status::OUTPUT_LIMIT, Some("[Output limit]".into())),
            ClientEnding::CpuLimit => (status::CPU_LIMIT, Some("[CPU time limit]".into())),
            ClientEnding::MemoryLimit => (status::MEMORY_LIMIT, Some("[Memory limit]".into())),
            ClientEnding::Ended if template => (
                status::JAIL_FAILED,
                Some("sandbox: the run was ended by `kill`".into()),
            ),
            ClientEnding::Ended => (
                status::JAIL_FAILED,
                Some("sandbox: the session was ended".into()),
            ),
        }
    }
}

/// Connects to the session at `path`. `Ok(None)` when no session answers
/// there; a socket nobody listens on is left alone (only an invocation
/// holding the directory's lock may remove it).
pub fn connect(path: &Path) -> Result<Option<UnixStream>, SessionError> {
    match UnixStream::connect(path) {
        Ok(stream) => checked(path, stream).map(Some),
        Err(error) => match Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)) {
            Errno::ENOENT | Errno::ECONNREFUSED => Ok(None),
            errno => Err(SessionError::Socket {
                path: path.to_path_buf(),
                errno,
            }),
        },
    }
}

/// What a connect that must not wait found.
pub enum Reach {
    Connected(UnixStream),
    /// A server listens but its backlog is full.
    Busy,
    /// A socket nobody listens on.
    Stale,
    Missing,
}

/// Connects to `path` without waiting (the caller holds the directory's
/// lock, which a server may need to end).
pub fn connect_now(path: &Path) -> Result<Reach, SessionError> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, socket};
    let failed = |errno: Errno| SessionError::Socket {
        path: path.to_path_buf(),
        errno,
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(failed)?;
    let address = UnixAddr::new(path).map_err(failed)?;
    match nix::sys::socket::connect(fd.as_raw_fd(), &address) {
        Ok(()) => {
            let stream = UnixStream::from(fd);
            stream
                .set_nonblocking(false)
                .map_err(|_| failed(Errno::EIO))?;
            checked(path, stream).map(Reach::Connected)
        }
        Err(Errno::EAGAIN) => Ok(Reach::Busy),
        Err(Errno::ECONNREFUSED) => Ok(Reach::Stale),
        Err(Errno::ENOENT) => Ok(Reach::Missing),
        Err(errno) => Err(failed(errno)),
    }
}

/// Only a server of this user is talked to.
fn checked(path: &Path, stream: UnixStream) -> Result<UnixStream, SessionError> {
    let me = nix::unistd::geteuid().as_raw();
    match peer_uid(&stream) {
        Some(uid) if uid == me => Ok(stream),
        Some(uid) => Err(SessionError::WrongPeer {
            path: path.to_path_buf(),
            uid,
        }),
        None => Err(SessionError::Socket {
            path: path.to_path_buf(),
            errno: Errno::EPROTO,
        }),
    }
}

/// The first piece of this invocation's stdin, read before any session
/// is reached: an empty stdin starts nothing and waits for nothing.
pub fn first_input() -> Result<Vec<u8>, SessionError> {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        match io::stdin().read(&mut buffer) {
            Ok(0) => return Err(SessionError::NoInput),
            Ok(count) => {
                buffer.truncate(count);
                return Ok(buffer);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(SessionError::Input(Errno::from_raw(
                    error.raw_os_error().unwrap_or(libc::EIO),
                )));
            }
        }
    }
}

/// Input a template run sends with its request, at most.
const EARLY_INPUT: usize = 1 << 20;
const _: () = assert!(EARLY_INPUT <= super::protocol::MAX_FRAME);

/// What stdin holds now: the first read waits (as [`first_input`]'s),
/// later ones are made only while more is there at once. Returns the
/// bytes and whether stdin has ended (an empty stdin is fine: the run
/// reads end of file).
pub fn available_input() -> Result<(Vec<u8>, bool), SessionError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut input = Vec::new();
    let mut buffer = vec![0u8; CHUNK];
    let stdin = io::stdin();
    loop {
        // Never past EARLY_INPUT, whatever the reads before gave: the
        // request's one Input frame must stay within MAX_FRAME, or the
        // server refuses it (and the run it started is ended).
        let room = CHUNK.min(EARLY_INPUT - input.len());
        match stdin.lock().read(&mut buffer[..room]) {
            Ok(0) => return Ok((input, true)),
            Ok(count) => input.extend_from_slice(&buffer[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(SessionError::Input(Errno::from_raw(
                    error.raw_os_error().unwrap_or(libc::EIO),
                )));
            }
        }
        if input.len() >= EARLY_INPUT {
            return Ok((input, false));
        }
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1..)) {
            return Ok((input, false));
        }
    }
}

/// How a command sent to a session came out.
pub enum Outcome {
    Ended(ClientEnding),
    /// The session went away before the command's turn came: it never
    /// ran, and may be sent again.
    NotStarted,
}

/// Sends `first` and then the rest of this process's stdin as the command,
/// and relays the output until the session says how the command ended.
pub fn run_command(stream: UnixStream, first: &[u8]) -> Result<Outcome, SessionError> {
    let mut sender = stream.try_clone().map_err(|_| SessionError::Lost)?;
    if Frame::Input(first.to_vec()).write_to(&mut sender).is_err() {
        return Ok(Outcome::NotStarted);
    }
    relay(stream, Some(sender))
}

/// Copies the rest of stdin to the session on a thread of its own: the
/// command may end (wakeup) before stdin does, and a terminal's stdin may
/// never end. Started only once the command's turn has come, so the
/// process has no other thread while it may still fork a server.
fn send_rest_of_stdin(mut sender: UnixStream) {
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => {
                    if Frame::Input(buffer[..count].to_vec())
                        .write_to(&mut sender)
                        .is_err()
                    {
                        return;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = Frame::EndOfInput.write_to(&mut sender);
    });
}

/// Asks the session to end and waits until it has.
pub fn kill(mut stream: UnixStream) -> Result<(), SessionError> {
    Frame::Kill
        .write_to(&mut stream)
        .map_err(|_| SessionError::Lost)?;
    match relay(stream, None) {
        Ok(_) | Err(SessionError::Lost) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Relays the session's frames to this process's stdout and stderr until
/// the command's ending. `sender`, the socket for the rest of stdin, is
/// put to work once the command starts.
pub(super) fn relay(
    stream: UnixStream,
    sender: Option<UnixStream>,
) -> Result<Outcome, SessionError> {
    relay_into(stream, sender, &mut io::stdout(), &mut io::stderr())
}

/// [`relay`] into `stdout` and `stderr`, whatever they are.
pub(super) fn relay_into(
    mut stream: UnixStream,
    mut sender: Option<UnixStream>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Outcome, SessionError> {
    let mut started = false;
    loop {
        let frame = match Frame::read_from(&mut stream) {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) if !started => return Ok(Outcome::NotStarted),
            Ok(None) | Err(_) => return Err(SessionError::Lost),
        };
        // A closed stdout or stderr must not stop the command: the output
        // is dropped, as it would be for a program writing there.
        let ending = match frame {
            Frame::Started => {
                started = true;
                if let Some(sender) = sender.take() {
                    send_rest_of_stdin(sender);
                }
                continue;
            }
            Frame::Stdout(data) => {
                let _ = stdout.write_all(&data).and_then(|()| stdout.flush());
                continue;
            }
            Frame::Stderr(data) => {
                let _ = stderr.write_all(&data).and_then(|()| stderr.flush());
                continue;
            }
            Frame::Done => ClientEnding::Done,
            Frame::Exited(code) => ClientEnding::Exited(code),
            Frame::Killed(signal) => ClientEnding::Killed(signal),
            Frame::TimedOut => ClientEnding::TimedOut,
            Frame::Ended => ClientEnding::Ended,
            Frame::OutputLimit => ClientEnding::OutputLimit,
            Frame::CpuLimit => ClientEnding::CpuLimit,
            Frame::MemoryLimit => ClientEnding::MemoryLimit,
            Frame::Input(_)
            | Frame::EndOfInput
            | Frame::Kill
            | Frame::Run(_)
            | Frame::KillRuns(_)
            | Frame::KillTemplate => return Err(SessionError::Lost),
        };
        return Ok(Outcome::Ended(ending));
    }
}
