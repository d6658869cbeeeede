//! Escape suite: attacks on the read-only scratch region (0x10000 to
//! 0x400000) where the jail hands the kernel its copies of arguments.
//!
//! `memory TRICK...` runs each trick in a fresh forked child after making
//! sure the region exists (in the jail, an `openat2` makes the tracer map
//! it; natively the fixture maps a stand-in of the same shape). Natively
//! every trick works on the stand-in (the control); in the jail each must
//! fail.

use crate::support::{Jail, run_native};
use std::time::Duration;

fn control_and_jail(j: &Jail, tricks: &[&str]) {
    let t = Jail::new();
    let mut native = vec![t.escape_bin("memory")];
    native.extend(tricks.iter().map(|s| s.to_string()));
    let out = run_native(&native, Duration::from_secs(20));
    let lines = out.lines();
    for (i, trick) in tricks.iter().enumerate() {
        assert_eq!(
            lines.get(i).copied(),
            Some("ok"),
            "control void: natively {trick} did not work on the stand-in region\n{}",
            out.describe()
        );
    }

    let mut argv = vec![j.escape_bin("memory")];
    argv.extend(tricks.iter().map(|s| s.to_string()));
    let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
    let lines = out.lines();
    let mut escaped = Vec::new();
    for (i, trick) in tricks.iter().enumerate() {
        match lines.get(i).copied() {
            Some("ok") => escaped.push(format!("{trick}: ok")),
            None => escaped.push(format!("{trick}: no output")),
            Some(_) => {}
        }
    }
    assert!(
        escaped.is_empty(),
        "ESCAPE: tricks on the scratch region worked in the jail: {escaped:?}\n{}",
        out.describe()
    );
}

#[test]
fn escape_memory_scratch_region_cannot_be_unmapped_or_remapped() {
    let j = Jail::new();
    control_and_jail(
        &j,
        &[
            "munmap",
            "mremap_move",
            "mremap_onto",
            "mremap_dontunmap",
            "mmap_fixed",
            "mmap_fixed_below",
            "shmat_remap",
        ],
    );
}

#[test]
fn escape_memory_scratch_region_cannot_be_made_writable() {
    let j = Jail::new();
    control_and_jail(&j, &["mprotect", "pkey_mprotect"]);
}

#[test]
fn escape_memory_scratch_region_cannot_be_discarded_with_madvise() {
    let j = Jail::new();
    control_and_jail(&j, &["madvise_dontneed"]);
}

#[test]
fn escape_memory_scratch_region_cannot_be_written_through_proc_self_mem() {
    let mut j = Jail::new();
    j.add_config("see /proc\n");
    control_and_jail(&j, &["procmem"]);
}

#[test]
fn escape_memory_process_vm_writev_into_another_jailed_process_is_refused() {
    let j = Jail::new();
    control_and_jail(&j, &["vm_writev_other"]);
}

#[test]
fn escape_memory_region_taken_first_by_the_program_lets_no_path_escape() {
    // A fresh process maps a writable region where the scratch region goes
    // (no MAP_FIXED, so the filter lets the hint through) before the tracer
    // maps its own, then scribbles a hidden path over all of it while it
    // opens a visible file through openat2 (always handed over in scratch).
    let t = Jail::new();
    let out = memory_race_native(&t, "premap_race");
    assert!(
        out.stdout.starts_with("placed 1 "),
        "control void: natively the region's place could not be taken\n{}",
        out.describe()
    );
    for (name, config) in [("default config", ""), ("landlock off", "landlock off\n")] {
        let mut j = Jail::new();
        j.add_config(config);
        let argv = [
            j.escape_bin("memory"),
            "premap_race".into(),
            j.p("ro/file"),
            j.p("hidden/file"),
            "20000".into(),
            "4".into(),
        ];
        let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
        assert!(
            out.stdout.contains(" escapes 0 "),
            "ESCAPE [{name}]: a path escaped through a region the program mapped first\n{}",
            out.describe()
        );
        eprintln!("premap [{name}]: {}", out.stdout.trim());
    }
}

#[test]
fn escape_memory_write_proc_self_does_not_open_the_scratch_region() {
    // `write /proc/self` now means the program's own /proc entry, its
    // `mem` included: written through it, the read-only region where the
    // tracer hands the kernel its checked paths is the program's to change
    // between the check and the kernel's read. With `landlock off` a
    // hidden file opens; under Landlock, which then grants all of /proc,
    // any /proc entry does (/proc/sys included: a root program could open
    // /proc/sys/kernel/core_pattern for writing).
    let t = Jail::new();
    let out = memory_race_native(&t, "procmem_race");
    assert!(
        out.stdout.starts_with("mem 1 "),
        "control void: natively /proc/self/mem does not write a read-only mapping\n{}",
        out.describe()
    );
    for (name, config) in [("default config", ""), ("landlock off", "landlock off\n")] {
        let mut j = Jail::new();
        j.add_config("write /proc/self\n");
        j.add_config(config);
        for hidden in [j.p("hidden/file"), "/proc/1/cmdline".to_string()] {
            let argv = [
                j.escape_bin("memory"),
                "procmem_race".into(),
                j.p("ro/file"),
                hidden.clone(),
                "20000".into(),
                "4".into(),
            ];
            let out = j.cmd(&argv).timeout(Duration::from_secs(20)).run();
            assert!(
                out.stdout.contains(" escapes 0 "),
                "ESCAPE [{name}]: with {hidden} written over /proc/self/mem, another file than the one judged opened\n{}",
                out.describe()
            );
            eprintln!("procmem [{name}] {hidden}: {}", out.stdout.trim());
        }
    }
}

/// The memory fixture's `mode` race natively in `t`'s tree (a visible and
/// a hidden file, 2000 tries, 2 s): the control.
fn memory_race_native(t: &Jail, mode: &str) -> crate::support::Output {
    run_native(
        &[
            t.escape_bin("memory"),
            mode.into(),
            t.p("ro/file"),
            t.p("hidden/file"),
            "2000".into(),
            "2".into(),
        ],
        Duration::from_secs(20),
    )
}
