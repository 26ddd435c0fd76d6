//! libphonenumber's metadata, read by ctibridge itself: the util every normaliser uses is
//! built from it, and [`Metadata::parse_digits`] reads a plain number (`+4930123456`,
//! `004930123456`, `030123456`) with the same rules libphonenumber's `parse` applies, without
//! the work `parse` spends on strings that are not plain digits (extension labels, phone
//! contexts, punctuation, letters).
//!
//! rlibphonenumber keeps its metadata private, so the crate carries a copy of the very file
//! it compiles in (`metadata/`, see the README there). Both readings come from that one copy:
//! what `parse_digits` concludes from the metadata is what the util does with it. The tests
//! below compare both readings, and the validity, with the util's over every region.

#![allow(deprecated)] // rlibphonenumber marks the metadata fields its own wrappers shadow

use std::sync::OnceLock;

use hashbrown::HashMap;
use prost::Message;
use regex::Regex;
use rlibphonenumber::{
    PhoneMetadata, PhoneMetadataCollection, PhoneNumber, PhoneNumberDesc, PhoneNumberUtil, Region,
};

/// libphonenumber's metadata as rlibphonenumber compiles it in (the version `Cargo.toml` pins).
static METADATA: &[u8] = include_bytes!("../metadata/PhoneNumberMetadata.bin");

/// libphonenumber's shortest and longest national significant number.
const MIN_NSN: usize = 2;
const MAX_NSN: usize = 17;
/// Country calling codes have one to three digits.
const MAX_COUNTRY_CODE_DIGITS: usize = 3;

/// The metadata, the util built from it, and what a parse of plain digits needs of it.
pub(crate) struct Metadata {
    util: PhoneNumberUtil,
    /// By region; non-geographic entities (`001`) by country calling code.
    plans: HashMap<Region, Plan>,
    non_geographic: HashMap<i32, Plan>,
    /// The regions of each country calling code, the main one first.
    regions_by_code: HashMap<i32, Vec<Region>>,
    id: String,
}

/// The process's metadata; `None` if the copy does not load (a build error, in practice).
pub(crate) fn metadata() -> Option<&'static Metadata> {
    static METADATA_LOADED: OnceLock<Option<Metadata>> = OnceLock::new();
    METADATA_LOADED.get_or_init(Metadata::load).as_ref()
}

/// How libphonenumber reads a string of plain digits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Digits {
    /// As this number (no extension: plain digits have none).
    Number(PhoneNumber),
    /// As no number at all (`parse` fails: unknown country code, too short, too long).
    NoNumber,
    /// The rules here do not cover the string; `parse` decides.
    Ask,
}

/// One region's (or non-geographic entity's) rules for reading a number.
struct Plan {
    country_code: i32,
    country_code_digits: String,
    /// The international prefix, matched at the start.
    idd: LazyPattern,
    /// The national prefix for parsing, matched at the start.
    national_prefix: LazyPattern,
    /// Whether a transform rule rewrites what the national prefix pattern captures.
    transform: bool,
    /// The general description's pattern, matched whole.
    general: LazyPattern,
    /// Bit `n` set: `n` digits are a possible length (`lengths`), or possible only when dialled
    /// locally (`local_only`).
    lengths: u64,
    local_only: u64,
    /// The general description's possible lengths as listed (empty: any).
    general_lengths: Vec<i32>,
    /// The number types a valid number matches one of, in libphonenumber's order (mobile
    /// left out where its pattern is the fixed-line one).
    types: Vec<TypeDesc>,
    /// The leading digits that pick this region among those sharing its country code.
    leading_digits: LazyPattern,
    /// By number length: one pattern matching what any type of that length matches, built on
    /// first use (`None` inside: no type has numbers of that length).
    types_by_length: [ByLength; MAX_NSN + 1],
}

/// A pattern for numbers of one length, built on first use (`None` inside: no pattern).
type ByLength = OnceLock<Result<Option<Regex>, regex::Error>>;

/// One number type's description: its possible lengths as listed (empty: any) and its pattern.
struct TypeDesc {
    lengths: Vec<i32>,
    pattern: Option<String>,
}

