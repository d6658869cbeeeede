//! Escape suite: the network (issue 13). With no network lines (every jail
//! today) no IP destination or port is allowed, unix socket files are
//! reached and made only inside `write` trees, and abstract names are
//! refused.
//!
//! Each test starts the servers it attacks on the host, on loopback only:
//! TCP and UDP on 127.0.0.1 and ::1 (one port for both), a unix stream and
//! a unix datagram socket in the hidden directory, an abstract stream and
//! datagram name. `fixtures/escape/net.c` tries to reach them: natively
//! (the control: it must, or the test could not see an escape) and in the
//! jail, with the shipped config and with `landlock off` (the tracer
//! alone; Landlock's TCP rules would cover some of these); the races also
//! run by the unprivileged test user (when the tests run as root), their
//! control too. Every jailed answer is the probe's own line, and the host
//! servers must not have heard from the jailed run at all.

use crate::support::{
    Jail, Output, RaceMode, RaceSummary, race_held, race_modes, race_summary, run_as_test_user,
    run_native, skip,
};
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

const MODES: &[(&str, &str)] = &[("default config", ""), ("landlock off", "landlock off\n")];

/// What the host's servers have heard, by kind.
#[derive(Clone, Default)]
struct Heard(Arc<AtomicUsize>);

impl Heard {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn note(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Servers on the host, started for one tree. They run until the test
/// process ends (their threads block in accept or recv).
struct Host {
    port: u16,
    /// ::1 could be bound on the same port (the machine has IPv6 loopback).
    ipv6: bool,
    abstract_stream: String,
    abstract_dgram: String,
    tcp: Heard,
    udp: Heard,
    unix: Heard,
    dgram: Heard,
}

impl Host {
    /// TCP and UDP on 127.0.0.1 and ::1; unix stream sockets at
    /// `{hidden}/s`, `{ro}/api.sock` (see-only) and `{root}/s` (outside
    /// every tree); a unix datagram socket at `{hidden}/d`; an abstract
    /// stream and datagram name.
    fn start(j: &Jail) -> Host {
        let tcp = Heard::default();
        let udp = Heard::default();
        let (port, ipv6) = (0..20)
            .find_map(|_| {
                let v4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
                let port = v4.local_addr().unwrap().port();
                let udp4 = UdpSocket::bind(("127.0.0.1", port)).ok()?;
                let v6 = TcpListener::bind(("::1", port));
                let udp6 = UdpSocket::bind(("::1", port));
                let ipv6 = match (&v6, &udp6) {
                    (Ok(_), Ok(_)) => true,
                    (Err(e), _) | (_, Err(e)) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        return None;
                    }
                    _ => false,
                };
                tcp_server(v4, &tcp);
                udp_server(udp4, &udp);
                if ipv6 {
                    tcp_server(v6.unwrap(), &tcp);
                    udp_server(udp6.unwrap(), &udp);
                }
                Some((port, ipv6))
            })
            .expect("a port free on 127.0.0.1 and ::1");
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let abstract_stream = format!("sbx-net-{unique}");
        let abstract_dgram = format!("sbx-netd-{unique}");
        let unix = unix_server(&j.p("hidden/s"));
        for path in [j.p("ro/api.sock"), j.p("s")] {
            stream_server(UnixListener::bind(path).expect("unix listener"), &unix);
        }
        let dgram = unix_dgram_server(&j.p("hidden/d"));
        // Connecting or sending to a socket file takes write permission on
        // it: open to anyone, so that for the unprivileged user too only
        // the jail stands between the program and the host's sockets.
        for path in ["hidden/s", "hidden/d", "ro/api.sock", "s"] {
            std::fs::set_permissions(j.path(path), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let name = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_stream).unwrap();
        stream_server(
            UnixListener::bind_addr(&name).expect("abstract listener"),
            &unix,
        );
        let name = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_dgram).unwrap();
        dgram_server(
            UnixDatagram::bind_addr(&name).expect("abstract dgram"),
            &dgram,
        );
        Host {
            port,
            ipv6,
            abstract_stream,
            abstract_dgram,
            tcp,
            udp,
            unix,
            dgram,
        }
    }

    /// Everything every server has heard.
    fn heard(&self) -> [usize; 4] {
        [&self.tcp, &self.udp, &self.unix, &self.dgram].map(Heard::count)
    }
}

fn tcp_server(listener: TcpListener, heard: &Heard) {
    let heard = heard.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            heard.note();
            let mut stream = stream;
            let _ = stream.write_all(b"host-tcp\n");
        }
    });
}

