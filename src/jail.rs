//! Orchestration: config + ident → policy → launch → tracer → ending.
//!
//! The only module that knows all the others. It prepares the child's
//! command (program lookup, argv, environment) and its Landlock roots,
//! starts the program with a [`crate::watchdog`] over it, traces it on the
//! calling thread and turns the tracer's outcome into an [`Ending`] or an
//! [`Error`]. A caller that wires more (a session: its pipes, the wakeup,
//! a time limit per command) does it between [`Jail::start`] and
//! [`Started::wait`]; this module knows nothing of sessions.

use crate::config::{Config, EnvOp};
use crate::error::{Error, ExecFailure};
use crate::fetch::{HttpFetcher, HttpOptions};
use crate::filter::{self, FilterOptions};
use crate::keeper::{self, Keeper};
use crate::landlock;
use crate::launch::{self, Command, LaunchError, Step};
use crate::policy::network::{NetworkPolicy, SystemResolver};
use crate::policy::{DenialKind, Policy, Target, Verdict};
use crate::report;
use crate::resources::{RaisedNofile, pin_to_cpu};
use crate::sys;
use crate::syscall::Access;
use crate::tracer::{Limits, Outcome, Tracer};
use crate::usage::{Hit, LimitHit, Usage};
use crate::watchdog::{Watchdog, WatchdogThread, Watched};
use nix::errno::Errno;
use rlimit::Resource;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use crate::report::Ending;

/// One jail: a loaded config and its compiled policy, for one ident.
///
/// Made from a file ([`Jail::load`]), from text
/// ([`Jail::from_config_str`]) or in code ([`Jail::builder`]); it runs a
/// program from a host process with [`Jail::command`] or [`Jail::run`]
/// (both through the `sandbox` binary), or on the calling thread with
/// [`Jail::run_in_this_process`] (what the `sandbox` binary itself does).
#[derive(Debug, Clone)]
pub struct Jail {
    /// What the config says for this jail's ident.
    pub config: Config,
    /// The config's compiled decisions.
    pub policy: Policy,
    /// The config text and the ident it was read for, which
    /// [`Jail::command`] hands to the `sandbox` binary; `None` for a jail
    /// made from a [`Config`] value ([`Jail::from_config`]).
    source: Option<Arc<Source>>,
    /// The `sandbox` binary [`Jail::command`] runs, when set
    /// ([`Jail::with_binary`]).
    binary: Option<PathBuf>,
}

/// Where a jail's config came from: the whole text (every ident's lines)
/// and the ident it was read for.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) text: String,
    pub(crate) ident: Vec<u8>,
}

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

impl Jail {
    /// Loads `config_path` for `ident` and compiles its policy.
    ///
    /// ```
    /// # std::fs::write("/tmp/sandbox-doctest-load.conf", "see /usr\n").unwrap();
    /// let jail = sandbox::Jail::load("/tmp/sandbox-doctest-load.conf".as_ref(), "alice")?;
    /// assert_eq!(jail.config.see, [std::path::PathBuf::from("/usr")]);
    /// # Ok::<(), sandbox::Error>(())
    /// ```
    pub fn load(config_path: &Path, ident: impl AsRef<[u8]>) -> Result<Jail, Error> {
        let text = Config::read(config_path, config_path)?;
        Jail::from_text(config_path, text, ident)
    }

    /// Loads the config from descriptor `fd`, inherited from whoever
    /// started this process (`sandbox --config-fd <n>`), for `ident`;
    /// errors name the config `name`. The descriptor is read from its
    /// start through `/proc/self/fd/<fd>` and left open.
    pub fn load_fd(fd: RawFd, name: &Path, ident: impl AsRef<[u8]>) -> Result<Jail, Error> {
        let shown = PathBuf::from(format!("{} (descriptor {fd})", name.display()));
        let text = Config::read(Path::new(&format!("/proc/self/fd/{fd}")), &shown)?;
        Jail::from_text(name, text, ident)
    }

    /// Parses `text` as the config file `file` for `ident`, keeping the
    /// text for [`Jail::command`].
    pub(crate) fn from_text(
        file: &Path,
        text: String,
        ident: impl AsRef<[u8]>,
    ) -> Result<Jail, Error> {
        let ident = ident.as_ref();
        let config = Config::parse(file, &text, ident)?;
        let mut jail = Jail::from_config(config)?;
        jail.source = Some(Arc::new(Source {
            text,
            ident: ident.to_vec(),
        }));
        Ok(jail)
    }

