//! The session server: the background process that traces the program
//! and serves one client at a time.
//!
//! Two threads. The main thread is the tracer (ptrace belongs to the
//! thread that attached). The I/O thread polls the listening socket, the
//! clients, the program's stdout/stderr pipes and a control pipe from the
//! tracer. At the wakeup syscall the tracer tells the I/O thread, which
//! drains what the program wrote so far to the client of that command,
//! ends the command, and only then lets the tracer resume the program:
//! output written before the wakeup can never reach the next client.

use super::protocol::{Frame, take_frame};
use super::{SessionError, SocketId, peer_uid, remove_socket_if_ours};
use crate::jail::{Ending, Jail, SessionHooks, Watchdog};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

/// Output kept for the next client while none is connected.
const BACKLOG_LIMIT: usize = 1 << 20;
/// How often the server checks that its socket is still there.
const SOCKET_CHECK: Duration = Duration::from_secs(1);
/// How long a write to a client may block before the client is dropped.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Forks the server for a new session listening on `listener`; returns in
/// the parent, which then connects as the first client.
pub fn start(
    jail: &Jail,
    dir: &Path,
    path: &Path,
    id: SocketId,
    listener: UnixListener,
    program: &[OsString],
) -> Result<(), SessionError> {
    match crate::sys::fork_process().map_err(|errno| SessionError::Start(errno.desc().into()))? {
        nix::unistd::ForkResult::Parent { .. } => Ok(()),
        nix::unistd::ForkResult::Child => {
            // The session outlives the invocation that starts it: it must
            // not keep that invocation's descriptors (a pipe the caller
            // waits on would never end). It keeps its socket, and the
            // `passfd` descriptors the program is to get.
            let mut keep = jail.config.pass_fds.clone();
            keep.push(listener.as_raw_fd());
            close_inherited(&mut keep);
            let socket = Socket {
                dir: dir.to_path_buf(),
                path: path.to_path_buf(),
                id,
            };
            let status = serve(jail, &socket, listener, program);
            remove_socket_if_ours(&socket.dir, &socket.path, socket.id);
            std::process::exit(status)
        }
    }
}

/// Closes every descriptor above 2 but those in `keep`.
fn close_inherited(keep: &mut Vec<RawFd>) {
    keep.retain(|fd| *fd > 2);
    keep.sort_unstable();
    keep.dedup();
    let mut next: RawFd = 3;
    for &fd in keep.iter() {
        if fd > next {
            let _ = crate::sys::close_range(next as u32, (fd - 1) as u32);
        }
        next = fd + 1;
    }
    let _ = crate::sys::close_range(next as u32, u32::MAX);
}

/// Why the I/O thread is woken by the tracer.
const WAKEUP: u8 = b'W';
const ENDED: u8 = b'E';

/// Where the session listens, and which socket file is its own.
#[derive(Clone)]
struct Socket {
    dir: PathBuf,
    path: PathBuf,
    id: SocketId,
}

