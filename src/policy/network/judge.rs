//! The verdict for one address a socket call passes: connect, send or
//! bind.
//!
//! Owns the errnos of refused network calls and what `report` prints for
//! them. Pure: the address has been read by `sockaddr`, the socket's kind
//! learned by the tracer. A unix socket path is judged in two steps,
//! because only the tracer can resolve a path for the calling thread: the
//! first verdict asks for it ([`NetVerdict::Path`]), the second
//! ([`NetworkPolicy::judge_unix_path`]) combines the `connect unix:` lines
//! with the path policy's own verdict.
//!
//! Errnos, chosen to match what the program would meet in an empty
//! network namespace where there is one, and otherwise what the kernel
//! answers a call it does not permit:
//! - a destination no line allows: `ENETUNREACH`, as with no interface
//!   up. Programs take it for "offline" and give up or skip (CPython's
//!   test support treats it as a missing resource), where `ECONNREFUSED`
//!   reads as "the server is down" and invites retries, and `EACCES`
//!   is not what any network gives a `connect` (Landlock, the second
//!   wall, does answer `EACCES`; the tracer decides first);
//! - a port no `bind` line allows: `EACCES`, as for a port below 1024
//!   without `CAP_NET_BIND_SERVICE`, and as Landlock refuses a bind.
//!   Not `EADDRINUSE`, which makes servers and test harnesses try other
//!   ports, possibly forever;
//! - an abstract unix name the kernel does not scope to the jail:
//!   `ECONNREFUSED` for a connect or send (abstract names belong to a
//!   network namespace; in one of its own nobody listens), `EACCES` for a
//!   bind or autobind;
//! - a unix socket file: the path policy's errno (`ENOENT` hidden,
//!   `EACCES` visible but neither writable nor named, as the kernel
//!   answers for a socket file without write permission).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::NetworkPolicy;
use super::sockaddr::{SocketAddress, UnixAddress, Use};
use super::socket::SocketKind;
use crate::config::network::{NetMode, Protocol, canonical_ip};
use crate::policy::{Denial, DenialKind, Target, Verdict};
use crate::syscall::Access;

/// The answer to one network call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetVerdict {
    Allow,
    /// The call fails with `errno` and does not run; `report` prints
    /// `denial`.
    Deny {
        errno: i32,
        denial: Denial,
    },
    /// A unix socket path: the tracer resolves it for the calling thread
    /// as the kernel will (following a final symlink for connect and
    /// send, not for bind), asks `Policy::judge` for `access` on the
    /// result, and hands that verdict to
    /// [`NetworkPolicy::judge_unix_path`], whose answer is final.
    Path {
        access: Access,
    },
    /// A loopback address under `net loopback`: the jail's own loopback
    /// decides (the wiring that builds it). Where it refuses, or until it
    /// exists, the call fails with `errno` and `report` prints `denial`.
    Loopback {
        errno: i32,
        denial: Denial,
    },
}

impl NetworkPolicy {
    /// `connect` on a socket of `kind`, a datagram sent with an address
    /// (`sendto`, `sendmsg`, each of `sendmmsg`'s), or TCP fast open, to
    /// `address` as [`SocketAddress::parse`] read it for that use.
    pub fn judge_connect(&self, kind: SocketKind, address: &SocketAddress) -> NetVerdict {
        match address {
            // A disconnect, or the peer the socket is connected to: judged
            // when it connected.
            SocketAddress::Unspecified => NetVerdict::Allow,
            SocketAddress::Ip(ip) => self.judge_destination(kind, *ip),
            SocketAddress::Unix(UnixAddress::Path(_)) => NetVerdict::Path {
                access: Access::Write,
            },
            SocketAddress::Unix(UnixAddress::Abstract(_)) if self.abstract_unix_scoped => {
                NetVerdict::Allow
            }
            SocketAddress::Unix(UnixAddress::Abstract(_)) => {
                deny(libc::ECONNREFUSED, DenialKind::Connect, address.to_string())
            }
            // parse() gives autobind for bind only; a connect with the
            // family alone is malformed.
            SocketAddress::Unix(UnixAddress::Autobind) => {
                deny(libc::EINVAL, DenialKind::Connect, address.to_string())
            }
        }
    }

