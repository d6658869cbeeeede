//! URLs that read as files (`http`, `downloadpat`), against a loopback
//! server the test starts itself.

use crate::support::Jail;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const BODY: &str = "hello from the test server\n";
const SECRET: &str = "outside the prefix\n";

/// A tiny HTTP/1.0 server on 127.0.0.1 serving canned answers; it stops
/// when dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        std::thread::spawn(move || answer(stream, port));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn prefix(&self) -> String {
        format!("http://127.0.0.1:{}/files/", self.port)
    }

    fn url(&self, name: &str) -> String {
        format!("{}{name}", self.prefix())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(stream: TcpStream, port: u16) {
    let _ = stream.set_nonblocking(false);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    if path == "/files/trickle" {
        return trickle(stream);
    }
    let base = format!("http://127.0.0.1:{port}");
    let (status, headers, body): (&str, String, Vec<u8>) = match path.as_str() {
        "/files/ok" | "/files/ok.py" => ("200 OK", String::new(), BODY.as_bytes().to_vec()),
        "/files/big" => ("200 OK", String::new(), vec![b'x'; 5000]),
        "/files/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            ("200 OK", String::new(), BODY.as_bytes().to_vec())
        }
        "/files/forbidden" => ("403 Forbidden", String::new(), Vec::new()),
        "/files/redirect-in" => (
            "302 Found",
            format!("Location: {base}/files/ok\r\n"),
            Vec::new(),
        ),
        "/files/redirect-out" => (
            "302 Found",
            format!("Location: {base}/outside/secret\r\n"),
            Vec::new(),
        ),
        "/outside/secret" => ("200 OK", String::new(), SECRET.as_bytes().to_vec()),
        _ => ("404 Not Found", String::new(), Vec::new()),
    };
    let mut out = stream;
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body);
}

/// A 1000-byte body sent one byte every 0.5 s (over 8 minutes in all),
/// until the client goes away.
fn trickle(mut out: TcpStream) {
    let head = "HTTP/1.0 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    for _ in 0..1000 {
        if out.write_all(b"x").is_err() || out.flush().is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A jail that runs python3 and sh, with `server`'s /files/ as prefix and
/// downloads going to `{root}/downloads`.
fn jail(server_prefix: &str, extra: &str) -> Jail {
    let mut j = Jail::bare();
    std::fs::create_dir(j.path("downloads")).unwrap();
    j.set_config(&format!(
        "see /usr\nsee /lib\nsee /lib64\nsee /bin\nsee /etc/ld.so.cache\nwrite {{jail}}\n\
         chdir {{jail}}\nhttp {server_prefix}\ndownloadpat {{root}}/downloads/dl-XXXXXX\n{extra}"
    ));
    j
}

fn python(j: &Jail, code: &str) -> crate::support::Output {
    j.cmd(&[
        "/usr/bin/python3".to_string(),
        "-c".into(),
        code.to_string(),
    ])
    .run()
}

/// Python that prints `ok <text>` or the errno name of opening `url`.
fn open_result(url: &str) -> String {
    format!(
        "import errno\ntry:\n    print('ok', open({url:?}).read(), end='')\n\
         except OSError as e:\n    print(errno.errorcode[e.errno])\n"
    )
}

fn downloads_left(j: &Jail) -> usize {
    std::fs::read_dir(j.path("downloads")).unwrap().count()
}

#[test]
fn python_reads_a_url_as_a_file() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    let out = python(&j, &open_result(&server.url("ok")));
    out.assert_code(0).assert_stdout(&format!("ok {BODY}"));
    assert_eq!(downloads_left(&j), 0, "the download is unlinked");
}

#[test]
fn cat_reads_both_spellings() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    let collapsed = server.url("ok").replacen("http://", "http:/", 1);
    for url in [server.url("ok"), collapsed] {
        let out = j.cmd(&["/bin/cat".to_string(), url.clone()]).run();
        out.assert_code(0).assert_stdout(BODY);
    }
}

