//! The descriptor keeper: a tiny process inside the program's Landlock
//! domain that holds, for the time of one syscall, the objects the tracer
//! hands the kernel.
//!
//! Without Landlock the tracer names an object it holds open as
//! `/proc/<tracer>/fd/<n>`, a path no swapped directory or `dup2` can
//! redirect. Landlock forbids a confined process to reach the `/proc` of a
//! process outside its domain, so under Landlock the tracer lends the
//! object to the keeper over a socket (`SCM_RIGHTS`) and the kernel is
//! handed `/proc/<keeper>/fd/<n>` instead. The keeper is forked by the
//! child right after it confines itself, as a sibling of the program (a
//! child of the tracer) and untraced; it starts its own session, so the
//! program's signals to its process group never reach it, and the tracer
//! hides its pid from the program like every pid outside the jail.
//!
//! Protocol (a `SOCK_SEQPACKET` pair, one message per request):
//! the keeper first sends its pid (4 bytes); `L`, a count n (1 to 3) and
//! n descriptors attached: the keeper answers the n numbers it holds them
//! under (4 bytes each), or one negative errno if not all arrived (it
//! then keeps none); `R` and 1 to 3 numbers: close them, no answer.

use crate::sys;
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};
use nix::unistd::Pid;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

const LEND: u8 = b'L';
const RELEASE: u8 = b'R';
/// How long the tracer waits for the keeper to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the tracer waits for the keeper to take a descriptor.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The two ends of the keeper's socket, made before the fork.
pub struct KeeperSocket {
    pub tracer_end: OwnedFd,
    pub keeper_end: OwnedFd,
}

/// Makes the socket pair (both ends close-on-exec).
pub fn socket_pair() -> Result<KeeperSocket, Errno> {
    let (tracer_end, keeper_end) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok(KeeperSocket {
        tracer_end,
        keeper_end,
    })
}

/// Forks the keeper from the post-fork child. Returns in the child only;
/// the keeper never returns. It takes the program's `identity` (when the
/// program runs as another user) and keeps no more than its `caps`: the
/// kernel lets the program reach the keeper's `/proc` only then.
/// Async-signal-safe.
pub fn spawn_from_child(
    keeper_end: RawFd,
    identity: Option<&crate::identity::Identity>,
    caps: u64,
) -> Result<(), Errno> {
    let tracer = nix::unistd::getppid();
    #[allow(unsafe_code)]
    // SAFETY: the keeper (`serve`) runs only async-signal-safe code and
    // never returns.
    let cloned = unsafe { sys::clone_untraced_sibling() };
    match cloned? {
        Some(_) => Ok(()),
        None => serve(keeper_end, tracer, identity, caps),
    }
}

