//! Sockets: which may be created, and what they reach where they reach it
//! (`connect`, `bind`, `listen`, a send with an address), judged by the
//! network policy ([`crate::policy::network`]) on the jail's own copy of
//! the address, which the kernel then reads from scratch memory.
//!
//! A unix socket path is resolved for the thread like any path and judged
//! by the path policy too; the kernel gets a name nothing can swap: the
//! socket file held open by the jail for a connect or send inside a
//! `write` tree, its parent directory held for a bind whose walk met a
//! directory the program can change, the canonical path otherwise.

use crate::policy::network::{
    Family, NetVerdict, SOCKADDR_MAX, SocketAddress, SocketKind, Transport, UnixAddress, Use,
};
use crate::policy::{Target, Verdict};
use crate::sys;
use crate::syscall::SocketCall;
use crate::tracer::answer::{Answer, Arg, Pointer, Rewrite};
use crate::tracer::checks::paths::open_verified;
use crate::tracer::checks::signed;
use crate::tracer::resolve::Start;
use crate::tracer::scratch::Part;
use crate::tracer::stopped::Stopped;
use log::debug;
use nix::errno::Errno;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `sizeof(struct msghdr)` on 64-bit Linux, and where its address lies.
const MSGHDR_LEN: usize = 56;
const MSG_NAME: usize = 0;
const MSG_NAMELEN: usize = 8;
/// `sizeof(sun_path)`: a unix socket path and its NUL must fit.
const SUN_PATH_MAX: usize = 108;

/// The address the kernel is to act on, once judged.
enum Kernel {
    /// The program's own bytes.
    Program,
    /// The program's own bytes while nothing but the thread can change
    /// them or its working directory (a relative unix path keeps its
    /// meaning, and `getsockname` shows it as natively); else these.
    ProgramOr(Vec<u8>),
    /// These: a unix path the jail holds, or a canonical one the
    /// program's own path reaches through a writable tree.
    Jails(Vec<u8>),
}

impl Kernel {
    /// The bytes the kernel gets when it must read the jail's copy:
    /// `program`'s own bytes (as copied and judged) or the replacement.
    fn into_copy(self, program: Vec<u8>) -> Vec<u8> {
        match self {
            Kernel::Program => program,
            Kernel::ProgramOr(copy) | Kernel::Jails(copy) => copy,
        }
    }
}

/// Decides socket call `call` of the stopped thread.
pub(in crate::tracer) fn judge_socket(
    thread: &mut dyn Stopped,
    name: &str,
    call: SocketCall,
) -> Answer {
    let answer = match call {
        SocketCall::Create => create(thread),
        SocketCall::Connect => address_call(thread, name, 1, 2, |_| Use::Connect),
        SocketCall::Bind => address_call(thread, name, 1, 2, |_| Use::Bind),
        SocketCall::SendTo => {
            let flags = thread.argument(3);
            address_call(thread, name, 4, 5, |kind| send_use(kind, flags))
        }
        SocketCall::Listen => listen(thread, name),
        SocketCall::SendMsg => send_msg(thread, name),
    };
    if let Answer::Refuse(errno) = &answer {
        debug!("{}: {name}: {errno}", thread.tid());
    }
    answer
}

/// `socket(domain, type, protocol)` of an IP family: TCP or UDP only.
fn create(thread: &mut dyn Stopped) -> Answer {
    let [domain, kind, protocol] = [0, 1, 2].map(|index| signed(thread.argument(index)));
    match SocketKind::from_raw(domain, kind, protocol) {
        Ok(_) => Answer::Allow,
        Err(refused) => {
            debug!("{}: socket: {}", thread.tid(), refused.reason);
            thread.report_syscall("socket", 0);
            Answer::Refuse(Errno::from_raw(refused.errno))
        }
    }
}

/// What a send's address means on a socket of `kind` with `flags`: TCP
/// fast open connects; a datagram goes to it.
fn send_use(kind: SocketKind, flags: u64) -> Use {
    if kind.transport == Transport::Stream && flags & libc::MSG_FASTOPEN as u64 != 0 {
        Use::Connect
    } else {
        Use::Send
    }
}

/// The kind of socket behind the thread's descriptor `fd`.
fn kind_of(thread: &dyn Stopped, fd: i32) -> Result<(std::os::fd::OwnedFd, SocketKind), Errno> {
    let held = thread.take_descriptor(thread.tid(), fd)?;
    let (domain, kind, protocol) = sys::socket_kind(&held)?;
    let kind = SocketKind::from_raw(domain, kind, protocol)
        .map_err(|refused| Errno::from_raw(refused.errno))?;
    Ok((held, kind))
}

/// Copies the `len` bytes of the address at `address` once (the kernel
/// refuses more than a `sockaddr_storage` for these calls, and so does
/// the parser).
fn copy_address(thread: &dyn Stopped, address: u64, len: u32) -> Result<Vec<u8>, Errno> {
    let size = usize::try_from(len)
        .ok()
        .filter(|&size| size <= SOCKADDR_MAX)
        .ok_or(Errno::EINVAL)?;
    let mut bytes = vec![0u8; size];
    thread.read(address, &mut bytes)?;
    Ok(bytes)
}

