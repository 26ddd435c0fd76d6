//! Benchmarks of the ring path's number work: normalising messy input, probing the index by
//! E.164, and a raw PBX number to its matches over an index of 1M numbers.
//!
//! `cargo bench -p ctibridge-phone --bench phone` (see docs/PERFORMANCE.md). Inputs are
//! generated from a fixed seed, so two runs measure the same work.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up: a panic is a failed run

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::{
    DialingRules, LibPhoneNormaliser, Normaliser, NumberContext, PhoneIndex, ReadingsMemo,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Numbers in the big index.
const INDEXED: usize = 1_000_000;
/// Inputs per measured batch (throughput is reported per element).
const BATCH: usize = 1_000;

fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|i| {
            let min = if i == 0 { 1 } else { 0 };
            char::from(b'0' + rng.random_range(min..10u8))
        })
        .collect()
}

/// A valid-looking E.164 number of a place our customers call: Berlin, Munich, Hamburg,
/// German mobiles, Vienna, Zurich, New York.
fn e164(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..7u8) {
        0 => format!("+4930{}", digits(rng, 7)),
        1 => format!("+4989{}", digits(rng, 8)),
        2 => format!("+4940{}", digits(rng, 8)),
        3 => format!("+49151{}", digits(rng, 8)),
        4 => format!("+431{}", digits(rng, 7)),
        5 => format!("+4144{}", digits(rng, 7)),
        _ => format!("+1212{}{}", rng.random_range(2..10u8), digits(rng, 6)),
    }
}

/// Splits an E.164 number into country code and national significant number.
fn split(e: &str) -> (&str, &str) {
    let d = &e[1..];
    let cc_len = if d.starts_with('1') { 1 } else { 2 };
    d.split_at(cc_len)
}

/// The number as a person might have typed it into Salesforce.
fn messy(rng: &mut ChaCha8Rng, e: &str) -> String {
    let (cc, nsn) = split(e);
    let (area, rest) = nsn.split_at(if cc == "1" { 3 } else { 2.min(nsn.len()) });
    let national = if cc == "1" {
        format!("({area}) {}-{}", &rest[..3], &rest[3..])
    } else {
        format!("0{area} {rest}")
    };
    match rng.random_range(0..10u8) {
        0 => e.to_owned(),
        1 => format!("+{cc} {area} {rest}"),
        2 => format!("+{cc} (0){area} {}", spaced(rest)),
        3 => format!("00{cc} {area}/{rest}"),
        4 => national,
        5 => format!("{national} (privat)"),
        6 => format!("+{cc}-{area}-{rest} x{}", rng.random_range(1..99u8)),
        7 => format!("Tel.: +{cc} {area} {rest}"),
        8 => format!("{national} DW {}", rng.random_range(10..99u8)),
        _ => ["n/a", "", "call me", "+49 30", "0800 oder 0171"][rng.random_range(0..5usize)]
            .to_owned(),
    }
}

