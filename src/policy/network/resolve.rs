//! The network lines of a config, resolved once: host names to addresses,
//! `connect unix:` paths to canonical ones.
//!
//! Owns turning `config::network` lines into a [`NetworkPolicy`] and the
//! errors of doing so, which name the config line. The lookups go through
//! a [`Resolver`], so tests use a fake; [`SystemResolver`] asks the C
//! library (`getaddrinfo`) and the filesystem, and is the network policy's
//! only I/O. A name that does not resolve fails the whole start: a jail
//! that quietly allowed less, or more, than its config says would be worse
//! than one that does not run.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::{ConnectRule, NetworkPolicy, ResolvedName};
use crate::config::Config;
use crate::config::lowercase_first;
use crate::config::network::{ConnectLine, Host, IpNet, LOCALHOST, NetMode, canonical_ip};
use crate::policy::Policy;

/// Looks up what the network lines name, when the jail starts.
pub trait Resolver {
    /// Every address `name` has, or why it has none (a lowercase reason).
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String>;

    /// A `connect unix:` path as the tracer will compare it with the
    /// canonical path a program's address resolves to: canonical, as
    /// `see` roots are (symlinks followed; a path that does not exist
    /// yet is kept in lexical normal form).
    fn socket_path(&self, path: &Path) -> PathBuf {
        Policy::canonical_root(path)
    }
}

/// Any `Fn(&str) -> Result<Vec<IpAddr>, String>` resolves names (socket
/// paths are canonicalised on the filesystem).
impl<F> Resolver for F
where
    F: Fn(&str) -> Result<Vec<IpAddr>, String>,
{
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        self(name)
    }
}

/// The machine's own resolver: `getaddrinfo(3)` through std, so
/// `/etc/hosts`, DNS and whatever `nsswitch.conf` says, with the C
/// library's own time limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        use std::net::ToSocketAddrs;
        (name, 0u16)
            .to_socket_addrs()
            .map(|addresses| addresses.map(|address| address.ip()).collect())
            .map_err(|error| lowercase_first(&error.to_string()))
    }
}

/// A `connect` line whose host cannot be used: nothing runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkError {
    /// The config file and line.
    pub file: PathBuf,
    pub line: usize,
    /// The line as a config writes it: `connect tcp example.org:443`.
    pub rule: String,
    pub host: String,
    pub problem: HostProblem,
}

/// What is wrong with a `connect` line's host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostProblem {
    /// The resolver found nothing: its reason.
    Unresolved(String),
    /// It resolved, but to no address a program could connect to (only
    /// `0.0.0.0` or `::`, which mean the local host).
    NoAddress,
    /// Under `net loopback` (set at `net_line`), it resolved to loopback
    /// addresses only, which the mode keeps for the jail's own processes.
    OnlyLoopback { net_line: Option<usize> },
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: the host `{}` ",
            self.file.display(),
            self.line,
            crate::notice::printable(&self.rule),
            crate::notice::printable(&self.host)
        )?;
        match &self.problem {
            HostProblem::Unresolved(reason) => write!(
                f,
                "does not resolve ({}); expected a name that resolves when the jail starts \
                 and each time a session resumes",
                crate::notice::printable(reason)
            ),
            HostProblem::NoAddress => f.write_str(
                "resolves to no address a program can connect to (only 0.0.0.0 or ::); \
                 expected a name with a host's address",
            ),
            HostProblem::OnlyLoopback { net_line } => {
                f.write_str("resolves to loopback addresses only, which `net loopback`")?;
                if let Some(net_line) = net_line {
                    write!(f, " (line {net_line})")?;
                }
                f.write_str(
                    " keeps for the jail's own processes; expected no `connect` line for a \
                     loopback address under `net loopback`",
                )
            }
        }
    }
}

impl std::error::Error for NetworkError {}

