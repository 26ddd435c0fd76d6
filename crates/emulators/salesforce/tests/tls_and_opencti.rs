//! HTTPS with the CA made at start, and the Open CTI stand-in.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use ctibridge_emulator_salesforce::Options;
use serde_json::{Value, json};

#[tokio::test]
async fn tls_org_is_trusted_through_its_ca_only() {
    let org = org_with(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    assert_eq!(org.url().scheme(), "https");
    let pem = org.ca_cert_pem().unwrap();
    let trusted = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let res = trusted
        .post(url(&org, "/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["instance_url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );

    // Without the CA the handshake fails.
    let untrusted = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(
        untrusted
            .get(url(&org, "/services/data/"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn opencti_script_defines_every_method_and_points_at_the_emulator() {
    let org = org().await;
    let res = client()
        .get(url(&org, "/support/api/62.0/lightning/opencti_min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    let js = res.text().await.unwrap();
    for method in [
        "screenPop",
        "searchAndScreenPop",
        "onClickToDial",
        "enableClickToDial",
        "disableClickToDial",
        "setSoftphonePanelVisibility",
        "isSoftphonePanelVisible",
        "setSoftphonePanelHeight",
        "setSoftphonePanelWidth",
        "setSoftphoneItemLabel",
        "setSoftphoneItemIcon",
        "saveLog",
        "refreshView",
        "getAppViewInfo",
        "onNavigationChange",
        "runApex",
        "getCallCenterSettings",
        "notifyInitializationComplete",
    ] {
        assert!(
            js.contains(&format!("{method}: api('{method}'")),
            "{method} missing"
        );
    }
    for t in [
        "SOBJECT",
        "URL",
        "OBJECTHOME",
        "LIST",
        "SEARCH",
        "NEW_RECORD_MODAL",
        "FLOW",
    ] {
        assert!(
            js.contains(&format!("{t}: '")),
            "SCREENPOP_TYPE.{t} missing"
        );
    }
    assert!(js.contains(&format!(
        "var EMULATOR = '{}'",
        org.url().as_str().trim_end_matches('/')
    )));
    assert!(js.contains("opencti-click-to-dial"));
}

#[tokio::test]
async fn recorded_calls_are_listed_and_cleared_with_cors() {
    let org = org().await;
    let res = client()
        .post(url(&org, "/__emulator/opencti-calls"))
        .header("origin", "http://127.0.0.1:1")
        .json(&json!({"method": "screenPop", "args": {"type": "sobject", "params": {"recordId": "003"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let calls: Value = client()
        .get(url(&org, "/__emulator/opencti-calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls[0]["method"], "screenPop");
    assert_eq!(org.control().opencti_calls().len(), 1);
    client()
        .delete(url(&org, "/__emulator/opencti-calls"))
        .send()
        .await
        .unwrap();
    assert!(org.control().opencti_calls().is_empty());
}

#[tokio::test]
async fn save_log_and_search_back_the_stand_in() {
    let org = org().await;
    let res = client()
        .post(url(&org, "/__emulator/opencti/save-log"))
        .json(
            &json!({"value": {"entityApiName": "Task", "Subject": "Anruf", "CallType": "Inbound"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let id = res.json::<Value>().await.unwrap()["recordId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(org.control().get_record(&id).unwrap()["Subject"] == "Anruf");

    let mut fields = serde_json::Map::new();
    fields.insert("Name".into(), json!("Hafen Logistik GmbH"));
    fields.insert("Phone".into(), json!("040/765432-0"));
    let account = org
        .control()
        .record(ctibridge_emulator_salesforce::RecordOp::Create {
            object: "Account".into(),
            fields,
        })
        .unwrap();
    let found: Value = client()
        .post(url(&org, "/__emulator/opencti/search"))
        .json(&json!({"searchParams": "+49 40 7654320", "callType": "inbound"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found[&account]["RecordType"], "Account", "{found}");
    assert_eq!(found[&account]["Name"], "Hafen Logistik GmbH");
    let settings: Value = client()
        .get(url(&org, "/__emulator/opencti/call-center-settings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings["/reqGeneralInfo/reqSalesforceCompatibilityMode"],
        "Lightning"
    );
    assert_eq!(org.control().api_usage().used, 0);
}
