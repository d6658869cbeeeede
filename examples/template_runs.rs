//! Times runs of a template through the library (`Session::send`, straight
//! to the live server) against the same runs through the `sandbox` binary,
//! side by side (docs/performance.md, "Templates").
//!
//!     cargo run --release --example template_runs -- [ROUNDS] [CONFIG]
//!     SPACE=0.02 ...   sleep this many seconds before each run (a bot's pace)
//!
//! CONFIG defaults to conf/python-template.conf; each round sends
//! `print(6*7)` both ways (alternating which goes first) and checks that
//! both print 42. Prints the medians. The binary is target/release/sandbox
//! (or `SANDBOX`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(200), |text| text.parse())?;
    let config = args
        .next()
        .unwrap_or_else(|| "conf/python-template.conf".into());
    let binary = std::env::var("SANDBOX").unwrap_or_else(|_| "target/release/sandbox".into());
    let jail = sandbox::Jail::load(config.as_ref(), "bench")?.with_binary(&binary);
    let session = jail.session("bench");
    let program = b"print(6*7)\n";
    let space = std::env::var("SPACE")
        .ok()
        .map(|text| text.parse::<f64>())
        .transpose()?
        .map_or(Duration::ZERO, Duration::from_secs_f64);
    let through_library = || -> Result<Duration, Box<dyn std::error::Error>> {
        std::thread::sleep(space);
        let start = Instant::now();
        let output = session.send(program)?;
        let took = start.elapsed();
        if output.stdout != b"42\n" {
            return Err(format!("library run printed {:?}", output).into());
        }
        Ok(took)
    };
    let through_binary = || -> Result<Duration, Box<dyn std::error::Error>> {
        std::thread::sleep(space);
        let start = Instant::now();
        let mut child = Command::new(&binary)
            .args([config.as_str(), "bench"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        child.stdin.take().ok_or("no stdin")?.write_all(program)?;
        let output = child.wait_with_output()?;
        let took = start.elapsed();
        if output.stdout != b"42\n" {
            return Err(format!("binary run printed {:?}", output.stdout).into());
        }
        Ok(took)
    };
    // The first run starts the server and prepares the program.
    through_binary()?;
    let (mut library, mut binary_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            library.push(through_library()?);
            binary_times.push(through_binary()?);
        } else {
            binary_times.push(through_binary()?);
            library.push(through_library()?);
        }
    }
    let (library, binary_median) = (median(library), median(binary_times));
    println!(
        "{rounds} rounds: library {:.3} ms, binary {:.3} ms, library / binary {:.2}",
        library.as_secs_f64() * 1e3,
        binary_median.as_secs_f64() * 1e3,
        library.as_secs_f64() / binary_median.as_secs_f64()
    );
    Ok(())
}
