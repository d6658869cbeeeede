//! The network policy as a program meets it (issue 13): unix sockets are
//! files under the path policy, TCP and UDP reach what `connect` and
//! `bind` lines allow, names come from the jail's synthetic /etc/hosts,
//! `net loopback` is the jail's own, and only some socket kinds exist.
//!
//! Every server is the test's own, on loopback or in the test's tree, and
//! every check of a refusal also checks that nothing arrived there; a
//! native run of the same probe first shows the server reachable. Each
//! test runs with Landlock (`landlock require`, where the kernel has it)
//! and with `landlock off`; the core ones also as an unprivileged user.
//! Races on the address are `escape_network.rs`'s; what the jail side
//! says of the lines (`--check`, resolution errors) is `network.rs`'s.

use crate::support::{
    Jail, MovingName, Output, SANDBOX, copy_executable, is_root, run_native, skip, test_user,
    write_file,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use std::{fs, io};

const NATIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// The interpreter's trees: what a jail needs to run `/usr/bin/python3`.
const PYTHON: &str = "see /usr\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\n";

/// How one jail of these tests runs.
#[derive(Clone, Copy, Debug)]
struct Mode {
    /// The config's `landlock` value: `require` or `off`.
    landlock: &'static str,
    /// The jail (and the native control) run as the test user.
    unprivileged: bool,
}

impl Mode {
    fn landlock_on(self) -> bool {
        self.landlock != "off"
    }
}

/// `landlock require` where the kernel has Landlock (a jail that went
/// without it would then fail, not pass unconfined), and `landlock off`.
fn modes(unprivileged: bool) -> Vec<Mode> {
    let mut landlock = vec!["off"];
    match sandbox::landlock::abi_version() {
        Ok(_) => landlock.insert(0, "require"),
        Err(errno) => skip(&format!(
            "this kernel has no Landlock ({errno}): the network tests run with `landlock off` only"
        )),
    }
    landlock
        .into_iter()
        .map(|landlock| Mode {
            landlock,
            unprivileged,
        })
        .collect()
}

/// The standard tree (`see {bin}`, `see {ro}`, `see`+`write {jail}`) with
/// `report` and the mode's Landlock, run as the test user if asked, and a
/// directory `{root}/native` (outside every tree of the config) for the
/// native controls' own sockets.
fn jail(mode: Mode) -> Jail {
    let mut j = Jail::new();
    j.add_config(&format!("report\nlandlock {}\n", mode.landlock));
    fs::create_dir(j.path("native")).unwrap();
    fs::create_dir(j.path("native/dir")).unwrap();
    write_file(&j.path("native/file"), "hello\n");
    if mode.unprivileged {
        as_test_user(&mut j);
    }
    j
}

/// Runs the jail (and [`native`]) as the unprivileged test user: a copy of
/// the binary the user may run, `{jail}` and `{root}/native` the user's.
/// A test run by an unprivileged user already is one.
fn as_test_user(j: &mut Jail) {
    if !is_root() {
        return;
    }
    let user = test_user();
    let copy = j.path("sandbox-bin");
    copy_executable(SANDBOX, &copy);
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    j.sandbox = copy;
    for dir in ["jail", "native"] {
        let status = std::process::Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(j.path(dir))
            .status()
            .unwrap();
        assert!(status.success(), "chown {dir}");
    }
    j.wrapper = [
        "setpriv",
        &format!("--reuid={user}"),
        &format!("--regid={user}"),
        "--clear-groups",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
}

/// `args` run natively, as the jail's user: the control.
fn native<S: AsRef<str>>(j: &Jail, args: &[S]) -> Output {
    let mut all = j.wrapper.clone();
    all.extend(args.iter().map(|arg| arg.as_ref().to_string()));
    run_native(&all, NATIVE_TIMEOUT)
}

/// The probe with `cases` chained, placeholders expanded.
fn probe_args(j: &Jail, cases: &[String]) -> Vec<String> {
    let mut words = vec![j.bin("probe")];
    words.extend(
        j.expand(&cases.join(" + "))
            .split_whitespace()
            .map(str::to_string),
    );
    words
}

/// The probe run natively with `cases`.
fn native_probe(j: &Jail, cases: &[String]) -> Output {
    native(j, &probe_args(j, cases))
}

/// The probe run in the jail with `cases`.
fn jailed_probe(j: &Jail, cases: &[String]) -> Output {
    j.cmd(&probe_args(j, cases)).run()
}

/// The run ended with status 0 and printed exactly `want` (placeholders
/// expanded), one line per case.
fn expect_lines<S: AsRef<str>>(j: &Jail, out: &Output, want: &[S], what: &str) {
    let want: Vec<String> = want.iter().map(|line| j.expand(line.as_ref())).collect();
    assert_eq!(
        out.lines(),
        want,
        "{what}: unexpected output\nconfig:\n{}\n{}",
        j.config_text(),
        out.describe()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: the program's status\nconfig:\n{}\n{}",
        j.config_text(),
        out.describe()
    );
}

/// The `report` lines of network refusals the run printed.
fn network_reports(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|line| line.starts_with("[Connect ") || line.starts_with("[Bind "))
        .collect()
}

/// The run reported exactly these network refusals, in this order.
fn expect_reports<S: AsRef<str>>(j: &Jail, out: &Output, want: &[S], what: &str) {
    let want: Vec<String> = want.iter().map(|line| j.expand(line.as_ref())).collect();
    assert_eq!(
        network_reports(out),
        want,
        "{what}: unexpected report lines\nconfig:\n{}\n{}",
        j.config_text(),
        out.describe()
    );
}

/// `n` copies of `line`.
fn times(n: usize, line: &str) -> Vec<String> {
    vec![line.to_string(); n]
}

/// The strings as owned cases.
fn cases(list: &[&str]) -> Vec<String> {
    list.iter().map(|case| case.to_string()).collect()
}

/// A name no other test (or test run) binds in the abstract namespace.
fn abstract_name(what: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "sbx-net-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A TCP port nobody listens on at the moment.
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- the test's own servers ----

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

trait Connection: Read + Write {}
impl<T: Read + Write> Connection for T {}

impl Listener {
    fn accept(&self) -> io::Result<Box<dyn Connection>> {
        let timeout = Some(Duration::from_secs(5));
        Ok(match self {
            Listener::Tcp(listener) => {
                let (stream, _) = listener.accept()?;
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(timeout)?;
                Box::new(stream)
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept()?;
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(timeout)?;
                Box::new(stream)
            }
        })
    }
}

/// A stream server of the test's: it answers each connection's first
/// message with "pong" and keeps the messages, until [`finish`]ed.
///
/// [`finish`]: StreamServer::finish
struct StreamServer {
    stop: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<String>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl StreamServer {
    /// On 127.0.0.1 (or `[::1]`), a port of the kernel's choosing.
    fn tcp(ip: &str) -> (StreamServer, u16) {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("listen on {ip}: {e}"));
        let port = listener.local_addr().unwrap().port();
        (StreamServer::serve(Listener::Tcp(listener)), port)
    }

    /// At a unix socket path, open to every user.
    fn unix(path: &Path) -> StreamServer {
        let listener =
            UnixListener::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        fs::set_permissions(path, fs::Permissions::from_mode(0o777)).unwrap();
        StreamServer::serve(Listener::Unix(listener))
    }

    /// At an abstract name.
    fn abstract_(name: &str) -> StreamServer {
        let address = SocketAddr::from_abstract_name(name).unwrap();
        let listener = UnixListener::bind_addr(&address).unwrap();
        StreamServer::serve(Listener::Unix(listener))
    }

    fn serve(listener: Listener) -> StreamServer {
        match &listener {
            Listener::Tcp(l) => l.set_nonblocking(true).unwrap(),
            Listener::Unix(l) => l.set_nonblocking(true).unwrap(),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, got) = (stop.clone(), got.clone());
            thread::spawn(move || {
                loop {
                    match listener.accept() {
                        Ok(mut connection) => {
                            let mut buf = [0u8; 256];
                            let n = connection.read(&mut buf).unwrap_or(0);
                            got.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                            let _ = connection.write_all(b"pong");
                        }
                        // Stops only once nothing is pending: whatever
                        // connected before `finish` is counted.
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("the test's server: accept: {e}"),
                    }
                }
            })
        };
        StreamServer {
            stop,
            got,
            thread: Some(thread),
        }
    }

    /// The first message of every connection so far, in order.
    fn received(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }

    /// Stops the server and returns the first message of every
    /// connection it had.
    fn finish(mut self) -> Vec<String> {
        self.stop_thread();
        self.received()
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the test's server thread");
        }
    }
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A datagram socket of the test's; [`received`] drains what came.
///
/// [`received`]: Datagrams::received
enum Datagrams {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Datagrams {
    fn udp() -> (Datagrams, u16) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let port = socket.local_addr().unwrap().port();
        (Datagrams::Udp(socket), port)
    }

    /// At a unix socket path, open to every user.
    fn unix(path: &Path) -> Datagrams {
        let socket =
            UnixDatagram::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        fs::set_permissions(path, fs::Permissions::from_mode(0o777)).unwrap();
        socket.set_nonblocking(true).unwrap();
        Datagrams::Unix(socket)
    }

    fn abstract_(name: &str) -> Datagrams {
        let address = SocketAddr::from_abstract_name(name).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        socket.set_nonblocking(true).unwrap();
        Datagrams::Unix(socket)
    }

    /// What has arrived since the last call, waiting up to 2 s for at
    /// least `expected` datagrams (none is waited for when 0 are).
    fn received(&self, expected: usize) -> Vec<String> {
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let result = match self {
                Datagrams::Udp(socket) => socket.recv(&mut buf),
                Datagrams::Unix(socket) => socket.recv(&mut buf),
            };
            match result {
                Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if got.len() >= expected || start.elapsed() > Duration::from_secs(2) {
                        return got;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("the test's datagram socket: recv: {e}"),
            }
        }
    }
}

// ---- 1. unix sockets inside a write tree ----

/// The same server-and-client exchanges over unix sockets, under `base`.
fn unix_pair_cases(base: &str) -> Vec<String> {
    vec![
        format!("net_unix_pair {base}/stream.sock stream"),
        format!("net_unix_pair {base}/dgram.sock dgram"),
        format!("net_unix_pair {base}/seq.sock seqpacket"),
        format!("chdir {base}/dir"),
        "net_unix_pair rel.sock stream".to_string(),
        // What the kernel answers, the jail answers: a name in use, no
        // socket there, a file that is no socket.
        format!("net_unix_pair {base}/stream.sock stream"),
        format!("net_unix_talk {base}/missing.sock stream x"),
        format!("net_unix_talk {base}/file stream x"),
        format!("net_unix_send {base}/file sendto x"),
    ]
}

fn unix_servers_inside_a_write_tree(mode: Mode) {
    let j = jail(mode);
    let expected = [
        "ok ping pong",
        "ok ping pong",
        "ok ping pong",
        "ok",
        "ok ping pong",
        "bind EADDRINUSE",
        "connect ENOENT",
        "connect ECONNREFUSED",
        "sendto ECONNREFUSED",
    ];
    let out = native_probe(&j, &unix_pair_cases("{root}/native"));
    expect_lines(&j, &out, &expected, "native");

    let out = jailed_probe(&j, &unix_pair_cases("{jail}"));
    expect_lines(&j, &out, &expected, &format!("{mode:?}"));
    expect_reports::<&str>(&j, &out, &[], &format!("{mode:?}"));
    for name in [
        "stream.sock",
        "dgram.sock",
        "dgram.sock.c",
        "seq.sock",
        "dir/rel.sock",
    ] {
        let path = j.path("jail").join(name);
        let meta = fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("{mode:?}: {} was not made: {e}", path.display()));
        assert!(
            meta.file_type().is_socket(),
            "{mode:?}: {} is no socket",
            path.display()
        );
    }
}

