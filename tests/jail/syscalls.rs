//! Refused system calls and foreign ABIs.

use crate::support::{Jail, Want, Want::*};

/// Detaches whatever a jail that let `mount` through mounted on `dir`.
struct Unmount(std::ffi::CString);

impl Drop for Unmount {
    fn drop(&mut self) {
        // SAFETY: umount2 with a valid C string; failure is expected.
        unsafe {
            libc::umount2(self.0.as_ptr(), libc::MNT_DETACH);
        }
    }
}

#[test]
fn mount_chroot_pivot_root_are_refused() {
    let j = Jail::new();
    let _unmount = Unmount(std::ffi::CString::new(j.p("jail/dir")).unwrap());
    j.check(&[
        ("mount {jail}/dir", Refused),
        ("umount {ro}", Refused),
        ("chroot {jail}", Refused),
        ("pivot_root {jail} {jail}/dir", Refused),
    ]);
}

#[test]
fn ptrace_traceme_is_refused() {
    let j = Jail::new();
    j.check(&[("ptrace_traceme", Refused)]);
}

#[test]
fn tcp_and_udp_sockets_are_made_and_other_families_refused() {
    let j = Jail::new();
    j.check(&[
        ("socket_inet", Want::Ok),
        ("socket_inet6", Want::Ok),
        ("socket_netlink", Refused),
    ]);
}

#[test]
fn io_uring_bpf_open_by_handle_at_are_refused() {
    let j = Jail::new();
    j.check(&[
        ("io_uring", Refused),
        ("bpf", Refused),
        ("open_by_handle_at", Refused),
    ]);
}

#[test]
fn int80_i386_syscalls_are_refused_with_enosys() {
    let j = Jail::new();
    j.check(&[
        ("int80_getpid", Want::is("ENOSYS")),
        ("int80_open /etc/passwd", Want::is("ENOSYS")),
        ("int80_open {hidden}/file", Want::is("ENOSYS")),
        ("int80_creat {ro}/planted", Want::is("ENOSYS")),
    ]);
    assert!(!j.path("ro/planted").exists());
}

#[test]
fn x32_syscalls_are_refused_with_enosys() {
    let j = Jail::new();
    j.check(&[
        ("x32_getpid", Want::is("ENOSYS")),
        ("x32_open {hidden}/file", Want::is("ENOSYS")),
    ]);
}

#[test]
fn new_mount_api_is_refused() {
    let j = Jail::new();
    j.check(&[
        ("fsopen", Refused),
        ("open_tree {ro}", Refused),
        ("open_tree {hidden}", Refused),
    ]);
}

#[test]
fn modern_syscalls_work_as_natively() {
    // rseq, getrandom, clone3, statx, faccessat2, close_range,
    // clock_nanosleep, copy_file_range: a jail that refused any of them
    // (ENOSYS for "unknown") would break current libcs and runtimes.
    let j = Jail::new();
    let native = std::process::Command::new(j.bin("modern"))
        .arg(j.p("jail"))
        .output()
        .unwrap();
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    let names = [
        "rseq",
        "getrandom",
        "clone3",
        "statx",
        "faccessat2",
        "close_range",
        "clock_nanosleep",
        "copy_file_range",
    ];
    let all_ok: Vec<String> = names.iter().map(|name| format!("{name} ok")).collect();
    assert_eq!(native.lines().collect::<Vec<_>>(), all_ok, "natively");
    std::fs::remove_file(j.path("jail/modern-dst")).unwrap();
    let out = j.cmd(&[j.bin("modern"), j.p("jail")]).run();
    assert_eq!(out.lines(), all_ok, "{}", out.describe());
    assert_eq!(
        std::fs::read_to_string(j.path("jail/modern-dst")).unwrap(),
        "twelve bytes"
    );
}

#[test]
fn system_v_ipc_of_the_outside_is_out_of_reach() {
    // A segment made outside the jail, by the same user: natively a
    // program attaches it by its (guessable) id; in the jail it cannot,
    // and it cannot make segments either.
    // SAFETY (test): a private segment, written and removed below.
    let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0);
    // SAFETY (test): attach, write a marker, detach.
    unsafe {
        let at = libc::shmat(id, std::ptr::null(), 0);
        assert_ne!(at as isize, -1);
        std::ptr::copy_nonoverlapping(c"outside".as_ptr().cast::<u8>(), at.cast::<u8>(), 8);
        libc::shmdt(at);
    }
    let j = Jail::new();
    let native = std::process::Command::new(j.bin("probe"))
        .args(["shmat", &id.to_string()])
        .output()
        .unwrap();
    let jailed = j
        .cmd(&[
            j.bin("probe"),
            "shmat".into(),
            id.to_string(),
            "+".into(),
            "shmget".into(),
        ])
        .run();
    // SAFETY (test): remove the segment made above.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    assert_eq!(
        String::from_utf8_lossy(&native.stdout),
        "ok outside\n",
        "control void"
    );
    assert_eq!(
        jailed.lines(),
        ["ENOSYS", "ENOSYS"],
        "{}",
        jailed.describe()
    );
}

#[test]
fn socket_pairs_bind_only_in_write_trees_and_reach_no_named_socket_outside() {
    // Natively a socket pair can be bound to a path (a socket file made
    // anywhere the user can write), and a datagram pair can send to any
    // named socket: here one the test listens on.
    let j = Jail::new();
    let listener = std::os::unix::net::UnixDatagram::bind(j.path("hidden/log")).unwrap();
    listener.set_nonblocking(true).unwrap();
    let native = std::process::Command::new(j.bin("probe"))
        .args([
            "pair_bind",
            &j.p("ro/made"),
            "+",
            "pair_dgram",
            &j.p("hidden/log"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&native.stdout),
        "ok\nok\n",
        "control void"
    );
    let mut byte = [0u8; 1];
    assert_eq!(
        listener.recv(&mut byte).unwrap(),
        1,
        "control: nothing arrived"
    );
    std::fs::remove_file(j.path("ro/made")).unwrap();

    j.check(&[
        ("pair_bind {ro}/made", Want::is("EACCES")),
        ("pair_bind {jail}/made", Want::Ok),
        ("pair_connect {hidden}/log", Want::is("ENOENT")),
        ("pair_dgram {hidden}/log", Want::is("socketpair EACCES")),
    ]);
    assert!(
        !j.path("ro/made").exists(),
        "a socket file appeared outside write"
    );
    assert!(
        j.path("jail/made").exists(),
        "no socket file appeared in the write tree"
    );
    assert!(
        listener.recv(&mut byte).is_err(),
        "a datagram reached the outside socket"
    );
}
