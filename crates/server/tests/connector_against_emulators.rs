//! The connector started against both emulators, as the demo runs it: it must log into the PBX,
//! read the org, index the phone numbers and match users by e-mail.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::net::SocketAddr;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_server::status::{LinkState, SystemStatus};

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

async fn wait_for(
    running: &ctibridge_server::Running,
    what: &str,
    done: impl Fn(&SystemStatus) -> bool,
) -> SystemStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = running.state().status();
        if done(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; status: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn demo_configuration_reads_the_org_and_matches_users_by_email() {
    let org = ctibridge_emulator_salesforce::spawn(
        loopback(),
        ctibridge_emulator_salesforce::Options {
            contacts: 300,
            leads: 100,
            accounts: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::demo(
        dir.path().to_path_buf(),
        loopback(),
        pbx.url().clone(),
        ctibridge_domain::LoginUrl::parse(org.url().as_str())
            .unwrap()
            .0,
    );
    let running = ctibridge_server::start(config, None).await.unwrap();

    let s = wait_for(&running, "the full read and the user match", |s| {
        s.starface.state == LinkState::Ok
            && s.instances[0].last_full_read.is_some()
            && !s.instances[0].users.is_empty()
    })
    .await;
    let inst = &s.instances[0];
    assert_eq!(inst.salesforce, LinkState::Ok);
    assert_eq!(inst.records.get("Contact"), Some(&300));
    assert_eq!(inst.records.get("Lead"), Some(&100));
    assert_eq!(inst.records.get("Account"), Some(&50));
    assert!(
        inst.numbers_indexed > 300,
        "numbers indexed: {}",
        inst.numbers_indexed
    );
    assert!(inst.api_usage.is_some_and(|u| u.used > 0));

    let by_login = |l: &str| inst.users.iter().find(|u| u.starface_login == l).unwrap();
    // Eva's e-mail differs in case only: the manual says the match ignores case.
    assert!(by_login("1004").salesforce_user_id.is_some(), "{inst:#?}");
    assert!(by_login("1001").salesforce_user_id.is_some());
    // Frank has no Salesforce user: the FAQ's mismatch, named with its fix.
    let frank = by_login("1005");
    assert!(frank.salesforce_user_id.is_none());
    assert!(
        frank
            .problem
            .as_deref()
            .unwrap()
            .contains("frank.fremd@example.org")
    );

    // The HTTP surface serves the same state.
    let body: serde_json::Value =
        reqwest::get(format!("http://{}/api/status", running.local_addr()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(body["instances"][0]["records"]["Contact"], 300);

    running.shutdown().await;
    pbx.shutdown().await;
    org.shutdown().await;
}

#[tokio::test]
async fn wrong_consumer_secret_is_reported_with_its_fix() {
    let org = ctibridge_emulator_salesforce::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(loopback(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::demo(
        dir.path().to_path_buf(),
        loopback(),
        pbx.url().clone(),
        ctibridge_domain::LoginUrl::parse(org.url().as_str())
            .unwrap()
            .0,
    );
    config.instances[0].salesforce.client_secret = "not-the-secret".to_owned().into();
    let running = ctibridge_server::start(config, None).await.unwrap();
    let s = wait_for(&running, "the token failure", |s| {
        matches!(s.instances[0].salesforce, LinkState::Failed(_))
    })
    .await;
    let LinkState::Failed(msg) = &s.instances[0].salesforce else {
        unreachable!()
    };
    assert!(msg.contains("secret"), "{msg}");
    running.shutdown().await;
    pbx.shutdown().await;
    org.shutdown().await;
}
