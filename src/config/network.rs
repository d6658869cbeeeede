//! The network lines of a config as plain data, and the syntax of their
//! values: `connect`, `bind` and `net`.
//!
//! Owns what a protocol, a port range, a host, an address or a CIDR looks
//! like in a config file, and the one rule that relates lines to each other
//! (a loopback destination under `net loopback`). It parses strings only:
//! no name is resolved here (that is `policy::network`, once at start), and
//! nothing here knows of sockets or syscalls. `keywords` turns the typed
//! `ValueError`s into `ConfigError`s at the right column.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// A transport a `connect` or `bind` line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// An inclusive range of ports, `low <= high` (one port: `low == high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    low: u16,
    high: u16,
}

impl PortRange {
    /// Every port a destination can have: 1 to 65535 (`*`).
    pub const EVERY_DESTINATION: PortRange = PortRange {
        low: 1,
        high: u16::MAX,
    };

    /// The range `low..=high`, if it is one.
    pub fn new(low: u16, high: u16) -> Option<PortRange> {
        (low <= high).then_some(PortRange { low, high })
    }

    /// Just `port`.
    pub fn single(port: u16) -> PortRange {
        PortRange {
            low: port,
            high: port,
        }
    }

    pub fn low(&self) -> u16 {
        self.low
    }

    pub fn high(&self) -> u16 {
        self.high
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }
}

/// As a config line writes it: `443`, `8000-8080` or `*`.
impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PortRange::EVERY_DESTINATION {
            f.write_str("*")
        } else if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// A block of addresses: an address and how many of its leading bits
/// count. The bits past the prefix are always zero, and an IPv4-mapped
/// IPv6 block (`::ffff:10.0.0.0/104`) is kept as the IPv4 block it is,
/// because the kernel sends to a mapped address over IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The block `addr/prefix`, if the prefix fits the family and no bit
    /// past it is set; a mapped IPv6 block becomes its IPv4 block.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        let net = IpNet { addr, prefix };
        (prefix <= max_prefix(addr) && net.masked(addr) == addr).then_some(net)
    }

    /// Just `addr` (an IPv4-mapped one as its IPv4 address).
    pub fn host(addr: IpAddr) -> IpNet {
        let addr = canonical_ip(addr);
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (an IPv4-mapped one as its IPv4 address) lies in
    /// the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == self.addr
    }

    /// Whether every address of the block is a loopback address
    /// (127.0.0.0/8, ::1).
    pub fn is_loopback_only(&self) -> bool {
        match self.addr {
            IpAddr::V4(v4) => self.prefix >= 8 && v4.is_loopback(),
            IpAddr::V6(v6) => self.prefix == 128 && v6.is_loopback(),
        }
    }

    /// `ip` with the bits past the prefix cleared (in `ip`'s own family).
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

/// As a config line writes it: `10.0.0.0/8`, `192.0.2.1`, `fd00::/8`
/// (without the brackets a `connect` line puts around IPv6).
impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if self.prefix != max_prefix(self.addr) {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// 32 for IPv4, 128 for IPv6.
fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip`, or the IPv4 address an IPv4-mapped IPv6 address carries: the
/// kernel sends to `::ffff:a.b.c.d` over IPv4, so it is judged as
/// `a.b.c.d`.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The host part of a `connect` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lowercase, resolved by the jail when it starts.
    Name(String),
    /// An address or a block of addresses.
    Net(IpNet),
}

impl Host {
    /// Whether the host can only be a loopback address: a loopback
    /// address or block, or `localhost` (which the jail never asks a
    /// resolver about: it is always 127.0.0.1 and ::1).
    pub fn is_loopback_only(&self) -> bool {
        match self {
            Host::Name(name) => name == LOCALHOST,
            Host::Net(net) => net.is_loopback_only(),
        }
    }
}

/// The one name the jail resolves by itself.
pub const LOCALHOST: &str = "localhost";

/// `connect tcp|udp <host>:<ports>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectLine {
    pub protocol: Protocol,
    pub host: Host,
    pub ports: PortRange,
    /// The address as written (`example.org:443`), for messages.
    pub address: String,
    /// Where the line is, for messages after parsing (a name that does
    /// not resolve): 1-based line, and the column of the address.
    pub line: usize,
    pub col: usize,
}

/// `bind tcp|udp <ports>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindLine {
    pub protocol: Protocol,
    pub ports: PortRange,
    pub line: usize,
}

