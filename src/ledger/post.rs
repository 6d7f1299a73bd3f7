//! Ledger operations. Each takes an open transaction and leaves committing to the caller, so
//! a caller can complete other work (an inbox row, an outbox message) in the same commit.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

use super::{Deltas, Entry, EntryKind, LedgerError, NewEntry};
use crate::domain::{Calendar, DomainEvent, Explanation, REDEMPTION_CATEGORY};
use crate::rules::{
    Award, CapCheck, NotifyPolicy, Outcome, RuleSet, apply_caps, evaluate, scope_allows,
};
use crate::store::{NewAudit, StoreTx};

/// What a post did: wrote a new entry, or found the one an earlier post wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "entry", rename_all = "snake_case")]
pub enum Posting {
    Posted(Entry),
    AlreadyPosted(Entry),
}

impl Posting {
    pub fn entry(&self) -> &Entry {
        match self {
            Posting::Posted(e) | Posting::AlreadyPosted(e) => e,
        }
    }
}

/// What one rule did with one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
// A few of these live per event and are never stored in bulk; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum RuleResult {
    Posting { rule_id: String, posting: Posting },
    NotApplicable { rule_id: String, reason: String },
    OutOfScope { rule_id: String, userid: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPosting {
    pub source_key: String,
    pub results: Vec<RuleResult>,
    /// How the people of the new entries are to be told, by their rules; the caller queues
    /// the notifications (`outbox::queue_notices`) in the same transaction.
    #[serde(skip)]
    pub notices: Vec<Notice>,
}

/// A new entry's notification policy, and the name of the rule that posted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub entry_id: i64,
    pub rule_name: String,
    pub policy: NotifyPolicy,
}

impl EventPosting {
    pub fn posted(&self) -> impl Iterator<Item = &Entry> {
        self.results.iter().filter_map(|r| match r {
            RuleResult::Posting {
                posting: Posting::Posted(e),
                ..
            } => Some(e),
            _ => None,
        })
    }
}

/// Evaluates the rules for `event` and posts what they award. If any rule fails (a form
/// field missing, an unknown recipient), nothing is posted and the error names the rule.
pub async fn post_event(
    tx: &mut dyn StoreTx,
    rules: &RuleSet,
    calendar: &Calendar,
    event: &DomainEvent,
    now: Timestamp,
) -> Result<EventPosting, LedgerError> {
    // Awards, or why a rule does not apply, in rule order; any failure stops the event.
    let mut staged: Vec<Result<Award, RuleResult>> = Vec::new();
    for outcome in evaluate(rules, event, calendar) {
        match outcome {
            Outcome::Fired(award) => staged.push(Ok(award)),
            Outcome::NotApplicable { rule_id, reason } => {
                staged.push(Err(RuleResult::NotApplicable { rule_id, reason }))
            }
            Outcome::Failed { rule_id, error } => {
                return Err(LedgerError::RuleFailed {
                    rule_id,
                    source_key: event.source_key.clone(),
                    error,
                });
            }
        }
    }
    // Kept as the rules saw it, so a draft rule set can be tried on it later.
    tx.record_event(event, now).await?;
    // The rules saw when it really happened; the entry may be booked later.
    let book_at = open_month_start(tx, event.occurred_at).await?;
    // Lock every account involved in one order, so concurrent posts cannot deadlock.
    let people: BTreeSet<&str> = staged.iter().flatten().map(|a| a.userid.as_str()).collect();
    for userid in people {
        if tx.lock_account(userid).await?.is_none() {
            return Err(LedgerError::UnknownEmployee(userid.to_string()));
        }
    }
    let mut results = Vec::with_capacity(staged.len());
    let mut notices = Vec::new();
    for award in staged {
        let award = match award {
            Ok(award) => award,
            Err(not_applicable) => {
                results.push(not_applicable);
                continue;
            }
        };
        let rule_id = award.rule_id.clone();
        let result = match tx
            .entry_by_source(&event.source_key, &award.rule_key)
            .await?
        {
            Some(existing) => RuleResult::Posting {
                rule_id,
                posting: Posting::AlreadyPosted(existing),
            },
            None => {
                let departments = tx.departments_of(&award.userid).await?;
                if scope_allows(&award.scope, &departments) {
                    let (rule_name, policy) = (award.rule_name.clone(), award.notify);
                    let entry = post_award(tx, calendar, event, award, book_at, now).await?;
                    notices.push(Notice {
                        entry_id: entry.id,
                        rule_name,
                        policy,
                    });
                    RuleResult::Posting {
                        rule_id,
                        posting: Posting::Posted(entry),
                    }
                } else {
                    RuleResult::OutOfScope {
                        rule_id,
                        userid: award.userid,
                    }
                }
            }
        };
        results.push(result);
    }
    Ok(EventPosting {
        source_key: event.source_key.clone(),
        results,
        notices,
    })
}

