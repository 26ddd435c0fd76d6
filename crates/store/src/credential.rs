//! Encrypted credentials: secrets the connector must be able to use again (a user's derived
//! UCI password, an org's client secret). They go in and out as `secrecy` types only.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use secrecy::{SecretSlice, SecretString};

use crate::{InstanceId, StoreError};

/// Whom a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialOwner {
    /// The connector as a whole (e.g. the STARFACE admin password set in the admin UI).
    System,
    /// An instance (e.g. its Salesforce client secret); deleted with the instance.
    Instance(InstanceId),
    /// A STARFACE user, by STARFACE user id (e.g. the derived UCI password).
    StarfaceUser(String),
}

impl CredentialOwner {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CredentialOwner::System => "system",
            CredentialOwner::Instance(_) => "instance",
            CredentialOwner::StarfaceUser(_) => "starface_user",
        }
    }

    pub(crate) fn id(&self) -> Cow<'_, str> {
        match self {
            CredentialOwner::System => Cow::Borrowed(""),
            CredentialOwner::Instance(id) => Cow::Owned(id.0.to_string()),
            CredentialOwner::StarfaceUser(id) => Cow::Borrowed(id),
        }
    }

    pub(crate) fn from_parts(kind: &str, id: &str) -> Result<Self, StoreError> {
        match kind {
            "system" => Ok(CredentialOwner::System),
            "instance" => id
                .parse()
                .map(|n| CredentialOwner::Instance(InstanceId(n)))
                .map_err(|_| StoreError::corrupt("credential owner", format!("instance {id:?}"))),
            "starface_user" => Ok(CredentialOwner::StarfaceUser(id.to_owned())),
            other => Err(StoreError::corrupt("credential owner kind", other)),
        }
    }
}

/// What a credential is for: lowercase ASCII letters, digits and `_`, at most 64 bytes.
/// Open rather than an enum so that other crates can add purposes without changing this one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialPurpose(Cow<'static, str>);

impl CredentialPurpose {
    /// A STARFACE user's `lower(hex(SHA512(password)))`, password-equivalent for UCI.
    pub const UCI_PASSWORD_SHA512: CredentialPurpose =
        CredentialPurpose(Cow::Borrowed("uci_password_sha512"));
    /// An instance's Salesforce connected-app client secret.
    pub const SALESFORCE_CLIENT_SECRET: CredentialPurpose =
        CredentialPurpose(Cow::Borrowed("salesforce_client_secret"));
    /// The STARFACE REST admin password.
    pub const STARFACE_ADMIN_PASSWORD: CredentialPurpose =
        CredentialPurpose(Cow::Borrowed("starface_admin_password"));

    /// Checks and wraps a purpose name.
    pub fn new(name: impl Into<String>) -> Result<Self, StoreError> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(CredentialPurpose(Cow::Owned(name)))
        } else {
            Err(StoreError::Invalid {
                what: "credential purpose",
                problem: format!(
                    "{name:?} must be 1 to 64 lowercase ASCII letters, digits or underscores"
                ),
            })
        }
    }

    /// The purpose's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The address of one credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialKey {
    /// Whom it belongs to.
    pub owner: CredentialOwner,
    /// What it is for.
    pub purpose: CredentialPurpose,
}

impl CredentialKey {
    /// Builds a key.
    pub fn new(owner: CredentialOwner, purpose: CredentialPurpose) -> Self {
        CredentialKey { owner, purpose }
    }
}

/// That a credential is set, and since when; never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// Its address.
    pub key: CredentialKey,
    /// When it was first set.
    pub created_at: DateTime<Utc>,
    /// When it was last set.
    pub updated_at: DateTime<Utc>,
}

/// Storage of encrypted credentials.
pub trait CredentialStore: Send + Sync {
    /// Encrypts and stores a text secret, replacing any earlier value.
    fn put_credential(
        &self,
        key: &CredentialKey,
        secret: &SecretString,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Decrypts a text secret. `Decrypt` when the row was altered or the key differs;
    /// `Corrupt` when it holds bytes that are not UTF-8.
    fn get_credential(
        &self,
        key: &CredentialKey,
    ) -> impl Future<Output = Result<Option<SecretString>, StoreError>> + Send;

    /// Encrypts and stores a binary secret, replacing any earlier value.
    fn put_credential_bytes(
        &self,
        key: &CredentialKey,
        secret: &SecretSlice<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Decrypts a binary secret.
    fn get_credential_bytes(
        &self,
        key: &CredentialKey,
    ) -> impl Future<Output = Result<Option<SecretSlice<u8>>, StoreError>> + Send;

    /// Deletes a credential; `false` when there was none.
    fn delete_credential(
        &self,
        key: &CredentialKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The credentials set for an owner (without values), ordered by purpose.
    fn list_credentials(
        &self,
        owner: &CredentialOwner,
    ) -> impl Future<Output = Result<Vec<CredentialInfo>, StoreError>> + Send;
}