impl TypeDesc {
    fn new(d: Option<&PhoneNumberDesc>) -> Self {
        Self {
            lengths: d.map(|d| d.possible_length.clone()).unwrap_or_default(),
            pattern: d.and_then(|d| d.national_number_pattern.clone()),
        }
    }

    fn has_length(&self, len: usize) -> bool {
        listed(&self.lengths, len)
    }
}

/// Whether a description's listed possible lengths admit `len` digits (an empty list: any).
fn listed(lengths: &[i32], len: usize) -> bool {
    lengths.is_empty() || lengths.iter().any(|&l| usize::try_from(l) == Ok(len))
}

/// A metadata pattern, stored as `^(?:...)$`: matched at the start only, or whole. The same
/// regular expressions rlibphonenumber builds (same engine, same source).
#[derive(Clone, Copy)]
enum Anchor {
    Start,
    Whole,
}

/// A metadata pattern compiled on first use, as rlibphonenumber does: a process needs those of
/// its own region and of the countries it sees, and compiling all of them costs a start
/// about 0.2 s.
struct LazyPattern {
    source: Option<String>,
    anchor: Anchor,
    regex: OnceLock<Result<Option<Regex>, regex::Error>>,
}

impl LazyPattern {
    fn new(source: Option<&String>, anchor: Anchor) -> Self {
        Self {
            source: source.cloned(),
            anchor,
            regex: OnceLock::new(),
        }
    }

    /// The regular expression (`None`: the metadata has no such pattern); an error if it does
    /// not compile (then the util decides, as it would fail the same way).
    fn get(&self) -> Result<Option<&Regex>, &regex::Error> {
        self.regex
            .get_or_init(|| pattern(self.source.as_ref(), self.anchor))
            .as_ref()
            .map(Option::as_ref)
    }
}

fn pattern(base: Option<&String>, anchor: Anchor) -> Result<Option<Regex>, regex::Error> {
    let Some(base) = base else {
        return Ok(None);
    };
    let source = if base.len() < "^(?:)$".len() {
        ""
    } else {
        match anchor {
            Anchor::Start => &base[..base.len() - 1],
            Anchor::Whole => base.as_str(),
        }
    };
    Regex::new(source).map(Some)
}

/// The possible-length bit mask, as libphonenumber builds it (`-1`, "no number of this type",
/// clears it).
fn length_mask(lengths: &[i32]) -> u64 {
    lengths.iter().fold(0, |mask, &l| match u32::try_from(l) {
        Ok(l) if l < 64 => mask | 1 << l,
        _ => 0,
    })
}

