//! The client against the Salesforce org emulator over TLS on 127.0.0.1.
#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use ctibridge_domain::{LoginUrl, ObjectType, SalesforceId};
use ctibridge_emulator_salesforce::{Options, RunningOrg, spawn};
use ctibridge_salesforce::{
    AllRecords, Credentials, SalesforceClient, SalesforceError, TokenError, composite_record,
    escape_soql_literal, escape_sosl, pkce_pair,
};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Every test ends within this, whatever the client or the emulator does.
const TEST_LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test took longer than its time limit");
}

async fn org_with(opts: Options) -> RunningOrg {
    spawn(
        "127.0.0.1:0".parse().unwrap(),
        Options { tls: true, ..opts },
    )
    .await
    .unwrap()
}

async fn small_org() -> RunningOrg {
    org_with(Options::default()).await
}

fn client_for(org: &RunningOrg, client_id: &str, secret: &str) -> SalesforceClient {
    let (login_url, _) = LoginUrl::parse(org.url().as_str()).unwrap();
    SalesforceClient::builder(Credentials {
        login_url,
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
    })
    .trust_ca_pem(org.ca_cert_pem().unwrap())
    .request_timeout(Duration::from_secs(10))
    .build()
    .unwrap()
}

fn client(org: &RunningOrg) -> SalesforceClient {
    client_for(org, "demo-consumer-key", "demo-consumer-secret")
}

fn calls(org: &RunningOrg, kind: &str) -> u64 {
    org.control()
        .state()
        .api
        .by_kind
        .get(kind)
        .copied()
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContactRow {
    id: SalesforceId,
    last_name: String,
}

#[tokio::test]
async fn query_paging_over_4500_records_takes_three_calls_and_one_token() {
    bounded(async {
        let org = org_with(Options {
            contacts: 4500,
            ..Options::default()
        })
        .await;
        let sf = client(&org);

        let AllRecords { records, api_calls } = sf
            .query_all_pages::<ContactRow>("SELECT Id, LastName FROM Contact")
            .await
            .unwrap();

        assert_eq!(records.len(), 4500);
        assert_eq!(api_calls, 3);
        assert!(records.iter().all(|r| !r.last_name.is_empty()));
        let mut ids: Vec<_> = records.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4500, "a batch was read twice");
        assert_eq!(calls(&org, "query"), 1);
        assert_eq!(calls(&org, "queryMore"), 2);
        let state = org.control().state();
        assert_eq!(state.tokens_issued, 1);
        let usage = sf.api_usage().unwrap();
        assert_eq!(usage.used, state.api.used);
        assert_eq!(usage.limit, state.api.limit);
    })
    .await;
}

#[tokio::test]
async fn query_pages_streams_batches_of_at_most_2000() {
    bounded(async {
        let org = org_with(Options {
            contacts: 4500,
            ..Options::default()
        })
        .await;
        let sf = client(&org);
        let sizes: Vec<usize> = sf
            .query_pages::<Value>("SELECT Id FROM Contact")
            .map_ok(|page| page.records.len())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 4500);
        assert_eq!(sizes.len(), 3);
        assert!(sizes.iter().all(|&n| n <= 2000), "{sizes:?}");
    })
    .await;
}

#[tokio::test]
async fn token_expiring_mid_run_costs_one_reauth_then_the_run_succeeds() {
    bounded(async {
        let org = org_with(Options {
            contacts: 4500,
            ..Options::default()
        })
        .await;
        let sf = client(&org);

        let first = sf
            .query::<ContactRow>("SELECT Id, LastName FROM Contact")
            .await
            .unwrap();
        org.control().expire_tokens_now();
        let second = sf
            .query_more::<ContactRow>(first.next_records_url.as_deref().unwrap())
            .await
            .unwrap();

        assert_eq!(second.records.len() + first.records.len(), 4000);
        assert_eq!(org.control().state().tokens_issued, 2);
    })
    .await;
}

#[tokio::test]
async fn concurrent_requests_after_expiry_share_one_reauth() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let before = sf.count("SELECT COUNT() FROM Contact").await.unwrap();
        org.control().expire_tokens_now();
        // Latency keeps all ten requests in flight together, so they all see the 401.
        org.control().set_latency(Duration::from_millis(100));

        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let sf = sf.clone();
                tokio::spawn(async move { sf.count("SELECT COUNT() FROM Contact").await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), before);
        }

        assert_eq!(org.control().state().tokens_issued, 2);
    })
    .await;
}