/// `connect`, `bind`, `sendto`: the address at argument `address_arg`, of
/// the length at `len_arg`, on the socket of argument 0.
fn address_call(
    thread: &mut dyn Stopped,
    name: &str,
    address_arg: u8,
    len_arg: u8,
    use_of: impl Fn(SocketKind) -> Use,
) -> Answer {
    let fd = signed(thread.argument(0));
    let address = thread.argument(address_arg);
    // The kernel reads the length as an int; a negative one is EINVAL.
    let len = thread.argument(len_arg) as u32;
    let kind = match kind_of(thread, fd) {
        Ok((_, kind)) => kind,
        Err(errno) => return Answer::Refuse(errno),
    };
    let bytes = match copy_address(thread, address, len) {
        Ok(bytes) => bytes,
        Err(errno) => return Answer::Refuse(errno),
    };
    let use_ = use_of(kind);
    let mut rewrite = Rewrite::default();
    match judge_address(thread, name, kind, use_, &bytes, &mut rewrite) {
        Err(errno) => Answer::Refuse(errno),
        Ok((Kernel::Program | Kernel::ProgramOr(_), _))
            if thread.untouchable(address, u64::from(len)) =>
        {
            Answer::Allow
        }
        Ok((kernel, by_kind)) => {
            let kernel = kernel.into_copy(bytes);
            if by_kind && !thread.alone_with_descriptors() {
                rewrite.same_socket = Some((fd, kind));
            }
            rewrite.set(len_arg, Arg::Value(kernel.len() as u64));
            rewrite.set(address_arg, Arg::Scratch(Part::Struct, kernel));
            Answer::Rewrite(rewrite)
        }
    }
}

/// Judges an address of `use_` on a socket of `kind`, and says what the
/// kernel is to be given (a unix path the jail holds is kept open by
/// `rewrite`), and whether the verdict holds for this kind of socket only
/// (an IP destination: the lines name a protocol).
fn judge_address(
    thread: &mut dyn Stopped,
    name: &str,
    kind: SocketKind,
    use_: Use,
    bytes: &[u8],
    rewrite: &mut Rewrite,
) -> Result<(Kernel, bool), Errno> {
    let parsed = SocketAddress::parse(bytes, bytes.len() as u32, kind, use_)
        .map_err(|error| Errno::from_raw(error.errno()))?;
    let by_kind = matches!(parsed, SocketAddress::Ip(_));
    let verdict = match use_ {
        Use::Bind => thread.network().judge_bind(kind, &parsed),
        Use::Connect | Use::Send => thread.network().judge_connect(kind, &parsed),
    };
    let kernel = match verdict {
        NetVerdict::Allow if parsed == SocketAddress::Unspecified => {
            debug!("{}: {name} {parsed}: allow", thread.tid());
            Ok(Kernel::ProgramOr(unspecified(bytes)))
        }
        NetVerdict::Allow => {
            if let SocketAddress::Unix(UnixAddress::Abstract(abstract_name)) = &parsed
                && use_ != Use::Bind
                && !thread.abstract_reaches_only_jail(abstract_name)
            {
                // Another run's (or nobody's): as if nobody listened.
                debug!(
                    "{}: {name} {parsed}: not this run's: ECONNREFUSED",
                    thread.tid()
                );
                return Err(Errno::ECONNREFUSED);
            }
            debug!("{}: {name} {parsed}: allow", thread.tid());
            Ok(Kernel::Program)
        }
        // `net loopback`: any loopback address may be bound; a loopback
        // destination is reached only where the jail's own sockets are.
        NetVerdict::Loopback { .. } if use_ == Use::Bind => {
            debug!("{}: {name} {parsed}: the jail's loopback", thread.tid());
            Ok(Kernel::Program)
        }
        NetVerdict::Loopback { denial, .. } => {
            let ours = match (&parsed, kind.protocol()) {
                (SocketAddress::Ip(destination), Some(protocol)) => {
                    thread.loopback_reaches_only_jail(protocol, *destination)
                }
                _ => false,
            };
            if ours {
                debug!("{}: {name} {parsed}: the jail's loopback", thread.tid());
                return Ok((Kernel::Program, by_kind));
            }
            // In a loopback of its own nobody would listen there.
            thread.report_denial(&denial);
            Err(Errno::ECONNREFUSED)
        }
        NetVerdict::Deny { errno, denial } => {
            thread.report_denial(&denial);
            Err(Errno::from_raw(errno))
        }
        NetVerdict::Path { access } => {
            let SocketAddress::Unix(UnixAddress::Path(path)) = &parsed else {
                return Err(Errno::EINVAL);
            };
            let (kernel_path, copy_only) = unix_path(thread, use_, path, access, rewrite)?;
            debug!("{}: {name} {parsed}: allow", thread.tid());
            let mut address = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
            address.extend_from_slice(&kernel_path);
            address.push(0);
            Ok(if copy_only {
                Kernel::Jails(address)
            } else {
                Kernel::ProgramOr(address)
            })
        }
    };
    kernel.map(|kernel| (kernel, by_kind))
}

