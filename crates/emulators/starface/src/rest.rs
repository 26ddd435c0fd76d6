//! The REST API under `/rest`, shaped after the official Swagger file (v6.7.0.22) of
//! STARFACEGmbH/rest-examples: login with nonce, users, groups, the address book and its tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ctibridge_starface::auth::{self, LoginType};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use crate::seed::{DISPLAY_KEYS, PHONES, SCHEME, SUMMARY, SchemeAttribute, scheme_attribute};
use crate::state::{Contact, RestToken, Shared, State as PbxState, Tag, User};

const DEFAULT_PAGE_SIZE: usize = 20;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/rest/login",
            get(get_login).post(post_login).delete(delete_login),
        )
        .route("/rest/users", get(list_users))
        .route("/rest/users/me", get(me))
        .route("/rest/users/{id}", get(get_user))
        .route("/rest/groups", get(list_groups))
        .route("/rest/groups/{id}", get(get_group))
        .route("/rest/contacts", get(list_contacts).post(create_contact))
        .route("/rest/contacts/scheme", get(scheme))
        .route("/rest/contacts/tags", get(list_tags).post(create_tag))
        .route(
            "/rest/contacts/tags/{id}",
            get(get_tag).put(update_tag).delete(delete_tag),
        )
        .route(
            "/rest/contacts/{id}",
            get(get_contact).put(update_contact).delete(delete_contact),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            count_requests,
        ))
        .route("/rest", get(not_found))
        .route(
            "/rest/{*rest}",
            get(not_found)
                .post(not_found)
                .put(not_found)
                .delete(not_found),
        )
        .with_state(shared)
}

async fn count_requests(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let key = format!("{} {route}", req.method());
    {
        let mut st = shared.lock();
        *st.counters.rest_requests.entry(key).or_default() += 1;
        // The official examples send X-Version: 2 on every call; we count the ones that do not,
        // so tests can hold a client to it.
        if !req.headers().contains_key("x-version") {
            st.counters.rest_requests_without_x_version += 1;
        }
    }
    next.run(req).await
}

/// A refused request. Its body has `code` and `message`: what the official JavaScript example
/// reads from an error response.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

fn not_found_of(what: &str, id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("{what} `{id}` not found"),
    )
}

fn forbidden(message: impl Into<String>) -> ApiError {
    error(StatusCode::FORBIDDEN, "FORBIDDEN", message)
}

fn ok(body: Json) -> Result<Response, ApiError> {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

async fn not_found(req: Request) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no REST resource at {}", req.uri().path()),
    )
}

