//! What can be wrong with a configuration, and what we fixed on the way.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a configuration value came from, so that a message points at the line to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the configuration file.
    File {
        /// The file as given to [`crate::Config::load`].
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// An environment override.
    Env {
        /// The variable's name, e.g. `CTIBRIDGE__SERVER__LISTEN`.
        var: String,
    },
    /// Nobody set it: a built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// One problem that stops the configuration from loading.
///
/// Every variant names the key (as `section.key`, `instance[1].salesforce.client_secret`), says
/// what is wrong and how to fix it. Secret values never appear in a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error(
        "cannot read the configuration file {path}: {source}; check the path and its permissions"
    )]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}:{column}: TOML syntax error: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A key this version does not know (typo, or the wrong section).
    #[error("{key} ({origin}): unknown key{}", suggestion_text(suggestion.as_deref()))]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// A known key with a similar name, if there is one.
        suggestion: Option<String>,
    },
    /// A required key or section is absent.
    #[error("{key}: missing; {fix}")]
    Missing {
        /// The key or section.
        key: String,
        /// What to add.
        fix: String,
    },
    /// A value of the wrong TOML type, e.g. a number where text belongs.
    #[error("{key} ({origin}): expected {expected}, found {found}; {fix}")]
    WrongType {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// The type the key needs.
        expected: &'static str,
        /// The type that was given.
        found: &'static str,
        /// How to write it.
        fix: String,
    },
    /// Two keys that exclude each other are both set (`client_secret` and `client_secret_file`).
    #[error("{key} ({origin}) and {other} ({other_origin}) are both set; keep only one of them")]
    Conflict {
        /// One key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// The other key.
        other: String,
        /// Where that one was set.
        other_origin: Origin,
    },
    /// A `*_file` secret could not be read.
    #[error("{key} ({origin}): cannot read {}: {source}; check that the file exists and the service may read it", path.display())]
    SecretFile {
        /// The `*_file` key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// The file it names.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// A value of the right type that does not make sense.
    #[error("{key} ({origin}): {problem}; {fix}")]
    Invalid {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What is wrong with it.
        problem: String,
        /// What to write instead.
        fix: String,
    },
    /// A `CTIBRIDGE__...` variable that cannot be mapped to a key.
    #[error("environment variable {var}: {problem}")]
    BadEnvVar {
        /// The variable.
        var: String,
        /// What is wrong with its name.
        problem: String,
    },
}

fn suggestion_text(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s}?"),
        None => "; remove it (`ctibridge config example` lists every key)".to_owned(),
    }
}

impl ConfigError {
    /// The key the problem is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::Missing { key, .. }
            | ConfigError::WrongType { key, .. }
            | ConfigError::Conflict { key, .. }
            | ConfigError::SecretFile { key, .. }
            | ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::ReadFile { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::BadEnvVar { .. } => None,
        }
    }
}

/// Every problem found while loading; displays as a numbered list.
#[derive(Debug)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn new(errors: Vec<ConfigError>) -> Self {
        ConfigErrors(errors)
    }

    /// The problems, in the order they were found (file order where possible).
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Takes the problems out.
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }

    /// How many problems there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `ConfigErrors` is only made for at least one problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => writeln!(f, "the configuration has 1 problem:")?,
            n => writeln!(f, "the configuration has {n} problems:")?,
        }
        for (i, error) in self.0.iter().enumerate() {
            writeln!(f, "{:>3}. {error}", i + 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something we accepted but changed or that is probably not what the admin meant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// Whitespace around a value was removed (pasted consumer keys: the manual's FAQ).
    Trimmed {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
    },
    /// A secret has whitespace at its ends; kept, because passwords may contain spaces.
    SecretHasOuterWhitespace {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
    },
    /// A Salesforce login URL was rewritten into the form the token endpoint needs.
    LoginUrlFixed {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// As written.
        from: String,
        /// As used.
        to: String,
        /// What was changed, in words.
        changes: Vec<String>,
    },
    /// A value was accepted in a lenient form and normalised (e.g. `v62.0` -> `62.0`).
    Normalised {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// As written.
        from: String,
        /// As used.
        to: String,
    },
    /// The public URL is plain http: Salesforce only frames an https softphone.
    PlainHttpPublicUrl {
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
    },
    /// No `[[instance]]`: nothing connects to Salesforce until one is added.
    NoInstance,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::Trimmed { key, origin } => write!(
                f,
                "{key} ({origin}): removed spaces or line breaks around the value (usually \
                 copied along with it); write the value without them to silence this warning"
            ),
            ConfigWarning::SecretHasOuterWhitespace { key, origin } => write!(
                f,
                "{key} ({origin}): the value starts or ends with whitespace; kept as is, \
                 remove it if it was copied by mistake"
            ),
            ConfigWarning::LoginUrlFixed {
                key,
                origin,
                from,
                to,
                changes,
            } => {
                write!(f, "{key} ({origin}): using {to} instead of {from:?}")?;
                if !changes.is_empty() {
                    write!(f, " ({})", changes.join("; "))?;
                }
                write!(f, "; write {to} to silence this warning")
            }
            ConfigWarning::Normalised {
                key,
                origin,
                from,
                to,
            } => write!(
                f,
                "{key} ({origin}): read {from:?} as {to:?}; write {to:?} to silence this warning"
            ),
            ConfigWarning::PlainHttpPublicUrl { key, origin } => write!(
                f,
                "{key} ({origin}): plain http; Salesforce only loads the softphone panel over \
                 https, so this works for local tests only; use an https URL (set tls_cert and \
                 tls_key, or put a TLS proxy in front)"
            ),
            ConfigWarning::NoInstance => write!(
                f,
                "instance: no [[instance]] configured; the connector talks to no Salesforce org \
                 until one is added"
            ),
        }
    }
}
