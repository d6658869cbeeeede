//! Execs: what the kernel opens on its own (`#!` interpreters, the ELF
//! loader) judged before the exec, and what it mapped checked after it
//! (see [`crate::tracer::exec`] for reading the files).

use crate::policy::Target;
use crate::syscall::Access;
use crate::tracer::checks::paths::open_verified;
use crate::tracer::exec::{self, Names};
use crate::tracer::interpreters;
use crate::tracer::resolve::{Looked, Resolved, Start};
use crate::tracer::stopped::Stopped;
use log::{debug, warn};
use nix::errno::Errno;
use std::os::fd::OwnedFd;

/// How the jail reached a file the kernel is about to run: whether its
/// contents may be remembered ([`interpreters::may_remember`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::tracer) struct Reached {
    /// By a canonical path whose walk looked at no name in a directory
    /// the jail can write.
    pub named_stably: bool,
    /// That path is in a `write` or `cow` tree (or is a `write` root).
    pub writable_name: bool,
}

impl Reached {
    /// Through a descriptor the program holds: no name to go by.
    pub const DESCRIPTOR: Reached = Reached {
        named_stably: false,
        writable_name: true,
    };

    /// How `resolved` was reached.
    pub fn of(thread: &dyn Stopped, resolved: &Resolved) -> Reached {
        match &resolved.target {
            Target::Path(path) => Reached {
                named_stably: resolved.held_via.is_none() && !resolved.touched_writable,
                writable_name: thread.in_writable_tree(path),
            },
            Target::Held => Reached::DESCRIPTOR,
        }
    }
}

/// The file an exec check looks at next: the program or an interpreter.
pub(in crate::tracer) enum ToRun {
    /// Run through a descriptor: the jail's own copy of it, if it could
    /// be had.
    Descriptor(Option<OwnedFd>),
    /// Named by a path, as resolved and judged.
    Named(Resolved),
}

/// Judges what the kernel itself opens to run `program`: a script's
/// `#!` interpreter (and its own, nested) and an ELF program's loader.
/// Each file judged is remembered by identity for the check after the
/// exec ([`exec::loaded_files`]), which holds whatever this one could
/// not read. What a file names is read from it, or taken from the
/// [`interpreters::Cache`] for a file the jail can neither write nor
/// swap; the names are resolved and judged every time.
pub(in crate::tracer) fn judge_interpreters(
    thread: &mut dyn Stopped,
    name: &str,
    program: ToRun,
) -> Result<(), Errno> {
    let pid = thread.tid();
    let mut judged = Vec::new();
    let mut pending = Vec::new();
    let mut current = Some(program);
    // The kernel maps an ELF program's loader as it is: it never runs an
    // interpreter of the loader's own, so the loader is not read.
    let mut loader = false;
    // The scripts, the ELF program and its loader.
    for _ in 0..exec::MAX_INTERPRETER_DEPTH + 2 {
        let Some(next) = current.take() else {
            break;
        };
        // The resolved name, kept to open the file only if it must be read.
        let mut named = None;
        let (reached, looked, mut held) = match next {
            ToRun::Descriptor(None) => break,
            ToRun::Descriptor(Some(held)) => (Reached::DESCRIPTOR, None, Some(held)),
            ToRun::Named(resolved) => {
                let reached = Reached::of(thread, &resolved);
                match resolved.looked {
                    // What the walk found is the object by that name, which
                    // the jail cannot swap: no need to open it to know it
                    // (nor, for a loader, which is never read, at all).
                    Some(looked)
                        if loader || interpreters::may_remember(facts(&looked, reached)) =>
                    {
                        named = Some(resolved);
                        (reached, Some(looked), None)
                    }
                    _ => match held_copy(thread, &resolved) {
                        Some(held) => (reached, None, Some(held)),
                        None => break,
                    },
                }
            }
        };
        let looked = match (looked, &held) {
            (Some(looked), _) => looked,
            (None, Some(held)) => match nix::sys::stat::fstat(held) {
                Ok(stat) => Looked::from(&stat),
                Err(errno) => {
                    debug!(
                        "{pid}: {name}: cannot look at the program: {}",
                        errno.desc()
                    );
                    return Err(Errno::EACCES);
                }
            },
            (None, None) => break,
        };
        judged.push((looked.device, looked.inode));
        if loader {
            break;
        }
        let remembering = interpreters::may_remember(facts(&looked, reached));
        let remembered = if remembering {
            thread
                .interpreters()
                .get(&interpreters::FileKey::from(&looked))
        } else {
            None
        };
        let names = match remembered {
            Some(names) => names,
            None => {
                let held = match held.take() {
                    Some(held) => Some(held),
                    None => named.as_ref().and_then(|named| held_copy(thread, named)),
                };
                let Some(held) = held else {
                    break;
                };
                let stat = match nix::sys::stat::fstat(&held) {
                    Ok(stat) => stat,
                    Err(_) => return Err(Errno::EACCES),
                };
                // Opened after the walk: if the name went elsewhere
                // meanwhile, the object read is judged too.
                let identity = exec::identity_in(&stat);
                if !judged.contains(&identity) {
                    judged.push(identity);
                }
                let file = match exec::open_regular(&held, &stat) {
                    Ok(Some(file)) => file,
                    Ok(None) => break,
                    // A file the tracer's user may not read but may run
                    // (mode --x): the kernel reads its first bytes anyway,
                    // and the check after the exec sees what it mapped.
                    Err(Errno::EACCES) => break,
                    // Anything else (a lease taken to blind this look)
                    // would let the kernel follow a `#!` no one judged.
                    Err(errno) => {
                        debug!(
                            "{pid}: {name}: cannot look into the program: {}",
                            errno.desc()
                        );
                        return Err(Errno::EACCES);
                    }
                };
                // A read that failed names nothing known: the check after
                // the exec holds what the kernel mapped (and nothing is
                // remembered).
                let Ok(names) = exec::interpreter_of(&file) else {
                    break;
                };
                let key = interpreters::FileKey::of(&stat);
                if remembering && thread.interpreters().read_again(&key) {
                    // Remembered only once the exec has run, read again
                    // then (`remember_after_exec`): the descriptor is kept.
                    pending.push(interpreters::Pending {
                        key,
                        names: names.clone(),
                        held,
                    });
                }
                names
            }
        };
        let interpreter = match names {
            Names::Nothing => break,
            Names::Script(interpreter) => interpreter,
            Names::Loader(interpreter) => {
                loader = true;
                interpreter
            }
        };
        let given = String::from_utf8_lossy(&interpreter).into_owned();
        let resolved = thread.resolve(Start::Cwd, &interpreter, true)?;
        thread.verdict(name, Access::Read, &resolved.target, &given)?;
        current = Some(ToRun::Named(resolved));
    }
    thread.note_exec_judged(judged, pending);
    Ok(())
}

