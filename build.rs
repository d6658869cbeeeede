//! Link options for the `sandbox` binary alone.
//!
//! Its start is most of a template run's time (docs/performance.md, "warm
//! copies"), and most of that start was the loader applying some 20 000
//! relative relocations from a 480 KiB table. Packed relative relocations
//! (`DT_RELR`, glibc 2.36 and later) keep the binary position-independent
//! (ASLR and full RELRO as before) with a 3 KiB table. A linker that does
//! not know the option warns and ignores it.

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
