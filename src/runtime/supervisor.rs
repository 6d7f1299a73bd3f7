//! Workers under supervision. Each runs until its cancellation token fires; one that
//! returns early or panics is logged, shown as down in [`Health`] (so `/healthz` names it),
//! and started again after a backoff that doubles up to a minute.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The first wait before a dead worker starts again; it doubles each time, up to
/// [`MAX_BACKOFF`], and starts over once the worker has run for a minute.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkerState {
    Running {
        since: Timestamp,
        restarts: u32,
    },
    /// Died; starts again at `restart_at`.
    Down {
        since: Timestamp,
        error: String,
        restart_at: Timestamp,
    },
}

/// What each worker is doing, for the health check.
#[derive(Debug, Clone, Default)]
pub struct Health {
    workers: Arc<Mutex<BTreeMap<&'static str, WorkerState>>>,
}

impl Health {
    pub fn workers(&self) -> BTreeMap<&'static str, WorkerState> {
        self.lock().clone()
    }

    /// The workers that are down, with why.
    pub fn down(&self) -> Vec<(&'static str, String)> {
        self.lock()
            .iter()
            .filter_map(|(name, state)| match state {
                WorkerState::Down { error, .. } => Some((*name, error.clone())),
                WorkerState::Running { .. } => None,
            })
            .collect()
    }

    fn set(&self, name: &'static str, state: WorkerState) {
        self.lock().insert(name, state);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, WorkerState>> {
        // A panic while holding this lock cannot leave the map half-written.
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Supervisor {
    cancel: CancellationToken,
    health: Health,
    tasks: JoinSet<()>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor {
            cancel: CancellationToken::new(),
            health: Health::default(),
            tasks: JoinSet::new(),
        }
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Fires when the supervisor stops; workers finish what they are doing and return.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Runs the worker `start` makes, again whenever it dies, until the supervisor stops.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, start: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (cancel, health) = (self.cancel.clone(), self.health.clone());
        self.tasks.spawn(supervise(name, start, cancel, health));
    }

    /// Stops every worker: each finishes its batch and returns; one still busy after
    /// `grace` is dropped (a claimed row's lease brings it back).
    pub async fn stop(mut self, grace: Duration) {
        self.cancel.cancel();
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            tracing::warn!(
                ?grace,
                "workers still busy after the grace period; dropping them"
            );
            self.tasks.abort_all();
        }
    }
}

async fn supervise<F, Fut>(name: &'static str, start: F, cancel: CancellationToken, health: Health)
where
    F: Fn(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    let mut restarts = 0;
    loop {
        let since = Timestamp::now();
        health.set(name, WorkerState::Running { since, restarts });
        // Its own task, so that a panic is reported here instead of ending the supervisor.
        let outcome = tokio::spawn(start(cancel.child_token())).await;
        if cancel.is_cancelled() {
            return;
        }
        let error = match outcome {
            Ok(()) => "stopped on its own".to_string(),
            Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
            Err(e) => e.to_string(),
        };
        if Timestamp::now().duration_since(since) > jiff::SignedDuration::from_secs(60) {
            backoff = FIRST_BACKOFF;
        }
        let restart_at = Timestamp::now() + crate::domain::calendar::signed(backoff);
        tracing::error!(worker = name, error, ?backoff, "worker died; restarting it");
        health.set(
            name,
            WorkerState::Down {
                since: Timestamp::now(),
                error,
                restart_at,
            },
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        restarts += 1;
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_string(),
            Err(_) => "(no message)".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn stopping_lets_a_worker_finish_its_batch() {
        let mut workers = Supervisor::new();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        workers.spawn("batcher", move |cancel| {
            let flag = flag.clone();
            async move {
                cancel.cancelled().await;
                // The batch in hand when the signal came.
                tokio::time::sleep(Duration::from_millis(50)).await;
                flag.store(true, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        workers.stop(Duration::from_secs(5)).await;
        assert!(finished.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_worker_that_stops_on_its_own_is_down_then_restarted() {
        let mut workers = Supervisor::new();
        let health = workers.health();
        workers.spawn("quitter", |_| async {});
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            health.down(),
            [("quitter", "stopped on its own".to_string())]
        );
        tokio::time::sleep(FIRST_BACKOFF + Duration::from_millis(100)).await;
        match &health.workers()["quitter"] {
            WorkerState::Running { restarts, .. } => assert!(*restarts >= 1),
            // It stops at once again, so it may be down for the second time.
            WorkerState::Down { .. } => {}
        }
        workers.stop(Duration::from_secs(1)).await;
    }
}
