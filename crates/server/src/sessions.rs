//! Panel sign-ins: pending OAuth logins (PKCE verifier per `state`) and panel sessions.
//!
//! Sessions live in memory: a restart of the connector asks users to sign in again, which the
//! panel does with one click (Salesforce remembers the user). Tokens are kept only as SHA-256
//! hashes, so a memory dump does not hand out live tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// How long a panel stays signed in without being used.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// How long a user has to finish the Salesforce login.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Open logins kept at most (a flood of `/panel/login` cannot grow memory without bound).
const MAX_PENDING: usize = 10_000;

/// Who a panel session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelUser {
    pub instance: String,
    pub starface_login: String,
    pub starface_user_id: i64,
    pub name: String,
    pub email: String,
    pub salesforce_user_id: String,
}

/// A login between the redirect to Salesforce and the callback.
pub struct PendingLogin {
    pub instance: String,
    pub verifier: SecretString,
    created: Instant,
}

struct Session {
    user: PanelUser,
    last_used: Instant,
}

/// Pending logins and live sessions.
#[derive(Default)]
pub struct Sessions {
    pending: Mutex<HashMap<String, PendingLogin>>,
    live: Mutex<HashMap<[u8; 32], Session>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// Remembers a login; returns its `state` value.
    pub fn begin_login(&self, instance: &str, verifier: SecretString) -> String {
        let state = random_token();
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| p.created.elapsed() < LOGIN_TIMEOUT);
        if pending.len() >= MAX_PENDING {
            // Oldest first would need ordering; dropping all is safe: users just retry.
            pending.clear();
        }
        pending.insert(
            state.clone(),
            PendingLogin {
                instance: instance.to_owned(),
                verifier,
                created: Instant::now(),
            },
        );
        state
    }

    /// Takes the login of a `state` value; each works once and only in time.
    pub fn finish_login(&self, state: &str) -> Option<PendingLogin> {
        lock(&self.pending)
            .remove(state)
            .filter(|p| p.created.elapsed() < LOGIN_TIMEOUT)
    }

    /// Starts a session; returns its token (shown to the panel once).
    pub fn create(&self, user: PanelUser) -> String {
        let token = random_token();
        let mut live = lock(&self.live);
        live.retain(|_, s| s.last_used.elapsed() < SESSION_IDLE);
        live.insert(
            hash(&token),
            Session {
                user,
                last_used: Instant::now(),
            },
        );
        token
    }

    /// The user of a token, if the session is alive; refreshes its idle timer.
    pub fn user(&self, token: &str) -> Option<PanelUser> {
        let mut live = lock(&self.live);
        let key = hash(token);
        let session = live.get_mut(&key)?;
        if session.last_used.elapsed() >= SESSION_IDLE {
            live.remove(&key);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.user.clone())
    }

    /// Ends a session.
    pub fn end(&self, token: &str) {
        lock(&self.live).remove(&hash(token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> PanelUser {
        PanelUser {
            instance: "i".into(),
            starface_login: "1001".into(),
            starface_user_id: 1,
            name: "Ben".into(),
            email: "ben@example.com".into(),
            salesforce_user_id: "005000000000001AAA".into(),
        }
    }

    #[test]
    fn a_login_state_works_once() {
        let s = Sessions::default();
        let state = s.begin_login("i", SecretString::from("v"));
        assert!(s.finish_login(&state).is_some());
        assert!(s.finish_login(&state).is_none());
        assert!(s.finish_login("forged").is_none());
    }

    #[test]
    fn a_token_names_its_user_until_the_session_ends() {
        let s = Sessions::default();
        let token = s.create(user());
        assert_eq!(s.user(&token), Some(user()));
        assert_eq!(s.user("not-a-token"), None);
        s.end(&token);
        assert_eq!(s.user(&token), None);
    }
}
