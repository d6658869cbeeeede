//! The core of a chat eval bot: every message is Python from a stranger.
//! Many evaluations run at once on one tokio runtime, each in a jail of
//! its own; the bot keeps the first `OUTPUT_CAP` bytes of what each
//! writes (stdout and stderr together, in order) and ends one that writes
//! more; each run's report is logged as one JSON line.
//!
//! ```sh
//! cargo build --release          # the `sandbox` binary the library runs
//! cargo run --release --example evalbot
//! ```

use sandbox::{Jail, RunReport};
use std::io;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The most output a reply shows.
pub const OUTPUT_CAP: usize = 1024;

/// One message's evaluation.
#[derive(Debug)]
pub struct Evaluation {
    /// The reply: what the program wrote, at most `OUTPUT_CAP` bytes.
    pub output: String,
    /// It wrote more, and was ended for it.
    pub truncated: bool,
    /// What the run did.
    pub report: RunReport,
}

/// Python 3 with its standard library, nothing else to read, /tmp to
/// write, two seconds, 512 MiB, eight tasks.
pub fn python_jail() -> Result<Jail, sandbox::Error> {
    Jail::builder()
        .see("/usr")
        .see("/lib")
        .see("/lib64")
        .see("/etc/ld.so.cache")
        .see("/etc/python3.11")
        .see("/tmp")
        .write("/tmp")
        .chdir("/tmp")
        .clearenv()
        .setenv("PATH", "/usr/bin:/bin")
        .setenv("HOME", "/tmp")
        .setenv("LANG", "C.UTF-8")
        .setenv("PYTHONDONTWRITEBYTECODE", "1")
        .rlimit("AS", Some(512 << 20), None)
        .rlimit("CORE", Some(0), None)
        .maxthreads(8)
        .timelimit(Duration::from_secs(2))
        .build()
}

/// Runs `code` in `jail` and waits for it without blocking a thread.
pub async fn evaluate(jail: &Jail, code: &str) -> io::Result<Evaluation> {
    // stdout and stderr on one pipe, so that the reply keeps their order.
    let (reader, writer) = io::pipe()?;
    let mut child = jail
        .command("/usr/bin/python3")
        .args(["-c", code])
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .spawn()?;
    // (The command, and with it the pipe's writing end, is gone: the
    // read ends when the jail does.)
    let mut reader = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into())?;
    let mut output = Vec::new();
    (&mut reader)
        .take(OUTPUT_CAP as u64 + 1)
        .read_to_end(&mut output)
        .await?;
    let truncated = output.len() > OUTPUT_CAP;
    if truncated {
        output.truncate(OUTPUT_CAP);
        child.kill()?;
    }
    let report = child.wait_report_async().await?;
    Ok(Evaluation {
        output: String::from_utf8_lossy(&output).into_owned(),
        truncated,
        report,
    })
}

/// Evaluates every snippet at once; the results in the snippets' order.
pub async fn evaluate_all(jail: Arc<Jail>, snippets: &[&str]) -> Vec<io::Result<Evaluation>> {
    let mut running = tokio::task::JoinSet::new();
    for (index, code) in snippets.iter().enumerate() {
        let jail = jail.clone();
        let code = code.to_string();
        running.spawn(async move { (index, evaluate(&jail, &code).await) });
    }
    let mut results: Vec<(usize, io::Result<Evaluation>)> = Vec::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(error) => results.push((usize::MAX, Err(io::Error::other(error)))),
        }
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// The messages a busy channel might send at once.
pub const SNIPPETS: &[&str] = &[
    "print(6 * 7)",
    "import os; print(os.path.exists('/etc/passwd'))",
    "while True: pass",
    "print('spam ' * 100000)",
    "1 / 0",
    "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jail = Arc::new(python_jail()?);
    let results = evaluate_all(jail, SNIPPETS).await;
    for (code, result) in SNIPPETS.iter().zip(results) {
        let evaluation = result?;
        let mut reply = evaluation.output.trim_end().to_owned();
        if evaluation.truncated {
            reply.push_str(" [...]");
        }
        println!(">>> {code}\n{reply}\n[{:?}]", evaluation.report.status);
        // The log: one JSON line per run.
        eprintln!("{}", serde_json::to_string(&evaluation.report)?);
    }
    Ok(())
}
