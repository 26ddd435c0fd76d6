//! `/services/data`: the REST API. One API call is counted per authenticated request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::errors::{ApiError, SaveError, json_value};
use crate::ids;
use crate::org::{Cursor, Org, Session};
use crate::schema::{Kind, ObjectDef, SCHEMA};
use crate::soql::{self, Output};
use crate::sosl;
use crate::store::{Data, Record, Val, WriteCtx, WriteError};
use crate::time::{self, Millis};

/// Oldest API version served.
const MIN_VERSION: f64 = 20.0;
const DEFAULT_BATCH: usize = 2000;
const MAX_COMPOSITE: usize = 200;

#[derive(Debug)]
enum Route<'a> {
    Resources,
    Limits,
    Query { all: bool },
    QueryMore { all: bool, locator: &'a str },
    Search,
    Global,
    SObjectInfo(usize),
    Create(usize),
    Describe(usize),
    Updated(usize),
    Deleted(usize),
    Get(usize, &'a str),
    Patch(usize, &'a str),
    Delete(usize, &'a str),
    CompositeCreate,
    CompositeUpdate,
    CompositeDelete,
}

impl Route<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Route::Resources => "resources",
            Route::Limits => "limits",
            Route::Query { .. } => "query",
            Route::QueryMore { .. } => "queryMore",
            Route::Search => "search",
            Route::Global => "describeGlobal",
            Route::SObjectInfo(_) => "sobject.info",
            Route::Create(_) => "sobject.create",
            Route::Describe(_) => "describe",
            Route::Updated(_) => "updated",
            Route::Deleted(_) => "deleted",
            Route::Get(..) => "sobject.get",
            Route::Patch(..) => "sobject.update",
            Route::Delete(..) => "sobject.delete",
            Route::CompositeCreate => "composite.create",
            Route::CompositeUpdate => "composite.update",
            Route::CompositeDelete => "composite.delete",
        }
    }
}

fn route<'a>(method: &Method, segs: &[&'a str]) -> Result<Route<'a>, ApiError> {
    let get = method == Method::GET || method == Method::HEAD;
    let only = |ok: bool, r: Route<'a>, allowed: &str| {
        if ok {
            Ok(r)
        } else {
            Err(ApiError::method_not_allowed(method.as_str(), allowed))
        }
    };
    let object = |name: &str| SCHEMA.object_index(name).ok_or_else(ApiError::not_found);
    match segs {
        [] => only(get, Route::Resources, "GET,HEAD"),
        ["limits"] => only(get, Route::Limits, "GET,HEAD"),
        ["query"] => only(get, Route::Query { all: false }, "GET,HEAD"),
        ["queryAll"] => only(get, Route::Query { all: true }, "GET,HEAD"),
        ["query", loc] => only(
            get,
            Route::QueryMore {
                all: false,
                locator: loc,
            },
            "GET,HEAD",
        ),
        ["queryAll", loc] => only(
            get,
            Route::QueryMore {
                all: true,
                locator: loc,
            },
            "GET,HEAD",
        ),
        ["search"] => only(get, Route::Search, "GET,HEAD"),
        ["sobjects"] => only(get, Route::Global, "GET,HEAD"),
        ["sobjects", t] => {
            let o = object(t)?;
            match *method {
                Method::GET | Method::HEAD => Ok(Route::SObjectInfo(o)),
                Method::POST => Ok(Route::Create(o)),
                _ => Err(ApiError::method_not_allowed(
                    method.as_str(),
                    "GET,HEAD,POST",
                )),
            }
        }
        ["sobjects", t, "describe"] => only(get, Route::Describe(object(t)?), "GET,HEAD"),
        ["sobjects", t, "updated"] => only(get, Route::Updated(object(t)?), "GET,HEAD"),
        ["sobjects", t, "deleted"] => only(get, Route::Deleted(object(t)?), "GET,HEAD"),
        ["sobjects", t, id] => {
            let o = object(t)?;
            match *method {
                Method::GET | Method::HEAD => Ok(Route::Get(o, id)),
                Method::PATCH => Ok(Route::Patch(o, id)),
                Method::DELETE => Ok(Route::Delete(o, id)),
                _ => Err(ApiError::method_not_allowed(
                    method.as_str(),
                    "HEAD,GET,PATCH,DELETE",
                )),
            }
        }
        ["composite", "sobjects"] => match *method {
            Method::POST => Ok(Route::CompositeCreate),
            Method::PATCH => Ok(Route::CompositeUpdate),
            Method::DELETE => Ok(Route::CompositeDelete),
            _ => Err(ApiError::method_not_allowed(
                method.as_str(),
                "POST,PATCH,DELETE",
            )),
        },
        _ => Err(ApiError::not_found()),
    }
}

