//! A stopped thread with no process behind it, for the checks' unit
//! tests: its arguments, memory, path resolutions and descriptors are
//! whatever the test gives it; the policy is a real one compiled from
//! config text; what the checks ask and note is recorded.

use crate::Config;
use crate::policy::network::NetworkPolicy;
use crate::policy::{Asker, Denial, Policy, Target, Verdict};
use crate::syscall::Access;
use crate::tracer::answer::{Answer, Rewrite};
use crate::tracer::exec;
use crate::tracer::resolve::{Resolved, Start, Thread};
use crate::tracer::stopped::Stopped;
use nix::errno::Errno;
use nix::unistd::Pid;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The fake thread's id (and thread group).
pub const TID: i32 = 100;

pub struct FakeThread {
    pub arguments: [u64; 6],
    /// Regions of its memory: a start address and the bytes there.
    pub memory: Vec<(u64, Vec<u8>)>,
    /// What each path (as given, from the working directory) resolves to.
    pub paths: HashMap<Vec<u8>, Resolved>,
    /// Its descriptors, and the jail's view of other tasks' (owner, fd).
    pub descriptors: HashMap<(i32, i32), OwnedFd>,
    /// What each descriptor (or the working directory) names.
    pub starts: HashMap<Start, Resolved>,
    pub policy: Policy,
    pub network: NetworkPolicy,
    /// Loopback destinations where only jail sockets listen.
    pub jails_loopback: Vec<std::net::SocketAddr>,
    /// The program is under Landlock.
    pub landlock: bool,
    pub jail_pids: Vec<u32>,
    pub untouchable: bool,
    pub alone: bool,
    pub url_prefix: Option<String>,
    /// A file served at a path: (the path, the real file).
    pub served: Option<(String, PathBuf)>,
    pub bodies: HashMap<String, Result<PathBuf, Errno>>,
    pub max_threads: Option<u32>,
    /// Tasks the jail holds, and how many of them are on their way out.
    pub tasks: (u64, u64),
    pub session: bool,
    /// The config's `syscall` lines.
    pub narrowing: crate::syscall::Narrowing,
    /// The stop is the main program's own first exec, which the lines
    /// never refuse.
    pub first_exec: bool,
    /// The originals of the policy's `cow` mirrors.
    pub cow_originals: std::collections::HashSet<(u64, u64)>,
    /// The placeholders of the policy's `cow` mirrors.
    pub cow_placeholders: std::collections::HashSet<(u64, u64)>,

    // What the checks did.
    pub verdicts: Vec<(String, Access, Target, bool)>,
    pub reports: RefCell<Vec<String>>,
    pub handed_over: RefCell<u32>,
    pub clones: Vec<u64>,
    pub clone3_argument: Option<u64>,
    pub exec_judged: Option<Vec<exec::Identity>>,
    /// The interpreter cache, as the tracer keeps it across execs.
    pub interpreters: crate::tracer::interpreters::Cache,
    /// What the last exec check read that may be remembered.
    pub exec_pending: Vec<crate::tracer::interpreters::Pending>,
    pub async_io: bool,
    pub suspended: u32,
    /// The originals whose copy up was asked of a copier process.
    pub copied_aside: RefCell<Vec<(u64, u64)>>,
}

impl FakeThread {
    /// A thread whose policy is `config` (the lines of one ident).
    pub fn new(config: &str) -> FakeThread {
        let config = Config::parse(Path::new("test.conf"), config, "test")
            .unwrap_or_else(|error| panic!("test config: {error}"));
        let policy = Policy::compile(&config).unwrap_or_else(|error| panic!("policy: {error}"));
        let narrowing = config.limits.narrowing();
        FakeThread {
            arguments: [0; 6],
            memory: Vec::new(),
            paths: HashMap::new(),
            descriptors: HashMap::new(),
            starts: HashMap::new(),
            policy,
            network: NetworkPolicy::default(),
            jails_loopback: Vec::new(),
            landlock: false,
            jail_pids: vec![TID as u32],
            untouchable: false,
            alone: true,
            url_prefix: None,
            served: None,
            bodies: HashMap::new(),
            max_threads: None,
            tasks: (1, 0),
            session: false,
            narrowing,
            first_exec: false,
            cow_originals: Default::default(),
            cow_placeholders: Default::default(),
            verdicts: Vec::new(),
            reports: RefCell::new(Vec::new()),
            handed_over: RefCell::new(0),
            clones: Vec::new(),
            clone3_argument: None,
            exec_judged: None,
            interpreters: Default::default(),
            exec_pending: Vec::new(),
            async_io: false,
            suspended: 0,
            copied_aside: RefCell::new(Vec::new()),
        }
    }

