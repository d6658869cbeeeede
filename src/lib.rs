//! `sandbox`: a ptrace jail for untrusted programs.
#![deny(unsafe_code)]

pub mod config;
