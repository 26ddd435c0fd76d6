//! The Salesforce login URL an admin pastes, turned into the org's API origin.

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

use crate::excerpt;
use crate::serde_str::serde_via_str;

const MY_DOMAIN_SUFFIX: &str = ".my.salesforce.com";
const LIGHTNING_SUFFIX: &str = ".lightning.force.com";
const SETUP_SUFFIX: &str = ".my.salesforce-setup.com";
const VISUALFORCE_SUFFIX: &str = ".vf.force.com";
const GENERIC_LOGIN_HOSTS: [&str; 2] = ["login.salesforce.com", "test.salesforce.com"];

/// The origin of a Salesforce org (`https://acme.my.salesforce.com`), for the token request and
/// every REST call.
///
/// Admins paste whatever their browser shows: a Lightning page, a Setup page, a Visualforce
/// page, with or without scheme, with stray whitespace. [`LoginUrl::parse`] turns each of those
/// into the org's My Domain origin and lists every change it made ([`LoginUrlFix`]) so that the
/// admin UI and `ctibridge doctor` can say so. It accepts:
///
/// - `https://<name>.my.salesforce.com` (also `.sandbox.`, `.develop.`, `.scratch.` forms) as is;
/// - `https://<name>.lightning.force.com/...` -> `https://<name>.my.salesforce.com`, likewise
///   `<name>.my.salesforce-setup.com` and `<name>--<pkg>.vf.force.com`;
/// - `https://login.salesforce.com` and `https://test.salesforce.com`, flagged as
///   [`LoginUrlKind::GenericLogin`]: the client-credentials flow needs the My Domain;
/// - `http://` or `https://` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`) with any
///   port, for the emulator; plain `http` is refused everywhere else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginUrl {
    url: Url,
    kind: LoginUrlKind,
}

/// What kind of host a [`LoginUrl`] points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginUrlKind {
    /// The org's own My Domain: what the client-credentials flow needs.
    MyDomain,
    /// `login.salesforce.com` or `test.salesforce.com`: fine for browser logins, but token
    /// requests with client credentials fail there ("request not supported on this domain").
    GenericLogin,
    /// A loopback address: a local emulator.
    Loopback,
}

/// One correction [`LoginUrl::parse`] made to the input; `Display` says it in words.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoginUrlFix {
    /// Whitespace around the input was removed.
    TrimmedWhitespace,
    /// The input had no scheme; `https://` was added.
    AddedScheme,
    /// `http://` on a Salesforce host became `https://`.
    UpgradedToHttps,
    /// A Lightning host became the My Domain host.
    LightningToMyDomain {
        /// The host given.
        from: String,
        /// The My Domain host used.
        to: String,
    },
    /// A Setup host (`.my.salesforce-setup.com`) became the My Domain host.
    SetupToMyDomain {
        /// The host given.
        from: String,
        /// The My Domain host used.
        to: String,
    },
    /// A Visualforce host (`--<pkg>.vf.force.com`) became the My Domain host.
    VisualforceToMyDomain {
        /// The host given.
        from: String,
        /// The My Domain host used.
        to: String,
    },
    /// A path, query or fragment was removed; only the origin is used.
    DroppedPath {
        /// What was removed.
        dropped: String,
    },
}

impl fmt::Display for LoginUrlFix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrimmedWhitespace => f.write_str("removed whitespace around the URL"),
            Self::AddedScheme => f.write_str("added the missing https://"),
            Self::UpgradedToHttps => {
                f.write_str("changed http:// to https:// (Salesforce only speaks https)")
            }
            Self::LightningToMyDomain { from, to } => write!(
                f,
                "changed the Lightning address {from} to the org's My Domain {to} (the API is served there)"
            ),
            Self::SetupToMyDomain { from, to } => write!(
                f,
                "changed the Setup address {from} to the org's My Domain {to} (the API is served there)"
            ),
            Self::VisualforceToMyDomain { from, to } => write!(
                f,
                "changed the Visualforce address {from} to the org's My Domain {to} (the API is served there)"
            ),
            Self::DroppedPath { dropped } => {
                write!(f, "removed {dropped} (only the scheme and host are used)")
            }
        }
    }
}