    /// A thread with these arguments and an empty policy.
    pub fn with_arguments(arguments: [u64; 6]) -> FakeThread {
        let mut thread = FakeThread::new("");
        thread.arguments = arguments;
        thread
    }

    /// Stops the thread at syscall `name` with `arguments` and answers
    /// it as the tracer does, through the real syscall table.
    pub fn call(&mut self, name: &str, arguments: [u64; 6]) -> Answer {
        let nr =
            u64::from(crate::arch::number_of(name).unwrap_or_else(|| panic!("no syscall {name}")));
        self.arguments = arguments;
        let (name, class) = crate::syscall::Table::native().lookup(nr);
        crate::tracer::decide::answer(self, nr, name, class)
    }

    /// Puts `bytes` at `address` in its memory.
    pub fn poke(&mut self, address: u64, bytes: &[u8]) {
        self.memory.retain(|(start, _)| *start != address);
        self.memory.push((address, bytes.to_vec()));
    }

    /// Puts the NUL-terminated `path` at `address`.
    pub fn poke_path(&mut self, address: u64, path: &str) {
        let mut bytes = path.as_bytes().to_vec();
        bytes.push(0);
        self.poke(address, &bytes);
    }

    /// Makes `given` resolve to the existing `canonical` path.
    pub fn lays_out(&mut self, given: &str, canonical: &str, exists: bool) {
        self.lays_out_walking(given, canonical, exists, false);
    }

    /// [`Self::lays_out`], with a walk through a directory the jail can
    /// write (`touched_writable`): the kernel must get the jail's copy.
    pub fn lays_out_walking(
        &mut self,
        given: &str,
        canonical: &str,
        exists: bool,
        touched_writable: bool,
    ) {
        self.paths.insert(
            given.as_bytes().to_vec(),
            Resolved {
                target: Target::Path(PathBuf::from(canonical)),
                exists,
                held_via: None,
                touched_writable,
                // Filled at each resolve, as a walk finds it then.
                looked: None,
            },
        );
    }

    /// Gives the thread descriptor `fd` on `file`, naming `canonical`.
    pub fn holds(&mut self, fd: i32, file: OwnedFd, canonical: &str) {
        self.descriptors.insert((TID, fd), file);
        self.starts.insert(
            Start::Fd(fd),
            Resolved {
                target: Target::Path(PathBuf::from(canonical)),
                exists: true,
                held_via: None,
                touched_writable: false,
                looked: None,
            },
        );
    }

    /// The accesses the policy refused, as `(call, access, target)`.
    pub fn denied(&self) -> Vec<(String, Access, Target)> {
        self.verdicts
            .iter()
            .filter(|(.., allowed)| !allowed)
            .map(|(call, access, target, _)| (call.clone(), *access, target.clone()))
            .collect()
    }

    fn region(&self, address: u64) -> Option<&[u8]> {
        self.memory.iter().find_map(|(start, bytes)| {
            let offset = address.checked_sub(*start)?;
            bytes.get(usize::try_from(offset).ok()?..)
        })
    }
}

impl Stopped for FakeThread {
    fn tid(&self) -> Pid {
        Pid::from_raw(TID)
    }

    fn real_path(&self, path: &Path) -> PathBuf {
        self.policy.cow.to_real(path)
    }

    fn in_cow_tree(&self, path: &Path) -> bool {
        self.policy.cow.in_tree(path)
    }

    fn kernel_may_change(&self, path: &Path) -> bool {
        !self.policy.cow.in_real_tree(path)
    }

    fn cow_tree_of(&self, path: &Path) -> Option<PathBuf> {
        self.policy.cow.tree_of(path).map(Path::to_path_buf)
    }

    fn cow_originals(&self) -> &std::collections::HashSet<(u64, u64)> {
        &self.cow_originals
    }

    fn cow_placeholders(&self) -> &std::collections::HashSet<(u64, u64)> {
        &self.cow_placeholders
    }

    fn copy_aside(&self, copy: crate::cow::copyup::Copy) -> Errno {
        self.copied_aside.borrow_mut().push(copy.original());
        Errno::EINPROGRESS
    }

