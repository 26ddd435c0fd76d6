//! Timestamps as Salesforce writes and reads them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC: how records keep their timestamps.
pub(crate) type Millis = i64;

/// Now, in milliseconds.
pub(crate) fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// `2024-05-01T10:00:00.000+0000`: the form REST responses use for dateTime values.
pub(crate) fn format_datetime(ms: Millis) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        None => "1970-01-01T00:00:00.000+0000".to_owned(),
    }
}

/// `2024-05-01`: date fields.
pub(crate) fn format_date(days: i32) -> String {
    date_from_days(days)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".to_owned())
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

pub(crate) fn date_from_days(days: i32) -> Option<NaiveDate> {
    epoch().checked_add_signed(chrono::Duration::days(i64::from(days)))
}

pub(crate) fn days_of(date: NaiveDate) -> i32 {
    i32::try_from((date - epoch()).num_days()).unwrap_or(0)
}

/// Days since the epoch of the UTC day that contains `ms`.
pub(crate) fn day_of_ms(ms: Millis) -> i32 {
    i32::try_from(ms.div_euclid(86_400_000)).unwrap_or(0)
}

/// Parses the ISO 8601 forms clients send: `Z`, `+00:00`, `+0000`, optional fractions.
/// A `+` that URL decoding turned into a space (simple-salesforce sends `+00:00` unescaped
/// in `updated/` and `deleted/` URLs) is read as `+`, which Salesforce also tolerates.
pub(crate) fn parse_datetime(input: &str) -> Option<Millis> {
    let s = input.trim_start();
    let mut s = s.to_owned();
    if let Some(pos) = s.rfind(' ')
        && pos > 10
    {
        s.replace_range(pos..=pos, "+");
    }
    if let Some(stripped) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        s = format!("{stripped}+0000");
    }
    // Drop the colon of a `+hh:mm` offset so one format string reads both forms.
    let bytes = s.as_bytes();
    if bytes.len() > 6 {
        let at = bytes.len() - 6;
        if (bytes[at] == b'+' || bytes[at] == b'-') && bytes[at + 3] == b':' {
            s.remove(at + 3);
        }
    }
    DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .or_else(|| {
            // A bare local datetime is read as UTC.
            NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp_millis())
        })
}

/// `YYYY-MM-DD`.
pub(crate) fn parse_date(input: &str) -> Option<i32> {
    NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .ok()
        .map(days_of)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_datetimes_like_the_rest_api() {
        let ms = parse_datetime("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(format_datetime(ms), "2024-05-01T10:00:00.000+0000");
    }

    #[test]
    fn reads_every_offset_form_clients_send() {
        let want = parse_datetime("2024-05-01T10:00:00Z").unwrap();
        for s in [
            "2024-05-01T10:00:00.000Z",
            "2024-05-01T10:00:00+00:00",
            "2024-05-01T10:00:00.000+0000",
            "2024-05-01T12:00:00+02:00",
            "2024-05-01T10:00:00 00:00",
            "2024-05-01T10:00:00",
        ] {
            assert_eq!(parse_datetime(s), Some(want), "{s}");
        }
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn dates_round_trip() {
        let d = parse_date("2024-02-29").unwrap();
        assert_eq!(format_date(d), "2024-02-29");
    }
}
