//! Runs of scheduled jobs, one row per job and slot, so a slot runs once however many
//! replicas or restarts see it come due.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tracing::instrument;

use super::StoreError;
use super::dialect::{Bind, Dialect, SqlBackend, sql};
use super::rows::millis;

/// One run of a scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRun {
    pub job: String,
    /// The scheduled local time it ran for, e.g. `2026-11-23T06:30:00`.
    pub slot: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub detail: Option<String>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Takes slot `slot` of `job` for this process until `lease_until`: true when it is
    /// ours to run (new, failed before, or left running by a replica whose lease ran out),
    /// false when it ran or is running elsewhere.
    async fn claim_job_run(
        &self,
        job: &str,
        slot: &str,
        at: Timestamp,
        lease_until: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Keeps a running slot ours until `lease_until`; false if it is no longer running here.
    async fn renew_job_run(
        &self,
        job: &str,
        slot: &str,
        lease_until: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn finish_job_run(
        &self,
        job: &str,
        slot: &str,
        ok: bool,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Runs newest first, of one job or all.
    async fn job_runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>, StoreError>;
}

#[async_trait]
impl<B: SqlBackend> JobStore for B {
    #[instrument(level = "debug", skip(self))]
    async fn claim_job_run(
        &self,
        job: &str,
        slot: &str,
        at: Timestamp,
        lease_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut c = self.writer().acquire().await?;
        let claimed = B::Db::execute(
            &mut c,
            sql(
                "INSERT INTO job_runs (job, slot, status, started_at, lease_until) \
                 VALUES ($1, $2, 'running', $3, $4) ON CONFLICT (job, slot) DO UPDATE SET \
                 status = 'running', started_at = excluded.started_at, finished_at = NULL, \
                 detail = NULL, lease_until = excluded.lease_until \
                 WHERE job_runs.status = 'failed' OR (job_runs.status = 'running' \
                 AND job_runs.lease_until IS NOT NULL AND job_runs.lease_until < $3)",
            )
            .arg(job)
            .arg(slot)
            .arg(at.as_millisecond())
            .arg(lease_until.as_millisecond()),
        )
        .await?;
        Ok(claimed == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn renew_job_run(
        &self,
        job: &str,
        slot: &str,
        lease_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut c = self.writer().acquire().await?;
        let renewed = B::Db::execute(
            &mut c,
            sql("UPDATE job_runs SET lease_until = $3 \
                 WHERE job = $1 AND slot = $2 AND status = 'running'")
            .arg(job)
            .arg(slot)
            .arg(lease_until.as_millisecond()),
        )
        .await?;
        Ok(renewed == 1)
    }

    #[instrument(level = "debug", skip(self))]
    async fn finish_job_run(
        &self,
        job: &str,
        slot: &str,
        ok: bool,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut c = self.writer().acquire().await?;
        B::Db::execute(
            &mut c,
            sql(
                "UPDATE job_runs SET status = $3, detail = $4, finished_at = $5 \
                 WHERE job = $1 AND slot = $2",
            )
            .arg(job)
            .arg(slot)
            .arg(if ok { "done" } else { "failed" })
            .arg(detail)
            .arg(at.as_millisecond()),
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", skip(self))]
    async fn job_runs(&self, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>, StoreError> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(String, String, String, i64, Option<i64>, Option<String>)> =
            B::Db::fetch_all(
                &mut c,
                sql(
                    "SELECT job, slot, status, started_at, finished_at, detail FROM job_runs \
                     WHERE CAST($1 AS TEXT) IS NULL OR job = $1 \
                     ORDER BY started_at DESC, slot DESC LIMIT $2",
                )
                .arg(job)
                .arg(limit),
            )
            .await?;
        let at =
            |ms: i64| millis(ms).ok_or_else(|| StoreError::Corrupt(format!("job run time {ms}")));
        rows.into_iter()
            .map(|(job, slot, status, started, finished, detail)| {
                Ok(JobRun {
                    job,
                    slot,
                    status,
                    started_at: at(started)?,
                    finished_at: finished.map(at).transpose()?,
                    detail,
                })
            })
            .collect()
    }
}