fn spaced(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The number as a German PBX with outside-line prefix `0` reports it (see the emulator's
/// `NumberFormat`).
fn from_pbx(rng: &mut ChaCha8Rng, e: &str) -> String {
    pbx_form(rng.random_range(0..4u8), e)
}

/// The forms of [`from_pbx`]: 0 as E.164, 1 international (`00...`), 2 national (`0...`,
/// foreign numbers international), 3 form 2 after the outside-line prefix.
fn pbx_form(form: u8, e: &str) -> String {
    let digits = &e[1..];
    let national = digits.strip_prefix("49").map(|r| format!("0{r}"));
    match form {
        0 => e.to_owned(),
        1 => format!("00{digits}"),
        2 => national.unwrap_or_else(|| format!("00{digits}")),
        _ => format!("0{}", national.unwrap_or_else(|| format!("00{digits}"))),
    }
}

fn normaliser() -> Arc<LibPhoneNormaliser> {
    Arc::new(LibPhoneNormaliser::new(DialingRules::default()).expect("default dialing rules"))
}

fn id(prefix: &str, n: usize) -> SalesforceId {
    SalesforceId::parse(&format!("{prefix}{n:012}")).expect("a 15-character id")
}

/// An index of `INDEXED` E.164 numbers, one Contact each, and the numbers in it.
fn big_index(n: Arc<LibPhoneNormaliser>) -> (PhoneIndex, Vec<E164>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut index = PhoneIndex::new(n);
    let mut numbers = Vec::with_capacity(INDEXED);
    let mut i = 0;
    while index.number_count() < INDEXED {
        let e = e164(&mut rng);
        let record = RecordRef {
            object: ObjectType::Contact,
            id: id("003", i),
            name: format!("Contact {i}"),
        };
        i += 1;
        if index.insert(record, &[e.as_str()]).numbers == 1 {
            numbers.push(E164::parse(&e).expect("the index took it"));
        }
    }
    (index, numbers)
}

/// What the ring path does with the far end's number (server `calls::identify` without the
/// caller cards): every reading of the PBX string, the first that matches a record wins.
fn raw_to_matches(index: &PhoneIndex, raw: &str) -> Vec<ctibridge_phone::Match> {
    let readings = index.normaliser().pbx_readings(raw);
    readings
        .iter()
        .filter_map(|r| r.e164())
        .map(|e| index.lookup(&e))
        .find(|m| !m.is_empty())
        .unwrap_or_default()
}

/// [`raw_to_matches`] with the readings from a memo, as the ring path reads the number on
/// every event of a call after its first one.
fn raw_to_matches_memo(
    index: &PhoneIndex,
    memo: &ReadingsMemo,
    raw: &str,
) -> Vec<ctibridge_phone::Match> {
    let readings = memo.pbx_readings(index.normaliser(), raw);
    readings
        .iter()
        .filter_map(|r| r.e164())
        .map(|e| index.lookup(&e))
        .find(|m| !m.is_empty())
        .unwrap_or_default()
}

/// What the ring path does since session 3 (`calls::identify`): the first matching reading,
/// found without validating a number that matches ([`Normaliser::pbx_first_match`]).
fn raw_to_matches_first(index: &PhoneIndex, raw: &str) -> Vec<ctibridge_phone::Match> {
    raw_to_matches_first_by(index.normaliser(), index, raw)
}

/// [`raw_to_matches_first`] with another normaliser than the index's.
fn raw_to_matches_first_by(
    n: &dyn Normaliser,
    index: &PhoneIndex,
    raw: &str,
) -> Vec<ctibridge_phone::Match> {
    let mut found = Vec::new();
    let hit = n.pbx_first_match(raw, &mut |e| {
        found = index.lookup(e);
        !found.is_empty()
    });
    if hit.is_err() {
        found.clear();
    }
    found
}

/// [`raw_to_matches_first`] through the memo, as `calls::identify` calls it.
fn raw_to_matches_first_memo(
    index: &PhoneIndex,
    memo: &ReadingsMemo,
    raw: &str,
) -> Vec<ctibridge_phone::Match> {
    let mut found = Vec::new();
    let hit = memo.first_match(index.normaliser(), raw, &mut |e| {
        found = index.lookup(e);
        !found.is_empty()
    });
    if hit.is_err() {
        found.clear();
    }
    found
}

fn normalise(c: &mut Criterion) {
    let n = normaliser();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let stored: Vec<String> = (0..BATCH)
        .map(|_| {
            let e = e164(&mut rng);
            messy(&mut rng, &e)
        })
        .collect();
    let pbx: Vec<String> = (0..BATCH)
        .map(|_| {
            let e = e164(&mut rng);
            from_pbx(&mut rng, &e)
        })
        .collect();
    let mut g = c.benchmark_group("normalise");
    g.throughput(Throughput::Elements(BATCH as u64));
    // The floor under our rules: libphonenumber's own parse + is_valid + E.164 format of the
    // same PBX strings (German region), with none of our cleaning or second readings.
    let util = rlibphonenumber::PhoneNumberUtil::new().expect("metadata");
    g.bench_function("baseline_libphonenumber_parse_validate_format", |b| {
        b.iter(|| {
            for s in &pbx {
                let n = util.parse(black_box(s), Some(rlibphonenumber::Region::DE));
                if let Ok(n) = n
                    && util.is_valid_number(&n)
                {
                    black_box(util.format(&n, rlibphonenumber::PhoneNumberFormat::E164));
                }
            }
        })
    });
    // The same without `is_valid_number`: what parsing alone costs.
    g.bench_function("libphonenumber_parse_format_without_validation", |b| {
        b.iter(|| {
            for s in &pbx {
                if let Ok(n) = util.parse(black_box(s), Some(rlibphonenumber::Region::DE)) {
                    black_box(util.format(&n, rlibphonenumber::PhoneNumberFormat::E164));
                }
            }
        })
    });
    g.bench_function("stored_messy", |b| {
        b.iter(|| {
            for s in &stored {
                black_box(n.classify(black_box(s), NumberContext::Stored));
            }
        })
    });
    g.bench_function("from_pbx", |b| {
        b.iter(|| {
            for s in &pbx {
                black_box(n.classify(black_box(s), NumberContext::FromPbx));
            }
        })
    });
    g.bench_function("pbx_readings", |b| {
        b.iter(|| {
            for s in &pbx {
                black_box(n.pbx_readings(black_box(s)));
            }
        })
    });
    g.finish();
}

/// The 1M index and the probes run against it.
struct Fixture {
    index: PhoneIndex,
    hits: Vec<E164>,
    misses: Vec<E164>,
    raw_hits: Vec<String>,
    raw_misses: Vec<String>,
}

fn fixture(n: &Arc<LibPhoneNormaliser>) -> Fixture {
    let (index, numbers) = big_index(n.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let hits: Vec<E164> = (0..BATCH)
        .map(|_| numbers[rng.random_range(0..numbers.len())])
        .collect();
    // Fresh random numbers: almost all miss, as most callers are in no CRM.
    let misses: Vec<E164> = (0..BATCH)
        .map(|_| E164::parse(&e164(&mut rng)).expect("generated in E.164 form"))
        .collect();
    let raw_hits = hits
        .iter()
        .map(|e| from_pbx(&mut rng, e.as_str()))
        .collect();
    let raw_misses = misses
        .iter()
        .map(|e| from_pbx(&mut rng, e.as_str()))
        .collect();
    Fixture {
        index,
        hits,
        misses,
        raw_hits,
        raw_misses,
    }
}

fn index(c: &mut Criterion) {
    let n = normaliser();
    // Built once, and only when a benchmark that needs it is selected.
    let cell = std::sync::OnceLock::new();
    let f = || cell.get_or_init(|| fixture(&n));

    let mut g = c.benchmark_group("index_1m");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("probe_e164_hit", |b| {
        let f = f();
        b.iter(|| {
            for e in &f.hits {
                black_box(f.index.lookup(black_box(e)));
            }
        })
    });
    g.bench_function("probe_e164_miss", |b| {
        let f = f();
        b.iter(|| {
            for e in &f.misses {
                black_box(f.index.lookup(black_box(e)));
            }
        })
    });
    g.bench_function("raw_pbx_number_to_matches_hit", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_hits {
                black_box(raw_to_matches(&f.index, black_box(s)));
            }
        })
    });
    g.bench_function("raw_pbx_number_to_matches_miss", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_misses {
                black_box(raw_to_matches(&f.index, black_box(s)));
            }
        })
    });
    g.bench_function("raw_pbx_number_to_matches_first_hit", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_hits {
                black_box(raw_to_matches_first(&f.index, black_box(s)));
            }
        })
    });
    g.bench_function("raw_pbx_number_to_matches_first_miss", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_misses {
                black_box(raw_to_matches_first(&f.index, black_box(s)));
            }
        })
    });
    // Unknown callers by the form the PBX reports them in.
    for (form, name) in ["e164", "international", "national", "prefix_national"]
        .into_iter()
        .enumerate()
    {
        let raws = std::sync::OnceLock::new();
        let raws = || {
            raws.get_or_init(|| {
                f().misses
                    .iter()
                    .map(|e| pbx_form(form as u8, e.as_str()))
                    .collect::<Vec<_>>()
            })
        };
        g.bench_function(
            format!("raw_pbx_number_to_matches_first_miss_{name}"),
            |b| {
                let (f, raws) = (f(), raws());
                b.iter(|| {
                    for s in raws {
                        black_box(raw_to_matches_first(&f.index, black_box(s)));
                    }
                })
            },
        );
    }
    // The same with every number parsed (no literal reading of plain numbers): the baseline
    // of `..._first_*` in the same run.
    let parsed_only =
        LibPhoneNormaliser::new(DialingRules::default()).map(|n| n.without_literal_readings());
    let parsed_only = parsed_only.expect("default dialing rules");
    g.bench_function("raw_pbx_number_to_matches_first_hit_parsed", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_hits {
                black_box(raw_to_matches_first_by(
                    &parsed_only,
                    &f.index,
                    black_box(s),
                ));
            }
        })
    });
    g.bench_function("raw_pbx_number_to_matches_first_miss_parsed", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_misses {
                black_box(raw_to_matches_first_by(
                    &parsed_only,
                    &f.index,
                    black_box(s),
                ));
            }
        })
    });
    let first_memo = ReadingsMemo::new(4096);
    g.bench_function("raw_pbx_number_to_matches_first_hit_memo", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_hits {
                black_box(raw_to_matches_first_memo(
                    &f.index,
                    &first_memo,
                    black_box(s),
                ));
            }
        })
    });
    // Later events of the same calls: the memo (as big as the server's) holds the strings.
    let memo = ReadingsMemo::new(4096);
    g.bench_function("raw_pbx_number_to_matches_hit_memo", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_hits {
                black_box(raw_to_matches_memo(&f.index, &memo, black_box(s)));
            }
        })
    });
    g.bench_function("raw_pbx_number_to_matches_miss_memo", |b| {
        let f = f();
        b.iter(|| {
            for s in &f.raw_misses {
                black_box(raw_to_matches_memo(&f.index, &memo, black_box(s)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("index_build");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let records: Vec<(RecordRef, String)> = (0..BATCH)
        .map(|i| {
            let e = e164(&mut rng);
            let raw = messy(&mut rng, &e);
            let r = RecordRef {
                object: ObjectType::Contact,
                id: id("003", INDEXED * 2 + i),
                name: format!("New {i}"),
            };
            (r, raw)
        })
        .collect();
    g.bench_function("insert_messy", |b| {
        b.iter_batched(
            || (PhoneIndex::new(n.clone()), records.clone()),
            |(mut index, records)| {
                for (r, raw) in records {
                    black_box(index.insert(r, &[raw]));
                }
                index
            },
            BatchSize::SmallInput,
        )
    });
    // A start from the record cache, which holds each value's E.164 form.
    let stored: Vec<(RecordRef, E164, String)> = records
        .iter()
        .filter_map(|(r, raw)| {
            let e = n.classify(raw, NumberContext::Stored).e164()?;
            Some((r.clone(), e, raw.clone()))
        })
        .collect();
    g.bench_function("insert_e164_from_cache", |b| {
        b.iter_batched(
            || (PhoneIndex::new(n.clone()), stored.clone()),
            |(mut index, records)| {
                for (r, e, raw) in records {
                    black_box(index.insert_e164(r, &[(e, raw)]));
                }
                index
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    // Modest samples: the whole file runs in about a minute on a 2-core machine.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = normalise, index
}
criterion_main!(benches);
