//! Sessions of the micro-app: after DingTalk's free login, the person's userid and an expiry
//! in a cookie signed with a key derived from the app secret, and a CSRF token bound to the
//! session. Pure: signing and checking need only the key and the time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};

use crate::dingtalk::crypto::hmac_sha256;

/// The cookie's name.
pub const COOKIE: &str = "jifen_session";

/// Signs and checks sessions.
#[derive(Clone)]
pub struct SessionKeys {
    key: [u8; 32],
    ttl: SignedDuration,
}

/// Someone signed in, until `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub userid: String,
    pub expires: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session cookie is malformed")]
    Malformed,
    #[error("the session cookie's signature is wrong")]
    BadSignature,
    #[error("the session expired; open the page again from DingTalk")]
    Expired,
}

impl SessionKeys {
    /// Sessions are signed with a key derived from `secret` (the app secret), so there is no
    /// second secret to manage, and a cookie never reveals the secret.
    pub fn new(secret: &SecretString, ttl: SignedDuration) -> SessionKeys {
        let mut derive = hmac_sha256(secret.expose_secret().as_bytes());
        derive.update(b"jifen micro-app sessions v1");
        SessionKeys {
            key: derive.finalize().into_bytes().into(),
            ttl,
        }
    }

    pub fn ttl(&self) -> SignedDuration {
        self.ttl
    }

    fn mac(&self, purpose: &str, text: &str) -> hmac::Hmac<sha2::Sha256> {
        let mut mac = hmac_sha256(&self.key);
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(text.as_bytes());
        mac
    }

    /// The cookie value of a session for `userid` from `now`: `userid.expires.signature`,
    /// the userid in URL-safe base64 so that no character of it needs quoting.
    pub fn issue(&self, userid: &str, now: Timestamp) -> (String, Session) {
        let expires = now.saturating_add(self.ttl).unwrap_or(now);
        let body = format!("{}.{}", URL_SAFE_NO_PAD.encode(userid), expires.as_second());
        let signature = URL_SAFE_NO_PAD.encode(self.mac("session", &body).finalize().into_bytes());
        let session = Session {
            userid: userid.to_string(),
            expires,
        };
        (format!("{body}.{signature}"), session)
    }

    /// The session a cookie value stands for, checked in constant time and against `now`.
    pub fn check(&self, cookie: &str, now: Timestamp) -> Result<Session, SessionError> {
        let (body, signature) = cookie.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SessionError::Malformed)?;
        self.mac("session", body)
            .verify_slice(&signature)
            .map_err(|_| SessionError::BadSignature)?;
        let (userid, expires) = body.split_once('.').ok_or(SessionError::Malformed)?;
        let userid = URL_SAFE_NO_PAD
            .decode(userid)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(SessionError::Malformed)?;
        let expires = expires
            .parse::<i64>()
            .ok()
            .and_then(|s| Timestamp::from_second(s).ok())
            .ok_or(SessionError::Malformed)?;
        if expires <= now {
            return Err(SessionError::Expired);
        }
        Ok(Session { userid, expires })
    }

    /// The CSRF token of the session behind `cookie`: forms carry it back, and a request
    /// from another site cannot know it.
    pub fn csrf_token(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac("csrf", cookie).finalize().into_bytes())
    }

    /// Whether `token` is the CSRF token of `cookie`, in constant time.
    pub fn csrf_ok(&self, cookie: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|t| self.mac("csrf", cookie).verify_slice(&t).is_ok())
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(
            &SecretString::from("app-secret"),
            SignedDuration::from_hours(8),
        )
    }

    fn now() -> Timestamp {
        "2026-12-02T02:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_issued_session_is_accepted_until_it_expires() {
        let (cookie, session) = keys().issue("281826612426286785", now());
        assert_eq!(keys().check(&cookie, now()), Ok(session.clone()));
        assert_eq!(session.expires, "2026-12-02T10:00:00Z".parse().unwrap());
        let later = now() + SignedDuration::from_hours(8);
        assert_eq!(keys().check(&cookie, later), Err(SessionError::Expired));
    }

    #[test]
    fn forged_and_garbled_cookies_are_refused() {
        let (cookie, _) = keys().issue("lina", now());
        let (_, signature) = cookie.rsplit_once('.').unwrap();
        let someone_else = format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode("hr"),
            now().as_second() + 3600
        );
        let other_key =
            SessionKeys::new(&SecretString::from("other"), SignedDuration::from_hours(8));
        let (foreign, _) = other_key.issue("lina", now());
        let cases = [
            (someone_else.as_str(), SessionError::BadSignature),
            (foreign.as_str(), SessionError::BadSignature),
            ("", SessionError::Malformed),
            ("no-dots", SessionError::Malformed),
            ("a.b.!!!", SessionError::Malformed),
        ];
        for (value, error) in cases {
            assert_eq!(keys().check(value, now()), Err(error), "{value:?}");
        }
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session() {
        let (cookie, _) = keys().issue("lina", now());
        let (other, _) = keys().issue("hr", now());
        let token = keys().csrf_token(&cookie);
        assert!(keys().csrf_ok(&cookie, &token));
        assert!(!keys().csrf_ok(&other, &token));
        assert!(!keys().csrf_ok(&cookie, ""));
        assert!(!keys().csrf_ok(&cookie, "%%%"));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let header = "theme=dark; jifen_session=abc.1.sig; other=x";
        assert_eq!(cookie_value(header, COOKIE), Some("abc.1.sig"));
        assert_eq!(cookie_value(header, "missing"), None);
    }
}
