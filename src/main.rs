//! The `sandbox` command: a thin layer over the library.
//!
//! `sandbox <config.conf> <ident> [program [args...]]` runs a program in
//! the jail (or, with `wakeup`, one command of the ident's session);
//! `sandbox <config.conf> kill <ident>` ends a suspended session (with
//! `--config-fd <n> [--config-name <name>]` in place of the file, the
//! config's text comes from an inherited descriptor): `kill`
//! as the second word is always that command, so an ident named `kill`
//! cannot be run; `sandbox --check <config.conf> [<ident> [<path>...]]`
//! says what a config means here without running anything; `--help` and
//! `--version`.

use sandbox::error::status;
use sandbox::session::{self, Ident};
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
                     sandbox <config.conf> kill <ident>\n       \
                     sandbox <config.conf> changes|commit|discard <ident>\n       \
                     sandbox --config-fd <n> [--config-name <name>] <ident> [program [args...]]\n       \
                     sandbox --config-fd <n> [--config-name <name>] kill <ident>\n       \
                     sandbox --kill-template <config.conf>\n       \
                     sandbox --check <config.conf> [<ident> [<path>...]]\n       \
                     sandbox --help | --version";

/// `--help`: the usage and what each mode does.
const HELP: &str = "\
sandbox: a jail for untrusted programs (seccomp, ptrace and Landlock)

