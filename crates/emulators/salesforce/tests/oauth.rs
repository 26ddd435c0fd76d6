//! OAuth endpoints through real HTTP: client credentials, PKCE, userinfo, introspection.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn token_request(
    org: &ctibridge_emulator_salesforce::RunningOrg,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = client()
        .post(url(org, "/services/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn client_credentials_token_has_salesforce_fields_and_no_expiry() {
    let org = org().await;
    let (status, body) = token_request(
        &org,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "id",
            "instance_url",
            "issued_at",
            "scope",
            "signature",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["instance_url"],
        org.url().as_str().trim_end_matches('/')
    );
    assert!(body["issued_at"].as_str().unwrap().parse::<u64>().is_ok());
    let run_as = org
        .control()
        .users()
        .into_iter()
        .find(|u| u.username == "integration@example.com")
        .unwrap();
    assert!(body["id"].as_str().unwrap().ends_with(&run_as.id));
}

#[tokio::test]
async fn basic_client_authentication_is_accepted() {
    let org = org().await;
    let res = client()
        .post(url(&org, "/services/oauth2/token"))
        .basic_auth(KEY, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn token_errors_are_worded_like_salesforce() {
    let org = org().await;
    let cases = [
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nope"),
                ("client_secret", SECRET),
            ],
            json!({"error": "invalid_client_id", "error_description": "client identifier invalid"}),
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", KEY),
                ("client_secret", "wrong "),
            ],
            json!({"error": "invalid_client", "error_description": "invalid client credentials"}),
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", KEY),
                ("client_secret", SECRET),
            ],
            json!({"error": "unsupported_grant_type", "error_description": "grant type not supported"}),
        ),
    ];
    for (form, want) in cases {
        let (status, body) = token_request(&org, &form).await;
        assert_eq!((status, body), (400, want));
    }
}

#[tokio::test]
async fn missing_run_as_user_gives_invalid_grant() {
    let org = org().await;
    org.control().set_runas_user_enabled(false);
    let (status, body) = token_request(
        &org,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "no client credentials user enabled"})
    );
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(location).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn pkce_login_gives_the_chosen_users_userinfo() {
    let org = org().await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-this-is-long-enough";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/panel/callback";
    let res = client()
        .get(url(&org, "/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", KEY),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
            ("login_hint", "Clara.Klein@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(redirect));
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    let code = query_param(&location, "code").unwrap();

    // A wrong verifier is refused and burns nothing but that attempt's code.
    let (status, body) = token_request(
        &org,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", KEY),
            ("redirect_uri", redirect),
            ("code", code.as_str()),
            ("code_verifier", "wrong-verifier"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // Log in again and exchange correctly.
    let res = client()
        .get(url(&org, "/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", KEY),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", "clara.klein@example.com"),
        ])
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let code = query_param(&location, "code").unwrap();
    let (status, body) = token_request(
        &org,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", KEY),
            ("redirect_uri", redirect),
            ("code", code.as_str()),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let info: Value = client()
        .get(url(&org, "/services/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "clara.klein@example.com");
    assert_eq!(info["preferred_username"], "clara.klein@example.com");
    assert_eq!(info["name"], "Clara Klein");
    assert_eq!(info["organization_id"], org.control().org_id());
    assert!(info["user_id"].as_str().unwrap().starts_with("005"));

    // Codes are single-use.
    let (status, body) = token_request(
        &org,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", KEY),
            ("redirect_uri", redirect),
            ("code", code.as_str()),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn authorize_without_hint_shows_a_login_page_listing_users() {
    let org = org().await;
    let res = client()
        .get(url(&org, "/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", KEY),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("ben.utzer@example.com"));
    assert!(page.contains("gina.gone@example.com"));

    // Choosing a user in the form redirects with a code.
    let res = client()
        .post(url(&org, "/services/oauth2/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", KEY),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("username", "ben.utzer@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("code=")
    );
}

#[tokio::test]
async fn authorize_rejects_an_unknown_client() {
    let org = org().await;
    let res = client()
        .get(url(&org, "/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("error=invalid_client_id")
    );
}

#[tokio::test]
async fn introspection_reports_active_then_inactive_after_revoke() {
    let org = org().await;
    let tok = token(&org).await;
    let intro = |t: String| {
        let org_url = url(&org, "/services/oauth2/introspect");
        async move {
            client()
                .post(org_url)
                .form(&[
                    ("token", t.as_str()),
                    ("token_type_hint", "access_token"),
                    ("client_id", KEY),
                    ("client_secret", SECRET),
                ])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let body = intro(tok.clone()).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "integration@example.com");
    assert_eq!(body["client_id"], KEY);
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());

    let res = client()
        .post(url(&org, "/services/oauth2/revoke"))
        .form(&[("token", tok.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(intro(tok.clone()).await, json!({"active": false}));
    assert_eq!(get(&org, &tok, "/limits").await.status(), 401);
}

#[tokio::test]
async fn userinfo_with_a_bad_token_is_forbidden() {
    let org = org().await;
    let res = client()
        .get(url(&org, "/services/oauth2/userinfo"))
        .bearer_auth("00Dxx!nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.text().await.unwrap(), "Bad_OAuth_Token");
}

#[tokio::test]
async fn signature_is_the_hmac_of_id_and_issued_at() {
    let org = org().await;
    let (_, body) = token_request(
        &org,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ],
    )
    .await;
    // Recompute HMAC-SHA256(secret, id + issued_at) independently.
    let msg = format!(
        "{}{}",
        body["id"].as_str().unwrap(),
        body["issued_at"].as_str().unwrap()
    );
    let mut key = [0u8; 64];
    key[..SECRET.len()].copy_from_slice(SECRET.as_bytes());
    let ipad: Vec<u8> = key.iter().map(|b| b ^ 0x36).chain(msg.bytes()).collect();
    let inner = Sha256::digest(&ipad);
    let opad: Vec<u8> = key
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    assert_eq!(body["signature"], STANDARD.encode(Sha256::digest(&opad)));
}
