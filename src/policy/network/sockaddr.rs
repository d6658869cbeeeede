//! A socket address as the kernel will read it: the bytes the tracer
//! copied out of the program, to a typed [`SocketAddress`].
//!
//! Owns the kernel's reading of a `struct sockaddr` for each kind of
//! socket and each use (connect, send, bind): which lengths it refuses,
//! which families it takes where (an IPv6 UDP socket sends to an IPv4
//! `sockaddr_in`; an IPv4 one reads `AF_UNSPEC` as `AF_INET`), how a unix
//! path ends, and that an IPv4-mapped IPv6 address is IPv4. The judgement
//! is only as good as this agreement, so each rule names the kernel
//! function it follows (net/ipv4/af_inet.c, udp.c, datagram.c;
//! net/ipv6/af_inet6.c, tcp_ipv6.c, udp.c, datagram.c; net/unix/af_unix.c).
//! A malformed address gets the errno the kernel would give. Pure: no
//! memory is read here.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::socket::{Family, SocketKind, Transport};

/// The most bytes the kernel copies of an address:
/// `sizeof(struct sockaddr_storage)`.
pub const SOCKADDR_MAX: usize = 128;

/// `sizeof(struct sockaddr_in)`.
const SIN_LEN: usize = 16;
/// `SIN6_LEN_RFC2133`: a `sockaddr_in6` without its scope id, which the
/// kernel still takes.
const SIN6_LEN_RFC2133: usize = 24;
/// `sizeof(struct sockaddr_in6)`.
const SIN6_LEN: usize = 28;
/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH_OFFSET: usize = 2;
/// `sizeof(struct sockaddr_un)`.
const SUN_LEN: usize = 110;

const AF_UNSPEC: u16 = libc::AF_UNSPEC as u16;
const AF_UNIX: u16 = libc::AF_UNIX as u16;
const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// What the address is for: the kernel reads it differently for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Use {
    /// `connect`, and `sendto`/`sendmsg` with `MSG_FASTOPEN` on TCP.
    Connect,
    /// The destination of `sendto`, `sendmsg` or `sendmmsg` on a datagram
    /// socket (a stream socket refuses it or ignores it, seqpacket
    /// ignores it).
    Send,
    /// `bind`.
    Bind,
}

/// An address as the kernel will act on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 address and port. Never an IPv4-mapped IPv6
    /// address: that is the IPv4 address it carries, as the kernel sends
    /// to it over IPv4. An IPv4 address may also come from a `sockaddr_in`
    /// on an IPv6 UDP socket, or from `AF_UNSPEC` where the kernel reads
    /// that as IPv4.
    Ip(SocketAddr),
    Unix(UnixAddress),
    /// No address: `AF_UNSPEC` at `connect` dissolves an association,
    /// and at a send on an IPv6 UDP socket (or an empty address on a unix
    /// datagram socket) means the connected peer. It reaches nothing new.
    Unspecified,
}

/// A unix socket address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddress {
    /// A socket file, as the program wrote it (maybe relative); never
    /// empty, no NUL.
    Path(PathBuf),
    /// An abstract name: the bytes after the leading NUL, NULs included.
    Abstract(Vec<u8>),
    /// `bind` with the family alone: the kernel picks an abstract name.
    Autobind,
}

/// An address the kernel would refuse, with the errno it would give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Longer than the kernel takes (`sockaddr_storage`, or a unix
    /// `sockaddr_un`), or negative as the kernel's `int`: `EINVAL`.
    TooLong { len: u32 },
    /// The length says more bytes than the jail could copy from the
    /// program's memory: `EFAULT`.
    Unreadable { len: usize, copied: usize },
    /// Shorter than the family needs: `EINVAL`.
    TooShort { len: usize },
    /// A family the socket does not take here, with the errno the kernel
    /// gives for it (`EAFNOSUPPORT`, or `EINVAL` on unix and IPv6 UDP
    /// sends).
    WrongFamily { family: u16, errno: i32 },
    /// Port 0 as a UDP destination: `EINVAL`.
    ZeroPort,
}

