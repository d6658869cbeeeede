//! Which sockets an abstract unix name reaches, from the kernel's table.
//!
//! Landlock scopes abstract unix names to its domain (ABI 6), and a
//! template's runs all share the prepared process's domain: the tracer
//! keeps a connect or a send to an abstract name to the caller's run by
//! asking here which sockets hold the name, and admitting the call only
//! when every one is the run's.
//!
//! Pure: the tracer reads `/proc/net/unix` and the run's socket inodes.

/// The inodes of the sockets `/proc/net/unix` (`table`) lists as bound
/// to abstract `name` (the bytes after the leading NUL). The kernel
/// shows such a name as `@` and the name's bytes with every NUL as `@`,
/// so names differing only there are all returned: the caller admits a
/// call only if all are its own. `None` when the name holds a newline,
/// which the table's lines cannot tell apart.
pub fn abstract_socket_inodes(table: &[u8], name: &[u8]) -> Option<Vec<u64>> {
    if name.contains(&b'\n') {
        return None;
    }
    let mut shown = vec![b'@'];
    shown.extend(name.iter().map(|&byte| if byte == 0 { b'@' } else { byte }));
    let mut inodes = Vec::new();
    // Each row: Num RefCount Protocol Flags Type St Inode [Path]; the
    // path, when there is one, is the rest of the row after one space.
    for row in table.split(|&byte| byte == b'\n').skip(1) {
        let mut rest = row;
        let mut fields = Vec::with_capacity(7);
        for _ in 0..7 {
            let start = rest
                .iter()
                .position(|&byte| byte != b' ')
                .unwrap_or(rest.len());
            rest = &rest[start..];
            let end = rest
                .iter()
                .position(|&byte| byte == b' ')
                .unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = &rest[end..];
        }
        let path = rest.strip_prefix(b" ").unwrap_or(rest);
        if path != shown.as_slice() {
            continue;
        }
        if let Some(inode) = std::str::from_utf8(fields[6])
            .ok()
            .and_then(|inode| inode.parse().ok())
        {
            inodes.push(inode);
        }
    }
    Some(inodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
ffff0001: 00000002 00000000 00010000 0001 01 1001 @bot\n\
ffff0002: 00000002 00000000 00010000 0001 01 1002 @bot-d\n\
ffff0003: 00000003 00000000 00000000 0001 03 1003\n\
ffff0004: 00000002 00000000 00010000 0001 01 1004 /run/bot\n\
ffff0005: 00000002 00000000 00010000 0001 01 1005 @a@b\n\
ffff0006: 00000002 00000000 00010000 0001 01 1006 @a b\n";

    #[test]
    fn an_abstract_name_is_found_by_its_shown_form() {
        assert_eq!(abstract_socket_inodes(TABLE, b"bot"), Some(vec![1001]));
        assert_eq!(abstract_socket_inodes(TABLE, b"bot-d"), Some(vec![1002]));
        assert_eq!(abstract_socket_inodes(TABLE, b"a b"), Some(vec![1006]));
        // A path socket is not an abstract one of the same spelling.
        assert_eq!(abstract_socket_inodes(TABLE, b"/run/bot"), Some(vec![]));
        assert_eq!(abstract_socket_inodes(TABLE, b"nobody"), Some(vec![]));
    }

    #[test]
    fn names_the_table_cannot_tell_apart_all_count() {
        // `a\0b` and `a@b` both show as `@a@b`.
        assert_eq!(abstract_socket_inodes(TABLE, b"a\0b"), Some(vec![1005]));
        assert_eq!(abstract_socket_inodes(TABLE, b"a@b"), Some(vec![1005]));
        assert_eq!(abstract_socket_inodes(TABLE, b"bot\nffff"), None);
    }
}
