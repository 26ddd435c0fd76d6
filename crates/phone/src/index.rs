//! The in-memory phone index: E.164 number -> the Salesforce records that carry it.
//!
//! Sized for a million records: a record lives once, in a slot of a slab (id, object as a
//! small code, its name when short, where its numbers are); long names share one string and
//! numbers one vector; the tables map a number to a slot number, inline for the usual number
//! of one record. A hit reads a table entry and a slot: two cache misses.
//!
//! The owner may keep a value of its own with each record (the server keeps the caller card):
//! by slot number, in a vector beside the slots, so that it comes and goes with the record
//! without a table of its own keyed by id again.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::normaliser::{Normaliser, Number, NumberContext};

/// At most this many digits may follow a switchboard's base to count as its extension.
const MAX_EXTENSION_DIGITS: u32 = 4;

/// A switchboard base shorter than this (`+49 30 1-0`) is not a DDI block worth trusting.
const MIN_SWITCHBOARD_BASE_DIGITS: u32 = 7;

/// Characters people put between a DDI number and its trailing `0`.
const SWITCHBOARD_SEPARATORS: &[char] = &[' ', '-', '/', '.'];

/// A table value with this bit set names a list in [`NumberMap::shared`], not a slot.
const SHARED: u32 = 1 << 31;

/// Object codes of the standard objects; custom ones follow from [`FIRST_OTHER`].
const CONTACT: u16 = 0;
const LEAD: u16 = 1;
const ACCOUNT: u16 = 2;
const TASK: u16 = 3;
const FIRST_OTHER: u16 = 4;
/// The object code of a free slot.
const FREE: u16 = u16::MAX;

/// Garbage in the name and number stores below this is never compacted away.
const MIN_COMPACT_BYTES: usize = 1 << 20;

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
    /// The record (a copy made by the lookup: the index keeps no `RecordRef`).
    pub record: RecordRef,
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

/// One indexed record (52 bytes). Its numbers are `keys[keys_start..][..exact + switchboards]`,
/// exact numbers first.
#[derive(Clone, Copy)]
struct Slot {
    id: SalesforceId,
    /// [`CONTACT`], ..., [`FIRST_OTHER`] + index into `others`; [`FREE`] for a free slot.
    object: u16,
    exact: u16,
    switchboards: u16,
    keys_start: u32,
    name: Name,
}

/// A record's name: in the slot when it is short (most are), so that a lookup reads a table
/// entry and a slot, two cache misses, and not a third place; else where it is in the store.
#[derive(Clone, Copy)]
struct Name {
    /// The length of an inline name, or [`STORED_NAME`].
    len: u8,
    /// The inline name, or the start and length (u32, little-endian) in the name store.
    bytes: [u8; INLINE_NAME],
}

/// Names up to this many bytes live in their slot.
const INLINE_NAME: usize = 23;

/// [`Name::len`] of a name in the store.
const STORED_NAME: u8 = u8::MAX;

impl Name {
    fn stored(&self) -> Option<(usize, usize)> {
        (self.len == STORED_NAME).then(|| {
            let [a, b, c, d, e, f, g, h, ..] = self.bytes;
            (
                u32::from_le_bytes([a, b, c, d]) as usize,
                u32::from_le_bytes([e, f, g, h]) as usize,
            )
        })
    }
}

/// A number and what carries it: a slot, or (with [`SHARED`]) a list of slots. 12 bytes.
#[derive(Clone, Copy)]
struct Entry {
    key: [u32; 2],
    value: u32,
}

impl Entry {
    fn new(key: u64, value: u32) -> Self {
        // Split so that the entry needs 4-byte alignment only (12 bytes, not 16).
        #[allow(clippy::cast_possible_truncation)] // the halves of a u64
        let key = [key as u32, (key >> 32) as u32];
        Self { key, value }
    }

    fn key(&self) -> u64 {
        (u64::from(self.key[1]) << 32) | u64::from(self.key[0])
    }
}

/// Number -> slots, with the single slot inline (nearly every number has one record).
#[derive(Default)]
struct NumberMap {
    table: HashTable<Entry>,
    /// Slot lists of numbers that several records carry.
    shared: Vec<Vec<u32>>,
    /// Unused places in `shared`.
    free_shared: Vec<u32>,
}

impl NumberMap {
    fn slots(&self, hasher: &DefaultHashBuilder, key: u64) -> &[u32] {
        match self.table.find(hasher.hash_one(key), |e| e.key() == key) {
            None => &[],
            Some(e) if e.value & SHARED == 0 => std::slice::from_ref(&e.value),
            Some(e) => self
                .shared
                .get((e.value & !SHARED) as usize)
                .map_or(&[], Vec::as_slice),
        }
    }

