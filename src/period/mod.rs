//! Month close: post the month's missed check-ins and award its period rules (全勤, full
//! attendance), both from DingTalk's attendance results, then freeze the month's totals per person and per department.
//! Closing twice changes nothing; events of a closed month that arrive later are booked in
//! the open month, and their entries say so.

pub mod archive;
pub mod missed;

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::json;

use crate::badges::{self, BadgeError, Badging};
use crate::dingtalk::openapi::{ApiError, AttendanceRecord, Check, OpenApiClient};
use crate::domain::calendar::{CalendarError, PeriodKind};
use crate::domain::{Calendar, DomainEvent, Period};
use crate::domain::{Closable, Month};
use crate::ledger::{self, LedgerError};
use crate::outbox;
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

/// Events (month summaries, missed check-ins) posted per transaction.
const BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("{period} is not over yet: it ends at {ends}")]
    NotOver { period: String, ends: Timestamp },
    #[error("{period} closes after its months; still open: {}", open.join(", "))]
    MonthsOpen { period: String, open: Vec<String> },
    #[error("{0} is a month: it closes with its attendance (close_month)")]
    NotASpan(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error("cannot read the attendance results: {0}")]
    DingTalk(#[from] ApiError),
    #[error(transparent)]
    Badge(#[from] BadgeError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseReport {
    pub month: String,
    /// The month was closed before; nothing changed.
    pub already_closed: bool,
    /// People with attendance results that month.
    pub people: usize,
    /// Entries posted: missed check-ins not posted before, and the period rules'.
    pub entries: usize,
    /// Badges granted once the month was closed (streaks over closed months among them).
    pub badges: usize,
    /// The month's team challenges that reached their target.
    pub challenges: usize,
}

impl std::fmt::Display for CloseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.already_closed {
            write!(f, "{} was already closed; nothing changed", self.month)
        } else {
            write!(
                f,
                "{} closed: attendance of {} people summarised, {} entries posted (missed check-ins and period rules), totals frozen, {} badges granted, {} team challenges reached",
                self.month, self.people, self.entries, self.badges, self.challenges
            )
        }
    }
}

/// What closing a quarter or a year did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpanReport {
    pub period: String,
    pub already_closed: bool,
    /// People and departments whose totals were frozen.
    pub people: usize,
    pub departments: usize,
}

impl std::fmt::Display for SpanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.already_closed {
            write!(f, "{} was already closed; nothing changed", self.period)
        } else {
            write!(
                f,
                "{} closed: totals of {} people and {} departments frozen",
                self.period, self.people, self.departments
            )
        }
    }
}

/// Closes a quarter or a year once each of its months is closed: freezes its totals per
/// person and per department (with the departments under it), as a month's are. Nothing is
/// posted: a quarter's entries are its months'.
pub async fn close_span(
    store: &dyn Store,
    calendar: &Calendar,
    span: Closable,
    now: Timestamp,
) -> Result<SpanReport, CloseError> {
    let label = span.to_string();
    if let Closable::Month(_) = span {
        return Err(CloseError::NotASpan(label));
    }
    let period = calendar.period_of(span.kind(), span.first_day())?;
    if period.end > now {
        return Err(CloseError::NotOver {
            period: label,
            ends: period.end,
        });
    }
    let mut open = Vec::new();
    for month in span.months() {
        let month = month.to_string();
        if store.period_close(&month).await?.is_none() {
            open.push(month);
        }
    }
    if !open.is_empty() {
        return Err(CloseError::MonthsOpen {
            period: label,
            open,
        });
    }
    let report = json!({ "period": label, "months": span.months().len() });
    let closed = store
        .close_period(&label, period.start, period.end, now, &report.to_string())
        .await?;
    let (people, departments) = if closed {
        (
            store.period_totals(&label, "", i64::MAX).await?.len(),
            store.period_department_totals(&label).await?.len(),
        )
    } else {
        (0, 0)
    };
    Ok(SpanReport {
        period: label,
        already_closed: !closed,
        people,
        departments,
    })
}

/// Closes what closing `month` completes: its quarter when it is the quarter's last month,
/// and its year in December. Each is closed once; asked again, it says so.
pub async fn close_spans_ended_by(
    store: &dyn Store,
    calendar: &Calendar,
    month: Month,
    now: Timestamp,
) -> Result<Vec<SpanReport>, CloseError> {
    let mut reports = Vec::new();
    for span in Closable::ended_by(month) {
        reports.push(close_span(store, calendar, span, now).await?);
    }
    Ok(reports)
}

