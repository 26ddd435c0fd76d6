//! The sync of one instance: full and incremental reads of each object into the store and the
//! live index, deletions, watermarks, pauses, and the address-book export after each cycle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use ctibridge_domain::{E164, ObjectType, SalesforceId};
use ctibridge_phone::Normaliser;
use ctibridge_salesforce::{ApiUsage, SalesforceClient};
use ctibridge_starface::rest::RestClient;
use ctibridge_store::{
    InstanceId, InstanceSpec, InstanceStore, Record, RecordStore, SqliteStore, StoreError,
    StoredBatch, StoredRow, SyncStateStore, SyncWatermark,
};
use futures::TryStreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tracing::{info, warn};

use super::export::{CONTACT_TAG, ExportCounts, Exporter};
use super::fetch::{Api, Pager};
use super::fields::{OBJECTS, ObjectPlan};
use super::live::LiveParts;
use super::snapshot;
use super::{SyncError, SyncTuning};
use crate::admin::settings::{self as admin_settings, LiveSettings};
use crate::cards::CardLayout;
use crate::state::Lookup;
use crate::status::{
    ExportStatus, IndexLoad, LinkState, ObjectSyncStatus, SyncPause, SyncProgressStatus, SyncStatus,
};

/// Salesforce keeps deletions 15 days; a little less leaves room for the overlap and clocks.
const MAX_DELETE_LOG_AGE: TimeDelta = TimeDelta::hours(15 * 24 - 1);

/// How often each object's describe is read again: new phone fields join the index.
const DESCRIBE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Records written to the store and the index per step while the store is loaded.
const LOAD_BATCH: usize = 2_000;

/// Batches read ahead of the build thread during a load.
const LOAD_QUEUE: usize = 4;

/// Threads that decode and build during a load; with SQLite's reader, more than the two
/// cores of a small server.
const LOAD_THREADS: usize = 2;

/// A snapshot is brought up to date when at most this part of the records changed after it
/// was taken; beyond, the whole record cache is read. At 1M records (release, 2 cores) the
/// load took 1.3-1.7 s from the snapshot alone, 1.61 s with 10,000 changed rows, 2.04 s with
/// 100,000 (about 5 us per changed row) and 3.47 s from the cache: the delta stays faster up
/// to about 40 %, a quarter leaves room for a slower disk.
const DELTA_MAX_PART: usize = 4;

/// Stored numbers compared with a fresh reading before a load trusts the stored E.164 forms.
const RULES_SAMPLE: usize = 64;

/// Numbers per object kept for the demo's sample calls.
const SAMPLES_PER_OBJECT: usize = 700;

/// Keys of [`SyncWatermark::state`].
const STATE_FIELDS: &str = "fields";
const STATE_DELETED_UNTIL: &str = "deleted_until";

/// What a sync step is doing, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Reading every record of an object.
    Full,
    /// Reading the records changed since the watermark.
    Changes,
    /// Reading the deletions since the watermark.
    Deletions,
    /// Bringing the PBX's address book up to date.
    Export,
}

/// One step of a sync, as it happens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncProgress {
    /// The instance.
    pub instance: String,
    /// The object type, or `""` for the export.
    pub object: String,
    /// What is being done.
    pub phase: SyncPhase,
    /// Records read so far.
    pub done: u64,
    /// Records Salesforce announced for the query, once known.
    pub total: Option<u64>,
}

/// How an object was synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every record read.
    Full,
    /// Changes and deletions since the watermark.
    Incremental,
}

/// The sync of one object in one cycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectSummary {
    /// The object type.
    pub object: String,
    /// How it was synced; `None` when it could not be.
    pub mode: Option<SyncMode>,
    /// Records read (created or changed).
    pub records_read: u64,
    /// Records found deleted.
    pub records_deleted: u64,
    /// API calls it took.
    pub api_calls: u64,
    /// What went wrong, with the fix where there is one.
    pub error: Option<String>,
}

/// The address-book export of one cycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// Contacts created, changed and deleted on the PBX.
    pub counts: ExportCounts,
    /// Salesforce contacts with a contact on the PBX, once known.
    pub exported: Option<u64>,
    /// What went wrong.
    pub error: Option<String>,
}

/// One cycle of one instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceSummary {
    /// The instance.
    pub name: String,
    /// Per object, in sync order.
    pub objects: Vec<ObjectSummary>,
    /// The export, when `import_contacts` is on and it ran.
    pub export: Option<ExportSummary>,
    /// API calls the cycle used.
    pub api_calls: u64,
    /// `Sforce-Limit-Info` after the cycle.
    pub api_usage: Option<(u64, u64)>,
    /// Why the sync waits, when the daily API limit is spent.
    pub paused: Option<String>,
}

impl InstanceSummary {
    /// Every problem of the cycle, one line each.
    pub fn errors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .objects
            .iter()
            .filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.object)))
            .collect();
        if let Some(e) = self.export.as_ref().and_then(|e| e.error.as_ref()) {
            out.push(format!("address book: {e}"));
        }
        out.extend(self.paused.clone());
        out
    }
}

/// The parts an engine is made of.
pub(crate) struct EngineParts {
    pub name: String,
    pub description: String,
    pub import_contacts: bool,
    pub store: SqliteStore,
    pub client: SalesforceClient,
    pub normaliser: Arc<dyn Normaliser>,
    pub tuning: SyncTuning,
    /// The PBX, for the export (needed when `import_contacts` is on).
    pub rest: Option<RestClient>,
    /// Where a new lookup is put for the ring path; `None` keeps no index (the CLI).
    pub publish: Option<Box<dyn Fn(Arc<Lookup>) + Send + Sync>>,
}

/// What the status page shows of an engine.
pub(crate) struct EngineReport {
    pub sync: SyncStatus,
    pub records: BTreeMap<String, usize>,
    pub numbers_indexed: usize,
    pub numbers_unreadable: usize,
    pub last_full_read: Option<DateTime<Utc>>,
    pub api_calls: u64,
    pub api_usage: Option<ApiUsage>,
    pub link: LinkState,
}

/// The in-memory side: the index the ring path reads and what the demo samples from it.
struct Live {
    parts: LiveParts,
    samples: BTreeMap<String, Vec<E164>>,
    unreadable: BTreeMap<String, usize>,
    publish: Box<dyn Fn(Arc<Lookup>) + Send + Sync>,
    published: bool,
}

impl Live {
    fn absorb(&mut self, records: &[Record], full: bool) {
        self.parts.upsert(records);
        if !full {
            return;
        }
        note_numbers(&mut self.samples, &mut self.unreadable, records);
    }

