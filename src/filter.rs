//! The seccomp filter, built as data.
//!
//! Owns turning the syscall table ([`crate::syscall`]) into a classic BPF
//! program: wrong architecture or x32 numbers are refused, the syscalls that
//! need a decision return `SECCOMP_RET_TRACE`, refused ones return their
//! errno, the rest are allowed, and every number the jail does not know is
//! refused with ENOSYS (so syscalls newer than the table fail closed).
//! The config's `syscall` lines narrow it: where a line refuses a call,
//! every outcome that would let the call run returns the line's errno (or
//! kills) instead, while stops and the jail's own refusals stay as they
//! are (the tracer applies the line at the stop).
//! It installs nothing: `sys` does, in the child.

use crate::arch::native::{AUDIT_ARCH, X32_SYSCALL_BIT};
use crate::syscall::{
    ArgAction, ArgCase, Class, KILL_SYSCALL, MemoryGuard, Narrowing, Refusal, SCRATCH_END, Table,
    WAKEUP_SYSCALL,
};

/// One cBPF instruction, laid out as the kernel's `struct sock_filter`.
pub type Instruction = libc::sock_filter;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const BPF_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const fn offset_arg_low(arg: u8) -> u32 {
    16 + 8 * arg as u32
}
const fn offset_arg_high(arg: u8) -> u32 {
    offset_arg_low(arg) + 4
}

/// What the filter answers for one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Trace,
    Errno(i32),
    /// Per the cases of a [`Class::ByArg`]; `otherwise` when none matches.
    ByArg {
        arg: u8,
        cases: &'static [ArgCase],
        otherwise: ArgAction,
    },
    /// Trace only when the address could touch the scratch region.
    Guard(MemoryGuard),
    /// Allow when argument `arg` is 0 in all its 64 bits, else trace.
    TraceUnlessNull(u8),
}

impl Verdict {
    #[cfg(test)]
    fn of(class: Class) -> Verdict {
        Verdict::with(class, FilterOptions::default())
    }

    /// With `report`, refused syscalls stop for the tracer, which refuses
    /// them with the same errno and prints `[Syscall <name>]`.
    fn with(class: Class, options: FilterOptions) -> Verdict {
        match class {
            Class::Native => Verdict::Allow,
            Class::Refuse(_) if options.report => Verdict::Trace,
            Class::Refuse(errno) => Verdict::Errno(errno),
            Class::ByArg {
                arg,
                cases,
                otherwise,
            } => Verdict::ByArg {
                arg,
                cases,
                otherwise,
            },
            Class::Check(_) => Verdict::Trace,
            Class::CheckUnlessNull { arg, .. } => Verdict::TraceUnlessNull(arg),
            Class::Guard(guard) => Verdict::Guard(guard),
        }
    }
}

/// Options that change the filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterOptions {
    /// Stop on the wakeup syscall (config `wakeup`); otherwise it is unknown.
    pub wakeup: bool,
    /// Stop on the syscalls the table refuses (config `report`), so that
    /// the tracer can say so; otherwise the filter refuses them itself.
    /// Numbers above the table and other ABIs are refused silently still.
    pub report: bool,
    /// Stop on `getcwd` (config `cow`): in a cow tree the kernel would
    /// name the mirror, and the tracer answers with the tree's name.
    pub cow: bool,
    /// Stop on every call that can make a regular file bigger through a
    /// descriptor ([`crate::syscall::growth_of`]: `write`, `pwrite64`,
    /// `writev`, `sendfile`, `splice`, `ftruncate`, ...) and refuse
    /// `FICLONE`/`FICLONERANGE` with `EOPNOTSUPP` (config `cowquota`):
    /// the tracer charges what lands in the layer.
    pub cowquota: bool,
}

const fn ret(value: u32) -> Instruction {
    Instruction {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k: value,
    }
}

