//! Who the program runs as (`user`, `group`, `groups`): the config's names
//! looked up in the system's user database when the jail starts, and
//! checked against who the jail itself is.
//!
//! Owns the lookup and the checks (a name nobody has, a `#uid` with no
//! group to take, another identity asked of a jail that is not root). It
//! changes nothing: the child sets the identity after `fork`
//! ([`crate::launch`]), from the numbers resolved here, since the C
//! library's lookups are not async-signal-safe.

use crate::config::Config;
use crate::config::limits::IdName;
use nix::unistd::{Gid, Group, Uid, User};
use std::fmt;
use std::path::PathBuf;

/// The numbers the program runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<libc::gid_t>,
}

impl Identity {
    /// The user or group differ from the jail's own: the program can then
    /// no longer reach the tracer's `/proc` (the kernel's ptrace access
    /// check compares them), only the keeper's.
    pub fn changes_credentials(&self) -> bool {
        self.uid != Uid::current().as_raw() || self.gid != Gid::current().as_raw()
    }
}

/// A `user`, `group` or `groups` line the jail cannot honour; nothing ran.
#[derive(Debug)]
pub enum IdentityError {
    /// No such user or group, or the database could not be read.
    Unknown {
        file: PathBuf,
        line: usize,
        keyword: &'static str,
        name: String,
        reason: String,
    },
    /// `user #<uid>` with no entry in the user database and no `group`.
    NoGroup {
        file: PathBuf,
        line: usize,
        uid: u32,
    },
    /// Another identity, asked of a jail that is not root.
    Unprivileged {
        file: PathBuf,
        line: usize,
        keyword: &'static str,
        value: String,
        uid: u32,
        gid: u32,
    },
    /// Another user or group, and no Landlock (and so no keeper) here.
    NoLandlock {
        file: PathBuf,
        line: usize,
        keyword: &'static str,
        value: String,
        reason: String,
    },
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::Unknown {
                file,
                line,
                keyword,
                name,
                reason,
            } => write!(
                f,
                "{}:{line}: `{keyword} {name}`: {reason}; expected a name the system's \
                 database has, or `#` and a number",
                file.display()
            ),
            IdentityError::NoGroup { file, line, uid } => write!(
                f,
                "{}:{line}: `user #{uid}`: the user database has no user {uid} to take a \
                 group from; expected a `group` line as well",
                file.display()
            ),
            IdentityError::Unprivileged {
                file,
                line,
                keyword,
                value,
                uid,
                gid,
            } => write!(
                f,
                "{}:{line}: `{keyword} {value}`: only a jail started as root can run the \
                 program as another user or with other groups, and this one runs as uid \
                 {uid} (gid {gid}); expected no `user`, `group` or `groups` line that \
                 changes them, or the jail started as root",
                file.display()
            ),
            IdentityError::NoLandlock {
                file,
                line,
                keyword,
                value,
                reason,
            } => write!(
                f,
                "{}:{line}: `{keyword} {value}`: the program can run as another user or \
                 group only under Landlock, which this kernel does not offer ({reason}): \
                 the jail hands it files through a keeper in its Landlock domain",
                file.display()
            ),
        }
    }
}

impl std::error::Error for IdentityError {}

/// The identity the config asks for, if it asks for one that differs
/// from the jail's own (`None`: the program runs as the jail does).
pub fn resolve(config: &Config) -> Result<Option<Identity>, IdentityError> {
    let limits = &config.limits;
    if limits.user.is_none() && limits.group.is_none() && limits.groups.is_none() {
        return Ok(None);
    }
    let line_of = |at: Option<(usize, usize)>| at.map_or(0, |(line, _)| line);
    let unknown = |keyword, name: &str, at, reason: String| IdentityError::Unknown {
        file: config.file.clone(),
        line: line_of(at),
        keyword,
        name: name.to_owned(),
        reason,
    };
    let current_uid = Uid::current().as_raw();
    let current_gid = Gid::current().as_raw();
    // The user, and the group it brings when named.
    let (uid, primary) = match &limits.user {
        None => (current_uid, None),
        Some(IdName::Id(uid)) => {
            let entry = User::from_uid(Uid::from_raw(*uid)).ok().flatten();
            (*uid, entry.map(|user| user.gid.as_raw()))
        }
        Some(IdName::Name(name)) => match User::from_name(name) {
            Ok(Some(user)) => (user.uid.as_raw(), Some(user.gid.as_raw())),
            Ok(None) => {
                return Err(unknown(
                    "user",
                    name,
                    limits.lines.user,
                    "no such user in the system's user database".into(),
                ));
            }
            Err(errno) => {
                return Err(unknown(
                    "user",
                    name,
                    limits.lines.user,
                    format!("cannot read the user database: {}", errno.desc()),
                ));
            }
        },
    };
    let group_id = |keyword, name: &IdName, at| match name {
        IdName::Id(gid) => Ok(*gid),
        IdName::Name(name) => match Group::from_name(name) {
            Ok(Some(group)) => Ok(group.gid.as_raw()),
            Ok(None) => Err(unknown(
                keyword,
                name,
                at,
                "no such group in the system's group database".into(),
            )),
            Err(errno) => Err(unknown(
                keyword,
                name,
                at,
                format!("cannot read the group database: {}", errno.desc()),
            )),
        },
    };
    let gid = match (&limits.group, &limits.user, primary) {
        (Some(group), _, _) => group_id("group", group, limits.lines.group)?,
        (None, Some(_), Some(primary)) => primary,
        (None, Some(_), None) => {
            return Err(IdentityError::NoGroup {
                file: config.file.clone(),
                line: line_of(limits.lines.user),
                uid,
            });
        }
        (None, None, _) => current_gid,
    };
    let groups = match &limits.groups {
        Some(names) => names
            .iter()
            .map(|name| group_id("groups", name, limits.lines.groups))
            .collect::<Result<Vec<_>, _>>()?,
        // Another user or group starts with no supplementary groups;
        // otherwise the jail's are kept.
        None if uid != current_uid || gid != current_gid => Vec::new(),
        None => current_groups(),
    };
    let identity = Identity { uid, gid, groups };
    let mut same_groups = identity.groups.clone();
    same_groups.sort_unstable();
    same_groups.dedup();
    let mut own = current_groups();
    own.sort_unstable();
    own.dedup();
    if !identity.changes_credentials() && same_groups == own {
        return Ok(None);
    }
    if !Uid::effective().is_root() {
        // The first line that asks for a change.
        let (keyword, value, at) = if uid != current_uid {
            ("user", limits.user.as_ref(), limits.lines.user)
        } else if gid != current_gid && limits.group.is_some() {
            ("group", limits.group.as_ref(), limits.lines.group)
        } else if limits.groups.is_some() {
            ("groups", None, limits.lines.groups)
        } else {
            ("user", limits.user.as_ref(), limits.lines.user)
        };
        let value = match (keyword, value) {
            ("groups", _) => limits
                .groups
                .iter()
                .flatten()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            (_, Some(value)) => value.to_string(),
            (_, None) => String::new(),
        };
        return Err(IdentityError::Unprivileged {
            file: config.file.clone(),
            line: line_of(at),
            keyword,
            value,
            uid: current_uid,
            gid: current_gid,
        });
    }
    Ok(Some(identity))
}

