//! The REST client: one per org, cheap to clone, safe to share between tasks.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use ctibridge_domain::{ObjectType, SalesforceId};
use futures::Stream;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use url::Url;

use crate::auth::{self, AccessToken, Credentials, TokenCache, TokenResponse, safe_json_error};
use crate::error::{SalesforceError, TokenError};
use crate::types::{
    AllRecords, ApiVersion, CompositeResult, CreateResponse, DeletedRecords, Limits,
    ObjectDescribe, QueryPage, UpdatedRecords,
};
use crate::usage::{ApiUsage, LIMIT_INFO_HEADER};

/// `User-Agent` of every request, so an org's admin can tell our calls apart in the event log.
pub const USER_AGENT: &str = concat!("ctibridge/", env!("CARGO_PKG_VERSION"));
/// Default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for a whole request, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most records `composite/sobjects` takes in one call.
pub const COMPOSITE_BATCH: usize = 200;

/// A Salesforce org's REST API, authenticated with the client-credentials flow.
///
/// The token is fetched on first use and cached. On HTTP 401 the client fetches a new token
/// (one fetch however many requests saw the 401) and retries the request once. It retries
/// nothing else: 5xx, timeouts and `REQUEST_LIMIT_EXCEEDED` go back to the caller, who knows
/// whether to back off, pause or give up ([`SalesforceError::is_retryable`]).
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
}

struct Inner {
    creds: Credentials,
    version: ApiVersion,
    http: reqwest::Client,
    tokens: TokenCache,
    usage: Mutex<Option<ApiUsage>>,
}

impl fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("login_url", &self.inner.creds.login_url.as_str())
            .field("client_id", &self.inner.creds.client_id)
            .field("api_version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

/// Why a client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The extra CA certificate is not a PEM certificate.
    #[error("the extra CA certificate is not usable: {0}")]
    InvalidCaPem(String),
    /// The HTTP stack refused its configuration.
    #[error("could not set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// Sets up a [`SalesforceClient`] with its own HTTP client.
#[derive(Debug)]
pub struct SalesforceClientBuilder {
    creds: Credentials,
    version: ApiVersion,
    connect_timeout: Duration,
    request_timeout: Duration,
    extra_ca_pems: Vec<Vec<u8>>,
}

impl SalesforceClientBuilder {
    /// The REST API version to speak (default [`ApiVersion::DEFAULT`]).
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.version = version;
        self
    }

    /// Time allowed to open a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for a whole request (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Trusts the CA certificate(s) in this PEM text besides the public roots (for the emulator's
    /// self-signed certificate, or a TLS-inspecting proxy).
    pub fn trust_ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.extra_ca_pems.push(pem.as_ref().to_vec());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<SalesforceClient, BuildError> {
        let mut http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            // Salesforce never redirects API calls; following one would resend the bearer token.
            .redirect(reqwest::redirect::Policy::none());
        for pem in &self.extra_ca_pems {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| BuildError::InvalidCaPem(e.to_string()))?;
            if certs.is_empty() {
                return Err(BuildError::InvalidCaPem(
                    "no `BEGIN CERTIFICATE` block in the PEM text".to_owned(),
                ));
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(BuildError::Http)?;
        Ok(SalesforceClient::new(self.creds, self.version, http))
    }
}

/// One REST call, kept whole so that it can be sent again after a token refresh.
struct Call<'a> {
    method: Method,
    /// Absolute path on the instance, starting with `/services/`.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// The sObject the call is about, to name it in field errors.
    object: Option<&'a ObjectType>,
}

impl<'a> Call<'a> {
    fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
            object: None,
        }
    }

    fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn about(mut self, object: &'a ObjectType) -> Self {
        self.object = Some(object);
        self
    }
}