/// Posts one award; `book_at`, when set, is where an event of a closed month is booked.
async fn post_award(
    tx: &mut dyn StoreTx,
    calendar: &Calendar,
    event: &DomainEvent,
    award: Award,
    book_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Entry, LedgerError> {
    let occurred_at = book_at.unwrap_or(event.occurred_at);
    let mut checks = Vec::with_capacity(award.caps.len());
    for cap in &award.caps {
        let period = calendar.period_containing(cap.period, occurred_at)?;
        let used = tx
            .rule_usage(&award.userid, &award.rule_id, period.start, period.end)
            .await?;
        checks.push(CapCheck { cap: *cap, used });
    }
    let (points, cut_by) = apply_caps(award.points, &checks);
    let mut explanation = award.explain(points, cut_by.as_ref());
    if book_at.is_some() {
        let day = calendar.local_date(event.occurred_at);
        booked_later(
            &mut explanation,
            &format!("发生于 {day}，当月已结账"),
            &format!("happened on {day}, in a closed month"),
        );
    }
    let deltas = if award.review {
        Deltas::held(points)
    } else {
        Deltas::granted(points)
    };
    let mut inputs = award.inputs;
    inputs.insert("event_type".into(), json!(event.kind));
    if points != award.points {
        inputs.insert("points_before_cap".into(), json!(award.points));
    }
    if book_at.is_some() {
        inputs.insert("happened_at".into(), json!(event.occurred_at));
    }
    let named_by = award.named_by;
    let entry = NewEntry {
        userid: award.userid,
        kind: EntryKind::Rule,
        points,
        deltas,
        source_key: event.source_key.clone(),
        rule_key: award.rule_key,
        rule_id: Some(award.rule_id),
        rule_version: Some(award.rule_version),
        actor: None,
        category: award.category,
        reverses: None,
        resolves: None,
        explanation,
        inputs: inputs.into(),
        occurred_at,
        posted_at: now,
    };
    let entry = insert(tx, &entry).await?;
    // Points someone asked for on another's behalf (a form naming them) are kept in the
    // audit trail like an award made through the robot.
    if let Some(actor) = named_by {
        let reason = entry.explanation.zh.clone();
        audit(tx, &actor, "form_award", &entry, &reason, now).await?;
    }
    Ok(entry)
}

/// An award or deduction made by a person, e.g. HR through a bot command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManualPost {
    pub actor: String,
    pub userid: String,
    pub points: i64,
    pub reason: String,
    pub category: String,
    /// Identity of the request (e.g. the robot message id); a second post with it does nothing.
    pub source_key: String,
    /// Held as pending until an HR admin approves it.
    pub review: bool,
    pub occurred_at: Timestamp,
}

pub async fn post_manual(
    tx: &mut dyn StoreTx,
    post: &ManualPost,
    now: Timestamp,
) -> Result<Posting, LedgerError> {
    if post.points == 0 {
        return Err(LedgerError::Invalid("points must not be 0".into()));
    }
    if post.reason.trim().is_empty() {
        return Err(LedgerError::Invalid(
            "a manual award or deduction needs a reason".into(),
        ));
    }
    if post.actor == post.userid {
        let action = if post.points > 0 { "award" } else { "deduct" };
        return Err(LedgerError::OwnPoints {
            actor: post.actor.clone(),
            action,
        });
    }
    if tx.lock_account(&post.userid).await?.is_none() {
        return Err(LedgerError::UnknownEmployee(post.userid.clone()));
    }
    if let Some(existing) = tx.entry_by_source(&post.source_key, "manual").await? {
        return Ok(Posting::AlreadyPosted(existing));
    }
    let (verb_zh, verb_en) = if post.points > 0 {
        ("奖励", "award")
    } else {
        ("扣分", "deduction")
    };
    let unit_en = if post.points.abs() == 1 {
        "point"
    } else {
        "points"
    };
    let (review_zh, review_en) = if post.review {
        ("，待审核", ", pending review")
    } else {
        ("", "")
    };
    let (points, actor, reason) = (post.points, &post.actor, post.reason.trim());
    // Explanations name people as their colleagues know them; the userid is in `actor`.
    let by = tx
        .employee_name(actor)
        .await?
        .unwrap_or_else(|| actor.clone());
    let entry = NewEntry {
        userid: post.userid.clone(),
        kind: EntryKind::Manual,
        points,
        deltas: if post.review {
            Deltas::held(points)
        } else {
            Deltas::granted(points)
        },
        source_key: post.source_key.clone(),
        rule_key: "manual".into(),
        rule_id: None,
        rule_version: None,
        actor: Some(actor.clone()),
        category: post.category.clone(),
        reverses: None,
        resolves: None,
        explanation: Explanation {
            zh: format!("{by} 手动{verb_zh}：{points:+} 积分{review_zh}（理由：{reason}）"),
            en: format!(
                "Manual {verb_en} by {by}: {points:+} {unit_en}{review_en} (reason: {reason})"
            ),
        },
        inputs: json!({ "reason": reason }),
        occurred_at: post.occurred_at,
        posted_at: now,
    };
    let entry = insert(tx, &entry).await?;
    audit(tx, actor, "manual_post", &entry, reason, now).await?;
    Ok(Posting::Posted(entry))
}

