//! `net loopback`: whether a loopback destination is the jail's own.
//!
//! The jail has no loopback of its own (no network namespace: that needs
//! privileges or user namespaces, and would cut the `connect` lines'
//! destinations off). Instead a connect or send to a loopback address is
//! admitted only when every socket bound to that address and port (or to
//! the wildcard address) is one a jail process holds, and there is at
//! least one: the program reaches its own servers and none of the host's.
//!
//! Pure: the tracer reads the kernel's socket tables (`/proc/net/tcp`,
//! `tcp6`, `udp`, `udp6`) and the jail's socket inodes, and asks here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket bound to a local address, as the kernel's table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundSocket {
    pub address: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// `TCP_LISTEN` in the tables' `st` column.
const LISTEN: &str = "0A";

/// The sockets of one of the kernel's tables (`/proc/net/tcp` and the
/// like; `v6` for the `tcp6`/`udp6` ones) that can take a connection or a
/// datagram: TCP sockets listening, every UDP socket. Rows that do not
/// parse are left out (the caller then finds no owner and refuses).
pub fn bound_sockets(table: &str, v6: bool, listening_only: bool) -> Vec<BoundSocket> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            if listening_only && *state != LISTEN {
                return None;
            }
            let (address, port) = local.split_once(':')?;
            Some(BoundSocket {
                address: parse_address(address, v6)?,
                port: u16::from_str_radix(port, 16).ok()?,
                inode: inode.parse().ok()?,
            })
        })
        .collect()
}

/// A table's address: the kernel prints each 32-bit word of it in host
/// byte order, as hex.
fn parse_address(hex: &str, v6: bool) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|index| u32::from_str_radix(hex.get(index * 8..index * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let mut bytes = Vec::with_capacity(16);
    for word in &words {
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    match (v6, bytes.len()) {
        (false, 4) => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        (true, 16) => {
            let array: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(array)))
        }
        _ => None,
    }
}

/// Whether `destination` (a loopback address, or a wildcard the kernel
/// sends to loopback) reaches only sockets of the jail: every socket bound
/// to its port on an address it may reach is one `is_jails` owns, and
/// there is one.
pub fn reaches_only_the_jail(
    sockets: &[BoundSocket],
    destination: SocketAddr,
    is_jails: &dyn Fn(u64) -> bool,
) -> bool {
    let reached: Vec<&BoundSocket> = sockets
        .iter()
        .filter(|socket| socket.port == destination.port())
        .filter(|socket| may_receive(socket.address, destination.ip()))
        .collect();
    !reached.is_empty() && reached.iter().all(|socket| is_jails(socket.inode))
}

/// Whether a socket bound to `local` may receive what is sent to
/// `destination`: the same address (IPv4-mapped or not), a wildcard, or
/// any loopback address for a wildcard destination.
fn may_receive(local: IpAddr, destination: IpAddr) -> bool {
    let local = canonical(local);
    let destination = canonical(destination);
    local.is_unspecified()
        || local == destination
        || (destination.is_unspecified() && local.is_loopback())
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1 0 100 0 0 10 0
";

    #[test]
    fn the_kernels_tables_read_as_bound_sockets() {
        let tcp = bound_sockets(TCP, false, true);
        assert_eq!(
            tcp,
            [
                BoundSocket {
                    address: "127.0.0.1".parse().unwrap(),
                    port: 8080,
                    inode: 111
                },
                BoundSocket {
                    address: "0.0.0.0".parse().unwrap(),
                    port: 22,
                    inode: 222
                },
            ],
            "connected sockets take no connection"
        );
        let tcp6 = bound_sockets(TCP6, true, true);
        assert_eq!(tcp6[0].address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(tcp6[0].port, 80);
        assert_eq!(bound_sockets(TCP, false, false).len(), 3);
        assert!(bound_sockets("header\ngarbage row\n", false, true).is_empty());
    }

    #[test]
    fn a_loopback_destination_must_reach_the_jails_sockets_only() {
        let sockets = [
            bound_sockets(TCP, false, true),
            bound_sockets(TCP6, true, true),
        ]
        .concat();
        let jail = |inode: u64| inode == 111 || inode == 444;
        let at = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(reaches_only_the_jail(&sockets, at("127.0.0.1:8080"), &jail));
        assert!(reaches_only_the_jail(&sockets, at("[::1]:80"), &jail));
        assert!(reaches_only_the_jail(
            &sockets,
            at("[::ffff:127.0.0.1]:8080"),
            &jail
        ));
        // The host's sshd listens on every address.
        assert!(!reaches_only_the_jail(&sockets, at("127.0.0.1:22"), &jail));
        assert!(!reaches_only_the_jail(&sockets, at("127.0.0.2:22"), &jail));
        // Nobody listens: nothing of the jail's to reach.
        assert!(!reaches_only_the_jail(&sockets, at("127.0.0.1:9"), &jail));
        // A wildcard destination goes to loopback.
        assert!(reaches_only_the_jail(&sockets, at("0.0.0.0:8080"), &jail));
        assert!(!reaches_only_the_jail(&sockets, at("0.0.0.0:22"), &jail));
    }
}
