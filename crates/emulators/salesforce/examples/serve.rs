//! Serves an emulated org, like `ctibridge emulate salesforce`, for tests that run before the
//! binary is built: `cargo run -p ctibridge-emulator-salesforce --example serve -- --tls`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Serve an emulated Salesforce org.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the URL is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    contacts: Option<usize>,
    #[arg(long)]
    leads: Option<usize>,
    #[arg(long)]
    accounts: Option<usize>,
    /// Serve HTTPS with a certificate made at start (its CA file path is printed).
    #[arg(long)]
    tls: bool,
    /// Seconds before a new or changed record is found by SOSL.
    #[arg(long)]
    search_lag_secs: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    let mut opts = ctibridge_emulator_salesforce::Options {
        seed: a.seed,
        tls: a.tls,
        ..Default::default()
    };
    if let Some(n) = a.contacts {
        opts.contacts = n;
    }
    if let Some(n) = a.leads {
        opts.leads = n;
    }
    if let Some(n) = a.accounts {
        opts.accounts = n;
    }
    if let Some(s) = a.search_lag_secs {
        opts.search_lag = Duration::from_secs(s);
    }
    match ctibridge_emulator_salesforce::run_cli(a.listen, opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