/// Why a string cannot be turned into a Salesforce login URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginUrlError {
    /// Nothing but whitespace.
    #[error(
        "the Salesforce login URL is empty; use your org's My Domain, such as https://acme.my.salesforce.com"
    )]
    Empty,
    /// Not a URL at all.
    #[error(
        "`{input}` is not a URL ({reason}); use your org's My Domain, such as https://acme.my.salesforce.com"
    )]
    Malformed {
        /// Excerpt of the input.
        input: String,
        /// What the URL parser said.
        reason: String,
    },
    /// A scheme other than http/https.
    #[error("`{scheme}://` is not supported; Salesforce URLs start with https://")]
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// Plain http to a host that is neither Salesforce nor loopback.
    #[error(
        "http:// is only allowed for a local emulator on 127.0.0.1 or localhost, not for {host}"
    )]
    InsecureHttp {
        /// The host given.
        host: String,
    },
    /// A user name or password inside the URL.
    #[error(
        "the login URL contains a user name or password; remove it (credentials go in client_id/client_secret)"
    )]
    Credentials,
    /// A port on a Salesforce host.
    #[error("Salesforce serves {host} on the standard https port only; remove :{port}")]
    UnexpectedPort {
        /// The host given.
        host: String,
        /// The port given.
        port: u16,
    },
    /// A host that is not a Salesforce org address.
    #[error(
        "{host} is not a Salesforce org address; use your org's My Domain, such as \
         https://acme.my.salesforce.com (Setup > My Domain shows it)"
    )]
    NotSalesforce {
        /// The host given.
        host: String,
    },
}

impl LoginUrl {
    /// Parses what an admin pasted; returns the origin and every correction made on the way.
    pub fn parse(input: &str) -> Result<(Self, Vec<LoginUrlFix>), LoginUrlError> {
        let mut fixes = Vec::new();
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(LoginUrlError::Empty);
        }
        if trimmed.len() != input.len() {
            fixes.push(LoginUrlFix::TrimmedWhitespace);
        }
        let with_scheme;
        let text = if trimmed.contains("://") {
            trimmed
        } else {
            fixes.push(LoginUrlFix::AddedScheme);
            with_scheme = format!("https://{trimmed}");
            &with_scheme
        };
        let url = Url::parse(text).map_err(|e| LoginUrlError::Malformed {
            input: excerpt(trimmed),
            reason: e.to_string(),
        })?;
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(LoginUrlError::UnsupportedScheme {
                scheme: excerpt(scheme),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(LoginUrlError::Credentials);
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(LoginUrlError::Malformed {
                input: excerpt(trimmed),
                reason: "no host".to_owned(),
            });
        }

        let (kind, scheme, host) = if is_loopback(&url) {
            (LoginUrlKind::Loopback, scheme, host)
        } else {
            let (kind, my_host) = salesforce_host(&host, &mut fixes)?;
            if let Some(port) = url.port() {
                return Err(LoginUrlError::UnexpectedPort { host, port });
            }
            if scheme == "http" {
                // Insert before the host fix so the list reads in input order.
                let at = fixes
                    .iter()
                    .position(|f| {
                        !matches!(f, LoginUrlFix::TrimmedWhitespace | LoginUrlFix::AddedScheme)
                    })
                    .unwrap_or(fixes.len());
                fixes.insert(at, LoginUrlFix::UpgradedToHttps);
            }
            (kind, "https", my_host)
        };

        let mut dropped = String::new();
        if url.path() != "/" {
            dropped.push_str(url.path());
        }
        if let Some(q) = url.query() {
            dropped.push('?');
            dropped.push_str(q);
        }
        if let Some(frag) = url.fragment() {
            dropped.push('#');
            dropped.push_str(frag);
        }
        if !dropped.is_empty() {
            fixes.push(LoginUrlFix::DroppedPath {
                dropped: excerpt(&dropped),
            });
        }

        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let origin = Url::parse(&format!("{scheme}://{host}{port}/")).map_err(|e| {
            LoginUrlError::Malformed {
                input: excerpt(trimmed),
                reason: e.to_string(),
            }
        })?;
        Ok((Self { url: origin, kind }, fixes))
    }

