//! The admin UI's Cards page against both emulators: a caller-card layout chosen from the
//! org's describe (custom fields too) and an object priority apply at once and the sync reads
//! the new fields; the daily API cap pauses the background sync and says so in the status.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_salesforce::RecordOp;
use ctibridge_server::hub::PanelMatch;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::admin::Admin;

const LIMIT: Duration = Duration::from_secs(30);
const NUMBER: &str = "+493099991111";

struct World {
    org: ctibridge_emulator_salesforce::RunningOrg,
    _pbx: ctibridge_emulator_starface::RunningPbx,
    running: ctibridge_server::Running,
    base: String,
    _dir: tempfile::TempDir,
}

impl World {
    fn instance(&self) -> String {
        self.running.state().config.instances[0].name.clone()
    }

    fn matches(&self) -> Vec<PanelMatch> {
        ctibridge_server::calls::identify(self.running.state(), &self.instance(), NUMBER, None).1
    }
}

async fn world() -> World {
    world_with(1).await
}

/// [`world`] with the background sync `interval_secs` apart.
async fn world_with(interval_secs: u64) -> World {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let org = ctibridge_emulator_salesforce::spawn(lo, Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    // A number on an account and on one of its contacts: a multi-match.
    let control = org.control();
    let fields = |v: Value| serde_json::from_value(v).unwrap();
    let account = control
        .record(RecordOp::Create {
            object: "Account".into(),
            fields: fields(json!({"Name": "Kartenbau AG", "Phone": NUMBER})),
        })
        .unwrap();
    control
        .record(RecordOp::Create {
            object: "Contact".into(),
            fields: fields(json!({
                "FirstName": "Karla", "LastName": "Karte", "AccountId": account,
                "Phone": NUMBER, "Title": "Einkaufsleiterin", "Department": "Einkauf",
                "Assistant_Direct__c": "+49 30 99991112",
            })),
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (running, base) = connector(dir.path(), pbx.url(), org.url(), interval_secs).await;
    World {
        org,
        _pbx: pbx,
        running,
        base,
        _dir: dir,
    }
}

async fn connector(
    dir: &std::path::Path,
    pbx_url: &url::Url,
    org_url: &url::Url,
    interval_secs: u64,
) -> (ctibridge_server::Running, String) {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let listener = tokio::net::TcpListener::bind(lo).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::demo(
        dir.to_path_buf(),
        addr,
        pbx_url.clone(),
        LoginUrl::parse(org_url.as_str()).unwrap().0,
    );
    config.instances[0].sync_interval = Duration::from_secs(interval_secs);
    let running = ctibridge_server::start_on(config, listener).await.unwrap();
    (running, format!("http://{addr}"))
}

async fn eventually<F: FnMut() -> bool>(what: &str, mut done: F) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The connector stopped and started again on the same data directory and emulators (its
/// background sync an hour apart).
async fn restarted(w: World) -> World {
    let World {
        org,
        _pbx: pbx,
        running,
        _dir: dir,
        ..
    } = w;
    running.shutdown().await;
    let (running, base) = connector(dir.path(), pbx.url(), org.url(), 3_600).await;
    World {
        org,
        _pbx: pbx,
        running,
        base,
        _dir: dir,
    }
}

fn labels(m: &PanelMatch) -> Vec<(String, String)> {
    m.fields
        .iter()
        .map(|f| (f.label.clone(), f.value.clone()))
        .collect()
}

#[tokio::test]
async fn a_card_layout_and_priority_set_in_the_admin_ui_apply_at_once_and_the_sync_reads_new_fields()
 {
    let w = world().await;
    let name = w.instance();
    eventually("the contact and the account in the index", || {
        w.matches().len() == 2
    })
    .await;
    let before = w.matches();
    assert_eq!(
        before[0].object, "Contact",
        "default priority: contact first"
    );
    assert!(
        labels(&before[0]).contains(&("Title".into(), "Einkaufsleiterin".into())),
        "{before:?}"
    );

    let admin = Admin::sign_in(&w.base).await;
    let offered = admin
        .get_json(&format!("/admin/api/layout/{name}/fields"))
        .await;
    let contact: &Vec<Value> = offered["objects"]["Contact"].as_array().unwrap();
    let find = |path: &str| contact.iter().find(|c| c["path"] == path).cloned();
    assert_eq!(find("Assistant_Direct__c").unwrap()["custom"], true);
    assert_eq!(find("Department").unwrap()["label"], "Department");
    assert_eq!(find("Owner.Name").unwrap()["label"], "Owner");

    let (status, saved) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({
                "cards": {"Contact": [
                    {"path": "Title", "label": "Funktion"},
                    {"path": "Department", "label": "Abteilung"},
                    {"path": "Assistant_Direct__c", "label": "Assistenz"},
                ]},
                "priority": ["Account", "Contact", "Lead"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    // At once: the priority, and the values the cache already had under their new labels.
    let now = w.matches();
    assert_eq!(now[0].object, "Account", "{now:?}");
    assert!(
        labels(&now[1]).contains(&("Funktion".into(), "Einkaufsleiterin".into())),
        "{now:?}"
    );
    // The next sync reads the fields the old layout did not.
    let mut last: Vec<PanelMatch>;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !{
        let m = w.matches();
        let done = m.len() == 2
            && labels(&m[1])
                == vec![
                    ("Funktion".to_owned(), "Einkaufsleiterin".to_owned()),
                    ("Abteilung".to_owned(), "Einkauf".to_owned()),
                    ("Assistenz".to_owned(), "+49 30 99991112".to_owned()),
                    ("Phone".to_owned(), NUMBER.to_owned()),
                ];
        last = m;
        done
    } {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sync never read the new fields: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Saved in the store: the page reads it back.
    let listed = admin.get_json("/admin/api/layout").await;
    let inst = &listed["instances"][0];
    assert_eq!(inst["priority"], json!(["Account", "Contact", "Lead"]));
    assert_eq!(inst["cards"]["Contact"][1]["path"], "Department");
    assert_eq!(
        inst["cards"]["Lead"][0]["path"], "Company",
        "untouched: default"
    );

    // The doctor checks the layout's fields: one hidden from the run-as user is named.
    w.org.control().hide_field("Contact.Department").unwrap();
    let resp = admin
        .http
        .post(format!("{}/admin/api/doctor", admin.base))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .send()
        .await
        .unwrap();
    let report: Value = resp.json().await.unwrap();
    let contact_read = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "salesforce.read.Contact")
        .cloned()
        .unwrap();
    assert_eq!(contact_read["status"], "fail", "{contact_read}");
    assert!(
        contact_read.to_string().contains("Contact.Department"),
        "{contact_read}"
    );
    w.running.shutdown().await;
}

#[tokio::test]
async fn fields_the_org_lacks_or_that_are_no_field_paths_are_refused_with_the_reason() {
    let w = world().await;
    let name = w.instance();
    eventually("the index", || !w.matches().is_empty()).await;
    let admin = Admin::sign_in(&w.base).await;
    let (status, body) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({"cards": {"Lead": [{"path": "Secret__c", "label": "Secret"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("Lead.Secret__c"),
        "{body}"
    );
    let (status, body) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({"cards": {"Lead": [{"path": "Name FROM User", "label": "x"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a field path"),
        "{body}"
    );
    // Nothing was saved: the layout is the default still.
    let listed = admin.get_json("/admin/api/layout").await;
    assert_eq!(
        listed["instances"][0]["cards"]["Lead"][0]["path"],
        "Company"
    );
    w.running.shutdown().await;
}

/// A cap saved while the first sync still runs (no index published yet) takes effect at once,
/// not after `sync_interval`: before, the admin's save found no published index to wake the
/// instance through, and the running cycle had read the settings before the save.
#[tokio::test]
async fn a_cap_saved_during_the_first_sync_pauses_the_sync_without_waiting_for_the_next_interval() {
    let w = world_with(3_600).await;
    let name = w.instance();
    // Every org answer takes 300 ms: the first sync takes seconds.
    w.org.control().set_latency(Duration::from_millis(300));
    w.org.control().set_api_used(5_000);
    let admin = Admin::sign_in(&w.base).await;
    // The first cycle has read the settings and begun to read the org (the users' query was
    // the first call, the cycle's own follow).
    eventually("the first sync under way", || {
        w.org.control().api_usage().used >= 5_002
    })
    .await;
    assert!(
        w.running.state().lookup(&name).is_none(),
        "the first sync ended before the test could save the cap"
    );
    let (status, body) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({"daily_api_cap": 4_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let state = w.running.state().clone();
    eventually("the sync paused by the cap", || {
        state.status().instances[0].sync.paused.is_some()
    })
    .await;
    let reason = state.status().instances[0].sync.paused.clone().unwrap();
    assert!(
        reason.reason.starts_with("paused: daily cap 4000 reached"),
        "{reason:?}"
    );
    w.running.shutdown().await;
}

#[tokio::test]
async fn the_daily_api_cap_pauses_the_background_sync_and_the_status_says_so() {
    let w = world().await;
    let name = w.instance();
    eventually("the index", || !w.matches().is_empty()).await;
    let admin = Admin::sign_in(&w.base).await;
    w.org.control().set_api_used(5_000);
    let (status, body) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({"daily_api_cap": 4_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reason = |status: &Value| {
        status["instances"][0]["sync"]["paused"]["reason"]
            .as_str()
            .map(str::to_owned)
    };
    let mut paused = None;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while paused.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "never paused");
        let s: Value = reqwest::get(format!("{}/api/status", w.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        paused = reason(&s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paused = paused.unwrap();
    assert!(
        paused.starts_with("paused: daily cap 4000 reached"),
        "{paused}"
    );
    // While paused the sync does not read: a new contact stays unknown.
    let calls_before = w.org.control().api_usage();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let calls_after = w.org.control().api_usage();
    assert!(
        calls_after.used <= calls_before.used + 1,
        "the paused sync called the API: {calls_before:?} -> {calls_after:?}"
    );
    let listed = admin.get_json("/admin/api/layout").await;
    assert_eq!(listed["instances"][0]["daily_api_cap"], 4000);
    let admin_status = admin.get_json("/admin/api/status").await;
    assert_eq!(admin_status["api_caps"][name.as_str()], 4000);
    assert!(
        listed["instances"][0]["paused"]
            .as_str()
            .unwrap()
            .contains("daily cap 4000")
    );

    // Usage below the cap again (Salesforce's window moved on): the sync resumes.
    w.org.control().set_api_used(10);
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let s: Value = reqwest::get(format!("{}/api/status", w.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if reason(&s).is_none() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never resumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.running.shutdown().await;
}

#[tokio::test]
async fn a_saved_layout_and_priority_survive_a_restart_of_the_connector() {
    let w = world().await;
    let name = w.instance();
    eventually("the index", || w.matches().len() == 2).await;
    let admin = Admin::sign_in(&w.base).await;
    let (status, body) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({
                "cards": {"Contact": [{"path": "Title", "label": "Funktion"}]},
                "priority": ["Account", "Lead", "Contact"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The new process reads the saved settings from the store before it indexes anything.
    let w = restarted(w).await;
    eventually("the cached records in the index", || w.matches().len() == 2).await;
    let m = w.matches();
    assert_eq!(m[0].object, "Account", "{m:?}");
    assert_eq!(
        labels(&m[1]),
        vec![
            ("Funktion".to_owned(), "Einkaufsleiterin".to_owned()),
            ("Phone".to_owned(), NUMBER.to_owned()),
        ]
    );
    w.running.shutdown().await;
}

#[tokio::test]
async fn a_relabelled_card_layout_is_saved_in_the_index_snapshot_and_the_next_start_takes_it() {
    let w = world().await;
    let name = w.instance();
    eventually("the index", || w.matches().len() == 2).await;
    let snapshot_written = || {
        std::fs::read_dir(w._dir.path().join("snapshots"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|f| f.path().extension().is_some_and(|e| e == "bin"))
            .and_then(|f| f.metadata().ok()?.modified().ok())
    };
    // The first cycle saved the snapshot under the default layout.
    eventually("the first snapshot", || snapshot_written().is_some()).await;
    let first = snapshot_written();
    // The same fields under other labels: the sync has nothing new to read, no record changes,
    // so only applying the layout can save a snapshot under it. Without one, the next start
    // would refuse the old snapshot (other layout) and read the whole record cache.
    let admin = Admin::sign_in(&w.base).await;
    let (status, body) = admin
        .put(
            &format!("/admin/api/layout/{name}"),
            json!({
                "cards": {"Contact": [
                    {"path": "Account.Name", "label": "Firma"},
                    {"path": "Title", "label": "Funktion"},
                    {"path": "Email", "label": "E-Mail"},
                    {"path": "Owner.Name", "label": "Betreuer"},
                ]},
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("the snapshot under the new layout", || {
        snapshot_written() != first
    })
    .await;
    let w = restarted(w).await;
    eventually("the cached records in the index", || w.matches().len() == 2).await;
    let loaded = w.running.state().status().instances[0]
        .sync
        .index_loaded
        .clone();
    assert_eq!(
        loaded.as_ref().map(|l| l.from.as_str()),
        Some("snapshot"),
        "{loaded:?}"
    );
    let contact = w
        .matches()
        .into_iter()
        .find(|m| m.object == "Contact")
        .unwrap();
    assert!(
        labels(&contact).contains(&("Funktion".into(), "Einkaufsleiterin".into())),
        "{contact:?}"
    );
    w.running.shutdown().await;
}
