//! The state of one emulated org and the [`Control`] handle that changes it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::EmulatorError;
use crate::errors::SaveError;
use crate::ids;
use crate::schema::SCHEMA;
use crate::seed::{ExpectedNumber, OrgUser, RUN_AS_USERNAME};
use crate::soql::Plan;
use crate::store::{Data, ValidationRule, WriteCtx, WriteError};
use crate::time::{self, Millis};

/// Settings that tests and the demo change at run time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Faults {
    /// Share of `/services/*` requests answered with `fail_status` (0.0..=1.0).
    pub fail_rate: f64,
    /// Status of injected failures (e.g. 503).
    pub fail_status: u16,
    /// Delay added before every `/services/*` request, in milliseconds.
    pub latency_ms: u64,
    /// Lifetime of access tokens, in seconds (Salesforce's session timeout).
    pub token_lifetime_secs: u64,
    /// The org's daily API request limit.
    pub api_daily_limit: u64,
    /// Whether the connected app has a run-as user for the client-credentials flow.
    pub runas_user_enabled: bool,
    /// How long a new or changed record stays invisible to SOSL, in seconds.
    pub search_lag_secs: f64,
    /// Fields hidden from the API user by field-level security (`Object.Field`).
    pub hidden_fields: Vec<String>,
    /// Validation rules in force.
    pub validation_rules: Vec<ValidationRule>,
}

/// A change of [`Faults`] and friends; every field optional. Also the JSON body of
/// `POST /__emulator/faults`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultUpdate {
    /// Share of requests to fail.
    pub fail_rate: Option<f64>,
    /// Status of failed requests.
    pub fail_status: Option<u16>,
    /// Added latency.
    pub latency_ms: Option<u64>,
    /// Invalidate every access token issued so far.
    pub expire_tokens_now: Option<bool>,
    /// Lifetime of access tokens (also applies to tokens already issued).
    pub token_lifetime_secs: Option<u64>,
    /// Set the API calls used today.
    pub api_used: Option<u64>,
    /// Set the daily API limit.
    pub api_daily_limit: Option<u64>,
    /// Hide a field (`Contact.OwnerId`) from the API user.
    pub hide_field: Option<String>,
    /// Show a hidden field again.
    pub show_field: Option<String>,
    /// Enable or disable the run-as user of the client-credentials flow.
    pub runas_user_enabled: Option<bool>,
    /// Search-index lag in seconds.
    pub search_lag_secs: Option<f64>,
    /// Add a validation rule.
    pub validation_rule: Option<ValidationRule>,
    /// Remove all validation rules.
    pub clear_validation_rules: Option<bool>,
    /// Forget the delete log: `deleted/` reports `earliestDateAvailable` = now.
    pub purge_delete_log: Option<bool>,
    /// Back to the start-up settings (faults off, limits and lifetimes as configured).
    pub reset: Option<bool>,
}

/// API calls made so far.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiUsage {
    /// Calls counted against the daily limit (includes `api_used` set through control).
    pub used: u64,
    /// The daily limit.
    pub limit: u64,
    /// Calls by kind since start: `query`, `queryMore`, `search`, `sobject.create`, ...
    pub by_kind: BTreeMap<String, u64>,
}

/// Live and deleted record counts of one object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordCounts {
    /// Records not in the recycle bin.
    pub live: usize,
    /// Records in the recycle bin.
    pub deleted: usize,
}

/// A snapshot of the org for tests and the demo (`GET /__emulator/state`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrgState {
    /// Org id (00D...).
    pub org_id: String,
    /// Origin of the emulator.
    pub url: String,
    /// API usage.
    pub api: ApiUsage,
    /// Counts by object name.
    pub records: BTreeMap<String, RecordCounts>,
    /// Access tokens issued since start.
    pub tokens_issued: u64,
    /// Access tokens valid right now.
    pub tokens_active: usize,
    /// Open CTI calls recorded.
    pub opencti_calls: usize,
    /// Current settings.
    pub faults: Faults,
}