/// What the kernel gets for an address judged to reach nothing new (no
/// address: a disconnect, or the connected peer): the family alone, every
/// later byte zeroed, at the same length. The socket judged reads these
/// bytes as it read the program's, but the kernel looks the descriptor up
/// again when the call runs, and another thread sharing the table could
/// have put a different socket there (`dup2`): an IPv4 UDP socket takes
/// `AF_UNSPEC` for `AF_INET` (udp_sendmsg), and would send to whatever
/// address and port followed the family, where an IPv6 UDP socket read
/// the connected peer (udpv6_sendmsg) and a TCP one `EOPNOTSUPP` (fast
/// open). Zeroed, that is port 0: `EINVAL`.
fn unspecified(bytes: &[u8]) -> Vec<u8> {
    let mut copy = vec![0u8; bytes.len()];
    let family = bytes.len().min(2);
    copy[..family].copy_from_slice(&bytes[..family]);
    copy
}

/// Judges the unix socket path `path` for `use_`, and returns the path
/// the kernel is to be given for it, and whether the kernel must be given
/// that path rather than the program's own bytes: always when it names an
/// object the jail holds (kept open by `rewrite`); for the canonical path,
/// when the program's own path walks through a directory the jail can
/// write (a symlink there could be swapped, after the check, for one to
/// any socket on the machine).
fn unix_path(
    thread: &mut dyn Stopped,
    use_: Use,
    path: &Path,
    access: crate::syscall::Access,
    rewrite: &mut Rewrite,
) -> Result<(Vec<u8>, bool), Errno> {
    let given = path.as_os_str().as_bytes();
    let shown = path.to_string_lossy().into_owned();
    // A connect or send follows a final symlink; a bind never does.
    let follow = use_ != Use::Bind;
    let resolved = thread.resolve(Start::Cwd, given, follow)?;
    let paths = thread.judge_path(access, &resolved.target, &shown);
    let verdict = thread
        .network()
        .judge_unix_path(use_, path, &resolved.target, &paths);
    if let Verdict::Deny { errno, denial } = verdict {
        thread.report_denial(&denial);
        return Err(Errno::from_raw(errno));
    }
    let Target::Path(canonical) = &resolved.target else {
        return Err(Errno::ECONNREFUSED);
    };
    // Judged by its virtual name; the kernel is handed the real one: a
    // socket file of a cow tree lives in its mirror, and the real tree
    // is never written (a bind there would make a socket file in it).
    let virtual_path = canonical;
    let real = thread.real_path(virtual_path);
    if use_ == Use::Bind && !thread.kernel_may_change(&real) {
        log::debug!("bind at {real:?}, in a real cow tree: EROFS");
        return Err(Errno::EROFS);
    }
    let canonical = &real;
    let canonical_bytes = canonical.as_os_str().as_bytes();
    let fits = canonical_bytes.len() < SUN_PATH_MAX;
    let kernel_path = match use_ {
        Use::Bind => {
            if fits && !resolved.touched_writable {
                // Nothing on the way can be swapped, and a bind does not
                // follow a link planted at its own name.
                return Ok((canonical_bytes.to_vec(), false));
            }
            if fits && thread.socket_files_only_in_write_trees() {
                // A directory on the way swapped for a symlink could move
                // the bind only where Landlock lets a socket file be made:
                // inside the write trees. The socket keeps the name it is
                // found by (getsockname, a datagram's sender, a
                // multiprocessing listener's address).
                return Ok((canonical_bytes.to_vec(), true));
            }
            // Without Landlock the held parent is the only safe way; the
            // socket's name is then that /proc path (docs/design.md).

            let (Some(parent), Some(name)) = (canonical.parent(), canonical.file_name()) else {
                return Err(Errno::EINVAL);
            };
            let held = open_verified(parent, true)?;
            thread.hand_over(held, Some(OsStr::new(name)), rewrite)?
        }
        Use::Connect | Use::Send => {
            if !resolved.exists {
                return Err(Errno::ENOENT);
            }
            if fits && !thread.is_inside_writable(virtual_path) {
                // Nothing on the canonical path can be swapped; the
                // program's own may lead there through a writable tree
                // (a symlink in it to a socket a connect line names).
                return Ok((canonical_bytes.to_vec(), resolved.touched_writable));
            }
            // The very socket file judged: a name in a writable tree could
            // be swapped for a link to any socket on the machine.
            let held = open_verified(canonical, false)?;
            thread.hand_over(held, None, rewrite)?
        }
    };
    if kernel_path.len() >= SUN_PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok((kernel_path, true))
}

