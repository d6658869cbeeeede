//! Landlock: a second wall the kernel enforces on its own.
//!
//! Owns building a Landlock ruleset from the policy's roots and the
//! network policy, in the parent before fork (it allocates and opens
//! files), so that the child only has to call `landlock_restrict_self`
//! before exec. `see` roots become readable and executable, `write` roots
//! everything; TCP bind and connect are allowed on the ports the `bind tcp`
//! and `connect tcp` lines name and refused on every other ([`NetWall`]),
//! and where the kernel can, abstract unix sockets and signals are scoped
//! to the jail. Rights the running kernel does not know are left out (best
//! effort, by ABI version); a config can demand Landlock with
//! `landlock require`.
//!
//! It backs up the ptrace layer rather than replacing it: the tracer still
//! decides every path and every address; Landlock also covers what no
//! syscall of the program opens (a script's interpreter, the ELF loader)
//! and whatever the tracer might get wrong.

use crate::config::network::{NetMode, PortRange, Protocol};
use crate::policy::network::NetworkPolicy;
use crate::sys;
use nix::errno::Errno;
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

// Filesystem rights, by the ABI version that introduced them.
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
const REFER: u64 = 1 << 13; // ABI 2
const TRUNCATE: u64 = 1 << 14; // ABI 3
const IOCTL_DEV: u64 = 1 << 15; // ABI 5
const NET_BIND_TCP: u64 = 1 << 0; // ABI 4
const NET_CONNECT_TCP: u64 = 1 << 1; // ABI 4
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0; // ABI 6
const SCOPE_SIGNAL: u64 = 1 << 1; // ABI 6

/// Rights that make sense on a file (not a directory) root.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

/// Every filesystem right the kernel of ABI `abi` knows.
pub fn handled_fs(abi: u32) -> u64 {
    let mut rights = EXECUTE
        | WRITE_FILE
        | READ_FILE
        | READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        rights |= REFER;
    }
    if abi >= 3 {
        rights |= TRUNCATE;
    }
    if abi >= 5 {
        rights |= IOCTL_DEV;
    }
    rights
}

/// Rights granted beneath a root: `see` roots read and execute, `write`
/// roots every other right the kernel knows; a file root only file rights.
/// `IOCTL_DEV` (ioctl on a device) is a write in the jail's terms: a
/// device's modes belong to whoever may write it, so `see` roots lack it.
pub fn rights_for(abi: u32, writable: bool, is_directory: bool) -> u64 {
    let handled = handled_fs(abi);
    // A `write` root is not visible unless a `see` root covers it too,
    // whose rule then adds the reading rights.
    let wanted = if writable {
        handled & !(READ_FILE | READ_DIR | EXECUTE)
    } else {
        READ_FILE | READ_DIR | EXECUTE
    };
    let wanted = if is_directory {
        wanted
    } else {
        wanted & FILE_RIGHTS
    };
    wanted & handled
}

/// The most ports one TCP access (connect or bind) is mirrored with: one
/// Landlock rule per port, so a line such as `connect tcp host:*` leaves
/// the access unhandled instead of adding 65535 rules.
pub const MAX_MIRRORED_PORTS: usize = 1024;

/// What Landlock does for one TCP access, connect or bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpWall {
    /// Handled: allowed on these ports (ascending, each once) and refused
    /// with `EACCES` on every other; none listed refuses every port.
    Ports(Vec<u16>),
    /// Not handled, the tracer alone decides: the lines allow this many
    /// ports, more than [`MAX_MIRRORED_PORTS`].
    TooWide(usize),
    /// Not handled, the tracer alone decides: under `net loopback` the
    /// jail's processes bind and reach loopback ports no line names, and
    /// Landlock rules know ports, not addresses.
    Loopback,
    /// Not handled: no Landlock, or a kernel without network rules (ABI
    /// below 4).
    Unavailable,
}

impl TcpWall {
    /// Whether the kernel refuses the ports this wall does not list.
    pub fn is_handled(&self) -> bool {
        matches!(self, TcpWall::Ports(_))
    }

