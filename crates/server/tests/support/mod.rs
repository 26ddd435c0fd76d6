//! Shared by the fault, bad-input and security tests: a connector wired to both emulators (in
//! process, or the real binary), sign-in through the real OAuth redirects, the panel WebSocket,
//! and a TCP proxy that injects network faults.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // tests: a failed step stops the test

pub mod admin;
pub mod proxy;
pub mod served;

use std::net::SocketAddr;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The longest any single wait in these tests may take.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The instance name of [`Config::demo`].
pub const INSTANCE: &str = "Salesforce Demo";

pub fn loopback() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

/// How the connector reaches the emulators.
#[derive(Default)]
pub struct Wiring {
    /// Route Salesforce traffic through a [`proxy::FaultProxy`] starting in this mode.
    pub salesforce_proxy: Option<proxy::Mode>,
    /// Route PBX traffic (REST and UCI, not the PBX's callbacks) through a proxy.
    pub pbx_proxy: Option<proxy::Mode>,
    /// Fault settings of the org before the connector starts.
    pub org_options: ctibridge_emulator_salesforce::Options,
    /// Short keepAlive and backoff, so lost UCI sessions are noticed in seconds.
    pub fast_uci: bool,
    /// Users whose STARFACE passwords are stored at start.
    pub credentials: Vec<(&'static str, &'static str)>,
    /// Wait for the first full read and every credential's UCI session.
    pub wait_ready: bool,
    /// Faults set on the org before the connector starts.
    pub org_setup: Option<fn(&ctibridge_emulator_salesforce::Control)>,
    /// The instance's `sync_interval_secs` (fault tests use 1 s so that retries come fast).
    pub sync_interval: Option<Duration>,
    /// Send the org's API requests through the Salesforce proxy too, not only sign-in and
    /// token requests (the proxy rewrites the `instance_url` of token answers to itself).
    pub salesforce_api_through_proxy: bool,
}

/// Both emulators and a connector between them.
pub struct World {
    pub org: ctibridge_emulator_salesforce::RunningOrg,
    pub pbx: ctibridge_emulator_starface::RunningPbx,
    pub running: ctibridge_server::Running,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub salesforce_proxy: Option<proxy::FaultProxy>,
    pub pbx_proxy: Option<proxy::FaultProxy>,
    pub restart: Restart,
}

/// Ben and Clara with their passwords: the usual pair of users of these tests.
pub const BEN_AND_CLARA: [(&str, &str); 2] = [("1001", "ben-pass"), ("1002", "clara-pass")];

pub async fn world() -> World {
    world_with(Wiring {
        credentials: BEN_AND_CLARA.to_vec(),
        wait_ready: true,
        ..Default::default()
    })
    .await
}

async fn proxied(
    url: &url::Url,
    mode: Option<proxy::Mode>,
) -> (url::Url, Option<proxy::FaultProxy>) {
    let Some(mode) = mode else {
        return (url.clone(), None);
    };
    let p = proxy::FaultProxy::start(url.socket_addrs(|| None).unwrap()[0]).await;
    p.set_mode(mode);
    let mut u = url.clone();
    u.set_port(Some(p.addr().port())).unwrap();
    (u, Some(p))
}

/// What starts the connector of a [`World`] again.
pub struct Restart {
    pbx_url: url::Url,
    org_url: url::Url,
    sync_interval: Option<Duration>,
    fast_uci: bool,
}

impl Restart {
    async fn start(
        &self,
        dir: &std::path::Path,
        listener: tokio::net::TcpListener,
    ) -> ctibridge_server::Running {
        let addr = listener.local_addr().unwrap();
        let mut config = Config::demo(
            dir.to_path_buf(),
            addr,
            self.pbx_url.clone(),
            LoginUrl::parse(self.org_url.as_str()).unwrap().0,
        );
        if let Some(i) = self.sync_interval {
            config.instances[0].sync_interval = i;
        }
        let running = ctibridge_server::start_on(config, listener).await.unwrap();
        if self.fast_uci {
            running
                .state()
                .uci
                .set_supervisor_config(ctibridge_starface::uci::SupervisorConfig {
                    keep_alive_interval: Duration::from_millis(300),
                    backoff_min: Duration::from_millis(100),
                    backoff_max: Duration::from_millis(500),
                    logout_timeout: Duration::from_secs(1),
                });
        }
        running
    }
}