#[tokio::test]
async fn spent_daily_limit_is_request_limit_exceeded_and_not_retryable() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        org.control().set_api_daily_limit(50);
        org.control().set_api_used(50);

        let err = sf
            .query::<Value>("SELECT Id FROM Contact")
            .await
            .unwrap_err();

        match &err {
            SalesforceError::RequestLimitExceeded { limit_info, .. } => {
                let usage = limit_info.unwrap();
                assert_eq!(usage.limit, 50);
                assert!(usage.used >= 50, "{usage}");
            }
            other => panic!("expected RequestLimitExceeded, got {other:?}"),
        }
        assert!(!err.is_retryable());
        assert_eq!(sf.api_usage().map(|u| u.limit), Some(50));
    })
    .await;
}

#[tokio::test]
async fn field_hidden_by_field_level_security_is_invalid_field_naming_object_and_field() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        org.control().hide_field("Contact.OwnerId").unwrap();

        let err = sf
            .query::<Value>("SELECT Id, OwnerId FROM Contact")
            .await
            .unwrap_err();
        match &err {
            SalesforceError::InvalidField { object, field, .. } => {
                assert_eq!(object.as_deref(), Some("Contact"));
                assert_eq!(field.as_deref(), Some("OwnerId"));
            }
            other => panic!("expected InvalidField, got {other:?}"),
        }
        assert!(err.to_string().contains("Contact.OwnerId"), "{err}");

        let describe = sf.describe(&ObjectType::Contact).await.unwrap();
        assert!(describe.field("OwnerId").is_none());

        let write = sf
            .create(
                &ObjectType::Contact,
                &json!({"LastName": "Hidden", "OwnerId": "005000000000001AAA"}),
            )
            .await
            .unwrap_err();
        match &write {
            SalesforceError::InvalidField { object, field, .. } => {
                assert_eq!(object.as_deref(), Some("Contact"));
                assert_eq!(field.as_deref(), Some("OwnerId"));
            }
            other => panic!("expected InvalidField, got {other:?}"),
        }

        org.control().show_field("Contact.OwnerId").unwrap();
        sf.query::<Value>("SELECT Id, OwnerId FROM Contact")
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn describe_lists_the_standard_phone_fields_of_contact() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let describe = sf.describe(&ObjectType::Contact).await.unwrap();
        let phones: Vec<&str> = describe.phone_fields().map(|f| f.name.as_str()).collect();
        for name in [
            "Phone",
            "MobilePhone",
            "HomePhone",
            "OtherPhone",
            "AssistantPhone",
            "Fax",
        ] {
            assert!(phones.contains(&name), "{name} missing from {phones:?}");
        }
        assert!(!phones.contains(&"Email"));
    })
    .await;
}

fn task(call_object: &str, call_type: &str) -> Value {
    let Value::Object(fields) = json!({
        "Subject": "Call",
        "TaskSubtype": "Call",
        "Status": "Completed",
        "CallType": call_type,
        "CallObject": call_object,
        "CallDurationInSeconds": 42,
    }) else {
        unreachable!()
    };
    composite_record(&ObjectType::Task, fields)
}

#[tokio::test]
async fn composite_create_batches_by_200_and_reports_failures_per_record() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let mut records: Vec<Value> = (0..450)
            .map(|i| task(&format!("it-call-{i}"), "Inbound"))
            .collect();
        // Not a value of the restricted CallType picklist.
        records[321] = task("it-call-321", "Sideways");

        let results = sf.composite_create(&records, false).await.unwrap();

        assert_eq!(results.len(), 450);
        assert_eq!(calls(&org, "composite.create"), 3);
        assert!(!results[321].success);
        assert!(!results[321].errors.is_empty());
        assert!(results[321].id.is_none());
        assert_eq!(results.iter().filter(|r| r.success).count(), 449);
        let written = sf
            .count("SELECT COUNT() FROM Task WHERE CallObject LIKE 'it-call-%'")
            .await
            .unwrap();
        assert_eq!(written, 449);
        let first_id = results[0].id.unwrap();
        let row: Value = sf
            .get(&ObjectType::Task, &first_id, &["CallObject", "CallType"])
            .await
            .unwrap();
        assert_eq!(row["CallObject"], "it-call-0");
    })
    .await;
}

#[tokio::test]
async fn composite_update_changes_records_in_place() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let created = sf
            .composite_create(&[task("it-upd-1", "Outbound")], true)
            .await
            .unwrap();
        let id = created[0].id.unwrap();
        let mut fields = Map::new();
        fields.insert("id".into(), json!(id));
        fields.insert("Description".into(), json!("customer wants a callback"));
        let updated = sf
            .composite_update(&[composite_record(&ObjectType::Task, fields)], true)
            .await
            .unwrap();
        assert!(updated[0].success, "{updated:?}");
        let row: Value = sf
            .get(&ObjectType::Task, &id, &["Description"])
            .await
            .unwrap();
        assert_eq!(row["Description"], "customer wants a callback");
    })
    .await;
}

