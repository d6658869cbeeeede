//! Integration tests of the `sandbox` jail, run against the built binary.
//!
//! Every test builds its own tree under /tmp (see `support`), writes a
//! config and runs C probes (`fixtures/*.c`) inside the jail. Test names
//! say which attack or behaviour they check.

#[path = "support/mod.rs"]
mod support;

#[path = "jail/config.rs"]
mod config;
#[path = "jail/escape.rs"]
mod escape;
#[path = "jail/events.rs"]
mod events;
#[path = "jail/exit.rs"]
mod exit;
#[path = "jail/http.rs"]
mod http;
#[path = "jail/landlock.rs"]
mod landlock;
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
#[path = "jail/timelimit.rs"]
mod timelimit;
#[path = "jail/unprivileged.rs"]
mod unprivileged;