impl NetworkPolicy {
    /// The network policy for `config`: each host name looked up once
    /// through `resolver` (`localhost` never: it is 127.0.0.1 and ::1),
    /// each `connect unix:` path made canonical. Called when the jail
    /// starts and again when a session resumes, so a name follows its
    /// addresses between commands.
    pub fn resolve(
        config: &Config,
        resolver: &dyn Resolver,
    ) -> Result<NetworkPolicy, NetworkError> {
        let network = &config.network;
        let mut policy = NetworkPolicy {
            mode: network.mode,
            bind: network.bind.clone(),
            ..NetworkPolicy::default()
        };
        for line in &network.connect {
            let nets = match &line.host {
                Host::Net(net) => vec![*net],
                Host::Name(name) => policy
                    .addresses_of(name, line, config, resolver)?
                    .into_iter()
                    .map(IpNet::host)
                    .collect(),
            };
            for net in nets {
                let rule = ConnectRule {
                    protocol: line.protocol,
                    net,
                    ports: line.ports,
                    line: line.line,
                };
                // A repeated line adds nothing (its line number aside).
                let known = policy.connect.iter().any(|known| {
                    (known.protocol, known.net, known.ports)
                        == (rule.protocol, rule.net, rule.ports)
                });
                if !known {
                    policy.connect.push(rule);
                }
            }
        }
        for line in &network.unix {
            let path = resolver.socket_path(&line.path);
            if !policy.unix.contains(&path) {
                policy.unix.push(path);
            }
        }
        Ok(policy)
    }