#[test]
fn stat_describes_a_regular_file_of_the_body_size() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    let url = server.url("ok");
    let code = format!(
        "import os, stat\nfor f in (os.stat, os.lstat):\n    s = f({url:?})\n    \
         print(stat.S_ISREG(s.st_mode), s.st_size)\n\
         print(os.access({url:?}, os.R_OK), os.access({url:?}, os.W_OK))\n"
    );
    python(&j, &code).assert_code(0).assert_stdout(&format!(
        "True {len}\nTrue {len}\nTrue False\n",
        len = BODY.len()
    ));
}

#[test]
fn failed_downloads_fail_the_open_with_a_fitting_errno() {
    let server = Server::start();
    // A port nobody listens on.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("http://127.0.0.1:{closed_port}/files/");
    let j = jail(
        &server.prefix(),
        &format!("http {refused}\nhttptimeout 1\nhttpmaxsize 1000\nreport\n"),
    );
    for (url, errno) in [
        (server.url("missing"), "ENOENT"),
        (server.url("forbidden"), "EACCES"),
        (server.url("big"), "EFBIG"),
        (server.url("slow"), "ETIMEDOUT"),
        (format!("{refused}x"), "ECONNREFUSED"),
    ] {
        let out = python(&j, &open_result(&url));
        out.assert_code(0).assert_stdout(&format!("{errno}\n"));
        out.assert_stderr_contains(&format!("[Http {url}: "));
    }
    assert_eq!(downloads_left(&j), 0, "failed downloads leave nothing");
}

#[test]
fn redirects_are_followed_only_inside_the_prefix() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    python(&j, &open_result(&server.url("redirect-in")))
        .assert_code(0)
        .assert_stdout(&format!("ok {BODY}"));
    let out = python(&j, &open_result(&server.url("redirect-out")));
    out.assert_code(0).assert_stdout("ENOENT\n");
    assert!(!out.stdout.contains(SECRET.trim()));
}

#[test]
fn urls_outside_every_prefix_are_ordinary_missing_files() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    let outside = format!("http://127.0.0.1:{}/outside/secret", server.port);
    python(&j, &open_result(&outside))
        .assert_code(0)
        .assert_stdout("ENOENT\n");
}

#[test]
fn writing_creating_or_removing_a_url_fails_cleanly() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    let url = server.url("ok");
    let code = format!(
        "import errno, os\n\
         for what, f in [('write', lambda: open({url:?}, 'w')), ('append', lambda: open({url:?}, 'a')),\n\
                         ('unlink', lambda: os.unlink({url:?})), ('rename', lambda: os.rename({url:?}, 'x')),\n\
                         ('chmod', lambda: os.chmod({url:?}, 0o777)), ('mkdir', lambda: os.mkdir({url:?}))]:\n\
         \x20   try:\n        f(); print(what, 'ok')\n\
         \x20   except OSError as e:\n        print(what, errno.errorcode[e.errno])\n"
    );
    python(&j, &code).assert_code(0).assert_stdout(
        "write EROFS\nappend EROFS\nunlink EROFS\nrename EROFS\nchmod EROFS\nmkdir EROFS\n",
    );
}

#[test]
fn the_program_still_has_no_network_of_its_own() {
    let server = Server::start();
    let j = jail(&server.prefix(), "");
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {}))\n    print('connected')\n\
         except OSError as e:\n    print('refused', e.errno)\n",
        server.port
    );
    python(&j, &code)
        .assert_code(0)
        .assert_stdout(&format!("refused {}\n", libc::ENETUNREACH));
}