impl AddressError {
    /// The errno the call fails with.
    pub fn errno(&self) -> i32 {
        match self {
            AddressError::TooLong { .. }
            | AddressError::TooShort { .. }
            | AddressError::ZeroPort => libc::EINVAL,
            AddressError::Unreadable { .. } => libc::EFAULT,
            AddressError::WrongFamily { errno, .. } => *errno,
        }
    }
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::TooLong { len } => write!(f, "address of {len} bytes is too long"),
            AddressError::Unreadable { len, copied } => {
                write!(f, "address of {len} bytes, only {copied} readable")
            }
            AddressError::TooShort { len } => write!(f, "address of {len} bytes is too short"),
            AddressError::WrongFamily { family, .. } => {
                write!(f, "address family {family} not taken by this socket")
            }
            AddressError::ZeroPort => f.write_str("port 0 as a destination"),
        }
    }
}

/// As `report` shows it: `192.0.2.7:443`, `[2001:db8::1]:53`,
/// `unix:/run/x.sock`, `unix:@name`, `unix:(autobind)`.
impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Ip(addr) => write!(f, "{addr}"),
            SocketAddress::Unix(UnixAddress::Path(path)) => {
                write!(f, "unix:{}", path.to_string_lossy())
            }
            SocketAddress::Unix(UnixAddress::Abstract(name)) => {
                write!(f, "unix:@{}", String::from_utf8_lossy(name))
            }
            SocketAddress::Unix(UnixAddress::Autobind) => f.write_str("unix:(autobind)"),
            SocketAddress::Unspecified => f.write_str("(unspecified)"),
        }
    }
}

impl SocketAddress {
    /// Reads the address of `len` bytes that the tracer copied into
    /// `copied` (at most [`SOCKADDR_MAX`] bytes are ever needed), for a
    /// call of `use_` on a socket of `kind`.
    ///
    /// `len` is the length as the kernel hands it to the protocol:
    /// `connect`, `bind` and `sendto` pass their `addrlen` argument
    /// (above 128, or negative, is `EINVAL` here as in
    /// `move_addr_to_kernel`); `sendmsg` and `sendmmsg` clamp
    /// `msg_namelen` to 128 first, and a NULL `msg_name` or a zero
    /// `msg_namelen` is no address at all, which the tracer does not
    /// parse (nor `sendto`'s NULL address).
    pub fn parse(
        copied: &[u8],
        len: u32,
        kind: SocketKind,
        use_: Use,
    ) -> Result<SocketAddress, AddressError> {
        let Some(size) = usize::try_from(len)
            .ok()
            .filter(|&size| size <= SOCKADDR_MAX)
        else {
            return Err(AddressError::TooLong { len });
        };
        let Some(bytes) = copied.get(..size) else {
            return Err(AddressError::Unreadable {
                len: size,
                copied: copied.len(),
            });
        };
        match kind.family {
            Family::Inet => inet(bytes, use_),
            Family::Inet6 => inet6(bytes, kind.transport, use_),
            Family::Unix => unix(bytes, kind.transport, use_),
        }
    }
}

/// `sa_family`, in the program's (native) byte order, if there is one.
fn family(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// A `sockaddr_in`'s port and address (network byte order); the caller
/// has checked the length.
fn sockaddr_in(bytes: &[u8]) -> Result<SocketAddrV4, AddressError> {
    let field = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .ok_or(AddressError::TooShort { len: bytes.len() })
    };
    let port = u16::from_be_bytes(array(field(2..4)?)?);
    let ip = Ipv4Addr::from(array::<4>(field(4..8)?)?);
    Ok(SocketAddrV4::new(ip, port))
}

