//! Test harness: builds the C fixtures once, lays out a temp tree per test,
//! writes the config and runs `sandbox` with a hard timeout.
//!
//! Per-test layout (`Jail::new`), all under a fresh `/tmp/sbx-XXXX` (0755):
//!   bin/      copies of the fixture binaries          (`see`n)
//!   jail/     file ("hello"), dir/                    (`see` and `write` root)
//!   ro/       file ("readonly", mode 0666), dir/      (`see` root)
//!   hidden/   file ("secret"), dir/                   (not visible)
//!   jail2/    file ("other")                          (not visible)
//!   sandbox.conf
//!
//! Probe cases are written as `"open {jail}/file rdonly"`: `{root}`,
//! `{bin}`, `{jail}`, `{ro}`, `{hidden}`, `{jail2}` are substituted, the
//! words split on spaces, and all cases of one check run chained (`+`) in a
//! single jailed probe, one output line per case.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const SANDBOX: &str = env!("CARGO_BIN_EXE_sandbox");
/// The ident every test runs with.
pub const IDENT: &str = "test";
/// Hard limit for one jail run unless a test says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The C fixtures, by file stem.
pub const FIXTURES: &[&str] = &[
    "probe", "busy", "sleeper", "segv", "abort", "exitcode", "daemon", "selfinfo", "events",
    "modern",
];

/// Builds every `fixtures/*.c` once per test run (static, -O2) and returns
/// the directory holding the binaries.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("", FIXTURES))
}

/// When the newest `*.h` under `fixtures/` (and `fixtures/escape/`) changed.
fn newest_header() -> std::time::SystemTime {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    [root.clone(), root.join("escape")]
        .iter()
        .filter_map(|dir| fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "h"))
        .filter_map(|entry| entry.metadata().ok()?.modified().ok())
        .max()
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// Compiles `fixtures/<sub>/<name>.c` for each name into
/// `$CARGO_TARGET_TMPDIR/sandbox-fixtures/<sub>`, skipping binaries newer
/// than their source, and returns that directory.
fn build_fixtures(sub: &str, names: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(sub);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sandbox-fixtures")
        .join(sub);
    fs::create_dir_all(&out).expect("create fixtures output dir");
    for name in names {
        let c = src.join(format!("{name}.c"));
        let bin = out.join(name);
        // Newer than its source and than the headers fixtures share.
        let fresh = match (fs::metadata(&c), fs::metadata(&bin)) {
            (Ok(c), Ok(b)) => {
                let built = b.modified().unwrap();
                built >= c.modified().unwrap() && built >= newest_header()
            }
            _ => false,
        };
        if fresh {
            continue;
        }
        // Build under a unique name, then rename: concurrent test runs
        // never see a half-written binary.
        let tmp = out.join(format!(".{name}.{}", std::process::id()));
        let result = Command::new("gcc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&tmp)
            .arg(&c)
            .arg("-lpthread")
            .output()
            .expect("run gcc (is it installed?)");
        assert!(
            result.status.success(),
            "gcc failed for {}:\n{}",
            c.display(),
            String::from_utf8_lossy(&result.stderr)
        );
        fs::rename(&tmp, &bin).expect("install fixture binary");
    }
    out
}

/// A host name the jail resolves to whatever address a file holds at the
/// time (nothing while it is empty), through `fixtures/resolver/shim.c`
/// preloaded into the jail: a name a test can move or remove between
/// two commands of a session, with no DNS and no change to /etc/hosts.
pub struct MovingName {
    pub name: &'static str,
    dir: tempfile::TempDir,
}

impl MovingName {
    /// `moving.test`, resolving to `address` (`""`: to nothing).
    pub fn new(address: &str) -> MovingName {
        let name = MovingName {
            name: "moving.test",
            dir: tempfile::tempdir().expect("temp dir"),
        };
        name.set(address);
        name
    }

    /// What the name resolves to from now on (`""`: nothing).
    pub fn set(&self, address: &str) {
        write_file(&self.dir.path().join("address"), address);
    }

    /// The environment the jail needs to resolve the name so.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", resolver_shim().display().to_string()),
            ("SANDBOX_TEST_NAME", self.name.to_string()),
            (
                "SANDBOX_TEST_ADDRESS_FILE",
                self.dir.path().join("address").display().to_string(),
            ),
        ]
    }
}

