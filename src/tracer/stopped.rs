//! The narrow view a check has of one stopped thread: its arguments and
//! memory, resolving a path as the kernel will for it, asking the policy,
//! taking and lending descriptors, and the few notes a check leaves for
//! the tracer (a clone in flight, the files an exec was judged on).
//!
//! The checks ([`super::checks`]) see nothing else of the tracer, so each
//! family is tested over a fake thread ([`super::checks::fake`]) with no
//! traced process; [`TaskView`] is the real one, over the tracer's state.

use crate::config::network::Protocol;
use crate::policy::network::{NetworkPolicy, loopback};
use crate::policy::{Asker, Denial, Target, Verdict};
use crate::sys;
use crate::syscall::Access;
use crate::tracer::answer::Rewrite;
use crate::tracer::checks::processes::is_exiting;
use crate::tracer::resolve::{self, Resolved, Start, Thread};
use crate::tracer::{Tracer, exec, interpreters, memory, spaces};
use log::{debug, warn};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a check may ask of a stopped thread and of the jail around it.
pub(in crate::tracer) trait Stopped {
    /// The stopped thread's id.
    fn tid(&self) -> Pid;
    /// Its thread id and thread-group id.
    fn ids(&mut self) -> Thread;
    /// Syscall argument `index` (0 to 5), as the registers hold it.
    fn argument(&self, index: u8) -> u64;
    /// Exactly `buffer.len()` bytes of its memory at `address`.
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), Errno>;
    /// A NUL-terminated path from its memory (without the NUL).
    fn read_path(&self, address: u64) -> Result<Vec<u8>, Errno>;
    /// Writes a result into its memory, as the kernel would (`EFAULT`
    /// where it cannot write).
    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Errno>;

    /// Resolves `path` as the kernel will for this thread.
    fn resolve(&mut self, start: Start, path: &[u8], follow: bool) -> Result<Resolved, Errno>;
    /// Names a lone name relative to descriptor `fd` without a walk, for
    /// a call the kernel runs as given (`resolve::lone_name`); `None`:
    /// resolve it.
    fn resolve_lone_name(&mut self, _fd: i32, _name: &[u8]) -> Option<Resolved> {
        None
    }
    /// Resolves `path` within the program's own `RESOLVE_BENEATH` or
    /// `RESOLVE_IN_ROOT` scope.
    fn resolve_scoped(
        &mut self,
        start: Start,
        path: &[u8],
        follow: bool,
        program_resolve: u64,
    ) -> Result<Resolved, Errno>;
    /// What the thread's working directory or descriptor `fd` names.
    fn start_target(&mut self, start: Start) -> Result<Resolved, Errno>;
    /// The real name the kernel is handed for the virtual `path`: its
    /// place in a `cow` tree's mirror, else itself.
    fn real_path(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    /// Whether the virtual `path` lies in a `cow` tree.
    fn in_cow_tree(&self, _path: &Path) -> bool {
        false
    }
    /// The `cow` tree (its real root) the virtual `path` lies in.
    fn cow_tree_of(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
    /// Whether the kernel may be handed the real `path` for a change:
    /// never one in a real `cow` tree (the mapping failed: fail closed).
    fn kernel_may_change(&self, _path: &Path) -> bool {
        true
    }
    /// The originals the `cow` mirrors link to: never written through.
    fn cow_originals(&self) -> &HashSet<(u64, u64)>;
    /// The layer's count against `cowquota`, if the config has one.
    fn quota(&self) -> Option<&std::cell::RefCell<crate::cow::quota::Quota>> {
        None
    }
    /// The placeholders of the `cow` mirrors (files the user can neither
    /// link nor read): never linked.
    fn cow_placeholders(&self) -> &HashSet<(u64, u64)>;
    /// Has `copy` (too large to make inside the tracer's loop) made by a
    /// copier process while the thread stays stopped; the tracer decides
    /// the call again once the copy stands, or refuses it with the
    /// copy's errno. The check returns the errno given here at once: the
    /// tracer drops its answer, the program never sees it.
    fn copy_aside(&self, copy: crate::cow::copyup::Copy) -> Errno;
    /// Every thread of the jail: their descriptors and mappings hold what
    /// the jail's processes keep open (each, since a `CLONE_FILES` child
    /// has mappings of its own).
    fn jail_tasks(&self) -> Vec<Pid> {
        Vec::new()
    }

    /// Asks the policy whether `call` may have `access` to `target`
    /// (`given` is the program's own spelling); a denial is reported.
    fn verdict(
        &mut self,
        call: &str,
        access: Access,
        target: &Target,
        given: &str,
    ) -> Result<(), Errno>;
    /// The policy's own verdict on `access` to `target`, neither reported
    /// nor remembered: for a check that combines it with another verdict
    /// (a unix socket path, with the network policy's).
    fn judge_path(&mut self, access: Access, target: &Target, given: &str) -> Verdict;
    /// Reports a denial (under `report`).
    fn report_denial(&self, denial: &Denial);
    /// What sockets may reach.
    fn network(&self) -> &NetworkPolicy;
    /// Whether Landlock lets the program make socket files only inside
    /// the `write` trees (it confines the program, `MAKE_SOCK` handled).
    fn socket_files_only_in_write_trees(&self) -> bool;
    /// Whether `destination` (on loopback) reaches only sockets a jail
    /// process holds, and at least one ([`crate::policy::network::loopback`]).
    fn loopback_reaches_only_jail(&self, protocol: Protocol, destination: SocketAddr) -> bool;
    /// Whether abstract unix `name` reaches only sockets of the thread's
    /// jail: in template mode, of its own run (the runs share one Landlock
    /// domain, which scopes abstract names to it); elsewhere always.
    fn abstract_reaches_only_jail(&self, name: &[u8]) -> bool;
    /// Whether `path` lies inside a `write` tree, where a name can be
    /// swapped after the check.
    fn is_inside_writable(&self, path: &Path) -> bool;
    /// Whether `path` is a `write` root or lies in a `write` or `cow`
    /// tree: the jail may change the file by that name.
    fn in_writable_tree(&self, path: &Path) -> bool;
    /// Whether nothing but the thread itself can change the `len` bytes
    /// at `address` before the kernel reads them.
    fn untouchable(&mut self, address: u64, len: u64) -> bool;
    /// Whether no other task can change the thread's descriptor table
    /// before the kernel acts.
    fn alone_with_descriptors(&self) -> bool;
    /// Whether `pid` is a task of this jail.
    fn is_jail_pid(&self, pid: u32) -> bool;
    /// What a signal's target that is no live task of this jail still is
    /// (`target` as `kill` takes it: a pid, or minus a group's id).
    fn gone_target(&self, _target: i32) -> Gone {
        Gone::Elsewhere
    }

    /// The jail's own copy of descriptor `fd` of task `owner`.
    fn take_descriptor(&self, owner: Pid, fd: i32) -> Result<OwnedFd, Errno>;
    /// `/proc/<holder>/fd/<n>[/<name>]`: how the kernel, running the
    /// thread's call, reaches `held`, which `rewrite` keeps until the
    /// call's exit.
    fn hand_over(
        &self,
        held: OwnedFd,
        name: Option<&OsStr>,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, Errno>;
    /// The native number of `openat2`, which every rewritten open becomes.
    fn openat2_number(&self) -> u64;

    /// The jail's own file served at absolute `path` in place of the
    /// host's (the synthetic `/etc/hosts`), if there is one.
    fn served_file(&self, path: &Path) -> Option<OwnedFd>;
    /// The URL `path` names, if it lies under an `http` prefix.
    fn url_for(&self, path: &[u8]) -> Option<String>;
    /// The jail's descriptor on the downloaded body of `url`.
    fn download(&mut self, url: &str) -> Result<OwnedFd, Errno>;
    /// Prints a report line (under `report` only).
    fn report_line(&self, line: &str);
    /// `[Syscall <name>]` for a syscall refused whatever its arguments.
    fn report_syscall(&self, name: &str, nr: u64);
    /// How a `syscall` line refuses syscall `nr` (named `name`) for this
    /// thread, if one does: never the main program's own first exec,
    /// which starts the program the lines are for.
    fn narrowed(&self, nr: u64, name: &str) -> Option<crate::syscall::Refusal>;

    /// The `maxthreads` limit, if any.
    fn max_threads(&self) -> Option<u32>;
    /// Tasks the jail holds or is about to (clones in flight); with
    /// `exiting: false`, not counting tasks already on their way out.
    fn task_count(&self, exiting: bool) -> u64;
    /// Admits a clone with these (effective) flags: it holds a place
    /// until its task appears or the call fails.
    fn note_clone(&mut self, flags: u64);
    /// A `clone3` runs on the jail's copy of its arguments: the new task
    /// gets `address` back in its first argument register.
    fn note_clone3_argument(&mut self, address: u64);
    /// The files an exec check judged, for the check at the exec event,
    /// and what it read that may be remembered once the exec has run.
    fn note_exec_judged(
        &mut self,
        judged: Vec<exec::Identity>,
        pending: Vec<interpreters::Pending>,
    );
    /// What files the jail can neither write nor swap name as their
    /// interpreters, remembered between execs.
    fn interpreters(&mut self) -> &mut interpreters::Cache;
    /// The thread's address space may have asynchronous I/O in flight.
    fn note_async_io(&mut self);
    /// The wakeup syscall: suspends the jail until the next command.
    /// `false`: not a session, wakeup is unknown.
    fn suspend(&mut self) -> bool;
}

/// The real [`Stopped`]: a task of `tracer` at a seccomp or exec stop.
pub(in crate::tracer) struct TaskView<'t> {
    pub tracer: &'t mut Tracer,
    pub tid: Pid,
    pub arguments: [u64; 6],
}

impl Stopped for TaskView<'_> {
    fn tid(&self) -> Pid {
        self.tid
    }

    fn ids(&mut self) -> Thread {
        let pid = self.tid;
        let tgid = match self.tracer.tasks.get(&pid).and_then(|task| task.tgid) {
            Some(tgid) => tgid,
            None => {
                let tgid = super::thread_group_of(pid).unwrap_or(pid);
                if let Some(task) = self.tracer.tasks.get_mut(&pid) {
                    task.tgid = Some(tgid);
                }
                tgid
            }
        };
        Thread { tid: pid, tgid }
    }

    fn argument(&self, index: u8) -> u64 {
        self.arguments.get(usize::from(index)).copied().unwrap_or(0)
    }

    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), Errno> {
        memory::read_exact(self.tid, address, buffer)
    }

    fn read_path(&self, address: u64) -> Result<Vec<u8>, Errno> {
        memory::read_path(self.tid, address)
    }

    fn write(&mut self, address: u64, bytes: &[u8]) -> Result<(), Errno> {
        memory::write_exact(self.tid, address, bytes)
    }

    fn resolve(&mut self, start: Start, path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        let thread = self.ids();
        let tid = self.tid;
        let tracer = &*self.tracer;
        let view = resolve::View {
            writable: &|dir| tracer.policy.is_writable_dir(dir),
            is_jail_pid: &|pid| tracer.is_jail_pid_from(tid, pid),
            directories: &tracer.directories,
            cow: &tracer.policy.cow,
        };
        resolve::resolve(thread, start, path, follow, &view)
    }

    fn resolve_lone_name(&mut self, fd: i32, name: &[u8]) -> Option<Resolved> {
        let thread = self.ids();
        let tracer = &mut *self.tracer;
        resolve::lone_name(
            thread,
            fd,
            name,
            &tracer.policy.cow,
            &mut tracer.descriptor_dirs,
        )
    }

    fn resolve_scoped(
        &mut self,
        start: Start,
        path: &[u8],
        follow: bool,
        program_resolve: u64,
    ) -> Result<Resolved, Errno> {
        let thread = self.ids();
        resolve::resolve_scoped(
            thread,
            start,
            path,
            follow,
            program_resolve,
            &self.tracer.policy.cow,
        )
    }

    fn start_target(&mut self, start: Start) -> Result<Resolved, Errno> {
        let thread = self.ids();
        resolve::start_target(thread, start, &self.tracer.policy.cow)
    }

    fn real_path(&self, path: &Path) -> PathBuf {
        self.tracer.policy.cow.to_real(path)
    }

    fn in_cow_tree(&self, path: &Path) -> bool {
        self.tracer.policy.cow.in_tree(path)
    }

    fn kernel_may_change(&self, path: &Path) -> bool {
        !self.tracer.policy.cow.in_real_tree(path)
    }

    fn cow_tree_of(&self, path: &Path) -> Option<PathBuf> {
        self.tracer.policy.cow.tree_of(path).map(Path::to_path_buf)
    }

    fn cow_originals(&self) -> &HashSet<(u64, u64)> {
        &self.tracer.cow_originals
    }

    fn quota(&self) -> Option<&std::cell::RefCell<crate::cow::quota::Quota>> {
        self.tracer.quota.as_ref()
    }

    fn cow_placeholders(&self) -> &HashSet<(u64, u64)> {
        &self.tracer.cow_placeholders
    }

    fn copy_aside(&self, copy: crate::cow::copyup::Copy) -> Errno {
        *self.tracer.copy_asked.borrow_mut() = Some(copy);
        Errno::EINPROGRESS
    }

    fn jail_tasks(&self) -> Vec<Pid> {
        self.tracer.tasks.keys().copied().collect()
    }

    fn verdict(
        &mut self,
        call: &str,
        access: Access,
        target: &Target,
        given: &str,
    ) -> Result<(), Errno> {
        let pid = self.tid;
        let thread = self.ids();
        let asker = Asker {
            tgid: thread.tgid.as_raw() as u32,
            tid: pid.as_raw() as u32,
        };
        let tracer = &mut *self.tracer;
        let verdict = tracer.policy.judge(
            access,
            target,
            given,
            &|other| tracer.is_jail_pid_from(pid, other),
            Some(asker),
        );
        match verdict {
            Verdict::Allow => {
                debug!("{pid}: {call}({given:?} -> {target:?}) {access:?}: allow");
                Ok(())
            }
            Verdict::Deny { errno, denial } => {
                debug!("{pid}: {call}({given:?} -> {target:?}) {access:?}: errno {errno}");
                tracer.report(&denial);
                if pid == tracer.main && !tracer.main_execed && call.starts_with("execve") {
                    tracer.exec_denial = Some((errno, denial));
                }
                Err(Errno::from_raw(errno))
            }
        }
    }

    fn judge_path(&mut self, access: Access, target: &Target, given: &str) -> Verdict {
        let pid = self.tid;
        let thread = self.ids();
        let asker = Asker {
            tgid: thread.tgid.as_raw() as u32,
            tid: pid.as_raw() as u32,
        };
        let tracer = &*self.tracer;
        tracer.policy.judge(
            access,
            target,
            given,
            &|other| tracer.is_jail_pid_from(pid, other),
            Some(asker),
        )
    }

    fn report_denial(&self, denial: &Denial) {
        self.tracer.report(denial);
    }

    fn network(&self) -> &NetworkPolicy {
        &self.tracer.network
    }

    fn socket_files_only_in_write_trees(&self) -> bool {
        // Every Landlock ABI handles MAKE_SOCK, granted on write roots only.
        self.tracer.landlock
    }

    fn loopback_reaches_only_jail(&self, protocol: Protocol, destination: SocketAddr) -> bool {
        let (tables, listening_only) = match protocol {
            Protocol::Tcp => (["/proc/net/tcp", "/proc/net/tcp6"], true),
            Protocol::Udp => (["/proc/net/udp", "/proc/net/udp6"], false),
        };
        let mut sockets = Vec::new();
        for (table, v6) in tables.into_iter().zip([false, true]) {
            // A table missing (no IPv6) lists nothing.
            if let Ok(text) = crate::procfs::read_to_string(table) {
                sockets.extend(loopback::bound_sockets(&text, v6, listening_only));
            }
        }
        let jails = self.tracer.socket_inodes(self.tid);
        loopback::reaches_only_the_jail(&sockets, destination, &|inode| jails.contains(&inode))
    }

    fn abstract_reaches_only_jail(&self, name: &[u8]) -> bool {
        if self.tracer.template.is_none() {
            return true;
        }
        let Ok(table) = crate::procfs::read("/proc/net/unix") else {
            return false;
        };
        let Some(inodes) =
            crate::policy::network::abstract_names::abstract_socket_inodes(&table, name)
        else {
            return false;
        };
        let jails = self.tracer.socket_inodes(self.tid);
        !inodes.is_empty() && inodes.iter().all(|inode| jails.contains(inode))
    }

    fn is_inside_writable(&self, path: &Path) -> bool {
        self.tracer.policy.is_inside_writable(path)
    }

    fn in_writable_tree(&self, path: &Path) -> bool {
        self.tracer.policy.is_writable_dir(path)
    }

    fn untouchable(&mut self, address: u64, len: u64) -> bool {
        let pid = self.tid;
        let tracer = &mut *self.tracer;
        if !tracer.procmap_query {
            return false;
        }
        if tracer
            .tasks
            .get(&pid)
            .is_some_and(|task| task.maps.is_none())
        {
            tracer.make_room_for_maps(pid);
        }
        let Some(task) = tracer.tasks.get_mut(&pid) else {
            return false;
        };
        if task.shares_fs {
            return false;
        }
        let Some(space) = task.space else {
            return false;
        };
        if !tracer.spaces.is_private(space) {
            return false;
        }
        if task.maps.is_none() {
            task.maps = spaces::open_maps(pid).ok();
        }
        let Some(maps) = &task.maps else {
            return false;
        };
        let policy = &tracer.policy;
        let writable_file =
            |name: &[u8]| policy.is_writable_dir(Path::new(OsStr::from_bytes(name)));
        match spaces::buffer_is_private(maps, address, len, &writable_file) {
            Ok(private) => private,
            Err(Errno::ENOTTY | Errno::EINVAL) => {
                debug!("no PROCMAP_QUERY on this kernel: every argument is copied");
                tracer.procmap_query = false;
                false
            }
            Err(_) => false,
        }
    }

    /// Its address space, which a `CLONE_FILES` sibling joins too, has no
    /// other user: a descriptor judged now is the one the kernel looks up.
    fn alone_with_descriptors(&self) -> bool {
        self.tracer
            .tasks
            .get(&self.tid)
            .and_then(|task| task.space)
            .is_some_and(|space| self.tracer.spaces.is_private(space))
    }

    fn is_jail_pid(&self, pid: u32) -> bool {
        self.tracer.is_jail_pid_from(self.tid, pid)
    }

    fn gone_target(&self, target: i32) -> Gone {
        if target > 0 {
            // A zombie a task of this jail has yet to reap is a process
            // of the jail (no outside process becomes a jail task's
            // child), and its pid cannot be reused before that wait.
            return match proc_stat(target) {
                Some(stat) if stat.state == 'Z' && self.is_jail_pid(stat.parent) => Gone::Zombie,
                _ => Gone::Elsewhere,
            };
        }
        // A group whose leader is gone lives on while a member does; its
        // members are all of the jail's own session (setsid at launch).
        let group = target.unsigned_abs();
        let member_left = self.tracer.tasks.keys().any(|task| {
            let tid = task.as_raw().unsigned_abs();
            self.is_jail_pid(tid)
                && proc_stat(task.as_raw()).is_some_and(|stat| stat.group == group)
        });
        if member_left {
            Gone::LiveGroup
        } else {
            Gone::Elsewhere
        }
    }

    fn take_descriptor(&self, owner: Pid, fd: i32) -> Result<OwnedFd, Errno> {
        let pidfd = sys::pidfd_open_thread(owner)?;
        sys::pidfd_getfd(&pidfd, fd)
    }

    /// The holder is the tracing thread, or under Landlock (which keeps
    /// the program out of the tracer's /proc) the keeper. The program
    /// cannot use such a path itself: the `/proc` entries of both are
    /// hidden from it.
    fn hand_over(
        &self,
        held: OwnedFd,
        name: Option<&OsStr>,
        rewrite: &mut Rewrite,
    ) -> Result<Vec<u8>, Errno> {
        let tracer = &*self.tracer;
        let mut path = if tracer.landlock {
            let Some(keeper) = &tracer.keeper else {
                debug!("no descriptor keeper under Landlock: refusing");
                return Err(Errno::EPERM);
            };
            let lent = crate::keeper::Lent::new(keeper, &held).map_err(|errno| {
                // Said once: the program could make it fail at will.
                if !keeper.has_failed() {
                    warn!("the descriptor keeper failed: {}; refusing", errno.desc());
                }
                keeper.note_failure();
                Errno::EPERM
            })?;
            let path = lent.path().into_bytes();
            rewrite.lent.push(lent);
            path
        } else {
            let path = format!("/proc/{}/fd/{}", tracer.own_tid, held.as_raw_fd()).into_bytes();
            rewrite.hold(held);
            path
        };
        if let Some(name) = name {
            path.push(b'/');
            path.extend_from_slice(name.as_bytes());
        }
        Ok(path)
    }

    fn openat2_number(&self) -> u64 {
        self.tracer.openat2_nr
    }

    fn served_file(&self, path: &Path) -> Option<OwnedFd> {
        let hosts = self.tracer.hosts.as_ref()?;
        if path != Path::new("/etc/hosts") {
            return None;
        }
        hosts.try_clone().ok()
    }

    fn url_for(&self, path: &[u8]) -> Option<String> {
        self.tracer.downloads.as_ref()?.url_for(path)
    }

    fn download(&mut self, url: &str) -> Result<OwnedFd, Errno> {
        let tracer = &mut *self.tracer;
        let Some(downloads) = tracer.downloads.as_mut() else {
            return Err(Errno::ENOENT);
        };
        let downloading = !downloads.has(url);
        let result = downloads.body(url);
        if downloading && let Some(reporter) = &tracer.reporter {
            let fetch = match &result {
                Ok(body) => crate::report::Fetch {
                    url: url.to_owned(),
                    ok: true,
                    bytes: nix::sys::stat::fstat(body)
                        .ok()
                        .and_then(|stat| u64::try_from(stat.st_size).ok()),
                    error: None,
                },
                Err(error) => crate::report::Fetch {
                    url: url.to_owned(),
                    ok: false,
                    bytes: None,
                    error: Some(error.to_string()),
                },
            };
            reporter.borrow_mut().fetched(fetch);
        }
        result.map_err(|error| {
            debug!("download of {url} failed: {error}");
            if tracer.policy.report {
                crate::notice::line(&format!(
                    "[Http {}: {error}]",
                    crate::notice::printable(url)
                ));
            }
            Errno::from_raw(error.errno())
        })
    }

    fn report_line(&self, line: &str) {
        if self.tracer.policy.report {
            crate::notice::line(line);
        }
    }

    fn report_syscall(&self, name: &str, nr: u64) {
        self.tracer.report_syscall(name, nr);
    }

    fn narrowed(&self, nr: u64, name: &str) -> Option<crate::syscall::Refusal> {
        let tracer = &*self.tracer;
        if !tracer.main_execed && self.tid == tracer.main && name == "execve" {
            return None;
        }
        tracer.narrowing.refusal(nr)
    }

    fn max_threads(&self) -> Option<u32> {
        self.tracer.limits.max_threads
    }

    fn task_count(&self, exiting: bool) -> u64 {
        let tracer = &*self.tracer;
        if tracer.template.is_some() {
            // A template run's limit is its own: its tasks, and the clones
            // they have in flight.
            let run = tracer.tasks.get(&self.tid).and_then(|task| task.run);
            let mine = tracer.tasks.iter().filter(|(_, task)| task.run == run);
            return mine
                .map(|(tid, task)| {
                    let live = u64::from(exiting || !is_exiting(*tid));
                    live + u64::from(task.clone.is_some())
                })
                .sum();
        }
        let in_flight = u64::from(self.tracer.clones_in_flight);
        let tasks = if exiting {
            self.tracer.tasks.len()
        } else {
            self.tracer
                .tasks
                .keys()
                .filter(|tid| !is_exiting(**tid))
                .count()
        };
        tasks as u64 + in_flight
    }

    fn note_clone(&mut self, flags: u64) {
        let tracer = &mut *self.tracer;
        tracer.clones_in_flight += 1;
        if let Some(task) = tracer.tasks.get_mut(&self.tid) {
            task.clone = Some(crate::tracer::PendingClone {
                flags,
                clone3_argument: None,
            });
            // A process sharing the working directory can chdir while this
            // task's relative path is in flight, also after either execs
            // (exec keeps the shared fs_struct): for good, nothing of this
            // task's is taken as unchangeable.
            if spaces::shares_working_directory(flags) {
                task.shares_fs = true;
            }
            // From now on the address space may have a second user, even
            // before the tracer hears of it.
            if spaces::shares_with_parent(flags)
                && let Some(space) = task.space
            {
                tracer.spaces.join(space);
            }
        }
    }

    fn note_clone3_argument(&mut self, address: u64) {
        if let Some(clone) = self
            .tracer
            .tasks
            .get_mut(&self.tid)
            .and_then(|task| task.clone.as_mut())
        {
            clone.clone3_argument = Some(address);
        }
    }

    fn interpreters(&mut self) -> &mut interpreters::Cache {
        &mut self.tracer.interpreters
    }

    fn note_exec_judged(
        &mut self,
        judged: Vec<exec::Identity>,
        pending: Vec<interpreters::Pending>,
    ) {
        if let Some(task) = self.tracer.tasks.get_mut(&self.tid) {
            task.exec_judged = judged;
            task.exec_pending = pending;
        }
    }

    fn note_async_io(&mut self) {
        let tracer = &mut *self.tracer;
        if let Some(task) = tracer.tasks.get_mut(&self.tid) {
            match task.space {
                Some(space) => tracer.spaces.mark_async_writer(space),
                None => task.async_io_pending = true,
            }
        }
    }

    fn suspend(&mut self) -> bool {
        let tracer = &mut *self.tracer;
        let Some(suspend) = tracer.suspender.as_mut() else {
            return false;
        };
        debug!("{}: wakeup: the command is done", self.tid);
        // Between commands nothing in the jail runs: a child or thread
        // left spinning would use the machine with no time limit
        // counting. Every other task stops at its next chance (its stop
        // waits, unanswered, in the tracer's queue) and goes on when the
        // next command starts and this returns.
        for other in tracer.tasks.keys().filter(|other| **other != self.tid) {
            let _ = nix::sys::ptrace::interrupt(*other);
        }
        let network = suspend();
        // The next command must see what the server and the host have
        // then: the names as they resolve now, fresh downloads.
        if let Some(downloads) = tracer.downloads.as_mut() {
            downloads.forget();
        }
        tracer.directories.borrow_mut().clear();
        if let Some(network) = network {
            tracer.set_network(network);
        }
        true
    }
}

/// What a signal's target that is no live task of the jail still is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::tracer) enum Gone {
    /// A zombie a jail task has yet to reap: a signal to it does nothing
    /// and succeeds, natively.
    Zombie,
    /// A process group of the jail whose leader is gone but not all of it.
    LiveGroup,
    /// Not the jail's: `ESRCH`.
    Elsewhere,
}

/// The fields of `/proc/<pid>/stat` the signal checks read.
struct ProcStat {
    state: char,
    parent: u32,
    group: u32,
}

/// Reads `/proc/<pid>/stat` (`None` when there is no such process): the
/// fields after the command name, which may itself hold `)` and spaces.
fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = crate::procfs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = text.iter().rposition(|&byte| byte == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some(ProcStat {
        state,
        parent,
        group,
    })
}