    fn add(&mut self, hasher: &DefaultHashBuilder, key: u64, slot: u32) {
        let hash = hasher.hash_one(key);
        let Some(entry) = self.table.find_mut(hash, |e| e.key() == key) else {
            self.table
                .insert_unique(hash, Entry::new(key, slot), |e| hasher.hash_one(e.key()));
            return;
        };
        if entry.value & SHARED != 0 {
            if let Some(list) = self.shared.get_mut((entry.value & !SHARED) as usize) {
                list.push(slot);
            }
            return;
        }
        let list = vec![entry.value, slot];
        let place = match self.free_shared.pop() {
            Some(place) => {
                if let Some(l) = self.shared.get_mut(place as usize) {
                    *l = list;
                }
                place
            }
            None => {
                // Fewer than 2^31 slots exist, so fewer shared lists than that.
                let place = u32::try_from(self.shared.len()).unwrap_or(!SHARED);
                self.shared.push(list);
                place
            }
        };
        entry.value = SHARED | place;
    }

    fn remove(&mut self, hasher: &DefaultHashBuilder, key: u64, slot: u32) {
        let Ok(entry) = self
            .table
            .find_entry(hasher.hash_one(key), |e| e.key() == key)
        else {
            return;
        };
        let value = entry.get().value;
        if value & SHARED == 0 {
            if value == slot {
                entry.remove();
            }
            return;
        }
        let place = value & !SHARED;
        let Some(list) = self.shared.get_mut(place as usize) else {
            return;
        };
        list.retain(|&s| s != slot);
        let left = match list.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => return,
        };
        *list = Vec::new();
        self.free_shared.push(place);
        match left {
            Some(one) => entry.into_mut().value = one,
            None => {
                entry.remove();
            }
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// A record as the index holds it (see [`PhoneIndex::records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedRecord<'a> {
    /// The object's API name.
    pub object: &'a str,
    /// The record's id.
    pub id: SalesforceId,
    /// Its display name.
    pub name: &'a str,
    /// Its numbers ([`E164::as_u64`]).
    pub exact: &'a [u64],
    /// The switchboard bases its Account numbers are written as.
    pub bases: &'a [u64],
}

/// In-memory index from E.164 numbers to Salesforce records.
///
/// Numbers are keyed by [`E164::as_u64`]. A lookup costs one hash probe for the exact number
/// plus at most four for switchboard bases, and allocates only the result (none on a miss).
/// Writers need `&mut`; the server keeps the index behind a lock.
///
/// `P` is what the owner keeps with each record (see [`PhoneIndex::insert_in_with`]); a
/// record's value is dropped when the record is removed or replaced.
pub struct PhoneIndex<P = ()> {
    normaliser: Arc<dyn Normaliser>,
    hasher: DefaultHashBuilder,
    slots: Vec<Slot>,
    /// The owner's value of each slot's record (`None` for a free slot or none given).
    payloads: Vec<Option<P>>,
    free_slots: Vec<u32>,
    /// Slot numbers, hashed by their record's id.
    ids: HashTable<u32>,
    names: String,
    /// Bytes of `names` no slot uses any more.
    names_garbage: usize,
    keys: Vec<u64>,
    /// Entries of `keys` no slot uses any more.
    keys_garbage: usize,
    /// Custom object types, by code - [`FIRST_OTHER`].
    others: Vec<Box<str>>,
    exact: NumberMap,
    switchboards: NumberMap,
    /// Reused by every insert, so that an insert allocates nothing of its own.
    scratch: Vec<u64>,
}

impl PhoneIndex {
    /// An empty index that reads phone fields with `normaliser` (as [`NumberContext::Stored`]).
    pub fn new(normaliser: Arc<dyn Normaliser>) -> Self {
        Self::carrying(normaliser)
    }
}

impl<P> PhoneIndex<P> {
    /// [`PhoneIndex::new`] for an index that keeps a `P` with each record.
    pub fn carrying(normaliser: Arc<dyn Normaliser>) -> Self {
        Self {
            normaliser,
            hasher: DefaultHashBuilder::default(),
            slots: Vec::new(),
            payloads: Vec::new(),
            free_slots: Vec::new(),
            ids: HashTable::new(),
            names: String::new(),
            names_garbage: 0,
            keys: Vec::new(),
            keys_garbage: 0,
            others: Vec::new(),
            exact: NumberMap::default(),
            switchboards: NumberMap::default(),
            scratch: Vec::new(),
        }
    }

    /// Removes every record (the normaliser stays).
    pub fn clear(&mut self) {
        *self = Self::carrying(self.normaliser.clone());
    }

