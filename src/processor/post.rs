//! One DingTalk event to ledger entries: first everything DingTalk must be asked (the
//! approval's form, the check-in's result), outside any transaction; then the rules and the
//! ledger in one short transaction that also completes the row. A person the address book
//! had not shown us yet (a new hire's first check-in) is fetched from DingTalk and added.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::failure::Failure;
use super::normalise::{
    FormRedemption, FormStep, InstanceChange, Normalised, Withdrawal, approval_event,
    attendance_event, check_in, instance_change, is_approval, is_withdrawal, was_withdrawn,
    withdrawal,
};
use super::{Attendance, Processor, RowOutcome};
use crate::domain::DomainEvent;
use crate::ledger::{self, LedgerError, Reason};
use crate::outbox;
use crate::store::InboxRow;

/// Who takes back a withdrawn approval's points, in the audit trail and the entries.
const WITHDRAWN_BY: &str = "dingtalk";

/// New people one event may bring in before it gives up (a form naming several new hires).
const MAX_NEW_PEOPLE: usize = 20;

impl Processor {
    /// Posts a DingTalk event through the rules and completes its row.
    pub(super) async fn post(
        &self,
        row: &InboxRow,
        attendance: &Attendance,
    ) -> Result<RowOutcome, Failure> {
        let event = match self.normalise(row, attendance).await? {
            Normalised::Event(event) => event,
            Normalised::Nothing(why) => return self.complete(row, why).await,
            Normalised::Withdrawn(withdrawal) => return self.withdraw(row, &withdrawal).await,
            Normalised::Redemption(change) => {
                return match &self.settings.redemption_form {
                    Some(form) => self.follow_redemption_form(row, form, &change).await,
                    None => self.complete(row, "no redemption form".into()).await,
                };
            }
        };
        let mut added = BTreeSet::new();
        loop {
            match self.commit(row, &event).await {
                Err(CommitError::Ledger(LedgerError::UnknownEmployee(userid)))
                    if added.len() < MAX_NEW_PEOPLE && added.insert(userid.clone()) =>
                {
                    self.add_person(&userid).await?;
                    self.directory_changed().await;
                }
                Err(CommitError::Ledger(e)) => return Err(e.into()),
                Err(CommitError::Store(e)) => return Err(e.into()),
                Err(CommitError::Badge(crate::badges::BadgeError::Store(e))) => {
                    return Err(e.into());
                }
                Err(CommitError::Badge(e)) => return Err(Failure::Permanent(e.to_string())),
                Ok(outcome) => return Ok(outcome),
            }
        }
    }

    /// The rules, the ledger and the row's completion, in one transaction.
    async fn commit(&self, row: &InboxRow, event: &DomainEvent) -> Result<RowOutcome, CommitError> {
        let now = Timestamp::now();
        let mut tx = self.store.begin().await?;
        let posting = outbox::post_and_tell(
            tx.as_mut(),
            &self.rules,
            &self.settings.badges,
            &self.calendar,
            event,
            now,
        )
        .await?;
        if !tx.complete_inbox(row.id, None, now).await? {
            return Ok(superseded());
        }
        tx.commit().await?;
        Ok(RowOutcome::Done {
            entries: posting.posted().count(),
        })
    }

    /// Posts a batch of check-ins (their results already read) and completes their rows in
    /// one transaction: in a 9:00 wave the writer's turn, not the rules, is what each row
    /// waits for. `None` when any row needs more than that (a person not known yet, a
    /// failure, a row claimed again elsewhere); nothing is then written, and the rows go one
    /// by one, each with its own retries.
    pub(super) async fn post_together(
        &self,
        rows: &[InboxRow],
        attendance: &Attendance,
    ) -> Option<Vec<(i64, RowOutcome)>> {
        let mut normalised = Vec::with_capacity(rows.len());
        for row in rows {
            match self.normalise(row, attendance).await.ok()? {
                event @ (Normalised::Event(_) | Normalised::Nothing(_)) => {
                    normalised.push((row, event))
                }
                _ => return None,
            }
        }
        let now = Timestamp::now();
        let mut tx = self.store.begin().await.ok()?;
        let mut outcomes = Vec::with_capacity(rows.len());
        for (row, event) in normalised {
            let outcome = match event {
                Normalised::Event(event) => {
                    let posting = outbox::post_and_tell(
                        tx.as_mut(),
                        &self.rules,
                        &self.settings.badges,
                        &self.calendar,
                        &event,
                        now,
                    )
                    .await
                    .ok()?;
                    tx.complete_inbox(row.id, None, now)
                        .await
                        .ok()?
                        .then_some(())?;
                    RowOutcome::Done {
                        entries: posting.posted().count(),
                    }
                }
                Normalised::Nothing(why) => {
                    tx.complete_inbox(row.id, Some(&why), now)
                        .await
                        .ok()?
                        .then_some(())?;
                    RowOutcome::Skipped(why)
                }
                _ => return None,
            };
            outcomes.push((row.id, outcome));
        }
        tx.commit().await.ok()?;
        Some(outcomes)
    }

