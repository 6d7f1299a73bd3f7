//! Spending balance points on rewards. A redemption holds the cost from the balance at once
//! (never from the score) with an entry of its own; a rejection or cancellation gives it
//! back with a compensating entry that points at the hold. Balance and stock are checked
//! under the person's account lock and the stock row's, so neither goes below zero.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

use super::post::{audit, booked_later, insert, open_month_start};
use super::{Deltas, Entry, EntryKind, LedgerError, NewEntry};
use crate::domain::{
    Calendar, Explanation, PeriodKind, REDEMPTION_CATEGORY, Redemption, RedemptionStatus,
    RedemptionStep, Reward,
};
use crate::rules::scope_allows;
use crate::store::{NewRedemption, RedemptionUpdate, StoreTx};

/// A person asking for a reward.
#[derive(Debug, Clone)]
pub struct Redeem<'a> {
    pub userid: &'a str,
    pub reward: &'a Reward,
    /// Who asked: the person, or HR or another system on their behalf.
    pub actor: &'a str,
    /// Identity of the request; asked again under it, nothing more is redeemed.
    pub source_key: &'a str,
    /// A DingTalk approval decides it: held until then, even for a reward HR need not
    /// review.
    pub awaits_approval: bool,
}

/// What a redemption request did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Redeemed {
    /// Held the cost with `entry`.
    New {
        redemption: Redemption,
        entry: Box<Entry>,
    },
    /// The same request was redeemed before.
    Already { redemption: Redemption },
}

impl Redeemed {
    pub fn redemption(&self) -> &Redemption {
        match self {
            Redeemed::New { redemption, .. } | Redeemed::Already { redemption } => redemption,
        }
    }
}

/// Holds `reward`'s cost from the person's balance and takes one from its stock.
pub async fn redeem(
    tx: &mut dyn StoreTx,
    calendar: &Calendar,
    request: &Redeem<'_>,
    now: Timestamp,
) -> Result<Redeemed, LedgerError> {
    let Redeem {
        userid,
        reward,
        actor,
        source_key,
        awaits_approval,
    } = *request;
    let Some(account) = tx.lock_account(userid).await? else {
        return Err(LedgerError::UnknownEmployee(userid.to_string()));
    };
    // Under the lock: the same request, delivered twice at once, redeems once.
    if let Some(redemption) = tx.redemption_by_source(source_key).await? {
        return Ok(Redeemed::Already { redemption });
    }
    let refused = |why| LedgerError::NotRedeemable {
        reward: reward.id.clone(),
        why,
    };
    let today = calendar.local_date(now);
    if !reward.available_on(today) {
        return Err(refused(Unredeemable::NotOnOffer));
    }
    if !scope_allows(&reward.departments, &tx.departments_of(userid).await?) {
        return Err(refused(Unredeemable::OutsideDepartments));
    }
    if account.totals.balance < reward.cost {
        return Err(refused(Unredeemable::Balance {
            cost: reward.cost,
            balance: account.totals.balance,
        }));
    }
    if let Some(limit) = reward.limit {
        let period = calendar.period_containing(limit.period, now)?;
        let out = tx
            .live_redemptions(userid, &reward.id, period.start, period.end)
            .await?;
        if out >= limit.count {
            return Err(refused(Unredeemable::Limit {
                count: limit.count,
                period: limit.period,
            }));
        }
    }
    if !tx.take_reward(&reward.id, reward.stock).await? {
        return Err(refused(Unredeemable::OutOfStock));
    }
    let cost = reward.cost;
    let entry = NewEntry {
        userid: userid.to_string(),
        kind: EntryKind::Manual,
        points: -cost,
        deltas: Deltas {
            score: 0,
            balance: -cost,
            pending: 0,
        },
        source_key: format!("redemption:{source_key}"),
        rule_key: "redemption".into(),
        rule_id: None,
        rule_version: None,
        actor: Some(actor.to_string()),
        category: REDEMPTION_CATEGORY.into(),
        reverses: None,
        resolves: None,
        explanation: Explanation {
            zh: format!(
                "兑换「{}」：使用 {cost} 可用积分（累计积分不变）",
                reward.name
            ),
            en: format!(
                "Redeemed \"{}\": {cost} balance points spent (score unchanged)",
                reward.name_en
            ),
        },
        inputs: json!({ "reward": reward.id, "cost": cost }),
        occurred_at: now,
        posted_at: now,
    };
    let entry = insert(tx, &entry).await?;
    let redemption = tx
        .insert_redemption(&NewRedemption {
            source_key: source_key.to_string(),
            userid: userid.to_string(),
            reward_id: reward.id.clone(),
            reward_name: reward.name.clone(),
            reward_name_en: reward.name_en.clone(),
            cost,
            status: if reward.review || awaits_approval {
                RedemptionStatus::Held
            } else {
                RedemptionStatus::Approved
            },
            hold_entry: entry.id,
            decided_by: None,
            at: now,
        })
        .await?;
    audit(tx, actor, "redeem", &entry, &reward.id, now).await?;
    Ok(Redeemed::New {
        redemption,
        entry: Box::new(entry),
    })
}

/// Why a reward cannot be redeemed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unredeemable {
    NotOnOffer,
    OutsideDepartments,
    Balance { cost: i64, balance: i64 },
    Limit { count: i64, period: PeriodKind },
    OutOfStock,
}

impl Unredeemable {
    /// The reason in Chinese, naming the reward as people know it.
    pub fn zh(&self, reward: &str) -> String {
        match self {
            Unredeemable::NotOnOffer => format!("「{reward}」今天不在兑换期内。"),
            Unredeemable::OutsideDepartments => format!("「{reward}」只面向其他部门。"),
            Unredeemable::Balance { cost, balance } => {
                format!("可用积分不足：「{reward}」需要 {cost}，你有 {balance}。")
            }
            Unredeemable::Limit { count, period } => format!(
                "「{reward}」每人{}限兑 {count} 次，你已用完。",
                period.name_zh()
            ),
            Unredeemable::OutOfStock => format!("「{reward}」已兑完。"),
        }
    }
}