    /// The addresses `name` (of `line`) has: looked up the first time,
    /// remembered in `names` for `/etc/hosts` and later lines.
    fn addresses_of(
        &mut self,
        name: &str,
        line: &ConnectLine,
        config: &Config,
        resolver: &dyn Resolver,
    ) -> Result<Vec<IpAddr>, NetworkError> {
        if name == LOCALHOST {
            return Ok(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        if let Some(known) = self.names.iter().find(|known| known.name == name) {
            return Ok(known.addresses.clone());
        }
        let error = |problem| NetworkError {
            file: config.file.clone(),
            line: line.line,
            rule: format!("connect {} {}", line.protocol, line.address),
            host: name.to_owned(),
            problem,
        };
        let found = resolver
            .resolve(name)
            .map_err(|reason| error(HostProblem::Unresolved(reason)))?;
        let mut addresses: Vec<IpAddr> = Vec::new();
        // As the kernel will judge them (mapped is IPv4), without the
        // unspecified address (a connect there reaches the local host,
        // which no line for a name means), each once, in the resolver's
        // order (the C library's preference).
        for address in found.into_iter().map(canonical_ip) {
            if !address.is_unspecified() && !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.is_empty() {
            return Err(error(HostProblem::NoAddress));
        }
        if self.mode == NetMode::Loopback && addresses.iter().all(IpAddr::is_loopback) {
            return Err(error(HostProblem::OnlyLoopback {
                net_line: config.network.mode_line,
            }));
        }
        self.names.push(ResolvedName {
            name: name.to_owned(),
            addresses: addresses.clone(),
        });
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::network::{PortRange, Protocol};
    use std::cell::RefCell;

    /// A resolver that knows a few names, counts its lookups and
    /// canonicalises socket paths by a table.
    struct Fake {
        asked: RefCell<Vec<String>>,
    }

    impl Resolver for Fake {
        fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
            self.asked.borrow_mut().push(name.to_owned());
            let ips = |list: &[&str]| Ok(list.iter().map(|ip| ip.parse().unwrap()).collect());
            match name {
                "example.org" => ips(&["192.0.2.7", "2001:db8::7", "192.0.2.7"]),
                "mapped.example" => ips(&["::ffff:198.51.100.1"]),
                "sinkhole.example" => ips(&["0.0.0.0", "::"]),
                "lo.example" => ips(&["127.0.0.1", "::1"]),
                _ => Err("name or service not known".into()),
            }
        }

        fn socket_path(&self, path: &Path) -> PathBuf {
            match path.to_str() {
                Some("/var/run/bot.sock") => PathBuf::from("/run/bot.sock"),
                _ => path.to_path_buf(),
            }
        }
    }

    fn fake() -> Fake {
        Fake {
            asked: RefCell::new(Vec::new()),
        }
    }

    fn config(text: &str) -> Config {
        match Config::parse(Path::new("t.conf"), text, "alice") {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        }
    }

    fn resolve(text: &str) -> Result<NetworkPolicy, String> {
        NetworkPolicy::resolve(&config(text), &fake()).map_err(|error| error.to_string())
    }

    fn rules(policy: &NetworkPolicy) -> Vec<(Protocol, String, String, usize)> {
        policy
            .connect
            .iter()
            .map(|rule| {
                (
                    rule.protocol,
                    rule.net.to_string(),
                    rule.ports.to_string(),
                    rule.line,
                )
            })
            .collect()
    }

    #[test]
    fn names_become_their_addresses_and_blocks_stay() {
        let policy = resolve(
            "connect tcp example.org:443\nconnect udp 10.0.0.0/8:53\n\
             connect tcp mapped.example:*\nconnect udp localhost:5353\n\
             bind tcp 8000\nnet none\n",
        )
        .unwrap();
        assert_eq!(
            rules(&policy),
            [
                (Protocol::Tcp, "192.0.2.7".into(), "443".into(), 1),
                (Protocol::Tcp, "2001:db8::7".into(), "443".into(), 1),
                (Protocol::Udp, "10.0.0.0/8".into(), "53".into(), 2),
                (Protocol::Tcp, "198.51.100.1".into(), "*".into(), 3),
                (Protocol::Udp, "127.0.0.1".into(), "5353".into(), 4),
                (Protocol::Udp, "::1".into(), "5353".into(), 4),
            ]
        );
        assert_eq!(
            policy.names,
            [
                ResolvedName {
                    name: "example.org".into(),
                    addresses: vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()],
                },
                ResolvedName {
                    name: "mapped.example".into(),
                    addresses: vec!["198.51.100.1".parse().unwrap()],
                },
            ]
        );
        assert_eq!(policy.bind.len(), 1);
        assert_eq!(policy.bind[0].ports, PortRange::single(8000));
        assert_eq!(policy.mode, NetMode::None);
        assert!(!policy.abstract_unix_scoped);
    }

    #[test]
    fn each_name_is_looked_up_once_and_localhost_never() {
        let fake = fake();
        let text = "connect tcp example.org:443\nconnect udp EXAMPLE.org:53\n\
                    connect tcp localhost:80\nconnect tcp example.org:443\n";
        let policy = NetworkPolicy::resolve(&config(text), &fake).unwrap();
        assert_eq!(*fake.asked.borrow(), ["example.org"]);
        // The repeated line adds no rule twice.
        assert_eq!(policy.connect.len(), 6);
        assert_eq!(policy.names.len(), 1);
    }

    #[test]
    fn a_name_that_does_not_resolve_fails_closed_naming_its_line() {
        let error = resolve("see /usr\nident alice\nconnect tcp nowhere.invalid:443\nend\n");
        assert_eq!(
            error,
            Err(
                "t.conf:3: `connect tcp nowhere.invalid:443`: the host `nowhere.invalid` does \
                 not resolve (name or service not known); expected a name that resolves when \
                 the jail starts and each time a session resumes"
                    .into()
            )
        );
        let sinkhole = resolve("connect udp sinkhole.example:53\n").unwrap_err();
        assert!(
            sinkhole.starts_with("t.conf:1: `connect udp sinkhole.example:53`: the host `sinkhole.example` resolves to no address"),
            "{sinkhole}"
        );
    }

    #[test]
    fn a_name_of_loopback_only_contradicts_net_loopback() {
        let error = resolve("net loopback\nconnect tcp lo.example:80\n").unwrap_err();
        assert_eq!(
            error,
            "t.conf:2: `connect tcp lo.example:80`: the host `lo.example` resolves to loopback \
             addresses only, which `net loopback` (line 1) keeps for the jail's own processes; \
             expected no `connect` line for a loopback address under `net loopback`"
        );
        // Under `net none` loopback is a destination like any other.
        let policy = resolve("connect tcp lo.example:80\n").unwrap();
        assert_eq!(policy.connect.len(), 2);
    }

    #[test]
    fn socket_paths_are_canonical_and_kept_once() {
        let policy = resolve(
            "connect unix:/var/run/bot.sock\nconnect unix:/run/bot.sock\nconnect unix:/srv/a b.sock\n",
        )
        .unwrap();
        assert_eq!(
            policy.unix,
            [
                PathBuf::from("/run/bot.sock"),
                PathBuf::from("/srv/a b.sock")
            ]
        );
    }

    #[test]
    fn no_lines_resolve_to_the_closed_policy() {
        let fake = fake();
        let policy = NetworkPolicy::resolve(&config("see /usr\n"), &fake).unwrap();
        assert_eq!(policy, NetworkPolicy::default());
        assert!(policy.is_closed());
        assert!(fake.asked.borrow().is_empty());
    }

    #[test]
    fn a_closure_is_a_resolver() {
        let only = |name: &str| -> Result<Vec<IpAddr>, String> {
            match name {
                "db.internal" => Ok(vec!["10.1.2.3".parse().unwrap()]),
                _ => Err("not found".into()),
            }
        };
        let policy =
            NetworkPolicy::resolve(&config("connect tcp db.internal:5432\n"), &only).unwrap();
        assert_eq!(
            rules(&policy),
            [(Protocol::Tcp, "10.1.2.3".into(), "5432".into(), 1)]
        );
    }
}
