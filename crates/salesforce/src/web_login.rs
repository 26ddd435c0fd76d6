//! The panel user's login: OAuth web-server flow with PKCE, then `userinfo` with that user's token.
//!
//! These calls use the user's token, never the client-credentials token: only the user's own
//! token tells who sits in front of the panel.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ctibridge_domain::{Email, SalesforceId};
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::auth::{post_token_form, safe_json_error};
use crate::client::SalesforceClient;
use crate::error::{SalesforceError, TokenError, parse_error_body};

/// A token issued to a Salesforce user through the web-server flow.
#[derive(Debug, Clone, Deserialize)]
pub struct UserToken {
    /// The user's access token.
    pub access_token: SecretString,
    /// The instance that serves the user's org.
    pub instance_url: Url,
    /// The user's identity URL (`https://login.salesforce.com/id/<org id>/<user id>`).
    #[serde(default)]
    pub id: Option<String>,
}

/// Who the user is, from `/services/oauth2/userinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    /// The identity URL.
    #[serde(default)]
    pub sub: Option<String>,
    /// The user's record id (`005...`).
    pub user_id: SalesforceId,
    /// The org's id (`00D...`).
    pub organization_id: SalesforceId,
    /// The Salesforce username (looks like an e-mail but need not be one).
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's e-mail address, the key that links to a STARFACE user.
    pub email: Email,
    /// Whether Salesforce verified the e-mail.
    #[serde(default)]
    pub email_verified: Option<bool>,
}

/// A PKCE verifier (kept until the code comes back) and its S256 challenge (sent with the redirect).
pub fn pkce_pair() -> (SecretString, String) {
    let bytes: [u8; 32] = rand::random();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = pkce_challenge(&verifier);
    (SecretString::from(verifier), challenge)
}

/// The S256 challenge of a verifier: unpadded base64url of its SHA-256 (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl SalesforceClient {
    /// Where to send the user's browser to log in: the org's `/services/oauth2/authorize`.
    pub fn authorize_url(&self, redirect_uri: &Url, state: &str, code_challenge: &str) -> Url {
        let mut url = self.credentials().endpoint("/services/oauth2/authorize");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.credentials().client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url
    }

    /// Trades the authorization code from the redirect for the user's token.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &Url,
        code_verifier: &SecretString,
    ) -> Result<UserToken, TokenError> {
        let creds = self.credentials();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", creds.client_id.as_str()),
            // Connected apps require the secret for this flow unless the admin turned that off.
            ("client_secret", creds.client_secret.expose_secret()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", code_verifier.expose_secret()),
        ];
        post_token_form(self.http(), creds.endpoint("/services/oauth2/token"), &form).await
    }

    /// Describes the user a web-server-flow token belongs to.
    pub async fn userinfo(&self, user: &UserToken) -> Result<UserInfo, SalesforceError> {
        let mut url = user.instance_url.clone();
        url.set_path("/services/oauth2/userinfo");
        url.set_query(None);
        let response = self
            .http()
            .get(url)
            .bearer_auth(user.access_token.expose_secret())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(SalesforceError::Transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(SalesforceError::Transport)?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            // Salesforce answers a bad or expired user token with 403 and a bare `Bad_OAuth_Token`.
            let code = parse_error_body(&body)
                .into_iter()
                .next()
                .map(|e| {
                    if e.error_code.is_empty() {
                        e.message
                    } else {
                        e.error_code
                    }
                })
                .unwrap_or_default();
            return Err(SalesforceError::Unauthorized {
                error_code: code,
                message: "the user's token is no longer valid; the user must log in again"
                    .to_owned(),
            });
        }
        if !status.is_success() {
            return Err(SalesforceError::from_response(
                status.as_u16(),
                &body,
                None,
                None,
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| SalesforceError::decode("userinfo", safe_json_error(&e)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use crate::auth::Credentials;
    use ctibridge_domain::LoginUrl;

    #[test]
    fn pkce_challenge_matches_the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_pairs_are_fresh_and_fit_the_rfc_length() {
        let (v1, c1) = pkce_pair();
        let (v2, _) = pkce_pair();
        assert_ne!(v1.expose_secret(), v2.expose_secret());
        assert!((43..=128).contains(&v1.expose_secret().len()));
        assert_eq!(pkce_challenge(v1.expose_secret()), c1);
    }

    #[test]
    fn authorize_url_carries_the_pkce_challenge_and_redirect() {
        let client = SalesforceClient::builder(Credentials {
            login_url: LoginUrl::parse("https://acme.my.salesforce.com/")
                .unwrap()
                .0,
            client_id: "demo-consumer-key".into(),
            client_secret: SecretString::from("demo-consumer-secret"),
        })
        .build()
        .unwrap();
        let redirect = Url::parse("https://ctibridge.example.com/panel/oauth/callback").unwrap();
        let url = client.authorize_url(&redirect, "st&ate", "chal");
        assert_eq!(url.path(), "/services/oauth2/authorize");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("demo-consumer-key"));
        assert_eq!(get("redirect_uri"), Some(redirect.as_str()));
        assert_eq!(get("state"), Some("st&ate"));
        assert_eq!(get("code_challenge"), Some("chal"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert!(!url.as_str().contains("demo-consumer-secret"));
    }

    #[test]
    fn userinfo_parses_salesforces_fields() {
        let body = r#"{"sub":"https://login.salesforce.com/id/00D000000000001EAA/005000000000001AAA","user_id":"005000000000001AAA","organization_id":"00D000000000001EAA","preferred_username":"ben.utzer@example.com.acme","name":"Ben Utzer","email":"ben.utzer@example.com","email_verified":true,"zoneinfo":"Europe/Berlin"}"#;
        let info: UserInfo = serde_json::from_str(body).unwrap();
        assert_eq!(info.email.as_str(), "ben.utzer@example.com");
        assert_eq!(info.user_id.as_str(), "005000000000001AAA");
    }
}
