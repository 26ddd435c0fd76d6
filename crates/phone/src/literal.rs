//! Reading the plain forms a PBX sends a caller's number in without libphonenumber.
//!
//! A PBX reports a number as digits: `+4930123456`, `004930123456` or national `030123456`
//! (each perhaps after the outside-line prefix). Written like this, the number is its E.164
//! form with the international or national prefix in front, so its E.164 candidate is a
//! matter of string slicing: [`Literal::e164`]. libphonenumber's `parse` costs about 0.7 us
//! for the same answer. The ring path only takes a candidate that is a valid number: one the
//! index holds (a record's, valid when it was indexed), or one the metadata calls valid. An
//! invalid candidate says nothing about libphonenumber's reading (Madagascar's `+261 2021234`
//! parses as the valid `+261 202021234`), so such strings are parsed.
//!
//! Whether libphonenumber reads these forms the same way depends on the dialing region's
//! metadata (international prefix patterns, national-prefix transformations such as
//! Argentina's `15`). rlibphonenumber does not expose the metadata, so [`Literal::verified`]
//! asks libphonenumber instead: each form is used only if `parse` gives the literal reading for
//! the example number of every type of every region (about 2,500 numbers, a few milliseconds
//! once per normaliser). The property test `tests/first_match.rs` compares the ring path's
//! answers with libphonenumber's over random numbers as well.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use ctibridge_domain::E164;
use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, PhoneNumberUtil, Region};

/// The forms of a number that read literally under the dialing region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Literal {
    /// `+` and the E.164 digits.
    plus: bool,
    /// The international prefix dialled from the region (`00` in Germany).
    idd: Option<String>,
    /// The trunk prefix (may be empty, as in Italy) and the region's country code.
    national: Option<(String, String)>,
    /// A national number without its trunk prefix (`30123456` in Germany, as a PBX may report
    /// a number without the outside-line prefix in front of its national form) reads as the
    /// country code and those digits.
    bare: bool,
}

impl Literal {
    /// The forms libphonenumber reads literally under `region`, found by asking it about every
    /// region's example numbers; `trunk` is the region's national prefix.
    pub(crate) fn verified(util: &PhoneNumberUtil, region: Region, trunk: Option<&str>) -> Self {
        let Some(country_code) = util.get_country_code_for_region(region) else {
            return Self::default();
        };
        let examples = examples(util, Some(country_code));
        let reads_as = |s: &str, e164: &E164| {
            util.parse(s, Some(region))
                .ok()
                .is_some_and(|n| util.format(&n, PhoneNumberFormat::E164) == e164.as_str())
        };
        // The international forms are only ever taken for numbers `international` accepts.
        let abroad: Vec<&E164> = examples
            .iter()
            .filter(|e| international(e.digits()).is_some())
            .collect();
        let plus = !abroad.is_empty() && abroad.iter().all(|e| reads_as(e.as_str(), e));
        let idd = international_prefix(util, region).filter(|idd| {
            !abroad.is_empty()
                && abroad
                    .iter()
                    .all(|e| reads_as(&format!("{idd}{}", e.digits()), e))
        });
        let cc = country_code.to_string();
        let trunk = trunk.unwrap_or_default().to_owned();
        let own: Vec<&E164> = examples
            .iter()
            .filter(|e| e.digits().starts_with(&cc))
            .collect();
        let national = !own.is_empty()
            && own.iter().all(|e| {
                let nsn = &e.digits()[cc.len()..];
                reads_as(&format!("{trunk}{nsn}"), e)
            });
        // The digits `bare_national` takes, each example's national number (those it leaves
        // to libphonenumber left out).
        let bare_examples: Vec<(&str, &E164)> = own
            .iter()
            .filter_map(|e| Some((e.digits().get(cc.len()..)?, *e)))
            .filter(|(nsn, _)| bare_national(nsn, &trunk, &cc, idd.as_deref()))
            .collect();
        let bare = national
            && !bare_examples.is_empty()
            && bare_examples.iter().all(|(nsn, e)| reads_as(nsn, e));
        let national = national.then_some((trunk, cc));
        Self {
            plus,
            idd,
            national,
            bare,
        }
    }

