//! PostgreSQL, for several replicas sharing one database. Concurrent posts for the same
//! person serialise on the account row (`FOR UPDATE`), which keeps caps and totals exact.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use async_trait::async_trait;

use super::dialect::SqlBackend;
use super::{NewInboxRow, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// The callback path's inserts and the DingTalk call schedule: short statements that
    /// must not queue behind the processor's transactions for one of `pool`'s connections.
    quick: PgPool,
}

/// Connections of the `quick` pool: the inbox writer's batches, and the schedule's turns.
const QUICK_CONNECTIONS: u32 = 2;

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url)?, max_connections).await
    }

    /// Connects with prepared options (tests use this to give each test its own schema).
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let quick = PgPoolOptions::new()
            .max_connections(QUICK_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore { pool, quick })
    }
}

#[async_trait]
impl SqlBackend for PgStore {
    type Db = sqlx::Postgres;

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn quick(&self) -> &PgPool {
        &self.quick
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// One statement over eight arrays: the same text for any batch size, so PostgreSQL parses
    /// and plans it once per connection, and one statement commits (and syncs) once.
    async fn insert_inbox_rows(&self, mut rows: Vec<NewInboxRow>) -> Result<u64, StoreError> {
        // Replicas may insert the same redelivered keys at once: taking the keys' locks in
        // one order everywhere is what keeps two such batches from deadlocking.
        rows.sort_unstable_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
        let mut columns = InboxColumns::with_capacity(rows.len());
        for row in rows {
            columns.push(row);
        }
        let result = sqlx::query(
            "INSERT INTO inbox (dedup_key, source, event_type, payload, status, next_attempt_at, \
             last_error, received_at) SELECT k, s, t, p, st, at, e, at FROM UNNEST($1::text[], \
             $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) \
             AS r(k, s, t, p, st, at, e) ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(columns.dedup_keys)
        .bind(columns.sources)
        .bind(columns.event_types)
        .bind(columns.payloads)
        .bind(columns.statuses)
        .bind(columns.received_at)
        .bind(columns.ignored)
        .execute(self.quick())
        .await?;
        Ok(result.rows_affected())
    }
}

/// Inbox rows turned column-wise, for `UNNEST`.
struct InboxColumns {
    dedup_keys: Vec<String>,
    sources: Vec<String>,
    event_types: Vec<String>,
    payloads: Vec<String>,
    statuses: Vec<&'static str>,
    received_at: Vec<i64>,
    ignored: Vec<Option<String>>,
}

impl InboxColumns {
    fn with_capacity(n: usize) -> InboxColumns {
        InboxColumns {
            dedup_keys: Vec::with_capacity(n),
            sources: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            ignored: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, row: NewInboxRow) {
        self.statuses.push(row.status());
        self.dedup_keys.push(row.dedup_key);
        self.sources.push(row.source);
        self.event_types.push(row.event_type);
        self.payloads.push(row.payload);
        self.received_at.push(row.received_at.as_millisecond());
        self.ignored.push(row.ignored);
    }
}