fn serve(jail: &Jail, socket: &Socket, listener: UnixListener, program: &[OsString]) -> i32 {
    // Leave the client's terminal and process group behind: the session
    // outlives the invocation that started it.
    let _ = nix::unistd::setsid();
    detach_stdio();
    let Ok(pipes) = Pipes::new() else {
        return 1;
    };
    // The jail's own messages (`report` lines, warnings) go where the
    // program's stderr goes: to the client of the current command.
    let _ = crate::sys::dup2(pipes.stderr_write.as_raw_fd(), 2);
    let Ok((control_read, control_write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return 1;
    };
    let (ack_send, ack_receive) = mpsc::channel::<()>();
    let ending: Arc<Mutex<Option<Result<Ending, String>>>> = Arc::new(Mutex::new(None));
    let (watchdog_send, watchdog_receive) = mpsc::channel::<Watchdog>();
    let io = IoThread {
        listener,
        socket: socket.clone(),
        orphaned: false,
        stdin: pipes.stdin_write,
        stdout: Some(pipes.stdout_read),
        stderr: Some(pipes.stderr_read),
        control: control_read,
        ack: ack_send,
        ending: ending.clone(),
        time_limit: jail.config.time_limit,
        watchdog: None,
        watchdog_receive,
    };
    let io_thread = std::thread::spawn(move || io.run());

    let control = Arc::new(control_write);
    let wakeup_control = control.clone();
    let hooks = SessionHooks {
        stdio: [
            pipes.stdin_read.as_raw_fd(),
            pipes.stdout_write.as_raw_fd(),
            pipes.stderr_write.as_raw_fd(),
        ],
        suspender: Box::new(move || {
            if nix::unistd::write(&*wakeup_control, &[WAKEUP]).is_ok() {
                let _ = ack_receive.recv();
            }
        }),
        on_start: Box::new(move |watchdog| {
            let _ = watchdog_send.send(watchdog);
        }),
    };
    let result = jail.run_with(program, Some(hooks));
    // The program's ends of the pipes must close, or the I/O thread would
    // wait for output that cannot come.
    drop(pipes.stdin_read);
    drop(pipes.stdout_write);
    drop(pipes.stderr_write);
    let code = match &result {
        Ok(Ending::Exited(code)) => *code,
        Ok(_) => 1,
        Err(_) => 1,
    };
    if let Ok(mut slot) = ending.lock() {
        *slot = Some(result.map_err(|error| error.to_string()));
    }
    let _ = nix::unistd::write(&*control, &[ENDED]);
    let _ = io_thread.join();
    code
}

/// Points the server's own stdio at /dev/null: the terminal belongs to
/// the client that started it, and messages go through the socket.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for target in 0..3 {
            let _ = crate::sys::dup2(null.as_raw_fd(), target);
        }
    }
}

struct Pipes {
    stdin_read: OwnedFd,
    stdin_write: OwnedFd,
    stdout_read: OwnedFd,
    stdout_write: OwnedFd,
    stderr_read: OwnedFd,
    stderr_write: OwnedFd,
}

impl Pipes {
    fn new() -> Result<Pipes, Errno> {
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC);
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        for end in [&stdin_write, &stdout_read, &stderr_read] {
            set_nonblocking(end.as_fd())?;
        }
        Ok(Pipes {
            stdin_read,
            stdin_write,
            stdout_read,
            stdout_write,
            stderr_read,
            stderr_write,
        })
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

struct Client {
    stream: UnixStream,
    /// Bytes received but not yet parsed into frames.
    received: Vec<u8>,
    /// Input frames received while waiting for its turn.
    queued_input: Vec<u8>,
    wants_kill: bool,
    gone: bool,
}

impl Client {
    fn send(&mut self, frame: &Frame) {
        if !self.gone && frame.write_to(&mut self.stream).is_err() {
            self.gone = true;
        }
    }
}

struct IoThread {
    listener: UnixListener,
    socket: Socket,
    /// The socket path no longer names this session's socket: nobody can
    /// reach it, so it ends.
    orphaned: bool,
    stdin: OwnedFd,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    control: OwnedFd,
    ack: mpsc::Sender<()>,
    ending: Arc<Mutex<Option<Result<Ending, String>>>>,
    time_limit: Option<Duration>,
    watchdog: Option<Watchdog>,
    watchdog_receive: mpsc::Receiver<Watchdog>,
}

/// The I/O thread's changing state.
#[derive(Default)]
struct State {
    /// The client whose command runs now.
    active: Option<Client>,
    /// A command is running (its client may have died meanwhile).
    command_running: bool,
    /// No command has run yet: the first one also covers start-up.
    first_command_done: bool,
    /// Clients waiting for their turn.
    waiting: VecDeque<Client>,
    /// Bytes for the program's stdin not yet written.
    stdin_pending: Vec<u8>,
    /// Output made while no command ran, for the next client.
    backlog: Vec<Frame>,
    backlog_size: usize,
}

enum Source {
    Listener,
    Control,
    Stdout,
    Stderr,
    Stdin,
    Active,
    Waiting(usize),
}

impl IoThread {
    fn run(mut self) {
        let mut state = State::default();
        // The handle comes once the program runs (or never, if it could not
        // start: then the sender is dropped and this returns at once).
        self.watchdog = self.watchdog_receive.recv().ok();
        let mut checked = Instant::now();
        loop {
            if checked.elapsed() >= SOCKET_CHECK {
                checked = Instant::now();
                self.check_socket();
            }
            self.start_next_command(&mut state);
            let mut sources = Vec::new();
            let mut fds = Vec::new();
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            sources.push(Source::Listener);
            fds.push(PollFd::new(self.control.as_fd(), PollFlags::POLLIN));
            sources.push(Source::Control);
            if let Some(stdout) = &self.stdout {
                fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Stdout);
            }
            if let Some(stderr) = &self.stderr {
                fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Stderr);
            }
            if !state.stdin_pending.is_empty() {
                fds.push(PollFd::new(self.stdin.as_fd(), PollFlags::POLLOUT));
                sources.push(Source::Stdin);
            }
            if let Some(active) = &state.active {
                fds.push(PollFd::new(active.stream.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Active);
            }
            for (index, client) in state.waiting.iter().enumerate() {
                fds.push(PollFd::new(client.stream.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Waiting(index));
            }
            let timeout = PollTimeout::try_from(SOCKET_CHECK).unwrap_or(PollTimeout::NONE);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return,
            }
            let ready: Vec<usize> = fds
                .iter()
                .enumerate()
                .filter(|(_, fd)| fd.revents().is_some_and(|events| !events.is_empty()))
                .map(|(index, _)| index)
                .collect();
            drop(fds);
            for index in ready {
                match sources[index] {
                    Source::Listener => self.accept(&mut state),
                    Source::Control => {
                        if self.on_control(&mut state) {
                            return;
                        }
                    }
                    Source::Stdout => {
                        self.forward_output(&mut state, false);
                    }
                    Source::Stderr => {
                        self.forward_output(&mut state, true);
                    }
                    Source::Stdin => self.write_stdin(&mut state),
                    Source::Active => self.read_active(&mut state),
                    Source::Waiting(position) => self.read_waiting(&mut state, position),
                }
            }
            state.waiting.retain(|client| !client.gone);
        }
    }