impl std::fmt::Display for Unredeemable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unredeemable::NotOnOffer => f.write_str("it is not on offer today"),
            Unredeemable::OutsideDepartments => {
                f.write_str("it is offered only to other departments")
            }
            Unredeemable::Balance { cost, balance } => write!(
                f,
                "it costs {cost} balance points and the balance is {balance}"
            ),
            Unredeemable::Limit { count, period } => {
                write!(f, "the limit is {count} per person per {}", period.name())
            }
            Unredeemable::OutOfStock => f.write_str("it is out of stock"),
        }
    }
}

/// A redemption after a step, and the refund it posted, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stepped {
    pub redemption: Redemption,
    pub refund: Option<Entry>,
}

/// Takes `step` on redemption `id`. HR approves, fulfils and rejects, never on their own
/// redemption; only its person cancels. A rejection needs a reason; a refund gives the
/// cost back and the item to stock.
pub async fn step_redemption(
    tx: &mut dyn StoreTx,
    id: i64,
    step: RedemptionStep,
    actor: &str,
    note: &str,
    now: Timestamp,
) -> Result<Stepped, LedgerError> {
    let note = note.trim();
    let redemption = tx
        .lock_redemption(id)
        .await?
        .ok_or(LedgerError::UnknownRedemption(id))?;
    let own = redemption.userid == actor;
    if step == RedemptionStep::Cancel && !own {
        return Err(LedgerError::NotTheirs {
            redemption: id,
            owner: redemption.userid.clone(),
        });
    }
    if step != RedemptionStep::Cancel && own {
        return Err(LedgerError::OwnPoints {
            actor: actor.to_string(),
            action: step.verb(),
        });
    }
    let Some(to) = step.from(redemption.status) else {
        return Err(LedgerError::StepNotOpen {
            redemption: id,
            step: step.verb(),
            status: redemption.status.as_str(),
        });
    };
    if step == RedemptionStep::Reject && note.is_empty() {
        return Err(LedgerError::Invalid("a rejection needs a reason".into()));
    }
    let refund = if step.refunds() {
        tx.lock_account(&redemption.userid).await?;
        let refund = refund(tx, &redemption, step, actor, note, now).await?;
        tx.return_reward(&redemption.reward_id).await?;
        Some(refund)
    } else {
        None
    };
    let moved = tx
        .update_redemption(&RedemptionUpdate {
            id,
            from: redemption.status,
            to,
            decided_by: actor,
            note: (!note.is_empty()).then_some(note),
            refund_entry: refund.as_ref().map(|e| e.id),
            at: now,
        })
        .await?;
    if !moved {
        // The row is locked: nothing else can have moved it.
        return Err(LedgerError::StepNotOpen {
            redemption: id,
            step: step.verb(),
            status: redemption.status.as_str(),
        });
    }
    tx.record_audit(&crate::store::NewAudit {
        actor: actor.to_string(),
        action: format!("redemption_{}", step.verb()),
        subject: redemption.userid.clone(),
        reason: note.to_string(),
        detail: json!({
            "redemption": id, "reward": redemption.reward_id, "refund": refund.as_ref().map(|e| e.id) }),
        at: now,
    })
    .await?;
    let redemption = tx
        .lock_redemption(id)
        .await?
        .ok_or(LedgerError::UnknownRedemption(id))?;
    Ok(Stepped { redemption, refund })
}

/// Gives a redemption's cost back with an entry that reverses its hold.
async fn refund(
    tx: &mut dyn StoreTx,
    redemption: &Redemption,
    step: RedemptionStep,
    actor: &str,
    note: &str,
    now: Timestamp,
) -> Result<Entry, LedgerError> {
    let hold = tx
        .entry(redemption.hold_entry)
        .await?
        .ok_or(LedgerError::UnknownEntry(redemption.hold_entry))?;
    let cost = redemption.cost;
    let (why_zh, why_en) = match step {
        RedemptionStep::Cancel => ("本人取消".to_string(), "cancelled".to_string()),
        _ => (format!("驳回：{note}"), format!("rejected: {note}")),
    };
    let book_at = open_month_start(tx, hold.occurred_at).await?;
    let mut explanation = Explanation {
        zh: format!(
            "退还兑换单 #{} 「{}」的 {cost} 可用积分（{why_zh}）",
            redemption.id, redemption.reward_name
        ),
        en: format!(
            "Refund of redemption #{} \"{}\": {cost} balance points ({why_en})",
            redemption.id, redemption.reward_name_en
        ),
    };
    if book_at.is_some() {
        booked_later(
            &mut explanation,
            "兑换所在月份已结账",
            "the redemption's month is closed",
        );
    }
    let entry = NewEntry {
        userid: redemption.userid.clone(),
        kind: EntryKind::Reversal,
        points: cost,
        deltas: Deltas {
            score: -hold.deltas.score,
            balance: -hold.deltas.balance,
            pending: 0,
        },
        source_key: format!("refund:{}", redemption.id),
        rule_key: "refund".into(),
        rule_id: None,
        rule_version: None,
        actor: Some(actor.to_string()),
        category: REDEMPTION_CATEGORY.into(),
        reverses: Some(hold.id),
        resolves: None,
        explanation,
        inputs: json!({ "redemption": redemption.id, "step": step.verb(), "reason": note }),
        occurred_at: book_at.unwrap_or(hold.occurred_at),
        posted_at: now,
    };
    insert(tx, &entry).await
}
