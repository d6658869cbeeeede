//! What `cow` trees add to the tracer beyond judging paths: the names the
//! kernel would give the program from inside a mirror are given as the
//! tree's (`getcwd`), so the layer's real path does not show.

use crate::policy::Target;
use crate::tracer::answer::Answer;
use crate::tracer::resolve::Start;
use crate::tracer::stopped::Stopped;
use log::debug;
use nix::errno::Errno;
use std::os::unix::ffi::OsStrExt;

/// `getcwd(buf, size)`, stopped only when the config has `cow` lines: a
/// working directory in a mirror is answered with its virtual name (the
/// kernel's result: the name and its NUL, their length returned, `ERANGE`
/// when it does not fit); anywhere else the kernel answers.
pub(in crate::tracer) fn getcwd(thread: &mut dyn Stopped) -> Answer {
    let (buffer, size) = (thread.argument(0), thread.argument(1));
    let name = match thread.start_target(Start::Cwd) {
        Ok(resolved) => match resolved.target {
            Target::Path(path) if thread.in_cow_tree(&path) => path,
            _ => return Answer::Allow,
        },
        Err(_) => return Answer::Allow,
    };
    let mut bytes = name.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    if (bytes.len() as u64) > size {
        return Answer::Refuse(Errno::ERANGE);
    }
    if let Err(errno) = thread.write(buffer, &bytes) {
        return Answer::Refuse(errno);
    }
    debug!("{}: getcwd in a cow tree: {name:?}", thread.tid());
    Answer::Return(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CowMap, CowRoot};
    use crate::tracer::checks::fake::FakeThread;
    use crate::tracer::resolve::Resolved;
    use std::path::PathBuf;

    fn in_tree(cwd: &str) -> FakeThread {
        let mut thread = FakeThread::new("see /\n");
        thread.policy.cow = CowMap {
            roots: vec![CowRoot {
                tree: PathBuf::from("/home/me/project"),
                mirror: Some(PathBuf::from("/tmp/layer/0")),
            }],
        };
        thread.starts.insert(
            Start::Cwd,
            Resolved {
                target: Target::Path(PathBuf::from(cwd)),
                exists: true,
                held_via: None,
                touched_writable: true,
            },
        );
        thread.memory.push((0x1000, vec![0xff; 64]));
        thread
    }

    #[test]
    fn getcwd_in_a_cow_tree_gives_the_trees_name() {
        let mut thread = in_tree("/home/me/project/src");
        thread.arguments = [0x1000, 64, 0, 0, 0, 0];
        let answer = getcwd(&mut thread);
        let want = b"/home/me/project/src\0";
        assert!(
            matches!(answer, Answer::Return(n) if n == want.len() as u64),
            "{answer:?}"
        );
        assert_eq!(&thread.memory[0].1[..want.len()], want);
    }

    #[test]
    fn getcwd_too_small_a_buffer_is_erange_and_outside_a_tree_the_kernel_answers() {
        let mut thread = in_tree("/home/me/project/src");
        thread.arguments = [0x1000, 8, 0, 0, 0, 0];
        assert!(matches!(getcwd(&mut thread), Answer::Refuse(Errno::ERANGE)));
        assert_eq!(thread.memory[0].1, vec![0xff; 64], "nothing written");
        thread.arguments = [0x9000, 64, 0, 0, 0, 0];
        assert!(matches!(getcwd(&mut thread), Answer::Refuse(Errno::EFAULT)));
        let mut outside = in_tree("/home/me");
        outside.arguments = [0x1000, 64, 0, 0, 0, 0];
        assert!(matches!(getcwd(&mut outside), Answer::Allow));
    }
}