    /// `bind` on a socket of `kind` to `address` as
    /// [`SocketAddress::parse`] read it. A `listen` on a TCP socket that
    /// was never bound binds an ephemeral port on every interface: the
    /// tracer asks here for the unspecified address with port 0.
    pub fn judge_bind(&self, kind: SocketKind, address: &SocketAddress) -> NetVerdict {
        match address {
            SocketAddress::Ip(ip) => self.judge_local_port(kind, *ip),
            SocketAddress::Unix(UnixAddress::Path(_)) => NetVerdict::Path {
                access: Access::Create,
            },
            SocketAddress::Unix(UnixAddress::Abstract(_) | UnixAddress::Autobind)
                if self.abstract_unix_scoped =>
            {
                NetVerdict::Allow
            }
            SocketAddress::Unix(UnixAddress::Abstract(_) | UnixAddress::Autobind) => {
                deny(libc::EACCES, DenialKind::Bind, address.to_string())
            }
            // parse() never gives it for a bind.
            SocketAddress::Unspecified => {
                deny(libc::EAFNOSUPPORT, DenialKind::Bind, address.to_string())
            }
        }
    }

    /// The final verdict for a unix socket path that
    /// [`judge_connect`](Self::judge_connect) or
    /// [`judge_bind`](Self::judge_bind) answered with
    /// [`NetVerdict::Path`]: `given` is the path as the program wrote it,
    /// `target` what it resolved to, `paths` the path policy's verdict for
    /// the access asked.
    ///
    /// A socket file a `connect unix:` line names is reached (connect,
    /// send) wherever it is; any other only where the path policy allows
    /// the access: inside a `write` tree. Refusals keep the path policy's
    /// errno and print as `[Connect unix:<canonical>]` or
    /// `[Bind unix:<canonical>]`. A path that leads to an object with no
    /// name (a socket reached through `/proc/<pid>/fd/<n>`) is no socket
    /// file the kernel could find, and is refused as it would be:
    /// `ECONNREFUSED`, or `EADDRINUSE` for a bind.
    pub fn judge_unix_path(
        &self,
        use_: Use,
        given: &Path,
        target: &Target,
        paths: &Verdict,
    ) -> Verdict {
        let kind = match use_ {
            Use::Connect | Use::Send => DenialKind::Connect,
            Use::Bind => DenialKind::Bind,
        };
        let canonical = match target {
            Target::Path(canonical) => canonical,
            Target::Held => {
                let errno = match use_ {
                    Use::Bind => libc::EADDRINUSE,
                    Use::Connect | Use::Send => libc::ECONNREFUSED,
                };
                return Verdict::Deny {
                    errno,
                    denial: denial(kind, format!("unix:{}", given.to_string_lossy())),
                };
            }
        };
        if kind == DenialKind::Connect && self.unix.iter().any(|named| named == canonical) {
            return Verdict::Allow;
        }
        match paths {
            Verdict::Allow => Verdict::Allow,
            Verdict::Deny { errno, .. } => Verdict::Deny {
                errno: *errno,
                denial: denial(kind, format!("unix:{}", canonical.to_string_lossy())),
            },
        }
    }

    /// A TCP or UDP destination.
    fn judge_destination(&self, kind: SocketKind, address: SocketAddr) -> NetVerdict {
        let Some(protocol) = kind.protocol() else {
            // parse() gives an IP address only to an IP socket.
            return deny(libc::EAFNOSUPPORT, DenialKind::Connect, address.to_string());
        };
        let destinations = destinations(address.ip());
        let shown = |ip: IpAddr| format!("{protocol} {}", SocketAddr::new(ip, address.port()));
        if self.mode == NetMode::Loopback
            && let Some(&loopback) = destinations.iter().find(|ip| ip.is_loopback())
        {
            return NetVerdict::Loopback {
                errno: libc::ENETUNREACH,
                denial: denial(DenialKind::Connect, shown(loopback)),
            };
        }
        // `::` may be reached over IPv4 or IPv6 (see destinations()): it
        // is allowed only when every way it can go is.
        match destinations
            .into_iter()
            .find(|ip| !self.allows_destination(protocol, *ip, address.port()))
        {
            None => NetVerdict::Allow,
            Some(refused) => deny(libc::ENETUNREACH, DenialKind::Connect, shown(refused)),
        }
    }

