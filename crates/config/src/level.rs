//! The five log levels of the STARFACE module manual.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How much the connector logs: the manual's levels ERROR, WARN, INFO, DEBUG, TRACE.
///
/// Each level includes the ones before it. Parses case-insensitively from `error` .. `trace`,
/// prints in lower case (the form the config file uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// Failures that need an admin.
    Error,
    /// Problems the connector worked around.
    Warn,
    /// What happens, one line per event (the default).
    #[default]
    Info,
    /// Details for troubleshooting.
    Debug,
    /// Everything, including protocol payloads.
    Trace,
}

impl LogLevel {
    /// All levels, least verbose first (for pickers in the admin UI).
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The lower-case name used in the config file and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level name that is none of `error`, `warn`, `info`, `debug`, `trace`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {input:?}; use one of error, warn, info, debug, trace")]
pub struct ParseLogLevelError {
    input: String,
}

impl FromStr for LogLevel {
    type Err = ParseLogLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        LogLevel::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(trimmed))
            // "warning" is what people type after reading other tools' docs.
            .or_else(|| {
                trimmed
                    .eq_ignore_ascii_case("warning")
                    .then_some(LogLevel::Warn)
            })
            .ok_or_else(|| ParseLogLevelError {
                input: trimmed.chars().take(40).collect(),
            })
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn parses_every_level_case_insensitively() {
        for (text, level) in [
            ("error", LogLevel::Error),
            ("WARN", LogLevel::Warn),
            ("Info", LogLevel::Info),
            (" debug ", LogLevel::Debug),
            ("TRACE", LogLevel::Trace),
            ("warning", LogLevel::Warn),
        ] {
            assert_eq!(text.parse::<LogLevel>().unwrap(), level, "{text}");
        }
    }

    #[test]
    fn display_round_trips_through_parse() {
        for level in LogLevel::ALL {
            assert_eq!(level.to_string().parse::<LogLevel>().unwrap(), level);
        }
    }

    #[test]
    fn unknown_level_names_the_accepted_ones() {
        let err = "verbose".parse::<LogLevel>().unwrap_err().to_string();
        assert!(err.contains("\"verbose\""), "{err}");
        assert!(err.contains("error, warn, info, debug, trace"), "{err}");
    }

    #[test]
    fn default_is_info_and_levels_order_by_verbosity() {
        assert_eq!(LogLevel::default(), LogLevel::Info);
        assert!(LogLevel::Error < LogLevel::Warn && LogLevel::Debug < LogLevel::Trace);
    }

    #[test]
    fn serde_uses_the_lower_case_name() {
        assert_eq!(
            serde_json::to_string(&LogLevel::Debug).unwrap(),
            "\"debug\""
        );
        let level: LogLevel = serde_json::from_str("\"TRACE\"").unwrap();
        assert_eq!(level, LogLevel::Trace);
        assert!(serde_json::from_str::<LogLevel>("\"loud\"").is_err());
    }
}