#[test]
fn unix_stream_dgram_and_seqpacket_servers_talk_inside_a_write_tree() {
    for mode in modes(false) {
        unix_servers_inside_a_write_tree(mode);
    }
}

#[test]
fn unix_servers_talk_inside_a_write_tree_as_an_unprivileged_user() {
    for mode in modes(true) {
        unix_servers_inside_a_write_tree(mode);
    }
}

/// A threaded server, an asyncio one and datagrams, each with its client,
/// under the directory of argv[1].
const PYTHON_UNIX: &str = r#"
import asyncio, os, socket, sys, threading
base = sys.argv[1]

path = os.path.join(base, 'threads.sock')
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen()
def serve():
    connection, _ = server.accept()
    with connection:
        connection.sendall(b'pong ' + connection.recv(64))
thread = threading.Thread(target=serve)
thread.start()
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
    client.connect(path)
    client.sendall(b'threads')
    print(client.recv(64).decode())
thread.join()

async def main():
    async def handle(reader, writer):
        writer.write(b'pong ' + await reader.read(64))
        await writer.drain()
        writer.close()
    path = os.path.join(base, 'asyncio.sock')
    server = await asyncio.start_unix_server(handle, path)
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b'asyncio')
    await writer.drain()
    print((await reader.read(64)).decode())
    writer.close()
    server.close()
    await server.wait_closed()
asyncio.run(main())

a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a.bind(os.path.join(base, 'a.sock'))
b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
b.bind(os.path.join(base, 'b.sock'))
b.sendto(b'dgram', os.path.join(base, 'a.sock'))
data, sender = a.recvfrom(64)
a.sendto(b'pong ' + data, sender)
print(b.recv(64).decode())
"#;

fn python_unix_servers(mode: Mode) {
    let mut j = jail(mode);
    j.add_config(PYTHON);
    let expected = ["pong threads", "pong asyncio", "pong dgram"];
    let native_dir = j.p("native");
    let out = native(
        &j,
        &["/usr/bin/python3", "-c", PYTHON_UNIX, native_dir.as_str()],
    );
    expect_lines(&j, &out, &expected, "native");

    let jail_dir = j.p("jail");
    let out = j
        .cmd(&["/usr/bin/python3", "-c", PYTHON_UNIX, jail_dir.as_str()])
        .run();
    expect_lines(&j, &out, &expected, &format!("{mode:?}"));
    expect_reports::<&str>(&j, &out, &[], &format!("{mode:?}"));
    for name in ["threads.sock", "asyncio.sock", "a.sock", "b.sock"] {
        let path = j.path("jail").join(name);
        assert!(
            fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_socket()),
            "{mode:?}: no socket {}",
            path.display()
        );
    }
}