/// The bearer token of a request (`Authorization: Bearer x` or the older `OAuth x`).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim())
}

fn with_limit(org: &Org, mut res: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&org.limit_info()) {
        res.headers_mut().insert("Sforce-Limit-Info", v);
    }
    res
}

fn version_ok(org: &Org, seg: &str) -> Option<String> {
    let v = seg.strip_prefix('v')?;
    let (major, minor) = v.split_once('.')?;
    if minor != "0" || major.len() != 2 {
        return None;
    }
    let n: f64 = v.parse().ok()?;
    let max: f64 = org.api_version.parse().unwrap_or(62.0);
    (MIN_VERSION..=max).contains(&n).then(|| v.to_owned())
}

fn release_label(version: u32) -> String {
    // v62.0 is Winter '25; three releases a year, Winter starting the release year.
    let k = i64::from(version) - 62;
    let season = ["Winter", "Spring", "Summer"][usize::try_from(k.rem_euclid(3)).unwrap_or(0)];
    let year = 25 + k.div_euclid(3);
    format!("{season} '{year:02}")
}

/// `GET /services/data/`: the versions the org serves (no authentication needed).
fn versions(org: &Org) -> Response {
    let max = org
        .api_version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(62);
    let list: Vec<Value> = (31..=max)
        .map(|v| {
            json!({
                "label": release_label(v),
                "url": format!("/services/data/v{v}.0"),
                "version": format!("{v}.0"),
            })
        })
        .collect();
    json_value(StatusCode::OK, &list)
}

/// Entry point for everything under `/services/data`.
pub(crate) async fn handle(
    State(org): State<Arc<Org>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().strip_prefix("/services/data").unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((first, rest)) = segs.split_first() else {
        if method != Method::GET && method != Method::HEAD {
            return ApiError::method_not_allowed(method.as_str(), "GET,HEAD").into_response();
        }
        return versions(&org);
    };
    let Some(version) = version_ok(&org, first) else {
        return with_limit(&org, ApiError::not_found().into_response());
    };
    let Some(session) = bearer(&headers).and_then(|t| org.session(t)) else {
        return with_limit(&org, ApiError::invalid_session().into_response());
    };
    let route = match route(&method, rest) {
        Ok(r) => r,
        Err(e) => {
            if !org.count_call("other") {
                return with_limit(&org, ApiError::limit_exceeded().into_response());
            }
            return with_limit(&org, e.into_response());
        }
    };
    if !org.count_call(route.kind()) {
        return with_limit(&org, ApiError::limit_exceeded().into_response());
    }
    let bytes = match axum::body::to_bytes(body, org.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "REQUEST_ENTITY_TOO_LARGE",
                format!(
                    "Request body exceeds the maximum size of {} bytes",
                    org.max_body_bytes
                ),
            );
            return with_limit(&org, e.into_response());
        }
    };
    let params: HashMap<String, String> = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let ctx = Ctx {
        org: &org,
        session: &session,
        version: &version,
        params: &params,
        headers: &headers,
        body: &bytes,
    };
    let res = match ctx.run(route) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let res = if method == Method::HEAD {
        let (parts, _) = res.into_parts();
        Response::from_parts(parts, Body::empty())
    } else {
        res
    };
    with_limit(&org, res)
}

struct Ctx<'a> {
    org: &'a Org,
    session: &'a Session,
    version: &'a str,
    params: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

type Res = Result<Response, ApiError>;