/// The logged-in user of a request, from its `authToken` header.
fn authenticated(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(token) = headers.get("authToken").and_then(|v| v.to_str().ok()) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHENTICATED",
            "authToken header missing: log in with GET and POST /rest/login first",
        ));
    };
    let mut st = shared.lock();
    st.purge_rest_credentials(shared.opts.nonce_ttl);
    match st.tokens.get(token) {
        Some(t) => Ok(t.login.clone()),
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "NOT_AUTHENTICATED",
            "authToken unknown or expired",
        )),
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| validation(format!("invalid JSON body: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Login

async fn get_login(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let mut st = shared.lock();
    st.purge_rest_credentials(shared.opts.nonce_ttl);
    let nonce = st.new_secret();
    st.nonces.insert(nonce.clone(), Instant::now());
    ok(json!({ "loginType": LoginType::Internal, "nonce": nonce, "secret": null }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    login_type: Option<LoginType>,
    nonce: Option<String>,
    secret: Option<String>,
}

async fn post_login(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let login: LoginBody = parse_json(&body)?;
    // The Swagger documents 400 "invalid login" for a refused login.
    let invalid = |why: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_LOGIN",
            format!("invalid login: {why}"),
        )
    };
    if login.login_type != Some(LoginType::Internal) {
        return Err(invalid("loginType must be Internal on this PBX"));
    }
    let (Some(nonce), Some(secret)) = (login.nonce, login.secret) else {
        return Err(invalid("nonce and secret are required"));
    };
    let mut st = shared.lock();
    st.purge_rest_credentials(shared.opts.nonce_ttl);
    // A nonce is good for one attempt, right or wrong.
    if st.nonces.remove(&nonce).is_none() {
        return Err(invalid(
            "nonce unknown, used or expired; GET /rest/login for a new one",
        ));
    }
    let Some(login_id) = auth::login_id_of(&secret) else {
        return Err(invalid("secret is not <loginId>:<hash>"));
    };
    let Some(user) = st.user_by_login(login_id) else {
        return Err(invalid("unknown user or wrong password"));
    };
    let expected = auth::rest_secret_internal(login_id, &nonce, &user.password_hash);
    if !auth::secrets_equal(&secret, &expected) {
        return Err(invalid("unknown user or wrong password"));
    }
    let login_id = login_id.to_owned();
    let token = st.new_secret();
    st.tokens.insert(
        token.clone(),
        RestToken {
            login: login_id,
            expires: Instant::now() + shared.opts.token_ttl,
        },
    );
    ok(json!({ "token": token }))
}

async fn delete_login(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> StatusCode {
    if let Some(token) = headers.get("authToken").and_then(|v| v.to_str().ok()) {
        shared.lock().tokens.remove(token);
    }
    StatusCode::NO_CONTENT
}

// ---------------------------------------------------------------------------------------------
// Users and groups

fn user_json(u: &User) -> Json {
    json!({
        "id": u.id,
        "login": u.seed.login_id,
        "firstName": u.seed.first_name,
        "familyName": u.seed.family_name,
        "email": u.seed.email,
        "language": "de",
        "namespace": "local",
        "personId": u.person_id,
        "missedCallReport": false,
        "faxHeader": "",
        "faxCallerId": "",
        "faxCoverPage": false,
        "faxEmailJournal": false,
    })
}

fn search_term(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "searchTerm")
        .map(|(_, v)| v.to_lowercase())
        .filter(|v| !v.is_empty())
}

async fn list_users(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    authenticated(&shared, &headers)?;
    let term = search_term(q.as_deref());
    let st = shared.lock();
    let users: Vec<Json> = st
        .users
        .iter()
        .filter(|u| {
            term.as_deref().is_none_or(|t| {
                [
                    &u.seed.login_id,
                    &u.seed.first_name,
                    &u.seed.family_name,
                    &u.seed.email,
                ]
                .iter()
                .any(|f| f.to_lowercase().contains(t))
            })
        })
        .map(user_json)
        .collect();
    ok(Json::Array(users))
}

async fn me(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let login = authenticated(&shared, &headers)?;
    let st = shared.lock();
    match st.user_by_login(&login) {
        Some(u) => ok(user_json(u)),
        None => Err(not_found_of("user", &login)),
    }
}

async fn get_user(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticated(&shared, &headers)?;
    if id.parse::<i64>().is_err() {
        return Err(validation(format!("userId `{id}` is not an integer")));
    }
    let st = shared.lock();
    match st.users.iter().find(|u| u.id.to_string() == id) {
        Some(u) => ok(user_json(u)),
        None => Err(not_found_of("user", &id)),
    }
}

async fn list_groups(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    authenticated(&shared, &headers)?;
    let term = search_term(q.as_deref());
    let st = shared.lock();
    let groups: Vec<Json> = st
        .groups
        .iter()
        .filter(|g| {
            term.as_deref()
                .is_none_or(|t| g.seed.name.to_lowercase().contains(t))
        })
        .map(|g| {
            json!({
                "id": g.id,
                "groupname": g.seed.name,
                "groupinternalnumber": g.seed.internal_number,
                "groupexternalnumber": g.seed.external_number.clone().unwrap_or_default(),
            })
        })
        .collect();
    ok(Json::Array(groups))
}

async fn get_group(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticated(&shared, &headers)?;
    if id.parse::<i64>().is_err() {
        return Err(validation(format!("groupid `{id}` is not an integer")));
    }
    let st = shared.lock();
    let Some(g) = st.groups.iter().find(|g| g.id.to_string() == id) else {
        return Err(not_found_of("group", &id));
    };
    let users: Vec<Json> = st
        .users
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "firstname": u.seed.first_name,
                "lastname": u.seed.family_name,
                "assigned": g.seed.members.contains(&u.seed.login_id),
            })
        })
        .collect();
    let mut numbers = vec![json!({
        "id": g.id * 100,
        "assigned": true,
        "intern": true,
        "countryCode": "",
        "localAreaCode": "",
        "exitCode": "",
        "extension": g.seed.internal_number,
    })];
    if let Some(ext) = &g.seed.external_number {
        let digits: String = ext.chars().filter(char::is_ascii_digit).collect();
        let (cc, rest) = digits.split_at(digits.len().min(2));
        let (area, extension) = rest.split_at(rest.len().min(2));
        numbers.push(json!({
            "id": g.id * 100 + 1,
            "assigned": true,
            "intern": false,
            "countryCode": cc,
            "localAreaCode": area,
            "exitCode": "00",
            "extension": extension,
        }));
    }
    ok(json!({
        "id": g.id,
        "groupId": g.id.to_string(),
        "name": g.seed.name,
        "chatGroup": false,
        "voicemail": false,
        "assignableUsers": users,
        "assignableNumbers": numbers,
    }))
}

