//! x86_64: the audit architecture and the register layout. Its syscall
//! numbers are the `syscalls` crate's (see [`super::syscalls`]).

/// The architecture's name, as messages give it.
pub const NAME: &str = "x86_64";

/// `AUDIT_ARCH_X86_64`: what `seccomp_data.arch` holds for native calls.
pub const AUDIT_ARCH: u32 = 0xc000_003e;

/// Syscall numbers with this bit set use the x32 ABI; the jail refuses them.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The registers ptrace hands over at a stop (`PTRACE_GETREGS`).
pub type Regs = libc::user_regs_struct;

/// The syscall number the thread asked for. At a seccomp stop `orig_rax`
/// holds it; `rax` already holds `-ENOSYS`.
pub fn syscall_number(regs: &Regs) -> u64 {
    regs.orig_rax
}

/// Syscall argument `index` (0-based) per the x86_64 syscall convention.
pub fn argument(regs: &Regs, index: usize) -> u64 {
    match index {
        0 => regs.rdi,
        1 => regs.rsi,
        2 => regs.rdx,
        3 => regs.r10,
        4 => regs.r8,
        _ => regs.r9,
    }
}

/// Sets syscall argument `index` (0-based).
pub fn set_argument(regs: &mut Regs, index: usize, value: u64) {
    match index {
        0 => regs.rdi = value,
        1 => regs.rsi = value,
        2 => regs.rdx = value,
        3 => regs.r10 = value,
        4 => regs.r8 = value,
        _ => regs.r9 = value,
    }
}

/// The registers of a thread stopped at syscall `number` with these
/// arguments, everything else zero: what a check sees, without a process
/// (for tests of the checks).
pub fn stopped_at(number: u64, arguments: [u64; 6]) -> Regs {
    let mut regs = Regs {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        rbp: 0,
        rbx: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rax: (-(i64::from(libc::ENOSYS))) as u64,
        rcx: 0,
        rdx: 0,
        rsi: 0,
        rdi: 0,
        orig_rax: number,
        rip: 0,
        cs: 0,
        eflags: 0,
        rsp: 0,
        ss: 0,
        fs_base: 0,
        gs_base: 0,
        ds: 0,
        es: 0,
        fs: 0,
        gs: 0,
    };
    for (index, value) in arguments.into_iter().enumerate() {
        set_argument(&mut regs, index, value);
    }
    regs
}

/// Makes the stopped thread run syscall `number` instead of its own.
pub fn set_syscall_number(regs: &mut Regs, number: u64) {
    regs.orig_rax = number;
}

/// What the syscall returned, at its exit stop (a negative errno on
/// failure).
pub fn return_value(regs: &Regs) -> i64 {
    regs.rax as i64
}

/// Sets what the syscall returns, at its exit stop.
pub fn set_return_value(regs: &mut Regs, value: u64) {
    regs.rax = value;
}

/// The registers of `regs` (saved at a seccomp stop) rewound to make the
/// same syscall again: back over the two-byte `syscall` instruction, with
/// the number where the instruction expects it.
pub fn to_run_again(regs: &Regs) -> Regs {
    let mut again = *regs;
    again.rip = regs.rip.wrapping_sub(2);
    again.rax = regs.orig_rax;
    again
}

/// Makes the stopped syscall not run and return `-errno` instead: the
/// kernel skips a syscall whose number the tracer set to -1 at the seccomp
/// stop, and the thread sees whatever `rax` holds.
pub fn skip_with_value(regs: &mut Regs, value: u64) {
    regs.orig_rax = u64::MAX;
    regs.rax = value;
}

pub fn skip_with_errno(regs: &mut Regs, errno: i32) {
    regs.orig_rax = u64::MAX;
    regs.rax = (-(i64::from(errno))) as u64;
}
