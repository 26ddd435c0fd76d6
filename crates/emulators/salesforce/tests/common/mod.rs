//! Shared set-up: an org on 127.0.0.1:0 and an HTTP client with a time bound.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use ctibridge_emulator_salesforce::{Options, RunningOrg, spawn};
use serde_json::Value;

pub const KEY: &str = "demo-consumer-key";
pub const SECRET: &str = "demo-consumer-secret";

pub async fn org_with(opts: Options) -> RunningOrg {
    spawn("127.0.0.1:0".parse().unwrap(), opts).await.unwrap()
}

pub async fn org() -> RunningOrg {
    org_with(Options::default()).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn url(org: &RunningOrg, path: &str) -> String {
    format!("{}{}", org.url().as_str().trim_end_matches('/'), path)
}

/// A client-credentials token.
pub async fn token(org: &RunningOrg) -> String {
    let res = client()
        .post(url(org, "/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", KEY),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// GET a REST path (relative to /services/data/v62.0) with a token.
pub async fn get(org: &RunningOrg, tok: &str, path: &str) -> reqwest::Response {
    client()
        .get(url(org, &format!("/services/data/v62.0{path}")))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap()
}

/// Runs a SOQL query and returns the first page.
pub async fn query(org: &RunningOrg, tok: &str, q: &str) -> reqwest::Response {
    client()
        .get(url(org, "/services/data/v62.0/query/"))
        .query(&[("q", q)])
        .bearer_auth(tok)
        .send()
        .await
        .unwrap()
}

pub async fn send_json(
    org: &RunningOrg,
    tok: &str,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    client()
        .request(method, url(org, &format!("/services/data/v62.0{path}")))
        .bearer_auth(tok)
        .json(body)
        .send()
        .await
        .unwrap()
}
