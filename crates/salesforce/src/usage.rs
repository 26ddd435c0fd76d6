//! The org's API consumption as reported on every REST response.

use std::fmt;

/// Name of the header Salesforce puts on every REST response.
pub const LIMIT_INFO_HEADER: &str = "Sforce-Limit-Info";

/// Daily API requests used and allowed in the org (`api-usage=<used>/<limit>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiUsage {
    /// Requests counted in the rolling 24-hour window.
    pub used: u64,
    /// The org's allowance for that window.
    pub limit: u64,
}

impl ApiUsage {
    /// Reads the org-wide `api-usage=N/M` entry of a `Sforce-Limit-Info` value.
    ///
    /// The header may carry further entries (`per-app-api-usage=17/250(appName=x)`), in any
    /// order; only the org-wide one says when the org as a whole runs dry.
    pub fn parse_header(value: &str) -> Option<Self> {
        value.split(',').find_map(|entry| {
            let (key, rest) = entry.trim().split_once('=')?;
            if !key.trim().eq_ignore_ascii_case("api-usage") {
                return None;
            }
            let (used, limit) = rest.trim().split_once('/')?;
            Some(Self {
                used: used.trim().parse().ok()?,
                limit: limit.trim().parse().ok()?,
            })
        })
    }

    /// Requests left before the org hits `REQUEST_LIMIT_EXCEEDED`.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

impl fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.used, self.limit)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn reads_plain_api_usage() {
        assert_eq!(
            ApiUsage::parse_header("api-usage=18/5000"),
            Some(ApiUsage {
                used: 18,
                limit: 5000
            })
        );
    }

    #[test]
    fn picks_org_usage_out_of_per_app_entries_in_any_order() {
        let value = "per-app-api-usage=17/250(appName=sample-app), api-usage=25/5000";
        assert_eq!(
            ApiUsage::parse_header(value),
            Some(ApiUsage {
                used: 25,
                limit: 5000
            })
        );
    }

    #[test]
    fn rejects_headers_without_org_usage_or_with_garbage_numbers() {
        assert_eq!(ApiUsage::parse_header(""), None);
        assert_eq!(
            ApiUsage::parse_header("per-app-api-usage=1/2(appName=x)"),
            None
        );
        assert_eq!(ApiUsage::parse_header("api-usage=a/5000"), None);
        assert_eq!(ApiUsage::parse_header("api-usage=5000"), None);
    }

    #[test]
    fn remaining_never_underflows_when_the_org_is_over_its_limit() {
        let usage = ApiUsage {
            used: 5003,
            limit: 5000,
        };
        assert_eq!(usage.remaining(), 0);
        assert_eq!(usage.to_string(), "5003/5000");
    }
}