    /// A jail from a config value. It runs with
    /// [`Jail::run_in_this_process`], but [`Jail::command`] and
    /// [`Jail::run`] need the config's text, which such a jail lacks: make
    /// it with [`Jail::load`], [`Jail::from_config_str`] or
    /// [`Jail::builder`] to use those.
    pub fn from_config(config: Config) -> Result<Jail, Error> {
        let policy = Policy::compile(&config)?;
        Ok(Jail {
            config,
            policy,
            source: None,
            binary: None,
        })
    }

    /// Makes [`Jail::command`] run this `sandbox` binary instead of
    /// looking for one (see [`crate::command`] for where it looks).
    ///
    /// ```
    /// let jail = sandbox::Jail::from_config_str("see /usr\n", "bot")?
    ///     .with_binary("/usr/local/bin/sandbox");
    /// assert_eq!(jail.binary(), Some(std::path::Path::new("/usr/local/bin/sandbox")));
    /// # Ok::<(), sandbox::Error>(())
    /// ```
    #[must_use]
    pub fn with_binary(mut self, binary: impl Into<PathBuf>) -> Jail {
        self.binary = Some(binary.into());
        self
    }

    /// The `sandbox` binary set with [`Jail::with_binary`], if any.
    pub fn binary(&self) -> Option<&Path> {
        self.binary.as_deref()
    }

    /// The config text this jail was read from (every ident's lines), if
    /// it was read from text.
    pub fn config_text(&self) -> Option<&str> {
        self.source.as_ref().map(|source| source.text.as_str())
    }

    /// The ident this jail's config was read for, if it was read from
    /// text (empty for a policy built in code).
    pub fn ident(&self) -> Option<&[u8]> {
        self.source.as_ref().map(|source| source.ident.as_slice())
    }

    /// Runs `program` (or the config's `program`/`arg` lines when empty)
    /// in the jail, traced by the calling thread, and waits for it: what
    /// the `sandbox` binary does. **Only for a process that has no other
    /// children, ever, like the `sandbox` binary**: the tracer waits with
    /// `waitpid(-1, __WALL)` (it must hear of every task of the jail,
    /// whoever their parent), so it reaps any other child of this
    /// process, which its owner then never sees end. A host program uses
    /// [`Jail::run`] or [`Jail::command`], which run the jail in a
    /// `sandbox` process of its own.
    ///
    /// The calling thread keeps, from then on, no capability the program
    /// may not have (the config's `caps`): the program reaches the
    /// objects the tracer holds through the thread's `/proc` entry.
    ///
    /// With `reportfile` or `reportfd` lines, the run's records are
    /// written there as it goes ([`crate::report`]); a report output that
    /// cannot be opened is a config error, and nothing runs.
    pub fn run_in_this_process(&self, program: &[OsString]) -> Result<Ending, Error> {
        let Some(writer) = report::Writer::open(&self.config, &self.policy)? else {
            return self.run_reporting(program, None);
        };
        let usage = report::Usage::children();
        let writer = Rc::new(RefCell::new(writer));
        let result = self.run_reporting(program, Some(writer.clone()));
        // The tracer, which held the other reference, is gone.
        if let Ok(writer) = Rc::try_unwrap(writer) {
            let ending = match &result {
                Ok(ending) => Ok(*ending),
                Err(error) => Err(error.to_string()),
            };
            writer.into_inner().finish(ending, usage);
        }
        result
    }

    fn run_reporting(
        &self,
        program: &[OsString],
        writer: Option<Rc<RefCell<report::Writer>>>,
    ) -> Result<Ending, Error> {
        let network = self.network()?;
        let started = self.start_inner(program, None, network, writer)?;
        if let Some(limit) = self.config.time_limit {
            started.watchdog().arm(limit);
        }
        started.wait()
    }

