//! API keys for other systems (MES, training platforms, project tools): what each may do
//! (its scopes), and the key's text, `jifen_<prefix>_<secret>`, of which jifen keeps only
//! the prefix, to find it, and a SHA-256 of the secret, to check it.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a key may do. `admin` may do everything the others may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Scope {
    /// Every GET of the API.
    #[serde(rename = "read")]
    Read,
    /// `POST /api/v1/events`.
    #[serde(rename = "events:write")]
    EventsWrite,
    /// Awards, deductions and revocations.
    #[serde(rename = "awards:write")]
    AwardsWrite,
    /// HR's decisions: redemptions, appeals; and everything above.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Read,
        Scope::EventsWrite,
        Scope::AwardsWrite,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::EventsWrite => "events:write",
            Scope::AwardsWrite => "awards:write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }

    pub fn names() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}

/// The scopes a key holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// Scopes as stored: space-separated names; an unknown one is refused.
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut scopes = Vec::new();
        for name in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| name.to_string())?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(Scopes(scopes))
    }

    pub fn allows(&self, needed: Scope) -> bool {
        self.0.iter().any(|&s| s == needed || s == Scope::Admin)
    }

    pub fn stored(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A key's text cut into the part that finds it and the part that proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub prefix: &'a str,
    pub secret: &'a str,
}

const KEY_START: &str = "jifen_";

/// Reads `jifen_<prefix>_<secret>`; anything else is not one of our keys.
pub fn presented(text: &str) -> Option<PresentedKey<'_>> {
    let rest = text.trim().strip_prefix(KEY_START)?;
    let (prefix, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(prefix, PREFIX_HEX) && hex(secret, SECRET_HEX)).then_some(PresentedKey { prefix, secret })
}

const PREFIX_HEX: usize = 8;
const SECRET_HEX: usize = 40;

/// A new key from random bytes: its prefix, its secret, and the whole text shown once.
pub fn key_text(random: [u8; 24]) -> (String, String, String) {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let (prefix, secret) = hex.split_at(PREFIX_HEX);
    let text = format!("{KEY_START}{prefix}_{secret}");
    (prefix.to_string(), secret.to_string(), text)
}

/// What is stored to check a secret: its SHA-256, in hex. The secret is 160 random bits, so
/// a plain hash is as strong as a slow one would be.
pub fn secret_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub name: String,
    pub prefix: String,
    #[serde(skip)]
    pub secret_sha256: String,
    pub scopes: Scopes,
    pub created_at: jiff::Timestamp,
    pub revoked_at: Option<jiff::Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_read_from_names_and_admin_allows_them_all() {
        let cases = [
            ("read", Some("read")),
            ("events:write read", Some("read events:write")),
            ("awards:write,awards:write", Some("awards:write")),
            ("admin", Some("admin")),
            ("", Some("")),
            ("write", None),
            ("read root", None),
        ];
        for (text, stored) in cases {
            assert_eq!(
                Scopes::parse(text).ok().map(|s| s.stored()),
                stored.map(str::to_string),
                "{text:?}"
            );
        }
        let reader = Scopes::parse("read").unwrap();
        assert!(reader.allows(Scope::Read) && !reader.allows(Scope::AwardsWrite));
        let admin = Scopes::parse("admin").unwrap();
        assert!(Scope::ALL.iter().all(|&s| admin.allows(s)));
    }

    #[test]
    fn a_key_is_found_by_its_prefix_and_proved_by_its_secret() {
        let (prefix, secret, text) = key_text([7; 24]);
        assert_eq!(prefix, "07070707");
        assert_eq!(presented(&text).map(|k| k.secret), Some(secret.as_str()));
        assert_eq!(text.len(), "jifen_".len() + 8 + 1 + 40);
        let key = presented(&text).unwrap();
        assert_eq!(key.prefix, prefix);
        assert_eq!(secret_digest(key.secret).len(), 64);
        for wrong in [
            "",
            "jifen_",
            "jifen_07070707",
            "jifen_0707070_0707070707070707070707070707070707070707",
            "jifen_07070707_07",
            "jifen_0707070g_0707070707070707070707070707070707070707",
            "other_07070707_0707070707070707070707070707070707070707",
        ] {
            assert_eq!(presented(wrong), None, "{wrong:?}");
        }
    }
}
