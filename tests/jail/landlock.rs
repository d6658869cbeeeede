//! The Landlock wall: on its own (the library's ruleset applied in a forked
//! child, no tracer), and under the jail with `landlock require`.

use crate::support::{Jail, Want};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use sandbox::config::LandlockMode;
use sandbox::landlock;
use sandbox::policy::network::NetworkPolicy;
use std::fs;
use std::path::Path;

fn abi() -> Option<u32> {
    match landlock::abi_version() {
        Ok(abi) => Some(abi),
        Err(errno) => {
            crate::support::skip(&format!("this kernel has no Landlock ({errno})"));
            None
        }
    }
}

/// Runs `check` in a forked child confined by a ruleset of `see` and
/// `write`; the child's exit code is the number of failed expectations.
fn in_confined_child(see: &[&Path], write: &[&Path], check: impl Fn() -> i32) -> i32 {
    confined(see, write, &NetworkPolicy::default(), check)
}

/// [`in_confined_child`] with a ruleset that also mirrors `network`.
fn in_child_with_network(network: &NetworkPolicy, check: impl Fn() -> i32) -> i32 {
    confined(&[], &[], network, check)
}

fn confined(
    see: &[&Path],
    write: &[&Path],
    network: &NetworkPolicy,
    check: impl Fn() -> i32,
) -> i32 {
    let ruleset = landlock::build(LandlockMode::Require, see, write, network)
        .expect("build")
        .expect("landlock available");
    // SAFETY (test): the child only makes syscalls and exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let failures = if nix::sys::prctl::set_no_new_privs().is_err()
                || sandbox::sys::landlock_restrict_self(ruleset.raw_fd()).is_err()
            {
                100
            } else {
                check()
            };
            sandbox::sys::exit_immediately(failures)
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("wait") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        },
    }
}

#[test]
fn the_ruleset_alone_confines_reads_and_writes_to_the_roots() {
    if abi().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for sub in ["see", "write", "outside"] {
        fs::create_dir(root.join(sub)).unwrap();
        fs::write(root.join(sub).join("file"), sub).unwrap();
    }
    let (see, write, outside) = (root.join("see"), root.join("write"), root.join("outside"));
    // Every expectation is checked; the exit code counts the wrong ones.
    let failures = in_confined_child(&[&see], &[&write], || {
        let expectations = [
            fs::read(see.join("file")).is_ok(),
            // `write` alone writes, never reads.
            fs::read(write.join("file")).is_err(),
            fs::read(outside.join("file")).is_err(),
            fs::OpenOptions::new()
                .append(true)
                .open(see.join("file"))
                .is_err(),
            fs::write(write.join("new"), "x").is_ok(),
            fs::write(outside.join("new"), "x").is_err(),
            fs::remove_file(see.join("file")).is_err(),
            fs::create_dir(outside.join("d")).is_err(),
        ];
        expectations.iter().filter(|ok| !**ok).count() as i32
    });
    assert_eq!(failures, 0, "expectations failed in the confined child");
    // Natively (the control) the same writes work.
    fs::write(outside.join("new"), "x").unwrap();
}

#[test]
fn the_ruleset_refuses_tcp_connect_where_the_kernel_can() {
    let Some(abi) = abi() else { return };
    if abi < 4 {
        crate::support::skip(&format!("Landlock ABI {abi} has no network rights"));
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Control: connecting works unconfined.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let failures = in_confined_child(&[], &[], || {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Err(error) if error.raw_os_error() == Some(libc::EACCES) => 0,
            _ => 1,
        }
    });
    assert_eq!(failures, 0, "a confined child could connect");
}