    /// Starts `program` as [`Jail::run_in_this_process`] does, its stdin, stdout and
    /// stderr on `stdio` when given, and returns before tracing it: the
    /// caller (a session) wires what it needs to [`Started`], arms the
    /// time limit as it sees fit, and then calls [`Started::wait`] on this
    /// same thread.
    pub fn start(
        &self,
        program: &[OsString],
        stdio: Option<[RawFd; 3]>,
    ) -> Result<Started<'_>, Error> {
        // Names first: one that does not resolve is a config error, and
        // nothing runs.
        let network = self.network()?;
        self.start_with(program, stdio, network)
    }

    /// [`Jail::start`] with the network policy resolved already by
    /// [`Jail::network`] (a session resolves it before it forks its
    /// server, so that a name that does not resolve reaches the
    /// invocation that starts the session).
    pub fn start_with(
        &self,
        program: &[OsString],
        stdio: Option<[RawFd; 3]>,
        network: NetworkPolicy,
    ) -> Result<Started<'_>, Error> {
        self.start_inner(program, stdio, network, None)
    }

    fn start_inner(
        &self,
        program: &[OsString],
        stdio: Option<[RawFd; 3]>,
        mut network: NetworkPolicy,
        writer: Option<Rc<RefCell<report::Writer>>>,
    ) -> Result<Started<'_>, Error> {
        let mut command = self.prepare(program)?;
        command.command.stdio = stdio;
        // The cow trees' layer, made or reused now; the policy shows its
        // mirrors in place of the trees.
        let (policy, layer) = self.open_layer()?;
        if layer.is_some() {
            let start_dir = match &self.config.chdir {
                Some(dir) => Some(Policy::canonical_root(dir)),
                None => std::env::current_dir().ok(),
            };
            if let Some(dir) = start_dir
                && policy.cow.in_tree(&dir)
            {
                let real = policy.cow.to_real(&dir);
                command.command.chdir = Some(
                    CString::new(real.into_os_string().into_vec())
                        .map_err(|_| Error::Usage("a cow tree's path holds a NUL byte".into()))?,
                );
            }
        }
        let originals: std::collections::HashSet<(u64, u64)> = layer
            .as_ref()
            .map(|layer| {
                layer
                    .trees
                    .iter()
                    .flat_map(|tree| tree.manifest.originals())
                    .collect()
            })
            .unwrap_or_default();
        // `cowquota`: the layer counted before anything runs (a kept
        // layer's files count).
        let quota = match (&layer, self.config.cow.quota) {
            (Some(layer), Some(limit)) => {
                let mirrors: Vec<(std::path::PathBuf, u64)> = layer
                    .trees
                    .iter()
                    .map(|tree| (tree.mirror.clone(), tree.manifest.mirror_dev))
                    .collect();
                let sizes = crate::cow::quota::count(&mirrors, &originals).map_err(Error::Cow)?;
                let quota = crate::cow::quota::Quota::new(limit, mirrors, sizes);
                log::debug!("cowquota: {} of {limit} bytes used at start", quota.used());
                Some(quota)
            }
            _ => None,
        };
        // Names looked up now, before fork: the child cannot.
        let identity = crate::identity::resolve(&self.config).map_err(Error::Identity)?;
        let changes_credentials = identity
            .as_ref()
            .is_some_and(crate::identity::Identity::changes_credentials);
        command.command.identity = identity;
        command.command.caps = self.config.limits.caps.unwrap_or(0);
        // Only with `outputlimit` does the output pass through the jail (a
        // session's goes through its pipes, and the config refuses both).
        let output = match (self.config.limits.output_limit, stdio) {
            (Some(_), None) => {
                let pipes = crate::output::Pipes::new().map_err(|errno| {
                    Error::Launch(LaunchError::Resources {
                        what: "create the output pipes",
                        errno,
                    })
                })?;
                command.command.stdio = Some(pipes.stdio());
                Some(pipes)
            }
            _ => None,
        };
        let ruleset = self.landlock_ruleset(&policy, &network)?;
        if changes_credentials && ruleset.is_none() {
            let reason = match sys::landlock_abi_version() {
                Err(errno) => errno.desc().to_lowercase(),
                Ok(abi) => format!("ABI {abi}"),
            };
            return Err(Error::Identity(crate::identity::needs_landlock(
                &self.config,
                reason,
            )));
        }
        command.command.landlock = ruleset.as_ref().map(landlock::Ruleset::raw_fd);
        // Abstract names are the program's only where the kernel keeps
        // them inside its domain.
        network.abstract_unix_scoped = ruleset
            .as_ref()
            .is_some_and(|ruleset| ruleset.net.abstract_unix);
        // Under Landlock the program cannot reach the tracer's /proc: a
        // keeper inside its domain holds what the kernel is handed.
        let keeper_socket = match ruleset {
            Some(_) => Some(keeper::socket_pair().map_err(|errno| {
                Error::Launch(LaunchError::Resources {
                    what: "create the keeper's socket",
                    errno,
                })
            })?),
            None => None,
        };
        command.command.keeper = keeper_socket
            .as_ref()
            .map(|socket| socket.keeper_end.as_raw_fd());
        pin_to_cpu(self.config.cpu);
        // The tracer's descriptors are the jail's, not the program's: give
        // it all the NOFILE it may have, and the program its own back.
        let nofile = RaisedNofile::raise();
        command.command.nofile = nofile.original();
        // What the whole tree uses, when a limit needs it.
        let limits = &self.config.limits;
        // A template's limits are each run's, counted by its relay.
        let usage = (!self.config.template
            && (limits.cpu_time.is_some() || limits.max_memory.is_some()))
        .then(|| Arc::new(Usage::default()));
        // A template's runs end at their root's exit stop, before the
        // kernel tears the copy down (`Tracer::end_run_at_exit`).
        command.command.trace_exit = limits.cpu_time.is_some() || self.config.template;
        let launched = launch::spawn(&command.command)?;
        // The program reaches what the tracer holds through this thread's
        // /proc entry, which the kernel lets it do only if its capabilities
        // cover this thread's: this thread keeps no more than the program
        // (the child, forked already, drops its own after its rlimits).
        // A program of another user or group cannot reach it anyway (it
        // reaches the keeper); this thread then keeps what it needs to
        // read, trace and kill a process not its own.
        let mut tracer_caps = command.command.caps;
        if changes_credentials {
            tracer_caps |= sys::TRACER_FOR_ANOTHER_USER;
        }
        if let Err(errno) = sys::drop_capabilities(tracer_caps, sys::CapabilityScope::ThisThread) {
            log::warn!("cannot drop the tracer's capabilities: {}", errno.desc());
        }
        let keeper = keeper_socket.and_then(|socket| {
            drop(socket.keeper_end);
            match Keeper::connect(socket.tracer_end) {
                Ok(keeper) => Some(keeper),
                Err(errno) => {
                    log::debug!("no descriptor keeper: {}", errno.desc());
                    None
                }
            }
        });
        let timed_out = Arc::new(AtomicBool::new(false));
        // Set when the watchdog kills the program (time limit or request):
        // a download in progress then stops instead of keeping it alive.
        let ending = Arc::new(AtomicBool::new(false));
        let watchdog = WatchdogThread::start(launched.pid, timed_out.clone(), ending.clone())?;
        let hit = Arc::new(Hit::default());
        let copier = match (output, self.config.limits.output_limit) {
            (Some(pipes), Some(limit)) => {
                let (hit, watchdog) = (hit.clone(), watchdog.handle().clone());
                let past_limit = Box::new(move || {
                    hit.set(LimitHit::Output);
                    watchdog.kill();
                });
                Some(pipes.copy(limit, past_limit, ending.clone()))
            }
            _ => None,
        };
        if let Some(usage) = &usage {
            watchdog.handle().watch(Watched {
                usage: usage.clone(),
                cpu: self.config.limits.cpu_time,
                memory: self.config.limits.max_memory,
                hit: hit.clone(),
            });
        }
        let limits = Limits {
            max_threads: self.config.max_threads,
        };
        let placeholders = layer
            .as_ref()
            .map(|layer| {
                layer
                    .trees
                    .iter()
                    .flat_map(|tree| tree.manifest.placeholders())
                    .collect()
            })
            .unwrap_or_default();
        let mut tracer = Tracer::new(policy, limits, launched.pid, timed_out)
            .with_cow_originals(originals)
            .with_cow_placeholders(placeholders)
            .with_network(network)
            .with_narrowing(self.config.limits.narrowing());
        if ruleset.is_some() {
            tracer = tracer.with_landlock(keeper);
        }
        if let Some(usage) = usage {
            tracer = tracer.with_usage(usage);
        }
        if let Some(quota) = quota {
            tracer = tracer.with_quota(quota);
        }
        if let Some(writer) = writer {
            tracer = tracer.with_report(writer);
        }
        if let Some(options) = HttpOptions::from_config(&self.config) {
            let fetcher = Box::new(HttpFetcher::new(options.clone()).ending_with(ending));
            tracer = tracer.with_downloads(options, fetcher);
        }
        Ok(Started {
            jail: self,
            command,
            launched,
            tracer,
            watchdog,
            nofile,
            ruleset,
            hit,
            copier,
            layer,
        })
    }

    /// The layer of this jail's `cow` trees (made, or reused when one was
    /// kept), and the policy with their mirrors; without `cow` lines, the
    /// policy as it is.
    fn open_layer(&self) -> Result<(Policy, Option<crate::cow::Layer>), Error> {
        let mut policy = self.policy.clone();
        if !self.config.cow.is_active() {
            return Ok((policy, None));
        }
        let dir = self.layer_dir();
        // Layers are made below the canonical base: a mirror's path must
        // be the kernel's name for it (the tracer maps the names the
        // kernel gives), and no symlink may lead the base into a tree.
        let dir = match (dir.parent(), dir.file_name()) {
            (Some(base), Some(name)) => {
                crate::cow::layer::checked_base(base).map_err(Error::Cow)?;
                let mut roots: Vec<(&str, &Path)> = Vec::new();
                roots.extend(policy.see.iter().map(|root| ("see", root.as_path())));
                roots.extend(policy.write.iter().map(|root| ("write", root.as_path())));
                roots.extend(
                    policy
                        .cow
                        .roots
                        .iter()
                        .map(|root| ("cow", root.tree.as_path())),
                );
                crate::cow::layer::canonical_base(base, &roots)
                    .map_err(Error::Cow)?
                    .join(name)
            }
            _ => dir,
        };
        let trees: Vec<PathBuf> = policy
            .cow
            .roots
            .iter()
            .map(|root| root.tree.clone())
            .collect();
        let layer = crate::cow::Layer::open_or_make(&dir, &trees).map_err(Error::Cow)?;
        for (root, tree) in policy.cow.roots.iter_mut().zip(&layer.trees) {
            root.mirror = Some(tree.mirror.clone());
        }
        log::debug!("cow: layer {}", layer.dir.display());
        Ok((policy, Some(layer)))
    }

    /// Where this jail's layer lives: below `cowdir` (or the default
    /// directory), named after the config and the ident.
    pub fn layer_dir(&self) -> PathBuf {
        let base = self.config.cow.dir.clone().unwrap_or_else(|| {
            crate::config::cow::default_layer_base(nix::unistd::geteuid().as_raw())
        });
        let ident = self
            .source
            .as_ref()
            .map_or(&[][..], |source| source.ident.as_slice());
        crate::cow::layer_dir(&base, &self.config.file, ident)
    }

    /// The network policy of this jail: its `connect` lines' host names
    /// resolved now, by the machine's resolver, and its `connect unix:`
    /// paths made canonical. A name that does not resolve is a
    /// [`PolicyError::Network`](crate::policy::PolicyError::Network)
    /// naming the config line (status 78). Called at each start, by
    /// `--check`, and by a session before each command it resumes.
    pub fn network(&self) -> Result<NetworkPolicy, Error> {
        NetworkPolicy::resolve(&self.config, &SystemResolver)
            .map_err(|error| Error::Policy(error.into()))
    }

    /// The Landlock ruleset for this jail, if the kernel and config allow
    /// one, mirroring the TCP ports of `network`. Downloads must stay
    /// readable: their directory is added.
    fn landlock_ruleset(
        &self,
        policy: &Policy,
        network: &NetworkPolicy,
    ) -> Result<Option<landlock::Ruleset>, Error> {
        let http = HttpOptions::from_config(&self.config);
        let mut see: Vec<&Path> = policy.see.iter().map(PathBuf::as_path).collect();
        if let Some(http) = &http {
            see.push(http.download_dir());
        }
        let mut write: Vec<&Path> = policy.write.iter().map(PathBuf::as_path).collect();
        // A cow tree is read only; its mirror is read and written.
        for root in &policy.cow.roots {
            see.push(&root.tree);
            if let Some(mirror) = &root.mirror {
                see.push(mirror);
                write.push(mirror);
            }
        }
        // A rule binds to an inode, and each jailed process's own /proc
        // entry is made when it starts: roots under /proc/self open all of
        // /proc to Landlock, and the tracer alone keeps every other
        // entry hidden. (Landlock still keeps the program from other
        // processes' descriptors, memory and environment: those need
        // ptrace access, which it scopes to the program's own domain.)
        // Never written through Landlock: all of /proc would be writable
        // (/proc/sys among it), so under Landlock `write /proc/self/...`
        // lines only read.
        if !policy.own_proc.is_empty() {
            see.push(Path::new("/proc"));
        }
        match landlock::build(self.config.landlock, &see, &write, network)? {
            Ok(ruleset) => {
                log::debug!(
                    "landlock ABI {} confines the program ({:?})",
                    ruleset.abi,
                    ruleset.net
                );
                Ok(Some(ruleset))
            }
            Err(reason) => {
                if self.config.landlock != crate::config::LandlockMode::Off {
                    let message =
                        format!("landlock unavailable ({reason}); relying on ptrace alone");
                    if self.config.report {
                        crate::notice::line(&format!("sandbox: {message}"));
                    } else {
                        log::info!("{message}");
                    }
                }
                Ok(None)
            }
        }
    }

    /// The program's environment: inherited (unless `clearenv`), then the
    /// `setenv`/`unsetenv` lines in order. A set variable moves to the end.
    /// Linear in the number of lines: each name's place is looked up in a
    /// map and a replaced entry only marked gone.
    fn environment(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<Option<(OsString, OsString)>> = if self.config.clear_env {
            Vec::new()
        } else {
            std::env::vars_os().map(Some).collect()
        };
        // Where each name stands (an inherited environment may hold a name
        // twice; a `setenv` or `unsetenv` removes every copy).
        let mut places: HashMap<OsString, Vec<usize>> = HashMap::with_capacity(env.len());
        for (index, entry) in env.iter().enumerate() {
            if let Some((name, _)) = entry {
                places.entry(name.clone()).or_default().push(index);
            }
        }
        for op in &self.config.env {
            let name = match op {
                EnvOp::Set(name, _) | EnvOp::Unset(name) => OsStr::new(name),
            };
            for index in places.remove(name).unwrap_or_default() {
                env[index] = None;
            }
            if let EnvOp::Set(name, value) = op {
                places.insert(name.into(), vec![env.len()]);
                env.push(Some((name.into(), value.into())));
            }
        }
        env.into_iter().flatten().collect()
    }

    fn prepare(&self, program: &[OsString]) -> Result<Prepared, Error> {
        let (name, argv): (OsString, Vec<OsString>) = match program.split_first() {
            Some((name, _)) => (name.clone(), program.to_vec()),
            None => match &self.config.program {
                Some(name) => {
                    let argv = if self.config.args.is_empty() {
                        vec![OsString::from(name)]
                    } else {
                        self.config.args.iter().map(OsString::from).collect()
                    };
                    (name.into(), argv)
                }
                None => {
                    return Err(Error::Usage(
                        "no program to run: name one on the command line or with `program` in \
                         the config"
                            .into(),
                    ));
                }
            },
        };
        let env = self.environment();
        let search_path = env
            .iter()
            .find(|(key, _)| key == "PATH")
            .map_or_else(|| OsString::from(DEFAULT_PATH), |(_, value)| value.clone());
        let path = self.find_program(&name, &search_path);
        let c = |bytes: Vec<u8>| {
            CString::new(bytes).map_err(|_| Error::Usage("an argument contains a NUL byte".into()))
        };
        let envp = env
            .into_iter()
            .map(|(key, value)| {
                let mut entry = key.into_vec();
                entry.push(b'=');
                entry.extend(value.into_vec());
                c(entry)
            })
            .collect::<Result<_, _>>()?;
        let command = Command {
            path: c(path.into_os_string().into_vec())?,
            argv: argv
                .into_iter()
                .map(|arg| c(arg.into_vec()))
                .collect::<Result<_, _>>()?,
            envp,
            chdir: match &self.config.chdir {
                Some(dir) => Some(c(dir.as_os_str().as_bytes().to_vec())?),
                None => None,
            },
            rlimits: self.config.rlimits.clone(),
            nofile: None,
            pass_fds: if self.config.close_fds {
                Vec::new()
            } else {
                self.config.pass_fds.clone()
            },
            filter: filter::build_narrowed(
                FilterOptions {
                    wakeup: self.config.wakeup,
                    // Refused syscalls stop for the tracer when someone
                    // reads of them: `[Syscall ...]` lines or `deny` records.
                    report: self.config.report
                        || self.config.report_file.is_some()
                        || self.config.report_fd.is_some(),
                    cow: self.config.cow.is_active(),
                    cowquota: self.config.cow.is_active() && self.config.cow.quota.is_some(),
                },
                &self.config.limits.narrowing(),
            ),
            stdio: None,
            landlock: None,
            keeper: None,
            trace_exit: false,
            identity: None,
            caps: 0,
        };
        Ok(Prepared {
            command,
            name: name.into_vec(),
        })
    }

    /// A name with a slash is used as it is; a bare name is looked up in
    /// the jail's `PATH`, skipping what the jail cannot see, so the
    /// program found is one the jail would find.
    fn find_program(&self, name: &OsStr, search_path: &OsStr) -> PathBuf {
        if name.as_bytes().contains(&b'/') {
            return PathBuf::from(name);
        }
        for dir in search_path.as_bytes().split(|&byte| byte == b':') {
            if dir.is_empty() {
                continue;
            }
            let candidate = Path::new(OsStr::from_bytes(dir)).join(name);
            let Ok(canonical) = candidate.canonicalize() else {
                continue;
            };
            let visible = self.policy.judge(
                Access::Read,
                &Target::Path(canonical.clone()),
                "",
                &|_| false,
                None,
            ) == Verdict::Allow;
            let executable = nix::unistd::access(&canonical, nix::unistd::AccessFlags::X_OK)
                .is_ok()
                && canonical.is_file();
            if visible && executable {
                return candidate;
            }
        }
        PathBuf::from(name)
    }
}

