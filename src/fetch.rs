//! URLs that read as files: `http <prefix>` and `downloadpat`.
//!
//! Owns recognising a URL in a path argument (in both spellings, since
//! programs often collapse `//` to `/`), downloading it with reqwest
//! (rustls, on a current-thread tokio runtime the calling thread drives)
//! under a size cap and one deadline for the whole download, and leaving
//! the body in an unlinked temporary file named by `downloadpat`, which
//! the tracer holds and lets the program reopen read-only. A download is
//! also abandoned as soon as the jail is ending (its time limit ran out),
//! so it never outlives the program. The jailed program itself never gets
//! a socket. Behind the [`Fetcher`] trait so tests can use loopback
//! servers and the tracer stays free of HTTP.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

/// Defaults, documented in `docs/config.md`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_SIZE: u64 = 16 << 20;
pub const DEFAULT_DOWNLOAD_PATTERN: &str = "/tmp/sandbox-download-XXXXXX";
const MAX_REDIRECTS: usize = 10;
/// How often a download in progress looks whether the jail is ending.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Why a download failed; each maps to the errno the program sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// 404 or 410: the file does not exist.
    NotFound(u16),
    /// 401 or 403.
    Forbidden(u16),
    /// Any other status that is not a success.
    Status(u16),
    /// A redirect left every configured prefix.
    RedirectOutside(String),
    Refused,
    Unreachable,
    TimedOut,
    /// The body is larger than `httpmaxsize`.
    TooLarge(u64),
    /// The temporary file could not be made or written.
    Storage(String),
    /// The jail could not get another descriptor of a body (this errno).
    Descriptor(i32),
    Other(String),
}

impl FetchError {
    fn from_local(error: std::io::Error) -> FetchError {
        FetchError::Descriptor(error.raw_os_error().unwrap_or(libc::EIO))
    }

    pub fn errno(&self) -> i32 {
        match self {
            FetchError::NotFound(_) | FetchError::RedirectOutside(_) => libc::ENOENT,
            FetchError::Forbidden(_) => libc::EACCES,
            FetchError::Refused => libc::ECONNREFUSED,
            FetchError::Unreachable => libc::ENETUNREACH,
            FetchError::TimedOut => libc::ETIMEDOUT,
            FetchError::TooLarge(_) => libc::EFBIG,
            FetchError::Descriptor(errno) => *errno,
            FetchError::Status(_) | FetchError::Storage(_) | FetchError::Other(_) => libc::EIO,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NotFound(code) | FetchError::Forbidden(code) | FetchError::Status(code) => {
                write!(f, "HTTP status {code}")
            }
            FetchError::RedirectOutside(to) => write!(f, "redirected outside the prefixes to {to}"),
            FetchError::Refused => f.write_str("connection refused"),
            FetchError::Unreachable => f.write_str("server unreachable"),
            FetchError::TimedOut => f.write_str("timed out"),
            FetchError::TooLarge(limit) => write!(f, "body larger than {limit} bytes"),
            FetchError::Storage(reason) => write!(f, "cannot store the download: {reason}"),
            FetchError::Descriptor(errno) => write!(
                f,
                "no descriptor for the body: {}",
                nix::errno::Errno::from_raw(*errno).desc()
            ),
            FetchError::Other(reason) => f.write_str(reason),
        }
    }
}

/// The `http` prefixes, the fetcher, and the bodies fetched so far, kept
/// open and unlinked so that a `stat` and the `open` after it see one
/// download.
pub struct Downloads {
    options: HttpOptions,
    fetcher: Box<dyn Fetcher>,
    cache: std::collections::HashMap<String, std::os::fd::OwnedFd>,
}

/// Bodies kept at once; beyond this the cache starts over.
const DOWNLOAD_CACHE: usize = 16;

impl Downloads {
    pub fn new(options: HttpOptions, fetcher: Box<dyn Fetcher>) -> Downloads {
        Downloads {
            options,
            fetcher,
            cache: std::collections::HashMap::new(),
        }
    }

    /// The URL `path` names, if it lies under an `http` prefix.
    pub fn url_for(&self, path: &[u8]) -> Option<String> {
        self.options.url_for(path)
    }