#[test]
fn python_unix_servers_and_clients_work_inside_a_write_tree() {
    for mode in modes(false) {
        python_unix_servers(mode);
    }
}

#[test]
fn python_unix_servers_and_clients_work_as_an_unprivileged_user() {
    for mode in modes(true) {
        python_unix_servers(mode);
    }
}

/// A `multiprocessing` listener in a temporary directory under argv[1],
/// a client of it at the address it says it has, and a Manager (whose
/// server listens in such a directory too).
const PYTHON_MULTIPROCESSING: &str = r#"
import errno, multiprocessing, os, sys, tempfile
from multiprocessing.connection import Client, Listener
def main():
    base = sys.argv[1]
    path = os.path.join(tempfile.mkdtemp(dir=base), 'listener.sock')
    with Listener(path, 'AF_UNIX') as listener:
        print('address', listener.address.replace(base, '{base}'))
        try:
            with Client(listener.address, 'AF_UNIX'):
                print('client connected')
        except OSError as e:
            print('client', errno.errorcode[e.errno])
    tempfile.tempdir = base
    try:
        with multiprocessing.Manager() as manager:
            print('manager', dict(manager.dict(a=1)))
    except OSError as e:
        print('manager', errno.errorcode[e.errno])
if __name__ == '__main__':
    main()
"#;

/// A socket bound in a directory below a `write` root keeps the name it
/// was bound to: `getsockname`, a peer's `recvfrom` and a listener's
/// address give that path, which a client can connect and reply to, as
/// natively. (The tracer hands such a bind the parent directory it holds,
/// `/proc/<holder>/fd/<n>/<name>`, and the kernel keeps that as the
/// socket's name, which leads nowhere once the call is over.)
#[test]
fn a_unix_socket_bound_below_a_write_root_keeps_the_name_it_was_bound_to() {
    // Under Landlock a socket file can be made only inside the write
    // trees, so the jail hands the kernel the canonical path. With
    // `landlock off` it binds through the parent it holds, and the name is
    // that /proc path (a known limit: docs/design.md, "Network policy").
    let under_landlock: Vec<Mode> = modes(false)
        .into_iter()
        .filter(|mode| mode.landlock != "off")
        .collect();
    if under_landlock.is_empty() {
        skip("no Landlock: a unix socket bound below a write root is named by a /proc path");
    }
    for mode in under_landlock {
        let mut j = jail(mode);
        j.add_config(PYTHON);
        let probe_cases = |base: &str| {
            vec![
                format!("net_unix_name {base}/dir/named.sock stream"),
                format!("net_unix_pair {base}/dir/dgram.sock dgram"),
            ]
        };
        let python_lines = ["client connected", "manager {'a': 1}"];
        let out = native_probe(&j, &probe_cases("{root}/native"));
        expect_lines(
            &j,
            &out,
            &["ok {root}/native/dir/named.sock", "ok ping pong"],
            "native",
        );
        let native_dir = j.p("native");
        let out = native(
            &j,
            &[
                "/usr/bin/python3",
                "-c",
                PYTHON_MULTIPROCESSING,
                native_dir.as_str(),
            ],
        );
        assert!(
            out.lines()
                .first()
                .is_some_and(|line| line.starts_with("address {base}/tmp")),
            "native\n{}",
            out.describe()
        );
        expect_lines(
            &j,
            &out,
            &[&[out.lines()[0]], &python_lines[..]].concat(),
            "native",
        );

        let what = format!("{mode:?}");
        let out = jailed_probe(&j, &probe_cases("{jail}"));
        expect_lines(
            &j,
            &out,
            &["ok {jail}/dir/named.sock", "ok ping pong"],
            &what,
        );
        let jail_dir = j.p("jail");
        let out = j
            .cmd(&[
                "/usr/bin/python3",
                "-c",
                PYTHON_MULTIPROCESSING,
                jail_dir.as_str(),
            ])
            .run();
        assert!(
            out.lines()
                .first()
                .is_some_and(|line| line.starts_with("address {base}/tmp")),
            "{what}: the listener's address is not the path it was bound to\n{}",
            out.describe()
        );
        expect_lines(
            &j,
            &out,
            &[&[out.lines()[0]], &python_lines[..]].concat(),
            &what,
        );
    }
}

// ---- 2. socket files outside the write trees ----

#[test]
fn a_socket_file_under_a_see_only_tree_is_refused_unless_a_connect_line_names_it() {
    for mode in modes(false) {
        let mut j = jail(mode);
        let ro = StreamServer::unix(&j.path("ro/api.sock"));
        let hidden = StreamServer::unix(&j.path("hidden/api.sock"));
        // A link in the write tree leads to the see-only socket, and a
        // relative name from a see-only working directory names it: the
        // socket file reached is judged.
        std::os::unix::fs::symlink(j.path("ro/api.sock"), j.path("jail/link.sock")).unwrap();
        let talk = |message: &str| {
            vec![
                format!("net_unix_talk {{ro}}/api.sock stream {message}"),
                format!("net_unix_talk {{hidden}}/api.sock stream {message}"),
                format!("net_unix_talk {{jail}}/link.sock stream {message}"),
                "chdir {ro}".to_string(),
                format!("net_unix_talk api.sock stream {message}"),
            ]
        };
        let out = native_probe(&j, &talk("native"));
        expect_lines(
            &j,
            &out,
            &["ok pong", "ok pong", "ok pong", "ok", "ok pong"],
            "native",
        );

        let mut refused = talk("jailed");
        refused.extend(cases(&[
            "net_unix_pair {ro}/new.sock stream",
            "net_unix_pair {hidden}/new.sock stream",
        ]));
        let out = jailed_probe(&j, &refused);
        let what = format!("{mode:?}, no connect line");
        expect_lines(
            &j,
            &out,
            &[
                "connect EACCES",
                "connect ENOENT",
                "connect EACCES",
                "ok",
                "connect EACCES",
                "bind EACCES",
                "bind ENOENT",
            ],
            &what,
        );
        expect_reports(
            &j,
            &out,
            &[
                "[Connect unix:{ro}/api.sock]",
                "[Connect unix:{hidden}/api.sock]",
                "[Connect unix:{ro}/api.sock]",
                "[Connect unix:{ro}/api.sock]",
                "[Bind unix:{ro}/new.sock]",
                "[Bind unix:{hidden}/new.sock]",
            ],
            &what,
        );
        for path in ["ro/new.sock", "hidden/new.sock"] {
            assert!(
                !j.path(path).exists(),
                "{what}: a socket file appeared at {path}"
            );
        }
        assert_eq!(ro.received(), times(3, "native"), "{what}");
        assert_eq!(hidden.received(), ["native"], "{what}");

        // Named, each is reached, wherever it lies and however named;
        // binding there is still refused.
        j.add_config("connect unix:{ro}/api.sock\nconnect unix:{hidden}/api.sock\n");
        let mut named = talk("named");
        named.push("net_unix_pair new.sock stream".into());
        let out = jailed_probe(&j, &named);
        let what = format!("{mode:?}, named by connect lines");
        expect_lines(
            &j,
            &out,
            &[
                "ok pong",
                "ok pong",
                "ok pong",
                "ok",
                "ok pong",
                "bind EACCES",
            ],
            &what,
        );
        expect_reports(&j, &out, &["[Bind unix:{ro}/new.sock]"], &what);
        let mut arrived = times(3, "native");
        arrived.extend(times(3, "named"));
        assert_eq!(ro.finish(), arrived, "{what}");
        assert_eq!(hidden.finish(), ["native", "named"], "{what}");
    }
}

