//! Who may use the admin UI: the local admin password (generated at first start), admin
//! sessions with their CSRF token, and the limit on failed sign-ins.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ctibridge_store::{CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::sessions::random_token;

/// The login name of the local admin account (STARFACE login ids are numeric in practice).
pub const LOCAL_ADMIN: &str = "admin";
/// An admin session ends this long after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// At most this many admin sessions at once; the oldest goes first.
const MAX_SESSIONS: usize = 256;
/// SHA-256 rounds of the stored local password hash.
const HASH_ROUNDS: u32 = 100_000;
/// Failed sign-ins allowed per login name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES_PER_LOGIN: usize = 5;
/// Failed sign-ins allowed in total within [`FAILURE_WINDOW`], whatever the name.
pub const MAX_FAILURES_TOTAL: usize = 30;
/// How long a failed sign-in counts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(5 * 60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn password_key() -> Result<CredentialKey, ctibridge_store::StoreError> {
    Ok(CredentialKey::new(
        CredentialOwner::System,
        CredentialPurpose::new("admin_password_hash")?,
    ))
}

/// `sha256-iter$<rounds>$<salt>$<hash>`: SHA-256 over salt and password, iterated, so that a
/// copied database does not give the password away cheaply. The generated password has 144
/// random bits, so iteration is a second line of defence, not the first.
fn hash_password(password: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut digest: [u8; 32] = Sha256::new()
        .chain_update(salt)
        .chain_update(password.as_bytes())
        .finalize()
        .into();
    for _ in 1..rounds {
        digest = Sha256::new()
            .chain_update(digest)
            .chain_update(salt)
            .finalize()
            .into();
    }
    digest
}

fn encode_hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let hash = hash_password(password, &salt, HASH_ROUNDS);
    format!(
        "sha256-iter${HASH_ROUNDS}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

fn verify_hash(encoded: &str, password: &str) -> bool {
    let mut parts = encoded.split('$');
    let (Some("sha256-iter"), Some(rounds), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(rounds), Ok(salt), Ok(hash)) = (
        rounds.parse::<u32>(),
        STANDARD_NO_PAD.decode(salt),
        STANDARD_NO_PAD.decode(hash),
    ) else {
        return false;
    };
    if rounds == 0 || rounds > 10 * HASH_ROUNDS {
        return false;
    }
    constant_time_eq(&hash_password(password, &salt, rounds), &hash)
}

/// Compares without stopping at the first difference, so timing tells nothing about tokens.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Creates the local admin password if there is none; returns it when it was just created
/// (the only moment it can be shown).
pub async fn ensure_local_password(
    store: &impl CredentialStore,
) -> Result<Option<SecretString>, ctibridge_store::StoreError> {
    let key = password_key()?;
    if store.get_credential(&key).await?.is_some() {
        return Ok(None);
    }
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let encoded = encode_hash(&password);
    store
        .put_credential(&key, &SecretString::from(encoded))
        .await?;
    Ok(Some(SecretString::from(password)))
}

/// Whether `password` is the local admin password.
pub async fn verify_local_password(
    store: &impl CredentialStore,
    password: &SecretString,
) -> Result<bool, ctibridge_store::StoreError> {
    let Some(stored) = store.get_credential(&password_key()?).await? else {
        return Ok(false);
    };
    let password = password.clone();
    // 100 000 hash rounds take tens of milliseconds: off the async workers.
    let ok = tokio::task::spawn_blocking(move || {
        verify_hash(stored.expose_secret(), password.expose_secret())
    })
    .await
    .unwrap_or(false);
    Ok(ok)
}

/// How an admin signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// With a STARFACE administrator account, checked against the PBX.
    Starface,
    /// With the local admin password.
    Local,
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The login name.
    pub user: String,
    /// How they signed in.
    pub method: SignInMethod,
    /// The token every state-changing request must carry in `X-CSRF-Token`.
    pub csrf: String,
    expires: Instant,
    created: Instant,
}

