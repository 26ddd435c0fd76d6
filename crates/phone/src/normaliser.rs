//! Turning what the PBX reports and what people type into E.164, behind a small trait.

use std::borrow::Cow;
use std::sync::OnceLock;

use ctibridge_domain::E164;
use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, PhoneNumberUtil, Region};

use crate::literal::Literal;
use crate::metadata::{Digits, Metadata, metadata};
use crate::rules::{DialingRules, DialingRulesError};

/// libphonenumber refuses longer input too; checking first keeps junk cheap.
const MAX_INPUT_LEN: usize = 250;

/// How much of an unreadable input [`Number::Invalid`] keeps.
const INVALID_EXCERPT_CHARS: usize = 64;

/// Values that mean "no number here": caller-id suppression words from PBXs and the
/// placeholders people type into CRM fields. Compared lowercase, trailing dots removed.
const NO_NUMBER_WORDS: &[&str] = &[
    "anonymous",
    "anonym",
    "unknown",
    "unbekannt",
    "private",
    "privat",
    "restricted",
    "withheld",
    "unavailable",
    "suppressed",
    "unterdrückt",
    "none",
    "keine",
    "null",
    "n/a",
    "n.a",
    "na",
    "k.a",
    "tbd",
];

/// Extension labels German speakers write; rewritten to `ext` because libphonenumber only
/// knows `ext`, `x`, `#` and a few non-German ones.
const GERMAN_EXTENSION_LABELS: &[&str] =
    &["durchwahl", "nebenstelle", "apparat", "app", "dw", "nst"];

/// Letter runs that may sit between the digits of a number: extension labels.
const EXTENSION_WORDS: &[&str] = &["x", "ext", "extn", "extension"];

/// The numbering metadata, loaded once per process (it takes several milliseconds).
pub(crate) fn util() -> Option<&'static PhoneNumberUtil> {
    metadata().map(Metadata::util)
}

/// Where a number string comes from; the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberContext {
    /// Reported by the PBX in a call event: may carry the outside-line prefix.
    FromPbx,
    /// Typed by a person into a Salesforce field: any format, notes, extensions.
    Stored,
    /// Like [`NumberContext::Stored`], on a record whose address is in this country: national
    /// numbers (no `+`, no `00`) are read by that country's plan first. Numbers with `00` stay
    /// with the dialing country, where the person typing them dialled from.
    StoredIn(crate::CountryHint),
}

/// What a number string turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Number {
    /// A valid external number.
    External {
        /// The number in E.164 form.
        e164: E164,
        /// An extension written after it (`x12`, `ext. 12`, `Durchwahl 12`), digits only.
        extension: Option<String>,
    },
    /// An internal extension of the PBX (digits only); never looked up in Salesforce.
    Internal(String),
    /// No number: empty, suppressed caller id, or a placeholder such as `n/a`.
    Suppressed,
    /// Something that is not a valid number; holds the trimmed input (cut to 64 characters).
    Invalid(String),
}

impl Number {
    /// The E.164 number if this is an external number.
    pub fn e164(&self) -> Option<E164> {
        match self {
            Self::External { e164, .. } => Some(*e164),
            _ => None,
        }
    }
}

/// Classifies number strings; the server holds one behind `Arc<dyn Normaliser>`.
pub trait Normaliser: Send + Sync {
    /// Classifies `raw`, read as coming from `ctx`. Never fails: unreadable input is
    /// [`Number::Invalid`].
    fn classify(&self, raw: &str, ctx: NumberContext) -> Number;

    /// Every reading of a number the PBX reported, most likely first. With an outside-line
    /// prefix a number can be valid both ways: `00221721650788` is Senegal as written, and
    /// Cologne (`0` + `0221 721650788`) without the prefix; the caller picks the reading that
    /// matches a record. The default is the one reading of [`Normaliser::classify`].
    fn pbx_readings(&self, raw: &str) -> Vec<Number> {
        vec![self.classify(raw, NumberContext::FromPbx)]
    }

    /// Does now what the normaliser would otherwise do on its first use (see
    /// [`LibPhoneNormaliser`]), so that the first ring does not wait for it. Blocks for a few
    /// milliseconds; call it on a blocking thread at start.
    fn warm_up(&self) {}

    /// What the readings depend on (rules, metadata): numbers read under the same text read
    /// the same, so numbers saved under it need not be read again.
    fn rules_id(&self) -> String;

