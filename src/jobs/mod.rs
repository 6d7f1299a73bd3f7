//! Scheduled jobs: cron expressions from config, each run recorded in `job_runs` under its
//! slot, so a restart, a late start or a second replica never runs a slot twice, and a slot
//! missed within the grace window runs once on start.

pub mod challenge_board;
pub mod honor_board;
pub mod reconcile;
pub mod review_digest;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::DateTime as CivilDateTime;

use self::honor_board::HonorSettings;
use self::review_digest::ReviewDigestSettings;
use crate::badges::Badging;
use crate::config::{Config, ConfigError, JobSchedules};
use crate::dingtalk::openapi::{ApiError, OpenApiClient};
use crate::domain::Calendar;
use crate::domain::Month;
use crate::domain::calendar::signed;
use crate::domain::schedule::{JobSchedule, slot_instant};
use crate::leaderboard::LeaderboardIndex;
use crate::rules::RuleSet;
use crate::runtime::CancellationToken;
use crate::store::{Store, StoreError};

/// How long a running slot is held without renewal; a replica that dies mid-run leaves it
/// to the others after this.
const JOB_LEASE: Duration = Duration::from_secs(300);

/// The jobs jifen knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The previous day's attendance and DingTalk's failed callbacks, into the inbox.
    Reconcile,
    /// The whole address book read again: who joined, changed or left.
    AddressBook,
    /// Closes the previous month: period rules, then frozen totals.
    MonthClose,
    /// Last week's top ten, to the configured groups.
    HonorBoard,
    /// What waits for review, to each HR admin.
    ReviewDigest,
    /// The month's team challenges with their meters, to the honor board's groups.
    ChallengeBoard,
}

impl Job {
    pub const ALL: [Job; 6] = [
        Job::Reconcile,
        Job::AddressBook,
        Job::MonthClose,
        Job::HonorBoard,
        Job::ReviewDigest,
        Job::ChallengeBoard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::Reconcile => "reconcile",
            Job::AddressBook => "address_book",
            Job::MonthClose => "month_close",
            Job::HonorBoard => "honor_board",
            Job::ReviewDigest => "review_digest",
            Job::ChallengeBoard => "challenge_board",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.name() == name)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Job::Reconcile => {
                "feed the previous day's attendance and DingTalk's failed callbacks into the inbox"
            }
            Job::AddressBook => {
                "read the whole address book: who joined, changed or left since the last time"
            }
            Job::MonthClose => {
                "close the previous month: full-attendance awards, then its totals frozen"
            }
            Job::HonorBoard => "push last week's top ten (光荣榜) to the configured groups",
            Job::ReviewDigest => {
                "tell each HR admin what waits for review, with a link to the queue"
            }
            Job::ChallengeBoard => {
                "push this month's team challenges with their meters to the honor board's groups"
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    DingTalk(#[from] ApiError),
    #[error(
        "unknown job {0:?}; the jobs are: reconcile, address_book, month_close, honor_board, review_digest, challenge_board"
    )]
    Unknown(String),
    #[error("{0}")]
    BadSlot(String),
    #[error(transparent)]
    Close(#[from] crate::period::CloseError),
    #[error(transparent)]
    Sync(#[from] crate::org::SyncError),
    #[error(transparent)]
    Calendar(#[from] crate::domain::calendar::CalendarError),
    #[error(transparent)]
    Leaderboard(#[from] crate::leaderboard::LeaderboardError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
}

/// One job as configured.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job: Job,
    pub schedule: JobSchedule,
    pub enabled: bool,
}

impl JobSpec {
    /// Every job with its `[jobs.*]` schedule, the cron expressions checked.
    pub fn from_config(config: &Config) -> Result<Vec<JobSpec>, ConfigError> {
        let JobSchedules {
            reconcile,
            address_book,
            month_close,
            honor_board,
            review_digest,
            challenge_board,
        } = config.job_schedules()?;
        Ok([
            (Job::Reconcile, reconcile),
            (Job::AddressBook, address_book),
            (Job::MonthClose, month_close),
            (Job::HonorBoard, honor_board),
            (Job::ReviewDigest, review_digest),
            (Job::ChallengeBoard, challenge_board),
        ]
        .into_iter()
        .map(|(job, (schedule, enabled))| JobSpec {
            job,
            schedule,
            enabled,
        })
        .collect())
    }
}

/// What became of one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotOutcome {
    Done(String),
    Failed(String),
    /// It ran, or is running, elsewhere (another replica, an earlier start).
    Taken,
}

pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub client: Arc<OpenApiClient>,
    pub rules: Arc<RuleSet>,
    /// Badges a month close grants (streaks), and where the big ones are announced.
    pub badges: Badging,
    pub calendar: Calendar,
    /// Put in events reconciliation rebuilds, as DingTalk would.
    pub corp_id: String,
    pub specs: Vec<JobSpec>,
    /// A slot missed by less than this still runs (once) when jifen starts.
    pub grace: Duration,
    pub honor: HonorSettings,
    pub review: ReviewDigestSettings,
    /// Told when the address book changes, so the boards follow at once.
    pub leaderboard: Option<Arc<LeaderboardIndex>>,
}

impl Jobs {
    pub fn from_config(
        config: &Config,
        store: Arc<dyn Store>,
        client: Arc<OpenApiClient>,
        rules: Arc<RuleSet>,
        badges: Badging,
    ) -> Result<Jobs, ConfigError> {
        Ok(Jobs {
            store,
            client,
            rules,
            badges,
            calendar: config.calendar()?,
            corp_id: config.dingtalk.receive_id.clone().unwrap_or_default(),
            specs: JobSpec::from_config(config)?,
            grace: config.job_grace(),
            honor: HonorSettings::from_config(config),
            review: ReviewDigestSettings {
                hr_admins: config.robot.hr_admins.clone(),
                queue_url: format!("{}/app/review", config.public_url()),
            },
            leaderboard: None,
        })
    }

