//! The `ctibridge` command line. Thin: parses arguments and hands over to the library crates.

/// mimalloc: the many small allocations of building an index and cards cost less than with
/// glibc malloc (see the `mimalloc` feature in Cargo.toml).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

mod demo;

/// ctibridge: STARFACE <-> Salesforce Lightning telephony connector.
#[derive(Debug, Parser)]
#[command(name = "ctibridge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the connector with a configuration file.
    Serve {
        /// Path of the TOML configuration file.
        #[arg(long, short, env = "CTIBRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Start both emulators and a connector wired to them on loopback; prints the URLs.
    Demo(demo::DemoArgs),
    /// Check every link (Salesforce token, run-as user, field access, API limits, STARFACE
    /// login, e-mail matches, UCI, callback URL); exit code 1 when something is wrong.
    Doctor {
        /// Path of the TOML configuration file.
        #[arg(long, short, env = "CTIBRIDGE_CONFIG")]
        config: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sync every enabled instance once: Salesforce records into the local cache and, with
    /// import_contacts, into the STARFACE address book. Exit code 1 when something failed.
    Sync {
        /// Path of the TOML configuration file.
        #[arg(long, short, env = "CTIBRIDGE_CONFIG")]
        config: PathBuf,
        /// Read every record again instead of the changes since the last sync.
        #[arg(long)]
        full: bool,
    },
    /// Print the Call Center definition (XML) to import in Salesforce Setup.
    CallcenterXml {
        /// Path of the TOML configuration file.
        #[arg(long, short, env = "CTIBRIDGE_CONFIG")]
        config: PathBuf,
        /// The instance to describe (default: the only one).
        #[arg(long)]
        instance: Option<String>,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run an emulator of one of the external systems (for tests and trials).
    Emulate {
        #[command(subcommand)]
        system: EmulateCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration file.
    Example,
    /// Load and validate a configuration file; prints warnings and errors.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum EmulateCommand {
    /// An emulated Salesforce org (REST, OAuth, SOSL, Open CTI stand-in).
    Salesforce(SalesforceEmulatorArgs),
    /// An emulated STARFACE PBX (REST and UCI XML-RPC with call events).
    Starface(StarfaceEmulatorArgs),
}

#[derive(Debug, Args)]
struct SalesforceEmulatorArgs {
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
    /// Serve HTTPS with a self-signed certificate (its CA file path is printed).
    #[arg(long)]
    tls: bool,
    /// Seconds before a new or changed record is found by SOSL.
    #[arg(long)]
    search_lag_secs: Option<u64>,
}

#[derive(Debug, Args)]
struct StarfaceEmulatorArgs {
    /// Address to listen on; port 0 picks a free port (the URL is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => {
            let loaded = load_config(&config)?;
            let cfg = loaded.config;
            let (log, _guard) =
                ctibridge_server::logging::init(&cfg.server.data_dir, cfg.log.level)
                    .context("cannot set up logging")?;
            for w in &loaded.warnings {
                tracing::warn!("configuration: {w}");
            }
            ctibridge_server::serve(cfg, Some(log), ctibridge_server::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Doctor { config, json } => {
            let loaded = load_config(&config)?;
            let report =
                ctibridge_server::doctor::run_doctor(&loaded.config, &loaded.warnings).await;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.render_human());
            }
            Ok(if report.has_problems() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Sync { config, full } => {
            let loaded = load_config(&config)?;
            let bar = ProgressBar::default();
            let summary =
                ctibridge_server::sync::run_sync_once(&loaded.config, full, |p| bar.show(&p))
                    .await?;
            bar.finish();
            for inst in &summary.instances {
                for o in &inst.objects {
                    let mode = match o.mode {
                        Some(ctibridge_server::sync::SyncMode::Full) => "full",
                        Some(ctibridge_server::sync::SyncMode::Incremental) => "changes",
                        None => "failed",
                    };
                    println!(
                        "{} {}: {mode}, {} read, {} deleted, {} API calls",
                        inst.name, o.object, o.records_read, o.records_deleted, o.api_calls
                    );
                }
                if let Some(e) = &inst.export {
                    println!(
                        "{} address book: {} created, {} changed, {} deleted{}",
                        inst.name,
                        e.counts.created,
                        e.counts.updated,
                        e.counts.deleted,
                        e.exported
                            .map(|n| format!(", {n} contacts exported"))
                            .unwrap_or_default()
                    );
                }
                if let Some((used, limit)) = inst.api_usage {
                    println!("{} API usage: {used}/{limit}", inst.name);
                }
            }
            let errors = summary.errors();
            for e in &errors {
                eprintln!("error: {e}");
            }
            Ok(if errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::CallcenterXml { config, instance } => {
            let loaded = load_config(&config)?;
            let xml =
                ctibridge_server::callcenter::callcenter_xml(&loaded.config, instance.as_deref())?;
            print!("{xml}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command } => match command {
            ConfigCommand::Example => {
                print!("{}", ctibridge_config::example());
                Ok(ExitCode::SUCCESS)
            }
            ConfigCommand::Check { config } => {
                load_config(&config)?;
                println!("{}: ok", config.display());
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Emulate { system } => {
            match system {
                EmulateCommand::Salesforce(a) => {
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
                        opts.search_lag = std::time::Duration::from_secs(s);
                    }
                    ctibridge_emulator_salesforce::run_cli(a.listen, opts).await?;
                }
                EmulateCommand::Starface(a) => {
                    let opts = ctibridge_emulator_starface::Options {
                        seed: a.seed,
                        ..Default::default()
                    };
                    ctibridge_emulator_starface::run_cli(a.listen, opts).await?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A one-line progress bar on stderr while a terminal watches; nothing otherwise.
#[derive(Default)]
struct ProgressBar {
    drawn: std::cell::Cell<bool>,
}

impl ProgressBar {
    fn show(&self, p: &ctibridge_server::sync::SyncProgress) {
        use std::io::{IsTerminal, Write};
        let mut err = std::io::stderr();
        if !err.is_terminal() {
            return;
        }
        let what = if p.object.is_empty() {
            "address book".to_owned()
        } else {
            p.object.clone()
        };
        let line = match p.total {
            Some(total) if total > 0 => {
                let filled = usize::try_from(p.done.min(total) * 30 / total).unwrap_or(30);
                format!(
                    "{} {what} {:?}: [{}{}] {}/{total}",
                    p.instance,
                    p.phase,
                    "#".repeat(filled),
                    "-".repeat(30 - filled),
                    p.done
                )
            }
            _ => format!("{} {what} {:?}: {}", p.instance, p.phase, p.done),
        };
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn.set(true);
    }

    fn finish(&self) {
        if self.drawn.get() {
            eprintln!();
        }
    }
}

/// Loads and validates the configuration, printing warnings (fixes we applied) to stderr.
fn load_config(path: &std::path::Path) -> anyhow::Result<ctibridge_config::Loaded> {
    let loaded = ctibridge_config::Config::load_from_process_env(Some(path))
        .map_err(|e| anyhow::anyhow!("{}: invalid configuration:\n{e}", path.display()))?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}
