//! The doctor's findings and how they are printed.

use std::fmt::Write as _;

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Works.
    Ok,
    /// Nothing wrong; something the admin should know.
    Info,
    /// Works, but not as it should, or will break soon.
    Warn,
    /// Broken: the connector cannot do its job until it is fixed.
    Fail,
    /// Not run because something it needs failed first.
    Skipped,
}

impl CheckStatus {
    /// The mark in the human-readable report.
    pub fn symbol(self) -> &'static str {
        match self {
            CheckStatus::Ok => "✓",
            CheckStatus::Info => "i",
            CheckStatus::Warn => "!",
            CheckStatus::Fail => "✗",
            CheckStatus::Skipped => "-",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable machine name, such as `salesforce.token` or `salesforce.read.Contact`.
    pub id: String,
    /// What the check is about, for grouping: `Configuration`, `STARFACE`,
    /// `Salesforce: <instance>`, ...
    pub group: String,
    /// The instance the check is about, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// One line saying what was checked.
    pub title: String,
    /// The outcome.
    pub status: CheckStatus,
    /// What was found, with names and values.
    pub detail: String,
    /// What the admin does about it (for Warn and Fail).
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn new(
        id: impl Into<String>,
        group: impl Into<String>,
        title: impl Into<String>,
        status: CheckStatus,
        detail: impl Into<String>,
    ) -> Self {
        Check {
            id: id.into(),
            group: group.into(),
            instance: None,
            title: title.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub(crate) fn instance(mut self, name: &str) -> Self {
        self.instance = Some(name.to_owned());
        self
    }
}

/// Every finding of one doctor run, in a stable order (grouped as they were made).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    /// The findings.
    pub checks: Vec<Check>,
}

/// How many checks came out how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Checks that passed.
    pub ok: usize,
    /// Notes.
    pub info: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
    /// Checks not run.
    pub skipped: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    problems: bool,
    summary: Summary,
    checks: &'a [Check],
}

impl DoctorReport {
    /// Whether any check failed (the command's exit code is non-zero then).
    pub fn has_problems(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.with_status(CheckStatus::Fail)
    }

    /// The checks with this outcome.
    pub fn with_status(&self, status: CheckStatus) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.status == status)
    }

    /// Counts by outcome.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.checks {
            match c.status {
                CheckStatus::Ok => s.ok += 1,
                CheckStatus::Info => s.info += 1,
                CheckStatus::Warn => s.warn += 1,
                CheckStatus::Fail => s.fail += 1,
                CheckStatus::Skipped => s.skipped += 1,
            }
        }
        s
    }

    /// `{"problems": bool, "summary": {...}, "checks": [...]}`, pretty-printed.
    pub fn to_json(&self) -> String {
        let report = JsonReport {
            problems: self.has_problems(),
            summary: self.summary(),
            checks: &self.checks,
        };
        // Plain strings, numbers and enums only: serialising cannot fail.
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report for a terminal: checks grouped, marked ✓ / i / ! / ✗ / -, every warning and
    /// failure followed by its fix, a summary line at the end.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let mut group: Option<&str> = None;
        for check in &self.checks {
            if group != Some(check.group.as_str()) {
                if group.is_some() {
                    out.push('\n');
                }
                let _ = writeln!(out, "{}", check.group);
                group = Some(&check.group);
            }
            let _ = writeln!(out, "  {} {}", check.status.symbol(), check.title);
            for line in check.detail.lines().filter(|l| !l.trim().is_empty()) {
                let _ = writeln!(out, "      {line}");
            }
            if let Some(fix) = &check.fix {
                let mut lines = fix.lines().filter(|l| !l.trim().is_empty());
                if let Some(first) = lines.next() {
                    let _ = writeln!(out, "      fix: {first}");
                }
                for line in lines {
                    let _ = writeln!(out, "           {line}");
                }
            }
        }
        let s = self.summary();
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} failed, {} warning{}, {} ok, {} note{}, {} skipped.",
            s.fail,
            s.warn,
            if s.warn == 1 { "" } else { "s" },
            s.ok,
            s.info,
            if s.info == 1 { "" } else { "s" },
            s.skipped
        );
        if s.fail > 0 && s.skipped > 0 {
            out.push_str("Fix the ✗ items first: checks marked - were skipped because of them.\n");
        } else if s.fail > 0 {
            out.push_str("Fix the ✗ items: each names what to change.\n");
        } else if s.warn > 0 {
            out.push_str("No failures; the ! items deserve a look.\n");
        } else {
            out.push_str("Everything ctibridge needs is in place.\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DoctorReport {
        DoctorReport {
            checks: vec![
                Check::new("a", "Configuration", "No warnings", CheckStatus::Ok, ""),
                Check::new(
                    "b",
                    "STARFACE",
                    "Admin login",
                    CheckStatus::Fail,
                    "refused\nsecond line",
                )
                .fix("check the password\nand the login"),
                Check::new(
                    "c",
                    "STARFACE",
                    "Users",
                    CheckStatus::Skipped,
                    "needs login",
                ),
            ],
        }
    }

    #[test]
    fn human_report_groups_marks_and_shows_fixes() {
        let text = report().render_human();
        assert_eq!(
            text,
            "Configuration\n  ✓ No warnings\n\nSTARFACE\n  ✗ Admin login\n      refused\n      \
             second line\n      fix: check the password\n           and the login\n  - Users\n      \
             needs login\n\n1 failed, 0 warnings, 1 ok, 0 notes, 1 skipped.\nFix the ✗ items \
             first: checks marked - were skipped because of them.\n"
        );
    }

    #[test]
    fn problems_are_failures_only() {
        let mut r = report();
        assert!(r.has_problems());
        r.checks[1].status = CheckStatus::Warn;
        assert!(!r.has_problems());
    }

    #[test]
    fn json_carries_every_field_and_the_summary() {
        let v: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(v["problems"], true);
        assert_eq!(v["summary"]["fail"], 1);
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][1]["fix"], "check the password\nand the login");
        assert_eq!(v["checks"][0]["fix"], serde_json::Value::Null);
        assert!(v["checks"][0].get("instance").is_none());
    }
}