    fn accept(&mut self, state: &mut State) {
        let Ok((stream, _)) = self.listener.accept() else {
            return;
        };
        let me = nix::unistd::geteuid().as_raw();
        if peer_uid(&stream) != Some(me) {
            // Only the user who started the session may use it.
            return;
        }
        let _ = stream.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        state.waiting.push_back(Client {
            stream,
            received: Vec::new(),
            queued_input: Vec::new(),
            wants_kill: false,
            gone: false,
        });
    }

    /// When no command runs, the first waiting client's command starts.
    fn start_next_command(&mut self, state: &mut State) {
        if state.command_running {
            return;
        }
        let Some(mut client) = state.waiting.pop_front() else {
            return;
        };
        for frame in std::mem::take(&mut state.backlog) {
            client.send(&frame);
        }
        state.backlog_size = 0;
        state
            .stdin_pending
            .extend(std::mem::take(&mut client.queued_input));
        if let (Some(limit), Some(watchdog)) = (self.time_limit, &self.watchdog) {
            // The first command also covers the interpreter's start-up,
            // which is bounded by one more time limit.
            let limit = if state.first_command_done {
                limit
            } else {
                limit * 2
            };
            watchdog.arm(limit);
        }
        state.command_running = true;
        state.active = Some(client);
    }

    /// Returns true when the session is over.
    fn on_control(&mut self, state: &mut State) -> bool {
        let mut byte = [0u8; 1];
        if !matches!(nix::unistd::read(&self.control, &mut byte), Ok(1)) {
            return false;
        }
        self.drain_output(state);
        match byte[0] {
            WAKEUP => {
                if let Some(watchdog) = &self.watchdog {
                    watchdog.disarm();
                }
                if let Some(mut client) = state.active.take() {
                    client.send(&Frame::Done);
                }
                state.command_running = false;
                state.first_command_done = true;
                let _ = self.ack.send(());
                false
            }
            _ => {
                self.finish(state);
                true
            }
        }
    }

    /// Ends the session if its socket was deleted or replaced (`sockdir`
    /// removed, say): no invocation could reach or end it any more.
    fn check_socket(&mut self) {
        if self.orphaned || SocketId::of(&self.socket.path) == Some(self.socket.id) {
            return;
        }
        log::info!(
            "session socket {} is gone; ending the session",
            self.socket.path.display()
        );
        self.orphaned = true;
        self.kill();
    }

