//! The dialing rules an admin sets: default country, outside-line prefix, internal length.

use rlibphonenumber::Region;
use serde::{Deserialize, Serialize};

use crate::normaliser::util;

/// Longest internal number we accept; beyond this, short national numbers would be taken
/// for extensions and never looked up.
pub const MAX_INTERNAL_NUMBER_LEN: usize = 8;

/// Longest outside-line prefix we accept.
const MAX_PREFIX_LEN: usize = 4;

/// How the PBX and the people who type numbers into Salesforce write numbers
/// (config section `[dialing]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialingRules {
    /// ISO 3166 alpha-2 code of the country numbers without country code belong to (`DE`).
    pub country: String,
    /// The digits the PBX puts in front of external numbers (`0`); may be empty.
    pub outside_line_prefix: String,
    /// Numbers of only digits up to this length are internal extensions (0: none are).
    pub internal_number_max_len: usize,
}

/// Why dialing rules cannot be used; each names the config key and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialingRulesError {
    /// The country is not a two-letter code with telephone numbering metadata.
    #[error(
        "dialing.country = {0:?} is not a country we know numbering rules for; use an ISO 3166 two-letter code such as \"DE\", \"AT\", \"CH\" or \"US\""
    )]
    UnknownCountry(String),
    /// The prefix has something other than digits, or is too long.
    #[error("dialing.outside_line_prefix = {0:?} must be empty or 1 to 4 digits (such as \"0\")")]
    BadPrefix(String),
    /// The internal number length is too large.
    #[error(
        "dialing.internal_number_max_len = {0} is too large; at most {MAX_INTERNAL_NUMBER_LEN} (longer numbers are external)"
    )]
    InternalTooLong(usize),
    /// The numbering metadata could not be loaded (a build problem, not a config one).
    #[error(
        "the telephone numbering metadata could not be loaded; this build of ctibridge is broken"
    )]
    Metadata,
}

impl Default for DialingRules {
    /// Germany, outside-line prefix `0`, internal numbers up to 4 digits.
    fn default() -> Self {
        Self {
            country: "DE".to_owned(),
            outside_line_prefix: "0".to_owned(),
            internal_number_max_len: 4,
        }
    }
}

impl DialingRules {
    /// Checks every field; the country code may be given in any case.
    pub fn validate(&self) -> Result<(), DialingRulesError> {
        self.region()?;
        let prefix = &self.outside_line_prefix;
        if prefix.len() > MAX_PREFIX_LEN || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DialingRulesError::BadPrefix(prefix.clone()));
        }
        if self.internal_number_max_len > MAX_INTERNAL_NUMBER_LEN {
            return Err(DialingRulesError::InternalTooLong(
                self.internal_number_max_len,
            ));
        }
        Ok(())
    }

    /// The libphonenumber region of `country`.
    pub(crate) fn region(&self) -> Result<Region, DialingRulesError> {
        let unknown = || DialingRulesError::UnknownCountry(self.country.clone());
        // `Region::from_code` also takes "001" (non-geographic); a dialing country must be a country.
        if self.country.len() != 2 {
            return Err(unknown());
        }
        let region = Region::from_code(&self.country).map_err(|_| unknown())?;
        let util = util().ok_or(DialingRulesError::Metadata)?;
        util.get_country_code_for_region(region)
            .map(|_| region)
            .ok_or_else(unknown)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    fn rules(country: &str, prefix: &str, len: usize) -> DialingRules {
        DialingRules {
            country: country.into(),
            outside_line_prefix: prefix.into(),
            internal_number_max_len: len,
        }
    }

    #[test]
    fn defaults_match_the_demo_pbx() {
        let d = DialingRules::default();
        assert_eq!(d, rules("DE", "0", 4));
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn sensible_rules_validate() {
        for r in [
            rules("AT", "0", 3),
            rules("ch", "", 0),
            rules("US", "9", 4),
            rules("GB", "9", 8),
        ] {
            assert_eq!(r.validate(), Ok(()), "{r:?}");
        }
    }

    #[test]
    fn bad_rules_name_the_key_to_fix() {
        for bad in ["", "D", "DEU", "XX", "ZZ", "001", "1A", "Ä"] {
            let err = rules(bad, "0", 4).validate().unwrap_err();
            assert_eq!(err, DialingRulesError::UnknownCountry(bad.into()));
            assert!(err.to_string().contains("dialing.country"));
        }
        for bad in ["a", "0 ", "+0", "00000", "٠"] {
            let err = rules("DE", bad, 4).validate().unwrap_err();
            assert!(
                err.to_string().contains("dialing.outside_line_prefix"),
                "{bad}"
            );
        }
        let err = rules("DE", "0", 9).validate().unwrap_err();
        assert_eq!(err, DialingRulesError::InternalTooLong(9));
    }
}
