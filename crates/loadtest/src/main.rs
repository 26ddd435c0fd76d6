//! `ctibridge-load`: the ring path under load and the memory cost of many records, on
//! loopback only and bounded in time. See the library docs and docs/PERFORMANCE.md.

/// mimalloc: the many small allocations of building an index and cards cost less than with
/// glibc malloc (see the `mimalloc` feature in Cargo.toml).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ctibridge_loadtest::lookup::LookupMode;
use ctibridge_loadtest::memory;
use ctibridge_loadtest::ring::{self, ModeResult, RingOptions};
use ctibridge_loadtest::sync_bench;
use ctibridge_loadtest::sys::{self, mb};
use ctibridge_loadtest::world::{Runtimes, World, WorldOptions};

#[derive(Parser)]
#[command(
    name = "ctibridge-load",
    about = "Load and memory measurements of ctibridge (loopback only)"
)]
struct Cli {
    /// The whole run stops after this many seconds, finished or not.
    #[arg(long, default_value_t = 900, global = true)]
    max_seconds: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Calls at a steady rate of events to users with UCI sessions, frames to panels.
    Ring(RingArgs),
    /// RSS of index and cards, start from the record cache, start with a full org read.
    Memory(MemoryArgs),
    /// Full sync of an org of N records and the cost of an incremental cycle per change.
    Sync(SyncArgs),
}

#[derive(Args)]
struct SyncArgs {
    /// Records of the org emulator (60 % Contacts, 25 % Leads, 15 % Accounts), one run each.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<usize>,
    /// Changes made on the org before each incremental cycle (updates, creates, deletes);
    /// empty: no incremental cycles.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000,10000")]
    changes: Vec<usize>,
    /// Contacts of an org whose address-book export to the STARFACE emulator is measured
    /// after the sizes; 0: skip.
    #[arg(long, default_value_t = 20_000)]
    export_contacts: usize,
    /// The `ctibridge` binary whose `sync --full` is run as a process of its own for its peak
    /// memory; default: the one next to this tool, when there is one.
    #[arg(long)]
    cli: Option<std::path::PathBuf>,
}

#[derive(Args)]
struct RingArgs {
    /// Panels (WebSocket connections).
    #[arg(long, default_value_t = 5_000)]
    panels: usize,
    /// STARFACE users with a UCI session (each connection is two file descriptors here,
    /// as both ends live in this process: panels + users must stay under the fd limit / 2).
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// Callback events per second (a call is 4 events).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds of calls per mode.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Modes to run, in order: server, index, sosl.
    #[arg(long, value_delimiter = ',', default_value = "server,index,sosl")]
    modes: Vec<LookupMode>,
    /// Milliseconds between two events of a call.
    #[arg(long, default_value_t = 250)]
    step_delay_ms: u64,
    /// Share of calls from numbers the org has.
    #[arg(long, default_value_t = 0.5)]
    known_share: f64,
    /// Contacts in the emulated org (leads: 40 %, accounts: 20 % of this).
    #[arg(long, default_value_t = 5_000)]
    contacts: usize,
}

#[derive(Args)]
struct MemoryArgs {
    /// Record counts to measure the index and cards with.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<usize>,
    /// Also fill a record cache of each size and start from it (SQLite, on disk).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    cache: bool,
    /// Records of the org emulator for the connector's real start (a full read); 0: skip.
    #[arg(long, default_value_t = 100_000)]
    org_records: usize,
    /// Connector starts on each record cache (at least 2): the first reads the cache and
    /// writes the index snapshot, the others start from the snapshot; the start-up time is
    /// noisy on a shared machine, so several starts give its spread.
    #[arg(long, default_value_t = 4)]
    starts: usize,
    /// Of those, starts from the record cache alone (the snapshot removed before each): what
    /// the first start after an upgrade, changed dialing rules or a damaged snapshot costs.
    #[arg(long, default_value_t = 1)]
    cache_starts: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let limit = Duration::from_secs(cli.max_seconds);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("ctibridge-load: stopped after the limit of {limit:?}");
        std::process::exit(2);
    });
    let nofile = sys::raise_fd_limit().context("raising the open-file limit")?;
    machine(nofile);
    let rt = Runtimes::new().context("starting the runtimes")?;
    match cli.command {
        Command::Ring(a) => {
            let load = rt.load.handle().clone();
            load.block_on(ring_main(&rt, a))
        }
        Command::Memory(a) => {
            let load = rt.load.handle().clone();
            load.block_on(memory_main(&rt, a))
        }
        Command::Sync(a) => {
            let load = rt.load.handle().clone();
            load.block_on(sync_main(&rt, a))
        }
    }
}

