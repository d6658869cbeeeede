//! Real programs (python3, /bin/sh) under a config like the issue's.

use crate::support::Jail;
use std::fs;

fn issue_jail() -> Jail {
    let mut j = Jail::bare();
    j.set_config("see /usr\nsee /lib\nsee /lib64\nsee /bin\nsee /etc/ld.so.cache\nsee {jail}\nwrite {jail}\n");
    j
}

/// A path under /usr unique to this test tree; removed if a broken jail
/// let the program create it.
struct UsrVictim(std::path::PathBuf);

impl UsrVictim {
    fn new(j: &Jail) -> UsrVictim {
        let name = j.root.file_name().unwrap().to_string_lossy().into_owned();
        UsrVictim(std::path::PathBuf::from(format!("/usr/{name}-pwned")))
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for UsrVictim {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn python(j: &Jail, code: &str) -> crate::support::Output {
    j.cmd(&["/usr/bin/python3".to_string(), "-c".into(), j.expand(code)])
        .run()
}

fn sh(j: &Jail, script: &str) -> crate::support::Output {
    j.cmd(&["/bin/sh".to_string(), "-c".into(), j.expand(script)])
        .run()
}

#[test]
fn python_open_etc_passwd_raises_file_not_found() {
    let j = issue_jail();
    let out = python(&j, "open('/etc/passwd')");
    out.assert_code(1)
        .assert_stderr_contains("FileNotFoundError");
}

#[test]
fn python_can_write_in_the_write_dir() {
    let j = issue_jail();
    let out = python(
        &j,
        "open('{jail}/py.out', 'w').write('from python')\nprint(open('{jail}/py.out').read())",
    );
    out.assert_code(0).assert_stdout("from python\n");
    assert_eq!(
        fs::read_to_string(j.path("jail/py.out")).unwrap(),
        "from python"
    );
}

#[test]
fn python_cannot_write_outside_the_write_dir() {
    let j = issue_jail();
    let victim = UsrVictim::new(&j);
    let code = "import os\n\
         for p in ['/usr/pwned', '{hidden}/pwned', '{root}/pwned']:\n\
         \x20   try:\n\
         \x20       open(p, 'w')\n\
         \x20       print('WROTE', p)\n\
         \x20   except OSError as e:\n\
         \x20       print(type(e).__name__)\n"
        .replace("/usr/pwned", &victim.path());
    let out = python(&j, &code);
    out.assert_code(0);
    let lines = out.lines();
    assert!(
        lines.len() == 3
            && lines[0] == "PermissionError"
            && lines[1] == "FileNotFoundError"
            && lines[2] == "FileNotFoundError",
        "{}",
        out.describe()
    );
    assert!(!victim.0.exists(), "created {}", victim.path());
    assert!(!j.path("pwned").exists() && !j.path("hidden/pwned").exists());
}

#[test]
fn python_listdir_of_hidden_dir_fails() {
    let j = issue_jail();
    let out = python(
        &j,
        "import os\ntry:\n    print(os.listdir('{hidden}'))\nexcept FileNotFoundError:\n    print('FNF')\n",
    );
    out.assert_code(0).assert_stdout("FNF\n");
}

#[test]
fn shell_cannot_cat_etc_passwd() {
    let j = issue_jail();
    let out = sh(&j, "cat /etc/passwd");
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert!(!out.stdout.contains("root:"), "{}", out.describe());
    out.assert_stderr_contains("No such file");
}

#[test]
fn shell_redirect_into_write_dir_works() {
    let j = issue_jail();
    let out = sh(&j, "echo hi > {jail}/sh.out && cat {jail}/sh.out");
    out.assert_code(0).assert_stdout("hi\n");
}

#[test]
fn shell_redirect_outside_write_dir_fails() {
    let j = issue_jail();
    let victim = UsrVictim::new(&j);
    let out = sh(&j, &format!("echo hi > {}", victim.path()));
    assert_ne!(out.code(), 0, "{}", out.describe());
    assert!(!victim.0.exists(), "created {}", victim.path());
}

#[test]
fn shell_subprocess_grandchild_is_still_jailed() {
    let j = issue_jail();
    let out = sh(&j, "sh -c 'cat {hidden}/file' ; echo rc=$?");
    assert!(!out.stdout.contains("secret"), "{}", out.describe());
    assert!(out.stdout.contains("rc=1"), "{}", out.describe());
}
