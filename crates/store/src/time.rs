//! Timestamps are stored as milliseconds since the epoch (see the first migration).

use chrono::{DateTime, Utc};

use crate::StoreError;

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::corrupt("timestamp", format!("{ms} ms is out of range")))
}

pub(crate) fn opt_from_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(from_ms).transpose()
}

pub(crate) fn now_ms() -> i64 {
    to_ms(Utc::now())
}