fn machine(nofile: u64) {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("machine: {cores} cores, {model}; open files limit {nofile}");
}

async fn ring_main(rt: &Runtimes, a: RingArgs) -> anyhow::Result<()> {
    let step_delay = Duration::from_millis(a.step_delay_ms);
    let opts = WorldOptions {
        users: a.users.max(1),
        contacts: a.contacts,
        leads: a.contacts * 2 / 5,
        accounts: a.contacts / 5,
        step_delay,
        ready_timeout: Duration::from_secs(300),
        data_dir: None,
        min_numbers: 0,
        org_down: false,
    };
    println!(
        "ring: {} panels, {} users with UCI sessions, {} events/s for {} s per mode, org {} contacts / {} leads / {} accounts",
        a.panels, opts.users, a.rate, a.duration, opts.contacts, opts.leads, opts.accounts
    );
    let world = World::start(rt, &opts).await?;
    let idx = world.state().lookup(&world.instance);
    println!(
        "ready after {:.1} s: {} UCI sessions active, {} numbers indexed; RSS {:.0} MB, {} fds",
        world.ready_after.as_secs_f64(),
        world.users.len(),
        idx.as_ref().map_or(0, |l| l.index.number_count()),
        mb(sys::snapshot().rss),
        sys::snapshot().fds
    );
    let t = Instant::now();
    let (mut panels, failed) = ring::open_panels(&world, a.panels).await?;
    let s = sys::snapshot();
    println!(
        "{} panels open in {:.1} s ({failed} failed); RSS {:.0} MB, {} fds",
        panels.users.len(),
        t.elapsed().as_secs_f64(),
        mb(s.rss),
        s.fds
    );

    // Idle baseline: sessions kept alive, panels connected, no calls.
    let before = sys::snapshot();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = sys::snapshot();
    println!(
        "idle (3 s, no calls): connector {:.3} cores, emulators {:.3}, load clients {:.3}",
        sys::cores(&before, &after, |s| sys::cpu_of(
            s,
            ctibridge_loadtest::world::CONN
        )),
        sys::cores(&before, &after, |s| sys::cpu_of(
            s,
            ctibridge_loadtest::world::EMU
        )),
        sys::cores(&before, &after, |s| sys::cpu_of(
            s,
            ctibridge_loadtest::world::LOAD
        )),
    );

    let ring_opts = RingOptions {
        rate: a.rate,
        duration: Duration::from_secs(a.duration),
        known_share: a.known_share,
        seed: 11,
    };
    let mut results = Vec::new();
    for mode in &a.modes {
        let r = ring::run_mode(rt, &world, &panels, *mode, &ring_opts, step_delay).await;
        report(&r);
        results.push(r);
    }
    let find = |m: LookupMode| results.iter().find(|r| r.mode == m);
    if let (Some(i), Some(s)) = (find(LookupMode::Index), find(LookupMode::Sosl)) {
        let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-9);
        println!(
            "sosl / index: ring p50 x{:.1}, ring p99 x{:.1}, all frames p99 x{:.1}, connector CPU x{:.1}, API calls {} vs {}",
            ratio(i.ring_latency.p50, s.ring_latency.p50),
            ratio(i.ring_latency.p99, s.ring_latency.p99),
            ratio(i.latency.p99, s.latency.p99),
            s.cores_conn / i.cores_conn.max(1e-9),
            s.api_calls,
            i.api_calls
        );
    }
    panels.close();
    world.shutdown(rt).await;
    Ok(())
}

