//! Checks of the PBX: the admin's REST login, the users and groups the instances name, the UCI
//! endpoint.

use std::time::Duration;

use ctibridge_config::{Config, InstanceConfig, StarfaceConfig};
use ctibridge_starface::rest::{RestClient, RestError};
use ctibridge_starface::xmlrpc::{MethodCall, MethodResponse};

use super::report::{Check, CheckStatus};
use crate::pbx::{PbxDirectory, read_directory};

pub(crate) const GROUP: &str = "STARFACE";

fn check(id: &str, title: &str, status: CheckStatus, detail: String) -> Check {
    Check::new(id, GROUP, title, status, detail)
}

/// The admin login and the directory it reads; the directory is `None` when it failed.
pub(crate) async fn check_admin(
    cfg: &StarfaceConfig,
    timeout: Duration,
) -> (Vec<Check>, Option<PbxDirectory>) {
    const ID: &str = "starface.admin_login";
    const TITLE: &str = "Admin login (REST API)";
    let login = cfg.admin_login.to_string();
    let client = match RestClient::new(&cfg.url, login.clone(), cfg.admin_password.clone()) {
        Ok(c) => c,
        Err(e) => {
            return (
                vec![check(ID, TITLE, CheckStatus::Fail, e.to_string()).fix(
                    "Set [starface] url to the PBX's web address, such as https://pbx.example.com.",
                )],
                None,
            );
        }
    };
    let outcome = tokio::time::timeout(timeout, async {
        client.check_login().await?;
        read_directory(&client).await.map_err(Step::Directory)
    })
    .await;
    let result = match outcome {
        Ok(r) => r,
        Err(_) => Err(Step::TimedOut),
    };
    // Best effort: the session would expire after four hours anyway.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.logout()).await;
    match result {
        Ok(dir) => (
            vec![check(
                ID,
                TITLE,
                CheckStatus::Ok,
                format!(
                    "{login} logged in at {} and sees {} users and {} groups.",
                    cfg.url,
                    dir.users.len(),
                    dir.groups.len()
                ),
            )],
            Some(dir),
        ),
        Err(step) => (vec![admin_failure(cfg, &login, step, timeout)], None),
    }
}

/// Where the admin check stopped.
enum Step {
    Login(RestError),
    Directory(RestError),
    TimedOut,
}

impl From<RestError> for Step {
    fn from(e: RestError) -> Self {
        Step::Login(e)
    }
}

fn admin_failure(cfg: &StarfaceConfig, login: &str, step: Step, timeout: Duration) -> Check {
    const ID: &str = "starface.admin_login";
    const TITLE: &str = "Admin login (REST API)";
    let reach_fix = format!(
        "Check that this machine reaches {} (firewall, DNS, certificate) and that [starface] url \
         is the PBX's web address.",
        cfg.url
    );
    match step {
        Step::Login(RestError::LoginRefused { status, .. }) => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!("The PBX refused the login of {login} (HTTP {status})."),
        )
        .fix(
            "Check [starface] admin_login (the login id, such as 0001) and admin_password (or \
             admin_password_file): log in with them in the STARFACE web interface to try.",
        ),
        Step::Login(e @ RestError::Transport { .. }) => {
            check(ID, TITLE, CheckStatus::Fail, e.to_string()).fix(reach_fix)
        }
        Step::Login(e @ RestError::UnsupportedLoginType(_)) => {
            check(ID, TITLE, CheckStatus::Fail, e.to_string()).fix(
                "Use a PBX account that logs in with a STARFACE password or Active Directory.",
            )
        }
        Step::Login(e) => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!("The login did not work: {e}"),
        )
        .fix(format!(
            "{reach_fix} The REST API needs STARFACE 6.4.2 or later (the product needs 9.0)."
        )),
        Step::Directory(e @ RestError::Status { status: 403, .. }) => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!("{login} logged in but may not read users and groups: {e}"),
        )
        .fix("Give the account administrator rights on the PBX, or use the account of a PBX administrator."),
        Step::Directory(e) => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!("{login} logged in, but reading users and groups failed: {e}"),
        )
        .fix(reach_fix),
        Step::TimedOut => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!(
                "{} did not answer the login and directory requests within {} s.",
                cfg.url,
                timeout.as_secs_f32()
            ),
        )
        .fix(reach_fix),
    }
}