    /// A wall for exactly the ports of `ranges` (overlaps counted once),
    /// or [`TcpWall::TooWide`] when they are too many to list.
    fn of_ranges(ranges: impl Iterator<Item = PortRange>) -> TcpWall {
        let mut ranges: Vec<(u32, u32)> = ranges
            .map(|range| (u32::from(range.low()), u32::from(range.high())))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (low, high) in ranges {
            match merged.last_mut() {
                Some(last) if low <= last.1 + 1 => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        let count: usize = merged
            .iter()
            .map(|(low, high)| (high - low + 1) as usize)
            .sum();
        if count > MAX_MIRRORED_PORTS {
            return TcpWall::TooWide(count);
        }
        TcpWall::Ports(
            merged
                .into_iter()
                .flat_map(|(low, high)| low..=high)
                .map(|port| port as u16)
                .collect(),
        )
    }
}

/// The network part of a Landlock ruleset: the TCP ports mirrored from the
/// network policy, and what is scoped to the jail's domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetWall {
    /// `LANDLOCK_ACCESS_NET_CONNECT_TCP` (ABI 4): the ports of the `tcp`
    /// connect rules. Hosts cannot be expressed: coarser than the tracer.
    pub connect: TcpWall,
    /// `LANDLOCK_ACCESS_NET_BIND_TCP` (ABI 4): the ports of the `bind tcp`
    /// lines, port 0 included (Landlock too takes a bind to port 0 for
    /// port 0, the ephemeral bind).
    pub bind: TcpWall,
    /// `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET` (ABI 6): the program reaches
    /// only abstract unix sockets bound inside its domain, so the tracer
    /// may allow abstract names and autobind.
    pub abstract_unix: bool,
    /// `LANDLOCK_SCOPE_SIGNAL` (ABI 6): the program signals only
    /// processes inside its domain. Only senders inside the domain are
    /// limited: the tracer, its watchdog and the session server are
    /// outside and signal in freely; the processes of the jail inside it
    /// (the launch child after it restricts itself, the keeper) send no
    /// signal out; and what the kernel sends on its own (`SIGCHLD`,
    /// ptrace stops, the keeper's death signal, raised in the dying
    /// tracer's context) is not checked against the domain.
    pub signals: bool,
}

impl NetWall {
    /// No Landlock at all: nothing handled, nothing scoped.
    pub const NONE: NetWall = NetWall {
        connect: TcpWall::Unavailable,
        bind: TcpWall::Unavailable,
        abstract_unix: false,
        signals: false,
    };

    /// What a kernel of Landlock ABI `abi` can mirror of `network`.
    pub fn plan(abi: u32, network: &NetworkPolicy) -> NetWall {
        let (connect, bind) = if abi < 4 {
            (TcpWall::Unavailable, TcpWall::Unavailable)
        } else if network.mode == NetMode::Loopback {
            (TcpWall::Loopback, TcpWall::Loopback)
        } else {
            let tcp = |protocol: Protocol| protocol == Protocol::Tcp;
            (
                TcpWall::of_ranges(
                    network
                        .connect
                        .iter()
                        .filter(|rule| tcp(rule.protocol))
                        .map(|rule| rule.ports),
                ),
                TcpWall::of_ranges(
                    network
                        .bind
                        .iter()
                        .filter(|line| tcp(line.protocol))
                        .map(|line| line.ports),
                ),
            )
        };
        NetWall {
            connect,
            bind,
            abstract_unix: abi >= 6,
            signals: abi >= 6,
        }
    }

    /// The ruleset's `handled_access_net`.
    pub fn handled_net(&self) -> u64 {
        let mut handled = 0;
        if self.connect.is_handled() {
            handled |= NET_CONNECT_TCP;
        }
        if self.bind.is_handled() {
            handled |= NET_BIND_TCP;
        }
        handled
    }

