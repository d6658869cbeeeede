//! What a run changes in the jail's own process: the CPU its tracer
//! thread (and so the program) runs on, and the NOFILE limit that bounds
//! the descriptors the tracer holds for the jail.

use crate::config::CpuChoice;
use crate::sys;

/// The jail's own soft NOFILE limit raised to its hard limit, set back when
/// dropped. The tracer holds descriptors for the jail (held directories,
/// downloads, `/proc` files), and a low soft limit inherited from a shell
/// made its opens, and so the program's checked calls, fail with EMFILE.
pub(crate) struct RaisedNofile {
    original: Option<(u64, u64)>,
}

impl RaisedNofile {
    pub(crate) fn raise() -> RaisedNofile {
        let resource = rlimit::Resource::NOFILE;
        let original = match sys::get_rlimit(resource) {
            Ok((soft, hard)) if soft < hard => match sys::set_rlimit(resource, hard, hard) {
                Ok(()) => Some((soft, hard)),
                Err(errno) => {
                    log::debug!("cannot raise the jail's NOFILE to {hard}: {}", errno.desc());
                    None
                }
            },
            _ => None,
        };
        RaisedNofile { original }
    }

    /// The limit to give the program, if the jail's own was changed.
    pub(crate) fn original(&self) -> Option<(u64, u64)> {
        self.original
    }
}

impl Drop for RaisedNofile {
    fn drop(&mut self) {
        if let Some((soft, hard)) = self.original {
            let _ = sys::set_rlimit(rlimit::Resource::NOFILE, soft, hard);
        }
    }
}

/// Puts the calling thread (the tracer-to-be) on one CPU; the program,
/// forked from it, inherits the choice. A CPU that cannot be had (offline,
/// outside a cpuset) leaves both where they are: it is about speed only.
pub(crate) fn pin_to_cpu(choice: CpuChoice) {
    use nix::sched::{CpuSet, sched_getcpu, sched_setaffinity};
    let cpu = match choice {
        CpuChoice::Any => return,
        CpuChoice::Fixed(cpu) => cpu,
        CpuChoice::Auto => match sched_getcpu() {
            Ok(cpu) => cpu,
            Err(_) => return,
        },
    };
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok()
        && let Err(errno) = sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
    {
        log::info!("cannot keep the jail on CPU {cpu}: {}", errno.desc());
    }
}