/// What [`interpreters::may_remember`] goes by.
fn facts(looked: &Looked, reached: Reached) -> interpreters::Facts {
    interpreters::Facts {
        regular: looked.mode & libc::S_IFMT == libc::S_IFREG,
        links: looked.links,
        named_stably: reached.named_stably,
        writable_name: reached.writable_name,
    }
}

/// At the exec event, once the check after the exec has passed:
/// remembers each answer an exec check read (`pending`) that its file,
/// read again now, still gives under the same key. From the kernel's
/// open of each file to now no one held it for writing (`ETXTBSY`), and
/// the file has no name the jail may write: what it holds now it holds
/// until `st_ctime` moves.
pub(in crate::tracer) fn remember_after_exec(
    cache: &mut interpreters::Cache,
    pending: Vec<interpreters::Pending>,
) {
    for file in pending {
        let Ok(stat) = nix::sys::stat::fstat(&file.held) else {
            continue;
        };
        if interpreters::FileKey::of(&stat) != file.key {
            continue;
        }
        let Ok(Some(opened)) = exec::open_regular(&file.held, &stat) else {
            continue;
        };
        if exec::interpreter_of(&opened).as_ref() == Ok(&file.names) {
            cache.insert(file.key, file.names);
        }
    }
}

/// Checks, at the exec event of `pid` (before the new program runs),
/// that every file the kernel mapped (listed in `maps`, its
/// `/proc/<pid>/maps` opened at the event) was judged before the exec or
/// is visible by its name. `false`: it is not; the caller kills the task.
pub(in crate::tracer) fn exec_loaded_only_judged(
    thread: &mut dyn Stopped,
    judged: &[exec::Identity],
    maps: Result<&std::fs::File, Errno>,
) -> bool {
    let pid = thread.tid();
    let files = match maps.and_then(exec::loaded_files) {
        Ok(files) => files,
        // Gone already: nothing of it runs.
        Err(Errno::ENOENT | Errno::ESRCH) => return true,
        Err(errno) => {
            warn!("{pid}: cannot list what the exec loaded: {}", errno.desc());
            return false;
        }
    };
    for file in files {
        if judged.contains(&file.identity) {
            continue;
        }
        let Some(path) = file.path else {
            debug!(
                "{pid}: exec loaded an unnamed file never judged {:?}",
                file.identity
            );
            return false;
        };
        let given = path.to_string_lossy().into_owned();
        if thread
            .verdict("execve", Access::Read, &Target::Path(path), &given)
            .is_err()
        {
            return false;
        }
    }
    true
}

