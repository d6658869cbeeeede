//! Architecture layer: syscall numbers, audit arch and registers.
//!
//! Everything that differs between CPU architectures lives below this
//! module; the rest of the jail speaks of syscalls by name
//! ([`crate::syscall`]) and reaches registers through [`native`]. Only x86_64
//! exists today; an `aarch64.rs` with the same items slots in beside it.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64 as native;

/// Looks up a native syscall number by name (used to build tables and tests).
pub fn number_of(name: &str) -> Option<u32> {
    native::SYSCALLS
        .iter()
        .find(|(_, candidate)| *candidate == name)
        .map(|(nr, _)| *nr)
}

/// The name of a native syscall number, if the jail knows it.
pub fn name_of(nr: u64) -> Option<&'static str> {
    native::SYSCALLS
        .iter()
        .find(|(candidate, _)| u64::from(*candidate) == nr)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_is_in_number_order_without_repeats() {
        let table = super::native::SYSCALLS;
        for pair in table.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} before {:?}", pair[0], pair[1]);
        }
    }
}