const fn load(offset: u32) -> Instruction {
    Instruction {
        code: BPF_LD_W_ABS,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

/// The filter's return value for a [`Class::ByArg`] case's action; `allow`
/// is what a call let run returns (see [`Entry`]).
fn arg_action(action: ArgAction, allow: u32) -> u32 {
    match action {
        ArgAction::Allow => allow,
        ArgAction::Refuse(errno) => errno_action(errno),
        ArgAction::Check(_) => libc::SECCOMP_RET_TRACE,
    }
}

fn errno_action(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
}

/// The verdict for every number from 0 up to the largest known one; gaps
/// in the table are unknown and refused.
pub fn verdicts(options: FilterOptions) -> Vec<Verdict> {
    let getcwd = crate::arch::number_of("getcwd").map(|nr| nr as usize);
    let table = Table::native();
    table
        .classes()
        .enumerate()
        .map(|(nr, class)| match class {
            Class::Native if options.cow && Some(nr) == getcwd => Verdict::Trace,
            Class::Native
                if options.cowquota
                    && crate::syscall::growth_of(table.lookup(nr as u64).0).is_some() =>
            {
                Verdict::Trace
            }
            class => Verdict::with(class, options),
        })
        .collect()
}

/// Under `cowquota`: `ioctl(FICLONE)` and `ioctl(FICLONERANGE)` would
/// give a file of the layer another file's blocks with no write the jail
/// sees, so the filter refuses them with `EOPNOTSUPP` (what a filesystem
/// without reflinks answers: `cp` copies instead). Ahead of the tree,
/// which leaves the accumulator at the number again.
fn clone_ioctls_refused() -> Vec<Instruction> {
    let Some(ioctl) = crate::arch::number_of("ioctl") else {
        return Vec::new();
    };
    const FICLONE: u32 = 0x4004_9409;
    const FICLONERANGE: u32 = 0x4020_940D;
    vec![
        jump(BPF_JEQ_K, ioctl, 0, 5),
        load(offset_arg_low(1)),
        jump(BPF_JEQ_K, FICLONE, 2, 0),
        jump(BPF_JEQ_K, FICLONERANGE, 1, 0),
        jump(BPF_JA, 1, 0, 0),
        ret(errno_action(libc::EOPNOTSUPP)),
        load(OFFSET_NR),
    ]
}

/// One syscall number's verdict and what its "let it run" outcomes
/// return: `SECCOMP_RET_ALLOW`, or a `syscall` line's refusal (under
/// `report`, a stop, so that the tracer can say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    verdict: Verdict,
    allow: u32,
}

/// What a call a `syscall` line refuses returns in place of running.
fn refusal_action(refusal: Option<Refusal>, options: FilterOptions) -> u32 {
    match refusal {
        None => libc::SECCOMP_RET_ALLOW,
        Some(_) if options.report => libc::SECCOMP_RET_TRACE,
        Some(Refusal::Errno(errno)) => errno_action(errno),
        Some(Refusal::Kill) => libc::SECCOMP_RET_KILL_PROCESS,
    }
}

fn entries(options: FilterOptions, narrowing: &Narrowing) -> Vec<Entry> {
    verdicts(options)
        .into_iter()
        .enumerate()
        .map(|(nr, verdict)| Entry {
            verdict,
            allow: refusal_action(narrowing.refusal(nr as u64), options),
        })
        .collect()
}

/// A run of consecutive syscall numbers with the same entry.
#[derive(Debug, Clone, Copy)]
struct Range {
    first: u32,
    entry: Entry,
}

fn ranges(table: &[Entry]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for (nr, entry) in table.iter().enumerate() {
        if out.last().map(|range| range.entry) != Some(*entry) {
            out.push(Range {
                first: nr as u32,
                entry: *entry,
            });
        }
    }
    // Everything above the table is unknown.
    out.push(Range {
        first: table.len() as u32,
        entry: Entry {
            verdict: Verdict::Errno(libc::ENOSYS),
            allow: libc::SECCOMP_RET_ALLOW,
        },
    });
    out
}

fn leaf(Entry { verdict, allow }: Entry) -> Vec<Instruction> {
    match verdict {
        Verdict::Allow => vec![ret(allow)],
        Verdict::Trace => vec![ret(libc::SECCOMP_RET_TRACE)],
        Verdict::Errno(errno) => vec![ret(errno_action(errno))],
        Verdict::ByArg {
            arg,
            cases,
            otherwise,
        } => {
            // Per case: compare, and on a match its body, which always
            // returns; on no match skip the body to the next comparison.
            let mut code = vec![load(offset_arg_low(arg))];
            for case in cases {
                let action = ret(arg_action(case.action, allow));
                let body = match case.bits {
                    None => vec![action],
                    Some((other, mask)) => vec![
                        load(offset_arg_low(other)),
                        jump(BPF_JSET_K, mask, 0, 1),
                        action,
                        ret(allow),
                    ],
                };
                code.push(jump(BPF_JEQ_K, case.value, 0, body.len() as u8));
                code.extend(body);
            }
            code.push(ret(arg_action(otherwise, allow)));
            code
        }
        Verdict::Guard(guard) => guard_leaf(guard, allow),
        // Both halves: a pointer whose low 32 bits are 0 is no null.
        Verdict::TraceUnlessNull(arg) => vec![
            load(offset_arg_high(arg)),
            jump(BPF_JEQ_K, 0, 0, 2),
            load(offset_arg_low(arg)),
            jump(BPF_JEQ_K, 0, 1, 0),
            ret(libc::SECCOMP_RET_TRACE),
            ret(allow),
        ],
    }
}

/// `TRACE` when argument 0 is an address below the end of the scratch
/// region, else `allow`; `prefix` may jump to the final `ret TRACE` or
/// `ret allow` by counting back from the end.
fn guard_leaf(guard: MemoryGuard, allow: u32) -> Vec<Instruction> {
    // The tail, with jump offsets counted to its two final instructions:
    //   ld hi(arg0); jeq 0 ? next : ALLOW; ld lo(arg0); jge END ? ALLOW : TRACE
    //   ret TRACE; ret ALLOW
    let address_test = [
        load(offset_arg_high(0)),
        jump(BPF_JEQ_K, 0, 0, 3),
        load(offset_arg_low(0)),
        jump(BPF_JGE_K, SCRATCH_END as u32, 1, 0),
        ret(libc::SECCOMP_RET_TRACE),
        ret(allow),
    ];
    let mut code = Vec::new();
    match guard {
        MemoryGuard::Range => {}
        MemoryGuard::Mmap => {
            // Without MAP_FIXED the kernel never replaces a mapping.
            code.push(load(offset_arg_low(3)));
            let to_allow = (address_test.len() - 1) as u8;
            code.push(jump(BPF_JSET_K, libc::MAP_FIXED as u32, 0, to_allow));
        }
        MemoryGuard::Mremap => {
            // A fixed destination can be anywhere: stop on it.
            code.push(load(offset_arg_low(3)));
            let to_trace = (address_test.len() - 2) as u8;
            code.push(jump(BPF_JSET_K, libc::MREMAP_FIXED as u32, to_trace, 0));
        }
    }
    code.extend(address_test);
    code
}

/// A balanced decision tree over the ranges. Each inner node is
/// `jge split ? right : left`, written as `jge split, 0, 1; ja right` so
/// that no 8-bit jump offset can overflow however large the table grows.
fn tree(ranges: &[Range]) -> Vec<Instruction> {
    if ranges.len() == 1 {
        return leaf(ranges[0].entry);
    }
    let middle = ranges.len() / 2;
    let left = tree(&ranges[..middle]);
    let right = tree(&ranges[middle..]);
    let mut code = Vec::with_capacity(left.len() + right.len() + 2);
    code.push(jump(BPF_JGE_K, ranges[middle].first, 0, 1));
    code.push(Instruction {
        code: BPF_JA,
        jt: 0,
        jf: 0,
        k: left.len() as u32,
    });
    code.extend(left);
    code.extend(right);
    code
}

/// Builds the whole filter program.
pub fn build(options: FilterOptions) -> Vec<Instruction> {
    build_narrowed(options, &Narrowing::default())
}

/// Builds the whole filter program, narrowed by the config's `syscall`
/// lines.
pub fn build_narrowed(options: FilterOptions, narrowing: &Narrowing) -> Vec<Instruction> {
    let foreign = ret(errno_action(libc::ENOSYS));
    let mut code = vec![
        load(OFFSET_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        foreign,
        load(OFFSET_NR),
    ];
    if options.wakeup {
        code.push(jump(BPF_JEQ_K, WAKEUP_SYSCALL, 0, 1));
        code.push(ret(libc::SECCOMP_RET_TRACE));
    }
    // The tracer turns a call a `kill` line refuses into this number; the
    // kernel runs the filter again on it.
    if narrowing.kills() {
        code.push(jump(BPF_JEQ_K, KILL_SYSCALL, 0, 1));
        code.push(ret(libc::SECCOMP_RET_KILL_PROCESS));
    }
    if options.cowquota {
        code.extend(clone_ioctls_refused());
    }
    // x32 numbers (and anything larger) are another ABI: refuse.
    code.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1));
    code.push(foreign);
    code.extend(tree(&ranges(&entries(options, narrowing))));
    code
}

