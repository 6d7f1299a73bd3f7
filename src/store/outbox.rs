//! Pushes to DingTalk, made durable: queued in the transaction of the change that causes
//! them, claimed by the delivery worker under a lease, and every attempt recorded.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, sql};
use super::rows::millis;

/// A push to send, written in the same transaction as the change that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxRow {
    /// One row per key: the same cause never pushes twice.
    pub dedup_key: String,
    /// `work_notification`, `robot_oto` or `robot_group`.
    pub channel: String,
    /// A userid, or a group's openConversationId.
    pub recipient: String,
    pub payload: serde_json::Value,
    /// Not before this time (a daily digest waits for the evening).
    pub due_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub dedup_key: String,
    pub channel: String,
    pub recipient: String,
    pub payload: serde_json::Value,
    /// pending, sending, sent or dead.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    /// What DingTalk did with it after accepting it (a work notification's send result).
    pub result: Option<String>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        detail: String,
        /// DingTalk's task id, for reading back what became of a work notification.
        task_id: Option<i64>,
    },
    /// Failed; due again at this time. Not `counted`, the attempt is given back (a rate
    /// limit is no fault of the push's).
    Retry {
        error: String,
        at: Timestamp,
        counted: bool,
    },
    /// Failed for good: dead-lettered with the reason.
    Dead { error: String },
}

/// Which pushes a delivery loop claims: answers (robot replies, and cards updated after a
/// button press) have a lane of their own, so one never waits behind a slow work
/// notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Replies,
    Others,
}

impl Lane {
    fn condition(self) -> &'static str {
        match self {
            Lane::Replies => "channel IN ('robot_reply', 'card_update')",
            Lane::Others => "channel NOT IN ('robot_reply', 'card_update')",
        }
    }
}