// ---------------------------------------------------------------------------------------------
// Address book

/// The user a contact request acts for, and whether the caller is an administrator.
struct Acting {
    login: String,
    caller_is_admin: bool,
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn acting(st: &PbxState, caller: &str, pairs: &[(String, String)]) -> Result<Acting, ApiError> {
    let caller_is_admin = st.user_by_login(caller).is_some_and(|u| u.seed.admin);
    let login = match first(pairs, "userId") {
        None => caller.to_owned(),
        Some(reference) => {
            let Some(u) = st.user_by_ref(reference) else {
                return Err(validation(format!("userId `{reference}` is not a user")));
            };
            if u.seed.login_id != caller && !caller_is_admin {
                return Err(forbidden(
                    "acting for another user (userId) requires administrative privileges",
                ));
            }
            u.seed.login_id.clone()
        }
    };
    Ok(Acting {
        login,
        caller_is_admin,
    })
}

fn visible(c: &Contact, a: &Acting) -> bool {
    c.owner.is_none() || c.owner.as_deref() == Some(a.login.as_str())
}

fn editable(c: &Contact, a: &Acting) -> bool {
    c.owner.as_deref() == Some(a.login.as_str()) || (c.owner.is_none() && a.caller_is_admin)
}

fn lang_of(pairs: &[(String, String)]) -> bool {
    first(pairs, "lang").is_none_or(|l| !l.to_lowercase().starts_with("en"))
}

fn attribute_json(
    a: &SchemeAttribute,
    value: &str,
    german: bool,
    additional: Option<&BTreeMap<String, String>>,
) -> Json {
    json!({
        "name": a.name,
        "value": value,
        "displayKey": a.display_key,
        "i18nDisplayName": if german { a.de } else { a.en },
        "additionalValues": additional.cloned().unwrap_or_default(),
    })
}

fn schema_block(name: &str, resource_key: &str, attrs: &[&str], german: bool) -> Json {
    let attributes: Vec<Json> = attrs
        .iter()
        .filter_map(|n| scheme_attribute(n))
        .map(|(_, a)| attribute_json(a, "", german, None))
        .collect();
    json!({ "name": name, "resourceKey": resource_key, "attributes": attributes })
}

fn tag_json(t: &Tag) -> Json {
    json!({ "id": t.id, "name": t.name, "alias": t.alias, "owner": t.owner })
}

fn contact_json(st: &PbxState, c: &Contact, a: &Acting, german: bool) -> Json {
    let blocks: Vec<Json> = SCHEME
        .iter()
        .map(|b| {
            let attributes: Vec<Json> = b
                .attributes
                .iter()
                .map(|attr| {
                    let value = c.values.get(attr.name).map(String::as_str).unwrap_or("");
                    attribute_json(attr, value, german, c.additional.get(attr.name))
                })
                .collect();
            json!({ "name": b.name, "resourceKey": b.resource_key, "attributes": attributes })
        })
        .collect();
    let tags: Vec<Json> = c
        .tags
        .iter()
        .filter_map(|id| st.tags.iter().find(|t| &t.id == id))
        .map(tag_json)
        .collect();
    json!({
        "id": c.id,
        "accountId": c.account_id,
        "editable": editable(c, a),
        "jabberId": c.jabber_id,
        "primaryExternalNumber": c.primary_external_number,
        "primaryInternalNumber": c.primary_internal_number,
        "tags": tags,
        "blocks": blocks,
    })
}

async fn scheme(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    authenticated(&shared, &headers)?;
    let german = lang_of(&query_pairs(q.as_deref()));
    let detail: Vec<Json> = SCHEME
        .iter()
        .map(|b| {
            let names: Vec<&str> = b.attributes.iter().map(|a| a.name).collect();
            schema_block(b.name, b.resource_key, &names, german)
        })
        .collect();
    ok(json!({
        "summaryBlock": schema_block("summary", "addressbook.block.summary", SUMMARY, german),
        "phoneNumbersBlock": schema_block("telephone", "addressbook.block.telephone", PHONES, german),
        "detailBlocks": detail,
    }))
}

/// Paging parameters shared by the contact and tag lists.
struct Paging {
    page: usize,
    pagesize: usize,
    sort: Option<String>,
    descending: bool,
}

fn paging(pairs: &[(String, String)]) -> Result<Paging, ApiError> {
    let page = match first(pairs, "page") {
        None => 0,
        Some(p) => p
            .parse::<usize>()
            .map_err(|_| validation(format!("page `{p}` must be an integer >= 0")))?,
    };
    let pagesize = match first(pairs, "pagesize") {
        None => DEFAULT_PAGE_SIZE,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| validation(format!("pagesize `{p}` must be an integer >= 1")))?,
    };
    let descending = match first(pairs, "sortdirection")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(validation(format!(
                "sortdirection `{other}` must be ASC or DESC"
            )));
        }
    };
    Ok(Paging {
        page,
        pagesize,
        sort: first(pairs, "sort").map(str::to_owned),
        descending,
    })
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn matches_terms(c: &Contact, terms: &[String]) -> bool {
    terms.iter().all(|term| {
        let term_digits = digits(term);
        let numeric = !term_digits.is_empty()
            && term
                .chars()
                .all(|ch| ch.is_ascii_digit() || "+ -/()".contains(ch));
        c.values.iter().any(|(name, v)| {
            v.to_lowercase().contains(term)
                || (numeric && PHONES.contains(&name.as_str()) && digits(v).contains(&term_digits))
        })
    })
}

