//! The UCI ("User Call Interface") client: one STARFACE user's XML-RPC session for call
//! control and call events.
//!
//! Every request is `POST <pbx>/xml-rpc?de.vertico.starface.auth=<AUTH>&...` with an XML-RPC
//! body, where `AUTH` is [`crate::auth::uci_auth`] of the user's login id and SHA-512 password
//! hash, and the query also carries the user and where the PBX posts events back
//! (`de.vertico.starface.callback.host`, `.port`, `.path`, `.type`). The session lives at the
//! PBX: it starts with `login`, receives `receiveCallState` events after `subscribeEvents`, and
//! ends when `keepAlive` is not sent for a while (then `keepAlive` answers `false`).
//!
//! - [`UciSession`]: the requests (`login`, `subscribe_events`, `keep_alive`, calls, phones).
//! - [`parse_callback`]: what the PBX posts to our callback, decoded into a
//!   [`ctibridge_domain::CallEvent`], with the XML-RPC answer to send.
//! - [`SessionSupervisor`]: a task per user that keeps the session up.
//!
//! The auth value is password-equivalent (it has no nonce): it never appears in logs, errors
//! or `Debug` output, and transport errors are stripped of the URL, whose query carries it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ctibridge_domain::{CallEvent, CallId, StarfaceLoginId};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::auth;
use crate::xmlrpc::{MethodCall, MethodResponse, Value, XmlRpcError};

mod callback;
mod supervisor;

pub use callback::{
    CallbackError, CallbackMessage, CallbackRequest, call_event_from_struct, parse_callback,
    parse_callback_for,
};
pub use supervisor::{
    FailureKind, SessionFailure, SessionState, SessionStatus, SessionSupervisor, SupervisorConfig,
};

/// Which generation of UCI method names to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UciApi {
    /// `ucp.v22.*`: understood by STARFACE 6.x and later.
    #[default]
    V22,
    /// `ucp.v30.*`: STARFACE 7 and later.
    V30,
}

impl UciApi {
    fn prefix(self) -> &'static str {
        match self {
            UciApi::V22 => "ucp.v22",
            UciApi::V30 => "ucp.v30",
        }
    }
}

/// Limits and choices of a [`UciSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciOptions {
    /// Method names to use.
    pub api: UciApi,
    /// Time allowed for one request, answer included.
    pub request_timeout: Duration,
    /// Time allowed to open the connection.
    pub connect_timeout: Duration,
    /// Largest answer accepted (a list of call or phone ids is a few kilobytes).
    pub max_response_bytes: usize,
}

