//! The embedded default: one SQLite file in WAL mode, synchronous=FULL so that a committed
//! entry survives a crash. Ledger writes go through a single sqlx connection (SQLite has one
//! writer anyway, and queueing in the pool beats SQLITE_BUSY); the callback path's inbox
//! inserts have a connection of their own (`sqlite_inbox.rs`); reads use their own pool.
//! The database is always a file: the callback path's connection must see the same data.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use async_trait::async_trait;

use super::dialect::SqlBackend;
use super::sqlite_inbox::InboxConnection;
use super::{NewInboxRow, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The callback path's own writer.
    inbox: InboxConnection,
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
        let file = options.get_filename().to_path_buf();
        if url.contains(":memory:") || url.contains("mode=memory") || file.as_os_str().is_empty() {
            return Err(StoreError::InMemory);
        }
        if let Some(folder) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|source| StoreError::CreateFolder {
                path: folder.display().to_string(),
                source,
            })?;
        }
        // Checkpoints run beside the writer (below), not inside one of its commits.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.clone().read_only(true))
            .await?;
        spawn_checkpointer(options, writer.clone()).await?;
        let inbox = InboxConnection::open(&file)?;
        Ok(SqliteStore {
            writer,
            reader,
            inbox,
        })
    }
}

#[async_trait]
impl SqlBackend for SqliteStore {
    type Db = sqlx::Sqlite;

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    async fn insert_inbox_rows(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError> {
        self.inbox.insert(rows).await
    }
}

/// Copies the WAL back into the database file every half second from a connection of its
/// own. PASSIVE never waits for (or blocks) the writer, so a commit never pays for a
/// checkpoint; left to SQLite's default, every thousandth page written stalls one commit.
/// Under sustained load PASSIVE never catches up with the writer, so the WAL would grow
/// without end (and every commit would write to fresh, unallocated pages): past
/// [`WAL_RESTART_FRAMES`] one RESTART makes the writer start over at the head of the file.
async fn spawn_checkpointer(
    options: SqliteConnectOptions,
    writer: SqlitePool,
) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
    tokio::spawn(async move {
        while !writer.is_closed() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Err(e) = checkpoint(&mut connection).await {
                tracing::warn!(error = %e, "WAL checkpoint failed; will try again");
            }
        }
        let _ = connection.close().await;
    });
    Ok(())
}

/// WAL length (in frames) past which a checkpoint restarts the log: 64 MiB of 4 KiB pages.
const WAL_RESTART_FRAMES: i64 = 16_384;

async fn checkpoint(connection: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    // (busy, frames in the log, frames checkpointed)
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *connection)
        .await?;
    if frames > WAL_RESTART_FRAMES {
        sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}