/// A contact's sort value, lowercased, compared without allocating when it is ASCII (most
/// are): a page request orders every contact that passes its filters.
enum SortKey<'a> {
    Ascii(&'a str),
    Lowered(String),
}

impl<'a> SortKey<'a> {
    fn new(value: &'a str) -> Self {
        if value.is_ascii() {
            Self::Ascii(value)
        } else {
            Self::Lowered(value.to_lowercase())
        }
    }
}

/// The bytes of `str::to_lowercase` of an ASCII string.
fn ascii_lowered(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().map(|b| b.to_ascii_lowercase())
}

impl Ord for SortKey<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Self::Lowered(a), Self::Lowered(b)) => a.cmp(b),
            (Self::Ascii(a), Self::Ascii(b)) => ascii_lowered(a).cmp(ascii_lowered(b)),
            (Self::Ascii(a), Self::Lowered(b)) => ascii_lowered(a).cmp(b.bytes()),
            (Self::Lowered(a), Self::Ascii(b)) => a.bytes().cmp(ascii_lowered(b)),
        }
    }
}

impl PartialOrd for SortKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for SortKey<'_> {}

/// Page `page` of `found` ordered by the lowercased value of `sort` (empty when missing), then
/// `seq`, all reversed when `descending`. Only the page is sorted: a selection puts its
/// contacts in place first, which keeps paging through a large address book linear per page
/// instead of a full sort (with two allocations per comparison) per page.
fn page_of<'a>(
    found: Vec<&'a Contact>,
    sort: &str,
    descending: bool,
    page: usize,
    pagesize: usize,
) -> Vec<&'a Contact> {
    let start = page.saturating_mul(pagesize);
    if pagesize == 0 || start >= found.len() {
        return Vec::new();
    }
    let end = start.saturating_add(pagesize).min(found.len());
    let mut keyed: Vec<(SortKey<'_>, &Contact)> = found
        .into_iter()
        .map(|c| {
            (
                SortKey::new(c.values.get(sort).map_or("", String::as_str)),
                c,
            )
        })
        .collect();
    // Seqs are unique; the id (the map's order, which a stable sort kept) settles any tie
    // left, so the order is total and a reversed comparison is the reversed list.
    let cmp = |x: &(SortKey<'_>, &Contact), y: &(SortKey<'_>, &Contact)| {
        let o =
            x.0.cmp(&y.0)
                .then(x.1.seq.cmp(&y.1.seq))
                .then_with(|| x.1.id.cmp(&y.1.id));
        if descending { o.reverse() } else { o }
    };
    keyed.select_nth_unstable_by(end - 1, cmp);
    let head = &mut keyed[..end];
    head.select_nth_unstable_by(start, cmp);
    let on_page = &mut head[start..];
    on_page.sort_unstable_by(cmp);
    on_page.iter().map(|(_, c)| *c).collect()
}

