//! The phone index and caller cards of an instance as the ring path reads them while the sync
//! changes them in place: a lookup takes a read lock for a hash probe, a sync batch a write
//! lock for a page of records, so neither waits long and no copy of the index is ever made.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{Match, PhoneIndex};
use ctibridge_store::Record;

use crate::cards::{Card, CardLayout, CardValues};

use super::fields::{OBJECTS, country_of};

/// The phone index of an instance, shared between the sync (writer) and the ring path.
#[derive(Clone)]
pub struct LiveIndex {
    inner: Arc<RwLock<PhoneIndex>>,
    /// Which object wins when a number matches records of several (the admin's choice).
    priority: Arc<RwLock<Arc<[ObjectType]>>>,
}

impl LiveIndex {
    /// Shares `index`.
    pub fn new(index: PhoneIndex) -> Self {
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

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, PhoneIndex> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndex")
            .field("records", &self.len())
            .finish_non_exhaustive()
    }
}

/// The caller cards of an instance, shared like [`LiveIndex`], with the layout new cards are
/// built with.
#[derive(Clone, Default)]
pub struct LiveCards {
    inner: Arc<RwLock<HashMap<SalesforceId, CardValues>>>,
    layout: Arc<RwLock<Arc<CardLayout>>>,
}

impl LiveCards {
    /// No cards yet; new ones follow `layout`.
    pub fn with_layout(layout: Arc<CardLayout>) -> Self {
        Self {
            inner: Arc::default(),
            layout: Arc::new(RwLock::new(layout)),
        }
    }

    /// The card of a record, with its labels (made now: the lock is not held while the
    /// caller uses it).
    pub fn get(&self, id: &SalesforceId) -> Option<Card> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
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
        let mut book = self.write();
        for card in book.values_mut() {
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
            .len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<SalesforceId, CardValues>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LiveCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCards")
            .field("cards", &self.len())
            .finish_non_exhaustive()
    }
}

/// The index and the cards of an instance, changed together.
#[derive(Clone, Debug)]
pub(crate) struct LiveParts {
    pub index: LiveIndex,
    pub cards: LiveCards,
}

impl LiveParts {
    /// Indexes records (replacing what was indexed for their ids) and refreshes their cards.
    pub fn upsert(&self, records: &[Record]) {
        type Prepared<'a> = (
            RecordRef,
            Vec<&'a str>,
            Option<ctibridge_phone::CountryHint>,
            Option<CardValues>,
        );
        // Cards and numbers are worked out before either lock is taken.
        let layout = self.cards.layout();
        let prepared: Vec<Prepared<'_>> = records
            .iter()
            .filter_map(|r| {
                let object = ObjectType::parse(&r.object_type).ok()?;
                let id = SalesforceId::parse(&r.sf_id).ok()?;
                let raws = r.phones.iter().map(|p| p.raw.as_str()).collect();
                let country = country_of(&object, &r.fields);
                let card = layout
                    .object(object.as_str())
                    .map(|l| CardValues::build_with_phones(l, &r.fields, &r.phones));
                let rref = RecordRef {
                    object,
                    id,
                    name: r.name.clone(),
                };
                Some((rref, raws, country, card))
            })
            .collect();
        let mut cards = Vec::with_capacity(prepared.len());
        {
            let mut index = self.index.write();
            for (rref, raws, country, card) in prepared {
                cards.push((rref.id, card));
                index.insert_in(rref, &raws, country);
            }
        }
        let mut book = self.cards.write();
        for (id, card) in cards {
            match card {
                Some(card) => book.insert(id, card),
                None => book.remove(&id),
            };
        }
    }

    /// Forgets records.
    pub fn remove(&self, ids: &[SalesforceId]) {
        {
            let mut index = self.index.write();
            for id in ids {
                index.remove(id);
            }
        }
        let mut book = self.cards.write();
        for id in ids {
            book.remove(id);
        }
    }
}
