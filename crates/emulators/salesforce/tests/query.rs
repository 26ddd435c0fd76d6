//! SOQL through real HTTP: paging, relationships, errors, field-level security.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::*;
use ctibridge_emulator_salesforce::{Options, RecordOp};
use pretty_assertions::assert_eq;
use serde_json::{Map, Value, json};

#[tokio::test]
async fn paging_4500_contacts_takes_three_batches_and_three_api_calls() {
    let org = org_with(Options {
        contacts: 4500,
        ..Options::default()
    })
    .await;
    let tok = token(&org).await;
    let res = query(&org, &tok, "SELECT Id, Name, Phone FROM Contact").await;
    assert_eq!(res.headers()["sforce-limit-info"], "api-usage=1/100000");
    let mut page: Value = res.json().await.unwrap();
    let mut ids = HashSet::new();
    let mut batches = Vec::new();
    loop {
        assert_eq!(page["totalSize"], 4500);
        let records = page["records"].as_array().unwrap();
        batches.push(records.len());
        for r in records {
            assert_eq!(r["attributes"]["type"], "Contact");
            let id = r["Id"].as_str().unwrap();
            assert_eq!(
                r["attributes"]["url"],
                format!("/services/data/v62.0/sobjects/Contact/{id}")
            );
            ids.insert(id.to_owned());
        }
        if page["done"] == true {
            assert!(page.get("nextRecordsUrl").is_none());
            break;
        }
        let next = page["nextRecordsUrl"].as_str().unwrap();
        assert!(next.starts_with("/services/data/v62.0/query/01g"), "{next}");
        page = client()
            .get(url(&org, next))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!(batches, [2000, 2000, 500]);
    assert_eq!(ids.len(), 4500);
    let usage = org.control().api_usage();
    assert_eq!(usage.used, 3);
    assert_eq!(usage.by_kind["query"], 1);
    assert_eq!(usage.by_kind["queryMore"], 2);
}

#[tokio::test]
async fn batch_size_header_is_honoured_within_200_to_2000() {
    let org = org_with(Options {
        contacts: 700,
        ..Options::default()
    })
    .await;
    let tok = token(&org).await;
    for (asked, got) in [
        ("batchSize=250", 250),
        ("batchSize=50", 200),
        ("batchSize=5000", 700),
    ] {
        let page: Value = client()
            .get(url(&org, "/services/data/v62.0/query"))
            .query(&[("q", "SELECT Id FROM Contact")])
            .header("Sforce-Query-Options", asked)
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["records"].as_array().unwrap().len(), got, "{asked}");
    }
}

#[tokio::test]
async fn relationship_fields_come_nested_with_attributes() {
    let org = org().await;
    let tok = token(&org).await;
    let page: Value = query(
        &org,
        &tok,
        "SELECT Id, Name, Owner.Name, Owner.Email, Account.Name FROM Contact WHERE AccountId != null LIMIT 5",
    )
    .await
    .json()
    .await
    .unwrap();
    let r = &page["records"][0];
    assert_eq!(r["Owner"]["attributes"]["type"], "User");
    assert!(r["Owner"]["Name"].as_str().unwrap().contains(' '));
    assert!(
        r["Owner"]["Email"]
            .as_str()
            .unwrap()
            .ends_with("@example.com")
    );
    assert_eq!(r["Account"]["attributes"]["type"], "Account");
    assert!(r["Account"]["Name"].is_string());

    let page: Value = query(
        &org,
        &tok,
        "SELECT Id, Account.Name FROM Contact WHERE AccountId = null LIMIT 1",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["records"][0]["Account"], Value::Null);
}

#[tokio::test]
async fn unknown_field_is_invalid_field_in_salesforce_words() {
    let org = org().await;
    let tok = token(&org).await;
    let res = query(&org, &tok, "SELECT Id, Foo FROM Contact").await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!([{
            "message": "\nSELECT Id, Foo FROM Contact\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_FIELD"
        }])
    );
}