    fn publish(&mut self) {
        let samples = OBJECTS
            .iter()
            .filter_map(|o| self.samples.get(o.as_str()))
            .flatten()
            .copied()
            .collect();
        (self.publish)(Arc::new(Lookup {
            index: self.parts.index.clone(),
            cards: self.parts.cards.clone(),
            samples,
        }));
        self.published = true;
    }
}

/// What [`note_numbers`] reads of a record: its object and its phone values.
trait Numbered {
    fn object(&self) -> &str;
    /// Each value as typed and its E.164 form, if it has one.
    fn values(&self) -> impl Iterator<Item = (&str, Option<&str>)>;
}

impl Numbered for Record {
    fn object(&self) -> &str {
        &self.object_type
    }

    fn values(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.phones
            .iter()
            .map(|p| (p.raw.as_str(), p.e164.as_deref()))
    }
}

impl Numbered for StoredRow<'_> {
    fn object(&self) -> &str {
        self.object_type()
    }

    fn values(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.phones().iter().map(|p| (&*p.raw, p.e164.as_deref()))
    }
}

/// Counts each object's values that are not numbers and keeps a few numbers as samples.
fn note_numbers<R: Numbered>(
    samples: &mut BTreeMap<String, Vec<E164>>,
    unreadable: &mut BTreeMap<String, usize>,
    records: &[R],
) {
    for r in records {
        let object = r.object();
        let bad = r
            .values()
            .filter(|(raw, e164)| e164.is_none() && !raw.trim().is_empty())
            .count();
        // Looked up before entry(): a load notes a million records of three objects.
        match unreadable.get_mut(object) {
            Some(n) => *n += bad,
            None => {
                unreadable.insert(object.to_owned(), bad);
            }
        }
        if !samples.contains_key(object) {
            samples.insert(object.to_owned(), Vec::new());
        }
        let Some(samples) = samples.get_mut(object) else {
            continue;
        };
        if samples.len() < SAMPLES_PER_OBJECT
            && let Some(e) = r
                .values()
                .find_map(|(_, e)| e.and_then(|e| E164::parse(e).ok()))
        {
            samples.push(e);
        }
    }
}

/// What the build thread of [`Engine::load`] hands back besides the index and the cards.
#[derive(Default)]
struct Loaded {
    records: usize,
    samples: BTreeMap<String, Vec<E164>>,
    unreadable: BTreeMap<String, usize>,
}

impl Loaded {
    fn merge(&mut self, other: Loaded) {
        self.records += other.records;
        for (object, found) in other.samples {
            let samples = self.samples.entry(object).or_default();
            let room = SAMPLES_PER_OBJECT.saturating_sub(samples.len());
            samples.extend(found.into_iter().take(room));
        }
        for (object, n) in other.unreadable {
            *self.unreadable.entry(object).or_default() += n;
        }
    }
}

/// Puts batches of cached rows into index and cards (see [`Engine::load`]): the stream is
/// read here while [`LOAD_THREADS`] blocking threads decode and build; rows marked deleted
/// (a delta's) are removed. `expected` records are reserved for up front.
async fn build_batches(
    parts: &LiveParts,
    batches: impl futures::Stream<Item = Result<StoredBatch, StoreError>>,
    expected: usize,
) -> Result<Loaded, SyncError> {
    parts
        .index
        .write()
        .reserve(expected, expected.saturating_add(expected / 2));
    let (tx, rx) = tokio::sync::mpsc::channel(LOAD_QUEUE);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let stored_current = Arc::new(std::sync::OnceLock::new());
    let builders: Vec<_> = (0..LOAD_THREADS)
        .map(|_| {
            let (parts, rx, current) = (parts.clone(), rx.clone(), stored_current.clone());
            tokio::task::spawn_blocking(move || build_from_store(&parts, &rx, &current))
        })
        .collect();
    drop(rx);
    let read = async {
        let mut batches = std::pin::pin!(batches);
        while let Some(batch) = batches.try_next().await? {
            if tx.send(batch).await.is_err() {
                // The builder stopped on an error, which it returns.
                break;
            }
        }
        drop(tx);
        Ok::<(), StoreError>(())
    };
    let read = read.await;
    let mut built = Loaded::default();
    let mut failed = None;
    for builder in builders {
        match builder.await {
            Ok(Ok(part)) => built.merge(part),
            Ok(Err(e)) => failed = Some(e),
            Err(e) => {
                return Err(SyncError::Setup(format!(
                    "building the index from the store failed: {e}"
                )));
            }
        }
    }
    read?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(built)
}

/// One of the build threads of [`Engine::load`]: decodes the batches the store read hands
/// over and builds index and cards from them (each batch's cards and numbers are worked out
/// outside the locks, so the threads overlap): by the stored E.164 forms, unless a sample of
/// the first batch shows that the dialing rules changed since they were stored.
fn build_from_store(
    parts: &LiveParts,
    batches: &std::sync::Mutex<tokio::sync::mpsc::Receiver<StoredBatch>>,
    stored_current: &std::sync::OnceLock<bool>,
) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    loop {
        let batch = batches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .blocking_recv();
        let Some(batch) = batch else {
            break;
        };
        // The first batch is decoded whole once, to check the stored forms against today's
        // rules; a damaged batch counts as current here and fails below with its error.
        let current = *stored_current.get_or_init(|| {
            let current = batch
                .decode()
                .map_or(true, |r| parts.stored_numbers_current(&r, RULES_SAMPLE));
            if !current {
                info!("the dialing rules changed since the record cache was written; every number is read again");
            }
            current
        });
        let mut rows = batch.rows()?;
        if rows.iter().any(StoredRow::deleted) {
            let gone: Vec<SalesforceId> = rows
                .iter()
                .filter(|r| r.deleted())
                .filter_map(|r| SalesforceId::parse(r.sf_id()).ok())
                .collect();
            parts.remove(&gone);
            rows.retain(|r| !r.deleted());
        }
        if current {
            parts.load_rows(&rows)?;
            note_numbers(&mut loaded.samples, &mut loaded.unreadable, &rows);
            loaded.records += rows.len();
        } else {
            let records = rows
                .iter()
                .map(StoredRow::to_record)
                .collect::<Result<Vec<_>, _>>()?;
            parts.upsert(&records);
            note_numbers(&mut loaded.samples, &mut loaded.unreadable, &records);
            loaded.records += records.len();
        }
    }
    Ok(loaded)
}

/// The sync position of one object.
struct ObjectState {
    object: ObjectType,
    plan: Option<ObjectPlan>,
    /// As stored: only replaced after the data it stands for is stored.
    mark: SyncWatermark,
    needs_describe: bool,
    described_at: Option<tokio::time::Instant>,
    status: ObjectSyncStatus,
}

impl ObjectState {
    fn fields(&self) -> Option<&str> {
        self.mark.state.get(STATE_FIELDS).and_then(Value::as_str)
    }

