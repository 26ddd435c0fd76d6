//! The country of a record's address, as a hint for national numbers typed without a country
//! code: `0316 642105` on an Austrian contact is Graz (+43 316 642105), not Germany.

use std::fmt;

/// An ISO 3166 alpha-2 country that has numbering rules, read from the free text of a
/// Salesforce address country field (`MailingCountry`, `BillingCountry`, `Country`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryHint([u8; 2]);

/// Names people type for the countries most CRMs in the DACH region see, in English, German
/// and French; ISO codes of any country are taken as they are.
const NAMES: &[(&str, &str)] = &[
    ("germany", "DE"),
    ("deutschland", "DE"),
    ("allemagne", "DE"),
    ("austria", "AT"),
    ("österreich", "AT"),
    ("oesterreich", "AT"),
    ("autriche", "AT"),
    ("switzerland", "CH"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("liechtenstein", "LI"),
    ("luxembourg", "LU"),
    ("luxemburg", "LU"),
    ("united states", "US"),
    ("united states of america", "US"),
    ("usa", "US"),
    ("u.s.a.", "US"),
    ("u.s.", "US"),
    ("vereinigte staaten", "US"),
    ("canada", "CA"),
    ("kanada", "CA"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("england", "GB"),
    ("großbritannien", "GB"),
    ("grossbritannien", "GB"),
    ("vereinigtes königreich", "GB"),
    ("france", "FR"),
    ("frankreich", "FR"),
    ("italy", "IT"),
    ("italien", "IT"),
    ("italia", "IT"),
    ("netherlands", "NL"),
    ("niederlande", "NL"),
    ("holland", "NL"),
    ("belgium", "BE"),
    ("belgien", "BE"),
    ("belgique", "BE"),
    ("denmark", "DK"),
    ("dänemark", "DK"),
    ("poland", "PL"),
    ("polen", "PL"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("tschechien", "CZ"),
    ("spain", "ES"),
    ("spanien", "ES"),
    ("españa", "ES"),
    ("sweden", "SE"),
    ("schweden", "SE"),
    ("norway", "NO"),
    ("norwegen", "NO"),
];

impl CountryHint {
    /// The country named by `text` (an ISO code or a common name, any case), if known.
    pub fn from_text(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
            let b = t.as_bytes();
            return Some(Self([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]));
        }
        let lower = t.to_lowercase();
        NAMES
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, code)| {
                let b = code.as_bytes();
                Self([b[0], b[1]])
            })
    }

    /// The ISO code, e.g. `AT`.
    pub fn as_str(&self) -> &str {
        // Built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for CountryHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryHint({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_in_three_languages_are_read() {
        for (text, code) in [
            ("AT", "AT"),
            ("ch", "CH"),
            (" Österreich ", "AT"),
            ("Schweiz", "CH"),
            ("Suisse", "CH"),
            ("United States", "US"),
            ("Deutschland", "DE"),
        ] {
            assert_eq!(
                CountryHint::from_text(text).map(|c| c.as_str().to_owned()),
                Some(code.to_owned()),
                "{text}"
            );
        }
        assert_eq!(CountryHint::from_text("Atlantis"), None);
        assert_eq!(CountryHint::from_text(""), None);
        assert_eq!(CountryHint::from_text("1A"), None);
    }
}
