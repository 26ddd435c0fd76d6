//! Errors of the store. Each says what was being done and, where an operator can act, how.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created or used.
    #[error("data directory {path}: {problem}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong, in words an operator can act on.
        problem: String,
        /// The I/O error, if there was one.
        #[source]
        source: Option<std::io::Error>,
    },

    /// The key file is missing, unreadable, has the wrong size or too broad permissions, or does
    /// not match the key the database was set up with.
    #[error("key file {path}: {problem}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
        /// The I/O error, if there was one.
        #[source]
        source: Option<std::io::Error>,
    },

    /// A database operation failed.
    #[error("database error while {context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// The walk of the record cache a start reads it with failed (it has a connection of its
    /// own, see `RecordStore::stream_stored`).
    #[error("database error while {context}: {source}")]
    Walk {
        /// What the store was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },

    /// Applying the embedded schema migrations failed.
    #[error("could not apply the database migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),

    /// A unique constraint refused the write (e.g. an instance name or a Salesforce user that
    /// is already linked to another STARFACE user).
    #[error("conflict while {context}: {detail}")]
    Conflict {
        /// What the store was doing.
        context: &'static str,
        /// The constraint's message.
        detail: String,
    },

    /// A lookup that must find at most one row found several.
    #[error("{what} is ambiguous: {problem}")]
    Ambiguous {
        /// What was looked for.
        what: &'static str,
        /// What was found.
        problem: String,
    },

    /// A row the operation needs does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },

    /// A value given to the store is not acceptable.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// The kind of value.
        what: &'static str,
        /// Why it was refused.
        problem: String,
    },

    /// A stored credential could not be decrypted: the row was altered or moved, or it was
    /// written with another key.
    #[error(
        "credential {owner_kind}/{owner_id}/{purpose} could not be decrypted: it was altered, \
         copied from another row, or written with another secret.key; set it again"
    )]
    Decrypt {
        /// Owner kind of the credential.
        owner_kind: String,
        /// Owner id of the credential.
        owner_id: String,
        /// Purpose of the credential.
        purpose: String,
    },

    /// A stored value could not be decoded (hand-edited or damaged database).
    #[error("stored {what} is not valid: {problem}")]
    Corrupt {
        /// What was being decoded.
        what: &'static str,
        /// Why decoding failed.
        problem: String,
    },

    /// An outbox claim is no longer held: the lease ran out and another worker took the row,
    /// or the row was finished already.
    #[error("outbox item {id} is no longer held by this claim")]
    LeaseLost {
        /// The outbox item.
        id: i64,
    },
}

impl StoreError {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| match source.as_database_error() {
            Some(db) if db.is_unique_violation() => StoreError::Conflict {
                context,
                detail: db.message().to_owned(),
            },
            Some(db) if db.is_foreign_key_violation() => StoreError::NotFound {
                what: format!("the instance referred to while {context}"),
            },
            _ => StoreError::Database { context, source },
        }
    }

    pub(crate) fn corrupt(what: &'static str, problem: impl ToString) -> StoreError {
        StoreError::Corrupt {
            what,
            problem: problem.to_string(),
        }
    }
}
