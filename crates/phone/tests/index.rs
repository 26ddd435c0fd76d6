//! The phone index: exact matches, switchboard extensions, replacement and removal.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use std::sync::Arc;

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{
    DialingRules, InsertSummary, LibPhoneNormaliser, MatchStrength, NumberContext, PhoneIndex,
};

fn index() -> PhoneIndex {
    PhoneIndex::new(Arc::new(
        LibPhoneNormaliser::new(DialingRules::default()).unwrap(),
    ))
}

fn record(object: ObjectType, id15: &str, name: &str) -> RecordRef {
    RecordRef {
        object,
        id: SalesforceId::parse(id15).unwrap(),
        name: name.into(),
    }
}

fn contact(n: u32, name: &str) -> RecordRef {
    record(ObjectType::Contact, &format!("003D00000{n:06}"), name)
}

fn lead(n: u32, name: &str) -> RecordRef {
    record(ObjectType::Lead, &format!("00QD00000{n:06}"), name)
}

fn account(n: u32, name: &str) -> RecordRef {
    record(ObjectType::Account, &format!("001D00000{n:06}"), name)
}

fn e164(s: &str) -> E164 {
    E164::parse(s).unwrap()
}

fn names(index: &PhoneIndex, number: &str) -> Vec<(String, MatchStrength)> {
    index
        .lookup(&e164(number))
        .into_iter()
        .map(|m| (m.record.name.clone(), m.strength))
        .collect()
}

use MatchStrength::{Exact, SwitchboardExtension as Weak};

#[test]
fn a_number_typed_any_way_finds_its_record() {
    let mut idx = index();
    let summary = idx.insert(
        contact(1, "Ada"),
        &["+49 (0)30 123456-7", "0171/1234567", "", "n/a"],
    );
    assert_eq!(
        summary,
        InsertSummary {
            numbers: 2,
            switchboards: 0,
            skipped: 0
        }
    );
    assert_eq!(names(&idx, "+49301234567"), vec![("Ada".to_owned(), Exact)]);
    assert_eq!(
        names(&idx, "+491711234567"),
        vec![("Ada".to_owned(), Exact)]
    );
    assert!(idx.lookup(&e164("+49301234568")).is_empty());
}

#[test]
fn a_pbx_number_with_the_outside_line_prefix_finds_the_record() {
    let mut idx = index();
    idx.insert(contact(1, "Ada"), &["+43 (0)316 642105"]);
    let from_pbx = idx
        .normaliser()
        .classify("0043316642105", NumberContext::FromPbx);
    let found = idx.lookup(&from_pbx.e164().unwrap());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.name, "Ada");
}

#[test]
fn a_number_shared_by_several_records_returns_all_people_first() {
    let mut idx = index();
    idx.insert(account(1, "Acme GmbH"), &["030 1234567"]);
    idx.insert(lead(2, "Lea Lead"), &["+49 30 1234567"]);
    idx.insert(contact(3, "Carl"), &["0049 30 1234567"]);
    idx.insert(contact(2, "Bea"), &["+49-30-1234567"]);
    assert_eq!(
        names(&idx, "+49301234567"),
        vec![
            ("Bea".to_owned(), Exact),
            ("Carl".to_owned(), Exact),
            ("Lea Lead".to_owned(), Exact),
            ("Acme GmbH".to_owned(), Exact),
        ]
    );
}

#[test]
fn the_same_number_in_two_fields_is_indexed_once() {
    let mut idx = index();
    let summary = idx.insert(contact(1, "Ada"), &["030 1234567", "+49 30 1234567"]);
    assert_eq!(summary.numbers, 1);
    assert_eq!(idx.lookup(&e164("+49301234567")).len(), 1);
    assert_eq!(idx.number_count(), 1);
}

#[test]
fn invalid_and_internal_values_are_skipped_and_counted() {
    let mut idx = index();
    let summary = idx.insert(contact(1, "Ada"), &["call me", "201", "030 1234567"]);
    assert_eq!(
        summary,
        InsertSummary {
            numbers: 1,
            switchboards: 0,
            skipped: 2
        }
    );
    let summary = idx.insert(contact(2, "Nobody"), &["", "n/a"]);
    assert_eq!(summary, InsertSummary::default());
    assert_eq!(idx.len(), 1, "a record without numbers is not indexed");
}