    /// The ruleset's `scoped`.
    pub fn scoped(&self) -> u64 {
        let mut scoped = 0;
        if self.abstract_unix {
            scoped |= SCOPE_ABSTRACT_UNIX_SOCKET;
        }
        if self.signals {
            scoped |= SCOPE_SIGNAL;
        }
        scoped
    }

    /// One `LANDLOCK_RULE_NET_PORT` rule per port: `(port, allowed
    /// accesses)`, ascending, a port both connected to and bound getting
    /// both rights in one rule.
    pub fn port_rules(&self) -> Vec<(u16, u64)> {
        let mut rules: std::collections::BTreeMap<u16, u64> = Default::default();
        for (wall, access) in [(&self.connect, NET_CONNECT_TCP), (&self.bind, NET_BIND_TCP)] {
            if let TcpWall::Ports(ports) = wall {
                for port in ports {
                    *rules.entry(*port).or_default() |= access;
                }
            }
        }
        rules.into_iter().collect()
    }
}

/// What the config asks of Landlock (`landlock`).
pub use crate::config::LandlockMode as Mode;

/// Landlock could not be set up although the config requires it, or a
/// rule could not be added.
#[derive(Debug)]
pub enum LandlockError {
    Unavailable(Errno),
    Rule { path: String, errno: Errno },
    PortRule { port: u16, errno: Errno },
}

impl fmt::Display for LandlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LandlockError::Unavailable(errno) => write!(
                f,
                "the config requires Landlock, but the kernel offers none ({}); enable \
                 CONFIG_SECURITY_LANDLOCK and add landlock to the lsm= boot parameter, or use \
                 `landlock auto`",
                errno.desc()
            ),
            LandlockError::Rule { path, errno } => {
                write!(f, "landlock rule for {path}: {}", errno.desc())
            }
            LandlockError::PortRule { port, errno } => {
                write!(f, "landlock rule for TCP port {port}: {}", errno.desc())
            }
        }
    }
}

impl std::error::Error for LandlockError {}

/// A ready ruleset, to be applied by the child before exec.
#[derive(Debug)]
pub struct Ruleset {
    fd: OwnedFd,
    pub abi: u32,
    /// What it mirrors of the network policy and scopes to the domain.
    pub net: NetWall,
}

