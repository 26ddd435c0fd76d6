//! `ctibridge demo`: both emulators and a connector wired to them, on loopback, with embedded
//! defaults. Nothing to configure; everything lives in a temporary data directory unless
//! `--data-dir` is given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

/// Arguments of `ctibridge demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the connector (status page, and later the panel and admin UI).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Keep the connector's data here instead of a temporary directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Contacts in the emulated org.
    #[arg(long, default_value_t = 500)]
    contacts: usize,
    /// Leads in the emulated org.
    #[arg(long, default_value_t = 200)]
    leads: usize,
    /// Accounts in the emulated org.
    #[arg(long, default_value_t = 100)]
    accounts: usize,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let tmp;
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => {
            tmp = tempfile::Builder::new()
                .prefix("ctibridge-demo-")
                .tempdir()
                .context("cannot create a temporary data directory")?;
            tmp.path().to_path_buf()
        }
    };

    let org = ctibridge_emulator_salesforce::spawn(
        loopback,
        ctibridge_emulator_salesforce::Options {
            contacts: args.contacts,
            leads: args.leads,
            accounts: args.accounts,
            ..Default::default()
        },
    )
    .await
    .context("cannot start the Salesforce emulator")?;
    let pbx = ctibridge_emulator_starface::spawn(loopback, Default::default())
        .await
        .context("cannot start the STARFACE emulator")?;

    let org_url = ctibridge_domain::LoginUrl::parse(org.url().as_str())
        .context("the Salesforce emulator's URL")?
        .0;
    // Bind first, so that `--listen 127.0.0.1:0` gives a public_url with the real port.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (try --listen 127.0.0.1:0)",
                args.listen
            )
        })?;
    let bound = listener.local_addr().context("the bound address")?;
    let config =
        ctibridge_config::Config::demo(data_dir.clone(), bound, pbx.url().clone(), org_url);
    let log = ctibridge_server::logging::init(&data_dir, config.log.level)
        .context("cannot set up logging")?;
    let control = Arc::new(EmulatorControl {
        org_url: org.url().clone(),
        pbx_url: pbx.url().clone(),
        pbx: pbx.control(),
    });
    let running = ctibridge_server::start_with(
        config,
        Some(log.0),
        ctibridge_server::StartOptions {
            listener: Some(listener),
            demo: Some(control),
        },
    )
    .await
    .with_context(|| format!("cannot start the connector on {bound}"))?;
    let _log_guard = log.1;

    // The demo's users have entered their STARFACE passwords once (in the panel, normally).
    for user in ctibridge_emulator_starface::demo_users() {
        if user.login_id == "0001" {
            continue;
        }
        ctibridge_server::uci::set_credentials(
            running.state(),
            &user.login_id,
            &user.password.clone().into(),
        )
        .await
        .context("cannot store the demo users' STARFACE credentials")?;
    }

    println!("ctibridge demo is running (Ctrl-C stops it)");
    println!(
        "  demo (Salesforce host page with the panel)  http://{}/demo",
        running.local_addr()
    );
    println!("  connector status  http://{}/", running.local_addr());
    println!(
        "  admin UI          http://{}/admin  (sign in as the STARFACE administrator 0001 / admin-pass)",
        running.local_addr()
    );
    println!("  Salesforce (emulated)  {}", org.url());
    println!("  STARFACE (emulated)    {}", pbx.url());
    println!("  data directory         {}", data_dir.display());

    ctibridge_server::shutdown_signal().await;
    running.shutdown().await;
    pbx.shutdown().await;
    org.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The demo's hold on the emulators: plays calls on the PBX for the host page.
struct EmulatorControl {
    org_url: url::Url,
    pbx_url: url::Url,
    pbx: ctibridge_emulator_starface::Control,
}

impl ctibridge_server::demo::DemoControl for EmulatorControl {
    fn info(&self) -> serde_json::Value {
        let users: Vec<_> = ctibridge_emulator_starface::demo_users()
            .into_iter()
            .filter(|u| u.login_id != "0001")
            .map(|u| {
                serde_json::json!({
                    "login": u.login_id,
                    "name": format!("{} {}", u.first_name, u.family_name),
                    "email": u.email,
                })
            })
            .collect();
        serde_json::json!({
            "org_url": self.org_url.as_str().trim_end_matches('/'),
            "pbx_url": self.pbx_url.as_str(),
            "users": users,
        })
    }

    fn play(&self, call: ctibridge_server::demo::PlayCall) -> Result<String, String> {
        use ctibridge_emulator_starface::{CallKind, CallSpec};
        let kind = match call.kind {
            "missed" => CallKind::Missed,
            "outbound" => CallKind::Outbound,
            "group" => CallKind::Group,
            _ => CallKind::Inbound,
        };
        // A person must be able to watch it ring: a few seconds per step, not milliseconds.
        let spec = CallSpec {
            kind,
            answered: kind != CallKind::Missed,
            target: call.target,
            number: call.number,
            name: call.name,
            name_late: true,
            step_delay: Some(std::time::Duration::from_millis(1500)),
            ring_steps: 3,
            talk_steps: 4,
            ..Default::default()
        };
        self.pbx.play(spec).map_err(|e| e.to_string())
    }
}
