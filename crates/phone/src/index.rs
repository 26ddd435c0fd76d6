//! The in-memory phone index: E.164 number -> the Salesforce records that carry it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};

use crate::normaliser::{Normaliser, Number, NumberContext};

/// At most this many digits may follow a switchboard's base to count as its extension.
const MAX_EXTENSION_DIGITS: u32 = 4;

/// A switchboard base shorter than this (`+49 30 1-0`) is not a DDI block worth trusting.
const MIN_SWITCHBOARD_BASE_DIGITS: u32 = 7;

/// Characters people put between a DDI number and its trailing `0`.
const SWITCHBOARD_SEPARATORS: &[char] = &[' ', '-', '/', '.'];

/// How strongly a record matches a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchStrength {
    /// The record carries this very number.
    Exact,
    /// The number is an extension of an Account's switchboard (`+49 30 1234-0`).
    SwitchboardExtension,
}

/// One record found for a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The record (shared with the index; cloning is cheap).
    pub record: Arc<RecordRef>,
    /// How strongly it matches.
    pub strength: MatchStrength,
}

/// What [`PhoneIndex::insert`] did with a record's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertSummary {
    /// Distinct external numbers indexed.
    pub numbers: usize,
    /// Switchboards registered (Accounts only).
    pub switchboards: usize,
    /// Values that were not external numbers (invalid or internal); empty fields do not count.
    pub skipped: usize,
}

/// Numbers of one record, kept so that it can be removed without a scan.
#[derive(Default)]
struct Keys {
    exact: Vec<u64>,
    switchboards: Vec<u64>,
}

/// In-memory index from E.164 numbers to Salesforce records.
///
/// Numbers are keyed by [`E164::as_u64`]. A lookup costs one hash probe for the exact number
/// plus at most four for switchboard bases, and allocates only the result vector (none on a
/// miss). Writers need `&mut`; the server keeps the index behind a lock.
pub struct PhoneIndex {
    normaliser: Arc<dyn Normaliser>,
    exact: HashMap<u64, Vec<Arc<RecordRef>>>,
    switchboards: HashMap<u64, Vec<Arc<RecordRef>>>,
    records: HashMap<SalesforceId, Keys>,
}

impl PhoneIndex {
    /// An empty index that reads phone fields with `normaliser` (as [`NumberContext::Stored`]).
    pub fn new(normaliser: Arc<dyn Normaliser>) -> Self {
        Self {
            normaliser,
            exact: HashMap::new(),
            switchboards: HashMap::new(),
            records: HashMap::new(),
        }
    }

    /// The normaliser the index reads numbers with; use the same one for PBX numbers.
    pub fn normaliser(&self) -> &dyn Normaliser {
        self.normaliser.as_ref()
    }

    /// Indexes `record` under its phone field values as typed, replacing what was indexed
    /// for the same id before. An Account value written as a switchboard (ending in a lone
    /// `0` after a separator, such as `+49 30 1234-0`) also matches its extensions weakly.
    pub fn insert<S: AsRef<str>>(&mut self, record: RecordRef, raw_numbers: &[S]) -> InsertSummary {
        self.insert_in(record, raw_numbers, None)
    }

    /// [`PhoneIndex::insert`] for a record whose address is in `country`: its national numbers
    /// are read by that country's numbering plan (see [`NumberContext::StoredIn`]).
    pub fn insert_in<S: AsRef<str>>(
        &mut self,
        record: RecordRef,
        raw_numbers: &[S],
        country: Option<crate::CountryHint>,
    ) -> InsertSummary {
        let ctx = country.map_or(NumberContext::Stored, NumberContext::StoredIn);
        self.remove(&record.id);
        let record = Arc::new(record);
        let mut keys = Keys::default();
        let mut skipped = 0;
        for raw in raw_numbers {
            let raw = raw.as_ref();
            match self.normaliser.classify(raw, ctx) {
                Number::External { e164, .. } => {
                    let key = e164.as_u64();
                    if !keys.exact.contains(&key) {
                        keys.exact.push(key);
                        self.exact.entry(key).or_default().push(Arc::clone(&record));
                    }
                    if record.object == ObjectType::Account
                        && written_as_switchboard(raw)
                        && let Some(base) = switchboard_base(key)
                        && !keys.switchboards.contains(&base)
                    {
                        keys.switchboards.push(base);
                        self.switchboards
                            .entry(base)
                            .or_default()
                            .push(Arc::clone(&record));
                    }
                }
                Number::Suppressed => {}
                Number::Internal(_) | Number::Invalid(_) => skipped += 1,
            }
        }
        let summary = InsertSummary {
            numbers: keys.exact.len(),
            switchboards: keys.switchboards.len(),
            skipped,
        };
        if !keys.exact.is_empty() {
            self.records.insert(record.id, keys);
        }
        summary
    }

