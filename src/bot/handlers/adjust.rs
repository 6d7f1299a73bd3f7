//! `奖` / `award` and `扣` / `deduct`: points for one mentioned person, by a manager within
//! the departments they lead and their monthly budget, or by HR; large ones, either way,
//! wait for review.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::covers;
use crate::bot::dispatch::Sender;
use crate::bot::roles::within_budget;
use crate::bot::{Bot, Done, Failed, Refusal, text};
use crate::domain::calendar::PeriodKind;
use crate::ledger::{self, ManualPost};
use crate::outbox;
use crate::store::StoreTx;

pub(in crate::bot) async fn change(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    who: &str,
    points: i64,
    reason: &str,
    now: Timestamp,
) -> Result<Done, Failed> {
    let by = sender.userid;
    if who == by {
        return Err(Failed::refused(Refusal::OwnPoints, who));
    }
    let Some(person) = bot.store.employee(who).await? else {
        return Err(Failed::refused(Refusal::UnknownPerson, who));
    };
    let name = person.name;
    if !sender.roles.hr_admin {
        if !covers(tx, &sender.roles, who).await? {
            return Err(Failed::refused(Refusal::OutsideDepartments { name }, who));
        }
        if points > 0 {
            check_budget(bot, tx, by, who, points, now).await?;
        }
    }
    // A large deduction is reviewed like a large award: both move a person's standing.
    let review = points.abs() > bot.settings.review_threshold;
    let post = ManualPost {
        actor: by.to_string(),
        userid: who.to_string(),
        points,
        reason: reason.to_string(),
        category: "manual".into(),
        source_key: sender.source.clone(),
        review,
        occurred_at: now,
    };
    let posting = ledger::post_manual(tx, &post, now)
        .await
        .map_err(|e| Failed::ledger(e, who))?;
    let entry = posting.entry();
    let (zh, en) = text::adjusted_headline(points, review);
    tx.enqueue_outbox(&outbox::change_notification(entry, &zh, &en))
        .await?;
    let review_above = review.then_some(bot.settings.review_threshold);
    Ok(Done {
        answer: text::adjusted(sender.lang, &name, points, entry.id, review_above),
        subject: who.to_string(),
    })
}

/// Refuses an award that would take manager `by` past this month's budget.
async fn check_budget(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    by: &str,
    who: &str,
    points: i64,
    now: Timestamp,
) -> Result<(), Failed> {
    // Lock both accounts, in one order, so that two awards by the same manager at once
    // cannot both fit the budget, and cannot deadlock.
    for userid in BTreeSet::from([by, who]) {
        tx.lock_account(userid).await?;
    }
    let budget = tx
        .monthly_budget(by)
        .await?
        .unwrap_or(bot.settings.manager_monthly_budget);
    let month = bot.calendar.period_containing(PeriodKind::Month, now)?;
    let used = tx
        .awarded_by(by, "manual", None, month.start, month.end)
        .await?;
    within_budget(budget, used, points)
        .map_err(|over| Failed::refused(Refusal::OverBudget(over), who))
}
