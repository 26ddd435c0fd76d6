//! The start path's reads of the record cache ([`RecordStore::stream_stored`] and
//! [`RecordStore::stream_changed_since`]): one statement walked on a blocking thread with a
//! connection of its own.
//!
//! Through sqlx a row costs about 10 us (each is handed over between its worker thread and the
//! reader one at a time), and letting SQLite join a batch of rows into one JSON value instead
//! (`group_concat`, sessions 3-5) cost 2.2-2.7 s for a million records, most of a start from
//! the cache. rusqlite on the same SQLite library steps through the rows and lends their text,
//! which is copied into [`StoredBatch`]es here: 0.6 s for the same million rows
//! (docs/PERFORMANCE.md). One statement is one read transaction, so the walk sees one state of
//! the cache even while a sync writes (WAL: the writer is not held up).
//!
//! [`RecordStore::stream_stored`]: crate::RecordStore::stream_stored
//! [`RecordStore::stream_changed_since`]: crate::RecordStore::stream_changed_since

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

/// Which rows a walk reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows {
    /// The records not marked deleted, in the order they were first stored.
    Stored,
    /// The rows changed after a records generation, deleted ones included, in change order.
    ChangedSince(i64),
}

impl Rows {
    fn sql(self) -> &'static str {
        match self {
            // `+` keeps the planner off the unique index (instance, object, id), which would
            // need a sort for the rowid order.
            Rows::Stored => {
                "SELECT object_type, sf_id, name, fields, phones, system_modstamp, deleted \
                 FROM records WHERE +instance_id = ?1 AND deleted = 0 ORDER BY id"
            }
            // A row's generation is unique in its instance (each change bumps the counter
            // once, see migration 0005): the index on it gives the change order.
            Rows::ChangedSince(_) => {
                "SELECT object_type, sf_id, name, fields, phones, system_modstamp, deleted \
                 FROM records WHERE instance_id = ?1 AND changed_generation > ?2 \
                 ORDER BY changed_generation"
            }
        }
    }
}

/// The instance's `rows` in batches of `batch`, read by a blocking thread a few batches ahead
/// of the consumer; dropping the stream stops the walk.
pub(super) fn batches(
    db_path: PathBuf,
    instance: InstanceId,
    rows: Rows,
    batch: usize,
) -> impl Stream<Item = Result<StoredBatch, StoreError>> + Send + 'static {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = walk(&db_path, instance, rows, batch.max(1), &tx) {
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
    rows: Rows,
    batch: usize,
    tx: &mpsc::Sender<Result<StoredBatch, StoreError>>,
) -> Result<(), StoreError> {
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
    let mut statement = conn.prepare(rows.sql()).map_err(read)?;
    let mut found = match rows {
        Rows::Stored => statement.query([instance.0]),
        Rows::ChangedSince(after) => statement.query([instance.0, after]),
    }
    .map_err(read)?;
    let mut current = StoredBatch::with_capacity(0, batch);
    while let Some(row) = found.next().map_err(read)? {
        append(&mut current, row)?;
        if current.len() == batch {
            // The next batch gets the room this one needed: grown from empty, each batch's
            // text (about 1 MB) would be reallocated some ten times.
            let next =
                StoredBatch::with_capacity(current.text_len() + current.text_len() / 8, batch);
            // A failed send: the reader stopped (an error of its own, or a shutdown).
            if tx
                .blocking_send(Ok(std::mem::replace(&mut current, next)))
                .is_err()
            {
                return Ok(());
            }
        }
    }
    if !current.is_empty() {
        tx.blocking_send(Ok(current)).ok();
    }
    Ok(())
}

/// One row into `batch`, its text columns as stored (the JSON ones are checked where they are
/// decoded).
fn append(batch: &mut StoredBatch, row: &Row<'_>) -> Result<(), StoreError> {
    let value = |i: usize| {
        row.get_ref(i)
            .map_err(|e| StoreError::corrupt(WHAT, format!("column {i}: {e}")))
    };
    let text = |i: usize| match value(i)? {
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|e| StoreError::corrupt(WHAT, e)),
        other => Err(StoreError::corrupt(
            WHAT,
            format!("column {i} is {:?}, not text", other.data_type()),
        )),
    };
    let stamp = match value(5)? {
        ValueRef::Integer(stamp) => Some(stamp),
        ValueRef::Null => None,
        other => {
            return Err(StoreError::corrupt(
                WHAT,
                format!("system_modstamp is {:?}", other.data_type()),
            ));
        }
    };
    let deleted = matches!(value(6)?, ValueRef::Integer(d) if d != 0);
    batch.push(
        [text(0)?, text(1)?, text(2)?, text(3)?, text(4)?],
        stamp,
        deleted,
    );
    Ok(())
}
