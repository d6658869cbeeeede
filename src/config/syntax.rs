//! Placeholder until the parser lands.
use super::ConfigError;
use std::path::Path;
pub struct Directive {
    pub line: usize,
    pub keyword: String,
    pub rest: String,
}
pub fn parse(_file: &Path, text: &str) -> Result<Vec<Directive>, ConfigError> {
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let (k, r) = l.split_once(' ').unwrap_or((l, ""));
            Some(Directive {
                line: i + 1,
                keyword: k.into(),
                rest: r.trim().into(),
            })
        })
        .collect())
}
