//! Which sockets the program may create, and what kind a socket is.
//!
//! Owns the answer to `socket(domain, type, protocol)` and the typed
//! [`SocketKind`] every other network judgement starts from. Pure: the
//! tracer reads the three numbers (from the registers at `socket`, or with
//! `getsockopt(SO_DOMAIN, SO_TYPE, SO_PROTOCOL)` for a socket the program
//! already holds) and asks here.

use crate::config::network::Protocol;

/// A socket's address family, among those the jail lets the program have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Unix,
    Inet,
    Inet6,
}

/// How a socket carries data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Stream,
    Datagram,
    /// Unix only: the kernel ignores a send's address on these.
    SeqPacket,
}

/// A socket the program may have: a unix socket of any type, or a TCP
/// (stream) or UDP (datagram) socket over IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketKind {
    pub family: Family,
    pub transport: Transport,
}

/// Why a socket is not one the program may have, and the errno its
/// `socket` call (or a call on it) fails with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketRefused {
    pub errno: i32,
    /// For logs: `raw socket`, `address family 16`, ...
    pub reason: &'static str,
}

/// The type bits of `socket`'s second argument (`SOCK_TYPE_MASK` in the
/// kernel, which libc does not export); the flags sit above them.
const SOCK_TYPE_MASK: i32 = 0xf;

impl SocketKind {
    pub const TCP4: SocketKind = SocketKind {
        family: Family::Inet,
        transport: Transport::Stream,
    };
    pub const TCP6: SocketKind = SocketKind {
        family: Family::Inet6,
        transport: Transport::Stream,
    };
    pub const UDP4: SocketKind = SocketKind {
        family: Family::Inet,
        transport: Transport::Datagram,
    };
    pub const UDP6: SocketKind = SocketKind {
        family: Family::Inet6,
        transport: Transport::Datagram,
    };
    pub const UNIX_STREAM: SocketKind = SocketKind {
        family: Family::Unix,
        transport: Transport::Stream,
    };
    pub const UNIX_DGRAM: SocketKind = SocketKind {
        family: Family::Unix,
        transport: Transport::Datagram,
    };
    pub const UNIX_SEQPACKET: SocketKind = SocketKind {
        family: Family::Unix,
        transport: Transport::SeqPacket,
    };

