//! A month of ledger entries as CSV, and a closed month's frozen totals as XLSX, for HR's
//! spreadsheets, behind signed links that expire: the bot and the HR console hand out a link
//! and the web server checks it, so a link works in a browser without a login, for a
//! limited time, and for that file only.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::dingtalk::crypto::hmac_sha256;
use crate::domain::Calendar;
use crate::domain::Closable;
use crate::ledger::{Entry, EntryKind};

/// What a link downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// Every entry of the month, as CSV.
    Entries,
    /// A closed month's frozen totals per person and department, as XLSX.
    Archive,
}

impl Download {
    /// The file a link names, e.g. `2026-10.csv`; the signature covers it.
    pub fn file(self, month: impl Into<Closable>) -> String {
        let month = month.into();
        match self {
            Download::Entries => format!("{month}.csv"),
            Download::Archive => format!("{month}.xlsx"),
        }
    }

    /// The download and month a file name asks for.
    pub fn of_file(file: &str) -> Option<(Download, &str)> {
        if let Some(month) = file.strip_suffix(".csv") {
            Some((Download::Entries, month))
        } else {
            file.strip_suffix(".xlsx")
                .map(|month| (Download::Archive, month))
        }
    }
}

/// Makes and checks export links.
#[derive(Clone)]
pub struct ExportLinks {
    /// Where browsers reach this server, e.g. `https://jifen.example.com`.
    base_url: String,
    key: [u8; 32],
    ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link expired; ask the bot for a new one")]
    Expired,
    #[error("the link's signature is wrong")]
    BadSignature,
}

impl ExportLinks {
    /// Links are signed with a key derived from `secret` (the app secret), so no second secret
    /// needs managing, and a link never reveals the secret.
    pub fn new(base_url: &str, secret: &SecretString, ttl: Duration) -> ExportLinks {
        let mut derive = hmac_sha256(secret.expose_secret().as_bytes());
        derive.update(b"jifen export links v1");
        ExportLinks {
            base_url: base_url.trim_end_matches('/').to_string(),
            key: derive.finalize().into_bytes().into(),
            ttl,
        }
    }

    fn mac(&self, file: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = hmac_sha256(&self.key);
        mac.update(format!("{file}\n{expires}").as_bytes());
        mac
    }

    /// A link to `month`'s `download`, valid from `now` for the configured time.
    pub fn link(&self, month: impl Into<Closable>, download: Download, now: Timestamp) -> String {
        let expires = now.as_second() + self.ttl.as_secs() as i64;
        let file = download.file(month);
        let signature = hex::encode(self.mac(&file, expires).finalize().into_bytes());
        format!(
            "{}/export/{file}?expires={expires}&signature={signature}",
            self.base_url
        )
    }

    pub fn minutes(&self) -> u64 {
        self.ttl.as_secs() / 60
    }