/// A name no seeded record has, with the characters a SOQL literal must escape.
const UNUSUAL_NAME: &str = r#"O'Brien-Zyx \ "q""#;

#[tokio::test]
async fn create_get_update_delete_round_trip() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let id = sf
            .create(
                &ObjectType::Lead,
                &json!({"LastName": UNUSUAL_NAME, "Company": "Acme", "Phone": "+49 30 1234567"}),
            )
            .await
            .unwrap();
        assert_eq!(id.key_prefix(), "00Q");

        sf.update(&ObjectType::Lead, &id, &json!({"Company": "Acme GmbH"}))
            .await
            .unwrap();
        let row: Value = sf
            .get(&ObjectType::Lead, &id, &["Company", "LastName"])
            .await
            .unwrap();
        assert_eq!(row["Company"], "Acme GmbH");

        let soql = format!(
            "SELECT COUNT() FROM Lead WHERE LastName = '{}'",
            escape_soql_literal(UNUSUAL_NAME)
        );
        assert_eq!(sf.count(&soql).await.unwrap(), 1);

        sf.delete(&ObjectType::Lead, &id).await.unwrap();
        let gone = sf
            .get::<Value>(&ObjectType::Lead, &id, &[])
            .await
            .unwrap_err();
        assert!(
            matches!(&gone, SalesforceError::Api { status: 404, .. }),
            "{gone:?}"
        );
        let with_deleted = sf
            .query_all::<Value>(&format!("SELECT Id, IsDeleted FROM Lead WHERE Id = '{id}'"))
            .await
            .unwrap();
        assert_eq!(with_deleted.records.len(), 1);
        assert_eq!(with_deleted.records[0]["IsDeleted"], true);
    })
    .await;
}

#[tokio::test]
async fn required_field_missing_is_an_api_error_with_its_fields() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let err = sf
            .create(&ObjectType::Contact, &json!({"FirstName": "No"}))
            .await
            .unwrap_err();
        match &err {
            SalesforceError::Api { status, errors } => {
                assert_eq!(*status, 400);
                assert_eq!(errors[0].error_code, "REQUIRED_FIELD_MISSING");
                assert_eq!(errors[0].fields, vec!["LastName".to_owned()]);
            }
            other => panic!("expected Api, got {other:?}"),
        }
        assert!(!err.is_retryable());
    })
    .await;
}

#[tokio::test]
async fn sosl_search_finds_a_seeded_number_typed_with_reserved_characters() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let expected = org
            .control()
            .expected_numbers()
            .into_iter()
            .find(|n| n.object == "Contact" && n.e164.is_some() && n.raw.contains(['(', '+', '-']))
            .unwrap();
        let sosl = format!(
            "FIND {{{}}} IN PHONE FIELDS RETURNING Contact(Id, Name)",
            escape_sosl(&expected.raw)
        );
        let found = sf.search(&sosl).await.unwrap();
        assert!(
            found.iter().any(|r| r["Id"] == expected.id.as_str()),
            "{} not found by {sosl}: {found:?}",
            expected.id
        );
        assert!(found.iter().all(|r| r["attributes"]["type"] == "Contact"));
    })
    .await;
}

#[tokio::test]
async fn updated_and_deleted_report_changes_once_the_minute_is_covered() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let start = Utc::now() - chrono::Duration::minutes(2);
        let page = sf
            .query::<ContactRow>("SELECT Id, LastName FROM Contact LIMIT 2")
            .await
            .unwrap();
        let (updated_id, deleted_id) = (page.records[0].id, page.records[1].id);
        sf.update(
            &ObjectType::Contact,
            &updated_id,
            &json!({"Title": "Buyer"}),
        )
        .await
        .unwrap();
        sf.delete(&ObjectType::Contact, &deleted_id).await.unwrap();
        // Salesforce covers whole minutes that have passed: wait for the next one to start.
        let now = Utc::now();
        let into_minute = now.timestamp() % 60;
        tokio::time::sleep(Duration::from_secs((61 - into_minute) as u64)).await;
        let end = Utc::now() + chrono::Duration::minutes(1);

        let updated = sf.updated(&ObjectType::Contact, start, end).await.unwrap();
        assert!(updated.ids.contains(&updated_id), "{updated:?}");
        assert!(!updated.ids.contains(&deleted_id));
        assert!(updated.latest_date_covered > start);

        let deleted = sf.deleted(&ObjectType::Contact, start, end).await.unwrap();
        assert!(
            deleted
                .deleted_records
                .iter()
                .any(|d| d.id == deleted_id && d.deleted_date >= start),
            "{deleted:?}"
        );
        assert!(deleted.earliest_date_available <= start);
    })
    .await;
}

