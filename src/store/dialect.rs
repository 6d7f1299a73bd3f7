//! What the two backends have in common, so each area's SQL is written once as ordinary
//! generic Rust: a [`Dialect`] binds values, runs statements and reads rows for its database,
//! and [`SqlBackend`] is a store's pools. sqlx's executors are concrete per database; these
//! traits name every capability the shared code needs once, so no area repeats the bounds.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, FromRow, Pool, Postgres, Sqlite, Type};

use super::{Backend, NewInboxRow, StoreError};

/// A statement with its arguments, for database `DB`.
pub type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// A value both databases can bind.
pub trait Arg<'q>:
    Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres> + Send + 'q
{
}

impl<'q, T> Arg<'q> for T where
    T: Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres> + Send + 'q
{
}

/// A row type both databases can decode.
pub trait Decoded:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Decoded for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// One database's way of doing what the shared SQL asks.
#[async_trait]
pub trait Dialect: Database {
    const BACKEND: Backend;
    /// Starts a write transaction. SQLite's must take the write lock up front: a deferred
    /// transaction that reads first cannot wait for the lock when it later writes.
    const BEGIN: &'static str;
    /// Appended to a SELECT to lock the rows it reads until commit.
    const ROW_LOCK: &'static str;
    /// Appended to the SELECT of a claim, so replicas take different rows.
    const CLAIM_LOCK: &'static str;

    fn bind<'q, T: Arg<'q>>(query: Query<'q, Self>, value: T) -> Query<'q, Self>;
    /// Runs a statement; returns how many rows it changed.
    async fn execute(
        connection: &mut Self::Connection,
        query: Query<'_, Self>,
    ) -> Result<u64, sqlx::Error>;
    async fn fetch_all<T: Decoded>(
        connection: &mut Self::Connection,
        query: Query<'_, Self>,
    ) -> Result<Vec<T>, sqlx::Error>;
    async fn fetch_optional<T: Decoded>(
        connection: &mut Self::Connection,
        query: Query<'_, Self>,
    ) -> Result<Option<T>, sqlx::Error>;
    async fn run_migrations(
        pool: &Pool<Self>,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<(), sqlx::migrate::MigrateError>;
}

/// `query.arg(value)`: binds through the dialect, for any value both databases take.
pub(super) trait Bind<'q> {
    fn arg<T: Arg<'q>>(self, value: T) -> Self;
}

impl<'q, DB: Dialect> Bind<'q> for Query<'q, DB> {
    fn arg<T: Arg<'q>>(self, value: T) -> Self {
        DB::bind(self, value)
    }
}

/// The statement `sql` for the dialect.
pub(super) fn sql<DB: Dialect>(sql: &str) -> Query<'_, DB> {
    sqlx::query(sql)
}

/// The first row's decoded value, or the error of a statement that returned none.
pub(super) async fn fetch_one<DB: Dialect, T: Decoded>(
    connection: &mut DB::Connection,
    query: Query<'_, DB>,
) -> Result<T, StoreError> {
    DB::fetch_optional(connection, query)
        .await?
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

/// A store's connections: what every area's SQL runs on.
#[async_trait]
pub trait SqlBackend: Send + Sync + 'static {
    type Db: Dialect;
    /// For reads that need not see a write in flight.
    fn reader(&self) -> &Pool<Self::Db>;
    /// For writes, and reads that must see the latest commit.
    fn writer(&self) -> &Pool<Self::Db>;
    /// For short writes that must not wait behind long transactions for a connection (the
    /// DingTalk call schedule). SQLite has one writer, so there it is the writer.
    fn quick(&self) -> &Pool<Self::Db> {
        self.writer()
    }
    fn migrator(&self) -> &'static sqlx::migrate::Migrator;
    /// Stores callback rows in one durable batch, the backend's fastest way.
    async fn insert_inbox_rows(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError>;
}

/// A write transaction on either database; dropping it uncommitted rolls it back.
pub struct SqlTx<DB: Database> {
    pub(super) tx: sqlx::Transaction<'static, DB>,
    /// The end of the last closed period, once read: a batch of postings in one
    /// transaction asks for it once. Periods close in transactions of their own.
    pub(super) closed_until: Option<Option<i64>>,
}

/// The two implementations differ only in their constants; sqlx's executor methods have the
/// same names on each database but no trait to call them through generically.
macro_rules! dialect {
    ($db:ty, $backend:expr, begin = $begin:literal, row_lock = $row_lock:literal, claim_lock = $claim_lock:literal) => {
        #[async_trait]
        impl Dialect for $db {
            const BACKEND: Backend = $backend;
            const BEGIN: &'static str = $begin;
            const ROW_LOCK: &'static str = $row_lock;
            const CLAIM_LOCK: &'static str = $claim_lock;

            fn bind<'q, T: Arg<'q>>(query: Query<'q, Self>, value: T) -> Query<'q, Self> {
                query.bind(value)
            }

            async fn execute(
                connection: &mut Self::Connection,
                query: Query<'_, Self>,
            ) -> Result<u64, sqlx::Error> {
                Ok(query.execute(connection).await?.rows_affected())
            }

            async fn fetch_all<T: Decoded>(
                connection: &mut Self::Connection,
                query: Query<'_, Self>,
            ) -> Result<Vec<T>, sqlx::Error> {
                query
                    .fetch_all(connection)
                    .await?
                    .iter()
                    .map(T::from_row)
                    .collect()
            }

            async fn fetch_optional<T: Decoded>(
                connection: &mut Self::Connection,
                query: Query<'_, Self>,
            ) -> Result<Option<T>, sqlx::Error> {
                query
                    .fetch_optional(connection)
                    .await?
                    .as_ref()
                    .map(T::from_row)
                    .transpose()
            }

            async fn run_migrations(
                pool: &Pool<Self>,
                migrator: &sqlx::migrate::Migrator,
            ) -> Result<(), sqlx::migrate::MigrateError> {
                migrator.run(pool).await
            }
        }
    };
}

// SQLite has one writer connection, so a write transaction already excludes every other and
// there is nothing to lock or skip; it must only take the file's write lock at once.
dialect!(
    Sqlite,
    Backend::Sqlite,
    begin = "BEGIN IMMEDIATE",
    row_lock = "",
    claim_lock = ""
);
// Concurrent posts for one person serialise on the account row; replicas claim different
// inbox and outbox rows instead of queueing behind each other's locks.
dialect!(
    Postgres,
    Backend::Postgres,
    begin = "BEGIN",
    row_lock = " FOR UPDATE",
    claim_lock = " FOR UPDATE SKIP LOCKED"
);
