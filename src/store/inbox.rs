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
    /// A failed row whose cause may pass: tried again at `next_attempt_at`.
    pub retryable: bool,
}

/// How a claimed row that did not succeed is put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setback {
    /// Due again at `at`. Not `counted`, the attempt is given back: a lock conflict or a rate
    /// limit is no fault of the row's.
    Retry { at: Timestamp, counted: bool },
    /// Failed: shown as failed, and tried again at `retry_at` when its cause may pass (DingTalk
    /// was down), or only when a person asks (`None`: the row itself is wrong).
    Failed { retry_at: Option<Timestamp> },
}

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores events, skipping keys already present; returns how many were new. Durable when
    /// it returns.
    async fn insert_inbox(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError>;
    /// Inbox rows, newest first, optionally only those with `status`.
    async fn inbox(&self, status: Option<&str>, limit: i64) -> Result<Vec<InboxRow>, StoreError>;
    /// Claims up to `limit` due rows for `owner` until `lease_until`, counting an attempt on
    /// each: pending rows, processing rows whose lease ran out (what a crash leaves), and
    /// failed rows whose slow retry is due.
    async fn claim_inbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
        owner: &str,
    ) -> Result<Vec<InboxRow>, StoreError>;
    /// Records an attempt that did not succeed, and when (or whether) to try again.
    async fn reschedule_inbox(
        &self,
        id: i64,
        error: &str,
        setback: Setback,
    ) -> Result<(), StoreError>;
    /// Puts back every row `owner` still holds (a restarted process's claims), due at once;
    /// returns how many.
    async fn release_inbox(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError>;
    /// Requeues failed rows (one, or all when `id` is `None`); returns how many.
    async fn retry_inbox(&self, id: Option<i64>, now: Timestamp) -> Result<u64, StoreError>;
    /// Rows per status, and when the oldest row still to process arrived.
    async fn inbox_summary(&self) -> Result<QueueSummary, StoreError>;
}

/// How a queue stands: rows per status, and the oldest one waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSummary {
    pub counts: Vec<(String, i64)>,
    pub oldest_waiting: Option<Timestamp>,
}

/// The summary of `table` from its status counts and the oldest `at` of the `waiting` rows.
pub(super) async fn queue_summary<B: SqlBackend>(
    backend: &B,
    table: &str,
    at: &str,
    waiting: &str,
) -> Result<QueueSummary, StoreError> {
    let mut c = backend.reader().acquire().await?;
    let counts: Vec<(String, i64)> = B::Db::fetch_all(
        &mut c,
        sql(&format!(
            "SELECT status, COUNT(*) FROM {table} GROUP BY status ORDER BY status"
        )),
    )
    .await?;
    let oldest: Option<(Option<i64>,)> = B::Db::fetch_optional(
        &mut c,
        sql(&format!(
            "SELECT MIN({at}) FROM {table} WHERE status IN ({waiting})"
        )),
    )
    .await?;
    Ok(QueueSummary {
        counts,
        oldest_waiting: oldest.and_then(|(ms,)| ms).and_then(millis),
    })
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
     next_attempt_at, last_error, received_at, processed_at, retryable";

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
    retryable: bool,
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
            retryable: r.retryable,
        })
    }
}

fn rows(rows: Vec<InboxDbRow>) -> Result<Vec<InboxRow>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

#[async_trait]
impl<B: SqlBackend> InboxStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn inbox_summary(&self) -> Result<QueueSummary, StoreError> {
        queue_summary(self, "inbox", "received_at", "'pending', 'processing'").await
    }

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
        owner: &str,
    ) -> Result<Vec<InboxRow>, StoreError> {
        let text = format!(
            "UPDATE inbox SET status = 'processing', attempts = attempts + 1, \
             next_attempt_at = $2, claimed_by = $4, retryable = FALSE \
             WHERE id IN (SELECT id FROM inbox \
             WHERE (status IN ('pending', 'processing') OR (status = 'failed' AND retryable)) \
             AND next_attempt_at <= $1 ORDER BY id LIMIT $3{}) RETURNING {COLUMNS}",
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
    async fn reschedule_inbox(
        &self,
        id: i64,
        error: &str,
        setback: Setback,
    ) -> Result<(), StoreError> {
        let (status, at, given_back, retryable) = match setback {
            Setback::Retry { at, counted } => ("pending", at, i64::from(!counted), false),
            Setback::Failed { retry_at } => (
                "failed",
                retry_at.unwrap_or_else(Timestamp::now),
                0,
                retry_at.is_some(),
            ),
        };
        let mut c = self.writer().acquire().await?;
        B::Db::execute(
            &mut c,
            sql(
                "UPDATE inbox SET status = $2, next_attempt_at = $3, last_error = $4, \
                 attempts = attempts - $5, retryable = $6, claimed_by = NULL WHERE id = $1",
            )
            .arg(id)
            .arg(status)
            .arg(at.as_millisecond())
            .arg(error)
            .arg(given_back)
            .arg(retryable),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn release_inbox(&self, owner: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut c = self.writer().acquire().await?;
        Ok(B::Db::execute(
            &mut c,
            sql(
                "UPDATE inbox SET status = 'pending', next_attempt_at = $2, claimed_by = NULL \
                 WHERE status = 'processing' AND claimed_by = $1",
            )
            .arg(owner)
            .arg(now.as_millisecond()),
        )
        .await?)
    }

    #[instrument(level = "debug", skip(self))]
    async fn retry_inbox(&self, id: Option<i64>, now: Timestamp) -> Result<u64, StoreError> {
        let mut c = self.writer().acquire().await?;
        Ok(B::Db::execute(
            &mut c,
            sql(
                "UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = $2, \
                 retryable = FALSE WHERE status = 'failed' AND ($1 IS NULL OR id = $1)",
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
                "UPDATE inbox SET status = 'done', processed_at = $2, last_error = $3, \
                 claimed_by = NULL WHERE id = $1 AND status = 'processing'",
            )
            .arg(id)
            .arg(now.as_millisecond())
            .arg(note),
        )
        .await?;
        Ok(done == 1)
    }
}