/// A `sockaddr_in6`'s port, address and scope id (0 for the 24-byte RFC
/// 2133 form); an IPv4-mapped address becomes IPv4. The flow label is
/// left out: it says nothing of where the packets go, and the kernel is
/// handed the program's bytes, never these.
fn sockaddr_in6(bytes: &[u8]) -> Result<SocketAddr, AddressError> {
    let field = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .ok_or(AddressError::TooShort { len: bytes.len() })
    };
    let port = u16::from_be_bytes(array(field(2..4)?)?);
    let ip = Ipv6Addr::from(array::<16>(field(8..24)?)?);
    let scope_id = match bytes.get(24..SIN6_LEN) {
        Some(scope) => u32::from_ne_bytes(array(scope)?),
        None => 0,
    };
    Ok(match ip.to_ipv4_mapped() {
        Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
        None => SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id)),
    })
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], AddressError> {
    bytes
        .try_into()
        .map_err(|_| AddressError::TooShort { len: bytes.len() })
}

/// An IPv4 socket.
fn inet(bytes: &[u8], use_: Use) -> Result<SocketAddress, AddressError> {
    let len = bytes.len();
    let short = AddressError::TooShort { len };
    let wrong = |family| AddressError::WrongFamily {
        family,
        errno: libc::EAFNOSUPPORT,
    };
    match use_ {
        Use::Connect => {
            // inet_stream_connect / inet_dgram_connect: AF_UNSPEC
            // disconnects before any other check; then tcp_v4_connect /
            // __ip4_datagram_connect check the length, then the family.
            let family = family(bytes).ok_or(short)?;
            if family == AF_UNSPEC {
                return Ok(SocketAddress::Unspecified);
            }
            if len < SIN_LEN {
                return Err(short);
            }
            if family != AF_INET {
                return Err(wrong(family));
            }
            Ok(SocketAddress::Ip(SocketAddr::V4(sockaddr_in(bytes)?)))
        }
        Use::Send => udp4_destination(bytes),
        Use::Bind => {
            // __inet_bind: AF_UNSPEC is taken as AF_INET when the address
            // is INADDR_ANY ("compatibility games").
            if len < SIN_LEN {
                return Err(short);
            }
            let family = family(bytes).ok_or(short)?;
            let address = sockaddr_in(bytes)?;
            let unspec_any = family == AF_UNSPEC && address.ip().is_unspecified();
            if family != AF_INET && !unspec_any {
                return Err(wrong(family));
            }
            Ok(SocketAddress::Ip(SocketAddr::V4(address)))
        }
    }
}

/// udp_sendmsg's destination: a `sockaddr_in`, with `AF_UNSPEC` read as
/// `AF_INET`, and no port 0.
fn udp4_destination(bytes: &[u8]) -> Result<SocketAddress, AddressError> {
    let short = AddressError::TooShort { len: bytes.len() };
    if bytes.len() < SIN_LEN {
        return Err(short);
    }
    let family = family(bytes).ok_or(short)?;
    if family != AF_INET && family != AF_UNSPEC {
        return Err(AddressError::WrongFamily {
            family,
            errno: libc::EAFNOSUPPORT,
        });
    }
    let address = sockaddr_in(bytes)?;
    if address.port() == 0 {
        return Err(AddressError::ZeroPort);
    }
    Ok(SocketAddress::Ip(SocketAddr::V4(address)))
}

