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
    #[error("could not store the event: {0}")]
    Store(String),
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
        // Rows move into one batch; waiters only need to hear that it is durable.
        let mut rows = Vec::with_capacity(count);
        let mut waiters = Vec::with_capacity(jobs.len());
        for job in jobs {
            waiters.push(job.done);
            rows.extend(job.rows);
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
            Err(e) => {
                tracing::error!(error = %e, rows = count, "inbox write failed");
                for done in waiters {
                    let _ = done.send(Err(InboxError::Store(e.to_string())));
                }
            }
        }
    }
}