    /// Whether this run has the body of `url` already (a
    /// [`body`](Self::body) call then downloads nothing).
    pub fn has(&self, url: &str) -> bool {
        self.cache.contains_key(url)
    }

    /// A descriptor of its own on the body of `url`, downloaded first
    /// unless this run already has it.
    pub fn body(&mut self, url: &str) -> Result<std::os::fd::OwnedFd, FetchError> {
        if let Some(body) = self.cache.get(url) {
            return body.try_clone().map_err(FetchError::from_local);
        }
        log::debug!("downloading {url}");
        let body = std::os::fd::OwnedFd::from(self.fetcher.fetch(url)?);
        let copy = body.try_clone().map_err(FetchError::from_local)?;
        if self.cache.len() >= DOWNLOAD_CACHE {
            self.cache.clear();
        }
        self.cache.insert(url.to_string(), body);
        Ok(copy)
    }

    /// Forgets every body (a session's next command must see the server's
    /// current answer).
    pub fn forget(&mut self) {
        self.cache.clear();
    }
}

/// Downloads a URL into a file the caller then owns.
pub trait Fetcher {
    fn fetch(&self, url: &str) -> Result<File, FetchError>;
}

/// What the config says about downloads.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The `http` prefixes, normalised (`scheme://rest`).
    pub prefixes: Vec<String>,
    pub download_pattern: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_size: u64,
}

impl HttpOptions {
    pub fn from_config(config: &crate::config::Config) -> Option<HttpOptions> {
        if config.http.is_empty() {
            return None;
        }
        Some(HttpOptions {
            prefixes: config
                .http
                .iter()
                .filter_map(|url| normalise(url))
                .collect(),
            download_pattern: config
                .download_pattern
                .clone()
                .unwrap_or_else(|| DEFAULT_DOWNLOAD_PATTERN.into()),
            timeout: config.http_timeout.unwrap_or(DEFAULT_TIMEOUT),
            connect_timeout: config
                .http_connect_timeout
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            max_size: config.http_max_size.unwrap_or(DEFAULT_MAX_SIZE),
        })
    }

    /// The URL a path argument names, if it lies under a prefix.
    pub fn url_for(&self, path: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(path).ok()?;
        let url = normalise(text)?;
        self.is_under_prefix(&url).then_some(url)
    }

    pub fn is_under_prefix(&self, url: &str) -> bool {
        self.prefixes
            .iter()
            .any(|prefix| url.starts_with(prefix.as_str()))
    }

    /// The directory the bodies are written in: `downloadpat`'s. The
    /// program opens them there, so it must stay visible to Landlock.
    pub fn download_dir(&self) -> &Path {
        pattern_directory(&self.download_pattern)
    }
}

/// `http:/host/x` and `http://host/x` (and more slashes) all become
/// `http://host/x`; anything without an http(s) scheme is `None`.
pub fn normalise(text: &str) -> Option<String> {
    for scheme in ["http:", "https:"] {
        if let Some(rest) = text.strip_prefix(scheme) {
            let rest = rest.trim_start_matches('/');
            if rest.is_empty() || rest.len() == text.len() - scheme.len() {
                return None;
            }
            return Some(format!("{scheme}//{rest}"));
        }
    }
    None
}

/// The real fetcher: reqwest's async client on a current-thread runtime,
/// both built on first use.
pub struct HttpFetcher {
    options: HttpOptions,
    /// Set when the jail is ending: a download in progress stops.
    ending: Option<Arc<AtomicBool>>,
    client: OnceLock<Result<Client, String>>,
}

/// The runtime the calling thread drives during a fetch, and the client.
struct Client {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl HttpFetcher {
    pub fn new(options: HttpOptions) -> HttpFetcher {
        HttpFetcher {
            options,
            ending: None,
            client: OnceLock::new(),
        }
    }

    /// Makes every download stop (with [`FetchError::TimedOut`]) within
    /// `CANCEL_POLL` of `ending` turning true: the jail's time limit ran
    /// out, and a download must not keep it alive.
    pub fn ending_with(mut self, ending: Arc<AtomicBool>) -> HttpFetcher {
        self.ending = Some(ending);
        self
    }

