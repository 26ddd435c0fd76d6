//! The admin UI's HTTP surface against both emulators: who may sign in, CSRF, what the status
//! shows, and instance edits that survive a restart of the connector.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use support::admin::{login, try_login};

const LIMIT: Duration = Duration::from_secs(20);

struct World {
    org: ctibridge_emulator_salesforce::RunningOrg,
    pbx: ctibridge_emulator_starface::RunningPbx,
    pbx_url: url::Url,
    running: ctibridge_server::Running,
    base: String,
    dir: tempfile::TempDir,
}

async fn connector(
    dir: &Path,
    pbx_url: &url::Url,
    org_url: &url::Url,
) -> (ctibridge_server::Running, String) {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let listener = tokio::net::TcpListener::bind(lo).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::demo(
        dir.to_path_buf(),
        addr,
        pbx_url.clone(),
        LoginUrl::parse(org_url.as_str()).unwrap().0,
    );
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    (running, format!("http://{addr}"))
}

/// Emulators and a connector; the local admin password is created before the connector
/// starts so that the test knows it (the connector prints it only when it creates it).
async fn world() -> (World, SecretString) {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let org = ctibridge_emulator_salesforce::spawn(lo, Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password = {
        let store = ctibridge_store::SqliteStore::open(dir.path())
            .await
            .unwrap();
        let created = ctibridge_server::admin::auth::ensure_local_password(&store)
            .await
            .unwrap()
            .expect("a fresh store has no admin password yet");
        assert!(
            ctibridge_server::admin::auth::ensure_local_password(&store)
                .await
                .unwrap()
                .is_none(),
            "created once only"
        );
        created
    };
    let (running, base) = connector(dir.path(), pbx.url(), org.url()).await;
    let pbx_url = pbx.url().clone();
    (
        World {
            org,
            pbx,
            pbx_url,
            running,
            base,
            dir,
        },
        password,
    )
}

#[tokio::test]
async fn starface_administrator_signs_in_with_a_strict_httponly_session_cookie() {
    let (w, _) = world().await;
    let resp = try_login(&w.base, "0001", "admin-pass").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("ctibridge_admin="), "{cookie}");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(part), "{part} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain-http public_url: a Secure cookie would never come back: {cookie}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"], "0001");
    assert_eq!(body["method"], "starface");
    let admin = login(&w.base, "0001", "admin-pass").await;
    let session: Value = admin
        .get("/admin/api/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"], "0001");
    w.running.shutdown().await;
}

#[tokio::test]
async fn wrong_password_and_non_administrators_are_refused() {
    let (w, _) = world().await;
    let wrong = try_login(&w.base, "0001", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.headers().get("set-cookie").is_none());

    // Ben's password is right, but he is no PBX administrator.
    let user = try_login(&w.base, "1001", "ben-pass").await;
    assert_eq!(user.status(), StatusCode::FORBIDDEN);
    assert!(user.headers().get("set-cookie").is_none());
    let body: Value = user.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not an administrator"),
        "{body}"
    );

    let local_wrong = try_login(&w.base, "admin", "guess").await;
    assert_eq!(local_wrong.status(), StatusCode::FORBIDDEN);
    w.running.shutdown().await;
}

#[tokio::test]
async fn local_admin_password_from_first_start_signs_in() {
    let (w, password) = world().await;
    let resp = try_login(&w.base, "admin", password.expose_secret()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["method"], "local");
    w.running.shutdown().await;
}

#[tokio::test]
async fn sixth_wrong_password_in_a_row_is_refused_even_when_right() {
    let (w, _) = world().await;
    for _ in 0..ctibridge_server::admin::auth::MAX_FAILURES_PER_LOGIN {
        assert_eq!(
            try_login(&w.base, "0001", "wrong").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let blocked = try_login(&w.base, "0001", "admin-pass").await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers().get("retry-after").is_some());
    w.running.shutdown().await;
}

#[tokio::test]
async fn api_without_a_session_is_401_and_changes_without_the_csrf_token_are_refused() {
    let (w, _) = world().await;
    let anon = reqwest::get(format!("{}/admin/api/status", w.base))
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    let admin = login(&w.base, "0001", "admin-pass").await;
    let new = json!({
        "name": "Second", "login_url": w.org.url().as_str(),
        "client_id": "demo-consumer-key", "client_secret": "demo-consumer-secret",
    });
    let no_token = admin
        .http
        .post(format!("{}/admin/api/instances", w.base))
        .header("cookie", &admin.cookie)
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let body: Value = no_token.json().await.unwrap();
    assert_eq!(body["error"], "csrf");
    let wrong_token = admin
        .http
        .post(format!("{}/admin/api/instances", w.base))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", "forged")
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);
    let list: Value = admin
        .get("/admin/api/instances")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["source"], "config", "nothing was saved: {list}");

    let ok = admin
        .send(reqwest::Method::POST, "/admin/api/instances")
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let logout = admin
        .send(reqwest::Method::POST, "/admin/api/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = admin.get("/admin/api/session").send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    w.running.shutdown().await;
}