    /// The kind of `socket(domain, type, protocol)`, as the 32-bit values
    /// the kernel reads, or why the program may not have it.
    ///
    /// IPv4 and IPv6 sockets are TCP or UDP only, as in an empty network
    /// namespace the program could create them but reach nothing: raw and
    /// packet sockets, ICMP ("ping") sockets, which reach any host, SCTP,
    /// UDP-Lite, MPTCP and every other family (netlink, packet, vsock,
    /// ...) stay refused with `EACCES`, as `socket` is refused today. The
    /// type's `SOCK_NONBLOCK` and `SOCK_CLOEXEC` flags do not matter;
    /// other bits are `EINVAL`, and a unix socket's type or protocol the
    /// kernel would not take gets the kernel's errno.
    pub fn from_raw(domain: i32, kind: i32, protocol: i32) -> Result<SocketKind, SocketRefused> {
        let refused = |errno, reason| Err(SocketRefused { errno, reason });
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        if kind & !(flags | SOCK_TYPE_MASK) != 0 {
            return refused(libc::EINVAL, "unknown socket type flags");
        }
        let base = kind & SOCK_TYPE_MASK;
        match domain {
            libc::AF_UNIX => {
                // unix_create(): protocol 0 or PF_UNIX; SOCK_RAW is taken
                // as SOCK_DGRAM.
                if protocol != 0 && protocol != libc::PF_UNIX {
                    return refused(libc::EPROTONOSUPPORT, "unix socket protocol");
                }
                let transport = match base {
                    libc::SOCK_STREAM => Transport::Stream,
                    libc::SOCK_DGRAM | libc::SOCK_RAW => Transport::Datagram,
                    libc::SOCK_SEQPACKET => Transport::SeqPacket,
                    _ => return refused(libc::ESOCKTNOSUPPORT, "unix socket type"),
                };
                Ok(SocketKind {
                    family: Family::Unix,
                    transport,
                })
            }
            libc::AF_INET | libc::AF_INET6 => {
                let family = if domain == libc::AF_INET {
                    Family::Inet
                } else {
                    Family::Inet6
                };
                let transport = match (base, protocol) {
                    (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Transport::Stream,
                    (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Transport::Datagram,
                    (libc::SOCK_RAW, _) => return refused(libc::EACCES, "raw socket"),
                    (libc::SOCK_DGRAM, libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6) => {
                        return refused(libc::EACCES, "ICMP socket");
                    }
                    _ => return refused(libc::EACCES, "IP protocol other than TCP and UDP"),
                };
                Ok(SocketKind { family, transport })
            }
            _ => refused(
                libc::EACCES,
                "address family other than unix, IPv4 and IPv6",
            ),
        }
    }

    /// TCP or UDP for an IPv4 or IPv6 socket; `None` for a unix one.
    pub fn protocol(&self) -> Option<Protocol> {
        match (self.family, self.transport) {
            (Family::Unix, _) => None,
            (Family::Inet | Family::Inet6, Transport::Stream) => Some(Protocol::Tcp),
            (Family::Inet | Family::Inet6, Transport::Datagram) => Some(Protocol::Udp),
            // from_raw never makes one; no line can allow it.
            (Family::Inet | Family::Inet6, Transport::SeqPacket) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_udp_and_unix_sockets_may_be_created() {
        use libc::*;
        let table: &[(i32, i32, i32, SocketKind)] = &[
            (AF_INET, SOCK_STREAM, 0, SocketKind::TCP4),
            (AF_INET, SOCK_STREAM, IPPROTO_TCP, SocketKind::TCP4),
            (
                AF_INET,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0,
                SocketKind::TCP4,
            ),
            (AF_INET6, SOCK_STREAM, 0, SocketKind::TCP6),
            (AF_INET, SOCK_DGRAM, 0, SocketKind::UDP4),
            (AF_INET6, SOCK_DGRAM, IPPROTO_UDP, SocketKind::UDP6),
            (AF_UNIX, SOCK_STREAM, 0, SocketKind::UNIX_STREAM),
            (
                AF_UNIX,
                SOCK_DGRAM | SOCK_CLOEXEC,
                0,
                SocketKind::UNIX_DGRAM,
            ),
            (AF_UNIX, SOCK_RAW, 0, SocketKind::UNIX_DGRAM),
            (AF_UNIX, SOCK_SEQPACKET, PF_UNIX, SocketKind::UNIX_SEQPACKET),
        ];
        for &(domain, kind, protocol, expected) in table {
            assert_eq!(
                SocketKind::from_raw(domain, kind, protocol),
                Ok(expected),
                "socket({domain}, {kind:#x}, {protocol})"
            );
        }
        assert_eq!(SocketKind::TCP6.protocol(), Some(Protocol::Tcp));
        assert_eq!(SocketKind::UDP4.protocol(), Some(Protocol::Udp));
        assert_eq!(SocketKind::UNIX_DGRAM.protocol(), None);
    }

    #[test]
    fn raw_icmp_other_protocols_and_families_are_refused() {
        use libc::*;
        let table: &[(i32, i32, i32, i32)] = &[
            (AF_INET, SOCK_RAW, IPPROTO_RAW, EACCES),
            (AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, EACCES),
            (AF_INET, SOCK_DGRAM, IPPROTO_ICMP, EACCES),
            (AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6, EACCES),
            (AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE, EACCES),
            (AF_INET, SOCK_STREAM, IPPROTO_SCTP, EACCES),
            (AF_INET, SOCK_STREAM, IPPROTO_MPTCP, EACCES),
            (AF_INET, SOCK_SEQPACKET, 0, EACCES),
            (AF_INET, SOCK_STREAM, IPPROTO_UDP, EACCES),
            (AF_NETLINK, SOCK_RAW, 0, EACCES),
            (AF_PACKET, SOCK_RAW, 0, EACCES),
            (AF_VSOCK, SOCK_STREAM, 0, EACCES),
            (-1, SOCK_STREAM, 0, EACCES),
            (AF_UNIX, SOCK_STREAM, 6, EPROTONOSUPPORT),
            (AF_UNIX, SOCK_RDM, 0, ESOCKTNOSUPPORT),
            (AF_INET, SOCK_STREAM | 0x100, 0, EINVAL),
        ];
        for &(domain, kind, protocol, errno) in table {
            let refused = SocketKind::from_raw(domain, kind, protocol);
            assert_eq!(
                refused.map_err(|refused| refused.errno),
                Err(errno),
                "socket({domain}, {kind:#x}, {protocol})"
            );
        }
    }
}
