//! A jailed program run from a host process, the `std::process` way:
//! [`Jail::command`] gives a [`Command`] with `std::process::Command`'s
//! methods, whose [`spawn`](Command::spawn) gives a [`Child`].
//!
//! The jail does not run in the host's process. A [`Command`] starts the
//! `sandbox` binary, which loads the jail's config, traces the program
//! and exits with its status (see the README's exit statuses): so the
//! host never calls `waitpid(-1)`, never reaps or signals a child of its
//! own, keeps no thread, and can start jails from any number of threads.
//! [`Command::into_std`] gives the plain `std::process::Command` that
//! does this, for `tokio::process::Command::from` and the like;
//! [`Command::into_std_with_report`] adds a [`ReportReader`] for the
//! reports of its runs.
//!
//! **The binary** is, in this order: the one set with
//! [`Jail::with_binary`] (or [`JailBuilder::binary`](crate::JailBuilder::binary));
//! the one the `SANDBOX_BIN` environment variable names; `sandbox` next to
//! the running program ([`std::env::current_exe`]), or one directory up
//! when that is cargo's `deps/` or `examples/`; `sandbox` on `PATH`. A
//! setting that names no executable file is an error, not a reason to
//! look further; so is finding none
//! ([`Error::Binary`], an `io::ErrorKind::NotFound`
//! from [`Command::spawn`]).
//!
//! **The config** travels as its text: a sealed memfd the child inherits
//! (close-on-exec in the host, so no other child of the host gets it),
//! named on the command line as `sandbox --config-fd <n> --config-name
//! <name> <ident> <program> [args...]`. Messages name the config as the
//! jail does (the file's canonical path, `<builder>`, `<string>`), and a
//! session started from a file's text is the session the CLI reaches with
//! that file. The ident is the jail's; a jail built in code (ident empty:
//! global lines only) passes an ident that selects no block.
//!
//! **Environment, directory, stdio** are the `sandbox` process's, which
//! the program inherits: the config's `clearenv`, `setenv`, `unsetenv`
//! and `chdir` lines then apply on top of what the [`Command`] set. The
//! jail's own messages (`sandbox: ...`, `[Timed out]`, `report` lines)
//! share the program's stderr, as on the command line.
//!
//! **Hooks.** [`Command::pre_sandbox`] runs a closure in the child after
//! fork, before the `sandbox` binary is executed: before any
//! confinement, with the host's rights (so it can open what the jail
//! hides, and `passfd` it). There is no `pre_exec` hook, to run after
//! the jail confines the program and before it is executed: that moment
//! is in another program, the `sandbox` binary, after an `execve` that
//! keeps none of the host's memory, so no closure of the host can run
//! there (calling it in-process instead would mean forking the jail's
//! tracer in the host, which is unsound in a process with other threads).
//! What to do instead: run a wrapper as the jailed program (a shell or a
//! small program that does the setup and then execs the real one), which
//! runs confined, or use the config lines that cover the usual cases
//! (`chdir`, `rlimit`, `setenv`, `passfd`). What the program needs but
//! may not open itself, a `pre_sandbox` hook opens and puts on a number
//! a `passfd` line names (the hook's example below).
//!
//! ```no_run
//! use sandbox::Jail;
//! use std::process::Stdio;
//!
//! let jail = Jail::builder().see("/usr").see("/lib").see("/lib64").see("/bin").build()?;
//! let output = jail
//!     .command("/bin/sh")
//!     .args(["-c", "echo hello; exit 3"])
//!     .stdin(Stdio::null())
//!     .output()?;
//! assert_eq!(output.stdout, b"hello\n");
//! assert_eq!(output.status.code(), Some(3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::config::Config;
use crate::error::{BinaryNotFound, Error};
use crate::jail::{Ending, Jail};
use crate::report::{RunReport, Status};
use crate::sys::{self, Inherited};
use nix::errno::Errno;
use nix::sys::memfd::{MFdFlags, memfd_create};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

/// The environment variable naming the `sandbox` binary.
pub const BINARY_ENV: &str = "SANDBOX_BIN";

/// The binary's file name, looked for next to the running program and on
/// `PATH`.
pub const BINARY_NAME: &str = "sandbox";

/// Finds the `sandbox` binary: `explicit` if given, else as the [module
/// docs](self) say.
///
/// ```
/// let error = sandbox::command::locate_binary(Some("/nonexistent/sandbox".as_ref()))
///     .expect_err("no such file");
/// assert!(error.to_string().contains("/nonexistent/sandbox"));
/// ```
pub fn locate_binary(explicit: Option<&Path>) -> Result<PathBuf, BinaryNotFound> {
    let mut looked = Vec::new();
    if let Some(path) = explicit {
        return checked(path, "Jail::with_binary", looked);
    }
    if let Some(path) = std::env::var_os(BINARY_ENV).filter(|path| !path.is_empty()) {
        return checked(Path::new(&path), BINARY_ENV, looked);
    }
    looked.push(format!("{BINARY_ENV} is not set"));
    match std::env::current_exe() {
        Ok(exe) => {
            let mut dirs: Vec<PathBuf> = exe.parent().map(Path::to_path_buf).into_iter().collect();
            // Tests and examples built by cargo run from deps/ or
            // examples/, one level below the binaries.
            if let Some(dir) = dirs.first().cloned()
                && dir
                    .file_name()
                    .is_some_and(|name| name == "deps" || name == "examples")
                && let Some(up) = dir.parent()
            {
                dirs.push(up.to_path_buf());
            }
            for dir in dirs {
                let candidate = dir.join(BINARY_NAME);
                if is_executable_file(&candidate) {
                    return Ok(candidate);
                }
                looked.push(format!(
                    "not next to this program ({})",
                    candidate.display()
                ));
            }
        }
        Err(error) => looked.push(format!("this program's own path is unknown ({error})")),
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let candidate = dir.join(BINARY_NAME);
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
    }
    looked.push(format!(
        "not on PATH ({})",
        OsStr::new(&path).to_string_lossy()
    ));
    Err(BinaryNotFound { looked })
}

