//! The smallest use of the library: a policy in code, one program run in
//! the jail, its output, how it ended and what the jail refused.
//!
//! ```sh
//! cargo build --release          # the `sandbox` binary the library runs
//! cargo run --release --example minimal
//! ```

use sandbox::Jail;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // What the program may see and write, as config lines (docs/config.md).
    let jail = Jail::builder()
        .see("/usr")
        .see("/bin")
        .see("/lib")
        .see("/lib64")
        .see("/etc/ld.so.cache")
        .timelimit(Duration::from_secs(5))
        .build()?;
    // Found next to this program, in SANDBOX_BIN or on PATH; or say where:
    // `.with_binary("/usr/local/bin/sandbox")`.
    let output = jail
        .command("/bin/sh")
        .args(["-c", "echo hello from the jail; cat /etc/passwd; exit 3"])
        .output()?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    print!("{}", String::from_utf8_lossy(&output.stderr));
    println!("{}", output.status);
    for denial in &output.report.denials {
        println!(
            "denied: {} {} ({}), allowed by `{}`",
            denial.syscall,
            denial.path.as_deref().unwrap_or(""),
            denial.errno.as_deref().unwrap_or("-"),
            denial.allow.as_deref().unwrap_or("no line"),
        );
    }
    Ok(())
}