    /// The first of [`Normaliser::pbx_readings`] that `matches` accepts, or all of them when
    /// none does: what the ring path needs of a number. An implementation may find a match with
    /// less work than all readings cost (see [`LibPhoneNormaliser`]); the answer is the same.
    /// When the answer is a match, the last number `matches` was asked about is the answer's
    /// (the ring path keeps what its `matches` found).
    fn pbx_first_match(
        &self,
        raw: &str,
        matches: &mut dyn FnMut(&E164) -> bool,
    ) -> Result<Number, Vec<Number>> {
        let readings = self.pbx_readings(raw);
        match readings
            .iter()
            .position(|n| n.e164().is_some_and(|e| matches(&e)))
        {
            Some(i) => Ok(readings.into_iter().nth(i).unwrap_or(Number::Suppressed)),
            None => Err(readings),
        }
    }
}

/// The [`Normaliser`] built on libphonenumber's metadata (crate `rlibphonenumber`).
pub struct LibPhoneNormaliser {
    rules: DialingRules,
    region: Region,
    util: &'static PhoneNumberUtil,
    /// The metadata `util` is built from.
    metadata: &'static Metadata,
    /// Whether plain numbers are read and numbers validated from the metadata directly rather
    /// than by the util (the same answers, see the `metadata` module).
    read_from_metadata: bool,
    /// The default region's national (trunk) prefix, when a national number written without
    /// it should be tried as a North American number first; `None` for NANP regions.
    nanp_fallback_prefix: Option<String>,
    /// The region's trunk prefix (`0` in Germany).
    trunk: Option<String>,
    /// The plain forms of a number the ring path reads without libphonenumber; found out on
    /// the first ring (asking libphonenumber about a few hundred numbers), not by every
    /// normaliser built.
    literal: OnceLock<Literal>,
}

impl LibPhoneNormaliser {
    /// Validates the rules and prepares the normaliser (the metadata loads once per process).
    pub fn new(rules: DialingRules) -> Result<Self, DialingRulesError> {
        rules.validate()?;
        let region = rules.region()?;
        let metadata = metadata().ok_or(DialingRulesError::Metadata)?;
        let util = metadata.util();
        let trunk = trunk_prefix(util, region);
        let nanp_fallback_prefix = if util.is_nanpa_country(region) {
            None
        } else {
            trunk.clone()
        };
        Ok(Self {
            rules,
            region,
            util,
            metadata,
            read_from_metadata: true,
            nanp_fallback_prefix,
            trunk,
            literal: OnceLock::new(),
        })
    }

    /// The normaliser without the literal reading of plain numbers on the ring path (see
    /// [`Normaliser::pbx_first_match`]) and without reading them from the metadata: the same
    /// answers, each number parsed by libphonenumber. For benchmarks that measure what the
    /// shortcuts save.
    #[doc(hidden)]
    pub fn without_literal_readings(self) -> Self {
        Self {
            literal: OnceLock::from(Literal::default()),
            read_from_metadata: false,
            ..self
        }
    }

    fn literal(&self) -> &Literal {
        self.literal
            .get_or_init(|| Literal::verified_cached(self.util, self.region, self.trunk.as_deref()))
    }

    /// The rules this normaliser applies.
    pub fn rules(&self) -> &DialingRules {
        &self.rules
    }

    fn is_internal(&self, s: &str) -> bool {
        let prefix = self.rules.outside_line_prefix.as_str();
        !s.is_empty()
            && s.len() <= self.rules.internal_number_max_len
            && s.bytes().all(|b| b.is_ascii_digit())
            // Dialling the outside-line prefix seizes a line, so no extension can start with it.
            && (prefix.is_empty() || !s.starts_with(prefix))
    }

    /// libphonenumber's parse of `s` dialled in `region`; a plain number read from the
    /// metadata directly (see [`Metadata::parse_digits`]).
    fn parse(&self, s: &str, region: Region) -> Option<PhoneNumber> {
        let digits = if self.read_from_metadata {
            self.metadata.parse_digits(s, region)
        } else {
            Digits::Ask
        };
        match digits {
            Digits::Number(n) => Some(n),
            Digits::NoNumber => None,
            Digits::Ask => self.util.parse(s, Some(region)).ok(),
        }
    }

    /// libphonenumber's `is_valid_number`, asked of the metadata (see [`Metadata::is_valid`]).
    fn is_valid(&self, n: &PhoneNumber) -> bool {
        let known = self.read_from_metadata.then(|| self.metadata.is_valid(n));
        known
            .flatten()
            .unwrap_or_else(|| self.util.is_valid_number(n))
    }

