//! The `sandbox` command: a thin layer over the library.
//!
//! `sandbox <config.conf> <ident> [program [args...]]` runs a program in
//! the jail; `sandbox <config.conf> kill <ident>` ends a suspended session.

use sandbox::error::status;
use sandbox::{Ending, Jail};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Writes one line to stderr, ignoring failure: a closed stderr must not
/// turn into a panic (`eprintln!` panics when the write fails).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

const USAGE: &str = "usage: sandbox <config.conf> <ident> [program [args...]]\n       \
                     sandbox <config.conf> kill <ident>";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() < 2 {
        say!("{USAGE}");
        return ExitCode::from(status::USAGE);
    }
    let config = PathBuf::from(&args[0]);
    if args[1] == "kill" {
        if args.len() != 3 {
            say!("{USAGE}");
            return ExitCode::from(status::USAGE);
        }
        // Suspended sessions do not exist yet, so there is nothing to end.
        let _ = writeln!(std::io::stdout(), "Done");
        return ExitCode::SUCCESS;
    }
    let ident = args[1].to_string_lossy().into_owned();
    let result = Jail::load(&config, &ident).and_then(|jail| jail.run(&args[2..]));
    match result {
        Ok(Ending::Exited(code)) => ExitCode::from(code as u8),
        Ok(Ending::Killed(signal)) => {
            say!("[{}]", sandbox::sys::signal_description(signal));
            ExitCode::from(128u8.wrapping_add(signal as u8))
        }
        Ok(Ending::TimedOut) => {
            say!("[Timed out]");
            ExitCode::from(status::TIMED_OUT)
        }
        Err(error) => {
            say!("sandbox: {error}");
            ExitCode::from(error.exit_status())
        }
    }
}