#[test]
fn the_ruleset_mirrors_the_tcp_ports_of_connect_and_bind_lines() {
    use sandbox::config::network::{BindLine, IpNet, PortRange, Protocol};
    use sandbox::policy::network::ConnectRule;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    let Some(abi) = abi() else { return };
    if abi < 4 {
        crate::support::skip(&format!("Landlock ABI {abi} has no network rights"));
        return;
    }
    let listed = TcpListener::bind("127.0.0.1:0").unwrap();
    let unlisted = TcpListener::bind("127.0.0.1:0").unwrap();
    let (listed, unlisted) = (
        listed.local_addr().unwrap().port(),
        unlisted.local_addr().unwrap().port(),
    );
    // Control: both reachable unconfined.
    assert!(TcpStream::connect(("127.0.0.1", listed)).is_ok());
    assert!(TcpStream::connect(("127.0.0.1", unlisted)).is_ok());
    let network = NetworkPolicy {
        // Another host's line: Landlock knows ports only.
        connect: vec![ConnectRule {
            protocol: Protocol::Tcp,
            net: IpNet::host("192.0.2.1".parse().unwrap()),
            ports: PortRange::single(listed),
            line: 1,
        }],
        bind: vec![BindLine {
            protocol: Protocol::Tcp,
            ports: PortRange::single(0),
            line: 2,
        }],
        ..NetworkPolicy::default()
    };
    let wall = landlock::NetWall::plan(abi, &network);
    assert_eq!(wall.connect, landlock::TcpWall::Ports(vec![listed]));
    let failures = in_child_with_network(&network, || {
        let errno = |result: std::io::Result<()>| result.err().and_then(|e| e.raw_os_error());
        let expectations = [
            TcpStream::connect(("127.0.0.1", listed)).is_ok(),
            errno(TcpStream::connect(("127.0.0.1", unlisted)).map(drop)) == Some(libc::EACCES),
            // Port 0: an ephemeral port, as `bind tcp 0` allows.
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).is_ok(),
            // A port no line names (free: `unlisted` once it is closed
            // would race; the listed one is in use, which must not be
            // what refuses it: EACCES comes before EADDRINUSE).
            errno(TcpListener::bind((Ipv4Addr::LOCALHOST, listed)).map(drop)) == Some(libc::EACCES),
        ];
        expectations.iter().filter(|ok| !**ok).count() as i32
    });
    assert_eq!(failures, 0, "the mirrored ports did not hold");
}

#[test]
fn the_ruleset_scopes_abstract_unix_sockets_where_the_kernel_can() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
    let Some(abi) = abi() else { return };
    if abi < 6 {
        crate::support::skip(&format!("Landlock ABI {abi} has no abstract unix scoping"));
        return;
    }
    let name = format!("sandbox-test-{}", std::process::id());
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _host = UnixListener::bind_addr(&address).unwrap();
    // Control: the host's abstract name is reachable unconfined.
    assert!(UnixStream::connect_addr(&address).is_ok());
    let wall = landlock::NetWall::plan(abi, &NetworkPolicy::default());
    assert!(wall.abstract_unix);
    let failures = in_child_with_network(&NetworkPolicy::default(), || {
        let outside = UnixStream::connect_addr(&address);
        // One of its own domain's is reachable.
        let own = SocketAddr::from_abstract_name(format!("{name}-own").as_bytes()).unwrap();
        let inside = UnixListener::bind_addr(&own)
            .and_then(|_listener| UnixStream::connect_addr(&own).map(drop));
        let expectations = [
            outside.err().and_then(|e| e.raw_os_error()) == Some(libc::EPERM),
            inside.is_ok(),
        ];
        expectations.iter().filter(|ok| !**ok).count() as i32
    });
    assert_eq!(
        failures, 0,
        "a confined child reached an abstract socket outside its domain"
    );
}

#[test]
fn the_ruleset_scopes_signals_where_the_kernel_can() {
    let Some(abi) = abi() else { return };
    if abi < 6 {
        crate::support::skip(&format!("Landlock ABI {abi} has no signal scoping"));
        return;
    }
    let outside = nix::unistd::getpid();
    let failures = in_confined_child(&[], &[], || match nix::sys::signal::kill(outside, None) {
        Err(nix::errno::Errno::EPERM) => 0,
        _ => 1,
    });
    assert_eq!(
        failures, 0,
        "a confined child could signal outside its domain"
    );
}

