//! Runs the emulated STARFACE PBX: `cargo run -p ctibridge-emulator-starface --example serve --
//! [--listen 127.0.0.1:0] [--seed N] [--contacts N] [--step-delay-ms N] [--session-ttl-secs N]`.
//! Prints `starface emulator listening on <url>` and serves until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ctibridge_emulator_starface::{Options, run_cli};

fn parse_args() -> Result<(SocketAddr, Options), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen: `{v}` is not an address like 127.0.0.1:0"))?;
            }
            "--seed" => opts.seed = number(value()?)?,
            "--contacts" => {
                opts.contacts = usize::try_from(number(value()?)?).map_err(|e| e.to_string())?;
            }
            "--step-delay-ms" => opts.step_delay = Duration::from_millis(number(value()?)?),
            "--session-ttl-secs" => opts.session_ttl = Duration::from_secs(number(value()?)?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((listen, opts))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, opts) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run_cli(listen, opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