    fn deleted_until(&self) -> Option<DateTime<Utc>> {
        self.mark
            .state
            .get(STATE_DELETED_UNTIL)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// Why the next sync of this object must read everything, if it must.
    fn full_reason(&self, plan: &ObjectPlan) -> Option<String> {
        if self.mark.last_full_at.is_none() {
            return Some("no full sync yet".to_owned());
        }
        if self.fields() != Some(plan.fingerprint().as_str()) {
            return Some(
                "the fields read changed (new phone field, card layout changed, or import_contacts turned on)"
                    .to_owned(),
            );
        }
        match self.deleted_until() {
            None => Some("no deletion watermark".to_owned()),
            Some(t) if Utc::now() - t > MAX_DELETE_LOG_AGE => Some(format!(
                "deletions are known only until {t}: Salesforce keeps deletions for 15 days"
            )),
            Some(_) => None,
        }
    }

    fn stored_state(fields: &str, deleted_until: DateTime<Utc>) -> Map<String, Value> {
        let mut state = Map::new();
        state.insert(STATE_FIELDS.to_owned(), Value::String(fields.to_owned()));
        state.insert(
            STATE_DELETED_UNTIL.to_owned(),
            Value::String(deleted_until.to_rfc3339()),
        );
        state
    }
}

/// What an object's sync did.
struct ObjectOutcome {
    mode: SyncMode,
    read: u64,
    deleted: u64,
    /// Ids of records created, changed or deleted (for the export).
    changed: Vec<String>,
}

/// An incremental sync, or the reason it cannot be one.
enum Incremental {
    Done(ObjectOutcome),
    NeedsFull(String),
}

/// Whatever an object's sync needs besides its own state.
struct Ctx<'a, P> {
    name: &'a str,
    instance: InstanceId,
    store: &'a SqliteStore,
    api: Api<'a>,
    normaliser: &'a dyn Normaliser,
    tuning: &'a SyncTuning,
    live: Option<&'a mut Live>,
    export_fields: bool,
    layout: &'a CardLayout,
    progress: &'a P,
}

impl<P: Fn(SyncProgress)> Ctx<'_, P> {
    fn progress(&self, object: &ObjectType, phase: SyncPhase, done: u64, total: Option<u64>) {
        (self.progress)(SyncProgress {
            instance: self.name.to_owned(),
            object: object.as_str().to_owned(),
            phase,
            done,
            total,
        });
    }

    async fn store_and_index(&mut self, records: &[Record], full: bool) -> Result<(), SyncError> {
        if records.is_empty() {
            return Ok(());
        }
        self.store.upsert_records(self.instance, records).await?;
        if let Some(live) = self.live.as_deref_mut() {
            live.absorb(records, full);
        }
        Ok(())
    }

    async fn forget(&mut self, object: &ObjectType, ids: &[String]) -> Result<(), SyncError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.store
            .mark_records_deleted(self.instance, object.as_str(), ids)
            .await?;
        if let Some(live) = self.live.as_deref_mut() {
            let ids: Vec<SalesforceId> = ids
                .iter()
                .filter_map(|i| SalesforceId::parse(i).ok())
                .collect();
            live.parts.remove(&ids);
        }
        Ok(())
    }
}

impl ObjectState {
    async fn sync<P: Fn(SyncProgress)>(
        &mut self,
        ctx: &mut Ctx<'_, P>,
        force_full: bool,
    ) -> Result<ObjectOutcome, SyncError> {
        let result = self.sync_inner(ctx, force_full).await;
        if matches!(result, Err(SyncError::FieldHidden { .. })) {
            // The admin may change field access or add fields: look again next time.
            self.needs_describe = true;
        }
        result
    }

    async fn sync_inner<P: Fn(SyncProgress)>(
        &mut self,
        ctx: &mut Ctx<'_, P>,
        force_full: bool,
    ) -> Result<ObjectOutcome, SyncError> {
        let stale = self
            .described_at
            .is_none_or(|t| t.elapsed() >= DESCRIBE_EVERY);
        let card_fields = ctx.layout.query_fields(self.object.as_str());
        // Another card layout reads other fields: describe checks them, and the changed
        // fingerprint reads every record again so that the cards get their values.
        let relayout = self
            .plan
            .as_ref()
            .is_some_and(|p| p.card_fields != card_fields);
        if self.plan.is_none() || self.needs_describe || stale || relayout {
            let object = self.object.clone();
            let client = ctx.api.client;
            let describe = ctx
                .api
                .call("describe", Some(&object), &[], || client.describe(&object))
                .await?;
            let plan =
                ObjectPlan::from_describe_for(&object, &describe, ctx.export_fields, ctx.layout)
                    .map_err(|missing| SyncError::hidden_by_describe(&object, &missing))?;
            self.plan = Some(plan);
            self.needs_describe = false;
            self.described_at = Some(tokio::time::Instant::now());
        }
        let Some(plan) = self.plan.clone() else {
            return Err(SyncError::Setup(format!(
                "no query plan for {}",
                self.object
            )));
        };
        let reason = if force_full {
            Some("a full sync was asked for".to_owned())
        } else {
            self.full_reason(&plan)
        };
        if let Some(reason) = reason {
            return self.full(ctx, &plan, &reason).await;
        }
        match self.incremental(ctx, &plan).await? {
            Incremental::Done(outcome) => Ok(outcome),
            Incremental::NeedsFull(reason) => self.full(ctx, &plan, &reason).await,
        }
    }

    async fn full<P: Fn(SyncProgress)>(
        &mut self,
        ctx: &mut Ctx<'_, P>,
        plan: &ObjectPlan,
        reason: &str,
    ) -> Result<ObjectOutcome, SyncError> {
        let object = &plan.object;
        info!(instance = ctx.name, %object, reason, "full sync");
        // On the store's millisecond clock, so that every row written from now on is newer.
        let started = Utc::now()
            .duration_trunc(TimeDelta::milliseconds(1))
            .unwrap_or_else(|_| Utc::now());
        if let Some(live) = ctx.live.as_deref_mut() {
            live.samples.remove(object.as_str());
            live.unreadable.remove(object.as_str());
        }
        ctx.progress(object, SyncPhase::Full, 0, None);
        let mut pager = Pager::new(object, plan.soql(None), &plan.fields);
        let mut read = 0u64;
        let mut newest: Option<DateTime<Utc>> = None;
        while let Some(page) = ctx.api.next_page(&mut pager).await? {
            let total = page.total_size;
            let records: Vec<Record> = page
                .records
                .iter()
                .filter_map(|row| plan.to_record(row, ctx.normaliser))
                .collect();
            ctx.store_and_index(&records, true).await?;
            newest = records
                .iter()
                .map(|r| r.system_modstamp)
                .fold(newest, Option::max);
            read += records.len() as u64;
            self.status.progress = Some(SyncProgressStatus {
                done: read,
                total: Some(total),
            });
            ctx.progress(object, SyncPhase::Full, read, Some(total));
        }
        // What the full read did not return is gone from Salesforce (deleted, perhaps purged).
        let gone = not_written_since(ctx.store, ctx.instance, object, started).await?;
        ctx.forget(object, &gone).await?;
        let mark = SyncWatermark {
            object_type: object.as_str().to_owned(),
            last_full_at: Some(Utc::now()),
            last_incremental_at: self.mark.last_incremental_at,
            watermark: newest,
            // Deletions are read from the start of the read on, on a whole minute as
            // Salesforce counts them.
            state: Self::stored_state(&plan.fingerprint(), floor_minute(started)),
        };
        ctx.store.put_watermark(ctx.instance, &mark).await?;
        self.mark = mark;
        self.status.progress = None;
        info!(instance = ctx.name, %object, read, gone = gone.len(), "full sync done");
        Ok(ObjectOutcome {
            mode: SyncMode::Full,
            read,
            deleted: gone.len() as u64,
            changed: gone,
        })
    }

