//! `ctibridge doctor` against both emulators: clean on the demo setup except for the demo's
//! deliberate e-mail mismatch, and each fault the manual's FAQ describes named with its fix.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ctibridge_config::{Config, ConfigWarning, Origin};
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_salesforce::RunningOrg;
use ctibridge_emulator_starface::RunningPbx;
use ctibridge_server::doctor::{
    Check, CheckStatus, DoctorOptions, DoctorReport, RUN_AS_FIX, run_doctor_with,
};

fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn options() -> DoctorOptions {
    DoctorOptions {
        timeout: Duration::from_secs(5),
    }
}

struct Setup {
    org: RunningOrg,
    pbx: RunningPbx,
    config: Config,
    _dir: tempfile::TempDir,
}

/// Both emulators and the demo configuration pointing at them; `public_url` points at a port
/// nobody listens on unless a test starts the connector.
async fn setup() -> Setup {
    let org = ctibridge_emulator_salesforce::spawn(
        loopback(),
        ctibridge_emulator_salesforce::Options {
            contacts: 20,
            leads: 10,
            accounts: 5,
            ..Default::default()
        },
    )
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
        LoginUrl::parse(org.url().as_str()).unwrap().0,
    );
    config.server.public_url = url::Url::parse(&format!("http://{}/", closed_port())).unwrap();
    Setup {
        org,
        pbx,
        config,
        _dir: dir,
    }
}

/// An address on loopback where nothing listens.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind(loopback()).unwrap();
    listener.local_addr().unwrap()
}

fn find<'a>(report: &'a DoctorReport, id: &str) -> &'a Check {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in\n{}", report.render_human()))
}

fn failed_ids(report: &DoctorReport) -> Vec<&str> {
    report.failures().map(|c| c.id.as_str()).collect()
}

#[tokio::test]
async fn healthy_demo_setup_fails_only_on_franks_missing_salesforce_user() {
    let mut s = setup().await;
    // The connector itself serves /healthz under public_url.
    let running = ctibridge_server::start(s.config.clone(), None)
        .await
        .unwrap();
    s.config.server.public_url =
        url::Url::parse(&format!("http://{}/", running.local_addr())).unwrap();

    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();

    assert_eq!(
        failed_ids(&report),
        vec!["users.starface_without_salesforce"],
        "{text}"
    );
    let frank = report.failures().next().unwrap();
    assert!(frank.title.contains("Frank Fremd (1005)"), "{text}");
    assert!(frank.detail.contains("frank.fremd@example.org"), "{text}");
    assert!(
        frank
            .fix
            .as_deref()
            .unwrap()
            .contains("same e-mail address"),
        "{text}"
    );
    assert!(report.has_problems());

    for ok in [
        "config",
        "starface.admin_login",
        "starface.uci",
        "starface.scope",
        "callback.reachable",
        "salesforce.token",
        "salesforce.api_limit",
        "salesforce.read.Contact",
        "salesforce.read.Lead",
        "salesforce.read.Account",
        "salesforce.read.User",
        "salesforce.create.Task",
        "salesforce.create.unknown_caller",
        "users.match",
    ] {
        assert_eq!(find(&report, ok).status, CheckStatus::Ok, "{ok}\n{text}");
    }
    // Eva's addresses differ in case only: matched, and said so.
    let matched = find(&report, "users.match");
    assert!(matched.detail.contains("4 of 5"), "{text}");
    assert!(matched.detail.contains("Eva Engel"), "{text}");
    // Gina has no STARFACE user: a note, not a problem.
    let gina = find(&report, "users.salesforce_without_starface");
    assert_eq!(gina.status, CheckStatus::Info);
    assert!(gina.detail.contains("gina.gone@example.com"), "{text}");
    assert_eq!(find(&report, "callback.https").status, CheckStatus::Info);
    let cc = find(&report, "callcenter.definition");
    assert_eq!(cc.status, CheckStatus::Info, "{text}");
    assert!(cc.detail.contains("Lightning"), "{text}");

    // The JSON form carries the same verdict.
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["problems"], true);
    assert_eq!(json["summary"]["fail"], 1);

    running.shutdown().await;
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

