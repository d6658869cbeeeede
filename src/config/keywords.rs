//! Placeholder until the parser lands.
use super::{Config, ConfigError, EnvOp, Rlimit, syntax::Directive};
use std::path::Path;
pub static KEYWORDS: &[&str] = &[];
pub fn build(file: &Path, ds: &[Directive], ident: &str) -> Result<Config, ConfigError> {
    let mut c = Config {
        file: file.into(),
        ..Config::default()
    };
    let mut skip = false;
    let err = |d: &Directive, m: &str| ConfigError {
        file: file.into(),
        line: d.line,
        message: m.into(),
    };
    for d in ds {
        match d.keyword.as_str() {
            "ident" => {
                skip = d.rest != ident;
                continue;
            }
            "end" => {
                skip = false;
                continue;
            }
            _ if skip => continue,
            "program" => c.program = Some(d.rest.clone()),
            "arg" => c.args.push(d.rest.clone()),
            "closefds" => c.close_fds = true,
            "clearenv" => c.clear_env = true,
            "setenv" => {
                let (k, v) = d.rest.split_once(' ').ok_or_else(|| err(d, "setenv"))?;
                c.env.push(EnvOp::Set(k.into(), v.into()))
            }
            "unsetenv" => c.env.push(EnvOp::Unset(d.rest.clone())),
            "see" => c.see.push(d.rest.clone().into()),
            "write" => c.write.push(d.rest.clone().into()),
            "maxthreads" => c.max_threads = Some(d.rest.parse().map_err(|_| err(d, "number"))?),
            "chdir" => c.chdir = Some(d.rest.clone().into()),
            "timelimit" => {
                c.time_limit = Some(std::time::Duration::from_secs_f64(
                    d.rest.parse().map_err(|_| err(d, "number"))?,
                ))
            }
            "report" => c.report = true,
            "wakeup" => c.wakeup = true,
            "rlimit" => {
                let (n, v) = d.rest.split_once(' ').ok_or_else(|| err(d, "rlimit"))?;
                let resource = match n {
                    "AS" => libc::RLIMIT_AS,
                    "NOFILE" => libc::RLIMIT_NOFILE,
                    "CPU" => libc::RLIMIT_CPU,
                    "FSIZE" => libc::RLIMIT_FSIZE,
                    "NPROC" => libc::RLIMIT_NPROC,
                    "CORE" => libc::RLIMIT_CORE,
                    _ => return Err(err(d, "rlimit name")),
                } as i32;
                let v: u64 = v.parse().map_err(|_| err(d, "number"))?;
                c.rlimits.push(Rlimit {
                    resource,
                    soft: v,
                    hard: v,
                });
            }
            _ => return Err(err(d, "unknown keyword")),
        }
    }
    Ok(c)
}
