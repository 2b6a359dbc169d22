//! Discord's request signatures: every interaction POSTed to the endpoint carries
//! `X-Signature-Ed25519`, an Ed25519 signature by the application's key over the bytes of
//! `X-Signature-Timestamp` followed by the body. It is checked before anything is parsed, and
//! a timestamp more than five minutes away from now is refused, so a captured request cannot be
//! replayed later. The verification is ed25519-dalek's strict one (no malleable signatures,
//! no weak keys).

use ed25519_dalek::{Signature, VerifyingKey};

/// Environment variable holding the application's public key (hex), from the Developer
/// Portal's General Information page. It wins over `discord.public_key` in config.toml.
pub const PUBLIC_KEY_ENV: &str = "DISCORD_PUBLIC_KEY";

/// How far a request's timestamp may be from this machine's clock.
pub const MAX_SKEW_SECONDS: u64 = 5 * 60;

/// Why the public key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the Discord public key from {source_name} is not 64 hexadecimal characters: copy the application's Public Key from the Developer Portal (General Information)")]
    NotHex { source_name: String },
    #[error("the Discord public key from {source_name} is not a valid Ed25519 key: copy the application's Public Key from the Developer Portal (General Information)")]
    NotAKey { source_name: String },
}

/// Why a request's signature was refused; each is answered 401 and counted by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the X-Signature-Ed25519 or X-Signature-Timestamp header is missing")]
    Missing,
    #[error("the signature headers are not well formed")]
    Malformed,
    #[error("the request timestamp is more than five minutes from now")]
    Stale,
    #[error("the signature does not match the body")]
    Invalid,
}

impl Rejection {
    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Malformed => "malformed",
            Rejection::Stale => "stale",
            Rejection::Invalid => "invalid",
        }
    }
}

/// The application's public key, ready to verify requests.
#[derive(Debug, Clone)]
pub struct Verifier {
    key: VerifyingKey,
}

impl Verifier {
    /// From the hex text of the key; `source_name` says where it came from, for the error.
    pub fn from_hex(text: &str, source_name: &str) -> Result<Verifier, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::NotHex {
            source_name: source_name.to_string(),
        })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotAKey {
            source_name: source_name.to_string(),
        })?;
        Ok(Verifier { key })
    }

    /// Checks a request: the two header values (None when absent), the raw body, and the
    /// current unix time in seconds.
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        body: &[u8],
        now_unix: u64,
    ) -> Result<(), Rejection> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(Rejection::Missing);
        };
        let mut signature_bytes = [0u8; 64];
        hex::decode_to_slice(signature, &mut signature_bytes).map_err(|_| Rejection::Malformed)?;
        let seconds: u64 = std::str::from_utf8(timestamp)
            .ok()
            .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse().ok())
            .ok_or(Rejection::Malformed)?;
        if seconds.abs_diff(now_unix) > MAX_SKEW_SECONDS {
            return Err(Rejection::Stale);
        }
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp);
        message.extend_from_slice(body);
        self.key
            .verify_strict(&message, &Signature::from_bytes(&signature_bytes))
            .map_err(|_| Rejection::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: u64 = 1_790_000_000;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn verifier() -> Verifier {
        Verifier::from_hex(&hex::encode(key().verifying_key().to_bytes()), "test").unwrap()
    }

    fn sign(timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(key().sign(&message).to_bytes())
    }

    #[test]
    fn a_good_signature_passes_and_any_change_fails() {
        let body = br#"{"type":1}"#;
        let timestamp = NOW.to_string();
        let signature = sign(&timestamp, body);
        let check = |sig: Option<&str>, ts: Option<&str>, body: &[u8], now: u64| {
            verifier().verify(sig.map(str::as_bytes), ts.map(str::as_bytes), body, now)
        };
        assert_eq!(check(Some(&signature), Some(&timestamp), body, NOW), Ok(()));
        assert_eq!(
            check(Some(&signature), Some(&timestamp), br#"{"type":2}"#, NOW),
            Err(Rejection::Invalid)
        );
        let other_time = (NOW + 1).to_string();
        assert_eq!(
            check(Some(&signature), Some(&other_time), body, NOW),
            Err(Rejection::Invalid)
        );
        assert_eq!(
            check(None, Some(&timestamp), body, NOW),
            Err(Rejection::Missing)
        );
        assert_eq!(
            check(Some(&signature), None, body, NOW),
            Err(Rejection::Missing)
        );
        assert_eq!(
            check(Some("zz"), Some(&timestamp), body, NOW),
            Err(Rejection::Malformed)
        );
        assert_eq!(
            check(Some(&signature), Some("-5"), body, NOW),
            Err(Rejection::Malformed)
        );
    }

    #[test]
    fn a_timestamp_five_minutes_away_is_stale() {
        let body = b"{}";
        let old = (NOW - MAX_SKEW_SECONDS - 1).to_string();
        let signature = sign(&old, body);
        assert_eq!(
            verifier().verify(Some(signature.as_bytes()), Some(old.as_bytes()), body, NOW),
            Err(Rejection::Stale)
        );
        let edge = (NOW - MAX_SKEW_SECONDS).to_string();
        let signature = sign(&edge, body);
        assert_eq!(
            verifier().verify(Some(signature.as_bytes()), Some(edge.as_bytes()), body, NOW),
            Ok(())
        );
    }

    #[test]
    fn a_bad_key_is_named() {
        assert!(matches!(
            Verifier::from_hex("abc", "DISCORD_PUBLIC_KEY"),
            Err(KeyError::NotHex { .. })
        ));
        let error = Verifier::from_hex(&"g".repeat(64), "discord.public_key").unwrap_err();
        assert!(error.to_string().contains("discord.public_key"));
    }
}