    /// The normaliser the index reads numbers with; use the same one for PBX numbers.
    pub fn normaliser(&self) -> &dyn Normaliser {
        self.normaliser.as_ref()
    }

    /// Makes room for `records` more records with `numbers` more numbers, so that a bulk load
    /// (from the record cache) grows the tables once instead of doubling them step by step.
    pub fn reserve(&mut self, records: usize, numbers: usize) {
        let hasher = &self.hasher;
        let slots = &self.slots;
        self.ids.reserve(records, |&s| {
            slot_at(slots, s).map_or(0, |slot| hasher.hash_one(slot.id))
        });
        self.slots.reserve(records);
        self.payloads.reserve(records);
        self.keys.reserve(numbers);
        self.exact
            .table
            .reserve(numbers, |e| hasher.hash_one(e.key()));
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
        self.insert_in_with(record, raw_numbers, country, None)
    }

    /// [`PhoneIndex::insert_in`], keeping `payload` with the record (see
    /// [`PhoneIndex::payload`]). A record without an external number is not indexed, and its
    /// payload is dropped: nothing could find it.
    pub fn insert_in_with<S: AsRef<str>>(
        &mut self,
        record: RecordRef,
        raw_numbers: &[S],
        country: Option<crate::CountryHint>,
        payload: Option<P>,
    ) -> InsertSummary {
        let ctx = country.map_or(NumberContext::Stored, NumberContext::StoredIn);
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        let mut bases = Vec::new();
        let mut skipped = 0;
        for raw in raw_numbers {
            let raw = raw.as_ref();
            match self.normaliser.classify(raw, ctx) {
                Number::External { e164, .. } => {
                    collect(&record.object, e164.as_u64(), raw, &mut keys, &mut bases);
                }
                Number::Suppressed => {}
                Number::Internal(_) | Number::Invalid(_) => skipped += 1,
            }
        }
        let summary = self.place(record, &mut keys, &bases, skipped, payload);
        self.scratch = keys;
        summary
    }

    /// [`PhoneIndex::insert`] for numbers already normalised (read from the record cache,
    /// which holds each value's E.164 form): each is the E.164 form with the value as typed,
    /// which says whether an Account's number was written as a switchboard. Same result as
    /// `insert_in` with the raw values, without reading them again.
    pub fn insert_e164<S: AsRef<str>>(
        &mut self,
        record: RecordRef,
        numbers: &[(E164, S)],
    ) -> InsertSummary {
        self.insert_e164_with(record, numbers, None)
    }

    /// [`PhoneIndex::insert_e164`], keeping `payload` with the record (as
    /// [`PhoneIndex::insert_in_with`] does).
    pub fn insert_e164_with<S: AsRef<str>>(
        &mut self,
        record: RecordRef,
        numbers: &[(E164, S)],
        payload: Option<P>,
    ) -> InsertSummary {
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        let mut bases = Vec::new();
        for (e164, raw) in numbers {
            collect(
                &record.object,
                e164.as_u64(),
                raw.as_ref(),
                &mut keys,
                &mut bases,
            );
        }
        let summary = self.place(record, &mut keys, &bases, 0, payload);
        self.scratch = keys;
        summary
    }

    /// Replaces what was indexed for `record` by `exact` numbers and switchboard `bases`.
    fn place(
        &mut self,
        record: RecordRef,
        exact: &mut Vec<u64>,
        bases: &[u64],
        skipped: usize,
        payload: Option<P>,
    ) -> InsertSummary {
        self.remove(&record.id);
        let summary = InsertSummary {
            numbers: exact.len(),
            switchboards: bases.len(),
            skipped,
        };
        if exact.is_empty() {
            return summary;
        }
        let (Some(object), Ok(n_exact), Ok(n_switchboards)) = (
            self.object_code(record.object),
            u16::try_from(exact.len()),
            u16::try_from(bases.len()),
        ) else {
            // Over 65,000 custom object types or numbers on one record: not a real org.
            return InsertSummary::default();
        };
        self.compact_if_wasteful();
        exact.extend_from_slice(bases);
        let (Ok(keys_start), Some(name)) =
            (u32::try_from(self.keys.len()), self.name(&record.name))
        else {
            // 4 GiB of names or 2^32 numbers in live use: beyond what the index addresses.
            return InsertSummary::default();
        };
        let slot = Slot {
            id: record.id,
            object,
            exact: n_exact,
            switchboards: n_switchboards,
            keys_start,
            name,
        };
        let number = match self.free_slots.pop() {
            Some(n) => {
                if let Some(s) = self.slots.get_mut(n as usize) {
                    *s = slot;
                }
                if let Some(p) = self.payloads.get_mut(n as usize) {
                    *p = payload;
                }
                n
            }
            None => {
                let Ok(n) = u32::try_from(self.slots.len()) else {
                    return InsertSummary::default();
                };
                if n >= SHARED {
                    return InsertSummary::default();
                }
                self.slots.push(slot);
                self.payloads.push(payload);
                n
            }
        };
        self.keys.extend_from_slice(exact);
        let hasher = &self.hasher;
        let slots = &self.slots;
        self.ids
            .insert_unique(hasher.hash_one(record.id), number, |&s| {
                slot_at(slots, s).map_or(0, |slot| hasher.hash_one(slot.id))
            });
        let (exact, bases) = exact.split_at(usize::from(n_exact));
        for &key in exact {
            self.exact.add(hasher, key, number);
        }
        for &base in bases {
            self.switchboards.add(hasher, base, number);
        }
        summary
    }

