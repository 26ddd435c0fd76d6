//! Keeps one user's UCI session up: login, subscribe, keepAlive, and after a loss log in again
//! with exponential backoff.
//!
//! The PBX drops a session that sends no keepAlive for a while, and forgets all sessions when
//! it restarts; `keepAlive` then answers `false`. A session whose credentials the PBX refuses
//! is not retried: trying the same password again cannot succeed and may get the account or
//! our address locked; the state says why, and the owner starts a new supervisor once the
//! user has entered new credentials.

use std::time::Duration;

use ctibridge_domain::StarfaceLoginId;
use rand::Rng as _;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{UciError, UciSession};

/// Timing of a [`SessionSupervisor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// Time between two keepAlives (STARFACE clients send one every 30 s).
    pub keep_alive_interval: Duration,
    /// First wait before logging in again after a failure.
    pub backoff_min: Duration,
    /// Longest wait between two attempts.
    pub backoff_max: Duration,
    /// Time given to `logout` when stopping.
    pub logout_timeout: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            keep_alive_interval: Duration::from_secs(30),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            logout_timeout: Duration::from_secs(3),
        }
    }
}

impl SupervisorConfig {
    /// The wait before attempt number `failures + 1`: `backoff_min * 2^(failures-1)`, at most
    /// `backoff_max`, varied by ±20 % (but kept within both bounds) so that the sessions of
    /// many users do not all knock at once after a PBX restart.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = self
            .backoff_min
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max);
        let factor = rand::rng().random_range(0.8..=1.2);
        base.mul_f64(factor)
            .clamp(self.backoff_min, self.backoff_max.max(self.backoff_min))
    }
}

/// The state of a supervised session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Logging in and subscribing.
    Connecting,
    /// Logged in and subscribed: events flow.
    Active,
    /// The session failed; it is tried again after `retry_in` unless that is `None`.
    Failed(SessionFailure),
    /// Stopped on request (after a logout).
    Stopped,
}

/// Why a session failed, and what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFailure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// The error, for logs and the admin (never a secret).
    pub reason: String,
    /// When the next attempt comes; `None`: no more attempts (credentials refused).
    pub retry_in: Option<Duration>,
}

/// Kinds of session failures, for what to tell whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The PBX refused the user's credentials: the user must enter them again.
    CredentialsRefused,
    /// The session was gone at the PBX (`keepAlive` answered false: expired or PBX restart).
    SessionLost,
    /// The PBX could not be reached or did not answer in time.
    Unreachable,
    /// The PBX answered, but not as expected (fault, HTTP error, malformed answer, declined).
    Protocol,
}

impl FailureKind {
    fn of(e: &UciError) -> Self {
        match e {
            UciError::AuthRefused { .. } => FailureKind::CredentialsRefused,
            UciError::Transport { .. } | UciError::Timeout { .. } => FailureKind::Unreachable,
            _ => FailureKind::Protocol,
        }
    }
}

/// A state change of one user's session, as sent on the supervisor's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// Whose session.
    pub user: StarfaceLoginId,
    /// The new state.
    pub state: SessionState,
}

/// A running task that keeps one user's UCI session up.
///
/// The session's [`super::CallbackTarget`] says where events go. Every state change is sent on
/// the channel given to [`SessionSupervisor::spawn`] (one channel can serve all users; if it
/// is full the change is dropped, never waited for, so a slow reader cannot delay a
/// keepAlive) and is always readable with [`SessionSupervisor::state`]. After each
/// `Active`, the owner should reconcile the user's calls with `getCallIds`: events sent while
/// the session was down are lost.
#[derive(Debug)]
pub struct SessionSupervisor {
    user: StarfaceLoginId,
    stop: watch::Sender<bool>,
    state: watch::Receiver<SessionState>,
    task: JoinHandle<()>,
}

impl SessionSupervisor {
    /// Starts supervising `session`; state changes go to `states`.
    pub fn spawn(
        session: UciSession,
        config: SupervisorConfig,
        states: mpsc::Sender<SessionStatus>,
    ) -> Self {
        let user = session.login_id().clone();
        let (stop, stop_rx) = watch::channel(false);
        let (state_tx, state) = watch::channel(SessionState::Connecting);
        let reporter = Reporter {
            user: user.clone(),
            channel: states,
            current: state_tx,
        };
        let task = tokio::spawn(run(session, config, reporter, stop_rx));
        Self {
            user,
            stop,
            state,
            task,
        }
    }