fn checked(path: &Path, from: &str, mut looked: Vec<String>) -> Result<PathBuf, BinaryNotFound> {
    if is_executable_file(path) {
        return Ok(path.to_path_buf());
    }
    looked.push(format!(
        "{from} names {}, which is not an executable file",
        path.display()
    ));
    Err(BinaryNotFound { looked })
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

impl Jail {
    /// A [`Command`] that runs `program` in this jail, as
    /// `std::process::Command::new(program)` runs it outside: found in the
    /// jail's `PATH` when it has no slash, with `program` as its `argv[0]`.
    ///
    /// Nothing is checked until [`Command::spawn`]: a missing binary or a
    /// jail without config text is an error there.
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::from_config_str("see /\n", "alice")?;
    /// let status = jail.command("true").status()?;
    /// assert!(status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        Command::new(self, Some(program.as_ref()))
    }

    /// Runs `program` (its name, then its arguments; the config's
    /// `program` and `arg` lines when empty) in the jail with this
    /// process's stdin, stdout and stderr, waits for it and says how it
    /// ended. The jail runs in a `sandbox` process of its own, as
    /// [`Command::status`] runs it: this process's other children are
    /// never reaped or signalled, and any thread may call it. The jail's
    /// own messages (`sandbox: ...`, `[Timed out]`) go to this process's
    /// stderr, as on the command line.
    ///
    /// Errors: the jail could not run the program, or failed
    /// ([`Error::Jail`], with the `sandbox` binary's status and message:
    /// 127 for a program not found or not visible, 78 for a config it
    /// refuses, ...); no `sandbox` binary ([`Error::Binary`]); a jail
    /// made from a [`Config`] value, which has no text to hand the binary
    /// ([`Error::Usage`]; [`Jail::run_in_this_process`] runs such a jail,
    /// in a process that has no other children); the binary could not be
    /// started ([`Error::Spawn`]).
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::load("conf/shell.conf".as_ref(), "alice")?;
    /// let ending = jail.run(&["/bin/echo".into(), "hi".into()])?;
    /// assert_eq!(ending, sandbox::Ending::Exited(0));
    /// # Ok::<(), sandbox::Error>(())
    /// ```
    pub fn run(&self, program: &[OsString]) -> Result<Ending, Error> {
        let mut command = Command::new(self, program.first().map(OsString::as_os_str));
        command.args(program.iter().skip(1));
        let status = command.status().map_err(|error| {
            // What the library itself refused travels inside the
            // io::Error; the system's errors are the spawn's.
            if !error.get_ref().is_some_and(|inner| inner.is::<Error>()) {
                return Error::Spawn(error);
            }
            let kind = error.kind();
            match error.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(typed)) => *typed,
                Some(Err(other)) => Error::Spawn(io::Error::new(kind, other)),
                None => Error::Spawn(kind.into()),
            }
        })?;
        status
            .ending()
            .map_err(|failure| Error::Jail(failure.clone()))
    }
}

/// Why a [`Command`] cannot spawn, kept to be said at each spawn.
#[derive(Debug, Clone)]
enum Broken {
    Binary(BinaryNotFound),
    Usage(String),
    Os(&'static str, Errno),
}

impl Broken {
    fn error(&self) -> Error {
        match self {
            Broken::Binary(missing) => Error::Binary(missing.clone()),
            Broken::Usage(message) => Error::Usage(message.clone()),
            Broken::Os(what, errno) => Error::Usage(format!("cannot {what}: {}", errno.desc())),
        }
    }
}

/// A program to run in a jail; see the [module docs](self). Made by
/// [`Jail::command`]; its methods are `std::process::Command`'s.
pub struct Command {
    inner: std::process::Command,
    broken: Option<Broken>,
    /// The descriptor of the report file of the spawn under way, for the
    /// child's hook ([`sys::Inherited::slot`]); -1 otherwise.
    report: Arc<AtomicI32>,
    /// The number the jail writes its report to (the config's last
    /// `reportfd` line), held open by `inner`'s hook; -1 when broken.
    report_slot: RawFd,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("inner", &self.inner)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Command {
    /// `program`: `None` for the config's `program` and `arg` lines.
    fn new(jail: &Jail, program: Option<&OsStr>) -> Command {
        match Command::prepare(jail, program) {
            Ok((inner, report, report_slot)) => Command {
                inner,
                broken: None,
                report,
                report_slot,
            },
            Err(broken) => Command {
                // Never spawned: `spawn` says what is broken first.
                inner: std::process::Command::new("/nonexistent/sandbox"),
                broken: Some(broken),
                report: Arc::new(AtomicI32::new(-1)),
                report_slot: -1,
            },
        }
    }

    /// The `sandbox` command, the number its child's hook puts on the
    /// report descriptor (negative: /dev/null), and that descriptor's
    /// number.
    fn prepare(
        jail: &Jail,
        program: Option<&OsStr>,
    ) -> Result<(std::process::Command, Arc<AtomicI32>, RawFd), Broken> {
        let (text, ident) = source(jail)?;
        if jail.config.wakeup {
            return Err(Broken::Usage(
                "this config has `wakeup`: its programs are sessions, which Jail::session runs"
                    .into(),
            ));
        }
        let ident = ident_for_binary(jail, text, ident).map_err(Broken::Usage)?;
        // The number the run's report is written to: /dev/null here, the
        // spawn's own report file in the child (`spawn` fills it).
        let slot: OwnedFd = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(|error| {
                Broken::Os(
                    "open /dev/null",
                    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
                )
            })?
            .into();
        let mut text = text.to_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        // A global line after every block: the last `reportfd` wins.
        let slot_number = slot.as_raw_fd();
        text.push_str(&format!("reportfd {slot_number}\n"));
        let report = Arc::new(AtomicI32::new(-1));
        let mut inner = sandbox_binary(jail, &text, Some((Arc::new(slot), report.clone())))?;
        inner.arg(ident).args(program);
        Ok((inner, report, slot_number))
    }

    /// Adds an argument for the program.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments for the program.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable the program inherits (the config's
    /// `setenv`, `unsetenv` and `clearenv` lines then apply).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Sets several environment variables, as [`env`](Self::env).
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from what the program inherits.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// The program inherits no environment variable but those set after
    /// this (and the config's `setenv` lines).
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// The program's working directory (a `chdir` line in the config
    /// wins). The jail must let it see the directory for the program to
    /// use it.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// The program's stdin: inherited unless set (null for
    /// [`output`](Self::output)).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self
    }

