//! Manual user links on the admin UI's Users page against both emulators: a STARFACE user
//! whose e-mail matches no Salesforce user is linked by hand, shown as "manual", kept by the
//! instance's own e-mail match, counted as resolved by the doctor, and removable.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::admin::Admin;

const LIMIT: Duration = Duration::from_secs(30);

/// The Users page's row of a STARFACE user.
async fn user(admin: &Admin, login: &str) -> Value {
    let (_, users) = admin
        .call(reqwest::Method::GET, "/admin/api/users", None)
        .await;
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["starface_login"] == login)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_manual_link_resolves_an_e_mail_mismatch_until_it_is_removed() {
    let w = support::world_with(support::Wiring {
        sync_interval: Some(Duration::from_secs(1)),
        ..Default::default()
    })
    .await;
    let path_name = support::INSTANCE.replace(' ', "%20");
    let addr = w.base.trim_start_matches("http://").to_owned();
    let admin = Admin::sign_in(&format!("http://{addr}")).await;

    // Frank's e-mail (frank.fremd@example.org) belongs to no Salesforce user.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while user(&admin, "1005").await["problem"].is_null() {
        assert!(tokio::time::Instant::now() < deadline, "Frank never listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, org_users) = admin
        .call(
            reqwest::Method::GET,
            &format!("/admin/api/users/{path_name}/salesforce-users"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org_users}");
    let gina = org_users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["Name"] == "Gina Gone")
        .unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();

    let link_path = |login: &str| format!("/admin/api/users/{path_name}/{login}/link");
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &link_path("1005"),
            Some(json!({"salesforce_user_id": gina})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let frank = user(&admin, "1005").await;
    assert_eq!(frank["link"], "manual", "{frank}");
    assert_eq!(frank["salesforce_user_name"], "Gina Gone");
    assert!(frank["problem"].is_null(), "{frank}");
    // Ben matches by e-mail.
    assert_eq!(user(&admin, "1001").await["link"], "email");

    // The instance's own matching (each sync cycle) keeps the manual link.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let frank = user(&admin, "1005").await;
    assert_eq!(frank["salesforce_user_id"], gina.as_str(), "{frank}");
    assert_eq!(frank["link"], "manual");
    // Gina signs in to the panel as the STARFACE user she is linked to, not refused for her
    // e-mail address.
    let token = support::sign_in(&format!("http://{addr}"), "gina.gone@example.com").await;
    let (_ws, hello) = support::connect(&format!("http://{addr}"), &token).await;
    assert_eq!(hello["user"]["starface_login"], "1005", "{hello}");

    // One Salesforce user, one STARFACE user.
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &link_path("1003"),
            Some(json!({"salesforce_user_id": gina})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The doctor counts it resolved.
    let (_, report) = admin
        .call(reqwest::Method::POST, "/admin/api/doctor", None)
        .await;
    let checks = report["checks"].as_array().unwrap();
    let text = serde_json::to_string(checks).unwrap();
    assert!(
        !checks
            .iter()
            .any(|c| c["id"] == "users.starface_without_salesforce"
                && c["title"].as_str().unwrap().contains("1005")),
        "{text}"
    );
    assert!(text.contains("linked by hand"), "{text}");
    assert!(
        !text.contains("gina.gone@example.com"),
        "Gina counts as linked: {text}"
    );

    // Removed: the mismatch is back, in the page and in the doctor.
    let (status, body) = admin
        .call(reqwest::Method::DELETE, &link_path("1005"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let frank = user(&admin, "1005").await;
    assert!(frank["link"].is_null(), "{frank}");
    assert!(
        frank["problem"]
            .as_str()
            .unwrap()
            .contains("frank.fremd@example.org"),
        "{frank}"
    );
    let (status, _) = admin
        .call(reqwest::Method::DELETE, &link_path("1005"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, report) = admin
        .call(reqwest::Method::POST, "/admin/api/doctor", None)
        .await;
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "users.starface_without_salesforce"),
        "{report}"
    );
    w.running.shutdown().await;
}

#[tokio::test]
async fn an_admin_sets_a_users_starface_password_after_the_pbx_accepted_it_and_only_its_hash_is_kept()
 {
    let w = support::world_with(Default::default()).await;
    let path_name = support::INSTANCE.replace(' ', "%20");
    let addr = w.base.trim_start_matches("http://").to_owned();
    let admin = Admin::sign_in(&format!("http://{addr}")).await;
    let path = |login: &str| format!("/admin/api/users/{path_name}/{login}/starface-password");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while user(&admin, "1002").await.is_null() {
        assert!(tokio::time::Instant::now() < deadline, "Clara never listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(user(&admin, "1002").await["uci"]["state"], "no_credentials");

    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &path("1002"),
            Some(json!({"password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("refused"),
        "{body}"
    );
    let (status, _) = admin
        .call(
            reqwest::Method::PUT,
            &path("9999"),
            Some(json!({"password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &path("1002"),
            Some(json!({"password": "clara-pass"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    use ctibridge_store::CredentialStore;
    use secrecy::ExposeSecret;
    let stored = w
        .running
        .state()
        .store
        .get_credential(&ctibridge_server::uci::credential_key("1002"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.expose_secret(),
        ctibridge_starface::auth::password_sha512_hex("clara-pass")
    );
    let deadline = tokio::time::Instant::now() + LIMIT;
    while user(&admin, "1002").await["uci"]["state"] != "active" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the UCI session never started: {}",
            user(&admin, "1002").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.running.shutdown().await;
}
