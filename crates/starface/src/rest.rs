//! STARFACE REST client: login with nonce and secret, users, groups.
//!
//! Shapes follow the official Swagger description (`starface-api.yaml`, v6.7) of
//! STARFACEGmbH/rest-examples: every request carries `X-Version: 2`, the token from
//! `POST /rest/login` goes in the `authToken` header and lives four hours.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use url::Url;

/// Errors of the REST client; none of them carries a password or token.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("STARFACE at {url} is unreachable: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "STARFACE refused the login of '{login}' (HTTP {status}): check [starface] admin_login and admin_password"
    )]
    LoginRefused { login: String, status: u16 },
    #[error("STARFACE answered {method} {path} with HTTP {status}: {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("STARFACE sent an unexpected {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("STARFACE login type {0:?} is not supported")]
    UnsupportedLoginType(String),
    #[error("invalid STARFACE URL {0}")]
    BadUrl(String),
}

/// `GET /rest/login` answer and `POST /rest/login` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginTemplate {
    pub login_type: String,
    pub nonce: String,
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AuthToken {
    token: String,
}

/// A STARFACE user as `/rest/users` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub login: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub person_id: Option<String>,
}

impl User {
    /// "First Family", or the login when both names are empty.
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name, self.family_name);
        let name = name.trim();
        if name.is_empty() {
            self.login.clone()
        } else {
            name.to_owned()
        }
    }
}

/// An entry of `GET /rest/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupListItem {
    pub id: i64,
    #[serde(default)]
    pub groupname: String,
    #[serde(default)]
    pub groupinternalnumber: Option<String>,
    #[serde(default)]
    pub groupexternalnumber: Option<String>,
}

/// `GET /rest/groups/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: i64,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub assignable_users: Vec<AssignableUser>,
}

impl Group {
    /// Ids of the users that are members of the group.
    pub fn member_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.assignable_users
            .iter()
            .filter(|u| u.assigned)
            .map(|u| u.id)
    }
}

/// A user as a group lists it; `assigned` says whether the user is a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignableUser {
    pub id: i64,
    #[serde(default)]
    pub assigned: bool,
    #[serde(default)]
    pub firstname: String,
    #[serde(default)]
    pub lastname: String,
}