/// Why an entry is reversed or decided. A person types one text; jifen's own reasons (an
/// approval withdrawn in DingTalk) are written in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    pub zh: &'a str,
    pub en: &'a str,
}

/// What a person typed, shown as typed in both languages.
impl<'a> From<&'a str> for Reason<'a> {
    fn from(text: &'a str) -> Self {
        Reason {
            zh: text.trim(),
            en: text.trim(),
        }
    }
}

impl Reason<'_> {
    fn is_empty(&self) -> bool {
        self.zh.trim().is_empty() && self.en.trim().is_empty()
    }
}

/// Takes back what entry `id` granted, with a new entry that points at it. An entry can be
/// reversed once; pending entries are rejected instead, and reversals are not reversed.
pub async fn reverse<'a>(
    tx: &mut dyn StoreTx,
    id: i64,
    actor: &str,
    reason: impl Into<Reason<'a>>,
    now: Timestamp,
) -> Result<Entry, LedgerError> {
    let reason = reason.into();
    if reason.is_empty() {
        return Err(LedgerError::Invalid("a reason is required".into()));
    }
    let original = tx.entry(id).await?.ok_or(LedgerError::UnknownEntry(id))?;
    tx.lock_account(&original.userid).await?;
    // Read again under the lock: a concurrent reversal may have committed meanwhile.
    let original = tx.entry(id).await?.ok_or(LedgerError::UnknownEntry(id))?;
    let not_reversible = |reason: String| LedgerError::NotReversible { entry: id, reason };
    if let Some(by) = original.reversed_by {
        return Err(LedgerError::AlreadyReversed { entry: id, by });
    }
    if original.category == REDEMPTION_CATEGORY {
        return Err(not_reversible(
            "it holds points for a redemption; reject or cancel the redemption instead".into(),
        ));
    }
    match original.kind {
        EntryKind::Reversal => {
            return Err(not_reversible(
                "it is a reversal; post a new entry instead".into(),
            ));
        }
        EntryKind::Rejection => {
            return Err(not_reversible(
                "it is a rejection, which granted nothing".into(),
            ));
        }
        EntryKind::Rule | EntryKind::Manual if original.deltas.pending != 0 => {
            return Err(not_reversible(match original.resolved_by {
                None => "it is pending review; reject it instead".into(),
                Some(by) => format!(
                    "it was decided by entry #{by}; reverse that entry if it approved the points"
                ),
            }));
        }
        _ => {}
    }
    // A reversal takes back score and balance; pending points were never granted.
    let deltas = Deltas {
        score: -original.deltas.score,
        balance: -original.deltas.balance,
        pending: 0,
    };
    let book_at = open_month_start(tx, original.occurred_at).await?;
    let mut explanation = Explanation {
        zh: format!(
            "撤销第 {id} 条记录：{:+} 积分（理由：{}；原记录：{}）",
            -original.points, reason.zh, original.explanation.zh
        ),
        en: format!(
            "Reversal of entry #{id}: {:+} (reason: {}; was: {})",
            -original.points, reason.en, original.explanation.en
        ),
    };
    if book_at.is_some() {
        booked_later(
            &mut explanation,
            "原记录所在月份已结账",
            "the original's month is closed",
        );
    }
    let entry = NewEntry {
        userid: original.userid.clone(),
        kind: EntryKind::Reversal,
        points: -original.points,
        deltas,
        source_key: format!("reversal:{id}"),
        rule_key: "reversal".into(),
        rule_id: original.rule_id.clone(),
        rule_version: original.rule_version,
        actor: Some(actor.to_string()),
        category: original.category.clone(),
        reverses: Some(id),
        resolves: None,
        explanation,
        inputs: json!({ "reason": reason.en }),
        // Counted in the period of what it reverses, so a cap it used is freed (unless that
        // month is closed).
        occurred_at: book_at.unwrap_or(original.occurred_at),
        posted_at: now,
    };
    let entry = insert(tx, &entry).await?;
    audit(tx, actor, "reverse", &entry, reason.zh, now).await?;
    Ok(entry)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    /// The verb, as the audit log and error messages say it.
    pub fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// Approves (grants) or rejects (drops) a pending entry, once.
pub async fn resolve<'a>(
    tx: &mut dyn StoreTx,
    id: i64,
    decision: Decision,
    actor: &str,
    reason: impl Into<Reason<'a>>,
    now: Timestamp,
) -> Result<Entry, LedgerError> {
    let reason = reason.into();
    let original = tx.entry(id).await?.ok_or(LedgerError::UnknownEntry(id))?;
    tx.lock_account(&original.userid).await?;
    let original = tx.entry(id).await?.ok_or(LedgerError::UnknownEntry(id))?;
    if let Some(by) = original.resolved_by {
        return Err(LedgerError::NotPending {
            entry: id,
            reason: format!("it was already decided by entry #{by}"),
        });
    }
    if !original.is_pending() {
        return Err(LedgerError::NotPending {
            entry: id,
            reason: "it was granted without review".into(),
        });
    }
    if original.userid == actor {
        let action = decision.verb();
        return Err(LedgerError::OwnPoints {
            actor: actor.to_string(),
            action,
        });
    }
    let held = original.deltas.pending;
    let (kind, deltas, zh, en) = match decision {
        Decision::Approve => (
            EntryKind::Approval,
            Deltas {
                score: held,
                balance: held,
                pending: -held,
            },
            "审核通过",
            "Approved",
        ),
        Decision::Reject => (
            EntryKind::Rejection,
            Deltas::held(-held),
            "审核驳回",
            "Rejected",
        ),
    };
    let by = tx
        .employee_name(actor)
        .await?
        .unwrap_or_else(|| actor.to_string());
    let note = |sep: &str, text: &str| {
        if text.is_empty() {
            String::new()
        } else {
            format!("{sep}{text}")
        }
    };
    let book_at = open_month_start(tx, original.occurred_at).await?;
    let mut explanation = Explanation {
        zh: format!(
            "{zh}第 {id} 条记录（{by}{}）：{}",
            note("，", reason.zh),
            original.explanation.zh
        ),
        en: format!(
            "{en} entry #{id} (by {by}{}): {}",
            note(": ", reason.en),
            original.explanation.en
        ),
    };
    if book_at.is_some() {
        booked_later(
            &mut explanation,
            "原记录所在月份已结账",
            "the original's month is closed",
        );
    }
    let entry = NewEntry {
        userid: original.userid.clone(),
        kind,
        points: if decision == Decision::Approve {
            held
        } else {
            0
        },
        deltas,
        source_key: format!("resolution:{id}"),
        rule_key: "resolution".into(),
        rule_id: original.rule_id.clone(),
        rule_version: original.rule_version,
        actor: Some(actor.to_string()),
        category: original.category.clone(),
        reverses: None,
        resolves: Some(id),
        explanation,
        inputs: json!({ "decision": decision, "reason": reason.en }),
        occurred_at: book_at.unwrap_or(original.occurred_at),
        posted_at: now,
    };
    let entry = insert(tx, &entry).await?;
    audit(tx, actor, decision.verb(), &entry, reason.zh, now).await?;
    Ok(entry)
}

