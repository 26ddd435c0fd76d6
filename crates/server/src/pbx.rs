//! The PBX directory: STARFACE users and groups as the admin account sees them, refreshed
//! periodically and shared with every instance through a watch channel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ctibridge_config::UserRef;
use ctibridge_starface::rest::{RestClient, User};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::state::AppState;
use crate::status::LinkState;

/// Users and group memberships of the PBX at one point in time.
#[derive(Debug, Clone, Default)]
pub struct PbxDirectory {
    pub users: Vec<User>,
    /// Group name -> ids of its member users.
    pub groups: BTreeMap<String, Vec<i64>>,
    /// The ids a call event may carry in `groupID` (the group's id and its `groupId`) -> name.
    pub group_names: BTreeMap<String, String>,
}

impl PbxDirectory {
    /// The name of the group a call event's `groupID` names; the id itself when unknown.
    pub fn group_name(&self, id: &str) -> String {
        self.group_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }
}

impl PbxDirectory {
    /// The users an instance serves: those named in `users` (by e-mail, case-insensitive, or by
    /// login id) and the members of `groups`. Also returns the names that matched nothing.
    pub fn users_in_scope<'a>(
        &'a self,
        users: &[UserRef],
        groups: &[String],
    ) -> (Vec<&'a User>, Vec<String>) {
        let mut selected: Vec<&User> = Vec::new();
        let mut unknown = Vec::new();
        let push = |u: &'a User, selected: &mut Vec<&'a User>| {
            if !selected.iter().any(|s| s.id == u.id) {
                selected.push(u);
            }
        };
        for wanted in users {
            let found = self.users.iter().find(|u| match wanted {
                UserRef::Email(e) => u.email.trim().eq_ignore_ascii_case(e.as_str()),
                UserRef::LoginId(id) => u.login == id.as_str(),
            });
            match found {
                Some(u) => push(u, &mut selected),
                None => unknown.push(format!("user {:?}", wanted.to_string())),
            }
        }
        for g in groups {
            match self
                .groups
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(g.trim()))
            {
                Some((_, members)) => {
                    for id in members {
                        if let Some(u) = self.users.iter().find(|u| u.id == *id) {
                            push(u, &mut selected);
                        }
                    }
                }
                None => unknown.push(format!("group {g:?}")),
            }
        }
        selected.sort_by(|a, b| a.login.cmp(&b.login));
        (selected, unknown)
    }
}

/// Reads users and groups now.
pub async fn read_directory(
    client: &RestClient,
) -> Result<PbxDirectory, ctibridge_starface::rest::RestError> {
    let users = client.users().await?;
    let mut groups = BTreeMap::new();
    let mut group_names = BTreeMap::new();
    for g in client.groups().await? {
        let detail = client.group(g.id).await?;
        let name = if g.groupname.is_empty() {
            detail.name.clone()
        } else {
            g.groupname.clone()
        };
        group_names.insert(g.id.to_string(), name.clone());
        if let Some(gid) = detail.group_id.as_ref().filter(|s| !s.is_empty()) {
            group_names.insert(gid.clone(), name.clone());
        }
        groups.insert(name, detail.member_ids().collect());
    }
    Ok(PbxDirectory {
        users,
        groups,
        group_names,
    })
}

/// Keeps the directory fresh: at start, then every `every`, with a quicker retry after failures.
pub async fn run(
    state: Arc<AppState>,
    client: RestClient,
    tx: watch::Sender<Option<Arc<PbxDirectory>>>,
    every: Duration,
) {
    let mut retry = Duration::from_secs(1);
    loop {
        match read_directory(&client).await {
            Ok(dir) => {
                info!(
                    users = dir.users.len(),
                    groups = dir.groups.len(),
                    "read the STARFACE directory"
                );
                state.update_status(|s| {
                    s.starface.state = LinkState::Ok;
                    s.starface.users = dir.users.len();
                    s.starface.groups = dir.groups.len();
                    s.starface.checked_at = Some(chrono::Utc::now());
                });
                tx.send_replace(Some(Arc::new(dir)));
                retry = Duration::from_secs(1);
                tokio::time::sleep(every).await;
            }
            Err(e) => {
                warn!(error = %e, retry_in = ?retry, "cannot read the STARFACE directory");
                state.update_status(|s| {
                    s.starface.state = LinkState::Failed(e.to_string());
                    s.starface.checked_at = Some(chrono::Utc::now());
                });
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, login: &str, email: &str) -> User {
        User {
            id,
            login: login.into(),
            first_name: String::new(),
            family_name: String::new(),
            email: email.into(),
            language: None,
            namespace: None,
            person_id: None,
        }
    }

    #[test]
    fn scope_joins_users_and_group_members_once_and_names_unknowns() {
        let dir = PbxDirectory {
            users: vec![
                user(1, "1001", "Ben@Example.com"),
                user(2, "1002", "c@x"),
                user(3, "1003", "d@x"),
            ],
            groups: BTreeMap::from([("Sales".to_owned(), vec![1, 2])]),
            group_names: BTreeMap::new(),
        };
        let (users, unknown) = dir.users_in_scope(
            &[
                UserRef::Email(ctibridge_domain::Email::parse("ben@example.com").unwrap()),
                UserRef::LoginId(ctibridge_domain::StarfaceLoginId::parse("1003").unwrap()),
                UserRef::Email(ctibridge_domain::Email::parse("nobody@x.de").unwrap()),
            ],
            &["sales".into(), "Nope".into()],
        );
        assert_eq!(
            users.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(unknown, vec!["user \"nobody@x.de\"", "group \"Nope\""]);
    }
}
