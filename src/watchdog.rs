//! The jail's watchdog: the wall-clock time limit, the CPU time and
//! memory limits of the whole tree (`cputime`, `maxmemory`, polled from
//! [`crate::usage`]), and ending a jail on request.
//!
//! Owns the watchdog thread. It kills the main program through a pidfd
//! (so a pid reused after the program was reaped is never hit), tells a
//! download in flight that the jail is ending, and leaves the rest to the
//! tracer. If the tracer has not ended the jail within `TRACER_GRACE`
//! (3 s) of a kill, the watchdog's last resort ends the whole process, and
//! `PTRACE_O_EXITKILL` takes every jailed task with it.

use crate::error::Error;
use crate::launch::LaunchError;
use crate::sys;
use crate::usage::{Hit, LimitHit, Usage};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

enum Order {
    Arm(Duration),
    Disarm,
    Kill,
    Watch(Watched),
}

/// The limits on what the whole tree uses, and where to read it.
pub struct Watched {
    pub usage: Arc<Usage>,
    /// `cputime`
    pub cpu: Option<Duration>,
    /// `maxmemory`, in bytes.
    pub memory: Option<u64>,
    /// Set to the limit that ends the jail, before the kill.
    pub hit: Arc<Hit>,
}

/// The shortest wait between two polls of the tree: a program using `n`
/// CPUs may pass `cputime` by `n` times this before it is seen, and a
/// program allocating memory by what it touches in this time.
pub const POLL_MIN: Duration = Duration::from_millis(10);

/// The longest wait between two polls of the tree's CPU time.
const POLL_MAX: Duration = Duration::from_millis(500);

impl Watched {
    /// Polls once: the limit passed, if one is; otherwise when to poll
    /// next. Far from `cputime` the poll waits for the earliest moment the
    /// limit could be reached with every CPU busy (at most [`POLL_MAX`]);
    /// `maxmemory` is polled every [`POLL_MIN`].
    fn poll(&self, cpus: u32) -> Result<Duration, LimitHit> {
        let mut wait = POLL_MAX;
        if let Some(limit) = self.cpu {
            let used = self.usage.cpu();
            if used >= limit {
                return Err(LimitHit::Cpu);
            }
            wait = wait.min((limit - used) / cpus.max(1));
        }
        if let Some(limit) = self.memory {
            if self.usage.memory() > limit {
                return Err(LimitHit::Memory);
            }
            wait = POLL_MIN;
        }
        Ok(wait.max(POLL_MIN))
    }
}

/// Enforces the time limit and ends the jail on request. It signals the
/// main program through a pidfd, so a pid reused after the program was
/// reaped can never be hit; the tracer then kills everything else.
#[derive(Clone)]
pub struct Watchdog {
    orders: mpsc::Sender<Order>,
}

impl Watchdog {
    /// Kill the jail `limit` from now unless disarmed first.
    pub fn arm(&self, limit: Duration) {
        let _ = self.orders.send(Order::Arm(limit));
    }

    pub fn disarm(&self) {
        let _ = self.orders.send(Order::Disarm);
    }

    /// Kill the jail now.
    pub fn kill(&self) {
        let _ = self.orders.send(Order::Kill);
    }

    /// Poll what the tree uses from now on, and kill the jail when it
    /// passes a limit.
    pub fn watch(&self, watched: Watched) {
        let _ = self.orders.send(Order::Watch(watched));
    }
}

/// The running watchdog, as the jail holds it.
pub(crate) struct WatchdogThread {
    handle: Watchdog,
    /// Set once the tracer has ended the jail.
    finished: Arc<AtomicBool>,
}

/// How long the tracer has, once the watchdog killed the program, to see
/// it die and end the jail. Past it the tracer is stuck (it must never be,
/// but the time limit may not depend on that), and the watchdog ends the
/// whole process: `PTRACE_O_EXITKILL` takes every jailed task with it.
pub(crate) const TRACER_GRACE: Duration = Duration::from_secs(3);

/// What the watchdog does when the tracer did not end the jail within
/// [`TRACER_GRACE`] of a kill; told whether the time limit caused it.
type LastResort = Box<dyn FnOnce(bool) + Send>;

/// The last resort of a real jail: say what happened and exit now.
pub(crate) fn end_stuck_jail(timed_out: bool) {
    let (message, status) = if timed_out {
        ("[Timed out]", crate::error::status::TIMED_OUT)
    } else {
        (
            "sandbox: the jail did not end when killed; ending it",
            crate::error::status::JAIL_FAILED,
        )
    };
    log::warn!("the tracer did not end the jail in {TRACER_GRACE:?}; exiting");
    // Written without blocking: a full stderr pipe cannot keep the jail.
    crate::notice::line(message);
    sys::exit_immediately(i32::from(status));
}

impl WatchdogThread {
    pub(crate) fn start(
        main: nix::unistd::Pid,
        timed_out: Arc<AtomicBool>,
        ending: Arc<AtomicBool>,
    ) -> Result<WatchdogThread, Error> {
        Self::start_with(
            main,
            timed_out,
            ending,
            TRACER_GRACE,
            Box::new(end_stuck_jail),
        )
    }

    /// `ending` is set with every kill, so that a download in flight stops.
    fn start_with(
        main: nix::unistd::Pid,
        timed_out: Arc<AtomicBool>,
        ending: Arc<AtomicBool>,
        grace: Duration,
        last_resort: LastResort,
    ) -> Result<WatchdogThread, Error> {
        let pidfd = sys::pidfd_open(main).map_err(|errno| {
            Error::Launch(LaunchError::Resources {
                what: "watch the program (pidfd_open)",
                errno,
            })
        })?;
        Ok(Self::start_on_pidfd(
            pidfd,
            timed_out,
            ending,
            grace,
            last_resort,
        ))
    }

