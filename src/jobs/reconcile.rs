//! Daily reconciliation: DingTalk does not always reach us, so once a day the previous day's
//! attendance results and DingTalk's failed-callback list are read through the OpenAPI and
//! whatever is missing goes into the inbox; the day's missed check-ins (缺卡), which no
//! callback announces, are posted. Inbox keys and ledger source keys de-duplicate, so
//! feeding an event twice never posts it twice.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::dingtalk::events::{Message, parse_message};
use crate::dingtalk::openapi::Check;
use crate::dingtalk::simulate::attendance_message;
use crate::period::missed::post_missed_check_ins;
use crate::store::NewInboxRow;

use super::{JobError, Jobs};

/// How far back the failed-callback list is read; DingTalk keeps failures a few days.
const FAILED_LOOKBACK: SignedDuration = SignedDuration::from_hours(72);
/// Rows per inbox insert.
const CHUNK: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub date: Date,
    /// Check-ins DingTalk recorded that day.
    pub check_ins: usize,
    /// Missed check-ins posted (those not posted before).
    pub missed: usize,
    /// Callbacks DingTalk lists as failed.
    pub failed_callbacks: usize,
    /// Events the inbox did not have yet.
    pub recovered: u64,
}

impl std::fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} check-ins and {} failed callbacks read, {} events recovered, {} missed check-ins posted",
            self.date, self.check_ins, self.failed_callbacks, self.recovered, self.missed
        )
    }
}

/// Feeds what DingTalk knows of `date` (and its recent failures) into the inbox.
pub async fn reconcile(
    jobs: &Jobs,
    date: Date,
    now: Timestamp,
) -> Result<ReconcileReport, JobError> {
    let (store, client) = (jobs.store.as_ref(), jobs.client.as_ref());
    let mut rows = Vec::new();
    let people = crate::store::userids(store).await?;
    let records = client.attendance_results(&people, date, date).await?;
    let mut check_ins = 0;
    for record in &records {
        let Check::Made { at } = record.check() else {
            continue;
        };
        check_ins += 1;
        // The ledger keys a check-in by person, day and check type, so one whose callback did
        // arrive posts nothing more; this key keeps reconciliation from queuing it twice.
        let biz_id = format!("reconcile-{}-{date}-{}", record.user_id, record.check_type);
        let plaintext = attendance_message(&jobs.corp_id, &record.user_id, at, &biz_id);
        rows.extend(events(&plaintext, now));
    }
    let missed = post_missed_check_ins(store, &jobs.rules, &jobs.calendar, &records, now).await?;

    let mut failed_callbacks = 0;
    let mut cursor = 0;
    loop {
        let page = client
            .failed_callbacks(now - FAILED_LOOKBACK, now, cursor)
            .await?;
        failed_callbacks += page.failed_list.len();
        for failed in &page.failed_list {
            rows.extend(events(&failed.call_back_data, now));
        }
        match page.failed_list.last() {
            Some(last) if page.has_more => cursor = last.id,
            _ => break,
        }
    }

    let mut recovered = 0;
    for chunk in rows.chunks(CHUNK) {
        recovered += store.insert_inbox(chunk.to_vec()).await?;
    }
    Ok(ReconcileReport {
        date,
        check_ins,
        missed,
        failed_callbacks,
        recovered,
    })
}

/// The inbox rows for one event's plaintext, as the callback receiver would store them.
fn events(plaintext: &str, now: Timestamp) -> Vec<NewInboxRow> {
    match parse_message(plaintext) {
        Ok(Message::Events(events)) => events
            .into_iter()
            .map(|e| NewInboxRow {
                dedup_key: e.dedup_key,
                source: "reconcile".into(),
                event_type: e.event_type,
                payload: e.payload,
                ignored: e.ignored,
                received_at: now,
            })
            .collect(),
        Ok(Message::UrlCheck) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "a failed callback DingTalk listed is unreadable; skipped");
            Vec::new()
        }
    }
}