/// A REST session of one STARFACE account (the connector uses the admin account).
///
/// Logs in lazily, and once more when a request answers 401 (token expired after 4 h or PBX
/// restarted); concurrent callers share one login.
#[derive(Clone)]
pub struct RestClient {
    base: Url,
    login: String,
    password: Arc<SecretString>,
    http: reqwest::Client,
    token: Arc<Mutex<Option<SecretString>>>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base.as_str())
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for the PBX at `pbx_url` (its origin; `/rest` is added).
    pub fn new(
        pbx_url: &Url,
        login: impl Into<String>,
        password: SecretString,
    ) -> Result<Self, RestError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("ctibridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| RestError::Transport {
                url: pbx_url.to_string(),
                source,
            })?;
        Self::with_http(pbx_url, login, password, http)
    }

    /// Like [`RestClient::new`] with a caller-built HTTP client (extra CA, proxy, timeouts).
    pub fn with_http(
        pbx_url: &Url,
        login: impl Into<String>,
        password: SecretString,
        http: reqwest::Client,
    ) -> Result<Self, RestError> {
        let base = pbx_url
            .join("/rest/")
            .map_err(|_| RestError::BadUrl(pbx_url.to_string()))?;
        Ok(Self {
            base,
            login: login.into(),
            password: Arc::new(password),
            http,
            token: Arc::new(Mutex::new(None)),
        })
    }

    fn url(&self, path: &str) -> Result<Url, RestError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|_| RestError::BadUrl(format!("{}{path}", self.base)))
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .header("X-Version", "2")
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
    }

    /// Logs in with nonce and secret and returns the new token.
    async fn login(&self) -> Result<SecretString, RestError> {
        let url = self.url("login")?;
        let template: LoginTemplate = self
            .send_json(
                self.request(reqwest::Method::GET, url.clone()),
                "login template",
            )
            .await?;
        let password = self.password.expose_secret();
        let secret = match template.login_type.as_str() {
            "Internal" | "INTERNAL" => crate::auth::rest_secret_internal(
                &self.login,
                &template.nonce,
                &crate::auth::password_sha512_hex(password),
            ),
            "ActiveDirectory" | "ACTIVE_DIRECTORY" => {
                crate::auth::rest_secret_active_directory(&self.login, &template.nonce, password)
            }
            other => return Err(RestError::UnsupportedLoginType(other.to_owned())),
        };
        let body = LoginTemplate {
            secret: Some(secret),
            ..template
        };
        let resp = self
            .request(reqwest::Method::POST, url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|source| RestError::Transport {
                url: url.to_string(),
                source,
            })?;
        let status = resp.status();
        if status == reqwest::StatusCode::BAD_REQUEST
            || status == reqwest::StatusCode::UNAUTHORIZED
            || status == reqwest::StatusCode::FORBIDDEN
        {
            return Err(RestError::LoginRefused {
                login: self.login.clone(),
                status: status.as_u16(),
            });
        }
        let token: AuthToken = Self::decode(resp, "POST", "login", "login answer").await?;
        Ok(SecretString::from(token.token))
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<T, RestError> {
        let req = req.build().map_err(|source| RestError::Transport {
            url: self.base.to_string(),
            source,
        })?;
        let method = if req.method() == reqwest::Method::GET {
            "GET"
        } else {
            "POST"
        };
        let path = req.url().path().to_owned();
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|source| RestError::Transport {
                url: path.clone(),
                source,
            })?;
        Self::decode(resp, method, &path, what).await
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        resp: reqwest::Response,
        method: &'static str,
        path: &str,
        what: &'static str,
    ) -> Result<T, RestError> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|source| RestError::Transport {
            url: path.to_owned(),
            source,
        })?;
        if !status.is_success() {
            return Err(RestError::Status {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| RestError::Decode { what, source })
    }

    async fn token(&self, renew: bool) -> Result<SecretString, RestError> {
        let mut guard = self.token.lock().await;
        if renew {
            *guard = None;
        }
        if let Some(t) = guard.as_ref() {
            return Ok(t.clone());
        }
        let t = self.login().await?;
        *guard = Some(t.clone());
        Ok(t)
    }

    /// GET a JSON resource with the session token, logging in again once on 401.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &'static str,
    ) -> Result<T, RestError> {
        let url = self.url(path)?;
        let mut renew = false;
        loop {
            let token = self.token(renew).await?;
            let resp = self
                .request(reqwest::Method::GET, url.clone())
                .header("authToken", token.expose_secret())
                .send()
                .await
                .map_err(|source| RestError::Transport {
                    url: url.path().to_owned(),
                    source,
                })?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && !renew {
                renew = true;
                continue;
            }
            return Self::decode(resp, "GET", url.path(), what).await;
        }
    }

    /// Checks the credentials by logging in now.
    pub async fn check_login(&self) -> Result<(), RestError> {
        self.token(true).await.map(|_| ())
    }

    /// `GET /rest/users`: every user the account can see.
    pub async fn users(&self) -> Result<Vec<User>, RestError> {
        self.get_json("users", "user list").await
    }

    /// `GET /rest/users/me`.
    pub async fn me(&self) -> Result<User, RestError> {
        self.get_json("users/me", "user").await
    }

    /// `GET /rest/groups`.
    pub async fn groups(&self) -> Result<Vec<GroupListItem>, RestError> {
        self.get_json("groups", "group list").await
    }

    /// `GET /rest/groups/{id}` with its members.
    pub async fn group(&self, id: i64) -> Result<Group, RestError> {
        self.get_json(&format!("groups/{id}"), "group").await
    }

    /// Ends the session (`DELETE /rest/login`); errors are ignored, the token expires anyway.
    pub async fn logout(&self) {
        let mut guard = self.token.lock().await;
        if let (Some(token), Ok(url)) = (guard.take(), self.url("login")) {
            let _ = self
                .request(reqwest::Method::DELETE, url)
                .header("authToken", token.expose_secret())
                .send()
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_json_of_the_swagger_shape_parses() {
        let u: User = serde_json::from_str(
            r#"{"id":7,"login":"1001","firstName":"Ben","familyName":"Utzer","email":"ben@x.de","language":"de","namespace":"x","personId":"p1","faxHeader":"h"}"#,
        )
        .unwrap();
        assert_eq!(u.display_name(), "Ben Utzer");
        assert_eq!(u.email, "ben@x.de");
    }

    #[test]
    fn group_members_are_the_assigned_users() {
        let g: Group = serde_json::from_str(
            r#"{"id":1,"groupId":"g","name":"Sales","chatGroup":false,"voicemail":false,
               "assignableUsers":[{"id":1,"assigned":true,"firstname":"a","lastname":"b"},{"id":2,"assigned":false}],
               "assignableNumbers":[]}"#,
        )
        .unwrap();
        assert_eq!(g.member_ids().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = RestClient::new(
            &Url::parse("http://127.0.0.1:1").unwrap(),
            "0001",
            SecretString::from("very-secret-pw"),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("very-secret-pw"));
    }
}