    /// Removes a record; returns whether it was indexed.
    pub fn remove(&mut self, id: &SalesforceId) -> bool {
        let Some(keys) = self.records.remove(id) else {
            return false;
        };
        for (map, keys) in [
            (&mut self.exact, keys.exact),
            (&mut self.switchboards, keys.switchboards),
        ] {
            for key in keys {
                if let Some(records) = map.get_mut(&key) {
                    records.retain(|r| r.id != *id);
                    if records.is_empty() {
                        map.remove(&key);
                    }
                }
            }
        }
        true
    }

    /// The records for `number`: exact matches first, then switchboard extensions; within
    /// each, Contacts, Leads, Accounts, then others, by id. A record appears once.
    pub fn lookup(&self, number: &E164) -> Vec<Match> {
        let key = number.as_u64();
        let mut found = Vec::new();
        if let Some(records) = self.exact.get(&key) {
            found.extend(records.iter().map(|r| Match {
                record: Arc::clone(r),
                strength: MatchStrength::Exact,
            }));
        }
        if !self.switchboards.is_empty() {
            let mut base = key;
            for _ in 0..MAX_EXTENSION_DIGITS {
                base /= 10;
                if base < 10u64.pow(MIN_SWITCHBOARD_BASE_DIGITS - 1) {
                    break;
                }
                for r in self.switchboards.get(&base).into_iter().flatten() {
                    if !found.iter().any(|m: &Match| m.record.id == r.id) {
                        found.push(Match {
                            record: Arc::clone(r),
                            strength: MatchStrength::SwitchboardExtension,
                        });
                    }
                }
            }
        }
        found.sort_by(|a, b| {
            (a.strength, object_rank(&a.record.object), a.record.id).cmp(&(
                b.strength,
                object_rank(&b.record.object),
                b.record.id,
            ))
        });
        found
    }

    /// How many records are indexed (records without any external number are not).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many distinct numbers are indexed.
    pub fn number_count(&self) -> usize {
        self.exact.len()
    }
}

impl fmt::Debug for PhoneIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneIndex")
            .field("records", &self.records.len())
            .field("numbers", &self.exact.len())
            .field("switchboards", &self.switchboards.len())
            .finish_non_exhaustive()
    }
}

/// People look at a person before a company: Contacts, then Leads, then Accounts.
fn object_rank(object: &ObjectType) -> u8 {
    match object {
        ObjectType::Contact => 0,
        ObjectType::Lead => 1,
        ObjectType::Account => 2,
        ObjectType::Task | ObjectType::Other(_) => 3,
    }
}

/// `+49 30 1234-0`, `+43 1 5880 0`: the number ends in a lone `0` after a separator, the
/// German/Austrian way of writing the main line of a DDI block.
fn written_as_switchboard(raw: &str) -> bool {
    let Some(rest) = raw.trim_end().strip_suffix('0') else {
        return false;
    };
    let before_separators = rest.trim_end_matches(SWITCHBOARD_SEPARATORS);
    before_separators.len() < rest.len()
        && before_separators
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit() || c == ')')
}

/// The number without its final `0`, if long enough to be a DDI block.
fn switchboard_base(key: u64) -> Option<u64> {
    (key.is_multiple_of(10) && key / 10 >= 10u64.pow(MIN_SWITCHBOARD_BASE_DIGITS - 1))
        .then_some(key / 10)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn switchboard_spelling_is_recognised() {
        for s in [
            "+49 30 1234-0",
            "+49 30 1234 - 0 ",
            "+43 1 5880 0",
            "030/1234/0",
            "+49 (30) 1234-0",
        ] {
            assert!(written_as_switchboard(s), "{s}");
        }
        for s in [
            "+49 30 12340",
            "+41 44 668 18 00",
            "+49 30 1234-10",
            "0",
            "-0",
            "+49 30 1234-0 x5",
        ] {
            assert!(!written_as_switchboard(s), "{s}");
        }
    }

    #[test]
    fn switchboard_base_needs_a_trailing_zero_and_length() {
        assert_eq!(switchboard_base(493012340), Some(49301234));
        assert_eq!(switchboard_base(493012345), None);
        assert_eq!(switchboard_base(49300), None);
    }
}