    fn start_on_pidfd(
        pidfd: std::os::fd::OwnedFd,
        timed_out: Arc<AtomicBool>,
        ending: Arc<AtomicBool>,
        grace: Duration,
        last_resort: LastResort,
    ) -> WatchdogThread {
        let finished = Arc::new(AtomicBool::new(false));
        let tracer_done = finished.clone();
        let (orders, received) = mpsc::channel::<Order>();
        std::thread::spawn(move || {
            let mut deadline: Option<Instant> = None;
            // Set by a kill: when the tracer must have ended the jail.
            let mut ended_by: Option<Instant> = None;
            let mut last_resort = Some(last_resort);
            // The tree's limits, and when to poll them next.
            let mut watched: Option<(Watched, Instant)> = None;
            // The CPUs the tree can use at once: those this thread may run
            // on (the program inherits the jail's affinity).
            let cpus = std::thread::available_parallelism()
                .map_or(1, |cpus| u32::try_from(cpus.get()).unwrap_or(u32::MAX));
            loop {
                let next = [deadline, ended_by, watched.as_ref().map(|(_, at)| *at)]
                    .into_iter()
                    .flatten()
                    .min();
                let order = match next {
                    Some(at) => received.recv_timeout(at.saturating_duration_since(Instant::now())),
                    None => received
                        .recv()
                        .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                };
                let kill_now = |ended_by: &mut Option<Instant>| {
                    ending.store(true, Ordering::SeqCst);
                    let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
                    ended_by.get_or_insert_with(|| Instant::now() + grace);
                };
                match order {
                    // A limit too far away for the clock never expires
                    // (the config clamps its own; a `Config` built in code
                    // may hold anything).
                    Ok(Order::Arm(limit)) => deadline = Instant::now().checked_add(limit),
                    Ok(Order::Disarm) => deadline = None,
                    Ok(Order::Kill) => kill_now(&mut ended_by),
                    Ok(Order::Watch(limits)) => watched = Some((limits, Instant::now())),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let now = Instant::now();
                        if let Some((limits, at)) = &mut watched
                            && *at <= now
                        {
                            match limits.poll(cpus) {
                                Ok(wait) => *at = now + wait,
                                Err(hit) => {
                                    limits.hit.set(hit);
                                    watched = None;
                                    kill_now(&mut ended_by);
                                }
                            }
                        } else if deadline.is_some_and(|at| at <= now) {
                            timed_out.store(true, Ordering::SeqCst);
                            deadline = None;
                            kill_now(&mut ended_by);
                        } else if ended_by.is_some_and(|at| at <= now) {
                            ended_by = None;
                            if !tracer_done.load(Ordering::SeqCst)
                                && let Some(last_resort) = last_resort.take()
                            {
                                last_resort(timed_out.load(Ordering::SeqCst));
                            }
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        if ended_by.is_none() || tracer_done.load(Ordering::SeqCst) {
                            return;
                        }
                        // Every handle is gone but the tracer has not
                        // ended the jail: wait out the grace.
                        let at = ended_by.unwrap_or_else(Instant::now);
                        std::thread::sleep(at.saturating_duration_since(Instant::now()));
                        if !tracer_done.load(Ordering::SeqCst)
                            && let Some(last_resort) = last_resort.take()
                        {
                            last_resort(timed_out.load(Ordering::SeqCst));
                        }
                        return;
                    }
                }
            }
        });
        WatchdogThread {
            handle: Watchdog { orders },
            finished,
        }
    }

    /// The handle that arms, disarms and kills.
    pub(crate) fn handle(&self) -> &Watchdog {
        &self.handle
    }

    /// Lets the thread end once every other handle is gone too (a session
    /// server may still hold one). After the program was reaped, its pidfd
    /// can no longer reach any process, so a late expiry is harmless.
    pub(crate) fn stop(self) {
        self.finished.store(true, Ordering::SeqCst);
        drop(self.handle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs")
    }

    /// A watchdog over `child` whose last resort reports on the channel.
    fn watch(
        child: &std::process::Child,
        grace: Duration,
    ) -> (WatchdogThread, mpsc::Receiver<bool>) {
        let (told, heard) = mpsc::channel();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let last_resort: LastResort = Box::new(move |timed_out| {
            let _ = told.send(timed_out);
        });
        let watchdog = WatchdogThread::start_with(
            pid,
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            grace,
            last_resort,
        )
        .expect("pidfd_open works");
        (watchdog, heard)
    }

    #[test]
    fn the_time_limit_holds_when_the_tracer_is_stuck() {
        let mut child = sleeper();
        let (watchdog, heard) = watch(&child, Duration::from_millis(200));
        watchdog.handle.arm(Duration::from_millis(50));
        // Nobody calls stop(): the tracer is stuck.
        let timed_out = heard.recv_timeout(Duration::from_secs(10));
        assert_eq!(timed_out, Ok(true), "the last resort must act on its own");
        let status = child.wait().expect("the sleeper is reaped");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        drop(watchdog);
    }

    #[test]
    fn no_last_resort_once_the_tracer_ended_the_jail() {
        let mut child = sleeper();
        let (watchdog, heard) = watch(&child, Duration::from_millis(200));
        watchdog.handle.arm(Duration::from_millis(50));
        let status = child.wait().expect("the sleeper is reaped");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        watchdog.stop();
        assert!(
            heard.recv_timeout(Duration::from_secs(1)).is_err(),
            "the tracer ended the jail in time"
        );
    }
}