    fn allows_destination(&self, protocol: Protocol, ip: IpAddr, port: u16) -> bool {
        self.connect.iter().any(|rule| {
            rule.protocol == protocol && rule.ports.contains(port) && rule.net.contains(ip)
        })
    }

    /// A local TCP or UDP port.
    fn judge_local_port(&self, kind: SocketKind, address: SocketAddr) -> NetVerdict {
        let Some(protocol) = kind.protocol() else {
            return deny(libc::EAFNOSUPPORT, DenialKind::Bind, address.to_string());
        };
        let shown = format!("{protocol} {address}");
        if self.mode == NetMode::Loopback && canonical_ip(address.ip()).is_loopback() {
            return NetVerdict::Loopback {
                errno: libc::EACCES,
                denial: denial(DenialKind::Bind, shown),
            };
        }
        let port = address.port();
        if self
            .bind
            .iter()
            .any(|line| line.protocol == protocol && line.ports.contains(port))
        {
            NetVerdict::Allow
        } else {
            deny(libc::EACCES, DenialKind::Bind, shown)
        }
    }
}

/// Where a connect to `ip` goes. The kernel takes the unspecified address
/// for the local host: `0.0.0.0` is 127.0.0.1 (ip_route_connect; or the
/// socket's own bound address, the local host too), and `::` is ::1, or
/// 127.0.0.1 when the socket's local address is IPv4-mapped
/// (tcp_v6_connect, __ip6_datagram_connect, udpv6_sendmsg). The tracer
/// does not know which, so `::` counts as both.
fn destinations(ip: IpAddr) -> Vec<IpAddr> {
    match canonical_ip(ip) {
        IpAddr::V4(v4) if v4.is_unspecified() => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        IpAddr::V6(v6) if v6.is_unspecified() => vec![
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ],
        other => vec![other],
    }
}

fn denial(kind: DenialKind, shown: String) -> Denial {
    Denial {
        kind,
        path: shown,
        canonical: String::new(),
    }
}