#[test]
fn the_program_cannot_reach_the_jails_descriptors() {
    let server = Server::start();
    let j = jail(&server.prefix(), "see /proc\n");
    let url = server.url("ok");
    // Download once so the jail holds a body, then go looking for it.
    let code = format!(
        "import errno, os\nopen({url:?}).read()\ntracer = os.getppid()\n\
         for path in [f'/proc/{{tracer}}/fd', f'/proc/{{tracer}}/fd/3', f'/proc/{{tracer}}/fd/4', f'/proc/{{tracer}}/mem']:\n\
         \x20   try:\n        os.stat(path); print(path, 'reachable')\n\
         \x20   except OSError as e:\n        print(errno.errorcode[e.errno])\n"
    );
    python(&j, &code)
        .assert_code(0)
        .assert_stdout("ENOENT\nENOENT\nENOENT\nENOENT\n");
}

#[test]
fn the_largest_httpmaxsize_still_delivers_the_body() {
    let server = Server::start();
    let j = jail(&server.prefix(), &format!("httpmaxsize {}\n", u64::MAX));
    let out = python(&j, &open_result(&server.url("ok")));
    out.assert_code(0).assert_stdout(&format!("ok {BODY}"));
}

/// `httptimeout` is the whole download's deadline: a body that trickles in
/// (one byte every 0.5 s) fails with ETIMEDOUT at it, although no single
/// read ever waits that long.
#[test]
fn a_trickling_body_times_out_at_httptimeout() {
    let server = Server::start();
    let j = jail(&server.prefix(), "httptimeout 2\nreport\n");
    let url = server.url("trickle");
    let out = j
        .cmd(&[
            "/usr/bin/python3".to_string(),
            "-c".into(),
            open_result(&url),
        ])
        .timeout(Duration::from_secs(20))
        .run();
    out.assert_code(0).assert_stdout("ETIMEDOUT\n");
    out.assert_stderr_contains(&format!("[Http {url}: timed out]"));
    assert!(
        out.elapsed >= Duration::from_millis(1900) && out.elapsed < Duration::from_secs(6),
        "httptimeout 2 took {:?}",
        out.elapsed
    );
    assert_eq!(downloads_left(&j), 0, "a failed download leaves nothing");
}

/// A download in progress never outlives the program's time limit: the
/// jail ends at `timelimit` (124) even though `httptimeout` is far away,
/// and nothing of the jail is left running.
#[test]
fn a_download_in_progress_ends_at_the_time_limit() {
    let server = Server::start();
    let j = jail(&server.prefix(), "httptimeout 600\ntimelimit 2\n");
    let out = j
        .cmd(&["/bin/cat".to_string(), server.url("trickle")])
        .timeout(Duration::from_secs(20))
        .run();
    out.assert_code(124).assert_stderr_contains("[Timed out]");
    assert!(
        out.elapsed >= Duration::from_millis(1900) && out.elapsed < Duration::from_secs(5),
        "timelimit 2 took {:?}",
        out.elapsed
    );
    assert!(
        !out.pipes_held,
        "a leftover process held stdout/stderr open"
    );
}

/// The run report lists each URL downloaded once, with its size or why it
/// failed (issue 15).
#[test]
fn the_report_lists_each_fetch() {
    let server = Server::start();
    let mut j = jail(&server.prefix(), "");
    let report = j.path("run.jsonl");
    j.add_config(&format!("reportfile {}\n", report.display()));
    let (ok, forbidden) = (server.url("ok"), server.url("forbidden"));
    let script = format!("cat {ok} {ok}; cat {forbidden}; exit 0");
    j.cmd(&["/bin/sh".to_string(), "-c".into(), script])
        .run()
        .assert_code(0);
    let text = std::fs::read_to_string(&report).expect("the report");
    let parsed = sandbox::RunReport::from_json_lines(&text).expect("an exit record");
    let fetches: Vec<(String, bool, Option<u64>)> = parsed
        .fetches
        .iter()
        .map(|fetch| (fetch.url.clone(), fetch.ok, fetch.bytes))
        .collect();
    assert_eq!(
        fetches,
        [
            (ok, true, Some(BODY.len() as u64)),
            (forbidden, false, None)
        ],
        "{text}"
    );
    let error = parsed.fetches[1].error.clone().unwrap_or_default();
    assert!(error.contains("403"), "{error}");
}