    async fn incremental<P: Fn(SyncProgress)>(
        &mut self,
        ctx: &mut Ctx<'_, P>,
        plan: &ObjectPlan,
    ) -> Result<Incremental, SyncError> {
        let object = &plan.object;
        let Some(deleted_from) = self.deleted_until() else {
            return Ok(Incremental::NeedsFull("no deletion watermark".to_owned()));
        };
        let overlap = to_delta(ctx.tuning.change_overlap);
        // Changes committed late carry an earlier stamp than rows already seen: read a little
        // before the watermark again and skip what was applied.
        let since = self.mark.watermark.map(|w| w - overlap);
        ctx.progress(object, SyncPhase::Changes, 0, None);
        let mut pager = Pager::new(object, plan.soql(since), &plan.fields);
        let watermark = self.mark.watermark;
        let mut newest = watermark;
        let mut changed = Vec::new();
        while let Some(page) = ctx.api.next_page(&mut pager).await? {
            let total = page.total_size;
            let mut records = Vec::with_capacity(page.records.len());
            for row in &page.records {
                let Some(r) = plan.to_record(row, ctx.normaliser) else {
                    continue;
                };
                if is_after(r.system_modstamp, watermark)
                    || changed_since_stored(ctx.store, ctx.instance, &r).await?
                {
                    records.push(r);
                }
            }
            ctx.store_and_index(&records, false).await?;
            for r in &records {
                newest = newest.max(r.system_modstamp);
                changed.push(r.sf_id.clone());
            }
            ctx.progress(
                object,
                SyncPhase::Changes,
                changed.len() as u64,
                Some(total),
            );
        }
        let read = changed.len() as u64;

        ctx.progress(object, SyncPhase::Deletions, 0, None);
        let start = deleted_from - to_delta(ctx.tuning.delete_overlap);
        let end = Utc::now();
        let client = ctx.api.client;
        let deleted = ctx
            .api
            .call("deleted", Some(object), &[], || {
                client.deleted(object, start, end)
            })
            .await?;
        if deleted.earliest_date_available >= deleted_from {
            return Ok(Incremental::NeedsFull(format!(
                "Salesforce's deletion log begins at {}, not before the last deletion read ({deleted_from}): it was purged or we were offline too long",
                deleted.earliest_date_available
            )));
        }
        let mut gone = Vec::new();
        for d in &deleted.deleted_records {
            let id = d.id.as_str();
            let cached = ctx
                .store
                .get_record(ctx.instance, object.as_str(), id)
                .await?;
            // A record restored from the recycle bin after its deletion carries a newer stamp:
            // the overlap may report its old deletion again.
            if let Some(c) = cached
                && !c.deleted
                && c.record.system_modstamp.is_none_or(|m| m <= d.deleted_date)
            {
                gone.push(id.to_owned());
            }
        }
        ctx.forget(object, &gone).await?;
        ctx.progress(
            object,
            SyncPhase::Deletions,
            gone.len() as u64,
            Some(deleted.deleted_records.len() as u64),
        );

        let deleted_until = deleted_from.max(deleted.latest_date_covered);
        let mark = SyncWatermark {
            object_type: object.as_str().to_owned(),
            last_full_at: self.mark.last_full_at,
            last_incremental_at: Some(Utc::now()),
            watermark: newest,
            state: Self::stored_state(&plan.fingerprint(), deleted_until),
        };
        // Only now, with every change and deletion stored, does the position move.
        ctx.store.put_watermark(ctx.instance, &mark).await?;
        self.mark = mark;
        let deleted_count = gone.len() as u64;
        changed.extend(gone);
        Ok(Incremental::Done(ObjectOutcome {
            mode: SyncMode::Incremental,
            read,
            deleted: deleted_count,
            changed,
        }))
    }
}

/// Whether a record's stamp is after the watermark (rows in the overlap are not).
fn is_after(stamp: Option<DateTime<Utc>>, watermark: Option<DateTime<Utc>>) -> bool {
    match (stamp, watermark) {
        (Some(s), Some(w)) => s > w,
        _ => true,
    }
}

/// Whether a row of the overlap differs from the cached version (a late commit), or is new.
async fn changed_since_stored(
    store: &SqliteStore,
    instance: InstanceId,
    r: &Record,
) -> Result<bool, SyncError> {
    let cached = store.get_record(instance, &r.object_type, &r.sf_id).await?;
    Ok(cached.is_none_or(|c| c.deleted || c.record.system_modstamp != r.system_modstamp))
}

