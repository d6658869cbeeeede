//! A fuzzer for the socket address reader and the judgements after it,
//! run as an ordinary test.
//!
//! Feeds [`SocketAddress::parse`] random bytes and lengths (around the
//! sizes the kernel cares about, and far past them) for every kind of
//! socket and every use, then judges whatever it accepts. Nothing may
//! panic; every accepted address must be one the kernel would read the
//! same way (no IPv4-mapped IPv6 left, a unix path never empty and
//! without NUL), and every refusal must carry an errno.

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use super::{
    Family, NetVerdict, NetworkPolicy, SocketAddress, SocketKind, Transport, UnixAddress, Use,
};
use crate::config::network::{IpNet, PortRange, Protocol};
use crate::policy::network::ConnectRule;

const CASES: u32 = 20_000;

fn kinds() -> Vec<SocketKind> {
    let mut kinds = Vec::new();
    for family in [Family::Unix, Family::Inet, Family::Inet6] {
        for transport in [Transport::Stream, Transport::Datagram, Transport::SeqPacket] {
            kinds.push(SocketKind { family, transport });
        }
    }
    kinds
}

/// Lengths near every boundary the kernel checks, and beyond.
fn lengths() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..=130,
        1 => Just(u32::MAX),
        1 => Just(i32::MAX as u32 + 1),
        1 => any::<u32>(),
    ]
}

/// Bytes whose first two are often a real family, so the fuzzer gets
/// past the family checks.
fn address_bytes() -> impl Strategy<Value = Vec<u8>> {
    let family = prop_oneof![
        Just(libc::AF_UNSPEC),
        Just(libc::AF_UNIX),
        Just(libc::AF_INET),
        Just(libc::AF_INET6),
        any::<u16>().prop_map(i32::from),
    ]
    .prop_map(|family| (family as u16).to_ne_bytes().to_vec());
    (family, proptest::collection::vec(any::<u8>(), 0..140)).prop_map(|(mut head, tail)| {
        head.extend(tail);
        head
    })
}

fn policy() -> NetworkPolicy {
    NetworkPolicy {
        connect: vec![ConnectRule {
            protocol: Protocol::Udp,
            net: IpNet::new("0.0.0.0".parse().unwrap(), 1).unwrap(),
            ports: PortRange::EVERY_DESTINATION,
            line: 1,
        }],
        unix: vec!["/run/x.sock".into()],
        ..NetworkPolicy::default()
    }
}

fn check(bytes: &[u8], len: u32, kind: SocketKind, use_: Use) -> Result<(), TestCaseError> {
    let policy = policy();
    match SocketAddress::parse(bytes, len, kind, use_) {
        Err(error) => {
            prop_assert!(error.errno() > 0, "{error:?}");
            prop_assert!(!error.to_string().is_empty());
        }
        Ok(address) => {
            prop_assert!(
                len as usize <= bytes.len() && len <= 128,
                "{len} of {}",
                bytes.len()
            );
            match &address {
                SocketAddress::Ip(ip) => {
                    prop_assert!(kind.family != Family::Unix, "{kind:?} {address}");
                    if let std::net::SocketAddr::V6(v6) = ip {
                        prop_assert!(v6.ip().to_ipv4_mapped().is_none(), "{address}");
                    }
                }
                SocketAddress::Unix(unix) => {
                    prop_assert_eq!(kind.family, Family::Unix);
                    match unix {
                        UnixAddress::Path(path) => {
                            let bytes = path.as_os_str().as_encoded_bytes();
                            prop_assert!(!bytes.is_empty() && !bytes.contains(&0));
                            prop_assert!(bytes.len() <= 108);
                        }
                        UnixAddress::Abstract(name) => prop_assert!(name.len() <= 107),
                        UnixAddress::Autobind => prop_assert_eq!(use_, Use::Bind),
                    }
                }
                SocketAddress::Unspecified => prop_assert!(use_ != Use::Bind),
            }
            let verdict = match use_ {
                Use::Connect | Use::Send => policy.judge_connect(kind, &address),
                Use::Bind => policy.judge_bind(kind, &address),
            };
            if let NetVerdict::Deny { errno, denial } = &verdict {
                prop_assert!(*errno > 0);
                prop_assert!(!denial.to_string().contains('\n'), "{denial}");
            }
        }
    }
    Ok(())
}

#[test]
fn random_addresses_never_panic_and_read_as_the_kernel_would() {
    let input = (
        address_bytes(),
        lengths(),
        proptest::sample::select(kinds()),
        proptest::sample::select(vec![Use::Connect, Use::Send, Use::Bind]),
    );
    let mut runner = TestRunner::new(RunnerConfig {
        cases: CASES,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    if let Err(failure) = runner.run(&input, |(bytes, len, kind, use_)| {
        check(&bytes, len, kind, use_)
    }) {
        panic!("{failure}");
    }
}
