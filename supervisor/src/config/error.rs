//! Config errors that say where to look: `file:line:column: what is wrong`.
//!
//! Operators fix ecosystem files by hand, often over SSH, so every message is
//! one line that an editor can jump to, and a misspelt key comes with the
//! spelling we expected.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why an ecosystem file cannot be used. The caller maps every variant to
/// exit code 2; a reload keeps the running config and reports this text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read, so there is no line to point at.
    #[error("cannot read {}: {}", path.display(), os_reason(source))]
    Io {
        /// The path as the user gave it, so they recognise it.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but cannot be run as written.
    #[error("{}{}: {problem}", path.display(), at.map(|at| format!(":{at}")).unwrap_or_default())]
    Invalid {
        /// The path as the user gave it, so they recognise it.
        path: PathBuf,
        /// Where to look; `None` when the problem is the file as a whole.
        at: Option<Location>,
        /// What to fix there.
        problem: Problem,
    },
}

/// A 1-based line and column (in characters), as editors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters rather than bytes.
    pub column: usize,
}

impl Location {
    /// Turns a byte offset from the TOML parser into what a person looks for.
    pub fn from_offset(text: &str, offset: usize) -> Self {
        let before = &text[..offset.min(text.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What is wrong, kept apart from where, so tests and callers can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Not TOML at all; the text is the parser's own one-line message.
    #[error("{0}")]
    Syntax(String),
    /// A key we do not know, most often a typo that would otherwise be ignored.
    #[error("unknown key `{key}` in {table}{suggestion}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The table it was found in, e.g. `[[apps]]`.
        table: String,
        /// The nearest valid key, or the list of valid keys.
        suggestion: Suggestion,
    },
    /// The value is of the wrong TOML type, e.g. a number where a string goes.
    #[error("{key}: expected {expected}, found {found}")]
    WrongType {
        /// Dotted path of the key, e.g. `apps[0].listen`.
        key: String,
        /// What the key takes.
        expected: &'static str,
        /// The TOML type that was written.
        found: &'static str,
    },
    /// The type is right but the value is not, e.g. `"5 parsecs"`.
    #[error("{key}: {reason}")]
    InvalidValue {
        /// Dotted path of the key, e.g. `apps[0].kill_timeout`.
        key: String,
        /// The value and why it is refused.
        reason: String,
    },
    /// A key without a sensible default is absent.
    #[error("{table}: missing required key `{key}`")]
    MissingKey {
        /// The table that lacks it, e.g. `apps[1]`.
        table: String,
        /// The key to add.
        key: &'static str,
    },
    /// A supervisor with nothing to supervise is certainly a mistake.
    #[error("no [[apps]] table; define at least one app")]
    NoApps,
    /// `--env NAME` that matches no table is most likely a typo in NAME.
    #[error("no app has [apps.env_{0}]; --env {0} selects nothing")]
    UnusedEnv(String),
}

/// The hint after an unknown key: one close match, or every valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    /// A valid key within a few edits of the unknown one.
    DidYouMean(&'static str),
    /// Nothing close; the keys this table accepts.
    OneOf(&'static [&'static str]),
}

impl Suggestion {
    /// Picks the closest of `known` to `key`, if it is close enough to be a typo.
    pub fn for_key(key: &str, known: &'static [&'static str]) -> Self {
        let limit = (key.chars().count() / 3).max(2);
        known
            .iter()
            .map(|candidate| (strsim::damerau_levenshtein(key, candidate), *candidate))
            .filter(|(distance, _)| *distance <= limit)
            .min_by_key(|(distance, _)| *distance)
            .map_or(Self::OneOf(known), |(_, best)| Self::DidYouMean(best))
    }
}

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DidYouMean(key) => write!(f, ", did you mean `{key}`?"),
            Self::OneOf(keys) => write!(f, "; valid keys are {}", keys.join(", ")),
        }
    }
}

/// The file being read, so parsing code can turn a byte span into an error.
pub(super) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at the start of `span`.
    pub fn at(&self, span: Range<usize>, problem: Problem) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            at: Some(Location::from_offset(self.text, span.start)),
            problem,
        }
    }

    /// An error about the file as a whole.
    pub fn whole(&self, problem: Problem) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            at: None,
            problem,
        }
    }
}

/// "No such file or directory" without the "(os error 2)" that adds nothing
/// for an operator.
fn os_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}