/// One access token.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub user_id: String,
    pub client_id: String,
    pub issued_ms: Millis,
    pub scope: String,
}

/// An authorization code waiting to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub user_id: String,
    pub redirect_uri: String,
    pub challenge: Option<(String, String)>,
    pub scope: String,
    pub issued_ms: Millis,
}

/// An open query cursor.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub user_id: String,
    pub plan: Arc<Plan>,
    pub rows: Arc<Vec<usize>>,
    pub batch: usize,
    pub all: bool,
}

pub(crate) struct Mutable {
    pub faults: Faults,
    pub api_used: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub sessions: HashMap<String, Session>,
    pub refresh_tokens: HashMap<String, (String, String)>,
    pub codes: HashMap<String, AuthCode>,
    pub tokens_valid_after: Millis,
    pub tokens_issued: u64,
    pub cursors: HashMap<String, Cursor>,
    pub cursor_order: VecDeque<String>,
    pub next_cursor: u64,
    pub opencti_calls: Vec<Value>,
    pub call_center_settings: Map<String, Value>,
    pub allowed_redirects: Option<Vec<String>>,
    pub fault_rng: ChaCha8Rng,
}

/// Everything one org holds.
pub(crate) struct Org {
    pub url: url::Url,
    pub org_id: String,
    pub api_version: String,
    pub client_id: String,
    pub client_secret: String,
    pub max_body_bytes: usize,
    pub users: Vec<OrgUser>,
    pub expected: Vec<ExpectedNumber>,
    pub data: RwLock<Data>,
    pub state: Mutex<Mutable>,
    pub initial_faults: Faults,
}

/// Open query cursors per user, as in Salesforce (older ones are closed).
const MAX_CURSORS_PER_USER: usize = 10;

