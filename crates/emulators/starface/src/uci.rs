//! The UCI endpoint: `POST /xml-rpc?de.vertico.starface.auth=...` with XML-RPC bodies.
//!
//! Method names are accepted in the v22/v30 form (`ucp.v22.requests.connection.login`) and in
//! the older form some clients still use (`ucp.v20.server.connection.login`,
//! `ucp.v22.server.communication.call.placeCall`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ctibridge_starface::auth;
use ctibridge_starface::xmlrpc::{
    FAULT_APPLICATION, FAULT_INVALID_PARAMS, FAULT_METHOD_NOT_FOUND, FAULT_PARSE_ERROR, MethodCall,
    MethodResponse, Struct, Value,
};
use tokio::time::Instant;

use crate::callback;
use crate::calls;
use crate::state::{CallbackTarget, Session, Shared};

/// Fault code of a refused auth value (Apache XML-RPC's "not authorized" uses 0).
pub(crate) const FAULT_NOT_AUTHORIZED: i32 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Connection,
    Service,
    Call,
    Phone,
}

impl Family {
    fn knows(self, op: &str) -> bool {
        let ops: &[&str] = match self {
            Family::Connection => &[
                "login",
                "keepAlive",
                "probe",
                "logout",
                "setProvidedServices",
            ],
            Family::Service => &[
                "subscribeEvents",
                "unsubscribeEvents",
                "getProvidedEvents",
                "getProvidedRequests",
            ],
            Family::Call => &[
                "placeCallWithPhone",
                "placeCall",
                "hangupCall",
                "getCallIds",
                "getCallState",
                "getPhoneIds",
            ],
            Family::Phone => &[
                "getPhoneIds",
                "getPrimaryPhoneId",
                "getAvailableDisplayNumbers",
            ],
        };
        ops.contains(&op)
    }
}

/// Splits `ucp.<api>.<...>.<op>` into api version, family and operation.
fn parse_method(name: &str) -> Option<(&str, Family, &str)> {
    let parts: Vec<&str> = name.split('.').collect();
    let (api, rest) = match parts.as_slice() {
        ["ucp", api @ ("v20" | "v22" | "v30"), rest @ ..] => (*api, rest),
        _ => return None,
    };
    let (family, op) = match rest {
        ["requests" | "server", "connection", op] => (Family::Connection, *op),
        ["requests", "service", op] => (Family::Service, *op),
        ["requests", "call", op] | ["server", "communication", "call", op] => (Family::Call, *op),
        ["requests", "phone", op] => (Family::Phone, *op),
        _ => return None,
    };
    Some((api, family, op))
}

struct Request {
    login: String,
    auth: String,
    api: String,
    callback: Option<CallbackTarget>,
    params: Vec<Value>,
    method: String,
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")],
        body,
    )
        .into_response()
}

fn respond(r: MethodResponse) -> Response {
    xml(StatusCode::OK, r.to_xml())
}

fn fault(code: i32, message: impl Into<String>) -> Response {
    respond(MethodResponse::fault(code, message))
}

pub(crate) async fn endpoint(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if body.iter().all(u8::is_ascii_whitespace) {
        // What the real PBX (Tomcat) answers to an empty POST.
        return (StatusCode::BAD_REQUEST, "empty XML-RPC request body\n").into_response();
    }
    let call = match MethodCall::from_xml(&body) {
        Ok(c) => c,
        Err(e) => return fault(FAULT_PARSE_ERROR, format!("cannot parse the request: {e}")),
    };
    *shared
        .lock()
        .counters
        .uci_requests
        .entry(call.method_name.clone())
        .or_default() += 1;

    let Some((api, family, op)) = parse_method(&call.method_name)
        .map(|(api, family, op)| (api.to_owned(), family, op.to_owned()))
    else {
        return fault(
            FAULT_METHOD_NOT_FOUND,
            format!("no such method: {}", call.method_name),
        );
    };
    if !family.knows(&op) {
        return fault(
            FAULT_METHOD_NOT_FOUND,
            format!("no such method: {}", call.method_name),
        );
    }
    let query = QueryParams::parse(query.as_deref().unwrap_or(""));
    let login = match authenticate(&shared, &query) {
        Ok(l) => l,
        Err(msg) => return fault(FAULT_NOT_AUTHORIZED, format!("Not authorized: {msg}")),
    };
    let callback = match query.callback() {
        Ok(c) => c,
        Err(msg) => return fault(FAULT_INVALID_PARAMS, msg),
    };
    let req = Request {
        login,
        auth: query.auth.unwrap_or_default(),
        api,
        callback,
        params: call.params,
        method: call.method_name,
    };
    let result = match family {
        Family::Connection => connection(&shared, &req, &op),
        Family::Service => with_session(&shared, &req, |s| service(s, &req, &op)),
        Family::Call => call_request(&shared, &req, &op),
        Family::Phone => phone_request(&shared, &req, &op),
    };
    match result {
        Ok(v) => respond(MethodResponse::Params(v)),
        Err((code, msg)) => fault(code, msg),
    }
}