    /// The origin without a trailing slash, such as `https://acme.my.salesforce.com`.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// The origin as a URL (path `/`), the base for REST calls.
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// The OAuth token endpoint, `<origin>/services/oauth2/token`.
    pub fn token_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path("/services/oauth2/token");
        url
    }

    /// The host, such as `acme.my.salesforce.com`.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// What kind of host this is.
    pub fn kind(&self) -> LoginUrlKind {
        self.kind
    }

    /// Advice for the admin when the URL works but not for everything we need.
    pub fn advice(&self) -> Option<&'static str> {
        match self.kind {
            LoginUrlKind::GenericLogin => Some(
                "login.salesforce.com and test.salesforce.com cannot issue client-credentials \
                 tokens (\"request not supported on this domain\"); use the org's My Domain, \
                 such as https://acme.my.salesforce.com (Setup > My Domain shows it)",
            ),
            LoginUrlKind::MyDomain | LoginUrlKind::Loopback => None,
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Maps a Salesforce host to the My Domain host, recording the change.
fn salesforce_host(
    host: &str,
    fixes: &mut Vec<LoginUrlFix>,
) -> Result<(LoginUrlKind, String), LoginUrlError> {
    let not_salesforce = || LoginUrlError::NotSalesforce {
        host: excerpt(host),
    };
    if GENERIC_LOGIN_HOSTS.contains(&host) {
        return Ok((LoginUrlKind::GenericLogin, host.to_owned()));
    }
    let name_ok = |prefix: &str| !prefix.is_empty() && !prefix.starts_with('.');
    if let Some(prefix) = host.strip_suffix(MY_DOMAIN_SUFFIX) {
        return if name_ok(prefix) {
            Ok((LoginUrlKind::MyDomain, host.to_owned()))
        } else {
            Err(not_salesforce())
        };
    }
    let (prefix, fix): (String, fn(String, String) -> LoginUrlFix) =
        if let Some(prefix) = host.strip_suffix(LIGHTNING_SUFFIX) {
            (prefix.to_owned(), |from, to| {
                LoginUrlFix::LightningToMyDomain { from, to }
            })
        } else if let Some(prefix) = host.strip_suffix(SETUP_SUFFIX) {
            (prefix.to_owned(), |from, to| LoginUrlFix::SetupToMyDomain {
                from,
                to,
            })
        } else if let Some(prefix) = host.strip_suffix(VISUALFORCE_SUFFIX) {
            // `<name>--<package>[.sandbox]`: the My Domain name is everything before the last `--`
            // of the first label.
            let (first, rest) = prefix.split_once('.').map_or((prefix, ""), |(a, b)| (a, b));
            let Some((name, _package)) = first.rsplit_once("--") else {
                return Err(not_salesforce());
            };
            let prefix = if rest.is_empty() {
                name.to_owned()
            } else {
                format!("{name}.{rest}")
            };
            (prefix, |from, to| LoginUrlFix::VisualforceToMyDomain {
                from,
                to,
            })
        } else {
            return Err(not_salesforce());
        };
    if !name_ok(&prefix) {
        return Err(not_salesforce());
    }
    let to = format!("{prefix}{MY_DOMAIN_SUFFIX}");
    fixes.push(fix(host.to_owned(), to.clone()));
    Ok((LoginUrlKind::MyDomain, to))
}

impl fmt::Display for LoginUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LoginUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginUrl({})", self.as_str())
    }
}

/// Parses and discards the list of fixes; use [`LoginUrl::parse`] to report them.
impl FromStr for LoginUrl {
    type Err = LoginUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).map(|(url, _)| url)
    }
}

