//! An emulated Salesforce org that speaks the real REST and OAuth dialect: client-credentials
//! and web-server (PKCE) login, SOQL with paging, SOSL with a search-index lag, sObject CRUD,
//! sObject Collections, replication (`updated/`, `deleted/`), limits, Salesforce's error
//! bodies, run-time fault injection, and a recording stand-in for Open CTI.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ctibridge_emulator_salesforce::EmulatorError> {
//! let org = ctibridge_emulator_salesforce::spawn("127.0.0.1:0".parse().unwrap(), Default::default()).await?;
//! println!("{}", org.url());
//! org.control().hide_field("Contact.OwnerId")?;
//! org.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! What was verified about the real dialect, with sources, is in this crate's README.

mod errors;
mod http;
mod ids;
mod oauth;
mod opencti;
mod org;
mod phones;
mod rest;
mod schema;
mod seed;
mod soql;
mod sosl;
mod store;
mod time;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use tokio::task::JoinHandle;

pub use errors::SaveError;
pub use org::{ApiUsage, Control, FaultUpdate, Faults, OrgState, RecordCounts, RecordOp};
pub use seed::{ExpectedNumber, OrgUser};
pub use store::{RuleCondition, ValidationRule};

/// How the org is built.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of the generated data (same seed, same org).
    pub seed: u64,
    /// Number of contacts.
    pub contacts: usize,
    /// Number of leads.
    pub leads: usize,
    /// Number of accounts.
    pub accounts: usize,
    /// Serve HTTPS with a certificate made at start (see [`RunningOrg::ca_cert_pem`]).
    pub tls: bool,
    /// How long new or changed records stay invisible to SOSL. Zero by default so tests are
    /// deterministic; Salesforce documents "about 15 minutes or more" in production.
    pub search_lag: Duration,
    /// The org's daily API request limit.
    pub api_daily_limit: u64,
    /// The newest API version served, e.g. `"62.0"`; versions 20.0 up to it are accepted.
    pub api_version: String,
    /// Consumer key of the connected app.
    pub client_id: String,
    /// Consumer secret of the connected app (a public demo value).
    pub client_secret: String,
    /// Lifetime of access tokens (the org's session timeout).
    pub token_lifetime: Duration,
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
}

impl Default for Options {
    /// Seed 42, 200 contacts, 100 leads, 50 accounts, plain HTTP, no search lag, 100,000
    /// API calls a day, API v62.0, the demo connected app, 2-hour tokens, 10 MiB bodies.
    fn default() -> Self {
        Options {
            seed: 42,
            contacts: 200,
            leads: 100,
            accounts: 50,
            tls: false,
            search_lag: Duration::ZERO,
            api_daily_limit: 100_000,
            api_version: "62.0".to_owned(),
            client_id: "demo-consumer-key".to_owned(),
            client_secret: "demo-consumer-secret".to_owned(),
            token_lifetime: Duration::from_secs(2 * 3600),
            max_body_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Why the emulator could not start or a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS certificate or configuration could not be made.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// Writing the CA certificate or the start-up line failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A control request named something that does not exist.
    #[error("invalid control request: {0}")]
    Control(String),
    /// The server stopped with an error.
    #[error("server error: {0}")]
    Server(String),
}

/// A running org. Dropping it stops the server at once; [`RunningOrg::shutdown`] stops it
/// gracefully.
pub struct RunningOrg {
    url: url::Url,
    ca_pem: Option<String>,
    control: Control,
    handle: Handle,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for RunningOrg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningOrg")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl RunningOrg {
    /// The origin, `http://127.0.0.1:PORT/` or `https://...` (also the `instance_url`).
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The PEM of the CA that signed the server certificate, when serving TLS.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Faults and data access.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops accepting connections, lets running requests finish (up to a second).
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(1)));
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningOrg {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.handle.shutdown();
        }
    }
}

struct Tls {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a server certificate for 127.0.0.1 and localhost, made fresh at every start.
fn make_certs() -> Result<Tls, EmulatorError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let err = |e: rcgen::Error| EmulatorError::Tls(e.to_string());
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ctibridge Salesforce emulator CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(err)?;
    Ok(Tls {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Builds the org and serves it on `listen` (port 0 picks a free port).
pub async fn spawn(listen: SocketAddr, opts: Options) -> Result<RunningOrg, EmulatorError> {
    let listener = std::net::TcpListener::bind(listen).map_err(|source| EmulatorError::Bind {
        addr: listen,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| EmulatorError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr()?;
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    let scheme = if opts.tls { "https" } else { "http" };
    let url = url::Url::parse(&format!("{scheme}://{host}:{}/", local.port()))
        .map_err(|e| EmulatorError::Server(e.to_string()))?;

    let sizes = seed::Sizes {
        accounts: opts.accounts,
        contacts: opts.contacts,
        leads: opts.leads,
    };
    let seed_value = opts.seed;
    let now = time::now_ms();
    let seeded = tokio::task::spawn_blocking(move || seed::generate(seed_value, sizes, now))
        .await
        .map_err(|e| EmulatorError::Server(e.to_string()))?;
    let org = Arc::new(org::Org::new(url.clone(), &opts, seeded));
    let app = http::router(org.clone());
    let handle = Handle::new();
    let (task, ca_pem) = if opts.tls {
        // Another crate may have installed a provider already; either way ring serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = make_certs()?;
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            certs.cert_pem.into_bytes(),
            certs.key_pem.into_bytes(),
        )
        .await
        .map_err(|e| EmulatorError::Tls(e.to_string()))?;
        let server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
        (
            tokio::spawn(server.serve(app.into_make_service())),
            Some(certs.ca_pem),
        )
    } else {
        let server = axum_server::from_tcp(listener).handle(handle.clone());
        (tokio::spawn(server.serve(app.into_make_service())), None)
    };
    tracing::info!(url = %url, "salesforce emulator listening");
    Ok(RunningOrg {
        url,
        ca_pem,
        control: Control { org },
        handle,
        task: Some(task),
    })
}

/// For `ctibridge emulate salesforce`: serves, prints `salesforce emulator listening on
/// <url>` (and `ca-cert <path>` with TLS, the CA written to a temporary file), then waits
/// for Ctrl-C or SIGTERM.
pub async fn run_cli(listen: SocketAddr, opts: Options) -> Result<(), EmulatorError> {
    let org = spawn(listen, opts).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "salesforce emulator listening on {}",
        org.url().as_str().trim_end_matches('/')
    )?;
    let ca_file = match org.ca_cert_pem() {
        Some(pem) => {
            let mut f = tempfile::Builder::new()
                .prefix("ctibridge-salesforce-ca-")
                .suffix(".pem")
                .tempfile()?;
            f.write_all(pem.as_bytes())?;
            f.flush()?;
            writeln!(out, "ca-cert {}", f.path().display())?;
            Some(f)
        }
        None => None,
    };
    out.flush()?;
    drop(out);
    wait_for_stop().await;
    org.shutdown().await;
    drop(ca_file);
    Ok(())
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
