//! Idents: the names of sessions.
//!
//! An ident comes from a chat message or a bot's argv, so it is hostile
//! input: it becomes a file name under `sockdir` and must never be a
//! path. Only a short run of letters, digits and `. _ - @ # + :` (chat
//! nicknames and channel names), not starting with a dot, is accepted.

use std::fmt;

/// Longest ident accepted (socket paths have a 108-byte limit).
pub const MAX_LEN: usize = 64;

const ALLOWED_PUNCTUATION: &str = "._-@#+:";

/// A validated session name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident(String);

/// Why an ident was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentError {
    Empty,
    TooLong(usize),
    LeadingDot,
    BadCharacter(char),
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::Empty => f.write_str("the ident is empty"),
            IdentError::TooLong(len) => {
                write!(
                    f,
                    "the ident is {len} bytes long; at most {MAX_LEN} are allowed"
                )
            }
            IdentError::LeadingDot => f.write_str("an ident must not start with `.`"),
            IdentError::BadCharacter(c) => write!(
                f,
                "the ident contains {c:?}; only letters, digits and `{ALLOWED_PUNCTUATION}` are allowed"
            ),
        }
    }
}

impl std::error::Error for IdentError {}

impl Ident {
    pub fn new(text: &str) -> Result<Ident, IdentError> {
        if text.is_empty() {
            return Err(IdentError::Empty);
        }
        if text.len() > MAX_LEN {
            return Err(IdentError::TooLong(text.len()));
        }
        if text.starts_with('.') {
            return Err(IdentError::LeadingDot);
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ALLOWED_PUNCTUATION.contains(*c)))
        {
            return Err(IdentError::BadCharacter(bad));
        }
        Ok(Ident(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_accepted_and_paths_are_not() {
        for good in ["alice", "#chan", "bob_2", "a.b-c", "x@irc", "+v:nick"] {
            assert!(Ident::new(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        let cases: &[(&str, IdentError)] = &[
            ("", IdentError::Empty),
            ("..", IdentError::LeadingDot),
            (".hidden", IdentError::LeadingDot),
            ("a/b", IdentError::BadCharacter('/')),
            ("../etc", IdentError::LeadingDot),
            ("a\nb", IdentError::BadCharacter('\n')),
            ("a\0b", IdentError::BadCharacter('\0')),
            ("a b", IdentError::BadCharacter(' ')),
            ("é", IdentError::BadCharacter('é')),
            (&long, IdentError::TooLong(MAX_LEN + 1)),
        ];
        for (bad, expected) in cases {
            assert_eq!(Ident::new(bad).as_ref(), Err(expected), "{bad:?}");
        }
    }
}
