//! STARFACE REST client: login with nonce and secret, users, groups, the address book and its
//! tags.
//!
//! Shapes follow the official Swagger description (`starface-api.yaml`, v6.7) of
//! STARFACEGmbH/rest-examples: every request carries `X-Version: 2`, the token from
//! `POST /rest/login` goes in the `authToken` header and lives four hours.

use std::collections::BTreeMap;
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

impl RestError {
    /// The HTTP status of a refused request, if the PBX answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::LoginRefused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the same request may succeed later: the PBX was unreachable, busy or failing.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
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

/// An address-book tag (`Tag`): contacts carry tags, and a list can be filtered by them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The PBX's id of the tag; empty in a request that names a tag by `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The tag's name, e.g. `Salesforce`.
    pub name: String,
    /// Its display alias.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
    /// The login id of the user who made it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

/// One value of a contact (`Attribute`), found by its `displayKey` through the scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactAttribute {
    /// The attribute's name in its block (PBX-specific; read it from the scheme).
    pub name: String,
    /// The value; empty when unset.
    #[serde(default)]
    pub value: String,
    /// What the value means: `NAME`, `SURNAME`, `COMPANY`, `PHONE_NUMBER`, ...
    pub display_key: String,
    /// The attribute's label in the requested language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i18n_display_name: Option<String>,
    /// Extra values such as `SHORT_DIAL`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_values: BTreeMap<String, String>,
}

/// A block of contact attributes (`Block`): name, phone numbers, address, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactBlock {
    /// The block's name (PBX-specific; read it from the scheme).
    #[serde(default)]
    pub name: String,
    /// Key of the block's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_key: Option<String>,
    /// Its attributes.
    #[serde(default)]
    pub attributes: Vec<ContactAttribute>,
}

/// An address-book entry (`Contact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The PBX's id; absent in a create request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The STARFACE account the entry belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// Whether the requesting user may change it.
    #[serde(default)]
    pub editable: bool,
    /// Jabber id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jabber_id: Option<String>,
    /// The number dialled by default, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_external_number: Option<String>,
    /// The internal number dialled by default, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_internal_number: Option<String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its values, in blocks.
    #[serde(default)]
    pub blocks: Vec<ContactBlock>,
}

impl Contact {
    /// Whether the contact carries a tag of this name (case-insensitive) or id.
    pub fn has_tag(&self, tag: &Tag) -> bool {
        self.tags.iter().any(|t| {
            (!tag.id.is_empty() && t.id == tag.id) || t.name.eq_ignore_ascii_case(&tag.name)
        })
    }

    /// The first non-empty value with this `displayKey`.
    pub fn value(&self, display_key: &str) -> Option<&str> {
        self.blocks
            .iter()
            .flat_map(|b| &b.attributes)
            .find(|a| a.display_key == display_key && !a.value.is_empty())
            .map(|a| a.value.as_str())
    }
}

/// An entry of a contact list (`ContactSummary`): values in the order of the list's schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactSummary {
    /// The contact's id.
    pub id: String,
    /// Values of the summary block, in the order of `summaryBlockSchema`.
    #[serde(default)]
    pub summary_values: Vec<String>,
    /// Values of the phone block, in the order of `phoneNumbersBlockSchema`.
    #[serde(default)]
    pub phone_number_values: Vec<String>,
    /// Extra values such as `AVATAR`.
    #[serde(default)]
    pub additional_values: BTreeMap<String, String>,
}

/// Paging information of a list (`RequestMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    /// This page's number (from 0).
    #[serde(default)]
    pub page: u32,
    /// Entries per page.
    #[serde(default)]
    pub pagesize: u32,
    /// Number of pages.
    #[serde(default)]
    pub total_pages: u32,
}

/// One page of `GET /rest/contacts` (`ContactList`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    /// The entries of this page.
    #[serde(default)]
    pub contacts: Vec<ContactSummary>,
    /// Paging information.
    #[serde(default)]
    pub metadata: Option<ListMetadata>,
}