    fn parse_valid(&self, s: &str, region: Region) -> Option<PhoneNumber> {
        let n = self.parse(s, region)?;
        self.is_valid(&n).then_some(n)
    }

    /// The number as written if that is valid; otherwise without the outside-line prefix, if
    /// that is valid (then also the string that was read). See the crate docs for why in this
    /// order.
    fn reported_by_pbx<'s>(&self, s: &'s str) -> Option<(PhoneNumber, Option<&'s str>)> {
        if let Some(n) = self.parse_valid(s, self.region) {
            return Some((n, None));
        }
        let prefix = self.rules.outside_line_prefix.as_str();
        if prefix.is_empty() {
            return None;
        }
        let rest = s.strip_prefix(prefix)?;
        Some((self.parse_valid(rest, self.region)?, Some(rest)))
    }

    /// A national number of the record's own country; `None` for international forms, for the
    /// dialing country itself (the usual rules apply) and for countries without metadata.
    fn typed_in_country(&self, s: &str, hint: crate::CountryHint) -> Option<PhoneNumber> {
        let first = s.trim_start_matches(|c: char| !(c == '+' || c.is_ascii_digit()));
        if first.starts_with('+') || first.starts_with("00") {
            return None;
        }
        let region = Region::from_code(hint.as_str()).ok()?;
        if region == self.region {
            return None;
        }
        self.util.get_country_code_for_region(region)?;
        self.parse_valid(s, region)
    }

    /// A typed number; national numbers that lack the trunk prefix are tried as NANP first.
    fn typed_by_person(&self, s: &str) -> Option<PhoneNumber> {
        if let Some(trunk) = &self.nanp_fallback_prefix
            && national_without_prefix(s, trunk)
            && let Some(n) = self.parse_valid(s, Region::US)
        {
            return Some(n);
        }
        self.parse_valid(s, self.region)
    }
}

