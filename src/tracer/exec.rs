//! What the kernel opens on its own when it runs a file: the interpreter
//! named on a script's `#!` line, or the program interpreter (dynamic
//! loader) named in an ELF file's `PT_INTERP` header. No syscall of the
//! program opens them, so the tracer must judge them at the exec.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// How many nested `#!` interpreters the kernel follows.
pub const MAX_INTERPRETER_DEPTH: usize = 5;

const PT_INTERP: u32 = 3;

/// The path the kernel would open next when executing `path`, if any.
/// Files the tracer cannot read are not inspected (the kernel can run a
/// file that is executable but not readable; it then opens nothing the
/// jail could not already see).
pub fn interpreter_of(path: &Path) -> Option<Vec<u8>> {
    let mut file = File::open(path).ok()?;
    let mut head = [0u8; 256];
    let count = file.read(&mut head).ok()?;
    let head = &head[..count];
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&byte| byte == b'\n').next()?;
        let interpreter = line
            .split(|&byte| byte == b' ' || byte == b'\t')
            .find(|word| !word.is_empty())?;
        return Some(interpreter.to_vec());
    }
    elf_interpreter(&file, head)
}

fn elf_interpreter(file: &File, head: &[u8]) -> Option<Vec<u8>> {
    // 64-bit little-endian ELF only: a 32-bit program's syscalls are all
    // refused by the filter anyway.
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return None;
    }
    let u16_at = |offset: usize| u16::from_le_bytes([head[offset], head[offset + 1]]);
    let u64_at = |bytes: &[u8], offset: usize| {
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[offset..offset + 8]);
        u64::from_le_bytes(value)
    };
    let table = u64_at(head, 0x20);
    let entry_size = usize::from(u16_at(0x36));
    let entries = usize::from(u16_at(0x38));
    if entry_size < 56 || entries > 256 {
        return None;
    }
    let mut headers = vec![0u8; entry_size * entries];
    file.read_exact_at(&mut headers, table).ok()?;
    for entry in headers.chunks_exact(entry_size) {
        let kind = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        if kind != PT_INTERP {
            continue;
        }
        let offset = u64_at(entry, 8);
        let size = usize::try_from(u64_at(entry, 0x20)).ok()?.min(4096);
        let mut name = vec![0u8; size];
        file.read_exact_at(&mut name, offset).ok()?;
        let end = name
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(name.len());
        name.truncate(end);
        return Some(name);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_programs_name_their_loader() {
        let loader = interpreter_of(Path::new("/bin/sh")).expect("sh is dynamic");
        assert!(
            loader.starts_with(b"/lib"),
            "{:?}",
            String::from_utf8_lossy(&loader)
        );
    }

    #[test]
    fn scripts_name_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!  /usr/bin/env  python3\nprint(1)\n").unwrap();
        assert_eq!(interpreter_of(&script), Some(b"/usr/bin/env".to_vec()));
    }
}