fn deny(errno: i32, kind: DenialKind, shown: String) -> NetVerdict {
    NetVerdict::Deny {
        errno,
        denial: denial(kind, shown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::network::{BindLine, IpNet, PortRange};
    use crate::policy::network::ConnectRule;

    fn rule(protocol: Protocol, net: &str, prefix: u8, low: u16, high: u16) -> ConnectRule {
        ConnectRule {
            protocol,
            net: IpNet::new(net.parse().unwrap(), prefix).unwrap(),
            ports: PortRange::new(low, high).unwrap(),
            line: 1,
        }
    }

    fn policy() -> NetworkPolicy {
        NetworkPolicy {
            connect: vec![
                rule(Protocol::Tcp, "192.0.2.7", 32, 443, 443),
                rule(Protocol::Udp, "10.0.0.0", 8, 53, 53),
                rule(Protocol::Tcp, "2001:db8::", 32, 1, 65535),
                rule(Protocol::Tcp, "127.0.0.1", 32, 8080, 8080),
            ],
            bind: vec![
                BindLine {
                    protocol: Protocol::Tcp,
                    ports: PortRange::new(8000, 8999).unwrap(),
                    line: 2,
                },
                BindLine {
                    protocol: Protocol::Udp,
                    ports: PortRange::single(0),
                    line: 3,
                },
            ],
            unix: vec!["/run/bot/api.sock".into()],
            ..NetworkPolicy::default()
        }
    }

    fn ip(text: &str) -> SocketAddress {
        SocketAddress::Ip(text.parse().unwrap())
    }

    /// An allowed call, or the errno and report line of a refused one.
    type Outcome = Result<(), (i32, String)>;

    fn outcome(verdict: NetVerdict) -> Outcome {
        match verdict {
            NetVerdict::Allow => Ok(()),
            NetVerdict::Deny { errno, denial } => Err((errno, denial.to_string())),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn destinations_are_allowed_by_protocol_block_and_port() {
        let policy = policy();
        let refused = |errno: i32, line: &str| Err((errno, line.to_owned()));
        let table: &[(SocketKind, &str, Outcome)] = &[
            (SocketKind::TCP4, "192.0.2.7:443", Ok(())),
            (
                SocketKind::TCP4,
                "192.0.2.7:80",
                refused(libc::ENETUNREACH, "[Connect tcp 192.0.2.7:80]"),
            ),
            (
                SocketKind::UDP4,
                "192.0.2.7:443",
                refused(libc::ENETUNREACH, "[Connect udp 192.0.2.7:443]"),
            ),
            (SocketKind::UDP4, "10.200.0.1:53", Ok(())),
            (SocketKind::UDP6, "10.200.0.1:53", Ok(())),
            (
                SocketKind::UDP4,
                "11.0.0.1:53",
                refused(libc::ENETUNREACH, "[Connect udp 11.0.0.1:53]"),
            ),
            (SocketKind::TCP6, "[2001:db8::1]:22", Ok(())),
            (SocketKind::TCP6, "[2001:db8:ffff::1]:65535", Ok(())),
            (
                SocketKind::TCP6,
                "[2001:db9::1]:22",
                refused(libc::ENETUNREACH, "[Connect tcp [2001:db9::1]:22]"),
            ),
            // Loopback is a destination like any other under `net none`.
            (SocketKind::TCP4, "127.0.0.1:8080", Ok(())),
            (
                SocketKind::TCP4,
                "127.0.0.1:8081",
                refused(libc::ENETUNREACH, "[Connect tcp 127.0.0.1:8081]"),
            ),
            // 0.0.0.0 is the local host.
            (SocketKind::TCP4, "0.0.0.0:8080", Ok(())),
            (
                SocketKind::TCP4,
                "0.0.0.0:22",
                refused(libc::ENETUNREACH, "[Connect tcp 127.0.0.1:22]"),
            ),
            // `::` may go to ::1 or 127.0.0.1: both must be allowed.
            (
                SocketKind::TCP6,
                "[::]:8080",
                refused(libc::ENETUNREACH, "[Connect tcp [::1]:8080]"),
            ),
        ];
        for (kind, address, expected) in table {
            let verdict = policy.judge_connect(*kind, &ip(address));
            assert_eq!(outcome(verdict), *expected, "{kind:?} {address}");
        }
        let mut both = policy.clone();
        both.connect
            .push(rule(Protocol::Tcp, "::1", 128, 8080, 8080));
        assert_eq!(
            outcome(both.judge_connect(SocketKind::TCP6, &ip("[::]:8080"))),
            Ok(())
        );
    }

    #[test]
    fn nothing_is_reachable_by_default() {
        let closed = NetworkPolicy::default();
        assert!(closed.is_closed());
        for address in ["127.0.0.1:80", "[::1]:80", "192.0.2.7:443", "0.0.0.0:1"] {
            for kind in [SocketKind::TCP4, SocketKind::UDP6] {
                let verdict = closed.judge_connect(kind, &ip(address));
                assert!(
                    matches!(
                        verdict,
                        NetVerdict::Deny {
                            errno: libc::ENETUNREACH,
                            ..
                        }
                    ),
                    "{kind:?} {address}: {verdict:?}"
                );
                let verdict = closed.judge_bind(kind, &ip(address));
                assert!(
                    matches!(
                        verdict,
                        NetVerdict::Deny {
                            errno: libc::EACCES,
                            ..
                        }
                    ),
                    "{kind:?} {address}: {verdict:?}"
                );
            }
        }
        let abstract_ = SocketAddress::Unix(UnixAddress::Abstract(b"x".to_vec()));
        assert_eq!(
            outcome(closed.judge_connect(SocketKind::UNIX_STREAM, &abstract_)),
            Err((libc::ECONNREFUSED, "[Connect unix:@x]".into()))
        );
        assert_eq!(
            outcome(closed.judge_bind(SocketKind::UNIX_DGRAM, &abstract_)),
            Err((libc::EACCES, "[Bind unix:@x]".into()))
        );
        let autobind = SocketAddress::Unix(UnixAddress::Autobind);
        assert_eq!(
            outcome(closed.judge_bind(SocketKind::UNIX_DGRAM, &autobind)),
            Err((libc::EACCES, "[Bind unix:(autobind)]".into()))
        );
        // Unspecified reaches nothing new.
        assert_eq!(
            outcome(closed.judge_connect(SocketKind::UDP6, &SocketAddress::Unspecified)),
            Ok(())
        );
    }

    #[test]
    fn binds_are_allowed_by_protocol_and_port_on_any_address() {
        let policy = policy();
        let table: &[(SocketKind, &str, Outcome)] = &[
            (SocketKind::TCP4, "0.0.0.0:8000", Ok(())),
            (SocketKind::TCP4, "127.0.0.1:8999", Ok(())),
            (SocketKind::TCP6, "[::]:8500", Ok(())),
            (SocketKind::TCP6, "192.0.2.1:8500", Ok(())),
            (
                SocketKind::TCP4,
                "0.0.0.0:9000",
                Err((libc::EACCES, "[Bind tcp 0.0.0.0:9000]".into())),
            ),
            // An ephemeral port needs a line for port 0; `listen` on an
            // unbound socket is asked as such a bind.
            (
                SocketKind::TCP4,
                "0.0.0.0:0",
                Err((libc::EACCES, "[Bind tcp 0.0.0.0:0]".into())),
            ),
            (SocketKind::UDP4, "0.0.0.0:0", Ok(())),
            (
                SocketKind::UDP6,
                "[::]:8000",
                Err((libc::EACCES, "[Bind udp [::]:8000]".into())),
            ),
        ];
        for (kind, address, expected) in table {
            let verdict = policy.judge_bind(*kind, &ip(address));
            assert_eq!(outcome(verdict), *expected, "{kind:?} {address}");
        }
    }

    #[test]
    fn loopback_under_net_loopback_is_the_loopback_rules_to_decide() {
        let policy = NetworkPolicy {
            mode: NetMode::Loopback,
            ..policy()
        };
        for (kind, address, line) in [
            (
                SocketKind::TCP4,
                "127.0.0.1:8080",
                "[Connect tcp 127.0.0.1:8080]",
            ),
            (SocketKind::TCP4, "127.0.0.2:1", "[Connect tcp 127.0.0.2:1]"),
            (SocketKind::TCP4, "0.0.0.0:22", "[Connect tcp 127.0.0.1:22]"),
            (SocketKind::TCP6, "[::]:22", "[Connect tcp [::1]:22]"),
            (
                SocketKind::UDP6,
                "[::ffff:127.0.0.1]:53",
                "[Connect udp 127.0.0.1:53]",
            ),
        ] {
            // A mapped address, as a caller other than parse() might
            // pass it: still judged as IPv4.
            let address = ip(address);
            match policy.judge_connect(kind, &address) {
                NetVerdict::Loopback { errno, denial } => {
                    assert_eq!(errno, libc::ENETUNREACH);
                    assert_eq!(denial.to_string(), line);
                }
                other => panic!("{address}: {other:?}"),
            }
        }
        assert!(matches!(
            policy.judge_bind(SocketKind::TCP4, &ip("127.0.0.1:5000")),
            NetVerdict::Loopback {
                errno: libc::EACCES,
                ..
            }
        ));
        // Other destinations and binds follow the lines as under `none`.
        assert_eq!(
            outcome(policy.judge_connect(SocketKind::TCP4, &ip("192.0.2.7:443"))),
            Ok(())
        );
        assert_eq!(
            outcome(policy.judge_bind(SocketKind::TCP4, &ip("0.0.0.0:8000"))),
            Ok(())
        );
    }

    #[test]
    fn abstract_names_follow_the_kernels_scoping() {
        let policy = NetworkPolicy {
            abstract_unix_scoped: true,
            ..NetworkPolicy::default()
        };
        let abstract_ = SocketAddress::Unix(UnixAddress::Abstract(b"\0x\n".to_vec()));
        assert_eq!(
            policy.judge_connect(SocketKind::UNIX_DGRAM, &abstract_),
            NetVerdict::Allow
        );
        assert_eq!(
            policy.judge_bind(SocketKind::UNIX_STREAM, &abstract_),
            NetVerdict::Allow
        );
        let autobind = SocketAddress::Unix(UnixAddress::Autobind);
        assert_eq!(
            policy.judge_bind(SocketKind::UNIX_DGRAM, &autobind),
            NetVerdict::Allow
        );
        // A name with control bytes stays one report line.
        let closed = NetworkPolicy::default();
        assert_eq!(
            outcome(closed.judge_connect(SocketKind::UNIX_DGRAM, &abstract_)),
            Err((libc::ECONNREFUSED, "[Connect unix:@\\u{0}x\\n]".into()))
        );
    }

    #[test]
    fn unix_paths_are_named_or_left_to_the_path_policy() {
        let policy = policy();
        let path = SocketAddress::Unix(UnixAddress::Path("api.sock".into()));
        assert_eq!(
            policy.judge_connect(SocketKind::UNIX_STREAM, &path),
            NetVerdict::Path {
                access: Access::Write
            }
        );
        assert_eq!(
            policy.judge_bind(SocketKind::UNIX_STREAM, &path),
            NetVerdict::Path {
                access: Access::Create
            }
        );
        let named = Target::Path("/run/bot/api.sock".into());
        let other = Target::Path("/run/docker.sock".into());
        let hidden = Verdict::Deny {
            errno: libc::ENOENT,
            denial: Denial {
                kind: DenialKind::See,
                path: "x".into(),
                canonical: "y".into(),
            },
        };
        let see_only = Verdict::Deny {
            errno: libc::EACCES,
            denial: Denial {
                kind: DenialKind::Write,
                path: "x".into(),
                canonical: "y".into(),
            },
        };
        let given = Path::new("../api.sock");
        let judge = |use_, target: &Target, paths: &Verdict| match policy
            .judge_unix_path(use_, given, target, paths)
        {
            Verdict::Allow => Ok(()),
            Verdict::Deny { errno, denial } => Err((errno, denial.to_string())),
        };
        // Named: reached wherever it is, hidden or not.
        assert_eq!(judge(Use::Connect, &named, &hidden), Ok(()));
        assert_eq!(judge(Use::Send, &named, &see_only), Ok(()));
        // A name allows no bind: creating the file is the path policy's.
        assert_eq!(
            judge(Use::Bind, &named, &see_only),
            Err((libc::EACCES, "[Bind unix:/run/bot/api.sock]".into()))
        );
        // Not named: the path policy decides, with its errno.
        assert_eq!(
            judge(Use::Connect, &other, &see_only),
            Err((libc::EACCES, "[Connect unix:/run/docker.sock]".into()))
        );
        assert_eq!(
            judge(Use::Send, &other, &hidden),
            Err((libc::ENOENT, "[Connect unix:/run/docker.sock]".into()))
        );
        assert_eq!(judge(Use::Connect, &other, &Verdict::Allow), Ok(()));
        assert_eq!(judge(Use::Bind, &other, &Verdict::Allow), Ok(()));
        // A nameless object is no socket file.
        assert_eq!(
            judge(Use::Connect, &Target::Held, &Verdict::Allow),
            Err((libc::ECONNREFUSED, "[Connect unix:../api.sock]".into()))
        );
        assert_eq!(
            judge(Use::Bind, &Target::Held, &Verdict::Allow),
            Err((libc::EADDRINUSE, "[Bind unix:../api.sock]".into()))
        );
    }
}