    /// The program's stdout: inherited unless set (piped for
    /// [`output`](Self::output)).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self
    }

    /// The program's stderr, which the jail's own messages share:
    /// inherited unless set (piped for [`output`](Self::output)).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self
    }

    /// Runs `hook` in the child after fork, before the jail is set up:
    /// before any confinement, with the rights of the host process, after
    /// stdio and the working directory are set. Hooks run in the order
    /// they were added; one that fails stops the spawn, and its error is
    /// [`spawn`](Self::spawn)'s. What it opens without close-on-exec
    /// reaches the program only through a `passfd` line.
    ///
    /// There is no hook after confinement; the [module docs](self) say
    /// why and what to do instead.
    ///
    /// # Safety
    ///
    /// As for [`std::os::unix::process::CommandExt::pre_exec`]: the hook
    /// runs in a forked copy of a possibly multi-threaded process, where
    /// only async-signal-safe work is sound (no allocation, no lock that
    /// another thread may have held).
    ///
    /// ```no_run
    /// use std::os::fd::AsRawFd;
    /// let jail = sandbox::Jail::from_config_str("see /usr\npassfd 9\n", "bot")?;
    /// let secret = std::fs::File::open("/etc/hostname")?;
    /// let fd = secret.as_raw_fd();
    /// let mut command = jail.command("/usr/bin/cat");
    /// command.arg("/proc/self/fd/9");
    /// // SAFETY: dup2 is async-signal-safe and allocates nothing.
    /// unsafe {
    ///     command.pre_sandbox(move || {
    ///         if libc::dup2(fd, 9) < 0 {
    ///             return Err(std::io::Error::last_os_error());
    ///         }
    ///         Ok(())
    ///     });
    /// }
    /// let output = command.output()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(unsafe_code)]
    pub unsafe fn pre_sandbox<F>(&mut self, hook: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the caller promises what `pre_exec` asks of `hook`; the
        // jail's own hook ([`sys::inherit_across_exec`]) was added first.
        unsafe {
            self.inner.pre_exec(hook);
        }
        self
    }

    /// Starts the program in the jail.
    ///
    /// Errors: a missing `sandbox` binary ([`io::ErrorKind::NotFound`]
    /// holding [`Error::Binary`]), a jail that cannot be handed over
    /// (holding an [`Error`]), a `pre_sandbox` hook's error, or the
    /// system's. A program that is not found or not visible in the jail is
    /// no error here: the jail says so in the [`ExitStatus`].
    pub fn spawn(&mut self) -> io::Result<Child> {
        let (child, report, started) = self.with_report(std::process::Command::spawn)?;
        Ok(Child::new(child, report, started))
    }

    /// Runs `start` on the `sandbox` command with a report file of this
    /// run's own on the command's report number, and gives what it gave
    /// with that file and the moment it started.
    fn with_report<T>(
        &mut self,
        start: impl FnOnce(&mut std::process::Command) -> io::Result<T>,
    ) -> io::Result<(T, File, Instant)> {
        if let Some(broken) = &self.broken {
            return Err(broken.error().into());
        }
        // The jail writes its records to a file of this spawn's own,
        // read when it has ended: a file, not a pipe, so that the jail
        // never waits for a reader (the records of a run are capped).
        let report = File::from(
            memfd_create("sandbox-report", MFdFlags::MFD_CLOEXEC).map_err(io::Error::from)?,
        );
        let started = Instant::now();
        self.report.store(report.as_raw_fd(), Ordering::SeqCst);
        let result = start(&mut self.inner);
        self.report.store(-1, Ordering::SeqCst);
        Ok((result?, report, started))
    }

    /// Runs the program to its end with stdout and stderr captured (and
    /// stdin null) unless set, as `std::process::Command::output`. As
    /// with std, those defaults are for this one run: a later
    /// [`spawn`](Self::spawn) or [`status`](Self::status) of this command
    /// inherits what was not set, and [`into_std`](Self::into_std) keeps
    /// it unset.
    pub fn output(&mut self) -> io::Result<Output> {
        // std's own output() applies the defaults to its one spawn and
        // reads both pipes at once.
        let (output, report_file, started) = self.with_report(std::process::Command::output)?;
        let (status, report) = concluded(output.status, &report_file, Some(started));
        Ok(Output {
            status,
            stdout: output.stdout,
            stderr: output.stderr,
            report,
        })
    }

    /// Runs the program to its end (stdio inherited unless set) and says
    /// how it ended.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// The plain `std::process::Command` that runs the program in the jail
    /// (the `sandbox` binary with the config on an inherited descriptor):
    /// for `tokio::process::Command::from`, or any API that takes one. Its
    /// exit status is the `sandbox` binary's ([`ExitStatus::from_sandbox`]
    /// reads it by the README's table, so a program's own 124 reads as a
    /// time-out). The config's descriptor lives as long as it does.
    ///
    /// It has no report: the jail's records go to `/dev/null`, as a std
    /// `Child` has nowhere to keep them. To have the [`RunReport`] and the
    /// exact [`ExitStatus`] of its runs, use
    /// [`into_std_with_report`](Self::into_std_with_report).
    ///
    /// A command that cannot spawn ([`try_into_std`](Self::try_into_std)
    /// says why) gives one whose spawn fails with `NotFound`.
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::from_config_str("see /\n", "alice")?;
    /// let std_command: std::process::Command = jail.command("true").into();
    /// # Ok::<(), sandbox::Error>(())
    /// ```
    pub fn into_std(self) -> std::process::Command {
        self.inner
    }

    /// [`into_std`](Self::into_std), or why this command cannot spawn.
    pub fn try_into_std(self) -> Result<std::process::Command, Error> {
        match &self.broken {
            Some(broken) => Err(broken.error()),
            None => Ok(self.inner),
        }
    }

    /// [`into_std`](Self::into_std) with a [`ReportReader`] that gives the
    /// report of its runs: the jail writes its records to a file the
    /// reader holds (a memfd, put on the report's number in each child),
    /// and [`ReportReader::read`] reads them once the run has ended.
    ///
    /// One run at a time: read the report of a run after it has ended
    /// and before the next one starts (the reader empties the file when
    /// it reads it); two runs at once write into the same file.
    ///
    /// Errors: as [`try_into_std`](Self::try_into_std), in an
    /// `io::Error` as [`spawn`](Self::spawn) gives them, or no memfd.
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::from_config_str("see /usr\n", "bot")?;
    /// let mut cat = jail.command("/usr/bin/cat");
    /// cat.arg("/etc/passwd");
    /// let (mut command, reader) = cat.into_std_with_report()?;
    /// let output = command.output()?; // or tokio::process::Command::from(command)
    /// let (status, report) = reader.read(output.status);
    /// assert_eq!(status.code(), Some(1));
    /// assert_eq!(report.denials[0].allow.as_deref(), Some("see /etc/passwd"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_std_with_report(self) -> io::Result<(std::process::Command, ReportReader)> {
        if let Some(broken) = &self.broken {
            return Err(broken.error().into());
        }
        let file =
            memfd_create("sandbox-report", MFdFlags::MFD_CLOEXEC).map_err(io::Error::from)?;
        let reader = ReportReader {
            file: File::from(file.try_clone()?),
        };
        let mut inner = self.inner;
        // After the jail's own hook, which keeps the number open across
        // the exec (here for /dev/null, the atomic staying -1).
        sys::place_across_exec(&mut inner, Arc::new(file), self.report_slot);
        Ok((inner, reader))
    }
}

