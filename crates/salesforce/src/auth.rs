//! The client-credentials flow and the shared token cache with single-flight refresh.

use std::future::Future;
use std::sync::Arc;

use ctibridge_domain::LoginUrl;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::error::TokenError;

/// What the connector needs to act as an org's connected app (or External Client App).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The org's My Domain (`https://acme.my.salesforce.com`).
    pub login_url: LoginUrl,
    /// The app's Consumer Key.
    pub client_id: String,
    /// The app's Consumer Secret.
    pub client_secret: SecretString,
}

impl Credentials {
    /// An endpoint on the login host, e.g. `/services/oauth2/token`.
    pub(crate) fn endpoint(&self, path: &str) -> Url {
        let mut url = self.login_url.as_url().clone();
        url.set_path(path);
        url.set_query(None);
        url.set_fragment(None);
        url
    }
}

/// The parts of a token response the client keeps.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: SecretString,
    pub instance_url: Url,
}

/// A token in use, numbered so that callers can tell whether someone refreshed it already.
pub(crate) struct AccessToken {
    pub secret: SecretString,
    pub instance_url: Url,
    pub generation: u64,
}

#[derive(Default)]
struct Slot {
    token: Option<Arc<AccessToken>>,
    generation: u64,
}

/// Holds the current token; at most one fetch runs at a time and every waiter shares its result.
#[derive(Default)]
pub(crate) struct TokenCache {
    slot: Mutex<Slot>,
}

impl TokenCache {
    /// The cached token, fetching one if there is none.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<AccessToken>, TokenError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, TokenError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(token) = &slot.token {
            return Ok(token.clone());
        }
        Self::fill(&mut slot, fetch).await
    }

    /// Replaces the token of generation `stale` after Salesforce rejected it.
    ///
    /// Callers that saw the same 401 queue on the lock; the first fetches, the others find a
    /// newer generation and reuse it, so a burst of 401s costs one token request.
    pub async fn refresh<F, Fut>(
        &self,
        stale: u64,
        fetch: F,
    ) -> Result<Arc<AccessToken>, TokenError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, TokenError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(token) = &slot.token
            && token.generation != stale
        {
            return Ok(token.clone());
        }
        slot.token = None;
        Self::fill(&mut slot, fetch).await
    }

    async fn fill<F, Fut>(slot: &mut Slot, fetch: F) -> Result<Arc<AccessToken>, TokenError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, TokenError>>,
    {
        let fresh = fetch().await?;
        slot.generation += 1;
        let token = Arc::new(AccessToken {
            secret: fresh.access_token,
            instance_url: fresh.instance_url,
            generation: slot.generation,
        });
        slot.token = Some(token.clone());
        Ok(token)
    }
}

/// Asks the token endpoint for a token with the client-credentials flow.
pub(crate) async fn client_credentials_token(
    http: &reqwest::Client,
    creds: &Credentials,
) -> Result<TokenResponse, TokenError> {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", creds.client_id.as_str()),
        ("client_secret", creds.client_secret.expose_secret()),
    ];
    let url = creds.endpoint("/services/oauth2/token");
    tracing::debug!(%url, "requesting access token (client credentials)");
    post_token_form(http, url, &form).await
}

/// Posts a form to a token endpoint and reads the answer.
pub(crate) async fn post_token_form<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    form: &[(&str, &str)],
) -> Result<T, TokenError> {
    let response = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(TokenError::Transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(TokenError::Transport)?;
    if !status.is_success() {
        let err = TokenError::from_response(status.as_u16(), &body);
        tracing::debug!(status = status.as_u16(), error = %err, "token request refused");
        return Err(err);
    }
    serde_json::from_slice(&body).map_err(|e| TokenError::Decode(safe_json_error(&e)))
}

/// A JSON error's text without the offending value, which may be a token.
pub(crate) fn safe_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    if text.starts_with("missing field") {
        text
    } else {
        format!(
            "{:?} error at line {} column {}",
            err.classify(),
            err.line(),
            err.column()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn response(n: u32) -> TokenResponse {
        TokenResponse {
            access_token: SecretString::from(format!("token-{n}")),
            instance_url: Url::parse("https://acme.my.salesforce.com").unwrap(),
        }
    }

    #[test]
    fn endpoint_keeps_only_the_origin_of_the_login_url() {
        let creds = Credentials {
            login_url: LoginUrl::parse("https://acme.lightning.force.com/lightning/page?x=1#y")
                .unwrap()
                .0,
            client_id: "key".into(),
            client_secret: SecretString::from("secret"),
        };
        assert_eq!(
            creds.endpoint("/services/oauth2/token").as_str(),
            "https://acme.my.salesforce.com/services/oauth2/token"
        );
        assert!(!format!("{creds:?}").contains("secret\""));
    }

    #[tokio::test]
    async fn cached_token_is_fetched_once() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        for _ in 0..3 {
            let t = cache
                .get(|| async { Ok(response(fetches.fetch_add(1, Ordering::SeqCst))) })
                .await
                .unwrap();
            assert_eq!(t.generation, 1);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_refreshes_of_the_same_stale_token_fetch_once() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let first = cache.get(|| async { Ok(response(0)) }).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            let stale = first.generation;
            tasks.push(tokio::spawn(async move {
                cache
                    .refresh(stale, || async {
                        // Long enough that the other nine queue up behind this fetch.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(response(fetches.fetch_add(1, Ordering::SeqCst) + 1))
                    })
                    .await
                    .unwrap()
                    .generation
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 2);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failed_refresh_leaves_no_token_and_the_next_caller_fetches_again() {
        let cache = TokenCache::default();
        let first = cache.get(|| async { Ok(response(0)) }).await.unwrap();
        let err = cache
            .refresh(first.generation, || async {
                Err(TokenError::ServerError { status: 503 })
            })
            .await;
        assert!(err.is_err());
        let again = cache.get(|| async { Ok(response(1)) }).await.unwrap();
        assert_eq!(again.generation, 2);
    }
}
