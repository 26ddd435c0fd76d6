//! The phone index and caller cards of an instance as the ring path reads them while the sync
//! changes them in place: a lookup takes a read lock for a hash probe, a sync batch a write
//! lock for a page of records, so neither waits long and no copy of the index is ever made.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{Match, PhoneIndex};
use ctibridge_store::Record;
use serde_json::{Map, Value};

use crate::cards::{Card, CardBook};

use super::fields::country_of;

/// The phone index of an instance, shared between the sync (writer) and the ring path.
#[derive(Clone)]
pub struct LiveIndex {
    inner: Arc<RwLock<PhoneIndex>>,
}

impl LiveIndex {
    /// Shares `index`.
    pub fn new(index: PhoneIndex) -> Self {
        Self {
            inner: Arc::new(RwLock::new(index)),
        }
    }

    /// The records for `number` (see [`PhoneIndex::lookup`]).
    pub fn lookup(&self, number: &E164) -> Vec<Match> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .lookup(number)
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

/// The caller cards of an instance, shared like [`LiveIndex`].
#[derive(Clone, Default)]
pub struct LiveCards {
    inner: Arc<RwLock<HashMap<SalesforceId, Card>>>,
}

impl LiveCards {
    /// The card of a record (a copy: the lock is not held while the caller uses it).
    pub fn get(&self, id: &SalesforceId) -> Option<Card> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
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

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<SalesforceId, Card>> {
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

/// The card of one record, built by the card rules of [`CardBook`].
fn card_of(id: SalesforceId, object: &str, fields: &Map<String, Value>) -> Option<Card> {
    // CardBook owns the card rules (fields, labels, formatting); a book of one applies them
    // without a second copy of those rules here.
    let mut one = CardBook::default();
    one.insert(id, object, fields);
    one.get(&id).cloned()
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
            Option<Card>,
        );
        // Cards and numbers are worked out before either lock is taken.
        let prepared: Vec<Prepared<'_>> = records
            .iter()
            .filter_map(|r| {
                let object = ObjectType::parse(&r.object_type).ok()?;
                let id = SalesforceId::parse(&r.sf_id).ok()?;
                let raws = r.phones.iter().map(|p| p.raw.as_str()).collect();
                let country = country_of(&object, &r.fields);
                let card = card_of(id, object.as_str(), &r.fields);
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