/// The report of the runs of a `std::process::Command` made by
/// [`Command::into_std_with_report`]: the file the jail writes its
/// records to. Dropping it is fine; the command keeps its own copy of the
/// file (and the jail then writes to that, unread).
#[derive(Debug)]
pub struct ReportReader {
    file: File,
}

impl ReportReader {
    /// How the run that ended with `status` (the `sandbox` process's exit
    /// status, from `wait`, `output` or tokio's equivalents) ended, and
    /// its report, as [`Child::wait_report`] gives them; then empties the
    /// file for the next run. Call it only once that run has ended.
    ///
    /// A run that wrote no `exit` record (killed, or the jail could not
    /// start) is read from `status` by the README's table
    /// ([`ExitStatus::from_sandbox`]), with a wall time of 0: the reader
    /// does not see the run start.
    pub fn read(&self, status: std::process::ExitStatus) -> (ExitStatus, RunReport) {
        let ended = concluded(status, &self.file, None);
        // Truncating a memfd of our own fails only on a broken kernel;
        // this run's records would then come before the next run's.
        let _ = self.file.set_len(0);
        let _ = (&self.file).seek(SeekFrom::Start(0));
        ended
    }
}

impl From<Command> for std::process::Command {
    fn from(command: Command) -> std::process::Command {
        command.into_std()
    }
}

/// A jail's config text and ident.
fn source(jail: &Jail) -> Result<(&str, &[u8]), Broken> {
    match (jail.config_text(), jail.ident()) {
        (Some(text), Some(ident)) => Ok((text, ident)),
        _ => Err(Broken::Usage(
            "this jail was made from a Config value and has no config text to hand the \
             sandbox binary: make it with Jail::load, Jail::from_config_str or Jail::builder"
                .into(),
        )),
    }
}

/// `sandbox --config-fd <n> --config-name <name>`: `jail`'s binary with
/// `text` on a sealed memfd its child inherits (and the report `slot`,
/// when given), named as `jail`'s config is.
fn sandbox_binary(
    jail: &Jail,
    text: &str,
    slot: Option<(Arc<OwnedFd>, Arc<AtomicI32>)>,
) -> Result<std::process::Command, Broken> {
    let binary = locate_binary(jail.binary()).map_err(Broken::Binary)?;
    let config = crate::tracer::sealed_file("sandbox-config", text.as_bytes())
        .map_err(|errno| Broken::Os("hand the config to the sandbox binary", errno))?;
    let mut command = std::process::Command::new(binary);
    command
        .arg("--config-fd")
        .arg(config.as_raw_fd().to_string())
        .arg("--config-name")
        .arg(config_name(&jail.config.file));
    sys::inherit_across_exec(
        &mut command,
        Inherited {
            keep: vec![Arc::new(config)],
            slot,
        },
    );
    Ok(command)
}