impl SalesforceClient {
    /// A client over an HTTP client the caller configured (timeouts, roots, user agent).
    pub fn new(creds: Credentials, api_version: ApiVersion, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                creds,
                version: api_version,
                http,
                tokens: TokenCache::default(),
                usage: Mutex::new(None),
            }),
        }
    }

    /// A builder that makes its own HTTP client with ctibridge's defaults.
    pub fn builder(creds: Credentials) -> SalesforceClientBuilder {
        SalesforceClientBuilder {
            creds,
            version: ApiVersion::DEFAULT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            extra_ca_pems: Vec::new(),
        }
    }

    /// The credentials this client authenticates with.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.creds
    }

    /// The REST API version in use.
    pub fn api_version(&self) -> ApiVersion {
        self.inner.version
    }

    /// The HTTP client, for calls outside the REST API that should share its TLS settings.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The org's API usage from the last response that reported it.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        *self
            .inner
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Fetches a token if none is cached and returns the org's instance URL.
    ///
    /// Also the cheapest check that the credentials work: a token request is not an API call.
    pub async fn instance_url(&self) -> Result<Url, TokenError> {
        Ok(self.token().await?.instance_url.clone())
    }

    /// Runs a SOQL query and returns its first batch.
    pub async fn query<T: DeserializeOwned>(
        &self,
        soql: &str,
    ) -> Result<QueryPage<T>, SalesforceError> {
        let call = Call::new(Method::GET, self.data_path("/query/")).query("q", soql);
        self.send_json(call, "query").await
    }

    /// Runs a SOQL query that also sees deleted and archived rows (`queryAll`); first batch.
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        soql: &str,
    ) -> Result<QueryPage<T>, SalesforceError> {
        let call = Call::new(Method::GET, self.data_path("/queryAll/")).query("q", soql);
        self.send_json(call, "queryAll").await
    }

    /// Fetches the batch a previous page's `nextRecordsUrl` points to.
    ///
    /// Only paths under `/services/data/` on the org's own instance are followed, so a bad
    /// value can never carry our token to another host.
    pub async fn query_more<T: DeserializeOwned>(
        &self,
        next_records_url: &str,
    ) -> Result<QueryPage<T>, SalesforceError> {
        let path = checked_next_records_path(next_records_url)?;
        self.send_json(
            Call::new(Method::GET, path.to_owned()),
            "query (next batch)",
        )
        .await
    }

    /// Every batch of a query as a stream, following `nextRecordsUrl` until `done`.
    ///
    /// Holds one batch at a time, so a full sync of a million records needs no more memory than
    /// a batch of 2,000. The stream ends after the first error.
    pub fn query_pages<T>(
        &self,
        soql: &str,
    ) -> impl Stream<Item = Result<QueryPage<T>, SalesforceError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        enum Next {
            First(String),
            More(String),
            Done,
        }
        let client = self.clone();
        futures::stream::try_unfold(Next::First(soql.to_owned()), move |next| {
            let client = client.clone();
            async move {
                let page: QueryPage<T> = match next {
                    Next::First(soql) => client.query(&soql).await?,
                    Next::More(url) => client.query_more(&url).await?,
                    Next::Done => return Ok(None),
                };
                let following = match (&page.done, &page.next_records_url) {
                    (true, _) => Next::Done,
                    (false, Some(url)) => Next::More(url.clone()),
                    (false, None) => {
                        return Err(SalesforceError::decode(
                            "query",
                            "batch says more follow (done=false) but has no nextRecordsUrl",
                        ));
                    }
                };
                Ok(Some((page, following)))
            }
        })
    }

    /// Every row of a query, with the number of API calls it took (one per batch).
    pub async fn query_all_pages<T>(&self, soql: &str) -> Result<AllRecords<T>, SalesforceError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        use futures::TryStreamExt;
        let pages = self.query_pages::<T>(soql);
        let mut pages = std::pin::pin!(pages);
        let mut all = AllRecords {
            records: Vec::new(),
            api_calls: 0,
        };
        while let Some(page) = pages.try_next().await? {
            all.api_calls += 1;
            all.records.extend(page.records);
        }
        Ok(all)
    }

    /// The number of rows a `SELECT COUNT() FROM ...` query counts.
    pub async fn count(&self, soql: &str) -> Result<u64, SalesforceError> {
        Ok(self.query::<Value>(soql).await?.total_size)
    }

    /// Runs a SOSL search and returns the found records (each with `attributes.type`).
    ///
    /// Mind the search index lag: records made in the last minutes are not found. Escape user
    /// input with [`escape_sosl`](crate::escape_sosl).
    pub async fn search(&self, sosl: &str) -> Result<Vec<Value>, SalesforceError> {
        let call = Call::new(Method::GET, self.data_path("/search/")).query("q", sosl);
        let body: Value = self.send_json(call, "search").await?;
        // API versions before 37.0 answered with a bare array.
        match body {
            Value::Array(records) => Ok(records),
            Value::Object(mut map) => match map.remove("searchRecords") {
                Some(Value::Array(records)) => Ok(records),
                _ => Err(SalesforceError::decode("search", "no searchRecords array")),
            },
            _ => Err(SalesforceError::decode(
                "search",
                "neither object nor array",
            )),
        }
    }

    /// The fields of an sObject that the run-as user can see, with their types.
    pub async fn describe(&self, object: &ObjectType) -> Result<ObjectDescribe, SalesforceError> {
        let call = Call::new(
            Method::GET,
            self.data_path(&format!("/sobjects/{object}/describe/")),
        )
        .about(object);
        self.send_json(call, "describe").await
    }

    /// Creates a record and returns its id.
    ///
    /// After a transport error the record may exist all the same (the answer was lost, not
    /// necessarily the request): look it up by a key of your own before creating it again.
    pub async fn create(
        &self,
        object: &ObjectType,
        fields: &Value,
    ) -> Result<SalesforceId, SalesforceError> {
        let call = Call::new(
            Method::POST,
            self.data_path(&format!("/sobjects/{object}/")),
        )
        .json(fields)
        .about(object);
        let created: CreateResponse = self.send_json(call, "create").await?;
        match created.id {
            Some(id) if created.success => {
                SalesforceId::parse(&id).map_err(|e| SalesforceError::decode("create", e))
            }
            _ => Err(SalesforceError::Api {
                status: 201,
                errors: created.errors,
            }),
        }
    }

    /// Changes fields of a record.
    pub async fn update(
        &self,
        object: &ObjectType,
        id: &SalesforceId,
        fields: &Value,
    ) -> Result<(), SalesforceError> {
        let call = Call::new(
            Method::PATCH,
            self.data_path(&format!("/sobjects/{object}/{id}")),
        )
        .json(fields)
        .about(object);
        self.send(call).await.map(drop)
    }

    /// Deletes a record (it goes to the recycle bin and shows up in [`deleted`](Self::deleted)).
    pub async fn delete(
        &self,
        object: &ObjectType,
        id: &SalesforceId,
    ) -> Result<(), SalesforceError> {
        let call = Call::new(
            Method::DELETE,
            self.data_path(&format!("/sobjects/{object}/{id}")),
        )
        .about(object);
        self.send(call).await.map(drop)
    }

    /// Reads a record; `fields` empty reads every field the run-as user can see.
    pub async fn get<T: DeserializeOwned>(
        &self,
        object: &ObjectType,
        id: &SalesforceId,
        fields: &[&str],
    ) -> Result<T, SalesforceError> {
        let mut call = Call::new(
            Method::GET,
            self.data_path(&format!("/sobjects/{object}/{id}")),
        )
        .about(object);
        if !fields.is_empty() {
            call = call.query("fields", fields.join(","));
        }
        self.send_json(call, "get record").await
    }

    /// Creates records through `composite/sobjects`, 200 a call, results in input order.
    ///
    /// Each record needs `attributes.type` (see [`composite_record`](crate::composite_record)).
    /// `all_or_none` holds per call of 200: when an error stops a later call, the records of
    /// earlier calls stay written, and after a transport error the failed call's records may be
    /// written too, so callers must be able to tell (the connector's `CallObject` key does that).
    pub async fn composite_create(
        &self,
        records: &[Value],
        all_or_none: bool,
    ) -> Result<Vec<CompositeResult>, SalesforceError> {
        self.composite_write(Method::POST, records, all_or_none, "composite create")
            .await
    }

    /// Updates records through `composite/sobjects`, 200 a call, results in input order.
    ///
    /// Each record needs `attributes.type` and `id`; the batching caveat of
    /// [`composite_create`](Self::composite_create) applies.
    pub async fn composite_update(
        &self,
        records: &[Value],
        all_or_none: bool,
    ) -> Result<Vec<CompositeResult>, SalesforceError> {
        if let Some(position) = records
            .iter()
            .position(|r| r.get("id").and_then(Value::as_str).is_none())
        {
            return Err(SalesforceError::InvalidInput(format!(
                "record {position} of a composite update has no id"
            )));
        }
        self.composite_write(Method::PATCH, records, all_or_none, "composite update")
            .await
    }

    async fn composite_write(
        &self,
        method: Method,
        records: &[Value],
        all_or_none: bool,
        what: &str,
    ) -> Result<Vec<CompositeResult>, SalesforceError> {
        if let Some(position) = records.iter().position(|r| {
            r.pointer("/attributes/type")
                .and_then(Value::as_str)
                .is_none()
        }) {
            return Err(SalesforceError::InvalidInput(format!(
                "record {position} of a {what} has no attributes.type"
            )));
        }
        let mut results = Vec::with_capacity(records.len());
        for batch in records.chunks(COMPOSITE_BATCH) {
            let body = json!({ "allOrNone": all_or_none, "records": batch });
            let call = Call::new(method.clone(), self.data_path("/composite/sobjects")).json(&body);
            let batch_results: Vec<CompositeResult> = self.send_json(call, what).await?;
            if batch_results.len() != batch.len() {
                return Err(SalesforceError::decode(
                    what,
                    format!(
                        "{} results for {} records",
                        batch_results.len(),
                        batch.len()
                    ),
                ));
            }
            results.extend(batch_results);
        }
        Ok(results)
    }

    /// Ids of records changed between `start` and `end` (at most 30 days back).
    pub async fn updated(
        &self,
        object: &ObjectType,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<UpdatedRecords, SalesforceError> {
        let call = self.window_call(object, "updated", start, end);
        self.send_json(call, "updated").await
    }

    /// Records deleted between `start` and `end` (at most 15 days back; compare
    /// `earliest_date_available` with the watermark before trusting the answer).
    pub async fn deleted(
        &self,
        object: &ObjectType,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<DeletedRecords, SalesforceError> {
        let call = self.window_call(object, "deleted", start, end);
        self.send_json(call, "deleted").await
    }

    /// The org's limits, such as `DailyApiRequests`.
    pub async fn limits(&self) -> Result<Limits, SalesforceError> {
        let call = Call::new(Method::GET, self.data_path("/limits/"));
        self.send_json(call, "limits").await
    }

    fn window_call<'a>(
        &self,
        object: &'a ObjectType,
        kind: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Call<'a> {
        Call::new(
            Method::GET,
            self.data_path(&format!("/sobjects/{object}/{kind}/")),
        )
        .query("start", start.to_rfc3339_opts(SecondsFormat::Secs, false))
        .query("end", end.to_rfc3339_opts(SecondsFormat::Secs, false))
        .about(object)
    }

    fn data_path(&self, rest: &str) -> String {
        format!("{}{rest}", self.inner.version.data_path())
    }

    async fn token(&self) -> Result<Arc<AccessToken>, TokenError> {
        self.inner.tokens.get(|| self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<TokenResponse, TokenError> {
        let token = auth::client_credentials_token(&self.inner.http, &self.inner.creds).await?;
        tracing::info!(instance_url = %token.instance_url, "obtained Salesforce access token");
        Ok(token)
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        what: &str,
    ) -> Result<T, SalesforceError> {
        let body = self.send(call).await?;
        serde_json::from_slice(&body)
            .map_err(|e| SalesforceError::decode(what, safe_json_error(&e)))
    }

    /// Sends a call with the cached token; on 401 fetches a new token once and sends it again.
    async fn send(&self, call: Call<'_>) -> Result<Vec<u8>, SalesforceError> {
        let mut token = self.token().await?;
        let mut refreshed = false;
        loop {
            let mut url = token.instance_url.clone();
            url.set_path(&call.path);
            url.set_query(None);
            if !call.query.is_empty() {
                url.query_pairs_mut().extend_pairs(&call.query);
            }
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), url)
                .bearer_auth(token.secret.expose_secret())
                .header(ACCEPT, "application/json");
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request.send().await.map_err(SalesforceError::Transport)?;
            let status = response.status();
            let usage = self.note_usage(response.headers());
            let body = response.bytes().await.map_err(SalesforceError::Transport)?;
            tracing::debug!(
                method = %call.method,
                path = %call.path,
                status = status.as_u16(),
                api_usage = ?usage,
                "Salesforce REST call"
            );
            if status.is_success() {
                return Ok(body.to_vec());
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
                tracing::info!(path = %call.path, "Salesforce rejected the access token (401); fetching a new one");
                token = self
                    .inner
                    .tokens
                    .refresh(token.generation, || self.fetch_token())
                    .await?;
                refreshed = true;
                continue;
            }
            let err = SalesforceError::from_response(
                status.as_u16(),
                &body,
                usage,
                call.object.map(ObjectType::as_str),
            );
            // The caller reports the error with its context; here it is only traced.
            tracing::debug!(method = %call.method, path = %call.path, error = %err, "Salesforce REST call failed");
            return Err(err);
        }
    }

    /// Keeps the usage of a response that reports one and returns it.
    fn note_usage(&self, headers: &HeaderMap) -> Option<ApiUsage> {
        let usage = headers
            .get(LIMIT_INFO_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(ApiUsage::parse_header)?;
        *self
            .inner
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(usage);
        Some(usage)
    }
}

/// A query locator path from `nextRecordsUrl`, refused unless it stays under `/services/data/`.
pub(crate) fn checked_next_records_path(next: &str) -> Result<&str, SalesforceError> {
    let safe = next.starts_with("/services/data/")
        && !next.contains("..")
        && !next.contains('?')
        && !next.contains('#')
        && next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    if safe {
        Ok(next)
    } else {
        Err(SalesforceError::InvalidInput(format!(
            "nextRecordsUrl {:?} is not a query path on this org",
            next.chars().take(120).collect::<String>()
        )))
    }
}

/// A record for [`SalesforceClient::composite_create`]: `fields` plus `attributes.type`.
pub fn composite_record(object: &ObjectType, mut fields: Map<String, Value>) -> Value {
    fields.insert("attributes".to_owned(), json!({ "type": object.as_str() }));
    Value::Object(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use ctibridge_domain::LoginUrl;
    use secrecy::SecretString;

    fn creds() -> Credentials {
        Credentials {
            login_url: LoginUrl::parse("https://acme.my.salesforce.com").unwrap().0,
            client_id: "demo-consumer-key".into(),
            client_secret: SecretString::from("demo-consumer-secret"),
        }
    }

    #[test]
    fn next_records_url_must_stay_on_the_data_api() {
        assert!(
            checked_next_records_path("/services/data/v62.0/query/01gRO0000016PIAYA2-2000").is_ok()
        );
        for bad in [
            "https://evil.example.com/services/data/v62.0/query/x-2000",
            "//evil.example.com/services/data/x",
            "/services/data/../../oauth2/token",
            "/services/data/v62.0/query/x?q=1",
            "/other/path",
            "",
        ] {
            assert!(
                matches!(
                    checked_next_records_path(bad),
                    Err(SalesforceError::InvalidInput(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn composite_record_adds_the_type_attribute() {
        let mut fields = Map::new();
        fields.insert("Subject".into(), json!("Call"));
        let record = composite_record(&ObjectType::Task, fields);
        assert_eq!(
            record,
            json!({"Subject": "Call", "attributes": {"type": "Task"}})
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let client = SalesforceClient::builder(creds()).build().unwrap();
        let text = format!("{client:?}");
        assert!(text.contains("demo-consumer-key"), "{text}");
        assert!(!text.contains("demo-consumer-secret"), "{text}");
    }

    #[test]
    fn builder_rejects_pem_without_a_certificate() {
        let err = SalesforceClient::builder(creds())
            .trust_ca_pem("not a certificate")
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::InvalidCaPem(_)), "{err}");
    }

    #[tokio::test]
    async fn composite_create_refuses_records_without_a_type_before_sending() {
        let client = SalesforceClient::builder(creds()).build().unwrap();
        let err = client
            .composite_create(&[json!({"Subject": "x"})], false)
            .await
            .unwrap_err();
        assert!(matches!(err, SalesforceError::InvalidInput(_)), "{err}");
    }
}
