//! The processor: claims inbox rows, turns them into domain events (asking DingTalk for what
//! callbacks leave out), and posts them through the rules in the same transaction that marks
//! the row done. Failures are retried with backoff and end up visible as failed, never lost.

pub mod normalise;
pub mod source;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;

use self::normalise::{
    Normalised, approval_event, attendance_event, check_in, instance_change, is_approval,
};
use self::source::{AttendanceResult, DingTalkSource};
use crate::bot::{Bot, Handled};
use crate::dingtalk::robot::ROBOT_MESSAGE;
use crate::domain::Calendar;
use crate::domain::calendar::signed;
use crate::ledger;
use crate::outbox;
use crate::rules::RuleSet;
use crate::runtime::CancellationToken;
use crate::store::{InboxRow, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Attempts before a row is parked as failed.
    pub max_attempts: i64,
    /// Wait after the first failure; doubles each time, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed row is ours; after a crash it is claimed again once this passes.
    pub lease: Duration,
    pub batch: i64,
    /// Pause between polls when the inbox is empty.
    pub idle_poll: Duration,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        ProcessorSettings {
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            lease: Duration::from_secs(60),
            batch: 64,
            idle_poll: Duration::from_millis(200),
        }
    }
}

pub struct Processor {
    pub store: Arc<dyn Store>,
    pub rules: Arc<RuleSet>,
    pub calendar: Calendar,
    pub source: Arc<dyn DingTalkSource>,
    /// Answers robot messages; without it they fail with the reason.
    pub bot: Option<Arc<Bot>>,
    pub settings: ProcessorSettings,
}

/// What became of one inbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// Posted (or found already posted) this many entries.
    Done { entries: usize },
    /// A robot message, answered.
    Answered,
    /// Needed no posting, and why.
    Skipped(String),
    /// Failed this attempt; due again later.
    Retrying(String),
    /// Failed its last attempt.
    Failed(String),
}

