//! Opening the store: data directory, database, key file and their checks.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use ctibridge_store::{
    CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore, DB_FILE, InstanceStore,
    KEY_FILE, SqliteStore, Store, StoreError,
};
use secrecy::{ExposeSecret, SecretString};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn admin_key() -> CredentialKey {
    CredentialKey::new(
        CredentialOwner::System,
        CredentialPurpose::STARFACE_ADMIN_PASSWORD,
    )
}

#[tokio::test]
async fn first_open_creates_private_dir_database_and_key_file() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("nested").join("data");
    let store = SqliteStore::open(&data_dir).await.unwrap();
    store.ping().await.unwrap();

    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join(DB_FILE)), 0o600);
    let key = data_dir.join(KEY_FILE);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(fs::metadata(&key).unwrap().len(), 32);
    // WAL mode keeps a -wal file beside the database, private like it.
    assert_eq!(mode(&data_dir.join(format!("{DB_FILE}-wal"))), 0o600);
    assert!(store.list_instances().await.unwrap().is_empty());
    // No temporary key file is left behind.
    let names: Vec<_> = fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn reopening_keeps_data_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_bytes;
    {
        let store = SqliteStore::open(dir.path()).await.unwrap();
        common::instance(&store, "Salesforce Sales").await;
        store
            .put_credential(&admin_key(), &SecretString::from("admin-pass"))
            .await
            .unwrap();
        store.close().await;
        key_bytes = fs::read(dir.path().join(KEY_FILE)).unwrap();
    }
    let store = SqliteStore::open(dir.path()).await.unwrap();
    assert_eq!(fs::read(dir.path().join(KEY_FILE)).unwrap(), key_bytes);
    let names: Vec<_> = store
        .list_instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["Salesforce Sales"]);
    let secret = store.get_credential(&admin_key()).await.unwrap().unwrap();
    assert_eq!(secret.expose_secret(), "admin-pass");
}

#[tokio::test]
async fn key_file_readable_by_others_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).await.unwrap().close().await;
    let key = dir.path().join(KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();

    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyFile { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("0644") && msg.contains("chmod 600"), "{msg}");

    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    SqliteStore::open(dir.path()).await.unwrap();
}

#[tokio::test]
async fn key_file_of_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join(KEY_FILE);
    fs::write(&key, [7u8; 31]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();

    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("31 bytes"), "{err}");
}

#[tokio::test]
async fn a_key_file_made_by_hand_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join(KEY_FILE);
    fs::write(&key, [9u8; 32]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store
        .put_credential(&admin_key(), &SecretString::from("x"))
        .await
        .unwrap();
    assert_eq!(fs::read(&key).unwrap(), [9u8; 32]);
}

#[tokio::test]
async fn another_key_file_is_refused_at_open_not_at_first_use() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).await.unwrap();
        store
            .put_credential(&admin_key(), &SecretString::from("admin-pass"))
            .await
            .unwrap();
        store.close().await;
    }
    let key = dir.path().join(KEY_FILE);
    fs::remove_file(&key).unwrap();
    fs::write(&key, [1u8; 32]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();

    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not the key this database"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_key_file_is_refused_rather_than_replaced() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).await.unwrap().close().await;
    fs::remove_file(dir.path().join(KEY_FILE)).unwrap();

    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
    assert!(!dir.path().join(KEY_FILE).exists());
}

#[tokio::test]
async fn discarding_credentials_lets_a_store_with_a_lost_key_start_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).await.unwrap();
        common::instance(&store, "Sales").await;
        store
            .put_credential(&admin_key(), &SecretString::from("admin-pass"))
            .await
            .unwrap();
        store.close().await;
    }
    fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
    assert!(SqliteStore::open(dir.path()).await.is_err());

    assert_eq!(
        SqliteStore::discard_credentials(dir.path()).await.unwrap(),
        1
    );
    let store = SqliteStore::open(dir.path()).await.unwrap();
    assert!(store.get_credential(&admin_key()).await.unwrap().is_none());
    assert_eq!(store.list_instances().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_file_where_the_data_dir_should_be_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    fs::write(&path, b"not a dir").unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
}

#[tokio::test]
async fn debug_of_the_store_does_not_show_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join(KEY_FILE);
    fs::write(&key, [0x5a_u8; 32]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("REDACTED"), "{shown}");
    assert!(!shown.contains("90, 90"), "{shown}");
}