impl Org {
    pub(crate) fn new(url: url::Url, opts: &crate::Options, seeded: crate::seed::Seeded) -> Org {
        let faults = Faults {
            fail_rate: 0.0,
            fail_status: 503,
            latency_ms: 0,
            token_lifetime_secs: opts.token_lifetime.as_secs().max(1),
            api_daily_limit: opts.api_daily_limit,
            runas_user_enabled: true,
            search_lag_secs: opts.search_lag.as_secs_f64(),
            hidden_fields: Vec::new(),
            validation_rules: Vec::new(),
        };
        let mut settings = Map::new();
        for (k, v) in [
            ("/reqGeneralInfo/reqInternalName", "ctibridge"),
            ("/reqGeneralInfo/reqDisplayName", "ctibridge"),
            (
                "/reqGeneralInfo/reqAdapterUrl",
                "https://ctibridge.example.com/panel/",
            ),
            ("/reqGeneralInfo/reqUseApi", "true"),
            ("/reqGeneralInfo/reqSoftphoneHeight", "400"),
            ("/reqGeneralInfo/reqSoftphoneWidth", "300"),
            (
                "/reqGeneralInfo/reqSalesforceCompatibilityMode",
                "Lightning",
            ),
            ("/reqDialingOptions/reqOutsidePrefix", "0"),
            ("/reqDialingOptions/reqLongDistPrefix", "0"),
            ("/reqDialingOptions/reqInternationalPrefix", "00"),
        ] {
            settings.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        Org {
            url,
            org_id: seeded.org_id,
            api_version: opts.api_version.clone(),
            client_id: opts.client_id.clone(),
            client_secret: opts.client_secret.clone(),
            max_body_bytes: opts.max_body_bytes,
            users: seeded.users,
            expected: seeded.expected,
            data: RwLock::new(seeded.data),
            state: Mutex::new(Mutable {
                faults: faults.clone(),
                api_used: 0,
                by_kind: BTreeMap::new(),
                sessions: HashMap::new(),
                refresh_tokens: HashMap::new(),
                codes: HashMap::new(),
                tokens_valid_after: 0,
                tokens_issued: 0,
                cursors: HashMap::new(),
                cursor_order: VecDeque::new(),
                next_cursor: 1_000_000,
                opencti_calls: Vec::new(),
                call_center_settings: settings,
                allowed_redirects: None,
                fault_rng: ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5f5f),
            }),
            initial_faults: faults,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The origin without a trailing slash, as `instance_url` carries it.
    pub(crate) fn origin(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_owned()
    }

    pub(crate) fn user(&self, id: &str) -> Option<&OrgUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn user_by_username(&self, username: &str) -> Option<&OrgUser> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username.trim()))
    }

    pub(crate) fn run_as(&self) -> Option<&OrgUser> {
        self.user_by_username(RUN_AS_USERNAME)
    }

    /// The identity URL Salesforce hands out as `id` and `sub`.
    pub(crate) fn identity_url(&self, user_id: &str) -> String {
        format!("{}/id/{}/{}", self.origin(), self.org_id, user_id)
    }

    /// Issues an access token for a user.
    pub(crate) fn issue_token(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
    ) -> (String, Millis) {
        let token = format!("{}!{}", &self.org_id[..15], random_token(96));
        let mut st = self.state();
        // A token issued in the millisecond tokens were expired must still be valid.
        let now = time::now_ms().max(st.tokens_valid_after + 1);
        st.tokens_issued += 1;
        st.sessions.insert(
            token.clone(),
            Session {
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
                issued_ms: now,
                scope: scope.to_owned(),
            },
        );
        (token, now)
    }

    /// The session behind a token, when it is still valid.
    pub(crate) fn session(&self, token: &str) -> Option<Session> {
        let st = self.state();
        let s = st.sessions.get(token)?;
        let lifetime =
            i64::try_from(st.faults.token_lifetime_secs).unwrap_or(i64::MAX / 2000) * 1000;
        let valid = s.issued_ms > st.tokens_valid_after && time::now_ms() - s.issued_ms < lifetime;
        valid.then(|| s.clone())
    }

    /// Counts one API call of `kind`, or refuses it when the daily limit is spent.
    pub(crate) fn count_call(&self, kind: &str) -> bool {
        let mut st = self.state();
        if st.api_used >= st.faults.api_daily_limit {
            return false;
        }
        st.api_used += 1;
        *st.by_kind.entry(kind.to_owned()).or_insert(0) += 1;
        true
    }

    /// `api-usage=N/LIMIT`.
    pub(crate) fn limit_info(&self) -> String {
        let st = self.state();
        format!("api-usage={}/{}", st.api_used, st.faults.api_daily_limit)
    }

    /// Stores a cursor and returns its locator id.
    pub(crate) fn open_cursor(&self, cursor: Cursor) -> String {
        let mut st = self.state();
        st.next_cursor += 1;
        let locator = ids::make_id("01g", st.next_cursor);
        let user = cursor.user_id.clone();
        st.cursors.insert(locator.clone(), cursor);
        st.cursor_order.push_back(locator.clone());
        let mine: Vec<String> = st
            .cursor_order
            .iter()
            .filter(|l| st.cursors.get(*l).is_some_and(|c| c.user_id == user))
            .cloned()
            .collect();
        if mine.len() > MAX_CURSORS_PER_USER {
            for old in &mine[..mine.len() - MAX_CURSORS_PER_USER] {
                st.cursors.remove(old);
            }
        }
        let Mutable {
            cursor_order,
            cursors,
            ..
        } = &mut *st;
        cursor_order.retain(|l| cursors.contains_key(l));
        locator
    }

    pub(crate) fn cursor(&self, locator: &str) -> Option<Cursor> {
        self.state().cursors.get(locator).cloned()
    }

    pub(crate) fn close_cursor(&self, locator: &str) {
        let mut st = self.state();
        st.cursors.remove(locator);
        st.cursor_order.retain(|l| l != locator);
    }

    fn snapshot(&self) -> OrgState {
        let data = self.read();
        let records = SCHEMA
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let t = &data.tables[i];
                let deleted = t.records.iter().filter(|r| r.deleted_at.is_some()).count();
                (
                    o.name.to_owned(),
                    RecordCounts {
                        live: t.records.len() - deleted,
                        deleted,
                    },
                )
            })
            .collect();
        drop(data);
        let active = self.state().sessions.keys().cloned().collect::<Vec<_>>();
        let tokens_active = active.iter().filter(|t| self.session(t).is_some()).count();
        let st = self.state();
        OrgState {
            org_id: self.org_id.clone(),
            url: self.origin(),
            api: ApiUsage {
                used: st.api_used,
                limit: st.faults.api_daily_limit,
                by_kind: st.by_kind.clone(),
            },
            records,
            tokens_issued: st.tokens_issued,
            tokens_active,
            opencti_calls: st.opencti_calls.len(),
            faults: st.faults.clone(),
        }
    }
}