impl Plan {
    fn new(m: &PhoneMetadata) -> Option<Self> {
        let general = m.general_desc.as_ref();
        let desc_lengths = |d: Option<&PhoneNumberDesc>, local: bool| {
            d.map_or(0, |d| {
                length_mask(if local {
                    &d.possible_length_local_only
                } else {
                    &d.possible_length
                })
            })
        };
        let country_code = m.country_code?;
        let mut types: Vec<TypeDesc> = [
            &m.premium_rate,
            &m.toll_free,
            &m.shared_cost,
            &m.voip,
            &m.personal_number,
            &m.pager,
            &m.uan,
            &m.voicemail,
            &m.fixed_line,
        ]
        .into_iter()
        .map(|d| TypeDesc::new(d.as_ref()))
        .collect();
        if !m.same_mobile_and_fixed_line_pattern.unwrap_or(false) {
            types.push(TypeDesc::new(m.mobile.as_ref()));
        }
        Some(Self {
            country_code,
            country_code_digits: country_code.to_string(),
            idd: LazyPattern::new(m.international_prefix.as_ref(), Anchor::Start),
            national_prefix: LazyPattern::new(
                m.national_prefix_for_parsing.as_ref(),
                Anchor::Start,
            ),
            transform: m
                .national_prefix_transform_rule
                .as_ref()
                .is_some_and(|t| !t.is_empty()),
            general: LazyPattern::new(
                general.and_then(|g| g.national_number_pattern.as_ref()),
                Anchor::Whole,
            ),
            lengths: desc_lengths(general, false),
            local_only: desc_lengths(general, true),
            general_lengths: general
                .map(|g| g.possible_length.clone())
                .unwrap_or_default(),
            types,
            leading_digits: LazyPattern::new(m.leading_digits.as_ref(), Anchor::Start),
            types_by_length: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    /// libphonenumber's `get_number_type_helper(...) != Unknown`: the number matches the
    /// general description and the description of some type, each with its possible lengths.
    /// The types of the number's length are matched as one pattern. `None` if that pattern does
    /// not compile.
    fn is_valid(&self, nsn: &str) -> Option<bool> {
        let len = nsn.len();
        if !listed(&self.general_lengths, len) || !self.general_matches(nsn)? {
            return Some(false);
        }
        let types = self.types_of_length(len)?.as_ref().ok()?;
        Some(types.as_ref().is_some_and(|t| t.is_match(nsn)))
    }

    /// The joined pattern of the types with numbers of `len` digits, compiled on first use.
    fn types_of_length(&self, len: usize) -> Option<&Result<Option<Regex>, regex::Error>> {
        let slot = self.types_by_length.get(len)?;
        Some(slot.get_or_init(|| any_of(self.type_patterns(len))))
    }

    /// The patterns of the types that have numbers of `len` digits, each as a whole-number
    /// match (as `pattern` builds them: too short a pattern is the empty one, which matches
    /// anything).
    fn type_patterns(&self, len: usize) -> impl Iterator<Item = &str> {
        self.types
            .iter()
            .filter(move |t| t.has_length(len))
            .filter_map(|t| t.pattern.as_deref())
            .map(|p| if p.len() < "^(?:)$".len() { "" } else { p })
    }

    /// Whether the general description's pattern matches `nsn`; `None` if it does not compile.
    fn general_matches(&self, nsn: &str) -> Option<bool> {
        let general = self.general.get().ok()?;
        Some(general.is_some_and(|g| g.is_match(nsn)))
    }

    /// libphonenumber's `maybe_strip_national_prefix_and_carrier_code`; `None` where a
    /// transform rule applies (left to libphonenumber).
    fn strip_national_prefix<'a>(&self, nsn: &'a str) -> Option<&'a str> {
        let prefix = self.national_prefix.get().ok()?;
        let Some(prefix) = prefix.filter(|_| !nsn.is_empty()) else {
            return Some(nsn);
        };
        let Some(captures) = prefix.captures(nsn) else {
            return Some(nsn);
        };
        let (first, second) = (captures.get(1), captures.get(2));
        if let Some(first) = first
            && self.transform
            && (second.is_some_and(|c| !c.is_empty()) || (!first.is_empty() && second.is_none()))
        {
            return None;
        }
        let end = captures.get(0).map_or(0, |m| m.end());
        let stripped = &nsn[end..];
        if self.general_matches(nsn)? && !self.general_matches(stripped)? {
            return Some(nsn);
        }
        Some(stripped)
    }

    /// libphonenumber keeps a stripped national prefix only if what is left has a possible
    /// length (`test_number_length_with_unknown_type`): not too short, not local-only, not a
    /// length in between the possible ones.
    fn keeps_stripped(&self, nsn: &str) -> bool {
        let len = nsn.len();
        if self.lengths == 0 {
            return false; // invalid length
        }
        if len >= 64 {
            return true; // too long
        }
        let bit = 1u64 << len;
        if self.local_only & bit != 0 {
            return false;
        }
        let min = self.lengths.trailing_zeros() as usize;
        let max = 63 - self.lengths.leading_zeros() as usize;
        if len == min || len > max {
            return true; // possible, or too long
        }
        len > min && self.lengths & bit != 0
    }
}

impl Metadata {
    fn load() -> Option<Self> {
        let collection = PhoneMetadataCollection::decode(METADATA).ok()?;
        let mut plans = HashMap::new();
        let mut non_geographic = HashMap::new();
        for m in &collection.metadata {
            let Some(plan) = Plan::new(m) else { continue };
            match Region::from_code(&m.id) {
                Ok(Region::World) => {
                    non_geographic.insert(plan.country_code, plan);
                }
                Ok(region) => {
                    plans.insert(region, plan);
                }
                Err(_) => {}
            }
        }
        let id = format!("{} bytes, fnv {:016x}", METADATA.len(), fnv1a(METADATA));
        let util = PhoneNumberUtil::new_for_metadata(collection).ok()?;
        let regions_by_code: HashMap<i32, Vec<Region>> = util
            .get_supported_calling_codes()
            .filter_map(|code| {
                let regions = util.get_regions_for_country_calling_code(code)?;
                Some((code, regions.collect()))
            })
            .collect();
        Some(Self {
            util,
            plans,
            non_geographic,
            regions_by_code,
            id,
        })
    }