/// The ident the binary is given: the jail's own, or for the empty one
/// (a policy built in code: global lines only) a word that selects no
/// block of the text, so that it means the same lines.
fn ident_for_binary(jail: &Jail, text: &str, ident: &[u8]) -> Result<OsString, String> {
    if !ident.is_empty() {
        if let Err(error) = crate::ident::check(ident) {
            return Err(format!("bad ident for the sandbox binary: {error}"));
        }
        if ident == b"kill" {
            return Err(
                "the ident `kill` cannot be run: `sandbox <config> kill ...` is the \
                        kill command"
                    .into(),
            );
        }
        return Ok(OsString::from_vec(ident.to_vec()));
    }
    for n in 0..100 {
        let candidate = match n {
            0 => "library".to_owned(),
            n => format!("library-{n}"),
        };
        if Config::parse(&jail.config.file, text, &candidate)
            .is_ok_and(|config| config == jail.config)
        {
            return Ok(candidate.into());
        }
    }
    Err("no ident selects the config's global lines alone".into())
}

/// The name the binary gives the config in messages: a file's canonical
/// path (so that a session is the one the CLI reaches with that file),
/// or the name as it stands (`<builder>`, `<string>`).
fn config_name(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

/// A program running in a jail, started by [`Command::spawn`]; its
/// methods are `std::process::Child`'s, and
/// [`wait_report`](Self::wait_report) says what the run did.
///
/// The process behind it is the `sandbox` binary's, the jailed program's
/// tracer; ending it (by [`kill`](Self::kill), or any way) ends
/// everything in the jail. Dropping a `Child` neither waits for nor kills
/// it, as with std; it leaves no thread and no descriptor of the host's
/// (the jail's report file is closed with it).
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    /// The program's stdin, when piped.
    pub stdin: Option<ChildStdin>,
    /// The program's stdout, when piped.
    pub stdout: Option<ChildStdout>,
    /// The program's stderr (shared with the jail's messages), when piped.
    pub stderr: Option<ChildStderr>,
    /// The file the jail writes its records to.
    report_file: File,
    started: Instant,
    ended: Option<(ExitStatus, RunReport)>,
}

impl Child {
    fn new(mut inner: std::process::Child, report_file: File, started: Instant) -> Child {
        Child {
            stdin: inner.stdin.take(),
            stdout: inner.stdout.take(),
            stderr: inner.stderr.take(),
            inner,
            report_file,
            started,
            ended: None,
        }
    }

    /// The process id of the jail (the `sandbox` process tracing the
    /// program), not of the program itself.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Kills the jail and with it every process in it (`SIGKILL`; the
    /// kernel ends the traced processes with their tracer). As with std,
    /// a jail that has ended already is no error.
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// Waits for the jail to end (closing the program's stdin first, as
    /// std does) and says how the program ended.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some((status, _)) = &self.ended {
            return Ok(status.clone());
        }
        drop(self.stdin.take());
        let raw = self.inner.wait()?;
        Ok(self.conclude(raw).0)
    }

    /// How the program ended if the jail has ended, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some((status, _)) = &self.ended {
            return Ok(Some(status.clone()));
        }
        Ok(self.inner.try_wait()?.map(|raw| self.conclude(raw).0))
    }

    /// Waits for the jail to end and gives the run's report
    /// ([`RunReport`]: how it ended, times, memory, tasks, each denial,
    /// fetches). When the jail wrote no report (it was killed, or could
    /// not start), the report is made from its exit status, with the
    /// wall time seen from here and no CPU time.
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::from_config_str("see /usr\n", "bot")?;
    /// let mut child = jail.command("/usr/bin/cat").arg("/etc/passwd").spawn()?;
    /// let report = child.wait_report()?;
    /// assert_eq!(report.status, sandbox::report::Status::RuntimeError);
    /// assert_eq!(report.denials[0].allow.as_deref(), Some("see /etc/passwd"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_report(&mut self) -> io::Result<RunReport> {
        self.wait()?;
        Ok(self
            .ended
            .as_ref()
            .map(|(_, report)| report.clone())
            .unwrap_or_default())
    }

    /// Waits for the jail to end while reading all of the program's piped
    /// stdout and stderr (both at once, so neither pipe can fill and stall
    /// it), as `std::process::Child::wait_with_output`.
    pub fn wait_with_output(self) -> io::Result<Output> {
        let Child {
            mut inner,
            stdin,
            stdout,
            stderr,
            report_file,
            started,
            ended,
        } = self;
        drop(stdin);
        inner.stdout = stdout;
        inner.stderr = stderr;
        let output = inner.wait_with_output()?;
        let (status, report) =
            ended.unwrap_or_else(|| concluded(output.status, &report_file, Some(started)));
        Ok(Output {
            status,
            stdout: output.stdout,
            stderr: output.stderr,
            report,
        })
    }

    fn conclude(&mut self, raw: std::process::ExitStatus) -> (ExitStatus, RunReport) {
        let ended = concluded(raw, &self.report_file, Some(self.started));
        self.ended = Some(ended.clone());
        ended
    }
}

