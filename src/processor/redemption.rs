//! The 积分兑换 approval form: starting one holds the reward's cost, as a redemption through
//! the robot would; its approval approves the redemption; a refusal or a withdrawal refunds
//! it. The instance is the redemption's source key, so each change moves it at most once.

use std::sync::Arc;

use jiff::Timestamp;

use super::failure::Failure;
use super::normalise::{FormRedemption, FormStep, form_redemption_key, form_reward};
use super::{Processor, RowOutcome};
use crate::domain::{Catalogue, Redemption, RedemptionStatus, RedemptionStep};
use crate::ledger::{self, LedgerError, Redeem, Redeemed};
use crate::outbox;
use crate::store::{InboxRow, StoreTx};

/// Who takes the steps DingTalk's approvers decided, in the audit trail.
const DECIDED_BY: &str = "dingtalk";

/// The form the processor follows, and what it may redeem.
#[derive(Debug, Clone)]
pub struct RedemptionForm {
    pub process_code: String,
    pub catalogue: Arc<Catalogue>,
}

impl Processor {
    /// Moves the redemption an instance asks for, tells its person, and completes the row.
    pub(super) async fn follow_redemption_form(
        &self,
        row: &InboxRow,
        form: &RedemptionForm,
        change: &FormRedemption,
    ) -> Result<RowOutcome, Failure> {
        let mut added = false;
        loop {
            match self.move_redemption(row, form, change).await {
                Err(LedgerError::UnknownEmployee(userid)) if !added => {
                    added = true;
                    self.add_person(&userid).await?;
                    self.directory_changed().await;
                }
                Err(e) => return Err(e.into()),
                Ok(outcome) => return Ok(outcome),
            }
        }
    }

    async fn move_redemption(
        &self,
        row: &InboxRow,
        form: &RedemptionForm,
        change: &FormRedemption,
    ) -> Result<RowOutcome, LedgerError> {
        let now = Timestamp::now();
        let instance = &change.change.process_instance_id;
        let key = form_redemption_key(instance);
        let mut tx = self.store.begin().await?;
        let existing = tx.redemption_by_source(&key).await?;
        let moved = match (change.step, existing) {
            (FormStep::Filed | FormStep::Approved, existing) => {
                let redemption = match existing {
                    Some(redemption) => Ok(redemption),
                    None => self.hold(tx.as_mut(), form, change, &key, now).await?,
                };
                match redemption {
                    Ok(redemption)
                        if change.step == FormStep::Approved
                            && redemption.status == RedemptionStatus::Held =>
                    {
                        step(tx.as_mut(), &redemption, RedemptionStep::Approve, "", now).await?
                    }
                    Ok(redemption) if change.step == FormStep::Approved => Err(format!(
                        "instance {instance} approved; redemption #{} was already {}",
                        redemption.id,
                        redemption.status.as_str()
                    )),
                    Ok(_) => Ok(()),
                    Err(why) => Err(why),
                }
            }
            (FormStep::Refused | FormStep::Withdrawn, None) => Err(format!(
                "instance {instance} {}; it held nothing",
                change.change.kind
            )),
            (FormStep::Refused, Some(redemption)) => {
                let title = change.change.title.as_deref().unwrap_or(instance);
                let note = format!("钉钉审批「{title}」未通过");
                step(tx.as_mut(), &redemption, RedemptionStep::Reject, &note, now).await?
            }
            (FormStep::Withdrawn, Some(redemption)) => {
                step(tx.as_mut(), &redemption, RedemptionStep::Cancel, "", now).await?
            }
        };
        let note = moved.err();
        if !tx.complete_inbox(row.id, note.as_deref(), now).await? {
            return Ok(RowOutcome::Skipped(
                "claimed again by another worker".into(),
            ));
        }
        tx.commit().await?;
        Ok(match note {
            Some(why) => RowOutcome::Skipped(why),
            None => RowOutcome::Done { entries: 1 },
        })
    }

    /// Holds the cost of the reward the form names; a request that cannot be redeemed is
    /// told to its person, and is the row's note.
    async fn hold(
        &self,
        tx: &mut dyn StoreTx,
        form: &RedemptionForm,
        change: &FormRedemption,
        key: &str,
        now: Timestamp,
    ) -> Result<Result<Redemption, String>, LedgerError> {
        let instance = &change.change.process_instance_id;
        let Some(detail) = &change.detail else {
            return Ok(Err(format!("instance {instance}: its form was not read")));
        };
        let userid = detail.originator_userid.as_str();
        let refused = |zh: String, en: String| {
            outbox::form_redemption_refused(userid, instance, &change.change.kind, (&zh, &en), now)
        };
        let refusal = match form_reward(detail).map(|named| (named, form.catalogue.named(named))) {
            None => refused(
                format!("审批「{}」没有填写奖品。", detail.title),
                format!("the approval \"{}\" names no reward.", detail.title),
            ),
            Some((named, None)) => refused(
                format!("没有「{named}」这个奖品，发送「奖品」给机器人查看。"),
                format!("there is no reward \"{named}\"; send \"rewards\" to the robot."),
            ),
            Some((_, Some(reward))) => {
                let request = Redeem {
                    userid,
                    reward,
                    actor: userid,
                    source_key: key,
                    awaits_approval: true,
                };
                match ledger::redeem(tx, &self.calendar, &request, now).await {
                    Ok(Redeemed::New { redemption, entry }) => {
                        tx.enqueue_outbox(&outbox::redemption_notification(
                            &redemption,
                            Some(&entry),
                        ))
                        .await?;
                        return Ok(Ok(redemption));
                    }
                    Ok(Redeemed::Already { redemption }) => return Ok(Ok(redemption)),
                    Err(LedgerError::NotRedeemable { why, .. }) => refused(
                        why.zh(&reward.name),
                        format!("\"{}\" cannot be redeemed: {why}.", reward.name_en),
                    ),
                    Err(e) => return Err(e),
                }
            }
        };
        let note =
            format!("instance {instance} asks for what cannot be redeemed; {userid} was told");
        tx.enqueue_outbox(&refusal).await?;
        Ok(Err(note))
    }
}

/// Takes `step` on the redemption and tells its person; a step its status no longer allows
/// (it was handed over, or HR already decided) is the row's note instead.
async fn step(
    tx: &mut dyn StoreTx,
    redemption: &Redemption,
    step: RedemptionStep,
    note: &str,
    now: Timestamp,
) -> Result<Result<(), String>, LedgerError> {
    if step.from(redemption.status).is_none() {
        return Ok(Err(format!(
            "redemption #{} is {}; {} does not apply",
            redemption.id,
            redemption.status.as_str(),
            step.verb()
        )));
    }
    // Only its person cancels; a withdrawal is theirs or an admin's on their behalf.
    let actor = match step {
        RedemptionStep::Cancel => redemption.userid.as_str(),
        _ => DECIDED_BY,
    };
    let stepped = ledger::step_redemption(tx, redemption.id, step, actor, note, now).await?;
    tx.enqueue_outbox(&outbox::redemption_notification(
        &stepped.redemption,
        stepped.refund.as_ref(),
    ))
    .await?;
    Ok(Ok(()))
}
