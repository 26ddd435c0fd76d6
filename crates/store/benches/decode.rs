//! Decoding a batch of cached records as a start reads them (`StoredBatch`): into owned
//! records with every field (`decode`, the baseline, what a start did before) against rows
//! borrowed from the text (`rows`), alone and with the card's fields looked up.

#![allow(clippy::unwrap_used)] // a bench may unwrap: a panic is a failed run

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctibridge_store::StoredBatch;
use serde_json::{Value, json};

/// Rows per batch, as the connector's load reads them.
const BATCH: usize = 2_000;

/// One Contact row as the sync stores it (card, logging, export and country fields).
fn contact(i: usize) -> Value {
    json!([
        "Contact",
        format!("003{i:015}"),
        format!("Person {i}"),
        {
            "Id": format!("003{i:015}"),
            "Name": format!("Person {i}"),
            "SystemModstamp": "2026-11-20T09:15:00.000+0000",
            "Account": {"Name": format!("Company {}", i / 7)},
            "AccountId": format!("001{:015}", i / 7),
            "Title": "Einkauf",
            "Email": format!("person{i}@example.com"),
            "Owner": {"Name": format!("Owner {}", i % 50)},
            "OwnerId": format!("005{:015}", i % 50),
            "FirstName": "Person",
            "LastName": format!("{i}"),
            "Salutation": "Ms.",
            "MailingStreet": format!("Hauptstraße {}", i % 200),
            "MailingPostalCode": "80331",
            "MailingCity": "München",
            "MailingCountry": "Germany",
        },
        [
            {"field": "Phone", "raw": "+49 89 1234567", "e164": "+49891234567"},
            {"field": "MobilePhone", "raw": "0151 2345678", "e164": "+491512345678"},
        ],
        1_763_630_100_000i64,
    ])
}

fn batch() -> StoredBatch {
    let mut batch = StoredBatch::default();
    for row in (0..BATCH).map(contact) {
        let text = |i: usize| match &row[i] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        batch.push(
            [&text(0), &text(1), &text(2), &text(3), &text(4)],
            row[5].as_i64(),
            false,
        );
    }
    batch
}

/// The fields a Contact card reads with the default layout, and the address country.
const CARD_FIELDS: [&str; 6] = [
    "Name",
    "Account",
    "Title",
    "Email",
    "Owner",
    "MailingCountry",
];

fn decode(c: &mut Criterion) {
    let batch = batch();
    let mut g = c.benchmark_group("stored_batch");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("decode_every_field", |b| {
        b.iter(|| batch.decode().unwrap());
    });
    g.bench_function("rows_borrowed", |b| {
        b.iter(|| batch.rows().unwrap());
    });
    // What a start does with each row: its fields split at the top level and the card's
    // fields looked up (values stay JSON text).
    g.bench_function("rows_borrowed_with_card_fields", |b| {
        b.iter(|| {
            let rows = batch.rows().unwrap();
            rows.iter()
                .map(|r| {
                    let fields = r.fields().unwrap();
                    CARD_FIELDS
                        .iter()
                        .filter_map(|f| fields.get(f))
                        .map(|v| v.get().len())
                        .sum::<usize>()
                })
                .sum::<usize>()
        });
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
