//! The real `ctibridge serve` process, configured by a file, wired to emulators the test runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Secrets of the configuration written by [`write_config`].
pub const ADMIN_PASSWORD: &str = "admin-pass";
pub const CONSUMER_SECRET: &str = "demo-consumer-secret";

/// Writes a configuration for emulators at `pbx` and `org`, listening on `port`.
pub fn write_config(dir: &Path, port: u16, pbx: &url::Url, org: &url::Url, level: &str) -> PathBuf {
    let data = dir.join("data");
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}/"
data_dir = "{data}"

[log]
level = "{level}"

[starface]
url = "{pbx}"
admin_login = "0001"
admin_password = "{ADMIN_PASSWORD}"

[[instance]]
name = "Demo"
groups = ["Sales"]
sync_interval_secs = 1

[instance.salesforce]
login_url = "{org}"
client_id = "demo-consumer-key"
client_secret = "{CONSUMER_SECRET}"
"#,
        data = data.display(),
        org = org.as_str().trim_end_matches('/'),
    );
    let path = dir.join("ctibridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A free loopback port (bound and released: the process binds it again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `ctibridge serve`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
    pub stderr: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts the binary and waits for its health check.
    pub async fn start(config: &Path, port: u16, stderr: PathBuf) -> Self {
        let err = std::fs::File::create(&stderr).unwrap();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr.with_extension("stdout"))
            .unwrap();
        let child = Command::new(super::binary())
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("CTIBRIDGE_CONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let served = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr,
        };
        let deadline = tokio::time::Instant::now() + super::LIMIT;
        while !super::healthy(&served.base).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "ctibridge serve did not come up: {}",
                std::fs::read_to_string(&served.stderr).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The status API.
    pub async fn status(&self) -> serde_json::Value {
        reqwest::get(format!("{}/api/status", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// What a run of [`scenario`] leaves behind for the test to check.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub org: ctibridge_emulator_salesforce::RunningOrg,
    pub pbx: ctibridge_emulator_starface::RunningPbx,
    /// The process, still running (after the restart when `kill_and_restart`).
    pub served: Served,
    /// Every secret the run used or was handed.
    pub secrets: Vec<(String, String)>,
    /// Record counts per object before the kill and after the restart.
    pub records_before: serde_json::Value,
    pub records_after: serde_json::Value,
}

fn ready(status: &serde_json::Value) -> bool {
    let i = &status["instances"][0];
    i["salesforce"]["state"] == "ok" && i["numbers_indexed"].as_u64().unwrap_or(0) > 0
}

fn callback_secret(
    pbx: &ctibridge_emulator_starface::RunningPbx,
    login: &str,
    not: Option<u64>,
) -> Option<(u64, String)> {
    pbx.control()
        .sessions()
        .into_iter()
        .find(|s| s.login == login && s.callback.is_some() && Some(s.id) != not)
        .map(|s| {
            let cb = s.callback.unwrap();
            (s.id, cb.rsplit('/').next().unwrap_or_default().to_owned())
        })
}

async fn wait_status(served: &Served) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + super::LIMIT;
    loop {
        let s = served.status().await;
        if ready(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < deadline, "not ready: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A full run of the binary: sync, panel sign-in, the user's STARFACE password, a call to
/// the panel; then, with `kill_and_restart`, SIGKILL in the middle of a call and a restart on
/// the same data directory, and a call again.
pub async fn scenario(kill_and_restart: bool) -> Scenario {
    use ctibridge_emulator_starface::CallSpec;
    let org = ctibridge_emulator_salesforce::spawn(super::loopback(), Default::default())
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(super::loopback(), Default::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, pbx.url(), org.url(), "trace");
    let served = Served::start(&config, port, dir.path().join("run1.stderr")).await;
    let before = wait_status(&served).await;

    let token = super::sign_in(&served.base, "ben.utzer@example.com").await;
    let r = reqwest::Client::new()
        .put(format!("{}/panel/api/starface-credentials", served.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"login": "1001", "password": "ben-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let mut first = None;
    super::eventually("Ben's UCI session", || {
        first = callback_secret(&pbx, "1001", None);
        first.is_some()
    })
    .await;
    let (first_session, first_secret) = first.unwrap();
    let (mut ws, _) = super::connect(&served.base, &token).await;
    let number = "+49 30 1234567".to_owned();
    let id = pbx
        .control()
        .play(CallSpec {
            target: "1001".into(),
            number: number.clone(),
            ring_steps: 1,
            talk_steps: 1,
            ..Default::default()
        })
        .unwrap();
    super::wait_frame(&mut ws, |v| {
        v["call"]["id"] == id.as_str() && v["call"]["state"] == "ended"
    })
    .await;

    let hash = ctibridge_starface::auth::password_sha512_hex("ben-pass");
    let mut secrets = vec![
        (
            "STARFACE admin password".to_owned(),
            ADMIN_PASSWORD.to_owned(),
        ),
        ("consumer secret".to_owned(), CONSUMER_SECRET.to_owned()),
        ("user password".to_owned(), "ben-pass".to_owned()),
        ("SHA-512 of the user password".to_owned(), hash.clone()),
        (
            "UCI auth value".to_owned(),
            ctibridge_starface::auth::uci_auth("1001", &hash),
        ),
        ("panel token".to_owned(), token.clone()),
        ("callback secret".to_owned(), first_secret),
    ];
    let records_before = before["instances"][0]["records"].clone();
    if !kill_and_restart {
        return Scenario {
            dir,
            org,
            pbx,
            served,
            secrets,
            records_before: records_before.clone(),
            records_after: records_before,
        };
    }

    // SIGKILL while a call rings and the sync runs (every second).
    let ringing = pbx
        .control()
        .play(CallSpec {
            target: "1001".into(),
            number,
            ring_steps: 50,
            ..Default::default()
        })
        .unwrap();
    super::wait_frame(&mut ws, |v| v["call"]["id"] == ringing.as_str()).await;
    served.kill();

    let served = Served::start(&config, port, dir.path().join("run2.stderr")).await;
    // Ben's password was stored (encrypted): his session comes back without him.
    let mut second = None;
    super::eventually("a new UCI session for Ben after the restart", || {
        second = callback_secret(&pbx, "1001", Some(first_session));
        second.is_some()
    })
    .await;
    secrets.push((
        "callback secret after restart".to_owned(),
        second.unwrap().1,
    ));
    let after = wait_status(&served).await;
    Scenario {
        dir,
        org,
        pbx,
        served,
        secrets,
        records_before,
        records_after: after["instances"][0]["records"].clone(),
    }
}
