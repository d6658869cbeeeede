//! The `sandbox` command: a thin layer over the library.
//!
//! `sandbox <config.conf> <ident> [program [args...]]` runs a program in
//! the jail (or, with `wakeup`, one command of the ident's session);
//! `sandbox <config.conf> kill <ident>` ends a suspended session: `kill`
//! as the second word is always that command, so an ident named `kill`
//! cannot be run.

use sandbox::error::status;
use sandbox::session::{self, ClientEnding, Ident};
use sandbox::{Ending, Jail};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Writes one line to stderr, ignoring failure: a closed stderr must not
/// turn into a panic (`eprintln!` panics when the write fails), and a full
/// one must not keep the jail from exiting ([`sandbox::notice`]).
macro_rules! say {
    ($($arg:tt)*) => {{
        sandbox::notice::line(&format!($($arg)*));
    }};
}

const USAGE: &str = "usage: sandbox <config.conf> <ident> [program [args...]]\n       \
                     sandbox <config.conf> kill <ident>";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Pipe(Box::new(sandbox::notice::Stderr)))
        .init();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() < 2 {
        say!("{USAGE}");
        return ExitCode::from(status::USAGE);
    }
    let config = PathBuf::from(&args[0]);
    let killing = args[1] == "kill";
    if killing && args.len() != 3 {
        say!("{USAGE}");
        say!(
            "sandbox: `kill` after the config is always the kill command \
             (an ident named `kill` cannot be run): give one ident to end"
        );
        return ExitCode::from(status::USAGE);
    }
    let ident_text = if killing { &args[2] } else { &args[1] };
    let ident = match Ident::new(ident_text.as_bytes()) {
        Ok(ident) => ident,
        Err(error) => {
            say!("sandbox: bad ident: {error}");
            return ExitCode::from(status::USAGE);
        }
    };
    let jail = match Jail::load(&config, ident.as_bytes()) {
        Ok(jail) => jail,
        Err(error) => return fail(&error.to_string(), error.exit_status()),
    };
    if killing {
        return match session::kill(&jail, &ident) {
            Ok(()) => {
                let _ = writeln!(std::io::stdout(), "Done");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error.to_string(), error.exit_status()),
        };
    }
    let program = &args[2..];
    if jail.config.wakeup {
        return match session::run(&jail, &ident, program) {
            Ok(ClientEnding::Done) => ExitCode::SUCCESS,
            Ok(ClientEnding::Exited(code)) => ExitCode::from(code as u8),
            Ok(ClientEnding::Killed(signal)) => killed(signal),
            Ok(ClientEnding::TimedOut) => timed_out(),
            Ok(ClientEnding::Ended) => fail("the session was ended", status::JAIL_FAILED),
            Err(error) => fail(&error.to_string(), error.exit_status()),
        };
    }
    match jail.run(program) {
        Ok(Ending::Exited(code)) => ExitCode::from(code as u8),
        Ok(Ending::Killed(signal)) => killed(signal),
        Ok(Ending::TimedOut) => timed_out(),
        Err(error) => fail(&error.to_string(), error.exit_status()),
    }
}

fn fail(message: &str, status: u8) -> ExitCode {
    say!("sandbox: {message}");
    ExitCode::from(status)
}

fn killed(signal: i32) -> ExitCode {
    say!("[{}]", sandbox::sys::signal_description(signal));
    ExitCode::from(128u8.wrapping_add(signal as u8))
}

fn timed_out() -> ExitCode {
    say!("[Timed out]");
    ExitCode::from(status::TIMED_OUT)
}
