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
pub use crate::ident;
mod protocol;
mod server;
pub mod template;

pub use client::ClientEnding;
pub use ident::{Ident, IdentError};

use crate::jail::Jail;
use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag};
use std::ffi::OsString;
use std::fmt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A session could not be started, reached or ended.
#[derive(Debug)]
pub enum SessionError {
    Ident(IdentError),
    /// `sockdir` cannot be created, or is not a directory only this user
    /// can write.
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
    /// Stdin ended before its first byte: there is no command to send.
    NoInput,
    /// Stdin could not be read.
    Input(Errno),
    /// Starting the session server failed.
    Start(String),
    /// The jail cannot start the session: a `connect` line's host name
    /// does not resolve, say. Nothing was started.
    Jail(crate::error::Error),
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
            SessionError::NoInput => f.write_str(
                "no input: stdin ended before its first byte, and a session command \
                 needs one; nothing was run (the session, if any, goes on)",
            ),
            SessionError::Input(errno) => write!(f, "cannot read stdin: {}", errno.desc()),
            SessionError::Jail(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl SessionError {
    /// The exit status an invocation ends with (see `error::status`).
    pub fn exit_status(&self) -> u8 {
        match self {
            SessionError::Ident(_) | SessionError::NoInput => crate::error::status::USAGE,
            SessionError::Jail(error) => error.exit_status(),
            _ => crate::error::status::JAIL_FAILED,
        }
    }
}

/// Where sessions of this user live when the config names no `sockdir`.
pub fn default_sock_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/sandbox-{}", nix::unistd::geteuid()))
}

/// Makes sure `dir` exists and only this user can change what is in it.
///
/// A missing directory is created 0700. An existing one must be a real
/// directory (not a symlink) of this user that neither its group nor
/// others may write: then nobody else can create, replace or remove a
/// socket in it. Reading it (0755, as a plain `mkdir` makes it) is
/// allowed: connecting needs write permission on the socket (0600), and
/// both ends check the other's uid anyway.
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
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFLNK {
        return Err(problem(
            "it is a symlink, and a symlink may be pointed elsewhere; \
             name the real directory in `sockdir`"
                .into(),
        ));
    }
    if kind != SFlag::S_IFDIR {
        return Err(problem(
            "it is not a directory; remove it or choose another `sockdir`".into(),
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(problem(format!(
            "it is owned by uid {}, not by you (uid {me}), so its owner could \
             replace your sockets; use a directory of your own (chown it to \
             yourself, or choose another `sockdir`)",
            stat.st_uid
        )));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(problem(format!(
            "mode {mode:o} lets {} create and replace sockets in it; \
             remove that write permission (chmod go-w)",
            match (mode & 0o020 != 0, mode & 0o002 != 0) {
                (true, true) => "its group and others",
                (true, false) => "its group",
                _ => "others",
            }
        )));
    }
    Ok(())
}

/// Longest path a unix socket may have (`sun_path` holds 108 bytes, NUL
/// included).
const MAX_SOCKET_PATH: usize = 107;

/// Which config a session belongs to.
///
/// A session is keyed by its config as well as its ident: the canonical
/// path of the config file (another config, even with the same `sockdir`
/// and ident, gets its own session) and a digest of its text (an edited
/// config starts a fresh session under its new policy; the sessions of
/// its earlier versions are ended when that happens, and `kill` ends
/// them too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    /// Hex of the first bytes of SHA-256 of the canonical path.
    file: String,
    /// Hex of the first bytes of SHA-256 of the file's text.
    version: String,
}

/// Hex digits of each digest in a socket name (48 bits).
const KEY_HEX: usize = 12;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn sha256(parts: &[&[u8]]) -> ring::digest::Digest {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        // Length-prefixed, so that parts cannot run into each other.
        context.update(&(part.len() as u64).to_le_bytes());
        context.update(part);
    }
    context.finish()
}

impl ConfigKey {
    /// The key of the config `jail` was loaded from: its file's canonical
    /// path and the digest of its text. A config with no file behind its
    /// name (one parsed from text, `<builder>` or `<string>`) is told
    /// apart by its text: two such configs with different texts are two
    /// "files", so that neither ends the other's sessions as an earlier
    /// version of itself.
    pub fn of(jail: &Jail) -> ConfigKey {
        use std::os::unix::ffi::OsStrExt;
        let file = &jail.config.file;
        let path_digest = match std::fs::canonicalize(file) {
            Ok(canonical) => sha256(&[canonical.as_os_str().as_bytes()]),
            Err(_) => sha256(&[file.as_os_str().as_bytes(), &jail.config.text_sha256]),
        };
        ConfigKey {
            file: hex(&path_digest.as_ref()[..KEY_HEX / 2]),
            version: hex(&jail.config.text_sha256[..KEY_HEX / 2]),
        }
    }
}

