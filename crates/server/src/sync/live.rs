//! The phone index and caller cards of an instance as the ring path reads them while the sync
//! changes them in place: a lookup takes a read lock for a hash probe, a sync batch a write
//! lock for a page of records, so neither waits long and no copy of the index is ever made.
//!
//! A record's card is kept in the index, with the record (see [`PhoneIndex::payload`]): a
//! card is only ever asked for by a record the index found, so a record without a number
//! needs none, and a start fills one table of a million records, not two (the card table's
//! inserts were a sixth of a start's CPU, see docs/PERFORMANCE.md). Index and cards change
//! under one lock, together.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{Match, Normaliser, PhoneIndex};
use ctibridge_store::{Record, StoreError, StoredRow};

use crate::cards::{Card, CardLayout, CardValues};

use super::fields::{OBJECTS, country_of, number_context};

/// The phone index of an instance with the records' cards.
type CardIndex = PhoneIndex<CardValues>;

/// The phone index of an instance, shared between the sync (writer) and the ring path.
#[derive(Clone)]
pub struct LiveIndex {
    inner: Arc<RwLock<CardIndex>>,
    /// Which object wins when a number matches records of several (the admin's choice).
    priority: Arc<RwLock<Arc<[ObjectType]>>>,
}

impl LiveIndex {
    /// Shares `index`.
    fn new(index: CardIndex) -> Self {
        Self {
            inner: Arc::new(RwLock::new(index)),
            priority: Arc::new(RwLock::new(Arc::from(OBJECTS.to_vec()))),
        }
    }

    /// The records for `number` (see [`PhoneIndex::lookup`]): exact matches first, then by
    /// the object priority.
    pub fn lookup(&self, number: &E164) -> Vec<Match> {
        let mut found = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .lookup(number);
        if found.len() > 1 {
            let priority = self.priority();
            let rank = |o: &ObjectType| priority.iter().position(|p| p == o).unwrap_or(usize::MAX);
            found.sort_by_key(|m| {
                (
                    m.strength != ctibridge_phone::MatchStrength::Exact,
                    rank(&m.record.object),
                )
            });
        }
        found
    }

    /// The object priority for numbers that match several records.
    pub fn priority(&self) -> Arc<[ObjectType]> {
        self.priority
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the object priority; takes effect with the next lookup.
    pub fn set_priority(&self, order: &[ObjectType]) {
        *self
            .priority
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::from(order.to_vec());
    }

    /// How many distinct numbers are indexed.
    pub fn number_count(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .number_count()
    }

    /// How many records are indexed.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no record is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, CardIndex> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, CardIndex> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndex")
            .field("records", &self.len())
            .finish_non_exhaustive()
    }
}

/// The caller cards of an instance (kept in its [`LiveIndex`]), with the layout new cards are
/// built with.
#[derive(Clone)]
pub struct LiveCards {
    inner: Arc<RwLock<CardIndex>>,
    layout: Arc<RwLock<Arc<CardLayout>>>,
}

impl LiveCards {
    /// The card of an indexed record, with its labels (made now: the lock is not held while
    /// the caller uses it).
    pub fn get(&self, id: &SalesforceId) -> Option<Card> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .payload(id)
            .map(CardValues::render)
    }

    /// The layout cards are built with.
    pub fn layout(&self) -> Arc<CardLayout> {
        self.layout
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the layout and moves every card to it at once: values of fields both layouts
    /// show stay, new fields appear when the sync has read them. `false` when nothing changed.
    pub fn set_layout(&self, layout: Arc<CardLayout>) -> bool {
        {
            let mut current = self.layout.write().unwrap_or_else(PoisonError::into_inner);
            if **current == *layout {
                return false;
            }
            *current = layout.clone();
        }
        let mut index = self.write();
        for card in index.payloads_mut() {
            // Every card moves, also where the fields are the same: the old layout is freed.
            if let Some(new) = layout.object(card.layout().object()) {
                *card = card.relayout(new);
            }
        }
        true
    }

    /// Number of cards.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .payloads()
            .flatten()
            .count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> RwLockWriteGuard<'_, CardIndex> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The layout itself, to change it without moving the cards (what a reader can see for
    /// a moment while [`LiveCards::set_layout`] runs).
    #[cfg(test)]
    pub(super) fn layout_slot(&self) -> RwLockWriteGuard<'_, Arc<CardLayout>> {
        self.layout.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LiveCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCards")
            .field("cards", &self.len())
            .finish_non_exhaustive()
    }
}