struct Prepared {
    command: Command,
    name: Vec<u8>,
}

impl Prepared {
    fn argv_program(&self) -> &[u8] {
        &self.name
    }
}

/// A program launched in the jail and seized, not yet traced (see
/// [`Jail::start`]).
pub struct Started<'jail> {
    jail: &'jail Jail,
    command: Prepared,
    launched: launch::Launched,
    tracer: Tracer,
    watchdog: WatchdogThread,
    nofile: RaisedNofile,
    /// Held until the jail ends (the child has its own copy).
    ruleset: Option<landlock::Ruleset>,
    /// Which of the tree's limits ended the jail, if one did.
    hit: Arc<Hit>,
    /// Copies the program's output to the jail's (`outputlimit`).
    copier: Option<crate::output::Copier>,
    /// The `cow` trees' layer, held (locked) until `onexit` is done.
    layer: Option<crate::cow::Layer>,
}

impl Started<'_> {
    /// The handle that arms the time limit and ends the jail.
    pub fn watchdog(&self) -> &Watchdog {
        self.watchdog.handle()
    }

    /// Makes the wakeup syscall call `suspend`, with every other task of
    /// the jail stopped; the jail runs on when it returns (a session's
    /// next command has started, or the session is over), under the
    /// network policy it returns if any (the host names resolved again,
    /// see [`Jail::network`]); `None` keeps the one it has.
    pub fn on_wakeup(mut self, mut suspend: Box<dyn FnMut() -> Option<NetworkPolicy>>) -> Self {
        // Whether the kernel scopes abstract names is the Landlock
        // domain's, fixed at start; a policy resolved later keeps it.
        let abstract_unix_scoped = self
            .ruleset
            .as_ref()
            .is_some_and(|ruleset| ruleset.net.abstract_unix);
        self.tracer = self.tracer.with_suspender(Box::new(move || {
            let mut network = suspend()?;
            network.abstract_unix_scoped = abstract_unix_scoped;
            Some(network)
        }));
        self
    }

    /// Traces the program until the jail ends, and says how it ended.
    pub fn wait(mut self) -> Result<Ending, Error> {
        let layer = self.layer.take();
        let config = &self.jail.config;
        let (on_exit, report) = (config.cow.on_exit, config.report);
        let ending = self.wait_on(Tracer::run)?;
        match layer {
            Some(layer) => crate::cow::on_exit(layer, on_exit, report)
                .map(|()| ending)
                .map_err(Error::Cow),
            None => Ok(ending),
        }
    }

    /// Traces the program as a template (`template`): prepared up to its
    /// wakeup, then forked for each run `link` asks for, until it has
    /// ended and no run is left; says how the prepared process ended.
    pub fn serve_template(self, link: crate::tracer::template::Link) -> Result<Ending, Error> {
        self.wait_on(move |tracer| tracer.run_template(link))
    }

    fn wait_on(
        self,
        trace: impl FnOnce(Tracer) -> Result<Outcome, crate::tracer::TraceError>,
    ) -> Result<Ending, Error> {
        let outcome = trace(self.tracer);
        // Everything the program wrote reaches the jail's output before
        // the jail ends (or is abandoned if the jail is being killed; the
        // watchdog still runs, so a reader that never reads cannot hold a
        // time limit up).
        if let Some(copier) = self.copier {
            copier.finish();
        }
        self.watchdog.stop();
        drop(self.nofile);
        let outcome = outcome?;
        // A limit that ended the jail says so, whatever the program's last
        // status (it was killed, or ended while being killed).
        if !matches!(outcome, Outcome::NotStarted { .. })
            && let Some(hit) = self.hit.get()
        {
            return Ok(match hit {
                LimitHit::Cpu => Ending::CpuLimit,
                LimitHit::Output => Ending::OutputLimit,
                LimitHit::Memory => Ending::MemoryLimit,
            });
        }
        match outcome {
            Outcome::Exited(code) => Ok(Ending::Exited(code)),
            Outcome::Killed(signal) => Ok(Ending::Killed(signal)),
            Outcome::TimedOut => Ok(Ending::TimedOut),
            Outcome::NotStarted { denial, exec_errno } => {
                let shown_program =
                    String::from_utf8_lossy(self.command.argv_program()).into_owned();
                let failure = launch::child_failure(&self.launched.errors, &self.command.command)
                    .or_else(|| {
                        exec_errno.map(|errno| LaunchError::Child {
                            step: Step::Exec,
                            errno: Errno::from_raw(errno),
                        })
                    });
                Err(self.jail.exec_error(shown_program, failure, denial))
            }
        }
    }
}