    /// Compiles the patterns a number of `region` is read and validated with, so that the
    /// first call of each number length does not wait for them.
    pub(crate) fn warm_up(&self, region: Region) {
        let Some(plan) = self.plans.get(&region) else {
            return;
        };
        let _ = (
            plan.idd.get(),
            plan.national_prefix.get(),
            plan.general.get(),
        );
        for len in MIN_NSN..=MAX_NSN {
            if listed(&plan.general_lengths, len) {
                plan.types_of_length(len);
            }
        }
    }

    /// The util built from this metadata.
    pub(crate) fn util(&self) -> &PhoneNumberUtil {
        &self.util
    }

    /// Names this metadata (size and checksum): numbers read with another version may read
    /// differently.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// libphonenumber's reading of `s` dialled in `region`, when `s` is plain digits, perhaps
    /// after a `+`: the steps of `parse` such a string goes through (international prefix,
    /// country calling code, national prefix, lengths), taken from the same metadata.
    /// [`Digits::Ask`] for what is left to `parse`: any other string, a national prefix
    /// transformation (Argentina's `15`, North American seven-digit numbers), digits that
    /// start with the region's own country code, a `+` before what is not a country code.
    pub(crate) fn parse_digits(&self, s: &str, region: Region) -> Digits {
        let (plus, digits) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if digits.len() < 3 || digits.len() > 24 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Digits::Ask;
        }
        let Some(home) = self.plans.get(&region) else {
            return Digits::Ask;
        };
        let Ok(idd) = home.idd.get() else {
            return Digits::Ask;
        };
        let international = if plus {
            Some(digits)
        } else {
            idd.and_then(|idd| idd.find(digits))
                .map(|m| &digits[m.end()..])
                // A country calling code never starts with 0: then it was no international
                // prefix.
                .filter(|rest| !rest.starts_with('0'))
        };
        let (plan, nsn) = match international {
            Some(rest) => {
                if rest.len() <= MIN_NSN {
                    return Digits::NoNumber;
                }
                match self.country_code(rest) {
                    Some(Some(found)) => found,
                    // A country code without a plan here.
                    Some(None) => return Digits::Ask,
                    // After `+`, libphonenumber tries the digits once more as a national
                    // number.
                    None if plus => return Digits::Ask,
                    None => return Digits::NoNumber,
                }
            }
            // libphonenumber may take leading digits equal to the region's own country code
            // for the code, depending on the lengths and patterns before and after.
            None if digits.starts_with(home.country_code_digits.as_str()) => return Digits::Ask,
            None => (home, digits),
        };
        if nsn.len() < MIN_NSN {
            return Digits::NoNumber;
        }
        let Some(stripped) = plan.strip_national_prefix(nsn) else {
            return Digits::Ask;
        };
        let nsn = if plan.keeps_stripped(stripped) {
            stripped
        } else {
            nsn
        };
        if !(MIN_NSN..=MAX_NSN).contains(&nsn.len()) {
            return Digits::NoNumber;
        }
        let Ok(national_number) = nsn.parse::<u64>() else {
            return Digits::NoNumber;
        };
        let zeros = nsn.bytes().take_while(|&b| b == b'0').count();
        // An all-zero number keeps its last zero as the number itself.
        let zeros = if zeros == nsn.len() { zeros - 1 } else { zeros };
        Digits::Number(PhoneNumber {
            country_code: plan.country_code,
            national_number,
            italian_leading_zero: (zeros > 0).then_some(true),
            number_of_leading_zeros: (zeros > 1).then(|| i32::try_from(zeros).unwrap_or(1)),
            ..PhoneNumber::default()
        })
    }

