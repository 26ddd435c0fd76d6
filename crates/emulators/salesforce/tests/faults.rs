//! Fault injection and the control API, through `Control` and through HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ctibridge_emulator_salesforce::Options;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

async fn post_faults(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    body: Value,
) -> reqwest::Response {
    client()
        .post(url(org, "/__emulator/faults"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn injected_failures_hit_every_request_at_rate_one() {
    let org = org().await;
    let tok = token(&org).await;
    let res = post_faults(&org, json!({"fail_rate": 1.0, "fail_status": 503})).await;
    assert_eq!(res.status(), 200);
    for _ in 0..3 {
        let res = get(&org, &tok, "/limits").await;
        assert_eq!(res.status(), 503);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body[0]["errorCode"], "SERVER_UNAVAILABLE");
    }
    // Token requests fail too; control endpoints never do.
    let res = client()
        .post(url(&org, "/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(org.control().api_usage().used, 0);
    post_faults(&org, json!({"fail_rate": 0.0})).await;
    assert_eq!(get(&org, &tok, "/limits").await.status(), 200);
}

#[tokio::test]
async fn half_the_requests_fail_at_rate_one_half() {
    let org = org().await;
    let tok = token(&org).await;
    org.control().set_fail_rate(0.5, 500).unwrap();
    let mut failed = 0;
    for _ in 0..60 {
        if get(&org, &tok, "/limits").await.status() == 500 {
            failed += 1;
        }
    }
    assert!((15..=45).contains(&failed), "{failed} of 60 failed");
}

#[tokio::test]
async fn latency_delays_responses() {
    let org = org().await;
    let tok = token(&org).await;
    post_faults(&org, json!({"latency_ms": 300})).await;
    let t = Instant::now();
    assert_eq!(get(&org, &tok, "/limits").await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn expired_tokens_get_401_and_a_new_token_works() {
    let org = org().await;
    let tok = token(&org).await;
    assert_eq!(get(&org, &tok, "/limits").await.status(), 200);
    post_faults(&org, json!({"expire_tokens_now": true})).await;
    let res = get(&org, &tok, "/limits").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Token");
    let fresh = token(&org).await;
    assert_eq!(get(&org, &fresh, "/limits").await.status(), 200);

    org.control().set_token_lifetime(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&org, &fresh, "/limits").await.status(), 401);
}

#[tokio::test]
async fn spent_daily_limit_gives_403_request_limit_exceeded() {
    let org = org_with(Options {
        api_daily_limit: 5,
        ..Options::default()
    })
    .await;
    let tok = token(&org).await;
    for i in 1..=5 {
        let res = get(&org, &tok, "/limits").await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["sforce-limit-info"],
            format!("api-usage={i}/5").as_str()
        );
    }
    let res = get(&org, &tok, "/limits").await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["sforce-limit-info"], "api-usage=5/5");
    assert_eq!(
        res.text().await.unwrap(),
        r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#
    );
    post_faults(&org, json!({"api_used": 0, "api_daily_limit": 100})).await;
    let body: Value = get(&org, &tok, "/limits").await.json().await.unwrap();
    assert_eq!(
        body["DailyApiRequests"],
        json!({"Max": 100, "Remaining": 99})
    );
}

#[tokio::test]
async fn http_control_hides_fields_and_rejects_nonsense() {
    let org = org().await;
    let tok = token(&org).await;
    let res = post_faults(&org, json!({"hide_field": "Contact.OwnerId"})).await;
    assert_eq!(res.status(), 200);
    let faults: Value = res.json().await.unwrap();
    assert_eq!(faults["hidden_fields"], json!(["Contact.OwnerId"]));
    assert_eq!(
        query(&org, &tok, "SELECT OwnerId FROM Contact")
            .await
            .status(),
        400
    );
    assert_eq!(
        post_faults(&org, json!({"hide_field": "Contact.Nope"}))
            .await
            .status(),
        400
    );
    assert_eq!(
        post_faults(&org, json!({"fail_rat": 1})).await.status(),
        400
    );
    assert_eq!(
        post_faults(&org, json!({"fail_rate": 2.0})).await.status(),
        400
    );
    post_faults(&org, json!({"reset": true})).await;
    assert_eq!(
        query(&org, &tok, "SELECT OwnerId FROM Contact")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn runas_user_can_be_disabled_over_http() {
    let org = org().await;
    post_faults(&org, json!({"runas_user_enabled": false})).await;
    let res = client()
        .post(url(&org, "/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn state_counts_calls_by_kind_and_control_writes_count_none() {
    let org = org().await;
    let tok = token(&org).await;
    query(&org, &tok, "SELECT Id FROM Contact LIMIT 1").await;
    client()
        .get(url(&org, "/services/data/v62.0/search/"))
        .query(&[(
            "q",
            "FIND {4930123456} IN PHONE FIELDS RETURNING Contact(Id)",
        )])
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    let res = client()
        .post(url(&org, "/__emulator/records"))
        .json(&json!({"op": "create", "type": "Lead", "fields": {"LastName": "Neu", "Company": "Neu GmbH"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client()
        .post(url(&org, "/__emulator/records"))
        .json(&json!({"op": "update", "id": id, "fields": {"Status": "Bogus"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = client()
        .post(url(&org, "/__emulator/records"))
        .json(&json!({"op": "delete", "id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let state: Value = client()
        .get(url(&org, "/__emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["api"]["used"], 2);
    assert_eq!(state["api"]["by_kind"], json!({"query": 1, "search": 1}));
    assert_eq!(state["records"]["Lead"], json!({"live": 100, "deleted": 1}));
    assert_eq!(state["tokens_issued"], 1);
}

#[tokio::test]
async fn users_are_listed_for_tests() {
    let org = org().await;
    let users: Value = client()
        .get(url(&org, "/__emulator/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"eva.engel@example.com"));
    assert!(!emails.contains(&"frank.fremd@example.org"));
    let ben = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "ben.utzer@example.com")
        .unwrap();
    assert_eq!(ben["extension"], "201");
}

#[tokio::test]
async fn minted_tokens_work_without_oauth() {
    let org = org().await;
    let tok = org.control().mint_token("eva.engel@example.com").unwrap();
    let info: Value = client()
        .get(url(&org, "/services/oauth2/userinfo"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "eva.engel@example.com");
    assert!(org.control().mint_token("nobody@example.com").is_none());
}
