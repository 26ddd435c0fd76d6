//! sObject CRUD, describe, sObject Collections and replication through real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ctibridge_emulator_salesforce::{Options, RecordOp, RuleCondition, ValidationRule};
use pretty_assertions::assert_eq;
use reqwest::Method;
use serde_json::{Map, Value, json};

fn call_log(subject: &str, call_object: &str) -> Value {
    json!({
        "attributes": {"type": "Task"},
        "Subject": subject,
        "Status": "Completed",
        "TaskSubtype": "Call",
        "CallType": "Inbound",
        "CallDurationInSeconds": 42,
        "CallObject": call_object,
        "ActivityDate": "2024-05-01",
    })
}

#[tokio::test]
async fn create_read_update_delete_a_task() {
    let org = org().await;
    let tok = token(&org).await;
    let res = send_json(
        &org,
        &tok,
        Method::POST,
        "/sobjects/Task/",
        &call_log("Call", "pbx-1"),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["success"], true);
    assert_eq!(created["errors"], json!([]));
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("00T") && id.len() == 18);

    let rec: Value = get(&org, &tok, &format!("/sobjects/Task/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rec["CallObject"], "pbx-1");
    assert_eq!(rec["CallDurationInSeconds"], 42);
    assert_eq!(rec["IsClosed"], true);
    assert_eq!(rec["ActivityDate"], "2024-05-01");
    let stamp = rec["SystemModstamp"].as_str().unwrap();
    assert!(
        stamp.ends_with(".000+0000") || stamp.ends_with("+0000"),
        "{stamp}"
    );
    assert_eq!(stamp.len(), "2024-05-01T10:00:00.000+0000".len());
    let run_as = org
        .control()
        .users()
        .into_iter()
        .find(|u| u.username == "integration@example.com")
        .unwrap();
    assert_eq!(rec["OwnerId"], run_as.id);

    let res = send_json(
        &org,
        &tok,
        Method::PATCH,
        &format!("/sobjects/Task/{id}"),
        &json!({"CallDisposition": "Reached"}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let rec: Value = get(
        &org,
        &tok,
        &format!("/sobjects/Task/{id}?fields=CallDisposition"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rec["CallDisposition"], "Reached");

    // TaskSubtype is settable on create only.
    let res = send_json(
        &org,
        &tok,
        Method::PATCH,
        &format!("/sobjects/Task/{id}"),
        &json!({"TaskSubtype": "Task"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(body[0]["fields"], json!(["TaskSubtype"]));

    let res = client()
        .delete(url(
            &org,
            &format!("/services/data/v62.0/sobjects/Task/{id}"),
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = get(&org, &tok, &format!("/sobjects/Task/{id}")).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn validation_errors_use_salesforce_codes() {
    let org = org().await;
    let tok = token(&org).await;
    let res = send_json(
        &org,
        &tok,
        Method::POST,
        "/sobjects/Contact/",
        &json!({"FirstName": "Ada"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!([{"message": "Required fields are missing: [LastName]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}])
    );

    let mut bad = call_log("Call", "pbx-2");
    bad["CallType"] = json!("Sideways");
    let res = send_json(&org, &tok, Method::POST, "/sobjects/Task/", &bad).await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!([{
            "message": "Call Type: bad value for restricted picklist field: Sideways",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["CallType"]
        }])
    );

    org.control()
        .add_validation_rule(ValidationRule {
            object: "Task".into(),
            field: "Subject".into(),
            condition: RuleCondition::Blank,
            message: "Subject is required for call logs".into(),
        })
        .unwrap();
    let mut blank = call_log("", "pbx-3");
    blank.as_object_mut().unwrap().remove("Subject");
    let res = send_json(&org, &tok, Method::POST, "/sobjects/Task/", &blank).await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!([{"message": "Subject is required for call logs", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": []}])
    );

    let res = send_json(
        &org,
        &tok,
        Method::POST,
        "/sobjects/Contact/",
        &json!({"LastName": "X", "Foo__c": 1}),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    assert_eq!(
        body[0]["message"],
        "No such column 'Foo__c' on sobject of type Contact"
    );
}

#[tokio::test]
async fn rest_errors_have_salesforce_bodies() {
    let org = org().await;
    let tok = token(&org).await;

    let res = get(&org, "00D000000000000!expired", "/sobjects/").await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.text().await.unwrap(),
        r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#
    );

    let res = get(&org, &tok, "/sobjects/Contact/003000000000000AAA").await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.text().await.unwrap(),
        r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#
    );
    assert_eq!(
        get(&org, &tok, "/sobjects/Nope/describe").await.status(),
        404
    );
    assert_eq!(get(&org, &tok, "/nothing/here").await.status(), 404);

    let res = client()
        .put(url(
            &org,
            "/services/data/v62.0/sobjects/Contact/003000000000000AAA",
        ))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "METHOD_NOT_ALLOWED");
    assert_eq!(
        body[0]["message"],
        "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,PATCH,DELETE"
    );

    let res = client()
        .post(url(&org, "/services/data/v62.0/sobjects/Contact/"))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body("{\"LastName\": x}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
    assert!(
        body[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unexpected character ('x' (code 120))")
    );

    assert_eq!(get(&org, &tok, "/../v99.0/limits").await.status(), 404);
    let res = client()
        .get(url(&org, "/services/data/v99.0/limits"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let org = org_with(Options {
        max_body_bytes: 1024,
        ..Options::default()
    })
    .await;
    let tok = token(&org).await;
    let big = json!({"LastName": "x".repeat(4096)});
    let res = send_json(&org, &tok, Method::POST, "/sobjects/Contact/", &big).await;
    assert_eq!(res.status(), 413);
    assert!(res.headers().contains_key("sforce-limit-info"));
}

#[tokio::test]
async fn describe_lists_phone_fields_picklists_and_the_custom_phone() {
    let org = org().await;
    let tok = token(&org).await;
    let d: Value = get(&org, &tok, "/sobjects/Contact/describe")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["name"], "Contact");
    assert_eq!(d["keyPrefix"], "003");
    let phones: Vec<&str> = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "phone")
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        phones,
        [
            "Phone",
            "MobilePhone",
            "HomePhone",
            "OtherPhone",
            "AssistantPhone",
            "Fax",
            "Assistant_Direct__c"
        ]
    );
    let custom = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Assistant_Direct__c")
        .unwrap();
    assert_eq!(custom["custom"], true);

    let t: Value = get(&org, &tok, "/sobjects/Task/describe")
        .await
        .json()
        .await
        .unwrap();
    let call_type = t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "CallType")
        .unwrap();
    assert_eq!(call_type["restrictedPicklist"], true);
    let values: Vec<&str> = call_type["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["Inbound", "Outbound", "Internal"]);
    let who = t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "WhoId")
        .unwrap();
    assert_eq!(who["referenceTo"], json!(["Contact", "Lead"]));
    assert_eq!(who["relationshipName"], "Who");
    let subtype = t["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "TaskSubtype")
        .unwrap();
    assert_eq!(
        (subtype["createable"].clone(), subtype["updateable"].clone()),
        (json!(true), json!(false))
    );

    let l: Value = get(&org, &tok, "/sobjects/Lead/describe")
        .await
        .json()
        .await
        .unwrap();
    let status = l["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Status")
        .unwrap();
    assert_eq!(status["defaultValue"], "Open - Not Contacted");

    let g: Value = get(&org, &tok, "/sobjects/").await.json().await.unwrap();
    let names: Vec<&str> = g["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Account", "Contact", "Lead", "Task", "User"]);
}

#[tokio::test]
async fn composite_create_is_one_api_call_and_all_or_none_rolls_back() {
    let org = org().await;
    let tok = token(&org).await;
    let before = org.control().state().records["Task"].live;
    let records: Vec<Value> = (0..3)
        .map(|i| call_log("Call", &format!("c-{i}")))
        .collect();
    let res = send_json(
        &org,
        &tok,
        Method::POST,
        "/composite/sobjects",
        &json!({"allOrNone": false, "records": records}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let results: Vec<Value> = res.json().await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| r["success"] == true && r["id"].as_str().unwrap().starts_with("00T"))
    );
    assert_eq!(org.control().state().records["Task"].live, before + 3);
    assert_eq!(org.control().api_usage().by_kind["composite.create"], 1);

    let mut bad = call_log("Call", "c-bad");
    bad["CallType"] = json!("Nope");
    let batch = json!({"allOrNone": true, "records": [call_log("Call", "c-ok"), bad]});
    let results: Vec<Value> = send_json(&org, &tok, Method::POST, "/composite/sobjects", &batch)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results[0]["success"], false);
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    assert_eq!(org.control().state().records["Task"].live, before + 3);

    let batch =
        json!({"allOrNone": false, "records": [call_log("Call", "c-ok"), results[1].clone()]});
    let results: Vec<Value> = send_json(&org, &tok, Method::POST, "/composite/sobjects", &batch)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["success"], false);
    assert_eq!(org.control().state().records["Task"].live, before + 4);

    let too_many: Vec<Value> = (0..201)
        .map(|i| call_log("Call", &format!("m-{i}")))
        .collect();
    let res = send_json(
        &org,
        &tok,
        Method::POST,
        "/composite/sobjects",
        &json!({"records": too_many}),
    )
    .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn composite_update_patches_by_id() {
    let org = org().await;
    let tok = token(&org).await;
    let page: Value = query(&org, &tok, "SELECT Id FROM Contact LIMIT 2")
        .await
        .json()
        .await
        .unwrap();
    let records: Vec<Value> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"attributes": {"type": "Contact"}, "id": r["Id"], "Title": "Updated"}))
        .collect();
    let results: Vec<Value> = send_json(
        &org,
        &tok,
        Method::PATCH,
        "/composite/sobjects",
        &json!({"records": records}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(results.iter().all(|r| r["success"] == true));
    let page: Value = query(&org, &tok, "SELECT Id FROM Contact WHERE Title = 'Updated'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["totalSize"], 2);
}

#[tokio::test]
async fn updated_and_deleted_report_changes_in_the_window() {
    let org = org().await;
    let tok = token(&org).await;
    let start = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let end = (chrono::Utc::now() + chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string();
    let two_min_ago = (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc3339();
    let mut fields = Map::new();
    fields.insert("LastName".into(), json!("Frisch"));
    fields.insert("SystemModstamp".into(), json!(two_min_ago));
    let fresh = org
        .control()
        .record(RecordOp::Create {
            object: "Contact".into(),
            fields,
        })
        .unwrap();
    let page: Value = query(
        &org,
        &tok,
        "SELECT Id FROM Contact WHERE Id != null LIMIT 1",
    )
    .await
    .json()
    .await
    .unwrap();
    let gone = page["records"][0]["Id"].as_str().unwrap().to_owned();
    org.control()
        .record(RecordOp::Delete {
            id: gone.clone(),
            at: Some(two_min_ago),
        })
        .unwrap();

    // simple-salesforce sends `+00:00` unescaped, which arrives as a space.
    let path = format!("/sobjects/Contact/updated/?start={start}&end={end}");
    let body: Value = get(&org, &tok, &path).await.json().await.unwrap();
    assert_eq!(body["ids"], json!([fresh]));
    assert!(
        body["latestDateCovered"]
            .as_str()
            .unwrap()
            .ends_with(":00.000+0000")
    );

    let path = format!("/sobjects/Contact/deleted/?start={start}&end={end}");
    let body: Value = get(&org, &tok, &path).await.json().await.unwrap();
    assert_eq!(body["deletedRecords"][0]["id"], gone);
    assert!(body["earliestDateAvailable"].is_string());

    let old = (chrono::Utc::now() - chrono::Duration::days(20))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let res = get(
        &org,
        &tok,
        &format!("/sobjects/Contact/deleted/?start={old}&end={end}"),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()[0]["errorCode"],
        "INVALID_REPLICATION_DATE"
    );
    let res = get(
        &org,
        &tok,
        &format!("/sobjects/Contact/updated/?start={end}&end={start}"),
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()[0]["errorCode"],
        "INVALID_REPLICATION_DATE"
    );
}

#[tokio::test]
async fn ids_are_18_chars_with_a_valid_case_safe_suffix() {
    let org = org().await;
    for (object, prefix) in [
        ("Account", "001"),
        ("Contact", "003"),
        ("Lead", "00Q"),
        ("Task", "00T"),
        ("User", "005"),
    ] {
        for rec in org.control().records(object).iter().take(20) {
            let id = rec["Id"].as_str().unwrap();
            assert_eq!(id.len(), 18);
            assert!(id.starts_with(prefix));
            let suffix: String = (0..3)
                .map(|chunk| {
                    let flags =
                        id[chunk * 5..chunk * 5 + 5]
                            .chars()
                            .enumerate()
                            .fold(0, |acc, (i, c)| {
                                if c.is_ascii_uppercase() {
                                    acc | (1 << i)
                                } else {
                                    acc
                                }
                            });
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
                        .chars()
                        .nth(flags)
                        .unwrap()
                })
                .collect();
            assert_eq!(&id[15..], suffix);
        }
    }
}
