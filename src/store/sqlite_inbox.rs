//! The inbox's own SQLite connection: one thread that keeps a prepared INSERT and writes each
//! batch in one transaction. Through sqlx every batch paid for a statement shaped by its size
//! and a hop to sqlx's worker per call; on the callback path that was most of an event's cost.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::{NewInboxRow, StoreError};

const INSERT: &str = "INSERT INTO inbox (dedup_key, source, event_type, payload, status, \
     next_attempt_at, last_error, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6) \
     ON CONFLICT (dedup_key) DO NOTHING";

/// How long a batch waits for the other writer (the ledger's) before it fails.
const BUSY_LIMIT: Duration = Duration::from_secs(10);
/// Short sleeps while the other writer commits: SQLite's own busy timeout sleeps in steps of
/// milliseconds, which alone would exceed the callback path's latency budget.
const BUSY_SLEEP: Duration = Duration::from_micros(100);

struct Job {
    rows: Vec<NewInboxRow>,
    done: oneshot::Sender<Result<u64, rusqlite::Error>>,
}

/// A handle on the thread; the thread ends (and closes its connection) when this is dropped.
pub(super) struct InboxConnection {
    jobs: mpsc::Sender<Job>,
}

impl InboxConnection {
    /// Opens `file` (already created and migrated) and starts the thread.
    pub(super) fn open(file: &Path) -> Result<InboxConnection, StoreError> {
        let connection = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Inbox(e.to_string()))?;
        // Same durability as the ledger's writer; checkpoints run on their own connection.
        connection
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;")
            .map_err(|e| StoreError::Inbox(e.to_string()))?;
        connection
            .busy_handler(Some(wait_for_other_writer))
            .map_err(|e| StoreError::Inbox(e.to_string()))?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("jifen-inbox-writer".into())
            .spawn(move || serve(connection, queue))
            .map_err(|e| StoreError::Inbox(format!("cannot start the inbox thread: {e}")))?;
        Ok(InboxConnection { jobs })
    }

    /// Stores `rows` in one transaction; returns how many keys were new.
    pub(super) async fn insert(&self, rows: Vec<NewInboxRow>) -> Result<u64, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { rows, done })
            .map_err(|_| StoreError::Inbox("the inbox thread has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Inbox("the inbox thread has stopped".into()))?
            .map_err(|e| StoreError::Inbox(e.to_string()))
    }
}

fn wait_for_other_writer(attempts: i32) -> bool {
    let waited = BUSY_SLEEP * u32::try_from(attempts).unwrap_or(u32::MAX);
    if waited >= BUSY_LIMIT {
        return false;
    }
    std::thread::sleep(BUSY_SLEEP);
    true
}

fn serve(mut connection: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        let outcome = insert_rows(&mut connection, &job.rows);
        let _ = job.done.send(outcome);
    }
}

fn insert_rows(connection: &mut Connection, rows: &[NewInboxRow]) -> Result<u64, rusqlite::Error> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut inserted = 0;
    {
        let mut insert = tx.prepare_cached(INSERT)?;
        for row in rows {
            inserted += insert.execute(params![
                row.dedup_key,
                row.source,
                row.event_type,
                row.payload,
                row.status(),
                row.received_at.as_millisecond(),
                row.ignored,
            ])? as u64;
        }
    }
    tx.commit()?;
    Ok(inserted)
}
