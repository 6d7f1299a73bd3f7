//! `预算` / `budget`: HR sets a manager's monthly award budget.

use jiff::Timestamp;

use crate::bot::dispatch::Sender;
use crate::bot::roles::Roles;
use crate::bot::{Bot, Done, Failed, Refusal, text};
use crate::domain::calendar::PeriodKind;
use crate::store::StoreTx;

pub(in crate::bot) async fn change(
    bot: &Bot,
    tx: &mut dyn StoreTx,
    sender: &Sender<'_>,
    who: &str,
    points: i64,
    now: Timestamp,
) -> Result<Done, Failed> {
    let Some(manager) = bot.store.employee(who).await? else {
        return Err(Failed::refused(Refusal::UnknownPerson, who));
    };
    if !Roles::of(who, &bot.settings.roles, &manager.leads).is_manager() {
        let name = manager.name;
        return Err(Failed::refused(Refusal::NotAManager { name }, who));
    }
    tx.set_monthly_budget(who, points, sender.userid, now)
        .await?;
    let month = bot.calendar.period_containing(PeriodKind::Month, now)?;
    let used = tx
        .awarded_by(who, "manual", None, month.start, month.end)
        .await?;
    Ok(Done {
        answer: text::budget_set(sender.lang, &manager.name, points, used),
        subject: who.to_string(),
    })
}
