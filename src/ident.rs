//! Idents: the names of sessions.
//!
//! An ident comes from a chat message or a bot's argv: an IRC nick
//! (`Nick^`, `[nick]`, `nick|away`), a channel (`#channel`), whatever the
//! bot uses. Every ident a bot may pass is accepted except the empty one
//! and those containing NUL or `/`, whatever other bytes they hold. It is
//! never used as a path: the socket file name is made from it by
//! [`Ident::file_stem`], which percent-encodes every byte outside
//! `[A-Za-z0-9_-]`.

use std::fmt;

/// A session name: any bytes but NUL and `/`, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(Vec<u8>);

/// Why an ident was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentError {
    Empty,
    Slash,
    Nul,
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::Empty => f.write_str("the ident is empty"),
            IdentError::Slash => f.write_str("the ident contains `/`, which no ident may contain"),
            IdentError::Nul => {
                f.write_str("the ident contains a NUL byte, which no ident may contain")
            }
        }
    }
}

impl std::error::Error for IdentError {}

/// The rule for idents, on the command line and in `ident <name>` lines:
/// not empty, no NUL, no `/`.
pub fn check(bytes: &[u8]) -> Result<(), IdentError> {
    if bytes.is_empty() {
        Err(IdentError::Empty)
    } else if bytes.contains(&b'/') {
        Err(IdentError::Slash)
    } else if bytes.contains(&0) {
        Err(IdentError::Nul)
    } else {
        Ok(())
    }
}

impl Ident {
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Ident, IdentError> {
        let bytes = bytes.as_ref();
        check(bytes)?;
        Ok(Ident(bytes.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A file name part for this ident: bytes of `[A-Za-z0-9_-]` as they
    /// are, every other byte as `%XX` (upper-case hex). Different idents
    /// give different stems; a stem never contains `.` or `/` and never
    /// starts with a dot.
    pub fn file_stem(&self) -> String {
        let mut stem = String::with_capacity(self.0.len());
        for &byte in &self.0 {
            if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
                stem.push(char::from(byte));
            } else {
                stem.push_str(&format!("%{byte:02X}"));
            }
        }
        stem
    }
}

impl fmt::Display for Ident {
    /// For messages: the ident as text, with invalid UTF-8 and control
    /// characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            write!(f, "{}", chunk.valid().escape_debug())?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_bots_pass_is_accepted_and_paths_are_not() {
        let long = "a".repeat(300);
        for good in [
            "alice",
            "Nick^",
            "[nick]",
            "nick|away",
            "#channel",
            "##linux",
            "a\\b",
            "{x}`",
            "..",
            ".hidden",
            "a b",
            "é",
            "kill",
            long.as_str(),
        ] {
            assert!(Ident::new(good).is_ok(), "{good}");
        }
        assert!(Ident::new(b"#caf\xe9").is_ok());
        let cases: &[(&[u8], IdentError)] = &[
            (b"", IdentError::Empty),
            (b"/", IdentError::Slash),
            (b"a/b", IdentError::Slash),
            (b"../etc", IdentError::Slash),
            (b"a\0b", IdentError::Nul),
        ];
        for (bad, expected) in cases {
            assert_eq!(Ident::new(bad).as_ref(), Err(expected), "{bad:?}");
        }
    }

    #[test]
    fn file_stems_are_safe_and_tell_idents_apart() {
        let stem = |text: &[u8]| Ident::new(text).unwrap().file_stem();
        assert_eq!(stem(b"alice_2-x"), "alice_2-x");
        assert_eq!(stem(b"Nick^"), "Nick%5E");
        assert_eq!(stem(b"#chan"), "%23chan");
        assert_eq!(stem(b".."), "%2E%2E");
        assert_eq!(stem(b"%23chan"), "%2523chan");
        assert_eq!(stem(b"#caf\xe9"), "%23caf%E9");
        for text in [&b"[nick]"[..], b"a b", b"..", b"\n", b"\xff"] {
            let stem = stem(text);
            assert!(
                stem.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)),
                "{stem}"
            );
        }
    }
}