impl Ctx<'_> {
    fn run(&self, route: Route<'_>) -> Res {
        match route {
            Route::Resources => Ok(self.resources()),
            Route::Limits => Ok(self.limits()),
            Route::Query { all } => self.query(all),
            Route::QueryMore { all, locator } => self.query_more(all, locator),
            Route::Search => self.search(),
            Route::Global => Ok(self.global()),
            Route::SObjectInfo(o) => Ok(json_value(
                StatusCode::OK,
                &json!({ "objectDescribe": self.object_summary(o), "recentItems": [] }),
            )),
            Route::Describe(o) => Ok(self.describe(o)),
            Route::Create(o) => self.create(o),
            Route::Get(o, id) => self.get(o, id),
            Route::Patch(o, id) => self.patch(o, id),
            Route::Delete(o, id) => self.delete(o, id),
            Route::Updated(o) => self.updated(o),
            Route::Deleted(o) => self.deleted(o),
            Route::CompositeCreate => self.composite_write(true),
            Route::CompositeUpdate => self.composite_write(false),
            Route::CompositeDelete => self.composite_delete(),
        }
    }

    fn base(&self) -> String {
        format!("/services/data/v{}", self.version)
    }

    fn write_ctx(&self) -> WriteCtx {
        WriteCtx {
            user_id: self.session.user_id.clone(),
            now: time::now_ms(),
            trusted: false,
        }
    }

    fn resources(&self) -> Response {
        let b = self.base();
        json_value(
            StatusCode::OK,
            &json!({
                "limits": format!("{b}/limits"),
                "query": format!("{b}/query"),
                "queryAll": format!("{b}/queryAll"),
                "search": format!("{b}/search"),
                "sobjects": format!("{b}/sobjects"),
                "composite": format!("{b}/composite"),
                "identity": self.org.identity_url(&self.session.user_id),
            }),
        )
    }

    fn limits(&self) -> Response {
        let st = self.org.state();
        let max = st.faults.api_daily_limit;
        let remaining = max.saturating_sub(st.api_used);
        drop(st);
        json_value(
            StatusCode::OK,
            &json!({
                "DailyApiRequests": { "Max": max, "Remaining": remaining },
                "DailyAsyncApexExecutions": { "Max": 250000, "Remaining": 250000 },
                "DailyBulkApiBatches": { "Max": 15000, "Remaining": 15000 },
                "DataStorageMB": { "Max": 1024, "Remaining": 1000 },
                "FileStorageMB": { "Max": 1024, "Remaining": 1024 },
                "SingleEmail": { "Max": 5000, "Remaining": 5000 },
            }),
        )
    }

    fn batch_size(&self) -> usize {
        self.headers
            .get("Sforce-Query-Options")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("batchSize"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            })
            .map_or(DEFAULT_BATCH, |n| n.clamp(200, 2000))
    }

    fn query(&self, all: bool) -> Res {
        let Some(q) = self.params.get("q").filter(|q| !q.trim().is_empty()) else {
            return Err(ApiError::bad_request(
                "MALFORMED_QUERY",
                "A query string has to be specified",
            ));
        };
        let data = self.org.read();
        let plan = soql::compile(q, &data, time::now_ms()).map_err(soql::QueryError::into_api)?;
        let rows = plan.run(&data, all);
        match plan.output {
            Output::Count => {
                return Ok(json_value(
                    StatusCode::OK,
                    &json!({ "totalSize": rows.len(), "done": true, "records": [] }),
                ));
            }
            Output::CountField => {
                return Ok(json_value(
                    StatusCode::OK,
                    &json!({
                        "totalSize": 1,
                        "done": true,
                        "records": [{ "attributes": { "type": "AggregateResult" }, "expr0": rows.len() }],
                    }),
                ));
            }
            Output::Records(_) => {}
        }
        let batch = self.batch_size();
        let total = rows.len();
        let first: Vec<Value> = rows
            .iter()
            .take(batch)
            .map(|&i| plan.project(&data, i, self.version))
            .collect();
        drop(data);
        let mut body = Map::new();
        body.insert("totalSize".into(), json!(total));
        body.insert("done".into(), json!(total <= batch));
        if total > batch {
            let locator = self.org.open_cursor(Cursor {
                user_id: self.session.user_id.clone(),
                plan: Arc::new(plan),
                rows: Arc::new(rows),
                batch,
                all,
            });
            let ep = if all { "queryAll" } else { "query" };
            body.insert(
                "nextRecordsUrl".into(),
                json!(format!("{}/{ep}/{locator}-{batch}", self.base())),
            );
        }
        body.insert("records".into(), Value::Array(first));
        Ok(json_value(StatusCode::OK, &Value::Object(body)))
    }

    fn query_more(&self, _all: bool, locator: &str) -> Res {
        let invalid = || ApiError::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator");
        let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
        let offset: usize = offset.parse().map_err(|_| invalid())?;
        let cursor = self
            .org
            .cursor(id)
            .filter(|c| c.user_id == self.session.user_id)
            .ok_or_else(invalid)?;
        if offset > cursor.rows.len() {
            return Err(invalid());
        }
        let end = (offset + cursor.batch).min(cursor.rows.len());
        let data = self.org.read();
        let records: Vec<Value> = cursor.rows[offset..end]
            .iter()
            .map(|&i| cursor.plan.project(&data, i, self.version))
            .collect();
        drop(data);
        let done = end >= cursor.rows.len();
        let mut body = Map::new();
        body.insert("totalSize".into(), json!(cursor.rows.len()));
        body.insert("done".into(), json!(done));
        if done {
            self.org.close_cursor(id);
        } else {
            let ep = if cursor.all { "queryAll" } else { "query" };
            body.insert(
                "nextRecordsUrl".into(),
                json!(format!("{}/{ep}/{id}-{end}", self.base())),
            );
        }
        body.insert("records".into(), Value::Array(records));
        Ok(json_value(StatusCode::OK, &Value::Object(body)))
    }

    fn search(&self) -> Res {
        let Some(q) = self.params.get("q").filter(|q| !q.trim().is_empty()) else {
            return Err(ApiError::bad_request(
                "MALFORMED_SEARCH",
                "No search term found. The search term must be enclosed in braces.",
            ));
        };
        let lag_ms = (self.org.state().faults.search_lag_secs * 1000.0) as Millis;
        let now = time::now_ms();
        let data = self.org.read();
        let search = sosl::compile(q, &data, now).map_err(soql::QueryError::into_api)?;
        let out = search.run(&data, now, lag_ms, self.version);
        Ok(json_value(StatusCode::OK, &out))
    }

    fn object_summary(&self, o: usize) -> Value {
        let def = SCHEMA.obj(o);
        let b = self.base();
        json!({
            "name": def.name,
            "label": def.label,
            "labelPlural": def.plural,
            "keyPrefix": def.prefix,
            "custom": false,
            "createable": def.createable,
            "updateable": true,
            "deletable": def.deletable,
            "queryable": true,
            "retrieveable": true,
            "searchable": def.name != "User",
            "layoutable": true,
            "replicateable": true,
            "triggerable": true,
            "undeletable": def.deletable,
            "urls": {
                "sobject": format!("{b}/sobjects/{}", def.name),
                "describe": format!("{b}/sobjects/{}/describe", def.name),
                "rowTemplate": format!("{b}/sobjects/{}/{{ID}}", def.name),
            },
        })
    }

    fn global(&self) -> Response {
        let list: Vec<Value> = (0..SCHEMA.objects.len())
            .map(|o| self.object_summary(o))
            .collect();
        json_value(
            StatusCode::OK,
            &json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list }),
        )
    }

    fn describe(&self, o: usize) -> Response {
        let data = self.org.read();
        let def = SCHEMA.obj(o);
        let fields: Vec<Value> = def
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !data.is_hidden(o, *i))
            .map(|(_, f)| describe_field(def, f))
            .collect();
        let children: Vec<Value> = SCHEMA
            .objects
            .iter()
            .flat_map(|child| {
                child
                    .fields
                    .iter()
                    .filter(|f| f.reference_to.contains(&def.name) && !f.name.ends_with("ById"))
                    .map(move |f| {
                        json!({
                            "childSObject": child.name,
                            "field": f.name,
                            "relationshipName": if f.name == "OwnerId" { Value::Null } else { json!(child.plural) },
                            "cascadeDelete": false,
                            "restrictedDelete": false,
                        })
                    })
            })
            .collect();
        let mut out = self.object_summary(o);
        if let Value::Object(m) = &mut out {
            m.insert("fields".into(), Value::Array(fields));
            m.insert("childRelationships".into(), Value::Array(children));
            m.insert("recordTypeInfos".into(), json!([]));
            m.insert(
                "mergeable".into(),
                json!(matches!(def.name, "Account" | "Contact" | "Lead")),
            );
        }
        json_value(StatusCode::OK, &out)
    }

    fn parse_body(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(self.body).map_err(|e| json_error(self.body, &e))
    }

    fn create(&self, o: usize) -> Res {
        let def = SCHEMA.obj(o);
        if !def.createable {
            return Err(ApiError::bad_request(
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            ));
        }
        let body = self.parse_body()?;
        let Value::Object(fields) = body else {
            return Err(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of {} from START_ARRAY value [line:1, column:1]",
                    def.name
                ),
            ));
        };
        let ctx = self.write_ctx();
        let mut data = self.org.write();
        match data.insert(o, &fields, &ctx) {
            Ok(id) => Ok(json_value(
                StatusCode::CREATED,
                &json!({ "id": id, "success": true, "errors": [] }),
            )),
            Err(mut errs) => Err(errs.remove(0).into_api_error()),
        }
    }

    fn get(&self, o: usize, id: &str) -> Res {
        let data = self.org.read();
        let rec = find_for_rest(&data, o, id)?;
        let json = rec.to_json(o, self.version, &data.hidden);
        let Some(fields) = self.params.get("fields") else {
            return Ok(json_value(StatusCode::OK, &json));
        };
        let def = SCHEMA.obj(o);
        let mut map = Map::new();
        map.insert("attributes".into(), json["attributes"].clone());
        for name in fields.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(i) = def.field_index(name).filter(|&i| !data.is_hidden(o, i)) else {
                return Err(ApiError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", def.name),
                ));
            };
            let f = def.field(i);
            map.insert(f.name.into(), rec.vals[i].to_json());
        }
        Ok(json_value(StatusCode::OK, &Value::Object(map)))
    }

    fn patch(&self, o: usize, id: &str) -> Res {
        let body = self.parse_body()?;
        let Value::Object(fields) = body else {
            return Err(ApiError::bad_request(
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of sObject from START_ARRAY value [line:1, column:1]",
            ));
        };
        let ctx = self.write_ctx();
        let mut data = self.org.write();
        find_for_rest(&data, o, id)?;
        match data.update(o, id, &fields, &ctx) {
            Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(e) => Err(write_error(e)),
        }
    }

    fn delete(&self, o: usize, id: &str) -> Res {
        if !SCHEMA.obj(o).deletable {
            return Err(ApiError::bad_request(
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            ));
        }
        let ctx = self.write_ctx();
        let mut data = self.org.write();
        find_for_rest(&data, o, id)?;
        match data.delete(o, id, &ctx) {
            Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(e) => Err(write_error(e)),
        }
    }

    /// Reads `start` and `end` as the replication resources do (seconds are ignored).
    fn window(&self, max_days: i64) -> Result<(Millis, Millis, Millis), ApiError> {
        let minute = 60_000;
        let read = |name: &str| -> Result<Millis, ApiError> {
            let raw = self.params.get(name).ok_or_else(|| {
                ApiError::bad_request("MISSING_ARGUMENT", format!("{name} was not specified"))
            })?;
            let t = time::parse_datetime(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_REPLICATION_DATE",
                    format!("{name}: invalid date format: {raw}"),
                )
            })?;
            Ok(t.div_euclid(minute) * minute)
        };
        let start = read("start")?;
        let end = read("end")?;
        let now = time::now_ms();
        if end <= start {
            return Err(ApiError::bad_request(
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            ));
        }
        if start < now - max_days * 86_400_000 {
            return Err(ApiError::bad_request(
                "INVALID_REPLICATION_DATE",
                format!("startDate cannot be more than {max_days} days ago"),
            ));
        }
        let covered = end.min(now.div_euclid(minute) * minute);
        Ok((start, end, covered))
    }

    fn updated(&self, o: usize) -> Res {
        let (start, _end, covered) = self.window(30)?;
        let data = self.org.read();
        let def = SCHEMA.obj(o);
        let ids: Vec<&str> = data.tables[o]
            .records
            .iter()
            .filter(|r| r.deleted_at.is_none())
            .filter(|r| {
                let m = r.modstamp(def);
                m >= start && m < covered
            })
            .map(|r| r.id.as_ref())
            .collect();
        if ids.len() > 600_000 {
            return Err(ApiError::bad_request(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 600000 records into this call",
            ));
        }
        Ok(json_value(
            StatusCode::OK,
            &json!({ "ids": ids, "latestDateCovered": time::format_datetime(covered) }),
        ))
    }

    fn deleted(&self, o: usize) -> Res {
        let (start, _end, covered) = self.window(15)?;
        let data = self.org.read();
        let since = data.delete_log_since;
        let records: Vec<Value> = data.tables[o]
            .records
            .iter()
            .filter_map(|r| r.deleted_at.map(|d| (r, d)))
            .filter(|(_, d)| *d >= start && *d < covered && *d >= since)
            .map(|(r, d)| json!({ "id": r.id.as_ref(), "deletedDate": time::format_datetime(d) }))
            .collect();
        let minute = 60_000;
        Ok(json_value(
            StatusCode::OK,
            &json!({
                "deletedRecords": records,
                "earliestDateAvailable": time::format_datetime(since.div_euclid(minute) * minute),
                "latestDateCovered": time::format_datetime(covered),
            }),
        ))
    }

    fn composite_write(&self, creating: bool) -> Res {
        let body = self.parse_body()?;
        let all_or_none = body
            .get("allOrNone")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(records) = body.get("records").and_then(Value::as_array) else {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                "Missing required field: records",
            ));
        };
        if records.len() > MAX_COMPOSITE {
            return Err(ApiError::bad_request(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            ));
        }
        let ctx = self.write_ctx();
        let mut data = self.org.write();
        let mut undo: Vec<Undo> = Vec::new();
        let mut results: Vec<Result<String, Vec<SaveError>>> = Vec::new();
        for rec in records {
            let r = composite_one(&mut data, rec, creating, &ctx, &mut undo);
            results.push(r);
        }
        let failed = results.iter().any(Result::is_err);
        if all_or_none && failed {
            for u in undo.into_iter().rev() {
                u.apply(&mut data);
            }
        }
        drop(data);
        Ok(json_value(
            StatusCode::OK,
            &save_results(results, all_or_none && failed),
        ))
    }

    fn composite_delete(&self) -> Res {
        let ids: Vec<&str> = self
            .params
            .get("ids")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            return Err(ApiError::bad_request(
                "MISSING_ARGUMENT",
                "ids was not specified",
            ));
        }
        if ids.len() > MAX_COMPOSITE {
            return Err(ApiError::bad_request(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            ));
        }
        let all_or_none = self
            .params
            .get("allOrNone")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let ctx = self.write_ctx();
        let mut data = self.org.write();
        let mut undo = Vec::new();
        let mut results = Vec::new();
        for id in ids {
            let r = match data.find(id).map(|(o, _)| o) {
                None => Err(vec![SaveError::new(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    vec![],
                )]),
                Some(o) if !SCHEMA.obj(o).deletable => Err(vec![SaveError::new(
                    "INSUFFICIENT_ACCESS_OR_READONLY",
                    "insufficient access rights on object id",
                    vec![],
                )]),
                Some(o) => {
                    let snap = data.snapshot(o, id);
                    match data.delete(o, id, &ctx) {
                        Ok(id) => {
                            if let Some((idx, rec)) = snap {
                                undo.push(Undo::Restore(o, idx, rec));
                            }
                            Ok(id)
                        }
                        Err(e) => Err(save_errors(e)),
                    }
                }
            };
            results.push(r);
        }
        let failed = results.iter().any(Result::is_err);
        if all_or_none && failed {
            for u in undo.into_iter().rev() {
                u.apply(&mut data);
            }
        }
        drop(data);
        Ok(json_value(
            StatusCode::OK,
            &save_results(results, all_or_none && failed),
        ))
    }
}

