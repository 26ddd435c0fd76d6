//! The manual's first FAQ item: every STARFACE user of an instance needs a Salesforce user
//! with the same e-mail address (ignoring case), and the other way round.

use ctibridge_config::InstanceConfig;
use ctibridge_starface::rest::User;

use super::report::{Check, CheckStatus};
use super::salesforce::{OrgUsers, SfUser};
use crate::pbx::PbxDirectory;

pub(crate) fn group(inst: &InstanceConfig) -> String {
    format!("Users: {}", inst.name)
}

fn same_email(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && a.to_lowercase() == b.to_lowercase()
}

/// The e-mail match in both directions; one check per mismatch so each names its fix.
pub(crate) fn match_checks(
    index: usize,
    inst: &InstanceConfig,
    dir: Option<&PbxDirectory>,
    sf_users: &OrgUsers,
    manual: &crate::admin::users::ManualLinks,
) -> Vec<Check> {
    let group = group(inst);
    let check = |id: &str, title: String, status: CheckStatus, detail: String| {
        Check::new(id, group.clone(), title, status, detail).instance(&inst.name)
    };
    let title = "E-mail match of STARFACE and Salesforce users";
    let (dir, sf_users): (&PbxDirectory, &[SfUser]) = match (dir, sf_users) {
        (Some(d), OrgUsers::Read(u)) => (d, u),
        (None, _) => {
            return vec![check(
                "users.match",
                title.to_owned(),
                CheckStatus::Skipped,
                "needs the STARFACE admin login".to_owned(),
            )];
        }
        (_, OrgUsers::NotTried(why)) => {
            return vec![check(
                "users.match",
                title.to_owned(),
                CheckStatus::Skipped,
                (*why).to_owned(),
            )];
        }
        (_, OrgUsers::Failed(why)) => {
            return vec![check(
                "users.match",
                title.to_owned(),
                CheckStatus::Fail,
                format!("{why}."),
            )
            .fix("Give the run-as user read access to User (Id, Name, Email, IsActive, UserType); the Read access checks above name what is missing.")];
        }
    };
    let (in_scope, _) = dir.users_in_scope(&inst.users, &inst.groups);
    let mut checks = Vec::new();
    let mut matched = Vec::new();
    let mut by_hand = Vec::new();
    for user in &in_scope {
        let title = format!("{} ({})", user.display_name(), user.login);
        // A link the admin made by hand resolves an e-mail mismatch.
        if let Some(linked) = manual.get(&user.login) {
            match sf_users.iter().find(|s| &s.id == linked) {
                Some(sf) => by_hand.push((*user, sf)),
                None => checks.push(
                    check(
                        "users.manual_link_inactive",
                        format!("{title} is linked by hand to an inactive Salesforce user"),
                        CheckStatus::Fail,
                        format!(
                            "The admin UI links {} to the Salesforce user {linked}, which is \
                             not an active user of the org.",
                            user.display_name()
                        ),
                    )
                    .fix("On the admin UI's Users page, link the user to an active Salesforce user or remove the link."),
                ),
            }
            continue;
        }
        if user.email.trim().is_empty() {
            checks.push(
                check(
                    "users.starface_without_email",
                    format!("{title} has no e-mail address"),
                    CheckStatus::Fail,
                    "The STARFACE user has no e-mail address, so no Salesforce user can be \
                     matched and the softphone panel never shows this user's calls."
                        .to_owned(),
                )
                .fix(format!(
                    "In STARFACE, give {} the e-mail address of their Salesforce user.",
                    user.display_name()
                )),
            );
            continue;
        }
        match sf_users.iter().find(|s| {
            s.email
                .as_deref()
                .is_some_and(|e| same_email(e, &user.email))
        }) {
            Some(sf) => matched.push((user, sf)),
            None => checks.push(missing_salesforce_user(index, user, &title, &check)),
        }
    }
    let case_only: Vec<String> = matched
        .iter()
        .filter(|(u, s)| {
            s.email
                .as_deref()
                .is_some_and(|e| e.trim() != u.email.trim())
        })
        .map(|(u, _)| u.display_name())
        .collect();
    let mut detail = format!(
        "{} of {} STARFACE users have an active Salesforce user with the same e-mail address",
        matched.len(),
        in_scope.len()
    );
    if !by_hand.is_empty() {
        detail.push_str(&format!(
            "; {} linked by hand in the admin UI ({})",
            by_hand.len(),
            by_hand
                .iter()
                .map(|(u, s)| format!("{} -> {}", u.display_name(), s.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !case_only.is_empty() {
        detail.push_str(&format!(
            " ({}: the addresses differ in upper/lower case only, which is fine)",
            case_only.join(", ")
        ));
    }
    detail.push('.');
    checks.insert(
        0,
        check(
            "users.match",
            title.to_owned(),
            if matched.is_empty() && by_hand.is_empty() && !in_scope.is_empty() {
                CheckStatus::Fail
            } else {
                CheckStatus::Ok
            },
            detail,
        ),
    );

    // The other way round: Salesforce users that no STARFACE user of this instance matches.
    let mut outside_scope = Vec::new();
    let mut without_starface = Vec::new();
    for sf in sf_users {
        let Some(email) = sf.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            continue;
        };
        if in_scope.iter().any(|u| same_email(&u.email, email))
            || by_hand.iter().any(|(_, s)| s.id == sf.id)
        {
            continue;
        }
        match dir.users.iter().find(|u| same_email(&u.email, email)) {
            Some(pbx_user) => outside_scope.push((sf, pbx_user)),
            None => without_starface.push(format!("{} <{}>", sf.name, email.trim())),
        }
    }
    for (sf, pbx_user) in outside_scope {
        checks.push(
            check(
                "users.salesforce_outside_scope",
                format!("{} is not served by this instance", sf.name),
                CheckStatus::Warn,
                format!(
                    "The Salesforce user {} and the STARFACE user {} ({}) share the e-mail \
                     address {}, but the STARFACE user is not in this instance's users or \
                     groups: their softphone panel stays empty.",
                    sf.name,
                    pbx_user.display_name(),
                    pbx_user.login,
                    pbx_user.email.trim()
                ),
            )
            .fix(format!(
                "Add {} to instance[{index}].users, or add the user to one of the groups in \
                 instance[{index}].groups; if the user should not use the softphone, ignore this.",
                pbx_user.email.trim()
            )),
        );
    }
    if !without_starface.is_empty() {
        checks.push(check(
            "users.salesforce_without_starface",
            format!(
                "{} Salesforce user{} without a STARFACE user",
                without_starface.len(),
                if without_starface.len() == 1 { "" } else { "s" }
            ),
            CheckStatus::Info,
            format!(
                "No STARFACE user has the e-mail address of: {}. They get no calls in the \
                 softphone; that is right for integration and API users. Anyone who should \
                 take calls needs a STARFACE user with the same e-mail address.",
                without_starface.join(", ")
            ),
        ));
    }
    checks
}

fn missing_salesforce_user(
    index: usize,
    user: &User,
    title: &str,
    check: &dyn Fn(&str, String, CheckStatus, String) -> Check,
) -> Check {
    let email = user.email.trim();
    check(
        "users.starface_without_salesforce",
        format!("{title} has no Salesforce user"),
        CheckStatus::Fail,
        format!(
            "No active Salesforce user has the e-mail address {email}, so the softphone panel \
             cannot be linked to this STARFACE user and shows none of their calls (the manual's \
             FAQ: \"no window opens in Salesforce\")."
        ),
    )
    .fix(format!(
        "Give both users the same e-mail address: change it in STARFACE, or in Salesforce \
         (Setup > Users > Users > Edit > Email), or create an active Salesforce user with \
         {email}; upper/lower case does not matter. If {} should not use Salesforce, remove them \
         from instance[{index}].users or from the groups in instance[{index}].groups.",
        user.display_name()
    ))
}