impl Default for UciOptions {
    fn default() -> Self {
        Self {
            api: UciApi::V22,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// Where the PBX posts a session's events: the `de.vertico.starface.callback.*` parameters.
///
/// The path carries the session's secret, so `Debug` shows only scheme, host and port.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

impl fmt::Debug for CallbackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackTarget")
            .field("type", &self.kind())
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl CallbackTarget {
    /// The target for an `http` or `https` URL (port defaults to 80/443; the query and
    /// fragment are not sent: the PBX appends its own query).
    pub fn from_url(url: &Url) -> Result<Self, UciError> {
        let bad = |reason: &str| UciError::BadCallback {
            url: redact_path(url),
            reason: reason.to_owned(),
        };
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("it has no host"))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("it has no port"))?;
        Ok(Self {
            https,
            host,
            port,
            path: url.path().to_owned(),
        })
    }

    /// `http` or `https`.
    pub fn kind(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// The host name or address the PBX connects to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path (with the session's secret: keep it out of logs).
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn redact_path(url: &Url) -> String {
    format!(
        "{}://{}{}/…",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// What went wrong talking to the UCI; never carries the auth value or the password hash.
#[derive(Debug, thiserror::Error)]
pub enum UciError {
    /// The PBX refused the user's credentials.
    #[error(
        "STARFACE refused the UCI login of user {login} ({detail}): the user's STARFACE login id \
         or password is wrong; enter them again"
    )]
    AuthRefused {
        /// The login id.
        login: String,
        /// What the PBX said.
        detail: String,
    },
    /// The PBX answered with an XML-RPC fault.
    #[error("STARFACE answered {method} with fault {code}: {string}")]
    Fault {
        /// The method called.
        method: String,
        /// `faultCode`.
        code: i32,
        /// `faultString`.
        string: String,
    },
    /// A request that answers a boolean answered `false`.
    #[error("STARFACE declined {method} (it answered false)")]
    Declined {
        /// The method called.
        method: String,
    },
    /// The PBX could not be reached or the connection broke.
    #[error("STARFACE UCI at {url} is unreachable ({method}): {source}")]
    Transport {
        /// The method called.
        method: String,
        /// The endpoint, without its query.
        url: String,
        /// The cause, without the URL.
        #[source]
        source: reqwest::Error,
    },
    /// No answer in time.
    #[error("STARFACE UCI did not answer {method} within {timeout:?}")]
    Timeout {
        /// The method called.
        method: String,
        /// The limit.
        timeout: Duration,
    },
    /// An HTTP status other than 200.
    #[error("STARFACE answered {method} with HTTP {status}: {body}")]
    Http {
        /// The method called.
        method: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer was larger than allowed.
    #[error("STARFACE's answer to {method} is larger than {limit} bytes")]
    TooLarge {
        /// The method called.
        method: String,
        /// The limit.
        limit: usize,
    },
    /// The answer is not the XML-RPC we expect.
    #[error("STARFACE sent a malformed answer to {method}: {source}")]
    Malformed {
        /// The method called.
        method: String,
        /// What is wrong with it.
        #[source]
        source: XmlRpcError,
    },
    /// The PBX URL cannot be used.
    #[error("invalid STARFACE URL {0}: it needs http or https and a host")]
    BadUrl(String),
    /// The callback URL cannot be used.
    #[error("invalid UCI callback URL {url}: {reason}")]
    BadCallback {
        /// The URL without its path.
        url: String,
        /// Why.
        reason: String,
    },
}

impl UciError {
    /// Whether the PBX refused the credentials (trying again will not help).
    pub fn is_auth_refused(&self) -> bool {
        matches!(self, UciError::AuthRefused { .. })
    }
}

/// Fault texts that mean "these credentials are not accepted".
///
/// How the real PBX words a refused auth value is not documented (G); the emulator says
/// "Not authorized", Apache XML-RPC servers say "Not authorized" or "authentication failed".
fn looks_like_auth_refusal(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "not authorized",
        "unauthorized",
        "not authorised",
        "authentication",
        "not authenticated",
        "wrong password",
        "invalid credentials",
        "login failed",
        "access denied",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}

/// One STARFACE user's UCI session. Cheap to clone; clones talk for the same session.
///
/// The PBX keeps the session state; this value holds what every request sends: who we are and
/// where events go.
#[derive(Clone)]
pub struct UciSession {
    endpoint: Url,
    login: StarfaceLoginId,
    auth: Arc<SecretString>,
    callback: Option<CallbackTarget>,
    opts: UciOptions,
    http: reqwest::Client,
}

impl fmt::Debug for UciSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UciSession")
            .field("endpoint", &self.endpoint.as_str())
            .field("login", &self.login)
            .field("callback", &self.callback)
            .field("api", &self.opts.api)
            .finish_non_exhaustive()
    }
}

impl UciSession {
    /// A session of `login` at the PBX at `pbx_url` (its origin; `/xml-rpc` is added), with
    /// the user's `lower(hex(SHA512(password)))` and where events should go (`None`: no events).
    pub fn new(
        pbx_url: &Url,
        login: StarfaceLoginId,
        password_sha512_hex: &SecretString,
        callback: Option<CallbackTarget>,
        opts: UciOptions,
    ) -> Result<Self, UciError> {
        let http = Self::http_client(&opts).map_err(|e| match e {
            UciError::Transport { method, source, .. } => UciError::Transport {
                method,
                url: pbx_url.to_string(),
                source,
            },
            other => other,
        })?;
        Self::with_http(pbx_url, login, password_sha512_hex, callback, opts, http)
    }

    /// The HTTP client [`UciSession::new`] builds for one session. A service with many
    /// sessions builds it once and passes clones to [`UciSession::with_http`]: one connection
    /// pool and TLS set-up for all users instead of one each (about 70 KB per session).
    pub fn http_client(opts: &UciOptions) -> Result<reqwest::Client, UciError> {
        reqwest::Client::builder()
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .user_agent(concat!("ctibridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| UciError::Transport {
                method: "setup".into(),
                url: "(HTTP client set-up)".into(),
                source: source.without_url(),
            })
    }

    /// Like [`UciSession::new`] with a caller-built HTTP client (extra CA, proxy); its own
    /// timeouts apply in addition to `opts.request_timeout`.
    pub fn with_http(
        pbx_url: &Url,
        login: StarfaceLoginId,
        password_sha512_hex: &SecretString,
        callback: Option<CallbackTarget>,
        opts: UciOptions,
        http: reqwest::Client,
    ) -> Result<Self, UciError> {
        if !matches!(pbx_url.scheme(), "http" | "https") || pbx_url.host_str().is_none() {
            return Err(UciError::BadUrl(redact_path(pbx_url)));
        }
        let mut endpoint = pbx_url
            .join("/xml-rpc")
            .map_err(|_| UciError::BadUrl(redact_path(pbx_url)))?;
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        let auth = auth::uci_auth(login.as_str(), password_sha512_hex.expose_secret());
        Ok(Self {
            endpoint,
            login,
            auth: Arc::new(SecretString::from(auth)),
            callback,
            opts,
            http,
        })
    }

    /// The user this session belongs to.
    pub fn login_id(&self) -> &StarfaceLoginId {
        &self.login
    }

    /// Where the PBX posts this session's events.
    pub fn callback(&self) -> Option<&CallbackTarget> {
        self.callback.as_ref()
    }

    /// The auth value the PBX appends to callbacks (`de.vertico.starface.auth`), to check them
    /// against. Password-equivalent.
    pub fn auth_value(&self) -> &SecretString {
        &self.auth
    }

    /// `connection.login`: starts the session (a new login replaces an older one of the same
    /// client at the PBX).
    pub async fn login(&self) -> Result<(), UciError> {
        self.expect_true("requests.connection.login", Vec::new())
            .await
    }

    /// `service.subscribeEvents("ucp.<api>.events.call")`: call events go to the callback.
    pub async fn subscribe_events(&self) -> Result<(), UciError> {
        let service = format!("{}.events.call", self.opts.api.prefix());
        self.expect_true(
            "requests.service.subscribeEvents",
            vec![Value::from(service)],
        )
        .await
    }

    /// `connection.keepAlive`: `Ok(false)` means the session is gone at the PBX (expired, PBX
    /// restarted): log in again.
    pub async fn keep_alive(&self) -> Result<bool, UciError> {
        let method = self.method("requests.connection.keepAlive");
        let v = self.call(&method, Vec::new()).await?;
        v.expect_bool(&format!("result of {method}"))
            .map_err(|source| UciError::Malformed { method, source })
    }

    /// `connection.logout`: ends the session.
    pub async fn logout(&self) -> Result<(), UciError> {
        // The PBX answers true whatever happened; what it answers does not matter.
        self.call(&self.method("requests.connection.logout"), Vec::new())
            .await
            .map(|_| ())
    }

    /// `call.placeCallWithPhone`: rings the user's phone (`phone_id`, e.g. `SIP/201`; `None`:
    /// the primary one), then dials `number`; returns the call id (`call_id` if given).
    pub async fn place_call_with_phone(
        &self,
        number: &str,
        phone_id: Option<&str>,
        call_id: Option<&CallId>,
    ) -> Result<CallId, UciError> {
        let method = self.method("requests.call.placeCallWithPhone");
        let params = vec![
            Value::from(number),
            Value::from(phone_id.unwrap_or("")),
            Value::from(call_id.map(CallId::as_str).unwrap_or("")),
        ];
        let v = self.call(&method, params).await?;
        let text = v.to_text().ok_or_else(|| UciError::Malformed {
            method: method.clone(),
            source: XmlRpcError::WrongType {
                context: format!("result of {method}"),
                expected: "string",
                found: v.type_name(),
            },
        })?;
        CallId::parse(text.trim()).map_err(|e| UciError::Malformed {
            method: method.clone(),
            source: XmlRpcError::Invalid {
                offset: 0,
                path: "methodResponse/params/param[1]".into(),
                message: format!("the returned call id is not usable: {e}"),
            },
        })
    }

    /// `call.hangupCall`: `false` if the PBX did not know the call or it was over.
    pub async fn hangup_call(&self, call_id: &CallId) -> Result<bool, UciError> {
        let method = self.method("requests.call.hangupCall");
        let v = self
            .call(&method, vec![Value::from(call_id.as_str())])
            .await?;
        v.expect_bool(&format!("result of {method}"))
            .map_err(|source| UciError::Malformed { method, source })
    }

    /// `call.getCallIds`: the user's calls going on now (ids the PBX sends that are no call
    /// id are skipped).
    pub async fn get_call_ids(&self) -> Result<Vec<CallId>, UciError> {
        let ids = self.string_array("requests.call.getCallIds").await?;
        Ok(ids
            .into_iter()
            .filter_map(|s| match CallId::parse(s.trim()) {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::warn!(login = %self.login, error = %e, "getCallIds listed an unusable call id; skipped");
                    None
                }
            })
            .collect())
    }

    /// `call.getCallState`: the call's current state, as a call event of this user.
    pub async fn get_call_state(&self, call_id: &CallId) -> Result<CallEvent, UciError> {
        let method = self.method("requests.call.getCallState");
        let v = self
            .call(&method, vec![Value::from(call_id.as_str())])
            .await?;
        let s = v
            .expect_struct(&format!("result of {method}"))
            .map_err(|source| UciError::Malformed {
                method: method.clone(),
                source,
            })?;
        call_event_from_struct(self.login.clone(), s).map_err(|e| UciError::Malformed {
            method: method.clone(),
            source: XmlRpcError::Invalid {
                offset: 0,
                path: "methodResponse/params/param[1]/value/struct".into(),
                message: e.to_string(),
            },
        })
    }

    /// `phone.getPhoneIds`: the user's phones, e.g. `["SIP/201", "SIP/201-mobile"]`.
    pub async fn get_phone_ids(&self) -> Result<Vec<String>, UciError> {
        self.string_array("requests.phone.getPhoneIds").await
    }

    /// `phone.getPrimaryPhoneId`: the phone calls ring first; `None` if the user has none.
    pub async fn get_primary_phone_id(&self) -> Result<Option<String>, UciError> {
        let method = self.method("requests.phone.getPrimaryPhoneId");
        let v = self.call(&method, Vec::new()).await?;
        match v {
            Value::Nil => Ok(None),
            v => {
                let s = v
                    .expect_str(&format!("result of {method}"))
                    .map_err(|source| UciError::Malformed {
                        method: method.clone(),
                        source,
                    })?;
                Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
            }
        }
    }

    fn method(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.opts.api.prefix())
    }