/// A random token of URL-safe characters.
pub(crate) fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

fn parse_field_ref(s: &str) -> Result<(usize, usize), EmulatorError> {
    let (o, f) = s
        .split_once('.')
        .ok_or_else(|| EmulatorError::Control(format!("expected Object.Field, got '{s}'")))?;
    let oi = SCHEMA
        .object_index(o)
        .ok_or_else(|| EmulatorError::Control(format!("no object '{o}'")))?;
    let fi = SCHEMA
        .obj(oi)
        .field_index(f)
        .ok_or_else(|| EmulatorError::Control(format!("no field '{f}' on {o}")))?;
    if SCHEMA.obj(oi).field(fi).name == "Id" {
        return Err(EmulatorError::Control("Id cannot be hidden".to_owned()));
    }
    Ok((oi, fi))
}

fn field_name(o: usize, f: usize) -> String {
    format!("{}.{}", SCHEMA.obj(o).name, SCHEMA.obj(o).field(f).name)
}

/// A change of records through [`Control`] or `POST /__emulator/records` (no API call counted).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RecordOp {
    /// Create a record of `type` (system fields such as `SystemModstamp` may be set).
    Create {
        /// Object API name.
        #[serde(rename = "type")]
        object: String,
        /// Field values as the REST API takes them.
        fields: Map<String, Value>,
    },
    /// Update fields of a record.
    Update {
        /// Record id.
        id: String,
        /// Field values.
        fields: Map<String, Value>,
    },
    /// Move a record to the recycle bin.
    Delete {
        /// Record id.
        id: String,
        /// When the deletion happened (ISO 8601), to play history; default now.
        #[serde(default)]
        at: Option<String>,
    },
}

/// Programmatic faults and data access for tests and the demo. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    pub(crate) org: Arc<Org>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("url", &self.org.url.as_str())
            .finish()
    }
}

