//! Small value types of the configuration that have no home in the domain crate yet.

use std::fmt;

use ctibridge_domain::{Email, StarfaceLoginId};

/// ISO 3166-1 alpha-2 codes officially assigned, plus XK (Kosovo), which libphonenumber knows.
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE \
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM \
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC \
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA \
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO \
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// A country as an upper-case ISO 3166-1 alpha-2 code (`DE`, `AT`, `CH`): the default region
/// for numbers dialled without a country code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

/// Why a text is not a country code: what is wrong and what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CountryCodeError {
    pub(crate) problem: String,
    pub(crate) fix: String,
}

impl CountryCode {
    /// Germany, the default.
    pub const DE: CountryCode = CountryCode(*b"DE");

    /// Parses a code in either case (`de` is read as `DE`).
    pub(crate) fn parse(input: &str) -> Result<Self, CountryCodeError> {
        let upper = input.trim().to_ascii_uppercase();
        let example = "write the two-letter ISO 3166 code, such as \"DE\" (Germany), \"AT\" \
                       (Austria) or \"CH\" (Switzerland)";
        if upper == "UK" {
            return Err(CountryCodeError {
                problem: "\"UK\" is not an ISO 3166 code".to_owned(),
                fix: "write \"GB\" for the United Kingdom".to_owned(),
            });
        }
        match upper.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
                if ISO_3166_ALPHA2.split(' ').any(|code| code == upper) {
                    Ok(CountryCode([a, b]))
                } else {
                    Err(CountryCodeError {
                        problem: format!("{upper:?} is not an assigned ISO 3166 country code"),
                        fix: example.to_owned(),
                    })
                }
            }
            _ => Err(CountryCodeError {
                problem: format!(
                    "{:?} is not a two-letter country code",
                    crate::read::excerpt(input)
                ),
                fix: example.to_owned(),
            }),
        }
    }

    /// The code, such as `"DE"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
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
    pub(crate) fn parse(input: &str) -> Result<(Self, bool), String> {
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
            (Some(_), Some(_)) => Err(format!(
                "{:?} is older than any API version Salesforce still serves",
                crate::read::excerpt(text)
            )),
            _ => Err(format!(
                "{:?} is not a version number",
                crate::read::excerpt(text)
            )),
        }
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
    fn country_code_accepts_lower_case_and_rejects_unassigned_codes() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        assert_eq!(
            CountryCode::parse(" CH ").unwrap(),
            CountryCode::parse("ch").unwrap()
        );
        assert!(
            CountryCode::parse("ZZ")
                .unwrap_err()
                .problem
                .contains("not an assigned")
        );
        assert!(
            CountryCode::parse("Germany")
                .unwrap_err()
                .problem
                .contains("two-letter")
        );
        assert!(CountryCode::parse("UK").unwrap_err().fix.contains("GB"));
        assert!(CountryCode::parse("D1").is_err());
        assert!(CountryCode::parse("").is_err());
        assert!(CountryCode::parse("ÄÖ").is_err());
    }

    #[test]
    fn iso_list_is_sorted_and_has_no_duplicates() {
        let codes: Vec<&str> = ISO_3166_ALPHA2.split(' ').collect();
        assert_eq!(codes.len(), 250);
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
        assert!(codes.iter().all(|c| c.len() == 2));
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
        assert!(ApiVersion::parse("6.0").unwrap_err().contains("older"));
        assert!(ApiVersion::parse("62.0.1").is_err());
        assert!(ApiVersion::parse("99999999999.0").is_err());
    }
}
