//! Why an attempt at some work (an inbox row, a push) did not succeed, sorted by what to do
//! about it. Each part classifies its own errors into these once; workers act on the kind.

use std::time::Duration;

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
    /// Trying again cannot help (a malformed row, a recipient DingTalk does not know): set
    /// aside at once, with the reason, until a person requeues it.
    #[error("{0}")]
    Permanent(String),
}