    /// Whether `number` is valid: libphonenumber's `is_valid_number`, with the patterns of all
    /// number types of the number's length matched at once. `None` where this metadata has no
    /// plan for a region of the number's country code (the util decides).
    pub(crate) fn is_valid(&self, number: &PhoneNumber) -> Option<bool> {
        let zeros = if number.italian_leading_zero == Some(true) {
            usize::try_from(number.number_of_leading_zeros.unwrap_or(1))
                .unwrap_or(0)
                .min(10)
        } else {
            0
        };
        // The national significant number: the leading zeros, then the number's digits.
        let mut buf = [b'0'; 32];
        let mut start = buf.len();
        let mut rest = number.national_number;
        loop {
            start -= 1;
            buf[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let nsn = std::str::from_utf8(&buf[start - zeros..]).ok()?;
        self.is_valid_nsn(number.country_code, nsn)
    }

    /// [`Metadata::is_valid`] of a country calling code and national significant number.
    pub(crate) fn is_valid_nsn(&self, country_code: i32, nsn: &str) -> Option<bool> {
        let Some(regions) = self.regions_by_code.get(&country_code) else {
            return Some(false);
        };
        let plan = |region: Region| match region {
            Region::World => self.non_geographic.get(&country_code),
            region => self.plans.get(&region),
        };
        if let [region] = regions.as_slice() {
            return plan(*region)?.is_valid(nsn);
        }
        for &region in regions {
            let plan = plan(region)?;
            if plan
                .leading_digits
                .get()
                .ok()?
                .is_some_and(|l| l.is_match(nsn))
            {
                return plan.is_valid(nsn);
            }
            if plan.is_valid(nsn)? {
                return Some(true);
            }
        }
        Some(false)
    }

    /// The plan of the country calling code `digits` start with (the shortest known code:
    /// codes are prefix-free) and the rest; `Some(None)` for a code without a plan.
    #[allow(clippy::option_option)]
    fn country_code<'a>(&self, digits: &'a str) -> Option<Option<(&Plan, &'a str)>> {
        if digits.starts_with('0') {
            return None;
        }
        (1..=MAX_COUNTRY_CODE_DIGITS.min(digits.len())).find_map(|n| {
            let code: i32 = digits[..n].parse().ok()?;
            // The code's main region: libphonenumber reads the number with its metadata.
            let region = self.util.get_region_for_country_code(code)?;
            let plan = match region {
                Region::World => self.non_geographic.get(&code),
                region => self.plans.get(&region),
            };
            Some(plan.map(|plan| (plan, &digits[n..])))
        })
    }
}

/// One pattern that matches what any of `patterns` matches; `None` for no pattern.
fn any_of<'a>(patterns: impl Iterator<Item = &'a str>) -> Result<Option<Regex>, regex::Error> {
    let alternatives: Vec<String> = patterns.map(|p| format!("(?:{p})")).collect();
    if alternatives.is_empty() {
        return Ok(None);
    }
    Regex::new(&alternatives.join("|")).map(Some)
}