/// An IPv6 socket.
fn inet6(bytes: &[u8], transport: Transport, use_: Use) -> Result<SocketAddress, AddressError> {
    let len = bytes.len();
    let short = AddressError::TooShort { len };
    let wrong = |family, errno| AddressError::WrongFamily { family, errno };
    match use_ {
        Use::Connect => {
            let family = family(bytes).ok_or(short)?;
            if family == AF_UNSPEC {
                return Ok(SocketAddress::Unspecified);
            }
            // __ip6_datagram_connect hands a sockaddr_in to the IPv4
            // code (unless IPV6_V6ONLY, where the kernel refuses it
            // anyway); tcp_v6_connect does not.
            if family == AF_INET && transport == Transport::Datagram {
                if len < SIN_LEN {
                    return Err(short);
                }
                return Ok(SocketAddress::Ip(SocketAddr::V4(sockaddr_in(bytes)?)));
            }
            if len < SIN6_LEN_RFC2133 {
                return Err(short);
            }
            if family != AF_INET6 {
                return Err(wrong(family, libc::EAFNOSUPPORT));
            }
            Ok(SocketAddress::Ip(sockaddr_in6(bytes)?))
        }
        Use::Send => {
            // udpv6_sendmsg: AF_INET goes to udp_sendmsg, AF_UNSPEC means
            // the connected peer, any other family is EINVAL.
            let family = family(bytes).ok_or(short)?;
            let address = match family {
                AF_INET6 if len < SIN6_LEN_RFC2133 => return Err(short),
                AF_INET6 => sockaddr_in6(bytes)?,
                AF_INET => return udp4_destination(bytes),
                AF_UNSPEC => return Ok(SocketAddress::Unspecified),
                _ => return Err(wrong(family, libc::EINVAL)),
            };
            if address.port() == 0 {
                return Err(AddressError::ZeroPort);
            }
            Ok(SocketAddress::Ip(address))
        }
        Use::Bind => {
            // __inet6_bind: the length, then AF_INET6 only.
            if len < SIN6_LEN_RFC2133 {
                return Err(short);
            }
            let family = family(bytes).ok_or(short)?;
            if family != AF_INET6 {
                return Err(wrong(family, libc::EAFNOSUPPORT));
            }
            Ok(SocketAddress::Ip(sockaddr_in6(bytes)?))
        }
    }
}

/// A unix socket.
fn unix(bytes: &[u8], transport: Transport, use_: Use) -> Result<SocketAddress, AddressError> {
    match use_ {
        Use::Connect if transport == Transport::Datagram => {
            // unix_dgram_connect: AF_UNSPEC dissolves the association.
            let family = family(bytes).ok_or(AddressError::TooShort { len: bytes.len() })?;
            if family == AF_UNSPEC {
                return Ok(SocketAddress::Unspecified);
            }
        }
        Use::Connect => {}
        // unix_dgram_sendmsg: a zero length is no address (the peer).
        Use::Send if bytes.is_empty() => return Ok(SocketAddress::Unspecified),
        Use::Send => {}
        Use::Bind => {
            // unix_bind: the family alone asks for an automatic name.
            if bytes.len() == SUN_PATH_OFFSET && family(bytes) == Some(AF_UNIX) {
                return Ok(SocketAddress::Unix(UnixAddress::Autobind));
            }
        }
    }
    unix_name(bytes).map(SocketAddress::Unix)
}