#[tokio::test]
async fn limits_report_the_daily_api_allowance() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let limits = sf.limits().await.unwrap();
        let daily = limits.daily_api_requests().unwrap();
        assert_eq!(daily.max, 100_000);
        assert!(daily.remaining < daily.max);
    })
    .await;
}

#[tokio::test]
async fn token_errors_name_the_admins_fix() {
    bounded(async {
        let org = small_org().await;

        let wrong_key = client_for(&org, "nope", "demo-consumer-secret");
        let err = wrong_key.instance_url().await.unwrap_err();
        assert!(matches!(err, TokenError::UnknownClientId), "{err:?}");

        let wrong_secret = client_for(&org, "demo-consumer-key", "demo-consumer-secret ");
        let err = wrong_secret
            .query::<Value>("SELECT Id FROM Contact")
            .await
            .unwrap_err();
        assert!(
            matches!(err, SalesforceError::Token(TokenError::WrongClientSecret)),
            "{err:?}"
        );
        assert!(!err.is_retryable());

        org.control().set_runas_user_enabled(false);
        let err = client(&org).instance_url().await.unwrap_err();
        assert!(matches!(err, TokenError::NoRunAsUser), "{err:?}");
        assert!(err.to_string().contains("Run As"));
    })
    .await;
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retryable() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let url = sf.instance_url().await.unwrap();
        assert_eq!(url.origin(), org.url().origin());

        org.control().set_fail_rate(1.0, 503).unwrap();
        let err = sf
            .query::<Value>("SELECT Id FROM Contact")
            .await
            .unwrap_err();
        assert!(
            matches!(err, SalesforceError::ServerError { status: 503, .. }),
            "{err:?}"
        );
        assert!(err.is_retryable());

        org.control().set_fail_rate(0.0, 503).unwrap();
        org.control().set_latency(Duration::from_millis(1500));
        let (login_url, _) = LoginUrl::parse(org.url().as_str()).unwrap();
        let impatient = SalesforceClient::builder(Credentials {
            login_url,
            client_id: "demo-consumer-key".into(),
            client_secret: SecretString::from("demo-consumer-secret"),
        })
        .trust_ca_pem(org.ca_cert_pem().unwrap())
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
        let err = impatient
            .query::<Value>("SELECT Id FROM Contact")
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn client_without_the_emulator_ca_refuses_its_certificate() {
    bounded(async {
        let org = small_org().await;
        let (login_url, _) = LoginUrl::parse(org.url().as_str()).unwrap();
        let untrusting = SalesforceClient::builder(Credentials {
            login_url,
            client_id: "demo-consumer-key".into(),
            client_secret: SecretString::from("demo-consumer-secret"),
        })
        .build()
        .unwrap();
        let err = untrusting.instance_url().await.unwrap_err();
        assert!(matches!(err, TokenError::Transport(_)), "{err:?}");
    })
    .await;
}

/// The browser's part of the web-server flow: open the authorize URL, read the code from the redirect.
async fn authorize_code(sf: &SalesforceClient, redirect: &url::Url, challenge: &str) -> String {
    let mut authorize = sf.authorize_url(redirect, "state-123", challenge);
    authorize
        .query_pairs_mut()
        .append_pair("login_hint", "ben.utzer@example.com");
    let response = sf.http().get(authorize).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap();
    let location = url::Url::parse(location).unwrap();
    let param = |k: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("state-123"));
    param("code").unwrap()
}

#[tokio::test]
async fn web_login_with_pkce_identifies_the_panel_user() {
    bounded(async {
        let org = small_org().await;
        let sf = client(&org);
        let redirect =
            url::Url::parse("https://ctibridge.example.com/panel/oauth/callback").unwrap();

        let (_, challenge) = pkce_pair();
        let code = authorize_code(&sf, &redirect, &challenge).await;
        let wrong = sf
            .exchange_code(&code, &redirect, &SecretString::from("x".repeat(43)))
            .await
            .unwrap_err();
        assert!(
            matches!(&wrong, TokenError::Rejected { error, .. } if error == "invalid_grant"),
            "{wrong:?}"
        );

        let (verifier, challenge) = pkce_pair();
        let code = authorize_code(&sf, &redirect, &challenge).await;
        let user = sf.exchange_code(&code, &redirect, &verifier).await.unwrap();
        let info = sf.userinfo(&user).await.unwrap();
        assert_eq!(info.email.as_str(), "ben.utzer@example.com");
        assert_eq!(info.user_id.key_prefix(), "005");

        let forged = ctibridge_salesforce::UserToken {
            access_token: SecretString::from("00Dforged!token"),
            ..user
        };
        let err = sf.userinfo(&forged).await.unwrap_err();
        assert!(
            matches!(err, SalesforceError::Unauthorized { .. }),
            "{err:?}"
        );
    })
    .await;
}
