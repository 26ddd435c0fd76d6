//! The seeded data: deterministic, messy, and every phone value's truth checked against
//! libphonenumber's metadata (through rlibphonenumber, independent of the generator).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::*;
use ctibridge_emulator_salesforce::{ExpectedNumber, Options};
use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, Region};
use serde_json::Value;

#[tokio::test]
async fn the_same_seed_gives_the_same_org() {
    let a = org_with(Options {
        seed: 7,
        ..Options::default()
    })
    .await;
    let b = org_with(Options {
        seed: 7,
        ..Options::default()
    })
    .await;
    let c = org_with(Options {
        seed: 8,
        ..Options::default()
    })
    .await;
    let strip = |v: Vec<Value>| -> Vec<Value> {
        v.into_iter()
            .map(|mut r| {
                for k in [
                    "CreatedDate",
                    "LastModifiedDate",
                    "SystemModstamp",
                    "ActivityDate",
                ] {
                    r.as_object_mut().unwrap().remove(k);
                }
                r
            })
            .collect()
    };
    assert_eq!(
        strip(a.control().records("Contact")),
        strip(b.control().records("Contact"))
    );
    assert_eq!(
        a.control().expected_numbers(),
        b.control().expected_numbers()
    );
    assert_ne!(
        a.control().expected_numbers(),
        c.control().expected_numbers()
    );
}

fn check(e: &ExpectedNumber) -> Result<(), String> {
    let Some(want) = &e.e164 else {
        return match PhoneNumber::parse(&e.raw, Some(Region::from_code("DE").unwrap())) {
            Ok(n) if n.is_valid() => Err(format!("junk {:?} parses as a valid number", e.raw)),
            _ => Ok(()),
        };
    };
    // `00` is the international prefix of the org's dialing country (DE, like AT and CH):
    // a US number typed `001 415 ...` was typed by someone dialing from there.
    let region = if e.raw.trim_start().starts_with("00") {
        Region::from_code("DE").unwrap()
    } else {
        Region::from_code(e.region.as_deref().unwrap()).unwrap()
    };
    let n =
        PhoneNumber::parse(&e.raw, Some(region)).map_err(|err| format!("{:?}: {err:?}", e.raw))?;
    let got = n.format_as(PhoneNumberFormat::E164).to_string();
    if &got != want {
        return Err(format!("{:?} parses as {got}, truth says {want}", e.raw));
    }
    if !n.is_valid() {
        return Err(format!("{:?} ({want}) is not a valid number", e.raw));
    }
    Ok(())
}

#[tokio::test]
async fn every_generated_phone_value_has_a_true_and_valid_e164() {
    let org = org_with(Options {
        contacts: 1000,
        leads: 300,
        accounts: 120,
        ..Options::default()
    })
    .await;
    let expected = org.control().expected_numbers();
    assert!(expected.len() >= 1000, "only {} numbers", expected.len());
    let failures: Vec<String> = expected.iter().filter_map(|e| check(e).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} wrong:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
    // Other seeds draw other formats and numbers.
    for seed in 1..=6 {
        let other = org_with(Options {
            seed,
            contacts: 600,
            ..Options::default()
        })
        .await;
        let failures: Vec<String> = other
            .control()
            .expected_numbers()
            .iter()
            .filter_map(|e| check(e).err())
            .collect();
        assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
    }

    // Messy on purpose: junk, national forms, (0) notation, 00 prefix, extensions, sharing.
    let raws: Vec<&str> = expected.iter().map(|e| e.raw.as_str()).collect();
    assert!(expected.iter().any(|e| e.e164.is_none()));
    assert!(raws.iter().any(|r| r.contains("(0)")));
    assert!(raws.iter().any(|r| r.starts_with("00")));
    assert!(
        raws.iter()
            .any(|r| r.starts_with('0') && !r.starts_with("00"))
    );
    assert!(raws.iter().any(|r| r.contains('/')));
    assert!(expected.iter().any(|e| e.extension.is_some()));
    for c in ["DE", "AT", "CH", "US"] {
        assert!(
            expected.iter().any(|e| e.region.as_deref() == Some(c)),
            "no {c} numbers"
        );
    }
    let mut by_number: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
    for e in &expected {
        if let Some(n) = &e.e164 {
            by_number.entry(n).or_default().insert(&e.id);
        }
    }
    assert!(
        by_number.values().any(|ids| ids.len() >= 3),
        "no number shared by several records"
    );
    // National forms appear only where the record's address is in the number's country.
    for e in &expected {
        let national = e.e164.is_some()
            && !e.raw.trim_start().starts_with('+')
            && !e.raw.trim_start().starts_with("00");
        if national {
            assert_eq!(e.region, e.record_country, "{e:?}");
        }
    }
}

#[tokio::test]
async fn expected_numbers_are_served_over_http_and_match_stored_values() {
    let org = org().await;
    let served: Vec<Value> = client()
        .get(url(&org, "/__emulator/expected-numbers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = org.control().expected_numbers();
    assert_eq!(served.len(), expected.len());
    for e in expected.iter().take(50) {
        let rec = org.control().get_record(&e.id).unwrap();
        assert_eq!(rec[&e.field], e.raw.as_str(), "{e:?}");
    }
}

#[tokio::test]
async fn accounts_have_switchboards_and_revenue() {
    let org = org().await;
    let accounts = org.control().records("Account");
    assert_eq!(accounts.len(), 50);
    assert!(
        accounts
            .iter()
            .all(|a| a["AnnualRevenue"].as_f64().unwrap() > 0.0)
    );
    let expected = org.control().expected_numbers();
    let boards = expected
        .iter()
        .filter(|e| e.object == "Account" && e.field == "Phone")
        .filter(|e| e.region.as_deref() != Some("US") && e.region.as_deref() != Some("CH"))
        .count();
    let ending_in_zero = expected
        .iter()
        .filter(|e| e.object == "Account" && e.field == "Phone")
        .filter(|e| e.region.as_deref() != Some("US") && e.region.as_deref() != Some("CH"))
        .filter(|e| e.e164.as_deref().unwrap().ends_with('0'))
        .count();
    assert_eq!(boards, ending_in_zero);
    let leads = org.control().records("Lead");
    assert!(
        leads
            .iter()
            .all(|l| l["Company"].is_string() && l["Status"].is_string())
    );
}

#[tokio::test]
async fn a_large_org_generates_and_pages_quickly() {
    let started = std::time::Instant::now();
    let org = org_with(Options {
        contacts: 25_000,
        leads: 5000,
        accounts: 2000,
        ..Options::default()
    })
    .await;
    let tok = token(&org).await;
    let mut next = Some(
        "/services/data/v62.0/query?q=SELECT+Id,Name,Phone,MobilePhone,Account.Name+FROM+Contact"
            .to_owned(),
    );
    let mut n = 0;
    while let Some(path) = next {
        let page: Value = client()
            .get(url(&org, &path))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        n += page["records"].as_array().unwrap().len();
        next = page["nextRecordsUrl"].as_str().map(str::to_owned);
    }
    assert_eq!(n, 25_000);
    // Generous for a debug build on two cores; catches accidental quadratic work.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
