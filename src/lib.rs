//! `sandbox`: a ptrace jail for untrusted programs.
//!
//! A seccomp filter sorts every syscall of the jailed program: most run at
//! full speed, some are refused outright, and the ones that need a
//! decision (paths, clones, signals) stop the thread for the tracer, which
//! resolves the arguments as the kernel will and asks the policy.
//!
//! ```text
//! main.rs ─▶ jail ─▶ config ─▶ policy ◀─┐
//!              │                        │
//!              ├─▶ launch ─▶ filter ─▶ syscall ─▶ arch
//!              └─▶ tracer ──────────────┘ (resolve, memory, decide)
//!                     └─▶ sys (the only unsafe code besides the child)
//! ```
//!
//! `config`, `policy`, `syscall`, `arch` and `filter` are pure and tested
//! without processes; `launch` and `tracer` touch fork and ptrace.
#![deny(unsafe_code)]

pub mod arch;
pub mod check;
pub mod config;
pub mod error;
pub mod fetch;
pub mod filter;
pub mod jail;
pub mod keeper;
pub mod landlock;
pub mod launch;
pub mod notice;
pub mod policy;
pub mod session;
pub mod sys;
pub mod syscall;
pub mod tracer;

pub use config::Config;
pub use error::{Error, Result};
pub use jail::{Ending, Jail};
pub use policy::Policy;