/// unix_validate_addr, then unix_mkname_bsd: a path ends at its first NUL
/// (or at the length), an abstract name is every byte after its leading
/// NUL.
fn unix_name(bytes: &[u8]) -> Result<UnixAddress, AddressError> {
    let len = bytes.len();
    if len <= SUN_PATH_OFFSET {
        return Err(AddressError::TooShort { len });
    }
    if len > SUN_LEN {
        return Err(AddressError::TooLong {
            len: u32::try_from(len).unwrap_or(u32::MAX),
        });
    }
    let family = family(bytes).ok_or(AddressError::TooShort { len })?;
    if family != AF_UNIX {
        return Err(AddressError::WrongFamily {
            family,
            errno: libc::EINVAL,
        });
    }
    let sun_path = &bytes[SUN_PATH_OFFSET..];
    match sun_path.split_first() {
        Some((0, name)) => Ok(UnixAddress::Abstract(name.to_vec())),
        _ => {
            let end = sun_path
                .iter()
                .position(|&byte| byte == 0)
                .unwrap_or(sun_path.len());
            let path = std::ffi::OsStr::from_bytes(&sun_path[..end]);
            Ok(UnixAddress::Path(PathBuf::from(path)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::IpAddr;

    /// A `sockaddr_in` as a program lays it out.
    pub(crate) fn sin(family: u16, ip: &str, port: u16) -> Vec<u8> {
        let mut bytes = family.to_ne_bytes().to_vec();
        bytes.extend(port.to_be_bytes());
        bytes.extend(ip.parse::<Ipv4Addr>().unwrap().octets());
        bytes.extend([0; 8]);
        bytes
    }

    /// A `sockaddr_in6` as a program lays it out.
    pub(crate) fn sin6(ip: &str, port: u16, scope: u32) -> Vec<u8> {
        let mut bytes = AF_INET6.to_ne_bytes().to_vec();
        bytes.extend(port.to_be_bytes());
        bytes.extend(7u32.to_be_bytes());
        bytes.extend(ip.parse::<Ipv6Addr>().unwrap().octets());
        bytes.extend(scope.to_ne_bytes());
        bytes
    }

    /// A `sockaddr_un` of `path` bytes, with its family.
    pub(crate) fn sun(path: &[u8]) -> Vec<u8> {
        let mut bytes = AF_UNIX.to_ne_bytes().to_vec();
        bytes.extend(path);
        bytes
    }

    /// The address read, or the errno of the refusal.
    type Read = Result<SocketAddress, i32>;

    fn parse(bytes: &[u8], kind: SocketKind, use_: Use) -> Read {
        let len = u32::try_from(bytes.len()).unwrap();
        SocketAddress::parse(bytes, len, kind, use_).map_err(|error| error.errno())
    }

    fn ip(text: &str) -> Read {
        Ok(SocketAddress::Ip(text.parse().unwrap()))
    }

    const TCP4: SocketKind = SocketKind::TCP4;
    const TCP6: SocketKind = SocketKind::TCP6;
    const UDP4: SocketKind = SocketKind::UDP4;
    const UDP6: SocketKind = SocketKind::UDP6;

    #[test]
    fn ipv4_sockets_read_sockaddr_in() {
        use Use::*;
        let inet = sin(AF_INET, "192.0.2.7", 443);
        let unspec = sin(AF_UNSPEC, "192.0.2.7", 443);
        let unspec_any = sin(AF_UNSPEC, "0.0.0.0", 8080);
        let six = sin6("::1", 443, 0);
        let table: &[(&[u8], SocketKind, Use, Read)] = &[
            (&inet, TCP4, Connect, ip("192.0.2.7:443")),
            (&inet, UDP4, Connect, ip("192.0.2.7:443")),
            (&inet, UDP4, Send, ip("192.0.2.7:443")),
            (&inet, TCP4, Bind, ip("192.0.2.7:443")),
            // AF_UNSPEC: a disconnect at connect, IPv4 at a UDP send
            // (the kernel reads the rest as a sockaddr_in), and at bind
            // only with INADDR_ANY.
            (&unspec, TCP4, Connect, Ok(SocketAddress::Unspecified)),
            (&unspec[..2], UDP4, Connect, Ok(SocketAddress::Unspecified)),
            (&unspec, UDP4, Send, ip("192.0.2.7:443")),
            (&unspec_any, TCP4, Bind, ip("0.0.0.0:8080")),
            (&unspec, TCP4, Bind, Err(libc::EAFNOSUPPORT)),
            // Lengths and families.
            (&inet[..15], TCP4, Connect, Err(libc::EINVAL)),
            (&inet[..1], TCP4, Connect, Err(libc::EINVAL)),
            (&[], TCP4, Connect, Err(libc::EINVAL)),
            (&inet[..15], UDP4, Send, Err(libc::EINVAL)),
            (&inet[..15], TCP4, Bind, Err(libc::EINVAL)),
            (&six, TCP4, Connect, Err(libc::EAFNOSUPPORT)),
            (&six, UDP4, Send, Err(libc::EAFNOSUPPORT)),
            (&six, TCP4, Bind, Err(libc::EAFNOSUPPORT)),
            (
                &sun(b"/x/y/z/w/v/u/t/s"),
                TCP4,
                Connect,
                Err(libc::EAFNOSUPPORT),
            ),
            // UDP refuses port 0 as a destination.
            (&sin(AF_INET, "192.0.2.7", 0), UDP4, Send, Err(libc::EINVAL)),
            (
                &sin(AF_INET, "192.0.2.7", 0),
                TCP4,
                Connect,
                ip("192.0.2.7:0"),
            ),
        ];
        for (bytes, kind, use_, expected) in table {
            assert_eq!(
                parse(bytes, *kind, *use_),
                *expected,
                "{kind:?} {use_:?} {bytes:?}"
            );
        }
    }

    #[test]
    fn ipv6_sockets_read_sockaddr_in6_and_mapped_addresses_are_ipv4() {
        use Use::*;
        let v6 = sin6("2001:db8::1", 53, 0);
        let scoped = sin6("fe80::1", 80, 2);
        let mapped = sin6("::ffff:192.0.2.7", 443, 0);
        let v4 = sin(AF_INET, "192.0.2.7", 443);
        let unspec = sin(AF_UNSPEC, "192.0.2.7", 443);
        let table: &[(&[u8], SocketKind, Use, Read)] = &[
            (&v6, TCP6, Connect, ip("[2001:db8::1]:53")),
            (&v6[..24], TCP6, Connect, ip("[2001:db8::1]:53")),
            (&v6[..23], TCP6, Connect, Err(libc::EINVAL)),
            (&scoped, UDP6, Send, ip("[fe80::1%2]:80")),
            (&scoped[..24], UDP6, Send, ip("[fe80::1]:80")),
            (&mapped, TCP6, Connect, ip("192.0.2.7:443")),
            (&mapped, UDP6, Connect, ip("192.0.2.7:443")),
            (&mapped, UDP6, Send, ip("192.0.2.7:443")),
            (&mapped, TCP6, Bind, ip("192.0.2.7:443")),
            // An IPv6 UDP socket takes a sockaddr_in; TCP does not.
            (&v4, UDP6, Connect, ip("192.0.2.7:443")),
            (&v4, UDP6, Send, ip("192.0.2.7:443")),
            (&v4, TCP6, Connect, Err(libc::EINVAL)),
            (&sin6("::1", 1, 0)[..16], UDP6, Send, Err(libc::EINVAL)),
            (&v4[..15], UDP6, Send, Err(libc::EINVAL)),
            (&v4[..15], UDP6, Connect, Err(libc::EINVAL)),
            (&v4, TCP6, Bind, Err(libc::EINVAL)),
            // AF_UNSPEC: a disconnect, or the connected peer.
            (&unspec, TCP6, Connect, Ok(SocketAddress::Unspecified)),
            (&unspec, UDP6, Send, Ok(SocketAddress::Unspecified)),
            (&unspec[..2], UDP6, Send, Ok(SocketAddress::Unspecified)),
            (&unspec, TCP6, Bind, Err(libc::EINVAL)),
            (&[], UDP6, Send, Err(libc::EINVAL)),
            (&sun(b"/x"), UDP6, Send, Err(libc::EINVAL)),
            (
                &sun(b"/xxxxxxxxxxxxxxxxxxxxxxxx"),
                TCP6,
                Connect,
                Err(libc::EAFNOSUPPORT),
            ),
            (
                &sun(b"/xxxxxxxxxxxxxxxxxxxxxxxx"),
                TCP6,
                Bind,
                Err(libc::EAFNOSUPPORT),
            ),
            (&sin6("2001:db8::1", 0, 0), UDP6, Send, Err(libc::EINVAL)),
            (&sin6("::ffff:1.2.3.4", 0, 0), UDP6, Send, Err(libc::EINVAL)),
        ];
        for (bytes, kind, use_, expected) in table {
            assert_eq!(
                parse(bytes, *kind, *use_),
                *expected,
                "{kind:?} {use_:?} {bytes:?}"
            );
        }
    }

    #[test]
    fn unix_sockets_read_paths_abstract_names_and_autobind() {
        use Use::*;
        let stream = SocketKind::UNIX_STREAM;
        let dgram = SocketKind::UNIX_DGRAM;
        let path = |text: &str| Ok(SocketAddress::Unix(UnixAddress::Path(text.into())));
        let abstract_ = |name: &[u8]| Ok(SocketAddress::Unix(UnixAddress::Abstract(name.to_vec())));
        let longest = vec![b'a'; SUN_LEN - SUN_PATH_OFFSET];
        let table: &[(Vec<u8>, SocketKind, Use, Read)] = &[
            (sun(b"/run/x.sock"), stream, Connect, path("/run/x.sock")),
            (
                sun(b"/run/x.sock\0junk"),
                stream,
                Connect,
                path("/run/x.sock"),
            ),
            (sun(b"rel.sock\0"), dgram, Send, path("rel.sock")),
            (sun(b"/tmp/s"), dgram, Bind, path("/tmp/s")),
            (sun(&longest), stream, Connect, path(&"a".repeat(108))),
            (sun(b"\0name\0x"), stream, Connect, abstract_(b"name\0x")),
            (sun(b"\0"), dgram, Bind, abstract_(b"")),
            (
                sun(b""),
                dgram,
                Bind,
                Ok(SocketAddress::Unix(UnixAddress::Autobind)),
            ),
            (sun(b""), stream, Connect, Err(libc::EINVAL)),
            (sun(b""), dgram, Send, Err(libc::EINVAL)),
            (Vec::new(), dgram, Send, Ok(SocketAddress::Unspecified)),
            (Vec::new(), stream, Connect, Err(libc::EINVAL)),
            (
                AF_UNSPEC.to_ne_bytes().to_vec(),
                dgram,
                Connect,
                Ok(SocketAddress::Unspecified),
            ),
            (
                AF_UNSPEC.to_ne_bytes().to_vec(),
                stream,
                Connect,
                Err(libc::EINVAL),
            ),
            (
                [&sun(&longest)[..], b"x"].concat(),
                stream,
                Connect,
                Err(libc::EINVAL),
            ),
            (
                sin(AF_INET, "1.2.3.4", 1),
                stream,
                Connect,
                Err(libc::EINVAL),
            ),
            (sin(AF_INET, "1.2.3.4", 1), dgram, Bind, Err(libc::EINVAL)),
        ];
        for (bytes, kind, use_, expected) in table {
            assert_eq!(
                parse(bytes, *kind, *use_),
                *expected,
                "{kind:?} {use_:?} {bytes:?}"
            );
        }
    }

    #[test]
    fn lengths_past_the_copy_or_the_storage_are_refused() {
        let bytes = sin(AF_INET, "192.0.2.7", 443);
        let parse = |len| SocketAddress::parse(&bytes, len, TCP4, Use::Connect);
        assert_eq!(
            parse(17),
            Err(AddressError::Unreadable {
                len: 17,
                copied: 16
            })
        );
        assert_eq!(parse(17).map_err(|error| error.errno()), Err(libc::EFAULT));
        assert_eq!(parse(129), Err(AddressError::TooLong { len: 129 }));
        // A negative socklen_t as the kernel's int.
        assert_eq!(
            parse(u32::MAX).map_err(|error| error.errno()),
            Err(libc::EINVAL)
        );
        // Bytes past the length are not read.
        let mut long = bytes.clone();
        long.extend([0xff; 100]);
        assert_eq!(
            SocketAddress::parse(&long, 16, TCP4, Use::Connect),
            Ok(SocketAddress::Ip("192.0.2.7:443".parse().unwrap()))
        );
    }

    #[test]
    fn addresses_print_as_report_shows_them() {
        let shown = |address: SocketAddress| address.to_string();
        assert_eq!(
            shown(SocketAddress::Ip("192.0.2.7:443".parse().unwrap())),
            "192.0.2.7:443"
        );
        let v6 = SocketAddr::new(IpAddr::V6("2001:db8::1".parse().unwrap()), 53);
        assert_eq!(shown(SocketAddress::Ip(v6)), "[2001:db8::1]:53");
        assert_eq!(
            shown(SocketAddress::Unix(UnixAddress::Path("/run/x.sock".into()))),
            "unix:/run/x.sock"
        );
        assert_eq!(
            shown(SocketAddress::Unix(UnixAddress::Abstract(b"a\0b".to_vec()))),
            "unix:@a\0b"
        );
        assert_eq!(
            shown(SocketAddress::Unix(UnixAddress::Autobind)),
            "unix:(autobind)"
        );
    }
}