/// `connect unix:<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixLine {
    /// Absolute, as written (the policy canonicalises it).
    pub path: PathBuf,
    pub line: usize,
}

/// `net <none|loopback>`: what network the jail gives the program of
/// its own, besides what `connect` and `bind` lines allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetMode {
    /// None: loopback addresses are destinations like any other, allowed
    /// only by `connect` lines.
    #[default]
    None,
    /// A loopback of the jail's own: its processes listen on and connect
    /// to 127.0.0.1 and ::1 among themselves, and reach none of the
    /// host's loopback services.
    Loopback,
}

/// Every network line that applies, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    pub mode: NetMode,
    /// The `net` line that set `mode`, if any.
    pub mode_line: Option<usize>,
    pub connect: Vec<ConnectLine>,
    pub bind: Vec<BindLine>,
    pub unix: Vec<UnixLine>,
}

impl Network {
    /// Whether no line asks for any network: the jail's default.
    pub fn is_closed(&self) -> bool {
        self.mode == NetMode::None
            && self.connect.is_empty()
            && self.bind.is_empty()
            && self.unix.is_empty()
    }
}

/// What is wrong with a value, and where in it (a character offset), for
/// `keywords` to turn into a `ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValueError {
    /// Characters from the start of the value to the wrong part.
    pub at: usize,
    pub problem: String,
    pub expected: String,
    /// The wrong part itself.
    pub found: String,
}

impl ValueError {
    fn new(
        at: usize,
        found: &str,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        ValueError {
            at,
            problem: problem.into(),
            expected: expected.into(),
            found: found.to_owned(),
        }
    }
}

/// `tcp` or `udp`.
pub(crate) fn protocol(text: &str) -> Option<Protocol> {
    match text {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// Whom ports are for: a destination has no port 0 (UDP refuses to send
/// there, TCP finds no listener), a local port 0 asks the kernel for an
/// ephemeral one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortsFor {
    Connect,
    Bind,
}

/// `443`, `8000-8080`, and for a destination `*`.
pub(crate) fn ports(text: &str, at: usize, side: PortsFor) -> Result<PortRange, ValueError> {
    let (lowest, expected) = match side {
        PortsFor::Connect => (
            1,
            "a port from 1 to 65535, a range such as 8000-8080, or `*`",
        ),
        PortsFor::Bind => (
            0,
            "a port from 0 to 65535 (0: one the kernel chooses) or a range such as 8000-8080",
        ),
    };
    if text == "*" {
        return match side {
            PortsFor::Connect => Ok(PortRange::EVERY_DESTINATION),
            PortsFor::Bind => Err(ValueError::new(
                at,
                text,
                "`bind` takes no `*`: name the ports (0-65535 for every one)",
                expected,
            )),
        };
    }
    let port = |part: &str, offset: usize| -> Result<u16, ValueError> {
        let bad = |problem: &str| ValueError::new(at + offset, part, problem, expected);
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad("bad port"));
        }
        let value = part.parse::<u16>().map_err(|_| bad("port out of range"))?;
        if value < lowest {
            return Err(bad(
                "port 0 is no destination (UDP refuses to send there, TCP finds no listener)",
            ));
        }
        Ok(value)
    };
    match text.split_once('-') {
        None => port(text, 0).map(PortRange::single),
        Some((low_text, high_text)) => {
            let low = port(low_text, 0)?;
            let high_at = low_text.chars().count() + 1;
            let high = port(high_text, high_at)?;
            PortRange::new(low, high).ok_or_else(|| {
                ValueError::new(
                    at,
                    text,
                    "port range ends below its start",
                    format!("a range from low to high, such as {high}-{low}"),
                )
            })
        }
    }
}

/// What a `connect` address word may be, for messages.
const ADDRESS_FORMS: &str = "`<host>:<ports>` with a host name, an IPv4 address or CIDR, or an IPv6 \
     one in brackets (`example.org:443`, `10.0.0.0/8:*`, `[::1]:8000-8080`)";