/// The part of a socket name that says whose session it is (ident and
/// config file), without the config's version.
fn session_stem(ident: &Ident, key: &ConfigKey) -> String {
    format!("{}.{}", ident.file_stem(), key.file)
}

/// The same, short, for when the plain name is too long for a socket
/// path: a digest of ident and config file, after a dot (an ident's
/// stem never starts with one, so it names no other session's socket).
fn hashed_stem(ident: &Ident, key: &ConfigKey) -> String {
    let digest = sha256(&[ident.as_bytes(), key.file.as_bytes()]);
    format!(".{}", hex(&digest.as_ref()[..KEY_HEX]))
}

/// The socket of session `ident` of config `key` in `dir`:
/// `<ident>.<file>.<version>.sock`, where `<ident>` is the ident's
/// percent-encoded stem ([`Ident::file_stem`]) and `<file>` and
/// `<version>` are 12 hex digits of the digests in `key`; when that path
/// is longer than a socket path may be, `.<24 hex digits>.<version>.sock`
/// (a digest of ident and config file).
pub fn socket_path(dir: &Path, ident: &Ident, key: &ConfigKey) -> Result<PathBuf, SessionError> {
    let plain = dir.join(format!("{}.{}.sock", session_stem(ident, key), key.version));
    if plain.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(plain);
    }
    let hashed = dir.join(format!("{}.{}.sock", hashed_stem(ident, key), key.version));
    if hashed.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok(hashed);
    }
    let room = MAX_SOCKET_PATH - (hashed.as_os_str().len() - dir.as_os_str().len());
    Err(SessionError::SockDir {
        dir: dir.to_path_buf(),
        problem: format!(
            "its path is {} bytes long, too long for a session socket in it \
             (unix socket paths are limited to {MAX_SOCKET_PATH} bytes); \
             choose a `sockdir` of at most {room} bytes",
            dir.as_os_str().len()
        ),
    })
}

/// The sockets in `dir` of session `ident` of config file `key` under
/// every version of the config, the current one included.
fn sockets_of_every_version(dir: &Path, ident: &Ident, key: &ConfigKey) -> Vec<PathBuf> {
    let stems = [session_stem(ident, key), hashed_stem(ident, key)];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return false;
            };
            stems.iter().any(|stem| {
                name.strip_prefix(stem.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .and_then(|rest| rest.strip_suffix(".sock"))
                    .is_some_and(|version| {
                        version.len() == KEY_HEX && version.bytes().all(|b| b.is_ascii_hexdigit())
                    })
            })
        })
        .map(|entry| entry.path())
        .collect()
}

/// Ends the sessions of `ident` started under earlier versions of this
/// config file: they run under a policy the config no longer says.
fn end_other_versions(dir: &Path, ident: &Ident, key: &ConfigKey, current: &Path) {
    for path in sockets_of_every_version(dir, ident, key) {
        if path == current {
            continue;
        }
        log::info!(
            "ending session {} of an earlier version of the config",
            path.display()
        );
        match client::connect(&path) {
            Ok(Some(stream)) => {
                let _ = client::kill(stream);
            }
            // Stale: nobody answers. Removed under the lock, if still so.
            Ok(None) => {
                if let Ok(_lock) = DirLock::take(dir)
                    && matches!(client::connect_now(&path), Ok(client::Reach::Stale))
                {
                    let _ = std::fs::remove_file(&path);
                }
            }
            Err(_) => {}
        }
    }
}

fn sock_dir(jail: &Jail) -> PathBuf {
    jail.config
        .sock_dir
        .clone()
        .unwrap_or_else(default_sock_dir)
}

/// How many times an invocation tries to reach or start its session.
const ATTEMPTS: usize = 5;

/// Runs one command in session `ident`: attaches to the waiting program,
/// or starts it (`program`, or the config's) when there is none.
pub fn run(jail: &Jail, ident: &Ident, program: &[OsString]) -> Result<ClientEnding, SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    let key = ConfigKey::of(jail);
    let path = socket_path(&dir, ident, &key)?;
    let first = client::first_input()?;
    for _ in 0..ATTEMPTS {
        let stream = reach(
            jail,
            &dir,
            &path,
            program,
            || end_other_versions(&dir, ident, &key, &path),
            server::start,
        )?;
        match client::run_command(stream, &first)? {
            client::Outcome::Ended(ending) => return Ok(ending),
            // Queued behind a command that ended the session, or sent to a
            // session that was ending: it never ran, so it runs now, in a
            // new session.
            client::Outcome::NotStarted => {
                log::info!("the session ended before this command started; sending it again")
            }
        }
    }
    Err(SessionError::Start(
        "the session kept ending before this command could start".into(),
    ))
}