type Outcome = Result<Value, (i32, String)>;

#[derive(Default)]
struct QueryParams {
    auth: Option<String>,
    user: Option<String>,
    host: Option<String>,
    port: Option<String>,
    path: Option<String>,
    kind: Option<String>,
}

impl QueryParams {
    fn parse(query: &str) -> Self {
        let mut q = QueryParams::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let key = k.replace('_', ".");
            let slot = match key.as_str() {
                "de.vertico.starface.auth" => &mut q.auth,
                "de.vertico.starface.user" => &mut q.user,
                "de.vertico.starface.callback.host" => &mut q.host,
                "de.vertico.starface.callback.port" => &mut q.port,
                "de.vertico.starface.callback.path" => &mut q.path,
                "de.vertico.starface.callback.type" => &mut q.kind,
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        q
    }

    fn callback(&self) -> Result<Option<CallbackTarget>, String> {
        let Some(host) = self
            .host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        else {
            return Ok(None);
        };
        let scheme = match self.kind.as_deref().map(str::trim).unwrap_or("") {
            "" | "http" => "http",
            "https" => "https",
            other => {
                return Err(format!(
                    "de.vertico.starface.callback.type must be http or https, not `{other}`"
                ));
            }
        };
        let port =
            match self
                .port
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                None if scheme == "https" => 443,
                None => 80,
                Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                    format!("de.vertico.starface.callback.port `{p}` is not a port")
                })?,
            };
        let path = self.path.as_deref().map(str::trim).unwrap_or("");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let target = CallbackTarget {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path,
        };
        url::Url::parse(&target.url())
            .map_err(|e| format!("the callback parameters do not form a URL: {e}"))?;
        Ok(Some(target))
    }
}

fn authenticate(shared: &Shared, q: &QueryParams) -> Result<String, String> {
    let Some(value) = q.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Err("de.vertico.starface.auth is missing".into());
    };
    let Some(login) = auth::login_id_of(value) else {
        return Err("de.vertico.starface.auth is not <loginId>:<hash>".into());
    };
    let st = shared.lock();
    let Some(user) = st.user_by_login(login) else {
        return Err("unknown user or wrong password".into());
    };
    let expected = auth::uci_auth(login, &user.password_hash);
    if !auth::secrets_equal(value, &expected) {
        return Err("unknown user or wrong password".into());
    }
    if let Some(u) = q.user.as_deref().filter(|u| !u.is_empty())
        && u != login
    {
        return Err("de.vertico.starface.user does not match the auth value".into());
    }
    Ok(login.to_owned())
}

/// Index of the session a request belongs to: same user and callback; a request without
/// callback parameters belongs to the user's most recent session.
fn find_session(sessions: &[Session], req: &Request) -> Option<usize> {
    sessions
        .iter()
        .rposition(|s| s.login == req.login && s.callback == req.callback)
        .or_else(|| {
            if req.callback.is_none() {
                sessions.iter().rposition(|s| s.login == req.login)
            } else {
                None
            }
        })
}

fn with_session(
    shared: &Arc<Shared>,
    req: &Request,
    f: impl FnOnce(&mut Session) -> Outcome,
) -> Outcome {
    let ttl = shared.opts.session_ttl;
    let mut st = shared.lock();
    st.expire_sessions(ttl);
    let Some(i) = find_session(&st.sessions, req) else {
        return Err(not_logged_in(req));
    };
    let session = &mut st.sessions[i];
    session.last_seen = Instant::now();
    f(session)
}

fn not_logged_in(req: &Request) -> (i32, String) {
    (
        FAULT_APPLICATION,
        format!(
            "{}: not logged in (call connection.login first)",
            req.method
        ),
    )
}

