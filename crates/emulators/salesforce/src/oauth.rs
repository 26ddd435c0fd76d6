//! `/services/oauth2/*`: client credentials, web-server flow with PKCE, userinfo,
//! introspection and revocation, with Salesforce's error bodies.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::errors::{json_value, oauth_error};
use crate::org::{AuthCode, Org, random_token};
use crate::rest::bearer;
use crate::seed::OrgUser;
use crate::time::{self, Millis};

/// Authorization codes are good for 15 minutes.
const CODE_LIFETIME_MS: Millis = 15 * 60 * 1000;

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<_>>());
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<_>>());
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// Client id and secret from the form or from HTTP Basic authentication.
fn client_credentials(
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (f.get("client_id").cloned(), f.get("client_secret").cloned()),
    }
}

fn token_response(
    org: &Org,
    user_id: &str,
    client_id: &str,
    scope: &str,
    refresh: Option<String>,
) -> Response {
    let (token, issued) = org.issue_token(user_id, client_id, scope);
    let id = org.identity_url(user_id);
    let issued_at = issued.to_string();
    let signature = STANDARD.encode(hmac_sha256(
        org.client_secret.as_bytes(),
        format!("{id}{issued_at}").as_bytes(),
    ));
    let mut body = json!({
        "access_token": token,
        "signature": signature,
        "scope": scope,
        "instance_url": org.origin(),
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    if let (Some(r), Value::Object(m)) = (refresh, &mut body) {
        m.insert("refresh_token".into(), Value::String(r));
    }
    json_value(StatusCode::OK, &body)
}

/// `POST /services/oauth2/token`.
pub(crate) async fn token(
    State(org): State<Arc<Org>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let (client_id, secret) = client_credentials(&headers, &f);
    let bad = |e: &str, d: &str| oauth_error(StatusCode::BAD_REQUEST, e, d);
    let grant = f.get("grant_type").map(String::as_str).unwrap_or("");
    let known = matches!(
        grant,
        "client_credentials" | "authorization_code" | "refresh_token"
    );
    if !known {
        return bad("unsupported_grant_type", "grant type not supported");
    }
    if client_id.as_deref() != Some(org.client_id.as_str()) {
        return bad("invalid_client_id", "client identifier invalid");
    }
    let secret_ok = secret.as_deref() == Some(org.client_secret.as_str());
    match grant {
        "client_credentials" => {
            if !secret_ok {
                return bad("invalid_client", "invalid client credentials");
            }
            let enabled = org.state().faults.runas_user_enabled;
            let Some(user) = org.run_as().filter(|_| enabled) else {
                return bad("invalid_grant", "no client credentials user enabled");
            };
            token_response(&org, &user.id, &org.client_id, "api", None)
        }
        "authorization_code" => {
            // PKCE clients may leave the secret out; a wrong one is still refused.
            if secret.is_some() && !secret_ok {
                return bad("invalid_client", "invalid client credentials");
            }
            let code = f.get("code").cloned().unwrap_or_default();
            let Some(auth) = org.state().codes.remove(&code) else {
                return bad("invalid_grant", "invalid authorization code");
            };
            if time::now_ms() - auth.issued_ms > CODE_LIFETIME_MS {
                return bad("invalid_grant", "expired authorization code");
            }
            if f.get("redirect_uri").map(String::as_str) != Some(auth.redirect_uri.as_str()) {
                return bad(
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                );
            }
            if let Some((challenge, method)) = &auth.challenge {
                let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                let computed = if method == "plain" {
                    verifier.clone()
                } else {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
                };
                if verifier.is_empty() || &computed != challenge {
                    return bad("invalid_grant", "invalid code verifier");
                }
            } else if !secret_ok {
                return bad("invalid_client", "invalid client credentials");
            }
            let refresh = auth
                .scope
                .split_whitespace()
                .any(|s| s == "refresh_token" || s == "offline_access")
                .then(|| {
                    let r = format!("5Aep{}", random_token(83));
                    org.state()
                        .refresh_tokens
                        .insert(r.clone(), (auth.user_id.clone(), auth.scope.clone()));
                    r
                });
            token_response(&org, &auth.user_id, &org.client_id, &auth.scope, refresh)
        }
        _ => {
            let r = f.get("refresh_token").cloned().unwrap_or_default();
            let Some((user_id, scope)) = org.state().refresh_tokens.get(&r).cloned() else {
                return bad("invalid_grant", "expired access/refresh token");
            };
            token_response(&org, &user_id, &org.client_id, &scope, None)
        }
    }
}

fn error_page(status: StatusCode, error: &str, description: &str) -> Response {
    let text = format!(
        "error={error}&error_description={}",
        description.replace(' ', "%20")
    );
    (
        status,
        Html(format!("<!doctype html><title>Error</title><p>{text}</p>")),
    )
        .into_response()
}

fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "redirect_uri_mismatch",
                "redirect_uri must match configuration",
            );
        }
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    // Salesforce answers the authorize step with 302 Found.
    (
        StatusCode::FOUND,
        [(header::LOCATION, url.as_str().to_owned())],
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The checks and the decision of the authorize endpoint, shared by GET and POST.
fn authorize_inner(org: &Org, p: &HashMap<String, String>, chosen: Option<&OrgUser>) -> Response {
    if p.get("client_id").map(String::as_str) != Some(org.client_id.as_str()) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        );
    }
    let redirect = p.get("redirect_uri").cloned().unwrap_or_default();
    let allowed = org.state().allowed_redirects.clone();
    let redirect_ok = url::Url::parse(&redirect).is_ok()
        && allowed
            .as_ref()
            .is_none_or(|list| list.iter().any(|u| u == &redirect));
    if !redirect_ok {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    }
    let state = p.get("state").cloned();
    let fail = |error: &str, description: &str| {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = &state {
            pairs.push(("state", s.as_str()));
        }
        redirect_with(&redirect, &pairs)
    };
    if p.get("response_type").map(String::as_str) != Some("code") {
        return fail("unsupported_response_type", "response type not supported");
    }
    let challenge = match (
        p.get("code_challenge"),
        p.get("code_challenge_method").map(String::as_str),
    ) {
        (None, _) => None,
        (Some(c), None | Some("S256")) => Some((c.clone(), "S256".to_owned())),
        (Some(c), Some("plain")) => Some((c.clone(), "plain".to_owned())),
        (Some(_), Some(_)) => return fail("invalid_request", "invalid code_challenge_method"),
    };
    let hint = p.get("login_hint").and_then(|h| org.user_by_username(h));
    let Some(user) = chosen.or(hint).filter(|u| u.is_active) else {
        return login_page(org, p);
    };
    let code = format!("aPrx{}", random_token(60));
    org.state().codes.insert(
        code.clone(),
        AuthCode {
            user_id: user.id.clone(),
            redirect_uri: redirect.clone(),
            challenge,
            scope: p
                .get("scope")
                .cloned()
                .unwrap_or_else(|| "api id".to_owned()),
            issued_ms: time::now_ms(),
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &state {
        pairs.push(("state", s.as_str()));
    }
    redirect_with(&redirect, &pairs)
}

fn login_page(org: &Org, p: &HashMap<String, String>) -> Response {
    let hidden: String = p
        .iter()
        .filter(|(k, _)| k.as_str() != "username")
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let buttons: String = org
        .users
        .iter()
        .filter(|u| u.is_active)
        .map(|u| {
            format!(
                r#"<button type="submit" name="username" value="{}">{} {} &lt;{}&gt;</button>"#,
                html_escape(&u.username),
                html_escape(&u.first_name),
                html_escape(&u.last_name),
                html_escape(&u.email)
            )
        })
        .collect::<Vec<_>>()
        .join("<br>");
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Login | Salesforce (emulated)</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:3em auto}}button{{margin:.3em 0;padding:.5em 1em;width:100%;text-align:left}}</style></head>
<body><h1>Log in to the emulated org</h1><p>Pick the user to log in as.</p>
<form method="post" action="/services/oauth2/authorize">{hidden}{buttons}</form></body></html>"#
    ))
    .into_response()
}

