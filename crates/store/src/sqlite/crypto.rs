//! AES-256-GCM sealing of credentials with the key from secret.key.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use secrecy::{ExposeSecret, SecretBox};

/// Length of the key in secret.key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an AES-GCM nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// The version of the sealing scheme written into each credential row.
pub(crate) const SCHEME: i64 = 1;

const KEY_CHECK_AAD: &[u8] = b"ctibridge/key-check/v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"ctibridge key check";

/// Decryption failed: wrong key, altered ciphertext or nonce, or other associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFailed;

/// Holds the key; encrypts and decrypts.
#[derive(Debug)]
pub(crate) struct Sealer {
    key: SecretBox<[u8; KEY_LEN]>,
}

impl Sealer {
    pub(crate) fn new(key: SecretBox<[u8; KEY_LEN]>) -> Self {
        Sealer { key }
    }

    /// A fresh random key.
    pub(crate) fn generate_key() -> SecretBox<[u8; KEY_LEN]> {
        SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| OsRng.fill_bytes(k))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.key.expose_secret()))
    }

    /// Encrypts with a fresh random nonce; returns (nonce, ciphertext with tag).
    pub(crate) fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<([u8; NONCE_LEN], Vec<u8>), OpenFailed> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| OpenFailed)?;
        Ok((nonce.into(), ciphertext))
    }

    /// Decrypts and authenticates. The plaintext is the caller's to wrap in a secret type.
    pub(crate) fn open(
        &self,
        aad: &[u8],
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, OpenFailed> {
        if nonce.len() != NONCE_LEN {
            return Err(OpenFailed);
        }
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| OpenFailed)
    }

    /// A value stored in the database that only this key opens: it tells at start whether
    /// secret.key is the file the credentials were written with.
    pub(crate) fn make_key_check(&self) -> Result<Vec<u8>, OpenFailed> {
        let (nonce, ciphertext) = self.seal(KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    /// Whether `blob` (from [`Self::make_key_check`]) was made with this key.
    pub(crate) fn verify_key_check(&self, blob: &[u8]) -> bool {
        if blob.len() < NONCE_LEN {
            return false;
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        self.open(KEY_CHECK_AAD, nonce, ciphertext)
            .is_ok_and(|plain| plain == KEY_CHECK_PLAINTEXT)
    }
}

/// The associated data of a credential row: binds its ciphertext to owner and purpose, with
/// length prefixes so that no two different triples encode alike.
pub(crate) fn credential_aad(owner_kind: &str, owner_id: &str, purpose: &str) -> Vec<u8> {
    let mut aad = b"ctibridge/credential/v1".to_vec();
    for part in [owner_kind, owner_id, purpose] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(Sealer::generate_key())
    }

    #[test]
    fn sealed_bytes_open_to_the_plaintext() {
        let s = sealer();
        let (nonce, ct) = s.seal(b"aad", b"secret value").unwrap();
        assert_eq!(s.open(b"aad", &nonce, &ct).unwrap(), b"secret value");
        assert!(!ct.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let s = sealer();
        let (n1, c1) = s.seal(b"aad", b"same").unwrap();
        let (n2, c2) = s.seal(b"aad", b"same").unwrap();
        assert_ne!(n1, n2);
        assert_ne!(c1, c2);
    }

    #[test]
    fn any_flipped_bit_in_ciphertext_or_nonce_fails_to_open() {
        let s = sealer();
        let (nonce, ct) = s.seal(b"aad", b"secret value").unwrap();
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert_eq!(s.open(b"aad", &nonce, &bad), Err(OpenFailed), "byte {i}");
        }
        for i in 0..nonce.len() {
            let mut bad = nonce;
            bad[i] ^= 0x80;
            assert_eq!(s.open(b"aad", &bad, &ct), Err(OpenFailed), "nonce byte {i}");
        }
        assert_eq!(s.open(b"aad", &nonce[..11], &ct), Err(OpenFailed));
    }

    #[test]
    fn other_associated_data_fails_to_open() {
        let s = sealer();
        let (nonce, ct) = s.seal(b"owner a", b"secret").unwrap();
        assert_eq!(s.open(b"owner b", &nonce, &ct), Err(OpenFailed));
    }

    #[test]
    fn another_key_fails_to_open_and_fails_the_key_check() {
        let (a, b) = (sealer(), sealer());
        let (nonce, ct) = a.seal(b"aad", b"secret").unwrap();
        assert_eq!(b.open(b"aad", &nonce, &ct), Err(OpenFailed));
        let check = a.make_key_check().unwrap();
        assert!(a.verify_key_check(&check));
        assert!(!b.verify_key_check(&check));
        assert!(!a.verify_key_check(&check[..5]));
    }

    #[test]
    fn credential_aad_keeps_the_parts_apart() {
        assert_ne!(
            credential_aad("starface_user", "ab", "c"),
            credential_aad("starface_user", "a", "bc")
        );
        assert_ne!(
            credential_aad("instance", "1", "x"),
            credential_aad("starface_user", "1", "x")
        );
    }

    #[test]
    fn debug_of_the_sealer_hides_the_key() {
        let key = SecretBox::new(Box::new([0xAB_u8; KEY_LEN]));
        let shown = format!("{:?}", Sealer::new(key));
        assert!(shown.contains("REDACTED"), "{shown}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab, ab"),
            "{shown}"
        );
    }
}