// ---- 3. unix datagrams to sockets outside the write trees ----

#[test]
fn a_unix_datagram_to_a_socket_outside_the_write_trees_is_refused_and_never_arrives() {
    for mode in modes(false) {
        let mut j = jail(mode);
        let ro = Datagrams::unix(&j.path("ro/dgram.sock"));
        let hidden = Datagrams::unix(&j.path("hidden/dgram.sock"));
        let inside = Datagrams::unix(&j.path("jail/dgram.sock"));
        let send = |who: &str, modes: &[&str]| -> Vec<String> {
            let mut cases = Vec::new();
            for dir in ["{ro}", "{hidden}", "{jail}"] {
                for how in modes {
                    cases.push(format!("net_unix_send {dir}/dgram.sock {how} {who}-{how}"));
                }
            }
            cases
        };
        let all = ["sendto", "sendmsg", "connect", "sendmmsg"];
        let out = native_probe(&j, &send("native", &all));
        expect_lines(&j, &out, &times(12, "ok"), "native");
        let native_ones: Vec<String> = all.iter().map(|how| format!("native-{how}")).collect();
        for socket in [&ro, &hidden, &inside] {
            assert_eq!(socket.received(4), native_ones, "native");
        }

        let out = jailed_probe(&j, &send("jailed", &all));
        let what = format!("{mode:?}, no connect line");
        expect_lines(
            &j,
            &out,
            &[
                "sendto EACCES",
                "sendmsg EACCES",
                "connect EACCES",
                "sendmmsg ENOSYS",
                "sendto ENOENT",
                "sendmsg ENOENT",
                "connect ENOENT",
                "sendmmsg ENOSYS",
                "ok",
                "ok",
                "ok",
                "sendmmsg ENOSYS",
            ],
            &what,
        );
        expect_reports(
            &j,
            &out,
            &[
                "[Connect unix:{ro}/dgram.sock]",
                "[Connect unix:{ro}/dgram.sock]",
                "[Connect unix:{ro}/dgram.sock]",
                "[Connect unix:{hidden}/dgram.sock]",
                "[Connect unix:{hidden}/dgram.sock]",
                "[Connect unix:{hidden}/dgram.sock]",
            ],
            &what,
        );
        assert_eq!(ro.received(0), Vec::<String>::new(), "{what}: arrived");
        assert_eq!(hidden.received(0), Vec::<String>::new(), "{what}: arrived");
        assert_eq!(
            inside.received(3),
            ["jailed-sendto", "jailed-sendmsg", "jailed-connect"],
            "{what}"
        );

        j.add_config("connect unix:{ro}/dgram.sock\n");
        let out = jailed_probe(&j, &send("named", &["sendto", "sendmsg"]));
        let what = format!("{mode:?}, {{ro}}/dgram.sock named");
        expect_lines(
            &j,
            &out,
            &["ok", "ok", "sendto ENOENT", "sendmsg ENOENT", "ok", "ok"],
            &what,
        );
        expect_reports(
            &j,
            &out,
            &[
                "[Connect unix:{hidden}/dgram.sock]",
                "[Connect unix:{hidden}/dgram.sock]",
            ],
            &what,
        );
        assert_eq!(ro.received(2), ["named-sendto", "named-sendmsg"], "{what}");
        assert_eq!(hidden.received(0), Vec::<String>::new(), "{what}: arrived");
        assert_eq!(
            inside.received(2),
            ["named-sendto", "named-sendmsg"],
            "{what}"
        );
    }
}

// ---- 4. abstract names ----

/// Whether `--check` says the jail scopes abstract unix sockets.
fn check_says_abstract_scoped(j: &Jail) -> bool {
    write_file(&j.config_path(), j.config_text());
    let out = j.cmd::<&str>(&[]).run_raw(&[
        "--check".into(),
        j.config_path().display().to_string(),
        crate::support::IDENT.into(),
    ]);
    out.assert_code(0);
    let line = out
        .lines()
        .into_iter()
        .find(|line| line.starts_with("landlock abstract-unix "))
        .unwrap_or_else(|| panic!("no landlock abstract-unix line\n{}", out.describe()))
        .to_string();
    line.starts_with("landlock abstract-unix scoped")
}

#[test]
fn an_abstract_name_the_host_listens_on_is_unreachable_and_the_jails_own_work_where_scoped() {
    for mode in modes(false) {
        let j = jail(mode);
        let (stream_name, dgram_name) = (abstract_name("stream"), abstract_name("dgram"));
        let stream = StreamServer::abstract_(&stream_name);
        let dgram = Datagrams::abstract_(&dgram_name);
        let reach = |who: &str| {
            vec![
                format!("net_unix_talk @{stream_name} stream {who}"),
                format!("net_unix_send @{dgram_name} sendto {who}-sendto"),
                format!("net_unix_send @{dgram_name} sendmsg {who}-sendmsg"),
            ]
        };
        let out = native_probe(&j, &reach("native"));
        expect_lines(&j, &out, &["ok pong", "ok", "ok"], "native");
        assert_eq!(stream.received(), ["native"]);
        assert_eq!(dgram.received(2), ["native-sendto", "native-sendmsg"]);

        // Landlock ABI 6 scopes abstract names to the jail's domain.
        let scoped =
            mode.landlock_on() && sandbox::landlock::abi_version().is_ok_and(|abi| abi >= 6);
        assert_eq!(
            check_says_abstract_scoped(&j),
            scoped,
            "{mode:?}: --check disagrees with the kernel's Landlock ABI"
        );
        let (own_stream, own_dgram) = (abstract_name("own"), abstract_name("owndgram"));
        let mut cases = reach("jailed");
        cases.extend([
            format!("net_unix_pair @{own_stream} stream"),
            format!("net_unix_pair @{own_dgram} dgram"),
            "net_autobind dgram".to_string(),
            "net_autobind stream".to_string(),
        ]);
        let out = jailed_probe(&j, &cases);
        let what = format!("{mode:?}, abstract names scoped: {scoped}");
        if scoped {
            // The tracer lets them through; the kernel keeps the host's
            // names out of the jail's domain.
            expect_lines(
                &j,
                &out,
                &[
                    "connect EPERM",
                    "sendto EPERM",
                    "sendmsg EPERM",
                    "ok ping pong",
                    "ok ping pong",
                    "ok",
                    "ok",
                ],
                &what,
            );
            expect_reports::<&str>(&j, &out, &[], &what);
        } else {
            expect_lines(
                &j,
                &out,
                &[
                    "connect ECONNREFUSED",
                    "sendto ECONNREFUSED",
                    "sendmsg ECONNREFUSED",
                    "bind EACCES",
                    "bind EACCES",
                    "bind EACCES",
                    "bind EACCES",
                ],
                &what,
            );
            expect_reports(
                &j,
                &out,
                &[
                    format!("[Connect unix:@{stream_name}]"),
                    format!("[Connect unix:@{dgram_name}]"),
                    format!("[Connect unix:@{dgram_name}]"),
                    format!("[Bind unix:@{own_stream}]"),
                    format!("[Bind unix:@{own_dgram}]"),
                    "[Bind unix:(autobind)]".to_string(),
                    "[Bind unix:(autobind)]".to_string(),
                ],
                &what,
            );
        }
        assert_eq!(stream.finish(), ["native"], "{what}: arrived");
        assert_eq!(dgram.received(0), Vec::<String>::new(), "{what}: arrived");
    }
}

