//! `pbx_first_match` (the ring path's cheap way to a caller's record: no validation of a
//! number that matches) gives exactly the first matching reading of `pbx_readings`, for every
//! form a PBX sends, junk included, under several dialing rules, and whatever subset of the
//! readings the index holds.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use std::collections::HashSet;

use ctibridge_domain::E164;
use ctibridge_phone::{DialingRules, LibPhoneNormaliser, Normaliser, NumberContext, ReadingsMemo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// National significant numbers and country codes of plans with and without trunk prefix.
const PLANS: &[(&str, &str, &[&str])] = &[
    ("49", "0", &["30", "89", "151", "221", "4121"]),
    ("43", "0", &["1", "662", "664"]),
    ("41", "0", &["44", "79", "31"]),
    ("1", "1", &["415", "212", "650"]),
    ("39", "", &["06", "02", "347"]),
    ("33", "0", &["1", "6", "4"]),
    ("44", "0", &["20", "7700", "161"]),
    ("221", "", &["33", "77"]),
];

fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|i| char::from(b'0' + rng.random_range(if i == 0 { 2 } else { 0 }..10u8)))
        .collect()
}

/// A number as a PBX or a person may write it, with or without the outside-line prefix.
fn pbx_string(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..20u8) {
        0 => [
            "",
            "anonymous",
            "unknown",
            "201",
            "0",
            "00",
            "+",
            "n/a",
            "***",
        ][rng.random_range(0..9)]
        .to_owned(),
        1 => {
            let len = rng.random_range(1..20);
            digits(rng, len)
        }
        2 => {
            let len = rng.random_range(3..17);
            format!("+{}", digits(rng, len))
        }
        3 => "9".repeat(300),
        _ => {
            let (cc, trunk, areas) = PLANS[rng.random_range(0..PLANS.len())];
            let area = areas[rng.random_range(0..areas.len())];
            let len = rng.random_range(4..9);
            let sub = digits(rng, len);
            let written = match rng.random_range(0..9u8) {
                0 => format!("+{cc}{area}{sub}"),
                1 => format!("+{cc} {area} {sub}"),
                2 => format!("00{cc}{area}{sub}"),
                3 => format!("{trunk}{area}{sub}"),
                4 => format!("{trunk}{area}/{sub}"),
                5 => format!("+{cc} ({trunk}){area} {sub}"),
                6 => format!("+{cc} {area} {sub} ext. {}", digits(rng, 2)),
                7 => format!("({trunk}{area}) {sub}-0"),
                _ => format!("{area}{sub}"),
            };
            match rng.random_range(0..3u8) {
                0 => format!("0{written}"),
                1 => format!(" {written} "),
                _ => written,
            }
        }
    }
}

/// Every E.164 number `raw` could be by slicing: after `+`, after an international prefix,
/// after a trunk prefix (any plan's country code), each also without a leading `0` or `9`
/// (outside-line prefixes).
fn literal_candidates(raw: &str) -> Vec<E164> {
    let s = raw.trim();
    let mut found = Vec::new();
    for x in [
        s,
        s.strip_prefix('0').unwrap_or(s),
        s.strip_prefix('9').unwrap_or(s),
    ] {
        let mut digit_runs = vec![];
        if let Some(d) = x.strip_prefix('+') {
            digit_runs.push(d.to_owned());
        }
        for idd in ["00", "011"] {
            if let Some(d) = x.strip_prefix(idd) {
                digit_runs.push(d.to_owned());
            }
        }
        for (cc, trunk, _) in PLANS {
            if let Some(d) = x.strip_prefix(trunk) {
                digit_runs.push(format!("{cc}{d}"));
            }
        }
        found.extend(
            digit_runs
                .iter()
                .filter_map(|d| E164::parse(&format!("+{d}")).ok()),
        );
    }
    found
}

fn normalisers() -> Vec<LibPhoneNormaliser> {
    built(&[
        ("DE", "0", 4),
        ("DE", "", 3),
        ("AT", "0", 4),
        ("US", "9", 4),
        ("CH", "0", 0),
    ])
}

fn built(rules: &[(&str, &str, usize)]) -> Vec<LibPhoneNormaliser> {
    rules
        .iter()
        .map(|&(country, prefix, internal)| {
            LibPhoneNormaliser::new(DialingRules {
                country: country.into(),
                outside_line_prefix: prefix.into(),
                internal_number_max_len: internal,
            })
            .unwrap()
        })
        .collect()
}

