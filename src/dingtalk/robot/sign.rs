//! The robot's request signature (PROTOCOL.md section d): `sign` is
//! Base64(HmacSHA256(appSecret, timestamp + "\n" + appSecret)) and `timestamp` must be
//! within an hour of our clock. Pure: the clock is a parameter.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};

use crate::dingtalk::crypto::hmac_sha256;
use sha2::Sha256;

/// The most DingTalk allows between the signed timestamp and our clock: one hour. jifen's
/// own window (`robot.signature_window_seconds`) is shorter by default, because the sign
/// covers only the timestamp: captured headers sign any body until the window closes.
pub const WINDOW_MS: i64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the timestamp header is missing")]
    MissingTimestamp,
    #[error("the sign header is missing")]
    MissingSign,
    #[error("the timestamp header is not a number of milliseconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from this server's clock (outside the window)")]
    Stale(i64),
    #[error("the sign does not match (wrong app secret, or a forged request)")]
    Mismatch,
}

fn mac(secret: &str, timestamp: &str) -> Hmac<Sha256> {
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(secret.as_bytes());
    mac
}

/// The `sign` DingTalk sends with `timestamp` (and the emulator sends in its place).
pub fn sign(secret: &str, timestamp: &str) -> String {
    STANDARD.encode(mac(secret, timestamp).finalize().into_bytes())
}

/// Checks both headers; `window_ms` is inclusive, as in the reference implementation.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_ms: i64,
    window_ms: i64,
) -> Result<(), SignError> {
    let timestamp = timestamp.ok_or(SignError::MissingTimestamp)?;
    let signature = signature.ok_or(SignError::MissingSign)?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignError::BadTimestamp)?;
    let skew = now_ms.saturating_sub(sent);
    if skew.unsigned_abs() > window_ms.unsigned_abs() {
        return Err(SignError::Stale(skew / 1000));
    }
    let raw = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignError::Mismatch)?;
    // verify_slice compares in constant time.
    mac(secret, timestamp)
        .verify_slice(&raw)
        .map_err(|_| SignError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA_2O76UMFxFkM_R5Kjp1vRt-1f";
    const TS: &str = "1718750779486";
    const SIGN: &str = "GOQihiwhN8oBTTCbgONIiv+aORV82l6LSc+4XZXQBv0=";

    #[test]
    fn signing_reproduces_the_reference_sign() {
        assert_eq!(sign(SECRET, TS), SIGN);
    }

    #[test]
    fn each_header_problem_has_its_own_error() {
        let now = 1_718_750_779_486;
        type Case<'a> = (Option<&'a str>, Option<&'a str>, i64, Result<(), SignError>);
        let cases: &[Case] = &[
            (Some(TS), Some(SIGN), now, Ok(())),
            (None, Some(SIGN), now, Err(SignError::MissingTimestamp)),
            (Some(TS), None, now, Err(SignError::MissingSign)),
            (Some("soon"), Some(SIGN), now, Err(SignError::BadTimestamp)),
            (
                Some(TS),
                Some(SIGN),
                now + 7_200_000,
                Err(SignError::Stale(7200)),
            ),
            (Some(TS), Some("not base64!"), now, Err(SignError::Mismatch)),
            (Some(TS), Some(""), now, Err(SignError::Mismatch)),
        ];
        for (timestamp, signature, now, expected) in cases {
            assert_eq!(
                verify(SECRET, *timestamp, *signature, *now, WINDOW_MS),
                *expected,
                "{timestamp:?} {signature:?}"
            );
        }
    }
}