#[cfg(test)]
pub(crate) mod interpreter {
    //! A small cBPF interpreter for the instructions `build` emits, so the
    //! filter is tested as data against synthetic `seccomp_data`.
    use super::*;

    pub struct SeccompData {
        pub nr: u32,
        pub arch: u32,
        pub args: [u64; 6],
    }

    fn word(data: &SeccompData, offset: u32) -> u32 {
        match offset {
            OFFSET_NR => data.nr,
            OFFSET_ARCH => data.arch,
            offset if offset >= 16 => {
                let arg = data.args[((offset - 16) / 8) as usize];
                if (offset - 16) % 8 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("unexpected load offset {offset}"),
        }
    }

    pub fn run(program: &[Instruction], data: &SeccompData) -> u32 {
        let mut pc = 0usize;
        let mut accumulator = 0u32;
        loop {
            let insn = program[pc];
            pc += 1;
            match insn.code {
                BPF_LD_W_ABS => accumulator = word(data, insn.k),
                BPF_JEQ_K => {
                    pc += usize::from(if accumulator == insn.k {
                        insn.jt
                    } else {
                        insn.jf
                    })
                }
                BPF_JGE_K => {
                    pc += usize::from(if accumulator >= insn.k {
                        insn.jt
                    } else {
                        insn.jf
                    })
                }
                BPF_JSET_K => {
                    pc += usize::from(if accumulator & insn.k != 0 {
                        insn.jt
                    } else {
                        insn.jf
                    })
                }
                BPF_JA => pc += insn.k as usize,
                BPF_RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::interpreter::{SeccompData, run};
    use super::*;
    use crate::arch::{number_of, syscalls};
    use crate::syscall::class_of;

    fn verdict_for(program: &[Instruction], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        run(program, &SeccompData { nr, arch, args })
    }

    fn native(program: &[Instruction], name: &str) -> u32 {
        let nr = number_of(name).unwrap();
        verdict_for(program, nr, AUDIT_ARCH, [0; 6])
    }

    #[test]
    fn every_known_syscall_gets_its_table_verdict() {
        let program = build(FilterOptions::default());
        for (nr, name) in syscalls() {
            let expected = match Verdict::of(class_of(name)) {
                Verdict::Allow => libc::SECCOMP_RET_ALLOW,
                // No case has the value 0.
                Verdict::ByArg { otherwise, .. } => arg_action(otherwise, libc::SECCOMP_RET_ALLOW),
                // Address 0 lies below the scratch region's end.
                Verdict::Guard(MemoryGuard::Range | MemoryGuard::Mremap) => libc::SECCOMP_RET_TRACE,
                // Without MAP_FIXED an mmap never replaces a mapping.
                Verdict::Guard(MemoryGuard::Mmap) => libc::SECCOMP_RET_ALLOW,
                Verdict::Trace => libc::SECCOMP_RET_TRACE,
                Verdict::Errno(errno) => errno_action(errno),
                // Every argument is 0: a null pointer.
                Verdict::TraceUnlessNull(_) => libc::SECCOMP_RET_ALLOW,
            };
            assert_eq!(
                verdict_for(&program, nr, AUDIT_ARCH, [0; 6]),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn a_pointer_argument_stops_unless_null_in_all_64_bits() {
        let leaf = leaf(Entry {
            verdict: Verdict::TraceUnlessNull(4),
            allow: libc::SECCOMP_RET_ALLOW,
        });
        let run_with = |pointer: u64| {
            let mut args = [0; 6];
            args[4] = pointer;
            run(
                &leaf,
                &SeccompData {
                    nr: 0,
                    arch: AUDIT_ARCH,
                    args,
                },
            )
        };
        assert_eq!(run_with(0), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run_with(0x7fff_0000_1000), libc::SECCOMP_RET_TRACE);
        assert_eq!(run_with(1 << 32), libc::SECCOMP_RET_TRACE);
        assert_eq!(run_with(1), libc::SECCOMP_RET_TRACE);
    }

    #[test]
    fn hot_syscalls_run_natively_and_paths_stop() {
        let program = build(FilterOptions::default());
        for name in [
            "read",
            "write",
            "mmap",
            "futex",
            "getpid",
            "rseq",
            "close_range",
        ] {
            assert_eq!(native(&program, name), libc::SECCOMP_RET_ALLOW, "{name}");
        }
        for name in ["openat", "execve", "clone", "kill", "statx"] {
            assert_eq!(native(&program, name), libc::SECCOMP_RET_TRACE, "{name}");
        }
    }

    #[test]
    fn unknown_and_future_numbers_fail_closed() {
        let program = build(FilterOptions::default());
        for nr in [336, 400, 423, 470, 1000, 0x3fff_ffff] {
            assert_eq!(
                verdict_for(&program, nr, AUDIT_ARCH, [0; 6]),
                errno_action(libc::ENOSYS),
                "{nr}"
            );
        }
    }

    #[test]
    fn foreign_abis_are_refused() {
        let program = build(FilterOptions::default());
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        // getpid through int 0x80 is number 20.
        assert_eq!(
            verdict_for(&program, 20, AUDIT_ARCH_I386, [0; 6]),
            errno_action(libc::ENOSYS)
        );
        // x32: the same numbers with bit 30 set.
        let getpid = number_of("getpid").unwrap();
        assert_eq!(
            verdict_for(&program, getpid | X32_SYSCALL_BIT, AUDIT_ARCH, [0; 6]),
            errno_action(libc::ENOSYS)
        );
    }

    #[test]
    fn refused_syscalls_stop_only_under_report() {
        let quiet = build(FilterOptions::default());
        let report = build(FilterOptions {
            report: true,
            ..FilterOptions::default()
        });
        for (name, errno) in [("perf_event_open", libc::EACCES), ("mount", libc::EPERM)] {
            assert_eq!(class_of(name), Class::Refuse(errno), "{name}");
            assert_eq!(native(&quiet, name), errno_action(errno), "{name}");
            assert_eq!(native(&report, name), libc::SECCOMP_RET_TRACE, "{name}");
        }
        // The rest is as without report.
        for name in ["read", "getpid"] {
            assert_eq!(native(&report, name), libc::SECCOMP_RET_ALLOW, "{name}");
        }
        assert_eq!(
            verdict_for(&report, 1000, AUDIT_ARCH, [0; 6]),
            errno_action(libc::ENOSYS)
        );
        assert!(report.len() < 4096);
    }

    #[test]
    fn getcwd_stops_only_with_cow_trees() {
        let getcwd = u64::from(crate::arch::number_of("getcwd").expect("getcwd"));
        let without = build(FilterOptions::default());
        let with = build(FilterOptions {
            cow: true,
            ..FilterOptions::default()
        });
        assert_eq!(
            verdict_for(&without, getcwd as u32, AUDIT_ARCH, [0; 6]),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            verdict_for(&with, getcwd as u32, AUDIT_ARCH, [0; 6]),
            libc::SECCOMP_RET_TRACE
        );
    }

    #[test]
    fn growing_calls_stop_only_with_cowquota() {
        let plain = FilterOptions::default();
        let cow = FilterOptions {
            cow: true,
            ..FilterOptions::default()
        };
        let quota = FilterOptions {
            cow: true,
            cowquota: true,
            ..FilterOptions::default()
        };
        let growing = [
            "write",
            "pwrite64",
            "writev",
            "pwritev",
            "pwritev2",
            "sendfile",
            "copy_file_range",
            "splice",
            "ftruncate",
            "fallocate",
        ];
        for options in [plain, cow] {
            let program = build(options);
            for name in growing.iter().chain(&["tee", "vmsplice", "read"]) {
                assert_eq!(native(&program, name), libc::SECCOMP_RET_ALLOW, "{name}");
            }
            // No other number pays anything new either.
            assert_eq!(
                verdicts(options),
                verdicts(FilterOptions {
                    cowquota: false,
                    ..options
                })
            );
        }
        let program = build(quota);
        for name in growing {
            assert_eq!(native(&program, name), libc::SECCOMP_RET_TRACE, "{name}");
        }
        // Pipes only, and everything else, as before.
        for name in ["tee", "vmsplice", "read", "getpid"] {
            assert_eq!(native(&program, name), libc::SECCOMP_RET_ALLOW, "{name}");
        }
        let changed: Vec<&str> = verdicts(quota)
            .iter()
            .zip(verdicts(cow))
            .enumerate()
            .filter(|(_, (with, without))| **with != *without)
            .map(|(nr, _)| Table::native().lookup(nr as u64).0)
            .collect();
        let mut want = growing.to_vec();
        want.sort();
        let mut changed = changed;
        changed.sort();
        assert_eq!(changed, want);
        // Reflinks are refused, other ioctls keep their verdict.
        let ioctl = number_of("ioctl").unwrap();
        let request = |program: &[Instruction], value: u64| {
            verdict_for(program, ioctl, AUDIT_ARCH, [3, value, 4, 0, 0, 0])
        };
        for reflink in [0x4004_9409, 0x4020_940D] {
            assert_eq!(request(&program, reflink), errno_action(libc::EOPNOTSUPP));
            assert_eq!(request(&build(cow), reflink), libc::SECCOMP_RET_ALLOW);
        }
        for other in [0x5451, 0x541B, 0x5402, 0xdead] {
            assert_eq!(
                request(&program, other),
                request(&build(cow), other),
                "{other:#x}"
            );
        }
        assert!(program.len() < 4096);
    }

    #[test]
    fn wakeup_stops_only_when_configured() {
        let without = build(FilterOptions::default());
        let with = build(FilterOptions {
            wakeup: true,
            ..FilterOptions::default()
        });
        assert_eq!(
            verdict_for(&without, WAKEUP_SYSCALL, AUDIT_ARCH, [0; 6]),
            errno_action(libc::ENOSYS)
        );
        assert_eq!(
            verdict_for(&with, WAKEUP_SYSCALL, AUDIT_ARCH, [0; 6]),
            libc::SECCOMP_RET_TRACE
        );
    }

    #[test]
    fn terminal_injection_ioctls_are_refused() {
        let program = build(FilterOptions::default());
        let ioctl = number_of("ioctl").unwrap();
        let tiocsti = libc::TIOCSTI;
        assert_eq!(
            verdict_for(&program, ioctl, AUDIT_ARCH, [0, tiocsti, 0, 0, 0, 0]),
            errno_action(libc::EPERM)
        );
        assert_eq!(
            verdict_for(&program, ioctl, AUDIT_ARCH, [0, libc::TCGETS, 0, 0, 0, 0]),
            libc::SECCOMP_RET_ALLOW
        );
        // High bits do not hide the command: the kernel reads 32 of them.
        assert_eq!(
            verdict_for(
                &program,
                ioctl,
                AUDIT_ARCH,
                [0, tiocsti | 1 << 32, 0, 0, 0, 0]
            ),
            errno_action(libc::EPERM)
        );
    }

    #[test]
    fn ioctls_are_an_allowlist() {
        let program = build(FilterOptions::default());
        let ioctl = number_of("ioctl").unwrap();
        let call =
            |command: u64| verdict_for(&program, ioctl, AUDIT_ARCH, [0, command, 0, 0, 0, 0]);
        // Reads and descriptor-only changes run natively.
        for read in [
            0x5401,
            0x5413,
            0x541B,
            0x5451,
            0x5421,
            0x8008_6601,
            0xC020_660B,
            // The kernel reads 32 bits of the command: high bits change
            // nothing.
            0x1_0000_5401,
        ] {
            assert_eq!(call(read), libc::SECCOMP_RET_ALLOW, "{read:#x}");
        }
        // Changes to an inode or a terminal stop for the tracer.
        for change in [
            0x4008_6602,
            0x401C_5820,
            0x4008_7602,
            0x5402,
            0x5414,
            0x5441,
        ] {
            assert_eq!(call(change), libc::SECCOMP_RET_TRACE, "{change:#x}");
        }
        // Anything unknown: "not for this file", also with high bits set.
        for unknown in [0xC018_9436, 0x540E, 0x5423, 0x4C00, 0xC018_9436 | 1 << 32] {
            assert_eq!(call(unknown), errno_action(libc::ENOTTY), "{unknown:#x}");
        }
    }

    #[test]
    fn signal_owner_commands_stop_and_other_commands_do_not() {
        let program = build(FilterOptions::default());
        let call = |name: &str, command: u64| {
            verdict_for(
                &program,
                number_of(name).unwrap(),
                AUDIT_ARCH,
                [3, command, 0, 0, 0, 0],
            )
        };
        let trace = libc::SECCOMP_RET_TRACE;
        let allow = libc::SECCOMP_RET_ALLOW;
        assert_eq!(call("fcntl", libc::F_SETOWN as u64), trace);
        assert_eq!(call("fcntl", 15), trace, "F_SETOWN_EX");
        assert_eq!(call("fcntl", libc::F_GETFL as u64), allow);
        assert_eq!(call("fcntl", 10), trace, "F_SETSIG");
        let setfl = |flags: i32| {
            let args = [3, libc::F_SETFL as u64, flags as u64, 0, 0, 0];
            verdict_for(&program, number_of("fcntl").unwrap(), AUDIT_ARCH, args)
        };
        assert_eq!(setfl(libc::O_NONBLOCK), allow, "F_SETFL without O_ASYNC");
        assert_eq!(
            setfl(libc::O_NONBLOCK | libc::O_ASYNC),
            trace,
            "F_SETFL O_ASYNC"
        );
        assert_eq!(call("fcntl", libc::F_SETFD as u64), allow);
        assert_eq!(call("ioctl", 0x5452), trace, "FIOASYNC");
        assert_eq!(call("ioctl", 0x8901), trace, "FIOSETOWN");
        assert_eq!(call("ioctl", 0x8902), trace, "SIOCSPGRP");
        assert_eq!(call("ioctl", libc::TIOCLINUX), errno_action(libc::EPERM));
    }

    #[test]
    fn memory_map_changes_stop_only_near_the_scratch_region() {
        let program = build(FilterOptions::default());
        let call = |name: &str, args: [u64; 6]| {
            verdict_for(&program, number_of(name).unwrap(), AUDIT_ARCH, args)
        };
        let fixed = libc::MAP_FIXED as u64;
        let high = 0x7f00_0000_0000u64;
        let trace = libc::SECCOMP_RET_TRACE;
        let allow = libc::SECCOMP_RET_ALLOW;
        let cases = [
            ("mmap", [0, 4096, 3, 0x22, 0, 0], allow),
            ("mmap", [0x20000, 4096, 3, 0x22, 0, 0], allow),
            ("mmap", [0x20000, 4096, 3, 0x22 | fixed, 0, 0], trace),
            ("mmap", [0, 1 << 30, 3, 0x22 | fixed, 0, 0], trace),
            ("mmap", [high, 4096, 3, 0x22 | fixed, 0, 0], allow),
            ("mmap", [SCRATCH_END, 4096, 3, 0x22 | fixed, 0, 0], allow),
            ("munmap", [high, 4096, 0, 0, 0, 0], allow),
            ("munmap", [0x10000, 4096, 0, 0, 0, 0], trace),
            ("mprotect", [0x3f_f000, 4096, 7, 0, 0, 0], trace),
            ("mprotect", [1 << 32, 4096, 7, 0, 0, 0], allow),
            ("madvise", [0x10000, 4096, 4, 0, 0, 0], trace),
            ("mremap", [high, 4096, 8192, 1, 0, 0], allow),
            ("mremap", [high, 4096, 8192, 3, high, 0], trace),
            ("mremap", [0x20000, 4096, 8192, 1, 0, 0], trace),
        ];
        for (name, args, expected) in cases {
            assert_eq!(call(name, args), expected, "{name} {args:x?}");
        }
    }

    fn narrowed(deny: &[(&str, Refusal)], allow: Option<(&[&str], Refusal)>) -> Narrowing {
        Narrowing::new(deny, allow)
    }

    #[test]
    fn a_deny_line_refuses_what_would_run_and_leaves_stops_and_refusals_alone() {
        let eacces = Refusal::Errno(libc::EACCES);
        let narrowing = narrowed(
            &[
                ("write", eacces),
                ("openat", eacces),
                ("mount", eacces),
                ("ioctl", eacces),
                ("mmap", eacces),
            ],
            None,
        );
        let program = build_narrowed(FilterOptions::default(), &narrowing);
        assert_eq!(native(&program, "write"), errno_action(libc::EACCES));
        assert_eq!(native(&program, "read"), libc::SECCOMP_RET_ALLOW);
        // The tracer refuses it at the stop the jail makes anyway.
        assert_eq!(native(&program, "openat"), libc::SECCOMP_RET_TRACE);
        // The jail's own refusal keeps its errno.
        assert_eq!(native(&program, "mount"), errno_action(libc::EPERM));
        let call = |name: &str, args: [u64; 6]| {
            verdict_for(&program, number_of(name).unwrap(), AUDIT_ARCH, args)
        };
        assert_eq!(
            call("ioctl", [0, libc::TCGETS, 0, 0, 0, 0]),
            errno_action(libc::EACCES)
        );
        assert_eq!(
            call("ioctl", [0, libc::TIOCSTI, 0, 0, 0, 0]),
            errno_action(libc::EPERM)
        );
        assert_eq!(
            call("ioctl", [0, 0x5402, 0, 0, 0, 0]),
            libc::SECCOMP_RET_TRACE,
            "TCSETS stops as before"
        );
        // The scratch region's own mmap still stops for the tracer.
        let fixed = libc::MAP_FIXED as u64;
        assert_eq!(
            call("mmap", [0x10000, 4096, 1, 0x22 | fixed, 0, 0]),
            libc::SECCOMP_RET_TRACE
        );
        assert_eq!(
            call("mmap", [0, 4096, 3, 0x22, 0, 0]),
            errno_action(libc::EACCES)
        );
        // No kill line: the kill number is foreign as ever.
        assert_eq!(
            verdict_for(&program, KILL_SYSCALL, AUDIT_ARCH, [0; 6]),
            errno_action(libc::ENOSYS)
        );
    }

    #[test]
    fn an_allow_list_refuses_the_rest_and_kill_lines_kill() {
        let narrowing = narrowed(
            &[("getpid", Refusal::Kill)],
            Some((&["read", "write", "execve"], Refusal::Errno(libc::ENOSYS))),
        );
        let program = build_narrowed(FilterOptions::default(), &narrowing);
        assert_eq!(native(&program, "read"), libc::SECCOMP_RET_ALLOW);
        assert_eq!(native(&program, "futex"), errno_action(libc::ENOSYS));
        assert_eq!(native(&program, "getpid"), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(native(&program, "execve"), libc::SECCOMP_RET_TRACE);
        assert_eq!(native(&program, "clone"), libc::SECCOMP_RET_TRACE);
        assert_eq!(
            verdict_for(&program, KILL_SYSCALL, AUDIT_ARCH, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        // Under report every refusal stops, so that the tracer can say so.
        let report = build_narrowed(
            FilterOptions {
                report: true,
                ..FilterOptions::default()
            },
            &narrowing,
        );
        for name in ["futex", "getpid", "mount"] {
            assert_eq!(native(&report, name), libc::SECCOMP_RET_TRACE, "{name}");
        }
        assert_eq!(native(&report, "read"), libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn the_most_fragmented_narrowing_fits_the_kernel_limit() {
        // Every other syscall allowed: the most ranges a list can make.
        let names: Vec<&str> = syscalls().map(|(_, name)| name).step_by(2).collect();
        let narrowing = narrowed(&[], Some((&names, Refusal::Kill)));
        for report in [false, true] {
            let options = FilterOptions {
                wakeup: true,
                report,
                cow: true,
                cowquota: true,
            };
            let program = build_narrowed(options, &narrowing);
            assert!(program.len() < 4096, "{} instructions", program.len());
        }
    }

    #[test]
    fn program_fits_the_kernel_limit() {
        // BPF_MAXINSNS
        assert!(
            build(FilterOptions {
                wakeup: true,
                report: true,
                cow: true,
                cowquota: true,
            })
            .len()
                < 4096
        );
    }
}
