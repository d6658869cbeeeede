//! Suspended REPL sessions: `wakeup`, resume by ident, `kill <ident>`.
//!
//! Owns the life of a session. The first invocation for an ident binds a
//! unix socket under `sockdir` and forks: the child becomes the session
//! server (the tracer of the jailed program, in the background), the parent
//! connects to it like every later invocation does. A client sends its
//! stdin and relays the program's output until the program makes the
//! wakeup syscall (the command is done), exits, or runs out of time.
//!
//! Rules a bot author can rely on (see `docs/sessions.md`):
//! - one client at a time: a second invocation on a busy ident waits until
//!   the first one's command is done, then runs;
//! - `kill` does not wait: it ends the session at once;
//! - output written before the wakeup reaches the client that sent the
//!   command; output written after it goes to the next client;
//! - a client that dies mid-command loses that command's output; the
//!   session goes on.

mod client;
mod ident;
mod protocol;
mod server;

pub use client::ClientEnding;
pub use ident::{Ident, IdentError};

use crate::jail::Jail;
use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag};
use std::ffi::OsString;
use std::fmt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// A session could not be started, reached or ended.
#[derive(Debug)]
pub enum SessionError {
    Ident(IdentError),
    /// `sockdir` is missing, not a directory, or reachable by others.
    SockDir {
        dir: PathBuf,
        problem: String,
    },
    /// The socket could not be created or used.
    Socket {
        path: PathBuf,
        errno: Errno,
    },
    /// The process at the other end runs as another user.
    WrongPeer {
        path: PathBuf,
        uid: u32,
    },
    /// The session went away without saying how the command ended.
    Lost,
    /// Starting the session server failed.
    Start(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Ident(error) => write!(f, "bad ident: {error}"),
            SessionError::SockDir { dir, problem } => {
                write!(f, "sockdir {}: {problem}", dir.display())
            }
            SessionError::Socket { path, errno } => {
                write!(f, "session socket {}: {}", path.display(), errno.desc())
            }
            SessionError::WrongPeer { path, uid } => write!(
                f,
                "session socket {} is served by uid {uid}, not by you; refusing to talk to it",
                path.display()
            ),
            SessionError::Lost => {
                f.write_str("the session ended without saying how the command ended")
            }
            SessionError::Start(reason) => write!(f, "cannot start the session: {reason}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// Where sessions of this user live when the config names no `sockdir`.
pub fn default_sock_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/sandbox-{}", nix::unistd::geteuid()))
}

/// Makes sure `dir` exists and only this user can reach it.
pub fn prepare_sock_dir(dir: &Path) -> Result<(), SessionError> {
    let problem = |problem: String| SessionError::SockDir {
        dir: dir.to_path_buf(),
        problem,
    };
    match nix::unistd::mkdir(dir, Mode::S_IRWXU) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => return Err(problem(format!("cannot create it: {}", errno.desc()))),
    }
    let stat = nix::sys::stat::lstat(dir)
        .map_err(|errno| problem(format!("cannot inspect it: {}", errno.desc())))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return Err(problem("not a directory (symlinks are refused)".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(problem(format!(
            "owned by uid {}, not by you (uid {me}); sessions need a directory of your own",
            stat.st_uid
        )));
    }
    if stat.st_mode & 0o077 != 0 {
        return Err(problem(format!(
            "mode {:o} lets others in; make it 0700 (chmod 700)",
            stat.st_mode & 0o7777
        )));
    }
    Ok(())
}

/// The socket of session `ident` in `dir`.
pub fn socket_path(dir: &Path, ident: &Ident) -> PathBuf {
    dir.join(format!("{ident}.sock"))
}

fn sock_dir(jail: &Jail) -> PathBuf {
    jail.config
        .sock_dir
        .clone()
        .unwrap_or_else(default_sock_dir)
}

/// Runs one command in session `ident`: attaches to the waiting program,
/// or starts it (`program`, or the config's) when there is none.
pub fn run(jail: &Jail, ident: &Ident, program: &[OsString]) -> Result<ClientEnding, SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    let path = socket_path(&dir, ident);
    for _ in 0..5 {
        if let Some(stream) = client::connect(&path)? {
            return client::run_command(stream);
        }
        match bind(&path) {
            Ok(listener) => server::start(jail, &path, listener, program)?,
            // Another invocation is starting this session right now; its
            // socket answers on the next round.
            Err(SessionError::Socket {
                errno: Errno::EADDRINUSE,
                ..
            }) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(error) => return Err(error),
        }
    }
    Err(SessionError::Start(
        "the session socket neither answers nor can be created".into(),
    ))
}

/// Ends session `ident` and all its processes; fine if there is none.
pub fn kill(jail: &Jail, ident: &Ident) -> Result<(), SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    match client::connect(&socket_path(&dir, ident))? {
        Some(stream) => client::kill(stream),
        None => Ok(()),
    }
}

fn bind(path: &Path) -> Result<UnixListener, SessionError> {
    let listener = UnixListener::bind(path).map_err(|error| SessionError::Socket {
        path: path.to_path_buf(),
        errno: Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    // The directory is private already; the socket is too.
    let _ = nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        path,
        Mode::S_IRUSR | Mode::S_IWUSR,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    );
    Ok(listener)
}

/// The uid of the process at the other end of a unix socket.
fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|credentials| credentials.uid())
}
