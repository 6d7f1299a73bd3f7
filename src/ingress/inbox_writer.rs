//! Group commit for the inbox. Each request hands its rows to one writer task and waits; the
//! writer stores everything that queued up meanwhile in one transaction, so a thousand
//! concurrent callbacks cost a few fsyncs, not a thousand, and each is still acknowledged
//! only after its own row is durable.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{NewInboxRow, Store, StoreError};

/// Rows stored in one transaction at most.
const MAX_BATCH_ROWS: usize = 2_000;
const QUEUE: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the inbox writer has stopped")]
    Stopped,
    #[error("could not store the event: {0}")]
    Store(String),
}

struct Job {
    rows: Vec<NewInboxRow>,
    done: oneshot::Sender<Result<Vec<bool>, InboxError>>,
}

/// A handle on the writer task; clones share it.
#[derive(Clone)]
pub struct InboxWriter {
    jobs: mpsc::Sender<Job>,
}

impl InboxWriter {
    pub fn spawn(store: Arc<dyn Store>) -> InboxWriter {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, queue));
        InboxWriter { jobs }
    }

    /// Stores `rows` durably; for each, whether it was new (false: a redelivery).
    pub async fn store(&self, rows: Vec<NewInboxRow>) -> Result<Vec<bool>, InboxError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job { rows, done })
            .await
            .map_err(|_| InboxError::Stopped)?;
        result.await.map_err(|_| InboxError::Stopped)?
    }
}

async fn run(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::new();
    while let Some(first) = queue.recv().await {
        let mut rows = first.rows.len();
        batch.push(first);
        while rows < MAX_BATCH_ROWS {
            match queue.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let all: Vec<NewInboxRow> = batch.iter().flat_map(|j| j.rows.iter().cloned()).collect();
        let outcome: Result<Vec<String>, StoreError> = store.insert_inbox(&all).await;
        match outcome {
            Ok(inserted) => {
                let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
                for job in batch.drain(..) {
                    let new = job
                        .rows
                        .iter()
                        .map(|r| inserted.contains(&r.dedup_key))
                        .collect();
                    let _ = job.done.send(Ok(new));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, rows = all.len(), "inbox write failed");
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(InboxError::Store(e.to_string())));
                }
            }
        }
    }
}