fn connection(shared: &Arc<Shared>, req: &Request, op: &str) -> Outcome {
    let ttl = shared.opts.session_ttl;
    match op {
        "login" => {
            let mut st = shared.lock();
            st.expire_sessions(ttl);
            if let Some(i) = st
                .sessions
                .iter()
                .position(|s| s.login == req.login && s.callback == req.callback)
            {
                // A new login replaces the old session of the same client.
                st.sessions.remove(i);
            }
            let id = st.next_seq();
            let queue = callback::start_worker(shared, id);
            st.sessions.push(Session {
                id,
                login: req.login.clone(),
                api: req.api.clone(),
                auth: req.auth.clone(),
                callback: req.callback.clone(),
                subscriptions: Vec::new(),
                last_seen: Instant::now(),
                expired_by_control: false,
                queue: Some(queue),
            });
            tracing::info!(login = %req.login, session = id, api = %req.api, "UCI login");
            Ok(Value::Boolean(true))
        }
        // keepAlive (v22+) and probe (v20) answer false, not a fault, once the session is gone.
        "keepAlive" | "probe" => {
            let mut st = shared.lock();
            st.expire_sessions(ttl);
            match find_session(&st.sessions, req) {
                Some(i) => {
                    st.sessions[i].last_seen = Instant::now();
                    Ok(Value::Boolean(true))
                }
                None => Ok(Value::Boolean(false)),
            }
        }
        "logout" => {
            let mut st = shared.lock();
            if let Some(i) = find_session(&st.sessions, req) {
                st.sessions.remove(i);
            }
            Ok(Value::Boolean(true))
        }
        "setProvidedServices" => with_session(shared, req, |s| {
            let names = string_list(&req.params, 0, &req.method)?;
            for n in names {
                if calls::event_method(&n).is_some() && !s.subscriptions.contains(&n) {
                    s.subscriptions.push(n);
                }
            }
            Ok(Value::Boolean(true))
        }),
        _ => Err(unknown(req)),
    }
}

fn service(s: &mut Session, req: &Request, op: &str) -> Outcome {
    match op {
        "subscribeEvents" => {
            let names = string_list(&req.params, 0, &req.method)?;
            let mut all_known = true;
            for n in names {
                if calls::event_method(&n).is_none() {
                    all_known = false;
                } else if !s.subscriptions.contains(&n) {
                    s.subscriptions.push(n);
                }
            }
            Ok(Value::Boolean(all_known))
        }
        "unsubscribeEvents" => {
            let names = string_list(&req.params, 0, &req.method)?;
            s.subscriptions.retain(|x| !names.contains(x));
            Ok(Value::Boolean(true))
        }
        "getProvidedEvents" => Ok(Value::Array(vec![Value::from(format!(
            "ucp.{}.events.call",
            req.api
        ))])),
        "getProvidedRequests" => Ok(Value::Array(
            ["connection", "service", "call", "phone"]
                .iter()
                .map(|f| Value::from(format!("ucp.{}.requests.{f}", req.api)))
                .collect(),
        )),
        _ => Err(unknown(req)),
    }
}

fn call_request(shared: &Arc<Shared>, req: &Request, op: &str) -> Outcome {
    with_session(shared, req, |_| Ok(Value::Nil))?;
    match op {
        "placeCallWithPhone" | "placeCall" => {
            let number = opt_string(&req.params, 0, &req.method)?.unwrap_or_default();
            let number = number.trim().to_owned();
            if number.is_empty() {
                return Err((
                    FAULT_INVALID_PARAMS,
                    format!("{}: the number is empty", req.method),
                ));
            }
            let phone = opt_string(&req.params, 1, &req.method)?.unwrap_or_default();
            let wanted_id = opt_string(&req.params, 2, &req.method)?;
            {
                let st = shared.lock();
                let user = st
                    .user_by_login(&req.login)
                    .ok_or_else(|| not_logged_in(req))?;
                if !phone.is_empty() && !user.seed.phone_ids.contains(&phone) {
                    return Err((
                        FAULT_INVALID_PARAMS,
                        format!(
                            "{}: `{phone}` is not a phone of user {}",
                            req.method, req.login
                        ),
                    ));
                }
            }
            calls::place_call(shared, &req.login, &number, wanted_id)
                .map(Value::String)
                .map_err(|e| (FAULT_APPLICATION, format!("{}: {e}", req.method)))
        }
        "hangupCall" => {
            let id = opt_string(&req.params, 0, &req.method)?.unwrap_or_default();
            Ok(Value::Boolean(calls::hangup_by_user(
                shared, &req.login, &id,
            )))
        }
        "getCallIds" => {
            let st = shared.lock();
            Ok(Value::Array(
                calls::active_call_ids(&st, &req.login)
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ))
        }
        "getCallState" => {
            let id = opt_string(&req.params, 0, &req.method)?.unwrap_or_default();
            let st = shared.lock();
            st.calls
                .get(&id)
                .and_then(|c| c.views.get(&req.login))
                .map(|v| Value::Struct(calls::view_struct(v)))
                .ok_or_else(|| (FAULT_APPLICATION, format!("{}: no call `{id}`", req.method)))
        }
        "getPhoneIds" => phone_request(shared, req, op),
        _ => Err(unknown(req)),
    }
}