/// Waiting without blocking a thread, under the `tokio` feature: the
/// process's pidfd is watched by tokio's reactor (no thread per program,
/// no `SIGCHLD` handler); on a kernel without pidfds (before 5.3) the
/// jail is polled every few milliseconds instead.
#[cfg(feature = "tokio")]
impl Child {
    /// [`wait`](Self::wait), as a future. Needs a tokio runtime with IO
    /// enabled (as `tokio::process` does); polled outside any tokio
    /// runtime it fails with an error instead of tokio's panic.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let jail = sandbox::Jail::from_config_str("see /usr\n", "bot")?;
    /// let mut child = jail.command("/usr/bin/true").spawn()?;
    /// let status = child.wait_async().await?;
    /// assert!(status.success());
    /// # Ok(())
    /// # }
    /// ```
    #[allow(unsafe_code)]
    pub async fn wait_async(&mut self) -> io::Result<ExitStatus> {
        if let Some((status, _)) = &self.ended {
            return Ok(status.clone());
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "Child::wait_async needs a tokio runtime (with IO enabled)",
            ));
        }
        drop(self.stdin.take());
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.id()).unwrap_or(i32::MAX));
        // The pid is this process's unreaped child: it names no other
        // process until this Child reaps it.
        let watched = sys::pidfd_open(pid).map(|pidfd| {
            // SAFETY: the AsyncFd owns the pidfd, which nothing else
            // closes or replaces while it does; `as_raw_fd` of an OwnedFd
            // is always the same descriptor.
            unsafe { tokio::io::unix::AsyncFd::register(pidfd) }
        });
        match watched {
            Ok(Ok(pidfd)) => loop {
                if let Some(status) = self.try_wait()? {
                    return Ok(status);
                }
                // Readable once the process has exited.
                let mut ready = pidfd.readable().await?;
                ready.clear_ready();
            },
            _ => {
                let mut pause = std::time::Duration::from_millis(1);
                loop {
                    if let Some(status) = self.try_wait()? {
                        return Ok(status);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(50));
                }
            }
        }
    }

    /// [`wait_report`](Self::wait_report), as a future.
    pub async fn wait_report_async(&mut self) -> io::Result<RunReport> {
        self.wait_async().await?;
        Ok(self
            .ended
            .as_ref()
            .map(|(_, report)| report.clone())
            .unwrap_or_default())
    }
}

/// How the jail ended, from its exit status and the records in its
/// report file (`started`: when the run started, if known, for a report
/// made without an `exit` record).
fn concluded(
    raw: std::process::ExitStatus,
    report_file: &File,
    started: Option<Instant>,
) -> (ExitStatus, RunReport) {
    let mut text = String::new();
    let mut reader = report_file;
    let _ = reader
        .seek(SeekFrom::Start(0))
        .and_then(|_| reader.read_to_string(&mut text));
    let (exit, denials) = RunReport::records(&text);
    match exit {
        Some(mut report) => {
            report.denials = denials;
            (ExitStatus::from_report(raw, &report), report)
        }
        None => {
            let status = ExitStatus::from_sandbox(raw);
            let mut report = RunReport {
                version: crate::report::VERSION,
                wall_time: started.map_or(0.0, |started| started.elapsed().as_secs_f64()),
                denial_count: denials.len() as u64,
                denials,
                ..RunReport::default()
            };
            match status.ending() {
                Ok(ending) => {
                    report.status = Status::of(&ending);
                    report.exit_code = status.code();
                    report.signal = status.signal();
                }
                Err(failure) => {
                    report.status = Status::JailError;
                    report.error = Some(format!(
                        "the jail ended without a report (status {})",
                        failure.status
                    ));
                }
            }
            (status, report)
        }
    }
}

/// How a jailed program ended, or why the jail could not run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    ending: Result<Ending, JailFailure>,
    raw: std::process::ExitStatus,
}

pub use crate::error::JailFailure;

impl ExitStatus {
    /// Reads the `sandbox` binary's exit status by the README's table:
    /// 124 timed out; 2, 78, 125, 126 and 127 the jail's failures; 129 to
    /// 192 killed by signal `status - 128`; other statuses the program's
    /// own. A program's own exit with one of those statuses reads as the
    /// jail's meaning; the sandbox binary itself killed by a signal reads
    /// as the program killed by it (the kernel ends the program with its
    /// tracer).
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use sandbox::command::ExitStatus;
    /// let timed_out = ExitStatus::from_sandbox(std::process::ExitStatus::from_raw(124 << 8));
    /// assert!(timed_out.timed_out());
    /// let segv = ExitStatus::from_sandbox(std::process::ExitStatus::from_raw(139 << 8));
    /// assert_eq!(segv.signal(), Some(11));
    /// ```
    ///
    /// [`Child`] reads a jail's report instead, which says exactly.
    pub fn from_sandbox(raw: std::process::ExitStatus) -> ExitStatus {
        use crate::error::status;
        let ending = match (raw.code(), raw.signal()) {
            (Some(code), _) => match u8::try_from(code) {
                Ok(status::TIMED_OUT) => Ok(Ending::TimedOut),
                Ok(status::CPU_LIMIT) => Ok(Ending::CpuLimit),
                Ok(status::OUTPUT_LIMIT) => Ok(Ending::OutputLimit),
                Ok(status::MEMORY_LIMIT) => Ok(Ending::MemoryLimit),
                Ok(
                    status::USAGE
                    | status::CONFIG
                    | status::JAIL_FAILED
                    | status::CANNOT_EXECUTE
                    | status::NOT_FOUND,
                ) => Err(JailFailure {
                    status: code,
                    message: None,
                }),
                Ok(129..=192) => Ok(Ending::Killed(code - 128)),
                _ => Ok(Ending::Exited(code)),
            },
            (None, Some(signal)) => Ok(Ending::Killed(signal)),
            (None, None) => Err(JailFailure {
                status: -1,
                message: Some(format!("the jail ended strangely ({raw})")),
            }),
        };
        ExitStatus { ending, raw }
    }

    /// The status a run's report says, with the `sandbox` binary's own
    /// exit status `raw`.
    pub fn from_report(raw: std::process::ExitStatus, report: &RunReport) -> ExitStatus {
        let ending = report.ending().ok_or_else(|| JailFailure {
            status: raw.code().unwrap_or(-1),
            message: report.error.clone(),
        });
        ExitStatus { ending, raw }
    }

    /// Whether the program exited with status 0.
    pub fn success(&self) -> bool {
        self.ending == Ok(Ending::Exited(0))
    }