async fn list_contacts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let pairs = query_pairs(q.as_deref());
    let st = shared.lock();
    let a = acting(&st, &caller, &pairs)?;
    let p = paging(&pairs)?;
    let sort = p.sort.clone().unwrap_or_else(|| "lastname".to_owned());
    if scheme_attribute(&sort).is_none() {
        return Err(validation(format!(
            "sort `{sort}` is not an attribute of the contact scheme"
        )));
    }
    let tag_filter: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "tags")
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|t| t.trim().to_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect();
    let wanted_tags: Vec<&str> = st
        .tags
        .iter()
        .filter(|t| {
            tag_filter
                .iter()
                .any(|f| *f == t.id.to_lowercase() || *f == t.name.to_lowercase())
        })
        .map(|t| t.id.as_str())
        .collect();
    let terms: Vec<String> = first(&pairs, "searchTerms")
        .map(|s| s.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    let found: Vec<&Contact> = st
        .contacts
        .values()
        .filter(|c| visible(c, &a))
        .filter(|c| {
            tag_filter.is_empty() || c.tags.iter().any(|t| wanted_tags.contains(&t.as_str()))
        })
        .filter(|c| matches_terms(c, &terms))
        .collect();
    let total_pages = found.len().div_ceil(p.pagesize);
    let german = lang_of(&pairs);
    let summaries: Vec<Json> = page_of(found, &sort, p.descending, p.page, p.pagesize)
        .into_iter()
        .map(|c| {
            let pick = |names: &[&str]| -> Vec<String> {
                names
                    .iter()
                    .map(|n| c.values.get(*n).cloned().unwrap_or_default())
                    .collect()
            };
            json!({
                "id": c.id,
                "summaryValues": pick(SUMMARY),
                "phoneNumberValues": pick(PHONES),
                "additionalValues": {},
            })
        })
        .collect();
    ok(json!({
        "contacts": summaries,
        "metadata": {
            "page": p.page,
            "pagesize": p.pagesize,
            "sort": sort,
            "sortdirection": if p.descending { "DESC" } else { "ASC" },
            "totalPages": total_pages,
        },
        "summaryBlockSchema": schema_block("summary", "addressbook.block.summary", SUMMARY, german),
        "phoneNumbersBlockSchema": schema_block("telephone", "addressbook.block.telephone", PHONES, german),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    account_id: Option<i64>,
    blocks: Option<Vec<BlockBody>>,
    jabber_id: Option<String>,
    primary_external_number: Option<String>,
    primary_internal_number: Option<String>,
    tags: Option<Vec<TagBody>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockBody {
    name: Option<String>,
    attributes: Option<Vec<AttributeBody>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributeBody {
    name: Option<String>,
    value: Option<String>,
    display_key: Option<String>,
    additional_values: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TagBody {
    id: Option<String>,
    name: Option<String>,
    alias: Option<String>,
}

/// The parts of a contact a client may set, validated against the scheme and the tags.
struct ContactInput {
    account_id: Option<i64>,
    jabber_id: Option<String>,
    primary_external_number: Option<String>,
    primary_internal_number: Option<String>,
    tags: Vec<String>,
    values: BTreeMap<String, String>,
    additional: BTreeMap<String, BTreeMap<String, String>>,
}

fn contact_input(st: &PbxState, body: ContactBody) -> Result<ContactInput, ApiError> {
    let Some(blocks) = body.blocks else {
        return Err(validation("blocks is required"));
    };
    let mut values = BTreeMap::new();
    let mut additional = BTreeMap::new();
    for (bi, block) in blocks.into_iter().enumerate() {
        let block_name = block.name.unwrap_or_else(|| format!("#{}", bi + 1));
        for attr in block.attributes.unwrap_or_default() {
            let Some(name) = attr.name.filter(|n| !n.is_empty()) else {
                return Err(validation(format!(
                    "an attribute of block `{block_name}` has no name"
                )));
            };
            let Some((_, scheme)) = scheme_attribute(&name) else {
                return Err(validation(format!(
                    "attribute `{name}` of block `{block_name}` is not in the contact scheme (GET /rest/contacts/scheme)"
                )));
            };
            if let Some(key) = attr.display_key.as_deref() {
                if !DISPLAY_KEYS.contains(&key) {
                    return Err(validation(format!(
                        "displayKey `{key}` of attribute `{name}` is not a known key"
                    )));
                }
                if key != scheme.display_key {
                    return Err(validation(format!(
                        "attribute `{name}` has displayKey {}, not {key}",
                        scheme.display_key
                    )));
                }
            }
            let value = attr.value.unwrap_or_default();
            if !value.trim().is_empty() {
                values.insert(name.clone(), value);
            }
            if let Some(extra) = attr.additional_values.filter(|m| !m.is_empty()) {
                additional.insert(name, extra);
            }
        }
    }
    if values.is_empty() {
        return Err(validation("the contact has no attribute with a value"));
    }
    let mut tags = Vec::new();
    for t in body.tags.unwrap_or_default() {
        let found = match (&t.id, &t.name) {
            (Some(id), _) if !id.is_empty() => st.tags.iter().find(|x| &x.id == id),
            (_, Some(name)) => st.tags.iter().find(|x| x.name.eq_ignore_ascii_case(name)),
            _ => None,
        };
        let Some(found) = found else {
            let shown = t.id.or(t.name).unwrap_or_default();
            return Err(validation(format!(
                "tag `{shown}` does not exist (create it with POST /rest/contacts/tags)"
            )));
        };
        if !tags.contains(&found.id) {
            tags.push(found.id.clone());
        }
    }
    Ok(ContactInput {
        account_id: body.account_id,
        jabber_id: body.jabber_id,
        primary_external_number: body.primary_external_number,
        primary_internal_number: body.primary_internal_number,
        tags,
        values,
        additional,
    })
}

fn apply(c: &mut Contact, input: ContactInput) {
    c.account_id = input.account_id;
    c.jabber_id = input.jabber_id;
    c.primary_external_number = input.primary_external_number;
    c.primary_internal_number = input.primary_internal_number;
    c.tags = input.tags;
    c.values = input.values;
    c.additional = input.additional;
}

async fn create_contact(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let parsed: ContactBody = parse_json(&body)?;
    let pairs = query_pairs(q.as_deref());
    let mut st = shared.lock();
    let a = acting(&st, &caller, &pairs)?;
    let input = contact_input(&st, parsed)?;
    // An administrator without userId writes to the shared address book; anyone else (or an
    // administrator acting for a user) to that user's own.
    let owner = if a.caller_is_admin && first(&pairs, "userId").is_none() {
        None
    } else {
        Some(a.login.clone())
    };
    let id = st.new_id();
    let seq = st.next_seq();
    let mut contact = Contact {
        id: id.clone(),
        owner,
        account_id: None,
        jabber_id: None,
        primary_external_number: None,
        primary_internal_number: None,
        tags: Vec::new(),
        values: BTreeMap::new(),
        additional: BTreeMap::new(),
        seq,
    };
    apply(&mut contact, input);
    let body = contact_json(&st, &contact, &a, lang_of(&pairs));
    st.contacts.insert(id.clone(), contact);
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/rest/contacts/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Finds a contact the acting user can see; `need_edit` also requires the right to change it.
fn contact_for<'a>(
    st: &'a PbxState,
    a: &Acting,
    id: &str,
    need_edit: bool,
) -> Result<&'a Contact, ApiError> {
    let Some(c) = st.contacts.get(id).filter(|c| visible(c, a)) else {
        return Err(not_found_of("contact", id));
    };
    if need_edit && !editable(c, a) {
        return Err(forbidden(format!(
            "contact `{id}` is not editable by user {}",
            a.login
        )));
    }
    Ok(c)
}

async fn get_contact(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let pairs = query_pairs(q.as_deref());
    let st = shared.lock();
    let a = acting(&st, &caller, &pairs)?;
    match contact_for(&st, &a, &id, false) {
        Ok(c) => ok(contact_json(&st, c, &a, lang_of(&pairs))),
        Err(r) => Err(r),
    }
}

async fn update_contact(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let parsed: ContactBody = parse_json(&body)?;
    let pairs = query_pairs(q.as_deref());
    let mut st = shared.lock();
    let a = acting(&st, &caller, &pairs)?;
    contact_for(&st, &a, &id, true)?;
    let input = contact_input(&st, parsed)?;
    let seq = st.next_seq();
    if let Some(c) = st.contacts.get_mut(&id) {
        apply(c, input);
        c.seq = c.seq.min(seq);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_contact(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let pairs = query_pairs(q.as_deref());
    let mut st = shared.lock();
    let a = acting(&st, &caller, &pairs)?;
    contact_for(&st, &a, &id, true)?;
    st.contacts.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_tags(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let pairs = query_pairs(q.as_deref());
    let st = shared.lock();
    acting(&st, &caller, &pairs)?;
    let p = paging(&pairs)?;
    let sort = p.sort.clone().unwrap_or_else(|| "name".to_owned());
    let key = |t: &Tag| -> String {
        match sort.as_str() {
            "alias" => t.alias.to_lowercase(),
            "id" => t.id.clone(),
            "owner" => t.owner.clone(),
            _ => t.name.to_lowercase(),
        }
    };
    if !["name", "alias", "id", "owner"].contains(&sort.as_str()) {
        return Err(validation(format!(
            "sort `{sort}` must be one of name, alias, id, owner"
        )));
    }
    let mut tags: Vec<&Tag> = st.tags.iter().collect();
    tags.sort_by_key(|t| key(t));
    if p.descending {
        tags.reverse();
    }
    let page: Vec<Json> = tags
        .into_iter()
        .skip(p.page.saturating_mul(p.pagesize))
        .take(p.pagesize)
        .map(tag_json)
        .collect();
    ok(Json::Array(page))
}

async fn create_tag(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let parsed: TagBody = parse_json(&body)?;
    let pairs = query_pairs(q.as_deref());
    let mut st = shared.lock();
    let a = acting(&st, &caller, &pairs)?;
    let Some(name) = parsed
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
    else {
        return Err(validation("name is required"));
    };
    if st.tags.iter().any(|t| t.name.eq_ignore_ascii_case(&name)) {
        return Err(validation(format!("a tag named `{name}` exists already")));
    }
    let tag = Tag {
        id: st.new_id(),
        alias: parsed
            .alias
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        owner: a.login,
    };
    let body = tag_json(&tag);
    st.tags.push(tag);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn get_tag(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticated(&shared, &headers)?;
    let st = shared.lock();
    match st.tags.iter().find(|t| t.id == id) {
        Some(t) => ok(tag_json(t)),
        None => Err(not_found_of("tag", &id)),
    }
}

fn may_change_tag(st: &PbxState, caller: &str, t: &Tag) -> bool {
    t.owner == caller || st.user_by_login(caller).is_some_and(|u| u.seed.admin)
}

async fn update_tag(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let parsed: TagBody = parse_json(&body)?;
    let mut st = shared.lock();
    let Some(t) = st.tags.iter().find(|t| t.id == id).cloned() else {
        return Err(not_found_of("tag", &id));
    };
    if !may_change_tag(&st, &caller, &t) {
        return Err(forbidden(format!("tag `{id}` belongs to {}", t.owner)));
    }
    let Some(name) = parsed
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
    else {
        return Err(validation("name is required"));
    };
    if st
        .tags
        .iter()
        .any(|x| x.id != id && x.name.eq_ignore_ascii_case(&name))
    {
        return Err(validation(format!("a tag named `{name}` exists already")));
    }
    if let Some(t) = st.tags.iter_mut().find(|t| t.id == id) {
        t.alias = parsed
            .alias
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| name.clone());
        t.name = name;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_tag(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authenticated(&shared, &headers)?;
    let mut st = shared.lock();
    let Some(t) = st.tags.iter().find(|t| t.id == id).cloned() else {
        return Err(not_found_of("tag", &id));
    };
    if !may_change_tag(&st, &caller, &t) {
        return Err(forbidden(format!("tag `{id}` belongs to {}", t.owner)));
    }
    st.tags.retain(|t| t.id != id);
    for c in st.contacts.values_mut() {
        c.tags.retain(|t| *t != id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn contact(id: usize, seq: u64, lastname: Option<&str>) -> Contact {
        Contact {
            id: format!("{id:024x}"),
            owner: None,
            account_id: None,
            jabber_id: None,
            primary_external_number: None,
            primary_internal_number: None,
            tags: Vec::new(),
            values: lastname
                .map(|v| ("lastname".to_owned(), v.to_owned()))
                .into_iter()
                .collect(),
            additional: BTreeMap::new(),
            seq,
        }
    }

    /// The order the endpoint had before it selected pages: a stable full sort by the
    /// lowercased value then seq, reversed for DESC.
    fn by_full_sort<'a>(
        found: &[&'a Contact],
        descending: bool,
        page: usize,
        pagesize: usize,
    ) -> Vec<&'a Contact> {
        let mut all = found.to_vec();
        all.sort_by(|x, y| {
            let key = |c: &Contact| {
                c.values
                    .get("lastname")
                    .map(|v| v.to_lowercase())
                    .unwrap_or_default()
            };
            key(x).cmp(&key(y)).then(x.seq.cmp(&y.seq))
        });
        if descending {
            all.reverse();
        }
        all.into_iter()
            .skip(page * pagesize)
            .take(pagesize)
            .collect()
    }

    #[test]
    fn every_page_orders_like_a_full_sort_by_lowercased_value_then_seq() {
        // Mixed case, equal values, missing values, non-ASCII whose lowercase differs in
        // length or depends on position (final sigma), digits and punctuation.
        let names = [
            "müller", "Müller", "MÜLLER", "Mueller", "mueller", "Zander", "zander", "äpfel",
            "Ärger", "ΟΔΟΣ", "οδος", "İlhan", "ilhan", "ǅemal", "ǆemal", "", "O'Neil", "o'neil",
            "10", "9", "Ben", "ben", "BEN", "Adler", "adler ",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let contacts: Vec<Contact> = (0..600)
            .map(|i| {
                let name = match rng.random_range(0..names.len() + 2) {
                    k if k < names.len() => Some(names[k]),
                    _ => None,
                };
                // Seqs unique, but not in id order, as after updates and deletes.
                contact(i, rng.random::<u64>() >> 1, name)
            })
            .collect();
        // The endpoint gets the contacts in id order (the map's).
        let mut found: Vec<&Contact> = contacts.iter().collect();
        found.sort_by(|x, y| x.id.cmp(&y.id));
        for pagesize in [1, 7, 20, 500, 600, 1000] {
            for descending in [false, true] {
                let pages = found.len().div_ceil(pagesize) + 1;
                for page in 0..pages {
                    let got: Vec<&str> =
                        page_of(found.clone(), "lastname", descending, page, pagesize)
                            .iter()
                            .map(|c| c.id.as_str())
                            .collect();
                    let want: Vec<&str> = by_full_sort(&found, descending, page, pagesize)
                        .iter()
                        .map(|c| c.id.as_str())
                        .collect();
                    assert_eq!(
                        got, want,
                        "pagesize {pagesize}, desc {descending}, page {page}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_page_past_the_end_or_of_size_zero_is_empty_and_huge_numbers_do_not_overflow() {
        let contacts: Vec<Contact> = (0..3).map(|i| contact(i, i as u64, Some("a"))).collect();
        let found: Vec<&Contact> = contacts.iter().collect();
        assert!(page_of(found.clone(), "lastname", false, 1, 3).is_empty());
        assert!(page_of(found.clone(), "lastname", true, usize::MAX, usize::MAX).is_empty());
        assert!(page_of(found.clone(), "lastname", false, 0, 0).is_empty());
        assert_eq!(page_of(found, "lastname", false, 0, usize::MAX).len(), 3);
    }
}
