//! The PBX's state behind one mutex. The lock is never held across an await: handlers take
//! it, change what they need, and release it before any I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use url::Url;

use crate::Options;
use crate::control::{DeliveryOutcome, EventRecord};
use crate::seed::{self, GroupSeed, UserSeed};

/// Events kept for [`crate::Control::events`].
const EVENT_LOG_CAP: usize = 2000;

pub(crate) struct Shared {
    pub opts: Options,
    state: Mutex<State>,
    pub http: reqwest::Client,
    /// Flips to true on shutdown so call scenarios stop.
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn new(opts: Options) -> Result<Arc<Self>, String> {
        let http = reqwest::Client::builder()
            .timeout(opts.callback_timeout)
            .build()
            .map_err(|e| format!("cannot build the callback HTTP client: {e}"))?;
        let state = State::new(&opts)?;
        let (shutdown, _) = watch::channel(false);
        Ok(Arc::new(Self {
            opts,
            state: Mutex::new(state),
            http,
            shutdown,
        }))
    }

    /// Locks the state; a poisoned lock (a panic elsewhere) still yields the data, since every
    /// change we make keeps the state consistent at each step.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct User {
    pub id: i64,
    pub seed: UserSeed,
    pub password_hash: String,
    pub person_id: String,
}

impl User {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.seed.first_name, self.seed.family_name)
    }

    /// The user's number as the outside world dials it (our trunk is +49 30 123456-x).
    pub fn external_number(&self) -> String {
        format!("+4930123456{}", self.seed.internal_number)
    }
}

pub(crate) struct Group {
    pub id: i64,
    pub seed: GroupSeed,
}

#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub id: String,
    /// `None`: the shared (central) address book; `Some(login)`: that user's private book.
    pub owner: Option<String>,
    pub account_id: Option<i64>,
    pub jabber_id: Option<String>,
    pub primary_external_number: Option<String>,
    pub primary_internal_number: Option<String>,
    pub tags: Vec<String>,
    /// Attribute name -> value (non-empty only).
    pub values: BTreeMap<String, String>,
    pub additional: BTreeMap<String, BTreeMap<String, String>>,
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub id: String,
    pub name: String,
    pub alias: String,
    pub owner: String,
}

pub(crate) struct RestToken {
    pub login: String,
    pub expires: Instant,
}

/// Where a UCI session's events go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CallbackTarget {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl CallbackTarget {
    pub fn url(&self) -> String {
        format!("{}://{}:{}{}", self.scheme, self.host, self.port, self.path)
    }
}

/// An event waiting to be posted to a session's callback.
pub(crate) struct Delivery {
    pub seq: u64,
    pub url: Url,
    pub body: String,
}

pub(crate) struct Session {
    pub id: u64,
    pub login: String,
    /// `v20`, `v22` or `v30`: the name space the client logged in with.
    pub api: String,
    pub auth: String,
    pub callback: Option<CallbackTarget>,
    /// Event services subscribed, e.g. `ucp.v22.events.call`.
    pub subscriptions: Vec<String>,
    pub last_seen: Instant,
    pub expired_by_control: bool,
    pub queue: Option<mpsc::UnboundedSender<Delivery>>,
}

/// One participant's view of a call (each user of a group call has their own).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallView {
    pub state: String,
    pub fields: BTreeMap<String, String>,
}

pub(crate) struct Call {
    pub id: String,
    pub views: BTreeMap<String, CallView>,
    pub finished: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub callbacks_delivered: u64,
    pub callbacks_failed: u64,
    pub uci_requests: BTreeMap<String, u64>,
    pub rest_requests: BTreeMap<String, u64>,
    pub rest_requests_without_x_version: u64,
    pub restarts: u64,
}

pub(crate) struct State {
    pub rng: ChaCha8Rng,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub contacts: BTreeMap<String, Contact>,
    pub tags: Vec<Tag>,
    pub nonces: HashMap<String, Instant>,
    pub tokens: HashMap<String, RestToken>,
    pub sessions: Vec<Session>,
    pub calls: HashMap<String, Call>,
    pub counters: Counters,
    pub events: VecDeque<EventRecord>,
    pub next_seq: u64,
    pub step_delay: Duration,
}

