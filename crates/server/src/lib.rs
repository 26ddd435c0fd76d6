//! The ctibridge service: the HTTP surface (status now; panel, admin UI and UCI callback as
//! they land) and the workers that keep it connected to the PBX and to each Salesforce org.

pub mod actions;
pub mod admin;
pub mod callcenter;
pub mod calls;
pub mod cards;
pub mod demo;
pub mod doctor;
pub mod http;
pub mod hub;
pub mod instance;
pub mod logging;
pub mod metrics;
pub mod outbox;
pub mod panel;
pub mod pbx;
pub mod ratelimit;
pub mod sessions;
pub mod state;
pub mod status;
pub mod sync;
pub mod uci;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ctibridge_config::Config;
use ctibridge_phone::{LibPhoneNormaliser, Normaliser};
use ctibridge_store::SqliteStore;
use tokio::task::JoinSet;
use tracing::info;

use crate::logging::LogControl;
use crate::state::AppState;
use crate::status::{InstanceStatus, StarfaceStatus};

/// How often the PBX's users and groups are read again.
const DIRECTORY_REFRESH: Duration = Duration::from_secs(5 * 60);

/// How long a shutdown waits for the instances to save their index snapshots.
const INSTANCE_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the data directory: {0}")]
    Store(#[from] ctibridge_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// A started service: its address, its state, and the handle that stops it.
pub struct Running {
    addr: SocketAddr,
    state: Arc<AppState>,
    tasks: JoinSet<()>,
    /// The instances' syncs: told to close first, so that each can save its index snapshot.
    instances: JoinSet<()>,
    closing: tokio::sync::watch::Sender<bool>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// Where the HTTP server listens (the real port when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests read the status from it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops the HTTP server and every worker, then the UCI sessions (logging them out), which
    /// run as tasks of their own and would otherwise go on calling the PBX.
    pub async fn shutdown(mut self) {
        // An idle instance saves its index snapshot (if records changed since the last) and
        // ends; one in the middle of a sync cycle is not waited for beyond the grace time.
        let _ = self.closing.send(true);
        let grace = tokio::time::sleep(INSTANCE_CLOSE_GRACE);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                joined = self.instances.join_next() => if joined.is_none() { break },
                () = &mut grace => break,
            }
        }
        self.instances.abort_all();
        while self.instances.join_next().await.is_some() {}
        let _ = self.stop.send(());
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        // After the workers: none is left to start a session again.
        self.state.uci.stop_all().await;
    }
}

/// Extras for [`start_with`].
#[derive(Default)]
pub struct StartOptions {
    /// Serve on this already bound listener instead of binding `server.listen`.
    pub listener: Option<tokio::net::TcpListener>,
    /// The demo's emulator control: mounts `/demo`.
    pub demo: Option<Arc<dyn demo::DemoControl>>,
}

/// Opens the store, binds the listener and starts every worker; returns at once.
pub async fn start(config: Config, log: Option<LogControl>) -> Result<Running, StartError> {
    start_with(config, log, StartOptions::default()).await
}

/// [`start`] on an already bound listener (tests and the load tool bind port 0 first).
pub async fn start_on(
    config: Config,
    listener: tokio::net::TcpListener,
) -> Result<Running, StartError> {
    let opts = StartOptions {
        listener: Some(listener),
        demo: None,
    };
    start_with(config, None, opts).await
}

/// [`start`] with a pre-bound listener and/or the demo's emulator control.
pub async fn start_with(
    config: Config,
    log: Option<LogControl>,
    opts: StartOptions,
) -> Result<Running, StartError> {
    let store = SqliteStore::open(&config.server.data_dir).await?;
    let config = admin::prepare(config, &store).await;
    let normaliser: Arc<dyn Normaliser> = Arc::new(
        LibPhoneNormaliser::new(config.dialing.rules())
            .map_err(|e| StartError::Setup(format!("dialing rules: {e}")))?,
    );
    tokio::task::spawn_blocking({
        let normaliser = normaliser.clone();
        move || normaliser.warm_up()
    });
    let listener = match opts.listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.server.listen,
                source,
            })?,
    };
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.server.listen,
        source,
    })?;

    let mut clients = HashMap::new();
    for inst in &config.instances {
        let creds = ctibridge_salesforce::Credentials {
            login_url: inst.salesforce.login_url.clone(),
            client_id: inst.salesforce.client_id.clone(),
            client_secret: inst.salesforce.client_secret.clone(),
        };
        let client = ctibridge_salesforce::SalesforceClient::builder(creds)
            .api_version(ctibridge_salesforce::ApiVersion::new(
                inst.salesforce.api_version.major(),
            ))
            .build()
            .map_err(|e| StartError::Setup(format!("instance {:?}: {e}", inst.name)))?;
        clients.insert(inst.name.clone(), client);
    }
    let rest = ctibridge_starface::rest::RestClient::new(
        &config.starface.url,
        config.starface.admin_login.to_string(),
        config.starface.admin_password.clone(),
    )
    .map_err(|e| StartError::Setup(e.to_string()))?;
    let (dir_tx, dir_rx) = tokio::sync::watch::channel(None);

    let state = AppState::new(state::Parts {
        config,
        store,
        log,
        normaliser: normaliser.clone(),
        clients,
        directory: dir_rx.clone(),
        demo: opts.demo,
    });
    state.update_status(|s| {
        s.starface = StarfaceStatus {
            url: state.config.starface.url.to_string(),
            admin_login: state.config.starface.admin_login.to_string(),
            ..Default::default()
        };
        s.instances = state
            .config
            .instances
            .iter()
            .map(|i| InstanceStatus {
                name: i.name.clone(),
                description: i.description.clone(),
                login_url: i.salesforce.login_url.to_string(),
                ..Default::default()
            })
            .collect();
    });

    let mut tasks = JoinSet::new();
    tasks.spawn(pbx::run(state.clone(), rest, dir_tx, DIRECTORY_REFRESH));
    tasks.spawn(uci::run(state.clone()));
    tasks.spawn(outbox::run(state.clone()));
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let mut instances = JoinSet::new();
    for inst in state.config.instances.iter().filter(|i| i.enabled) {
        let Some(client) = state.clients.get(&inst.name).cloned() else {
            continue;
        };
        instances.spawn(instance::run(
            state.clone(),
            inst.clone(),
            client,
            normaliser.clone(),
            dir_rx.clone(),
            closing_rx.clone(),
        ));
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = http::router(state.clone());
    tasks.spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    info!(%addr, "ctibridge listening");
    Ok(Running {
        addr,
        state,
        tasks,
        instances,
        closing,
        stop,
    })
}

/// Runs the service until `shutdown` resolves.
pub async fn serve(
    config: Config,
    log: Option<LogControl>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let running = start(config, log).await?;
    shutdown.await;
    info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