    /// [`Literal::verified`], asked once per region and trunk prefix in a process (normalisers
    /// are built per instance and in tests by the hundred).
    pub(crate) fn verified_cached(
        util: &PhoneNumberUtil,
        region: Region,
        trunk: Option<&str>,
    ) -> Self {
        type Verified = HashMap<(Region, Option<String>), Literal>;
        static VERIFIED: OnceLock<Mutex<Verified>> = OnceLock::new();
        let key = (region, trunk.map(str::to_owned));
        let cache = VERIFIED.get_or_init(Mutex::default);
        if let Some(found) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return found.clone();
        }
        let literal = Self::verified(util, region, trunk);
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, literal.clone());
        literal
    }

    /// The E.164 reading of `s` if it is written in one of the verified forms, digits only;
    /// `None` otherwise (libphonenumber decides).
    pub(crate) fn e164(&self, s: &str) -> Option<E164> {
        if let Some(digits) = s.strip_prefix('+') {
            return if self.plus {
                international(digits)
            } else {
                None
            };
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Some(idd) = &self.idd
            && let Some(rest) = s.strip_prefix(idd.as_str())
            // libphonenumber: no country code starts with 0, so neither does what follows an
            // international prefix; such a string is read as national.
            && rest.bytes().next().is_some_and(|b| b != b'0')
        {
            return international(rest);
        }
        let (trunk, cc) = self.national.as_ref()?;
        // Without a trunk prefix, libphonenumber may take leading digits equal to the country
        // code for the country code.
        if trunk.is_empty() && s.starts_with(cc.as_str()) {
            return None;
        }
        if let Some(nsn) = s.strip_prefix(trunk.as_str()) {
            return E164::from_digit_parts(&[cc, nsn]);
        }
        if self.bare && bare_national(s, trunk, cc, self.idd.as_deref()) {
            return E164::from_digit_parts(&[cc, s]);
        }
        None
    }
}

/// Digits the bare national form may read: they start with neither the trunk prefix (the
/// national form), nor the country code (libphonenumber may take it for one), nor the
/// international prefix.
fn bare_national(s: &str, trunk: &str, cc: &str, idd: Option<&str>) -> bool {
    !trunk.is_empty()
        && !s.starts_with(trunk)
        && !s.starts_with(cc)
        && idd.is_none_or(|idd| !s.starts_with(idd))
}

/// The number whose E.164 digits follow a `+` or the international prefix, unless its
/// national part starts with `0`.
///
/// After a country code, libphonenumber changes digits in one way only: it strips what that
/// country's national-prefix pattern matches at the start of the national number, also from a
/// valid number when the rest is valid too. The trunk prefix is `0` nearly everywhere and valid
/// national numbers seldom start with it; where they do, the number is left to libphonenumber
/// (Gabon's `+241 0...` numbers are read without the `0`, the only difference the property test
/// found; Italy's numbers keep theirs, at the price of a parse).
fn international(digits: &str) -> Option<E164> {
    let e164 = E164::from_digit_parts(&[digits])?;
    match e164.national_digits()?.as_bytes().first() {
        Some(b'0') | None => None,
        Some(_) => Some(e164),
    }
}

/// Example numbers in E.164: every type of `own` country code, and up to
/// [`EXAMPLES_PER_CODE`] of every other country code (regions and non-geographic codes).
fn examples(util: &PhoneNumberUtil, own: Option<i32>) -> Vec<E164> {
    let e164 = |n: &PhoneNumber| E164::parse(&util.format(n, PhoneNumberFormat::E164)).ok();
    let mut examples = Vec::new();
    for region in util.get_supported_regions() {
        for kind in util
            .get_supported_types_for_region(region)
            .unwrap_or_default()
        {
            if let Ok(n) = util.get_example_number_for_type_and_region(region, kind)
                && let Some(e) = e164(&n)
            {
                examples.push(e);
            }
        }
    }
    for code in util.get_supported_global_network_calling_codes() {
        if let Ok(n) = util.get_example_number_for_non_geo_entity(code)
            && let Some(e) = e164(&n)
        {
            examples.push(e);
        }
    }
    examples.sort_unstable();
    examples.dedup();
    // Several regions share a code (+1, +7, +44): their examples differ in the first digits
    // of the national number, so a few per code keep that variety at a fraction of the cost.
    let own = own.map(|cc| cc.to_string());
    let mut per_code: HashMap<u16, usize> = HashMap::new();
    examples.retain(|e| {
        let Some(cc) = e.country_calling_code() else {
            return false;
        };
        if own
            .as_deref()
            .is_some_and(|own| e.digits().starts_with(own))
        {
            return true;
        }
        let seen = per_code.entry(cc).or_default();
        *seen += 1;
        *seen <= EXAMPLES_PER_CODE
    });
    examples
}

/// How many example numbers of another country code the verification asks about.
const EXAMPLES_PER_CODE: usize = 3;