    /// Removes a record; returns whether it was indexed.
    pub fn remove(&mut self, id: &SalesforceId) -> bool {
        let hasher = &self.hasher;
        let slots = &self.slots;
        let Ok(entry) = self.ids.find_entry(hasher.hash_one(id), |&s| {
            slot_at(slots, s).is_some_and(|slot| slot.id == *id)
        }) else {
            return false;
        };
        let (number, _) = entry.remove();
        let Some(slot) = self.slots.get_mut(number as usize) else {
            return true;
        };
        let old = *slot;
        slot.object = FREE;
        if let Some(p) = self.payloads.get_mut(number as usize) {
            *p = None;
        }
        self.free_slots.push(number);
        let start = old.keys_start as usize;
        let n_exact = usize::from(old.exact);
        let n_all = n_exact + usize::from(old.switchboards);
        let keys = self.keys.get(start..start + n_all).unwrap_or_default();
        let (exact, bases) = keys.split_at(n_exact.min(keys.len()));
        for &key in exact {
            self.exact.remove(hasher, key, number);
        }
        for &base in bases {
            self.switchboards.remove(hasher, base, number);
        }
        self.keys_garbage += n_all;
        self.names_garbage += old.name.stored().map_or(0, |(_, len)| len);
        true
    }

    /// The records for `number`: exact matches first, then switchboard extensions; within
    /// each, Contacts, Leads, Accounts, then others, by id. A record appears once.
    pub fn lookup(&self, number: &E164) -> Vec<Match> {
        let key = number.as_u64();
        let exact = self.exact.slots(&self.hasher, key);
        let mut found = Vec::with_capacity(exact.len());
        found.extend(
            exact
                .iter()
                .filter_map(|&s| self.record(s))
                .map(|record| Match {
                    record,
                    strength: MatchStrength::Exact,
                }),
        );
        if !self.switchboards.is_empty() {
            let mut base = key;
            for _ in 0..MAX_EXTENSION_DIGITS {
                base /= 10;
                if base < 10u64.pow(MIN_SWITCHBOARD_BASE_DIGITS - 1) {
                    break;
                }
                for &s in self.switchboards.slots(&self.hasher, base) {
                    let Some(slot) = slot_at(&self.slots, s) else {
                        continue;
                    };
                    if !found.iter().any(|m: &Match| m.record.id == slot.id)
                        && let Some(record) = self.record(s)
                    {
                        found.push(Match {
                            record,
                            strength: MatchStrength::SwitchboardExtension,
                        });
                    }
                }
            }
        }
        if found.len() > 1 {
            found.sort_by(|a, b| {
                (a.strength, object_rank(&a.record.object), a.record.id).cmp(&(
                    b.strength,
                    object_rank(&b.record.object),
                    b.record.id,
                ))
            });
        }
        found
    }

    /// How many records are indexed (records without any external number are not).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How many distinct numbers are indexed.
    pub fn number_count(&self) -> usize {
        self.exact.len()
    }

    /// Every indexed record with its numbers, in the form [`PhoneIndex::insert_keys`] takes
    /// back: what a snapshot of the index keeps.
    pub fn records(&self) -> impl Iterator<Item = IndexedRecord<'_>> + '_ {
        self.slots
            .iter()
            .filter(|slot| slot.object != FREE)
            .filter_map(move |slot| {
                let object = match slot.object {
                    CONTACT => "Contact",
                    LEAD => "Lead",
                    ACCOUNT => "Account",
                    TASK => "Task",
                    other => self.others.get(usize::from(other - FIRST_OTHER))?,
                };
                let start = slot.keys_start as usize;
                let n_exact = usize::from(slot.exact);
                let keys = self
                    .keys
                    .get(start..start + n_exact + usize::from(slot.switchboards))?;
                let (exact, bases) = keys.split_at(n_exact);
                Some(IndexedRecord {
                    object,
                    id: slot.id,
                    name: self.name_of(&slot.name),
                    exact,
                    bases,
                })
            })
    }

