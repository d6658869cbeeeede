//! The config grammar: text to a list of [`Directive`]s, with nom.
//!
//! Owns what a line looks like, and nothing about what a keyword means:
//! a line is blank, a comment (`#` then a blank, or a lone `#`), or words
//! separated by blanks (spaces and tabs), the first of which is the keyword.
//! Rest-of-line values (paths with spaces, `setenv` values) are cut out later
//! with [`Directive::rest_from`], because only the keyword table knows which
//! keywords take one. No I/O happens here.

use std::path::Path;

use nom::branch::alt;
use nom::bytes::complete::take_till1;
use nom::character::complete::{char, satisfy, space0, space1};
use nom::combinator::{cut, eof, opt, recognize, rest, value};
use nom::error::{ContextError, ErrorKind, ParseError, context};
use nom::multi::many0;
use nom::sequence::preceded;
use nom::{IResult, Offset, Parser};

use super::error::{ConfigError, quoted};

/// One blank-separated word of a line, and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word<'a> {
    pub text: &'a str,
    /// 1-based column in characters; a tab counts as one.
    pub col: usize,
    /// Byte offset in the line, to slice rest-of-line values.
    offset: usize,
}

/// A non-blank, non-comment line: a keyword and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive<'a> {
    /// 1-based line number.
    pub line: usize,
    pub keyword: Word<'a>,
    pub args: Vec<Word<'a>>,
    /// The whole line, which the words point into.
    source: &'a str,
}

impl<'a> Directive<'a> {
    /// The arguments from `index` to the end of the line as one value,
    /// with the blanks between them kept as written. This is how
    /// rest-of-line values such as `see /srv/my files` are read.
    pub fn rest_from(&self, index: usize) -> Option<Word<'a>> {
        let first = self.args.get(index)?;
        let last = self.args.last()?;
        let end = last.offset + last.text.len();
        Some(Word {
            text: self.source.get(first.offset..end)?,
            col: first.col,
            offset: first.offset,
        })
    }

    /// The column just past the last word: where a missing argument belongs.
    pub fn end_col(&self) -> usize {
        let last = self.args.last().unwrap_or(&self.keyword);
        last.col + last.text.chars().count()
    }
}

/// Splits `text` into directives, skipping blank and comment lines.
/// Stops at the first malformed line; `file` only names it in the error.
pub(crate) fn parse<'a>(file: &Path, text: &'a str) -> Result<Vec<Directive<'a>>, ConfigError> {
    let mut directives = Vec::new();
    // `lines` also drops the `\r` of a `\r\n` ending.
    for (index, source) in text.lines().enumerate() {
        let line = index + 1;
        match line_words(source) {
            Ok((_, None)) => {}
            Ok((_, Some((keyword, args)))) => {
                // Columns are counted on from the previous word, so a line
                // of many words costs its length, not length times words.
                let mut cursor = Cursor::default();
                directives.push(Directive {
                    line,
                    keyword: cursor.locate(source, keyword),
                    args: args
                        .into_iter()
                        .map(|arg| cursor.locate(source, arg))
                        .collect(),
                    source,
                });
            }
            Err(nom::Err::Error(fault) | nom::Err::Failure(fault)) => {
                return Err(fault.into_config_error(file, line, source));
            }
            // Only streaming parsers ask for more input; these are all complete.
            Err(nom::Err::Incomplete(_)) => {
                return Err(ConfigError::at(file, line, 1, "syntax error"));
            }
        }
    }
    Ok(directives)
}

/// Where a nom parser gave up, and what it was looking for.
#[derive(Debug, PartialEq)]
struct SyntaxFault<'a> {
    /// The input from the failing position to the end of the line.
    at: &'a str,
    /// The innermost [`context`] label: what would have been accepted.
    expected: Option<&'static str>,
}

impl<'a> ParseError<&'a str> for SyntaxFault<'a> {
    fn from_error_kind(at: &'a str, _kind: ErrorKind) -> Self {
        SyntaxFault { at, expected: None }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> ContextError<&'a str> for SyntaxFault<'a> {
    fn add_context(input: &'a str, label: &'static str, other: Self) -> Self {
        match other.expected {
            // Keep the innermost label, which is the most specific.
            Some(_) => other,
            // Point at where the labelled construct began, not deep inside it.
            None => SyntaxFault {
                at: input,
                expected: Some(label),
            },
        }
    }
}

impl SyntaxFault<'_> {
    fn into_config_error(self, file: &Path, line: usize, source: &str) -> ConfigError {
        let col = column(source, source.offset(self.at));
        let found = if self.at.starts_with('\0') {
            "a NUL byte".to_owned()
        } else {
            let word = self
                .at
                .split(|c| is_blank(c) || c == '\0')
                .next()
                .unwrap_or_default();
            quoted(word)
        };
        ConfigError::at(file, line, col, "syntax error")
            .expected(self.expected.unwrap_or("a keyword and its arguments"))
            .found(found)
    }
}

type Parsed<'a, O> = IResult<&'a str, O, SyntaxFault<'a>>;