/// The keeper's whole life. Async-signal-safe: no allocation.
fn serve(socket: RawFd, tracer: Pid, identity: Option<&crate::identity::Identity>, caps: u64) -> ! {
    // Its own session: `kill(0)` and job control in the jail miss it.
    let _ = nix::unistd::setsid();
    // The program's user and group (before the death signal, which a
    // change of credentials clears), and dumpable again, which leaving
    // root unsets: the kernel lets the program reach the keeper's /proc
    // only so. Its bounding set goes first, while it may still drop it.
    if let Some(identity) = identity {
        let _ = sys::drop_bounding_set(caps);
        if sys::set_identity(identity.uid, identity.gid, &identity.groups).is_err()
            || nix::sys::prctl::set_dumpable(true).is_err()
        {
            sys::exit_immediately(0);
        }
    }
    // Dies with the tracer, and not a moment later: if the tracer died
    // before the death signal was armed, the parent is no longer it.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if nix::unistd::getppid() != tracer {
        sys::exit_immediately(0);
    }
    // Nothing can make it dump core (its memory is a copy of the
    // tracer's) or act on a signal; it works from / and may hold as many
    // descriptors as the hard limit allows.
    let _ = sys::set_rlimit(rlimit::Resource::CORE, 0, 0);
    if let Ok((_, hard)) = sys::get_rlimit(rlimit::Resource::NOFILE) {
        let _ = sys::set_rlimit(rlimit::Resource::NOFILE, hard, hard);
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&nix::sys::signal::SigSet::all()),
        None,
    );
    let _ = nix::unistd::chdir(c"/");
    // No more than the program keeps: reaching its /proc needs the
    // program's permitted capabilities to cover the keeper's.
    if sys::drop_capabilities(caps, sys::CapabilityScope::ForGood).is_err() {
        sys::exit_immediately(0);
    }
    // Nothing but its socket: above all not the program's stdio, whose
    // end of file the jail waits for.
    #[allow(unsafe_code)]
    // SAFETY: the keeper never returns and runs none of the objects its
    // memory copies; from here on it owns its descriptors as numbers.
    let close = |first, last| unsafe { sys::close_range(first, last) };
    if socket > 0 {
        let _ = close(0, (socket - 1) as u32);
    }
    let _ = close(socket as u32 + 1, u32::MAX);
    let pid = nix::unistd::getpid().as_raw();
    if sys::send_bytes(socket, &pid.to_ne_bytes(), false).is_err() {
        sys::exit_immediately(0);
    }
    #[allow(unsafe_code)]
    // SAFETY: past `close` above, the keeper's only descriptors are its
    // socket and those it received itself, all plain numbers.
    let close_one = |fd| unsafe { sys::close_raw(fd) };
    let mut message = [0u8; 16];
    loop {
        let (count, descriptors, received) =
            match sys::receive_with_descriptors(socket, &mut message) {
                Ok((0, _, _)) => sys::exit_immediately(0),
                Ok(received) => received,
                Err(Errno::EINTR) => continue,
                Err(_) => sys::exit_immediately(0),
            };
        let descriptors = &descriptors[..received];
        match message[0] {
            LEND => {
                // How many were sent (a message of one byte: one).
                let expected = if count >= 2 {
                    usize::from(message[1])
                } else {
                    1
                };
                if received == expected && received > 0 {
                    let mut answer = [0u8; 4 * sys::MAX_PASSED];
                    for (index, fd) in descriptors.iter().enumerate() {
                        answer[4 * index..4 * index + 4].copy_from_slice(&fd.to_ne_bytes());
                    }
                    let _ = sys::send_bytes(socket, &answer[..4 * received], false);
                } else {
                    // Not all arrived (EMFILE in the keeper): none is kept.
                    for fd in descriptors {
                        close_one(*fd);
                    }
                    let _ = sys::send_bytes(socket, &(-libc::EMFILE).to_ne_bytes(), false);
                }
            }
            RELEASE => {
                for fd in descriptors {
                    close_one(*fd);
                }
                for number in message[1..count.min(message.len())].chunks_exact(4) {
                    let number = i32::from_ne_bytes([number[0], number[1], number[2], number[3]]);
                    if number >= 0 && number != socket {
                        close_one(number);
                    }
                }
            }
            _ => {
                for fd in descriptors {
                    close_one(*fd);
                }
            }
        }
    }
}

/// The tracer's handle on the keeper. Dropping it ends the keeper.
#[derive(Debug)]
pub struct Keeper {
    socket: OwnedFd,
    pid: Pid,
    /// The tracer's wait already collected the keeper's exit.
    reaped: std::cell::Cell<bool>,
    /// A lend has failed (reported once).
    failed: std::cell::Cell<bool>,
}

