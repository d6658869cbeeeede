//! Template servers (`template`): one per config, holding the program
//! prepared up to its wakeup, and giving each run a fresh fork of it.
//!
//! Owns the server's life and its I/O (docs/sessions.md, "Templates"):
//! the socket `<sockdir>/.template.<file>.<version>.sock`, the client
//! side of a run (`Run` frame, then stdin and the output as for a
//! session command), `kill <ident>` (`KillRuns`) and `--kill-template`
//! (`KillTemplate`). The server's main thread is the tracer
//! ([`crate::tracer::template`]); an acceptor thread takes clients and
//! hands each to a worker thread (kept for the next client once done, so
//! a run starts no thread), which puts the input the client sent with
//! its request into the run's stdin, asks the tracer for the fork, and
//! relays the run's pipes without ever blocking on the client; the same
//! poll keeps the run's time limit (a kill through the root's pidfd) and
//! lets go of a client that stops reading once the run has ended.

use super::protocol::{Frame, take_frame};
use super::server::Socket;
use super::{
    ATTEMPTS, ClientEnding, ConfigKey, DirLock, Ident, KEY_HEX, SessionError, SocketId, client,
    peer_uid, prepare_sock_dir, reach, remove_socket_if_ours, sock_dir,
};
use crate::config::Rehearsal;
use crate::jail::{Ending, Jail};
use crate::policy::network::NetworkPolicy;
use crate::tracer::template::{Link, PastLimit, RunEnd, RunEvent, RunLimits, RunPipes, RunRequest};
use crate::watchdog::Watchdog;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long preparation may take when the config has no `timelimit`.
const DEFAULT_PREPARATION: Duration = Duration::from_secs(30);
/// The end of a preparation's output kept for the message of a failure.
const PREPARATION_OUTPUT: usize = 4096;
/// How long a run's thread still reads its pipes once the run has ended
/// (its other tasks are being killed).
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long `kill` waits for the runs it ends.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How often the acceptor checks that its socket is still there.
const SOCKET_CHECK: Duration = Duration::from_secs(1);
/// Input held for a run beyond what its stdin pipe holds.
const INPUT_LIMIT: usize = 1 << 20;
/// A request [`run_here`] writes before it reads: well inside a unix
/// socket's send buffer (about 200 KiB by default).
const REQUEST_INLINE: usize = 64 * 1024;
/// The input [`run_here`] puts in one frame, at most (a client's read).
const INPUT_FRAME: usize = 64 * 1024;

/// The socket of config `key`'s template server in `dir`.
pub fn socket_path(dir: &Path, key: &ConfigKey) -> PathBuf {
    dir.join(format!(".template.{}.{}.sock", key.file, key.version))
}

/// The template sockets in `dir` of this config file under every version.
fn sockets_of_every_version(dir: &Path, key: &ConfigKey) -> Vec<PathBuf> {
    let prefix = format!(".template.{}.", key.file);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(|name| name.strip_prefix(prefix.as_str()))
                .and_then(|rest| rest.strip_suffix(".sock"))
                .is_some_and(|version| {
                    version.len() == KEY_HEX && version.bytes().all(|b| b.is_ascii_hexdigit())
                })
        })
        .map(|entry| entry.path())
        .collect()
}

/// Runs one run of the template: reaches the server (starting it, and so
/// preparing the program, when there is none) and relays this process's
/// stdin and the run's output until the run ends.
pub fn run(jail: &Jail, ident: &Ident, program: &[OsString]) -> Result<ClientEnding, SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    let key = ConfigKey::of(jail);
    let path = socket_path(&dir, &key);
    // What stdin holds already goes with the request: a bot's run needs
    // no second round trip for its program.
    let (first, complete) = client::available_input()?;
    for _ in 0..ATTEMPTS {
        let stream = reach(
            jail,
            &dir,
            &path,
            program,
            || end_other_versions(&dir, &key, &path),
            start,
        )?;
        let mut sender = stream.try_clone().map_err(|_| SessionError::Lost)?;
        let mut request = Vec::new();
        let frames = [
            Some(Frame::Run(ident.as_bytes().to_vec())),
            (!first.is_empty()).then(|| Frame::Input(first.clone())),
            complete.then_some(Frame::EndOfInput),
        ];
        for frame in frames.iter().flatten() {
            frame
                .write_to(&mut request)
                .map_err(|_| SessionError::Lost)?;
        }
        if sender.write_all(&request).is_err() {
            continue;
        }
        let rest = (!complete).then_some(sender);
        match client::relay(stream, rest)? {
            client::Outcome::Ended(ending) => return Ok(ending),
            client::Outcome::NotStarted => {
                log::info!("the template server ended before this run started; starting it again")
            }
        }
    }
    Err(SessionError::Start(
        "the template server kept ending before this run could start".into(),
    ))
}

