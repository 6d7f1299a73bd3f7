//! Storage: one interface per area (organisation, ledger, audit, inbox, outbox, jobs,
//! periods, cards, rewards, appeals, badges, API keys, the DingTalk call schedule), a SQLite and a PostgreSQL implementation chosen once from the database URL. Each
//! area's SQL is written once, in its own file, over a [`Dialect`]; the backends differ only
//! where the dialects do (locks, the callback path's batch insert, SQLite's checkpoints).

mod appeals;
mod audit;
mod badges;
mod cards;
mod dialect;
mod inbox;
mod jobs;
mod keys;
mod ledger;
mod ledger_tx;
mod org;
mod outbox;
mod pace;
mod periods;
mod postgres;
mod rewards;
mod rows;
mod sqlite;
mod sqlite_inbox;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

pub use appeals::{AppealDecision, AppealStore, AppealTx};
pub use audit::{AuditRecord, AuditStore, AuditTx, NewAudit};
pub use badges::{BadgeStore, BadgeTx, GrantedBadge};
pub use cards::{Card, CardStore, CardTx};
use dialect::{Dialect, SqlBackend, SqlTx};
pub use inbox::{InboxRow, InboxStore, InboxTx, NewInboxRow, QueueSummary, Setback};
pub use jobs::{JobRun, JobStore};
pub use keys::{KeyStore, StoredAnswer};
pub use ledger::{LedgerStore, LedgerTick, Mismatch, RangeSum, RangeSums, RuleTotal};
pub use ledger_tx::LedgerTx;
pub use org::{DirectorySnapshot, OrgStore, OrgTx, userids};
pub use outbox::{
    Delivery, Lane, NewOutboxRow, OutboxAttempt, OutboxRow, OutboxStore, OutboxTx, SentTask,
};
pub use pace::{PaceStore, StorePace};
pub use periods::{DepartmentTotal, PeriodClose, PeriodStore, PeriodTotal};
pub use postgres::PgStore;
pub use rewards::{NewRedemption, RedemptionUpdate, RewardStore, RewardTx};
pub use sqlite::SqliteStore;

use crate::domain::Failure;

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
    #[error(
        "SQLite in memory is not supported: the callback path writes through a connection of its own, which must see the same database; use a file, e.g. sqlite:data/jifen.db"
    )]
    InMemory,
    #[error("inbox write failed: {0}")]
    Inbox(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// What a database error code says, on either backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// Another writer got in the way: SQLite busy or locked; PostgreSQL serialization
    /// failure, deadlock, lock not available.
    Contention,
    /// The database could not do it now: connection, resources, I/O, a full disk.
    Unavailable,
    /// It refuses what was asked, or cannot read what it has.
    Refused,
}

fn error_kind(backend: Backend, code: &str) -> ErrorKind {
    // SQLite codes are numbers whose low byte is the primary code (517 is BUSY_SNAPSHOT).
    if backend == Backend::Sqlite {
        return match code.parse::<i64>().map(|n| n & 0xff) {
            Ok(5 | 6) => ErrorKind::Contention,
            Ok(10 | 13) => ErrorKind::Unavailable,
            _ => ErrorKind::Refused,
        };
    }
    // PostgreSQL's are SQLSTATEs: a class of two characters, then three.
    match code {
        "40001" | "40P01" | "55P03" => ErrorKind::Contention,
        _ if ["08", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class)) =>
        {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Refused,
    }
}

impl StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                let backend = if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    Backend::Sqlite
                } else {
                    Backend::Postgres
                };
                error_kind(backend, e.code().as_deref().unwrap_or_default())
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => ErrorKind::Contention,
            StoreError::Database(_) | StoreError::Inbox(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Refused,
        }
    }

    /// Whether this is a lock conflict with another writer: worth trying again at once, and
    /// no fault of what was being written.
    pub fn is_contention(&self) -> bool {
        self.kind() == ErrorKind::Contention
    }

    /// Whether trying again later may succeed (the database was busy or unreachable), as
    /// opposed to data it refuses or cannot read.
    pub fn is_transient(&self) -> bool {
        self.kind() != ErrorKind::Refused
    }
}

/// Everything jifen stores, area by area. A worker that needs one area takes that trait
/// (`Arc<dyn InboxStore>` and so on); the rest take the whole store.
#[async_trait]
pub trait Store:
    OrgStore
    + LedgerStore
    + AuditStore
    + InboxStore
    + OutboxStore
    + JobStore
    + PeriodStore
    + CardStore
    + RewardStore
    + AppealStore
    + BadgeStore
    + KeyStore
    + PaceStore
{
    fn backend(&self) -> Backend;
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> Result<usize, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Starts a write transaction; dropping it uncommitted rolls it back.
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError>;
    async fn close(&self);
}

/// One write transaction: whatever a change touches commits together or not at all.
#[async_trait]
pub trait StoreTx:
    OrgTx + LedgerTx + AuditTx + OutboxTx + InboxTx + CardTx + RewardTx + AppealTx + BadgeTx
{
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

#[async_trait]
impl<B: SqlBackend> Store for B {
    fn backend(&self) -> Backend {
        B::Db::BACKEND
    }

    async fn migrate(&self) -> Result<usize, StoreError> {
        let applied = || async {
            let mut c = self.writer().acquire().await.ok()?;
            let (n,): (i64,) = B::Db::fetch_optional(
                &mut c,
                dialect::sql("SELECT COUNT(*) FROM _sqlx_migrations WHERE success"),
            )
            .await
            .ok()??;
            usize::try_from(n).ok()
        };
        let before = applied().await.unwrap_or(0);
        B::Db::run_migrations(self.writer(), self.migrator()).await?;
        Ok(applied().await.unwrap_or(0).saturating_sub(before))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.reader().acquire().await?;
        B::Db::execute(&mut c, dialect::sql("SELECT 1")).await?;
        Ok(())
    }

    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        Ok(Box::new(SqlTx {
            tx: self.writer().begin_with(B::Db::BEGIN).await?,
            closed_until: None,
        }))
    }

    async fn close(&self) {
        self.reader().close().await;
        self.writer().close().await;
        self.quick().close().await;
    }
}

#[async_trait]
impl<DB: Dialect> StoreTx for SqlTx<DB> {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// How long to wait when another writer holds the database's lock.
const CONTENTION_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

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
    fn database_codes_say_whether_to_retry() {
        use super::{Backend, ErrorKind, error_kind};
        let (sqlite, postgres) = (Backend::Sqlite, Backend::Postgres);
        let cases = [
            (sqlite, "5", ErrorKind::Contention),
            (sqlite, "517", ErrorKind::Contention),
            (sqlite, "6", ErrorKind::Contention),
            (sqlite, "266", ErrorKind::Unavailable),
            (sqlite, "13", ErrorKind::Unavailable),
            (sqlite, "2067", ErrorKind::Refused),
            (sqlite, "", ErrorKind::Refused),
            (postgres, "40001", ErrorKind::Contention),
            (postgres, "40P01", ErrorKind::Contention),
            (postgres, "08006", ErrorKind::Unavailable),
            (postgres, "53300", ErrorKind::Unavailable),
            (postgres, "23505", ErrorKind::Refused),
            (postgres, "22021", ErrorKind::Refused),
        ];
        for (backend, code, kind) in cases {
            assert_eq!(error_kind(backend, code), kind, "{backend} {code}");
        }
    }

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
