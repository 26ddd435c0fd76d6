//! The STARFACE authentication formulas: the UCI `de.vertico.starface.auth` value and the REST
//! login secret.
//!
//! Sources: UCI from the STARFACE cheat sheet for 6.4.2.19 as quoted in public clients
//! (visual4/iahcti, si-solutions developer wiki); REST from the Swagger file of
//! STARFACEGmbH/rest-examples (`/login` POST description) and its Java, PHP and JavaScript login
//! examples, which all hash with lower-case hex digests (Apache `DigestUtils.digestAsHex`, PHP
//! `hash('sha512', ..)`, js-sha512). Strings are hashed as their UTF-8 bytes.
//!
//! Every value here is password-equivalent: keep it in a `secrecy` type and out of logs.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

/// How the PBX wants the REST secret computed (`loginType` of `GET /rest/login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginType {
    /// Users stored on the PBX: a SHA-512 challenge response.
    Internal,
    /// Users authenticated against Active Directory: base64 of the plain password.
    ActiveDirectory,
}

/// Lower-case hex SHA-512 of `s`.
fn sha512_hex(s: &str) -> String {
    hex::encode(Sha512::digest(s.as_bytes()))
}

/// `lower(hex(SHA512(password)))`: the value a connector stores instead of the password.
pub fn password_sha512_hex(password: &str) -> String {
    sha512_hex(password)
}

/// The UCI auth value `loginId:lower(hex(SHA512(loginId*password_sha512_hex)))`.
///
/// There is no nonce, so the value is constant per user and password: it is a credential.
pub fn uci_auth(login_id: &str, password_sha512_hex: &str) -> String {
    let inner = format!("{login_id}*{password_sha512_hex}");
    format!("{login_id}:{}", sha512_hex(&inner))
}

/// The REST secret for [`LoginType::Internal`]:
/// `loginId:lower(hex(SHA512(loginId + nonce + password_sha512_hex)))`.
pub fn rest_secret_internal(login_id: &str, nonce: &str, password_sha512_hex: &str) -> String {
    let inner = format!("{login_id}{nonce}{password_sha512_hex}");
    format!("{login_id}:{}", sha512_hex(&inner))
}

/// The REST secret for [`LoginType::ActiveDirectory`]: `base64(loginId + nonce + password)`.
pub fn rest_secret_active_directory(login_id: &str, nonce: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{login_id}{nonce}{password}"))
}

/// The login id part of a UCI auth value or an Internal REST secret (`loginId:hash`).
pub fn login_id_of(auth_or_secret: &str) -> Option<&str> {
    auth_or_secret
        .split_once(':')
        .map(|(login, _)| login)
        .filter(|login| !login.is_empty())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    // Vectors computed outside Rust with Python's hashlib, e.g.:
    // python3 -c 'import hashlib;h=lambda s:hashlib.sha512(s.encode()).hexdigest();print("1001:"+h("1001*"+h("ben-pass")))'

    #[test]
    fn password_hash_is_lower_case_hex_sha512() {
        assert_eq!(
            password_sha512_hex("ben-pass"),
            "38f48a8a78d0039c0c544eeafa2ef8c2e4e5f6e1f5656dec64601d50534ca5013baca4f3a53be6a4960cf2838c5e71843ee7b3aefd1c0df8d5730bd4b045da22"
        );
    }

    #[test]
    fn uci_auth_matches_the_published_example() {
        // si-solutions developer wiki "dev_xmlrpc": login 123, password Pass123.
        assert_eq!(
            password_sha512_hex("Pass123"),
            "d01feaafb5359e1fa2c020a76ebb526fc75786b0b837e0c9a4dcabd58ad734efa469513cf66a272d5ef4b1b9646b4b39f50807afc8f8663e1c6bb23552b04cd6"
        );
        assert_eq!(
            uci_auth("123", &password_sha512_hex("Pass123")),
            "123:81d8af78c98b153485f7d48e3437eb735ba37f0f013c5e06ba74536776c5945694e7cde71e2effbed7b5a1d1a4566fadcd847ef4098c234052fdfd288e8b6ced"
        );
    }

    #[test]
    fn uci_auth_outer_step_matches_a_second_published_value() {
        // A public CRM integration quotes this link value for login "11"; it is SHA512("11*"),
        // i.e. the outer step applied to an empty hash (their token field was empty).
        assert_eq!(
            uci_auth("11", ""),
            "11:af26fc6d1350f001b075bc83327e104df6b400620b90e6d29efd710b4eabc55d13daff7d8cf968252587dc5ae962fd1ef71ae9d1b84e9b6dbcab95696b6d4dd6"
        );
    }

    #[test]
    fn uci_auth_of_demo_user_and_non_ascii_password() {
        assert_eq!(
            uci_auth("1001", &password_sha512_hex("ben-pass")),
            "1001:a4c649caa6c02b6329da56ece094506cb54fd5714437c30b0d9d6f5ca3d6e0a4ad261ab31284fa0820bcf4697e524dbcd24827bda236c1e3c7c8bc3e35838a07"
        );
        assert_eq!(
            uci_auth("1001", &password_sha512_hex("pässwort")),
            "1001:b4d7c64e38d0e3ae06eebbfa3207c08b434f60e0d6c406a954f9df6b522a9f0f6585a7ff0913983a867a79e52260f39cdfd23e7de141ae553670a2d025f2454c"
        );
    }

    #[test]
    fn rest_internal_secret_has_no_star_and_includes_the_nonce() {
        assert_eq!(
            rest_secret_internal("0001", "n-123", &password_sha512_hex("admin-pass")),
            "0001:1c137d896762e7fde5b604a2b8176b3ce63fb6cd100c56635d2f4619489cd229b3fe0b62e660107a9093e6a8285d65f6e5ed0191a7ba0eb135b18a7c9f4194db"
        );
    }

    #[test]
    fn rest_active_directory_secret_is_base64_of_the_concatenation() {
        assert_eq!(
            rest_secret_active_directory("1001", "n-123", "ben-pass"),
            "MTAwMW4tMTIzYmVuLXBhc3M="
        );
        assert_eq!(
            rest_secret_active_directory("1001", "n", "pässwort"),
            "MTAwMW5ww6Rzc3dvcnQ="
        );
    }

    #[test]
    fn login_type_uses_the_swagger_spelling() {
        assert_eq!(
            serde_json::to_string(&LoginType::Internal).ok().as_deref(),
            Some("\"Internal\"")
        );
        assert_eq!(
            serde_json::from_str::<LoginType>("\"ActiveDirectory\"").ok(),
            Some(LoginType::ActiveDirectory)
        );
    }

    #[test]
    fn login_id_is_the_part_before_the_colon() {
        assert_eq!(login_id_of("1001:abc"), Some("1001"));
        assert_eq!(login_id_of(":abc"), None);
        assert_eq!(login_id_of("abc"), None);
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(secrets_equal("a:b", "a:b"));
        assert!(!secrets_equal("a:b", "a:c"));
        assert!(!secrets_equal("a:b", "a:bc"));
    }
}