#[test]
fn landlock_require_runs_on_this_kernel_and_denials_hold() {
    if abi().is_none() {
        return;
    }
    let mut j = Jail::new();
    j.add_config("landlock require\n");
    j.check(&[
        ("open {jail}/file rdonly", Want::Ok),
        ("open {jail}/new wronly creat", Want::Ok),
        ("open {ro}/file rdonly", Want::Ok),
        ("open {ro}/file wronly", Want::Denied),
        ("open {hidden}/file rdonly", Want::Hidden),
        ("mkdir {jail}/made", Want::Ok),
        ("unlink {jail}/new", Want::Ok),
    ]);
}

#[test]
fn landlock_off_is_accepted_and_the_jail_still_enforces() {
    let mut j = Jail::new();
    j.add_config("landlock off\n");
    j.check(&[
        ("open {jail}/file rdonly", Want::Ok),
        ("open {hidden}/file rdonly", Want::Hidden),
    ]);
}

/// A field of `/proc/<pid>/status`, e.g. "PPid" or "TracerPid".
fn status_field(pid: i32, field: &str) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{field}:")))?;
    line[field.len() + 1..].trim().parse().ok()
}

/// The untraced children of `jail`: its descriptor keeper (the program,
/// also its child, is traced).
fn keepers_of(jail: i32) -> Vec<i32> {
    let children: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| status_field(*pid, "PPid") == Some(jail))
        .collect();
    // The program too is an untraced child of the jail for a moment (from
    // its fork to the tracer's seize): the keeper is the untraced child
    // once the program is traced.
    let traced = children
        .iter()
        .any(|pid| status_field(*pid, "TracerPid") == Some(jail));
    if !traced {
        return Vec::new();
    }
    children
        .into_iter()
        .filter(|pid| status_field(*pid, "TracerPid") == Some(0))
        .collect()
}

/// Starts the sleeper fixture in the jail; returns once it has said it
/// sleeps.
fn start_sleeper(j: &Jail) -> std::process::Child {
    use std::io::BufRead;
    crate::support::write_file(&j.config_path(), j.config_text());
    let mut jail = std::process::Command::new(crate::support::SANDBOX)
        .arg(j.config_path())
        .arg("test")
        .arg(j.bin("sleeper"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(jail.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "sleeping\n");
    jail
}

/// [`start_sleeper`], and the jail's keeper.
fn jail_with_keeper(j: &Jail) -> (std::process::Child, i32) {
    let jail = start_sleeper(j);
    let keepers = keepers_of(jail.id() as i32);
    assert_eq!(keepers.len(), 1, "one keeper under Landlock: {keepers:?}");
    (jail, keepers[0])
}

#[test]
fn the_descriptor_keeper_dies_with_the_jail_however_it_ends() {
    if abi().is_none() {
        return;
    }
    let j = Jail::new();
    // The tracer killed with SIGKILL: the keeper follows (death signal).
    let (mut jail, keeper) = jail_with_keeper(&j);
    jail.kill().unwrap();
    jail.wait().unwrap();
    let left = crate::support::wait_gone(&[keeper], std::time::Duration::from_secs(3));
    assert!(left.is_empty(), "the keeper outlived a killed tracer");

    // The program ending (here killed from outside): the jail reaps the
    // keeper before it exits.
    let (mut jail, keeper) = jail_with_keeper(&j);
    let program: Vec<i32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| status_field(*pid, "TracerPid") == Some(jail.id() as i32))
        .collect();
    assert_eq!(program.len(), 1, "{program:?}");
    // SAFETY (test): SIGKILL to the jailed sleeper this test started.
    unsafe { libc::kill(program[0], libc::SIGKILL) };
    let status = jail.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGKILL));
    assert!(
        crate::support::is_gone(keeper),
        "the keeper outlived the jail"
    );
}

#[test]
fn without_landlock_there_is_no_keeper() {
    let mut j = Jail::new();
    j.add_config("landlock off\n");
    j.check(&[("open {jail}/file rdonly", Want::Ok)]);
    let mut jail = start_sleeper(&j);
    let keepers = keepers_of(jail.id() as i32);
    jail.kill().unwrap();
    jail.wait().unwrap();
    assert!(keepers.is_empty(), "{keepers:?}");
}