/// `fixtures/resolver/shim.c` built once per run as a shared library.
fn resolver_shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/resolver/shim.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-fixtures");
        fs::create_dir_all(&out).expect("create fixtures output dir");
        let tmp = out.join(format!(".resolver-shim.{}.so", std::process::id()));
        let result = Command::new("gcc")
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&tmp)
            .arg(&src)
            .arg("-ldl")
            .output()
            .expect("run gcc (is it installed?)");
        assert!(
            result.status.success(),
            "gcc failed for {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&result.stderr)
        );
        let shim = out.join("resolver-shim.so");
        fs::rename(&tmp, &shim).expect("install the resolver shim");
        shim
    })
}

/// Path of a built fixture binary (outside any jail tree).
pub fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

/// What a jail run produced.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The output pipes were still held open by some process 5 s after the
    /// jail exited (a leftover process that kept stdout/stderr).
    pub pipes_held: bool,
}

impl Output {
    /// Exit code; panics (with the output) if the jail died of a signal.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!(
                "the jail itself died of signal {:?}\n{}",
                self.status.signal(),
                self.describe()
            ),
        }
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn describe(&self) -> String {
        format!(
            "status: {:?} (code {:?}, signal {:?}) after {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status,
            self.status.code(),
            self.status.signal(),
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected exit code {code}\n{}",
            self.describe()
        );
        self
    }

    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn assert_stdout(&self, want: &str) -> &Self {
        assert_eq!(self.stdout, want, "unexpected stdout\n{}", self.describe());
        self
    }
}

/// Expected result of one probe case.
#[derive(Debug, Clone)]
pub enum Want {
    /// "ok", with or without a value.
    Ok,
    /// Exactly this line.
    Is(String),
    /// EACCES or EPERM: visible but not writable.
    Denied,
    /// ENOENT: not visible.
    Hidden,
    /// An errno name: the operation is refused (however).
    Refused,
    /// One of these errno names.
    OneOf(&'static [&'static str]),
}

impl Want {
    pub fn is(line: &str) -> Want {
        Want::Is(line.to_string())
    }

    fn matches(&self, got: &str) -> bool {
        match self {
            Want::Ok => got == "ok" || got.starts_with("ok "),
            Want::Is(s) => got == s,
            Want::Denied => got == "EACCES" || got == "EPERM",
            Want::Hidden => got == "ENOENT",
            // An errno name, as the probe prints a refusal.
            // An errno name, as the probe prints a refusal (after the
            // name of the step that failed, for cases of several steps).
            Want::Refused => got.rsplit(' ').next().is_some_and(|name| {
                name.len() > 1
                    && name.starts_with('E')
                    && name
                        .bytes()
                        .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
            }),
            Want::OneOf(names) => names.contains(&got),
        }
    }
}

/// A per-test directory tree and config.
pub struct Jail {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    config: String,
    /// The binary to run (a copy for the unprivileged tests).
    pub sandbox: PathBuf,
    /// Prefix command (e.g. `setpriv ...`) to run the jail through.
    pub wrapper: Vec<String>,
}

