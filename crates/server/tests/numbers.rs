//! Numbers as the ring path sees them: the messy values of the org and every format the PBX
//! writes must lead to the same records.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::net::SocketAddr;
use std::sync::Arc;

use ctibridge_phone::{CountryHint, DialingRules, LibPhoneNormaliser, Normaliser, NumberContext};

fn lo() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

#[tokio::test]
async fn over_a_thousand_messy_org_numbers_normalise_to_the_expected_e164() {
    let org = ctibridge_emulator_salesforce::spawn(
        lo(),
        ctibridge_emulator_salesforce::Options {
            contacts: 1500,
            leads: 400,
            accounts: 300,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let normaliser: Arc<dyn Normaliser> =
        Arc::new(LibPhoneNormaliser::new(DialingRules::default()).unwrap());
    let expected = org.control().expected_numbers();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for n in &expected {
        // The record's address country, as the connector reads it from the record.
        let ctx = n
            .record_country
            .as_deref()
            .and_then(CountryHint::from_text)
            .map_or(NumberContext::Stored, NumberContext::StoredIn);
        let got = normaliser
            .classify(&n.raw, ctx)
            .e164()
            .map(|e| e.as_str().to_owned());
        checked += 1;
        if got != n.e164 {
            wrong.push(format!(
                "{:?} ({:?}, record in {:?}): expected {:?}, got {:?}",
                n.raw, n.region, n.record_country, n.e164, got
            ));
        }
    }
    assert!(checked >= 1000, "only {checked} numbers swept");
    assert!(
        wrong.is_empty(),
        "{} of {checked} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    org.shutdown().await;
}

/// The connector's own reading of the org (record cache filled by the full read) against the
/// emulator's truth, value by value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_reads_every_org_number_as_expected() {
    use ctibridge_store::{InstanceStore, RecordStore};
    use futures::TryStreamExt;

    let org = ctibridge_emulator_salesforce::spawn(
        lo(),
        ctibridge_emulator_salesforce::Options {
            contacts: 900,
            leads: 300,
            accounts: 200,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = ctibridge_config::Config::demo(
        dir.path().to_path_buf(),
        lo(),
        pbx.url().clone(),
        ctibridge_domain::LoginUrl::parse(org.url().as_str())
            .unwrap()
            .0,
    );
    let running = ctibridge_server::start(config, None).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while running.state().status().instances[0]
        .last_full_read
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline, "no full read");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let store = &running.state().store;
    let inst = store
        .get_instance("Salesforce Demo")
        .await
        .unwrap()
        .unwrap();
    let records: Vec<_> = store.stream_records(inst.id).try_collect().await.unwrap();
    let mut read = std::collections::HashMap::new();
    for r in &records {
        for p in &r.record.phones {
            read.insert((r.record.sf_id.clone(), p.field.clone()), p.e164.clone());
        }
    }
    let expected = org.control().expected_numbers();
    let mut wrong = Vec::new();
    for n in &expected {
        match read.get(&(n.id.clone(), n.field.clone())) {
            Some(got) if *got == n.e164 => {}
            Some(got) => wrong.push(format!(
                "{}.{} {:?}: expected {:?}, read {got:?}",
                n.object, n.field, n.raw, n.e164
            )),
            None if n.raw.trim().is_empty() => {}
            None => wrong.push(format!("{}.{} {:?} was not read", n.object, n.field, n.raw)),
        }
    }
    assert!(expected.len() >= 1000, "only {} numbers", expected.len());
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n")
    );
    running.shutdown().await;
}

/// Every way the PBX writes a caller's number (spec: `+4930123456`, `004930123456`,
/// `030123456`, with the outside-line prefix `0030123456`) finds the same record; internal
/// and suppressed numbers find none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pbx_number_format_finds_the_same_record() {
    let org = ctibridge_emulator_salesforce::spawn(lo(), Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = ctibridge_config::Config::demo(
        dir.path().to_path_buf(),
        lo(),
        pbx.url().clone(),
        ctibridge_domain::LoginUrl::parse(org.url().as_str())
            .unwrap()
            .0,
    );
    let running = ctibridge_server::start(config, None).await.unwrap();
    let state = running.state().clone();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while state.lookup("Salesforce Demo").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no index");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let lookup = state.lookup("Salesforce Demo").unwrap();
    let german: Vec<_> = lookup
        .samples
        .iter()
        .filter(|e| e.as_str().starts_with("+49") && !lookup.index.lookup(e).is_empty())
        .take(50)
        .collect();
    assert!(
        german.len() >= 20,
        "too few German sample numbers: {}",
        german.len()
    );
    for e in german {
        let digits = &e.as_str()[1..];
        let national = format!("0{}", &digits[2..]);
        let expected: Vec<String> = lookup
            .index
            .lookup(e)
            .iter()
            .map(|m| m.record.id.to_string())
            .collect();
        for written in [
            e.as_str().to_owned(),
            format!("00{digits}"),
            national.clone(),
            format!("0{national}"),
        ] {
            let (remote, matches) =
                ctibridge_server::calls::identify(&state, "Salesforce Demo", &written, None);
            let ids: Vec<String> = matches.iter().map(|m| m.id.clone()).collect();
            assert_eq!(ids, expected, "{written:?} (remote {remote:?})");
        }
    }
    for (written, kind) in [
        ("201", "internal"),
        ("", "suppressed"),
        ("anonymous", "suppressed"),
    ] {
        let (remote, matches) =
            ctibridge_server::calls::identify(&state, "Salesforce Demo", written, None);
        assert_eq!(remote.kind, kind, "{written:?}");
        assert!(matches.is_empty());
    }
    running.shutdown().await;
}