/// One person's month, from DingTalk's attendance results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttendanceSummary {
    pub working_days: usize,
    pub late_count: usize,
    pub missing_count: usize,
    pub absent_days: usize,
    /// Days with a check an approval (leave) covers.
    pub leave_days: usize,
}

pub async fn close_month(
    store: &dyn Store,
    client: &OpenApiClient,
    rules: &RuleSet,
    badging: &Badging,
    calendar: &Calendar,
    month: Month,
    now: Timestamp,
) -> Result<CloseReport, CloseError> {
    let label = month.to_string();
    let period = calendar.period_of(PeriodKind::Month, month.first_day())?;
    if period.end > now {
        return Err(CloseError::NotOver {
            period: label,
            ends: period.end,
        });
    }
    if store.period_close(&label).await?.is_some() {
        return Ok(CloseReport {
            month: label,
            already_closed: true,
            people: 0,
            entries: 0,
            badges: 0,
            challenges: 0,
        });
    }
    let people = crate::store::userids(store).await?;
    let last_day = period
        .end
        .checked_sub(SignedDuration::from_millis(1))
        .map_err(CalendarError::from)?;
    let records = client
        .attendance_results(&people, period.first_day, calendar.local_date(last_day))
        .await?;
    // Missed check-ins first: a day the daily reconcile did not see is posted now.
    let mut entries = missed::post_missed_check_ins(store, rules, calendar, &records, now).await?;
    let events: Vec<DomainEvent> = summarise(&records)
        .into_iter()
        .map(|(userid, summary)| month_summary(&userid, &label, last_day, &summary))
        .collect();
    entries += post_in_batches(store, rules, calendar, &events, now).await?;
    let mut report = CloseReport {
        month: label.clone(),
        already_closed: false,
        people: events.len(),
        entries,
        badges: 0,
        challenges: 0,
    };
    // Within the month, so its frozen totals hold the challenges' rewards.
    (report.challenges, report.badges) =
        settle_challenges(store, badging, month, &period, last_day, now).await?;
    let closed = store
        .close_period(
            &label,
            period.start,
            period.end,
            now,
            &json!(report).to_string(),
        )
        .await?;
    Ok(if closed {
        // Streaks count closed months: this one counts from now on.
        for batch in people.chunks(BATCH) {
            let mut tx = store.begin().await?;
            let batch: BTreeSet<String> = batch.iter().cloned().collect();
            report.badges += outbox::grant_and_announce(
                tx.as_mut(),
                badging,
                calendar,
                &batch,
                crate::badges::Earning::Anything,
                now,
            )
            .await?;
            tx.commit().await?;
        }
        report
    } else {
        // Another replica closed it meanwhile; the period rules are idempotent.
        CloseReport {
            already_closed: true,
            ..report
        }
    })
}

/// Who grants a challenge's badge, in the audit trail.
const CHALLENGE_ACTOR: &str = "jifen";

/// Rewards the members of each of `month`'s team challenges that reached its target, once,
/// with its points and its badge, and tells them; returns how many reached theirs and how
/// many badges that granted.
async fn settle_challenges(
    store: &dyn Store,
    badging: &Badging,
    month: Month,
    period: &Period,
    last_moment: Timestamp,
    now: Timestamp,
) -> Result<(usize, usize), CloseError> {
    let (mut reached, mut badges) = (0, 0);
    for challenge in badging.book.challenges.iter().filter(|c| c.month == month) {
        let progress = store
            .team_points(
                &challenge.department,
                &challenge.category,
                period.start,
                period.end,
            )
            .await?;
        if progress < challenge.target {
            continue;
        }
        reached += 1;
        let members = store.members_under(&challenge.department).await?;
        let mut tx = store.begin().await?;
        let entries =
            ledger::reward_challenge(tx.as_mut(), challenge, &members, progress, last_moment, now)
                .await?;
        for entry in &entries {
            let row = outbox::change_notification(entry, "团队挑战达成", "Team challenge reached");
            tx.enqueue_outbox(&row).await?;
        }
        if let Some(badge) = &challenge.badge {
            let reason = format!(
                "团队挑战「{}」达成（{}） / team challenge \"{}\" reached",
                challenge.name, challenge.month, challenge.name_en
            );
            for userid in &members {
                let granted = match badges::grant_by_hand(
                    tx.as_mut(),
                    &badging.book,
                    badge,
                    userid,
                    CHALLENGE_ACTOR,
                    &reason,
                    now,
                )
                .await
                {
                    Ok(granted) => granted,
                    // A close run again, or HR gave it before: once is enough.
                    Err(BadgeError::AlreadyHeld { .. }) => continue,
                    Err(e) => return Err(e.into()),
                };
                for row in outbox::badge_notifications(&granted, &badging.groups) {
                    tx.enqueue_outbox(&row).await?;
                }
                badges += 1;
            }
        }
        tx.commit().await?;
    }
    Ok((reached, badges))
}