    fn ids(&mut self) -> Thread {
        Thread {
            tid: Pid::from_raw(TID),
            tgid: Pid::from_raw(TID),
        }
    }

    fn argument(&self, index: u8) -> u64 {
        self.arguments[usize::from(index)]
    }

    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), Errno> {
        let bytes = self.region(address).ok_or(Errno::EFAULT)?;
        let bytes = bytes.get(..buffer.len()).ok_or(Errno::EFAULT)?;
        buffer.copy_from_slice(bytes);
        Ok(())
    }

    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Errno> {
        let (start, region) = self
            .memory
            .iter_mut()
            .find(|(start, region)| address >= *start && address - *start <= region.len() as u64)
            .ok_or(Errno::EFAULT)?;
        let offset = (address - *start) as usize;
        let end = offset.checked_add(bytes.len()).ok_or(Errno::EFAULT)?;
        region
            .get_mut(offset..end)
            .ok_or(Errno::EFAULT)?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn read_path(&self, address: u64) -> Result<Vec<u8>, Errno> {
        let bytes = self.region(address).ok_or(Errno::EFAULT)?;
        let end = bytes.iter().position(|&b| b == 0).ok_or(Errno::EFAULT)?;
        Ok(bytes[..end].to_vec())
    }

    fn resolve(&mut self, _start: Start, path: &[u8], _follow: bool) -> Result<Resolved, Errno> {
        let mut resolved = self.paths.get(path).cloned().ok_or(Errno::ENOENT)?;
        // What the walk's lstat of the object finds now, where it exists.
        if let Target::Path(canonical) = &resolved.target {
            resolved.looked = nix::sys::stat::lstat(canonical)
                .ok()
                .filter(|stat| stat.st_mode & libc::S_IFMT != libc::S_IFLNK)
                .map(|stat| crate::tracer::resolve::Looked::from(&stat));
        }
        Ok(resolved)
    }

    fn resolve_scoped(
        &mut self,
        start: Start,
        path: &[u8],
        follow: bool,
        _program_resolve: u64,
    ) -> Result<Resolved, Errno> {
        self.resolve(start, path, follow)
    }

    fn start_target(&mut self, start: Start) -> Result<Resolved, Errno> {
        self.starts.get(&start).cloned().ok_or(Errno::EBADF)
    }

    fn verdict(
        &mut self,
        call: &str,
        access: Access,
        target: &Target,
        given: &str,
    ) -> Result<(), Errno> {
        let jail_pids = self.jail_pids.clone();
        let verdict = self.policy.judge(
            access,
            target,
            given,
            &|pid| jail_pids.contains(&pid),
            Some(Asker {
                tgid: TID as u32,
                tid: TID as u32,
            }),
        );
        let outcome = match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Deny { errno, .. } => Err(Errno::from_raw(errno)),
        };
        self.verdicts
            .push((call.to_owned(), access, target.clone(), outcome.is_ok()));
        outcome
    }

    fn judge_path(&mut self, access: Access, target: &Target, given: &str) -> Verdict {
        let jail_pids = self.jail_pids.clone();
        let verdict =
            self.policy
                .judge(access, target, given, &|pid| jail_pids.contains(&pid), None);
        self.verdicts.push((
            "(path)".to_owned(),
            access,
            target.clone(),
            verdict == Verdict::Allow,
        ));
        verdict
    }

    fn report_denial(&self, denial: &Denial) {
        self.reports.borrow_mut().push(denial.to_string());
    }

    fn network(&self) -> &NetworkPolicy {
        &self.network
    }

    fn socket_files_only_in_write_trees(&self) -> bool {
        self.landlock
    }

    fn loopback_reaches_only_jail(
        &self,
        _protocol: crate::config::network::Protocol,
        destination: std::net::SocketAddr,
    ) -> bool {
        self.jails_loopback.contains(&destination)
    }

    fn abstract_reaches_only_jail(&self, _name: &[u8]) -> bool {
        // Not a template: the Landlock domain is the jail's own.
        true
    }

    fn is_inside_writable(&self, path: &Path) -> bool {
        self.policy.is_inside_writable(path)
    }

    fn in_writable_tree(&self, path: &Path) -> bool {
        self.policy.is_writable_dir(path)
    }

    fn untouchable(&mut self, _address: u64, _len: u64) -> bool {
        self.untouchable
    }

    fn alone_with_descriptors(&self) -> bool {
        self.alone
    }

    fn is_jail_pid(&self, pid: u32) -> bool {
        self.jail_pids.contains(&pid)
    }

    fn take_descriptor(&self, owner: Pid, fd: i32) -> Result<OwnedFd, Errno> {
        let held = self
            .descriptors
            .get(&(owner.as_raw(), fd))
            .ok_or(Errno::EBADF)?;
        held.try_clone().map_err(|_| Errno::EMFILE)
    }

    fn hand_over(
        &self,
        held: OwnedFd,
        name: Option<&OsStr>,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, Errno> {
        *self.handed_over.borrow_mut() += 1;
        let mut path = format!("/proc/1/fd/{}", held.as_raw_fd()).into_bytes();
        rewrite.hold(held);
        if let Some(name) = name {
            path.push(b'/');
            path.extend_from_slice(name.as_bytes());
        }
        Ok(path)
    }

    fn openat2_number(&self) -> u64 {
        u64::from(crate::arch::number_of("openat2").unwrap_or(u32::MAX))
    }

    fn served_file(&self, path: &Path) -> Option<OwnedFd> {
        let (at, file) = self.served.as_ref()?;
        if path != Path::new(at) {
            return None;
        }
        std::fs::File::open(file).ok().map(OwnedFd::from)
    }

    fn url_for(&self, path: &[u8]) -> Option<String> {
        let prefix = self.url_prefix.as_ref()?;
        let rest = path.strip_prefix(prefix.as_bytes())?;
        Some(format!("http://{}", String::from_utf8_lossy(rest)))
    }

    fn download(&mut self, url: &str) -> Result<OwnedFd, Errno> {
        match self.bodies.get(url) {
            Some(Ok(file)) => std::fs::File::open(file)
                .map(OwnedFd::from)
                .map_err(|_| Errno::EIO),
            Some(Err(errno)) => Err(*errno),
            None => Err(Errno::ENOENT),
        }
    }

    fn report_line(&self, line: &str) {
        self.reports.borrow_mut().push(line.to_owned());
    }

    fn report_syscall(&self, name: &str, _nr: u64) {
        self.reports.borrow_mut().push(format!("[Syscall {name}]"));
    }

    fn narrowed(&self, nr: u64, _name: &str) -> Option<crate::syscall::Refusal> {
        if self.first_exec {
            return None;
        }
        self.narrowing.refusal(nr)
    }

    fn max_threads(&self) -> Option<u32> {
        self.max_threads
    }

    fn task_count(&self, exiting: bool) -> u64 {
        let (all, leaving) = self.tasks;
        let in_flight = self.clones.len() as u64;
        if exiting {
            all + in_flight
        } else {
            all - leaving + in_flight
        }
    }

    fn note_clone(&mut self, flags: u64) {
        self.clones.push(flags);
    }

    fn note_clone3_argument(&mut self, address: u64) {
        self.clone3_argument = Some(address);
    }

    fn interpreters(&mut self) -> &mut crate::tracer::interpreters::Cache {
        &mut self.interpreters
    }

    fn note_exec_judged(
        &mut self,
        judged: Vec<exec::Identity>,
        pending: Vec<crate::tracer::interpreters::Pending>,
    ) {
        self.exec_judged = Some(judged);
        self.exec_pending = pending;
    }

    fn note_async_io(&mut self) {
        self.async_io = true;
    }

    fn suspend(&mut self) -> bool {
        if self.session {
            self.suspended += 1;
        }
        self.session
    }
}

/// A directory of real files for a test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "sandbox-unit-{name}-{}-{unique}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }

    /// `name` inside it, as a string.
    pub fn join(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The errno of a refusal; 0 for anything else.
pub fn refused_with(answer: &Answer) -> i32 {
    match answer {
        Answer::Refuse(errno) => *errno as i32,
        _ => 0,
    }
}

/// The bytes a rewrite puts in argument `index`'s scratch copy.
pub fn scratch_of(answer: &Answer, index: u8) -> Option<Vec<u8>> {
    let Answer::Rewrite(rewrite) = answer else {
        return None;
    };
    rewrite.args.iter().find_map(|(at, arg)| match arg {
        crate::tracer::answer::Arg::Scratch(_, bytes) if *at == index => Some(bytes.clone()),
        _ => None,
    })
}
