//! The embedded default: one SQLite file in WAL mode, synchronous=FULL so that a committed
//! entry survives a crash. Writes go through a single connection (SQLite has one writer
//! anyway, and queueing in the pool beats SQLITE_BUSY); reads use their own pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{impl_store, impl_store_tx};
use super::{Backend, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

pub struct SqliteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file named by a `sqlite:` URL.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let file = options.get_filename();
        let in_memory = url.contains(":memory:") || file.as_os_str().is_empty();
        if !in_memory && let Some(folder) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::CreateFolder {
                path: folder.display().to_string(),
                source,
            })?;
        }
        // Checkpoints run beside the writer (below), not inside one of its commits.
        let writer_options = if in_memory {
            options.clone()
        } else {
            options.clone().pragma("wal_autocheckpoint", "0")
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(writer_options)
            .await?;
        // An in-memory database exists once per connection, so readers must share the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            let reader = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(options.clone().read_only(true))
                .await?;
            spawn_checkpointer(options, writer.clone()).await?;
            reader
        };
        Ok(SqliteStore { writer, reader })
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }
}

/// Copies the WAL back into the database file every half second from a connection of its
/// own. PASSIVE never waits for (or blocks) the writer, so a commit never pays for a
/// checkpoint; left to SQLite's default, every thousandth page written stalls one commit.
async fn spawn_checkpointer(
    options: SqliteConnectOptions,
    writer: SqlitePool,
) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
    tokio::spawn(async move {
        while !writer.is_closed() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut connection)
                .await
            {
                tracing::warn!(error = %e, "WAL checkpoint failed; will try again");
            }
        }
        let _ = connection.close().await;
    });
    Ok(())
}

impl_store!(
    SqliteStore,
    SqliteTx,
    Backend::Sqlite,
    MIGRATOR,
    claim_lock = "", // one writer: nothing to skip
    placeholder = super::sql::Placeholder::Question
);

// Writes go through one connection, so a write transaction already excludes every other.
impl_store_tx!(SqliteTx, row_lock = "");
