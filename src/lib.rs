//! `sandbox`: a ptrace jail for untrusted programs.
//!
//! A seccomp filter sorts every syscall of the jailed program: most run at
//! full speed, some are refused outright, and the ones that need a
//! decision (paths, clones, signals) stop the thread for the tracer, which
//! resolves the arguments as the kernel will and asks the policy.
//!
//! The modules and who uses whom are drawn in `docs/design.md`: one
//! diagram, read off the imports.
//!
//! `config`, `policy`, `syscall`, `arch` and `filter` are pure and tested
//! without processes; `launch` and `tracer` touch fork and ptrace.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod arch;
pub mod builder;
pub mod check;
pub mod command;
pub mod config;
pub mod cow;
pub mod error;
pub mod fetch;
pub mod filter;
pub mod ident;
pub mod identity;
pub mod jail;
pub mod keeper;
pub mod landlock;
pub mod launch;
pub mod notice;
mod output;
pub mod policy;
mod procfs;
pub mod report;
mod resources;
pub mod session;
pub mod sys;
pub mod syscall;
pub mod tracer;
pub mod usage;
pub mod watchdog;

pub use builder::JailBuilder;
pub use command::{Child, Command, ExitStatus, Output, ReportReader, Session, SessionOutput};
pub use config::Config;
pub use error::{Error, Result};
pub use jail::{Ending, Jail};
pub use policy::Policy;
pub use report::RunReport;
