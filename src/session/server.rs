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
//! Before it resumes the program for the next command, the I/O thread
//! resolves the config's host names again and hands the tracer the new
//! network policy; a name that no longer resolves refuses that command
//! (status 78, nothing runs) and the session waits for the next one.

use super::protocol::{Frame, take_frame};
use super::{SessionError, SocketId, peer_uid, remove_socket_if_ours};
use crate::jail::{Ending, Jail};
use crate::policy::network::NetworkPolicy;
use crate::watchdog::Watchdog;
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
/// Input a session holds per client beyond what the program's stdin pipe
/// holds; a client that sends more waits (its socket fills up).
const INPUT_LIMIT: usize = 1 << 20;
/// Output queued for the running command's client before the program's
/// pipes are left unread (the program then waits, its clock stopped).
const OUTPUT_LIMIT: usize = 1 << 20;
/// How long clients are still given their queued output once the session
/// has ended.
const FINAL_FLUSH: Duration = Duration::from_secs(30);
/// One read from the program's pipes.
const PIPE_READ: usize = 64 * 1024;

/// Forks the server for a new session listening on `listener`; returns in
/// the parent, which then connects as the first client.
pub fn start(
    jail: &Jail,
    dir: &Path,
    path: &Path,
    id: SocketId,
    listener: UnixListener,
    program: &[OsString],
    network: NetworkPolicy,
) -> Result<(), SessionError> {
    fork_server(jail, dir, path, id, listener, |socket, listener| {
        serve(jail, socket, listener, program, network)
    })
}

/// Forks a server (a session's or a template's) that runs `serve` on
/// `listener` and exits with its status, removing its socket if it is
/// still its own; returns in the parent.
pub(super) fn fork_server(
    jail: &Jail,
    dir: &Path,
    path: &Path,
    id: SocketId,
    listener: UnixListener,
    serve: impl FnOnce(&Socket, UnixListener) -> i32,
) -> Result<(), SessionError> {
    #[allow(unsafe_code)]
    // SAFETY: the process has started no thread yet (a client starts its
    // stdin thread only once its command or run has started).
    let forked = unsafe { crate::sys::fork() };
    match forked.map_err(|errno| SessionError::Start(errno.desc().into()))? {
        nix::unistd::ForkResult::Parent { .. } => Ok(()),
        nix::unistd::ForkResult::Child => {
            // The server outlives the invocation that starts it: it must
            // not keep that invocation's descriptors (a pipe the caller
            // waits on would never end). It keeps its socket, and the
            // `passfd` descriptors the program is to get.
            let mut keep = jail.config.pass_fds.clone();
            keep.push(listener.as_raw_fd());
            close_inherited(&mut keep);
            // Leave the client's terminal and process group behind too.
            let _ = nix::unistd::setsid();
            detach_stdio();
            let socket = Socket {
                dir: dir.to_path_buf(),
                path: path.to_path_buf(),
                id,
            };
            let status = serve(&socket, listener);
            remove_socket_if_ours(&socket.dir, &socket.path, socket.id);
            std::process::exit(status)
        }
    }
}

/// Closes every descriptor above 2 but those in `keep`.
pub(super) fn close_inherited(keep: &mut Vec<RawFd>) {
    #[allow(unsafe_code)]
    // SAFETY: only the new server calls this, and it exits rather than
    // return to the frames that own what it inherited; `keep` holds what
    // it goes on using.
    let close_range = |first, last| unsafe { crate::sys::close_range(first, last) };
    keep.retain(|fd| *fd > 2);
    keep.sort_unstable();
    keep.dedup();
    let mut next: RawFd = 3;
    for &fd in keep.iter() {
        if fd > next {
            let _ = close_range(next as u32, (fd - 1) as u32);
        }
        next = fd + 1;
    }
    let _ = close_range(next as u32, u32::MAX);
}

/// The jail failed (the program could not be started, say): its message
/// and the exit status the invocation reports, as without sessions.
struct Failure {
    message: String,
    status: u8,
}

/// Why the I/O thread is woken by the tracer.
const WAKEUP: u8 = b'W';
const ENDED: u8 = b'E';

/// Where a server (a session's or a template's) listens, and which
/// socket file is its own.
#[derive(Clone)]
pub(super) struct Socket {
    pub(super) dir: PathBuf,
    pub(super) path: PathBuf,
    pub(super) id: SocketId,
}

