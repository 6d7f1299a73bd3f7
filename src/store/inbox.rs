//! Inbound events, raw and de-duplicated: stored before DingTalk is acknowledged, claimed by
//! the processor under a lease, retried, and completed in the transaction of their effects.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, SqlTx, sql};
use super::rows::millis;

/// An inbound event to store: raw, de-duplicated by `dedup_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxRow {
    pub dedup_key: String,
    /// `http`, `stream`, `robot`, `reconcile`…
    pub source: String,
    pub event_type: String,
    pub payload: String,
    /// `None` for an event to process; otherwise why it is kept but not processed.
    pub ignored: Option<String>,
    pub received_at: Timestamp,
}

impl NewInboxRow {
    /// The status it is stored with.
    pub(crate) fn status(&self) -> &'static str {
        if self.ignored.is_some() {
            "ignored"
        } else {
            "pending"
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxRow {
    pub id: i64,
    pub dedup_key: String,
    pub source: String,
    pub event_type: String,
    pub payload: String,
    /// pending, processing, done, ignored or failed.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub received_at: Timestamp,
    pub processed_at: Option<Timestamp>,
}

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores events, skipping keys already present; returns how many were new. Durable when
    /// it returns.
    async fn insert_inbox(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError>;
    /// Inbox rows, newest first, optionally only those with `status`.
    async fn inbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<InboxRow>, StoreError>;
    /// Claims up to `limit` due rows (pending, or processing with an expired lease, which is
    /// what a crash leaves) until `lease_until`, counting an attempt on each.
    async fn claim_inbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<InboxRow>, StoreError>;
    /// Records a failed attempt: due again at `retry_at`, or parked as failed when `None`.
    async fn reschedule_inbox(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// Requeues failed rows (one, or all when `id` is `None`); returns how many.
    async fn retry_inbox(&self, id: Option<i64>, now: Timestamp) -> Result<u64, StoreError>;
}

/// Completing an inbox row, in the transaction of what it caused.
#[async_trait]
pub trait InboxTx: Send {
    /// Marks a claimed inbox row done, with a note on what it did; false if it was not claimed.
    async fn complete_inbox(
        &mut self,
        id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

const COLUMNS: &str = "id, dedup_key, source, event_type, payload, status, attempts, \
     next_attempt_at, last_error, received_at, processed_at";

#[derive(sqlx::FromRow)]
struct InboxDbRow {
    id: i64,
    dedup_key: String,
    source: String,
    event_type: String,
    payload: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    received_at: i64,
    processed_at: Option<i64>,
}

impl TryFrom<InboxDbRow> for InboxRow {
    type Error = StoreError;

    fn try_from(r: InboxDbRow) -> Result<InboxRow, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("inbox row {}: {what}", r.id));
        Ok(InboxRow {
            next_attempt_at: millis(r.next_attempt_at)
                .ok_or_else(|| corrupt("next_attempt_at out of range"))?,
            received_at: millis(r.received_at)
                .ok_or_else(|| corrupt("received_at out of range"))?,
            processed_at: r
                .processed_at
                .map(|ms| millis(ms).ok_or_else(|| corrupt("processed_at out of range")))
                .transpose()?,
            id: r.id,
            dedup_key: r.dedup_key,
            source: r.source,
            event_type: r.event_type,
            payload: r.payload,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
        })
    }
}

fn rows(rows: Vec<InboxDbRow>) -> Result<Vec<InboxRow>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[async_trait]
impl<B: SqlBackend> InboxStore for B {
    #[instrument(level = "debug", skip_all, fields(rows = rows.len()))]
    async fn insert_inbox(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError> {
        self.insert_inbox_rows(rows).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn inbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<InboxRow>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let text = format!(
            "SELECT {COLUMNS} FROM inbox WHERE ($1 IS NULL OR status = $1) \
             ORDER BY id DESC LIMIT $2"
        );
        rows(B::Db::fetch_all(&mut c, sql(&text).arg(status).arg(limit)).await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn claim_inbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<InboxRow>, StoreError> {
        let text = format!(
            "UPDATE inbox SET status = 'processing', attempts = attempts + 1, \
             next_attempt_at = $2 WHERE id IN (SELECT id FROM inbox \
             WHERE status IN ('pending', 'processing') AND next_attempt_at <= $1 \
             ORDER BY id LIMIT $3{}) RETURNING {COLUMNS}",
            B::Db::CLAIM_LOCK
        );
        let query = sql(&text)
            .arg(now.as_millisecond())
            .arg(lease_until.as_millisecond())
            .arg(limit);
        let mut c = self.writer().acquire().await?;
        let mut claimed = rows(B::Db::fetch_all(&mut c, query).await?)?;
        claimed.sort_by_key(|r| r.id);
        Ok(claimed)
    }

    #[instrument(level = "debug", skip(self))]
    async fn reschedule_inbox(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (status, at) = match retry_at {
            Some(at) => ("pending", at),
            None => ("failed", Timestamp::now()),
        };
        let mut c = self.writer().acquire().await?;
        B::Db::execute(
            &mut c,
            sql(
                "UPDATE inbox SET status = $2, next_attempt_at = $3, last_error = $4 \
                 WHERE id = $1",
            )
            .arg(id)
            .arg(status)
            .arg(at.as_millisecond())
            .arg(error),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn retry_inbox(&self, id: Option<i64>, now: Timestamp) -> Result<u64, StoreError> {
        let mut c = self.writer().acquire().await?;
        Ok(B::Db::execute(
            &mut c,
            sql(
                "UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = $2 \
                 WHERE status = 'failed' AND ($1 IS NULL OR id = $1)",
            )
            .arg(id)
            .arg(now.as_millisecond()),
        )
        .await?)
    }
}

#[async_trait]
impl<DB: Dialect> InboxTx for SqlTx<DB> {
    #[instrument(level = "debug", skip(self))]
    async fn complete_inbox(
        &mut self,
        id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = DB::execute(
            &mut self.tx,
            sql(
                "UPDATE inbox SET status = 'done', processed_at = $2, last_error = $3 \
                 WHERE id = $1 AND status = 'processing'",
            )
            .arg(id)
            .arg(now.as_millisecond())
            .arg(note),
        )
        .await?;
        Ok(done == 1)
    }
}
