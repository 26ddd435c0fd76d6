//! Small value types of the configuration that have no home in the domain crate yet.

use std::fmt;
use std::str::FromStr;

use ctibridge_domain::{Email, StarfaceLoginId};

/// A country as an upper-case two-letter ISO 3166 code (`DE`, `AT`, `CH`): the default region
/// for numbers dialled without a country code. Whether telephone numbering rules exist for it
/// is checked against libphonenumber's metadata when the configuration is loaded.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

/// Why a text is not a country code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}; {fix}")]
pub struct CountryCodeError {
    pub(crate) problem: String,
    pub(crate) fix: String,
}

impl CountryCode {
    /// Germany, the default.
    pub const DE: CountryCode = CountryCode(*b"DE");

    /// Parses two letters in either case (`de` is read as `DE`).
    pub fn parse(input: &str) -> Result<Self, CountryCodeError> {
        let upper = input.trim().to_ascii_uppercase();
        if upper == "UK" {
            // The one code people get wrong most: ISO says GB.
            return Err(CountryCodeError {
                problem: "\"UK\" is not an ISO 3166 code".to_owned(),
                fix: "write \"GB\" for the United Kingdom".to_owned(),
            });
        }
        match upper.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(CountryCode([a, b])),
            _ => Err(CountryCodeError {
                problem: format!(
                    "{:?} is not a two-letter country code",
                    crate::read::excerpt(input)
                ),
                fix: COUNTRY_FIX.to_owned(),
            }),
        }
    }

    /// The code, such as `"DE"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }
}

/// How to write a country, for messages.
pub(crate) const COUNTRY_FIX: &str = "write the two-letter ISO 3166 code of the country the PBX \
                                      is in, such as \"DE\" (Germany), \"AT\" (Austria) or \
                                      \"CH\" (Switzerland)";

impl FromStr for CountryCode {
    type Err = CountryCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

/// A Salesforce REST API version such as `62.0`, used in `/services/data/v62.0/`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiVersion {
    major: u16,
    minor: u16,
}

impl ApiVersion {
    /// The major number, such as 62.
    pub fn major(&self) -> u16 {
        self.major
    }

    /// Parses `62.0`, also `v62.0` and `62`; the flag says the text was not in the plain form.
    pub fn parse(input: &str) -> Result<(Self, bool), ApiVersionError> {
        let text = input.trim();
        let bare = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        let (major, minor) = bare.split_once('.').unwrap_or((bare, "0"));
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        match (number(major), number(minor)) {
            (Some(major), Some(minor)) if major >= 20 => {
                let version = ApiVersion { major, minor };
                Ok((version, version.to_string() != text))
            }
            (Some(_), Some(_)) => Err(ApiVersionError(format!(
                "{:?} is older than any API version Salesforce still serves",
                crate::read::excerpt(text)
            ))),
            _ => Err(ApiVersionError(format!(
                "{:?} is not a version number",
                crate::read::excerpt(text)
            ))),
        }
    }
}

/// Why a text is not a Salesforce API version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApiVersionError(String);

impl FromStr for ApiVersion {
    type Err = ApiVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiVersion::parse(s).map(|(version, _)| version)
    }
}

impl Default for ApiVersion {
    /// 62.0 (Winter '25): the version the connector is tested against.
    fn default() -> Self {
        ApiVersion {
            major: 62,
            minor: 0,
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl fmt::Debug for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiVersion({self})")
    }
}

/// A STARFACE user named in an instance: by e-mail address or by login id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// The user whose e-mail address is this (compared ignoring case).
    Email(Email),
    /// The user with this login id.
    LoginId(StarfaceLoginId),
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRef::Email(email) => email.fmt(f),
            UserRef::LoginId(id) => id.fmt(f),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn country_code_is_two_letters_in_either_case() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert_eq!(
            CountryCode::parse(" CH ").unwrap(),
            "ch".parse::<CountryCode>().unwrap()
        );
        assert!(
            CountryCode::parse("Germany")
                .unwrap_err()
                .problem
                .contains("two-letter")
        );
        assert!(CountryCode::parse("UK").unwrap_err().fix.contains("GB"));
        for bad in ["D1", "", "ÄÖ", "D", "001"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_version_reads_lenient_forms_and_flags_them() {
        assert_eq!(
            ApiVersion::parse("62.0").unwrap(),
            (ApiVersion::default(), false)
        );
        assert_eq!(
            ApiVersion::parse("v62.0").unwrap(),
            (ApiVersion::default(), true)
        );
        assert_eq!(
            ApiVersion::parse("62").unwrap(),
            (ApiVersion::default(), true)
        );
        assert_eq!(ApiVersion::parse("64.0").unwrap().0.major(), 64);
        assert!(ApiVersion::parse("sixty").is_err());
        assert!(
            ApiVersion::parse("6.0")
                .unwrap_err()
                .to_string()
                .contains("older")
        );
        assert!(ApiVersion::parse("62.0.1").is_err());
        assert!(ApiVersion::parse("99999999999.0").is_err());
    }
}