    /// Indexes a record by keys as [`PhoneIndex::records`] gave them (replacing what was
    /// indexed for its id): no number is read again.
    pub fn insert_keys(
        &mut self,
        record: RecordRef,
        exact: &[u64],
        bases: &[u64],
    ) -> InsertSummary {
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        keys.extend_from_slice(exact);
        let summary = self.place(record, &mut keys, bases, 0, None);
        self.scratch = keys;
        summary
    }

    /// The slot number of the record `id`, if it is indexed.
    fn slot_of(&self, id: &SalesforceId) -> Option<u32> {
        self.ids
            .find(self.hasher.hash_one(id), |&s| {
                slot_at(&self.slots, s).is_some_and(|slot| slot.id == *id)
            })
            .copied()
    }

    /// The value kept with the record `id`, if it is indexed with one.
    pub fn payload(&self, id: &SalesforceId) -> Option<&P> {
        self.payloads.get(self.slot_of(id)? as usize)?.as_ref()
    }

    /// The place of the value kept with the record `id`, if it is indexed: to give it one
    /// after the fact, change or drop it.
    pub fn payload_mut(&mut self, id: &SalesforceId) -> Option<&mut Option<P>> {
        let slot = self.slot_of(id)?;
        self.payloads.get_mut(slot as usize)
    }

    /// The values kept with the records, in the order of [`PhoneIndex::records`] (`None`
    /// where a record has none).
    pub fn payloads(&self) -> impl Iterator<Item = Option<&P>> + '_ {
        self.slots
            .iter()
            .zip(&self.payloads)
            .filter(|(slot, _)| slot.object != FREE)
            .map(|(_, p)| p.as_ref())
    }

    /// Every value kept with a record, to change in place.
    pub fn payloads_mut(&mut self) -> impl Iterator<Item = &mut P> + '_ {
        self.payloads.iter_mut().flatten()
    }

    /// Gives the records, in the order of [`PhoneIndex::records`], the values `payloads`
    /// holds, one each: how an index rebuilt by [`PhoneIndex::insert_keys`] gets back what
    /// [`PhoneIndex::payloads`] gave. Hands `payloads` back, changing nothing, unless there
    /// is one for every slot and no slot is free, as after `insert_keys` of distinct records
    /// into an empty index.
    pub fn set_payloads(&mut self, payloads: Vec<Option<P>>) -> Result<(), Vec<Option<P>>> {
        if payloads.len() != self.slots.len()
            || payloads.len() != self.ids.len()
            || !self.free_slots.is_empty()
        {
            return Err(payloads);
        }
        self.payloads = payloads;
        Ok(())
    }

    /// The record in slot `s`, as the lookup hands it out.
    fn record(&self, s: u32) -> Option<RecordRef> {
        let slot = slot_at(&self.slots, s)?;
        let object = match slot.object {
            CONTACT => ObjectType::Contact,
            LEAD => ObjectType::Lead,
            ACCOUNT => ObjectType::Account,
            TASK => ObjectType::Task,
            other => ObjectType::Other(
                self.others
                    .get(usize::from(other - FIRST_OTHER))?
                    .as_ref()
                    .to_owned(),
            ),
        };
        Some(RecordRef {
            object,
            id: slot.id,
            name: self.name_of(&slot.name).to_owned(),
        })
    }

    fn name_of<'a>(&'a self, name: &'a Name) -> &'a str {
        match name.stored() {
            Some((start, len)) => self.names.get(start..start + len).unwrap_or_default(),
            None => name
                .bytes
                .get(..usize::from(name.len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
        }
    }

    /// `name` inline, or appended to the name store; `None` if the store is full.
    fn name(&mut self, name: &str) -> Option<Name> {
        let mut bytes = [0; INLINE_NAME];
        if let Some(inline) = bytes.get_mut(..name.len()) {
            inline.copy_from_slice(name.as_bytes());
            let len = u8::try_from(name.len()).ok()?;
            return Some(Name { len, bytes });
        }
        let start = u32::try_from(self.names.len()).ok()?;
        let len = u32::try_from(name.len()).ok()?;
        start.checked_add(len)?;
        self.names.push_str(name);
        let [a, b, c, d] = start.to_le_bytes();
        let [e, f, g, h] = len.to_le_bytes();
        bytes[..8].copy_from_slice(&[a, b, c, d, e, f, g, h]);
        Some(Name {
            len: STORED_NAME,
            bytes,
        })
    }

    /// The code of `object`; custom object types get one on first sight.
    fn object_code(&mut self, object: ObjectType) -> Option<u16> {
        match object {
            ObjectType::Contact => Some(CONTACT),
            ObjectType::Lead => Some(LEAD),
            ObjectType::Account => Some(ACCOUNT),
            ObjectType::Task => Some(TASK),
            ObjectType::Other(name) => {
                let at = match self.others.iter().position(|o| **o == *name) {
                    Some(at) => at,
                    None => {
                        self.others.push(name.into_boxed_str());
                        self.others.len() - 1
                    }
                };
                u16::try_from(at)
                    .ok()
                    .and_then(|at| at.checked_add(FIRST_OTHER))
                    .filter(|&code| code != FREE)
            }
        }
    }

    /// Rewrites the name and number stores without what removed and replaced records left,
    /// once that is more than half of them: a record's update appends its name and numbers,
    /// so a long-running sync would otherwise grow the stores without bound.
    fn compact_if_wasteful(&mut self) {
        let names =
            self.names_garbage > MIN_COMPACT_BYTES && self.names_garbage * 2 > self.names.len();
        let keys =
            self.keys_garbage * 8 > MIN_COMPACT_BYTES && self.keys_garbage * 2 > self.keys.len();
        if !names && !keys {
            return;
        }
        let mut new_names = String::with_capacity(self.names.len() - self.names_garbage);
        let mut new_keys = Vec::with_capacity(self.keys.len() - self.keys_garbage);
        for slot in self.slots.iter_mut().filter(|s| s.object != FREE) {
            if let Some((start, len)) = slot.name.stored() {
                let name = self.names.get(start..start + len).unwrap_or_default();
                // Both stores only shrink here, so the new offsets fit where the old ones did.
                let start = u32::try_from(new_names.len()).unwrap_or(u32::MAX);
                slot.name.bytes[..4].copy_from_slice(&start.to_le_bytes());
                new_names.push_str(name);
            }
            let start = slot.keys_start as usize;
            let n = usize::from(slot.exact) + usize::from(slot.switchboards);
            slot.keys_start = u32::try_from(new_keys.len()).unwrap_or(u32::MAX);
            new_keys.extend_from_slice(self.keys.get(start..start + n).unwrap_or_default());
        }
        self.names = new_names;
        self.keys = new_keys;
        self.names_garbage = 0;
        self.keys_garbage = 0;
    }
}

impl<P> fmt::Debug for PhoneIndex<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneIndex")
            .field("records", &self.ids.len())
            .field("numbers", &self.exact.len())
            .field("switchboards", &self.switchboards.len())
            .finish_non_exhaustive()
    }
}