/// A record's numbers as [`LiveParts::put`] indexes them.
enum Numbers<'a> {
    /// As typed, read by the normaliser (with the record's address country).
    Typed(Vec<&'a str>, Option<ctibridge_phone::CountryHint>),
    /// In the E.164 form the record cache holds, with the value as typed.
    Stored(Vec<(E164, &'a str)>),
}

/// A record ready for [`LiveParts::apply`].
type Prepared<'a> = (RecordRef, Numbers<'a>, Option<CardValues>);

/// The index and the cards of an instance, changed together.
#[derive(Clone, Debug)]
pub(crate) struct LiveParts {
    pub index: LiveIndex,
    pub cards: LiveCards,
}

impl LiveParts {
    /// An empty index that reads numbers with `normaliser`, and cards that follow `layout`.
    pub fn new(normaliser: Arc<dyn Normaliser>, layout: Arc<CardLayout>) -> Self {
        let index = LiveIndex::new(PhoneIndex::carrying(normaliser));
        let cards = LiveCards {
            inner: index.inner.clone(),
            layout: Arc::new(RwLock::new(layout)),
        };
        Self { index, cards }
    }

    /// Indexes records (replacing what was indexed for their ids) and refreshes their cards.
    pub fn upsert(&self, records: &[Record]) {
        // Cards and numbers are worked out before the lock is taken.
        let layout = self.cards.layout();
        let prepared = records
            .iter()
            .filter_map(|r| {
                let object = ObjectType::parse(&r.object_type).ok()?;
                let id = SalesforceId::parse(&r.sf_id).ok()?;
                let numbers = Numbers::Typed(
                    r.phones.iter().map(|p| p.raw.as_str()).collect(),
                    country_of(&object, &r.fields),
                );
                let card = layout
                    .object(object.as_str())
                    .map(|l| CardValues::build_with_phones(l, &r.fields, &r.phones));
                let rref = RecordRef {
                    object,
                    id,
                    name: r.name.clone(),
                };
                Some((rref, numbers, card))
            })
            .collect();
        self.apply(prepared);
    }

    /// Whether the E.164 forms stored with (up to `sample` of) these records' values are what
    /// the normaliser reads from them today: not so after the dialing rules changed, and then
    /// a start must read every value again.
    pub fn stored_numbers_current(&self, records: &[Record], sample: usize) -> bool {
        let index = self
            .index
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let normaliser = index.normaliser();
        records
            .iter()
            .filter_map(|r| Some((ObjectType::parse(&r.object_type).ok()?, r)))
            .flat_map(|(object, r)| {
                let ctx = number_context(&object, &r.fields);
                r.phones.iter().map(move |p| (ctx, p))
            })
            .take(sample)
            .all(|(ctx, p)| {
                let now = normaliser.classify(&p.raw, ctx).e164();
                now.as_ref().map(E164::as_str) == p.e164.as_deref()
            })
    }

    /// Indexes rows of the record cache as a start reads them: numbers by the E.164 form
    /// stored with each value, not read again (see [`LiveParts::stored_numbers_current`]),
    /// cards from the fields' JSON text without decoding the
    /// fields no card shows.
    pub fn load_rows(&self, rows: &[StoredRow<'_>]) -> Result<(), StoreError> {
        let layout = self.cards.layout();
        let mut prepared = Vec::with_capacity(rows.len());
        for r in rows {
            let (Ok(object), Ok(id)) = (
                ObjectType::parse(r.object_type()),
                SalesforceId::parse(r.sf_id()),
            ) else {
                continue;
            };
            let numbers = Numbers::Stored(
                r.phones()
                    .iter()
                    .filter_map(|p| Some((E164::parse(p.e164.as_deref()?).ok()?, &*p.raw)))
                    .collect(),
            );
            let card = match layout.object(object.as_str()) {
                Some(l) => Some(CardValues::build_from_stored(l, &r.fields()?, r.phones())),
                None => None,
            };
            let rref = RecordRef {
                object,
                id,
                name: r.name().to_owned(),
            };
            prepared.push((rref, numbers, card));
        }
        self.apply(prepared);
        Ok(())
    }

    /// Puts prepared records with their cards into the index.
    fn apply(&self, prepared: Vec<Prepared<'_>>) {
        let mut index = self.index.write();
        for (rref, numbers, card) in prepared {
            match numbers {
                Numbers::Typed(raws, country) => index.insert_in_with(rref, &raws, country, card),
                Numbers::Stored(numbers) => index.insert_e164_with(rref, &numbers, card),
            };
        }
    }

    /// Forgets records.
    pub fn remove(&self, ids: &[SalesforceId]) {
        let mut index = self.index.write();
        for id in ids {
            index.remove(id);
        }
    }

    /// Forgets every record and card (the layout stays).
    pub fn clear(&self) {
        self.index.write().clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use ctibridge_phone::{DialingRules, LibPhoneNormaliser};
    use ctibridge_store::PhoneValue;
    use serde_json::json;

    use super::*;

    fn parts(country: &str) -> LiveParts {
        let rules = DialingRules {
            country: country.into(),
            ..DialingRules::default()
        };
        let n: Arc<dyn Normaliser> = Arc::new(LibPhoneNormaliser::new(rules).unwrap());
        LiveParts::new(n, Arc::new(CardLayout::default()))
    }

    /// Records as the sync stores them: each value with its E.164 form under German rules.
    fn records() -> Vec<Record> {
        let german = parts("DE");
        let index = german.index.inner.read().unwrap();
        let typed = [
            (
                "Contact",
                "003000000000001",
                vec!["030 1234567", "+43 1 5880 0"],
            ),
            ("Account", "001000000000002", vec!["+49 30 9876-0"]),
            ("Lead", "00Q000000000003", vec!["089 12345678", "n/a"]),
        ];
        typed
            .into_iter()
            .map(|(object, id, raws)| Record {
                object_type: object.into(),
                sf_id: id.into(),
                name: format!("{object} {id}"),
                fields: json!({"Email": "x@example.com"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                phones: raws
                    .into_iter()
                    .map(|raw| PhoneValue {
                        field: "Phone".into(),
                        raw: raw.into(),
                        e164: index
                            .normaliser()
                            .classify(raw, ctibridge_phone::NumberContext::Stored)
                            .e164()
                            .map(|e| e.as_str().to_owned()),
                    })
                    .collect(),
                system_modstamp: None,
            })
            .collect()
    }

    #[test]
    fn a_load_by_the_stored_e164_finds_what_reading_the_values_finds() {
        let records = records();
        let (typed, stored) = (parts("DE"), parts("DE"));
        typed.upsert(&records);
        assert!(stored.stored_numbers_current(&records, 64));
        // As the record cache hands them to a start.
        let batch = ctibridge_store::StoredBatch::from_records(&records).unwrap();
        stored.load_rows(&batch.rows().unwrap()).unwrap();
        assert_eq!(typed.index.number_count(), 4);
        assert_eq!(stored.index.number_count(), 4);
        assert_eq!(stored.cards.len(), typed.cards.len());
        for r in &records {
            let id = SalesforceId::parse(&r.sf_id).unwrap();
            assert!(stored.cards.get(&id).is_some(), "{}", r.sf_id);
            assert_eq!(stored.cards.get(&id), typed.cards.get(&id), "{}", r.sf_id);
        }
        for e in ["+49301234567", "+43158800", "+49309876123", "+498912345678"] {
            let e = E164::parse(e).unwrap();
            let found = stored.index.lookup(&e);
            assert!(!found.is_empty(), "{e}");
            assert_eq!(found, typed.index.lookup(&e), "{e}");
        }
    }

    #[test]
    fn a_row_loaded_again_replaces_the_records_numbers_and_card() {
        let mut records = records();
        let parts = parts("DE");
        let batch =
            |records: &[Record]| ctibridge_store::StoredBatch::from_records(records).unwrap();
        parts.load_rows(&batch(&records).rows().unwrap()).unwrap();
        let contact = SalesforceId::parse("003000000000001").unwrap();
        let before = parts.cards.get(&contact);
        // As a changed row of a start's delta: another number, another e-mail.
        records[0].phones = vec![PhoneValue {
            field: "Phone".into(),
            raw: "+49 40 5550111".into(),
            e164: Some("+49405550111".into()),
        }];
        records[0].fields = json!({"Email": "neu@example.com"})
            .as_object()
            .cloned()
            .unwrap();
        parts
            .load_rows(&batch(&records[..1]).rows().unwrap())
            .unwrap();
        assert_eq!(parts.index.len(), 3);
        for old in ["+49301234567", "+43158800"] {
            assert!(
                parts.index.lookup(&E164::parse(old).unwrap()).is_empty(),
                "{old}"
            );
        }
        let found = parts.index.lookup(&E164::parse("+49405550111").unwrap());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].record.id, contact);
        assert_ne!(parts.cards.get(&contact), before);
        assert_eq!(parts.cards.len(), 3);
    }

    #[test]
    fn numbers_stored_under_other_dialing_rules_are_not_trusted() {
        // National numbers stored as German read as Austrian once the rules say AT.
        assert!(!parts("AT").stored_numbers_current(&records(), 64));
    }
}