/// The kernel refuses a listen on a unix socket never bound (EINVAL): it
/// binds nothing, so there is nothing for the jail to judge or report.
#[test]
fn a_listen_on_an_unbound_unix_socket_fails_as_natively() {
    for mode in modes(false) {
        let j = jail(mode);
        let case = cases(&["net_listen_unbound unix"]);
        let out = native_probe(&j, &case);
        expect_lines(&j, &out, &["listen EINVAL"], "native");
        let out = jailed_probe(&j, &case);
        let what = format!("{mode:?}");
        expect_lines(&j, &out, &["listen EINVAL"], &what);
        expect_reports::<&str>(&j, &out, &[], &what);
    }
}

// ---- 5. TCP and UDP by connect lines ----

fn tcp_by_connect_lines(mode: Mode) {
    let (listed, p) = StreamServer::tcp("127.0.0.1");
    let (unlisted, q) = StreamServer::tcp("127.0.0.1");
    let mut j = jail(mode);
    // Each way of reaching 127.0.0.1:port: the address itself, `0.0.0.0`
    // (the local host to the kernel), IPv4-mapped, TCP fast open.
    let talk = |port: u16, who: &str| {
        vec![
            format!("net_tcp_talk 127.0.0.1 {port} {who}"),
            format!("net_tcp_talk 0.0.0.0 {port} {who}"),
            format!("net_tcp_talk ::ffff:127.0.0.1 {port} {who}"),
            format!("net_tcp_fastopen 127.0.0.1 {port} {who}"),
        ]
    };
    let refused = [
        "connect ENETUNREACH",
        "connect ENETUNREACH",
        "connect ENETUNREACH",
        "sendto ENETUNREACH",
    ];
    let mut both = talk(p, "native");
    both.extend(talk(q, "native"));
    let out = native_probe(&j, &both);
    expect_lines(&j, &out, &times(8, "ok pong"), "native");
    assert_eq!(listed.received(), times(4, "native"));
    assert_eq!(unlisted.received(), times(4, "native"));

    // No line; a UDP line for the port is no TCP line.
    j.add_config(&format!("connect udp 127.0.0.1:{p}\n"));
    let out = jailed_probe(&j, &talk(p, "jailed"));
    let what = format!("{mode:?}, no connect tcp line");
    expect_lines(&j, &out, &refused, &what);
    expect_reports(
        &j,
        &out,
        &times(4, &format!("[Connect tcp 127.0.0.1:{p}]")),
        &what,
    );
    assert_eq!(listed.received(), times(4, "native"), "{what}: arrived");

    j.add_config(&format!("connect tcp 127.0.0.1:{p}\n"));
    let mut both = talk(p, "jailed");
    both.extend(talk(q, "jailed"));
    let out = jailed_probe(&j, &both);
    let what = format!("{mode:?}, connect tcp 127.0.0.1:{p}");
    let mut want = times(4, "ok pong");
    want.extend(refused.iter().map(|line| line.to_string()));
    expect_lines(&j, &out, &want, &what);
    expect_reports(
        &j,
        &out,
        &times(4, &format!("[Connect tcp 127.0.0.1:{q}]")),
        &what,
    );
    let mut arrived = times(4, "native");
    arrived.extend(times(4, "jailed"));
    assert_eq!(listed.finish(), arrived, "{what}");
    assert_eq!(unlisted.finish(), times(4, "native"), "{what}: arrived");
}

#[test]
fn a_tcp_server_of_the_test_is_reached_only_with_a_connect_line() {
    for mode in modes(false) {
        tcp_by_connect_lines(mode);
    }
}

#[test]
fn a_tcp_server_of_the_test_is_reached_only_with_a_connect_line_as_an_unprivileged_user() {
    for mode in modes(true) {
        tcp_by_connect_lines(mode);
    }
}

#[test]
fn an_ipv6_tcp_server_is_reached_only_with_a_bracketed_connect_line() {
    if TcpListener::bind("[::1]:0").is_err() {
        skip("this machine has no ::1");
        return;
    }
    for mode in modes(false) {
        let (server, p) = StreamServer::tcp("::1");
        let mut j = jail(mode);
        let talk = |who: &str| vec![format!("net_tcp_talk ::1 {p} {who}")];
        let out = native_probe(&j, &talk("native"));
        expect_lines(&j, &out, &["ok pong"], "native");
        // 127.0.0.1 is not ::1.
        j.add_config(&format!("connect tcp 127.0.0.1:{p}\n"));
        let out = jailed_probe(&j, &talk("refused"));
        let what = format!("{mode:?}, no line for [::1]");
        expect_lines(&j, &out, &["connect ENETUNREACH"], &what);
        expect_reports(&j, &out, &[format!("[Connect tcp [::1]:{p}]")], &what);
        j.add_config(&format!("connect tcp [::1]:{p}\n"));
        let out = jailed_probe(&j, &talk("jailed"));
        let what = format!("{mode:?}, connect tcp [::1]:{p}");
        expect_lines(&j, &out, &["ok pong"], &what);
        expect_reports::<&str>(&j, &out, &[], &what);
        assert_eq!(server.finish(), ["native", "jailed"], "{what}");
    }
}

fn udp_by_connect_lines(mode: Mode) {
    let (listed, p) = Datagrams::udp();
    let (unlisted, q) = Datagrams::udp();
    let mut j = jail(mode);
    let send = |port: u16, who: &str, ways: &[&str]| -> Vec<String> {
        ways.iter()
            .map(|how| format!("net_udp_send 127.0.0.1 {port} {how} {who}-{how}"))
            .collect()
    };
    let ways = ["sendto", "sendmsg", "connect"];
    // From an IPv6 socket, to the IPv4-mapped address.
    let mapped =
        |port: u16, who: &str| format!("net_udp_send ::ffff:127.0.0.1 {port} sendto {who}-mapped");
    let named = |who: &str, ways: &[&str]| -> Vec<String> {
        ways.iter().map(|how| format!("{who}-{how}")).collect()
    };
    let mut all = ways.to_vec();
    all.push("sendmmsg");
    let mut cases = send(p, "native", &all);
    cases.push(mapped(p, "native"));
    cases.extend(send(q, "native", &ways));
    cases.push(mapped(q, "native"));
    let out = native_probe(&j, &cases);
    expect_lines(&j, &out, &times(9, "ok"), "native");
    let mut arrived = named("native", &all);
    arrived.push("native-mapped".into());
    assert_eq!(listed.received(5), arrived, "native");
    let mut arrived = named("native", &ways);
    arrived.push("native-mapped".into());
    assert_eq!(unlisted.received(4), arrived, "native");

    // A TCP line for the port is no UDP line.
    j.add_config(&format!("connect tcp 127.0.0.1:{p}\n"));
    let out = jailed_probe(&j, &send(p, "refused", &ways));
    let what = format!("{mode:?}, no connect udp line");
    expect_lines(
        &j,
        &out,
        &[
            "sendto ENETUNREACH",
            "sendmsg ENETUNREACH",
            "connect ENETUNREACH",
        ],
        &what,
    );
    expect_reports(
        &j,
        &out,
        &times(3, &format!("[Connect udp 127.0.0.1:{p}]")),
        &what,
    );
    assert_eq!(listed.received(0), Vec::<String>::new(), "{what}: arrived");

    j.add_config(&format!("connect udp 127.0.0.1:{p}\n"));
    let mut cases = send(p, "jailed", &all);
    cases.push(mapped(p, "jailed"));
    cases.extend(send(q, "jailed", &ways));
    cases.push(mapped(q, "jailed"));
    let out = jailed_probe(&j, &cases);
    let what = format!("{mode:?}, connect udp 127.0.0.1:{p}");
    expect_lines(
        &j,
        &out,
        &[
            "ok",
            "ok",
            "ok",
            "sendmmsg ENOSYS",
            "ok",
            "sendto ENETUNREACH",
            "sendmsg ENETUNREACH",
            "connect ENETUNREACH",
            "sendto ENETUNREACH",
        ],
        &what,
    );
    expect_reports(
        &j,
        &out,
        &times(4, &format!("[Connect udp 127.0.0.1:{q}]")),
        &what,
    );
    assert!(
        out.stderr.lines().any(|line| line == "[Syscall sendmmsg]"),
        "{what}: no report of sendmmsg\n{}",
        out.describe()
    );
    let mut arrived = named("jailed", &ways);
    arrived.push("jailed-mapped".into());
    assert_eq!(listed.received(4), arrived, "{what}");
    assert_eq!(
        unlisted.received(0),
        Vec::<String>::new(),
        "{what}: arrived"
    );
}