fn report(r: &ModeResult) {
    println!("--- mode {}", r.mode);
    println!(
        "  calls {} ({} refused), callbacks {} ({:.0}/s), callback errors {}, PBX delivery failures {}, lookup errors {}",
        r.calls,
        r.play_errors,
        r.callbacks,
        r.callback_rate,
        r.callback_errors,
        r.pbx_delivery_failures,
        r.lookup_errors
    );
    println!(
        "  frames {} (unpaired {}, missing 'ended' {}), ringing frames {} ({} with a match), latencies over the step delay {}",
        r.frames,
        r.unpaired_frames,
        r.missing_end_frames,
        r.ringing_frames,
        r.ringing_with_match,
        r.over_step
    );
    println!("  ring (first frame of a call): {}", r.ring_latency);
    println!("  every frame:                  {}", r.latency);
    println!(
        "  CPU cores: connector {:.3}, emulators {:.3}, load clients {:.3}, process {:.3}; RSS end {:.0} MB, max {:.0} MB; Salesforce API calls {}",
        r.cores_conn,
        r.cores_emu,
        r.cores_load,
        r.cores_total,
        mb(r.rss_end),
        mb(r.rss_max),
        r.api_calls
    );
    println!(
        "  machine load average (1 min, all processes) at the end: {}",
        r.load_average
            .map_or("unknown".into(), |l| format!("{l:.2}"))
    );
    println!(
        "  target p99 <= 2 ms (ring): {}",
        if r.ring_latency.p99 <= Duration::from_millis(2) {
            "met"
        } else {
            "MISSED"
        }
    );
}