fn serve(
    jail: &Jail,
    socket: &Socket,
    listener: UnixListener,
    program: &[OsString],
    network: NetworkPolicy,
) -> i32 {
    let Ok(pipes) = Pipes::new() else {
        return 1;
    };
    // The jail's own messages (`report` lines, warnings) go where the
    // program's stderr goes: to the client of the current command.
    let _ = crate::sys::dup2(pipes.stderr_write.as_raw_fd(), 2);
    let Ok((control_read, control_write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return 1;
    };
    // The I/O thread's answer to a wakeup: the network policy for the next
    // command, or `None` when the jail is woken to die.
    let (ack_send, ack_receive) = mpsc::channel::<Option<NetworkPolicy>>();
    let ending: Arc<Mutex<Option<Result<Ending, Failure>>>> = Arc::new(Mutex::new(None));
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
        jail: jail.clone(),
        ending: ending.clone(),
        time_limit: jail.config.time_limit,
        watchdog: None,
        watchdog_receive,
    };
    let io_thread = std::thread::spawn(move || io.run());

    let control = Arc::new(control_write);
    let wakeup_control = control.clone();
    let stdio = [
        pipes.stdin_read.as_raw_fd(),
        pipes.stdout_write.as_raw_fd(),
        pipes.stderr_write.as_raw_fd(),
    ];
    // The session's wiring of the jail: the program's stdio is the pipes;
    // the wakeup syscall returns once the I/O thread has finished the
    // command; the I/O thread gets the watchdog, arms the time limit per
    // command and ends the session with it. The sender goes once the
    // program runs, or with the closure if it could not start: the I/O
    // thread waits for the handle until then.
    let result = jail
        .start_with(program, Some(stdio), network)
        .and_then(move |started| {
            let started = started.on_wakeup(Box::new(move || {
                if nix::unistd::write(&*wakeup_control, &[WAKEUP]).is_ok() {
                    ack_receive.recv().ok().flatten()
                } else {
                    None
                }
            }));
            let _ = watchdog_send.send(started.watchdog().clone());
            drop(watchdog_send);
            started.wait()
        });
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
        *slot = Some(result.map_err(|error| Failure {
            message: error.to_string(),
            status: error.exit_status(),
        }));
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

pub(super) fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
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
    /// Frames for the client not yet written (the socket is non-blocking:
    /// a client that reads slowly never stalls the session).
    outbox: Vec<u8>,
    /// How much of `outbox` is written already.
    written: usize,
    wants_kill: bool,
    gone: bool,
}

impl Client {
    fn new(stream: UnixStream) -> Client {
        Client {
            stream,
            received: Vec::new(),
            queued_input: Vec::new(),
            outbox: Vec::new(),
            written: 0,
            wants_kill: false,
            gone: false,
        }
    }

    /// Queues `frame` and writes what the socket takes now.
    fn send(&mut self, frame: &Frame) {
        if self.gone {
            return;
        }
        if frame.write_to(&mut self.outbox).is_err() {
            self.gone = true;
            return;
        }
        self.flush();
    }

    /// Writes queued frames until the socket is full.
    fn flush(&mut self) {
        while !self.gone && self.written < self.outbox.len() {
            match nix::unistd::write(&self.stream, &self.outbox[self.written..]) {
                Ok(count) => self.written += count,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(_) => self.gone = true,
            }
        }
        if self.gone || self.written == self.outbox.len() {
            self.outbox.clear();
            self.written = 0;
        } else if self.written > self.outbox.len() / 2 {
            self.outbox.drain(..self.written);
            self.written = 0;
        }
    }

