//! The start path's read of the whole record cache ([`RecordStore::stream_stored`]): one
//! statement walked on a blocking thread with a connection of its own.
//!
//! Through sqlx a row costs about 10 us (each is handed over between its worker thread and the
//! reader one at a time), and letting SQLite join a batch of rows into one JSON value instead
//! (`group_concat`, sessions 3-5) cost 2.2-2.7 s for a million records, most of a start from
//! the cache. rusqlite on the same SQLite library steps through the rows and lends their text;
//! the batches are joined here, in the format [`StoredBatch`] documents: 0.6 s for the same
//! million rows (docs/PERFORMANCE.md). One statement is one read transaction, so the walk sees
//! one state of the cache even while a sync writes (WAL: the writer is not held up).
//!
//! [`RecordStore::stream_stored`]: crate::RecordStore::stream_stored

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::Stream;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row};
use tokio::sync::mpsc;

use crate::{InstanceId, StoreError, StoredBatch};

/// Batches read ahead of the consumer.
const QUEUE: usize = 4;

/// As long as the pool's connections wait for a lock (a checkpoint may hold the WAL briefly).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const WHAT: &str = "cached records";

/// The instance's records not marked deleted, in the order they were first stored, as JSON
/// batches of `batch` rows read by a blocking thread a few batches ahead of the consumer;
/// dropping the stream stops the walk.
pub(super) fn stored_batches(
    db_path: PathBuf,
    instance: InstanceId,
    batch: usize,
) -> impl Stream<Item = Result<StoredBatch, StoreError>> + Send + 'static {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = walk(&db_path, instance, batch.max(1), &tx) {
            // Nobody to tell if the reader is gone.
            tx.blocking_send(Err(e)).ok();
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

fn walk(
    db_path: &Path,
    instance: InstanceId,
    batch: usize,
    tx: &mpsc::Sender<Result<StoredBatch, StoreError>>,
) -> Result<(), StoreError> {
    // `+` keeps the planner off the unique index (instance, object, id), which would need a
    // sort for the rowid order.
    const SQL: &str = "SELECT object_type, sf_id, name, fields, phones, system_modstamp \
                       FROM records WHERE +instance_id = ?1 AND deleted = 0 ORDER BY id";
    let read = |source| StoreError::Walk {
        context: "reading records",
        source,
    };
    let conn = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(read)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(read)?;
    let mut statement = conn.prepare(SQL).map_err(read)?;
    let mut rows = statement.query([instance.0]).map_err(read)?;
    let mut json: Vec<u8> = Vec::new();
    let mut in_batch = 0;
    while let Some(row) = rows.next().map_err(read)? {
        if in_batch == 0 {
            json.push(b'[');
        } else {
            json.push(b',');
        }
        append(&mut json, row)?;
        in_batch += 1;
        if in_batch == batch {
            json.push(b']');
            let capacity = json.capacity();
            let full = std::mem::replace(&mut json, Vec::with_capacity(capacity));
            if tx.blocking_send(finish(full)).is_err() {
                // The reader stopped (an error of its own, or a shutdown).
                return Ok(());
            }
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        json.push(b']');
        tx.blocking_send(finish(json)).ok();
    }
    Ok(())
}

/// One row as `[object_type, sf_id, name, fields, phones, system_modstamp]`. The JSON columns
/// go in as they are (only serde_json writes them; the decode checks them all the same).
fn append(json: &mut Vec<u8>, row: &Row<'_>) -> Result<(), StoreError> {
    let value = |i: usize| {
        row.get_ref(i)
            .map_err(|e| StoreError::corrupt(WHAT, format!("column {i}: {e}")))
    };
    let text = |i: usize| match value(i)? {
        ValueRef::Text(t) => Ok(t),
        other => Err(StoreError::corrupt(
            WHAT,
            format!("column {i} is {:?}, not text", other.data_type()),
        )),
    };
    json.push(b'[');
    for i in 0..3 {
        let s = std::str::from_utf8(text(i)?).map_err(|e| StoreError::corrupt(WHAT, e))?;
        serde_json::to_writer(&mut *json, s).map_err(|e| StoreError::corrupt(WHAT, e))?;
        json.push(b',');
    }
    json.extend_from_slice(text(3)?);
    json.push(b',');
    json.extend_from_slice(text(4)?);
    json.push(b',');
    match value(5)? {
        ValueRef::Integer(stamp) => {
            write!(json, "{stamp}").map_err(|e| StoreError::corrupt(WHAT, e))?;
        }
        ValueRef::Null => json.extend_from_slice(b"null"),
        other => {
            return Err(StoreError::corrupt(
                WHAT,
                format!("system_modstamp is {:?}", other.data_type()),
            ));
        }
    }
    json.push(b']');
    Ok(())
}

/// A batch's bytes as the text [`StoredBatch`] holds: the JSON columns were copied as bytes,
/// so the whole batch is checked for UTF-8 once.
fn finish(json: Vec<u8>) -> Result<StoredBatch, StoreError> {
    String::from_utf8(json)
        .map(|json| StoredBatch { json })
        .map_err(|e| StoreError::corrupt(WHAT, e.utf8_error()))
}
