//! Appeals on the ledger: a person files one against their own deduction within the
//! window; an HR admin who did not make the entry upholds it with a compensating entry
//! that points at it (booked in the open month if the entry's is closed), or rejects it.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::json;

use super::post::{audit, booked_later, insert, open_month_start};
use super::{Deltas, Entry, EntryKind, LedgerError, NewEntry};
use crate::domain::appeal::compensation;
use crate::domain::{Appeal, AppealStatus, Explanation, REDEMPTION_CATEGORY, Verdict};
use crate::store::{AppealDecision, NewAudit, StoreTx};

/// What someone is refused doing to their own points when they would decide an appeal that
/// is theirs or on an entry they made.
pub const APPEAL_ACTION: &str = "decide an appeal on";

/// Why an entry cannot be appealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unappealable {
    NotYours,
    /// It took no points: only deductions are appealed (ask HR for an award instead).
    NotADeduction,
    /// Still pending, reversed, or a reversal or decision itself.
    Settled,
    /// Older than the window, in days.
    TooOld {
        days: i64,
    },
    AlreadyAppealed {
        appeal: i64,
    },
}

impl std::fmt::Display for Unappealable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unappealable::NotYours => f.write_str("it is someone else's"),
            Unappealable::NotADeduction => {
                f.write_str("only deductions can be appealed; ask HR for an award instead")
            }
            Unappealable::Settled => f.write_str("it is pending, reversed, or itself a correction"),
            Unappealable::TooOld { days } => {
                write!(f, "appeals are taken within {days} days of the entry")
            }
            Unappealable::AlreadyAppealed { appeal } => {
                write!(f, "it was appealed before (appeal #{appeal})")
            }
        }
    }
}

/// Files `userid`'s appeal against entry `entry_id`.
pub async fn file_appeal(
    tx: &mut dyn StoreTx,
    entry_id: i64,
    userid: &str,
    reason: &str,
    window_days: i64,
    now: Timestamp,
) -> Result<Appeal, LedgerError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(LedgerError::Invalid("an appeal needs a reason".into()));
    }
    let entry = tx
        .entry(entry_id)
        .await?
        .ok_or(LedgerError::UnknownEntry(entry_id))?;
    let refused = |why| LedgerError::NotAppealable {
        entry: entry_id,
        why,
    };
    if entry.userid != userid {
        return Err(refused(Unappealable::NotYours));
    }
    if let Some(appeal) = tx.appeal_of_entry(entry_id).await? {
        return Err(refused(Unappealable::AlreadyAppealed { appeal: appeal.id }));
    }
    if !matches!(entry.kind, EntryKind::Rule | EntryKind::Manual)
        || entry.category == REDEMPTION_CATEGORY
        || entry.reversed_by.is_some()
        || entry.deltas.pending != 0
    {
        return Err(refused(Unappealable::Settled));
    }
    if entry.points >= 0 {
        return Err(refused(Unappealable::NotADeduction));
    }
    if now.duration_since(entry.posted_at) > SignedDuration::from_hours(24 * window_days) {
        return Err(refused(Unappealable::TooOld { days: window_days }));
    }
    let Some(appeal) = tx.insert_appeal(entry_id, userid, reason, now).await? else {
        // Filed at the same moment by another request.
        let appeal = tx.appeal_of_entry(entry_id).await?.map_or(0, |a| a.id);
        return Err(refused(Unappealable::AlreadyAppealed { appeal }));
    };
    tx.record_audit(&NewAudit {
        actor: userid.to_string(),
        action: "appeal".into(),
        subject: userid.to_string(),
        reason: reason.to_string(),
        detail: json!({ "appeal": appeal.id, "entry": entry_id, "points": entry.points }),
        at: now,
    })
    .await?;
    Ok(appeal)
}

/// An appeal after its decision, and the compensating entry of an upheld one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decided {
    pub appeal: Appeal,
    pub compensation: Option<Entry>,
}