/// `listen(fd, backlog)`: a TCP socket never bound gets an ephemeral port
/// on every interface, judged as that bind. (A unix socket never bound
/// gets nothing: unix_listen refuses it with `EINVAL`.)
///
/// What is judged is the socket behind the descriptor now, and the kernel
/// looks the number up again when the call runs: while another thread
/// shares the descriptor table it could `dup2` a socket never bound over
/// it meanwhile (a TCP one would then listen on every interface). There
/// the jail makes the very socket judged listen itself, and the call
/// returns what that gave. Its one visible difference: a unix socket that
/// listens so has the jail's credentials as its `SO_PEERCRED`, not the
/// program's.
fn listen(thread: &mut dyn Stopped, name: &str) -> Answer {
    let fd = signed(thread.argument(0));
    let backlog = signed(thread.argument(1));
    let (held, kind) = match kind_of(thread, fd) {
        Ok(found) => found,
        Err(errno) => return Answer::Refuse(errno),
    };
    let own = match sys::socket_name(&held) {
        Ok(own) => own,
        Err(errno) => return Answer::Refuse(errno),
    };
    let unbound =
        match kind.family {
            Family::Unix => None,
            Family::Inet => (port_of(&own) == Some(0)).then_some(SocketAddress::Ip(
                SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            )),
            Family::Inet6 => (port_of(&own) == Some(0)).then_some(SocketAddress::Ip(
                SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
            )),
        };
    if let Some(unbound) = unbound {
        match thread.network().judge_bind(kind, &unbound) {
            NetVerdict::Allow => debug!("{}: {name} binds {unbound}: allow", thread.tid()),
            NetVerdict::Deny { errno, denial } | NetVerdict::Loopback { errno, denial } => {
                thread.report_denial(&denial);
                return Answer::Refuse(Errno::from_raw(errno));
            }
            NetVerdict::Path { .. } => return Answer::Refuse(Errno::EINVAL),
        }
    }
    if thread.alone_with_descriptors() {
        return Answer::Allow;
    }
    match sys::listen(&held, backlog) {
        Ok(()) => Answer::Done,
        Err(errno) => Answer::Refuse(errno),
    }
}

/// The port of an IP socket's own address, as `getsockname` gave it.
fn port_of(own: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*own.get(2)?, *own.get(3)?]))
}