/// `GET /services/oauth2/authorize`: the login page, or straight back with a code when
/// `login_hint` names a user.
pub(crate) async fn authorize(
    State(org): State<Arc<Org>>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    authorize_inner(&org, &p, None)
}

/// `POST /services/oauth2/authorize`: the login page's form.
pub(crate) async fn authorize_post(State(org): State<Arc<Org>>, body: Bytes) -> Response {
    let p = form(&body);
    let chosen = p
        .get("username")
        .and_then(|u| org.user_by_username(u))
        .cloned();
    authorize_inner(&org, &p, chosen.as_ref())
}

fn bad_token() -> Response {
    (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response()
}

fn user_json(org: &Org, u: &OrgUser) -> Value {
    // Salesforce's identity service really returns the `{version}` placeholder.
    let b = "/services/data/v{version}";
    json!({
        "sub": org.identity_url(&u.id),
        "user_id": u.id,
        "organization_id": org.org_id,
        "preferred_username": u.username,
        "nickname": u.first_name.to_lowercase(),
        "name": format!("{} {}", u.first_name, u.last_name),
        "email": u.email,
        "email_verified": true,
        "given_name": u.first_name,
        "family_name": u.last_name,
        "zoneinfo": "Europe/Berlin",
        "photos": {},
        "profile": format!("{}/{}", org.origin(), u.id),
        "picture": Value::Null,
        "address": {},
        "is_salesforce_integration_user": u.username == crate::seed::RUN_AS_USERNAME,
        "urls": {
            "rest": format!("{}{b}/", org.origin()),
            "sobjects": format!("{}{b}/sobjects/", org.origin()),
            "query": format!("{}{b}/query/", org.origin()),
            "search": format!("{}{b}/search/", org.origin()),
            "profile": format!("{}/{}", org.origin(), u.id),
        },
        "active": u.is_active,
        "user_type": "STANDARD",
        "language": "de",
        "locale": "de_DE",
        "utcOffset": 3600000,
        "updated_at": "2024-01-01T00:00:00Z",
        "is_app_installed": true,
    })
}

/// `GET|POST /services/oauth2/userinfo`: the user behind the bearer token.
pub(crate) async fn userinfo(State(org): State<Arc<Org>>, headers: HeaderMap) -> Response {
    let Some(s) = bearer(&headers).and_then(|t| org.session(t)) else {
        return bad_token();
    };
    match org.user(&s.user_id) {
        Some(u) => json_value(StatusCode::OK, &user_json(&org, u)),
        None => bad_token(),
    }
}

/// `GET /id/{org}/{user}`: the identity URL.
pub(crate) async fn identity(
    State(org): State<Arc<Org>>,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if bearer(&headers).and_then(|t| org.session(t)).is_none() {
        return bad_token();
    }
    let user = crate::ids::normalize(&user_id).and_then(|id| org.user(&id).cloned());
    match (
        crate::ids::normalize(&org_id) == Some(org.org_id.clone()),
        user,
    ) {
        (true, Some(u)) => {
            let mut v = user_json(&org, &u);
            if let Value::Object(m) = &mut v {
                m.insert("id".into(), json!(org.identity_url(&u.id)));
                m.insert("username".into(), json!(u.username));
                m.insert(
                    "display_name".into(),
                    json!(format!("{} {}", u.first_name, u.last_name)),
                );
                m.insert("first_name".into(), json!(u.first_name));
                m.insert("last_name".into(), json!(u.last_name));
            }
            json_value(StatusCode::OK, &v)
        }
        _ => (StatusCode::NOT_FOUND, "Bad_Id").into_response(),
    }
}

/// `POST /services/oauth2/introspect`.
pub(crate) async fn introspect(
    State(org): State<Arc<Org>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let (id, secret) = client_credentials(&headers, &f);
    if id.as_deref() != Some(org.client_id.as_str())
        || secret.as_deref() != Some(org.client_secret.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "invalid client credentials",
        );
    }
    let token = f.get("token").cloned().unwrap_or_default();
    let Some(s) = org.session(&token) else {
        return json_value(StatusCode::OK, &json!({ "active": false }));
    };
    let lifetime = i64::try_from(org.state().faults.token_lifetime_secs).unwrap_or(0);
    let iat = s.issued_ms / 1000;
    let username = org
        .user(&s.user_id)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    json_value(
        StatusCode::OK,
        &json!({
            "active": true,
            "scope": s.scope,
            "client_id": s.client_id,
            "username": username,
            "sub": org.identity_url(&s.user_id),
            "token_type": "access_token",
            "exp": iat + lifetime,
            "iat": iat,
            "nbf": iat,
        }),
    )
}

/// `POST|GET /services/oauth2/revoke`.
pub(crate) async fn revoke(
    State(org): State<Arc<Org>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let token = f
        .get("token")
        .or_else(|| q.get("token"))
        .cloned()
        .unwrap_or_default();
    let mut st = org.state();
    let found = st.sessions.remove(&token).is_some() || st.refresh_tokens.remove(&token).is_some();
    drop(st);
    if found {
        StatusCode::OK.into_response()
    } else {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_token", "invalid token")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