/// `GET /rest/contacts/scheme` (`ContactsScheme`): the blocks and attributes a contact may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactScheme {
    /// The values list views show.
    #[serde(default)]
    pub summary_block: Option<ContactBlock>,
    /// The phone numbers list views show.
    #[serde(default)]
    pub phone_numbers_block: Option<ContactBlock>,
    /// Every block of a full contact.
    #[serde(default)]
    pub detail_blocks: Vec<ContactBlock>,
}

/// Which contacts `GET /rest/contacts` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactQuery {
    /// Only contacts with one of these tags (ids or names).
    pub tags: Vec<String>,
    /// Only contacts matching all of these whitespace-separated terms.
    pub search_terms: Option<String>,
    /// The page, from 0.
    pub page: u32,
    /// Entries per page (the PBX's default is 20).
    pub pagesize: u32,
}

/// Entries per page when a whole list is read: few requests, moderate answers.
const LIST_PAGE_SIZE: u32 = 500;

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

    /// Sends a request with the session token, logging in again once on 401; returns the
    /// status and body of any answer, so callers decide what a 404 means.
    async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), RestError> {
        let mut url = self.url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut renew = false;
        loop {
            let token = self.token(renew).await?;
            let mut req = self
                .request(method.clone(), url.clone())
                .header("authToken", token.expose_secret());
            if let Some(body) = body {
                req = req.body(body.to_string());
            }
            let resp = req.send().await.map_err(|source| RestError::Transport {
                url: url.path().to_owned(),
                source,
            })?;
            let status = resp.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !renew {
                renew = true;
                continue;
            }
            let bytes = resp.bytes().await.map_err(|source| RestError::Transport {
                url: url.path().to_owned(),
                source,
            })?;
            return Ok((status, bytes.to_vec()));
        }
    }

    /// [`RestClient::exchange`] that turns any status but 2xx into [`RestError::Status`].
    async fn exchange_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, RestError> {
        let (status, bytes) = self.exchange(method.clone(), path, query, body).await?;
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(status_error(&method, path, status, &bytes))
        }
    }

    /// One page of `GET /rest/contacts`.
    pub async fn contacts(&self, query: &ContactQuery) -> Result<ContactList, RestError> {
        let mut params = vec![("page", query.page.to_string())];
        if query.pagesize > 0 {
            params.push(("pagesize", query.pagesize.to_string()));
        }
        if !query.tags.is_empty() {
            params.push(("tags", query.tags.join(",")));
        }
        if let Some(terms) = &query.search_terms {
            params.push(("searchTerms", terms.clone()));
        }
        let bytes = self
            .exchange_ok(reqwest::Method::GET, "contacts", &params, None)
            .await?;
        decode_bytes(&bytes, "contact list")
    }

    /// Every contact with one of `tags` (all contacts when empty), page by page.
    pub async fn all_contacts(&self, tags: &[String]) -> Result<Vec<ContactSummary>, RestError> {
        let mut all = Vec::new();
        let mut query = ContactQuery {
            tags: tags.to_vec(),
            pagesize: LIST_PAGE_SIZE,
            ..ContactQuery::default()
        };
        loop {
            let page = self.contacts(&query).await?;
            let got = page.contacts.len();
            all.extend(page.contacts);
            // totalPages says when to stop; a short page does too, for a PBX that omits it.
            let more = match page.metadata {
                Some(m) => query.page + 1 < m.total_pages,
                None => got >= LIST_PAGE_SIZE as usize,
            };
            if !more || got == 0 {
                return Ok(all);
            }
            query.page += 1;
        }
    }

    /// `GET /rest/contacts/{id}`; `None` when there is no such contact (404).
    pub async fn contact(&self, id: &str) -> Result<Option<Contact>, RestError> {
        let path = contact_path(id)?;
        let (status, bytes) = self
            .exchange(reqwest::Method::GET, &path, &[], None)
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(&reqwest::Method::GET, &path, status, &bytes));
        }
        decode_bytes(&bytes, "contact").map(Some)
    }

    /// `POST /rest/contacts` (the shared address book, for an administrator); returns the new id.
    pub async fn create_contact(&self, contact: &Contact) -> Result<String, RestError> {
        let body = serde_json::to_value(contact).map_err(|source| RestError::Decode {
            what: "contact to create",
            source,
        })?;
        let bytes = self
            .exchange_ok(reqwest::Method::POST, "contacts", &[], Some(&body))
            .await?;
        let created: Contact = decode_bytes(&bytes, "created contact")?;
        created
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| RestError::Status {
                method: "POST",
                path: "/rest/contacts".to_owned(),
                status: 201,
                body: "the created contact has no id".to_owned(),
            })
    }

    /// `PUT /rest/contacts/{id}`: replaces the contact's values and tags.
    pub async fn update_contact(&self, id: &str, contact: &Contact) -> Result<(), RestError> {
        let path = contact_path(id)?;
        let body = serde_json::to_value(contact).map_err(|source| RestError::Decode {
            what: "contact to update",
            source,
        })?;
        self.exchange_ok(reqwest::Method::PUT, &path, &[], Some(&body))
            .await
            .map(drop)
    }

    /// `DELETE /rest/contacts/{id}`; `false` when there was no such contact (404).
    pub async fn delete_contact(&self, id: &str) -> Result<bool, RestError> {
        let path = contact_path(id)?;
        let (status, bytes) = self
            .exchange(reqwest::Method::DELETE, &path, &[], None)
            .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !status.is_success() {
            return Err(status_error(
                &reqwest::Method::DELETE,
                &path,
                status,
                &bytes,
            ));
        }
        Ok(true)
    }

    /// `GET /rest/contacts/scheme`: the blocks and attributes of a contact on this PBX.
    pub async fn contact_scheme(&self, lang: Option<&str>) -> Result<ContactScheme, RestError> {
        let query: Vec<(&str, String)> = lang.map(|l| ("lang", l.to_owned())).into_iter().collect();
        let bytes = self
            .exchange_ok(reqwest::Method::GET, "contacts/scheme", &query, None)
            .await?;
        decode_bytes(&bytes, "contact scheme")
    }

    /// Every address-book tag (`GET /rest/contacts/tags`, which pages a plain array).
    pub async fn contact_tags(&self) -> Result<Vec<Tag>, RestError> {
        let mut all = Vec::new();
        for page in 0u32.. {
            let query = [
                ("page", page.to_string()),
                ("pagesize", LIST_PAGE_SIZE.to_string()),
            ];
            let bytes = self
                .exchange_ok(reqwest::Method::GET, "contacts/tags", &query, None)
                .await?;
            let tags: Vec<Tag> = decode_bytes(&bytes, "tag list")?;
            let got = tags.len();
            all.extend(tags);
            if got < LIST_PAGE_SIZE as usize {
                break;
            }
        }
        Ok(all)
    }

    /// `POST /rest/contacts/tags`: makes a tag.
    pub async fn create_contact_tag(&self, name: &str) -> Result<Tag, RestError> {
        let body = serde_json::json!({ "name": name, "alias": name });
        let bytes = self
            .exchange_ok(reqwest::Method::POST, "contacts/tags", &[], Some(&body))
            .await?;
        decode_bytes(&bytes, "created tag")
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

/// `contacts/{id}`, refusing ids that would change the path.
fn contact_path(id: &str) -> Result<String, RestError> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(RestError::BadUrl(format!("contact id {id:?}")));
    }
    Ok(format!("contacts/{id}"))
}

fn decode_bytes<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, RestError> {
    serde_json::from_slice(bytes).map_err(|source| RestError::Decode { what, source })
}

fn status_error(
    method: &reqwest::Method,
    path: &str,
    status: reqwest::StatusCode,
    bytes: &[u8],
) -> RestError {
    let method = match *method {
        reqwest::Method::GET => "GET",
        reqwest::Method::POST => "POST",
        reqwest::Method::PUT => "PUT",
        reqwest::Method::DELETE => "DELETE",
        _ => "request",
    };
    RestError::Status {
        method,
        path: format!("/rest/{}", path.trim_start_matches('/')),
        status: status.as_u16(),
        body: String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned(),
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