impl State {
    fn new(opts: &Options) -> Result<Self, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let mut users = Vec::new();
        for (i, u) in opts.users.iter().enumerate() {
            if u.login_id.is_empty() || u.login_id.contains(':') {
                return Err(format!(
                    "user login id `{}` must be non-empty and have no `:`",
                    u.login_id
                ));
            }
            if users.iter().any(|x: &User| x.seed.login_id == u.login_id) {
                return Err(format!("user login id `{}` appears twice", u.login_id));
            }
            let id = i64::try_from(i).unwrap_or(i64::MAX - 1) + 1;
            users.push(User {
                id,
                seed: u.clone(),
                password_hash: ctibridge_starface::auth::password_sha512_hex(&u.password),
                person_id: random_id(&mut rng),
            });
        }
        let mut groups = Vec::new();
        for (i, g) in opts.groups.iter().enumerate() {
            for m in &g.members {
                if !users.iter().any(|u| &u.seed.login_id == m) {
                    return Err(format!("group `{}` has unknown member `{m}`", g.name));
                }
            }
            let id = i64::try_from(users.len() + i).unwrap_or(i64::MAX - 1) + 1;
            groups.push(Group {
                id,
                seed: g.clone(),
            });
        }
        let mut state = Self {
            rng,
            users,
            groups,
            contacts: BTreeMap::new(),
            tags: Vec::new(),
            nonces: HashMap::new(),
            tokens: HashMap::new(),
            sessions: Vec::new(),
            calls: HashMap::new(),
            counters: Counters::default(),
            events: VecDeque::new(),
            next_seq: 1,
            step_delay: opts.step_delay,
        };
        state.seed_contacts(opts.contacts);
        Ok(state)
    }

    fn seed_contacts(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        let admin = self
            .users
            .iter()
            .find(|u| u.seed.admin)
            .map(|u| u.seed.login_id.clone())
            .unwrap_or_default();
        let supplier_tag = self.new_id();
        self.tags.push(Tag {
            id: supplier_tag.clone(),
            name: "Lieferanten".into(),
            alias: "Lieferanten".into(),
            owner: admin,
        });
        let generated = seed::foreign_contacts(&mut self.rng, count);
        for (i, values) in generated.into_iter().enumerate() {
            let id = self.new_id();
            let seq = self.next_seq();
            self.contacts.insert(
                id.clone(),
                Contact {
                    id,
                    owner: None,
                    account_id: None,
                    jabber_id: None,
                    primary_external_number: None,
                    primary_internal_number: None,
                    tags: if i % 2 == 0 {
                        vec![supplier_tag.clone()]
                    } else {
                        Vec::new()
                    },
                    values: values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    additional: BTreeMap::new(),
                    seq,
                },
            );
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// A fresh id that looks like the PBX's (hex, 24 chars).
    pub fn new_id(&mut self) -> String {
        random_id(&mut self.rng)
    }

    pub fn new_secret(&mut self) -> String {
        let a: u128 = self.rng.random();
        let b: u128 = self.rng.random();
        format!("{a:032x}{b:032x}")
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users.iter().find(|u| u.seed.login_id == login)
    }

    pub fn user_by_ref(&self, reference: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.id.to_string() == reference || u.seed.login_id == reference)
    }

    pub fn group_by_ref(&self, reference: &str) -> Option<&Group> {
        self.groups.iter().find(|g| {
            g.id.to_string() == reference
                || g.seed.name.eq_ignore_ascii_case(reference)
                || g.seed.internal_number == reference
        })
    }

    /// Appends an event to the log and returns its sequence number.
    pub fn log_event(&mut self, mut record: EventRecord) -> u64 {
        let seq = self.next_seq();
        record.seq = seq;
        if self.events.len() >= EVENT_LOG_CAP {
            self.events.pop_front();
        }
        self.events.push_back(record);
        seq
    }

    pub fn set_outcome(&mut self, seq: u64, outcome: DeliveryOutcome) {
        match &outcome {
            DeliveryOutcome::Delivered => self.counters.callbacks_delivered += 1,
            DeliveryOutcome::Failed(_) => self.counters.callbacks_failed += 1,
            DeliveryOutcome::Pending | DeliveryOutcome::Dropped => {}
        }
        if let Some(r) = self.events.iter_mut().rev().find(|r| r.seq == seq) {
            r.outcome = outcome;
        }
    }

    /// Drops sessions that missed their keepAlive; their queues close with them.
    pub fn expire_sessions(&mut self, ttl: Duration) {
        let now = Instant::now();
        self.sessions
            .retain(|s| !s.expired_by_control && now.duration_since(s.last_seen) <= ttl);
    }

    pub fn purge_rest_credentials(&mut self, nonce_ttl: Duration) {
        let now = Instant::now();
        self.nonces
            .retain(|_, created| now.duration_since(*created) <= nonce_ttl);
        self.tokens.retain(|_, t| t.expires > now);
    }
}

fn random_id(rng: &mut ChaCha8Rng) -> String {
    let a: u64 = rng.random();
    let b: u32 = rng.random();
    format!("{a:016x}{b:08x}")
}