async fn memory_main(rt: &Runtimes, a: MemoryArgs) -> anyhow::Result<()> {
    for &n in &a.sizes {
        let t = Instant::now();
        let records = memory::generate(n, 5);
        println!(
            "--- {n} records (generated in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        let (built, index) = memory::build_in_memory(&records)?;
        println!(
            "  in memory: {} numbers; index {:.1} MB ({:.1} MB per 1M numbers), cards {:.1} MB; built in {:.2} s ({:.2} us per record)",
            built.numbers,
            mb(built.index_bytes),
            mb(built.index_bytes) * 1e6 / built.numbers.max(1) as f64,
            mb(built.cards_bytes),
            built.elapsed.as_secs_f64(),
            built.elapsed.as_secs_f64() * 1e6 / n.max(1) as f64
        );
        drop(index);
        if a.cache {
            let dir = tempfile::tempdir()?;
            let filled = memory::fill_store(dir.path(), DEMO_INSTANCE, &records).await?;
            let crashes = CRASH_CHANGES
                .iter()
                .map(|&c| memory::crash_changes(&records, c.min(n / 10)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            drop(records);
            let (from_cache, building) = memory::start_from_store(dir.path()).await?;
            println!(
                "  record cache: written in {:.1} s; read back into index + cards by this tool: {:.2} s ({:.2} s of it building, the rest reading SQLite)",
                filled.as_secs_f64(),
                from_cache.elapsed.as_secs_f64(),
                building.as_secs_f64(),
            );
            let (read, bytes) = memory::read_batches_only(dir.path()).await?;
            println!(
                "  the connector's batched read alone (SQLite, nothing decoded): {:.2} s, {:.0} MB of column text",
                read.as_secs_f64(),
                mb(bytes as u64)
            );
            // The first start reads the record cache and writes the index snapshot; the
            // later ones (after a clean shutdown) take index and cards from the snapshot.
            let mut from_cache = Vec::new();
            let mut from_snapshot = Vec::new();
            let mut cache_cpu = Vec::new();
            let cache_starts = a.cache_starts.max(1);
            for start in 0..a.starts.max(cache_starts + 1) {
                let snapshot = dir.path().join("snapshots");
                if start < cache_starts && snapshot.exists() {
                    std::fs::remove_dir_all(&snapshot)?;
                }
                let had = std::fs::read_dir(&snapshot).is_ok_and(|mut d| d.next().is_some());
                let start = cached_start(rt, dir.path(), built.numbers, had).await?;
                if had {
                    from_snapshot.push(start.ready);
                } else {
                    from_cache.push(start.ready);
                    cache_cpu.push(start.cpu);
                }
            }
            let spread = |v: &mut Vec<Duration>| {
                v.sort_unstable();
                match (v.first(), v.get(v.len() / 2), v.last()) {
                    (Some(a), Some(m), Some(z)) => format!(
                        "{} starts: best {:.2} s, median {:.2} s, worst {:.2} s",
                        v.len(),
                        a.as_secs_f64(),
                        m.as_secs_f64(),
                        z.as_secs_f64()
                    ),
                    _ => "no start".to_owned(),
                }
            };
            println!(
                "  from the record cache (no snapshot): {}",
                spread(&mut from_cache)
            );
            // CPU time is what a busy shared machine disturbs least: the comparison to make
            // between two builds when the wall-clock times scatter.
            println!(
                "  CPU time of those starts (whole process): {}",
                spread(&mut cache_cpu)
            );
            println!("  from the index snapshot: {}", spread(&mut from_snapshot));
            // A crash between two snapshots: records changed in the cache after the last one
            // (each start after a crash writes a new snapshot, the next crash follows it).
            for crash in &crashes {
                memory::apply_crash(dir.path(), crash).await?;
                let (changed, deleted) = (crash.changed.len(), crash.deleted.len());
                // Published once, after the delta: any bound below the final count times it.
                let after_crash = cached_start(rt, dir.path(), built.numbers * 95 / 100, true)
                    .await?
                    .ready;
                println!(
                    "  from the index snapshot after a crash ({changed} records changed and {deleted} marked deleted in the cache since it was taken): {:.2} s to ready",
                    after_crash.as_secs_f64(),
                );
            }
            let snapshot_bytes: u64 = std::fs::read_dir(dir.path().join("snapshots"))
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            println!("  index snapshot file: {:.0} MB", mb(snapshot_bytes));
            let ready = from_snapshot
                .get(from_snapshot.len() / 2)
                .or(from_cache.first())
                .copied()
                .unwrap_or_default();
            println!(
                "  target start-up <= 2 s with 1M cached records: {}",
                if n < 1_000_000 {
                    "n/a at this size"
                } else if ready <= Duration::from_secs(2) {
                    "met"
                } else {
                    "MISSED"
                }
            );
        }
    }
    if a.org_records > 0 {
        org_read(rt, a.org_records).await?;
    }
    Ok(())
}

async fn sync_main(rt: &Runtimes, a: SyncArgs) -> anyhow::Result<()> {
    let cli = a.cli.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name("ctibridge"))
            .filter(|p| p.is_file())
    });
    match &cli {
        Some(p) => println!("CLI for the separate-process sync: {}", p.display()),
        None => println!(
            "no `ctibridge` binary next to this tool: the separate-process sync is skipped"
        ),
    }
    for &n in &a.sizes {
        sync_bench::run_size(rt, n, &a.changes, cli.as_deref()).await?;
    }
    if a.export_contacts > 0 {
        sync_bench::run_export(rt, a.export_contacts).await?;
    }
    println!(
        "machine load average (1 min, all processes) at the end: {}",
        sys::load_average().map_or("unknown".into(), |l| format!("{l:.2}"))
    );
    Ok(())
}

/// The instance name of `Config::demo`, which the world's connector runs.
const DEMO_INSTANCE: &str = "Salesforce Demo";

/// Cached records changed after the last snapshot for each start after a crash (at most a
/// tenth of the records).
const CRASH_CHANGES: [usize; 2] = [10_000, 100_000];

/// The connector started on a data directory that holds a record cache: time from its start
/// until its index is published (loaded from the store, before Salesforce answers), and how
/// the connector says it loaded it.
/// What one start of the connector on a record cache cost.
struct CachedStart {
    /// From the start to the index published.
    ready: Duration,
    /// CPU time the whole process spent meanwhile (user + system, every thread).
    cpu: Duration,
}

