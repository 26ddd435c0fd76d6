//! Everything on loopback in one process, each part on its own tokio runtime so that its CPU
//! time can be told apart: the emulated PBX and org (`emu-rt`), the connector and the load
//! tool's callback endpoint (`conn-rt`), and the panels and the call driver (`load-rt`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_starface::{GroupSeed, UserSeed, demo_groups, demo_users};
use ctibridge_server::sessions::PanelUser;
use secrecy::SecretString;
use tokio::runtime::{Handle, Runtime};

use crate::pipeline::Pipeline;

/// Thread-name prefixes of the runtimes (the kernel keeps 15 characters of a name).
pub const CONN: &str = "conn-rt";
/// See [`CONN`].
pub const EMU: &str = "emu-rt";
/// See [`CONN`].
pub const LOAD: &str = "load-rt";

/// The three runtimes.
pub struct Runtimes {
    /// The connector and the callback endpoint.
    pub conn: Runtime,
    /// Both emulators.
    pub emu: Runtime,
    /// Panels and the call driver; the tool's main future runs here.
    pub load: Runtime,
}

fn runtime(name: &'static str, workers: usize) -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
}

impl Runtimes {
    /// Two workers for the connector (the machine's cores), one for the emulators, two for
    /// the load clients.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            conn: runtime(CONN, 2)?,
            emu: runtime(EMU, 1)?,
            load: runtime(LOAD, 2)?,
        })
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// STARFACE users with a UCI session (the demo user 1001 is one of them).
    pub users: usize,
    /// Contacts, leads and accounts of the emulated org.
    pub contacts: usize,
    /// See `contacts`.
    pub leads: usize,
    /// See `contacts`.
    pub accounts: usize,
    /// Time between two events of a call.
    pub step_delay: Duration,
    /// How long start-up may take.
    pub ready_timeout: Duration,
    /// The connector's data directory (a record cache to start from); default: a new,
    /// empty temporary one.
    pub data_dir: Option<std::path::PathBuf>,
    /// The index counts as ready once it holds this many numbers (a start from a record cache
    /// may first publish the small org's full read).
    pub min_numbers: usize,
    /// The org answers every API request with 503 from the start (its sync can then not
    /// change a record cache the emulated org does not hold).
    pub org_down: bool,
}

/// Login ids of the generated STARFACE users: `30000`, `30001`, ...
pub fn load_login(i: usize) -> String {
    format!("{}", 30_000 + i)
}

/// The generated users and a group "Load" with all of them, for the connector's scope.
fn load_users(n: usize) -> (Vec<UserSeed>, GroupSeed) {
    let users: Vec<UserSeed> = (0..n)
        .map(|i| UserSeed {
            login_id: load_login(i),
            first_name: "Load".into(),
            family_name: format!("User {i}"),
            email: format!("load.user{i}@example.com"),
            password: "load-pass".into(),
            internal_number: format!("{}", 2000 + i),
            phone_ids: vec![format!("SIP/{}", 2000 + i)],
            admin: false,
        })
        .collect();
    let group = GroupSeed {
        name: "Load".into(),
        internal_number: "699".into(),
        external_number: None,
        members: users.iter().map(|u| u.login_id.clone()).collect(),
    };
    (users, group)
}

/// The running parts.
pub struct World {
    /// The emulated org.
    pub org: ctibridge_emulator_salesforce::RunningOrg,
    /// The emulated PBX.
    pub pbx: ctibridge_emulator_starface::RunningPbx,
    /// The connector.
    pub running: ctibridge_server::Running,
    /// The connector's own address.
    pub connector: SocketAddr,
    /// The callback endpoint (the connector's `public_url`).
    pub public: SocketAddr,
    /// The callback endpoint's state.
    pub pipeline: Arc<Pipeline>,
    /// Logins with a UCI session that calls are played to.
    pub users: Vec<String>,
    /// The instance name.
    pub instance: String,
    /// From the first emulator start to every session active and the index ready.
    pub ready_after: Duration,
    /// From the first emulator start to both emulators listening (the org generates its data).
    pub emulators_up_after: Duration,
    /// From the connector's start to its index being ready (the full read of the org).
    pub index_ready_after: Option<Duration>,
    _dir: tempfile::TempDir,
}

/// The demo user whose panel signs in through the real OAuth flow.
pub const DEMO_LOGIN: &str = "1001";
const DEMO_USERNAME: &str = "ben.utzer@example.com";
const DEMO_PASSWORD: &str = "ben-pass";