/// Forks a server listening on its socket (a session's, a template's).
type StartServer = fn(
    &Jail,
    &Path,
    &Path,
    SocketId,
    UnixListener,
    &[OsString],
    crate::policy::network::NetworkPolicy,
) -> Result<(), SessionError>;

/// Connects to the session at `path`, starting it first if there is none
/// (after `before_start`).
///
/// Starting is done under a lock on `dir` (see [`DirLock`]), and so is
/// every removal of a socket: whatever the interleaving of invocations,
/// one server per socket path, and no invocation removes a socket that
/// another has just made.
fn reach(
    jail: &Jail,
    dir: &Path,
    path: &Path,
    program: &[OsString],
    mut before_start: impl FnMut(),
    start: StartServer,
) -> Result<UnixStream, SessionError> {
    for _ in 0..ATTEMPTS {
        // A live session answers without any lock.
        if let Some(stream) = client::connect(path)? {
            return Ok(stream);
        }
        before_start();
        // The names the session starts with, resolved here (never under
        // the lock: a lookup may wait on DNS) so that one that does not
        // resolve is this invocation's error, not a server's that ends
        // before any client hears of it. The server forked below has them.
        let network = jail.network().map_err(SessionError::Jail)?;
        let lock = DirLock::take(dir)?;
        // Under the lock no session here starts or ends: a socket that
        // nobody listens on now is stale.
        match client::connect_now(path)? {
            client::Reach::Connected(stream) => return Ok(stream),
            // Its backlog is full: the connect outside the lock waits.
            client::Reach::Busy => continue,
            client::Reach::Stale => {
                log::info!("removing stale session socket {}", path.display());
                let _ = std::fs::remove_file(path);
            }
            client::Reach::Missing => {}
        }
        let listener = bind(path)?;
        let id = SocketId::of(path).ok_or_else(|| SessionError::Socket {
            path: path.to_path_buf(),
            errno: Errno::ENOENT,
        })?;
        start(jail, dir, path, id, listener, program, network)?;
        drop(lock);
    }
    Err(SessionError::Start(
        "the session socket neither answers nor can be created".into(),
    ))
}

/// Ends session `ident` of this config and all its processes (also one
/// an earlier version of the config file started); fine if there is none.
/// Sessions of other config files are left alone.
pub fn kill(jail: &Jail, ident: &Ident) -> Result<(), SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    let key = ConfigKey::of(jail);
    let current = socket_path(&dir, ident, &key)?;
    let mut paths = sockets_of_every_version(&dir, ident, &key);
    if !paths.contains(&current) {
        paths.push(current);
    }
    for path in paths {
        if let Some(stream) = client::connect(&path)? {
            client::kill(stream)?;
        }
    }
    Ok(())
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

/// An exclusive `flock` on `sockdir` itself (no lock file is left
/// behind), held while a session is started or its socket removed. Only
/// non-blocking work is done under it.
struct DirLock {
    _held: nix::fcntl::Flock<std::fs::File>,
}

impl DirLock {
    fn take(dir: &Path) -> Result<DirLock, SessionError> {
        let failed = |errno: Errno| SessionError::SockDir {
            dir: dir.to_path_buf(),
            problem: format!("cannot lock it: {}", errno.desc()),
        };
        let mut file = std::fs::File::open(dir)
            .map_err(|error| failed(Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))))?;
        loop {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive) {
                Ok(held) => return Ok(DirLock { _held: held }),
                Err((back, Errno::EINTR)) => file = back,
                Err((_, errno)) => return Err(failed(errno)),
            }
        }
    }
}

/// Which file a session's socket is: a new socket at the same path (after
/// `sockdir` was deleted and made again, say) differs in inode or in
/// change time, even where the file system reuses inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketId {
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
}

impl SocketId {
    /// The socket `path` names now, if it names one.
    fn of(path: &Path) -> Option<SocketId> {
        let stat = nix::sys::stat::lstat(path).ok()?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
            return None;
        }
        Some(SocketId {
            dev: stat.st_dev,
            ino: stat.st_ino,
            ctime: (stat.st_ctime, stat.st_ctime_nsec),
        })
    }
}

/// Removes the socket at `path` if it is still session `id`'s, under the
/// lock: never a socket a newer session made there.
fn remove_socket_if_ours(dir: &Path, path: &Path, id: SocketId) {
    let Ok(_lock) = DirLock::take(dir) else {
        // The directory is gone, and the socket with it.
        return;
    };
    if SocketId::of(path) == Some(id) {
        let _ = std::fs::remove_file(path);
    }
}

/// The uid of the process at the other end of a unix socket.
fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|credentials| credentials.uid())
}
