//! The SQLite implementation: one database file in WAL mode and one key file in the data
//! directory.

mod credential;
mod crypto;
mod files;
mod instance;
mod journal;
mod outbox;
mod record;
mod sync_state;
mod user;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{Store, StoreError};
use crypto::Sealer;

/// Name of the database file in the data directory.
pub const DB_FILE: &str = "ctibridge.db";
/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "secret.key";

const KEY_CHECK: &str = "key_check";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The store on SQLite. Cheap to clone: clones share one connection pool and the key.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sealer: Arc<Sealer>,
    data_dir: PathBuf,
}

fn connect_options(db_path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db_path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL syncs the WAL at every commit: an enqueued call log survives a power cut, not
        // only a crash of the process. Commits are few and batched, so the cost is small.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
}

async fn connect(data_dir: &Path) -> Result<SqlitePool, StoreError> {
    files::prepare_data_dir(data_dir)?;
    let db_path = data_dir.join(DB_FILE);
    files::create_private_file(&db_path)?;
    // SQLite lets readers run beside the one writer in WAL mode; a few connections are enough.
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .after_release(|conn, _| Box::pin(release_check(conn)))
        .connect_with(connect_options(&db_path))
        .await
        .map_err(StoreError::db("opening the database"))?;
    MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
    Ok(pool)
}

/// Keeps a connection that comes back inside a transaction out of the pool.
///
/// sqlx 0.8.6 leaves one behind when a `begin_with("BEGIN IMMEDIATE")` future is dropped
/// after SQLite began the transaction but before sqlx handed out the `Transaction` (an
/// aborted task, a closed HTTP request): nothing rolls it back, the connection goes back to
/// the pool holding the write lock, and every other writer fails with "database is locked"
/// after the busy timeout while later statements on that connection are never committed.
/// Closing the connection rolls the transaction back and frees the lock.
async fn release_check(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped `Transaction` queues its rollback; the worker runs commands in order, so
    // after the ping that rollback has been done.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "a database connection came back inside an abandoned transaction; closing it"
        );
        return Ok(false);
    }
    Ok(true)
}

/// Refuses an empty key or name up front, with a clearer error than the schema's CHECK.
fn non_empty(what: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::Invalid {
            what,
            problem: "must not be empty".into(),
        });
    }
    Ok(())
}

async fn meta_get(pool: &SqlitePool, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    sqlx::query_scalar("SELECT value FROM store_meta WHERE name = ?1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db("reading store metadata"))
}

impl SqliteStore {
    /// Opens (or creates) the store in `data_dir`: the directory (0700), the database
    /// `ctibridge.db` (WAL, foreign keys, schema migrated) and the key file `secret.key`
    /// (32 random bytes, 0600, created on first start). Refuses a key file that others may
    /// read, that has the wrong length, that is missing while credentials were stored, or that
    /// is not the one the stored credentials were written with.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let key_path = data_dir.join(KEY_FILE);
        let pool = connect(data_dir).await?;
        let result = Self::unlock(&pool, &key_path).await;
        match result {
            Ok(sealer) => {
                tracing::debug!(path = %data_dir.display(), "store opened");
                Ok(SqliteStore {
                    pool,
                    sealer: Arc::new(sealer),
                    data_dir: data_dir.to_owned(),
                })
            }
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }

    async fn unlock(pool: &SqlitePool, key_path: &Path) -> Result<Sealer, StoreError> {
        let stored_check = meta_get(pool, KEY_CHECK).await?;
        let key = match files::load_key(key_path)? {
            Some(key) => key,
            None if stored_check.is_some() => {
                return Err(StoreError::KeyFile {
                    path: key_path.to_owned(),
                    problem: "is missing, but this database holds credentials encrypted with it; \
                              restore the file, or, if it is lost, discard the stored \
                              credentials and enter them again"
                        .into(),
                    source: None,
                });
            }
            None => files::create_key(key_path)?,
        };
        let sealer = Sealer::new(key);
        if stored_check.is_none() {
            let check = sealer.make_key_check().map_err(|_| StoreError::KeyFile {
                path: key_path.to_owned(),
                problem: "cannot be used for encryption".into(),
                source: None,
            })?;
            // DO NOTHING and read back: when two processes start at once, the first check wins
            // and the other verifies against it like any later start.
            sqlx::query(
                "INSERT INTO store_meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(KEY_CHECK)
            .bind(check)
            .execute(pool)
            .await
            .map_err(StoreError::db("storing the key check"))?;
        }
        let check = meta_get(pool, KEY_CHECK).await?.unwrap_or_default();
        if !sealer.verify_key_check(&check) {
            return Err(StoreError::KeyFile {
                path: key_path.to_owned(),
                problem: "is not the key this database's credentials were encrypted with; \
                          restore the original file, or, if it is lost, discard the stored \
                          credentials and enter them again"
                    .into(),
                source: None,
            });
        }
        Ok(sealer)
    }

    /// Deletes every stored credential and the key file of `data_dir`, for an operator who
    /// lost the key file: the next [`SqliteStore::open`] makes a new key, and the credentials
    /// must be entered again. Returns how many credentials were deleted.
    pub async fn discard_credentials(data_dir: &Path) -> Result<u64, StoreError> {
        let pool = connect(data_dir).await?;
        let result = async {
            let mut tx = pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(StoreError::db("discarding credentials"))?;
            let deleted = sqlx::query("DELETE FROM credentials")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("discarding credentials"))?
                .rows_affected();
            sqlx::query("DELETE FROM store_meta WHERE name = ?1")
                .bind(KEY_CHECK)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("discarding credentials"))?;
            tx.commit()
                .await
                .map_err(StoreError::db("discarding credentials"))?;
            // After the commit: a key file without a key check is adopted at the next start,
            // a key check without its key file would refuse it.
            let key_path = data_dir.join(KEY_FILE);
            match std::fs::remove_file(&key_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::KeyFile {
                        path: key_path,
                        problem: "cannot be removed".into(),
                        source: Some(e),
                    });
                }
            }
            tracing::warn!(deleted, "discarded all stored credentials and the key file");
            Ok(deleted)
        }
        .await;
        pool.close().await;
        result
    }

    /// The data directory this store lives in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Waits for running queries and closes every connection (and so checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub(crate) async fn begin_write(
        &self,
        context: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        // IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
        // writes can fail with SQLITE_BUSY at once, without waiting out the busy timeout.
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::db(context))
    }
}

impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("checking the database"))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::{CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore};
    use secrecy::{ExposeSecret, SecretString};
    use sqlx::Connection as _;

    #[tokio::test]
    async fn database_runs_in_wal_mode_with_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
    }

    /// A task dropped while its write transaction begins (an aborted sync cycle, a closed
    /// HTTP request) must not leave the write lock behind: before the release check, sqlx
    /// 0.8.6 handed such a connection back to the pool inside `BEGIN IMMEDIATE`, and every
    /// other writer failed with "database is locked" after the busy timeout (a connector
    /// restarted on the same data directory could not save its instance; CI failed on it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_abandoned_while_it_begins_leaves_no_lock_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        // A new connection outside the pool (as a restarted connector opens them) that waits
        // 2 s at most for the write lock (a leaked lock is held for good).
        let path = dir.path().join(DB_FILE);
        let outside = || async {
            sqlx::SqliteConnection::connect_with(
                &connect_options(&path).busy_timeout(Duration::from_secs(2)),
            )
            .await
            .unwrap()
        };
        // Dropped after 0..40 polls, so at every step of the begin; the leak showed within the
        // first few rounds before the fix.
        for round in 0..200u32 {
            {
                let begin = store.begin_write("beginning a write");
                tokio::pin!(begin);
                for _ in 0..round % 40 {
                    if futures::poll!(begin.as_mut()).is_ready() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
            // The dropped connection goes back to the pool in a task of its own.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut other = outside().await;
            if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await {
                panic!("round {round}: a dropped begin kept the write lock: {e}");
            }
            sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
        }
        // The pool still writes, and what it writes is committed (seen from outside).
        store
            .put_credential(
                &CredentialKey::new(
                    CredentialOwner::StarfaceUser("1001".into()),
                    CredentialPurpose::UCI_PASSWORD_SHA512,
                ),
                &SecretString::from("hash"),
            )
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM credentials")
            .fetch_one(&mut outside().await)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    async fn put_two_credentials(store: &SqliteStore) -> (CredentialKey, CredentialKey) {
        let a = CredentialKey::new(
            CredentialOwner::StarfaceUser("1001".into()),
            CredentialPurpose::UCI_PASSWORD_SHA512,
        );
        let b = CredentialKey::new(
            CredentialOwner::StarfaceUser("1002".into()),
            CredentialPurpose::UCI_PASSWORD_SHA512,
        );
        store
            .put_credential(&a, &SecretString::from("hash-of-ben"))
            .await
            .unwrap();
        store
            .put_credential(&b, &SecretString::from("hash-of-clara"))
            .await
            .unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn a_flipped_ciphertext_byte_is_an_error_not_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let (a, _) = put_two_credentials(&store).await;
        let ct: Vec<u8> =
            sqlx::query_scalar("SELECT ciphertext FROM credentials WHERE owner_id = '1001'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        for i in [0, ct.len() / 2, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 0x04;
            sqlx::query("UPDATE credentials SET ciphertext = ?1 WHERE owner_id = '1001'")
                .bind(bad)
                .execute(store.pool())
                .await
                .unwrap();
            let err = store.get_credential(&a).await.unwrap_err();
            assert!(matches!(err, StoreError::Decrypt { .. }), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let (a, b) = put_two_credentials(&store).await;
        // Give Ben's row Clara's nonce and ciphertext: valid under the key, wrong owner.
        sqlx::query(
            "UPDATE credentials SET (nonce, ciphertext) = \
             (SELECT nonce, ciphertext FROM credentials WHERE owner_id = '1002') \
             WHERE owner_id = '1001'",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let err = store.get_credential(&a).await.unwrap_err();
        assert!(matches!(err, StoreError::Decrypt { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("starface_user/1001/uci_password_sha512")
        );
        let clara = store.get_credential(&b).await.unwrap().unwrap();
        assert_eq!(clara.expose_secret(), "hash-of-clara");
    }
}
