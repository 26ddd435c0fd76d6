//! `ctibridge demo`: both emulators and a connector wired to them, on loopback, with embedded
//! defaults. Nothing to configure; everything lives in a temporary data directory unless
//! `--data-dir` is given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
    let config =
        ctibridge_config::Config::demo(data_dir.clone(), args.listen, pbx.url().clone(), org_url);
    let log = ctibridge_server::logging::init(&data_dir, config.log.level)
        .context("cannot set up logging")?;
    let running = ctibridge_server::start(config, Some(log.0))
        .await
        .with_context(|| format!("cannot start the connector on {}", args.listen))?;
    let _log_guard = log.1;

    println!("ctibridge demo is running (Ctrl-C stops it)");
    println!("  connector status  http://{}/", running.local_addr());
    println!("  Salesforce (emulated)  {}", org.url());
    println!("  STARFACE (emulated)    {}", pbx.url());
    println!("  data directory         {}", data_dir.display());

    ctibridge_server::shutdown_signal().await;
    running.shutdown().await;
    pbx.shutdown().await;
    org.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