    fn client(&self) -> Result<&Client, FetchError> {
        let options = self.options.clone();
        let built = self.client.get_or_init(move || {
            let prefixes = options.clone();
            let redirects = reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if prefixes.is_under_prefix(attempt.url().as_str()) {
                    attempt.follow()
                } else {
                    let to = attempt.url().to_string();
                    attempt.error(OutsidePrefix(to))
                }
            });
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            // The whole download's deadline is `fetch`'s; reqwest's own
            // timeouts count per read and could be outlasted by a trickle.
            let http = reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                .redirect(redirects)
                .build()
                .map_err(|error| error.to_string())?;
            Ok(Client { runtime, http })
        });
        built
            .as_ref()
            .map_err(|reason| FetchError::Other(format!("cannot start the HTTP client: {reason}")))
    }
}

/// The error a redirect out of the prefixes stops with.
#[derive(Debug)]
struct OutsidePrefix(String);

impl fmt::Display for OutsidePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redirect outside the prefixes to {}", self.0)
    }
}

impl std::error::Error for OutsidePrefix {}

fn classify(error: &reqwest::Error) -> FetchError {
    if error.is_timeout() {
        return FetchError::TimedOut;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(outside) = cause.downcast_ref::<OutsidePrefix>() {
            return FetchError::RedirectOutside(outside.0.clone());
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return FetchError::Refused,
                io::ErrorKind::TimedOut => return FetchError::TimedOut,
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                    return FetchError::Unreachable;
                }
                _ => {}
            }
        }
        source = cause.source();
    }
    if error.is_connect() {
        return FetchError::Unreachable;
    }
    FetchError::Other(error.to_string())
}

impl Fetcher for HttpFetcher {
    /// Downloads `url` within `httptimeout` from now, all of it (connecting,
    /// headers, body), or until the jail is ending, whichever comes first.
    fn fetch(&self, url: &str) -> Result<File, FetchError> {
        let client = self.client()?;
        // A deadline too far for the clock is no deadline.
        let deadline = Instant::now().checked_add(self.options.timeout);
        let download = download(&client.http, url, &self.options);
        let ending = self.ending.clone();
        client.runtime.block_on(async move {
            let bounded = async move {
                match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline.into(), download)
                        .await
                        .unwrap_or(Err(FetchError::TimedOut)),
                    None => download.await,
                }
            };
            first_of(bounded, until_set(ending)).await
        })
    }
}

/// One GET of `url`, its body stored under `options`' size cap.
async fn download(
    client: &reqwest::Client,
    url: &str,
    options: &HttpOptions,
) -> Result<File, FetchError> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|error| classify(&error))?;
    let status = response.status().as_u16();
    match status {
        200..=299 => {}
        404 | 410 => return Err(FetchError::NotFound(status)),
        401 | 403 => return Err(FetchError::Forbidden(status)),
        _ => return Err(FetchError::Status(status)),
    }
    let limit = options.max_size;
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = Body::new(limit, &options.download_pattern)?;
    while let Some(chunk) = response.chunk().await.map_err(|error| classify(&error))? {
        body.append(&chunk)?;
    }
    body.finish()
}

/// Resolves with [`FetchError::TimedOut`] once `flag` is set; never without
/// a flag.
async fn until_set<T>(flag: Option<Arc<AtomicBool>>) -> Result<T, FetchError> {
    let Some(flag) = flag else {
        return std::future::pending().await;
    };
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(CANCEL_POLL).await;
    }
    Err(FetchError::TimedOut)
}

/// The result of whichever future ends first; the other is dropped, which
/// for a download closes its connection.
async fn first_of<T>(one: impl Future<Output = T>, other: impl Future<Output = T>) -> T {
    let mut one = pin!(one);
    let mut other = pin!(other);
    std::future::poll_fn(|context| {
        if let Poll::Ready(value) = one.as_mut().poll(context) {
            return Poll::Ready(value);
        }
        other.as_mut().poll(context)
    })
    .await
}

/// A body being written into an unnamed file (`O_TMPFILE`) in the
/// directory of `downloadpat`: nothing is on disk under a name, and nothing
/// stays once the last descriptor closes.
struct Body {
    file: File,
    written: u64,
    limit: u64,
}