/// FNV-1a, 64 bits: a stable name for the metadata's bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use rand::{Rng, SeedableRng};
    use rlibphonenumber::PhoneNumberFormat;

    use super::*;

    /// The fields a parse sets on a plain number.
    fn core(n: &PhoneNumber) -> (i32, u64, bool, i32, Option<&str>) {
        (
            n.country_code,
            n.national_number,
            n.italian_leading_zero.unwrap_or(false),
            n.number_of_leading_zeros.unwrap_or(1),
            n.extension.as_deref().filter(|e| !e.is_empty()),
        )
    }

    /// Strings a PBX or a person could send: every region's example numbers and numbers near
    /// them, cut short, made longer, in every form (`+`, international prefixes of several
    /// regions, trunk prefix, without prefix, after an outside-line `0`), and random digits.
    fn strings(util: &PhoneNumberUtil, rng: &mut impl Rng, per_region: usize) -> Vec<String> {
        let mut examples = Vec::new();
        for region in util.get_supported_regions() {
            for kind in util
                .get_supported_types_for_region(region)
                .unwrap_or_default()
            {
                if let Ok(n) = util.get_example_number_for_type_and_region(region, kind) {
                    examples.push(n);
                }
            }
        }
        for code in util.get_supported_global_network_calling_codes() {
            if let Ok(n) = util.get_example_number_for_non_geo_entity(code) {
                examples.push(n);
            }
        }
        let prefixes = [
            "", "0", "00", "000", "1", "011", "8", "810", "0011", "001", "9", "90",
        ];
        let mut out = Vec::new();
        for _ in 0..per_region * 8 {
            let n = &examples[rng.random_range(0..examples.len())];
            let e164 = util.format(n, PhoneNumberFormat::E164).into_owned();
            let mut digits = if rng.random_bool(0.5) {
                e164[1..].to_owned()
            } else {
                n.get_national_significant_number()
            };
            if rng.random_bool(0.5) {
                let cut = rng.random_range(0..4usize).min(digits.len());
                digits.truncate(digits.len() - cut);
                for _ in 0..rng.random_range(0..4) {
                    digits.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
            }
            let prefix = prefixes[rng.random_range(0..prefixes.len())];
            out.push(if rng.random_bool(0.15) {
                format!("+{digits}")
            } else {
                format!("{prefix}{digits}")
            });
        }
        for _ in 0..per_region {
            let len = rng.random_range(1..22);
            let digits: String = (0..len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            out.push(if rng.random_bool(0.2) {
                format!("+{digits}")
            } else {
                digits
            });
        }
        out
    }

    fn compare(m: &Metadata, regions: &[Region], per_region: usize, seed: u64) -> (usize, usize) {
        let util = m.util();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut read, mut asked) = (0, 0);
        for &region in regions {
            for s in strings(util, &mut rng, per_region) {
                let parsed = util.parse(&s, Some(region));
                match m.parse_digits(&s, region) {
                    Digits::Ask => asked += 1,
                    Digits::NoNumber => {
                        assert!(parsed.is_err(), "{s:?} in {region:?}: {parsed:?}");
                        read += 1;
                    }
                    Digits::Number(n) => {
                        let parsed = parsed.unwrap_or_else(|e| panic!("{s:?} in {region:?}: {e}"));
                        assert_eq!(core(&n), core(&parsed), "{s:?} in {region:?}");
                        read += 1;
                    }
                }
            }
        }
        (read, asked)
    }

    /// The property the ring path rests on: for plain digits, `parse_digits` says what
    /// libphonenumber's parse says, under every region's rules.
    #[test]
    fn plain_digits_read_as_libphonenumber_reads_them_in_every_region() {
        let m = metadata().unwrap();
        let regions: Vec<Region> = m.util().get_supported_regions().collect();
        assert!(regions.len() > 240);
        let (read, asked) = compare(m, &regions, 40, 11);
        assert!(read > 70_000, "{read} read, {asked} left to libphonenumber");
        assert!(
            asked * 10 < read,
            "{read} read, {asked} left to libphonenumber"
        );
    }

    /// More strings under the regions a PBX here is likely to dial from, and the ones with
    /// the most involved rules (transformations, carrier codes, shared country codes).
    #[test]
    fn plain_digits_read_as_libphonenumber_reads_them_where_the_rules_are_involved() {
        let m = metadata().unwrap();
        let regions = [
            Region::DE,
            Region::AT,
            Region::CH,
            Region::IT,
            Region::GB,
            Region::US,
            Region::CA,
            Region::AG,
            Region::AR,
            Region::BR,
            Region::MX,
            Region::MG,
            Region::AU,
            Region::CC,
            Region::RU,
            Region::KZ,
            Region::JP,
            Region::SM,
            Region::BY,
            Region::GA,
        ];
        let (read, asked) = compare(m, &regions, 600, 12);
        assert!(read > 80_000, "{read} read, {asked} left to libphonenumber");
    }

    /// Validity asked of the metadata is libphonenumber's `is_valid_number`, for valid and
    /// invalid numbers of every country code, with Italian leading zeros, and where several
    /// regions share a code (+1, +7, +44, +262, ...).
    #[test]
    fn validity_is_libphonenumbers_for_every_country_code() {
        let m = metadata().unwrap();
        let util = m.util();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let (mut valid, mut invalid) = (0, 0);
        for region in [Region::DE, Region::US, Region::IT, Region::GB, Region::RU] {
            for s in strings(util, &mut rng, 3_000) {
                let Ok(n) = util.parse(&s, Some(region)) else {
                    continue;
                };
                let expected = util.is_valid_number(&n);
                assert_eq!(m.is_valid(&n), Some(expected), "{s:?} in {region:?}: {n:?}");
                if expected { valid += 1 } else { invalid += 1 }
            }
        }
        assert!(
            valid > 20_000 && invalid > 20_000,
            "{valid} valid, {invalid} invalid"
        );
    }

    /// The copy is the metadata rlibphonenumber compiles in: its util reads and validates as the
    /// library's own does (fails when the pinned version is raised without copying its file).
    #[test]
    fn same_metadata_as_the_linked_library() {
        let m = metadata().unwrap();
        let ours = m.util();
        let theirs = PhoneNumberUtil::new().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
        let mut compared = 0;
        for region in [Region::DE, Region::US, Region::BR] {
            for s in strings(ours, &mut rng, 1_000) {
                let (a, b) = (ours.parse(&s, Some(region)), theirs.parse(&s, Some(region)));
                assert_eq!(a.as_ref().ok(), b.as_ref().ok(), "{s:?} in {region:?}");
                if let (Ok(a), Ok(b)) = (a, b) {
                    assert_eq!(
                        ours.is_valid_number(&a),
                        theirs.is_valid_number(&b),
                        "{s:?}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 15_000, "{compared} numbers compared");
    }

    #[test]
    fn the_forms_a_german_pbx_sends_read_from_the_metadata() {
        let m = metadata().unwrap();
        let e164 = |s: &str| match m.parse_digits(s, Region::DE) {
            Digits::Number(n) => m.util().format(&n, PhoneNumberFormat::E164).into_owned(),
            other => format!("{other:?}"),
        };
        assert_eq!(e164("+4930123456"), "+4930123456");
        assert_eq!(e164("004930123456"), "+4930123456");
        assert_eq!(e164("030123456"), "+4930123456");
        assert_eq!(e164("30123456"), "+4930123456");
        // With the outside-line prefix in front: Greece, and a national number starting with
        // the country code.
        assert_eq!(e164("0030123456"), "+30123456");
        assert_eq!(e164("04930123456"), "+494930123456");
        // Left to libphonenumber: digits that start with the country code.
        assert_eq!(e164("4930123456"), "Ask");
        assert_eq!(e164("+49 30 123456"), "Ask");
        // Too short after the international prefix; unknown country code.
        assert_eq!(e164("0049"), "NoNumber");
        assert_eq!(e164("00999123456"), "NoNumber");
    }

    #[test]
    fn a_national_prefix_transformation_is_left_to_libphonenumber() {
        let m = metadata().unwrap();
        // Argentina: `0 11 15 ...` becomes `9 11 ...`; Madagascar adds `20` to seven digits.
        assert_eq!(m.parse_digits("0111512345678", Region::AR), Digits::Ask);
        assert_eq!(m.parse_digits("+2612021234", Region::DE), Digits::Ask);
        assert!(matches!(
            m.parse_digits("+261202021234", Region::DE),
            Digits::Number(_)
        ));
    }
}