impl std::fmt::Debug for LibPhoneNormaliser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibPhoneNormaliser")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The national (trunk) prefix of `region`, such as `0` for Germany, if it has one.
///
/// rlibphonenumber does not expose it, so it is read off the region's example number: the
/// digits its national format has in front of the national significant number.
pub(crate) fn trunk_prefix(util: &PhoneNumberUtil, region: Region) -> Option<String> {
    let example = util.get_example_number(region).ok()?;
    let national = util.normalize_digits_only(util.format(&example, PhoneNumberFormat::National));
    let nsn = example.get_national_significant_number();
    national
        .strip_suffix(nsn.as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

impl Normaliser for LibPhoneNormaliser {
    /// Finds out which plain forms read literally (about 1,300 parses, and the metadata's
    /// patterns compiled on the way), and compiles the dialing region's number patterns.
    fn warm_up(&self) {
        self.literal();
        self.metadata.warm_up(self.region);
    }

    fn rules_id(&self) -> String {
        // Numbers read under other metadata may read differently.
        format!(
            "libphonenumber/ctibridge-phone {} metadata {} {:?}",
            env!("CARGO_PKG_VERSION"),
            self.metadata.id(),
            self.rules
        )
    }

    fn pbx_readings(&self, raw: &str) -> Vec<Number> {
        let (first, read_without_prefix) = self.read(raw, NumberContext::FromPbx);
        let mut readings = vec![first];
        let prefix = self.rules.outside_line_prefix.as_str();
        if let Number::External { e164, .. } = &readings[0]
            && !prefix.is_empty()
            && let Some(rest) = raw.trim().strip_prefix(prefix)
            && let Some(prepared) = prepare(rest)
            // The first reading may already be this very string without the prefix: parsing
            // it again (libphonenumber is most of the cost) could only give the same number.
            && read_without_prefix.as_deref() != Some(&*prepared)
            && let Some(n) = self.parse_valid(&prepared, self.region)
            && let Ok(other) = E164::parse(&self.util.format(&n, PhoneNumberFormat::E164))
            && other != *e164
        {
            readings.push(Number::External {
                e164: other,
                extension: n.extension.filter(|e| !e.is_empty()),
            });
        }
        readings
    }

    fn classify(&self, raw: &str, ctx: NumberContext) -> Number {
        self.read(raw, ctx).0
    }

    /// Without libphonenumber's validation of a number that matches: `matches` accepts only
    /// numbers of records, which were valid when indexed, and validity depends on the number
    /// alone, so a parse that `matches` accepts is the valid reading that
    /// [`Normaliser::pbx_readings`] would give. A plain form whose literal reading (see
    /// `Literal`) is a valid number is not parsed at all, matched or not: libphonenumber reads
    /// it as that number. Only forms without a valid literal reading are parsed, each string
    /// once. Property-tested against `pbx_readings`.
    fn pbx_first_match(
        &self,
        raw: &str,
        matches: &mut dyn FnMut(&E164) -> bool,
    ) -> Result<Number, Vec<Number>> {
        let s = raw.trim();
        let invalid = || Number::Invalid(s.chars().take(INVALID_EXCERPT_CHARS).collect());
        if s.len() > MAX_INPUT_LEN {
            return Err(vec![invalid()]);
        }
        if is_no_number(s) {
            return Err(vec![Number::Suppressed]);
        }
        if self.is_internal(s) {
            return Err(vec![Number::Internal(s.to_owned())]);
        }
        let Some(prepared) = prepare(s) else {
            return Err(vec![invalid()]);
        };
        let prefix = self.rules.outside_line_prefix.as_str();
        // A plain number that, read literally, is a record's: libphonenumber would read it so
        // (see `Literal`).
        let literal = self.literal().e164(&prepared);
        if let Some(e164) = literal
            && matches(&e164)
        {
            return Ok(Number::External {
                e164,
                extension: None,
            });
        }
        // Without the prefix, a record's number read literally is the answer whether or not
        // the written form is valid: it is the first reading when that is not valid and the
        // second when it is (both ways take the same string off here, as they do for plain
        // digits). Unless the written form is parsed as another record's number (the first
        // reading then), or has no E.164 form (then there is no second reading).
        let stripped = prepared.strip_prefix(prefix).filter(|_| !prefix.is_empty());
        let stripped_literal = stripped
            .filter(|&st| s.strip_prefix(prefix).and_then(prepare).as_deref() == Some(st))
            .and_then(|st| self.literal().e164(st));
        // A number `matches` refused already: not asked again below.
        let mut no_record = None;
        let mut written = None;
        if let Some(e164) = stripped_literal {
            if matches(&e164) {
                let parsed = self.parsed(&prepared);
                let other = parsed
                    .as_ref()
                    .filter(|p| p.e164.is_some() && p.e164 != literal);
                if let Some(hit) = other.and_then(|p| p.hit(matches)) {
                    return Ok(hit);
                }
                if parsed.as_ref().is_none_or(|p| p.e164.is_some()) {
                    // `matches` was last asked about this number.
                    if other.is_some() {
                        matches(&e164);
                    }
                    return Ok(Number::External {
                        e164,
                        extension: None,
                    });
                }
                written = Some(parsed);
            } else {
                no_record = Some(e164);
            }
        }
        // The first reading: as written when that is valid, else without the prefix.
        let written = match written {
            Some(parsed) => parsed,
            None => {
                let written = self.read_form(&prepared, literal);
                if let Some(hit) = written
                    .as_ref()
                    .filter(|r| literal.is_none() || r.e164 != literal)
                    .and_then(|r| r.hit(matches))
                {
                    return Ok(hit);
                }
                written
            }
        };
        let (first, read_without_prefix) = match written {
            Some(r) if r.is_valid(self) => (r.reading(invalid), None),
            _ => match stripped {
                None => (invalid(), None),
                Some(stripped) => match self.read_form(stripped, self.literal().e164(stripped)) {
                    None => (invalid(), None),
                    Some(r) => {
                        if r.e164 != no_record
                            && let Some(hit) = r.hit(matches)
                        {
                            return Ok(hit);
                        }
                        if r.is_valid(self) {
                            (r.reading(invalid), Some(stripped))
                        } else {
                            (invalid(), None)
                        }
                    }
                },
            },
        };
        // The second reading, as `pbx_readings` makes it.
        let mut readings = vec![first];
        if let Number::External { e164: first, .. } = &readings[0]
            && !prefix.is_empty()
            && let Some(rest) = s.strip_prefix(prefix)
            && let Some(rest) = prepare(rest)
            && read_without_prefix != Some(&*rest)
            && let literal = self.literal().e164(&rest)
            // Read literally as the first reading (a valid number), libphonenumber reads it
            // as that number too: no second reading.
            && literal != Some(*first)
            && let Some(r) = self.read_form(&rest, literal)
            && let Some(e164) = r.e164
            && e164 != *first
        {
            if matches(&e164) {
                return Ok(r.external(e164));
            }
            if r.is_valid(self) {
                readings.push(r.external(e164));
            }
        }
        Err(readings)
    }
}

/// One form of a PBX number as libphonenumber reads it: parsed, or taken literally where that
/// is the same (a literal reading that is a valid number, see `Literal`).
struct Parsed {
    /// libphonenumber's parse; `None` for a literal reading (digits only: no extension).
    number: Option<PhoneNumber>,
    /// The E.164 form, if it has one.
    e164: Option<E164>,
    /// Whether the number is valid, when already known.
    valid: Option<bool>,
}

impl Parsed {
    /// The reading, if `matches` accepts it.
    fn hit(&self, matches: &mut dyn FnMut(&E164) -> bool) -> Option<Number> {
        let e164 = self.e164?;
        matches(&e164).then(|| self.external(e164))
    }

    /// `e164` with this form's extension.
    fn external(&self, e164: E164) -> Number {
        Number::External {
            e164,
            extension: self
                .number
                .as_ref()
                .and_then(|n| n.extension.clone())
                .filter(|e| !e.is_empty()),
        }
    }

    fn is_valid(&self, normaliser: &LibPhoneNormaliser) -> bool {
        self.valid
            .unwrap_or_else(|| self.number.as_ref().is_some_and(|n| normaliser.is_valid(n)))
    }

    /// The reading of a valid number.
    fn reading(self, invalid: impl FnOnce() -> Number) -> Number {
        match self.e164 {
            Some(e164) => self.external(e164),
            None => invalid(),
        }
    }
}

impl LibPhoneNormaliser {
    fn parsed(&self, s: &str) -> Option<Parsed> {
        let number = self.parse(s, self.region)?;
        let e164 = E164::parse(&self.util.format(&number, PhoneNumberFormat::E164)).ok();
        Some(Parsed {
            number: Some(number),
            e164,
            valid: None,
        })
    }

    /// A prepared form of a PBX number as libphonenumber reads it; `literal` is its literal
    /// reading. A literal reading that is a valid number is taken without a parse; an invalid
    /// one spares the validation of a parse that gives the same number.
    fn read_form(&self, s: &str, literal: Option<E164>) -> Option<Parsed> {
        let validity = literal.and_then(|e| self.validity(&e));
        if let (Some(e164), Some(true)) = (literal, validity) {
            return Some(Parsed {
                number: None,
                e164: Some(e164),
                valid: Some(true),
            });
        }
        let mut parsed = self.parsed(s)?;
        if validity.is_some() && parsed.e164 == literal {
            parsed.valid = validity;
        }
        Some(parsed)
    }

    /// Whether `e164` is a valid number, asked of the metadata without parsing a string: with
    /// the country code and national number libphonenumber's parse gives `+` and its digits
    /// (calling codes are prefix-free, so a code the metadata knows splits the digits as ours
    /// does; one it does not know is invalid either way). Not known (`None`) when the national
    /// number starts with `0`: parse keeps such zeros in fields of their own.
    fn validity(&self, e164: &E164) -> Option<bool> {
        let cc = e164.country_calling_code()?;
        let nsn = e164.national_digits()?;
        if nsn.is_empty() || nsn.starts_with('0') {
            return None;
        }
        if self.read_from_metadata
            && let Some(valid) = self.metadata.is_valid_nsn(i32::from(cc), nsn)
        {
            return Some(valid);
        }
        let number = PhoneNumber {
            country_code: i32::from(cc),
            national_number: nsn.parse().ok()?,
            ..PhoneNumber::default()
        };
        Some(self.util.is_valid_number(&number))
    }
}

impl LibPhoneNormaliser {
    /// [`Normaliser::classify`], and for a PBX number read without its outside-line prefix,
    /// the string that was read.
    fn read(&self, raw: &str, ctx: NumberContext) -> (Number, Option<String>) {
        let s = raw.trim();
        let invalid = || Number::Invalid(s.chars().take(INVALID_EXCERPT_CHARS).collect());
        if s.len() > MAX_INPUT_LEN {
            return (invalid(), None);
        }
        if is_no_number(s) {
            return (Number::Suppressed, None);
        }
        if self.is_internal(s) {
            return (Number::Internal(s.to_owned()), None);
        }
        let Some(prepared) = prepare(s) else {
            return (invalid(), None);
        };
        let (parsed, read_without_prefix) = match ctx {
            NumberContext::FromPbx => match self.reported_by_pbx(&prepared) {
                Some((n, stripped)) => (Some(n), stripped.map(str::to_owned)),
                None => (None, None),
            },
            NumberContext::Stored => (self.typed_by_person(&prepared), None),
            NumberContext::StoredIn(hint) => (
                self.typed_in_country(&prepared, hint)
                    .or_else(|| self.typed_by_person(&prepared)),
                None,
            ),
        };
        let number = parsed
            .and_then(|n| {
                let e164 = E164::parse(&self.util.format(&n, PhoneNumberFormat::E164)).ok()?;
                Some(Number::External {
                    e164,
                    extension: n.extension.filter(|e| !e.is_empty()),
                })
            })
            .unwrap_or_else(invalid);
        (number, read_without_prefix)
    }
}

/// Empty, only punctuation, or a placeholder word.
fn is_no_number(s: &str) -> bool {
    if !s.chars().any(char::is_alphanumeric) {
        return true;
    }
    // No placeholder has a digit; this spares nearly every real number the lowercase copy.
    if s.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let word = s.trim_end_matches('.').to_lowercase();
    NO_NUMBER_WORDS.contains(&word.as_str())
}

/// A national-format number (no `+`, no IDD) that does not start with the trunk prefix: a
/// well-formed national number of a country with a trunk prefix always does, so such a number
/// (`(415) 555-1212` in a German org) is most likely North American.
fn national_without_prefix(s: &str, trunk: &str) -> bool {
    match s.find(|c: char| c == '+' || c.is_ascii_digit()) {
        Some(i) if s[i..].starts_with('+') => false,
        Some(i) => !s[i..].starts_with(trunk),
        None => false,
    }
}

/// Makes free text safe for libphonenumber, or rejects it.
///
/// libphonenumber reads letters as vanity digits, so `030 1234567 (privat)` would become a
/// "valid" but wrong number. Text after the last digit is dropped (notes), unless it is an
/// uppercase vanity word glued to the digits (`1-800-FLOWERS`); letters between the digits must
/// be extension labels, otherwise the input is rejected (`030 123 oder 0171 456`).
fn prepare(s: &str) -> Option<Cow<'_, str>> {
    let text = rewrite_german_extension_labels(s);
    let (last_digit, c) = text.char_indices().rfind(|(_, c)| c.is_numeric())?;
    let digits_end = last_digit + c.len_utf8();
    let first = text.find(|c: char| c == '+' || c.is_numeric())?;
    let middle_ok = text[first..digits_end]
        .split(|c: char| !c.is_alphabetic())
        .filter(|run| !run.is_empty())
        .all(|run| EXTENSION_WORDS.contains(&run.to_lowercase().as_str()));
    if !middle_ok {
        return None;
    }
    let tail = &text[digits_end..];
    let keep_tail = !tail.chars().any(char::is_alphabetic) || is_vanity_tail(tail);
    Some(match (keep_tail, text) {
        (true, text) => text,
        (false, Cow::Borrowed(b)) => Cow::Borrowed(&b[..digits_end]),
        (false, Cow::Owned(mut o)) => {
            o.truncate(digits_end);
            Cow::Owned(o)
        }
    })
}

fn is_vanity_tail(tail: &str) -> bool {
    let word = tail.strip_prefix('-').unwrap_or(tail);
    word.len() >= 2 && word.bytes().all(|b| b.is_ascii_uppercase())
}

/// Rewrites the first German extension label (as a whole word) to `ext`.
fn rewrite_german_extension_labels(s: &str) -> Cow<'_, str> {
    // Every label is ASCII letters: without one there is nothing to find (nor to copy).
    if !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Cow::Borrowed(s);
    }
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` index `s`.
    let lower = s.to_ascii_lowercase();
    for label in GERMAN_EXTENSION_LABELS {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(label) {
            let at = from + pos;
            let end = at + label.len();
            let before = lower[..at].chars().next_back();
            let after = lower[end..].chars().next();
            if !before.is_some_and(char::is_alphabetic) && !after.is_some_and(char::is_alphabetic) {
                return Cow::Owned(format!("{} ext{}", &s[..at], &s[end..]));
            }
            from = end;
        }
    }
    Cow::Borrowed(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    /// `validity` (a number built from the digits, not parsed) answers as libphonenumber's
    /// validation of the same number parsed, for numbers near every region's example numbers,
    /// valid and not; for national numbers starting with `0` it does not answer.
    #[test]
    fn validity_without_a_parse_is_libphonenumbers() {
        use rand::{Rng, SeedableRng};
        let n = de();
        let util = util().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let (mut valid, mut invalid, mut unknown) = (0, 0, 0);
        // In a fixed order, so that every run checks the same numbers.
        let mut regions: Vec<Region> = util.get_supported_regions().collect();
        regions.sort_by_key(|r| format!("{r:?}"));
        for region in regions {
            let mut kinds: Vec<_> = util
                .get_supported_types_for_region(region)
                .unwrap_or_default()
                .into_iter()
                .collect();
            kinds.sort_by_key(|k| format!("{k:?}"));
            for kind in kinds {
                let Ok(example) = util.get_example_number_for_type_and_region(region, kind) else {
                    continue;
                };
                let digits = util.format(&example, PhoneNumberFormat::E164)[1..].to_owned();
                for _ in 0..16 {
                    let mut d = digits.clone();
                    let cut = rng.random_range(0..=3usize.min(d.len() - 2));
                    d.truncate(d.len() - cut);
                    for _ in 0..rng.random_range(0..=cut + 1) {
                        d.push(char::from(b'0' + rng.random_range(0..10u8)));
                    }
                    let Some(e164) = E164::from_digit_parts(&[&d]) else {
                        continue;
                    };
                    // The same number parsed (some countries rewrite a national number after
                    // the country code: Madagascar's +261 2021234 parses as +261 202021234).
                    let Some(parsed) = util
                        .parse(e164.as_str(), None)
                        .ok()
                        .filter(|p| util.format(p, PhoneNumberFormat::E164) == e164.as_str())
                        .map(|p| util.is_valid_number(&p))
                    else {
                        continue;
                    };
                    match n.validity(&e164) {
                        Some(v) => {
                            assert_eq!(v, parsed, "{e164}");
                            if v { valid += 1 } else { invalid += 1 }
                        }
                        None => unknown += 1,
                    }
                }
            }
        }
        assert!(
            valid > 5_000 && invalid > 8_000,
            "{valid} valid, {invalid} invalid"
        );
        // Italy's and Gabon's numbers keep their leading zeros: left to parse.
        assert!(unknown > 50, "{unknown} not known");
    }

    /// A literal reading that is not a valid number is no reading: libphonenumber rewrites
    /// Madagascar's 7-digit national numbers after the country code.
    #[test]
    fn an_unknown_caller_whose_literal_reading_is_invalid_is_parsed() {
        let n = de();
        let readings = n.pbx_readings("+2612021234");
        assert_eq!(readings, vec![ext("+261202021234", None)]);
        assert_eq!(
            n.pbx_first_match("+2612021234", &mut |_| false),
            Err(readings)
        );
    }

    fn de() -> LibPhoneNormaliser {
        LibPhoneNormaliser::new(DialingRules::default()).unwrap()
    }

    fn ext(e164: &str, extension: Option<&str>) -> Number {
        Number::External {
            e164: E164::parse(e164).unwrap(),
            extension: extension.map(String::from),
        }
    }

    #[test]
    fn a_pbx_number_valid_with_and_without_the_outside_line_prefix_has_both_readings() {
        let n = de();
        let readings = n.pbx_readings("00221721650788");
        assert_eq!(
            readings,
            vec![ext("+221721650788", None), ext("+49221721650788", None)]
        );
        assert_eq!(n.pbx_readings("030123456").len(), 1);
        assert_eq!(n.pbx_readings("").len(), 1);
    }

    #[test]
    fn trunk_zero_inside_an_international_number_is_dropped() {
        let n = de();
        assert_eq!(
            n.classify("+43 (0)316 642105", NumberContext::Stored),
            ext("+43316642105", None)
        );
        assert_eq!(
            n.classify("+49 (0)30 123456-7", NumberContext::Stored),
            ext("+49301234567", None)
        );
    }

    #[test]
    fn pbx_numbers_with_the_outside_line_prefix_lose_it_only_when_needed() {
        let n = de();
        let pbx = |s| n.classify(s, NumberContext::FromPbx);
        assert_eq!(pbx("0030123456"), ext("+4930123456", None));
        assert_eq!(pbx("004930123456"), ext("+4930123456", None));
        assert_eq!(pbx("0004930123456"), ext("+4930123456", None));
        assert_eq!(pbx("030123456"), ext("+4930123456", None));
        assert_eq!(pbx("+4930123456"), ext("+4930123456", None));
        assert_eq!(pbx("001711234567"), ext("+491711234567", None));
    }

    #[test]
    fn short_digit_strings_are_internal_unless_they_start_with_the_outside_line_prefix() {
        let n = de();
        assert_eq!(
            n.classify("201", NumberContext::FromPbx),
            Number::Internal("201".into())
        );
        assert_eq!(
            n.classify(" 6001 ", NumberContext::Stored),
            Number::Internal("6001".into())
        );
        assert!(matches!(
            n.classify("0201", NumberContext::FromPbx),
            Number::Invalid(_)
        ));
        assert!(matches!(
            n.classify("20111", NumberContext::FromPbx),
            Number::Invalid(_)
        ));
    }

    #[test]
    fn placeholders_and_suppressed_caller_ids_are_suppressed() {
        let n = de();
        for s in [
            "",
            "  ",
            "n/a",
            "N/A",
            "anonymous",
            "Unbekannt",
            "-",
            "--",
            "n.a.",
            "/",
            "keine",
        ] {
            assert_eq!(
                n.classify(s, NumberContext::Stored),
                Number::Suppressed,
                "{s:?}"
            );
            assert_eq!(
                n.classify(s, NumberContext::FromPbx),
                Number::Suppressed,
                "{s:?}"
            );
        }
    }

    #[test]
    fn notes_after_a_number_are_not_read_as_vanity_letters() {
        let n = de();
        for s in [
            "030 1234567 (privat)",
            "030 1234567 Zentrale",
            "+49 30 1234567 (mobil)",
        ] {
            assert_eq!(
                n.classify(s, NumberContext::Stored),
                ext("+49301234567", None),
                "{s}"
            );
        }
        assert!(matches!(
            n.classify("030 1234567 oder 0171 1234567", NumberContext::Stored),
            Number::Invalid(_)
        ));
    }

    #[test]
    fn extensions_are_split_off_in_english_and_german() {
        let n = de();
        let stored = |s| n.classify(s, NumberContext::Stored);
        assert_eq!(
            stored("+49 30 1234567 x12"),
            ext("+49301234567", Some("12"))
        );
        assert_eq!(
            stored("+49 30 1234567 ext. 12"),
            ext("+49301234567", Some("12"))
        );
        assert_eq!(
            stored("+49 30 1234567 Durchwahl 12"),
            ext("+49301234567", Some("12"))
        );
        assert_eq!(
            stored("030 1234567 DW: 12"),
            ext("+49301234567", Some("12"))
        );
        assert_eq!(
            stored("030 1234567 App. 12"),
            ext("+49301234567", Some("12"))
        );
    }

    #[test]
    fn north_american_numbers_without_country_code_are_recognised_in_a_german_org() {
        let n = de();
        let stored = |s| n.classify(s, NumberContext::Stored);
        assert_eq!(
            stored("(415) 555-1212 x12"),
            ext("+14155551212", Some("12"))
        );
        assert_eq!(stored("1-800-FLOWERS"), ext("+18003569377", None));
        // A German number written with its trunk prefix is never tried as NANP.
        assert_eq!(stored("0415 5551212"), ext("+494155551212", None));
        // Country code without plus: not valid in NANP, so German rules read it.
        assert_eq!(stored("49 30 1234567"), ext("+49301234567", None));
    }

    #[test]
    fn trunk_prefix_is_read_from_the_metadata() {
        let u = util().unwrap();
        assert_eq!(trunk_prefix(u, Region::DE).as_deref(), Some("0"));
        assert_eq!(trunk_prefix(u, Region::AT).as_deref(), Some("0"));
        assert_eq!(trunk_prefix(u, Region::CH).as_deref(), Some("0"));
        assert_eq!(trunk_prefix(u, Region::IT), None);
    }

    #[test]
    fn junk_is_invalid_and_keeps_a_short_excerpt() {
        let n = de();
        assert_eq!(
            n.classify("call me", NumberContext::Stored),
            Number::Invalid("call me".into())
        );
        let huge = "1".repeat(10_000);
        let Number::Invalid(kept) = n.classify(&huge, NumberContext::Stored) else {
            panic!("huge input accepted");
        };
        assert_eq!(kept.len(), INVALID_EXCERPT_CHARS);
        assert!(matches!(
            n.classify("+49 30", NumberContext::Stored),
            Number::Invalid(_)
        ));
    }

    #[test]
    fn a_us_pbx_with_outside_line_prefix_nine() {
        let n = LibPhoneNormaliser::new(DialingRules {
            country: "US".into(),
            outside_line_prefix: "9".into(),
            internal_number_max_len: 4,
        })
        .unwrap();
        let pbx = |s| n.classify(s, NumberContext::FromPbx);
        assert_eq!(pbx("914155551212"), ext("+14155551212", None));
        assert_eq!(pbx("94155551212"), ext("+14155551212", None));
        assert_eq!(pbx("9011493012345"), ext("+493012345", None));
        assert_eq!(pbx("4155551212"), ext("+14155551212", None));
        assert_eq!(pbx("1234"), Number::Internal("1234".into()));
    }
}