#[test]
fn a_udp_datagram_reaches_the_test_only_with_a_connect_line() {
    for mode in modes(false) {
        udp_by_connect_lines(mode);
    }
}

#[test]
fn a_udp_datagram_reaches_the_test_only_with_a_connect_line_as_an_unprivileged_user() {
    for mode in modes(true) {
        udp_by_connect_lines(mode);
    }
}

// ---- 6. names from the synthetic /etc/hosts ----

/// Prints the jail's /etc/hosts, what each name of argv[3:] resolves to,
/// the reply of the server at port argv[1] reached by each name of the
/// comma-separated argv[2], and what a write to /etc/hosts meets.
const PYTHON_NAMES: &str = r#"
import errno, socket, sys
port = int(sys.argv[1])
with open('/etc/hosts') as hosts:
    print(hosts.read().replace('\n', '|'))
for name in sys.argv[3:]:
    try:
        found = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        print(name, ' '.join(sorted({address[4][0] for address in found})))
    except socket.gaierror:
        print(name, 'unresolved')
for name in sys.argv[2].split(','):
    try:
        with socket.create_connection((name, port), timeout=5) as connection:
            connection.sendall(name.encode())
            print(name, 'reply', connection.recv(64).decode())
    except OSError as e:
        print(name, 'connect', errno.errorcode.get(e.errno, e))
for mode in ['a', 'w']:
    try:
        open('/etc/hosts', mode)
        print('write ok')
    except OSError as e:
        print('write', errno.errorcode[e.errno])
"#;

/// The names of `connect` lines resolve in the jail through the
/// `/etc/hosts` it serves, whether the program sees the host's /etc or
/// nothing of it, and reach their server; no other name resolves, not
/// even the host's own name from the host's /etc/hosts.
#[test]
fn a_name_of_a_connect_line_resolves_through_the_jails_etc_hosts_and_no_other_does() {
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let host_resolves = std::net::ToSocketAddrs::to_socket_addrs(&(hostname.as_str(), 80)).is_ok();
    if !host_resolves {
        skip(&format!(
            "the host's name {hostname} does not resolve on the host: the jail's \
             refusal of it proves nothing and is left out"
        ));
    }
    for mode in modes(false) {
        for etc in ["see /etc\n", ""] {
            let (server, p) = StreamServer::tcp("127.0.0.1");
            let moving = MovingName::new("127.0.0.1");
            let mut j = jail(mode);
            j.add_config(PYTHON);
            j.add_config(&format!(
                "{etc}unsetenv LD_PRELOAD\nconnect tcp {}:{p}\nconnect tcp localhost:{p}\n",
                moving.name
            ));
            // Without the host's /etc/host.conf (`multi on`) the C library
            // gives a name only its first line's address: localhost is
            // asked only where /etc is seen.
            let mut names = vec![moving.name, "example.invalid"];
            if !etc.is_empty() {
                names.push("localhost");
            }
            if host_resolves {
                names.push(&hostname);
            }
            let port = p.to_string();
            let reach = format!("{},localhost", moving.name);
            let mut args = vec![
                "/usr/bin/python3",
                "-c",
                PYTHON_NAMES,
                port.as_str(),
                reach.as_str(),
            ];
            args.extend(names.iter().copied());
            let mut run = j.cmd(&args);
            for (key, value) in moving.env() {
                run = run.env(key, &value);
            }
            let out = run.run();
            let mut want = vec![
                format!(
                    "# /etc/hosts of a sandbox jail: the hosts its connect lines name; nothing \
                     else resolves.|127.0.0.1\tlocalhost|::1\tlocalhost ip6-localhost \
                     ip6-loopback|127.0.0.1\t{}|",
                    moving.name
                ),
                format!("{} 127.0.0.1", moving.name),
                "example.invalid unresolved".into(),
            ];
            if !etc.is_empty() {
                want.push("localhost 127.0.0.1 ::1".into());
            }
            if host_resolves {
                want.push(format!("{hostname} unresolved"));
            }
            want.extend([
                format!("{} reply pong", moving.name),
                "localhost reply pong".into(),
                "write EROFS".into(),
                "write EROFS".into(),
            ]);
            let what = format!(
                "{mode:?}, {}",
                if etc.is_empty() {
                    "/etc hidden"
                } else {
                    "see /etc"
                }
            );
            expect_lines(&j, &out, &want, &what);
            assert_eq!(server.finish(), [moving.name, "localhost"], "{what}");
        }
    }
}

// ---- 7. net loopback ----

/// A Python asyncio server on 127.0.0.1, port 0, and its client.
const PYTHON_LOOPBACK: &str = r#"
import asyncio
async def main():
    async def handle(reader, writer):
        writer.write(b'pong ' + await reader.read(64))
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(b'asyncio')
    await writer.drain()
    print((await reader.read(64)).decode())
    writer.close()
    server.close()
    await server.wait_closed()
asyncio.run(main())
"#;

