//! Granting badges: after a person's entries are posted (scores, counts, first times) and
//! when a month closes (streaks over closed months), each badge a person has earned is
//! granted once, in the caller's transaction, and returned so the caller announces it.
//! HR grants `manual` badges by hand, with a reason.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::domain::calendar::CalendarError;
use crate::domain::{Badge, BadgeBook, Calendar, Criterion, PeriodKind};
use crate::store::{GrantedBadge, NewAudit, StoreError, StoreTx};

#[derive(Debug, thiserror::Error)]
pub enum BadgeError {
    #[error("no badge {0:?} in badges.toml")]
    UnknownBadge(String),
    #[error("badge {0:?} is earned, not granted by hand")]
    NotManual(String),
    #[error("{userid} has badge {badge:?} already")]
    AlreadyHeld { userid: String, badge: String },
    #[error("unknown employee {0:?}")]
    UnknownEmployee(String),
    #[error("a badge granted by hand needs a reason")]
    NoReason,
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The badges, and the groups (openConversationIds) the big ones are announced in.
#[derive(Debug, Clone, Default)]
pub struct Badging {
    pub book: Arc<BadgeBook>,
    pub groups: Vec<String>,
}

/// A badge just granted, for its announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub badge: Badge,
    pub grant: GrantedBadge,
}

/// What may have earned someone a badge: entries of these rules just posted, or anything
/// (a month's close, which streaks count).
#[derive(Debug, Clone, Copy)]
pub enum Earning<'a> {
    Posted(&'a BTreeSet<String>),
    Anything,
}

/// Whether `badge` can have been earned by `earning`: a count, a first time or a streak only
/// by an entry of its rule, a score by any entry; a manual badge never. The rest are not
/// looked at, which keeps a busy posting to the queries its own badges need.
pub fn may_earn(badge: &Badge, earning: Earning<'_>) -> bool {
    match (&badge.criterion, earning) {
        (Criterion::Manual, _) => false,
        (_, Earning::Anything) | (Criterion::Score { .. }, _) => true,
        (
            Criterion::Count { rule, .. }
            | Criterion::First { rule }
            | Criterion::Streak { rule, .. },
            Earning::Posted(rules),
        ) => rules.contains(rule),
    }
}

/// Grants `userid` every automatic badge of `book` that `earning` may have earned them and
/// they do not hold.
pub async fn grant_earned(
    tx: &mut dyn StoreTx,
    book: &BadgeBook,
    calendar: &Calendar,
    userid: &str,
    earning: Earning<'_>,
    now: Timestamp,
) -> Result<Vec<Granted>, BadgeError> {
    let mut granted = Vec::new();
    for badge in &book.badges {
        if !may_earn(badge, earning) || tx.has_badge(userid, &badge.id).await? {
            continue;
        }
        if !earned(tx, calendar, badge, userid).await? {
            continue;
        }
        let (zh, en) = badge.reason();
        let grant = GrantedBadge {
            userid: userid.to_string(),
            badge_id: badge.id.clone(),
            reason: format!("{zh} / {en}"),
            actor: None,
            granted_at: now,
        };
        if tx.grant_badge(&grant).await? {
            audit(tx, "jifen", &grant, now).await?;
            granted.push(Granted {
                badge: badge.clone(),
                grant,
            });
        }
    }
    Ok(granted)
}

async fn earned(
    tx: &mut dyn StoreTx,
    calendar: &Calendar,
    badge: &Badge,
    userid: &str,
) -> Result<bool, BadgeError> {
    let ever = Timestamp::UNIX_EPOCH;
    Ok(match &badge.criterion {
        Criterion::Manual => false,
        Criterion::Score { at_least } => tx
            .lock_account(userid)
            .await?
            .is_some_and(|a| a.totals.score >= *at_least),
        Criterion::Count { rule, count } => {
            tx.rule_entry_times(userid, rule, ever).await?.len() as i64 >= *count
        }
        Criterion::First { rule } => !tx.rule_entry_times(userid, rule, ever).await?.is_empty(),
        Criterion::Streak { rule, months } => {
            let Some(closed_until) = tx.closed_until().await? else {
                return Ok(false);
            };
            // The last `months` closed months, newest first.
            let mut wanted = Vec::new();
            let mut before = closed_until;
            for _ in 0..*months {
                let last_moment = before
                    .checked_sub(SignedDuration::from_millis(1))
                    .map_err(CalendarError::from)?;
                let month = calendar.period_containing(PeriodKind::Month, last_moment)?;
                before = month.start;
                wanted.push(month);
            }
            let times = tx.rule_entry_times(userid, rule, before).await?;
            wanted
                .iter()
                .all(|m| times.iter().any(|t| *t >= m.start && *t < m.end))
        }
    })
}