fn phone_request(shared: &Arc<Shared>, req: &Request, op: &str) -> Outcome {
    with_session(shared, req, |_| Ok(Value::Nil))?;
    let st = shared.lock();
    let user = st
        .user_by_login(&req.login)
        .ok_or_else(|| not_logged_in(req))?;
    match op {
        "getPhoneIds" => Ok(Value::Array(
            user.seed
                .phone_ids
                .iter()
                .map(|p| Value::from(p.as_str()))
                .collect(),
        )),
        "getPrimaryPhoneId" => Ok(Value::from(
            user.seed.phone_ids.first().cloned().unwrap_or_default(),
        )),
        "getAvailableDisplayNumbers" => {
            let mut numbers = vec![Value::Struct(
                Struct::new()
                    .with("number", user.external_number())
                    .with("name", user.display_name()),
            )];
            for g in st
                .groups
                .iter()
                .filter(|g| g.seed.members.contains(&req.login))
            {
                if let Some(ext) = &g.seed.external_number {
                    numbers.push(Value::Struct(
                        Struct::new()
                            .with("number", ext.replace(' ', ""))
                            .with("name", g.seed.name.as_str()),
                    ));
                }
            }
            Ok(Value::Array(numbers))
        }
        _ => Err(unknown(req)),
    }
}

fn unknown(req: &Request) -> (i32, String) {
    (
        FAULT_METHOD_NOT_FOUND,
        format!("no such method: {}", req.method),
    )
}

/// Parameter `i` as text; missing or nil is `None`. Scalars of other types are taken as text,
/// as clients differ in how they send ids.
fn opt_string(params: &[Value], i: usize, method: &str) -> Result<Option<String>, (i32, String)> {
    match params.get(i) {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => v.to_text().map(|t| Some(t.into_owned())).ok_or_else(|| {
            (
                FAULT_INVALID_PARAMS,
                format!(
                    "{method}: parameter {} must be a string, not {}",
                    i + 1,
                    v.type_name()
                ),
            )
        }),
    }
}

/// Parameter `i` as a list of strings: one string or an array of strings.
fn string_list(params: &[Value], i: usize, method: &str) -> Result<Vec<String>, (i32, String)> {
    let bad = |what: &str| {
        (
            FAULT_INVALID_PARAMS,
            format!(
                "{method}: parameter {} must be a string or an array of strings, not {what}",
                i + 1
            ),
        )
    };
    match params.get(i) {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(v.type_name()))
            })
            .collect(),
        Some(other) => Err(bad(other.type_name())),
        None => Err(bad("nothing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_of_all_generations_are_recognised() {
        assert_eq!(
            parse_method("ucp.v22.requests.connection.login"),
            Some(("v22", Family::Connection, "login"))
        );
        assert_eq!(
            parse_method("ucp.v20.server.connection.probe"),
            Some(("v20", Family::Connection, "probe"))
        );
        assert_eq!(
            parse_method("ucp.v30.server.communication.call.placeCall"),
            Some(("v30", Family::Call, "placeCall"))
        );
        assert_eq!(
            parse_method("ucp.v30.requests.phone.getPhoneIds"),
            Some(("v30", Family::Phone, "getPhoneIds"))
        );
        assert_eq!(parse_method("ucp.v99.requests.connection.login"), None);
        assert_eq!(parse_method("system.listMethods"), None);
    }

    #[test]
    fn callback_parameters_default_port_and_path_by_type() {
        let q = QueryParams::parse(
            "de.vertico.starface.callback.host=crm.example.com&de.vertico.starface.callback.type=https&de.vertico.starface.callback.path=cb",
        );
        let t = q.callback().ok().flatten();
        assert_eq!(
            t.map(|t| t.url()).as_deref(),
            Some("https://crm.example.com:443/cb")
        );
        let q = QueryParams::parse(
            "de_vertico_starface_callback_host=h&de_vertico_starface_callback_port=x",
        );
        assert!(q.callback().is_err());
    }
}
