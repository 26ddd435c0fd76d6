//! SOSL phone search through real HTTP, including the search-index lag.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use ctibridge_emulator_salesforce::RecordOp;
use pretty_assertions::assert_eq;
use serde_json::{Map, Value, json};

async fn search(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    tok: &str,
    q: &str,
) -> reqwest::Response {
    client()
        .get(url(org, "/services/data/v62.0/search/"))
        .query(&[("q", q)])
        .bearer_auth(tok)
        .send()
        .await
        .unwrap()
}

fn create_contact(org: &ctibridge_emulator_salesforce::RunningOrg, phone: &str) -> String {
    let mut fields = Map::new();
    fields.insert("LastName".into(), json!("Anrufer"));
    fields.insert("Phone".into(), json!(phone));
    org.control()
        .record(RecordOp::Create {
            object: "Contact".into(),
            fields,
        })
        .unwrap()
}

const RETURNING: &str = "IN PHONE FIELDS RETURNING Contact(Id, Name, Phone), Lead(Id, Name, Company, Status), Account(Id, Name, Phone)";

#[tokio::test]
async fn phone_search_matches_digits_across_formatting() {
    let org = org().await;
    let tok = token(&org).await;
    let id = create_contact(&org, "030 / 987 65 43");
    let res = search(&org, &tok, &format!("FIND {{49309876543}} {RETURNING}")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let hits = body["searchRecords"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{body}");
    assert_eq!(hits[0]["Id"], id);
    assert_eq!(hits[0]["attributes"]["type"], "Contact");
    assert_eq!(hits[0]["Phone"], "030 / 987 65 43");
    assert_eq!(org.control().api_usage().by_kind["search"], 1);

    // An escaped plus is fine, an unescaped one is not.
    let body: Value = search(&org, &tok, &format!("FIND {{\\+49309876543}} {RETURNING}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["searchRecords"].as_array().unwrap().len(), 1);
    let res = search(&org, &tok, &format!("FIND {{+49309876543}} {RETURNING}")).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "MALFORMED_SEARCH");
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .contains("mismatched character '+' expecting '}'")
    );
}

#[tokio::test]
async fn seeded_numbers_are_found_by_their_e164_digits() {
    let org = org().await;
    let tok = token(&org).await;
    let expected = org.control().expected_numbers();
    let sample = expected
        .iter()
        .find(|e| {
            e.object == "Account"
                && e.field == "Phone"
                && e.e164.is_some()
                && !e.raw.contains("(0)")
        })
        .unwrap();
    let digits = sample.e164.as_deref().unwrap().trim_start_matches('+');
    let body: Value = search(&org, &tok, &format!("FIND {{{digits}}} {RETURNING}"))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["searchRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&sample.id.as_str()),
        "{} not found by {digits}: {body}",
        sample.raw
    );
}

#[tokio::test]
async fn new_records_stay_invisible_to_sosl_during_the_lag() {
    let org = org().await;
    let tok = token(&org).await;
    org.control().set_search_lag(Duration::from_secs(3));
    create_contact(&org, "+49 89 55501234");
    let q = format!("FIND {{498955501234}} {RETURNING}");
    let body: Value = search(&org, &tok, &q).await.json().await.unwrap();
    assert_eq!(body, json!({"searchRecords": []}));
    // SOQL sees the record at once.
    let page: Value = query(
        &org,
        &tok,
        "SELECT Id FROM Contact WHERE Phone = '+49 89 55501234'",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["totalSize"], 1);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let body: Value = search(&org, &tok, &q).await.json().await.unwrap();
    assert_eq!(body["searchRecords"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn search_syntax_errors_are_reported() {
    let org = org().await;
    let tok = token(&org).await;
    let body: Value = search(&org, &tok, "FIND 4930 RETURNING Contact")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["errorCode"], "MALFORMED_SEARCH");
    let body: Value = search(&org, &tok, "FIND {4} RETURNING Contact")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_SEARCH");
    let body: Value = search(&org, &tok, "FIND {4930123} RETURNING Contact(Id, Bogus)")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
}

#[tokio::test]
async fn name_search_and_per_object_limits() {
    let org = org().await;
    let tok = token(&org).await;
    let body: Value = search(
        &org,
        &tok,
        "FIND {Utzer} IN NAME FIELDS RETURNING User(Id, Name)",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["searchRecords"][0]["Name"], "Ben Utzer");
    let body: Value = search(
        &org,
        &tok,
        "FIND {GmbH} IN NAME FIELDS RETURNING Account(Id, Name LIMIT 3)",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["searchRecords"].as_array().unwrap().len(), 3);
}