pub async fn world_with(w: Wiring) -> World {
    let org = ctibridge_emulator_salesforce::spawn(loopback(), w.org_options)
        .await
        .unwrap();
    let pbx = ctibridge_emulator_starface::spawn(loopback(), Default::default())
        .await
        .unwrap();
    if let Some(setup) = w.org_setup {
        setup(&org.control());
    }
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (org_url, salesforce_proxy) = proxied(org.url(), w.salesforce_proxy).await;
    if let Some(p) = salesforce_proxy
        .as_ref()
        .filter(|_| w.salesforce_api_through_proxy)
    {
        let origin = |u: &url::Url| u.as_str().trim_end_matches('/').to_owned();
        p.rewrite_answers(&origin(org.url()), &origin(&org_url));
    }
    let (pbx_url, pbx_proxy) = proxied(pbx.url(), w.pbx_proxy).await;
    let restart = Restart {
        pbx_url,
        org_url,
        sync_interval: w.sync_interval,
        fast_uci: w.fast_uci,
    };
    let running = restart.start(dir.path(), listener).await;
    for (login, pw) in &w.credentials {
        ctibridge_server::uci::set_credentials(running.state(), login, &(*pw).to_owned().into())
            .await
            .unwrap();
    }
    let world = World {
        org,
        pbx,
        running,
        base: format!("http://{addr}"),
        dir,
        salesforce_proxy,
        pbx_proxy,
        restart,
    };
    if w.wait_ready {
        let state = world.running.state().clone();
        let logins: Vec<&str> = w.credentials.iter().map(|(l, _)| *l).collect();
        eventually("UCI sessions and the index", || {
            logins.iter().all(|l| state.hub.uci(l).state == "active") && index_ready(&state)
        })
        .await;
    }
    world
}

impl World {
    /// The connector stopped and started again on the same data directory, emulators and
    /// proxies (on a new port; the stored UCI credentials bring the sessions back).
    pub async fn restarted(self) -> World {
        self.running.shutdown().await;
        let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let running = self.restart.start(self.dir.path(), listener).await;
        World {
            running,
            base: format!("http://{addr}"),
            ..self
        }
    }

    /// The instance's Salesforce link as the status shows it.
    pub fn salesforce_link(&self) -> ctibridge_server::status::LinkState {
        self.running.state().status().instances[0]
            .salesforce
            .clone()
    }

    /// The callback URL (path with the per-session secret) the PBX was given for `login`.
    pub fn callback_url(&self, login: &str) -> String {
        let sessions = self.pbx.control().sessions();
        let s = sessions
            .iter()
            .find(|s| s.login == login && s.callback.is_some())
            .unwrap_or_else(|| panic!("no UCI session with a callback for {login}"));
        let cb = url::Url::parse(s.callback.as_deref().unwrap()).unwrap();
        format!("{}{}", self.base, cb.path())
    }

    /// A number the index maps to exactly one record, as a German PBX writes it.
    pub fn known_number(&self) -> (String, String) {
        let lookup = self.running.state().lookup(INSTANCE).unwrap();
        for e in &lookup.samples {
            let m = lookup.index.lookup(e);
            if m.len() == 1 && m[0].strength == ctibridge_phone::MatchStrength::Exact {
                let national = match e.as_str().strip_prefix("+49") {
                    Some(rest) => format!("0{rest}"),
                    None => format!("00{}", &e.as_str()[1..]),
                };
                return (national, m[0].record.id.to_string());
            }
        }
        panic!("no sample number with exactly one match");
    }