enum Undo {
    Pop(usize),
    Restore(usize, usize, Record),
}

impl Undo {
    fn apply(self, data: &mut Data) {
        match self {
            Undo::Pop(o) => data.pop(o),
            Undo::Restore(o, idx, rec) => data.restore(o, idx, rec),
        }
    }
}

fn composite_one(
    data: &mut Data,
    rec: &Value,
    creating: bool,
    ctx: &WriteCtx,
    undo: &mut Vec<Undo>,
) -> Result<String, Vec<SaveError>> {
    let Some(fields) = rec.as_object() else {
        return Err(vec![SaveError::new(
            "JSON_PARSER_ERROR",
            "record is not an object",
            vec![],
        )]);
    };
    let ty = fields
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            vec![SaveError::new(
                "INVALID_TYPE",
                "Must specify a valid type in the attributes of every record",
                vec![],
            )]
        })?;
    let o = SCHEMA.object_index(ty).ok_or_else(|| {
        vec![SaveError::new(
            "INVALID_TYPE",
            format!("sObject type '{ty}' is not supported."),
            vec![],
        )]
    })?;
    let id_key = fields
        .keys()
        .find(|k| k.eq_ignore_ascii_case("id"))
        .cloned();
    if creating {
        if id_key.is_some() {
            return Err(vec![SaveError::new(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "cannot specify Id in an insert call",
                vec!["Id".to_owned()],
            )]);
        }
        if !SCHEMA.obj(o).createable {
            return Err(vec![SaveError::new(
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
                vec![],
            )]);
        }
        let id = data.insert(o, fields, ctx)?;
        undo.push(Undo::Pop(o));
        Ok(id)
    } else {
        let Some(key) = id_key else {
            return Err(vec![SaveError::new(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
                vec![],
            )]);
        };
        let id = fields
            .get(&key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut rest = fields.clone();
        rest.remove(&key);
        let snap = data.snapshot(o, &id);
        match data.update(o, &id, &rest, ctx) {
            Ok(id) => {
                if let Some((idx, r)) = snap {
                    undo.push(Undo::Restore(o, idx, r));
                }
                Ok(id)
            }
            Err(e) => Err(save_errors(e)),
        }
    }
}