/// The error for an identity that needs the keeper where there is none.
pub fn needs_landlock(config: &Config, reason: String) -> IdentityError {
    let limits = &config.limits;
    let (keyword, value, at) = match (&limits.user, &limits.group) {
        (Some(user), _) => ("user", user.to_string(), limits.lines.user),
        (None, Some(group)) => ("group", group.to_string(), limits.lines.group),
        (None, None) => ("groups", String::new(), limits.lines.groups),
    };
    IdentityError::NoLandlock {
        file: config.file.clone(),
        line: at.map_or(0, |(line, _)| line),
        keyword,
        value,
        reason,
    }
}

fn current_groups() -> Vec<libc::gid_t> {
    nix::unistd::getgroups()
        .map(|groups| groups.into_iter().map(Gid::as_raw).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("t.conf"), text, "alice").unwrap()
    }

    #[test]
    fn no_identity_line_changes_nothing() {
        assert_eq!(resolve(&config("")).unwrap(), None);
        // Naming who the jail is changes nothing either.
        let own = format!(
            "user #{}\ngroup #{}\n",
            Uid::current().as_raw(),
            Gid::current().as_raw()
        );
        let own_groups: Vec<String> = current_groups().iter().map(|g| format!("#{g}")).collect();
        let text = if own_groups.is_empty() {
            own
        } else {
            format!("{own}groups {}\n", own_groups.join(","))
        };
        assert_eq!(resolve(&config(&text)).unwrap(), None);
    }

    #[test]
    fn names_nobody_has_are_errors_naming_the_line() {
        let error = resolve(&config("\nuser no-such-user-xyz\n")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.conf:2: `user no-such-user-xyz`: no such user in the system's user database; \
             expected a name the system's database has, or `#` and a number"
        );
        let error = resolve(&config("user #0\ngroup no-such-group-xyz\n")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("t.conf:2: `group no-such-group-xyz`: no such group"),
            "{error}"
        );
        let error = resolve(&config("user #0\ngroups #5,no-such-group-xyz\n")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("t.conf:2: `groups no-such-group-xyz`: no such group"),
            "{error}"
        );
    }

    #[test]
    fn a_number_without_an_entry_needs_a_group_line() {
        // No system has this user.
        let error = resolve(&config("user #3999999999\n")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("t.conf:1: `user #3999999999`: the user database has no user"),
            "{error}"
        );
    }

    #[test]
    fn root_gets_the_user_and_its_primary_group() {
        if !Uid::effective().is_root() {
            let error = resolve(&config("user #0\n")).unwrap_err();
            assert!(
                error.to_string().contains("only a jail started as root"),
                "{error}"
            );
            return;
        }
        let Ok(Some(nobody)) = User::from_name("nobody") else {
            return;
        };
        let identity = resolve(&config("user nobody\n")).unwrap().unwrap();
        assert_eq!(
            identity,
            Identity {
                uid: nobody.uid.as_raw(),
                gid: nobody.gid.as_raw(),
                groups: Vec::new(),
            }
        );
        let identity = resolve(&config("user nobody\ngroup #7\ngroups #8,#9\n"))
            .unwrap()
            .unwrap();
        assert_eq!(identity.gid, 7);
        assert_eq!(identity.groups, [8, 9]);
    }
}