#[tokio::test]
async fn admin_pages_cannot_be_framed() {
    let (w, _) = world().await;
    for path in ["/admin", "/admin/admin.js", "/admin/api/session"] {
        let resp = reqwest::get(format!("{}{path}", w.base)).await.unwrap();
        let h = resp.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    let page = reqwest::get(format!("{}/admin", w.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/admin/admin.js"));
    w.running.shutdown().await;
}

#[tokio::test]
async fn status_json_carries_the_pbx_link_org_usage_users_and_uci_state() {
    let (w, _) = world().await;
    ctibridge_server::uci::set_credentials(
        w.running.state(),
        "1001",
        &"ben-pass".to_owned().into(),
    )
    .await
    .unwrap();
    let admin = login(&w.base, "0001", "admin-pass").await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    let status: Value = loop {
        let status: Value = admin
            .get("/admin/api/status")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let inst = &status["system"]["instances"][0];
        let ready = status["system"]["starface"]["state"]["state"] == "ok"
            && inst["salesforce"]["state"] == "ok"
            && inst["numbers_indexed"].as_u64().unwrap_or(0) > 0
            && !inst["api_usage"].is_null()
            && status["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["starface_login"] == "1001" && u["uci"]["state"] == "active");
        if ready {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the org read, user matching and Ben's UCI session: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let users = status["users"].as_array().unwrap();
    let frank = users
        .iter()
        .find(|u| u["starface_login"] == "1005")
        .expect("Frank is in scope by e-mail");
    assert!(frank["salesforce_user_id"].is_null());
    assert!(
        frank["problem"].as_str().unwrap().contains("e-mail"),
        "{frank}"
    );
    let ben = users
        .iter()
        .find(|u| u["starface_login"] == "1001")
        .unwrap();
    assert!(ben["problem"].is_null(), "{ben}");
    assert!(ben["salesforce_user_id"].is_string(), "{ben}");
    assert_eq!(ben["panels_online"], 0);
    let usage = &status["system"]["instances"][0]["api_usage"];
    assert!(usage["limit"].as_u64().unwrap() > 0, "{usage}");
    let outbox = &status["outbox"]["Salesforce Demo"];
    for state in ["pending", "in_flight", "done", "failed"] {
        assert!(outbox[state].is_u64(), "{state} in {outbox}");
    }
    assert!(outbox["recent_failures"].is_array(), "{outbox}");
    let retry_unknown = admin
        .send(reqwest::Method::POST, "/admin/api/outbox/999999/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(retry_unknown.status(), StatusCode::NOT_FOUND);

    assert!(ben["last_call"].is_null(), "{ben}");

    // A call to Ben shows as his last call on the Users page.
    w.pbx
        .control()
        .play(ctibridge_emulator_starface::CallSpec {
            target: "1001".into(),
            number: "+49301234599".into(),
            ..Default::default()
        })
        .unwrap();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let users_page: Value = admin
            .get("/admin/api/users")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = users_page["users"].as_array().unwrap();
        assert_eq!(rows.len(), users.len());
        let ben = rows.iter().find(|u| u["starface_login"] == "1001").unwrap();
        if ben["last_call"]["direction"] == "inbound" {
            assert!(ben["last_call"]["started_at"].is_string(), "{ben}");
            assert!(
                !ben.to_string().contains("1234599"),
                "no caller number on the admin page: {ben}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{ben}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.running.shutdown().await;
}

#[tokio::test]
async fn doctor_runs_from_the_admin_api_and_names_the_mismatch() {
    let (w, _) = world().await;
    let admin = login(&w.base, "0001", "admin-pass").await;
    let report: Value = admin
        .send(reqwest::Method::POST, "/admin/api/doctor")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(
            |c| c["id"].as_str().unwrap().starts_with("salesforce.token") && c["status"] == "ok"
        ),
        "{report}"
    );
    assert!(
        checks.iter().any(|c| c["status"] != "ok"
            && c["detail"]
                .as_str()
                .unwrap()
                .contains("frank.fremd@example.org")),
        "the e-mail mismatch of the demo data is named: {report}"
    );
    w.running.shutdown().await;
}

#[tokio::test]
async fn test_connection_names_a_wrong_secret_and_passes_with_a_pasted_key() {
    let (w, _) = world().await;
    let admin = login(&w.base, "0001", "admin-pass").await;
    let test = |secret: &'static str| {
        admin
            .send(reqwest::Method::POST, "/admin/api/instances-test")
            .json(&json!({
                "login_url": w.org.url().as_str(),
                "client_id": " demo-consumer-key\n",
                "client_secret": secret,
            }))
            .send()
    };
    let bad: Value = test("wrong-secret").await.unwrap().json().await.unwrap();
    assert_eq!(bad["ok"], false);
    assert!(
        bad["detail"].as_str().unwrap().contains("invalid_client"),
        "{bad}"
    );
    let good: Value = test("demo-consumer-secret ")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(good["ok"], true, "{good}");
    assert_eq!(good["repairs"]["client_id_trimmed"], true);
    assert_eq!(good["repairs"]["client_secret_trimmed"], true);
    w.running.shutdown().await;
}

#[tokio::test]
async fn instance_edit_is_saved_and_used_after_a_restart() {
    let (w, password) = world().await;
    let admin = login(&w.base, "0001", "admin-pass").await;
    let list: Value = admin
        .get("/admin/api/instances")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["source"], "config");
    assert_eq!(list["instances"][0]["has_client_secret"], true);
    assert!(
        list["pbx"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["email"] == "ben.utzer@example.com")
            || list["pbx"]["read"] == false,
        "{list}"
    );
    // The secret is never sent to the browser.
    assert!(!list.to_string().contains("demo-consumer-secret"));

    let saved = admin
        .send(
            reqwest::Method::PUT,
            "/admin/api/instances/Salesforce%20Demo",
        )
        .json(&json!({
            "name": "Acme",
            "description": "edited in the admin UI",
            "login_url": w.org.url().as_str(),
            "client_id": "demo-consumer-key ",
            "client_secret": "",
            "users": ["ben.utzer@example.com", "1002"],
            "groups": [],
            "import_contacts": false,
            "sync_interval_secs": 120,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["repairs"]["client_id_trimmed"], true);
    assert_eq!(saved["restart_pending"], true);

    // A Lightning address is turned into the My Domain and the change is reported.
    let lightning: Value = admin
        .send(reqwest::Method::POST, "/admin/api/instances")
        .json(&json!({
            "name": "Other org", "login_url": "https://other.lightning.force.com/lightning/page/home",
            "client_id": "k", "client_secret": "s", "enabled": false,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        lightning["repairs"]["login_url"],
        "https://other.my.salesforce.com"
    );
    let dup = admin
        .send(reqwest::Method::POST, "/admin/api/instances")
        .json(&json!({"name": "acme", "login_url": "https://x.my.salesforce.com", "client_id": "k", "client_secret": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let deleted = admin
        .send(reqwest::Method::DELETE, "/admin/api/instances/Other%20org")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);

    // Restart on the same data directory.
    w.running.shutdown().await;
    let (running, base) = connector(w.dir.path(), &w.pbx_url, w.org.url()).await;
    let admin = login(&base, "admin", password.expose_secret()).await;
    let list: Value = admin
        .get("/admin/api/instances")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["source"], "store");
    assert_eq!(list["restart_pending"], false);
    let inst = &list["instances"].as_array().unwrap()[..];
    assert_eq!(inst.len(), 1, "{list}");
    assert_eq!(inst[0]["name"], "Acme");
    assert_eq!(inst[0]["client_id"], "demo-consumer-key");
    assert_eq!(inst[0]["users"], json!(["ben.utzer@example.com", "1002"]));
    assert_eq!(inst[0]["sync_interval_secs"], 120);

    // The running service uses the saved instance: its name, its scope, the kept secret.
    let state = running.state().clone();
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let s = state.status();
        if s.instances.len() == 1
            && s.instances[0].name == "Acme"
            && s.instances[0].description == "edited in the admin UI"
            && s.instances[0].salesforce == ctibridge_server::status::LinkState::Ok
            && s.instances[0].users.len() == 2
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the saved instance to connect with the kept secret: {:?}",
            s.instances
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Back to the file: after the next restart the TOML's instance is used again.
    let forget = admin
        .send(reqwest::Method::DELETE, "/admin/api/instances")
        .send()
        .await
        .unwrap();
    assert_eq!(forget.status(), StatusCode::OK);
    running.shutdown().await;
    let (running, base) = connector(w.dir.path(), &w.pbx_url, w.org.url()).await;
    let admin = login(&base, "0001", "admin-pass").await;
    let list: Value = admin
        .get("/admin/api/instances")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["source"], "config");
    assert_eq!(list["instances"][0]["name"], "Salesforce Demo");
    assert_eq!(
        running.state().status().instances[0].name,
        "Salesforce Demo"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn session_cookie_is_secure_when_the_public_url_is_https() {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let org = ctibridge_emulator_salesforce::spawn(lo, Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind(lo).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::demo(
        dir.path().to_path_buf(),
        addr,
        pbx.url().clone(),
        LoginUrl::parse(org.url().as_str()).unwrap().0,
    );
    // Behind a TLS-terminating proxy: ctibridge itself still speaks http on loopback.
    config.server.public_url = url::Url::parse("https://ctibridge.example.com/").unwrap();
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    let resp = try_login(&format!("http://{addr}"), "0001", "admin-pass").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    running.shutdown().await;
}