Modes:
  sandbox <config.conf> <ident> [program [args...]]
      Run the program (or the config's `program` and `arg` lines) in the
      jail the config describes for <ident>; exit with the program's status.
      With `wakeup` in the config, run one command of <ident>'s session.
  sandbox <config.conf> kill <ident>
      End <ident>'s suspended session; prints `Done`.
  sandbox <config.conf> changes|commit|discard <ident>
      With `cow` lines for <ident>: print what its kept layer changed
      (A, M, D, R lines), apply it to the real trees (`Committed`; status
      120 on a conflict, nothing applied) or drop it (`Discarded`). In a
      config without `cow` lines these words are idents as any other.
  sandbox --config-fd <n> [--config-name <name>] <ident> [program [args...]]
  sandbox --config-fd <n> [--config-name <name>] kill <ident>
      As above, with the config's text read from inherited descriptor <n>
      (from its start) instead of a file, and called <name> in messages and
      for sessions (`<descriptor n>` when not given). The library's
      Jail::command runs the jail so.
  sandbox --kill-template <config.conf>
      With `template`: end the prepared process, its server and every run
      in progress; prints `Done`. (`kill <ident>` ends only that ident's runs.)
  sandbox --check <config.conf> [<ident> [<path>...]]
      Run nothing: print the effective settings for <ident>, what the kernel
      offers, the config's warnings, and for each <path> whether the program
      would find it hidden, visible, write-only or writable.
  sandbox --help, -h      Print this help.
  sandbox --version, -V   Print the version.

Exit statuses: the program's own; 128+n killed by signal n; 124 timed out;
123 out of CPU time; 122 past the output limit; 121 past the memory limit;
120 cow commit conflicts; 125 the jail failed; 126 cannot execute; 127 not found; 78 bad config;
2 bad command line. See sandbox(1) and sandbox.conf(5).
";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Pipe(Box::new(sandbox::notice::Stderr)))
        .init();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|first| first.to_str()) {
        Some("--help" | "-h") if args.len() == 1 => {
            let _ = std::io::stdout().write_all(HELP.as_bytes());
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") if args.len() == 1 => {
            let _ = writeln!(std::io::stdout(), "sandbox {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--check") if args.len() >= 2 => return check(&args[1..]),
        Some("--kill-template") if args.len() == 2 => return kill_template(&args[1]),
        Some("--config-fd") => {}
        Some(option @ ("--help" | "-h" | "--version" | "-V" | "--check" | "--kill-template")) => {
            say!("sandbox: wrong arguments for `{option}`\n{USAGE}");
            return ExitCode::from(status::USAGE);
        }
        // A config file whose name starts with `-` still works, as it did.
        Some(option) if option.starts_with('-') && !std::path::Path::new(option).exists() => {
            say!("sandbox: unknown option `{option}`\n{USAGE}");
            return ExitCode::from(status::USAGE);
        }
        _ => {}
    }
    let (source, args) = match config_source(&args) {
        Some(split) => split,
        None => {
            say!("{USAGE}");
            return ExitCode::from(status::USAGE);
        }
    };
    if args.is_empty() {
        say!("{USAGE}");
        return ExitCode::from(status::USAGE);
    }
    if args.len() == 2
        && let Some(code) = layer_command(&source, &args[0], &args[1])
    {
        return code;
    }
    let killing = args[0] == "kill";
    if killing && args.len() != 2 {
        say!("{USAGE}");
        say!(
            "sandbox: `kill` after the config is always the kill command \
             (an ident named `kill` cannot be run): give one ident to end"
        );
        return ExitCode::from(status::USAGE);
    }
    let ident_text = if killing { &args[1] } else { &args[0] };
    let ident = match Ident::new(ident_text.as_bytes()) {
        Ok(ident) => ident,
        Err(error) => {
            say!("sandbox: bad ident: {error}");
            return ExitCode::from(status::USAGE);
        }
    };
    let loaded = match &source {
        ConfigSource::File(path) => Jail::load(path, ident.as_bytes()),
        ConfigSource::Fd { fd, name } => Jail::load_fd(*fd, name, ident.as_bytes()),
    };
    let jail = match loaded {
        Ok(jail) => jail,
        Err(error) => return fail(&error.to_string(), error.exit_status()),
    };
    if killing {
        let killed = if jail.config.template {
            session::template::kill_runs(&jail, &ident)
        } else {
            session::kill(&jail, &ident)
        };
        return match killed {
            Ok(()) => {
                let _ = writeln!(std::io::stdout(), "Done");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error.to_string(), error.exit_status()),
        };
    }
    for warning in sandbox::check::warnings(&jail.config) {
        say!("sandbox: warning: {warning}");
    }
    let program = &args[1..];
    if jail.config.wakeup {
        let ran = if jail.config.template {
            session::template::run(&jail, &ident, program)
        } else {
            session::run(&jail, &ident, program)
        };
        return match ran {
            Ok(ending) => {
                let (code, message) = ending.verdict(jail.config.template);
                if let Some(message) = message {
                    say!("{message}");
                }
                ExitCode::from(code)
            }
            Err(error) => fail(&error.to_string(), error.exit_status()),
        };
    }
    // This process has no other child: it may trace in itself.
    match jail.run_in_this_process(program) {
        Ok(Ending::Exited(code)) => ExitCode::from(code as u8),
        Ok(Ending::Killed(signal)) => killed(signal),
        Ok(Ending::TimedOut) => timed_out(),
        Ok(Ending::CpuLimit) => limit_hit("[CPU time limit]", status::CPU_LIMIT),
        Ok(Ending::OutputLimit) => limit_hit("[Output limit]", status::OUTPUT_LIMIT),
        Ok(Ending::MemoryLimit) => limit_hit("[Memory limit]", status::MEMORY_LIMIT),
        Err(error) => fail(&error.to_string(), error.exit_status()),
    }
}

/// `sandbox <config> changes|commit|discard <ident>`: what a kept `cow`
/// layer changed, applied to the real trees, or dropped. `None` when
/// `word` is no such command or the config has no `cow` tree for
/// `ident`: then the words are an ident and its program, as in every
/// config from before `cow` (a bot's user named `commit` still runs).
fn layer_command(
    source: &ConfigSource,
    word: &OsString,
    ident_text: &OsString,
) -> Option<ExitCode> {
    let word = word.to_str()?;
    if !matches!(word, "changes" | "commit" | "discard") {
        return None;
    }
    let ident = Ident::new(ident_text.as_bytes()).ok()?;
    let jail = match source {
        ConfigSource::File(path) => Jail::load(path, ident.as_bytes()),
        ConfigSource::Fd { fd, name } => Jail::load_fd(*fd, name, ident.as_bytes()),
    }
    .ok()?;
    if !jail.config.cow.is_active() {
        return None;
    }
    let dir = jail.layer_dir();
    let opened = if word == "changes" {
        sandbox::cow::Layer::look(&dir)
    } else {
        sandbox::cow::Layer::open(&dir)
    };
    let layer = match opened {
        Ok(layer) => layer,
        Err(sandbox::cow::CowError::NoLayer { .. }) => {
            say!(
                "sandbox: no kept changes for `{}`",
                ident_text.to_string_lossy()
            );
            return Some(ExitCode::SUCCESS);
        }
        Err(error) => {
            let error = sandbox::Error::Cow(error);
            return Some(fail(&error.to_string(), error.exit_status()));
        }
    };
    let summary = match sandbox::cow::summary(&layer) {
        Ok(summary) => summary,
        Err(error) => {
            let error = sandbox::Error::Cow(error);
            return Some(fail(&error.to_string(), error.exit_status()));
        }
    };
    let mut stdout = std::io::stdout();
    for line in &summary {
        let _ = writeln!(stdout, "{line}");
    }
    let done = match word {
        "commit" => sandbox::cow::commit(layer).map(|()| "Committed"),
        "discard" => layer.remove().map(|()| "Discarded"),
        _ => return Some(ExitCode::SUCCESS),
    };
    Some(match done {
        Ok(word) => {
            let _ = writeln!(stdout, "{word}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let error = sandbox::Error::Cow(error);
            fail(&error.to_string(), error.exit_status())
        }
    })
}

/// `sandbox --kill-template <config>`: ends the config's prepared process
/// (`template`), its server and every run in progress; prints `Done`.
fn kill_template(config: &OsString) -> ExitCode {
    let jail = match Jail::load(std::path::Path::new(config), b"") {
        Ok(jail) => jail,
        Err(error) => return fail(&error.to_string(), error.exit_status()),
    };
    if !jail.config.template {
        return fail(
            "this config has no `template`: it has no prepared process to end",
            status::USAGE,
        );
    }
    match session::template::kill_template(&jail) {
        Ok(()) => {
            let _ = writeln!(std::io::stdout(), "Done");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string(), error.exit_status()),
    }
}

/// One of the tree's limits ended the jail (issue 16).
fn limit_hit(message: &str, status: u8) -> ExitCode {
    say!("{message}");
    ExitCode::from(status)
}

/// Where the config comes from.
enum ConfigSource {
    /// `<config.conf>`: a file.
    File(PathBuf),
    /// `--config-fd <n> [--config-name <name>]`: an inherited descriptor
    /// (the library's `Jail::command` passes the config text so), named
    /// `name` in messages.
    Fd { fd: i32, name: PathBuf },
}

/// The config's source and the words after it, or `None` for a bad
/// `--config-fd` or a missing config.
fn config_source(args: &[OsString]) -> Option<(ConfigSource, &[OsString])> {
    if args.first().is_some_and(|first| first == "--config-fd") {
        let fd = args
            .get(1)?
            .to_str()?
            .parse::<i32>()
            .ok()
            .filter(|fd| *fd >= 0)?;
        let (name, rest) = match args.get(2) {
            Some(option) if option == "--config-name" => (PathBuf::from(args.get(3)?), &args[4..]),
            _ => (PathBuf::from(format!("<descriptor {fd}>")), &args[2..]),
        };
        return Some((ConfigSource::Fd { fd, name }, rest));
    }
    let (config, rest) = args.split_first()?;
    Some((ConfigSource::File(PathBuf::from(config)), rest))
}

/// `sandbox --check <config> [<ident> [<path>...]]`: the report on stdout,
/// 0; a bad config as for a run (78); 125 when the kernel cannot host the
/// jail.
fn check(args: &[OsString]) -> ExitCode {
    let config = PathBuf::from(&args[0]);
    let ident = match args.get(1).map(|ident| Ident::new(ident.as_bytes())) {
        None => None,
        Some(Ok(ident)) => Some(ident),
        Some(Err(error)) => {
            say!("sandbox: bad ident: {error}");
            return ExitCode::from(status::USAGE);
        }
    };
    let name = ident
        .as_ref()
        .map(|ident| String::from_utf8_lossy(ident.as_bytes()).into_owned());
    // No block is named by the empty word: global lines only.
    let selected = ident.as_ref().map_or(&b""[..], Ident::as_bytes);
    let jail = match Jail::load(&config, selected) {
        Ok(jail) => jail,
        Err(error) => return fail(&error.to_string(), error.exit_status()),
    };
    // Its host names resolved as a run would: one that does not is the
    // same config error.
    let network = match jail.network() {
        Ok(network) => network,
        Err(error) => return fail(&error.to_string(), error.exit_status()),
    };
    let paths: Vec<PathBuf> = args.iter().skip(2).map(PathBuf::from).collect();
    let kernel = sandbox::check::Kernel::probe();
    let (report, code) = sandbox::check::report(&jail, name.as_deref(), &kernel, &network, &paths);
    let _ = std::io::stdout().write_all(report.as_bytes());
    ExitCode::from(code)
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
