//! Month close: award the month's period rules (全勤, full attendance, from DingTalk's
//! attendance results), then freeze the month's totals per person and per department.
//! Closing twice changes nothing; events of a closed month that arrive later are booked in
//! the open month, and their entries say so.

pub mod archive;

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::json;

use crate::dingtalk::openapi::{ApiError, OpenApiClient};
use crate::domain::Month;
use crate::domain::calendar::{CalendarError, PeriodKind};
use crate::domain::{Calendar, DomainEvent};
use crate::ledger::{self, LedgerError};
use crate::outbox;
use crate::rules::RuleSet;
use crate::store::{Store, StoreError};

/// People whose month summaries are posted per transaction.
const BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("{month} is not over yet: it ends at {ends}")]
    NotOver { month: String, ends: Timestamp },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error("cannot read the attendance results: {0}")]
    DingTalk(#[from] ApiError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseReport {
    pub month: String,
    /// The month was closed before; nothing changed.
    pub already_closed: bool,
    /// People with attendance results that month.
    pub people: usize,
    /// Entries the period rules posted.
    pub entries: usize,
}

impl std::fmt::Display for CloseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.already_closed {
            write!(f, "{} was already closed; nothing changed", self.month)
        } else {
            write!(
                f,
                "{} closed: attendance of {} people summarised, {} period entries posted, totals frozen",
                self.month, self.people, self.entries
            )
        }
    }
}

/// One person's month, from DingTalk's attendance results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttendanceSummary {
    pub working_days: usize,
    pub late_count: usize,
    pub missing_count: usize,
    pub absent_days: usize,
}

pub async fn close_month(
    store: &dyn Store,
    client: &OpenApiClient,
    rules: &RuleSet,
    calendar: &Calendar,
    month: Month,
    now: Timestamp,
) -> Result<CloseReport, CloseError> {
    let label = month.to_string();
    let period = calendar.period_of(PeriodKind::Month, month.first_day())?;
    if period.end > now {
        return Err(CloseError::NotOver {
            month: label,
            ends: period.end,
        });
    }
    if store.period_close(&label).await?.is_some() {
        return Ok(CloseReport {
            month: label,
            already_closed: true,
            people: 0,
            entries: 0,
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
    // Per person: the days with results, the days absent, and the counts.
    type Days = BTreeSet<i64>;
    let mut summaries: BTreeMap<String, (Days, Days, AttendanceSummary)> = BTreeMap::new();
    for r in &records {
        let (days, absent, summary) = summaries.entry(r.user_id.clone()).or_default();
        days.insert(r.work_date);
        match r.time_result.as_str() {
            "Late" | "SeriousLate" => summary.late_count += 1,
            "NotSigned" => summary.missing_count += 1,
            "Absenteeism" => {
                absent.insert(r.work_date);
            }
            _ => {}
        }
    }
    let events: Vec<DomainEvent> = summaries
        .into_iter()
        .map(|(userid, (days, absent, mut summary))| {
            summary.working_days = days.len();
            summary.absent_days = absent.len();
            month_summary(&userid, &label, last_day, &summary)
        })
        .collect();
    let mut entries = 0;
    for batch in events.chunks(BATCH) {
        let mut tx = store.begin().await?;
        for event in batch {
            let posting = ledger::post_event(tx.as_mut(), rules, calendar, event, now).await?;
            outbox::queue_notices(tx.as_mut(), &posting, calendar, now).await?;
            entries += posting.posted().count();
        }
        tx.commit().await?;
    }
    let report = CloseReport {
        month: label.clone(),
        already_closed: false,
        people: events.len(),
        entries,
    };
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
        report
    } else {
        // Another replica closed it meanwhile; the period rules are idempotent.
        CloseReport {
            already_closed: true,
            ..report
        }
    })
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
            // DingTalk's attendance results do not say which absences were approved leave.
            "leave_days": 0,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    }
}