    /// Takes back what a withdrawn approval posted, tells each person, and completes the row.
    async fn withdraw(
        &self,
        row: &InboxRow,
        withdrawal: &Withdrawal,
    ) -> Result<RowOutcome, Failure> {
        let now = Timestamp::now();
        let (zh, en) = withdrawal.reason();
        let reason = Reason { zh: &zh, en: &en };
        let mut tx = self.store.begin().await?;
        let undone = ledger::withdraw_event(
            tx.as_mut(),
            &withdrawal.source_key,
            WITHDRAWN_BY,
            reason,
            now,
        )
        .await?;
        for entry in &undone {
            tx.enqueue_outbox(&outbox::change_notification(
                entry,
                "审批已撤销，积分已收回",
                "Approval withdrawn; its points are taken back",
            ))
            .await?;
        }
        let note = undone.is_empty().then(|| {
            format!(
                "instance {} withdrawn; nothing stood to take back",
                withdrawal.process_instance_id
            )
        });
        if !tx.complete_inbox(row.id, note.as_deref(), now).await? {
            return Ok(superseded());
        }
        tx.commit().await?;
        Ok(match note {
            Some(why) => RowOutcome::Skipped(why),
            None => RowOutcome::Done {
                entries: undone.len(),
            },
        })
    }

    /// Completes a row that posts nothing, saying why.
    async fn complete(&self, row: &InboxRow, why: String) -> Result<RowOutcome, Failure> {
        let mut tx = self.store.begin().await?;
        if !tx
            .complete_inbox(row.id, Some(&why), Timestamp::now())
            .await?
        {
            return Ok(superseded());
        }
        tx.commit().await?;
        Ok(RowOutcome::Skipped(why))
    }

    /// Stores a person as DingTalk has them now, with any departments of theirs jifen has
    /// not seen yet.
    pub(super) async fn add_person(&self, userid: &str) -> Result<(), Failure> {
        let person = self.source.person(userid).await?;
        let mut unknown = false;
        for department in &person.departments {
            unknown |= self.store.department(department).await?.is_none();
        }
        let departments = if unknown {
            self.source.departments().await?
        } else {
            Vec::new()
        };
        let mut tx = self.store.begin().await?;
        for department in &departments {
            tx.upsert_department(department).await?;
        }
        tx.upsert_employee(&person).await?;
        tx.commit().await?;
        tracing::info!(userid, "a person was read from DingTalk");
        Ok(())
    }

    /// Lets the leaderboards see a change to people or departments.
    pub(super) async fn directory_changed(&self) {
        if let Some(boards) = &self.leaderboard
            && let Err(e) = boards.refresh_directory().await
        {
            tracing::warn!(error = %e, "leaderboards keep the previous address book for now");
        }
    }

    /// The domain event for a row, or why there is none; asks DingTalk what it must.
    async fn normalise(
        &self,
        row: &InboxRow,
        attendance: &Attendance,
    ) -> Result<Normalised, Failure> {
        match row.event_type.as_str() {
            "bpms_instance_change" => {
                let change = instance_change(&row.payload)?;
                if self
                    .settings
                    .redemption_form
                    .as_ref()
                    .is_some_and(|form| form.process_code == change.process_code)
                {
                    return self.redemption_change(change).await;
                }
                if is_withdrawal(&change) {
                    return Ok(Normalised::Withdrawn(withdrawal(&change)));
                }
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
                let detail = self.source.approval(&change.process_instance_id).await?;
                if was_withdrawn(&detail) {
                    return Ok(Normalised::Nothing(format!(
                        "instance {} was withdrawn ({}) before it was read",
                        change.process_instance_id, detail.status
                    )));
                }
                Ok(Normalised::Event(approval_event(
                    &change,
                    &detail,
                    row.received_at,
                )))
            }
            "attendance_check_record" => {
                let check = check_in(&row.payload)?;
                let at = Timestamp::from_millisecond(check.check_time)
                    .map_err(|e| Failure::Permanent(format!("checkTime: {e}")))?;
                let results = match attendance.get(&self.calendar.local_date(at)) {
                    Some(fetched) => fetched.clone()?,
                    None => {
                        return Err(Failure::Retry("attendance results were not fetched".into()));
                    }
                };
                Ok(attendance_event(&check, &results, &self.calendar)?)
            }
            other => Ok(Normalised::Nothing(format!("{other} events earn nothing"))),
        }
    }

    /// The step a 积分兑换 instance's change is, with its form read when the step needs it.
    async fn redemption_change(&self, change: InstanceChange) -> Result<Normalised, Failure> {
        let Some(step) = FormStep::of(&change) else {
            return Ok(Normalised::Nothing(format!(
                "redemption instance {} {} moves nothing",
                change.kind, change.result
            )));
        };
        let detail = if step.reads_form() {
            let detail = self.source.approval(&change.process_instance_id).await?;
            if was_withdrawn(&detail) {
                return Ok(Normalised::Nothing(format!(
                    "instance {} was withdrawn ({}) before it was read",
                    change.process_instance_id, detail.status
                )));
            }
            Some(detail)
        } else {
            None
        };
        Ok(Normalised::Redemption(FormRedemption {
            change,
            step,
            detail,
        }))
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
}

fn superseded() -> RowOutcome {
    // Our lease ran out and another worker took the row; its transaction decides.
    RowOutcome::Skipped("claimed again by another worker".into())
}

/// Why a commit did not happen: the ledger's reason, or the database's.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Badge(#[from] crate::badges::BadgeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<outbox::PostError> for CommitError {
    fn from(e: outbox::PostError) -> CommitError {
        match e {
            outbox::PostError::Ledger(e) => CommitError::Ledger(e),
            outbox::PostError::Badge(e) => CommitError::Badge(e),
            outbox::PostError::Store(e) => CommitError::Store(e),
        }
    }
}
