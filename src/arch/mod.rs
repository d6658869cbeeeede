//! Architecture layer: syscall numbers, audit arch and registers.
//!
//! Everything that differs between CPU architectures lives below this
//! module; the rest of the jail speaks of syscalls by name
//! ([`crate::syscall`]) and reaches registers through [`native`]. Numbers
//! come from the `syscalls` crate, which has every architecture's. Only
//! x86_64 exists today; an `aarch64.rs` with the same items slots in beside
//! it.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64 as native;

/// Every native syscall as `(number, name)`, in number order: the
/// `syscalls` crate's table for the target architecture (generated from
/// the kernel's own tables; for x86_64, `syscall_64.tbl`).
pub fn syscalls() -> impl Iterator<Item = (u32, &'static str)> {
    static ALL: syscalls::SysnoSet = syscalls::SysnoSet::all();
    ALL.iter().map(|sysno| (sysno.id() as u32, sysno.name()))
}

/// Looks up a native syscall number by name (used to build tables and tests).
pub fn number_of(name: &str) -> Option<u32> {
    name.parse::<syscalls::Sysno>()
        .ok()
        .map(|sysno| sysno.id() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_number_order_without_repeats() {
        let table: Vec<(u32, &str)> = syscalls().collect();
        for pair in table.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
    }

    /// Spot checks against the kernel's table, the first and the last
    /// entries included (the crate's own `Sysno::iter` leaves out the last).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn numbers_are_the_kernels() {
        let table: Vec<(u32, &str)> = syscalls().collect();
        assert_eq!(table.first(), Some(&(0, "read")));
        assert_eq!(table.last(), Some(&(469, "file_setattr")));
        assert_eq!(table.len(), 383);
        for (number, name) in [
            (2, "open"),
            (56, "clone"),
            (59, "execve"),
            (101, "ptrace"),
            (257, "openat"),
            (317, "seccomp"),
            (334, "rseq"),
            (335, "uretprobe"),
            (336, "uprobe"),
            (424, "pidfd_send_signal"),
            (435, "clone3"),
            (437, "openat2"),
            (444, "landlock_create_ruleset"),
        ] {
            assert_eq!(number_of(name), Some(number), "{name}");
            assert!(table.contains(&(number, name)), "{name}");
        }
        assert_eq!(number_of("frobnicate"), None);
    }
}