fn jails_own_loopback(mode: Mode) {
    let (host_tcp, h) = StreamServer::tcp("127.0.0.1");
    let (host_udp, u) = Datagrams::udp();
    let mut j = jail(mode);
    j.add_config("net loopback\n");
    j.add_config(PYTHON);
    let pairs = cases(&[
        "net_ip_pair tcp 127.0.0.1",
        "net_ip_pair udp 127.0.0.1",
        "net_ip_pair tcp ::1",
        "net_ip_pair udp ::1",
    ]);
    // The host's listeners, by each name of their address.
    let host = |who: &str| {
        vec![
            format!("net_tcp_talk 127.0.0.1 {h} {who}"),
            format!("net_tcp_talk 0.0.0.0 {h} {who}"),
            format!("net_tcp_talk ::ffff:127.0.0.1 {h} {who}"),
            format!("net_tcp_fastopen 127.0.0.1 {h} {who}"),
            format!("net_udp_send 127.0.0.1 {u} sendto {who}-sendto"),
            format!("net_udp_send 127.0.0.1 {u} sendmsg {who}-sendmsg"),
        ]
    };
    let every_interface = cases(&["net_bind tcp 0.0.0.0 0 listen", "net_listen_unbound inet"]);
    let out = native_probe(
        &j,
        &[pairs.clone(), host("native"), every_interface.clone()].concat(),
    );
    let native_lines: Vec<&str> = out.lines();
    assert!(
        native_lines.len() == 12
            && native_lines[..4].iter().all(|line| *line == "ok ping pong")
            && native_lines[4..8].iter().all(|line| *line == "ok pong")
            && native_lines[8..10] == ["ok", "ok"]
            && native_lines[10..]
                .iter()
                .all(|line| line.starts_with("ok ")),
        "native\n{}",
        out.describe()
    );
    assert_eq!(host_tcp.received(), times(4, "native"));
    assert_eq!(host_udp.received(2), ["native-sendto", "native-sendmsg"]);

    let out = jailed_probe(
        &j,
        &[pairs.clone(), host("jailed"), every_interface.clone()].concat(),
    );
    let what = format!("{mode:?}, net loopback");
    expect_lines(
        &j,
        &out,
        &[
            "ok ping pong",
            "ok ping pong",
            "ok ping pong",
            "ok ping pong",
            "connect ECONNREFUSED",
            "connect ECONNREFUSED",
            "connect ECONNREFUSED",
            "sendto ECONNREFUSED",
            "sendto ECONNREFUSED",
            "sendmsg ECONNREFUSED",
            "bind EACCES",
            "listen EACCES",
        ],
        &what,
    );
    let mut reports = times(4, &format!("[Connect tcp 127.0.0.1:{h}]"));
    reports.extend(times(2, &format!("[Connect udp 127.0.0.1:{u}]")));
    reports.extend(times(2, "[Bind tcp 0.0.0.0:0]"));
    expect_reports(&j, &out, &reports, &what);

    let out = j.cmd(&["/usr/bin/python3", "-c", PYTHON_LOOPBACK]).run();
    expect_lines(&j, &out, &["pong asyncio"], &format!("{what}, python"));
    expect_reports::<&str>(&j, &out, &[], &format!("{what}, python"));

    // Every interface takes a bind line; a server there is the jail's own
    // too, reached through loopback.
    j.add_config("bind tcp 0\nbind udp 0\n");
    let out = jailed_probe(
        &j,
        &[
            every_interface,
            cases(&["net_ip_pair tcp 0.0.0.0", "net_ip_pair udp 0.0.0.0"]),
        ]
        .concat(),
    );
    let lines = out.lines();
    let what = format!("{what}, bind tcp 0");
    assert!(
        out.code() == 0
            && lines.len() == 4
            && lines[..2]
                .iter()
                .all(|line| line.starts_with("ok ") && *line != "ok 0")
            && lines[2..] == ["ok ping pong", "ok ping pong"],
        "{what}\n{}",
        out.describe()
    );
    expect_reports::<&str>(&j, &out, &[], &what);
    assert_eq!(host_tcp.finish(), times(4, "native"), "{what}: arrived");
    assert_eq!(
        host_udp.received(0),
        Vec::<String>::new(),
        "{what}: arrived"
    );
}

#[test]
fn under_net_loopback_jailed_processes_talk_while_the_hosts_listeners_stay_unreachable() {
    for mode in modes(false) {
        jails_own_loopback(mode);
    }
}

#[test]
fn under_net_loopback_jailed_processes_talk_as_an_unprivileged_user() {
    for mode in modes(true) {
        jails_own_loopback(mode);
    }
}

/// Whether a TCP socket listens on port `port` of 127.0.0.1, by the
/// kernel's table.
fn tcp_listening(port: u16) -> bool {
    let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|row| {
        let fields: Vec<&str> = row.split_whitespace().collect();
        fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A")
    })
}

/// Whether a unix socket is bound to abstract name `name`.
fn abstract_bound(name: &str) -> bool {
    let table = fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let suffix = format!(" @{name}");
    table.lines().any(|row| row.ends_with(&suffix))
}

fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never ready: {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A server one jail has on its loopback (and, where the kernel scopes
/// them, on an abstract name) is not another jail's: the second jail is
/// refused as it would be by any host service, while a host process still
/// reaches the first jail's server (inbound is not what a jail guards).
#[test]
fn one_jails_loopback_server_and_abstract_name_are_not_another_jails() {
    for mode in modes(false) {
        let scoped =
            mode.landlock_on() && sandbox::landlock::abi_version().is_ok_and(|abi| abi >= 6);
        let (port, name) = (free_tcp_port(), abstract_name("serve"));
        let mut first = jail(mode);
        first.add_config("net loopback\n");
        let mut serve = vec![format!("net_tcp_serve 127.0.0.1 {port} 20000")];
        if scoped {
            serve.push(format!("net_unix_serve @{name} 20000"));
        }
        let args = probe_args(&first, &serve);
        let server = thread::spawn(move || {
            let out = first.cmd(&args).run();
            (first, out)
        });
        let mut second = jail(mode);
        second.add_config("net loopback\n");
        let what = format!("{mode:?}, a second jail");

        wait_for("the first jail's TCP server", || tcp_listening(port));
        let out = jailed_probe(&second, &[format!("net_tcp_talk 127.0.0.1 {port} second")]);
        expect_lines(&second, &out, &["connect ECONNREFUSED"], &what);
        expect_reports(
            &second,
            &out,
            &[format!("[Connect tcp 127.0.0.1:{port}]")],
            &what,
        );
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client.write_all(b"host").unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "pong", "{what}: the host's client");

        if scoped {
            wait_for("the first jail's abstract server", || abstract_bound(&name));
            let out = jailed_probe(&second, &[format!("net_unix_talk @{name} stream second")]);
            expect_lines(&second, &out, &["connect EPERM"], &what);
            let address = SocketAddr::from_abstract_name(&name).unwrap();
            let mut client = std::os::unix::net::UnixStream::connect_addr(&address).unwrap();
            client.write_all(b"host").unwrap();
            let mut reply = String::new();
            client.read_to_string(&mut reply).unwrap();
            assert_eq!(reply, "pong", "{what}: the host's abstract client");
        }
        let (first, out) = server.join().unwrap();
        let served = if scoped { 2 } else { 1 };
        expect_lines(
            &first,
            &out,
            &times(served, "ok host"),
            &format!("{mode:?}, the first jail"),
        );
    }
}

// ---- 8. bind lines ----

/// Connects to 127.0.0.1:`port` until it succeeds (within 10 s), sends
/// `message` and returns the reply.
fn connect_when_listening(port: u16, message: &'static str) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let start = Instant::now();
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(mut stream) => {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    stream.write_all(message.as_bytes()).unwrap();
                    let mut reply = String::new();
                    let _ = stream.read_to_string(&mut reply);
                    return reply;
                }
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return format!("never connected: {e}"),
            }
        }
    })
}

