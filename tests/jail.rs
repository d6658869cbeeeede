//! Integration tests of the `sandbox` jail, run against the built binary.
//!
//! Every test builds its own tree under /tmp (see `support`), writes a
//! config and runs C probes (`fixtures/*.c`) inside the jail. Test names
//! say which attack or behaviour they check.

#[path = "support/mod.rs"]
mod support;

#[path = "jail/config.rs"]
mod config;
#[path = "jail/cow.rs"]
mod cow;
#[path = "jail/cow_quota.rs"]
mod cow_quota;
#[path = "jail/cow_realworld.rs"]
mod cow_realworld;
#[path = "jail/escape.rs"]
mod escape;
#[path = "jail/escape_cow.rs"]
mod escape_cow;
#[path = "jail/escape_dotdot.rs"]
mod escape_dotdot;
#[path = "jail/escape_exec.rs"]
mod escape_exec;
#[path = "jail/escape_fds.rs"]
mod escape_fds;
#[path = "jail/escape_ioctl.rs"]
mod escape_ioctl;
#[path = "jail/escape_memory.rs"]
mod escape_memory;
#[path = "jail/escape_network.rs"]
mod escape_network;
#[path = "jail/escape_privileges.rs"]
mod escape_privileges;
#[path = "jail/escape_proc.rs"]
mod escape_proc;
#[path = "jail/escape_races.rs"]
mod escape_races;
#[path = "jail/escape_seccomp.rs"]
mod escape_seccomp;
#[path = "jail/escape_signals.rs"]
mod escape_signals;
#[path = "jail/escape_swap.rs"]
mod escape_swap;
#[path = "jail/escape_tracing.rs"]
mod escape_tracing;
#[path = "jail/events.rs"]
mod events;
#[path = "jail/exit.rs"]
mod exit;
#[path = "jail/http.rs"]
mod http;
#[path = "jail/landlock.rs"]
mod landlock;
#[path = "jail/library.rs"]
mod library;
#[path = "jail/limits.rs"]
mod limits;
#[path = "jail/manpages.rs"]
mod manpages;
#[path = "jail/network.rs"]
mod network;
#[path = "jail/network_policy.rs"]
mod network_policy;
#[path = "jail/paths.rs"]
mod paths;
#[path = "jail/procs.rs"]
mod procs;
#[path = "jail/realworld.rs"]
mod realworld;
#[path = "jail/sanity.rs"]
mod sanity;
#[path = "jail/sessions.rs"]
mod sessions;
#[path = "jail/setup.rs"]
mod setup;
#[path = "jail/syscalls.rs"]
mod syscalls;
#[path = "jail/templates.rs"]
mod templates;
#[path = "jail/timelimit.rs"]
mod timelimit;
#[path = "jail/unprivileged.rs"]
mod unprivileged;