fn udp_server(socket: UdpSocket, heard: &Heard) {
    let heard = heard.clone();
    thread::spawn(move || {
        let mut buffer = [0u8; 64];
        while let Ok((_, from)) = socket.recv_from(&mut buffer) {
            heard.note();
            let _ = socket.send_to(b"host-udp\n", from);
        }
    });
}

/// A unix stream listener at `path` that greets and counts.
fn unix_server(path: &str) -> Heard {
    let heard = Heard::default();
    stream_server(UnixListener::bind(path).expect("unix listener"), &heard);
    heard
}

fn stream_server(listener: UnixListener, heard: &Heard) {
    let heard = heard.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            heard.note();
            let mut stream = stream;
            let _ = stream.write_all(b"host-unix\n");
            let _ = stream.read(&mut [0u8; 1]);
        }
    });
}

fn unix_dgram_server(path: &str) -> Heard {
    let heard = Heard::default();
    dgram_server(UnixDatagram::bind(path).expect("unix dgram"), &heard);
    heard
}

fn dgram_server(socket: UnixDatagram, heard: &Heard) {
    let heard = heard.clone();
    thread::spawn(move || {
        let mut buffer = [0u8; 64];
        while socket.recv(&mut buffer).is_ok() {
            heard.note();
        }
    });
}

/// `net MODE ARGS...` natively, in `j`'s tree, as the user its jail is
/// run by.
fn native(j: &Jail, args: &[String]) -> Output {
    let mut argv = j.wrapper.clone();
    argv.push(j.escape_bin("net"));
    argv.extend(args.iter().cloned());
    run_native(&argv, Duration::from_secs(20))
}

/// `net MODE ARGS...` in the jail of `j`.
fn jailed(j: &Jail, args: &[String]) -> Output {
    let mut argv = vec![j.escape_bin("net")];
    argv.extend(args.iter().cloned());
    j.cmd(&argv).timeout(Duration::from_secs(30)).run()
}

/// The one line a one-shot mode printed, with status 0; else the failure.
fn answer(out: &Output) -> Result<String, String> {
    match (out.status.code(), out.lines().as_slice()) {
        (Some(0), [line]) => Ok((*line).to_string()),
        _ => Err(format!("not one line and status 0\n{}", out.describe())),
    }
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_string()).collect()
}

/// One case: the arguments, and the line natively (ending with `*`: the
/// start of the line) and in the jail.
struct Case {
    args: Vec<String>,
    native: String,
    jailed: String,
}