impl World {
    /// Starts the emulators and the connector, gives every user UCI credentials and waits
    /// until every session is active and the index is ready.
    pub async fn start(rt: &Runtimes, opts: &WorldOptions) -> anyhow::Result<Self> {
        let started = Instant::now();
        let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
        let generated = opts.users.saturating_sub(1);
        let (extra_users, load_group) = load_users(generated);
        let pbx_opts = ctibridge_emulator_starface::Options {
            users: demo_users().into_iter().chain(extra_users).collect(),
            groups: demo_groups().into_iter().chain([load_group]).collect(),
            step_delay: opts.step_delay,
            ..Default::default()
        };
        let org_opts = ctibridge_emulator_salesforce::Options {
            contacts: opts.contacts,
            leads: opts.leads,
            accounts: opts.accounts,
            ..Default::default()
        };
        let org_down = opts.org_down;
        let (org, pbx) = on(&rt.emu.handle().clone(), async move {
            let org = ctibridge_emulator_salesforce::spawn(lo, org_opts).await?;
            if org_down {
                org.control()
                    .apply(ctibridge_emulator_salesforce::FaultUpdate {
                        fail_rate: Some(1.0),
                        fail_status: Some(503),
                        ..Default::default()
                    })
                    .map_err(|e| anyhow::anyhow!("org fault: {e}"))?;
            }
            let pbx = ctibridge_emulator_starface::spawn(lo, pbx_opts).await?;
            anyhow::Ok((org, pbx))
        })
        .await??;
        let emulators_up_after = started.elapsed();

        let dir = tempfile::tempdir().context("temporary data directory")?;
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().to_path_buf());
        let pbx_url = pbx.url().clone();
        let org_url = LoginUrl::parse(org.url().as_str())
            .context("the org emulator's URL")?
            .0;
        let connector_started = Instant::now();
        let (running, connector, public, pipeline) = on(&rt.conn.handle().clone(), async move {
            let conn_listener = tokio::net::TcpListener::bind(lo).await?;
            let connector = conn_listener.local_addr()?;
            let public_listener = tokio::net::TcpListener::bind(lo).await?;
            let public = public_listener.local_addr()?;
            let mut config = Config::demo(data_dir, connector, pbx_url, org_url);
            config.server.public_url = url::Url::parse(&format!("http://{public}/"))?;
            for inst in &mut config.instances {
                inst.groups.push("Load".into());
            }
            let running = ctibridge_server::start_on(config, conn_listener).await?;
            let instance = running
                .state()
                .config
                .instances
                .first()
                .map(|i| i.name.clone())
                .unwrap_or_default();
            let pipeline = Pipeline::new(
                Arc::clone(running.state()),
                &instance,
                &format!("http://{connector}"),
            )?;
            let router = pipeline.router();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(public_listener, router).await {
                    tracing::error!(error = %e, "callback endpoint stopped");
                }
            });
            anyhow::Ok((running, connector, public, pipeline))
        })
        .await??;
        let state = Arc::clone(running.state());
        let instance = state
            .config
            .instances
            .first()
            .map(|i| i.name.clone())
            .unwrap_or_default();

        // Credentials straight into the store, then one reconcile: `set_credentials` per user
        // would reconcile once per user, reading every user's credential each time.
        let mut users = vec![DEMO_LOGIN.to_owned()];
        users.extend((0..generated).map(load_login));
        {
            let state = Arc::clone(&state);
            let users = users.clone();
            on(&rt.conn.handle().clone(), async move {
                use ctibridge_store::CredentialStore;
                for login in &users {
                    let password = if login == DEMO_LOGIN {
                        DEMO_PASSWORD
                    } else {
                        "load-pass"
                    };
                    let hash =
                        SecretString::from(ctibridge_starface::auth::password_sha512_hex(password));
                    state
                        .store
                        .put_credential(&ctibridge_server::uci::credential_key(login), &hash)
                        .await?;
                }
                state.uci.refresh();
                anyhow::Ok(())
            })
            .await??;
        }

        // Ready when the PBX has a subscribed session with a callback for every user. The
        // connector's own view (the hub's UCI state) is not used: its supervisors report
        // through a channel of 256 that drops changes when many sessions start at once.
        let deadline = started + opts.ready_timeout;
        let mut index_ready_after = None;
        let mut last_progress = Instant::now();
        let wanted: std::collections::HashSet<&str> = users.iter().map(String::as_str).collect();
        loop {
            let live: std::collections::HashSet<String> = pbx
                .control()
                .sessions()
                .into_iter()
                .filter(|s| s.callback.is_some() && !s.subscriptions.is_empty())
                .map(|s| s.login)
                .filter(|l| wanted.contains(l.as_str()))
                .collect();
            let active = live.len();
            let indexed = state
                .lookup(&instance)
                .is_some_and(|l| l.index.number_count() >= opts.min_numbers);
            if indexed && index_ready_after.is_none() {
                index_ready_after = Some(connector_started.elapsed());
            }
            if active == users.len() && indexed {
                break;
            }
            if last_progress.elapsed() >= Duration::from_secs(5) {
                last_progress = Instant::now();
                eprintln!(
                    "waiting for start-up ({:.0} s): {active} of {} users have a subscribed UCI session at the PBX, {} supervised by the connector, index {}",
                    started.elapsed().as_secs_f64(),
                    users.len(),
                    state.uci.session_count(),
                    if indexed { "ready" } else { "not ready" }
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "not ready after {:?}: {active} of {} UCI sessions subscribed at the PBX, index {}",
                    opts.ready_timeout,
                    users.len(),
                    if indexed { "ready" } else { "not ready" }
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The sync engine reads the org after start: wait until it has stopped calling the
        // API for a moment, so that its first read does not fall into a measurement.
        let mut last = org.control().api_usage().used;
        let mut quiet = 0;
        while quiet < 6 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = org.control().api_usage().used;
            quiet = if now == last { quiet + 1 } else { 0 };
            last = now;
        }
        Ok(Self {
            org,
            pbx,
            running,
            connector,
            public,
            pipeline,
            users,
            instance,
            ready_after: started.elapsed(),
            emulators_up_after,
            index_ready_after,
            _dir: dir,
        })
    }

    /// The connector's shared state.
    pub fn state(&self) -> &Arc<ctibridge_server::state::AppState> {
        self.running.state()
    }

    /// `ws://.../panel/ws` of the connector.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/panel/ws", self.connector)
    }

    /// A panel token for `login`: the demo user signs in through the real OAuth web-server
    /// flow with PKCE (the org emulator has Salesforce users for the demo users only); the
    /// generated users get a session made the way the OAuth callback makes one.
    pub async fn panel_token(&self, login: &str) -> anyhow::Result<String> {
        if login == DEMO_LOGIN {
            return self.sign_in(DEMO_USERNAME).await;
        }
        Ok(self.state().sessions.create(PanelUser {
            instance: self.instance.clone(),
            starface_login: login.to_owned(),
            starface_user_id: login.parse().unwrap_or_default(),
            name: format!("Load User {login}"),
            email: format!("{login}@example.com"),
            salesforce_user_id: String::new(),
        }))
    }

    /// The panel's sign-in popup, followed by hand: the redirect to the org's authorize
    /// endpoint (`login_hint` skips its user picker), back to the connector's callback
    /// (under `public_url`, which is the callback endpoint here, so the host is swapped),
    /// and the token from the page it answers.
    async fn sign_in(&self, username: &str) -> anyhow::Result<String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let public = format!("http://{}/", self.public);
        let connector = format!("http://{}/", self.connector);
        let mut url = format!("{connector}panel/login?login_hint={username}");
        for _ in 0..5 {
            let resp = http.get(&url).send().await?;
            if let Some(loc) = resp.headers().get("location") {
                url = loc.to_str()?.replace(&public, &connector);
                continue;
            }
            let body = resp.text().await?;
            let start = body
                .find("\"token\":\"")
                .context("the sign-in page hands over no token")?
                + 9;
            let end = body[start..]
                .find('"')
                .context("unterminated token on the sign-in page")?
                + start;
            return Ok(body[start..end].to_owned());
        }
        bail!("too many redirects signing in {username}")
    }

    /// Stops the connector and both emulators.
    pub async fn shutdown(self, rt: &Runtimes) {
        let Self {
            org, pbx, running, ..
        } = self;
        let _ = on(&rt.conn.handle().clone(), running.shutdown()).await;
        let _ = on(&rt.emu.handle().clone(), async move {
            pbx.shutdown().await;
            org.shutdown().await;
        })
        .await;
    }
}

/// Runs `fut` on the runtime of `handle` and waits for it from wherever we are.
pub async fn on<F>(handle: &Handle, fut: F) -> anyhow::Result<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle
        .spawn(fut)
        .await
        .map_err(|e| anyhow::anyhow!("task on another runtime failed: {e}"))
}