#[test]
fn the_first_match_without_validation_is_the_first_matching_reading() {
    let (checked, hits, second_reading_hits) = compare(&normalisers(), 11, 6_000);
    // The generator reaches both outcomes often, and matches of a later reading (a number
    // with the outside-line prefix valid both ways) too.
    assert!(
        hits > checked / 10 && hits < checked * 9 / 10,
        "{hits} of {checked}"
    );
    assert!(second_reading_hits > 20, "{second_reading_hits} of {hits}");
}

/// The same under plans with national-prefix rewriting (Argentina's `15`, Madagascar's `20`),
/// a trunk prefix other than `0` (Russia), and a small plan inside a shared code (Norfolk).
#[test]
fn the_first_match_is_the_first_matching_reading_under_unusual_plans_too() {
    let rules = [
        ("AR", "0", 4),
        ("RU", "0", 3),
        ("MG", "0", 3),
        ("NF", "0", 3),
    ];
    let (checked, hits, _) = compare(&built(&rules), 13, 3_000);
    assert!(
        hits > checked / 10 && hits < checked * 9 / 10,
        "{hits} of {checked}"
    );
}

/// Compares `pbx_first_match` with the first matching reading of `pbx_readings` for `strings`
/// PBX strings under each normaliser; gives the comparisons, the matches, and the matches of a
/// later reading.
fn compare(normalisers: &[LibPhoneNormaliser], seed: u64, strings: usize) -> (usize, usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut checked = 0;
    let mut hits = 0;
    let mut second_reading_hits = 0;
    for _ in 0..strings {
        let raw = pbx_string(&mut rng);
        for n in normalisers {
            let readings = n.pbx_readings(&raw);
            // The index holds valid numbers only: some of this string's readings, and numbers
            // of other records.
            let mut indexed: HashSet<E164> = readings
                .iter()
                .filter_map(|r| r.e164())
                .filter(|_| rng.random_bool(0.5))
                .collect();
            // And numbers the string is, read literally (digits sliced, not parsed): the ring
            // path takes those without libphonenumber, so they must be its readings too.
            for e in literal_candidates(&raw) {
                if n.classify(e.as_str(), NumberContext::Stored).e164() == Some(e)
                    && rng.random_bool(0.5)
                {
                    indexed.insert(e);
                }
            }
            for _ in 0..2 {
                let other = pbx_string(&mut rng);
                if let Some(e) = n.classify(&other, NumberContext::Stored).e164() {
                    indexed.insert(e);
                }
            }
            // Without a match, every reading (the panel shows the first).
            let slow = readings
                .iter()
                .find(|r| r.e164().is_some_and(|e| indexed.contains(&e)))
                .cloned()
                .ok_or_else(|| readings.clone());
            let mut last_asked = None;
            let fast = n.pbx_first_match(&raw, &mut |e| {
                last_asked = Some(*e);
                indexed.contains(e)
            });
            assert_eq!(fast, slow, "{raw:?} under {n:?}, index {indexed:?}");
            // The ring path keeps what its `matches` found last: that must be the answer's.
            if let Ok(found) = &fast {
                assert_eq!(found.e164(), last_asked, "{raw:?} under {n:?}");
            }
            checked += 1;
            hits += usize::from(fast.is_ok());
            second_reading_hits +=
                usize::from(fast.as_ref().ok() != readings.first() && fast.is_ok());
        }
    }
    (checked, hits, second_reading_hits)
}

#[test]
fn the_memo_answers_like_the_readings_also_when_the_index_changes() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let n = &normalisers()[0];
    let memo = ReadingsMemo::new(64);
    let raws: Vec<String> = (0..200).map(|_| pbx_string(&mut rng)).collect();
    for round in 0..20 {
        for raw in &raws {
            let readings = n.pbx_readings(raw);
            // Each round indexes another subset of the readings: a record created or deleted
            // between two events of a call.
            let indexed: HashSet<E164> = readings
                .iter()
                .filter_map(|r| r.e164())
                .filter(|_| rng.random_bool(0.6))
                .collect();
            let expected = readings
                .iter()
                .find(|r| r.e164().is_some_and(|e| indexed.contains(&e)))
                .cloned()
                .ok_or(readings.clone());
            let got = memo
                .first_match(n, raw, &mut |e| indexed.contains(e))
                .map_err(|all| all.to_vec());
            assert_eq!(got, expected, "{raw:?} in round {round}");
        }
    }
}