/// HR grants `badge_id`, a `manual` badge, to `userid` with a reason.
pub async fn grant_by_hand(
    tx: &mut dyn StoreTx,
    book: &BadgeBook,
    badge_id: &str,
    userid: &str,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Granted, BadgeError> {
    let badge = book
        .get(badge_id)
        .ok_or_else(|| BadgeError::UnknownBadge(badge_id.to_string()))?;
    if !matches!(badge.criterion, Criterion::Manual) {
        return Err(BadgeError::NotManual(badge_id.to_string()));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(BadgeError::NoReason);
    }
    if tx.lock_account(userid).await?.is_none() {
        return Err(BadgeError::UnknownEmployee(userid.to_string()));
    }
    let grant = GrantedBadge {
        userid: userid.to_string(),
        badge_id: badge.id.clone(),
        reason: reason.to_string(),
        actor: Some(actor.to_string()),
        granted_at: now,
    };
    if !tx.grant_badge(&grant).await? {
        return Err(BadgeError::AlreadyHeld {
            userid: userid.to_string(),
            badge: badge.id.clone(),
        });
    }
    audit(tx, actor, &grant, now).await?;
    Ok(Granted {
        badge: badge.clone(),
        grant,
    })
}

async fn audit(
    tx: &mut dyn StoreTx,
    actor: &str,
    grant: &GrantedBadge,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.record_audit(&NewAudit {
        actor: actor.to_string(),
        action: "badge".into(),
        subject: grant.userid.clone(),
        reason: grant.reason.clone(),
        detail: json!({ "badge": grant.badge_id }),
        at: now,
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Earning, may_earn};
    use crate::domain::{Announce, Badge, Criterion};

    fn badge(criterion: Criterion) -> Badge {
        Badge {
            id: "b".into(),
            name: "徽章".into(),
            name_en: "Badge".into(),
            description: String::new(),
            criterion,
            announce: Announce::Person,
            line: 1,
        }
    }

    #[test]
    fn a_posting_looks_only_at_the_badges_its_rules_can_earn() {
        let rule = |r: &str| r.to_string();
        let posted: BTreeSet<String> = [rule("attendance.ontime")].into();
        let posted = Earning::Posted(&posted);
        let cases = [
            (Criterion::Score { at_least: 500 }, posted, true),
            (
                Criterion::Count {
                    rule: rule("attendance.ontime"),
                    count: 10,
                },
                posted,
                true,
            ),
            (
                Criterion::Count {
                    rule: rule("innovation.adopted"),
                    count: 10,
                },
                posted,
                false,
            ),
            (
                Criterion::First {
                    rule: rule("attendance.ontime"),
                },
                posted,
                true,
            ),
            (
                Criterion::First {
                    rule: rule("attendance.full_month"),
                },
                posted,
                false,
            ),
            (
                Criterion::Streak {
                    rule: rule("attendance.full_month"),
                    months: 3,
                },
                posted,
                false,
            ),
            (
                Criterion::Streak {
                    rule: rule("attendance.full_month"),
                    months: 3,
                },
                Earning::Anything,
                true,
            ),
            (
                Criterion::First {
                    rule: rule("innovation.adopted"),
                },
                Earning::Anything,
                true,
            ),
            (Criterion::Manual, posted, false),
            (Criterion::Manual, Earning::Anything, false),
        ];
        for (criterion, earning, expected) in cases {
            let b = badge(criterion.clone());
            assert_eq!(
                may_earn(&b, earning),
                expected,
                "{criterion:?} after {earning:?}"
            );
        }
    }
}