/// Decides appeal `id`. Whoever made the appealed entry, and its person, do not decide it.
pub async fn decide_appeal(
    tx: &mut dyn StoreTx,
    id: i64,
    verdict: Verdict,
    actor: &str,
    note: &str,
    now: Timestamp,
) -> Result<Decided, LedgerError> {
    let note = note.trim();
    let appeal = tx
        .lock_appeal(id)
        .await?
        .ok_or(LedgerError::UnknownAppeal(id))?;
    if appeal.status != AppealStatus::Open {
        return Err(LedgerError::AppealDecided {
            appeal: id,
            status: appeal.status.as_str(),
        });
    }
    let entry = tx
        .entry(appeal.entry_id)
        .await?
        .ok_or(LedgerError::UnknownEntry(appeal.entry_id))?;
    if actor == appeal.userid || entry.actor.as_deref() == Some(actor) {
        return Err(LedgerError::OwnPoints {
            actor: actor.to_string(),
            action: APPEAL_ACTION,
        });
    }
    let compensation = match verdict {
        Verdict::Reject if note.is_empty() => {
            return Err(LedgerError::Invalid(
                "a rejected appeal needs a reason".into(),
            ));
        }
        Verdict::Reject => None,
        Verdict::Uphold { points } => {
            tx.lock_account(&entry.userid).await?;
            // Under the lock: a revoke may have reversed it since the appeal was filed.
            let entry = tx
                .entry(appeal.entry_id)
                .await?
                .ok_or(LedgerError::UnknownEntry(appeal.entry_id))?;
            if let Some(by) = entry.reversed_by {
                return Err(LedgerError::AlreadyReversed {
                    entry: entry.id,
                    by,
                });
            }
            let points = compensation(-entry.points, points).map_err(|asked| {
                LedgerError::Invalid(format!(
                    "an upheld appeal gives back 1 to {} points of entry #{}, not {asked}",
                    -entry.points, entry.id
                ))
            })?;
            Some(compensate(tx, &appeal, &entry, points, actor, note, now).await?)
        }
    };
    let decided = tx
        .decide_appeal(&AppealDecision {
            id,
            status: match verdict {
                Verdict::Uphold { .. } => AppealStatus::Upheld,
                Verdict::Reject => AppealStatus::Rejected,
            },
            decided_by: actor,
            note: (!note.is_empty()).then_some(note),
            compensation_entry: compensation.as_ref().map(|e| e.id),
            at: now,
        })
        .await?;
    if !decided {
        return Err(LedgerError::AppealDecided {
            appeal: id,
            status: "decided",
        });
    }
    tx.record_audit(&NewAudit {
        actor: actor.to_string(),
        action: format!("appeal_{}", verdict.verb()),
        subject: appeal.userid.clone(),
        reason: note.to_string(),
        detail: json!({
            "appeal": id,
            "entry": appeal.entry_id,
            "compensation": compensation.as_ref().map(|e| e.id),
        }),
        at: now,
    })
    .await?;
    let appeal = tx
        .lock_appeal(id)
        .await?
        .ok_or(LedgerError::UnknownAppeal(id))?;
    Ok(Decided {
        appeal,
        compensation,
    })
}

/// Gives back `points` of `entry` with an entry that reverses it.
async fn compensate(
    tx: &mut dyn StoreTx,
    appeal: &Appeal,
    entry: &Entry,
    points: i64,
    actor: &str,
    note: &str,
    now: Timestamp,
) -> Result<Entry, LedgerError> {
    let part = if points == -entry.points {
        ("全额", "in full")
    } else {
        ("部分", "in part")
    };
    let said = |sep: &str| {
        if note.is_empty() {
            String::new()
        } else {
            format!("{sep}{note}")
        }
    };
    let book_at = open_month_start(tx, entry.occurred_at).await?;
    let mut explanation = Explanation {
        zh: format!(
            "申诉 #{} 成立，{}退还第 {} 条记录的 {points} 积分{}（原记录：{}）",
            appeal.id,
            part.0,
            entry.id,
            said("；"),
            entry.explanation.zh
        ),
        en: format!(
            "Appeal #{} upheld: {points} points of entry #{} given back {}{} (was: {})",
            appeal.id,
            entry.id,
            part.1,
            said("; "),
            entry.explanation.en
        ),
    };
    if book_at.is_some() {
        booked_later(
            &mut explanation,
            "原记录所在月份已结账",
            "the original's month is closed",
        );
    }
    let new = NewEntry {
        userid: entry.userid.clone(),
        kind: EntryKind::Reversal,
        points,
        deltas: Deltas {
            score: points,
            balance: points,
            pending: 0,
        },
        source_key: format!("appeal:{}", appeal.id),
        rule_key: "appeal".into(),
        rule_id: entry.rule_id.clone(),
        rule_version: entry.rule_version,
        actor: Some(actor.to_string()),
        category: entry.category.clone(),
        reverses: Some(entry.id),
        resolves: None,
        explanation,
        inputs: json!({ "appeal": appeal.id, "reason": appeal.reason, "note": note }),
        occurred_at: book_at.unwrap_or(entry.occurred_at),
        posted_at: now,
    };
    let compensation = insert(tx, &new).await?;
    audit(tx, actor, "compensate", &compensation, note, now).await?;
    Ok(compensation)
}
