//! Encrypted credentials through the public API.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use ctibridge_store::{
    CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore, InstanceStore, StoreError,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

fn uci(user: &str) -> CredentialKey {
    CredentialKey::new(
        CredentialOwner::StarfaceUser(user.into()),
        CredentialPurpose::UCI_PASSWORD_SHA512,
    )
}

#[tokio::test]
async fn text_and_binary_secrets_round_trip() {
    let (_dir, store) = common::store().await;
    let key = uci("1001");
    assert!(store.get_credential(&key).await.unwrap().is_none());

    store
        .put_credential(&key, &SecretString::from("bën-hash ✓"))
        .await
        .unwrap();
    let got = store.get_credential(&key).await.unwrap().unwrap();
    assert_eq!(got.expose_secret(), "bën-hash ✓");

    let bin = CredentialKey::new(
        CredentialOwner::System,
        CredentialPurpose::new("session_signing_key").unwrap(),
    );
    let bytes: Vec<u8> = (0..=255).collect();
    store
        .put_credential_bytes(&bin, &SecretSlice::from(bytes.clone()))
        .await
        .unwrap();
    let got = store.get_credential_bytes(&bin).await.unwrap().unwrap();
    assert_eq!(got.expose_secret(), &bytes[..]);
    // Binary that is not UTF-8 is not handed out as text.
    let err = store.get_credential(&bin).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn putting_again_replaces_and_delete_removes() {
    let (_dir, store) = common::store().await;
    let key = uci("1001");
    store
        .put_credential(&key, &SecretString::from("old"))
        .await
        .unwrap();
    store
        .put_credential(&key, &SecretString::from("new"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_credential(&key)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "new"
    );
    assert!(store.delete_credential(&key).await.unwrap());
    assert!(!store.delete_credential(&key).await.unwrap());
    assert!(store.get_credential(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn owners_and_purposes_keep_their_secrets_apart() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let secret = CredentialKey::new(
        CredentialOwner::Instance(sales.id),
        CredentialPurpose::SALESFORCE_CLIENT_SECRET,
    );
    store
        .put_credential(&secret, &SecretString::from("demo-consumer-secret"))
        .await
        .unwrap();
    store
        .put_credential(&uci("1001"), &SecretString::from("ben"))
        .await
        .unwrap();
    store
        .put_credential(&uci("1002"), &SecretString::from("clara"))
        .await
        .unwrap();

    let listed = store
        .list_credentials(&CredentialOwner::Instance(sales.id))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, secret);
    assert_eq!(
        store
            .get_credential(&uci("1002"))
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "clara"
    );
}

#[tokio::test]
async fn deleting_an_instance_deletes_its_credentials() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let secret = CredentialKey::new(
        CredentialOwner::Instance(sales.id),
        CredentialPurpose::SALESFORCE_CLIENT_SECRET,
    );
    store
        .put_credential(&secret, &SecretString::from("s"))
        .await
        .unwrap();
    assert!(store.delete_instance("Sales").await.unwrap());
    assert!(store.get_credential(&secret).await.unwrap().is_none());
}

#[test]
fn purposes_are_checked() {
    assert!(CredentialPurpose::new("salesforce_refresh_token").is_ok());
    for bad in ["", "Has-Caps", "with space", &"x".repeat(65)] {
        assert!(CredentialPurpose::new(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn debug_output_of_credentials_shows_no_secret() {
    let (_dir, store) = common::store().await;
    let key = uci("1001");
    store
        .put_credential(&key, &SecretString::from("hunter2-sha512"))
        .await
        .unwrap();
    let got = store.get_credential(&key).await.unwrap();
    let bytes = SecretSlice::from(b"hunter2-bytes".to_vec());
    let info = store
        .list_credentials(&CredentialOwner::StarfaceUser("1001".into()))
        .await
        .unwrap();
    for shown in [
        format!("{got:?}"),
        format!("{bytes:?}"),
        format!("{info:?}"),
        format!("{key:?}"),
        format!("{store:?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    assert!(format!("{got:?}").contains("REDACTED"));
}