    /// Runs due slots, checking every `every`, until `cancel` fires; a job under way is
    /// finished first.
    pub async fn run(&self, every: Duration, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            self.tick(Timestamp::now()).await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    /// Runs, once, the latest slot of each enabled job if it is within the grace window.
    pub async fn tick(&self, now: Timestamp) -> Vec<(Job, CivilDateTime, SlotOutcome)> {
        let tz = self.calendar.time_zone();
        let mut outcomes = Vec::new();
        for spec in self.specs.iter().filter(|s| s.enabled) {
            let Some(slot) = spec.schedule.last_slot(now, tz) else {
                continue;
            };
            let due = slot_instant(slot, tz).is_some_and(|at| {
                now.duration_since(at)
                    <= jiff::SignedDuration::try_from(self.grace).unwrap_or_default()
            });
            if !due {
                continue;
            }
            match self.run_slot(spec.job, slot, now).await {
                Ok(SlotOutcome::Taken) => {}
                Ok(outcome) => outcomes.push((spec.job, slot, outcome)),
                Err(e) => {
                    tracing::error!(job = spec.job.name(), %slot, error = %e, "job slot could not be claimed")
                }
            }
        }
        outcomes
    }

    /// Runs `work`, renewing the slot's lease meanwhile, so that another replica takes the
    /// slot over only when this one has died.
    async fn while_renewing(
        &self,
        job: Job,
        slot: &str,
        work: impl std::future::Future<Output = Result<String, JobError>>,
    ) -> Result<String, JobError> {
        tokio::pin!(work);
        let mut renew = tokio::time::interval(JOB_LEASE / 4);
        renew.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return result,
                _ = renew.tick() => {
                    let until = Timestamp::now() + signed(JOB_LEASE);
                    if let Err(e) = self.store.renew_job_run(job.name(), slot, until).await {
                        tracing::warn!(job = job.name(), slot, error = %e, "cannot renew the job's lease");
                    }
                }
            }
        }
    }

