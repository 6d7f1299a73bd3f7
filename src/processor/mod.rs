//! The processor: claims inbox rows, turns them into domain events (asking DingTalk for what
//! callbacks leave out, before any transaction opens), and posts them through the rules in
//! the same transaction that marks the row done. Rows are worked on side by side, so a slow
//! one never holds the rest; a failure is retried, deferred or set aside by its kind
//! (`failure.rs`), and ends up visible, never lost.

mod contacts;
pub mod failure;
pub mod normalise;
mod post;
mod redemption;
pub mod source;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use jiff::civil::Date;
use tokio::task::JoinSet;

use self::failure::Failure;
use self::normalise::check_in;
pub use self::redemption::RedemptionForm;
use self::source::{AttendanceResult, DingTalkSource};
use crate::badges::Badging;
use crate::bot::{Bot, Handled};
use crate::dingtalk::card::CARD_CALLBACK;
use crate::dingtalk::events::CONTACT_EVENTS;
use crate::dingtalk::robot::ROBOT_MESSAGE;
use crate::domain::Calendar;
use crate::domain::calendar::signed;
use crate::leaderboard::LeaderboardIndex;
use crate::rules::RuleSet;
use crate::runtime::CancellationToken;
use crate::store::{InboxRow, Setback, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Attempts of a retryable failure before the row is shown as failed (and retried on
    /// the slow schedule).
    pub max_attempts: i64,
    /// Wait after the first failure; doubles each time, up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// After `max_attempts`, a retryable row is tried again after this, doubling up to
    /// `slow_retry_max`: DingTalk may be down for hours.
    pub slow_retry_base: Duration,
    pub slow_retry_max: Duration,
    /// How long a claimed row is ours; after a crash it is claimed again once this passes
    /// (or at once, when the same process starts again).
    pub lease: Duration,
    /// Longest one row may take; past it the row is tried again later, within its lease.
    pub row_deadline: Duration,
    /// Rows claimed at a time.
    pub batch: i64,
    /// Rows worked on at once.
    pub concurrency: usize,
    /// Badges earned by what is posted are granted with it.
    pub badges: Badging,
    /// The 积分兑换 approval form, when redemptions may be asked for by one.
    pub redemption_form: Option<RedemptionForm>,
    /// Pause between polls when the inbox is empty.
    pub idle_poll: Duration,
    /// Who claims: a restarted process with the same name takes its claims back at once.
    pub owner: String,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        ProcessorSettings {
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            slow_retry_base: Duration::from_secs(3600),
            slow_retry_max: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(60),
            row_deadline: Duration::from_secs(45),
            // Check-ins are read 50 people to a call.
            batch: 200,
            concurrency: 8,
            badges: Badging::default(),
            redemption_form: None,
            idle_poll: Duration::from_millis(200),
            owner: "jifen".into(),
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
    /// Told when people or departments change, so the boards follow at once.
    pub leaderboard: Option<Arc<LeaderboardIndex>>,
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
    /// Did not succeed this time; due again later.
    Retrying(String),
    /// Set aside as failed, with the reason.
    Failed(String),
}

/// Attendance results fetched for a batch, by work date (or why they could not be).
pub(crate) type Attendance = HashMap<Date, Result<Vec<AttendanceResult>, Failure>>;

impl Processor {
    /// Works on due rows until `cancel` fires, a few at a time; then finishes the rows in
    /// hand. Rows it held when it last stopped are taken back first.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        match self
            .store
            .release_inbox(&self.settings.owner, Timestamp::now())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "took back the rows this process held before"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot take back earlier claims; their leases will")
            }
        }
        let mut in_hand: JoinSet<Vec<(i64, RowOutcome)>> = JoinSet::new();
        while !cancel.is_cancelled() {
            if in_hand.len() < self.settings.concurrency {
                match self.claim().await {
                    Ok(rows) if !rows.is_empty() => {
                        self.hand_out(rows, &mut in_hand);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "processor cannot reach the database"),
                }
            }
            tokio::select! {
                Some(_) = in_hand.join_next(), if !in_hand.is_empty() => {}
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
                _ = cancel.cancelled() => {}
            }
        }
        while in_hand.join_next().await.is_some() {}
    }

    /// Starts work on claimed rows: check-ins together (one attendance call per work date),
    /// every other row on its own.
    fn hand_out(
        self: &Arc<Self>,
        rows: Vec<InboxRow>,
        in_hand: &mut JoinSet<Vec<(i64, RowOutcome)>>,
    ) {
        let (check_ins, others): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| r.event_type == "attendance_check_record");
        if !check_ins.is_empty() {
            let this = self.clone();
            in_hand.spawn(async move { this.process_all(check_ins).await });
        }
        for row in others {
            let this = self.clone();
            in_hand.spawn(async move { this.process_all(vec![row]).await });
        }
    }

    /// Claims one batch of due rows and works on it; returns what became of each, in row
    /// order.
    pub async fn run_once(&self) -> Result<Vec<(i64, RowOutcome)>, StoreError> {
        let rows = self.claim().await?;
        let mut outcomes = self.process_all(rows).await;
        outcomes.sort_by_key(|(id, _)| *id);
        Ok(outcomes)
    }

    async fn claim(&self) -> Result<Vec<InboxRow>, StoreError> {
        let now = Timestamp::now();
        let lease_until = now + signed(self.settings.lease);
        self.store
            .claim_inbox(now, lease_until, self.settings.batch, &self.settings.owner)
            .await
    }

    /// Works on `rows` side by side, at most `concurrency` at once; check-ins together in one
    /// transaction when they can be.
    async fn process_all(&self, rows: Vec<InboxRow>) -> Vec<(i64, RowOutcome)> {
        let attendance = self.fetch_attendance(&rows).await;
        if rows.len() > 1
            && rows
                .iter()
                .all(|r| r.event_type == "attendance_check_record")
            && let Ok(Some(outcomes)) = tokio::time::timeout(
                self.settings.row_deadline,
                self.post_together(&rows, &attendance),
            )
            .await
        {
            for (row, (_, outcome)) in rows.iter().zip(&outcomes) {
                log(row, outcome);
            }
            return outcomes;
        }
        futures_util::stream::iter(rows)
            .map(|row| {
                let attendance = &attendance;
                async move {
                    let outcome = self.process(&row, attendance).await;
                    log(&row, &outcome);
                    (row.id, outcome)
                }
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await
    }

    /// The attendance results for every check-in among `rows`: one call per work date (the
    /// client splits it by fifty people) instead of one per check-in.
    async fn fetch_attendance(&self, rows: &[InboxRow]) -> Attendance {
        let mut wanted: BTreeMap<Date, Vec<String>> = BTreeMap::new();
        for row in rows
            .iter()
            .filter(|r| r.event_type == "attendance_check_record")
        {
            let Some((userid, date)) = check_in(&row.payload).ok().and_then(|check| {
                let at = Timestamp::from_millisecond(check.check_time).ok()?;
                Some((check.userid, self.calendar.local_date(at)))
            }) else {
                continue;
            };
            let users = wanted.entry(date).or_default();
            if !users.contains(&userid) {
                users.push(userid);
            }
        }
        let mut fetched = HashMap::new();
        for (date, users) in wanted {
            let answer = self.source.attendance(&users, date).await;
            fetched.insert(date, answer.map_err(Failure::from));
        }
        fetched
    }

    /// One row, within its deadline, and what is recorded when it does not succeed.
    async fn process(&self, row: &InboxRow, attendance: &Attendance) -> RowOutcome {
        let attempt = async {
            if row.event_type == ROBOT_MESSAGE || row.event_type == CARD_CALLBACK {
                self.answer(row).await
            } else if CONTACT_EVENTS.contains(&row.event_type.as_str()) {
                self.follow_contacts(row).await
            } else {
                self.post(row, attendance).await
            }
        };
        let result = match tokio::time::timeout(self.settings.row_deadline, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Retry(format!(
                "took longer than {} s; tried again later",
                self.settings.row_deadline.as_secs()
            ))),
        };
        match result {
            Ok(outcome) => outcome,
            Err(failure) => self.set_back(row, failure).await,
        }
    }

    /// Records a failed attempt as its kind asks.
    async fn set_back(&self, row: &InboxRow, failure: Failure) -> RowOutcome {
        let now = Timestamp::now();
        let (setback, outcome) = match &failure {
            Failure::Permanent(why) => (
                Setback::Failed { retry_at: None },
                RowOutcome::Failed(why.clone()),
            ),
            Failure::RateLimited { after, reason } => (
                Setback::Retry {
                    at: now + signed(*after),
                    counted: false,
                },
                RowOutcome::Retrying(reason.clone()),
            ),
            Failure::Retry(why) if row.attempts >= self.settings.max_attempts => {
                let wait = self.slow_backoff(row.attempts - self.settings.max_attempts);
                (
                    Setback::Failed {
                        retry_at: Some(now + signed(wait)),
                    },
                    RowOutcome::Failed(why.clone()),
                )
            }
            Failure::Retry(why) => (
                Setback::Retry {
                    at: now + signed(self.backoff(row.attempts)),
                    counted: true,
                },
                RowOutcome::Retrying(why.clone()),
            ),
        };
        match self
            .store
            .reschedule_inbox(row.id, &failure.to_string(), setback)
            .await
        {
            Ok(()) => outcome,
            // The row stays claimed; its lease brings it back.
            Err(e) => RowOutcome::Retrying(format!("{failure} (and cannot record it: {e})")),
        }
    }

    /// Hands a robot message or a card press to the bot, which completes the row with its
    /// answer.
    async fn answer(&self, row: &InboxRow) -> Result<RowOutcome, Failure> {
        let bot = self.bot.as_ref().ok_or_else(|| {
            Failure::Permanent(
                "the robot is not configured: set JIFEN_DINGTALK_APP_KEY and JIFEN_DINGTALK_APP_SECRET"
                    .into(),
            )
        })?;
        let now = Timestamp::now();
        let handled = match row.event_type == CARD_CALLBACK {
            true => bot.handle_card_press(row.id, &row.payload, now).await?,
            false => bot.handle(row.id, &row.payload, now).await?,
        };
        match handled {
            Handled::Answered => Ok(RowOutcome::Answered),
            Handled::Ignored(why) => Ok(RowOutcome::Skipped(why)),
            Handled::Superseded => Ok(RowOutcome::Skipped(
                "claimed again by another worker".into(),
            )),
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        doubling(self.settings.retry_base, attempts.saturating_sub(1)).min(self.settings.retry_max)
    }

    fn slow_backoff(&self, beyond: i64) -> Duration {
        doubling(self.settings.slow_retry_base, beyond).min(self.settings.slow_retry_max)
    }
}

/// `base` doubled `times` times, saturating.
fn doubling(base: Duration, times: i64) -> Duration {
    let times = u32::try_from(times.max(0)).unwrap_or(u32::MAX).min(20);
    base.saturating_mul(1 << times)
}

fn log(row: &InboxRow, outcome: &RowOutcome) {
    match outcome {
        RowOutcome::Done { entries } => {
            tracing::info!(id = row.id, event = %row.event_type, entries, "processed")
        }
        RowOutcome::Answered => tracing::info!(id = row.id, "robot message answered"),
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
            "set aside as failed"
        ),
    }
}
