//! The synthetic `/etc/hosts` the jail serves to the program.
//!
//! Owns its text, from the names the policy resolved at start: the
//! program finds exactly those names, with exactly the addresses the
//! policy allows, and `localhost`; nothing else resolves, and no DNS
//! traffic is needed. Pure: serving the text as a read-only file is the
//! tracer's (as it serves `http` URLs).

use super::NetworkPolicy;

/// The first lines of every jail's `/etc/hosts`.
const HEADER: &str = "\
# /etc/hosts of a sandbox jail: the hosts its connect lines name; nothing else resolves.
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
";

impl NetworkPolicy {
    /// `/etc/hosts` for the program: the `localhost` lines, then one line
    /// per address of each resolved name, in the order of the config's
    /// lines and of the resolver's answer (the C library's preference,
    /// which `getaddrinfo` in the jail then keeps).
    pub fn etc_hosts(&self) -> String {
        let mut text = String::from(HEADER);
        for resolved in &self.names {
            // The config admits only such names; one built by hand with a
            // blank, `#` or a newline would corrupt the file, so it is
            // left out rather than written.
            if !is_plain_name(&resolved.name) {
                continue;
            }
            for address in &resolved.addresses {
                text.push_str(&format!("{address}\t{}\n", resolved.name));
            }
        }
        text
    }
}

/// Letters, digits, `-`, `_` and `.`: nothing a hosts file would read as
/// a separator, a comment or the end of a line.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::network::ResolvedName;

    #[test]
    fn localhost_then_each_name_per_address_in_order() {
        let policy = NetworkPolicy {
            names: vec![
                ResolvedName {
                    name: "example.org".into(),
                    addresses: vec![
                        "93.184.215.14".parse().unwrap(),
                        "2606:2800:21f:cb07:6820:80da:af6b:8b2c".parse().unwrap(),
                    ],
                },
                ResolvedName {
                    name: "db.internal".into(),
                    addresses: vec!["10.1.2.3".parse().unwrap()],
                },
            ],
            ..NetworkPolicy::default()
        };
        assert_eq!(
            policy.etc_hosts(),
            "# /etc/hosts of a sandbox jail: the hosts its connect lines name; nothing else resolves.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             93.184.215.14\texample.org\n\
             2606:2800:21f:cb07:6820:80da:af6b:8b2c\texample.org\n\
             10.1.2.3\tdb.internal\n"
        );
    }

    #[test]
    fn without_names_only_localhost_resolves() {
        assert_eq!(NetworkPolicy::default().etc_hosts(), HEADER);
    }

    #[test]
    fn a_name_that_could_corrupt_the_file_is_left_out() {
        let policy = NetworkPolicy {
            names: vec![ResolvedName {
                name: "evil\n1.2.3.4 bank.example".into(),
                addresses: vec!["10.0.0.1".parse().unwrap()],
            }],
            ..NetworkPolicy::default()
        };
        assert_eq!(policy.etc_hosts(), HEADER);
    }
}