    /// The program's exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self.ending {
            Ok(Ending::Exited(code)) => Some(code),
            _ => None,
        }
    }

    /// The signal that killed the program, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.ending {
            Ok(Ending::Killed(signal)) => Some(signal),
            _ => None,
        }
    }

    /// Whether the time limit ran out (the jail then killed the program).
    pub fn timed_out(&self) -> bool {
        self.ending == Ok(Ending::TimedOut)
    }

    /// How the program ended, or why the jail could not run it.
    pub fn ending(&self) -> Result<Ending, &JailFailure> {
        self.ending.as_ref().copied()
    }

    /// The `sandbox` binary's own exit status.
    pub fn sandbox_status(&self) -> std::process::ExitStatus {
        self.raw
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ending {
            Ok(Ending::Exited(code)) => write!(f, "exit status: {code}"),
            Ok(Ending::Killed(signal)) => {
                write!(f, "killed by {}", sys::signal_description(*signal))
            }
            Ok(Ending::TimedOut) => f.write_str("timed out"),
            Ok(Ending::CpuLimit) => f.write_str("out of CPU time"),
            Ok(Ending::OutputLimit) => f.write_str("past the output limit"),
            Ok(Ending::MemoryLimit) => f.write_str("past the memory limit"),
            Err(JailFailure {
                message: Some(message),
                ..
            }) => write!(f, "jail failed: {message}"),
            Err(JailFailure { status, .. }) => write!(f, "jail failed: status {status}"),
        }
    }
}

/// What [`Command::output`] and [`Child::wait_with_output`] give: how the
/// program ended, what it wrote, and the run's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout, when piped.
    pub stdout: Vec<u8>,
    /// Its stderr, with the jail's own messages, when piped.
    pub stderr: Vec<u8>,
    /// What the run did ([`Child::wait_report`]).
    pub report: RunReport,
}

impl Jail {
    /// The session of `ident` under this jail's config text (read again
    /// for `ident`, whose `ident` block applies): a program that lives
    /// between commands (`wakeup`; see docs/sessions.md). The session is
    /// the `sandbox` binary's, as for `sandbox <config> <ident>`: one that
    /// the command line started from the same config file is this one.
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::load("conf/python-repl.conf".as_ref(), "")?;
    /// let session = jail.session("alice");
    /// session.send(b"x = 41\n")?;
    /// let output = session.send(b"print(x + 1)\n")?;
    /// assert_eq!(output.stdout, b"42\n");
    /// session.kill()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session(&self, ident: impl AsRef<[u8]>) -> Session {
        Session {
            jail: self.clone(),
            ident: ident.as_ref().to_vec(),
            program: Vec::new(),
        }
    }
}

impl Jail {
    /// Ends this config's prepared process (`template`; see
    /// docs/sessions.md), its server and every run in progress, as
    /// `sandbox --kill-template <config>` does; fine if none is running.
    /// The next run prepares the program again. A run through a template
    /// is a [`Session::send`] on its config: each gets a fresh copy of the
    /// prepared process.
    ///
    /// ```no_run
    /// let jail = sandbox::Jail::load("conf/python-template.conf".as_ref(), "")?;
    /// let run = jail.session("alice").send(b"x = 1\nprint(x)\n")?;
    /// assert_eq!(run.stdout, b"1\n");
    /// let next = jail.session("alice").send(b"print(x)\n")?;
    /// assert!(String::from_utf8_lossy(&next.stderr).contains("NameError"));
    /// jail.kill_template()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_template(&self) -> io::Result<()> {
        if !self.config.template {
            return Err(Error::Usage(
                "this config has no `template`: it has no prepared process to end".into(),
            )
            .into());
        }
        crate::session::template::kill_template(self)
            .map_err(|error| io::Error::other(error.to_string()))
    }
}

/// A suspended REPL in a jail, by ident ([`Jail::session`]): each
/// [`send`](Self::send) runs one command in it, starting it first when it
/// is not running; [`kill`](Self::kill) ends it.
#[derive(Debug, Clone)]
pub struct Session {
    jail: Jail,
    ident: Vec<u8>,
    program: Vec<OsString>,
}

/// What one command of a session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOutput {
    /// How the command ended, read from the `sandbox` binary's status
    /// ([`ExitStatus::from_sandbox`]): `success()` when the program
    /// reached its wakeup (it waits for the next command) or exited 0; a
    /// jail failure of status 2 when the input was empty.
    pub status: ExitStatus,
    /// The program's output for this command.
    pub stdout: Vec<u8>,
    /// Its stderr, with the jail's messages for this command.
    pub stderr: Vec<u8>,
}