async fn cached_start(
    rt: &Runtimes,
    dir: &std::path::Path,
    min_numbers: usize,
    snapshot: bool,
) -> anyhow::Result<CachedStart> {
    let opts = WorldOptions {
        users: 1,
        contacts: 200,
        leads: 100,
        accounts: 50,
        step_delay: Duration::from_millis(20),
        ready_timeout: Duration::from_secs(600),
        data_dir: Some(dir.to_path_buf()),
        min_numbers,
        // The emulated org does not hold the cached records: its first sync would mark them
        // deleted, and the next start would load a cache of 350 records. Down, it changes
        // nothing, as for a restart while the org is quiet.
        org_down: true,
    };
    let before = sys::snapshot();
    let world = World::start(rt, &opts).await?;
    let cpu = sys::snapshot().cpu.saturating_sub(before.cpu);
    let ready = world.index_ready_after.unwrap_or_default();
    let numbers = world
        .state()
        .lookup(&world.instance)
        .map_or(0, |l| l.index.number_count());
    let loaded = world
        .state()
        .status()
        .instances
        .iter()
        .find(|i| i.name == world.instance)
        .and_then(|i| i.sync.index_loaded.clone());
    println!(
        "  connector start on that cache ({}): index of {numbers} numbers published {:.2} s after start (process CPU {:.2} s); process RSS +{:.0} MB; the connector: {}",
        if snapshot {
            "index snapshot present"
        } else {
            "no snapshot"
        },
        ready.as_secs_f64(),
        cpu.as_secs_f64(),
        mb(sys::snapshot().rss.saturating_sub(before.rss)),
        loaded
            .as_ref()
            .map_or("nothing loaded".to_owned(), |l| format!(
                "{} records from the {} in {:.2} s",
                l.records,
                l.from,
                l.millis as f64 / 1000.0
            )),
    );
    world.shutdown(rt).await;
    Ok(CachedStart { ready, cpu })
}

/// The connector's real start: emulated org with `n` records, full read over REST until the
/// index is ready.
async fn org_read(rt: &Runtimes, n: usize) -> anyhow::Result<()> {
    let contacts = n * 3 / 5;
    let leads = n / 4;
    let accounts = n - contacts - leads;
    let opts = WorldOptions {
        users: 1,
        contacts,
        leads,
        accounts,
        step_delay: Duration::from_millis(20),
        ready_timeout: Duration::from_secs(600),
        data_dir: None,
        min_numbers: 0,
        org_down: false,
    };
    let rss_before = sys::snapshot().rss;
    let world = World::start(rt, &opts).await?;
    let numbers = world
        .state()
        .lookup(&world.instance)
        .map_or(0, |l| l.index.number_count());
    println!(
        "--- connector start with a full read of an org of {n} records: index ready {:.1} s after the connector started (emulators up after {:.1} s), {numbers} numbers; process RSS +{:.0} MB (the emulators' data included)",
        world.index_ready_after.unwrap_or_default().as_secs_f64(),
        world.emulators_up_after.as_secs_f64(),
        mb(sys::snapshot().rss.saturating_sub(rss_before))
    );
    world.shutdown(rt).await;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn sync_takes_sizes_and_changes_as_lists() {
        let cli = Cli::try_parse_from([
            "ctibridge-load",
            "--max-seconds",
            "60",
            "sync",
            "--sizes",
            "1000,20000",
            "--changes",
            "1,100",
        ])
        .unwrap();
        assert_eq!(cli.max_seconds, 60);
        let Command::Sync(a) = cli.command else {
            panic!("not the sync command")
        };
        assert_eq!(a.sizes, vec![1_000, 20_000]);
        assert_eq!(a.changes, vec![1, 100]);
    }

    #[test]
    fn sync_defaults_to_a_hundred_thousand_and_a_million_records() {
        let cli = Cli::try_parse_from(["ctibridge-load", "sync"]).unwrap();
        let Command::Sync(a) = cli.command else {
            panic!("not the sync command")
        };
        assert_eq!(a.sizes, vec![100_000, 1_000_000]);
        assert_eq!(a.changes, vec![1, 100, 1_000, 10_000]);
    }
}