fn slot_at(slots: &[Slot], s: u32) -> Option<&Slot> {
    slots.get(s as usize).filter(|slot| slot.object != FREE)
}

/// Adds an external number of a record to its `exact` keys, and its switchboard base to
/// `bases` when an Account's value is written as a switchboard.
fn collect(object: &ObjectType, key: u64, raw: &str, exact: &mut Vec<u64>, bases: &mut Vec<u64>) {
    if !exact.contains(&key) {
        exact.push(key);
    }
    if *object == ObjectType::Account
        && written_as_switchboard(raw)
        && let Some(base) = switchboard_base(key)
        && !bases.contains(&base)
    {
        bases.push(base);
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

    fn index() -> PhoneIndex {
        let rules = crate::DialingRules::default();
        PhoneIndex::new(Arc::new(crate::LibPhoneNormaliser::new(rules).unwrap()))
    }

    fn record(object: ObjectType, n: usize, name: &str) -> RecordRef {
        let prefix = match object {
            ObjectType::Lead => "00Q",
            ObjectType::Account => "001",
            _ => "003",
        };
        RecordRef {
            object,
            id: SalesforceId::parse(&format!("{prefix}{n:012}")).unwrap(),
            name: name.to_owned(),
        }
    }

    fn e164(s: &str) -> E164 {
        E164::parse(s).unwrap()
    }

    #[test]
    fn stored_e164_numbers_index_like_the_typed_values() {
        let typed = [
            (
                ObjectType::Contact,
                vec!["+49 (0)30 1234567", "0171 2345678"],
            ),
            (ObjectType::Account, vec!["+49 30 9876-0"]),
            (ObjectType::Lead, vec!["+49 30 9876-0"]),
        ];
        let mut by_raw = index();
        let mut by_e164 = index();
        for (n, (object, raws)) in typed.iter().enumerate() {
            let r = record(object.clone(), n, &format!("R{n}"));
            let a = by_raw.insert(r.clone(), raws);
            let normalised: Vec<(E164, &str)> = raws
                .iter()
                .filter_map(|raw| {
                    let e = by_raw.normaliser().classify(raw, NumberContext::Stored);
                    Some((e.e164()?, *raw))
                })
                .collect();
            let b = by_e164.insert_e164(r, &normalised);
            assert_eq!(a, b);
        }
        for probe in [
            "+49301234567",
            "+491712345678",
            "+49309876123",
            "+4930987600",
        ] {
            assert_eq!(
                by_raw.lookup(&e164(probe)),
                by_e164.lookup(&e164(probe)),
                "{probe}"
            );
        }
        assert_eq!(by_e164.lookup(&e164("+49309876123")).len(), 1);
    }

    /// `copy` (empty) with the records of `original`, by their keys, in the order of `records`.
    fn rebuilt<P, Q>(original: &PhoneIndex<P>, mut copy: PhoneIndex<Q>) -> PhoneIndex<Q> {
        for r in original.records() {
            let rref = RecordRef {
                object: ObjectType::parse(r.object).unwrap(),
                id: r.id,
                name: r.name.to_owned(),
            };
            copy.insert_keys(rref, r.exact, r.bases);
        }
        copy
    }

    #[test]
    fn an_index_rebuilt_from_its_records_and_keys_answers_the_same() {
        let mut original = index();
        let custom = ObjectType::Other("Partner__c".into());
        let long_name = "A name far longer than what a slot keeps inline, stored apart";
        let data: [(ObjectType, &str, Vec<&str>); 5] = [
            (
                ObjectType::Contact,
                "Ann",
                vec!["+49 30 1234567", "0171 2345678"],
            ),
            (
                ObjectType::Account,
                long_name,
                vec!["+49 30 9876-0", "+49 30 1234567"],
            ),
            (ObjectType::Lead, "Lee", vec!["+43 1 58800"]),
            (custom.clone(), "Partner", vec!["+41 44 1234567"]),
            (ObjectType::Contact, "Gone", vec!["+49 89 1234567"]),
        ];
        for (n, (object, name, raws)) in data.iter().enumerate() {
            original.insert(record(object.clone(), n, name), raws);
        }
        // Replaced and removed records leave garbage behind that the copy must not carry.
        original.insert(record(ObjectType::Contact, 0, "Ann"), &["+49 30 7654321"]);
        original.remove(&record(ObjectType::Contact, 4, "Gone").id);
        let copy = rebuilt(&original, index());
        assert_eq!(copy.len(), original.len());
        assert_eq!(copy.len(), 4);
        assert_eq!(copy.number_count(), original.number_count());
        assert_eq!(original.records().count(), 4);
        for probe in [
            "+49307654321",
            "+49301234567",
            "+491712345678",
            "+49309876123",
            "+4930987600",
            "+43158800",
            "+41441234567",
            "+49891234567",
        ] {
            assert_eq!(
                copy.lookup(&e164(probe)),
                original.lookup(&e164(probe)),
                "{probe}"
            );
        }
        assert!(copy.lookup(&e164("+49891234567")).is_empty());
        assert_eq!(copy.lookup(&e164("+41441234567"))[0].record.object, custom);
        assert_eq!(copy.lookup(&e164("+49309876123"))[0].record.name, long_name);
    }

    #[test]
    fn a_records_value_comes_and_goes_with_it_and_follows_a_rebuild() {
        let n: Arc<dyn Normaliser> =
            Arc::new(crate::LibPhoneNormaliser::new(crate::DialingRules::default()).unwrap());
        let mut original: PhoneIndex<String> = PhoneIndex::carrying(n.clone());
        let ann = record(ObjectType::Contact, 1, "Ann");
        let bob = record(ObjectType::Lead, 2, "Bob");
        let cy = record(ObjectType::Account, 3, "Cy");
        original.insert_in_with(ann.clone(), &["030 1234567"], None, Some("ann".into()));
        original.insert_e164_with(
            bob.clone(),
            &[(e164("+4989123456"), "089 123456")],
            Some("bob".into()),
        );
        original.insert_in_with(cy.clone(), &["+43 1 58800"], None, None);
        // Without a number nothing could find the record: no value is kept for it.
        let nobody = record(ObjectType::Contact, 4, "Nobody");
        original.insert_in_with(nobody.clone(), &["n/a"], None, Some("lost".into()));
        assert_eq!(original.payload(&nobody.id), None);
        assert_eq!(original.payload(&ann.id).map(String::as_str), Some("ann"));
        assert_eq!(original.payload(&cy.id), None);
        *original.payload_mut(&cy.id).unwrap() = Some("cy".into());
        assert_eq!(original.payload(&cy.id).map(String::as_str), Some("cy"));
        assert!(original.payload_mut(&nobody.id).is_none());
        // A replaced record keeps the new value; a removed one's goes, and its slot's next
        // record does not inherit it.
        original.insert_in_with(ann.clone(), &["030 7654321"], None, Some("ann 2".into()));
        assert_eq!(original.payload(&ann.id).map(String::as_str), Some("ann 2"));
        assert!(original.remove(&bob.id));
        assert_eq!(original.payload(&bob.id), None);
        let dee = record(ObjectType::Contact, 5, "Dee");
        original.insert_in_with(dee.clone(), &["040 1234567"], None, None);
        assert_eq!(original.payload(&dee.id), None);
        for value in original.payloads_mut() {
            value.push('!');
        }
        assert_eq!(
            original.payload(&ann.id).map(String::as_str),
            Some("ann 2!")
        );

        // Rebuilt in the order of `records`, the values follow in the order of `payloads`.
        let mut copy = rebuilt(&original, PhoneIndex::<String>::carrying(n.clone()));
        let values: Vec<Option<String>> = original.payloads().map(|p| p.cloned()).collect();
        assert_eq!(values.len(), original.len());
        assert!(copy.set_payloads(values[1..].to_vec()).is_err());
        assert!(copy.set_payloads(values).is_ok());
        assert_eq!(copy.payload(&cy.id).map(String::as_str), Some("cy!"));
        for id in [ann.id, cy.id, dee.id] {
            assert_eq!(copy.payload(&id), original.payload(&id), "{id}");
        }
        // Once a slot is free, the order of the values is not the order of the slots.
        copy.remove(&cy.id);
        let values: Vec<Option<String>> = copy.payloads().map(|p| p.cloned()).collect();
        assert!(copy.set_payloads(values).is_err());
    }

    #[test]
    fn a_shared_number_stays_with_the_record_left_after_a_removal() {
        let mut idx = index();
        let a = record(ObjectType::Contact, 1, "A");
        let b = record(ObjectType::Lead, 2, "B");
        let c = record(ObjectType::Contact, 3, "C");
        for r in [&a, &b, &c] {
            idx.insert(r.clone(), &["+49 30 1234567"]);
        }
        assert_eq!(idx.lookup(&e164("+49301234567")).len(), 3);
        assert!(idx.remove(&a.id));
        assert!(idx.remove(&c.id));
        let left = idx.lookup(&e164("+49301234567"));
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].record, b);
        // A freed list is used again by the next shared number.
        idx.insert(a.clone(), &["+49 89 12345678"]);
        idx.insert(c.clone(), &["+49 89 12345678"]);
        let names: Vec<_> = idx
            .lookup(&e164("+498912345678"))
            .into_iter()
            .map(|m| m.record.name)
            .collect();
        assert_eq!(names, ["A", "C"]);
        assert!(idx.remove(&b.id));
        assert!(idx.lookup(&e164("+49301234567")).is_empty());
        assert_eq!((idx.len(), idx.number_count()), (2, 1));
    }

    #[test]
    fn custom_object_types_come_back_as_they_went_in() {
        let mut idx = index();
        let r = RecordRef {
            object: ObjectType::Other("Site__c".into()),
            id: SalesforceId::parse("a01000000000001").unwrap(),
            name: "Werk Nord".into(),
        };
        idx.insert(r.clone(), &["+49 30 1234567"]);
        assert_eq!(idx.lookup(&e164("+49301234567"))[0].record, r);
    }

    #[test]
    fn records_updated_again_and_again_keep_the_stores_bounded() {
        let mut idx = index();
        let long = "x".repeat(1_000);
        for round in 0..6 {
            for n in 0..1_000 {
                let name = format!("{round} {n} {long}");
                let number = format!("+49 30 {}", 2_000_000 + n);
                idx.insert(record(ObjectType::Contact, n, &name), &[number]);
            }
        }
        assert_eq!((idx.len(), idx.number_count()), (1_000, 1_000));
        // Six rounds wrote 6 MB of names; compaction keeps at most about twice the live 1 MB.
        assert!(
            idx.names.len() <= 2 * 1_000 * 1_010 + MIN_COMPACT_BYTES,
            "{}",
            idx.names.len()
        );
        for n in [0, 499, 999] {
            let found = idx.lookup(&e164(&format!("+4930{}", 2_000_000 + n)));
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].record.name, format!("5 {n} {long}"));
        }
    }

    #[test]
    fn switchboard_base_needs_a_trailing_zero_and_length() {
        assert_eq!(switchboard_base(493012340), Some(49301234));
        assert_eq!(switchboard_base(493012345), None);
        assert_eq!(switchboard_base(49300), None);
    }
}