/// Runs every case natively (the control) in a tree of its own, then in
/// the jail (its config plus `extra`) in every mode, each mode with fresh
/// servers; fails listing every case that answered otherwise or reached a
/// server.
fn cases_in_every_mode(extra: &str, cases: &dyn Fn(&Jail, &Host) -> Vec<Case>) {
    let control = Jail::new();
    let host = Host::start(&control);
    let mut failures = Vec::new();
    for case in cases(&control, &host) {
        let expected = |line: &str| match case.native.strip_suffix('*') {
            Some(start) => line.starts_with(start),
            None => line == case.native,
        };
        match answer(&native(&control, &case.args)) {
            Ok(line) if expected(&line) => {}
            Ok(line) => failures.push(format!(
                "control void: natively {:?} answered {line:?}, not {:?}",
                case.args, case.native
            )),
            Err(e) => failures.push(format!("control: {:?}: {e}", case.args)),
        }
    }
    for (name, mode) in MODES {
        let mut j = Jail::new();
        j.add_config(&format!("{extra}{mode}"));
        let host = Host::start(&j);
        // Where Landlock (ABI 6) scopes abstract names to the jail, the
        // tracer lets the program use them and the kernel refuses those
        // of the outside itself.
        let scoped = mode.is_empty() && sandbox::landlock::abi_version().is_ok_and(|abi| abi >= 6);
        for case in cases(&j, &host) {
            let want = match scoped.then(|| scoped_answer(&case.args)).flatten() {
                Some(want) => want.to_owned(),
                None => case.jailed.clone(),
            };
            let before = host.heard();
            let out = jailed(&j, &case.args);
            let after = host.heard();
            match answer(&out) {
                Ok(line) if line == want && before == after => {}
                Ok(line) if line == want => failures.push(format!(
                    "ESCAPE [{name}]: {:?} reached a host server (heard tcp, udp, unix, \
                     dgram: {before:?} then {after:?})",
                    case.args
                )),
                Ok(line) => failures.push(format!(
                    "[{name}] {:?} answered {line:?}, not {want:?}\n{}",
                    case.args,
                    out.describe()
                )),
                Err(e) => failures.push(format!("[{name}] {:?}: {e}", case.args)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a case answers where Landlock scopes abstract names to the jail,
/// if not what it answers elsewhere: the kernel refuses an abstract name
/// of the outside with EPERM, and the program's own autobind is fine.
fn scoped_answer(args: &[String]) -> Option<&'static str> {
    match args.first().map(String::as_str) {
        Some("abstract") => Some("connect EPERM"),
        Some("abstract_dgram") => Some("sendto EPERM"),
        Some("autobind_bind") => Some("ok bound"),
        _ => None,
    }
}

/// Whether the machine has IPv6 loopback; the IPv6 cases are skipped,
/// and said so, where it has not.
fn ipv6_loopback() -> bool {
    let has = TcpListener::bind("[::1]:0").is_ok();
    if !has {
        skip("no IPv6 loopback (::1): the IPv6 cases did not run");
    }
    has
}

/// Whether TCP fast open is on for clients (net.ipv4.tcp_fastopen bit 0).
fn client_fast_open() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .is_some_and(|value| value & 1 != 0)
}

#[test]
fn escape_network_tcp_to_a_host_loopback_service_by_any_spelling_is_unreachable() {
    ipv6_loopback();
    let cases = |_: &Jail, host: &Host| {
        let port = host.port.to_string();
        let mut addresses = vec!["127.0.0.1", "0.0.0.0"];
        if host.ipv6 {
            addresses.extend(["::1", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0"]);
        }
        let mut cases: Vec<Case> = addresses
            .iter()
            .map(|address| Case {
                args: words(&["tcp", address, &port]),
                native: "ok host-tcp".into(),
                jailed: "connect ENETUNREACH".into(),
            })
            .collect();
        if client_fast_open() {
            for (mode, step) in [
                ("fastopen", "sendto"),
                ("fastopen_msg", "sendmsg"),
                ("fastopen_connect", "connect"),
            ] {
                cases.push(Case {
                    args: words(&[mode, "127.0.0.1", &port]),
                    native: "ok host-tcp".into(),
                    jailed: format!("{step} ENETUNREACH"),
                });
            }
        }
        cases
    };
    if !client_fast_open() {
        skip("TCP fast open is off for clients (net.ipv4.tcp_fastopen): its cases did not run");
    }
    cases_in_every_mode("", &cases);
}

#[test]
fn escape_network_udp_to_a_host_loopback_service_by_any_spelling_is_unreachable() {
    ipv6_loopback();
    let cases = |_: &Jail, host: &Host| {
        let port = host.port.to_string();
        let mut addresses = vec!["127.0.0.1", "0.0.0.0"];
        if host.ipv6 {
            addresses.extend(["::1", "::", "::ffff:127.0.0.1"]);
        }
        let mut cases = Vec::new();
        for address in addresses {
            for (mode, step) in [
                ("udp", "sendto"),
                ("udpmsg", "sendmsg"),
                ("udpconnect", "connect"),
            ] {
                cases.push(Case {
                    args: words(&[mode, address, &port]),
                    native: "ok host-udp".into(),
                    jailed: format!("{step} ENETUNREACH"),
                });
            }
        }
        cases
    };
    cases_in_every_mode("", &cases);
}

#[test]
fn escape_network_unix_sockets_outside_the_write_trees_and_abstract_names_are_unreachable() {
    let cases = |j: &Jail, host: &Host| {
        // A symlink in the write tree to the hidden socket: followed,
        // judged where it leads.
        let link = j.p("jail/link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(j.p("hidden/s"), &link).unwrap();
        let mut cases: Vec<Case> = [
            j.p("hidden/s"),
            format!("/proc/self/root{}", j.p("hidden/s")),
            format!("/proc/thread-self/root{}", j.p("hidden/s")),
            format!("{}/../hidden/s", j.p("jail")),
            format!("/{}", j.p("hidden/s")),
        ]
        .iter()
        .map(|spelling| Case {
            args: words(&["unix_stream", spelling]),
            native: "ok host-unix".into(),
            jailed: "connect ENOENT".into(),
        })
        .collect();
        cases.extend([
            Case {
                args: words(&["unix_stream", &link]),
                native: "ok host-unix".into(),
                jailed: "connect ENOENT".into(),
            },
            Case {
                args: words(&["unix_dgram", &j.p("hidden/d")]),
                native: "ok".into(),
                jailed: "sendto ENOENT".into(),
            },
            Case {
                args: words(&["unix_dgram_msg", &j.p("hidden/d")]),
                native: "ok".into(),
                jailed: "sendmsg ENOENT".into(),
            },
            Case {
                args: words(&["abstract", &host.abstract_stream]),
                native: "ok host-unix".into(),
                jailed: "connect ECONNREFUSED".into(),
            },
            Case {
                args: words(&["abstract_dgram", &host.abstract_dgram]),
                native: "ok".into(),
                jailed: "sendto ECONNREFUSED".into(),
            },
        ]);
        cases
    };
    // /proc seen, so that its magic links are followed for the thread.
    cases_in_every_mode("see /proc\n", &cases);
}

#[test]
fn escape_network_a_socket_file_under_a_see_only_tree_is_refused() {
    let cases = |j: &Jail, _: &Host| {
        vec![Case {
            args: words(&["unix_stream", &j.p("ro/api.sock")]),
            native: "ok host-unix".into(),
            jailed: "connect EACCES".into(),
        }]
    };
    cases_in_every_mode("", &cases);
}

#[test]
fn escape_network_listen_or_bind_without_an_address_is_refused() {
    ipv6_loopback();
    let cases = |_: &Jail, host: &Host| {
        let mut cases = vec![
            // Linux never binds a unix socket at listen (unix_listen:
            // "No listens on an unbound socket").
            Case {
                args: words(&["autobind_listen"]),
                native: "listen EINVAL".into(),
                jailed: "listen EINVAL".into(),
            },
            Case {
                args: words(&["autobind_bind"]),
                native: "ok bound".into(),
                jailed: "bind EACCES".into(),
            },
        ];
        for address in ["127.0.0.1"].into_iter().chain(host.ipv6.then_some("::1")) {
            cases.push(Case {
                args: words(&["listen", address]),
                // The port is the kernel's pick.
                native: "ok *".into(),
                jailed: "listen EACCES".into(),
            });
        }
        cases
    };
    cases_in_every_mode("", &cases);
}

// ---- races ----

const ATTEMPTS: &str = "20000";
const JAIL_SECONDS: u64 = 4;
/// The same for the unprivileged user's run, a third mode: fewer, so that
/// it adds less time to the suite (a run that was not live is still
/// repeated, longer).
const UNPRIVILEGED_SECONDS: u64 = 2;
/// Natively an attempt takes a few microseconds: the control is bounded by
/// its seconds (and its first escape), not by a count a loaded machine
/// could finish before the flipping thread ever ran.
const NATIVE_ATTEMPTS: &str = "100000000";
const NATIVE_SECONDS: &str = "3";
const MIN_ATTEMPTS: u64 = 1000;

/// A fresh tree, its jail run by the unprivileged test user if
/// `unprivileged`.
fn race_tree(unprivileged: bool) -> Jail {
    let mut j = Jail::new();
    if unprivileged {
        run_as_test_user(&mut j);
    }
    j
}

/// The native control (as the unprivileged test user if `unprivileged`):
/// the trick must win at least once in three runs.
fn control(args: &dyn Fn(&Jail, &Host) -> Vec<String>, unprivileged: bool) -> RaceSummary {
    let mut last = None;
    for _ in 0..3 {
        let t = race_tree(unprivileged);
        let host = Host::start(&t);
        let mut argv = args(&t, &host);
        argv.extend([NATIVE_ATTEMPTS.into(), NATIVE_SECONDS.into(), "1".into()]);
        let out = native(&t, &argv);
        let summary = race_summary(&out);
        if summary.escapes > 0 && out.status.code() == Some(0) {
            return summary;
        }
        last = Some(out);
    }
    panic!(
        "control void: natively{} the race never won in three runs\n{}",
        if unprivileged {
            " as the unprivileged test user"
        } else {
            ""
        },
        last.map(|out| out.describe()).unwrap_or_default()
    );
}

/// The race in the jail (its config plus `config`) in every one of
/// `modes`, with fresh servers each run: the probe's summary and status 0,
/// no escape, the race live, and no host server heard from the jail
/// (`host_check` may look at more).
fn race_in_modes(
    modes: &[&RaceMode],
    config: &str,
    args: &dyn Fn(&Jail, &Host) -> Vec<String>,
    host_check: &dyn Fn(&Jail) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    for m in modes {
        let name = m.name;
        let first = if m.unprivileged {
            UNPRIVILEGED_SECONDS
        } else {
            JAIL_SECONDS
        };
        for run in 1..=3 {
            let mut j = race_tree(m.unprivileged);
            j.add_config(&format!("{config}{}", m.config));
            let host = Host::start(&j);
            let mut argv = args(&j, &host);
            let label = format!("{} [{name}]", argv[0]);
            argv.extend([ATTEMPTS.into(), (first * run).to_string(), "1".into()]);
            let out = jailed(&j, &argv);
            let summary = race_summary(&out);
            let heard = host.heard();
            let status = match out.status.code() {
                Some(0) => Ok(()),
                _ => Err(format!("the probe's status is not 0\n{}", out.describe())),
            };
            let checked = host_check(&j).and_then(|()| {
                if heard == [0; 4] {
                    Ok(())
                } else {
                    Err(format!(
                        "ESCAPE: a host server heard from the jail (tcp, udp, unix, dgram: \
                         {heard:?})\n{}",
                        out.describe()
                    ))
                }
            });
            let held = race_held(&label, summary, &out, MIN_ATTEMPTS);
            match held.and(status.clone()).and(checked.clone()) {
                Ok(()) => break,
                Err(_) if summary.escapes == 0 && run < 3 && status.is_ok() && checked.is_ok() => {
                    eprintln!("{label}: run {run} was not live; again");
                }
                Err(e) => {
                    failures.push(format!("--- {label} ---\n{e}"));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn nothing(_: &Jail) -> Result<(), String> {
    Ok(())
}

/// Both runs of one race: the control, then the jail.
fn race(
    args: &dyn Fn(&Jail, &Host) -> Vec<String>,
    host_check: &dyn Fn(&Jail) -> Result<(), String>,
) {
    race_allowing("", args, host_check);
}

/// `race`, the jail's config with `config` (the lines that allow the
/// harmless variant): the control as each user the jail is run by, then
/// the jail in every one of [`race_modes`].
fn race_allowing(
    config: &str,
    args: &dyn Fn(&Jail, &Host) -> Vec<String>,
    host_check: &dyn Fn(&Jail) -> Result<(), String>,
) {
    let modes = race_modes();
    for unprivileged in [false, true] {
        if modes.iter().any(|m| m.unprivileged == unprivileged) {
            control(args, unprivileged);
        }
    }
    race_in_modes(&modes, config, args, host_check);
}

// listen() judges the socket behind the descriptor when the call stops;
// the kernel looks the number up again when it runs. A thread that dup2()s
// a TCP socket never bound over it meanwhile gets that socket listening on
// an ephemeral port of every interface, where no `bind` line allows any.
#[test]
fn escape_network_race_listen_while_dup2_swaps_in_a_tcp_socket_never_bound() {
    race(&|j, _| words(&["listenswap", &j.p("jail/u")]), &nothing);
}

// An IPv6 UDP socket reads an AF_UNSPEC destination as "the connected
// peer" (a TCP one with MSG_FASTOPEN refuses it); an IPv4 UDP socket
// dup2()ed over the descriptor meanwhile reads the very same bytes as the
// address and port after the family: here the host's UDP server.
fn unspecswap(decoy: &'static str, call: &'static str) -> impl Fn(&Jail, &Host) -> Vec<String> {
    move |_, host| words(&["unspecswap", decoy, call, &host.port.to_string()])
}

#[test]
fn escape_network_race_sendto_unspec_while_dup2_swaps_in_an_ipv4_udp_socket() {
    race(&unspecswap("udp6", "sendto"), &nothing);
}

#[test]
fn escape_network_race_sendmsg_unspec_while_dup2_swaps_in_an_ipv4_udp_socket() {
    race(&unspecswap("udp6", "sendmsg"), &nothing);
}

#[test]
fn escape_network_race_fast_open_unspec_while_dup2_swaps_in_an_ipv4_udp_socket() {
    race(&unspecswap("tcpfo", "sendto"), &nothing);
    race(&unspecswap("tcpfo", "sendmsg"), &nothing);
}

#[test]
fn escape_network_race_connect_address_flipped_to_a_hidden_socket() {
    race(
        &|j, _| words(&["addrswap", "connect", &j.p("jail/v"), &j.p("hidden/s")]),
        &nothing,
    );
}

#[test]
fn escape_network_race_sendto_address_flipped_to_a_hidden_socket() {
    race(
        &|j, _| words(&["addrswap", "sendto", &j.p("jail/v"), &j.p("hidden/d")]),
        &nothing,
    );
}

#[test]
fn escape_network_race_sendmsg_name_flipped_to_a_hidden_socket() {
    race(
        &|j, _| words(&["msgswap", &j.p("jail/v"), &j.p("hidden/d")]),
        &nothing,
    );
}

#[test]
fn escape_network_race_socket_file_swapped_for_a_symlink_to_a_hidden_socket() {
    race(
        &|j, _| words(&["symswap", &j.p("jail"), &j.p("hidden/s")]),
        &nothing,
    );
}

#[test]
fn escape_network_race_directory_swapped_for_a_symlink_under_connect() {
    race(
        &|j, _| words(&["dirswap_connect", &j.p("jail"), &j.p("hidden")]),
        &nothing,
    );
}

/// No socket file the jailed bind made in the hidden directory.
fn no_socket_made_in_hidden(j: &Jail) -> Result<(), String> {
    let made: Vec<String> = std::fs::read_dir(j.path("hidden"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('b'))
        .collect();
    if made.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "host check: the jail made {made:?} in the hidden directory"
        ))
    }
}

#[test]
fn escape_network_race_directory_swapped_for_a_symlink_under_bind() {
    race(
        &|j, _| words(&["dirswap_bind", &j.p("jail"), &j.p("hidden")]),
        &no_socket_made_in_hidden,
    );
}

// A thread shares the working directory and flips it between {jail}/a/b,
// from where "../../s" is the jail's own {jail}/s, and {jail}/a, from
// where it is {root}/s, a host socket outside every tree.
#[test]
fn escape_network_race_working_directory_flipped_under_a_relative_connect() {
    race(&|j, _| words(&["cwdswap", &j.p("jail")]), &nothing);
}

/// The listed server of the IP races, on 127.0.0.1 for the whole test:
/// TCP (accepts and closes) and UDP (answers every datagram) on one port.
fn listed_server() -> u16 {
    (0..20)
        .find_map(|_| {
            let tcp = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
            let port = tcp.local_addr().unwrap().port();
            let udp = UdpSocket::bind(("127.0.0.1", port)).ok()?;
            thread::spawn(move || for _ in tcp.incoming() {});
            thread::spawn(move || {
                let mut buffer = [0u8; 64];
                while let Ok((_, from)) = udp.recv_from(&mut buffer) {
                    let _ = udp.send_to(b"listed\n", from);
                }
            });
            Some(port)
        })
        .expect("a port free for TCP and UDP on 127.0.0.1")
}

// A thread flips the port of the sockaddr_in the program passes between
// 127.0.0.1:P, which a `connect` line allows, and the host's server, which
// no line names. The jail judges its own copy and the kernel acts on that
// copy: the flip lands on bytes nobody reads again. (With Landlock, ABI 4
// mirrors the TCP line, so the host's TCP port is refused twice.)
fn ipswap(call: &'static str, proto: &str) {
    let listed = listed_server();
    race_allowing(
        &format!("connect {proto} 127.0.0.1:{listed}\n"),
        &|_, host| words(&["ipswap", call, &listed.to_string(), &host.port.to_string()]),
        &nothing,
    );
}

#[test]
fn escape_network_race_ip_connect_port_flipped_to_an_unlisted_server() {
    ipswap("connect", "tcp");
}

#[test]
fn escape_network_race_ip_sendto_port_flipped_to_an_unlisted_server() {
    ipswap("sendto", "udp");
}

#[test]
fn escape_network_race_ip_sendmsg_name_flipped_to_an_unlisted_server() {
    ipswap("sendmsg", "udp");
}