/// `<host>:<ports>`: `example.org:443`, `192.0.2.1:80`, `10.0.0.0/8:*`,
/// `[2001:db8::1]:53`, `[fd00::/8]:1000-2000`.
pub(crate) fn connect_address(text: &str) -> Result<(Host, PortRange), ValueError> {
    let (host, host_at, port_text) = if let Some(inner) = text.strip_prefix('[') {
        let Some((inside, after)) = inner.split_once(']') else {
            return Err(ValueError::new(
                0,
                text,
                "malformed address: `[` without `]`",
                ADDRESS_FORMS,
            ));
        };
        let Some(port_text) = after.strip_prefix(':') else {
            return Err(ValueError::new(
                0,
                text,
                "missing port after `]`",
                "`[<ipv6>]:<ports>`, such as `[::1]:80`",
            ));
        };
        (Bracketed(inside), 1, port_text)
    } else {
        let Some((host, port_text)) = text.rsplit_once(':') else {
            return Err(ValueError::new(
                0,
                text,
                "missing port",
                "`<host>:<ports>`, such as `example.org:443` or `example.org:*`",
            ));
        };
        if host.contains(':') {
            return Err(ValueError::new(
                0,
                text,
                "an IPv6 address goes in brackets",
                "`[<ipv6>]:<ports>`, such as `[::1]:80` or `[fd00::/8]:*`",
            ));
        }
        (Plain(host), 0, port_text)
    };
    let port_at = text.chars().count() - port_text.chars().count();
    let host = match host {
        Bracketed(inside) => ipv6_host(inside, host_at)?,
        Plain(host) => plain_host(host)?,
    };
    if let Host::Net(net) = &host
        && net.prefix() == max_prefix(net.addr())
        && net.addr().is_unspecified()
    {
        return Err(ValueError::new(
            host_at,
            &net.to_string(),
            "the unspecified address names no host (a connect there reaches the local host)",
            "a host's address, or 127.0.0.1 or [::1] for the local host",
        ));
    }
    let ports = ports(port_text, port_at, PortsFor::Connect)?;
    Ok((host, ports))
}

/// The host part before it is parsed: in brackets (IPv6) or not.
enum HostText<'a> {
    Bracketed(&'a str),
    Plain(&'a str),
}
use HostText::{Bracketed, Plain};

/// What is inside `[...]`: an IPv6 address or block.
fn ipv6_host(inside: &str, at: usize) -> Result<Host, ValueError> {
    let (addr_text, prefix_text) = match inside.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (inside, None),
    };
    if addr_text.is_empty() {
        return Err(ValueError::new(at, inside, "empty host", ADDRESS_FORMS));
    }
    let Ok(addr) = addr_text.parse::<Ipv6Addr>() else {
        let problem = if addr_text.parse::<Ipv4Addr>().is_ok() {
            "brackets are for IPv6 addresses; an IPv4 address goes without them"
        } else {
            "malformed IPv6 address"
        };
        return Err(ValueError::new(at, addr_text, problem, ADDRESS_FORMS));
    };
    net_of(IpAddr::V6(addr), prefix_text, inside, at).map(Host::Net)
}

/// A host without brackets: a name, an IPv4 address or an IPv4 block.
fn plain_host(host: &str) -> Result<Host, ValueError> {
    if host.is_empty() {
        return Err(ValueError::new(0, host, "empty host", ADDRESS_FORMS));
    }
    if host.contains('*') {
        return Err(ValueError::new(
            0,
            host,
            "wildcard host names are not allowed: each name is resolved when the jail starts",
            "one line per host name, or an address block such as `10.0.0.0/8`",
        ));
    }
    if let Some((addr_text, prefix_text)) = host.split_once('/') {
        let Ok(addr) = addr_text.parse::<Ipv4Addr>() else {
            return Err(ValueError::new(
                0,
                host,
                "malformed CIDR: a block needs an IPv4 address before `/` (IPv6 goes in brackets)",
                "a block such as `10.0.0.0/8` or `[fd00::/8]`",
            ));
        };
        return net_of(IpAddr::V4(addr), Some(prefix_text), host, 0).map(Host::Net);
    }
    if let Ok(addr) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Net(IpNet::host(IpAddr::V4(addr))));
    }
    host_name(host).map(Host::Name)
}

