//! An emulated STARFACE PBX that speaks the real interfaces a connector uses: the REST API
//! (`/rest`, login with nonce and SHA-512 secret, users, groups, address book with tags) and
//! the UCI over XML-RPC (`/xml-rpc`, login/keepAlive/subscribe, call requests, and
//! `receiveCallState` events posted to each session's callback). A control API (`/__emulator`
//! over HTTP, [`Control`] in Rust) plays calls and restarts the PBX.
//!
//! See the crate's README.md for what was verified against which public source.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

mod callback;
mod calls;
mod control;
mod rest;
mod seed;
mod state;
mod uci;

pub use control::{
    CallKind, CallSpec, Control, ControlError, DeliveryOutcome, EventRecord, NumberFormat,
    SessionInfo, Stats,
};
pub use seed::{GroupSeed, UserSeed, demo_groups, demo_users};

/// How to set up the emulated PBX.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of everything random (ids, nonces, tokens, generated contacts).
    pub seed: u64,
    /// Users; default: the demo users of the project brief.
    pub users: Vec<UserSeed>,
    /// Groups; default: the demo groups ("Sales", "Support").
    pub groups: Vec<GroupSeed>,
    /// A UCI session without a request for this long is gone (keepAlive then answers false).
    pub session_ttl: Duration,
    /// Lifetime of a REST `authToken` (4 h on the real PBX).
    pub token_ttl: Duration,
    /// Lifetime of an unused REST login nonce.
    pub nonce_ttl: Duration,
    /// Pre-existing address-book entries made by someone else (shared, partly tagged).
    pub contacts: usize,
    /// Default time between two call events.
    pub step_delay: Duration,
    /// Timeout of one callback post.
    pub callback_timeout: Duration,
    /// Largest request body accepted (larger: HTTP 413).
    pub max_body_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 42,
            users: demo_users(),
            groups: demo_groups(),
            session_ttl: Duration::from_secs(90),
            token_ttl: Duration::from_secs(4 * 60 * 60),
            nonce_ttl: Duration::from_secs(5 * 60),
            contacts: 6,
            step_delay: Duration::from_millis(20),
            callback_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Why the emulator could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The options contradict themselves (e.g. a group member who is no user).
    #[error("invalid STARFACE emulator options: {0}")]
    Options(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP server stopped with an error.
    #[error("STARFACE emulator server failed: {0}")]
    Serve(std::io::Error),
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

/// A running emulated PBX; dropping it without [`RunningPbx::shutdown`] leaves it running
/// until the runtime ends.
pub struct RunningPbx {
    url: Url,
    control: Control,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), std::io::Error>>,
}

impl std::fmt::Debug for RunningPbx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningPbx")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl RunningPbx {
    /// Base URL, e.g. `http://127.0.0.1:41234/`: REST is under `rest/`, UCI at `xml-rpc`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The REST base, `<url>rest/`.
    pub fn rest_url(&self) -> Url {
        join(&self.url, "rest/")
    }

    /// The UCI endpoint, `<url>xml-rpc`.
    pub fn xmlrpc_url(&self) -> Url {
        join(&self.url, "xml-rpc")
    }

    /// A handle to play calls, restart, and read what happened.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops the server and every call scenario; returns when the server has stopped.
    pub async fn shutdown(mut self) {
        let shared = Arc::clone(&self.control.shared);
        shared.shutdown.send_replace(true);
        shared.lock().sessions.clear();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.server).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "STARFACE emulator server ended with an error")
            }
            Err(e) => tracing::warn!(error = %e, "STARFACE emulator server task failed"),
        }
    }
}

fn join(base: &Url, path: &str) -> Url {
    base.join(path).unwrap_or_else(|_| base.clone())
}

/// Starts the emulated PBX on `listen` (port 0 picks a free port) and returns once it accepts
/// connections.
pub async fn spawn(listen: SocketAddr, opts: Options) -> Result<RunningPbx, EmulatorError> {
    let max_body = opts.max_body_bytes;
    let shared = state::Shared::new(opts).map_err(EmulatorError::Options)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let host = if local.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        local.ip()
    };
    let url = Url::parse(&format!("http://{}/", SocketAddr::new(host, local.port())))
        .map_err(|e| EmulatorError::Options(format!("cannot form the emulator URL: {e}")))?;

    let app = Router::new()
        .route("/xml-rpc", post(uci::endpoint))
        .with_state(Arc::clone(&shared))
        .merge(rest::router(Arc::clone(&shared)))
        .merge(control::router(Arc::clone(&shared)))
        .layer(DefaultBodyLimit::max(max_body));

    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%url, "STARFACE emulator listening");
    Ok(RunningPbx {
        url,
        control: Control { shared },
        stop: Some(stop),
        server,
    })
}

/// Runs the emulator for the command line: prints `starface emulator listening on <url>` on
/// stdout and serves until Ctrl-C.
pub async fn run_cli(listen: SocketAddr, opts: Options) -> Result<(), EmulatorError> {
    use std::io::Write as _;

    let pbx = spawn(listen, opts).await?;
    {
        let mut out = std::io::stdout().lock();
        // Test harnesses wait for this exact line; a closed stdout is not our problem.
        let _ = writeln!(out, "starface emulator listening on {}", pbx.url());
        let _ = out.flush();
    }
    let signal = tokio::signal::ctrl_c().await.map_err(EmulatorError::Signal);
    pbx.shutdown().await;
    signal
}