serde_via_str!(
    LoginUrl,
    "a Salesforce login URL such as https://acme.my.salesforce.com"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn ok(input: &str) -> (String, LoginUrlKind, Vec<LoginUrlFix>) {
        let (url, fixes) = LoginUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        (url.to_string(), url.kind(), fixes)
    }

    #[test]
    fn my_domain_url_is_taken_unchanged() {
        assert_eq!(
            ok("https://acme.my.salesforce.com"),
            (
                "https://acme.my.salesforce.com".into(),
                LoginUrlKind::MyDomain,
                vec![]
            )
        );
        assert_eq!(ok("https://acme.my.salesforce.com/").2, vec![]);
        assert_eq!(
            ok("https://ACME.My.Salesforce.com").0,
            "https://acme.my.salesforce.com"
        );
    }

    #[test]
    fn lightning_url_becomes_my_domain_and_says_so() {
        let (url, kind, fixes) = ok("https://acme.lightning.force.com/lightning/page/home");
        assert_eq!(url, "https://acme.my.salesforce.com");
        assert_eq!(kind, LoginUrlKind::MyDomain);
        assert_eq!(
            fixes,
            vec![
                LoginUrlFix::LightningToMyDomain {
                    from: "acme.lightning.force.com".into(),
                    to: "acme.my.salesforce.com".into()
                },
                LoginUrlFix::DroppedPath {
                    dropped: "/lightning/page/home".into()
                },
            ]
        );
        assert_eq!(
            fixes[0].to_string(),
            "changed the Lightning address acme.lightning.force.com to the org's My Domain \
             acme.my.salesforce.com (the API is served there)"
        );
    }

    #[test]
    fn sandbox_and_developer_hosts_keep_their_middle_label() {
        assert_eq!(
            ok("https://acme--sandbox.sandbox.lightning.force.com/lightning/o/Contact/list?filterName=Recent").0,
            "https://acme--sandbox.sandbox.my.salesforce.com"
        );
        assert_eq!(
            ok("https://acme-dev-ed.develop.lightning.force.com").0,
            "https://acme-dev-ed.develop.my.salesforce.com"
        );
        assert_eq!(
            ok("https://acme--uat.sandbox.my.salesforce.com").0,
            "https://acme--uat.sandbox.my.salesforce.com"
        );
    }

    #[test]
    fn setup_and_visualforce_hosts_become_my_domain() {
        let (url, _, fixes) =
            ok("https://acme.my.salesforce-setup.com/lightning/setup/SetupOneHome/home");
        assert_eq!(url, "https://acme.my.salesforce.com");
        assert!(matches!(fixes[0], LoginUrlFix::SetupToMyDomain { .. }));
        assert_eq!(
            ok("https://acme--c.vf.force.com/apex/Page").0,
            "https://acme.my.salesforce.com"
        );
        assert_eq!(
            ok("https://acme--uat--c.sandbox.vf.force.com").0,
            "https://acme--uat.sandbox.my.salesforce.com"
        );
    }

    #[test]
    fn missing_scheme_and_whitespace_are_fixed_and_reported() {
        let (url, _, fixes) = ok("  acme.my.salesforce.com\t");
        assert_eq!(url, "https://acme.my.salesforce.com");
        assert_eq!(
            fixes,
            vec![LoginUrlFix::TrimmedWhitespace, LoginUrlFix::AddedScheme]
        );
        let (url, _, fixes) = ok("http://acme.lightning.force.com");
        assert_eq!(url, "https://acme.my.salesforce.com");
        assert_eq!(fixes[0], LoginUrlFix::UpgradedToHttps);
        assert!(matches!(fixes[1], LoginUrlFix::LightningToMyDomain { .. }));
    }

    #[test]
    fn generic_login_hosts_are_accepted_but_flagged() {
        for host in ["login.salesforce.com", "test.salesforce.com"] {
            let (url, fixes) = LoginUrl::parse(&format!("https://{host}")).unwrap();
            assert_eq!(url.kind(), LoginUrlKind::GenericLogin);
            assert!(fixes.is_empty());
            assert!(url.advice().unwrap().contains("My Domain"));
        }
        assert_eq!(
            LoginUrl::parse("https://acme.my.salesforce.com")
                .unwrap()
                .0
                .advice(),
            None
        );
    }

    #[test]
    fn loopback_emulators_may_use_http_and_a_port() {
        for (input, expected) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://localhost", "http://localhost"),
            ("http://[::1]:9000/services/data", "http://[::1]:9000"),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ] {
            let (url, kind, _) = ok(input);
            assert_eq!(url, expected);
            assert_eq!(kind, LoginUrlKind::Loopback);
        }
    }

    #[test]
    fn token_url_and_api_base_derive_from_the_origin() {
        let (url, _) = LoginUrl::parse("https://acme.lightning.force.com/x").unwrap();
        assert_eq!(
            url.token_url().as_str(),
            "https://acme.my.salesforce.com/services/oauth2/token"
        );
        assert_eq!(url.as_url().as_str(), "https://acme.my.salesforce.com/");
        assert_eq!(url.host(), "acme.my.salesforce.com");
        let (local, _) = LoginUrl::parse("http://127.0.0.1:4321").unwrap();
        assert_eq!(
            local.token_url().as_str(),
            "http://127.0.0.1:4321/services/oauth2/token"
        );
    }

    #[test]
    fn unusable_urls_are_rejected_with_the_reason() {
        assert_eq!(LoginUrl::parse("  "), Err(LoginUrlError::Empty));
        assert!(matches!(
            LoginUrl::parse("http://example.com"),
            Err(LoginUrlError::NotSalesforce { .. })
        ));
        assert!(matches!(
            LoginUrl::parse("https://example.com"),
            Err(LoginUrlError::NotSalesforce { .. })
        ));
        assert!(matches!(
            LoginUrl::parse("https://evil.com/acme.my.salesforce.com"),
            Err(LoginUrlError::NotSalesforce { .. })
        ));
        assert!(matches!(
            LoginUrl::parse("https://acme.my.salesforce.com.evil.com"),
            Err(LoginUrlError::NotSalesforce { .. })
        ));
        assert!(LoginUrl::parse("https://.my.salesforce.com").is_err());
        assert!(matches!(
            LoginUrl::parse("ftp://acme.my.salesforce.com"),
            Err(LoginUrlError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            LoginUrl::parse("https://u:p@acme.my.salesforce.com"),
            Err(LoginUrlError::Credentials)
        ));
        assert!(matches!(
            LoginUrl::parse("https://acme.my.salesforce.com:8443"),
            Err(LoginUrlError::UnexpectedPort { port: 8443, .. })
        ));
        assert!(matches!(
            LoginUrl::parse("https://"),
            Err(LoginUrlError::Malformed { .. })
        ));
        assert!(matches!(
            LoginUrl::parse("https://vf.force.com"),
            Err(LoginUrlError::NotSalesforce { .. })
        ));
        assert!(matches!(
            LoginUrl::parse("http://10.0.0.1:8080"),
            Err(LoginUrlError::NotSalesforce { .. })
        ));
    }

    #[test]
    fn error_messages_tell_the_admin_what_to_use() {
        let err = LoginUrl::parse("https://example.com")
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://acme.my.salesforce.com"), "{err}");
    }
}