/// Admin sessions by the SHA-256 of their cookie value (a leaked memory dump holds no cookie).
#[derive(Default)]
pub struct AdminSessions {
    sessions: Mutex<HashMap<[u8; 32], AdminSession>>,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl AdminSessions {
    /// Starts a session; returns the cookie value and the session.
    pub fn create(&self, user: String, method: SignInMethod) -> (String, AdminSession) {
        let token = random_token();
        let now = Instant::now();
        let session = AdminSession {
            user,
            method,
            csrf: random_token(),
            expires: now + SESSION_LIFETIME,
            created: now,
        };
        let mut map = lock(&self.sessions);
        map.retain(|_, s| s.expires > now);
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(token_hash(&token), session.clone());
        (token, session)
    }

    /// The live session of that cookie value.
    pub fn get(&self, token: &str) -> Option<AdminSession> {
        let mut map = lock(&self.sessions);
        let key = token_hash(token);
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session of that cookie value.
    pub fn end(&self, token: &str) {
        lock(&self.sessions).remove(&token_hash(token));
    }
}

/// Counts failed sign-ins per login name and in total, so that guessing is slow.
#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

const TOTAL: &str = "\u{0}total";

impl SignInLimiter {
    /// `Err(wait)` when `login` (or everyone) has failed too often lately.
    pub fn check(&self, login: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = lock(&self.failures);
        let mut wait = None;
        for (key, max) in [
            (login.to_lowercase(), MAX_FAILURES_PER_LOGIN),
            (TOTAL.to_owned(), MAX_FAILURES_TOTAL),
        ] {
            if let Some(q) = map.get_mut(&key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
                {
                    q.pop_front();
                }
                if q.len() >= max
                    && let Some(first) = q.front()
                {
                    let w = FAILURE_WINDOW.saturating_sub(now.duration_since(*first));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        map.retain(|_, q| !q.is_empty());
        wait.map_or(Ok(()), Err)
    }

    /// Records a failed sign-in.
    pub fn failed(&self, login: &str) {
        let now = Instant::now();
        let mut map = lock(&self.failures);
        // Bounded: names that are not accounts still cost memory, so cap the table.
        if map.len() > 10_000 {
            map.clear();
        }
        for key in [login.to_lowercase(), TOTAL.to_owned()] {
            let q = map.entry(key).or_default();
            q.push_back(now);
            if q.len() > MAX_FAILURES_TOTAL {
                q.pop_front();
            }
        }
    }

    /// Forgets the failures of `login` after it signed in.
    pub fn succeeded(&self, login: &str) {
        lock(&self.failures).remove(&login.to_lowercase());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn stored_hash_accepts_the_password_and_nothing_else() {
        let encoded = encode_hash("s3cret pass");
        assert!(encoded.starts_with("sha256-iter$100000$"));
        assert!(verify_hash(&encoded, "s3cret pass"));
        assert!(!verify_hash(&encoded, "s3cret pass "));
        assert!(!verify_hash(&encoded, ""));
        assert!(!verify_hash("garbage", "s3cret pass"));
        assert_ne!(encode_hash("x"), encode_hash("x"), "salted");
    }

    #[test]
    fn sixth_failure_of_a_login_within_the_window_is_refused_but_others_may_try() {
        let l = SignInLimiter::default();
        for _ in 0..MAX_FAILURES_PER_LOGIN {
            assert!(l.check("0001").is_ok());
            l.failed("0001");
        }
        let wait = l.check("0001").unwrap_err();
        assert!(wait > Duration::from_secs(60) && wait <= FAILURE_WINDOW);
        assert!(l.check("1001").is_ok());
        l.succeeded("0001");
        assert!(l.check("0001").is_ok());
    }

    #[test]
    fn sessions_are_found_by_cookie_and_end() {
        let s = AdminSessions::default();
        let (token, session) = s.create("0001".into(), SignInMethod::Starface);
        assert_eq!(s.get(&token).unwrap().csrf, session.csrf);
        assert!(s.get("other").is_none());
        s.end(&token);
        assert!(s.get(&token).is_none());
    }
}