    async fn string_array(&self, suffix: &str) -> Result<Vec<String>, UciError> {
        let method = self.method(suffix);
        let v = self.call(&method, Vec::new()).await?;
        v.expect_string_array(&format!("result of {method}"))
            .map_err(|source| UciError::Malformed { method, source })
    }

    async fn expect_true(&self, suffix: &str, params: Vec<Value>) -> Result<(), UciError> {
        let method = self.method(suffix);
        let v = self.call(&method, params).await?;
        let ok = v
            .expect_bool(&format!("result of {method}"))
            .map_err(|source| UciError::Malformed {
                method: method.clone(),
                source,
            })?;
        if ok {
            Ok(())
        } else {
            Err(UciError::Declined { method })
        }
    }

    /// The request URL: endpoint plus who we are and where events go.
    fn request_url(&self) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("de.vertico.starface.auth", self.auth.expose_secret());
            q.append_pair("de.vertico.starface.user", self.login.as_str());
            if let Some(cb) = &self.callback {
                q.append_pair("de.vertico.starface.callback.type", cb.kind());
                q.append_pair("de.vertico.starface.callback.host", &cb.host);
                q.append_pair("de.vertico.starface.callback.port", &cb.port.to_string());
                q.append_pair("de.vertico.starface.callback.path", &cb.path);
            }
        }
        url
    }

    /// Sends one call and returns the result value; faults, HTTP errors and malformed answers
    /// become [`UciError`]s.
    async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, UciError> {
        let body = MethodCall::new(method, params).to_xml();
        tracing::debug!(login = %self.login, method, "UCI request");
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                UciError::Timeout {
                    method: method.to_owned(),
                    timeout: self.opts.request_timeout,
                }
            } else {
                UciError::Transport {
                    method: method.to_owned(),
                    url: self.endpoint.to_string(),
                    // The URL's query holds the auth value.
                    source: e.without_url(),
                }
            }
        };
        let mut resp = self
            .http
            .post(self.request_url())
            .timeout(self.opts.request_timeout)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let limit = self.opts.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(UciError::TooLarge {
                method: method.to_owned(),
                limit,
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > limit {
                return Err(UciError::TooLarge {
                    method: method.to_owned(),
                    limit,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(UciError::AuthRefused {
                login: self.login.to_string(),
                detail: format!("HTTP {}", status.as_u16()),
            });
        }
        if !status.is_success() {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                .trim()
                .to_owned();
            return Err(UciError::Http {
                method: method.to_owned(),
                status: status.as_u16(),
                body: shown,
            });
        }
        match MethodResponse::from_xml(&bytes) {
            Ok(MethodResponse::Params(v)) => Ok(v),
            Ok(MethodResponse::Fault { code, string }) => {
                if looks_like_auth_refusal(&string) {
                    Err(UciError::AuthRefused {
                        login: self.login.to_string(),
                        detail: format!("fault {code}: {string}"),
                    })
                } else {
                    Err(UciError::Fault {
                        method: method.to_owned(),
                        code,
                        string,
                    })
                }
            }
            Err(source) => Err(UciError::Malformed {
                method: method.to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    fn session(callback: Option<&str>) -> UciSession {
        UciSession::new(
            &Url::parse("https://pbx.example.com/some/where").unwrap(),
            StarfaceLoginId::parse("1001").unwrap(),
            &SecretString::from(auth::password_sha512_hex("ben-pass")),
            callback.map(|c| CallbackTarget::from_url(&Url::parse(c).unwrap()).unwrap()),
            UciOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn request_url_carries_auth_user_and_callback() {
        let s = session(Some("https://ctibridge.example.com/uci/callback/s3cr3t"));
        let url = s.request_url();
        assert_eq!(url.path(), "/xml-rpc");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("de.vertico.starface.auth"),
            Some(auth::uci_auth("1001", &auth::password_sha512_hex("ben-pass")).as_str())
        );
        assert_eq!(get("de.vertico.starface.user"), Some("1001"));
        assert_eq!(get("de.vertico.starface.callback.type"), Some("https"));
        assert_eq!(
            get("de.vertico.starface.callback.host"),
            Some("ctibridge.example.com")
        );
        assert_eq!(get("de.vertico.starface.callback.port"), Some("443"));
        assert_eq!(
            get("de.vertico.starface.callback.path"),
            Some("/uci/callback/s3cr3t")
        );
    }

    #[test]
    fn session_without_callback_sends_no_callback_parameters() {
        let url = session(None).request_url();
        assert!(!url.query().unwrap().contains("callback"));
    }

    #[test]
    fn debug_shows_neither_auth_nor_hash_nor_callback_secret() {
        let s = session(Some("http://10.0.0.5:8080/uci/callback/s3cr3t"));
        let shown = format!("{s:?}");
        let hash = auth::password_sha512_hex("ben-pass");
        let auth_value = auth::uci_auth("1001", &hash);
        assert!(!shown.contains(&hash), "{shown}");
        assert!(!shown.contains(auth_value.split(':').nth(1).unwrap()));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("1001"));
        assert!(shown.contains("8080"));
    }

    #[test]
    fn callback_target_defaults_ports_and_refuses_other_schemes() {
        let t = CallbackTarget::from_url(&Url::parse("http://h/cb").unwrap()).unwrap();
        assert_eq!(
            (t.kind(), t.host(), t.port(), t.path()),
            ("http", "h", 80, "/cb")
        );
        let err = CallbackTarget::from_url(&Url::parse("ftp://h/s3cr3t").unwrap()).unwrap_err();
        assert!(err.to_string().contains("http or https"), "{err}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn pbx_url_must_be_http() {
        let err = UciSession::new(
            &Url::parse("mailto:x@example.com").unwrap(),
            StarfaceLoginId::parse("1001").unwrap(),
            &SecretString::from("x".to_owned()),
            None,
            UciOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, UciError::BadUrl(_)));
    }

    #[test]
    fn auth_refusal_is_recognised_in_fault_texts() {
        assert!(looks_like_auth_refusal(
            "Not authorized: unknown user or wrong password"
        ));
        assert!(looks_like_auth_refusal("Authentication failed"));
        assert!(!looks_like_auth_refusal(
            "ucp.v22.requests.call.getCallIds: not logged in (call connection.login first)"
        ));
    }

    #[test]
    fn auth_refused_error_names_the_fix() {
        let e = UciError::AuthRefused {
            login: "1001".into(),
            detail: "fault 0: Not authorized".into(),
        };
        let text = e.to_string();
        assert!(text.contains("1001"));
        assert!(text.contains("login id or password is wrong"), "{text}");
        assert!(e.is_auth_refused());
    }
}