#[tokio::test]
async fn field_hidden_by_field_level_security_is_invalid_field_and_absent_from_describe() {
    let org = org().await;
    let tok = token(&org).await;
    assert_eq!(
        query(&org, &tok, "SELECT Id, OwnerId FROM Contact LIMIT 1")
            .await
            .status(),
        200
    );
    org.control().hide_field("Contact.OwnerId").unwrap();
    let res = query(&org, &tok, "SELECT Id, OwnerId FROM Contact LIMIT 1").await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .contains("No such column 'OwnerId' on entity 'Contact'")
    );
    // The relationship goes with its field.
    let body: Value = query(&org, &tok, "SELECT Owner.Name FROM Contact")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .contains("Didn't understand relationship 'Owner'")
    );
    let describe: Value = get(&org, &tok, "/sobjects/Contact/describe")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = describe["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"OwnerId"));
    assert!(names.contains(&"Assistant_Direct__c"));
    org.control().show_field("Contact.OwnerId").unwrap();
    assert_eq!(
        query(&org, &tok, "SELECT Id, OwnerId FROM Contact LIMIT 1")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn malformed_soql_and_unknown_objects_are_reported() {
    let org = org().await;
    let tok = token(&org).await;
    let body: Value = query(&org, &tok, "SELECT Id FRM Contact")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["errorCode"], "MALFORMED_QUERY");
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("unexpected token: 'FRM'")
    );
    let body: Value = query(&org, &tok, "SELECT Id FROM Foo")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_TYPE");
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .contains("sObject type 'Foo' is not supported.")
    );
    let body: Value = query(
        &org,
        &tok,
        "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01'",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("value of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be enclosed in quotes")
    );
    let body: Value = query(&org, &tok, "SELECT Id FROM Contact WHERE Id = 'abc'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_QUERY_FILTER_OPERATOR");
}

#[tokio::test]
async fn where_order_limit_and_count_work_together() {
    let org = org().await;
    let tok = token(&org).await;
    let all: Value = query(&org, &tok, "SELECT COUNT() FROM Contact")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all, json!({"totalSize": 200, "done": true, "records": []}));

    let page: Value = query(
        &org,
        &tok,
        "SELECT Id, LastName FROM Contact WHERE (LastName LIKE 'M%' OR LastName IN ('Smith', 'Weber')) AND IsDeleted = false ORDER BY LastName DESC, Id LIMIT 10",
    )
    .await
    .json()
    .await
    .unwrap();
    let names: Vec<String> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["LastName"].as_str().unwrap().to_owned())
        .collect();
    assert!(!names.is_empty() && names.len() <= 10);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with('M') || n == "Smith" || n == "Weber")
    );
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(names, sorted);

    let page: Value = query(
        &org,
        &tok,
        "SELECT Id FROM Contact WHERE SystemModstamp > 2000-01-01T00:00:00Z AND CreatedDate < TOMORROW",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["totalSize"], 200);
}

#[tokio::test]
async fn query_all_sees_deleted_records_and_query_does_not() {
    let org = org().await;
    let tok = token(&org).await;
    let page: Value = query(&org, &tok, "SELECT Id FROM Lead LIMIT 1")
        .await
        .json()
        .await
        .unwrap();
    let id = page["records"][0]["Id"].as_str().unwrap().to_owned();
    let res = client()
        .delete(url(
            &org,
            &format!("/services/data/v62.0/sobjects/Lead/{id}"),
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let q = format!("SELECT Id, IsDeleted FROM Lead WHERE Id = '{id}'");
    let page: Value = query(&org, &tok, &q).await.json().await.unwrap();
    assert_eq!(page["totalSize"], 0);
    let page: Value = client()
        .get(url(&org, "/services/data/v62.0/queryAll/"))
        .query(&[("q", q.as_str())])
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["totalSize"], 1);
    assert_eq!(page["records"][0]["IsDeleted"], true);
}

#[tokio::test]
async fn changes_are_found_by_systemmodstamp_filter() {
    let org = org().await;
    let tok = token(&org).await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let mut fields = Map::new();
    fields.insert("LastName".into(), json!("Neu"));
    fields.insert("Phone".into(), json!("+49 30 9999999"));
    let id = org
        .control()
        .record(RecordOp::Create {
            object: "Contact".into(),
            fields,
        })
        .unwrap();
    let q = format!(
        "SELECT Id FROM Contact WHERE SystemModstamp > {}",
        before.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let page: Value = query(&org, &tok, &q).await.json().await.unwrap();
    assert_eq!(page["totalSize"], 1);
    assert_eq!(page["records"][0]["Id"], id);
}

#[tokio::test]
async fn users_are_queryable() {
    let org = org().await;
    let tok = token(&org).await;
    let page: Value = query(
        &org,
        &tok,
        "SELECT Id, Username, Email, Name FROM User WHERE IsActive = true ORDER BY Username",
    )
    .await
    .json()
    .await
    .unwrap();
    let emails: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "ben.utzer@example.com",
            "clara.klein@example.com",
            "david.dreher@example.com",
            "eva.engel@example.com",
            "gina.gone@example.com",
            "integration@example.com"
        ]
    );
}