pub fn write_file(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Jail {
    /// A fresh tree with the standard layout and the standard config:
    /// `see {bin}`, `see {ro}`, `write {jail}`.
    pub fn new() -> Jail {
        let mut j = Jail::bare();
        j.set_config("see {bin}\nsee {ro}\nsee {jail}\nwrite {jail}\n");
        j
    }

    /// The standard layout with an empty config.
    pub fn bare() -> Jail {
        let dir = tempfile::Builder::new()
            .prefix("sbx-")
            .tempdir_in("/tmp")
            .expect("create temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let bin = root.join("bin");
        fs::create_dir(&bin).unwrap();
        for name in FIXTURES {
            copy_executable(fixture(name), bin.join(name));
        }
        for (d, content) in [
            ("jail", "hello\n"),
            ("ro", "readonly\n"),
            ("hidden", "secret\n"),
            ("jail2", "other\n"),
        ] {
            fs::create_dir(root.join(d)).unwrap();
            write_file(&root.join(d).join("file"), content);
            if d != "jail2" {
                fs::create_dir(root.join(d).join("dir")).unwrap();
            }
        }
        // World-writable, so that only the jail stands between an
        // unprivileged program and a write.
        fs::set_permissions(root.join("ro/file"), fs::Permissions::from_mode(0o666)).unwrap();
        Jail {
            _dir: dir,
            root,
            config: String::new(),
            sandbox: PathBuf::from(SANDBOX),
            wrapper: Vec::new(),
        }
    }

    /// Substitutes `{root}`, `{bin}`, `{jail}`, `{ro}`, `{hidden}`, `{jail2}`.
    pub fn expand(&self, text: &str) -> String {
        let r = self.root.display().to_string();
        text.replace("{root}", &r)
            .replace("{bin}", &format!("{r}/bin"))
            .replace("{jail2}", &format!("{r}/jail2"))
            .replace("{jail}", &format!("{r}/jail"))
            .replace("{ro}", &format!("{r}/ro"))
            .replace("{hidden}", &format!("{r}/hidden"))
    }

    /// Absolute path (as a String) of `rel` under the test root.
    pub fn p(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Path of a fixture binary inside the jail tree.
    pub fn bin(&self, name: &str) -> String {
        self.p(&format!("bin/{name}"))
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("sandbox.conf")
    }

    /// Replaces the config (placeholders expanded).
    pub fn set_config(&mut self, text: &str) {
        self.config = self.expand(text);
    }

    /// Appends lines to the config (placeholders expanded).
    pub fn add_config(&mut self, text: &str) {
        self.config.push_str(&self.expand(text));
        if !self.config.ends_with('\n') {
            self.config.push('\n');
        }
    }

    pub fn config_text(&self) -> &str {
        &self.config
    }

    /// A run of the jail with `args` after `<config> <ident>`.
    pub fn cmd<S: AsRef<str>>(&self, args: &[S]) -> Run<'_> {
        Run {
            jail: self,
            args: args.iter().map(|s| s.as_ref().to_string()).collect(),
            stdin: Vec::new(),
            keep_stdin_open: false,
            env: Vec::new(),
            extra_fds: Vec::new(),
            timeout: TIMEOUT,
            ident: IDENT.to_string(),
        }
    }

    /// Runs the probe in the jail with words (placeholders expanded).
    pub fn probe(&self, words: &str) -> Output {
        let mut args = vec![self.bin("probe")];
        args.extend(self.expand(words).split_whitespace().map(str::to_string));
        self.cmd(&args).run()
    }

    /// Runs a fixture (by name) in the jail with extra args.
    pub fn fixture(&self, name: &str, args: &[&str]) -> Output {
        let mut all = vec![self.bin(name)];
        all.extend(args.iter().map(|s| self.expand(s)));
        self.cmd(&all).run()
    }

    /// Runs all cases chained in one jailed probe and checks each line.
    pub fn check(&self, cases: &[(&str, Want)]) {
        let words = self.chain(cases);
        let out = self.cmd(&words).run();
        self.compare(cases, &out, "jailed");
    }

    /// Same cases, probe run natively (no jail): used to show the probe
    /// itself can do what the jail refuses.
    pub fn check_native(&self, cases: &[(&str, Want)]) {
        let words = self.chain(cases);
        let start = Instant::now();
        let out = Command::new(&words[0])
            .args(&words[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run probe natively");
        let out = Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
            pipes_held: false,
        };
        self.compare(cases, &out, "native");
    }

    fn chain(&self, cases: &[(&str, Want)]) -> Vec<String> {
        let mut words = vec![self.bin("probe")];
        for (i, (case, _)) in cases.iter().enumerate() {
            if i > 0 {
                words.push("+".into());
            }
            words.extend(self.expand(case).split_whitespace().map(str::to_string));
        }
        words
    }

    fn compare(&self, cases: &[(&str, Want)], out: &Output, how: &str) {
        let lines = out.lines();
        let mut bad = String::new();
        for (i, (case, want)) in cases.iter().enumerate() {
            // A missing line is never an answer, not even a refusal: the
            // probe (or the jail) did not get that far.
            match lines.get(i).copied() {
                Some(got) if want.matches(got) => {}
                Some(got) => {
                    let _ = writeln!(bad, "  probe {case}\n      want {want:?}, got {got}");
                }
                None => {
                    let _ = writeln!(bad, "  probe {case}\n      want {want:?}, got no line");
                }
            }
        }
        if lines.len() > cases.len() {
            let _ = writeln!(bad, "  extra output lines: {:?}", &lines[cases.len()..]);
        }
        // The probe exits 0 once it has answered every case.
        if out.code() != 0 {
            let _ = writeln!(bad, "  the probe's status is {}, not 0", out.code());
        }
        assert!(
            bad.is_empty(),
            "{how} probe mismatches:\n{bad}config:\n{}\n{}",
            self.config,
            out.describe()
        );
    }
}

impl Drop for Jail {
    /// Whatever a failed test left running from this tree is killed.
    fn drop(&mut self) {
        kill_running_from(&self.root);
    }
}

/// A configured jail invocation.
pub struct Run<'a> {
    jail: &'a Jail,
    args: Vec<String>,
    stdin: Vec<u8>,
    keep_stdin_open: bool,
    env: Vec<(String, String)>,
    extra_fds: Vec<(i32, PathBuf)>,
    timeout: Duration,
    ident: String,
}

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

impl Run<'_> {
    pub fn stdin(mut self, data: &[u8]) -> Self {
        self.stdin = data.to_vec();
        self
    }

    /// Keeps the jail's stdin pipe open (never sends EOF) until it exits.
    pub fn keep_stdin_open(mut self) -> Self {
        self.keep_stdin_open = true;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The jail starts with `path` open read-only on descriptor `fd`
    /// (inheritable). May be called several times.
    pub fn extra_fd(mut self, fd: i32, path: &Path) -> Self {
        self.extra_fds.push((fd, path.to_path_buf()));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn ident(mut self, ident: &str) -> Self {
        self.ident = ident.into();
        self
    }

    /// Writes the config, runs the jail and returns what it produced.
    /// Panics if it runs longer than the timeout (after killing it).
    pub fn run(self) -> Output {
        let j = self.jail;
        let conf = j.config_path();
        write_file(&conf, &j.config);
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
        let mut all: Vec<String> = vec![conf.display().to_string(), self.ident.clone()];
        all.extend(self.args.iter().cloned());
        self.run_raw(&all)
    }

    /// Runs the jail binary with exactly these arguments.
    pub fn run_raw(self, args: &[String]) -> Output {
        let j = self.jail;
        let mut cmd = if j.wrapper.is_empty() {
            Command::new(&j.sandbox)
        } else {
            let mut c = Command::new(&j.wrapper[0]);
            c.args(&j.wrapper[1..]).arg(&j.sandbox);
            c
        };
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C")
            .env("HOME", "/nonexistent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Ok(v) = std::env::var("RUST_LOG") {
            cmd.env("RUST_LOG", v);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let extra: Vec<(i32, fs::File)> = self
            .extra_fds
            .iter()
            .map(|(fd, path)| {
                (
                    *fd,
                    fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display())),
                )
            })
            .collect();
        let extra_raw: Vec<(i32, i32)> = extra
            .iter()
            .map(|(fd, f)| {
                use std::os::fd::AsRawFd;
                (*fd, f.as_raw_fd())
            })
            .collect();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Whatever the test process inherited (cargo's jobserver,
                // the shell's descriptors) must not reach the jail: mark
                // everything above 2 close-on-exec.
                libc::syscall(
                    libc::SYS_close_range,
                    3 as libc::c_uint,
                    libc::c_uint::MAX,
                    CLOSE_RANGE_CLOEXEC,
                );
                for &(target, src) in &extra_raw {
                    // dup2 clears close-on-exec on the target.
                    if libc::dup2(src, target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn sandbox");
        drop(extra);
        let pid = child.id() as libc::pid_t;

        let mut stdin = child.stdin.take().unwrap();
        let data = self.stdin.clone();
        let keep_open = self.keep_stdin_open;
        let (stdin_tx, stdin_rx) = mpsc::channel::<std::process::ChildStdin>();
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
            if keep_open {
                let _ = stdin_tx.send(stdin);
            }
        });

        let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
        for is_out in [true, false] {
            let mut pipe: Box<dyn Read + Send> = if is_out {
                Box::new(child.stdout.take().unwrap())
            } else {
                Box::new(child.stderr.take().unwrap())
            };
            let tx = tx.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((is_out, buf));
            });
        }
        drop(tx);

        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for sandbox") {
                break Some(status);
            }
            if start.elapsed() > self.timeout {
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = start.elapsed();
        let timed_out = status.is_none();
        let status = match status {
            Some(s) => s,
            None => {
                // SAFETY: plain kill(2) on our own child and its group.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                    libc::kill(pid, libc::SIGKILL);
                }
                let status = child.wait().expect("reap killed sandbox");
                kill_running_from(&j.root);
                status
            }
        };
        let held_stdin = stdin_rx.try_recv().ok();
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let mut pipes_held = false;
        let deadline = Instant::now() + Duration::from_secs(5);
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((true, b)) => stdout = b,
                Ok((false, b)) => stderr = b,
                Err(_) => {
                    pipes_held = true;
                    break;
                }
            }
        }
        drop(held_stdin);
        let out = Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
            pipes_held,
        };
        if timed_out {
            panic!(
                "sandbox still running after {:?}: killed it\nconfig:\n{}\n{}",
                self.timeout,
                j.config,
                out.describe()
            );
        }
        out
    }
}