    /// The program has ended: every client learns how, the socket goes.
    fn finish(&mut self, state: &mut State) {
        remove_socket_if_ours(&self.socket.dir, &self.socket.path, self.socket.id);
        let ending = self
            .ending
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or(Err("the session ended".into()));
        let frame = match &ending {
            Ok(Ending::Exited(code)) => Frame::Exited(*code),
            Ok(Ending::Killed(signal)) => Frame::Killed(*signal),
            Ok(Ending::TimedOut) => Frame::TimedOut,
            Err(message) => Frame::Stderr(format!("sandbox: {message}\n").into_bytes()),
        };
        let clients = state
            .active
            .take()
            .into_iter()
            .chain(state.waiting.drain(..));
        for mut client in clients {
            if client.wants_kill || self.orphaned {
                client.send(&Frame::Ended);
            } else if ending.is_err() {
                client.send(&frame);
                client.send(&Frame::Exited(125));
            } else {
                client.send(&frame);
            }
        }
    }

    /// Forwards everything the program has written so far.
    fn drain_output(&mut self, state: &mut State) {
        for stderr in [false, true] {
            while self.forward_output(state, stderr) {}
        }
    }

    /// Reads one chunk of the program's output and sends it on. Returns
    /// false when there was nothing to read.
    fn forward_output(&mut self, state: &mut State, stderr: bool) -> bool {
        let pipe = if stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        let Some(fd) = pipe else {
            return false;
        };
        let mut buffer = vec![0u8; 64 * 1024];
        let count = match nix::unistd::read(&*fd, &mut buffer) {
            Ok(0) => {
                *pipe = None;
                return false;
            }
            Ok(count) => count,
            Err(Errno::EINTR) => return true,
            Err(_) => return false,
        };
        buffer.truncate(count);
        let frame = if stderr {
            Frame::Stderr(buffer)
        } else {
            Frame::Stdout(buffer)
        };
        match (&mut state.active, state.command_running) {
            (Some(client), _) => client.send(&frame),
            // The command's client died: its output goes nowhere.
            (None, true) => {}
            (None, false) => {
                if state.backlog_size + count <= BACKLOG_LIMIT {
                    state.backlog_size += count;
                    state.backlog.push(frame);
                }
            }
        }
        true
    }

    fn write_stdin(&mut self, state: &mut State) {
        match nix::unistd::write(&self.stdin, &state.stdin_pending) {
            Ok(count) => {
                state.stdin_pending.drain(..count);
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            // The program closed its stdin: nothing more can be fed.
            Err(_) => state.stdin_pending.clear(),
        }
    }

    fn read_active(&mut self, state: &mut State) {
        let Some(client) = state.active.as_mut() else {
            return;
        };
        let frames = receive(client);
        for frame in frames {
            match frame {
                Frame::Input(data) => state.stdin_pending.extend(data),
                Frame::Kill => {
                    client.wants_kill = true;
                    self.kill();
                }
                _ => {}
            }
        }
        if client.gone {
            // Killed mid-command: the session goes on, its output is lost.
            state.active = None;
        }
    }

    fn read_waiting(&mut self, state: &mut State, position: usize) {
        let Some(client) = state.waiting.get_mut(position) else {
            return;
        };
        let mut kill = false;
        for frame in receive(client) {
            match frame {
                Frame::Input(data) => client.queued_input.extend(data),
                Frame::Kill => {
                    client.wants_kill = true;
                    kill = true;
                }
                _ => {}
            }
        }
        if kill {
            self.kill();
        }
    }

    fn kill(&self) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.kill();
        }
    }
}

/// Reads what a client sent and splits it into frames; a client that hung
/// up or sent garbage is marked gone.
fn receive(client: &mut Client) -> Vec<Frame> {
    let mut buffer = [0u8; 64 * 1024];
    match nix::sys::socket::recv(
        client.stream.as_raw_fd(),
        &mut buffer,
        nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(0) => client.gone = true,
        Ok(count) => client.received.extend_from_slice(&buffer[..count]),
        Err(Errno::EAGAIN | Errno::EINTR) => {}
        Err(_) => client.gone = true,
    }
    let mut frames = Vec::new();
    loop {
        match take_frame(&mut client.received) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(_) => {
                client.gone = true;
                break;
            }
        }
    }
    frames
}
