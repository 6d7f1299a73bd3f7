//! The embedded default: one SQLite file in WAL mode, synchronous=FULL so that a committed
//! entry survives a crash. Ledger writes go through a single sqlx connection (SQLite has one
//! writer anyway, and queueing in the pool beats SQLITE_BUSY); the callback path's inbox
//! inserts have a connection of their own (`sqlite_inbox.rs`); reads use their own pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::sql::{impl_store, impl_store_tx};
use super::sqlite_inbox::{self, InboxConnection};
use super::{Backend, NewInboxRow, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The callback path's own writer; `None` in memory, where only `writer` sees the data.
    inbox: Option<InboxConnection>,
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
        let file = options.get_filename().to_path_buf();
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
        if in_memory {
            return Ok(SqliteStore {
                reader: writer.clone(),
                writer,
                inbox: None,
            });
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.clone().read_only(true))
            .await?;
        spawn_checkpointer(options, writer.clone()).await?;
        let inbox = Some(InboxConnection::open(&file)?);
        Ok(SqliteStore {
            writer,
            reader,
            inbox,
        })
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn store_inbox(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError> {
        if let Some(inbox) = &self.inbox {
            return inbox.insert(rows).await;
        }
        let mut tx = self.writer.begin().await?;
        let mut inserted = 0;
        for row in &rows {
            inserted += sqlx::query(sqlite_inbox::INSERT)
                .bind(&row.dedup_key)
                .bind(&row.source)
                .bind(&row.event_type)
                .bind(&row.payload)
                .bind(row.status())
                .bind(row.received_at.as_millisecond())
                .bind(&row.ignored)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
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

impl_store!(
    SqliteStore,
    SqliteTx,
    Backend::Sqlite,
    MIGRATOR,
    claim_lock = "" // one writer: nothing to skip
);

// Writes go through one connection, so a write transaction already excludes every other.
impl_store_tx!(SqliteTx, row_lock = "");
