//! URLs that read as files: `http <prefix>` and `downloadpat`.
//!
//! Owns recognising a URL in a path argument (in both spellings, since
//! programs often collapse `//` to `/`), downloading it with reqwest
//! (blocking, rustls) under a time and size cap, and leaving the body in an
//! unlinked temporary file named by `downloadpat`, which the tracer holds
//! and lets the program reopen read-only. The jailed program itself never
//! gets a socket. Behind the [`Fetcher`] trait so tests can use loopback
//! servers and the tracer stays free of HTTP.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

/// Defaults, documented in `docs/config.md`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_SIZE: u64 = 16 << 20;
pub const DEFAULT_DOWNLOAD_PATTERN: &str = "/tmp/sandbox-download-XXXXXX";
const MAX_REDIRECTS: usize = 10;

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
    Other(String),
}

impl FetchError {
    pub fn errno(&self) -> i32 {
        match self {
            FetchError::NotFound(_) | FetchError::RedirectOutside(_) => libc::ENOENT,
            FetchError::Forbidden(_) => libc::EACCES,
            FetchError::Refused => libc::ECONNREFUSED,
            FetchError::Unreachable => libc::ENETUNREACH,
            FetchError::TimedOut => libc::ETIMEDOUT,
            FetchError::TooLarge(_) => libc::EFBIG,
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
            FetchError::Other(reason) => f.write_str(reason),
        }
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

/// The real fetcher: reqwest's blocking client, built on first use.
pub struct HttpFetcher {
    options: HttpOptions,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

impl HttpFetcher {
    pub fn new(options: HttpOptions) -> HttpFetcher {
        HttpFetcher {
            options,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, FetchError> {
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
            reqwest::blocking::Client::builder()
                .connect_timeout(options.connect_timeout)
                .timeout(options.timeout)
                .redirect(redirects)
                .build()
                .map_err(|error| error.to_string())
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
    fn fetch(&self, url: &str) -> Result<File, FetchError> {
        let response = self
            .client()?
            .get(url)
            .send()
            .map_err(|error| classify(&error))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            404 | 410 => return Err(FetchError::NotFound(status)),
            401 | 403 => return Err(FetchError::Forbidden(status)),
            _ => return Err(FetchError::Status(status)),
        }
        let limit = self.options.max_size;
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(FetchError::TooLarge(limit));
        }
        store(response, limit, &self.options.download_pattern)
    }
}

/// Writes the body into an unnamed file (`O_TMPFILE`) in the directory of
/// `pattern`: nothing is on disk under a name, and nothing stays once the
/// last descriptor closes.
fn store(body: impl Read, limit: u64, pattern: &str) -> Result<File, FetchError> {
    let storage = |error: io::Error| FetchError::Storage(error.to_string());
    let mut file = tempfile::tempfile_in(pattern_directory(pattern)).map_err(storage)?;
    // One byte more than the limit tells a body that is too large from one
    // that fits exactly; at u64::MAX no body can exceed it (and `+ 1` would
    // wrap to 0 and store every body empty).
    let mut body = body.take(limit.saturating_add(1));
    let written = io::copy(&mut body, &mut file).map_err(|error| {
        if error.kind() == io::ErrorKind::TimedOut {
            FetchError::TimedOut
        } else {
            storage(error)
        }
    })?;
    if written > limit {
        return Err(FetchError::TooLarge(limit));
    }
    file.flush().map_err(storage)?;
    Ok(file)
}

fn pattern_directory(pattern: &str) -> &Path {
    Path::new(pattern).parent().unwrap_or(Path::new("/tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut file = store(&b"hello"[..], 10, &pattern).unwrap();
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
            store(&b"0123456789ab"[..], 10, &pattern).unwrap_err(),
            FetchError::TooLarge(10)
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_largest_size_limit_still_stores_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = format!("{}/dl-XXXXXX", dir.path().display());
        let mut file = store(&b"hello"[..], u64::MAX, &pattern).unwrap();
        let mut body = String::new();
        use std::io::Seek;
        file.rewind().unwrap();
        file.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello");
    }
}