/// True once `pid` no longer exists or is a zombie (PID 1 here may not
/// reap orphans).
pub fn is_gone(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks existence.
    let r = unsafe { libc::kill(pid, 0) };
    if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return true;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

/// Waits up to `limit` for all `pids` to be gone; returns those still alive.
pub fn wait_gone(pids: &[i32], limit: Duration) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|p| !is_gone(*p)).collect();
        if alive.is_empty() || start.elapsed() > limit {
            return alive;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills leftover fixture processes a failed test left behind (only if
/// their command name is one of our fixtures, so a recycled pid is safe).
pub fn kill_leftovers(pids: &[i32]) {
    for &pid in pids {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if FIXTURES.contains(&comm.trim()) {
            // SAFETY: kill(2) of a process we started (checked by name).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Kills every live process whose executable lies under `dir` (a test's
/// own temp tree, so nothing else can match).
pub fn kill_running_from(dir: &Path) {
    for pid in processes_running_from(dir) {
        // SAFETY: kill(2) of a process running a binary from our temp tree.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Parses the pids out of a probe `spawn` line: "ok N pid pid ...".
pub fn spawned_pids(line: &str) -> Vec<i32> {
    line.split_whitespace()
        .skip(2)
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// Ensures the unprivileged test user exists; returns its name.
pub fn test_user() -> &'static str {
    static USER: OnceLock<()> = OnceLock::new();
    USER.get_or_init(|| {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "sbxtest",
            ])
            .output()
            .expect("run useradd");
        // 9: the user already exists.
        assert!(
            out.status.success() || out.status.code() == Some(9),
            "useradd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    "sbxtest"
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Every `landlock` setting (`auto`, `off`) with every user a test can
/// run the jail as: ourselves, and the unprivileged test user when we are
/// root (`true`: run through [`test_user_runs`]).
pub fn landlock_and_users() -> Vec<(&'static str, bool)> {
    let users: &[bool] = if is_root() { &[false, true] } else { &[false] };
    ["auto", "off"]
        .into_iter()
        .flat_map(|landlock| users.iter().map(move |user| (landlock, *user)))
        .collect()
}

/// Makes `j` a tree the unprivileged test user ([`test_user`]) runs the
/// jail in, when we are root (a test run by another user already is
/// unprivileged, and nothing changes): the jail is a copy of the binary in
/// the tree (the user may not reach the build's), run through `setpriv`
/// with the user's ids and no supplementary groups (`j.wrapper`, which a
/// native control can put before its own command too); the write root
/// `jail/` and all in it become the user's.
///
/// Everything else stays root's, so that a change to it shows on the
/// host, but is open to the user as `ro/file` already is: `ro/` and
/// `hidden/` become world-writable directories (without the sticky bit),
/// so that unlinking, renaming or making a file there is refused by the
/// jail, not by the file modes. (`hidden/file` and the fixtures stay
/// readable by anyone, as they are.)
pub fn run_as_test_user(j: &mut Jail) {
    if !is_root() {
        return;
    }
    test_user_runs(j);
    chown_to_test_user(&[&j.path("jail")]);
    for dir in ["ro", "hidden"] {
        fs::set_permissions(j.path(dir), fs::Permissions::from_mode(0o777)).unwrap();
    }
}

/// The jail of `j` run by the test user (we are root): a copy of the
/// binary the user can run, inside the tree, and `setpriv` as the
/// wrapper. What the user must own is the caller's to give
/// ([`chown_to_test_user`]).
pub fn test_user_runs(j: &mut Jail) {
    let user = test_user();
    let copy = j.path("sandbox-bin");
    copy_executable(SANDBOX, &copy);
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    j.sandbox = copy;
    j.wrapper = vec![
        "setpriv".to_string(),
        format!("--reuid={user}"),
        format!("--regid={user}"),
        "--clear-groups".to_string(),
    ];
}

/// `chown -R <test user>:<test user>` of each path.
pub fn chown_to_test_user(paths: &[&Path]) {
    let user = test_user();
    let status = Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .args(paths)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown -R {user} {paths:?}");
}

/// A fresh standard tree ([`Jail::new`]) whose jail the unprivileged test
/// user runs: see [`run_as_test_user`].
pub fn unprivileged_jail() -> Jail {
    let mut j = Jail::new();
    run_as_test_user(&mut j);
    j
}

/// Live (non-zombie) processes whose executable lies under `dir`.
pub fn processes_running_from(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(exe) = fs::read_link(entry.path().join("exe"))
            && exe.starts_with(dir)
            && !is_gone(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Asserts no process started from the test's `bin/` is still alive
/// (waiting up to `limit`), killing any it finds.
pub fn assert_no_leftovers(j: &Jail, limit: Duration) {
    let start = Instant::now();
    loop {
        let left = processes_running_from(&j.path("bin"));
        if left.is_empty() {
            return;
        }
        if start.elapsed() > limit {
            kill_leftovers(&left);
            panic!("processes left behind after the jail exited: {left:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---- escape suite (`fixtures/escape/*.c`, `tests/jail/escape_*.rs`) ----

/// The escape-suite fixtures, by file stem (`fixtures/escape/<name>.c`).
pub const ESCAPE_FIXTURES: &[&str] = &[
    "race", "memory", "procfs", "seccomp", "untraced", "signals", "fdtty", "ioctl", "exec", "net",
];

/// Builds every `fixtures/escape/*.c` once per test run, as
/// [`fixtures_dir`] does for the others, and returns the directory.
pub fn escape_fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fixtures("escape", ESCAPE_FIXTURES))
}

impl Jail {
    /// Copies escape fixture `name` into the tree's `bin/` (visible in the
    /// standard config) and returns its path there.
    pub fn escape_bin(&self, name: &str) -> String {
        let dest = self.path("bin").join(name);
        if !dest.exists() {
            copy_executable(escape_fixtures_dir().join(name), &dest);
        }
        dest.display().to_string()
    }
}

/// Runs `args` (program first) without any jail: the control that shows
/// a trick works unconfined. Stdin is empty; the run is killed after
/// `timeout`, which fails the test.
pub fn run_native<S: AsRef<std::ffi::OsStr>>(args: &[S], timeout: Duration) -> Output {
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: only an async-signal-safe syscall between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn native fixture");
    let pid = child.id() as libc::pid_t;
    let mut pipes: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    let readers: Vec<_> = pipes
        .drain(..)
        .map(|mut pipe| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                buf
            })
        })
        .collect();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for native fixture") {
            break status;
        }
        if start.elapsed() > timeout {
            // SAFETY: kill(2) of our own child's process group.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            let _ = child.wait();
            panic!(
                "native run of {:?} still running after {timeout:?}",
                args[0].as_ref()
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    // Whatever the fixture left in its group (forked helpers) goes too.
    // SAFETY: kill(2) of our own child's process group.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let elapsed = start.elapsed();
    let mut outs = readers.into_iter().map(|r| r.join().unwrap_or_default());
    let stdout = outs.next().unwrap_or_default();
    let stderr = outs.next().unwrap_or_default();
    Output {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed,
        pipes_held: false,
    }
}

/// The summary a race fixture prints:
/// `attempts N escapes E allowed A refused R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaceSummary {
    pub attempts: u64,
    pub escapes: u64,
    pub allowed: u64,
    pub refused: u64,
}

/// Finds and parses the race summary line in `out`; panics with the whole
/// output if there is none.
pub fn race_summary(out: &Output) -> RaceSummary {
    let line = out
        .lines()
        .into_iter()
        .find(|line| line.contains("attempts "))
        .unwrap_or_else(|| panic!("no race summary line\n{}", out.describe()));
    let value = |key: &str| -> u64 {
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if word == key {
                return words
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("bad {key} in {line:?}\n{}", out.describe()));
            }
        }
        panic!("no {key} in {line:?}\n{}", out.describe())
    };
    RaceSummary {
        attempts: value("attempts"),
        escapes: value("escapes"),
        allowed: value("allowed"),
        refused: value("refused"),
    }
}

/// Copies an executable with `cp`, not from this process: a descriptor
/// open for writing here could be inherited by a child another test
/// thread forks at that moment, and running the copy would then fail with
/// ETXTBSY until that child execs.
pub fn copy_executable(from: impl AsRef<Path>, to: impl AsRef<Path>) {
    let (from, to) = (from.as_ref(), to.as_ref());
    let copied = Command::new("cp")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(copied.success(), "cp {} {}", from.display(), to.display());
}

/// One way the race tests run the jail: its config lines (added to the
/// test's) and its user.
#[derive(Debug)]
pub struct RaceMode {
    pub name: &'static str,
    pub config: &'static str,
    /// Run by the unprivileged test user ([`run_as_test_user`]), and so is
    /// the native control that shows the race can be won as that user.
    pub unprivileged: bool,
}

/// The jail as shipped (Landlock where the kernel has it, backing up the
/// tracer); with the tracer alone (`landlock off`, as on kernels without
/// Landlock), so that a tracer hole Landlock happens to cover is still
/// seen; and as shipped, run by the unprivileged test user, the tracer
/// and the program sharing one user without privileges.
pub const RACE_MODES: &[RaceMode] = &[
    RaceMode {
        name: "default config",
        config: "",
        unprivileged: false,
    },
    RaceMode {
        name: "landlock off",
        config: "landlock off\n",
        unprivileged: false,
    },
    RaceMode {
        name: "unprivileged user",
        config: "",
        unprivileged: true,
    },
];

/// The [`RACE_MODES`] this run has: the unprivileged user's only when we
/// are root, as every other mode already is unprivileged otherwise.
pub fn race_modes() -> Vec<&'static RaceMode> {
    RACE_MODES
        .iter()
        .filter(|mode| !mode.unprivileged || is_root())
        .collect()
}

/// No escape, and the race was live: at least `min_attempts` attempts,
/// both outcomes seen. Returns the failure instead of panicking, so that a
/// test can report every mode it ran.
pub fn race_held(
    label: &str,
    summary: RaceSummary,
    out: &Output,
    min_attempts: u64,
) -> Result<(), String> {
    eprintln!("{label}: {summary:?}");
    if summary.escapes != 0 {
        return Err(format!(
            "ESCAPE: the {label} race got through the jail\n{}",
            out.describe()
        ));
    }
    if !(summary.attempts >= min_attempts && summary.allowed > 0 && summary.refused > 0) {
        return Err(format!(
            "the {label} race was not exercised in the jail ({summary:?})\n{}",
            out.describe()
        ));
    }
    Ok(())
}

/// A test (or part of one) that cannot run on this machine says why where
/// the runner shows it; under `SANDBOX_TEST_STRICT=1` (set by `.ci/run`) a
/// skip is a failure, so CI never passes on a test that did not run.
pub fn skip(reason: &str) {
    if std::env::var_os("SANDBOX_TEST_STRICT").is_some_and(|value| value == "1") {
        panic!("skipped under SANDBOX_TEST_STRICT=1: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}
