//! Storage: one interface, a SQLite and a PostgreSQL implementation chosen once from the
//! database URL. The ledger's logic lives in `ledger/` and talks to a [`StoreTx`]; the two
//! backends share their SQL (see `sql.rs`) and differ only where the dialects do.

mod postgres;
mod rows;
mod sql;
mod sqlite;
mod sqlite_inbox;

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::domain::{Account, Deltas, Entry, NewEntry, Totals};
use crate::domain::{Department, Employee};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite: or postgres://, found {0:?}")]
    UnsupportedUrl(String),
    #[error("cannot create the database folder {path}: {source}")]
    CreateFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("inbox write failed: {0}")]
    Inbox(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One audit record: who did what to whom, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub reason: String,
    pub detail: serde_json::Value,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub record: NewAudit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodClose {
    pub period: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub closed_at: Timestamp,
    pub report: String,
}

/// A person's totals in a closed period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodTotal {
    pub userid: String,
    pub name: String,
    pub score: i64,
    pub balance: i64,
    pub pending: i64,
    pub entries: i64,
}

/// A department's totals in a closed period (its direct members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepartmentTotal {
    pub department_id: String,
    pub name: String,
    pub score: i64,
    pub members: i64,
}

/// Every known person's userid (the people jobs ask DingTalk about).
pub async fn userids(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .employee_names()
        .await?
        .into_iter()
        .map(|(userid, _)| userid)
        .collect())
}

/// One run of a scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRun {
    pub job: String,
    /// The scheduled local time it ran for, e.g. `2026-11-23T06:30:00`.
    pub slot: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub detail: Option<String>,
}

/// One ledger entry as the leaderboards see it: whose, how much score, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTick {
    pub id: i64,
    pub userid: String,
    pub score_delta: i64,
    /// Unix milliseconds.
    pub occurred_at: i64,
}

/// A person's score in each of several time ranges, in the order the ranges were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSums {
    pub userid: String,
    pub sums: Vec<RangeSum>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSum {
    pub points: i64,
    /// When the last entry that changed the score occurred (Unix ms); `None` without one.
    pub achieved_at: Option<i64>,
}

