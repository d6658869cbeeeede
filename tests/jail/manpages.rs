//! The manual pages render cleanly and describe the command as it is.

use crate::support::SANDBOX;
use std::path::Path;
use std::process::Command;

fn page(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/man")
        .join(name)
}

/// `groff -ww` (every warning) over each page: no warning, no error, and
/// some text. Needs groff (Debian: groff-base, which `.ci/run` installs).
#[test]
fn man_pages_render_without_warnings() {
    for name in ["sandbox.1", "sandbox.conf.5"] {
        let out = Command::new("groff")
            .args(["-ww", "-man", "-Tutf8"])
            .arg(page(name))
            .env("LANG", "C.UTF-8")
            .output()
            .expect("run groff (install groff-base; .ci/run does)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "groff failed on {name}:\n{stderr}");
        assert_eq!(stderr, "", "groff warns about {name}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.len() > 2000, "{name} renders to little:\n{text}");
    }
}

/// Every mode `sandbox --help` lists, and every option, is in sandbox(1).
#[test]
fn sandbox_1_covers_every_mode_and_option() {
    let manual = std::fs::read_to_string(page("sandbox.1")).expect("read sandbox.1");
    let help = Command::new(SANDBOX)
        .arg("--help")
        .output()
        .expect("run sandbox");
    let help = String::from_utf8_lossy(&help.stdout);
    let options: Vec<&str> = help
        .split_whitespace()
        .filter(|word| word.starts_with('-'))
        .map(|word| word.trim_end_matches(','))
        .collect();
    assert!(options.len() >= 5, "{help}");
    for option in options {
        let roff = option.replace('-', "\\-");
        assert!(manual.contains(&roff), "sandbox.1 lacks {option}");
    }
    for word in [
        "kill",
        "CHECK OUTPUT",
        "EXIT STATUS",
        "write\\-only",
        "hidden",
        "ancestor",
    ] {
        assert!(manual.contains(word), "sandbox.1 lacks {word}");
    }
}