    /// Plays an inbound call to `login` and waits until its panel sees it end.
    pub async fn call_reaches_panel(&self, ws: &mut Ws, login: &str) -> Value {
        let (number, _) = self.known_number();
        let id = self
            .pbx
            .control()
            .play(ctibridge_emulator_starface::CallSpec {
                target: login.into(),
                number,
                ring_steps: 1,
                talk_steps: 1,
                ..Default::default()
            })
            .unwrap();
        wait_frame(ws, |v| {
            v["type"] == "call" && v["call"]["id"] == id.as_str() && v["call"]["state"] == "ended"
        })
        .await
    }
}

/// The instance's index holds the org's numbers.
pub fn index_ready(state: &ctibridge_server::state::AppState) -> bool {
    state
        .lookup(INSTANCE)
        .is_some_and(|l| !l.samples.is_empty())
}

/// How many Tasks the org holds for the PBX call `call_id` (their `CallObject` is the call id,
/// a colon, then the user or group).
pub fn tasks_of(org: &ctibridge_emulator_salesforce::RunningOrg, call_id: &str) -> usize {
    org.control()
        .records("Task")
        .iter()
        .filter(|t| {
            t["CallObject"]
                .as_str()
                .is_some_and(|c| c.starts_with(&format!("{call_id}:")))
        })
        .count()
}

/// Polls `done` every 20 ms until it holds; fails the test after [`LIMIT`].
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the real OAuth redirects (PKCE) and returns the panel token.
pub async fn sign_in(base: &str, username: &str) -> String {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match try_sign_in(base, username).await {
            Ok(token) => return token,
            // A connector just started may not have read the PBX's user list yet; the page
            // says to try again in a moment, as a user would.
            Err(body)
                if body.contains("not read yet") && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(body) => panic!("the callback page hands over a token: {body}"),
        }
    }
}

async fn try_sign_in(base: &str, username: &str) -> Result<String, String> {
    let http = no_redirects();
    let mut url = format!("{base}/panel/login?login_hint={username}");
    for _ in 0..4 {
        let resp = http.get(&url).send().await.unwrap();
        if let Some(loc) = resp.headers().get("location") {
            url = loc.to_str().unwrap().to_owned();
            continue;
        }
        let body = resp.text().await.unwrap();
        let Some(start) = body.find("\"token\":\"").map(|i| i + 9) else {
            return Err(body);
        };
        let end = body[start..].find('"').unwrap() + start;
        return Ok(body[start..end].to_owned());
    }
    panic!("too many redirects");
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn ws_url(base: &str) -> String {
    format!("{}/panel/ws", base.replace("http://", "ws://"))
}

/// Opens the panel WebSocket and authenticates; returns the socket and the hello frame.
pub async fn connect(base: &str, token: &str) -> (Ws, Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(base))
        .await
        .unwrap();
    ws.send(Message::text(
        json!({"type": "auth", "token": token}).to_string(),
    ))
    .await
    .unwrap();
    let hello = next_json(&mut ws).await.expect("hello");
    assert_eq!(hello["type"], "hello", "{hello}");
    (ws, hello)
}

/// The next text frame as JSON; `None` when the socket closes or [`LIMIT`] passes.
pub async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(LIMIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Reads frames until one satisfies `pred`.
pub async fn wait_frame(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next_json(ws).await.expect("a frame before the time limit");
        if pred(&v) {
            return v;
        }
    }
}

/// A `receiveCallState` callback body as the PBX posts it.
pub fn call_state_body(id: &str, state: &str, caller: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName>\
         <params><param><value><struct>\
         <member><name>id</name><value><string>{id}</string></value></member>\
         <member><name>state</name><value><string>{state}</string></value></member>\
         <member><name>callerNumber</name><value><string>{caller}</string></value></member>\
         <member><name>calledNumber</name><value><string>201</string></value></member>\
         </struct></value></param></params></methodCall>"
    )
}

/// The service still answers its health check.
pub async fn healthy(base: &str) -> bool {
    match reqwest::get(format!("{base}/healthz")).await {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
}

/// The `ctibridge` binary built by `cargo build` (CI builds every binary before the tests).
pub fn binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("CTIBRIDGE_BIN") {
        return p.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let p = target.join("debug/ctibridge");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p ctibridge` first (or set CTIBRIDGE_BIN)",
        p.display()
    );
    p
}