impl Ruleset {
    /// The descriptor the child passes to `landlock_restrict_self`.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The Landlock ABI version of the running kernel.
pub fn abi_version() -> Result<u32, Errno> {
    sys::landlock_abi_version()
}

/// Builds the ruleset for these roots and the TCP ports of `network`
/// ([`NetWall::plan`]). `Ok(Err(reason))`: Landlock is off or, in `auto`
/// mode, unavailable (the reason is for the report).
pub fn build(
    mode: Mode,
    see: &[&Path],
    write: &[&Path],
    network: &NetworkPolicy,
) -> Result<Result<Ruleset, String>, LandlockError> {
    if mode == Mode::Off {
        return Ok(Err("turned off by the config".into()));
    }
    let abi = match abi_version() {
        Ok(abi) => abi,
        Err(errno) if mode == Mode::Require => return Err(LandlockError::Unavailable(errno)),
        Err(errno) => return Ok(Err(errno.desc().into())),
    };
    let net = NetWall::plan(abi, network);
    // The attribute is cut to the size this ABI knows (sys).
    let fd = sys::landlock_create_ruleset(handled_fs(abi), net.handled_net(), net.scoped(), abi)
        .map_err(LandlockError::Unavailable)?;
    for (port, access) in net.port_rules() {
        sys::landlock_add_net_port_rule(&fd, access, port)
            .map_err(|errno| LandlockError::PortRule { port, errno })?;
    }
    let ruleset = Ruleset { fd, abi, net };
    for (roots, writable) in [(see, false), (write, true)] {
        for root in roots {
            add_root(&ruleset, root, writable)?;
        }
    }
    Ok(Ok(ruleset))
}

fn add_root(ruleset: &Ruleset, root: &Path, writable: bool) -> Result<(), LandlockError> {
    let rule_error = |errno| LandlockError::Rule {
        path: root.display().to_string(),
        errno,
    };
    let Ok(c_path) = CString::new(root.as_os_str().as_bytes()) else {
        return Ok(());
    };
    let parent = match nix::fcntl::open(
        c_path.as_c_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        // A root that does not exist (yet) grants nothing.
        Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES) => return Ok(()),
        Err(errno) => return Err(rule_error(errno)),
    };
    let is_directory = nix::sys::stat::fstat(&parent)
        .map(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(rule_error)?;
    let rights = rights_for(ruleset.abi, writable, is_directory);
    sys::landlock_add_path_rule(&ruleset.fd, rights, &parent).map_err(rule_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::network::{BindLine, IpNet};
    use crate::policy::network::ConnectRule;

    fn connect(protocol: Protocol, net: &str, low: u16, high: u16) -> ConnectRule {
        ConnectRule {
            protocol,
            net: IpNet::host(net.parse().unwrap()),
            ports: PortRange::new(low, high).unwrap(),
            line: 1,
        }
    }

    fn bind(protocol: Protocol, low: u16, high: u16) -> BindLine {
        BindLine {
            protocol,
            ports: PortRange::new(low, high).unwrap(),
            line: 2,
        }
    }

    fn network(connect: Vec<ConnectRule>, bind: Vec<BindLine>) -> NetworkPolicy {
        NetworkPolicy {
            connect,
            bind,
            ..NetworkPolicy::default()
        }
    }

    #[test]
    fn a_closed_policy_refuses_every_tcp_port_from_abi_4() {
        let closed = NetworkPolicy::default();
        for abi in 1..=3 {
            let wall = NetWall::plan(abi, &closed);
            assert_eq!(wall, NetWall::NONE, "abi {abi}");
            assert_eq!((wall.handled_net(), wall.scoped()), (0, 0));
        }
        for abi in [4, 5] {
            let wall = NetWall::plan(abi, &closed);
            assert_eq!(wall.connect, TcpWall::Ports(vec![]));
            assert_eq!(wall.bind, TcpWall::Ports(vec![]));
            assert_eq!(wall.handled_net(), NET_BIND_TCP | NET_CONNECT_TCP);
            assert_eq!(wall.scoped(), 0, "abi {abi} has no scopes");
            assert!(wall.port_rules().is_empty());
        }
        for abi in [6, 7, 9] {
            let wall = NetWall::plan(abi, &closed);
            assert!(wall.abstract_unix && wall.signals, "abi {abi}");
            assert_eq!(wall.scoped(), SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL);
            assert_eq!(wall.handled_net(), NET_BIND_TCP | NET_CONNECT_TCP);
        }
    }

    #[test]
    fn tcp_ports_become_one_rule_each_and_udp_none() {
        let policy = network(
            vec![
                connect(Protocol::Tcp, "192.0.2.7", 443, 443),
                // The same port for another host: one rule (hosts are the
                // tracer's).
                connect(Protocol::Tcp, "2001:db8::7", 443, 443),
                connect(Protocol::Tcp, "10.0.0.1", 8000, 8002),
                connect(Protocol::Tcp, "10.0.0.2", 8001, 8003),
                connect(Protocol::Udp, "10.0.0.3", 53, 53),
            ],
            vec![
                bind(Protocol::Tcp, 0, 0),
                bind(Protocol::Tcp, 8000, 8000),
                bind(Protocol::Udp, 5353, 5353),
            ],
        );
        let wall = NetWall::plan(4, &policy);
        assert_eq!(
            wall.connect,
            TcpWall::Ports(vec![443, 8000, 8001, 8002, 8003])
        );
        // Port 0 is a rule of its own: the ephemeral bind.
        assert_eq!(wall.bind, TcpWall::Ports(vec![0, 8000]));
        assert_eq!(
            wall.port_rules(),
            [
                (0, NET_BIND_TCP),
                (443, NET_CONNECT_TCP),
                (8000, NET_CONNECT_TCP | NET_BIND_TCP),
                (8001, NET_CONNECT_TCP),
                (8002, NET_CONNECT_TCP),
                (8003, NET_CONNECT_TCP),
            ]
        );
    }

    #[test]
    fn too_many_ports_leave_that_access_to_the_tracer() {
        // 1024 ports in all (two overlapping ranges): still listed.
        let listed = network(
            vec![
                connect(Protocol::Tcp, "192.0.2.1", 1000, 1600),
                connect(Protocol::Tcp, "192.0.2.2", 1500, 2023),
            ],
            vec![],
        );
        match NetWall::plan(4, &listed).connect {
            TcpWall::Ports(ports) => assert_eq!(ports.len(), MAX_MIRRORED_PORTS),
            other => panic!("{other:?}"),
        }
        // One more, and `*`: connect unhandled, bind still refused.
        let wide = network(
            vec![
                connect(Protocol::Tcp, "192.0.2.1", 1000, 1600),
                connect(Protocol::Tcp, "192.0.2.2", 1500, 2024),
            ],
            vec![],
        );
        let wall = NetWall::plan(4, &wide);
        assert_eq!(wall.connect, TcpWall::TooWide(1025));
        assert_eq!(wall.handled_net(), NET_BIND_TCP);
        assert!(wall.port_rules().is_empty());
        let every = network(vec![connect(Protocol::Tcp, "192.0.2.1", 1, 65535)], vec![]);
        assert_eq!(NetWall::plan(6, &every).connect, TcpWall::TooWide(65535));
        // Every port bound (0-65535) leaves bind to the tracer; a wide UDP
        // range changes nothing (UDP has no Landlock rule).
        let bound = network(
            vec![connect(Protocol::Udp, "192.0.2.1", 1, 65535)],
            vec![bind(Protocol::Tcp, 0, 65535), bind(Protocol::Udp, 0, 65535)],
        );
        let wall = NetWall::plan(4, &bound);
        assert_eq!(wall.bind, TcpWall::TooWide(65536));
        assert_eq!(wall.connect, TcpWall::Ports(vec![]));
        assert_eq!(wall.handled_net(), NET_CONNECT_TCP);
    }

    #[test]
    fn net_loopback_leaves_tcp_to_the_tracer() {
        let policy = NetworkPolicy {
            mode: NetMode::Loopback,
            ..network(
                vec![connect(Protocol::Tcp, "192.0.2.1", 443, 443)],
                vec![bind(Protocol::Tcp, 8000, 8000)],
            )
        };
        let wall = NetWall::plan(7, &policy);
        assert_eq!(
            (wall.connect, wall.bind),
            (TcpWall::Loopback, TcpWall::Loopback)
        );
        let wall = NetWall::plan(7, &policy);
        assert_eq!(wall.handled_net(), 0);
        assert!(wall.port_rules().is_empty());
        assert!(wall.abstract_unix);
        // Below ABI 4 there is nothing to leave.
        assert_eq!(NetWall::plan(3, &policy).connect, TcpWall::Unavailable);
    }

    #[test]
    fn rights_follow_the_abi_and_the_kind_of_root() {
        assert_eq!(handled_fs(1) & (REFER | TRUNCATE | IOCTL_DEV), 0);
        assert_ne!(handled_fs(3) & TRUNCATE, 0);
        assert_ne!(handled_fs(5) & IOCTL_DEV, 0);
        assert_eq!(
            rights_for(6, true, true),
            handled_fs(6) & !(READ_FILE | READ_DIR | EXECUTE)
        );
        // A see root reads; changing a device's modes is a write.
        assert_eq!(rights_for(6, false, true), READ_FILE | READ_DIR | EXECUTE);
        // A file root gets no directory rights (the kernel would refuse).
        assert_eq!(rights_for(6, false, false), READ_FILE | EXECUTE);
        assert_eq!(rights_for(1, false, false), READ_FILE | EXECUTE);
        assert_eq!(
            rights_for(6, true, false),
            WRITE_FILE | TRUNCATE | IOCTL_DEV
        );
    }
}
