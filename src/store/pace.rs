//! The DingTalk call schedule shared by every replica on one database: each call to an API
//! takes the next free slot, one interval after the last, in a single atomic upsert.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tracing::instrument;

use super::dialect::{Bind, Dialect, SqlBackend, sql};
use super::{Store, StoreError};
use crate::dingtalk::openapi::{PaceError, SharedPace};

#[async_trait]
pub trait PaceStore: Send + Sync {
    /// Takes the first slot for a call to `api` at or after `now` and `interval` after the
    /// slot before it; returns when the slot starts.
    async fn reserve_call(
        &self,
        api: &str,
        now: Timestamp,
        interval: Duration,
    ) -> Result<Timestamp, StoreError>;
}

#[async_trait]
impl<B: SqlBackend> PaceStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn reserve_call(
        &self,
        api: &str,
        now: Timestamp,
        interval: Duration,
    ) -> Result<Timestamp, StoreError> {
        let now = now.as_microsecond();
        let interval = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        let mut c = self.quick().acquire().await?;
        // The row is locked by the update, so two replicas never take the same slot.
        let (next_at,): (i64,) = B::Db::fetch_optional(
            &mut c,
            sql(
                "INSERT INTO dingtalk_pace (api, next_at) VALUES ($1, $2 + $3) \
                 ON CONFLICT (api) DO UPDATE SET next_at = \
                 CASE WHEN dingtalk_pace.next_at > $2 THEN dingtalk_pace.next_at ELSE $2 END + $3 \
                 RETURNING next_at",
            )
            .arg(api)
            .arg(now)
            .arg(interval),
        )
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no call slot returned for {api}")))?;
        Timestamp::from_microsecond(next_at - interval)
            .map_err(|_| StoreError::Corrupt(format!("call slot {next_at} out of range")))
    }
}

/// The store as the OpenAPI client's shared schedule.
pub struct StorePace(pub Arc<dyn Store>);

#[async_trait]
impl SharedPace for StorePace {
    async fn reserve(
        &self,
        api: &str,
        now: Timestamp,
        interval: Duration,
    ) -> Result<Timestamp, PaceError> {
        self.0
            .reserve_call(api, now, interval)
            .await
            .map_err(|e| PaceError(Box::new(e)))
    }
}