/// Posts events through the rules, with their notifications, a batch per transaction;
/// returns how many entries were new.
async fn post_in_batches(
    store: &dyn Store,
    rules: &RuleSet,
    calendar: &Calendar,
    events: &[DomainEvent],
    now: Timestamp,
) -> Result<usize, LedgerError> {
    let mut posted = 0;
    for batch in events.chunks(BATCH) {
        let mut tx = store.begin().await?;
        for event in batch {
            let posting = ledger::post_event(tx.as_mut(), rules, calendar, event, now).await?;
            outbox::queue_notices(tx.as_mut(), &posting, calendar, now).await?;
            posted += posting.posted().count();
        }
        tx.commit().await?;
    }
    Ok(posted)
}

/// Each person's month from their attendance results.
pub fn summarise(records: &[AttendanceRecord]) -> BTreeMap<String, AttendanceSummary> {
    // Per person: the days with results, the days absent, the days on leave, and the counts.
    type Days = BTreeSet<i64>;
    let mut days: BTreeMap<&str, (Days, Days, Days, AttendanceSummary)> = BTreeMap::new();
    for r in records {
        let (worked, absent, leave, summary) = days.entry(&r.user_id).or_default();
        worked.insert(r.work_date);
        match (r.check(), r.time_result.as_str()) {
            (Check::Missed, _) => summary.missing_count += 1,
            (Check::Excused, _) => {
                leave.insert(r.work_date);
            }
            (Check::Made { .. }, "Late" | "SeriousLate") => summary.late_count += 1,
            (Check::Made { .. }, "Absenteeism") => {
                absent.insert(r.work_date);
            }
            (Check::Made { .. }, _) => {}
        }
    }
    days.into_iter()
        .map(|(userid, (worked, absent, leave, mut summary))| {
            summary.working_days = worked.len();
            summary.absent_days = absent.len();
            summary.leave_days = leave.len();
            (userid.to_string(), summary)
        })
        .collect()
}

/// The `attendance.month_summary` event of one person, at the month's last instant.
pub fn month_summary(
    userid: &str,
    month: &str,
    at: Timestamp,
    summary: &AttendanceSummary,
) -> DomainEvent {
    DomainEvent {
        kind: "attendance.month_summary".into(),
        source_key: format!("month:{userid}:{month}"),
        userid: userid.to_string(),
        occurred_at: at,
        departments: vec![],
        data: json!({
            "month": month,
            "working_days": summary.working_days,
            "late_count": summary.late_count,
            "missing_count": summary.missing_count,
            "absent_days": summary.absent_days,
            "leave_days": summary.leave_days,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(day: i64, result: &str, checked: bool, leave: bool) -> AttendanceRecord {
        AttendanceRecord {
            user_id: "lina".into(),
            work_date: day * 86_400_000,
            check_type: "OnDuty".into(),
            time_result: result.into(),
            location_result: String::new(),
            base_check_time: day * 86_400_000 + 3_600_000,
            user_check_time: if checked {
                day * 86_400_000 + 3_500_000
            } else {
                0
            },
            source_type: String::new(),
            approve_id: leave.then_some(7),
            proc_inst_id: leave.then(|| "PI-LEAVE".to_string()),
        }
    }

    #[test]
    fn a_month_counts_late_missed_absent_and_leave_days_apart() {
        let records = [
            record(1, "Normal", true, false),
            record(2, "Late", true, false),
            record(3, "SeriousLate", true, false),
            record(4, "NotSigned", false, false),
            record(5, "NotSigned", false, true),
            record(6, "NotSigned", false, true),
            record(7, "Absenteeism", true, false),
        ];
        let months = summarise(&records);
        assert_eq!(
            months["lina"],
            AttendanceSummary {
                working_days: 7,
                late_count: 2,
                missing_count: 1,
                absent_days: 1,
                leave_days: 2,
            }
        );
    }
}