impl Body {
    fn new(limit: u64, pattern: &str) -> Result<Body, FetchError> {
        let file = tempfile::tempfile_in(pattern_directory(pattern)).map_err(storage)?;
        // Readable by a program running as another user (`user`), which
        // opens it again through the keeper; it has no name, so nobody
        // else can open it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o444))
            .map_err(storage)?;
        Ok(Body {
            file,
            written: 0,
            limit,
        })
    }

    /// Adds `chunk`, or fails once the body passes the limit (which at
    /// u64::MAX no body can).
    fn append(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        self.written = self.written.saturating_add(chunk.len() as u64);
        if self.written > self.limit {
            return Err(FetchError::TooLarge(self.limit));
        }
        self.file.write_all(chunk).map_err(storage)
    }

    fn finish(mut self) -> Result<File, FetchError> {
        self.file.flush().map_err(storage)?;
        Ok(self.file)
    }
}

fn storage(error: io::Error) -> FetchError {
    FetchError::Storage(error.to_string())
}

fn pattern_directory(pattern: &str) -> &Path {
    Path::new(pattern).parent().unwrap_or(Path::new("/tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// `body` stored as a download would be, in chunks of 3 bytes.
    fn store(body: &[u8], limit: u64, pattern: &str) -> Result<File, FetchError> {
        let mut stored = Body::new(limit, pattern)?;
        for chunk in body.chunks(3) {
            stored.append(chunk)?;
        }
        stored.finish()
    }

    fn options(prefixes: &[&str]) -> HttpOptions {
        HttpOptions {
            prefixes: prefixes.iter().filter_map(|p| normalise(p)).collect(),
            download_pattern: DEFAULT_DOWNLOAD_PATTERN.into(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_size: DEFAULT_MAX_SIZE,
        }
    }

    #[test]
    fn downloads_are_stored_in_the_patterns_directory() {
        let mut http = options(&["http://paste.example/"]);
        assert_eq!(http.download_dir(), Path::new("/tmp"));
        http.download_pattern = "/var/cache/jail/dl-XXXXXX".into();
        assert_eq!(http.download_dir(), Path::new("/var/cache/jail"));
    }

    #[test]
    fn both_spellings_match_a_prefix() {
        let http = options(&["http://paste.example/raw/"]);
        let want = Some("http://paste.example/raw/abc".to_string());
        assert_eq!(http.url_for(b"http://paste.example/raw/abc"), want);
        assert_eq!(http.url_for(b"http:/paste.example/raw/abc"), want);
        assert_eq!(http.url_for(b"http:///paste.example/raw/abc"), want);
        assert_eq!(http.url_for(b"http://paste.example/other"), None);
        assert_eq!(http.url_for(b"http://paste.example.evil/raw/x"), None);
        assert_eq!(http.url_for(b"https://paste.example/raw/abc"), None);
        assert_eq!(http.url_for(b"/tmp/http://paste.example/raw/x"), None);
        assert_eq!(http.url_for(b"http:"), None);
        assert_eq!(http.url_for(b"\xff"), None);
    }

    #[test]
    fn errors_map_to_fitting_errnos() {
        assert_eq!(FetchError::NotFound(404).errno(), libc::ENOENT);
        assert_eq!(FetchError::Forbidden(403).errno(), libc::EACCES);
        assert_eq!(FetchError::Refused.errno(), libc::ECONNREFUSED);
        assert_eq!(FetchError::TimedOut.errno(), libc::ETIMEDOUT);
        assert_eq!(FetchError::TooLarge(1).errno(), libc::EFBIG);
        assert_eq!(FetchError::Status(500).errno(), libc::EIO);
    }

    #[test]
    fn bodies_are_stored_unlinked_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("{}/dl-XXXXXX", dir.path().display());
        let mut file = store(b"hello", 10, &pattern).unwrap();
        let mut body = String::new();
        use std::io::Seek;
        file.rewind().unwrap();
        file.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "unlinked"
        );
        assert_eq!(
            store(b"0123456789ab", 10, &pattern).unwrap_err(),
            FetchError::TooLarge(10)
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_largest_size_limit_still_stores_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("{}/dl-XXXXXX", dir.path().display());
        let mut file = store(b"hello", u64::MAX, &pattern).unwrap();
        let mut body = String::new();
        use std::io::Seek;
        file.rewind().unwrap();
        file.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello");
    }
}