impl Jail {
    /// Why the program never ran, from the child's failure record (if it
    /// wrote one) and the jail's own refusal of its exec (if any).
    fn exec_error(
        &self,
        program: String,
        failure: Option<LaunchError>,
        denial: Option<(i32, crate::policy::Denial)>,
    ) -> Error {
        match failure {
            Some(LaunchError::Rlimit { limit, errno }) => Error::Rlimit {
                file: self.config.file.clone(),
                limit,
                errno,
                own: sys::get_rlimit(limit.resource).ok(),
            },
            // No record: the exec passed the point of no return and the
            // kernel killed the program while loading it. Low memory
            // limits do that; name them.
            None => {
                let memory = [Resource::AS, Resource::DATA, Resource::STACK];
                // The line that applies for each (the last), when it limits.
                let limits: Vec<_> = memory
                    .iter()
                    .filter_map(|&resource| {
                        self.config
                            .rlimits
                            .iter()
                            .rfind(|limit| limit.resource == resource)
                    })
                    .filter(|limit| limit.soft != u64::MAX)
                    .copied()
                    .collect();
                let reason = if limits.is_empty() {
                    ExecFailure::DiedStarting
                } else {
                    ExecFailure::StartedUnder {
                        file: self.config.file.clone(),
                        limits,
                    }
                };
                Error::Exec { program, reason }
            }
            failure => exec_error(program, failure, denial),
        }
    }
}

fn exec_error(
    program: String,
    failure: Option<LaunchError>,
    denial: Option<(i32, crate::policy::Denial)>,
) -> Error {
    match failure {
        Some(LaunchError::Child {
            step: Step::Exec,
            errno,
        }) => {
            let reason = match (errno, denial) {
                (_, Some((_, denial))) if denial.kind == DenialKind::See => {
                    ExecFailure::NotVisible(denial.canonical)
                }
                (Errno::ENOENT, _) => ExecFailure::NotFound,
                (Errno::EACCES | Errno::EPERM, _) => ExecFailure::NotExecutable,
                (errno, _) => ExecFailure::Other(errno),
            };
            Error::Exec { program, reason }
        }
        Some(other) => Error::Launch(other),
        None => Error::Exec {
            program,
            reason: ExecFailure::DiedStarting,
        },
    }
}
