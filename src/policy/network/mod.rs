//! The network policy: what a jailed program's sockets may reach.
//!
//! Owns the decisions of issue 13 as pure functions over plain data:
//! which sockets may be created ([`SocketKind::from_raw`]), how the kernel
//! reads the address a call passes ([`SocketAddress::parse`]), the verdict
//! for a connect, send or bind ([`NetworkPolicy::judge_connect`],
//! [`NetworkPolicy::judge_bind`], [`NetworkPolicy::judge_unix_path`]), the
//! host names of `connect` lines resolved once at start
//! ([`NetworkPolicy::resolve`], through a [`Resolver`]) and the synthetic
//! `/etc/hosts` that serves them ([`NetworkPolicy::etc_hosts`]).
//!
//! It must not touch a process: the tracer copies the address and learns
//! the socket's kind, resolves a unix path for the calling thread, asks the
//! path policy about it, and applies the verdict (see
//! `docs/design.md`, "Network policy"). Its only I/O is
//! the [`SystemResolver`]'s name lookups and socket path canonicalisation,
//! once, when the jail starts or a session resumes.

pub mod abstract_names;
mod hosts;
mod judge;
pub mod loopback;
mod resolve;
mod sockaddr;
mod socket;

#[cfg(test)]
mod fuzz;

pub use judge::NetVerdict;
pub use resolve::{HostProblem, NetworkError, Resolver, SystemResolver};
pub use sockaddr::{AddressError, SOCKADDR_MAX, SocketAddress, UnixAddress, Use};
pub use socket::{Family, SocketKind, SocketRefused, Transport};

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::network::{BindLine, IpNet, NetMode, PortRange, Protocol};

/// The network of one jail, resolved: every address is a number, every
/// unix path canonical. The default allows nothing: no destination, no
/// port, no socket file outside the `write` trees, no abstract name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkPolicy {
    pub mode: NetMode,
    /// Destinations, one per address block and protocol (a name that
    /// resolved to three addresses gives three rules).
    pub connect: Vec<ConnectRule>,
    /// Local ports, from `bind` lines.
    pub bind: Vec<BindLine>,
    /// Canonical socket files named by `connect unix:` lines.
    pub unix: Vec<PathBuf>,
    /// The names of `connect` lines and what they resolved to, in line
    /// order: the synthetic `/etc/hosts`. `localhost` is not among them.
    pub names: Vec<ResolvedName>,
    /// Whether the kernel scopes abstract unix sockets to the jail
    /// (Landlock ABI 6 applied to the program). Not a config setting: the
    /// jail sets it when it applies Landlock; false (the default) refuses
    /// abstract names and autobind.
    pub abstract_unix_scoped: bool,
}

/// One allowed destination: a protocol, an address block and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRule {
    pub protocol: Protocol,
    pub net: IpNet,
    pub ports: PortRange,
    /// The config line it came from.
    pub line: usize,
}

/// A host name of a `connect` line and the addresses it had at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedName {
    /// Lowercase, as the config validated it.
    pub name: String,
    /// Never empty; no IPv4-mapped or unspecified address.
    pub addresses: Vec<IpAddr>,
}

impl NetworkPolicy {
    /// Whether no network line applies: every IP destination and port is
    /// refused, and unix sockets are reached only inside `write` trees
    /// (where the path policy decides). The wiring may keep cheaper paths
    /// for such a jail.
    pub fn is_closed(&self) -> bool {
        self.mode == NetMode::None
            && self.connect.is_empty()
            && self.bind.is_empty()
            && self.unix.is_empty()
    }
}
