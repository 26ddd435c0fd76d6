//! A signed-in admin of the admin UI's API: the session cookie and the CSRF token, as the
//! browser holds them.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// A signed-in admin.
pub struct Admin {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

/// Posts a sign-in and returns the answer as it is.
pub async fn try_login(base: &str, login: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/admin/api/login"))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Signs in; the sign-in must succeed.
pub async fn login(base: &str, login: &str, password: &str) -> Admin {
    let resp = try_login(base, login, password).await;
    assert_eq!(resp.status(), StatusCode::OK, "sign-in of {login}");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    Admin {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        cookie,
        csrf: body["csrf"].as_str().unwrap().to_owned(),
    }
}

impl Admin {
    /// The demo PBX's administrator (0001).
    pub async fn sign_in(base: &str) -> Admin {
        login(base, "0001", "admin-pass").await
    }

    /// A GET with the session cookie.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
    }

    /// A request that changes something: cookie and CSRF token.
    pub fn send(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
    }

    /// A GET that must answer 200, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        resp.json().await.unwrap()
    }

    /// Any request with cookie and CSRF token; the status and the JSON answer (null if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.send(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A PUT of a JSON body with cookie and CSRF token.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }
}