/// The block `addr/prefix` (or just `addr`), refusing a prefix too long
/// for the family or an address with bits set past it.
fn net_of(
    addr: IpAddr,
    prefix_text: Option<&str>,
    whole: &str,
    at: usize,
) -> Result<IpNet, ValueError> {
    let Some(prefix_text) = prefix_text else {
        return Ok(IpNet::host(addr));
    };
    let max = max_prefix(addr);
    let prefix = prefix_text
        .parse::<u8>()
        .ok()
        .filter(|prefix| *prefix <= max && prefix_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ValueError::new(
                at,
                whole,
                "malformed CIDR: bad prefix length",
                format!("a prefix length from 0 to {max}"),
            )
        })?;
    IpNet::new(addr, prefix).ok_or_else(|| {
        // The same bits with the host part cleared, to suggest.
        let cleared = IpNet {
            addr,
            prefix: prefix.min(max),
        }
        .masked(addr);
        ValueError::new(
            at,
            whole,
            "malformed CIDR: bits are set past the prefix",
            format!("the block's first address, `{cleared}/{prefix}`"),
        )
    })
}

/// The longest DNS name, in characters (RFC 1035, without the final dot).
const MAX_NAME: usize = 253;
/// The longest label of a DNS name.
const MAX_LABEL: usize = 63;