/// Where something that happened at `at` is booked, when not at `at`: a closed month's totals
/// are frozen, so what happened in one is booked at the start of the open month.
pub(super) async fn open_month_start(
    tx: &mut dyn StoreTx,
    at: Timestamp,
) -> Result<Option<Timestamp>, LedgerError> {
    Ok(tx.closed_until().await?.filter(|until| at < *until))
}

/// Says in an explanation why an entry is booked in the open month.
pub(super) fn booked_later(explanation: &mut Explanation, why_zh: &str, why_en: &str) {
    explanation.zh.push_str(&format!("（{why_zh}，计入本月）"));
    explanation
        .en
        .push_str(&format!(" ({why_en}; counted in the open month)"));
}

/// Writes an entry and moves its owner's totals by its deltas, in the caller's transaction.
pub(super) async fn insert(tx: &mut dyn StoreTx, entry: &NewEntry) -> Result<Entry, LedgerError> {
    let stored = tx.insert_entry(entry).await?;
    tx.apply_deltas(&entry.userid, entry.deltas).await?;
    Ok(stored)
}

pub(super) async fn audit(
    tx: &mut dyn StoreTx,
    actor: &str,
    action: &str,
    entry: &Entry,
    reason: &str,
    now: Timestamp,
) -> Result<(), LedgerError> {
    tx.record_audit(&NewAudit {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: entry.userid.clone(),
        reason: reason.to_string(),
        detail: json!({ "entry": entry.id, "points": entry.points, "reverses": entry.reverses, "resolves": entry.resolves }),
        at: now,
    })
    .await?;
    Ok(())
}
