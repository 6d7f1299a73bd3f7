//! The processor's errors sorted into [`Failure`]s, once: what DingTalk, the rules, the
//! ledger and the bot said, by whether trying the row again can help.

use super::normalise::NormaliseError;
use super::source::SourceError;
use crate::bot::BotError;
pub use crate::domain::Failure;
use crate::ledger::LedgerError;

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
    use std::time::Duration;

    use super::*;
    use crate::store::StoreError;

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