/// What a run through a live template server gave its caller
/// ([`run_here`]).
pub struct Captured {
    pub ending: ClientEnding,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs one run of the template from this process, with `input` as its
/// whole stdin, when the config's server is up. `Ok(None)` when none
/// answers, or anything fails before the run starts (nothing ran: the
/// `sandbox` binary then starts a server, or says what is wrong); an
/// error only for a run that started and was lost. A library caller so
/// saves starting that binary, most of a run's cost
/// (docs/performance.md).
pub fn run_here(
    jail: &Jail,
    ident: &Ident,
    input: &[u8],
) -> Result<Option<Captured>, SessionError> {
    let dir = sock_dir(jail);
    // The directory is checked as the binary checks it (this user's,
    // writable by no one else) before any socket in it is trusted.
    if prepare_sock_dir(&dir).is_err() {
        return Ok(None);
    }
    let path = socket_path(&dir, &ConfigKey::of(jail));
    let Ok(Some(stream)) = client::connect(&path) else {
        return Ok(None);
    };
    let Ok(sender) = stream.try_clone() else {
        return Ok(None);
    };
    // The input goes in frames of a read's size, as the binary's: a
    // frame larger than MAX_FRAME is a broken client's to the server,
    // which ends its run before the client hears it started.
    let mut frames = vec![Frame::Run(ident.as_bytes().to_vec())];
    frames.extend(
        input
            .chunks(INPUT_FRAME)
            .map(|chunk| Frame::Input(chunk.to_vec())),
    );
    frames.push(Frame::EndOfInput);
    let mut request = Vec::new();
    for frame in &frames {
        if frame.write_to(&mut request).is_err() {
            return Ok(None);
        }
    }
    drop(frames);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    // The server takes a run's input while the run writes, but no more
    // than a socket's buffer is sure to hold goes before reading: a
    // larger input is written beside the relay, as a client's stdin is.
    let outcome = if request.len() <= REQUEST_INLINE {
        if send_all(&sender, &request).is_err() {
            return Ok(None);
        }
        client::relay_into(stream, None, &mut stdout, &mut stderr)?
    } else {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _ = send_all(&sender, &request);
            });
            let outcome = client::relay_into(stream, None, &mut stdout, &mut stderr);
            // The run is over (or lost): a writer the server no longer
            // reads is let go, not waited for.
            let _ = sender.shutdown(std::net::Shutdown::Both);
            outcome
        })?
    };
    Ok(match outcome {
        client::Outcome::Ended(ending) => Some(Captured {
            ending,
            stdout,
            stderr,
        }),
        client::Outcome::NotStarted => None,
    })
}