    /// The user whose session this is.
    pub fn user(&self) -> &StarfaceLoginId {
        &self.user
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state.borrow().clone()
    }

    /// Whether the task has ended (stopped, or gave up after refused credentials).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the task, logging out if the session is up; returns when it has ended.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(user = %self.user, error = %e, "UCI session task ended abnormally");
        }
    }
}

struct Reporter {
    user: StarfaceLoginId,
    channel: mpsc::Sender<SessionStatus>,
    current: watch::Sender<SessionState>,
}

impl Reporter {
    fn report(&self, state: SessionState) {
        self.current.send_replace(state.clone());
        let status = SessionStatus {
            user: self.user.clone(),
            state,
        };
        if let Err(mpsc::error::TrySendError::Full(s)) = self.channel.try_send(status) {
            tracing::warn!(user = %self.user, state = ?s.state, "session state channel full; change dropped");
        }
    }
}

/// Resolves once stop is requested (or the supervisor handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn connect(session: &UciSession) -> Result<(), UciError> {
    session.login().await?;
    session.subscribe_events().await
}

async fn run(
    session: UciSession,
    config: SupervisorConfig,
    reporter: Reporter,
    mut stop: watch::Receiver<bool>,
) {
    let user = session.login_id().clone();
    let mut failures: u32 = 0;
    loop {
        reporter.report(SessionState::Connecting);
        let connected = tokio::select! {
            r = connect(&session) => r,
            () = stopped(&mut stop) => {
                // A login may have got through before we gave up on it.
                logout(&session, &config).await;
                break;
            }
        };
        let (kind, reason) = match connected {
            Ok(()) => {
                failures = 0;
                tracing::info!(user = %user, "UCI session active");
                reporter.report(SessionState::Active);
                match keep_alive(&session, &config, &mut stop).await {
                    None => {
                        logout(&session, &config).await;
                        break;
                    }
                    Some(lost) => lost,
                }
            }
            Err(e) => (FailureKind::of(&e), e.to_string()),
        };
        if kind == FailureKind::CredentialsRefused {
            tracing::warn!(user = %user, error = %reason, "UCI login refused; not retrying until the credentials change");
            reporter.report(SessionState::Failed(SessionFailure {
                kind,
                reason,
                retry_in: None,
            }));
            return;
        }
        failures = failures.saturating_add(1);
        let delay = config.backoff(failures);
        tracing::warn!(user = %user, error = %reason, retry_in_ms = delay.as_millis() as u64, "UCI session failed");
        reporter.report(SessionState::Failed(SessionFailure {
            kind,
            reason,
            retry_in: Some(delay),
        }));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => break,
        }
    }
    reporter.report(SessionState::Stopped);
}

/// Sends keepAlives until the session is lost (returns why) or stop is requested (`None`).
async fn keep_alive(
    session: &UciSession,
    config: &SupervisorConfig,
    stop: &mut watch::Receiver<bool>,
) -> Option<(FailureKind, String)> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(config.keep_alive_interval) => {}
            () = stopped(stop) => return None,
        }
        match session.keep_alive().await {
            Ok(true) => {}
            Ok(false) => {
                return Some((
                    FailureKind::SessionLost,
                    "the PBX no longer knows the session (keepAlive answered false)".into(),
                ));
            }
            Err(e) => return Some((FailureKind::of(&e), e.to_string())),
        }
    }
}

async fn logout(session: &UciSession, config: &SupervisorConfig) {
    match tokio::time::timeout(config.logout_timeout, session.logout()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(user = %session.login_id(), error = %e, "UCI logout failed");
        }
        Err(_) => tracing::debug!(user = %session.login_id(), "UCI logout timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_with_jitter() {
        let c = SupervisorConfig::default();
        for _ in 0..200 {
            let first = c.backoff(1);
            assert!(first >= Duration::from_secs(1) && first <= Duration::from_millis(1200));
            let third = c.backoff(3);
            assert!(third >= Duration::from_millis(3200) && third <= Duration::from_millis(4800));
            let late = c.backoff(40);
            assert!(late >= Duration::from_secs(48) && late <= Duration::from_secs(60));
            assert!(c.backoff(u32::MAX) <= Duration::from_secs(60));
        }
        let jittered: std::collections::HashSet<Duration> = (0..20).map(|_| c.backoff(5)).collect();
        assert!(jittered.len() > 1, "no jitter");
    }
}
