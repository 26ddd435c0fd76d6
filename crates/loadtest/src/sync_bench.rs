//! The sync under load: the connector's real sync engine (`run_sync_once`, what `ctibridge
//! sync [--full]` runs) against the org emulator with many records, on loopback. Measures the
//! full read (wall time, records/s, API calls, peak memory, CPU per part) and what one
//! incremental cycle costs per change made on the org.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ctibridge_config::Config;
use ctibridge_domain::LoginUrl;
use ctibridge_emulator_salesforce::{ApiUsage, Control, RecordOp};
use ctibridge_server::sync::{SyncSummary, run_sync_once};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::memory;
use crate::sys::{self, RssSampler, mb};
use crate::world::{CONN, EMU, Runtimes, on};

/// Records per page of a query (the org's default and largest batch size).
pub const PAGE: u64 = 2_000;

/// The org's record mix for `n` records: 60 % Contacts, 25 % Leads, the rest Accounts.
pub fn split(n: usize) -> (usize, usize, usize) {
    let contacts = n * 3 / 5;
    let leads = n / 4;
    (contacts, leads, n - contacts - leads)
}

/// Query calls a full read of objects with these record counts needs: one per page of
/// [`PAGE`] records, and one for an object without records.
pub fn expected_query_calls(records: &[u64]) -> u64 {
    records.iter().map(|&r| r.div_ceil(PAGE).max(1)).sum()
}

/// The changes of one round: `k` split into updates, creates and deletes (a fifth each of
/// creates and deletes, the rest updates; a single change is an update).
pub fn change_mix(k: usize) -> (usize, usize, usize) {
    let creates = k / 5;
    let deletes = k / 5;
    (k - creates - deletes, creates, deletes)
}

/// Which object the `i`-th change goes to: the org's mix (12 of 20 Contacts, 5 Leads, 3
/// Accounts).
fn object_of(i: usize) -> &'static str {
    match i % 20 {
        0..12 => "Contact",
        12..17 => "Lead",
        _ => "Account",
    }
}

/// One sync cycle and what it cost.
#[derive(Debug, Clone)]
pub struct Cycle {
    /// Wall time of `run_sync_once`.
    pub wall: Duration,
    /// What the engine reported.
    pub summary: SyncSummary,
    /// API calls the org counted, by kind.
    pub calls_by_kind: BTreeMap<String, u64>,
    /// API calls the org counted.
    pub calls: u64,
    /// Process RSS before the cycle, bytes.
    pub rss_before: u64,
    /// Highest RSS sampled during the cycle, bytes.
    pub rss_peak: u64,
    /// The kernel's peak RSS of the process (`VmHWM`) after the cycle, bytes.
    pub hwm: u64,
    /// CPU time of the connector's runtime (sync engine, HTTP client, JSON decoding).
    pub cpu_conn: Duration,
    /// CPU time of the emulator's runtime (queries, JSON encoding).
    pub cpu_emu: Duration,
    /// CPU time of every other thread (SQLite workers, the sampler).
    pub cpu_other: Duration,
}

impl Cycle {
    /// Records read (created or changed) over all objects.
    pub fn records_read(&self) -> u64 {
        self.objects().map(|o| o.records_read).sum()
    }

    /// Records found deleted over all objects.
    pub fn records_deleted(&self) -> u64 {
        self.objects().map(|o| o.records_deleted).sum()
    }

    fn objects(&self) -> impl Iterator<Item = &ctibridge_server::sync::ObjectSummary> {
        self.summary.instances.iter().flat_map(|i| i.objects.iter())
    }