fn save_errors(e: WriteError) -> Vec<SaveError> {
    match e {
        WriteError::NotFound => vec![SaveError::new(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            vec![],
        )],
        WriteError::Deleted => vec![SaveError::new(
            "ENTITY_IS_DELETED",
            "entity is deleted",
            vec![],
        )],
        WriteError::Invalid(v) => v,
    }
}

/// Per-record results of an sObject Collections request.
fn save_results(results: Vec<Result<String, Vec<SaveError>>>, rolled_back: bool) -> Value {
    let rollback = SaveError::new(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
        vec![],
    );
    Value::Array(
        results
            .into_iter()
            .map(|r| match r {
                Ok(_) if rolled_back => json!({ "success": false, "errors": [rollback.clone()] }),
                Ok(id) => json!({ "id": id, "success": true, "errors": [] }),
                Err(errors) => json!({ "success": false, "errors": errors }),
            })
            .collect(),
    )
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::NotFound => ApiError::not_found(),
        WriteError::Deleted => ApiError::new(
            StatusCode::NOT_FOUND,
            "ENTITY_IS_DELETED",
            "entity is deleted",
        )
        .with_fields(vec![]),
        WriteError::Invalid(mut v) => v.remove(0).into_api_error(),
    }
}

/// The record behind `/sobjects/T/id`, with Salesforce's 404 wording for bad ids.
fn find_for_rest<'d>(data: &'d Data, o: usize, id: &str) -> Result<&'d Record, ApiError> {
    if ids::normalize(id).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {id}"),
        )
        .with_fields(vec![]));
    }
    match data.find_in(o, id) {
        Some(r) if r.deleted_at.is_none() => Ok(r),
        Some(_) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ENTITY_IS_DELETED",
            "entity is deleted",
        )
        .with_fields(vec![])),
        None => Err(ApiError::not_found()),
    }
}

