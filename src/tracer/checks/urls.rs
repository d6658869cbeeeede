//! URLs under an `http` prefix: looking at one describes the downloaded
//! body, opening one for reading gives a descriptor of it, anything else
//! is refused.

use crate::arch::native::Regs;
use crate::syscall::{Access, Follow, PathOperand};
use crate::tracer::Tracer;
use crate::tracer::answer::{Answer, Arg, Rewrite};
use crate::tracer::checks::paths::arg_without;
use crate::tracer::scratch::Part;
use log::debug;
use nix::unistd::Pid;

impl Tracer {
    /// A path operand that names a URL under an `http` prefix: looking at
    /// it describes the downloaded body; anything else is refused.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::tracer) fn judge_url_operand(
        &mut self,
        pid: Pid,
        name: &str,
        url: &str,
        access: Access,
        operand: &PathOperand,
        part: Part,
        regs: &Regs,
        rewrite: &mut Rewrite,
    ) -> Result<(), i32> {
        let exec = matches!(name, "execve" | "execveat");
        if exec || !matches!(access, Access::Stat | Access::Read) {
            debug!("{pid}: {name}({url}) {access:?}: a URL is read-only");
            if self.policy.report {
                crate::notice::line(&format!(
                    "[Http {}: read-only]",
                    crate::notice::printable(url)
                ));
            }
            return Err(if exec { libc::EACCES } else { libc::EROFS });
        }
        let body = self.download(url)?;
        debug!("{pid}: {name}({url}): the downloaded body");
        let kernel_path = self.body_path(body, rewrite)?;
        rewrite.set(operand.path, Arg::Scratch(part, kernel_path));
        if let Follow::UnlessFlag { arg, flag } = operand.follow {
            // lstat and friends describe the body, not the link to it.
            rewrite.set(arg, Arg::Value(self::arg_without(regs, arg, flag)));
        }
        Ok(())
    }

    /// Opening a URL: read-only opens get a fresh read-only descriptor on
    /// the downloaded body; every other open fails with EROFS.
    pub(in crate::tracer) fn judge_url_open(
        &mut self,
        pid: Pid,
        name: &str,
        url: &str,
        access: Access,
        flags: u64,
    ) -> Answer {
        if !matches!(access, Access::Read | Access::Stat) {
            debug!("{pid}: {name}({url}) {access:?}: a URL is read-only");
            if self.policy.report {
                crate::notice::line(&format!(
                    "[Http {}: read-only]",
                    crate::notice::printable(url)
                ));
            }
            return Answer::Refuse(libc::EROFS);
        }
        let body = match self.download(url) {
            Ok(body) => body,
            Err(errno) => return Answer::Refuse(errno),
        };
        debug!("{pid}: {name}({url}): the downloaded body");
        let mut rewrite = Rewrite::default();
        let kernel_path = match self.body_path(body, &mut rewrite) {
            Ok(path) => path,
            Err(errno) => return Answer::Refuse(errno),
        };
        self.as_openat2(rewrite, kernel_path, flags, 0, 0)
    }
}