/// Ids of the cached records of `object` that no write touched since `since`.
async fn not_written_since(
    store: &SqliteStore,
    instance: InstanceId,
    object: &ObjectType,
    since: DateTime<Utc>,
) -> Result<Vec<String>, SyncError> {
    let records = store.stream_records(instance);
    let mut records = std::pin::pin!(records);
    let mut out = Vec::new();
    while let Some(r) = records.try_next().await? {
        if r.record.object_type == object.as_str() && r.updated_at < since {
            out.push(r.record.sf_id);
        }
    }
    Ok(out)
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// Why the sync waits for the daily API limit.
struct Pause {
    since: DateTime<Utc>,
    reason: String,
    next_check: tokio::time::Instant,
}

/// The sync of one instance.
pub(crate) struct Engine {
    name: String,
    instance: InstanceId,
    import_contacts: bool,
    store: SqliteStore,
    client: SalesforceClient,
    normaliser: Arc<dyn Normaliser>,
    tuning: SyncTuning,
    objects: Vec<ObjectState>,
    live: Option<Live>,
    exporter: Option<Exporter>,
    paused: Option<Pause>,
    /// The admin's daily API cap is reached (see [`admin_settings::cap_reached`]).
    cap_pause: Option<Pause>,
    /// Card layout, object priority and API cap, as last read from the store.
    settings: LiveSettings,
    status: SyncStatus,
    records: BTreeMap<String, usize>,
    api_calls: u64,
    link: LinkState,
    /// What the last snapshot of index and cards was taken (or loaded) of, and when.
    snapshot_mark: Option<(snapshot::Stamp, tokio::time::Instant)>,
}

impl Engine {
    /// Registers the instance in the store and reads where each object's sync stands.
    pub async fn open(parts: EngineParts) -> Result<Self, SyncError> {
        let spec = InstanceSpec {
            name: parts.name.clone(),
            description: parts.description.clone(),
            settings: Map::new(),
        };
        let instance = parts.store.upsert_instance(&spec).await?.id;
        let settings = match admin_settings::load(&parts.store, instance).await {
            Ok(s) => s.to_live(),
            Err(e) => {
                warn!(instance = %parts.name, error = %e, "using the default card layout");
                LiveSettings::default()
            }
        };
        let marks = parts.store.list_watermarks(instance).await?;
        let objects: Vec<ObjectState> = OBJECTS
            .iter()
            .map(|o| {
                let mark = marks
                    .iter()
                    .find(|m| m.object_type == o.as_str())
                    .cloned()
                    .unwrap_or_else(|| SyncWatermark {
                        object_type: o.as_str().to_owned(),
                        ..SyncWatermark::default()
                    });
                let mut st = ObjectState {
                    object: o.clone(),
                    plan: None,
                    mark,
                    needs_describe: false,
                    described_at: None,
                    status: ObjectSyncStatus::default(),
                };
                st.status.last_full_sync = st.mark.last_full_at;
                st.status.last_incremental_sync = st.mark.last_incremental_at;
                st.status.changes_until = st.mark.watermark;
                st.status.deletions_until = st.deleted_until();
                st
            })
            .collect();
        if parts.import_contacts && parts.rest.is_none() {
            return Err(SyncError::Setup(
                "import_contacts is on but no STARFACE connection was given".to_owned(),
            ));
        }
        let exporter = parts
            .rest
            .filter(|_| parts.import_contacts)
            .map(Exporter::new);
        let live = parts.publish.map(|publish| Live {
            parts: {
                let live = LiveParts::new(parts.normaliser.clone(), settings.layout.clone());
                live.index.set_priority(&settings.priority);
                live
            },
            samples: BTreeMap::new(),
            unreadable: BTreeMap::new(),
            publish,
            published: false,
        });
        let status = SyncStatus {
            interval_secs: parts.tuning.interval.as_secs(),
            export: exporter.as_ref().map(|_| ExportStatus {
                tag: CONTACT_TAG.to_owned(),
                ..ExportStatus::default()
            }),
            ..SyncStatus::default()
        };
        let mut engine = Self {
            name: parts.name,
            instance,
            import_contacts: parts.import_contacts,
            store: parts.store,
            client: parts.client,
            normaliser: parts.normaliser,
            tuning: parts.tuning,
            objects,
            live,
            exporter,
            paused: None,
            cap_pause: None,
            settings,
            status,
            records: BTreeMap::new(),
            api_calls: 0,
            link: LinkState::Connecting,
            snapshot_mark: None,
        };
        engine.refresh_counts().await;
        Ok(engine)
    }

    /// Fills the index from the store, so that calls are matched before Salesforce answers,
    /// and publishes it when the store held records. Returns how many it loaded.
    ///
    /// From the instance's snapshot when there is a usable one, brought up to date with the
    /// rows changed since it was taken (see [`Engine::load_snapshot`]); else from every row
    /// of the record cache: SQLite's worker thread reads batches of rows (as JSON arrays)
    /// while blocking threads decode them and build index and cards (from the E.164 forms
    /// stored with the numbers).
    pub async fn load(&mut self) -> Result<usize, SyncError> {
        if self.live.is_none() {
            return Ok(0);
        }
        // Read before the records are, so that a snapshot written after this load claims no
        // change it may have missed (one it did not miss is applied again next time, which
        // changes nothing).
        let stamp = match self.snapshot_stamp().await {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(instance = %self.name, error = %e, "cannot read the record cache's generation; not using the index snapshot");
                None
            }
        };
        if let Some(stamp) = &stamp
            && let Some(loaded) = self.load_snapshot(stamp).await
        {
            return Ok(loaded);
        }
        let started = std::time::Instant::now();
        let loaded = self.load_store().await?;
        if loaded > 0 {
            self.status.index_loaded = Some(IndexLoad {
                from: "record cache".to_owned(),
                records: loaded,
                millis: started.elapsed().as_millis() as u64,
            });
            // The next start takes index and cards from the snapshot, and only the rows that
            // changed after it from the cache (see `maybe_snapshot` for when it is renewed).
            if let Some(stamp) = stamp {
                self.save_snapshot(stamp).await;
            }
        }
        Ok(loaded)
    }

    /// What a snapshot taken now would be of.
    async fn snapshot_stamp(&self) -> Result<snapshot::Stamp, StoreError> {
        let layout = self
            .live
            .as_ref()
            .map(|l| snapshot::layout_text(&l.parts.cards.layout()))
            .unwrap_or_default();
        Ok(snapshot::Stamp {
            instance: self.instance.0,
            generation: self.store.records_generation(self.instance).await?,
            rules: self.normaliser.rules_id(),
            layout,
        })
    }

    fn snapshot_path(&self) -> std::path::PathBuf {
        snapshot::path_for(self.store.data_dir(), self.instance.0)
    }

    /// Whether a snapshot taken at `found` is worth bringing up to `current` (the records
    /// are at `current`): it can be (see [`snapshot::Stamp::catches_up_to`]) and not too many
    /// rows changed since. Returns the rows to apply.
    async fn snapshot_delta(
        &self,
        found: &snapshot::Stamp,
        current: &snapshot::Stamp,
    ) -> Result<Option<u64>, StoreError> {
        let hard_deleted = self
            .store
            .last_hard_delete_generation(self.instance)
            .await?;
        if !found.catches_up_to(current, hard_deleted) {
            if found.generation < hard_deleted {
                info!(instance = %self.name, "cached records were purged after the index snapshot was taken; reading the record cache");
            }
            return Ok(None);
        }
        if found.generation == current.generation {
            return Ok(Some(0));
        }
        let changed = self
            .store
            .count_changed_since(self.instance, found.generation)
            .await?;
        let records: usize = self.records.values().sum();
        if changed > (records / DELTA_MAX_PART) as u64 {
            info!(instance = %self.name, changed, records, "many cached records changed after the index snapshot was taken; reading the record cache");
            return Ok(None);
        }
        Ok(Some(changed))
    }

    /// Fills index and cards from the instance's snapshot and the rows of the record cache
    /// that changed after it was taken, when it is of these records, rules and layout and
    /// not older than the last purge (see [`Engine::snapshot_delta`]); `None` (and nothing
    /// filled) otherwise. After a delta the snapshot is written again.
    async fn load_snapshot(&mut self, stamp: &snapshot::Stamp) -> Option<usize> {
        let path = self.snapshot_path();
        let found = match snapshot::peek(&path) {
            Ok(None) => return None,
            // An unreadable header: the read below says what is damaged and removes it.
            Ok(Some(None)) => stamp.clone(),
            Ok(Some(Some(found))) => found,
            Err(e) => {
                warn!(instance = %self.name, error = %e, "the index snapshot cannot be used; reading the record cache");
                return None;
            }
        };
        let changed = match self.snapshot_delta(&found, stamp).await {
            Ok(Some(changed)) => changed,
            Ok(None) => return None,
            Err(e) => {
                warn!(instance = %self.name, error = %e, "cannot compare the index snapshot with the record cache; reading the record cache");
                return None;
            }
        };
        let started = std::time::Instant::now();
        let (store, instance) = (&self.store, self.instance);
        let live = self.live.as_mut()?;
        let parts = live.parts.clone();
        let read = tokio::task::spawn_blocking({
            let (path, found) = (path.clone(), found.clone());
            move || snapshot::read(&path, &found, &parts)
        })
        .await;
        let forget = |live: &mut Live| {
            live.parts.clear();
        };
        let (records, notes) = match read {
            Ok(Ok(Some(loaded))) => loaded,
            Ok(Ok(None)) => return None,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                warn!(instance = %self.name, error, "the index snapshot cannot be used; reading the record cache");
                forget(live);
                snapshot::remove(&path);
                return None;
            }
        };
        let mut samples: BTreeMap<String, Vec<E164>> = notes
            .samples
            .into_iter()
            .map(|(object, numbers)| {
                let numbers = numbers.iter().filter_map(|n| E164::parse(n).ok()).collect();
                (object, numbers)
            })
            .collect();
        let mut applied = None;
        let snapshot_ms = started.elapsed().as_millis() as u64;
        if found.generation < stamp.generation {
            let delta = store.stream_changed_since(instance, found.generation, LOAD_BATCH);
            match build_batches(&live.parts, delta, 0).await {
                Ok(built) => {
                    // Samples of records that changed their numbers or are gone would ring
                    // nothing in the demo; the changed records' numbers fill the room. The
                    // counts of unreadable values stay the snapshot's, as the sync's own
                    // incremental changes leave them (the old values are not known).
                    for numbers in samples.values_mut() {
                        numbers.retain(|e| !live.parts.index.lookup(e).is_empty());
                    }
                    let mut noted = Loaded {
                        records: 0,
                        samples,
                        unreadable: BTreeMap::new(),
                    };
                    noted.merge(built);
                    samples = noted.samples;
                    applied = Some(changed);
                }
                Err(e) => {
                    warn!(instance = %self.name, error = %e, "cannot apply the records changed after the index snapshot; reading the record cache");
                    forget(live);
                    return None;
                }
            }
        }
        live.samples = samples;
        live.unreadable = notes.unreadable;
        live.publish();
        let records = if applied.is_some() {
            live.parts.index.len()
        } else {
            records
        };
        let from = match applied {
            Some(changed) => format!("snapshot + {changed} changed records"),
            None => "snapshot".to_owned(),
        };
        self.status.index_loaded = Some(IndexLoad {
            from: from.clone(),
            records,
            millis: started.elapsed().as_millis() as u64,
        });
        info!(
            instance = %self.name,
            records,
            snapshot_ms,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index loaded from {from}"
        );
        if applied.is_some() {
            // Else a crash before the next snapshot would apply these rows again, and more.
            self.save_snapshot(stamp.clone()).await;
        } else {
            self.snapshot_mark = Some((found, tokio::time::Instant::now()));
        }
        Some(records)
    }

    /// Writes the snapshot of index and cards (see [`snapshot`]) as of `stamp`; a failure is
    /// logged, the next start then reads the record cache.
    async fn save_snapshot(&mut self, stamp: snapshot::Stamp) {
        let Some(live) = self.live.as_ref() else {
            return;
        };
        let notes = snapshot::Notes {
            samples: live
                .samples
                .iter()
                .map(|(o, n)| (o.clone(), n.iter().map(|e| e.as_str().to_owned()).collect()))
                .collect(),
            unreadable: live.unreadable.clone(),
        };
        let (path, parts) = (self.snapshot_path(), live.parts.clone());
        let started = std::time::Instant::now();
        let written = tokio::task::spawn_blocking({
            let stamp = stamp.clone();
            move || snapshot::write(&path, &stamp, &notes, &parts)
        })
        .await;
        match written {
            Ok(Ok(records)) => {
                self.snapshot_mark = Some((stamp, tokio::time::Instant::now()));
                info!(
                    instance = %self.name,
                    records,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "index snapshot written"
                );
            }
            Ok(Err(e)) => warn!(instance = %self.name, error = %e, "no index snapshot written"),
            Err(e) => warn!(instance = %self.name, error = %e, "no index snapshot written"),
        }
    }

    /// After a cycle: a new snapshot when records or layout changed since the last one, at most every
    /// [`snapshot::SNAPSHOT_EVERY`] (a million records take a few hundred MB to write).
    async fn maybe_snapshot(&mut self) {
        self.snapshot_if_changed(snapshot::SNAPSHOT_EVERY).await;
    }

    /// The service stops: saves the snapshot if records or layout changed since the last one.
    pub async fn close(&mut self) {
        self.snapshot_if_changed(Duration::ZERO).await;
    }

    /// Saves the snapshot when the records or the card layout changed since the last one was
    /// taken (a layout changed in the admin UI applies at once; without a new snapshot the next
    /// start would refuse the old one and read the whole record cache) and that was at least
    /// `min_interval` ago.
    async fn snapshot_if_changed(&mut self, min_interval: Duration) {
        if self.live.as_ref().is_none_or(|l| !l.published) {
            return;
        }
        let stamp = match self.snapshot_stamp().await {
            Ok(s) => s,
            Err(e) => {
                warn!(instance = %self.name, error = %e, "cannot read the record cache's generation; no index snapshot");
                return;
            }
        };
        match &self.snapshot_mark {
            Some((taken, _)) if *taken == stamp => {}
            Some((_, at)) if at.elapsed() < min_interval => {}
            _ => self.save_snapshot(stamp).await,
        }
    }

    /// Fills the index from the record cache (see [`Engine::load`]).
    async fn load_store(&mut self) -> Result<usize, SyncError> {
        let (store, instance) = (&self.store, self.instance);
        let Some(live) = self.live.as_mut() else {
            return Ok(0);
        };
        let expected: usize = self.records.values().sum();
        let built = build_batches(
            &live.parts,
            store.stream_stored(instance, LOAD_BATCH),
            expected,
        )
        .await?;
        let loaded = built.records;
        let mut noted = Loaded {
            records: 0,
            samples: std::mem::take(&mut live.samples),
            unreadable: std::mem::take(&mut live.unreadable),
        };
        noted.merge(built);
        live.samples = noted.samples;
        live.unreadable = noted.unreadable;
        if loaded > 0 {
            live.publish();
            info!(instance = %self.name, records = loaded, "index loaded from the store");
        }
        Ok(loaded)
    }

    /// Reads every row of a query with retries; counts its calls.
    pub async fn query_all<T: DeserializeOwned + Send + 'static>(
        &mut self,
        soql: &str,
    ) -> Result<Vec<T>, SyncError> {
        let client = &self.client;
        let mut api = Api::new(client, &self.tuning);
        let result = api
            .call("query", None, &[], || client.query_all_pages::<T>(soql))
            .await;
        // One call per batch, not one per query.
        self.api_calls += match &result {
            Ok(all) => u64::from(all.api_calls),
            Err(_) => api.calls,
        };
        result.map(|all| all.records)
    }

    /// One cycle: each object's sync (full where needed), then the export.
    pub async fn cycle<P: Fn(SyncProgress)>(
        &mut self,
        force_full: bool,
        progress: &P,
    ) -> InstanceSummary {
        let calls_before = self.api_calls;
        let mut summary = InstanceSummary {
            name: self.name.clone(),
            objects: Vec::new(),
            export: None,
            api_calls: 0,
            api_usage: None,
            paused: None,
        };
        self.reload_settings().await;
        if let Some(reason) = self.cap_reached().await {
            summary.paused = Some(reason);
            self.finish(&mut summary, calls_before).await;
            return summary;
        }
        if !self.limit_freed().await {
            summary.paused = self.paused.as_ref().map(|p| p.reason.clone());
            self.finish(&mut summary, calls_before).await;
            return summary;
        }
        let mut first_error: Option<String> = None;
        let mut full_contacts = false;
        let mut changed_contacts: Vec<String> = Vec::new();
        let mut any_full = false;
        let mut any_synced = false;
        for i in 0..self.objects.len() {
            let Self {
                name,
                instance,
                store,
                client,
                normaliser,
                tuning,
                objects,
                live,
                import_contacts,
                settings,
                ..
            } = self;
            let st = &mut objects[i];
            let mut ctx = Ctx {
                name,
                instance: *instance,
                store,
                api: Api::new(client, tuning),
                normaliser: normaliser.as_ref(),
                tuning,
                live: live.as_mut(),
                export_fields: *import_contacts,
                layout: &settings.layout,
                progress,
            };
            let result = st.sync(&mut ctx, force_full).await;
            let calls = ctx.api.calls;
            self.api_calls += calls;
            let st = &mut self.objects[i];
            st.status.api_calls += calls;
            st.status.progress = None;
            let mut line = ObjectSummary {
                object: st.object.as_str().to_owned(),
                mode: None,
                records_read: 0,
                records_deleted: 0,
                api_calls: calls,
                error: None,
            };
            match result {
                Ok(outcome) => {
                    any_synced = true;
                    st.status.error = None;
                    st.status.last_full_sync = st.mark.last_full_at;
                    st.status.last_incremental_sync = st.mark.last_incremental_at;
                    st.status.changes_until = st.mark.watermark;
                    st.status.deletions_until = st.deleted_until();
                    st.status.last_read = outcome.read;
                    st.status.last_deleted = outcome.deleted;
                    line.mode = Some(outcome.mode);
                    line.records_read = outcome.read;
                    line.records_deleted = outcome.deleted;
                    if outcome.mode == SyncMode::Full {
                        any_full = true;
                    }
                    if st.object == ObjectType::Contact {
                        full_contacts |= outcome.mode == SyncMode::Full;
                        changed_contacts.extend(outcome.changed);
                    }
                    summary.objects.push(line);
                }
                Err(SyncError::LimitExceeded { usage, message }) => {
                    let reason = format!(
                        "{}; the sync waits and asks Salesforce's limits every {} s",
                        ctibridge_salesforce::SalesforceError::RequestLimitExceeded {
                            limit_info: usage,
                            message,
                        },
                        self.tuning.limit_poll.as_secs()
                    );
                    warn!(instance = %self.name, "{reason}");
                    st.status.error = Some(reason.clone());
                    line.error = Some(reason.clone());
                    summary.objects.push(line);
                    self.paused = Some(Pause {
                        since: Utc::now(),
                        reason: reason.clone(),
                        next_check: tokio::time::Instant::now() + self.tuning.limit_poll,
                    });
                    first_error.get_or_insert(reason.clone());
                    summary.paused = Some(reason);
                    break;
                }
                Err(e) => {
                    let text = e.to_string();
                    warn!(instance = %self.name, object = %st.object, error = %text, "sync failed; retrying next cycle");
                    st.status.error = Some(text.clone());
                    line.error = Some(text.clone());
                    summary.objects.push(line);
                    first_error.get_or_insert(text);
                    // Salesforce unreachable: the other objects would only wait for it too.
                    if e.is_unreachable() {
                        break;
                    }
                }
            }
        }
        if let Some(live) = self.live.as_mut()
            && ((!live.published && any_synced) || any_full)
        {
            live.publish();
        }
        if self.paused.is_none() {
            summary.export = self.export(full_contacts, changed_contacts, progress).await;
        }
        self.link = match first_error {
            None => LinkState::Ok,
            Some(e) => LinkState::Failed(e),
        };
        self.finish(&mut summary, calls_before).await;
        self.maybe_snapshot().await;
        summary
    }

    async fn finish(&mut self, summary: &mut InstanceSummary, calls_before: u64) {
        self.status.last_cycle_at = Some(Utc::now());
        self.status.paused = self
            .paused
            .as_ref()
            .or(self.cap_pause.as_ref())
            .map(|p| SyncPause {
                since: p.since,
                reason: p.reason.clone(),
            });
        if let Some(p) = &self.paused {
            self.link = LinkState::Failed(p.reason.clone());
        }
        self.refresh_counts().await;
        summary.api_calls = self.api_calls - calls_before;
        summary.api_usage = self.client.api_usage().map(|u| (u.used, u.limit));
    }

    /// Reads the admin's settings again and applies a changed layout and priority to the live
    /// cards and index at once (the plans notice the new card fields in their sync).
    async fn reload_settings(&mut self) {
        let fresh = match admin_settings::load(&self.store, self.instance).await {
            Ok(s) => s.to_live(),
            Err(e) => {
                warn!(instance = %self.name, error = %e, "keeping the instance settings in use");
                return;
            }
        };
        if fresh == self.settings {
            return;
        }
        if let Some(live) = self.live.as_ref() {
            live.parts.cards.set_layout(fresh.layout.clone());
            live.parts.index.set_priority(&fresh.priority);
        }
        info!(instance = %self.name, "instance settings changed in the admin UI; applied");
        self.settings = fresh;
        // Between cycles index and cards are the cache's: a snapshot under the new layout now
        // spares the next start the full read (the old snapshot's layout is refused), also when
        // the cycle that fetches the new fields is still running at shutdown and writes none.
        self.snapshot_if_changed(Duration::ZERO).await;
    }

    /// Why the background sync waits for the admin's daily API cap, if it does. While it
    /// waits, the org's usage is asked at most every `limit_poll` (call logging and user
    /// actions, which the cap does not stop, refresh it too).
    async fn cap_reached(&mut self) -> Option<String> {
        let usage = |c: &SalesforceClient| c.api_usage().map(|u| (u.used, u.limit));
        let cap = self.settings.daily_api_cap;
        let (used, limit) = usage(&self.client).unzip();
        let Some(reason) = admin_settings::cap_reached(cap, used, limit) else {
            if self.cap_pause.take().is_some() {
                info!(instance = %self.name, "below the daily API cap again; the sync resumes");
            }
            return None;
        };
        let now = tokio::time::Instant::now();
        if let Some(p) = self.cap_pause.as_ref() {
            if now < p.next_check {
                return Some(p.reason.clone());
            }
            let client = &self.client;
            let mut api = Api::new(client, &self.tuning);
            let _ = api.call("limits", None, &[], || client.limits()).await;
            self.api_calls += api.calls;
            let (used, limit) = usage(&self.client).unzip();
            if admin_settings::cap_reached(cap, used, limit).is_none() {
                info!(instance = %self.name, "below the daily API cap again; the sync resumes");
                self.cap_pause = None;
                return None;
            }
        } else {
            warn!(instance = %self.name, "{reason}");
        }
        self.cap_pause = Some(Pause {
            since: self.cap_pause.as_ref().map_or_else(Utc::now, |p| p.since),
            reason: reason.clone(),
            next_check: now + self.tuning.limit_poll,
        });
        Some(reason)
    }

    /// Whether the sync may call Salesforce: not paused, or the limit freed up. Asks
    /// Salesforce's limits at most every `limit_poll` while paused.
    async fn limit_freed(&mut self) -> bool {
        let Some(pause) = &self.paused else {
            return true;
        };
        if tokio::time::Instant::now() < pause.next_check {
            return false;
        }
        let client = &self.client;
        let mut api = Api::new(client, &self.tuning);
        let result = api.call("limits", None, &[], || client.limits()).await;
        self.api_calls += api.calls;
        let freed = match &result {
            Ok(limits) => limits.daily_api_requests().is_none_or(|l| l.remaining > 0),
            Err(_) => false,
        };
        if freed {
            info!(instance = %self.name, "the org's API requests are available again; the sync resumes");
            self.paused = None;
        } else if let Some(p) = self.paused.as_mut() {
            p.next_check = tokio::time::Instant::now() + self.tuning.limit_poll;
        }
        freed
    }

    async fn export<P: Fn(SyncProgress)>(
        &mut self,
        full_contacts: bool,
        changed: Vec<String>,
        progress: &P,
    ) -> Option<ExportSummary> {
        let exporter = self.exporter.as_mut()?;
        if full_contacts {
            exporter.reconcile_next();
        }
        exporter.changed(changed);
        if !exporter.due() {
            return None;
        }
        progress(SyncProgress {
            instance: self.name.clone(),
            object: String::new(),
            phase: SyncPhase::Export,
            done: 0,
            total: None,
        });
        let result = exporter
            .run(&self.store, self.instance, self.normaliser.as_ref())
            .await;
        let status = self.status.export.get_or_insert_with(ExportStatus::default);
        status.created = exporter.totals.created;
        status.updated = exporter.totals.updated;
        status.deleted = exporter.totals.deleted;
        status.contacts_exported = exporter.exported;
        let summary = match result {
            Ok(counts) => {
                status.last_export_at = Some(Utc::now());
                status.error = None;
                ExportSummary {
                    counts,
                    exported: exporter.exported,
                    error: None,
                }
            }
            Err(e) => {
                let text = e.to_string();
                warn!(instance = %self.name, error = %text, "address-book export failed; retrying next cycle");
                status.error = Some(text.clone());
                ExportSummary {
                    counts: ExportCounts::default(),
                    exported: exporter.exported,
                    error: Some(text),
                }
            }
        };
        Some(summary)
    }

    async fn refresh_counts(&mut self) {
        match self.store.count_records(self.instance).await {
            Ok(counts) => {
                self.records = counts
                    .iter()
                    .map(|c| {
                        (
                            c.object_type.clone(),
                            usize::try_from(c.live).unwrap_or(usize::MAX),
                        )
                    })
                    .collect();
                for st in &mut self.objects {
                    st.status.records = counts
                        .iter()
                        .find(|c| c.object_type == st.object.as_str())
                        .map_or(0, |c| c.live);
                }
            }
            Err(e) => warn!(instance = %self.name, error = %e, "cannot count cached records"),
        }
        for st in &self.objects {
            self.status
                .objects
                .insert(st.object.as_str().to_owned(), st.status.clone());
        }
        self.status.limit_info = self.client.api_usage().map(|u| format!("api-usage={u}"));
    }

    /// What the status page shows.
    pub fn report(&self) -> EngineReport {
        let live = self.live.as_ref();
        EngineReport {
            sync: self.status.clone(),
            records: OBJECTS
                .iter()
                .map(|o| {
                    (
                        o.as_str().to_owned(),
                        self.records.get(o.as_str()).copied().unwrap_or(0),
                    )
                })
                .collect(),
            numbers_indexed: live.map_or(0, |l| l.parts.index.number_count()),
            numbers_unreadable: live.map_or(0, |l| l.unreadable.values().sum()),
            last_full_read: self
                .objects
                .iter()
                .map(|o| o.mark.last_full_at)
                .min()
                .flatten(),
            api_calls: self.api_calls,
            api_usage: self.client.api_usage(),
            link: self.link.clone(),
        }
    }

    /// Marks the Salesforce link failed (a user-list read that failed for good).
    pub fn note_failure(&mut self, text: String) {
        self.link = LinkState::Failed(text);
    }
}