#[test]
fn a_bind_line_allows_a_listener_on_its_port_and_no_other() {
    for mode in modes(false) {
        let mut j = jail(mode);
        let (p, q) = (free_tcp_port(), free_tcp_port());
        let binds = |port: u16| {
            vec![
                format!("net_bind tcp 127.0.0.1 {port} listen"),
                format!("net_bind udp 127.0.0.1 {port}"),
                "net_listen_unbound inet".to_string(),
                "net_listen_unbound inet6".to_string(),
            ]
        };
        let out = native_probe(&j, &binds(q));
        let lines = out.lines();
        assert!(
            lines.len() == 4
                && lines[..2] == [format!("ok {q}"), format!("ok {q}")]
                && lines[2..].iter().all(|line| line.starts_with("ok ")),
            "native\n{}",
            out.describe()
        );

        j.add_config(&format!("bind tcp {p}\n"));
        let client = connect_when_listening(p, "hello");
        let mut all = vec![format!("net_tcp_serve 127.0.0.1 {p} 10000")];
        all.extend(binds(q));
        let out = jailed_probe(&j, &all);
        let what = format!("{mode:?}, bind tcp {p}");
        expect_lines(
            &j,
            &out,
            &[
                "ok hello",
                "bind EACCES",
                "bind EACCES",
                "listen EACCES",
                "listen EACCES",
            ],
            &what,
        );
        expect_reports(
            &j,
            &out,
            &[
                format!("[Bind tcp 127.0.0.1:{q}]"),
                format!("[Bind udp 127.0.0.1:{q}]"),
                "[Bind tcp 0.0.0.0:0]".into(),
                "[Bind tcp [::]:0]".into(),
            ],
            &what,
        );
        assert_eq!(client.join().unwrap(), "pong", "{what}: the test's client");

        // Port 0 lets the kernel choose, for a bind and for a listen.
        j.add_config("bind tcp 0\nbind udp 0\n");
        let out = jailed_probe(&j, &binds(0));
        let lines = out.lines();
        let what = format!("{mode:?}, bind tcp 0");
        assert!(
            out.code() == 0
                && lines.len() == 4
                && lines
                    .iter()
                    .all(|line| line.starts_with("ok ") && *line != "ok 0"),
            "{what}\n{}",
            out.describe()
        );
        expect_reports::<&str>(&j, &out, &[], &what);
    }
}

/// Three servers of the test's whose ports are not in each other's
/// ranges of `spread` ports above the first and below the second.
fn servers_apart(spread: u16) -> [(StreamServer, u16); 3] {
    loop {
        let servers = [
            StreamServer::tcp("127.0.0.1"),
            StreamServer::tcp("127.0.0.1"),
            StreamServer::tcp("127.0.0.1"),
        ];
        let (low, high, outside) = (servers[0].1, servers[1].1, servers[2].1);
        let in_low = outside >= low && outside - low <= spread;
        let in_high = outside <= high && high - outside <= spread;
        if high > spread && !in_low && !in_high {
            return servers;
        }
    }
}

/// The edges of a port range, and every port (`*`, which Landlock leaves
/// to the tracer), reach what they name with Landlock's mirror and
/// without; a bind range takes its upper edge and not the port above.
#[test]
fn port_ranges_reach_their_edges_and_star_every_port() {
    for mode in modes(false) {
        let [(low, p), (high, q), (outside, r)] = servers_apart(2);
        let mut j = jail(mode);
        let talk = |who: &str| {
            [p, q, r]
                .iter()
                .map(|port| format!("net_tcp_talk 127.0.0.1 {port} {who}"))
                .collect::<Vec<_>>()
        };
        let out = native_probe(&j, &talk("native"));
        expect_lines(&j, &out, &times(3, "ok pong"), "native");

        let b = free_tcp_port();
        j.add_config(&format!(
            "connect tcp 127.0.0.1:{p}-{}\nconnect tcp 127.0.0.1:{}-{q}\nbind tcp {}-{b}\n",
            p.saturating_add(2),
            q - 2,
            b - 1
        ));
        let mut all = talk("ranged");
        all.push(format!("net_bind tcp 127.0.0.1 {b} listen"));
        if b < u16::MAX {
            all.push(format!("net_bind tcp 127.0.0.1 {} listen", b + 1));
        }
        let out = jailed_probe(&j, &all);
        let what = format!("{mode:?}, port ranges");
        let mut want = vec![
            "ok pong".to_string(),
            "ok pong".into(),
            "connect ENETUNREACH".into(),
            format!("ok {b}"),
        ];
        let mut reports = vec![format!("[Connect tcp 127.0.0.1:{r}]")];
        if b < u16::MAX {
            want.push("bind EACCES".into());
            reports.push(format!("[Bind tcp 127.0.0.1:{}]", b + 1));
        }
        expect_lines(&j, &out, &want, &what);
        expect_reports(&j, &out, &reports, &what);

        j.add_config("connect tcp 127.0.0.0/8:*\n");
        let out = jailed_probe(&j, &talk("star"));
        let what = format!("{mode:?}, connect tcp 127.0.0.0/8:*");
        expect_lines(&j, &out, &times(3, "ok pong"), &what);
        expect_reports::<&str>(&j, &out, &[], &what);

        assert_eq!(low.finish(), ["native", "ranged", "star"], "{what}");
        assert_eq!(high.finish(), ["native", "ranged", "star"], "{what}");
        assert_eq!(outside.finish(), ["native", "star"], "{what}");
    }
}

// ---- 9. socket kinds ----

fn socket_kinds(mode: Mode) {
    let j = jail(mode);
    let allowed = cases(&[
        "net_socket unix stream",
        "net_socket unix dgram",
        "net_socket unix seqpacket",
        "net_socket inet stream",
        "net_socket inet dgram",
        "net_socket inet6 stream",
        "net_socket inet6 dgram",
        "net_socket inet stream 6",
        "net_socket inet dgram 17",
        "net_socket inet6 stream 6",
        "net_socket inet6 dgram 17",
        "net_socket unix raw",
    ]);
    let refused = cases(&[
        "net_socket inet raw 1",
        "net_socket inet6 raw 58",
        "net_socket inet dgram 1",
        "net_socket packet raw 0",
        "net_socket netlink raw 0",
        "net_socket inet stream 132",
        "net_socket inet dgram 136",
        "net_socket inet stream 262",
    ]);
    // The control: what the kernel itself says to this user. Netlink is
    // anyone's; raw and packet sockets root's.
    let out = native_probe(&j, &[allowed.clone(), refused[..5].to_vec()].concat());
    let lines = out.lines();
    let as_root = is_root() && !mode.unprivileged;
    let privileged = if as_root { "ok" } else { "socket EPERM" };
    let n = allowed.len();
    assert!(
        lines.len() == n + 5
            && lines[..n].iter().all(|line| *line == "ok")
            && [lines[n], lines[n + 1], lines[n + 3]] == [privileged; 3]
            && lines[n + 4] == "ok",
        "native\n{}",
        out.describe()
    );

    let out = jailed_probe(&j, &[allowed, refused].concat());
    let what = format!("{mode:?}");
    let mut want = times(n, "ok");
    want.extend(times(8, "socket EACCES"));
    expect_lines(&j, &out, &want, &what);
    let syscall_reports = out
        .stderr
        .lines()
        .filter(|line| *line == "[Syscall socket]")
        .count();
    assert_eq!(syscall_reports, 8, "{what}\n{}", out.describe());
}

#[test]
fn only_unix_tcp_and_udp_sockets_are_made_and_raw_ones_are_refused_before_privileges() {
    for mode in modes(false) {
        socket_kinds(mode);
    }
}

#[test]
fn socket_kinds_as_an_unprivileged_user() {
    for mode in modes(true) {
        socket_kinds(mode);
    }
}