#[test]
fn inserting_a_record_again_replaces_its_numbers() {
    let mut idx = index();
    idx.insert(contact(1, "Ada"), &["030 1234567"]);
    idx.insert(contact(1, "Ada Lovelace"), &["089 12345678"]);
    assert!(idx.lookup(&e164("+49301234567")).is_empty());
    assert_eq!(
        names(&idx, "+498912345678"),
        vec![("Ada Lovelace".to_owned(), Exact)]
    );
    assert_eq!(idx.len(), 1);
    assert_eq!(idx.number_count(), 1);
}

#[test]
fn removing_a_record_drops_its_numbers_and_switchboard() {
    let mut idx = index();
    let acme = account(1, "Acme GmbH");
    let id = acme.id;
    idx.insert(acme, &["+49 30 1234-0"]);
    idx.insert(contact(2, "Bea"), &["+49 30 1234-0"]);
    assert!(idx.remove(&id));
    assert!(!idx.remove(&id));
    assert_eq!(names(&idx, "+493012340"), vec![("Bea".to_owned(), Exact)]);
    assert!(idx.lookup(&e164("+49301234567")).is_empty());
    assert_eq!(idx.len(), 1);
    // Removal by the 15-character id works too: ids compare in their 18-character form.
    assert!(idx.remove(&SalesforceId::parse("003D00000000002").unwrap()));
    assert!(idx.is_empty());
    assert_eq!(idx.number_count(), 0);
}

#[test]
fn extensions_of_an_account_switchboard_match_it_weakly() {
    let mut idx = index();
    let summary = idx.insert(account(1, "Acme GmbH"), &["+49 30 1234-0"]);
    assert_eq!(
        summary,
        InsertSummary {
            numbers: 1,
            switchboards: 1,
            skipped: 0
        }
    );
    let acme_weak = vec![("Acme GmbH".to_owned(), Weak)];
    assert_eq!(names(&idx, "+49301234567"), acme_weak);
    assert_eq!(names(&idx, "+4930123455"), acme_weak);
    assert_eq!(names(&idx, "+493012345"), acme_weak);
    assert_eq!(names(&idx, "+493012345678"), acme_weak);
    // The main line itself is exact, once.
    assert_eq!(
        names(&idx, "+493012340"),
        vec![("Acme GmbH".to_owned(), Exact)]
    );
    // Five extra digits, another block, or the block without extension: no match.
    assert!(idx.lookup(&e164("+4930123456789")).is_empty());
    assert!(idx.lookup(&e164("+49301235567")).is_empty());
    assert!(idx.lookup(&e164("+49301234")).is_empty());
}

#[test]
fn a_person_at_an_extension_comes_before_the_company_switchboard() {
    let mut idx = index();
    idx.insert(account(1, "Acme GmbH"), &["030 1234-0"]);
    idx.insert(contact(2, "Bea"), &["+49 30 1234-567"]);
    assert_eq!(
        names(&idx, "+49301234567"),
        vec![("Bea".to_owned(), Exact), ("Acme GmbH".to_owned(), Weak)]
    );
}

#[test]
fn austrian_switchboards_written_with_a_space_count_too() {
    let mut idx = index();
    idx.insert(account(1, "Wien AG"), &["+43 1 5880 0"]);
    assert_eq!(
        names(&idx, "+4315880123"),
        vec![("Wien AG".to_owned(), Weak)]
    );
}

#[test]
fn only_accounts_register_switchboards() {
    let mut idx = index();
    let summary = idx.insert(contact(1, "Ada"), &["+49 30 1234-0"]);
    assert_eq!(summary.switchboards, 0);
    assert!(idx.lookup(&e164("+49301234567")).is_empty());
    // A main line not written with a separate 0 is just a number.
    idx.insert(account(2, "Plain AG"), &["+49 40 303700"]);
    assert!(idx.lookup(&e164("+494030370123")).is_empty());
}

#[test]
fn a_large_index_answers_every_number_it_holds() {
    let mut idx = index();
    for n in 0..20_000u32 {
        let phone = format!("030 {:07}", 2_000_000 + n);
        idx.insert(contact(n, &format!("C{n}")), &[phone]);
    }
    assert_eq!(idx.len(), 20_000);
    for n in (0..20_000u32).step_by(997) {
        let found = idx.lookup(&e164(&format!("+4930{:07}", 2_000_000 + n)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].record.name, format!("C{n}"));
    }
}