/// The international prefix libphonenumber dials from `region`: the digits in front of the
/// country code when it formats another country's number for a caller there.
fn international_prefix(util: &PhoneNumberUtil, region: Region) -> Option<String> {
    let abroad = if util.is_nanpa_country(region) {
        Region::GB
    } else {
        Region::US
    };
    let example = util.get_example_number(abroad).ok()?;
    let dialled = util.format_out_of_country_calling_number(&example, region);
    if dialled.trim_start().starts_with('+') {
        return None;
    }
    let digits = util.normalize_digits_only(&dialled);
    let tail = format!(
        "{}{}",
        example.country_code,
        example.get_national_significant_number()
    );
    digits
        .strip_suffix(tail.as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    fn literal(region: Region, trunk: Option<&str>) -> Literal {
        Literal::verified(crate::normaliser::util().unwrap(), region, trunk)
    }

    /// The property the ring path rests on: whenever a literal reading is a valid number (the
    /// only kind the index holds), libphonenumber reads the string as that number too. Numbers
    /// near every region's example numbers, in every form, under dialing regions with and
    /// without trunk prefix, with simple and with complicated prefix rules.
    #[test]
    fn a_literal_reading_that_is_a_valid_number_is_libphonenumbers_reading() {
        use rand::{Rng, SeedableRng};
        let util = crate::normaliser::util().unwrap();
        let examples = examples(util, None);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let regions = [
            Region::DE,
            Region::AT,
            Region::CH,
            Region::GB,
            Region::FR,
            Region::IT,
            Region::NL,
            Region::ES,
            Region::PL,
            Region::US,
            Region::AR,
            Region::BR,
            Region::RU,
            Region::AU,
            Region::IN,
            Region::MX,
            Region::HU,
            Region::SN,
        ];
        let (mut checked, mut forms_used) = (0, 0);
        for region in regions {
            let trunk = crate::normaliser::trunk_prefix(util, region);
            let lit = Literal::verified_cached(util, region, trunk.as_deref());
            forms_used += usize::from(lit.plus)
                + usize::from(lit.idd.is_some())
                + usize::from(lit.national.is_some())
                + usize::from(lit.bare);
            let cc = util
                .get_country_code_for_region(region)
                .unwrap()
                .to_string();
            for _ in 0..4_000 {
                let e = examples[rng.random_range(0..examples.len())];
                let mut digits = e.digits().to_owned();
                let keep = digits.len() - rng.random_range(1..=4usize.min(digits.len() - 1));
                digits.truncate(keep);
                while digits.len() < e.digits().len() + rng.random_range(0..2) {
                    digits.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
                let mut forms = vec![format!("+{digits}")];
                if let Some(idd) = &lit.idd {
                    forms.push(format!("{idd}{digits}"));
                }
                if let Some(nsn) = digits.strip_prefix(cc.as_str()) {
                    forms.push(format!("{}{nsn}", trunk.as_deref().unwrap_or_default()));
                    forms.push(nsn.to_owned());
                }
                for form in forms {
                    let Some(candidate) = lit.e164(&form) else {
                        continue;
                    };
                    let valid = util
                        .parse(candidate.as_str(), None)
                        .is_ok_and(|n| util.is_valid_number(&n));
                    if !valid {
                        continue;
                    }
                    let read = util
                        .parse(&form, Some(region))
                        .map(|n| util.format(&n, PhoneNumberFormat::E164).into_owned());
                    assert_eq!(
                        read.as_deref().ok(),
                        Some(candidate.as_str()),
                        "{form:?} dialled in {region:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(
            checked > 40_000,
            "{checked} literal readings were valid numbers"
        );
        assert!(forms_used > 40, "{forms_used} forms verified");
    }

    #[test]
    fn germany_reads_all_three_forms_literally() {
        let de = literal(Region::DE, Some("0"));
        assert_eq!(
            de,
            Literal {
                plus: true,
                idd: Some("00".to_owned()),
                national: Some(("0".to_owned(), "49".to_owned())),
                bare: true,
            }
        );
        let e = |s: &str| de.e164(s).map(|e| e.as_str().to_owned());
        assert_eq!(e("+4930123456").as_deref(), Some("+4930123456"));
        assert_eq!(e("004930123456").as_deref(), Some("+4930123456"));
        assert_eq!(e("030123456").as_deref(), Some("+4930123456"));
        assert_eq!(e("30123456").as_deref(), Some("+4930123456"));
        // libphonenumber may read leading digits equal to the country code as the code.
        assert_eq!(e("4930123456"), None);
        // After the outside-line prefix `0`: as written it is Greece (`00` + 30...).
        assert_eq!(e("0030123456").as_deref(), Some("+30123456"));
        assert_eq!(e("+49 30 123456"), None);
        assert_eq!(e("0000123").as_deref(), Some("+49000123"));
        assert_eq!(e("(030) 123456"), None);
        assert_eq!(e("+"), None);
    }

    #[test]
    fn a_national_part_starting_with_zero_after_a_country_code_is_left_to_libphonenumber() {
        let de = literal(Region::DE, Some("0"));
        // libphonenumber reads this valid Gabonese number as +24160352355.
        assert_eq!(de.e164("+241060352355"), None);
        assert_eq!(de.e164("00241060352355"), None);
        assert_eq!(de.e164("+390612345678"), None);
        assert!(de.e164("+24160352355").is_some());
    }

    #[test]
    fn a_region_without_a_trunk_prefix_leaves_a_leading_country_code_to_libphonenumber() {
        let it = literal(Region::IT, None);
        if let Some((trunk, cc)) = &it.national {
            assert_eq!((trunk.as_str(), cc.as_str()), ("", "39"));
            assert_eq!(
                it.e164("0612345678").map(|e| e.as_str().to_owned()),
                Some("+390612345678".to_owned())
            );
            assert_eq!(it.e164("390612345678"), None);
        }
    }
}