/// `sendmsg(fd, msghdr, flags)`: the header is read once; an address in
/// it is judged as `sendto`'s, and the kernel gets the jail's copy of the
/// header, pointing at the jail's copy of the address. The data and the
/// control messages stay where they are: what they say is not judged.
fn send_msg(thread: &mut dyn Stopped, name: &str) -> Answer {
    let fd = signed(thread.argument(0));
    let header_address = thread.argument(1);
    let flags = thread.argument(2);
    let mut header = [0u8; MSGHDR_LEN];
    if let Err(errno) = thread.read(header_address, &mut header) {
        return Answer::Refuse(errno);
    }
    let field = |at: usize| u64::from_ne_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    let name_address = field(MSG_NAME);
    let name_len = u32::from_ne_bytes(
        header[MSG_NAMELEN..MSG_NAMELEN + 4]
            .try_into()
            .unwrap_or([0; 4]),
    );
    let untouchable = thread.untouchable(header_address, MSGHDR_LEN as u64);
    if name_address == 0 || name_len == 0 {
        // No address: the kernel must read one that cannot appear.
        if untouchable {
            return Answer::Allow;
        }
        let mut rewrite = Rewrite::default();
        rewrite.set(1, Arg::Scratch(Part::Struct, header.to_vec()));
        return Answer::Rewrite(rewrite);
    }
    let kind = match kind_of(thread, fd) {
        Ok((_, kind)) => kind,
        Err(errno) => return Answer::Refuse(errno),
    };
    // The kernel cuts msg_namelen to a sockaddr_storage.
    let name_len = name_len.min(SOCKADDR_MAX as u32);
    let bytes = match copy_address(thread, name_address, name_len) {
        Ok(bytes) => bytes,
        Err(errno) => return Answer::Refuse(errno),
    };
    let use_ = send_use(kind, flags);
    let mut rewrite = Rewrite::default();
    let (kernel, by_kind) = match judge_address(thread, name, kind, use_, &bytes, &mut rewrite) {
        Ok(judged) => judged,
        Err(errno) => return Answer::Refuse(errno),
    };
    let program_ok = matches!(kernel, Kernel::Program | Kernel::ProgramOr(_));
    if program_ok && untouchable && thread.untouchable(name_address, u64::from(name_len)) {
        return Answer::Allow;
    }
    let kernel = kernel.into_copy(bytes);
    let mut header = header.to_vec();
    header[MSG_NAMELEN..MSG_NAMELEN + 4].copy_from_slice(&(kernel.len() as u32).to_ne_bytes());
    if by_kind && !thread.alone_with_descriptors() {
        rewrite.same_socket = Some((fd, kind));
    }
    rewrite.set(1, Arg::Scratch(Part::Struct, header));
    rewrite.unnamed.push((Part::SecondPath, kernel));
    rewrite.pointers.push(Pointer {
        part: Part::Struct,
        offset: MSG_NAME,
        to: Part::SecondPath,
    });
    Answer::Rewrite(rewrite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::policy::network::{NetworkPolicy, Resolver};
    use crate::tracer::checks::fake::{FakeThread, TempDir, refused_with, scratch_of};
    use std::net::IpAddr;
    use std::os::fd::OwnedFd;

    const ADDRESS: u64 = 0x6000;
    const HEADER: u64 = 0x7000;

    /// Resolves nothing: the tests name addresses.
    struct NoNames;

    impl Resolver for NoNames {
        fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
            Err(format!("{name}: no names in unit tests"))
        }
    }

    /// A thread whose config is `lines`, its network policy resolved.
    fn thread_with(lines: &str) -> FakeThread {
        let mut thread = FakeThread::new(lines);
        let config = Config::parse(Path::new("test.conf"), lines, "test").expect("config");
        thread.network = NetworkPolicy::resolve(&config, &NoNames).expect("network");
        thread
    }

    fn socket(domain: i32, kind: i32) -> OwnedFd {
        nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::from_i32(domain).expect("a family"),
            if kind == libc::SOCK_STREAM {
                nix::sys::socket::SockType::Stream
            } else {
                nix::sys::socket::SockType::Datagram
            },
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("a socket")
    }

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut bytes = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&port.to_be_bytes());
        bytes.extend_from_slice(&ip);
        bytes.extend_from_slice(&[0; 8]);
        bytes
    }

    fn sockaddr_un(path: &str) -> Vec<u8> {
        let mut bytes = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        bytes.extend_from_slice(path.as_bytes());
        bytes.push(0);
        bytes
    }

    #[test]
    fn only_tcp_and_udp_sockets_are_made() {
        let mut thread = thread_with("");
        let stream = libc::SOCK_STREAM as u64 | libc::SOCK_CLOEXEC as u64;
        let inet = libc::AF_INET as u64;
        assert!(matches!(
            thread.call("socket", [inet, stream, 0, 0, 0, 0]),
            Answer::Allow
        ));
        let dgram = libc::SOCK_DGRAM as u64;
        let udp = libc::IPPROTO_UDP as u64;
        assert!(matches!(
            thread.call("socket", [inet, dgram, udp, 0, 0, 0]),
            Answer::Allow
        ));
        let raw = libc::SOCK_RAW as u64;
        assert_eq!(
            refused_with(&thread.call("socket", [inet, raw, 1, 0, 0, 0])),
            libc::EACCES
        );
        let icmp = libc::IPPROTO_ICMP as u64;
        assert_eq!(
            refused_with(&thread.call("socket", [inet, dgram, icmp, 0, 0, 0])),
            libc::EACCES
        );
        let netlink = libc::AF_NETLINK as u64;
        assert_eq!(
            refused_with(&thread.call("socket", [netlink, raw, 0, 0, 0, 0])),
            libc::EACCES
        );
    }

    #[test]
    fn a_destination_is_reached_only_by_a_connect_line_on_the_jails_copy() {
        let mut thread = thread_with("connect tcp 192.0.2.7:443\n");
        thread.holds(3, socket(libc::AF_INET, libc::SOCK_STREAM), "socket:[1]");
        let allowed = sockaddr_in([192, 0, 2, 7], 443);
        thread.poke(ADDRESS, &allowed);
        let len = allowed.len() as u64;
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(
            scratch_of(&answer, 1),
            Some(allowed),
            "the kernel reads the copy"
        );
        thread.untouchable = true;
        assert!(matches!(
            thread.call("connect", [3, ADDRESS, len, 0, 0, 0]),
            Answer::Allow
        ));
        thread.poke(ADDRESS, &sockaddr_in([192, 0, 2, 7], 80));
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENETUNREACH);
        assert_eq!(
            thread.reports.borrow().as_slice(),
            ["[Connect tcp 192.0.2.7:80]"]
        );
        // A UDP socket to the same place: the line says tcp.
        thread.holds(4, socket(libc::AF_INET, libc::SOCK_DGRAM), "socket:[2]");
        thread.poke(ADDRESS, &sockaddr_in([192, 0, 2, 7], 443));
        let answer = thread.call("sendto", [4, 0x100, 1, 0, ADDRESS, len]);
        assert_eq!(refused_with(&answer), libc::ENETUNREACH);
        // Too long an address, as the kernel says.
        let answer = thread.call("connect", [3, ADDRESS, 129, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EINVAL);
        // Not a socket at all.
        thread.holds(
            5,
            std::fs::File::open("/dev/null").expect("null").into(),
            "/dev/null",
        );
        let answer = thread.call("connect", [5, ADDRESS, len, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENOTSOCK);
    }

    #[test]
    fn a_port_is_bound_only_by_a_bind_line_and_listen_binds_first() {
        let mut thread = thread_with("bind tcp 8000-8010\n");
        thread.holds(3, socket(libc::AF_INET, libc::SOCK_STREAM), "socket:[1]");
        thread.poke(ADDRESS, &sockaddr_in([127, 0, 0, 1], 8005));
        assert!(matches!(
            thread.call("bind", [3, ADDRESS, 16, 0, 0, 0]),
            Answer::Rewrite(_)
        ));
        thread.poke(ADDRESS, &sockaddr_in([127, 0, 0, 1], 9000));
        assert_eq!(
            refused_with(&thread.call("bind", [3, ADDRESS, 16, 0, 0, 0])),
            libc::EACCES
        );
        // Never bound: listen would take an ephemeral port everywhere.
        assert_eq!(
            refused_with(&thread.call("listen", [3, 5, 0, 0, 0, 0])),
            libc::EACCES
        );
        assert_eq!(
            thread.reports.borrow().last().map(String::as_str),
            Some("[Bind tcp 0.0.0.0:0]")
        );
    }

    #[test]
    fn a_unix_socket_is_bound_in_a_write_tree_and_reached_there_through_the_jails_hold() {
        let dir = TempDir::new("unix");
        let mut thread = thread_with(&format!("see {0}\nwrite {0}\n", dir.0.display()));
        thread.holds(3, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[1]");
        let path = dir.join("sock");
        thread.lays_out(&path, &path, false);
        thread.poke(ADDRESS, &sockaddr_un(&path));
        let len = sockaddr_un(&path).len() as u64;
        let answer = thread.call("bind", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(
            scratch_of(&answer, 1),
            Some(sockaddr_un(&path)),
            "the canonical path"
        );
        // The socket file exists now; a connect holds the very file.
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        thread.lays_out(&path, &path, true);
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        let copy = scratch_of(&answer, 1).expect("a copy");
        assert!(copy[2..].starts_with(b"/proc/1/fd/"), "{copy:?}");
        let Answer::Rewrite(rewrite) = &answer else {
            unreachable!()
        };
        assert_eq!(rewrite.held.len(), 1);
    }

    #[test]
    fn a_unix_socket_outside_the_write_trees_needs_a_connect_line() {
        let dir = TempDir::new("unixro");
        let path = dir.join("api.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let mut thread = thread_with(&format!("see {}\n", dir.0.display()));
        thread.holds(3, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[1]");
        thread.lays_out(&path, &path, true);
        thread.poke(ADDRESS, &sockaddr_un(&path));
        let len = sockaddr_un(&path).len() as u64;
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::EACCES);
        let mut thread = thread_with(&format!(
            "see {0}\nconnect unix:{0}/api.sock\n",
            dir.0.display()
        ));
        thread.holds(3, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[1]");
        thread.lays_out(&path, &path, true);
        thread.poke(ADDRESS, &sockaddr_un(&path));
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 1), Some(sockaddr_un(&path)));
        // An abstract name: refused where the kernel does not scope it.
        let mut abstract_name = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abstract_name.extend_from_slice(b"\0name");
        thread.poke(ADDRESS, &abstract_name);
        let len = abstract_name.len() as u64;
        assert_eq!(
            refused_with(&thread.call("connect", [3, ADDRESS, len, 0, 0, 0])),
            libc::ECONNREFUSED
        );
    }

    #[test]
    fn sendmsg_is_judged_on_one_copy_of_its_header_and_address() {
        let mut thread = thread_with("connect udp 192.0.2.7:53\n");
        thread.holds(3, socket(libc::AF_INET, libc::SOCK_DGRAM), "socket:[1]");
        let address = sockaddr_in([192, 0, 2, 7], 53);
        thread.poke(ADDRESS, &address);
        let mut header = vec![0u8; MSGHDR_LEN];
        header[MSG_NAME..MSG_NAME + 8].copy_from_slice(&ADDRESS.to_ne_bytes());
        header[MSG_NAMELEN..MSG_NAMELEN + 4].copy_from_slice(&16u32.to_ne_bytes());
        thread.poke(HEADER, &header);
        let answer = thread.call("sendmsg", [3, HEADER, 0, 0, 0, 0]);
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(rewrite.unnamed, [(Part::SecondPath, address)]);
        assert_eq!(rewrite.pointers.len(), 1, "msg_name points at the copy");
        thread.poke(ADDRESS, &sockaddr_in([192, 0, 2, 8], 53));
        let answer = thread.call("sendmsg", [3, HEADER, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENETUNREACH);
        // No address: the header still goes as the jail's copy.
        thread.poke(HEADER, &[0u8; MSGHDR_LEN]);
        let answer = thread.call("sendmsg", [3, HEADER, 0, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 1), Some(vec![0u8; MSGHDR_LEN]));
        thread.untouchable = true;
        assert!(matches!(
            thread.call("sendmsg", [3, HEADER, 0, 0, 0, 0]),
            Answer::Allow
        ));
    }

    #[test]
    fn under_net_loopback_the_jail_reaches_its_own_servers_and_none_of_the_hosts() {
        let mut thread = thread_with("net loopback\n");
        thread.holds(3, socket(libc::AF_INET, libc::SOCK_STREAM), "socket:[1]");
        thread.poke(ADDRESS, &sockaddr_in([127, 0, 0, 1], 8080));
        assert!(matches!(
            thread.call("bind", [3, ADDRESS, 16, 0, 0, 0]),
            Answer::Rewrite(_)
        ));
        let answer = thread.call("connect", [3, ADDRESS, 16, 0, 0, 0]);
        assert_eq!(
            refused_with(&answer),
            libc::ECONNREFUSED,
            "not the jail's yet"
        );
        thread
            .jails_loopback
            .push("127.0.0.1:8080".parse().expect("an address"));
        assert!(matches!(
            thread.call("connect", [3, ADDRESS, 16, 0, 0, 0]),
            Answer::Rewrite(_)
        ));
        // Every interface is not loopback.
        thread.poke(ADDRESS, &sockaddr_in([0, 0, 0, 0], 8081));
        assert_eq!(
            refused_with(&thread.call("bind", [3, ADDRESS, 16, 0, 0, 0])),
            libc::EACCES
        );
        // Nor is any other destination.
        thread.poke(ADDRESS, &sockaddr_in([192, 0, 2, 1], 80));
        let answer = thread.call("connect", [3, ADDRESS, 16, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENETUNREACH);
    }

    /// Whether socket `fd` listens.
    fn listens(fd: &OwnedFd) -> bool {
        nix::sys::socket::getsockopt(fd, nix::sys::socket::sockopt::AcceptConn)
            .expect("SO_ACCEPTCONN")
    }

    #[test]
    fn a_listen_with_a_shared_descriptor_table_is_made_by_the_jail_on_the_socket_judged() {
        let dir = TempDir::new("listen");
        let mut thread = thread_with(&format!("see {0}\nwrite {0}\n", dir.0.display()));
        // A unix socket bound in the write tree, not listening yet.
        let fresh = socket(libc::AF_UNIX, libc::SOCK_STREAM);
        let address =
            nix::sys::socket::UnixAddr::new(Path::new(&dir.join("fresh"))).expect("an address");
        nix::sys::socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fresh), &address)
            .expect("bind fresh");
        assert!(!listens(&fresh));
        thread.holds(3, fresh.try_clone().expect("dup"), "socket:[1]");
        // Alone with its descriptors: the kernel runs it on descriptor 3.
        assert!(matches!(
            thread.call("listen", [3, 5, 0, 0, 0, 0]),
            Answer::Allow
        ));
        assert!(!listens(&fresh), "the check itself made nothing listen");
        // Shared: another thread could dup2 a socket never bound over 3
        // before the kernel looks it up; the jail makes the socket judged
        // listen, and the call returns what that gave.
        thread.alone = false;
        assert!(matches!(
            thread.call("listen", [3, 5, 0, 0, 0, 0]),
            Answer::Done
        ));
        assert!(listens(&fresh));
        // A TCP socket never bound is refused either way, and never listens.
        let tcp = socket(libc::AF_INET, libc::SOCK_STREAM);
        thread.holds(4, tcp.try_clone().expect("dup"), "socket:[2]");
        assert_eq!(
            refused_with(&thread.call("listen", [4, 5, 0, 0, 0, 0])),
            libc::EACCES
        );
        assert!(!listens(&tcp));
        // A unix socket never bound: the kernel's answer, as natively.
        thread.holds(5, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[3]");
        assert_eq!(
            refused_with(&thread.call("listen", [5, 5, 0, 0, 0, 0])),
            libc::EINVAL
        );
    }

    #[test]
    fn an_address_that_reaches_nothing_new_reaches_the_kernel_as_its_family_alone() {
        let mut thread = thread_with("");
        // On an IPv6 UDP socket AF_UNSPEC means the connected peer; an IPv4
        // one dup2()ed over the descriptor meanwhile would read the same
        // bytes as a destination, 127.0.0.1:53 here.
        thread.holds(3, socket(libc::AF_INET6, libc::SOCK_DGRAM), "socket:[1]");
        let mut unspec = sockaddr_in([127, 0, 0, 1], 53);
        unspec[..2].copy_from_slice(&(libc::AF_UNSPEC as u16).to_ne_bytes());
        thread.poke(ADDRESS, &unspec);
        let len = unspec.len() as u64;
        let mut family_alone = vec![0u8; unspec.len()];
        family_alone[..2].copy_from_slice(&unspec[..2]);
        let answer = thread.call("sendto", [3, 0x100, 1, 0, ADDRESS, len]);
        assert_eq!(scratch_of(&answer, 4), Some(family_alone.clone()));
        // The same through sendmsg's header.
        let mut header = vec![0u8; MSGHDR_LEN];
        header[MSG_NAME..MSG_NAME + 8].copy_from_slice(&ADDRESS.to_ne_bytes());
        header[MSG_NAMELEN..MSG_NAMELEN + 4].copy_from_slice(&(len as u32).to_ne_bytes());
        thread.poke(HEADER, &header);
        let answer = thread.call("sendmsg", [3, HEADER, 0, 0, 0, 0]);
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(rewrite.unnamed, [(Part::SecondPath, family_alone)]);
        // And a TCP socket's fast open, where AF_UNSPEC is EOPNOTSUPP.
        thread.holds(4, socket(libc::AF_INET, libc::SOCK_STREAM), "socket:[2]");
        let fast_open = libc::MSG_FASTOPEN as u64;
        let answer = thread.call("sendto", [4, 0x100, 1, fast_open, ADDRESS, len]);
        assert_eq!(
            scratch_of(&answer, 4).map(|copy| copy[2..].to_vec()),
            Some(vec![0; 14])
        );
        // Nothing else can change the memory or the descriptors: as given.
        thread.untouchable = true;
        let answer = thread.call("sendto", [3, 0x100, 1, 0, ADDRESS, len]);
        assert!(matches!(answer, Answer::Allow), "{answer:?}");
    }

    #[test]
    fn a_named_socket_reached_through_a_writable_tree_goes_to_the_kernel_by_its_canonical_path() {
        let named = TempDir::new("named");
        let writable = TempDir::new("links");
        let target = named.join("api.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&target).expect("bind");
        let mut thread = thread_with(&format!(
            "see {0}\nsee {1}\nwrite {1}\nconnect unix:{2}\n",
            named.0.display(),
            writable.0.display(),
            target
        ));
        thread.holds(3, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[1]");
        thread.untouchable = true;
        // The program's path is a symlink in the write tree: another
        // process could point it at any socket once the check is done,
        // and the kernel would follow it again.
        let link = writable.join("link");
        thread.lays_out(&link, &target, true);
        if let Some(resolved) = thread.paths.get_mut(link.as_bytes()) {
            resolved.touched_writable = true;
        }
        thread.poke(ADDRESS, &sockaddr_un(&link));
        let len = sockaddr_un(&link).len() as u64;
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 1), Some(sockaddr_un(&target)));
        // Named directly, nothing on the way can change: as given.
        thread.lays_out(&target, &target, true);
        thread.poke(ADDRESS, &sockaddr_un(&target));
        let len = sockaddr_un(&target).len() as u64;
        let answer = thread.call("connect", [3, ADDRESS, len, 0, 0, 0]);
        assert!(matches!(answer, Answer::Allow), "{answer:?}");
    }

    #[test]
    fn a_socket_call_on_a_shared_descriptor_table_is_checked_again_at_its_exit() {
        let mut thread = thread_with("connect tcp 192.0.2.7:443\n");
        thread.holds(3, socket(libc::AF_INET, libc::SOCK_STREAM), "socket:[1]");
        let allowed = sockaddr_in([192, 0, 2, 7], 443);
        thread.poke(ADDRESS, &allowed);
        let answer = thread.call("connect", [3, ADDRESS, 16, 0, 0, 0]);
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(rewrite.same_socket, None, "alone: nothing can swap it");
        thread.alone = false;
        let answer = thread.call("connect", [3, ADDRESS, 16, 0, 0, 0]);
        let Answer::Rewrite(rewrite) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(rewrite.same_socket, Some((3, SocketKind::TCP4)));
    }

    #[test]
    fn a_bind_below_a_write_root_keeps_its_name_where_landlock_keeps_socket_files_inside() {
        let dir = TempDir::new("bindbelow");
        std::fs::create_dir(dir.0.join("sub")).expect("a subdirectory");
        let mut thread = thread_with(&format!("see {0}\nwrite {0}\n", dir.0.display()));
        thread.holds(3, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[1]");
        let path = dir.join("sub/x.sock");
        thread.lays_out_walking(&path, &path, false, true);
        thread.poke(ADDRESS, &sockaddr_un(&path));
        let len = sockaddr_un(&path).len() as u64;
        let answer = thread.call("bind", [3, ADDRESS, len, 0, 0, 0]);
        let copy = scratch_of(&answer, 1).expect("a copy");
        assert!(
            copy[2..].starts_with(b"/proc/1/fd/"),
            "held parent: {copy:?}"
        );
        thread.landlock = true;
        let answer = thread.call("bind", [3, ADDRESS, len, 0, 0, 0]);
        assert_eq!(scratch_of(&answer, 1), Some(sockaddr_un(&path)));
    }

    #[test]
    fn a_socket_in_a_cow_tree_is_made_and_reached_in_its_mirror_never_in_the_real_tree() {
        let tree = TempDir::new("cowsock");
        let mirror = TempDir::new("cowsockmirror");
        let mut thread = thread_with("see /usr\n");
        thread.policy.cow = crate::policy::CowMap {
            roots: vec![crate::policy::CowRoot {
                tree: tree.0.clone(),
                mirror: Some(mirror.0.clone()),
            }],
        };
        thread.holds(3, socket(libc::AF_UNIX, libc::SOCK_STREAM), "socket:[1]");
        let path = tree.join("x.sock");
        thread.lays_out_walking(&path, &path, false, true);
        thread.poke(ADDRESS, &sockaddr_un(&path));
        let len = sockaddr_un(&path).len() as u64;
        for landlock in [false, true] {
            thread.landlock = landlock;
            let answer = thread.call("bind", [3, ADDRESS, len, 0, 0, 0]);
            let copy = scratch_of(&answer, 1).expect("a copy");
            if landlock {
                assert_eq!(copy, sockaddr_un(&mirror.join("x.sock")));
            } else {
                assert!(copy[2..].starts_with(b"/proc/1/fd/"), "{copy:?}");
                let Answer::Rewrite(rewrite) = &answer else {
                    panic!("{answer:?}");
                };
                let held = rewrite.held.first().expect("the parent, held");
                let dir = std::fs::read_link(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(held)
                ))
                .expect("its name");
                assert_eq!(dir, mirror.0, "the mirror's directory, not the real tree's");
            }
        }
    }
}
