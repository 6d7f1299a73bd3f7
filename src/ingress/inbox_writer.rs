//! Group commit for the inbox. Each request hands its rows to one writer task and waits; the
//! writer stores everything that queued up meanwhile in one transaction, so a thousand
//! concurrent callbacks cost a few fsyncs, not a thousand, and each is still acknowledged
//! only after its own row is durable.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{InboxStore, NewInboxRow, StoreError};

const QUEUE: usize = 16_384;
/// Most rows one commit carries, so one slow batch cannot hold up many waiters.
const MAX_BATCH: usize = 4_000;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the inbox writer has stopped")]
    Stopped,
    /// The database could not take it now; the sender should try again. What the database
    /// said is logged here, never answered to the sender.
    #[error("the event could not be stored just now; send it again")]
    Unavailable,
    /// The database refuses these rows themselves (what they hold cannot be stored); the
    /// rest of their batch was stored without them.
    #[error("the event cannot be stored as it is")]
    Refused,
}

struct Job {
    rows: Vec<NewInboxRow>,
    done: oneshot::Sender<Result<(), InboxError>>,
}

/// A handle on the writer task; clones share it.
#[derive(Clone)]
pub struct InboxWriter {
    jobs: mpsc::Sender<Job>,
}

impl InboxWriter {
    pub fn spawn(store: Arc<dyn InboxStore>) -> InboxWriter {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, queue));
        InboxWriter { jobs }
    }

    /// Stores `rows` durably (a row whose key is already stored is a redelivery, and skipped).
    pub async fn store(&self, rows: Vec<NewInboxRow>) -> Result<(), InboxError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job { rows, done })
            .await
            .map_err(|_| InboxError::Stopped)?;
        result.await.map_err(|_| InboxError::Stopped)?
    }
}

async fn run(store: Arc<dyn InboxStore>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        let mut count = jobs[0].rows.len();
        while count < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // Rows go into one batch; each waiter's are kept aside too, in case the batch is
        // refused and they must be stored one request at a time.
        let mut rows = Vec::with_capacity(count);
        let mut waiters = Vec::with_capacity(jobs.len());
        let mut batches = Vec::with_capacity(jobs.len());
        for job in jobs {
            waiters.push(job.done);
            rows.extend(job.rows.iter().cloned());
            batches.push(job.rows);
        }
        let started = std::time::Instant::now();
        let outcome: Result<u64, StoreError> = store.insert_inbox(rows).await;
        let micros = started.elapsed().as_micros() as u64;
        match outcome {
            Ok(new) => {
                tracing::trace!(rows = count, new, micros, "inbox batch committed");
                for done in waiters {
                    let _ = done.send(Ok(()));
                }
            }
            // One request's rows may be what the database refuses: store each request's
            // alone, so only that one is refused and the others are not failed with it.
            Err(e) if !e.is_transient() && waiters.len() > 1 => {
                tracing::warn!(error = %e, rows = count, "inbox batch refused; storing its requests one by one");
                for (done, rows) in waiters.into_iter().zip(batches) {
                    let outcome = store.insert_inbox(rows).await;
                    let _ = done.send(outcome.map(|_| ()).map_err(refusal));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, rows = count, "inbox write failed");
                let refused = !e.is_transient();
                for done in waiters {
                    let _ = done.send(Err(if refused {
                        InboxError::Refused
                    } else {
                        InboxError::Unavailable
                    }));
                }
            }
        }
    }
}

/// How a failed insert is answered: refused, or to be tried again.
fn refusal(e: StoreError) -> InboxError {
    if e.is_transient() {
        tracing::error!(error = %e, "the database cannot store an inbox row just now");
        InboxError::Unavailable
    } else {
        tracing::warn!(error = %e, "the database refuses an inbox row");
        InboxError::Refused
    }
}