/// The tracer's own descriptor of a judged operand's object, for reading
/// it. `None`: it cannot be had (gone, or swapped: the canonical path has
/// no symlink, so a swap makes it fail).
pub(in crate::tracer) fn held_copy(thread: &dyn Stopped, resolved: &Resolved) -> Option<OwnedFd> {
    match &resolved.target {
        Target::Path(path) => open_verified(&thread.real_path(path), false).ok(),
        Target::Held => {
            let (owner, fd) = resolved.held_via?;
            thread.take_descriptor(owner, fd).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::checks::fake::{FakeThread, TempDir, refused_with};
    use std::os::unix::fs::PermissionsExt;

    const PATH: u64 = 0x1000;

    /// A script at `dir/name` run by `interpreter`.
    fn script(dir: &TempDir, name: &str, interpreter: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!{interpreter}\necho hi\n")).expect("a script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn a_script_runs_only_if_its_interpreters_are_visible() {
        let dir = TempDir::new("interp");
        let outer = script(&dir, "outer", &dir.join("inner"));
        let inner = script(&dir, "inner", "/hidden/interpreter");
        let mut thread = FakeThread::new(&format!("see {}\n", dir.0.display()));
        thread.poke_path(PATH, &outer);
        thread.lays_out(&outer, &outer, true);
        thread.lays_out(&inner, &inner, true);
        thread.lays_out("/hidden/interpreter", "/hidden/interpreter", true);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENOENT);
        assert_eq!(
            thread.denied(),
            [(
                "execve".to_owned(),
                Access::Read,
                Target::Path("/hidden/interpreter".into())
            )]
        );
        // An interpreter that does not resolve at all.
        thread.paths.remove(&b"/hidden/interpreter"[..]);
        thread.verdicts.clear();
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENOENT);
        assert!(thread.denied().is_empty());
    }

    #[test]
    fn the_files_judged_are_noted_for_the_check_after_the_exec() {
        let dir = TempDir::new("judged");
        let last = dir.join("last");
        // Not a script: the walk ends there.
        std::fs::write(&last, "plain text").expect("a file");
        let outer = script(&dir, "outer", &last);
        let mut thread = FakeThread::new(&format!("see {}\n", dir.0.display()));
        thread.poke_path(PATH, &outer);
        thread.lays_out(&outer, &outer, true);
        thread.lays_out(&last, &last, true);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "{answer:?}");
        let judged = thread.exec_judged.expect("noted");
        assert_eq!(judged.len(), 2, "the script and its interpreter");
        let outer_file = std::fs::File::open(&outer).expect("open");
        assert!(judged.contains(&exec::identity(&outer_file.into()).expect("stat")));
    }

    #[test]
    fn a_program_run_from_a_descriptor_is_judged_too() {
        let dir = TempDir::new("fexec");
        let outer = script(&dir, "outer", "/hidden/interpreter");
        let mut thread = FakeThread::new(&format!("see {}\n", dir.0.display()));
        let file = std::fs::File::open(&outer).expect("open");
        thread.holds(7, file.into(), &outer);
        thread.lays_out("/hidden/interpreter", "/hidden/interpreter", true);
        thread.poke_path(PATH, "");
        let empty_path = libc::AT_EMPTY_PATH as u64;
        let answer = thread.call("execveat", [7, PATH, 0, 0, empty_path, 0]);
        assert_eq!(refused_with(&answer), libc::ENOENT);
        assert_eq!(thread.denied().len(), 1);
    }

    /// The exec event, as the tracer has it after the check passed.
    fn exec_event(thread: &mut FakeThread) {
        let pending = std::mem::take(&mut thread.exec_pending);
        remember_after_exec(&mut thread.interpreters, pending);
    }

    #[test]
    fn what_files_the_jail_cannot_write_name_is_remembered_until_they_change() {
        let dir = TempDir::new("remember");
        std::fs::create_dir(dir.0.join("w")).expect("mkdir");
        let last = dir.join("last");
        std::fs::write(&last, "plain text").expect("a file");
        let seen = script(&dir, "seen", &last);
        let written = script(&dir, "w/s", &last);
        let config = format!("see {0}\nwrite {0}/w\n", dir.0.display());
        let mut thread = FakeThread::new(&config);
        for path in [&seen, &written, &last] {
            thread.lays_out(path, path, true);
        }
        thread.lays_out("/hidden/interpreter", "/hidden/interpreter", true);
        thread.poke_path(PATH, &seen);
        // Read once: not worth remembering yet (a second read would be
        // needed at the exec event).
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "{answer:?}");
        assert!(thread.exec_pending.is_empty());
        exec_event(&mut thread);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "{answer:?}");
        // Nothing is remembered before the exec has run.
        assert_eq!(thread.interpreters.len(), 0);
        assert_eq!(thread.exec_pending.len(), 2);
        exec_event(&mut thread);
        // The script and the plain file it names, both only seen.
        assert_eq!(thread.interpreters.len(), 2);
        // Both come from the cache now: nothing more to remember.
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "{answer:?}");
        assert!(thread.exec_pending.is_empty());
        assert_eq!(thread.exec_judged.as_ref().map(Vec::len), Some(2));
        // In the write tree: read every time, never remembered.
        thread.poke_path(PATH, &written);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "{answer:?}");
        assert_eq!(
            thread.exec_pending.len(),
            0,
            "the plain file is remembered already"
        );
        exec_event(&mut thread);
        assert_eq!(thread.interpreters.len(), 2);
        // Rewritten in place (the same inode and size), st_mtime put
        // back: st_ctime moved, so the file is read again.
        let modified = std::fs::metadata(&seen)
            .and_then(|m| m.modified())
            .expect("mtime");
        let hidden = format!(
            "#!/hidden/interpreter{}\necho hi\n",
            " ".repeat(last.len() - 19)
        );
        assert_eq!(
            hidden.len(),
            std::fs::metadata(&seen).expect("stat").len() as usize
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&seen)
            .expect("open");
        std::io::Write::write_all(&mut &file, hidden.as_bytes()).expect("rewrite");
        file.set_modified(modified).expect("mtime back");
        drop(file);
        thread.poke_path(PATH, &seen);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), libc::ENOENT);
    }

    #[test]
    fn an_answer_the_file_no_longer_gives_at_the_exec_event_is_not_remembered() {
        let dir = TempDir::new("changed");
        let last = dir.join("last");
        std::fs::write(&last, "plain text").expect("a file");
        let seen = script(&dir, "seen", &last);
        let mut thread = FakeThread::new(&format!("see {}\n", dir.0.display()));
        thread.lays_out(&seen, &seen, true);
        thread.lays_out(&last, &last, true);
        thread.poke_path(PATH, &seen);
        for _ in 0..2 {
            let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
            assert_eq!(refused_with(&answer), 0, "{answer:?}");
        }
        assert_eq!(thread.exec_pending.len(), 2, "run again: to be remembered");
        // Changed between the check and the exec event (a writer let go
        // just before the kernel's open): the key no longer matches.
        std::fs::write(&seen, "#!/somewhere/else\n").expect("rewrite");
        std::fs::write(&last, "plain text, longer").expect("rewrite");
        exec_event(&mut thread);
        assert_eq!(thread.interpreters.len(), 0);
        // With the same key but other contents (what a shared mapping can
        // do without moving st_ctime): not remembered either.
        let held: OwnedFd = std::fs::File::open(&seen).expect("open").into();
        let stat = nix::sys::stat::fstat(&held).expect("stat");
        let pending = vec![interpreters::Pending {
            key: interpreters::FileKey::of(&stat),
            names: Names::Script(b"/what/was/read/at/the/check".to_vec()),
            held,
        }];
        remember_after_exec(&mut thread.interpreters, pending);
        assert_eq!(thread.interpreters.len(), 0);
    }

    #[test]
    fn an_elf_programs_loader_is_judged_but_never_read() {
        let sh = std::fs::canonicalize("/bin/sh").expect("a shell");
        let file = std::fs::File::open(&sh).expect("open");
        let Ok(Names::Loader(loader_name)) = exec::interpreter_of(&file) else {
            panic!("{} is not dynamic", sh.display());
        };
        let loader_name = String::from_utf8(loader_name).expect("a name");
        let sh = sh.to_string_lossy().into_owned();
        let dir = TempDir::new("loader");
        // The loader's stand-in names a hidden interpreter: the kernel
        // never runs an interpreter of a loader's own, so neither is it
        // looked for.
        let loader = script(&dir, "ld.so", "/hidden/interpreter");
        let config = format!("see {}\nsee /usr\n", dir.0.display());
        let mut thread = FakeThread::new(&config);
        thread.poke_path(PATH, &sh);
        thread.lays_out(&sh, &sh, true);
        thread.lays_out(&loader_name, &loader, true);
        thread.lays_out("/hidden/interpreter", "/hidden/interpreter", true);
        let answer = thread.call("execve", [PATH, 0, 0, 0, 0, 0]);
        assert_eq!(refused_with(&answer), 0, "{answer:?}");
        assert!(thread.denied().is_empty());
        let judged = thread.exec_judged.expect("noted");
        assert_eq!(judged.len(), 2, "the program and its loader");
    }
}