/// Spaces and tabs separate words; nothing else does.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A run of anything but blanks. NUL is not text, so it ends a word too and
/// then fails the end-of-line check, which reports it.
fn word(input: &str) -> Parsed<'_, &str> {
    take_till1(|c| is_blank(c) || c == '\0').parse(input)
}

/// `#` followed by a blank, or a lone `#`. Once a line starts with `#` it
/// must be a comment: `#foo` is a mistake, not a keyword.
fn comment(input: &str) -> Parsed<'_, ()> {
    context(
        "a blank after `#` (a comment is `# text`)",
        preceded(
            char('#'),
            cut(alt((
                value((), eof),
                value((), recognize((satisfy(is_blank), rest))),
            ))),
        ),
    )
    .parse(input)
}

/// One line: `None` when blank or a comment, else the keyword and its words.
fn line_words(input: &str) -> Parsed<'_, Option<(&str, Vec<&str>)>> {
    let (input, _) = space0(input)?;
    let (input, words) = alt((
        value(None, comment),
        opt((word, many0(preceded(space1, word)))),
    ))
    .parse(input)?;
    let (input, _) = space0(input)?;
    let (input, _) = context("text without NUL bytes", cut(eof)).parse(input)?;
    Ok((input, words))
}

/// Where the previous word of a line began: its byte offset and column.
#[derive(Default)]
struct Cursor {
    offset: usize,
    col: usize,
}

impl Cursor {
    /// `text`, a word of `source` at or after the previous one, with its
    /// column.
    fn locate<'a>(&mut self, source: &'a str, text: &'a str) -> Word<'a> {
        let offset = source.offset(text);
        let col = match source.get(self.offset..offset) {
            Some(between) if self.col > 0 => self.col + between.chars().count(),
            _ => column(source, offset),
        };
        self.offset = offset;
        self.col = col;
        Word { text, col, offset }
    }
}

/// 1-based character column of byte `offset` in `source`.
fn column(source: &str, offset: usize) -> usize {
    1 + source
        .get(..offset)
        .map_or(0, |before| before.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words<'a>(directive: &Directive<'a>) -> (usize, &'a str, Vec<&'a str>) {
        (
            directive.line,
            directive.keyword.text,
            directive.args.iter().map(|arg| arg.text).collect(),
        )
    }

    fn parse_ok(text: &str) -> Vec<Directive<'_>> {
        match parse(Path::new("t.conf"), text) {
            Ok(directives) => directives,
            Err(err) => panic!("{text:?} should parse: {err}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match parse(Path::new("t.conf"), text) {
            Ok(directives) => panic!("{text:?} should fail, got {directives:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        let text =
            "\n   \n\t\n#\n# a comment\n  # indented comment\n#\tafter a tab\n#  \nclosefds\n";
        let directives = parse_ok(text);
        assert_eq!(directives.len(), 1);
        assert_eq!(words(&directives[0]), (9, "closefds", vec![]));
    }

    #[test]
    fn words_are_split_on_spaces_and_tabs_with_columns() {
        let directives = parse_ok("  rlimit\tAS   100 \t\nsee /usr\r\n");
        assert_eq!(words(&directives[0]), (1, "rlimit", vec!["AS", "100"]));
        let cols: Vec<usize> = directives[0].args.iter().map(|a| a.col).collect();
        assert_eq!(directives[0].keyword.col, 3);
        assert_eq!(cols, vec![10, 15]);
        assert_eq!(directives[0].end_col(), 18);
        assert_eq!(words(&directives[1]), (2, "see", vec!["/usr"]));
    }

    #[test]
    fn a_hash_inside_a_line_is_ordinary_text() {
        let directives = parse_ok("see /srv/#1 # not a comment\n");
        assert_eq!(
            words(&directives[0]),
            (1, "see", vec!["/srv/#1", "#", "not", "a", "comment"])
        );
    }

    #[test]
    fn rest_of_line_keeps_inner_blanks_and_drops_trailing_ones() {
        let directives = parse_ok("setenv  GREETING hello \t wide  world  \n");
        let directive = &directives[0];
        let value = directive.rest_from(1).map(|w| (w.text, w.col));
        assert_eq!(value, Some(("hello \t wide  world", 18)));
        assert_eq!(
            directive.rest_from(0).map(|w| w.text),
            Some("GREETING hello \t wide  world")
        );
        assert_eq!(directive.rest_from(5), None);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let directives = parse_ok("see /tmp/é x\n");
        assert_eq!(directives[0].args[1].col, 12);
    }

    #[test]
    fn malformed_lines_report_line_column_and_what_was_found() {
        let cases = [
            (
                "closefds\n#foo\n",
                "t.conf:2:1: syntax error; expected a blank after `#` (a comment is `# text`), found `#foo`",
            ),
            (
                "see /usr\0/lib\n",
                "t.conf:1:9: syntax error; expected text without NUL bytes, found a NUL byte",
            ),
            (
                "\n\n  \0\n",
                "t.conf:3:3: syntax error; expected text without NUL bytes, found a NUL byte",
            ),
            (
                "see /usr \0\n",
                "t.conf:1:10: syntax error; expected text without NUL bytes, found a NUL byte",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(parse_err(text), message, "for {text:?}");
        }
    }
}