/// Whether the users and groups an instance names exist on the PBX.
pub(crate) fn scope_check(
    index: usize,
    inst: &InstanceConfig,
    dir: Option<&PbxDirectory>,
) -> Check {
    let id = "starface.scope";
    let title = format!("Users and groups of instance {:?}", inst.name);
    let Some(dir) = dir else {
        return check(
            id,
            &title,
            CheckStatus::Skipped,
            "needs the admin login".to_owned(),
        )
        .instance(&inst.name);
    };
    let (users, unknown) = dir.users_in_scope(&inst.users, &inst.groups);
    if !unknown.is_empty() {
        let groups: Vec<&str> = dir.groups.keys().map(String::as_str).collect();
        return check(
            id,
            &title,
            CheckStatus::Fail,
            format!("Not found on the PBX: {}.", unknown.join(", ")),
        )
        .fix(format!(
            "Correct instance[{index}].users (e-mail address or login id of a STARFACE user) and \
             instance[{index}].groups (group name; the PBX has: {}).",
            if groups.is_empty() {
                "no groups".to_owned()
            } else {
                groups.join(", ")
            }
        ))
        .instance(&inst.name);
    }
    if users.is_empty() {
        return check(
            id,
            &title,
            CheckStatus::Warn,
            "The instance serves no STARFACE user.".to_owned(),
        )
        .fix(format!(
            "Name users in instance[{index}].users or groups in instance[{index}].groups."
        ))
        .instance(&inst.name);
    }
    let names: Vec<String> = users
        .iter()
        .map(|u| format!("{} ({})", u.display_name(), u.login))
        .collect();
    check(
        id,
        &title,
        CheckStatus::Ok,
        format!("{} users: {}.", names.len(), names.join(", ")),
    )
    .instance(&inst.name)
}

/// Whether `/xml-rpc` answers XML-RPC. The probe carries no credentials: a fault for the
/// missing auth value proves the endpoint as well as a success would.
pub(crate) async fn check_uci(config: &Config, http: &reqwest::Client, timeout: Duration) -> Check {
    const ID: &str = "starface.uci";
    const TITLE: &str = "UCI endpoint (XML-RPC)";
    let url = match config.starface.url.join("/xml-rpc") {
        Ok(u) => u,
        Err(e) => {
            return check(ID, TITLE, CheckStatus::Fail, format!("no UCI URL: {e}"));
        }
    };
    let body = MethodCall::new("ucp.v22.requests.connection.keepAlive", Vec::new()).to_xml();
    let request = http
        .post(url.clone())
        .header("Content-Type", "text/xml; charset=UTF-8")
        .body(body)
        .send();
    let response = match tokio::time::timeout(timeout, request).await {
        Err(_) => {
            return check(
                ID,
                TITLE,
                CheckStatus::Fail,
                format!("{url} did not answer within {} s.", timeout.as_secs_f32()),
            )
            .fix(uci_fix(&url));
        }
        Ok(Err(e)) => {
            return check(
                ID,
                TITLE,
                CheckStatus::Fail,
                format!("{url} is unreachable: {e}"),
            )
            .fix(uci_fix(&url));
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    let bytes = tokio::time::timeout(timeout, response.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    match MethodResponse::from_xml(&bytes) {
        Ok(MethodResponse::Params(_)) => check(
            ID,
            TITLE,
            CheckStatus::Ok,
            format!("{url} answers XML-RPC."),
        ),
        Ok(MethodResponse::Fault { code, string }) => check(
            ID,
            TITLE,
            CheckStatus::Ok,
            format!(
                "{url} answers XML-RPC (fault {code} \"{}\" to a probe without credentials, as \
                 expected).",
                string.chars().take(120).collect::<String>()
            ),
        ),
        Err(_) if matches!(status.as_u16(), 401 | 403) => check(
            ID,
            TITLE,
            CheckStatus::Ok,
            format!("{url} answers (HTTP {status} to a probe without credentials)."),
        ),
        Err(e) => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!("{url} answered HTTP {status}, but not with XML-RPC ({e})."),
        )
        .fix(uci_fix(&url)),
    }
}

fn uci_fix(url: &url::Url) -> String {
    format!(
        "The connector reaches each user's calls through the UCI at {url}: check [starface] url, \
         and that no firewall or proxy in between blocks or rewrites POST requests to /xml-rpc."
    )
}