/// The demo minus Frank (who has no Salesforce user on purpose): nothing to fix, exit code 0.
#[tokio::test]
async fn a_healthy_setup_passes_clean() {
    let mut s = setup().await;
    s.config.instances[0].users.clear();
    let running = ctibridge_server::start(s.config.clone(), None)
        .await
        .unwrap();
    s.config.server.public_url =
        url::Url::parse(&format!("http://{}/", running.local_addr())).unwrap();

    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();
    assert!(!report.has_problems(), "{text}");
    assert_eq!(report.summary().fail, 0, "{text}");
    assert!(
        report.with_status(CheckStatus::Warn).next().is_none(),
        "{text}"
    );
    assert_eq!(
        find(&report, "users.match").status,
        CheckStatus::Ok,
        "{text}"
    );

    running.shutdown().await;
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn wrong_consumer_secret_fails_naming_the_secret_and_skips_the_org_checks() {
    let mut s = setup().await;
    s.config.instances[0].salesforce.client_secret = "not-the-secret".to_owned().into();
    let warnings = vec![ConfigWarning::Trimmed {
        key: "instance[0].salesforce.client_secret".to_owned(),
        origin: Origin::Default,
    }];
    let report = run_doctor_with(&s.config, &warnings, &options()).await;
    let text = report.render_human();

    let token = find(&report, "salesforce.token");
    assert_eq!(token.status, CheckStatus::Fail, "{text}");
    assert!(
        token
            .detail
            .contains("instance[0].salesforce.client_secret"),
        "{text}"
    );
    assert!(token.detail.contains("invalid_client"), "{text}");
    let fix = token.fix.as_deref().unwrap();
    assert!(fix.contains("Consumer Secret"), "{fix}");
    assert!(fix.contains("removed already"), "{fix}");
    // The pasted whitespace is reported as its own warning.
    let trimmed = find(&report, "config.trimmed");
    assert_eq!(trimmed.status, CheckStatus::Warn);
    assert!(trimmed.detail.contains("pasted with spaces"), "{text}");
    for skipped in [
        "salesforce.api_limit",
        "salesforce.read.Contact",
        "salesforce.create.Task",
        "users.match",
    ] {
        assert_eq!(
            find(&report, skipped).status,
            CheckStatus::Skipped,
            "{skipped}\n{text}"
        );
    }
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn missing_run_as_user_fails_with_both_setup_paths() {
    let s = setup().await;
    s.org.control().set_runas_user_enabled(false);
    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();

    let token = find(&report, "salesforce.token");
    assert_eq!(token.status, CheckStatus::Fail, "{text}");
    assert!(
        token.detail.contains("no client credentials user enabled"),
        "{text}"
    );
    let fix = token.fix.as_deref().unwrap();
    assert_eq!(fix, RUN_AS_FIX);
    assert!(
        fix.contains(
            "Setup > App Manager > (app) > Manage > Edit Policies > Client Credentials Flow > Run As"
        ),
        "{fix}"
    );
    assert!(
        fix.contains(
            "Setup > External Client App Manager > (app) > Policies > OAuth Policies > Client \
             Credentials Flow > Run As user"
        ),
        "{fix}"
    );
    assert!(text.contains("fix: Give the app a run-as user"), "{text}");
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn hidden_fields_fail_naming_object_and_field() {
    let s = setup().await;
    s.org.control().hide_field("Contact.OwnerId").unwrap();
    s.org.control().hide_field("Lead.MobilePhone").unwrap();
    s.org.control().hide_field("Task.WhoId").unwrap();
    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();

    let contact = find(&report, "salesforce.read.Contact");
    assert_eq!(contact.status, CheckStatus::Fail, "{text}");
    assert!(contact.detail.contains("Contact.OwnerId"), "{text}");
    let fix = contact.fix.as_deref().unwrap();
    assert!(fix.contains("field-level read access"), "{fix}");
    assert!(
        fix.contains("Setup > Object Manager > Contact > Fields & Relationships > OwnerId"),
        "{fix}"
    );
    // A hidden phone field loses numbers but breaks no query: a warning.
    let lead = find(&report, "salesforce.read.Lead");
    assert_eq!(lead.status, CheckStatus::Warn, "{text}");
    assert!(lead.detail.contains("Lead.MobilePhone"), "{text}");
    let task = find(&report, "salesforce.create.Task");
    assert_eq!(task.status, CheckStatus::Fail, "{text}");
    assert!(task.detail.contains("Task.WhoId"), "{text}");
    assert_eq!(
        find(&report, "salesforce.read.Account").status,
        CheckStatus::Ok
    );
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn low_api_headroom_warns_with_the_numbers() {
    let s = setup().await;
    s.org.control().set_api_daily_limit(10_000);
    s.org.control().set_api_used(9_500);
    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();
    let limit = find(&report, "salesforce.api_limit");
    assert_eq!(limit.status, CheckStatus::Warn, "{text}");
    assert!(
        limit.detail.contains("of 10000 daily API requests left"),
        "{text}"
    );
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn wrong_starface_admin_password_fails_and_skips_what_needs_the_directory() {
    let mut s = setup().await;
    s.config.starface.admin_password = "wrong-pass".to_owned().into();
    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();

    let login = find(&report, "starface.admin_login");
    assert_eq!(login.status, CheckStatus::Fail, "{text}");
    assert!(login.detail.contains("refused the login of 0001"), "{text}");
    assert!(
        login.fix.as_deref().unwrap().contains("admin_password"),
        "{text}"
    );
    assert_eq!(find(&report, "starface.scope").status, CheckStatus::Skipped);
    assert_eq!(find(&report, "users.match").status, CheckStatus::Skipped);
    // The UCI probe needs no credentials and still passes; Salesforce is unaffected.
    assert_eq!(
        find(&report, "starface.uci").status,
        CheckStatus::Ok,
        "{text}"
    );
    assert_eq!(find(&report, "salesforce.token").status, CheckStatus::Ok);
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn unknown_group_and_unreachable_callback_are_named() {
    let mut s = setup().await;
    s.config.instances[0].groups.push("Marketing".to_owned());
    let report = run_doctor_with(&s.config, &[], &options()).await;
    let text = report.render_human();

    let scope = find(&report, "starface.scope");
    assert_eq!(scope.status, CheckStatus::Fail, "{text}");
    assert!(scope.detail.contains("group \"Marketing\""), "{text}");
    assert!(
        scope.fix.as_deref().unwrap().contains("Sales, Support"),
        "{text}"
    );
    let callback = find(&report, "callback.reachable");
    assert_eq!(callback.status, CheckStatus::Warn, "{text}");
    assert!(callback.detail.contains("PBX posts call events"), "{text}");
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}

#[tokio::test]
async fn a_dead_pbx_costs_one_timeout_and_the_rest_is_still_checked() {
    let mut s = setup().await;
    // Accepts connections (the kernel does) but never answers.
    let silent = std::net::TcpListener::bind(loopback()).unwrap();
    s.config.starface.url =
        url::Url::parse(&format!("http://{}/", silent.local_addr().unwrap())).unwrap();
    let started = Instant::now();
    let report = run_doctor_with(
        &s.config,
        &[],
        &DoctorOptions {
            timeout: Duration::from_secs(1),
        },
    )
    .await;
    let elapsed = started.elapsed();
    let text = report.render_human();
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}\n{text}");
    assert_eq!(
        find(&report, "starface.admin_login").status,
        CheckStatus::Fail,
        "{text}"
    );
    assert_eq!(
        find(&report, "starface.uci").status,
        CheckStatus::Fail,
        "{text}"
    );
    assert_eq!(
        find(&report, "salesforce.token").status,
        CheckStatus::Ok,
        "{text}"
    );
    assert_eq!(
        find(&report, "salesforce.read.Contact").status,
        CheckStatus::Ok,
        "{text}"
    );
    drop(silent);
    s.pbx.shutdown().await;
    s.org.shutdown().await;
}
