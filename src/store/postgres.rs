//! PostgreSQL, for several replicas sharing one database. Concurrent posts for the same
//! person serialise on the account row (`FOR UPDATE`), which keeps caps and totals exact.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::sql::{impl_store, impl_store_tx};
use super::{Backend, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

pub struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

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
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }
}

// Replicas claim different inbox rows instead of queueing behind each other's locks.
impl_store!(
    PgStore,
    PgTx,
    Backend::Postgres,
    MIGRATOR,
    claim_lock = " FOR UPDATE SKIP LOCKED",
    placeholder = super::sql::Placeholder::Dollar
);

impl_store_tx!(PgTx, row_lock = " FOR UPDATE");
