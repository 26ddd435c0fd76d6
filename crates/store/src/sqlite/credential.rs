use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::SqliteStore;
use super::crypto::{SCHEME, credential_aad};
use crate::time::{from_ms, now_ms};
use crate::{
    CredentialInfo, CredentialKey, CredentialOwner, CredentialPurpose, CredentialStore, StoreError,
};

#[derive(sqlx::FromRow)]
struct SealedRow {
    scheme: i64,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    owner_kind: String,
    owner_id: String,
    purpose: String,
    created_at: i64,
    updated_at: i64,
}

fn check_owner(owner: &CredentialOwner) -> Result<(), StoreError> {
    if let CredentialOwner::StarfaceUser(id) = owner
        && id.is_empty()
    {
        return Err(StoreError::Invalid {
            what: "credential owner",
            problem: "the STARFACE user id must not be empty".into(),
        });
    }
    Ok(())
}

impl SqliteStore {
    async fn put_sealed(&self, key: &CredentialKey, plaintext: &[u8]) -> Result<(), StoreError> {
        check_owner(&key.owner)?;
        let (kind, id, purpose) = (key.owner.kind(), key.owner.id(), key.purpose.as_str());
        let (nonce, ciphertext) = self
            .sealer()
            .seal(&credential_aad(kind, &id, purpose), plaintext)
            .map_err(|_| StoreError::Invalid {
                what: "credential",
                problem: "too large to encrypt".into(),
            })?;
        sqlx::query(
            "INSERT INTO credentials \
               (owner_kind, owner_id, purpose, scheme, nonce, ciphertext, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
             ON CONFLICT (owner_kind, owner_id, purpose) DO UPDATE SET \
               scheme = excluded.scheme, nonce = excluded.nonce, \
               ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        )
        .bind(kind)
        .bind(id.as_ref())
        .bind(purpose)
        .bind(SCHEME)
        .bind(&nonce[..])
        .bind(ciphertext)
        .bind(now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::db("saving a credential"))?;
        tracing::debug!(owner_kind = kind, owner_id = %id, purpose, "credential stored");
        Ok(())
    }

    async fn get_opened(&self, key: &CredentialKey) -> Result<Option<Vec<u8>>, StoreError> {
        let (kind, id, purpose) = (key.owner.kind(), key.owner.id(), key.purpose.as_str());
        let row: Option<SealedRow> = sqlx::query_as(
            "SELECT scheme, nonce, ciphertext FROM credentials \
             WHERE owner_kind = ?1 AND owner_id = ?2 AND purpose = ?3",
        )
        .bind(kind)
        .bind(id.as_ref())
        .bind(purpose)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::db("reading a credential"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let failed = || StoreError::Decrypt {
            owner_kind: kind.to_owned(),
            owner_id: id.to_string(),
            purpose: purpose.to_owned(),
        };
        if row.scheme != SCHEME {
            return Err(failed());
        }
        let plaintext = self
            .sealer()
            .open(
                &credential_aad(kind, &id, purpose),
                &row.nonce,
                &row.ciphertext,
            )
            .map_err(|_| failed())?;
        Ok(Some(plaintext))
    }
}

impl CredentialStore for SqliteStore {
    async fn put_credential(
        &self,
        key: &CredentialKey,
        secret: &SecretString,
    ) -> Result<(), StoreError> {
        self.put_sealed(key, secret.expose_secret().as_bytes())
            .await
    }

    async fn get_credential(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<SecretString>, StoreError> {
        let Some(mut bytes) = self.get_opened(key).await? else {
            return Ok(None);
        };
        // Copied into an exact-size allocation and the decrypted buffer wiped: converting the
        // buffer itself would shrink it by reallocating and leave the plaintext behind.
        let secret = std::str::from_utf8(&bytes).map(SecretString::from);
        bytes.zeroize();
        match secret {
            Ok(secret) => Ok(Some(secret)),
            Err(_) => Err(StoreError::corrupt(
                "credential",
                format!("{}/{} is binary, not text", key.owner.kind(), key.purpose),
            )),
        }
    }

    async fn put_credential_bytes(
        &self,
        key: &CredentialKey,
        secret: &SecretSlice<u8>,
    ) -> Result<(), StoreError> {
        self.put_sealed(key, secret.expose_secret()).await
    }

    async fn get_credential_bytes(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<SecretSlice<u8>>, StoreError> {
        Ok(self.get_opened(key).await?.map(|mut bytes| {
            // `to_vec` allocates exactly `len`, so boxing it does not reallocate (see above).
            let secret = SecretSlice::from(bytes.to_vec());
            bytes.zeroize();
            secret
        }))
    }

    async fn delete_credential(&self, key: &CredentialKey) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM credentials WHERE owner_kind = ?1 AND owner_id = ?2 AND purpose = ?3",
        )
        .bind(key.owner.kind())
        .bind(key.owner.id().as_ref())
        .bind(key.purpose.as_str())
        .execute(self.pool())
        .await
        .map_err(StoreError::db("deleting a credential"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_credentials(
        &self,
        owner: &CredentialOwner,
    ) -> Result<Vec<CredentialInfo>, StoreError> {
        let rows: Vec<InfoRow> = sqlx::query_as(
            "SELECT owner_kind, owner_id, purpose, created_at, updated_at FROM credentials \
             WHERE owner_kind = ?1 AND owner_id = ?2 ORDER BY purpose",
        )
        .bind(owner.kind())
        .bind(owner.id().as_ref())
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::db("listing credentials"))?;
        rows.into_iter()
            .map(|r| {
                Ok(CredentialInfo {
                    key: CredentialKey {
                        owner: CredentialOwner::from_parts(&r.owner_kind, &r.owner_id)?,
                        purpose: CredentialPurpose::new(r.purpose)
                            .map_err(|e| StoreError::corrupt("credential purpose", e))?,
                    },
                    created_at: from_ms(r.created_at)?,
                    updated_at: from_ms(r.updated_at)?,
                })
            })
            .collect()
    }
}
