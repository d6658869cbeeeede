//! What the tracer's event loop must cope with: exec from a non-leader
//! thread, real-time signals, self-sent SIGTRAP, group-stops, many threads
//! at once, and an exit while other threads are mid-syscall.

use crate::support::Jail;

fn events(j: &Jail, args: &[&str]) -> crate::support::Output {
    let mut argv = vec![j.bin("events")];
    argv.extend(args.iter().map(|arg| j.expand(arg)));
    j.cmd(&argv).run()
}

#[test]
fn exec_from_a_non_leader_thread_runs_the_new_program() {
    let j = Jail::new();
    let exitcode = j.bin("exitcode");
    events(&j, &["exec-from-thread", &exitcode, "7"]).assert_code(7);
}

#[test]
fn exec_from_a_thread_of_a_hidden_program_is_still_checked() {
    let j = Jail::new();
    let out = events(&j, &["exec-from-thread", "{hidden}/file"]);
    out.assert_code(99);
    out.assert_stderr_contains("No such file");
}

#[test]
fn real_time_signals_pass_through_unchanged() {
    let j = Jail::new();
    events(&j, &["rtsig"])
        .assert_code(0)
        .assert_stdout("got 3 value 42\n");
}

#[test]
fn a_sigtrap_the_program_sends_itself_is_not_mistaken_for_a_ptrace_event() {
    let j = Jail::new();
    events(&j, &["sigtrap"])
        .assert_code(0)
        .assert_stdout("handled\n");
}

#[test]
fn a_child_can_stop_and_continue() {
    let j = Jail::new();
    events(&j, &["stopcont"])
        .assert_code(0)
        .assert_stdout("stopped, continued, exited 5\n");
}

#[test]
fn many_threads_making_checked_syscalls_at_once() {
    let j = Jail::new();
    events(&j, &["threads", "32", "{ro}/file"])
        .assert_code(0)
        .assert_stdout("threads 32 failed 0\n");
}

#[test]
fn exit_while_other_threads_are_in_checked_syscalls() {
    let j = Jail::new();
    events(&j, &["exit-while-busy", "{ro}/file"])
        .assert_code(3)
        .assert_stdout("exiting\n");
}