fn describe_field(obj: &ObjectDef, f: &crate::schema::FieldDef) -> Value {
    let picklist: Vec<Value> = f
        .picklist
        .iter()
        .map(|v| {
            json!({
                "active": true,
                "defaultValue": f.default_value == Some(*v),
                "label": v,
                "validFor": null,
                "value": v,
            })
        })
        .collect();
    let (precision, scale, digits) = match f.kind {
        Kind::Currency => (18, 2, 0),
        Kind::Int => (0, 0, 9),
        _ => (0, 0, 0),
    };
    json!({
        "name": f.name,
        "label": f.label,
        "type": f.kind.describe_name(),
        "soapType": f.kind.soap_type(),
        "length": if matches!(f.kind, Kind::Boolean | Kind::Int | Kind::Currency | Kind::Date | Kind::DateTime) { 0 } else { f.length },
        "byteLength": f.length * 3,
        "precision": precision,
        "scale": scale,
        "digits": digits,
        "createable": f.createable,
        "updateable": f.updateable,
        "nillable": f.nillable,
        "defaultedOnCreate": f.defaulted,
        "defaultValue": f.default_value,
        "calculated": f.calculated,
        "custom": f.custom,
        "filterable": f.filterable(),
        "sortable": f.filterable(),
        "groupable": f.filterable() && !matches!(f.kind, Kind::Currency | Kind::DateTime),
        "unique": false,
        "externalId": false,
        "idLookup": matches!(f.name, "Id" | "Email" | "Username") || (f.name == "Name" && obj.name == "Account"),
        "nameField": f.name == obj.name_field && obj.name != "Task",
        "autoNumber": false,
        "caseSensitive": false,
        "permissionable": f.nillable && f.createable,
        "polymorphicForeignKey": f.reference_to.len() > 1,
        "referenceTo": f.reference_to,
        "relationshipName": f.relationship,
        "restrictedPicklist": f.restricted,
        "picklistValues": picklist,
        "htmlFormatted": false,
        "inlineHelpText": null,
    })
}

