//! Why an attempt at an inbox row did not succeed, sorted once by what to do about it: try
//! again after a backoff, come back after a wait that is no fault of the row's, or set the
//! row aside because trying again cannot help.

use std::time::Duration;

use super::normalise::NormaliseError;
use super::source::SourceError;
use crate::bot::BotError;
use crate::ledger::LedgerError;
use crate::store::StoreError;

/// How long to wait when another writer holds the database's lock.
const CONTENTION_WAIT: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The cause may pass (DingTalk timed out, the database was unreachable): try again
    /// after a backoff, counting the attempt.
    #[error("{0}")]
    Retry(String),
    /// Not now: DingTalk limits our calls, or another writer held the lock. Come back after
    /// `after`; the attempt is not counted.
    #[error("{reason}")]
    RateLimited { after: Duration, reason: String },
    /// Trying again cannot help (a malformed row, a form the rules cannot read): set aside
    /// at once, with the reason, until a person requeues it.
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        if e.is_contention() {
            Failure::RateLimited {
                after: CONTENTION_WAIT,
                reason: e.to_string(),
            }
        } else if e.is_transient() {
            Failure::Retry(e.to_string())
        } else {
            Failure::Permanent(e.to_string())
        }
    }
}

impl From<SourceError> for Failure {
    fn from(e: SourceError) -> Failure {
        match e {
            SourceError::Failed(_) => Failure::Retry(e.to_string()),
            SourceError::RateLimited { after, .. } => Failure::RateLimited {
                after,
                reason: e.to_string(),
            },
            SourceError::NotFound(_) | SourceError::Refused(_) => Failure::Permanent(e.to_string()),
        }
    }
}

impl From<NormaliseError> for Failure {
    fn from(e: NormaliseError) -> Failure {
        match e {
            // DingTalk computes a check-in's result a little after the push.
            NormaliseError::ResultNotReady { .. } => Failure::Retry(e.to_string()),
            NormaliseError::BadPayload(_) | NormaliseError::Missing(_) => {
                Failure::Permanent(e.to_string())
            }
        }
    }
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        match e {
            LedgerError::Store(e) => e.into(),
            other => Failure::Permanent(other.to_string()),
        }
    }
}

impl From<BotError> for Failure {
    fn from(e: BotError) -> Failure {
        match e {
            BotError::Store(e) => e.into(),
            BotError::Leaderboard(_) => Failure::Retry(e.to_string()),
            BotError::Malformed(_) | BotError::Calendar(_) => Failure::Permanent(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_is_sorted_by_what_to_do() {
        let cases = [
            (
                Failure::from(SourceError::Failed("errcode 88".into())),
                "retry",
            ),
            (
                SourceError::RateLimited {
                    after: Duration::from_secs(1),
                    reason: "90018".into(),
                }
                .into(),
                "later",
            ),
            (SourceError::Refused("60011".into()).into(), "permanent"),
            (
                SourceError::NotFound("approval PI".into()).into(),
                "permanent",
            ),
            (NormaliseError::Missing("userId").into(), "permanent"),
            (
                NormaliseError::ResultNotReady {
                    userid: "u".into(),
                    at: "t".into(),
                }
                .into(),
                "retry",
            ),
            (LedgerError::UnknownEmployee("u".into()).into(), "permanent"),
            (StoreError::Corrupt("x".into()).into(), "permanent"),
            (
                StoreError::Database(sqlx::Error::PoolTimedOut).into(),
                "later",
            ),
            (
                StoreError::Database(sqlx::Error::PoolClosed).into(),
                "retry",
            ),
            (BotError::Malformed("x".into()).into(), "permanent"),
        ];
        for (failure, want) in cases {
            let got = match &failure {
                Failure::Retry(_) => "retry",
                Failure::RateLimited { .. } => "later",
                Failure::Permanent(_) => "permanent",
            };
            assert_eq!(got, want, "{failure}");
        }
    }
}