impl Control {
    /// Applies a change of settings; unknown objects or fields are an error.
    pub fn apply(&self, update: FaultUpdate) -> Result<Faults, EmulatorError> {
        let hide = update
            .hide_field
            .as_deref()
            .map(parse_field_ref)
            .transpose()?;
        let show = update
            .show_field
            .as_deref()
            .map(parse_field_ref)
            .transpose()?;
        if let Some(rule) = &update.validation_rule {
            parse_field_ref(&format!("{}.{}", rule.object, rule.field))?;
        }
        if let Some(rate) = update.fail_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(EmulatorError::Control(format!(
                "fail_rate {rate} is not within 0..=1"
            )));
        }
        if let Some(status) = update.fail_status
            && !(400..=599).contains(&status)
        {
            return Err(EmulatorError::Control(format!(
                "fail_status {status} is not an error status"
            )));
        }
        let mut data = self.org.write();
        let mut st = self.org.state();
        if update.reset == Some(true) {
            st.faults = self.org.initial_faults.clone();
            data.hidden.clear();
            data.rules.clear();
        }
        let f = &mut st.faults;
        if let Some(v) = update.fail_rate {
            f.fail_rate = v;
        }
        if let Some(v) = update.fail_status {
            f.fail_status = v;
        }
        if let Some(v) = update.latency_ms {
            f.latency_ms = v;
        }
        if let Some(v) = update.token_lifetime_secs {
            f.token_lifetime_secs = v;
        }
        if let Some(v) = update.api_daily_limit {
            f.api_daily_limit = v;
        }
        if let Some(v) = update.runas_user_enabled {
            f.runas_user_enabled = v;
        }
        if let Some(v) = update.search_lag_secs {
            f.search_lag_secs = v.max(0.0);
        }
        if let Some(v) = update.api_used {
            st.api_used = v;
        }
        if update.expire_tokens_now == Some(true) {
            st.tokens_valid_after = time::now_ms();
        }
        if let Some(h) = hide {
            data.hidden.insert(h);
        }
        if let Some(s) = show {
            data.hidden.remove(&s);
        }
        if update.clear_validation_rules == Some(true) {
            data.rules.clear();
        }
        if let Some(rule) = update.validation_rule {
            data.rules.push(rule);
        }
        if update.purge_delete_log == Some(true) {
            data.delete_log_since = time::now_ms();
        }
        let mut hidden: Vec<String> = data.hidden.iter().map(|&(o, f)| field_name(o, f)).collect();
        hidden.sort();
        st.faults.hidden_fields = hidden;
        st.faults.validation_rules = data.rules.clone();
        Ok(st.faults.clone())
    }

    /// Current settings.
    pub fn faults(&self) -> Faults {
        self.org.state().faults.clone()
    }

    /// Makes a share of `/services/*` requests fail with `status`.
    pub fn set_fail_rate(&self, rate: f64, status: u16) -> Result<(), EmulatorError> {
        self.apply(FaultUpdate {
            fail_rate: Some(rate),
            fail_status: Some(status),
            ..FaultUpdate::default()
        })
        .map(drop)
    }

    /// Adds latency to every `/services/*` request.
    pub fn set_latency(&self, latency: Duration) {
        self.org.state().faults.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    }

    /// Invalidates every access token issued so far (the next API call gets 401).
    pub fn expire_tokens_now(&self) {
        self.org.state().tokens_valid_after = time::now_ms();
    }

    /// Sets the lifetime of access tokens.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.org.state().faults.token_lifetime_secs = lifetime.as_secs();
    }

    /// Sets the API calls used today.
    pub fn set_api_used(&self, used: u64) {
        self.org.state().api_used = used;
    }

    /// Sets the daily API limit.
    pub fn set_api_daily_limit(&self, limit: u64) {
        self.org.state().faults.api_daily_limit = limit;
    }

    /// Hides a field (`Contact.OwnerId`) from the API user, as field-level security does.
    pub fn hide_field(&self, field: &str) -> Result<(), EmulatorError> {
        self.apply(FaultUpdate {
            hide_field: Some(field.to_owned()),
            ..FaultUpdate::default()
        })
        .map(drop)
    }

    /// Shows a hidden field again.
    pub fn show_field(&self, field: &str) -> Result<(), EmulatorError> {
        self.apply(FaultUpdate {
            show_field: Some(field.to_owned()),
            ..FaultUpdate::default()
        })
        .map(drop)
    }

    /// Enables or disables the connected app's run-as user.
    pub fn set_runas_user_enabled(&self, enabled: bool) {
        self.org.state().faults.runas_user_enabled = enabled;
    }

    /// Sets the search-index lag.
    pub fn set_search_lag(&self, lag: Duration) {
        self.org.state().faults.search_lag_secs = lag.as_secs_f64();
    }

    /// Adds a validation rule.
    pub fn add_validation_rule(&self, rule: ValidationRule) -> Result<(), EmulatorError> {
        self.apply(FaultUpdate {
            validation_rule: Some(rule),
            ..FaultUpdate::default()
        })
        .map(drop)
    }

    /// Restricts the redirect URIs the authorize endpoint accepts (default: any).
    pub fn set_allowed_redirect_uris(&self, uris: Option<Vec<String>>) {
        self.org.state().allowed_redirects = uris;
    }

    /// Sets the Call Center settings `getCallCenterSettings` returns.
    pub fn set_call_center_settings(&self, settings: Map<String, Value>) {
        self.org.state().call_center_settings = settings;
    }

    /// API usage so far.
    pub fn api_usage(&self) -> ApiUsage {
        self.state().api
    }

    /// A snapshot of counts, usage and settings.
    pub fn state(&self) -> OrgState {
        self.org.snapshot()
    }

    /// The org's users.
    pub fn users(&self) -> Vec<OrgUser> {
        self.org.users.clone()
    }

    /// The org id (00D...).
    pub fn org_id(&self) -> String {
        self.org.org_id.clone()
    }

    /// The truth about every generated phone value.
    pub fn expected_numbers(&self) -> Vec<ExpectedNumber> {
        self.org.expected.clone()
    }

    /// Issues an access token for a user (by username) without an OAuth round trip.
    pub fn mint_token(&self, username: &str) -> Option<String> {
        let user = self.org.user_by_username(username)?;
        Some(self.org.issue_token(&user.id, &self.org.client_id, "api").0)
    }

    /// Creates, updates or deletes a record without counting an API call. Returns the id.
    pub fn record(&self, op: RecordOp) -> Result<String, Vec<SaveError>> {
        let actor = self.org.run_as().map(|u| u.id.clone()).unwrap_or_default();
        let ctx = WriteCtx {
            user_id: actor,
            now: time::now_ms(),
            trusted: true,
        };
        let mut data = self.org.write();
        let not_found = |id: &str| {
            vec![SaveError::new(
                "NOT_FOUND",
                format!("no record with id {id}"),
                vec![],
            )]
        };
        let write_err = |id: &str, e: WriteError| match e {
            WriteError::NotFound => not_found(id),
            WriteError::Deleted => vec![SaveError::new(
                "ENTITY_IS_DELETED",
                "entity is deleted",
                vec![],
            )],
            WriteError::Invalid(v) => v,
        };
        match op {
            RecordOp::Create { object, fields } => {
                let obj = SCHEMA.object_index(&object).ok_or_else(|| {
                    vec![SaveError::new(
                        "INVALID_TYPE",
                        format!("no object '{object}'"),
                        vec![],
                    )]
                })?;
                data.insert(obj, &fields, &ctx)
            }
            RecordOp::Update { id, fields } => {
                let (obj, _) = data.find(&id).ok_or_else(|| not_found(&id))?;
                data.update(obj, &id, &fields, &ctx)
                    .map_err(|e| write_err(&id, e))
            }
            RecordOp::Delete { id, at } => {
                let (obj, _) = data.find(&id).ok_or_else(|| not_found(&id))?;
                let mut ctx = ctx;
                if let Some(at) = at {
                    ctx.now = time::parse_datetime(&at).ok_or_else(|| {
                        vec![SaveError::new(
                            "INVALID_FIELD",
                            format!("at: not a dateTime: {at}"),
                            vec![],
                        )]
                    })?;
                }
                data.delete(obj, &id, &ctx).map_err(|e| write_err(&id, e))
            }
        }
    }

    /// A record with all its fields as the REST API returns it (hidden fields included).
    pub fn get_record(&self, id: &str) -> Option<Value> {
        let data = self.org.read();
        let (obj, rec) = data.find(id)?;
        Some(rec.to_json(obj, &self.org.api_version, &Default::default()))
    }

    /// All records of an object (recycle bin included), as JSON.
    pub fn records(&self, object: &str) -> Vec<Value> {
        let Some(obj) = SCHEMA.object_index(object) else {
            return Vec::new();
        };
        let data = self.org.read();
        data.tables[obj]
            .records
            .iter()
            .map(|r| r.to_json(obj, &self.org.api_version, &Default::default()))
            .collect()
    }

    /// Open CTI calls the stand-in script reported, oldest first.
    pub fn opencti_calls(&self) -> Vec<Value> {
        self.org.state().opencti_calls.clone()
    }

    /// Forgets the recorded Open CTI calls.
    pub fn clear_opencti_calls(&self) {
        self.org.state().opencti_calls.clear();
    }
}