    /// Bytes queued for the client and not yet written.
    fn pending(&self) -> usize {
        self.outbox.len() - self.written
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
    /// Lets the tracer resume the program, with the network policy for
    /// the next command (`None`: the jail is being killed).
    ack: mpsc::Sender<Option<NetworkPolicy>>,
    /// The session's jail, to resolve its network again at each resume.
    jail: Jail,
    ending: Arc<Mutex<Option<Result<Ending, Failure>>>>,
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
    /// Clients whose command has ended, still being sent the rest of
    /// their output and its ending.
    finishing: Vec<Client>,
    /// Bytes for the program's stdin not yet written.
    stdin_pending: Vec<u8>,
    /// Output made while no command ran, for the next client.
    backlog: Vec<Frame>,
    backlog_size: usize,
    /// When the running command's time limit runs out.
    deadline: Option<Instant>,
    /// The time left to the running command while its clock is stopped
    /// (its client does not read, so the program waits for it).
    paused: Option<Duration>,
    /// The program made its wakeup and waits (with the whole jail frozen)
    /// for the next command to start.
    suspended: bool,
    /// The network policy resolved for the command about to start.
    network: Option<NetworkPolicy>,
}

/// A command that cannot start (its network does not resolve): it never
/// runs, and its client is told why with the status a run would end with.
/// The program stays suspended for the next command.
fn refuse_command(state: &mut State, mut client: Client, failure: &Failure) {
    // Started, so the client does not send the command again elsewhere;
    // what it sent is dropped, and what it sends on is read and dropped.
    client.send(&Frame::Started);
    client.send(&Frame::Stderr(
        format!("sandbox: {}\n", failure.message).into_bytes(),
    ));
    client.send(&Frame::Exited(i32::from(failure.status)));
    client.queued_input.clear();
    state.finishing.push(client);
}

enum Source {
    Listener,
    Control,
    Stdout,
    Stderr,
    Stdin,
    Active,
    Waiting(usize),
    Finishing(usize),
}

/// Poll flags for a client: its input while there is room for it (what a
/// client sends beyond that waits in its socket: back-pressure), and its
/// output while some is queued. Hang-ups are reported regardless.
fn client_events(client: &Client, room_for_input: bool) -> PollFlags {
    let mut events = PollFlags::empty();
    if room_for_input {
        events |= PollFlags::POLLIN;
    }
    if client.pending() > 0 {
        events |= PollFlags::POLLOUT;
    }
    events
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
            self.pace_clock(&mut state);
            let output_room = !output_held(&state);
            let mut sources = Vec::new();
            let mut fds = Vec::new();
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            sources.push(Source::Listener);
            fds.push(PollFd::new(self.control.as_fd(), PollFlags::POLLIN));
            sources.push(Source::Control);
            if let (Some(stdout), true) = (&self.stdout, output_room) {
                fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Stdout);
            }
            if let (Some(stderr), true) = (&self.stderr, output_room) {
                fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Stderr);
            }
            if !state.stdin_pending.is_empty() {
                fds.push(PollFd::new(self.stdin.as_fd(), PollFlags::POLLOUT));
                sources.push(Source::Stdin);
            }
            if let Some(active) = &state.active {
                let room = state.stdin_pending.len() < INPUT_LIMIT;
                fds.push(PollFd::new(
                    active.stream.as_fd(),
                    client_events(active, room),
                ));
                sources.push(Source::Active);
            }
            for (index, client) in state.waiting.iter().enumerate() {
                let room = client.queued_input.len() < INPUT_LIMIT;
                fds.push(PollFd::new(
                    client.stream.as_fd(),
                    client_events(client, room),
                ));
                sources.push(Source::Waiting(index));
            }
            for (index, client) in state.finishing.iter().enumerate() {
                fds.push(PollFd::new(
                    client.stream.as_fd(),
                    client_events(client, false),
                ));
                sources.push(Source::Finishing(index));
            }
            let timeout = PollTimeout::try_from(SOCKET_CHECK).unwrap_or(PollTimeout::NONE);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return,
            }
            let ready: Vec<(usize, PollFlags)> = fds
                .iter()
                .enumerate()
                .filter_map(|(index, fd)| Some((index, fd.revents()?)))
                .filter(|(_, events)| !events.is_empty())
                .collect();
            drop(fds);
            for (index, events) in ready {
                let writable = events.contains(PollFlags::POLLOUT);
                let readable =
                    events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
                match sources[index] {
                    Source::Listener => self.accept(&mut state),
                    Source::Control => {
                        if self.on_control(&mut state) {
                            self.flush_all(&mut state);
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
                    Source::Active => {
                        if let (Some(client), true) = (state.active.as_mut(), writable) {
                            client.flush();
                        }
                        if readable {
                            self.read_active(&mut state);
                        }
                    }
                    Source::Waiting(position) => {
                        if readable {
                            self.read_waiting(&mut state, position);
                        }
                    }
                    Source::Finishing(position) => {
                        if let Some(client) = state.finishing.get_mut(position) {
                            if writable {
                                client.flush();
                            }
                            if readable && !writable {
                                // Hung up, or sends input nobody will read.
                                discard_input(client);
                            }
                        }
                    }
                }
            }
            if state.active.as_ref().is_some_and(|client| client.gone) {
                // Killed mid-command: the session goes on, its output is lost.
                state.active = None;
            }
            state.waiting.retain(|client| !client.gone);
            state
                .finishing
                .retain(|client| !client.gone && client.pending() > 0);
        }
    }

    /// Stops the running command's clock while its client holds the
    /// program up (its output is not read, so the program waits), and
    /// starts it again with the time that was left once it reads.
    fn pace_clock(&mut self, state: &mut State) {
        let Some(watchdog) = &self.watchdog else {
            return;
        };
        match (output_held(state), state.deadline, state.paused) {
            (true, Some(deadline), None) => {
                watchdog.disarm();
                state.paused = Some(deadline.saturating_duration_since(Instant::now()));
                state.deadline = None;
            }
            (false, None, Some(left)) => {
                watchdog.arm(left);
                state.deadline = Some(Instant::now() + left);
                state.paused = None;
            }
            _ => {}
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
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        state.waiting.push_back(Client::new(stream));
    }

    /// When no command runs, the first waiting client's command starts.
    fn start_next_command(&mut self, state: &mut State) {
        if state.command_running {
            return;
        }
        let mut client = loop {
            let Some(client) = state.waiting.pop_front() else {
                return;
            };
            if !state.suspended {
                // The first command: the jail resolved its names as it
                // started the program.
                break client;
            }
            match self.resume() {
                Ok(network) => {
                    state.network = Some(network);
                    break client;
                }
                Err(failure) => refuse_command(state, client, &failure),
            }
        };
        // First, before its input reaches the program: a client told
        // nothing else knows its command never ran, and runs it again.
        client.send(&Frame::Started);
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
            state.deadline = Some(Instant::now() + limit);
            state.paused = None;
        }
        state.command_running = true;
        state.active = Some(client);
        // Its input is queued: the program (and everything else in the
        // jail, frozen since the wakeup) runs on.
        if std::mem::take(&mut state.suspended) {
            let _ = self.ack.send(state.network.take());
        }
    }

    /// The network policy for the command about to resume the program:
    /// the host names resolved again (they may have moved since the last
    /// command), or why they cannot be.
    fn resume(&self) -> Result<NetworkPolicy, Failure> {
        self.jail.network().map_err(|error| Failure {
            message: error.to_string(),
            status: error.exit_status(),
        })
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
                state.deadline = None;
                state.paused = None;
                if let Some(mut client) = state.active.take() {
                    client.send(&Frame::Done);
                    state.finishing.push(client);
                }
                state.command_running = false;
                state.first_command_done = true;
                // No command runs, so nothing in the jail may: the tracer
                // keeps it frozen until the next command starts.
                state.suspended = true;
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
        // Connections made before the socket went, not yet accepted, end
        // unanswered: like waiting clients, they start their command again.
        if self.listener.set_nonblocking(true).is_ok() {
            while self.listener.accept().is_ok() {}
        }
        let ending = self
            .ending
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or(Err(Failure {
                message: "the session ended".into(),
                status: crate::error::status::JAIL_FAILED,
            }));
        let frame = match &ending {
            Ok(Ending::Exited(code)) => Frame::Exited(*code),
            Ok(Ending::Killed(signal)) => Frame::Killed(*signal),
            Ok(Ending::TimedOut) => Frame::TimedOut,
            // Not reached: the config refuses these limits with `wakeup`.
            Ok(Ending::CpuLimit | Ending::OutputLimit | Ending::MemoryLimit) => {
                Frame::Killed(libc::SIGKILL)
            }
            Err(failure) => Frame::Stderr(format!("sandbox: {}\n", failure.message).into_bytes()),
        };
        // A waiting client is told nothing: its command has not started,
        // and it starts it again, in a new session.
        let waiting: Vec<Client> = state.waiting.drain(..).collect();
        let killers = waiting.into_iter().filter(|client| client.wants_kill);
        let clients = state.active.take().into_iter().chain(killers);
        for mut client in clients {
            if client.wants_kill || self.orphaned {
                client.send(&Frame::Ended);
            } else if let Err(failure) = &ending {
                // The jail's own failure (the program not found, say): the
                // message and the exit status a run without sessions has.
                client.send(&frame);
                client.send(&Frame::Exited(i32::from(failure.status)));
            } else {
                client.send(&frame);
            }
            state.finishing.push(client);
        }
    }

    /// After the end: gives clients what is queued for them, as long as
    /// they read it within [`FINAL_FLUSH`].
    fn flush_all(&mut self, state: &mut State) {
        let deadline = Instant::now() + FINAL_FLUSH;
        loop {
            state
                .finishing
                .retain(|client| !client.gone && client.pending() > 0);
            let left = deadline.saturating_duration_since(Instant::now());
            if state.finishing.is_empty() || left.is_zero() {
                return;
            }
            let mut fds: Vec<PollFd> = state
                .finishing
                .iter()
                .map(|client| PollFd::new(client.stream.as_fd(), PollFlags::POLLOUT))
                .collect();
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return,
            }
            drop(fds);
            for client in &mut state.finishing {
                client.flush();
            }
        }
    }

    /// Forwards everything the program wrote before now: at most what its
    /// pipes hold (more would be written after the wakeup, by another
    /// of its processes).
    fn drain_output(&mut self, state: &mut State) {
        for stderr in [false, true] {
            let pipe = if stderr { &self.stderr } else { &self.stdout };
            let capacity = pipe
                .as_ref()
                .and_then(|fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETPIPE_SZ).ok())
                .map_or(PIPE_READ, |size| size.max(0) as usize);
            let mut read = 0;
            while read < capacity {
                match self.forward_output(state, stderr) {
                    0 => break,
                    count => read += count,
                }
            }
        }
    }

    /// Reads one chunk of the program's output and sends it on. Returns
    /// how much it read (0 when there was nothing).
    fn forward_output(&mut self, state: &mut State, stderr: bool) -> usize {
        let pipe = if stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        let Some(fd) = pipe else {
            return 0;
        };
        let mut buffer = vec![0u8; PIPE_READ];
        let count = match nix::unistd::read(&*fd, &mut buffer) {
            Ok(0) => {
                *pipe = None;
                return 0;
            }
            Ok(count) => count,
            Err(_) => return 0,
        };
        buffer.truncate(count);
        match (&mut state.active, state.command_running) {
            (Some(client), _) => client.send(&output_frame(stderr, buffer)),
            // The command's client died: its output goes nowhere.
            (None, true) => {}
            (None, false) => {
                // The first BACKLOG_LIMIT bytes are kept; the rest is dropped.
                buffer.truncate(BACKLOG_LIMIT - state.backlog_size);
                if !buffer.is_empty() {
                    state.backlog_size += buffer.len();
                    state.backlog.push(output_frame(stderr, buffer));
                }
            }
        }
        count
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
        // A suspended jail is woken to die: the tracer must see its end.
        let _ = self.ack.send(None);
    }
}