    /// Claims `slot` of `job` and runs it; `Taken` when it ran or runs elsewhere. A failed
    /// slot, or one whose replica died mid-run, may be claimed again.
    pub async fn run_slot(
        &self,
        job: Job,
        slot: CivilDateTime,
        now: Timestamp,
    ) -> Result<SlotOutcome, JobError> {
        let label = slot.to_string();
        let lease_until = Timestamp::now() + signed(JOB_LEASE);
        if !self
            .store
            .claim_job_run(job.name(), &label, now, lease_until)
            .await?
        {
            return Ok(SlotOutcome::Taken);
        }
        tracing::info!(job = job.name(), slot = %label, "job started");
        let work = async {
            match job {
                Job::Reconcile => {
                    // A slot reconciles the day before it.
                    let date = slot
                        .date()
                        .yesterday()
                        .map_err(|e| JobError::BadSlot(e.to_string()))?;
                    let report = reconcile::reconcile(self, date, now).await?;
                    Ok(report.to_string())
                }
                Job::AddressBook => {
                    let report =
                        crate::org::sync_directory(&self.client, self.store.as_ref()).await?;
                    if let Some(boards) = &self.leaderboard
                        && let Err(e) = boards.refresh_directory().await
                    {
                        tracing::warn!(error = %e, "leaderboards keep the previous address book for now");
                    }
                    Ok(report.to_string())
                }
                Job::MonthClose => {
                    // A slot closes the month before the one it falls in.
                    let last_month = slot
                        .date()
                        .first_of_month()
                        .yesterday()
                        .map_err(|e| JobError::BadSlot(e.to_string()))?;
                    let month = Month::of(last_month);
                    let report = crate::period::close_month(
                        self.store.as_ref(),
                        &self.client,
                        &self.rules,
                        &self.badges,
                        &self.calendar,
                        month,
                        now,
                    )
                    .await?;
                    // The quarter and year its month ends close with it.
                    let spans = crate::period::close_spans_ended_by(
                        self.store.as_ref(),
                        &self.calendar,
                        month,
                        now,
                    )
                    .await?;
                    let mut said = report.to_string();
                    for span in spans {
                        said.push_str(&format!("; {span}"));
                    }
                    Ok(said)
                }
                Job::HonorBoard => {
                    let at = slot_instant(slot, self.calendar.time_zone()).unwrap_or(now);
                    honor_board::post_honor_board(
                        self.store.as_ref(),
                        &self.calendar,
                        &self.honor,
                        at,
                        now,
                    )
                    .await
                }
                Job::ReviewDigest => {
                    review_digest::post_review_digest(
                        self.store.as_ref(),
                        &self.review,
                        &label,
                        now,
                    )
                    .await
                }
                Job::ChallengeBoard => {
                    let at = slot_instant(slot, self.calendar.time_zone()).unwrap_or(now);
                    challenge_board::post_challenge_board(
                        self.store.as_ref(),
                        &self.calendar,
                        &self.badges,
                        &self.honor,
                        at,
                        now,
                    )
                    .await
                }
            }
        };
        let result = self.while_renewing(job, &label, work).await;
        let (ok, detail) = match &result {
            Ok(report) => (true, report.clone()),
            Err(e) => (false, e.to_string()),
        };
        self.store
            .finish_job_run(job.name(), &label, ok, &detail, Timestamp::now())
            .await?;
        if ok {
            tracing::info!(job = job.name(), slot = %label, detail, "job done");
            Ok(SlotOutcome::Done(detail))
        } else {
            tracing::error!(job = job.name(), slot = %label, error = detail, "job failed; `jifen jobs run` retries it");
            Ok(SlotOutcome::Failed(detail))
        }
    }
}