/// A sent work notification whose outcome has not been read back yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTask {
    pub id: i64,
    pub task_id: i64,
    pub recipient: String,
    pub sent_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxAttempt {
    pub attempt: i64,
    pub at: Timestamp,
    /// sent, retry or dead.
    pub outcome: String,
    pub detail: Option<String>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due pushes of `lane` for `owner` until `lease_until`, counting an
    /// attempt on each; a push whose sender crashed is due again when its lease runs out.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
        owner: &str,
        lane: Lane,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Puts back every push `owner` still holds (a restarted process's claims), due at once.
    async fn release_outbox(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError>;
    /// Work notifications sent before `before` whose outcome was not read back yet.
    async fn unchecked_sends(
        &self,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<SentTask>, StoreError>;
    /// Records what DingTalk did with a sent push.
    async fn record_send_result(&self, id: i64, result: &str) -> Result<(), StoreError>;
    /// Records the attempt on a claimed push and what it came to.
    async fn finish_outbox(
        &self,
        row: &OutboxRow,
        delivery: &Delivery,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Pushes, newest first, optionally only those with `status`.
    async fn outbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<OutboxRow>, StoreError>;
    async fn outbox_attempts(&self, id: i64) -> Result<Vec<OutboxAttempt>, StoreError>;
    /// Requeues dead pushes (one, or all when `id` is `None`); returns how many.
    async fn retry_outbox(&self, id: Option<i64>, now: Timestamp) -> Result<u64, StoreError>;
    /// Pushes per status, and when the oldest one not yet sent was queued.
    async fn outbox_summary(&self) -> Result<super::QueueSummary, StoreError>;
}

/// Queueing a push, in the transaction of the change that causes it.
#[async_trait]
pub trait OutboxTx: Send {
    /// Queues a push; false when one with the same key exists already.
    async fn enqueue_outbox(&mut self, row: &NewOutboxRow) -> Result<bool, StoreError>;
}

const COLUMNS: &str = "id, dedup_key, channel, recipient, payload, status, attempts, \
     next_attempt_at, last_error, created_at, sent_at, result";

#[derive(sqlx::FromRow)]
struct OutboxDbRow {
    id: i64,
    dedup_key: String,
    channel: String,
    recipient: String,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    result: Option<String>,
}

impl TryFrom<OutboxDbRow> for OutboxRow {
    type Error = StoreError;

    fn try_from(r: OutboxDbRow) -> Result<OutboxRow, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("outbox row {}: {what}", r.id));
        Ok(OutboxRow {
            next_attempt_at: millis(r.next_attempt_at)
                .ok_or_else(|| corrupt("next_attempt_at out of range"))?,
            created_at: millis(r.created_at).ok_or_else(|| corrupt("created_at out of range"))?,
            sent_at: r
                .sent_at
                .map(|ms| millis(ms).ok_or_else(|| corrupt("sent_at out of range")))
                .transpose()?,
            payload: serde_json::from_str(&r.payload)
                .map_err(|_| corrupt("payload is not JSON"))?,
            id: r.id,
            dedup_key: r.dedup_key,
            channel: r.channel,
            recipient: r.recipient,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            result: r.result,
        })
    }
}

fn rows(rows: Vec<OutboxDbRow>) -> Result<Vec<OutboxRow>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[async_trait]
impl<B: SqlBackend> OutboxStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
        owner: &str,
        lane: Lane,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let text = format!(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, \
             next_attempt_at = $2, claimed_by = $4 WHERE id IN (SELECT id FROM outbox \
             WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1 AND {} \
             ORDER BY next_attempt_at, id LIMIT $3{}) RETURNING {COLUMNS}",
            lane.condition(),
            B::Db::CLAIM_LOCK
        );
        let query = sql(&text)
            .arg(now.as_millisecond())
            .arg(lease_until.as_millisecond())
            .arg(limit)
            .arg(owner);
        let mut c = self.writer().acquire().await?;
        let mut claimed = rows(B::Db::fetch_all(&mut c, query).await?)?;
        claimed.sort_by_key(|r| r.id);
        Ok(claimed)
    }

    #[instrument(level = "debug", skip(self))]
    async fn release_outbox(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut c = self.writer().acquire().await?;
        Ok(B::Db::execute(
            &mut c,
            sql(
                "UPDATE outbox SET status = 'pending', next_attempt_at = $2, claimed_by = NULL \
                 WHERE status = 'sending' AND claimed_by = $1",
            )
            .arg(owner)
            .arg(now.as_millisecond()),
        )
        .await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn unchecked_sends(
        &self,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<SentTask>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(i64, i64, String, i64)> = B::Db::fetch_all(
            &mut c,
            sql(
                "SELECT id, task_id, recipient, sent_at FROM outbox WHERE task_id IS NOT NULL \
                 AND result IS NULL AND status = 'sent' AND sent_at <= $1 \
                 ORDER BY sent_at LIMIT $2",
            )
            .arg(before.as_millisecond())
            .arg(limit),
        )
        .await?;
        rows.into_iter()
            .map(|(id, task_id, recipient, sent_at)| {
                Ok(SentTask {
                    id,
                    task_id,
                    recipient,
                    sent_at: millis(sent_at).ok_or_else(|| {
                        StoreError::Corrupt(format!("outbox row {id}: sent_at out of range"))
                    })?,
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn record_send_result(&self, id: i64, result: &str) -> Result<(), StoreError> {
        let mut c = self.writer().acquire().await?;
        B::Db::execute(
            &mut c,
            sql("UPDATE outbox SET result = $2 WHERE id = $1")
                .arg(id)
                .arg(result),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip_all, fields(id = row.id))]
    async fn finish_outbox(
        &self,
        row: &OutboxRow,
        delivery: &Delivery,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (status, outcome, detail, next, sent_at, error, task_id, given_back) = match delivery {
            Delivery::Sent { detail, task_id } => {
                ("sent", "sent", detail, now, Some(now), None, *task_id, 0)
            }
            Delivery::Retry { error, at, counted } => (
                "pending",
                "retry",
                error,
                *at,
                None,
                Some(error),
                None,
                i64::from(!counted),
            ),
            Delivery::Dead { error } => ("dead", "dead", error, now, None, Some(error), None, 0),
        };
        let mut tx = self.writer().begin_with(B::Db::BEGIN).await?;
        B::Db::execute(
            &mut tx,
            sql(
                "UPDATE outbox SET status = $2, next_attempt_at = $3, sent_at = $4, \
                 last_error = $5, task_id = $6, attempts = attempts - $7, claimed_by = NULL \
                 WHERE id = $1 AND status = 'sending'",
            )
            .arg(row.id)
            .arg(status)
            .arg(next.as_millisecond())
            .arg(sent_at.map(|t| t.as_millisecond()))
            .arg(error.map(String::as_str))
            .arg(task_id)
            .arg(given_back),
        )
        .await?;
        B::Db::execute(
            &mut tx,
            sql(
                "INSERT INTO outbox_attempts (outbox_id, attempt, at, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .arg(row.id)
            .arg(row.attempts)
            .arg(now.as_millisecond())
            .arg(outcome)
            .arg(detail.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn outbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!(
            "SELECT {COLUMNS} FROM outbox WHERE ($1 IS NULL OR status = $1) \
             ORDER BY id DESC LIMIT $2"
        );
        rows(B::Db::fetch_all(&mut c, sql(&text).arg(status).arg(limit)).await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn outbox_summary(&self) -> Result<super::QueueSummary, StoreError> {
        super::inbox::queue_summary(self, "outbox", "created_at", "'pending', 'sending'").await
    }

    #[instrument(level = "debug", skip(self))]
    async fn outbox_attempts(&self, id: i64) -> Result<Vec<OutboxAttempt>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(i64, i64, String, Option<String>)> = B::Db::fetch_all(
            &mut c,
            sql("SELECT attempt, at, outcome, detail FROM outbox_attempts \
                 WHERE outbox_id = $1 ORDER BY id")
            .arg(id),
        )
        .await?;
        rows.into_iter()
            .map(|(attempt, at, outcome, detail)| {
                Ok(OutboxAttempt {
                    at: millis(at).ok_or_else(|| {
                        StoreError::Corrupt("outbox attempt time out of range".into())
                    })?,
                    attempt,
                    outcome,
                    detail,
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip(self))]
    async fn retry_outbox(&self, id: Option<i64>, now: Timestamp) -> Result<u64, StoreError> {
        let mut c = self.writer().acquire().await?;
        Ok(B::Db::execute(
            &mut c,
            sql(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2 \
                 WHERE status = 'dead' AND ($1 IS NULL OR id = $1)",
            )
            .arg(id)
            .arg(now.as_millisecond()),
        )
        .await?)
    }
}

#[async_trait]
impl<DB: Dialect> OutboxTx for SqlTx<DB> {
    #[instrument(level = "debug", skip_all, fields(key = %row.dedup_key))]
    async fn enqueue_outbox(&mut self, row: &NewOutboxRow) -> Result<bool, StoreError> {
        let payload = row.payload.to_string();
        let done = DB::execute(
            &mut self.tx,
            sql(
                "INSERT INTO outbox (dedup_key, channel, recipient, payload, status, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .arg(row.dedup_key.as_str())
            .arg(row.channel.as_str())
            .arg(row.recipient.as_str())
            .arg(payload.as_str())
            .arg(row.due_at.as_millisecond())
            .arg(row.created_at.as_millisecond()),
        )
        .await?;
        Ok(done == 1)
    }
}