/// Writes all of `data` to `stream`: a peer gone is an error, never a
/// SIGPIPE (a library's caller may not ignore it).
fn send_all(stream: &UnixStream, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match crate::sys::send_bytes(stream.as_raw_fd(), data, false) {
            Ok(count) => data = &data[count..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

/// Ends the runs of `ident` in progress (none is fine); the prepared
/// process stays.
pub fn kill_runs(jail: &Jail, ident: &Ident) -> Result<(), SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    let path = socket_path(&dir, &ConfigKey::of(jail));
    if let Some(stream) = client::connect(&path)? {
        ask(stream, &Frame::KillRuns(ident.as_bytes().to_vec()))?;
    }
    Ok(())
}

/// Ends the prepared process of this config (every version of the
/// file), its server and every run in progress; fine if there is none.
pub fn kill_template(jail: &Jail) -> Result<(), SessionError> {
    let dir = sock_dir(jail);
    prepare_sock_dir(&dir)?;
    let key = ConfigKey::of(jail);
    let current = socket_path(&dir, &key);
    let mut paths = sockets_of_every_version(&dir, &key);
    if !paths.contains(&current) {
        paths.push(current);
    }
    for path in paths {
        if let Some(stream) = client::connect(&path)? {
            ask(stream, &Frame::KillTemplate)?;
        }
    }
    Ok(())
}

/// Ends the template servers of earlier versions of this config file.
fn end_other_versions(dir: &Path, key: &ConfigKey, current: &Path) {
    for path in sockets_of_every_version(dir, key) {
        if path == current {
            continue;
        }
        match client::connect(&path) {
            Ok(Some(stream)) => {
                let _ = ask(stream, &Frame::KillTemplate);
            }
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

/// Sends `frame` and waits for the server's answer (or its end).
fn ask(mut stream: UnixStream, frame: &Frame) -> Result<(), SessionError> {
    frame
        .write_to(&mut stream)
        .map_err(|_| SessionError::Lost)?;
    loop {
        match Frame::read_from(&mut stream) {
            Ok(Some(Frame::Ended)) | Ok(None) | Err(_) => return Ok(()),
            Ok(Some(_)) => {}
        }
    }
}

/// Forks the template server listening on `listener`; returns in the
/// parent, which then connects as the first client.
fn start(
    jail: &Jail,
    dir: &Path,
    path: &Path,
    id: SocketId,
    listener: UnixListener,
    program: &[OsString],
    network: NetworkPolicy,
) -> Result<(), SessionError> {
    super::server::fork_server(jail, dir, path, id, listener, |socket, listener| {
        serve(jail, socket, listener, program, network)
    })
}

/// How the server ended, for the clients that wait for a run.
#[derive(Clone)]
enum Verdict {
    /// The program never got prepared: the message and the status each
    /// waiting client exits with.
    Failed(String, u8),
    /// The prepared process ended after its preparation: the runs not
    /// started start again, with a new server.
    Gone,
}

/// A run in progress, as `kill` finds it.
struct RunEntry {
    ident: Vec<u8>,
    /// Ended by `kill`: its client is told so.
    killed: Arc<AtomicBool>,
    /// Rung with a kill, so that the run's relay sees it at once.
    notify: Arc<EventFd>,
    /// The run's root once it has started (what a kill signals).
    root: Option<Arc<OwnedFd>>,
}

impl RunEntry {
    /// Ends the run: its root is killed (the tracer then kills its other
    /// tasks), and its relay woken to watch that it ends.
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        if let Some(root) = &self.root {
            let _ = crate::sys::pidfd_send_signal(root, libc::SIGKILL);
        }
        let _ = self.notify.write(1);
    }
}

/// What the server's threads share.
struct Shared {
    runs: Mutex<HashMap<u64, RunEntry>>,
    /// Set when the runs' table shrinks.
    runs_changed: Condvar,
    verdict: Mutex<Option<Verdict>>,
    verdict_set: Condvar,
    /// The end of what the program wrote while it prepared.
    preparation: Mutex<Vec<u8>>,
    /// No more runs are taken.
    closing: AtomicBool,
    /// The program made its first wakeup.
    prepared: AtomicBool,
    next_run: AtomicU64,
    /// Clients being served (a worker thread each); the tracer makes a
    /// spare copy only when there are none.
    relaying: Arc<AtomicUsize>,
    /// The threads that serve clients, kept between clients.
    workers: Workers,
    template: Mutex<Option<Watchdog>>,
    /// `timelimit`, `cputime` and `maxmemory`, per run.
    limits: RunLimits,
    /// `outputlimit`: the bytes of stdout and stderr together a run may
    /// write.
    output_limit: Option<u64>,
    socket: Socket,
}

impl Shared {
    fn close(&self) {
        if !self.closing.swap(true, Ordering::SeqCst) {
            remove_socket_if_ours(&self.socket.dir, &self.socket.path, self.socket.id);
        }
    }

    fn lock_runs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, RunEntry>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_verdict(&self, verdict: Verdict) {
        let mut slot = self
            .verdict
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert(verdict);
        self.verdict_set.notify_all();
    }

    /// Waits (at most `limit`) for how the server ends.
    fn wait_verdict(&self, limit: Duration) -> Option<Verdict> {
        let slot = self
            .verdict
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (slot, _) = self
            .verdict_set
            .wait_timeout_while(slot, limit, |verdict| verdict.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.clone()
    }

    /// Kills the runs `which` selects; waits until they are over.
    fn kill_runs(&self, which: impl Fn(&RunEntry) -> bool) {
        let mut runs = self.lock_runs();
        let ids: Vec<u64> = runs
            .iter()
            .filter(|(_, entry)| which(entry))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(entry) = runs.get(id) {
                entry.kill();
            }
        }
        let deadline = Instant::now() + KILL_WAIT;
        while ids.iter().any(|id| runs.contains_key(id)) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            runs = self
                .runs_changed
                .wait_timeout(runs, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

fn serve(
    jail: &Jail,
    socket: &Socket,
    listener: UnixListener,
    program: &[OsString],
    network: NetworkPolicy,
) -> i32 {
    // The tracer hears of its tasks through a signalfd: no thread may take
    // SIGCHLD (every thread started from here on inherits the mask; the
    // program's child resets it).
    let mut chld = nix::sys::signal::SigSet::empty();
    chld.add(nix::sys::signal::Signal::SIGCHLD);
    if chld.thread_block().is_err() {
        return 1;
    }
    let Ok((preparation_read, preparation_write)) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
    else {
        return 1;
    };
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return 1;
    };
    // The jail's own lines about the prepared process (`report`, log) go
    // with its output.
    let _ = crate::sys::dup2(preparation_write.as_raw_fd(), 2);
    let Ok(doorbell) = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC) else {
        return 1;
    };
    let doorbell = Arc::new(doorbell);
    let shared = Arc::new(Shared {
        runs: Mutex::new(HashMap::new()),
        runs_changed: Condvar::new(),
        verdict: Mutex::new(None),
        verdict_set: Condvar::new(),
        preparation: Mutex::new(Vec::new()),
        closing: AtomicBool::new(false),
        prepared: AtomicBool::new(false),
        next_run: AtomicU64::new(1),
        relaying: Arc::new(AtomicUsize::new(0)),
        workers: Workers::default(),
        template: Mutex::new(None),
        limits: RunLimits {
            time: jail.config.time_limit,
            cpu: jail.config.limits.cpu_time,
            memory: jail.config.limits.max_memory,
        },
        output_limit: jail.config.limits.output_limit,
        socket: socket.clone(),
    });
    {
        let shared = shared.clone();
        std::thread::spawn(move || keep_preparation_output(preparation_read, &shared));
    }
    let (requests_send, requests) = mpsc::channel::<RunRequest>();
    {
        let shared = shared.clone();
        let doorbell = doorbell.clone();
        std::thread::spawn(move || accept(listener, &shared, &requests_send, &doorbell));
    }
    let stdio = [
        null.as_raw_fd(),
        preparation_write.as_raw_fd(),
        preparation_write.as_raw_fd(),
    ];
    let prepared = Arc::new(AtomicBool::new(false));
    let result = jail
        .start_with(program, Some(stdio), network)
        .and_then(|started| {
            let watchdog = started.watchdog().clone();
            // Preparation is bounded: a program that never makes its
            // wakeup is killed.
            watchdog.arm(jail.config.time_limit.unwrap_or(DEFAULT_PREPARATION));
            *shared
                .template
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(watchdog.clone());
            let on_prepared = prepared.clone();
            let told = shared.clone();
            let gone = shared.clone();
            let link = Link {
                requests,
                doorbell,
                prepared: Box::new(move || {
                    watchdog.disarm();
                    on_prepared.store(true, Ordering::SeqCst);
                    told.prepared.store(true, Ordering::SeqCst);
                }),
                gone: Box::new(move || gone.close()),
                relays: shared.relaying.clone(),
                rehearsal: match &jail.config.rehearsal {
                    Rehearsal::EmptyInput => Some(Vec::new()),
                    Rehearsal::Input(input) => Some(input.clone().into_bytes()),
                    Rehearsal::Off => None,
                },
                limits: shared.limits,
            };
            started.serve_template(link)
        });
    drop(preparation_write);
    drop(null);
    shared.close();
    let verdict = if prepared.load(Ordering::SeqCst) {
        Verdict::Gone
    } else {
        let limit = jail.config.time_limit.unwrap_or(DEFAULT_PREPARATION);
        match &result {
            Ok(ending) => Verdict::Failed(
                format!(
                    "the template's program {}; nothing was run",
                    match ending {
                        Ending::Exited(code) => format!(
                            "exited with status {code} while it prepared, before its wakeup"
                        ),
                        Ending::Killed(signal) => format!(
                            "was killed ({}) while it prepared, before its wakeup",
                            crate::sys::signal_description(*signal)
                        ),
                        Ending::TimedOut => format!(
                            "was not prepared within the time limit ({}s): it never made \
                             the wakeup syscall",
                            limit.as_secs_f64()
                        ),
                        _ => "ended while it prepared, before its wakeup".to_owned(),
                    }
                ),
                crate::error::status::JAIL_FAILED,
            ),
            Err(error) => Verdict::Failed(error.to_string(), error.exit_status()),
        }
    };
    shared.set_verdict(verdict);
    // The runs' threads say their last to their clients.
    let deadline = Instant::now() + KILL_WAIT;
    while shared.relaying.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    match result {
        Ok(Ending::Exited(code)) => code,
        _ => 1,
    }
}

/// Keeps the last [`PREPARATION_OUTPUT`] bytes the program writes.
fn keep_preparation_output(pipe: OwnedFd, shared: &Shared) {
    let mut buffer = [0u8; 4096];
    loop {
        match nix::unistd::read(&pipe, &mut buffer) {
            Ok(0) => return,
            Ok(count) => {
                let mut kept = shared
                    .preparation
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                kept.extend_from_slice(&buffer[..count]);
                let excess = kept.len().saturating_sub(PREPARATION_OUTPUT);
                kept.drain(..excess);
            }
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Takes clients until the server closes; each is served by a worker.
fn accept(
    listener: UnixListener,
    shared: &Arc<Shared>,
    requests: &mpsc::Sender<RunRequest>,
    doorbell: &Arc<EventFd>,
) {
    let me = nix::unistd::geteuid().as_raw();
    let mut checked = Instant::now();
    while !shared.closing.load(Ordering::SeqCst) {
        if checked.elapsed() >= SOCKET_CHECK {
            checked = Instant::now();
            if SocketId::of(&shared.socket.path) != Some(shared.socket.id) {
                // Nobody can reach the server any more: it ends.
                log::info!("template socket gone; ending the template");
                end_everything(shared);
                return;
            }
        }
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(SOCKET_CHECK).unwrap_or(PollTimeout::NONE);
        if !matches!(poll(&mut fds, timeout), Ok(1..)) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        if peer_uid(&stream) != Some(me) {
            continue;
        }
        shared.relaying.fetch_add(1, Ordering::SeqCst);
        if shared.workers.hand(stream) {
            let shared = shared.clone();
            let requests = requests.clone();
            let doorbell = doorbell.clone();
            std::thread::spawn(move || {
                while let Some(stream) = shared.workers.next() {
                    serve_client(stream, &shared, &requests, &doorbell);
                    shared.relaying.fetch_sub(1, Ordering::SeqCst);
                    // The tracer may make its spare copy now.
                    let _ = doorbell.write(1);
                }
            });
        }
    }
}

/// How long a worker waits for its next client before it ends.
const WORKER_IDLE: Duration = Duration::from_secs(30);

/// The threads that serve clients: one per client being served, kept
/// for the next client once done (a run starts no thread), ended after
/// [`WORKER_IDLE`] without one.
#[derive(Default)]
struct Workers {
    /// Clients not taken yet, and the workers waiting for one.
    waiting: Mutex<(std::collections::VecDeque<UnixStream>, usize)>,
    ready: Condvar,
}

impl Workers {
    /// Queues `stream` for a worker; true when none is free to take it
    /// (the caller starts one, which calls [`Workers::next`]).
    fn hand(&self, stream: UnixStream) -> bool {
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.0.push_back(stream);
        let start = waiting.1 < waiting.0.len();
        if !start {
            self.ready.notify_one();
        }
        start
    }

    /// The next client for a worker, or `None` when none came for
    /// [`WORKER_IDLE`] (the worker then ends).
    fn next(&self) -> Option<UnixStream> {
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let deadline = Instant::now() + WORKER_IDLE;
        loop {
            if let Some(stream) = waiting.0.pop_front() {
                return Some(stream);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            waiting.1 += 1;
            waiting = self
                .ready
                .wait_timeout(waiting, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            waiting.1 -= 1;
        }
    }
}

/// Kills the prepared process and every run.
fn end_everything(shared: &Shared) {
    shared.close();
    if let Some(watchdog) = shared
        .template
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
    {
        watchdog.kill();
    }
    shared.kill_runs(|_| true);
}

fn serve_client(
    mut stream: UnixStream,
    shared: &Shared,
    requests: &mpsc::Sender<RunRequest>,
    doorbell: &EventFd,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let first = Frame::read_from(&mut stream);
    let _ = stream.set_read_timeout(None);
    match first {
        Ok(Some(Frame::Run(ident))) => run_one(stream, ident, shared, requests, doorbell),
        Ok(Some(Frame::KillRuns(ident))) => {
            shared.kill_runs(|entry| entry.ident == ident);
            let _ = Frame::Ended.write_to(&mut stream);
        }
        Ok(Some(Frame::KillTemplate)) => {
            end_everything(shared);
            shared.wait_verdict(KILL_WAIT);
            let _ = Frame::Ended.write_to(&mut stream);
        }
        _ => {}
    }
}

/// The server's ends of a run's stdio, each dropped at its end.
#[derive(Default)]
struct RelayPipes {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

impl From<RunPipes> for RelayPipes {
    fn from(pipes: RunPipes) -> RelayPipes {
        RelayPipes {
            stdin: Some(pipes.stdin),
            stdout: Some(pipes.stdout),
            stderr: Some(pipes.stderr),
        }
    }
}

fn fail(stream: &mut UnixStream, message: &str, status: u8) {
    let _ = Frame::Stderr(format!("sandbox: {message}\n").into_bytes()).write_to(stream);
    let _ = Frame::Exited(i32::from(status)).write_to(stream);
}

/// One run: the fork, its time limit, its bytes, its ending.
fn run_one(
    stream: UnixStream,
    ident: Vec<u8>,
    shared: &Shared,
    requests: &mpsc::Sender<RunRequest>,
    doorbell: &EventFd,
) {
    let mut stream = stream;
    if shared.closing.load(Ordering::SeqCst) {
        // Not started: the client tries again, with a new server.
        return;
    }
    let Ok(notify) = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC) else {
        return fail(
            &mut stream,
            "cannot make an eventfd",
            crate::error::status::JAIL_FAILED,
        );
    };
    let notify = Arc::new(notify);
    let id = shared.next_run.fetch_add(1, Ordering::SeqCst);
    let killed = Arc::new(AtomicBool::new(false));
    shared.lock_runs().insert(
        id,
        RunEntry {
            ident,
            killed: killed.clone(),
            notify: notify.clone(),
            root: None,
        },
    );
    // The input the client sent with its request is taken now, and goes
    // into the run's stdin the moment the run has one.
    let mut relay = Relay::new(&stream, shared.output_limit);
    relay.take_from_client();
    let (replies_send, replies) = mpsc::channel();
    let request = RunRequest {
        id,
        replies: replies_send,
        notify: notify.clone(),
    };
    let forget = |shared: &Shared| {
        shared.lock_runs().remove(&id);
        shared.runs_changed.notify_all();
    };
    if relay.client_gone {
        // Gone, or broke the protocol, before its run started: none is
        // started (its client, if it is still there, hears nothing and
        // knows its run never ran).
        return forget(shared);
    }
    if requests.send(request).is_err() {
        return forget(shared);
    }
    let _ = doorbell.write(1);
    let (pid, root, usage) = match replies.recv() {
        Ok(RunEvent::Started {
            pid,
            pidfd,
            pipes,
            usage,
        }) => {
            relay.pipes = pipes.into();
            relay.feed_stdin();
            (pid, Arc::new(pidfd), usage)
        }
        Ok(RunEvent::NotStarted(why)) if !shared.closing.load(Ordering::SeqCst) => {
            forget(shared);
            return fail(&mut stream, &why, crate::error::status::JAIL_FAILED);
        }
        _ => {
            forget(shared);
            // The server is ending: a preparation that failed is this
            // run's answer; otherwise it never started and is sent again
            // (at once: the runs in progress may take a while to end).
            if shared.prepared.load(Ordering::SeqCst) {
                return;
            }
            if let Some(Verdict::Failed(message, status)) = shared.wait_verdict(KILL_WAIT * 2) {
                let output = shared
                    .preparation
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                if !output.is_empty() {
                    let _ = Frame::Stderr(output).write_to(&mut stream);
                }
                fail(&mut stream, &message, status);
            }
            return;
        }
    };
    if let Some(entry) = shared.lock_runs().get_mut(&id) {
        entry.root = Some(root.clone());
        if entry.killed.load(Ordering::SeqCst) {
            entry.kill();
        }
    }
    log::debug!("run {id}: started as {pid}");
    // Its stdin now goes to the run.
    relay.queue(&Frame::Started);
    let clock = RunClock {
        root: &root,
        killed: &killed,
        limits: shared.limits,
        started: Instant::now(),
        usage,
    };
    relay.run(&notify, &replies, &clock);
    forget(shared);
}

/// When a run must end, and how it is ended: its own time limit (no
/// thread of its own: its relay's poll wakes for it), a kill by `kill`,
/// and the tracer's grace after a kill.
struct RunClock<'a> {
    root: &'a OwnedFd,
    killed: &'a AtomicBool,
    limits: RunLimits,
    started: Instant,
    /// With `cputime` or `maxmemory`: what the run uses, polled every
    /// [`crate::watchdog::POLL_MIN`] by the relay.
    usage: Option<Arc<crate::usage::Usage>>,
}

impl RunClock<'_> {
    fn deadline(&self) -> Option<Instant> {
        self.limits
            .time
            .and_then(|limit| self.started.checked_add(limit))
    }

    fn kill(&self) {
        let _ = crate::sys::pidfd_send_signal(self.root, libc::SIGKILL);
    }
}

/// Output queued for a run's client before its pipes are left unread
/// (the run then waits on a full pipe; its time limit keeps counting).
const CLIENT_QUEUE: usize = 1 << 20;
/// How long a client that has stopped reading may keep its relay once
/// its run has ended, when the config has no time limit (with one, that
/// limit).
const FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// A run's bytes between its client and its pipes; every descriptor
/// non-blocking, so a client that stops reading holds up only its own
/// run, and its relay for a bounded time.
struct Relay<'a> {
    stream: &'a UnixStream,
    pipes: RelayPipes,
    /// From the client, not yet a whole frame.
    received: Vec<u8>,
    /// For the run's stdin, not yet in the pipe.
    input: Vec<u8>,
    input_ended: bool,
    client_gone: bool,
    /// Frames not yet taken by the client.
    to_client: Vec<u8>,
    /// What the run may still write (`outputlimit`), stdout and stderr
    /// together.
    output_left: Option<u64>,
    /// It wrote past that: the run is killed, its pipes no longer read.
    output_limited: bool,
    /// The `cputime` or `maxmemory` ending of a run that passed it.
    usage_limited: Option<Frame>,
}

impl<'a> Relay<'a> {
    fn new(stream: &'a UnixStream, output_limit: Option<u64>) -> Relay<'a> {
        Relay {
            stream,
            output_left: output_limit,
            output_limited: false,
            usage_limited: None,
            pipes: RelayPipes::default(),
            received: Vec::new(),
            input: Vec::new(),
            input_ended: false,
            client_gone: false,
            to_client: Vec::new(),
        }
    }

    /// Whether the client is read now: for its input, and after its end
    /// to see it go (a client that goes away ends its run); not while
    /// [`INPUT_LIMIT`] of its input waits for the run.
    fn reads_client(&self) -> bool {
        !self.client_gone && self.input.len() < INPUT_LIMIT
    }

    /// Takes what the client has sent (one read, not waiting).
    fn take_from_client(&mut self) {
        if !self.reads_client() {
            return;
        }
        let mut buffer = [0u8; 64 * 1024];
        match nix::sys::socket::recv(
            self.stream.as_raw_fd(),
            &mut buffer,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => self.client_gone = true,
            Ok(count) => self.received.extend_from_slice(&buffer[..count]),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => self.client_gone = true,
        }
        loop {
            match take_frame(&mut self.received) {
                Ok(Some(Frame::Input(data))) if !self.input_ended => self.input.extend(data),
                Ok(Some(Frame::EndOfInput)) => self.input_ended = true,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    self.client_gone = true;
                    break;
                }
            }
        }
        if self.client_gone {
            self.input_ended = true;
            self.input.clear();
            self.to_client.clear();
        }
    }

    /// Writes what fits of the input into the run's stdin, and closes it
    /// once the client's input has ended and is all there.
    fn feed_stdin(&mut self) {
        if let Some(stdin) = &self.pipes.stdin
            && !self.input.is_empty()
        {
            match nix::unistd::write(stdin, &self.input) {
                Ok(count) => {
                    self.input.drain(..count);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(_) => {
                    self.input.clear();
                    self.input_ended = true;
                }
            }
        }
        if self.input_ended && self.input.is_empty() {
            self.pipes.stdin = None;
        }
    }

    /// Reads one chunk of the run's stdout or stderr into the client's
    /// queue; whether there was one.
    fn read_pipe(&mut self, stderr: bool) -> bool {
        let pipe = if stderr {
            &mut self.pipes.stderr
        } else {
            &mut self.pipes.stdout
        };
        let Some(fd) = pipe else {
            return false;
        };
        let mut buffer = vec![0u8; 64 * 1024];
        match nix::unistd::read(&*fd, &mut buffer) {
            Ok(0) => {
                *pipe = None;
                false
            }
            Ok(count) => {
                buffer.truncate(count);
                // The byte past `outputlimit` is not sent: exactly the
                // limit's bytes come out, then the run ends.
                let mut limited = false;
                if let Some(left) = self.output_left {
                    let allowed = usize::try_from(left).unwrap_or(usize::MAX).min(count);
                    self.output_left = Some(left - allowed as u64);
                    limited = allowed < count;
                    buffer.truncate(allowed);
                }
                if !buffer.is_empty() {
                    self.queue(&if stderr {
                        Frame::Stderr(buffer)
                    } else {
                        Frame::Stdout(buffer)
                    });
                }
                if limited {
                    self.output_limited = true;
                    self.pipes.stdout = None;
                    self.pipes.stderr = None;
                }
                !limited
            }
            Err(Errno::EINTR) => true,
            Err(Errno::EAGAIN) => false,
            Err(_) => {
                *pipe = None;
                false
            }
        }
    }

    /// Takes all a run that has ended wrote, without waiting for its
    /// pipes' end of file (the tracer said nothing more can come).
    fn drain_pipes(&mut self) {
        // A pipe holds at most 1 MiB (`pipe-max-size`): 17 reads of
        // 64 KiB take it all. The bound keeps a writer the tracer does not
        // know of (a descriptor passed out of the run) from holding the
        // relay here.
        const READS: usize = 17;
        for stderr in [false, true] {
            for _ in 0..READS {
                if !self.read_pipe(stderr) {
                    break;
                }
            }
            if stderr {
                self.pipes.stderr = None;
            } else {
                self.pipes.stdout = None;
            }
        }
    }

    fn queue(&mut self, frame: &Frame) {
        if !self.client_gone {
            let _ = frame.write_to(&mut self.to_client);
            self.flush();
        }
    }

    /// Sends what the client will take now.
    fn flush(&mut self) {
        while !self.client_gone && !self.to_client.is_empty() {
            match nix::sys::socket::send(
                self.stream.as_raw_fd(),
                &self.to_client,
                nix::sys::socket::MsgFlags::MSG_DONTWAIT | nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(count) => {
                    self.to_client.drain(..count);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    self.client_gone = true;
                    self.to_client.clear();
                }
            }
        }
    }

    /// Relays until the run has ended, its output is read and its
    /// client has taken it with the run's ending (or is gone, or took
    /// too long). A client that goes away ends the run.
    fn run(&mut self, notify: &EventFd, replies: &mpsc::Receiver<RunEvent>, clock: &RunClock) {
        let mut ended: Option<(RunEnd, Instant)> = None;
        // When the run was killed (time limit, `kill`, client gone).
        let mut kill_sent: Option<Instant> = None;
        let mut timed_out = false;
        // The ending frame is queued; the client has until then to take it.
        let mut finishing: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if ended.is_none()
                && kill_sent.is_none()
                && let Some(usage) = &clock.usage
            {
                self.usage_limited = clock.limits.past(usage).map(|limit| match limit {
                    PastLimit::Cpu => Frame::CpuLimit,
                    PastLimit::Memory => Frame::MemoryLimit,
                });
            }
            if ended.is_none() && kill_sent.is_none() {
                let past_limit = clock.deadline().is_some_and(|at| at <= now);
                if past_limit
                    || self.client_gone
                    || self.output_limited
                    || self.usage_limited.is_some()
                    || clock.killed.load(Ordering::SeqCst)
                {
                    timed_out = past_limit && !self.client_gone;
                    clock.kill();
                    kill_sent = Some(now);
                }
            }
            if ended.is_none()
                && let Some(at) = kill_sent
                && now.duration_since(at) >= crate::watchdog::TRACER_GRACE
            {
                // The tracer did not end the run: the jail is stuck.
                crate::watchdog::end_stuck_jail(timed_out);
            }
            if finishing.is_none()
                && let Some((end, at)) = ended
                && ((self.pipes.stdout.is_none() && self.pipes.stderr.is_none())
                    || now.duration_since(at) >= DRAIN_GRACE)
            {
                let frame = if clock.killed.load(Ordering::SeqCst) {
                    Frame::Ended
                } else if self.output_limited {
                    Frame::OutputLimit
                } else if let Some(limit) = &self.usage_limited {
                    limit.clone()
                } else if timed_out {
                    Frame::TimedOut
                } else {
                    match end {
                        RunEnd::Exited(code) => Frame::Exited(code),
                        RunEnd::Killed(signal) => Frame::Killed(signal),
                        RunEnd::Done => Frame::Done,
                    }
                };
                self.queue(&frame);
                finishing = Some(now + clock.limits.time.unwrap_or(FLUSH_LIMIT));
            }
            if let Some(until) = finishing
                && (self.client_gone || self.to_client.is_empty() || until <= now)
            {
                return;
            }
            self.feed_stdin();
            let mut fds = Vec::new();
            let mut what = Vec::new();
            fds.push(PollFd::new(notify.as_fd(), PollFlags::POLLIN));
            what.push(Source::Tracer);
            if self.reads_client() {
                fds.push(PollFd::new(self.stream.as_fd(), PollFlags::POLLIN));
                what.push(Source::Client);
            }
            if !self.client_gone && !self.to_client.is_empty() {
                fds.push(PollFd::new(self.stream.as_fd(), PollFlags::POLLOUT));
                what.push(Source::ClientRoom);
            }
            if let (Some(stdin), false) = (&self.pipes.stdin, self.input.is_empty()) {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLOUT));
                what.push(Source::Stdin);
            }
            // Output is read while the client takes it (or is gone).
            if self.to_client.len() < CLIENT_QUEUE {
                if let Some(stdout) = &self.pipes.stdout {
                    fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
                    what.push(Source::Stdout);
                }
                if let Some(stderr) = &self.pipes.stderr {
                    fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
                    what.push(Source::Stderr);
                }
            }
            let wake_at = [
                finishing,
                ended.map(|(_, at)| at + DRAIN_GRACE),
                match (ended, kill_sent) {
                    (None, Some(at)) => Some(at + crate::watchdog::TRACER_GRACE),
                    (None, None) => clock.deadline(),
                    _ => None,
                },
                // The run's CPU time and memory are polled.
                match (ended, kill_sent, &clock.usage) {
                    (None, None, Some(_)) => Some(now + crate::watchdog::POLL_MIN),
                    _ => None,
                },
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = match wake_at {
                Some(at) => {
                    // Rounded up: a poll that wakes early only loops.
                    let left = at.saturating_duration_since(now);
                    let millis = left.as_millis().saturating_add(1);
                    PollTimeout::try_from(millis.min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => {
                    clock.kill();
                    self.client_gone = true;
                    kill_sent.get_or_insert(now);
                    continue;
                }
            }
            let ready: Vec<Source> = fds
                .iter()
                .zip(&what)
                .filter(|(fd, _)| fd.revents().is_some_and(|events| !events.is_empty()))
                .map(|(_, what)| *what)
                .collect();
            drop(fds);
            for source in ready {
                match source {
                    Source::Tracer => {
                        let _ = nix::unistd::read(notify.as_fd(), &mut [0u8; 8]);
                        while let Ok(event) = replies.try_recv() {
                            if let RunEvent::Ended { how, complete } = event
                                && ended.is_none()
                            {
                                ended = Some((how, Instant::now()));
                                if complete {
                                    self.drain_pipes();
                                }
                            }
                        }
                    }
                    Source::Client => self.take_from_client(),
                    Source::ClientRoom => self.flush(),
                    Source::Stdin => self.feed_stdin(),
                    Source::Stdout => {
                        self.read_pipe(false);
                    }
                    Source::Stderr => {
                        self.read_pipe(true);
                    }
                }
            }
        }
    }
}

/// What a relay's poll watches.
#[derive(Clone, Copy)]
enum Source {
    /// The tracer's news of the run.
    Tracer,
    Client,
    /// Room in the client's socket for queued output.
    ClientRoom,
    Stdin,
    Stdout,
    Stderr,
}