impl Processor {
    /// Processes due rows, pausing when there are none, until `cancel` fires; a batch
    /// under way is finished first.
    pub async fn run(&self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            match self.run_once().await {
                Ok(outcomes) if !outcomes.is_empty() => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "processor cannot reach the database"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }

    /// Claims one batch of due rows and processes it.
    pub async fn run_once(&self) -> Result<Vec<(i64, RowOutcome)>, StoreError> {
        let now = Timestamp::now();
        let lease_until = now + signed(self.settings.lease);
        let rows = self
            .store
            .claim_inbox(now, lease_until, self.settings.batch)
            .await?;
        let attendance = self.fetch_attendance(&rows).await;
        let mut outcomes = Vec::with_capacity(rows.len());
        for row in rows {
            let outcome = self.process(&row, &attendance).await?;
            match &outcome {
                RowOutcome::Done { entries } => {
                    tracing::info!(id = row.id, event = %row.event_type, entries, "processed")
                }
                RowOutcome::Answered => {
                    tracing::info!(id = row.id, "robot message answered")
                }
                RowOutcome::Skipped(why) => {
                    tracing::debug!(id = row.id, event = %row.event_type, why, "nothing to post")
                }
                RowOutcome::Retrying(error) => {
                    tracing::warn!(id = row.id, attempt = row.attempts, error, "will retry")
                }
                RowOutcome::Failed(error) => tracing::error!(
                    id = row.id,
                    attempts = row.attempts,
                    error,
                    "failed for good"
                ),
            }
            outcomes.push((row.id, outcome));
        }
        Ok(outcomes)
    }

    /// The attendance results for every check-in in a batch: one call per work date (the
    /// client splits it by fifty people) instead of one per check-in.
    async fn fetch_attendance(&self, rows: &[InboxRow]) -> Attendance {
        let mut wanted: BTreeMap<Date, Vec<String>> = BTreeMap::new();
        for row in rows
            .iter()
            .filter(|r| r.event_type == "attendance_check_record")
        {
            if let Some((userid, date)) = self.check_in_day(row) {
                let users = wanted.entry(date).or_default();
                if !users.contains(&userid) {
                    users.push(userid);
                }
            }
        }
        let mut fetched = HashMap::new();
        for (date, users) in wanted {
            let answer = self
                .source
                .attendance(&users, date)
                .await
                .map_err(|e| e.to_string());
            fetched.insert(date, answer);
        }
        fetched
    }

    fn check_in_day(&self, row: &InboxRow) -> Option<(String, Date)> {
        let check = check_in(&row.payload).ok()?;
        let at = Timestamp::from_millisecond(check.check_time).ok()?;
        Some((check.userid, self.calendar.local_date(at)))
    }

    async fn process(
        &self,
        row: &InboxRow,
        attendance: &Attendance,
    ) -> Result<RowOutcome, StoreError> {
        let attempt: Result<RowOutcome, String> = if row.event_type == ROBOT_MESSAGE {
            self.answer(row).await
        } else {
            self.post(row, attendance).await
        };
        match attempt {
            Ok(outcome) => Ok(outcome),
            Err(error) if row.attempts >= self.settings.max_attempts => {
                self.store.reschedule_inbox(row.id, &error, None).await?;
                Ok(RowOutcome::Failed(error))
            }
            Err(error) => {
                let retry_at = Timestamp::now() + signed(self.backoff(row.attempts));
                self.store
                    .reschedule_inbox(row.id, &error, Some(retry_at))
                    .await?;
                Ok(RowOutcome::Retrying(error))
            }
        }
    }

    /// Posts a DingTalk event through the rules and completes its row, in one transaction.
    async fn post(&self, row: &InboxRow, attendance: &Attendance) -> Result<RowOutcome, String> {
        let now = Timestamp::now();
        let mut tx = self.store.begin().await.map_err(|e| e.to_string())?;
        let (outcome, note) = match self.normalise(row, attendance).await? {
            Normalised::Event(event) => {
                let posting =
                    ledger::post_event(tx.as_mut(), &self.rules, &self.calendar, &event, now)
                        .await
                        .map_err(|e| e.to_string())?;
                outbox::queue_notices(tx.as_mut(), &posting, &self.calendar, now)
                    .await
                    .map_err(|e| e.to_string())?;
                let entries = posting.posted().count();
                (RowOutcome::Done { entries }, None)
            }
            Normalised::Nothing(why) => (RowOutcome::Skipped(why.clone()), Some(why)),
        };
        if !tx
            .complete_inbox(row.id, note.as_deref(), now)
            .await
            .map_err(|e| e.to_string())?
        {
            // Our lease ran out and another worker took the row; its transaction decides.
            return Ok(RowOutcome::Skipped(
                "claimed again by another worker".into(),
            ));
        }
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok(outcome)
    }

    /// Hands a robot message to the bot, which completes the row with its answer.
    async fn answer(&self, row: &InboxRow) -> Result<RowOutcome, String> {
        let bot = self.bot.as_ref().ok_or(
            "the robot is not configured: set JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET",
        )?;
        match bot.handle(row.id, &row.payload, Timestamp::now()).await {
            Ok(Handled::Answered) => Ok(RowOutcome::Answered),
            Ok(Handled::Superseded) => Ok(RowOutcome::Skipped(
                "claimed again by another worker".into(),
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The domain event for a row, or why there is none; errors are worth retrying.
    async fn normalise(
        &self,
        row: &InboxRow,
        attendance: &Attendance,
    ) -> Result<Normalised, String> {
        match row.event_type.as_str() {
            "bpms_instance_change" => {
                let change = instance_change(&row.payload).map_err(|e| e.to_string())?;
                if !is_approval(&change) {
                    return Ok(Normalised::Nothing(format!(
                        "instance {} {}",
                        change.kind, change.result
                    )));
                }
                if !self.rules_read(&change.process_code) {
                    return Ok(Normalised::Nothing(format!(
                        "no rule reads process code {}",
                        change.process_code
                    )));
                }
                let detail = self
                    .source
                    .approval(&change.process_instance_id)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Normalised::Event(approval_event(
                    &change,
                    &detail,
                    row.received_at,
                )))
            }
            "attendance_check_record" => {
                let check = check_in(&row.payload).map_err(|e| e.to_string())?;
                let at =
                    Timestamp::from_millisecond(check.check_time).map_err(|e| e.to_string())?;
                let results = match attendance.get(&self.calendar.local_date(at)) {
                    Some(fetched) => fetched.clone()?,
                    None => return Err("attendance results were not fetched".into()),
                };
                attendance_event(&check, &results, &self.calendar).map_err(|e| e.to_string())
            }
            other => Ok(Normalised::Nothing(format!("{other} events earn nothing"))),
        }
    }

    /// Whether any approval rule could fire for this process code (a rule without a
    /// condition reads every form).
    fn rules_read(&self, process_code: &str) -> bool {
        self.rules
            .rules
            .iter()
            .filter(|r| r.event == "approval.approved")
            .any(|r| {
                r.when
                    .as_ref()
                    .is_none_or(|c| c.source.contains(process_code))
            })
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        self.settings
            .retry_base
            .saturating_mul(1 << doublings)
            .min(self.settings.retry_max)
    }
}

/// Attendance results fetched for a batch, by work date (or why they could not be).
type Attendance = HashMap<Date, Result<Vec<AttendanceResult>, String>>;