    /// Records read per second of wall time.
    pub fn records_per_second(&self) -> f64 {
        self.records_read() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// How far RSS rose above its level before the cycle, bytes.
    pub fn rss_growth(&self) -> u64 {
        self.rss_peak.saturating_sub(self.rss_before)
    }

    fn kind(&self, kind: &str) -> u64 {
        self.calls_by_kind.get(kind).copied().unwrap_or(0)
    }

    /// `query` + `queryMore` calls.
    pub fn query_calls(&self) -> u64 {
        self.kind("query") + self.kind("queryMore")
    }

    fn kinds(&self) -> String {
        self.calls_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn usage_delta(before: &ApiUsage, after: &ApiUsage) -> BTreeMap<String, u64> {
    after
        .by_kind
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(before.by_kind.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Runs one `run_sync_once` on the connector's runtime, sampling RSS every 20 ms.
async fn cycle(
    rt: &Runtimes,
    org: &Control,
    config: &Arc<Config>,
    full: bool,
) -> anyhow::Result<Cycle> {
    let api0 = org.api_usage();
    let before = sys::snapshot();
    let sampler = RssSampler::start(Duration::from_millis(20));
    let started = Instant::now();
    let config = Arc::clone(config);
    let summary = on(&rt.conn.handle().clone(), async move {
        run_sync_once(&config, full, |_| {}).await
    })
    .await?
    .context("the sync failed")?;
    let wall = started.elapsed();
    let rss_peak = sampler.stop();
    let after = sys::snapshot();
    let api1 = org.api_usage();
    let errors = summary.errors();
    if !errors.is_empty() {
        bail!("the sync reported errors: {}", errors.join("; "));
    }
    let conn = sys::cpu_of(&after, CONN).saturating_sub(sys::cpu_of(&before, CONN));
    let emu = sys::cpu_of(&after, EMU).saturating_sub(sys::cpu_of(&before, EMU));
    let total = after.cpu.saturating_sub(before.cpu);
    Ok(Cycle {
        wall,
        summary,
        calls_by_kind: usage_delta(&api0, &api1),
        calls: api1.used.saturating_sub(api0.used),
        rss_before: before.rss,
        rss_peak: rss_peak.max(after.rss),
        hwm: after.rss_peak,
        cpu_conn: conn,
        cpu_emu: emu,
        cpu_other: total.saturating_sub(conn + emu),
    })
}

/// Ids of live records per object, to update and delete.
struct Pool {
    ids: BTreeMap<&'static str, Vec<String>>,
}

impl Pool {
    /// Distinct ids of records with a phone value (every generated record with a number).
    fn from_org(org: &Control, per_object: usize) -> Self {
        let mut ids: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut last: BTreeMap<&'static str, String> = BTreeMap::new();
        for e in org.expected_numbers() {
            let Some(object) = ["Contact", "Lead", "Account"]
                .into_iter()
                .find(|o| *o == e.object)
            else {
                continue;
            };
            let list = ids.entry(object).or_default();
            // Expected numbers come record by record: a repeat of the last id is the same one.
            if list.len() >= per_object || last.get(object) == Some(&e.id) {
                continue;
            }
            last.insert(object, e.id.clone());
            list.push(e.id);
        }
        Self { ids }
    }

    fn take(&mut self, object: &'static str) -> Option<String> {
        self.ids.get_mut(object)?.pop()
    }
}

fn number(rng: &mut ChaCha8Rng) -> String {
    format!("+49 30 {}", rng.random_range(2_000_000..9_999_999u32))
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Makes `k` changes on the org (see [`change_mix`]). Returns (updates, creates, deletes).
fn apply_changes(
    org: &Control,
    pool: &mut Pool,
    rng: &mut ChaCha8Rng,
    k: usize,
    round: usize,
) -> anyhow::Result<(usize, usize, usize)> {
    let (updates, creates, deletes) = change_mix(k);
    let err = |e: Vec<ctibridge_emulator_salesforce::SaveError>| anyhow::anyhow!("{e:?}");
    for i in 0..updates {
        let object = object_of(i);
        let id = pool.take(object).context("no record left to update")?;
        org.record(RecordOp::Update {
            id,
            fields: fields(json!({"Phone": number(rng)})),
        })
        .map_err(err)?;
    }
    for i in 0..creates {
        let object = object_of(i);
        let name = format!("Bench {round}-{i}");
        let f = match object {
            "Contact" => {
                json!({"LastName": name, "Phone": number(rng), "MobilePhone": number(rng)})
            }
            "Lead" => json!({"LastName": name, "Company": "Bench GmbH", "Phone": number(rng)}),
            _ => json!({"Name": name, "Phone": number(rng)}),
        };
        org.record(RecordOp::Create {
            object: object.to_owned(),
            fields: fields(f),
        })
        .map_err(err)?;
    }
    // Salesforce's `deleted/` covers whole minutes only: a deletion of this minute shows in
    // a cycle of the next. Dated a minute back, the cycle right after sees it.
    let at = (chrono::Utc::now() - chrono::TimeDelta::seconds(61))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    for i in 0..deletes {
        let id = pool
            .take(object_of(i))
            .context("no record left to delete")?;
        org.record(RecordOp::Delete {
            id,
            at: Some(at.clone()),
        })
        .map_err(err)?;
    }
    Ok((updates, creates, deletes))
}

/// Both emulators on loopback, on the emulators' runtime (their CPU counts as theirs), the
/// org seeded with `org_opts`.
async fn spawn_emulators(
    rt: &Runtimes,
    org_opts: ctibridge_emulator_salesforce::Options,
) -> anyhow::Result<(
    ctibridge_emulator_salesforce::RunningOrg,
    ctibridge_emulator_starface::RunningPbx,
)> {
    let lo: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    on(&rt.emu.handle().clone(), async move {
        let org = ctibridge_emulator_salesforce::spawn(lo, org_opts).await?;
        let pbx = ctibridge_emulator_starface::spawn(lo, Default::default()).await?;
        anyhow::Ok((org, pbx))
    })
    .await?
}

/// A fresh data directory and the demo configuration against these emulators, with the
/// address-book export off. The store lives in the directory: keep it as long as the config.
fn data_dir_and_config(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    pbx: &ctibridge_emulator_starface::RunningPbx,
) -> anyhow::Result<(tempfile::TempDir, Config)> {
    let dir = tempfile::tempdir().context("temporary data directory")?;
    // The store wants its directory private (it holds a key file).
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    let org_url = LoginUrl::parse(org.url().as_str())
        .context("the org emulator's URL")?
        .0;
    let lo: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut config = Config::demo(dir.path(), lo, pbx.url().clone(), org_url);
    for inst in &mut config.instances {
        inst.import_contacts = false;
    }
    Ok((dir, config))
}

/// Stops both emulators on their runtime.
async fn shutdown(
    rt: &Runtimes,
    org: ctibridge_emulator_salesforce::RunningOrg,
    pbx: ctibridge_emulator_starface::RunningPbx,
) -> anyhow::Result<()> {
    on(&rt.emu.handle().clone(), async move {
        pbx.shutdown().await;
        org.shutdown().await;
    })
    .await
}

/// One size: seed the org, full sync, the index from the store, then a round of incremental
/// cycles, one per entry of `changes` (after a cycle without changes, the fixed cost).
pub async fn run_size(
    rt: &Runtimes,
    n: usize,
    changes: &[usize],
    cli: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let (contacts, leads, accounts) = split(n);
    let rss0 = sys::rss();
    let t = Instant::now();
    let org_opts = ctibridge_emulator_salesforce::Options {
        contacts,
        leads,
        accounts,
        ..Default::default()
    };
    let (org, pbx) = spawn_emulators(rt, org_opts).await?;
    let seeded = t.elapsed();
    let emu_rss = sys::rss().saturating_sub(rss0);
    println!(
        "--- {n} records ({contacts} Contacts, {leads} Leads, {accounts} Accounts): org emulator seeded in {:.1} s, its data +{:.0} MB RSS",
        seeded.as_secs_f64(),
        mb(emu_rss)
    );

    let (dir, config) = data_dir_and_config(&org, &pbx)?;
    let config = Arc::new(config);
    let control = org.control();

    let full = cycle(rt, &control, &config, true).await?;
    let per_object: Vec<u64> = full
        .summary
        .instances
        .iter()
        .flat_map(|i| i.objects.iter().map(|o| o.records_read))
        .collect();
    println!(
        "  full sync: {:.1} s, {} records ({:.0} records/s); API calls {} ({}), query+queryMore {} (ceil(records/2000) per object = {})",
        full.wall.as_secs_f64(),
        full.records_read(),
        full.records_per_second(),
        full.calls,
        full.kinds(),
        full.query_calls(),
        expected_query_calls(&per_object),
    );
    println!(
        "  memory: RSS before {:.0} MB, peak during the sync {:.0} MB (+{:.0} MB), VmHWM {:.0} MB; CPU: connector {:.1} s, emulator {:.1} s, other threads (SQLite) {:.1} s",
        mb(full.rss_before),
        mb(full.rss_peak),
        mb(full.rss_growth()),
        mb(full.hwm),
        full.cpu_conn.as_secs_f64(),
        full.cpu_emu.as_secs_f64(),
        full.cpu_other.as_secs_f64(),
    );
    let (loaded, building) = memory::start_from_store(dir.path()).await?;
    println!(
        "  index from the store it wrote: {} records, {} numbers in {:.1} s ({:.1} s building), index + cards +{:.0} MB RSS",
        loaded.records,
        loaded.numbers,
        loaded.elapsed.as_secs_f64(),
        building.as_secs_f64(),
        mb(loaded.index_bytes)
    );

    if let Some(cli) = cli {
        let (cli, org_url, pbx_url) = (cli.to_owned(), org.url().clone(), pbx.url().clone());
        let run =
            tokio::task::spawn_blocking(move || cli_full_sync(&cli, &org_url, &pbx_url)).await??;
        println!(
            "  the same full sync by `ctibridge sync --full` in a process of its own: {:.1} s ({:.0} records/s), exit {}, peak RSS (VmHWM) {:.0} MB",
            run.wall.as_secs_f64(),
            full.records_read() as f64 / run.wall.as_secs_f64().max(1e-9),
            if run.success { "0" } else { "FAILED" },
            mb(run.peak)
        );
    }

    if !changes.is_empty() {
        let needed = changes.iter().map(|&k| k.max(1)).sum::<usize>();
        let mut pool = Pool::from_org(&control, needed);
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let base = cycle(rt, &control, &config, false).await?;
        println!(
            "  incremental, no changes: {:.3} s, API calls {} ({})",
            base.wall.as_secs_f64(),
            base.calls,
            base.kinds()
        );
        for (round, &k) in changes.iter().enumerate() {
            let t = Instant::now();
            let (u, c, d) = apply_changes(&control, &mut pool, &mut rng, k, round)?;
            let applied = t.elapsed();
            let inc = cycle(rt, &control, &config, false).await?;
            println!(
                "  incremental, {k} changes ({u} updates, {c} creates, {d} deletes; made in {:.2} s): {:.3} s, {} read, {} deleted, API calls {} ({}); per change {:.3} ms and {:.3} calls, above the no-change cycle {:.3} ms",
                applied.as_secs_f64(),
                inc.wall.as_secs_f64(),
                inc.records_read(),
                inc.records_deleted(),
                inc.calls,
                inc.kinds(),
                per_change_ms(inc.wall, k),
                inc.calls as f64 / k.max(1) as f64,
                per_change_ms(inc.wall.saturating_sub(base.wall), k),
            );
        }
    }
    shutdown(rt, org, pbx).await
}

/// The address-book export: an org of `contacts` Contacts (and a quarter as many Accounts for
/// their company names) synced into the store, then one cycle with `import_contacts` on that
/// creates every Contact with a number on the STARFACE emulator, then one more that finds
/// nothing to do.
pub async fn run_export(rt: &Runtimes, contacts: usize) -> anyhow::Result<()> {
    let org_opts = ctibridge_emulator_salesforce::Options {
        contacts,
        leads: 0,
        accounts: contacts / 4,
        ..Default::default()
    };
    let (org, pbx) = spawn_emulators(rt, org_opts).await?;
    // The store lives in `_dir`: it must outlive both cycles.
    let (_dir, mut config) = data_dir_and_config(&org, &pbx)?;
    let control = org.control();
    let sync = cycle(rt, &control, &Arc::new(config.clone()), true).await?;
    println!(
        "--- address-book export, org of {contacts} Contacts and {} Accounts: full sync without export {:.1} s",
        contacts / 4,
        sync.wall.as_secs_f64()
    );
    for inst in &mut config.instances {
        inst.import_contacts = true;
    }
    let config = Arc::new(config);
    for run in ["first export", "second export (nothing changed)"] {
        let before: u64 = pbx.control().stats().rest_requests.values().sum();
        let c = cycle(rt, &control, &config, false).await?;
        let after = pbx.control().stats().rest_requests;
        let requests = after.values().sum::<u64>().saturating_sub(before);
        let export = c
            .summary
            .instances
            .first()
            .and_then(|i| i.export.clone())
            .context("the cycle ran no export")?;
        let changed = export.counts.created + export.counts.updated + export.counts.deleted;
        println!(
            "  {run}: {:.1} s (the cycle, export included), {} created, {} updated, {} deleted ({:.0} contacts/s), {} exported in all; PBX REST requests {requests}; CPU connector {:.1} s, emulators {:.1} s, other (SQLite) {:.1} s",
            c.wall.as_secs_f64(),
            export.counts.created,
            export.counts.updated,
            export.counts.deleted,
            changed as f64 / c.wall.as_secs_f64().max(1e-9),
            export.exported.unwrap_or(0),
            c.cpu_conn.as_secs_f64(),
            c.cpu_emu.as_secs_f64(),
            c.cpu_other.as_secs_f64(),
        );
    }
    shutdown(rt, org, pbx).await
}

/// What the `ctibridge sync --full` child process cost.
#[derive(Debug, Clone)]
pub struct CliRun {
    /// From spawn to exit.
    pub wall: Duration,
    /// The child's peak RSS (`VmHWM`, last read before it exited), bytes.
    pub peak: u64,
    /// Whether it exited with 0.
    pub success: bool,
}

/// A configuration file for the CLI: the demo instance against these emulators, no export.
fn cli_config(data_dir: &std::path::Path, org: &url::Url, pbx: &url::Url) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1/\"\ndata_dir = {}\n\n\
         [starface]\nurl = {}\nadmin_login = \"0001\"\nadmin_password = \"admin-pass\"\n\n\
         [[instance]]\nname = \"Salesforce Demo\"\ngroups = [\"Sales\"]\nimport_contacts = false\n\n\
         [instance.salesforce]\nlogin_url = {}\nclient_id = \"demo-consumer-key\"\nclient_secret = \"demo-consumer-secret\"\n",
        q(&data_dir.to_string_lossy()),
        q(pbx.as_str()),
        q(org.as_str()),
    )
}

/// Runs `cli sync --full` in a process of its own against the org, into a fresh data
/// directory, reading its peak RSS every 20 ms: the sync's memory without the emulator's.
pub fn cli_full_sync(
    cli: &std::path::Path,
    org: &url::Url,
    pbx: &url::Url,
) -> anyhow::Result<CliRun> {
    let dir = tempfile::tempdir().context("temporary data directory")?;
    let data = dir.path().join("data");
    std::fs::create_dir(&data)?;
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cli_config(&data, org, pbx))?;
    let started = Instant::now();
    let mut child = std::process::Command::new(cli)
        .arg("sync")
        .arg("--full")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", cli.display()))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            peak = peak.max(sys::status_kb(&s, "VmHWM:").unwrap_or(0) * 1024);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        eprintln!("ctibridge sync --full failed: {}", err.trim());
    }
    Ok(CliRun {
        wall,
        peak,
        success: status.success(),
    })
}

/// Milliseconds per change of a cycle that took `wall` for `k` changes.
pub fn per_change_ms(wall: Duration, k: usize) -> f64 {
    wall.as_secs_f64() * 1000.0 / k.max(1) as f64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_mix_of_a_million_is_sixty_twenty_five_fifteen_percent() {
        assert_eq!(split(1_000_000), (600_000, 250_000, 150_000));
        assert_eq!(split(7), (4, 1, 2));
    }

    #[test]
    fn query_calls_are_one_per_started_page_of_each_object() {
        assert_eq!(expected_query_calls(&[600_000, 250_000, 150_000]), 500);
        assert_eq!(expected_query_calls(&[2_001, 1_999, 0]), 4);
    }

    #[test]
    fn changes_are_a_fifth_creates_a_fifth_deletes_the_rest_updates() {
        assert_eq!(change_mix(1), (1, 0, 0));
        assert_eq!(change_mix(100), (60, 20, 20));
        assert_eq!(change_mix(10_000), (6_000, 2_000, 2_000));
    }

    #[test]
    fn the_cli_config_names_the_emulators_and_quotes_the_path() {
        let org = url::Url::parse("http://127.0.0.1:4001/").unwrap();
        let pbx = url::Url::parse("http://127.0.0.1:4002/").unwrap();
        let text = cli_config(std::path::Path::new("/tmp/a \"b\""), &org, &pbx);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let config = ctibridge_config::Config::load(Some(&path), Vec::new())
            .unwrap()
            .config;
        assert_eq!(
            config.server.data_dir,
            std::path::PathBuf::from("/tmp/a \"b\"")
        );
        assert_eq!(config.starface.url, pbx);
        let inst = &config.instances[0];
        assert!(!inst.import_contacts);
        assert_eq!(inst.salesforce.login_url.as_str(), "http://127.0.0.1:4001");
    }

    #[test]
    fn cost_per_change_divides_by_the_changes() {
        assert!((per_change_ms(Duration::from_secs(2), 1_000) - 2.0).abs() < 1e-9);
        assert!((per_change_ms(Duration::from_millis(5), 0) - 5.0).abs() < 1e-9);
    }
}