fn output_frame(stderr: bool, data: Vec<u8>) -> Frame {
    if stderr {
        Frame::Stderr(data)
    } else {
        Frame::Stdout(data)
    }
}

/// The program's output waits: the running command's client has more
/// queued than [`OUTPUT_LIMIT`].
fn output_held(state: &State) -> bool {
    state
        .active
        .as_ref()
        .is_some_and(|client| client.pending() > OUTPUT_LIMIT)
}

/// Reads and drops what a client whose command is over still sends; marks
/// it gone at end of file.
fn discard_input(client: &mut Client) {
    let mut buffer = [0u8; 4096];
    match nix::sys::socket::recv(
        client.stream.as_raw_fd(),
        &mut buffer,
        nix::sys::socket::MsgFlags::MSG_DONTWAIT,
    ) {
        Ok(0) => client.gone = true,
        Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => {}
        Err(_) => client.gone = true,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_command_tells_its_client_why_and_never_reaches_the_program() {
        let (server_end, mut client_end) = UnixStream::pair().unwrap();
        let mut client = Client::new(server_end);
        client.queued_input = b"say hi\n".to_vec();
        let mut state = State {
            suspended: true,
            ..State::default()
        };
        let failure = Failure {
            message: "t.conf:3: `connect tcp a.invalid:80`: the host `a.invalid` does not resolve"
                .into(),
            status: crate::error::status::CONFIG,
        };
        refuse_command(&mut state, client, &failure);
        // Its input is dropped, the program stays suspended, no command runs.
        assert!(state.stdin_pending.is_empty());
        assert!(state.suspended && !state.command_running && state.active.is_none());
        assert_eq!(state.finishing.len(), 1);
        assert!(state.finishing[0].queued_input.is_empty());
        drop(state);
        let mut frames = Vec::new();
        while let Some(frame) = Frame::read_from(&mut client_end).unwrap() {
            frames.push(frame);
        }
        assert_eq!(
            frames,
            [
                Frame::Started,
                Frame::Stderr(
                    b"sandbox: t.conf:3: `connect tcp a.invalid:80`: the host `a.invalid` does \
                      not resolve\n"
                        .to_vec()
                ),
                Frame::Exited(78),
            ]
        );
    }
}