    /// Checks a link's parts (as received: the file name, e.g. `2026-10.csv`) in constant
    /// time.
    pub fn verify(
        &self,
        file: &str,
        expires: &str,
        signature: &str,
        now: Timestamp,
    ) -> Result<(), LinkError> {
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        let signature = hex::decode(signature).map_err(|_| LinkError::Malformed)?;
        self.mac(file, expires)
            .verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;
        if now.as_second() > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

const HEADER: [&str; 14] = [
    "id",
    "occurred_at",
    "posted_at",
    "userid",
    "name",
    "kind",
    "status",
    "points",
    "score_delta",
    "balance_delta",
    "pending_delta",
    "rule_id",
    "actor",
    "explanation",
];

/// The CSV header line; Excel needs the byte-order mark to read the Chinese as UTF-8.
pub fn csv_header() -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    out.write_record(HEADER)?;
    out.into_inner().map_err(|e| e.into_error().into())
}

/// CSV lines for `entries`, times in the organisation's zone; `names` maps userids to names,
/// sorted by userid (a missing name is left blank).
pub fn csv_rows(
    entries: &[Entry],
    names: &[(String, String)],
    calendar: &Calendar,
) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let local = |at: Timestamp| {
        at.to_zoned(calendar.time_zone().clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    for e in entries {
        let name = names
            .binary_search_by(|(userid, _)| userid.as_str().cmp(&e.userid))
            .map(|i| names[i].1.as_str())
            .unwrap_or("");
        let status = match (e.kind, e.is_pending(), e.reversed_by) {
            (_, _, Some(_)) => "reversed",
            (EntryKind::Rule | EntryKind::Manual, true, _) => match e.resolved_by {
                Some(_) => "decided",
                None => "pending",
            },
            _ => "granted",
        };
        out.write_record([
            e.id.to_string(),
            local(e.occurred_at),
            local(e.posted_at),
            e.userid.clone(),
            name.to_string(),
            e.kind.as_str().to_string(),
            status.to_string(),
            e.points.to_string(),
            e.deltas.score.to_string(),
            e.deltas.balance.to_string(),
            e.deltas.pending.to_string(),
            e.rule_id.clone().unwrap_or_default(),
            e.actor.clone().unwrap_or_default(),
            e.explanation.zh.clone(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Month;

    fn links() -> ExportLinks {
        ExportLinks::new(
            "http://jifen.test/",
            &SecretString::from("app-secret"),
            Duration::from_secs(3600),
        )
    }

    #[test]
    fn a_link_is_valid_for_its_month_until_it_expires() {
        let links = links();
        let now: Timestamp = "2026-11-01T02:00:00Z".parse().unwrap();
        let month = Month::new(2026, 10).unwrap();
        let link = links.link(month, Download::Entries, now);
        let query = link
            .strip_prefix("http://jifen.test/export/2026-10.csv?expires=")
            .unwrap();
        let (expires, signature) = query.split_once("&signature=").unwrap();
        let later = |s: i64| now + jiff::SignedDuration::from_secs(s);
        let cases = [
            ("2026-10.csv", expires, signature, later(0), Ok(())),
            ("2026-10.csv", expires, signature, later(3600), Ok(())),
            (
                "2026-10.csv",
                expires,
                signature,
                later(3601),
                Err(LinkError::Expired),
            ),
            (
                "2026-09.csv",
                expires,
                signature,
                later(0),
                Err(LinkError::BadSignature),
            ),
            (
                "2026-10.xlsx",
                expires,
                signature,
                later(0),
                Err(LinkError::BadSignature),
            ),
            (
                "2026-10.csv",
                "9999999999",
                signature,
                later(0),
                Err(LinkError::BadSignature),
            ),
            (
                "2026-10.csv",
                expires,
                "00ff",
                later(0),
                Err(LinkError::BadSignature),
            ),
            (
                "2026-10.csv",
                "soon",
                signature,
                later(0),
                Err(LinkError::Malformed),
            ),
            (
                "2026-10.csv",
                expires,
                "zz",
                later(0),
                Err(LinkError::Malformed),
            ),
        ];
        for (month, expires, signature, at, expected) in cases {
            assert_eq!(
                links.verify(month, expires, signature, at),
                expected,
                "{month} {expires}"
            );
        }
    }

    #[test]
    fn a_file_name_says_what_it_downloads() {
        let cases = [
            ("2026-10.csv", Some((Download::Entries, "2026-10"))),
            ("2026-10.xlsx", Some((Download::Archive, "2026-10"))),
            ("2026-10.pdf", None),
            ("2026-10", None),
        ];
        for (file, expected) in cases {
            assert_eq!(Download::of_file(file), expected, "{file}");
        }
    }

    #[test]
    fn another_secret_signs_differently() {
        let now = Timestamp::UNIX_EPOCH;
        let month = Month::new(2026, 10).unwrap();
        let other = ExportLinks::new(
            "http://jifen.test",
            &SecretString::from("other"),
            Duration::from_secs(3600),
        );
        let link = |links: &ExportLinks| links.link(month, Download::Archive, now);
        assert_ne!(link(&links()), link(&other));
        assert!(link(&other).contains("/export/2026-10.xlsx?"));
    }
}