/// What `probe` answers for each way of reaching process `pid`.
const REACH_KEEPER: &str = "open /proc/$pid/status rdonly + open /proc/$pid/fd/0 rdonly \
     + open /proc/$pid/fd/1 rdonly + open /proc/$pid/fd/2 rdonly \
     + kill $pid 0 + kill -$pid 0 + pidfd_kill $pid 0 + pvm_read $pid";

#[test]
fn the_program_cannot_reach_its_keeper() {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    if abi().is_none() {
        return;
    }
    let mut j = Jail::new();
    j.add_config("see /usr\nsee /bin\nsee /lib\nsee /lib64\nsee /etc/ld.so.cache\n");
    let script = format!("read pid; exec {} {REACH_KEEPER}", j.bin("probe"));

    // Control: natively, the same probe reaches a sibling of its own user.
    let mut sibling = Command::new(j.bin("sleeper"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut native = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(native.stdin.take().unwrap(), "{}", sibling.id()).unwrap();
    let native = native.wait_with_output().unwrap();
    let _ = sibling.kill();
    let _ = sibling.wait();
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    let lines: Vec<&str> = native.lines().collect();
    assert!(
        lines.len() == 8 && lines[..3].iter().all(|line| line.starts_with("ok")),
        "control void: natively /proc/<sibling> was not reachable:\n{native}"
    );
    assert_eq!(lines[4], "ok", "control void: kill(sibling, 0)\n{native}");

    // Jailed: the keeper is a sibling of the program too.
    crate::support::write_file(&j.config_path(), j.config_text());
    let mut jail = Command::new(crate::support::SANDBOX)
        .arg(j.config_path())
        .arg("test")
        .args(["/bin/sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let keeper = loop {
        if let Some(keeper) = keepers_of(jail.id() as i32).first() {
            break *keeper;
        }
        assert!(std::time::Instant::now() < deadline, "no keeper appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    writeln!(jail.stdin.take().unwrap(), "{keeper}").unwrap();
    // Whatever the probe does, the test ends: the jail is killed after 30 s
    // (through a pidfd, which can never reach a process that reused its pid).
    let pidfd = sandbox::sys::pidfd_open(nix::unistd::Pid::from_raw(jail.id() as i32)).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = sandbox::sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
    });
    let mut jailed = String::new();
    jail.stdout
        .take()
        .unwrap()
        .read_to_string(&mut jailed)
        .unwrap();
    let status = jail.wait().unwrap();
    let lines: Vec<&str> = jailed.lines().collect();
    assert_eq!(
        lines,
        [
            "ENOENT",
            "ENOENT",
            "ENOENT",
            "ENOENT",
            "ESRCH",
            "ESRCH",
            "pidfd_open ESRCH",
            "ESRCH"
        ],
        "ESCAPE: the program reached its keeper ({status:?}):\n{jailed}"
    );
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_keeper_cannot_dump_core_ignores_signals_and_its_death_stops_the_jail() {
    if abi().is_none() {
        return;
    }
    let j = Jail::new();
    let (mut jail, keeper) = jail_with_keeper(&j);
    let limits = fs::read_to_string(format!("/proc/{keeper}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
    let status = fs::read_to_string(format!("/proc/{keeper}/status")).unwrap();
    let blocked = status
        .lines()
        .find_map(|line| line.strip_prefix("SigBlk:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    let term = 1u64 << (libc::SIGTERM - 1);
    let segv = 1u64 << (libc::SIGSEGV - 1);
    assert_eq!(blocked & (term | segv), term | segv, "SigBlk {blocked:#x}");
    // SIGKILL cannot be blocked: the jail must notice and stop, not go on
    // without the keeper.
    // SAFETY (test): SIGKILL to the keeper of the jail this test started.
    unsafe { libc::kill(keeper, libc::SIGKILL) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let ended = loop {
        if let Some(status) = jail.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = jail.kill();
            panic!("the jail went on without its keeper");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(ended.code(), Some(125), "{ended:?}");
}