impl Session {
    /// The program (and its arguments) the session starts with when it is
    /// not running; the config's `program` and `arg` lines without this.
    pub fn program<I, S>(&mut self, program: I) -> &mut Session
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.program = program
            .into_iter()
            .map(|word| word.as_ref().to_owned())
            .collect();
        self
    }

    /// The `sandbox` command for this session, with `words` after the
    /// config.
    fn command(&self, words: &[&OsStr]) -> Result<std::process::Command, Error> {
        let (text, _) = source(&self.jail).map_err(|broken| broken.error())?;
        let config = Config::parse(&self.jail.config.file, text, &self.ident)?;
        if !config.wakeup {
            return Err(Error::Usage(
                "this config has no `wakeup`: it runs no session (Jail::command runs its programs)"
                    .into(),
            ));
        }
        if let Err(error) = crate::ident::check(&self.ident) {
            return Err(Error::Usage(format!("bad ident: {error}")));
        }
        let mut command =
            sandbox_binary(&self.jail, text, None).map_err(|broken| broken.error())?;
        command.args(words);
        Ok(command)
    }

    /// Sends `input` to the session as one command (its stdin, then end
    /// of input) and waits until the command is done: the program reached
    /// its wakeup, exited, or ran out of time. Starts the session first
    /// when none is running.
    pub fn send(&self, input: &[u8]) -> io::Result<SessionOutput> {
        if let Some(output) = self.send_to_live_template(input) {
            return Ok(output);
        }
        let ident = OsStr::from_bytes(&self.ident);
        let mut words = vec![ident];
        words.extend(self.program.iter().map(OsString::as_os_str));
        let mut command = self.command(&words)?;
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        // Input and output at once: a command may answer before it has
        // read all of a large input. The writer ends with the scope.
        let output = std::thread::scope(|scope| {
            if let Some(mut stdin) = stdin {
                scope.spawn(move || {
                    let _ = std::io::Write::write_all(&mut stdin, input);
                });
            }
            child.wait_with_output()
        })?;
        Ok(SessionOutput {
            status: ExitStatus::from_sandbox(output.status),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// A template's run sent straight to its live server, as the
    /// `sandbox` binary would send it, with the same output and status,
    /// but without starting that binary (most of a run's cost).
    /// `None` when the config has no `template`, no server is up, or
    /// anything fails before the run starts: then the binary runs it (and
    /// starts the server, or says what is wrong).
    fn send_to_live_template(&self, input: &[u8]) -> Option<SessionOutput> {
        let Ok((text, _)) = source(&self.jail) else {
            return None;
        };
        // The binary refuses the ident `kill` (its kill command): it
        // says so.
        if self.ident == b"kill" {
            return None;
        }
        // As the binary reads it: the text under the name the binary is
        // given (the canonical path: its messages and warnings name it),
        // for this ident.
        let name = config_name(&self.jail.config.file);
        let Ok(jail) = Jail::from_text(&name, text.to_owned(), &self.ident) else {
            return None;
        };
        if !(jail.config.template && jail.config.wakeup) {
            return None;
        }
        let Ok(ident) = crate::session::Ident::new(&self.ident) else {
            return None;
        };
        // A run lost once started is the binary's failure too: status
        // and message as it gives them.
        let (code, message, stdout, output_stderr) =
            match crate::session::template::run_here(&jail, &ident, input) {
                Ok(None) => return None,
                Ok(Some(captured)) => {
                    let (code, message) = captured.ending.verdict(true);
                    (code, message, captured.stdout, captured.stderr)
                }
                Err(error) => (
                    error.exit_status(),
                    Some(format!("sandbox: {error}")),
                    Vec::new(),
                    Vec::new(),
                ),
            };
        let mut stderr = Vec::new();
        for warning in crate::check::warnings(&jail.config) {
            stderr.extend_from_slice(format!("sandbox: warning: {warning}\n").as_bytes());
        }
        stderr.extend_from_slice(&output_stderr);
        if let Some(message) = message {
            stderr.extend_from_slice(message.as_bytes());
            stderr.push(b'\n');
        }
        let raw = std::process::ExitStatus::from_raw(i32::from(code) << 8);
        Some(SessionOutput {
            status: ExitStatus::from_sandbox(raw),
            stdout,
            stderr,
        })
    }

    /// Ends the session and every process in it; fine if none is running.
    pub fn kill(&self) -> io::Result<()> {
        let ident = OsStr::from_bytes(&self.ident);
        let output = self
            .command(&[OsStr::new("kill"), ident])?
            .stdin(Stdio::null())
            .output()?;
        if output.status.success() {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "the session could not be ended ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_binary_that_is_not_there_is_an_error_naming_it() {
        let error = locate_binary(Some(Path::new("/nonexistent/sandbox"))).expect_err("missing");
        let message = Error::Binary(error).to_string();
        assert!(message.contains("/nonexistent/sandbox"), "{message}");
        assert!(message.contains("SANDBOX_BIN"), "{message}");
    }

    #[test]
    fn a_missing_binary_is_a_not_found_io_error_holding_the_typed_one() {
        let jail = Jail::from_config_str("see /usr\n", "bot")
            .expect("a jail")
            .with_binary("/nonexistent/sandbox");
        let error = jail.command("true").spawn().expect_err("no binary");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let inner = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::Binary(_))), "{error:?}");
    }

    #[test]
    fn a_jail_without_text_cannot_spawn() {
        let config = Config::parse(Path::new("x.conf"), "see /usr\n", "bot").expect("config");
        let jail = Jail::from_config(config)
            .expect("a jail")
            .with_binary("/bin/true");
        let error = jail.command("true").spawn().expect_err("no text");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn the_empty_ident_passes_a_word_that_selects_no_block() {
        let text = "see /usr\nident library\nsee /etc\nend\n";
        let jail = Jail::from_config_str(text, "").expect("a jail");
        let ident = ident_for_binary(&jail, text, b"").expect("an ident");
        assert_eq!(ident, "library-1");
        let error = ident_for_binary(&jail, text, b"kill").expect_err("kill");
        assert!(error.contains("kill"), "{error}");
    }

    #[test]
    fn the_sandbox_statuses_read_back_as_endings() {
        let status =
            |code: i32| ExitStatus::from_sandbox(std::process::ExitStatus::from_raw(code << 8));
        assert!(status(0).success());
        assert_eq!(status(3).code(), Some(3));
        assert_eq!(status(137).signal(), Some(9));
        assert!(status(124).timed_out());
        for code in [2, 78, 125, 126, 127] {
            assert_eq!(
                status(code).ending(),
                Err(&JailFailure {
                    status: code,
                    message: None
                })
            );
        }
        let killed = ExitStatus::from_sandbox(std::process::ExitStatus::from_raw(9));
        assert_eq!(killed.signal(), Some(9));
    }
}