/// Everyone and every department, as stored.
#[derive(Debug, Clone, Default)]
pub struct DirectorySnapshot {
    pub people: Vec<Employee>,
    pub departments: Vec<Department>,
}

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
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        detail: String,
    },
    /// Failed; due again at this time.
    Retry {
        error: String,
        at: Timestamp,
    },
    /// Failed its last attempt: dead-lettered with the reason.
    Dead {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxAttempt {
    pub attempt: i64,
    pub at: Timestamp,
    /// sent, retry or dead.
    pub outcome: String,
    pub detail: Option<String>,
}

/// An account whose stored totals differ from the sum of its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub userid: String,
    pub stored: Totals,
    pub summed: Totals,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> Result<usize, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Starts a write transaction; dropping it uncommitted rolls it back.
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError>;

    async fn employee(&self, userid: &str) -> Result<Option<Employee>, StoreError>;
    async fn department(&self, id: &str) -> Result<Option<Department>, StoreError>;
    async fn account(&self, userid: &str) -> Result<Option<Account>, StoreError>;
    /// The highest all-time scores with the person's name, ties by userid. (Windowed
    /// leaderboards come from the leaderboard index, not from this.)
    async fn top_accounts(&self, limit: i64) -> Result<Vec<(Account, String)>, StoreError>;
    /// A person's entries, newest first, older than `before` (an entry id) when given.
    async fn entries(
        &self,
        userid: &str,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<Entry>, StoreError>;
    async fn entry(&self, id: i64) -> Result<Option<Entry>, StoreError>;
    /// The audit trail, newest first; with `person`, only what they did or had done to them.
    async fn audit_log(
        &self,
        person: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Entries that occurred in [from, to), of one person or everyone, in id order after
    /// `after_id` (for paging through a month).
    async fn entries_between(
        &self,
        userid: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Every person's name, by userid.
    async fn employee_names(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Every person with their departments, and every department.
    async fn directory(&self) -> Result<DirectorySnapshot, StoreError>;
    /// Each person's score in each range `[from, to)` of Unix ms, counting the entries with
    /// an id up to `up_to_id`; people without entries in any of the ranges are left out.
    async fn score_sums(
        &self,
        ranges: &[(i64, i64)],
        up_to_id: i64,
    ) -> Result<Vec<RangeSums>, StoreError>;
    /// Entries with an id above `after_id`, in id order.
    async fn ledger_ticks(&self, after_id: i64, limit: i64) -> Result<Vec<LedgerTick>, StoreError>;
    /// The highest entry id (0 for an empty ledger).
    async fn last_entry_id(&self) -> Result<i64, StoreError>;
    /// Takes slot `slot` of `job` for this process: true when it is ours to run (new, or
    /// failed before), false when it ran or is running elsewhere.
    async fn claim_job_run(&self, job: &str, slot: &str, at: Timestamp)
    -> Result<bool, StoreError>;
    async fn finish_job_run(
        &self,
        job: &str,
        slot: &str,
        ok: bool,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Closes `period` (e.g. `2026-10`): records the close and freezes the totals of the
    /// entries that occurred in [starts_at, ends_at), per person and per department, in one
    /// transaction. False when it was closed already (nothing changes).
    async fn close_period(
        &self,
        period: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        closed_at: Timestamp,
        report: &str,
    ) -> Result<bool, StoreError>;
    async fn period_close(&self, period: &str) -> Result<Option<PeriodClose>, StoreError>;
    /// A closed period's frozen totals per person, by userid after `after`.
    async fn period_totals(
        &self,
        period: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<PeriodTotal>, StoreError>;
    async fn period_department_totals(
        &self,
        period: &str,
    ) -> Result<Vec<DepartmentTotal>, StoreError>;
    /// Runs newest first, of one job or all.
    async fn job_runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>, StoreError>;
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
    /// Claims up to `limit` due pushes until `lease_until`, counting an attempt on each; a
    /// push whose sender crashed is due again when its lease runs out.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;
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
    /// Accounts whose totals are not the sum of their entries (invariant 1); empty when sound.
    async fn verify_totals(&self) -> Result<Vec<Mismatch>, StoreError>;
    async fn close(&self);
}

/// The operations the ledger needs inside one transaction.
#[async_trait]
pub trait StoreTx: Send {
    async fn upsert_department(&mut self, department: &Department) -> Result<(), StoreError>;
    /// Creates or updates the person, replaces their memberships, and opens their account.
    async fn upsert_employee(&mut self, employee: &Employee) -> Result<(), StoreError>;
    /// Locks the account against concurrent posts until commit; `None` for an unknown person.
    async fn lock_account(&mut self, userid: &str) -> Result<Option<Account>, StoreError>;
    /// The person's place by score, 1 for the highest (ties share a place), and how many
    /// accounts there are.
    async fn score_rank(&mut self, userid: &str) -> Result<(i64, i64), StoreError>;
    /// The end of the latest closed month: entries that occurred before it belong to a
    /// closed period.
    async fn closed_until(&mut self) -> Result<Option<Timestamp>, StoreError>;
    /// A person's name, for explanations that name who acted.
    async fn employee_name(&mut self, userid: &str) -> Result<Option<String>, StoreError>;
    /// A manager's monthly award budget, when one was set.
    async fn monthly_budget(&mut self, userid: &str) -> Result<Option<i64>, StoreError>;
    async fn set_monthly_budget(
        &mut self,
        userid: &str,
        points: i64,
        by: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Points `actor` awarded by hand and posted in [from, to), not counting awards that
    /// were rejected or reversed since.
    async fn manual_awarded_by(
        &mut self,
        actor: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<i64, StoreError>;
    /// The person's departments and all their ancestors.
    async fn departments_of(&mut self, userid: &str) -> Result<Vec<String>, StoreError>;
    async fn entry(&mut self, id: i64) -> Result<Option<Entry>, StoreError>;
    async fn entry_by_source(
        &mut self,
        source_key: &str,
        rule_key: &str,
    ) -> Result<Option<Entry>, StoreError>;
    /// Signed sum of what `rule_id` gave the person, pending included, for events in `[from, until)`.
    async fn rule_usage(
        &mut self,
        userid: &str,
        rule_id: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<i64, StoreError>;
    async fn insert_entry(&mut self, entry: &NewEntry) -> Result<Entry, StoreError>;
    async fn apply_deltas(&mut self, userid: &str, deltas: Deltas) -> Result<(), StoreError>;
    async fn record_audit(&mut self, record: &NewAudit) -> Result<i64, StoreError>;
    /// Queues a push; false when one with the same key exists already.
    async fn enqueue_outbox(&mut self, row: &NewOutboxRow) -> Result<bool, StoreError>;
    /// Marks a claimed inbox row done, with a note on what it did; false if it was not claimed.
    async fn complete_inbox(
        &mut self,
        id: i64,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Connection settings, from `[database]` in the config.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

/// Opens the store the URL names. Does not migrate.
pub async fn connect(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, StoreError> {
    let url = settings.url.trim();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect(url, settings.max_connections).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgStore::connect(url, settings.max_connections).await?,
        ))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_urls() {
        let cases = [
            (
                "postgres://jifen:s3cret@db:5432/jifen",
                "postgres://jifen:***@db:5432/jifen",
            ),
            (
                "postgres://postgres@127.0.0.1/jifen",
                "postgres://postgres@127.0.0.1/jifen",
            ),
            ("sqlite:data/jifen.db", "sqlite:data/jifen.db"),
            ("mysql://u:p@h/d", "mysql://u:***@h/d"),
        ];
        for (url, want) in cases {
            assert_eq!(super::redact_url(url), want);
        }
    }
}