/// A DNS name, lowercased: labels of letters, digits, `-` and `_`, no
/// label empty or starting or ending with `-`. A name whose last label is
/// a number (`1.2.3`, `0x7f000001`) is refused: the C library reads such a
/// "name" as an IPv4 address in an old notation, not as a name to look up.
fn host_name(name: &str) -> Result<String, ValueError> {
    let expected = "a host name such as `example.org` (ASCII: an international name in its \
                    `xn--` form), an IPv4 address, or an IPv6 address in brackets";
    let bad = |problem: &str| ValueError::new(0, name, problem, expected);
    if name.chars().count() > MAX_NAME {
        return Err(bad("host name longer than 253 characters"));
    }
    if name
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'.')
    {
        return Err(bad("malformed IPv4 address"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad("malformed host name"));
        }
    }
    if name.split('.').next_back().is_some_and(is_numberlike) {
        return Err(bad(
            "malformed host name: it ends in a number, which reads as an IPv4 address",
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// A label inet_aton(3) reads as a number: decimal, octal or `0x` hex.
fn is_numberlike(label: &str) -> bool {
    let digits = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
        .map_or(Some(label), |hex| {
            hex.bytes().all(|b| b.is_ascii_hexdigit()).then_some("")
        });
    digits.is_some_and(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
}

/// The one contradiction lines can hold: under `net loopback`, 127.0.0.1
/// and ::1 mean the jail's own loopback, so a `connect` line that can only
/// name a loopback address (the host's loopback services) asks for what
/// the mode takes away. A line whose block merely covers loopback
/// (`0.0.0.0/0`) is fine: its loopback part is the mode's to decide.
/// Returns the first such line.
pub(crate) fn contradiction(network: &Network) -> Option<&ConnectLine> {
    if network.mode != NetMode::Loopback {
        return None;
    }
    network
        .connect
        .iter()
        .find(|line| line.host.is_loopback_only())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> IpAddr {
        IpAddr::V4(text.parse().unwrap())
    }

    fn v6(text: &str) -> IpAddr {
        IpAddr::V6(text.parse().unwrap())
    }

    fn net(text: &str) -> Host {
        match connect_address(&format!("{text}:1")) {
            Ok((host, _)) => host,
            Err(error) => panic!("{text}: {error:?}"),
        }
    }

    #[test]
    fn addresses_names_and_blocks() {
        let table: &[(&str, Host, PortRange)] = &[
            (
                "example.org:443",
                Host::Name("example.org".into()),
                PortRange::single(443),
            ),
            (
                "API.Example.ORG:*",
                Host::Name("api.example.org".into()),
                PortRange::EVERY_DESTINATION,
            ),
            (
                "my_db-1:5432",
                Host::Name("my_db-1".into()),
                PortRange::single(5432),
            ),
            (
                "192.0.2.1:80",
                Host::Net(IpNet::host(v4("192.0.2.1"))),
                PortRange::single(80),
            ),
            (
                "10.0.0.0/8:8000-8080",
                Host::Net(IpNet::new(v4("10.0.0.0"), 8).unwrap()),
                PortRange::new(8000, 8080).unwrap(),
            ),
            (
                "0.0.0.0/0:443",
                Host::Net(IpNet::new(v4("0.0.0.0"), 0).unwrap()),
                PortRange::single(443),
            ),
            (
                "[::1]:80",
                Host::Net(IpNet::host(v6("::1"))),
                PortRange::single(80),
            ),
            (
                "[fd00::/8]:*",
                Host::Net(IpNet::new(v6("fd00::"), 8).unwrap()),
                PortRange::EVERY_DESTINATION,
            ),
            // A mapped address is the IPv4 address it carries.
            (
                "[::ffff:192.0.2.1]:53",
                Host::Net(IpNet::host(v4("192.0.2.1"))),
                PortRange::single(53),
            ),
            (
                "[::ffff:10.0.0.0/104]:1-2",
                Host::Net(IpNet::new(v4("10.0.0.0"), 8).unwrap()),
                PortRange::new(1, 2).unwrap(),
            ),
            (
                "localhost:65535",
                Host::Name("localhost".into()),
                PortRange::single(65535),
            ),
            (
                "x.org:0007",
                Host::Name("x.org".into()),
                PortRange::single(7),
            ),
        ];
        for (text, host, ports) in table {
            assert_eq!(
                connect_address(text),
                Ok((host.clone(), *ports)),
                "for {text}"
            );
        }
    }

    #[test]
    fn bad_addresses_say_what_and_where() {
        // (text, offset of the wrong part, part of the problem)
        let table: &[(&str, usize, &str)] = &[
            ("example.org", 0, "missing port"),
            ("example.org:", 12, "bad port"),
            ("example.org:http", 12, "bad port"),
            ("example.org:65536", 12, "port out of range"),
            ("example.org:0", 12, "port 0 is no destination"),
            ("example.org:-1", 12, "bad port"),
            ("example.org:+1", 12, "bad port"),
            ("example.org:1-", 14, "bad port"),
            ("example.org:0-10", 12, "port 0 is no destination"),
            ("example.org:90-80", 12, "port range ends below its start"),
            ("example.org:1-99999", 14, "port out of range"),
            (":80", 0, "empty host"),
            ("[]:80", 1, "empty host"),
            ("*:443", 0, "wildcard host names are not allowed"),
            (
                "*.example.org:443",
                0,
                "wildcard host names are not allowed",
            ),
            ("::1:80", 0, "an IPv6 address goes in brackets"),
            ("fd00::/8:*", 0, "an IPv6 address goes in brackets"),
            ("[::1:80", 0, "`[` without `]`"),
            ("[::1]80", 0, "missing port after `]`"),
            ("[::g]:80", 1, "malformed IPv6 address"),
            ("[1.2.3.4]:80", 1, "brackets are for IPv6"),
            ("[::/129]:80", 1, "bad prefix length"),
            ("[fd00::1/8]:80", 1, "bits are set past the prefix"),
            ("10.0.0.0/33:80", 0, "bad prefix length"),
            ("10.0.0.0/+8:80", 0, "bad prefix length"),
            ("10.0.0.1/8:80", 0, "bits are set past the prefix"),
            ("example.org/24:80", 0, "malformed CIDR"),
            ("10.0.0.256:80", 0, "malformed IPv4 address"),
            ("1.2.3:80", 0, "malformed IPv4 address"),
            ("010.0.0.1:80", 0, "malformed IPv4 address"),
            ("0x7f000001:80", 0, "ends in a number"),
            ("host.0x1f:80", 0, "ends in a number"),
            ("exa mple:80", 0, "malformed host name"),
            ("example..org:80", 0, "malformed host name"),
            ("example.org.:80", 0, "malformed host name"),
            ("-example.org:80", 0, "malformed host name"),
            ("bücher.de:80", 0, "malformed host name"),
            ("0.0.0.0:80", 0, "unspecified address names no host"),
            ("[::]:80", 1, "unspecified address names no host"),
            (
                "[::ffff:0.0.0.0]:80",
                1,
                "unspecified address names no host",
            ),
        ];
        for (text, at, problem) in table {
            match connect_address(text) {
                Ok(parsed) => panic!("{text} should fail, gave {parsed:?}"),
                Err(error) => {
                    assert!(error.problem.contains(problem), "{text}: {error:?}");
                    assert_eq!(error.at, *at, "{text}: {error:?}");
                }
            }
        }
        let long = format!("{}.org:80", "a.".repeat(130));
        assert!(connect_address(&long).is_err());
        let label = format!("{}.org:80", "a".repeat(64));
        assert!(connect_address(&label).is_err());
    }

    #[test]
    fn bind_ports_allow_zero_and_no_star() {
        assert_eq!(ports("0", 0, PortsFor::Bind), Ok(PortRange::single(0)));
        assert_eq!(
            ports("0-65535", 0, PortsFor::Bind),
            Ok(PortRange::new(0, 65535).unwrap())
        );
        let star = ports("*", 3, PortsFor::Bind).unwrap_err();
        assert!(star.problem.contains("takes no `*`"), "{star:?}");
        assert_eq!(star.at, 3);
        assert!(ports("65536", 0, PortsFor::Bind).is_err());
        assert!(ports("2-1", 0, PortsFor::Bind).is_err());
        assert!(ports("", 0, PortsFor::Bind).is_err());
        assert!(ports("1-2-3", 0, PortsFor::Bind).is_err());
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        let ten = IpNet::new(v4("10.0.0.0"), 8).unwrap();
        assert!(ten.contains(v4("10.255.0.1")));
        assert!(ten.contains(v6("::ffff:10.1.2.3")), "mapped is IPv4");
        assert!(!ten.contains(v4("11.0.0.0")));
        assert!(
            !ten.contains(v6("::a00:1")),
            "IPv6 is never in an IPv4 block"
        );
        let every = IpNet::new(v4("0.0.0.0"), 0).unwrap();
        assert!(every.contains(v4("255.255.255.255")));
        assert!(!every.contains(v6("::1")));
        let every6 = IpNet::new(v6("::"), 0).unwrap();
        assert!(every6.contains(v6("2001:db8::1")));
        assert!(!every6.contains(v6("::ffff:1.2.3.4")), "mapped is IPv4");
        let one = IpNet::host(v6("2001:db8::1"));
        assert!(one.contains(v6("2001:db8::1")));
        assert!(!one.contains(v6("2001:db8::2")));
        assert_eq!(IpNet::new(v4("10.0.0.1"), 8), None);
        assert_eq!(IpNet::new(v4("10.0.0.0"), 33), None);
        assert_eq!(ten.to_string(), "10.0.0.0/8");
        assert_eq!(one.to_string(), "2001:db8::1");
    }

    #[test]
    fn loopback_only_hosts() {
        for host in [
            "127.0.0.1",
            "127.0.0.0/8",
            "127.1.0.0/16",
            "[::1]",
            "localhost",
        ] {
            assert!(net(host).is_loopback_only(), "{host}");
        }
        for host in [
            "0.0.0.0/0",
            "126.0.0.0/7",
            "[::/0]",
            "10.0.0.1",
            "example.org",
        ] {
            assert!(!net(host).is_loopback_only(), "{host}");
        }
    }

    #[test]
    fn ranges_print_as_written() {
        assert_eq!(PortRange::EVERY_DESTINATION.to_string(), "*");
        assert_eq!(PortRange::single(80).to_string(), "80");
        assert_eq!(PortRange::new(1, 2).unwrap().to_string(), "1-2");
        assert!(PortRange::new(0, 0).unwrap().contains(0));
        assert!(!PortRange::new(5, 9).unwrap().contains(10));
    }
}