/// Jackson-style messages for bodies that are not JSON, as Salesforce words them.
fn json_error(body: &[u8], e: &serde_json::Error) -> ApiError {
    let (line, column) = (e.line(), e.column());
    let msg = match e.classify() {
        serde_json::error::Category::Eof => format!(
            "Unexpected end-of-input: expected close marker for OBJECT at [line:{line}, column:{}]",
            column + 1
        ),
        _ => {
            let text = String::from_utf8_lossy(body);
            let ch = text
                .lines()
                .nth(line.saturating_sub(1))
                .and_then(|l| l.chars().nth(column.saturating_sub(1)));
            match ch {
                Some(c) => format!(
                    "Unexpected character ('{c}' (code {})): expected a valid value (number, String, array, object, 'true', 'false' or 'null') at [line:{line}, column:{column}]",
                    u32::from(c)
                ),
                None => format!("Unexpected end-of-input at [line:{line}, column:{column}]"),
            }
        }
    };
    ApiError::bad_request("JSON_PARSER_ERROR", msg)
}

/// Values a searchAndScreenPop finds, keyed by record id (for the Open CTI stand-in).
pub(crate) fn screenpop_matches(org: &Org, term: &str) -> Value {
    let data = org.read();
    let escaped: String = term
        .chars()
        .map(|c| {
            if "+-&|!(){}[]^\"~*?:\\'".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect();
    let q = format!(
        "FIND {{{escaped}}} RETURNING Contact(Id, Name), Lead(Id, Name), Account(Id, Name)"
    );
    let Ok(search) = sosl::compile(&q, &data, time::now_ms()) else {
        return json!({});
    };
    let mut out = Map::new();
    for (o, i) in search.matches(&data) {
        let rec = &data.tables[o].records[i];
        let def = SCHEMA.obj(o);
        let name = match rec.get(def, "Name") {
            Val::Str(s) => s.to_string(),
            _ => String::new(),
        };
        out.insert(
            rec.id.to_string(),
            json!({ "Id": rec.id.as_ref(), "Name": name, "RecordType": def.name }),
        );
    }
    Value::Object(out)
}