impl Keeper {
    /// Waits for the keeper behind `socket` to report its pid.
    pub fn connect(socket: OwnedFd) -> Result<Keeper, Errno> {
        let mut fds = [nix::poll::PollFd::new(
            socket.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let timeout =
            nix::poll::PollTimeout::try_from(START_TIMEOUT).unwrap_or(nix::poll::PollTimeout::MAX);
        if nix::poll::poll(&mut fds, timeout)? == 0 {
            return Err(Errno::ETIMEDOUT);
        }
        let mut pid = [0u8; 4];
        let count = nix::unistd::read(&socket, &mut pid)?;
        if count != pid.len() {
            // The child failed before it forked the keeper.
            return Err(Errno::ECHILD);
        }
        Ok(Keeper {
            socket,
            pid: Pid::from_raw(i32::from_ne_bytes(pid)),
            reaped: std::cell::Cell::new(false),
            failed: std::cell::Cell::new(false),
        })
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The tracer's wait reported the keeper's end (it must not be waited
    /// for again: its pid may already belong to someone else).
    pub fn mark_reaped(&self) {
        self.reaped.set(true);
    }

    pub fn is_reaped(&self) -> bool {
        self.reaped.get()
    }

    pub fn note_failure(&self) {
        self.failed.set(true);
    }

    pub fn has_failed(&self) -> bool {
        self.failed.get()
    }

    /// Hands `fds` (at most `sys::MAX_PASSED`) to the keeper in one
    /// message; returns the numbers it holds them under, in order.
    pub fn lend(&self, fds: &[&OwnedFd]) -> Result<Vec<i32>, Errno> {
        if fds.is_empty() || fds.len() > sys::MAX_PASSED {
            return Err(Errno::EINVAL);
        }
        let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let header = [LEND, fds.len() as u8];
        socket::sendmsg::<()>(
            self.socket.as_raw_fd(),
            &[IoSlice::new(&header)],
            &rights,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        // The keeper answers at once; one that does not is stuck or
        // attacked, and is killed (the jail then stops: fail closed).
        let mut poll_fds = [nix::poll::PollFd::new(
            self.socket.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let timeout =
            nix::poll::PollTimeout::try_from(ANSWER_TIMEOUT).unwrap_or(nix::poll::PollTimeout::MAX);
        let ready = loop {
            match nix::poll::poll(&mut poll_fds, timeout) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if ready == 0 {
            self.end();
            return Err(Errno::ETIMEDOUT);
        }
        let mut answer = [0u8; 4 * sys::MAX_PASSED];
        let count = loop {
            match nix::unistd::read(&self.socket, &mut answer) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        numbers_of(&answer[..count], fds.len())
    }

    /// Tells the keeper to close what it holds under `numbers` (at most
    /// `sys::MAX_PASSED`).
    pub fn release(&self, numbers: &[i32]) {
        let mut message = [0u8; 1 + 4 * sys::MAX_PASSED];
        message[0] = RELEASE;
        let numbers = &numbers[..numbers.len().min(sys::MAX_PASSED)];
        for (index, number) in numbers.iter().enumerate() {
            message[1 + 4 * index..5 + 4 * index].copy_from_slice(&number.to_ne_bytes());
        }
        // Never blocks: a keeper that stopped reading is killed at the
        // next lend.
        let _ = sys::send_bytes(
            self.socket.as_raw_fd(),
            &message[..1 + 4 * numbers.len()],
            true,
        );
    }

    /// Kills the keeper (its exit is then collected by whoever waits).
    pub fn end(&self) {
        if !self.reaped.get() {
            // Not reaped, so the pid is still the keeper's.
            let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::SIGKILL);
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if !self.reaped.get() {
            self.end();
            let _ = nix::sys::wait::waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::__WALL));
        }
    }
}

/// The keeper's answer to a lend of `expected` descriptors: their
/// numbers, or the errno it sent.
fn numbers_of(answer: &[u8], expected: usize) -> Result<Vec<i32>, Errno> {
    let numbers: Vec<i32> = answer
        .chunks_exact(4)
        .map(|bytes| i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .collect();
    match numbers.as_slice() {
        [errno] if *errno < 0 => Err(Errno::from_raw(-errno)),
        all if all.len() == expected
            && answer.len() == 4 * expected
            && all.iter().all(|n| *n >= 0) =>
        {
            Ok(numbers)
        }
        _ => Err(Errno::EPIPE),
    }
}

/// Objects lent to the keeper for one call (or one run's start), in one
/// message; released, in one message, when dropped.
#[derive(Debug)]
pub struct Lent {
    keeper: std::rc::Rc<Keeper>,
    numbers: Vec<i32>,
}

impl Lent {
    /// Lends `fd` to `keeper` (the tracer's own copy may then be closed).
    pub fn new(keeper: &std::rc::Rc<Keeper>, fd: &OwnedFd) -> Result<Lent, Errno> {
        Lent::all(keeper, &[fd])
    }

    /// Lends every one of `fds` (at most `sys::MAX_PASSED`) in one
    /// round trip.
    pub fn all(keeper: &std::rc::Rc<Keeper>, fds: &[&OwnedFd]) -> Result<Lent, Errno> {
        let numbers = keeper.lend(fds)?;
        Ok(Lent {
            keeper: keeper.clone(),
            numbers,
        })
    }

    /// `/proc/<keeper>/fd/<n>`: how a jailed thread names the (first)
    /// object.
    pub fn path(&self) -> String {
        self.path_of(0)
    }

    /// How a jailed thread names the `index`th object lent.
    pub fn path_of(&self, index: usize) -> String {
        let number = self.numbers.get(index).copied().unwrap_or(-1);
        format!("/proc/{}/fd/{}", self.keeper.pid, number)
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.keeper.release(&self.numbers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_gives_every_number_or_an_errno() {
        let bytes =
            |numbers: &[i32]| -> Vec<u8> { numbers.iter().flat_map(|n| n.to_ne_bytes()).collect() };
        assert_eq!(numbers_of(&bytes(&[4, 5, 6]), 3), Ok(vec![4, 5, 6]));
        assert_eq!(numbers_of(&bytes(&[7]), 1), Ok(vec![7]));
        assert_eq!(numbers_of(&bytes(&[-libc::EMFILE]), 3), Err(Errno::EMFILE));
        // Fewer numbers than descriptors, a short answer, or a negative
        // number among others: the keeper is not to be trusted.
        assert_eq!(numbers_of(&bytes(&[4, 5]), 3), Err(Errno::EPIPE));
        assert_eq!(numbers_of(&[1, 0], 1), Err(Errno::EPIPE));
        assert_eq!(numbers_of(&bytes(&[4, -1, 6]), 3), Err(Errno::EPIPE));
    }
}
